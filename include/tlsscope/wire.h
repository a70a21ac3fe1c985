/* tlsscope: the TLS wire codec — parse and build TLS/SSL bytes, without I/O.
 *
 * Nothing here reads a socket or a file: functions take byte buffers and
 * return parsed messages, TS_E_NEED_MORE ("give me more bytes"), or
 * TS_E_MALFORMED with a message naming the field and the offset that was
 * wrong ("client_hello.cipher_suites: length 300 exceeds the 120 bytes left at
 * offset 43").  The scanner (live sockets) and the observer (captures) share it.
 *
 * Three layers:
 *   1. ts_tls_stream: an incremental parser for ONE direction of a TCP stream.
 *      Feed it bytes as they arrive; it returns events: each record (type,
 *      version, length) and each complete handshake message, reassembled
 *      across records.  It handles SSLv2-format records at the start of a
 *      stream, and knows when the rest of the stream is encrypted.
 *   2. message parsers (ts_parse_*): one per message kind, each reading a
 *      handshake body through a struct ts_reader.  The parsed structs point
 *      INTO the bytes they were parsed from (no copies, no allocation): keep
 *      those bytes alive and unchanged while you use the struct.
 *   3. builders (ts_build_*): ClientHello records for SSLv2 .. TLS 1.3.
 *
 * Caps: every list in a parsed struct is a fixed array of TS_MAX_* entries.
 * A message with more entries keeps the first TS_MAX_* of them and sets the
 * `truncated` flag (it is not an error: an observer still wants the SNI).
 * The stream refuses handshake messages over limits.max_handshake bytes
 * (TS_E_MALFORMED, default 64 KiB). */
#ifndef TLSSCOPE_WIRE_H
#define TLSSCOPE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/bytes.h"
#include "tlsscope/error.h"

/* Protocol versions as they appear on the wire. */
#define TS_SSL2 0x0002
#define TS_SSL3 0x0300
#define TS_TLS10 0x0301
#define TS_TLS11 0x0302
#define TS_TLS12 0x0303
#define TS_TLS13 0x0304

/* Record content types. */
enum ts_content_type {
	TS_CT_CHANGE_CIPHER_SPEC = 20,
	TS_CT_ALERT = 21,
	TS_CT_HANDSHAKE = 22,
	TS_CT_APPLICATION_DATA = 23,
	TS_CT_HEARTBEAT = 24,
	TS_CT_SSL2 = 0x100,          /* pseudo type: an SSLv2-format record */
};

/* Handshake message types (and the SSLv2 message types, offset by 0x100). */
enum ts_hs_type {
	TS_HS_HELLO_REQUEST = 0,
	TS_HS_CLIENT_HELLO = 1,
	TS_HS_SERVER_HELLO = 2,
	TS_HS_NEW_SESSION_TICKET = 4,
	TS_HS_END_OF_EARLY_DATA = 5,
	TS_HS_HELLO_RETRY_REQUEST = 6,  /* pseudo: TLS 1.3 sends it as a ServerHello */
	TS_HS_ENCRYPTED_EXTENSIONS = 8,
	TS_HS_CERTIFICATE = 11,
	TS_HS_SERVER_KEY_EXCHANGE = 12,
	TS_HS_CERTIFICATE_REQUEST = 13,
	TS_HS_SERVER_HELLO_DONE = 14,
	TS_HS_CERTIFICATE_VERIFY = 15,
	TS_HS_CLIENT_KEY_EXCHANGE = 16,
	TS_HS_FINISHED = 20,
	TS_HS_CERTIFICATE_STATUS = 22,
	TS_HS_KEY_UPDATE = 24,
	TS_HS_COMPRESSED_CERTIFICATE = 25,
	TS_HS_MESSAGE_HASH = 254,
	TS_SSL2_MT_CLIENT_HELLO = 0x101,
	TS_SSL2_MT_SERVER_HELLO = 0x104,
};

/* Well-known extension code points (the registry has them all by name). */
enum ts_ext_type {
	TS_EXT_SERVER_NAME = 0,
	TS_EXT_STATUS_REQUEST = 5,
	TS_EXT_SUPPORTED_GROUPS = 10,
	TS_EXT_EC_POINT_FORMATS = 11,
	TS_EXT_SIGNATURE_ALGORITHMS = 13,
	TS_EXT_HEARTBEAT = 15,
	TS_EXT_ALPN = 16,
	TS_EXT_SCT = 18,
	TS_EXT_PADDING = 21,
	TS_EXT_ENCRYPT_THEN_MAC = 22,
	TS_EXT_EXTENDED_MASTER_SECRET = 23,
	TS_EXT_COMPRESS_CERTIFICATE = 27,
	TS_EXT_RECORD_SIZE_LIMIT = 28,
	TS_EXT_SESSION_TICKET = 35,
	TS_EXT_PRE_SHARED_KEY = 41,
	TS_EXT_EARLY_DATA = 42,
	TS_EXT_SUPPORTED_VERSIONS = 43,
	TS_EXT_COOKIE = 44,
	TS_EXT_PSK_KEY_EXCHANGE_MODES = 45,
	TS_EXT_SIGNATURE_ALGORITHMS_CERT = 50,
	TS_EXT_KEY_SHARE = 51,
	TS_EXT_ENCRYPTED_SERVER_NAME = 0xffce,  /* legacy ESNI drafts */
	TS_EXT_ENCRYPTED_CLIENT_HELLO = 0xfe0d,
	TS_EXT_RENEGOTIATION_INFO = 0xff01,
};

/* Caps on the lists in parsed structs (see the top comment). */
#define TS_MAX_SUITES 1024
#define TS_MAX_EXTENSIONS 128
#define TS_MAX_GROUPS 256
#define TS_MAX_SIGALGS 256
#define TS_MAX_VERSIONS 32
#define TS_MAX_ALPN 32
#define TS_MAX_KEY_SHARES 16
#define TS_MAX_POINT_FORMATS 16
#define TS_MAX_COMPRESSIONS 32
#define TS_MAX_PSK_IDENTITIES 16
#define TS_MAX_CERT_COMPRESSION 16
#define TS_MAX_CERTS 32
#define TS_MAX_SSL2_SPECS 512

/* GREASE (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa in any two-byte registry. */
static inline bool ts_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* A byte string inside the parsed message (not NUL-terminated). */
struct ts_bytes {
	const uint8_t *p;
	size_t len;
};

/* One extension as sent: type, body, and the body's offset in the message. */
struct ts_ext {
	uint16_t type;
	uint16_t len;
	const uint8_t *data;
	uint32_t off;
};

struct ts_key_share {
	uint16_t group;
	struct ts_bytes key;
};

/* ---------------------------------------------------------------------------
 * ClientHello.  ts_parse_client_hello decodes every extension it knows;
 * unknown ones are only in ext[] (all are in ext[], in the order sent). */
struct ts_client_hello {
	/* Scalars first: the parser zeroes only these (up to `suites`), and fills
	 * each array up to its count. */
	uint16_t version;                 /* legacy_version */
	const uint8_t *random;            /* 32 bytes */
	struct ts_bytes session_id;
	size_t n_suites;
	size_t n_compressions;
	bool has_extensions;              /* the extensions block was present (even empty) */
	size_t n_ext;
	bool has_grease;                  /* a GREASE value in any list */
	bool truncated;                   /* some list had more than its TS_MAX_* */

	/* decoded extensions; each `has_` is true when the extension was sent */
	bool has_sni;
	struct ts_bytes sni;              /* first host_name entry (may be empty) */
	bool has_alpn;
	size_t n_alpn;
	bool has_versions;                /* supported_versions */
	size_t n_versions;
	bool has_groups;
	size_t n_groups;
	bool has_point_formats;
	size_t n_point_formats;
	bool has_sigalgs;
	size_t n_sigalgs;
	bool has_sigalgs_cert;
	size_t n_sigalgs_cert;
	bool has_key_share;
	size_t n_key_shares;
	bool has_session_ticket;
	struct ts_bytes session_ticket;   /* empty: asks for a new ticket */
	bool has_status_request;
	uint8_t status_type;              /* 1 = OCSP */
	bool has_sct;
	bool has_padding;
	size_t padding_len;
	bool has_renegotiation_info;
	struct ts_bytes renegotiation_info;
	bool has_heartbeat;
	uint8_t heartbeat_mode;           /* 1 peer_allowed_to_send, 2 not allowed */
	bool has_early_data;
	bool has_ems;                     /* extended_master_secret */
	bool has_etm;                     /* encrypt_then_mac */
	bool has_psk;                     /* pre_shared_key (must be last) */
	size_t n_psk_identities;
	size_t n_psk_binders;
	bool has_psk_modes;
	size_t n_psk_modes;
	bool has_cert_compression;
	size_t n_cert_compression;
	bool has_ech;                     /* encrypted_client_hello */
	uint8_t ech_type;                 /* 0 outer, 1 inner */
	uint16_t ech_kdf, ech_aead;       /* outer only */
	uint8_t ech_config_id;
	struct ts_bytes ech_enc, ech_payload;
	bool has_esni;                    /* legacy encrypted_server_name */
	uint16_t esni_suite, esni_group;
	struct ts_bytes esni_record_digest, esni_encrypted_sni;

	/* the lists, each valid up to its n_ count */
	uint16_t suites[TS_MAX_SUITES];   /* as sent, GREASE included */
	uint8_t compressions[TS_MAX_COMPRESSIONS];
	struct ts_ext ext[TS_MAX_EXTENSIONS];   /* every extension, in the order sent */
	struct ts_bytes alpn[TS_MAX_ALPN];
	uint16_t versions[TS_MAX_VERSIONS];
	uint16_t groups[TS_MAX_GROUPS];
	uint8_t point_formats[TS_MAX_POINT_FORMATS];
	uint16_t sigalgs[TS_MAX_SIGALGS];
	uint16_t sigalgs_cert[TS_MAX_SIGALGS];
	struct ts_key_share key_shares[TS_MAX_KEY_SHARES];
	struct ts_bytes psk_identities[TS_MAX_PSK_IDENTITIES];
	uint8_t psk_modes[8];
	uint16_t cert_compression[TS_MAX_CERT_COMPRESSION];
};

/* ServerHello, or HelloRetryRequest (is_hrr) which TLS 1.3 sends as one. */
struct ts_server_hello {
	uint16_t version;                 /* legacy_version */
	uint16_t selected_version;        /* supported_versions, else legacy_version */
	const uint8_t *random;
	struct ts_bytes session_id;
	uint16_t suite;
	uint8_t compression;
	bool is_hrr;
	bool has_extensions;
	size_t n_ext;
	bool truncated;
	uint16_t group;                   /* key_share group (or HRR's requested group), 0 if none */
	struct ts_bytes key_share;        /* server's share (ServerHello only) */
	bool has_alpn;
	struct ts_bytes alpn;
	bool has_ems, has_etm, has_renegotiation_info, has_session_ticket;
	bool has_status_request, has_sct, has_heartbeat, has_psk;
	uint16_t psk_identity;
	bool has_point_formats;
	size_t n_point_formats;
	struct ts_bytes cookie;           /* HRR cookie */
	/* the lists, each valid up to its n_ count */
	uint8_t point_formats[TS_MAX_POINT_FORMATS];
	struct ts_ext ext[TS_MAX_EXTENSIONS];
};

/* Certificate (TLS <= 1.2 and SSLv3; tls13 form: context + per-entry extensions). */
struct ts_certificate_msg {
	struct ts_bytes context;          /* TLS 1.3 only */
	struct ts_bytes certs[TS_MAX_CERTS];   /* DER, leaf first; give to ts_cert_info_from_der */
	size_t n_certs;
	bool truncated;
};

enum ts_ske_kind { TS_SKE_ECDHE = 1, TS_SKE_DHE = 2, TS_SKE_RSA = 3 };

/* ServerKeyExchange. */
struct ts_server_key_exchange {
	enum ts_ske_kind kind;
	uint8_t curve_type;               /* ECDHE: 3 named_curve */
	uint16_t group;                   /* ECDHE named curve */
	struct ts_bytes point;            /* ECDHE public point */
	struct ts_bytes dh_p, dh_g, dh_ys; /* DHE */
	int dh_bits;                      /* DHE: size of p in bits */
	struct ts_bytes rsa_modulus, rsa_exponent;  /* RSA export */
	int rsa_bits;
	bool has_sigalg;                  /* TLS 1.2: an explicit signature scheme */
	uint16_t sigalg;
	struct ts_bytes signature;
};

struct ts_alert {
	uint8_t level;                    /* 1 warning, 2 fatal */
	uint8_t description;              /* ts_alert_name() in registry.h */
};

/* SSLv2 CLIENT-HELLO: version, 3-byte cipher specs, session id, challenge. */
struct ts_ssl2_client_hello {
	uint16_t version;                 /* 0x0002, or 0x0300+ for a v2-format v3 hello */
	uint32_t specs[TS_MAX_SSL2_SPECS];
	size_t n_specs;
	struct ts_bytes session_id, challenge;
	bool truncated;
};

/* SSLv2 SERVER-HELLO. */
struct ts_ssl2_server_hello {
	uint8_t session_id_hit;
	uint8_t certificate_type;         /* 1 = X.509 */
	uint16_t version;
	struct ts_bytes certificate;      /* DER */
	uint32_t specs[TS_MAX_SSL2_SPECS];
	size_t n_specs;
	struct ts_bytes connection_id;
	bool truncated;
};

/* ---------------------------------------------------------------------------
 * Message parsers.  rd covers exactly one message body (for handshake
 * messages: after the 4-byte type+length header).  Offsets in errors are
 * rd's absolute offsets (set rd->base to place the body within a stream).
 * Return 0, or TS_E_MALFORMED with err and rd->field / rd->error_off set.
 * Memory: none is allocated; the struct points into rd's bytes. */
int ts_parse_client_hello(struct ts_reader *rd, struct ts_client_hello *ch, struct ts_error *err);
int ts_parse_server_hello(struct ts_reader *rd, struct ts_server_hello *sh, struct ts_error *err);
/* tls13: the TLS 1.3 layout (request context, then entries with extensions). */
int ts_parse_certificate(struct ts_reader *rd, bool tls13, struct ts_certificate_msg *cm,
                         struct ts_error *err);
/* version and suite come from the ServerHello (they decide the layout). */
int ts_parse_server_key_exchange(struct ts_reader *rd, uint16_t version, uint16_t suite,
                                 struct ts_server_key_exchange *ske, struct ts_error *err);
/* ServerHelloDone must be empty. */
int ts_parse_server_hello_done(struct ts_reader *rd, struct ts_error *err);
/* rd covers the alert record's payload (2 bytes). */
int ts_parse_alert(struct ts_reader *rd, struct ts_alert *al, struct ts_error *err);
/* rd covers the CCS record's payload (the single byte 1). */
int ts_parse_change_cipher_spec(struct ts_reader *rd, struct ts_error *err);
/* rd covers an SSLv2 record body, starting at the message-type byte. */
int ts_parse_ssl2_client_hello(struct ts_reader *rd, struct ts_ssl2_client_hello *ch,
                               struct ts_error *err);
int ts_parse_ssl2_server_hello(struct ts_reader *rd, struct ts_ssl2_server_hello *sh,
                               struct ts_error *err);
/* Returns a short name, "client_hello", "ssl2_server_hello", or "unknown". */
const char *ts_hs_type_name(int type);
const char *ts_content_type_name(int type);
/* "TLSv1.2", "SSLv3", "SSLv2", or "0x7f1c" (in a static buffer for unknown: not thread-safe). */
const char *ts_version_name(uint16_t version);

/* ---------------------------------------------------------------------------
 * Recognising TLS in arbitrary bytes (the observer: TLS on any port). */
enum ts_looks {
	TS_LOOKS_NO = 0,        /* not the start of TLS/SSL */
	TS_LOOKS_TLS = 1,       /* a plausible TLS record header (and handshake start) */
	TS_LOOKS_SSL2 = 2,      /* a plausible SSLv2 CLIENT-HELLO / SERVER-HELLO */
	TS_LOOKS_MAYBE = 3,     /* too few bytes to tell (fewer than 6) */
};
/* Cheap: looks at most at the first 11 bytes. */
enum ts_looks ts_tls_looks_like(const uint8_t *p, size_t n);
/* Offset of the first plausible TLS record header at or after p[0] (checking
 * that the following header is plausible too when it is within n), or n if
 * none.  For resynchronising after lost bytes. */
size_t ts_tls_resync(const uint8_t *p, size_t n);

/* ---------------------------------------------------------------------------
 * The incremental stream parser (one direction of one connection). */
struct ts_wire_limits {
	size_t max_handshake;    /* largest handshake message body (default 65536) */
	size_t max_record;       /* largest record payload accepted (default 16384+2048;
	                            TLS 1.3: at most 16384+256; plaintext: at most 16384) */
	size_t max_buffered;     /* most unconsumed bytes held (default max_handshake + max_record + 5) */
};
void ts_wire_limits_default(struct ts_wire_limits *lim);

enum ts_tls_event_kind {
	TS_EV_RECORD = 1,        /* a whole record arrived (every record, before its messages);
	                            application_data is reported when its header arrives, with
	                            body NULL: its payload is skipped, never buffered */
	TS_EV_HANDSHAKE = 2,     /* a complete plaintext handshake message */
	TS_EV_ALERT = 3,         /* a plaintext alert (also reported as a record) */
	TS_EV_CHANGE_CIPHER_SPEC = 4,
	TS_EV_SSL2 = 5,          /* an SSLv2 message (CLIENT-HELLO / SERVER-HELLO), body from msg type */
};

struct ts_tls_event {
	enum ts_tls_event_kind kind;
	/* the record (for every kind: the record that carried or completed it) */
	int content_type;        /* enum ts_content_type */
	uint16_t record_version;
	size_t record_len;       /* payload length, without the header */
	uint64_t record_off;     /* stream offset of the record header */
	bool encrypted;          /* the payload is ciphertext (after CCS, or TLS 1.3) */
	/* TS_EV_HANDSHAKE / TS_EV_SSL2: type and body (after the 4-byte header for TLS) */
	int hs_type;             /* enum ts_hs_type */
	const uint8_t *body;     /* valid until the next call on the stream */
	size_t body_len;
	uint64_t body_off;       /* stream offset of the body's first byte (when in one record) */
	struct ts_alert alert;   /* TS_EV_ALERT */
};

/* Caller-owned; _init then _clear.  All fields are private except the
 * read-only facts below, which the stream learns as it goes. */
struct ts_tls_stream {
	/* read-only facts */
	uint16_t version;        /* negotiated (from a ServerHello seen here), else 0 */
	uint16_t suite;          /* chosen suite (ServerHello seen here), else 0 */
	bool ssl2;               /* the stream began with an SSLv2 record */
	bool encrypted;          /* later records are ciphertext */
	uint64_t offset;         /* stream offset of the next unparsed byte */
	struct ts_error err;     /* why the last call failed */
	/* private */
	struct ts_wire_limits lim;
	struct ts_buf in;        /* bytes fed, not yet consumed (a copy) */
	const uint8_t *ext;      /* or the caller's bytes, borrowed until _next returns != 1 */
	size_t ext_len;
	size_t in_pos;           /* parse position within in */
	struct ts_buf hs;        /* handshake bytes being reassembled */
	size_t hs_pos;
	uint64_t hs_off;
	int state;
	bool failed;
	struct ts_tls_event rec; /* the current record's facts */
	int pending;             /* an event still to report for rec */
	size_t skip;             /* application_data payload bytes still to skip */
};

/* lim may be NULL for the defaults. */
void ts_tls_stream_init(struct ts_tls_stream *s, const struct ts_wire_limits *lim);
void ts_tls_stream_clear(struct ts_tls_stream *s);
/* Appends bytes.  They are borrowed, not copied, until ts_tls_stream_next
 * returns something other than 1 (then what the stream still needs of them is
 * copied): keep them alive and unchanged until then.  Application data is
 * skipped where it lies, so an in-order stream costs no copy.  TS_E_NOMEM when
 * more than lim.max_buffered would be held: consume events first. */
int ts_tls_stream_feed(struct ts_tls_stream *s, const uint8_t *data, size_t len);
/* Produces the next event into ev: returns 1, TS_E_NEED_MORE (feed more), or
 * TS_E_MALFORMED (s->err says what; the stream is then failed until
 * ts_tls_stream_gap).  Pointers in ev stay valid until the next call. */
int ts_tls_stream_next(struct ts_tls_stream *s, struct ts_tls_event *ev);
/* Tells the stream that `missing` bytes were lost (0 = unknown) before the
 * next bytes fed: drops the partial record and handshake, and resynchronises
 * with ts_tls_resync on what comes next. */
void ts_tls_stream_gap(struct ts_tls_stream *s, size_t missing);
/* Bytes of memory the stream holds now (its copies of partial records and
 * handshake messages), for a caller that caps memory across streams. */
size_t ts_tls_stream_held(const struct ts_tls_stream *s);
/* Declares the rest of the stream encrypted (or not): a caller that knows
 * better than the stream (it saw the other direction) can say so. */
void ts_tls_stream_set_encrypted(struct ts_tls_stream *s, bool encrypted);
/* Tells the stream the negotiated version (learnt from the other direction's
 * ServerHello): TLS 1.3 lowers the record limit to 2^14 + 256 (RFC 8446 5.2). */
void ts_tls_stream_set_version(struct ts_tls_stream *s, uint16_t version);

/* ---------------------------------------------------------------------------
 * Builder. */
struct ts_hello_spec {
	uint16_t version;            /* highest version offered: TS_SSL2 .. TS_TLS13 */
	uint16_t record_version;     /* 0: 0x0301 for TLS, 0x0300 for SSLv3 */
	const uint16_t *suites;      /* NULL: a default list for the version */
	size_t n_suites;
	const uint16_t *groups;      /* NULL: x25519, secp256r1, secp384r1 (when TLS/ECC) */
	size_t n_groups;
	const uint16_t *sigalgs;     /* NULL: a default list (TLS 1.2+) */
	size_t n_sigalgs;
	const uint16_t *key_shares;  /* TLS 1.3 groups to send shares for; NULL: the first group */
	size_t n_key_shares;         /* supported: x25519, secp256r1, secp384r1, X25519MLKEM768 */
	const uint16_t *versions;    /* supported_versions; NULL: version down to TLS 1.0/1.2 */
	size_t n_versions;
	const uint8_t *compressions; /* methods, 1..255 of them ({ 1, 0 }: DEFLATE, then null); NULL: null only */
	size_t n_compressions;
	const char *server_name;     /* SNI (NULL: none) */
	const char *const *alpn;     /* ALPN protocols (NULL: none) */
	size_t n_alpn;
	bool no_extensions;          /* send no extension block at all (SSLv3 style) */
	bool status_request, sct, ems, etm, session_ticket, renegotiation_info;
	bool heartbeat;
	bool no_padding;             /* do not pad out of 256..511 */
	const struct ts_ext *extra;  /* raw extensions appended as given */
	size_t n_extra;
	const uint8_t *random;       /* 32 bytes; NULL: random */
	const uint8_t *session_id;   /* NULL: 32 random bytes for TLS 1.3, else empty */
	size_t session_id_len;
	/* SSLv2 CLIENT-HELLO only: 3-byte specs (NULL: the 7 SSLv2 specs, plus
	 * the TLS suites as 0x00XXXX when version > SSLv2). */
	const uint32_t *ssl2_specs;
	size_t n_ssl2_specs;
};

/* Appends one record holding a ClientHello (or, for version TS_SSL2, an SSLv2
 * CLIENT-HELLO) to out.  Key shares are public keys made by OpenSSL once per
 * group and process, their private halves thrown away (the scanner reads the
 * answer, it does not finish the handshake).  Padding (RFC 7685) keeps the handshake message out of
 * 256..511 bytes unless no_padding or no_extensions.  Returns 0 or TS_E_INVALID / TS_E_NOMEM. */
int ts_build_client_hello(const struct ts_hello_spec *spec, struct ts_buf *out,
                          struct ts_error *err);
/* The SSLv2-format CLIENT-HELLO (also used by ts_build_client_hello for TS_SSL2;
 * with spec->version >= SSLv3 it is the v2-compatible hello of old clients). */
int ts_build_ssl2_client_hello(const struct ts_hello_spec *spec, struct ts_buf *out,
                               struct ts_error *err);
/* A well-formed X25519MLKEM768 client share: 1184-byte ML-KEM-768 encapsulation
 * key (coefficients < 3329, 12-bit packed, plus rho) then 32-byte x25519. */
int ts_build_mlkem768_x25519_share(struct ts_buf *out, struct ts_error *err);

#endif
