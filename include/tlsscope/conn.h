/* tlsscope: safe TLS connections over OpenSSL, shaped like OpenBSD's libtls.
 *
 * A struct ts_config says what is acceptable; a struct ts_conn is one
 * connection (client or server) made with it.  Secure by default: TLS 1.2
 * and 1.3 only, AEAD suites with forward secrecy only, OpenSSL security
 * level 2, the peer's chain verified against the system trust store (or the
 * CA file/directory given) and the name checked.  Every weakening is its own
 * explicitly named insecure_* setter; ts_config_insecure() lists the ones
 * that are on so that a command line can warn about each.
 *
 * One error channel: functions return 0 (or a non-negative count) or a
 * negative TS_E_* code, and the object keeps a message in words that says
 * what was expected and what was seen (ts_config_error, ts_conn_error).
 * Certificate problems carry the cert module's message unchanged
 * (verification is ts_cert_verify_x509, run inside the handshake, so a bad
 * certificate aborts it with an alert).
 *
 * I/O: ts_conn_connect (resolve + connect with timeouts, the conn owns the
 * socket), ts_conn_set_fd (the caller owns the descriptor), or
 * ts_conn_set_callbacks (the caller moves the bytes: in-memory tests, event
 * loops).  Calls wait up to the configured timeout on a descriptor unless
 * ts_conn_set_nonblocking() was called; with callbacks, or when non-blocking,
 * they return TS_E_WANT_READ / TS_E_WANT_WRITE: call again when the
 * transport can move bytes.
 *
 * Memory: ts_config_new / ts_conn_client / ts_conn_server return objects the
 * caller frees with ts_config_free / ts_conn_free (NULL is a no-op).  A conn
 * keeps a reference to its config, so the config may be freed first.
 * Strings and buffers returned by accessors are owned by the object and stay
 * valid until it is freed (or, for a config, until the next setter call). */
#ifndef TLSSCOPE_CONN_H
#define TLSSCOPE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tlsscope/cert.h"
#include "tlsscope/error.h"
#include "tlsscope/net.h"

/* Protocol versions, a bit each. */
#define TS_PROTO_TLS1_0 0x01u
#define TS_PROTO_TLS1_1 0x02u
#define TS_PROTO_TLS1_2 0x04u
#define TS_PROTO_TLS1_3 0x08u
#define TS_PROTOS_DEFAULT (TS_PROTO_TLS1_2 | TS_PROTO_TLS1_3)
#define TS_PROTOS_LEGACY (TS_PROTO_TLS1_0 | TS_PROTO_TLS1_1)

#define TS_KEYPAIRS_MAX 16        /* server certificates chosen by SNI */
#define TS_ALPN_MAX 255           /* encoded ALPN list, bytes */
#define TS_DEFAULT_TIMEOUT_MS 10000

/* The TLS 1.2 suites of the default cipher policy: ECDHE or DHE key exchange
 * (forward secrecy) with AES-GCM or ChaCha20-Poly1305 (AEAD).  TLS 1.3 suites
 * are all AEAD with forward secrecy. */
#define TS_CIPHERS_SECURE "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!PSK:!SRP"

struct ts_config;

/* NULL when out of memory. */
struct ts_config *ts_config_new(void);
void ts_config_free(struct ts_config *cfg);
/* The message of the last failed setter ("" if none). */
const char *ts_config_error(const struct ts_config *cfg);

/* Trust anchors: a PEM file or hashed directory; NULL is the system store.
 * Read now: TS_E_FILE names the path when it cannot be used. */
int ts_config_set_ca_path(struct ts_config *cfg, const char *path);
/* Trust anchors already read (with ts_trust_new): the store is shared, not
 * copied, so the caller may free its own handle at once.  NULL is the system
 * store.  TS_E_NOMEM only. */
int ts_config_set_trust(struct ts_config *cfg, struct ts_trust *trust);
/* Allowed versions (TS_PROTO_* bits).  TLS 1.0/1.1 need
 * ts_config_insecure_legacy_protocols() first (else TS_E_INVALID). */
int ts_config_set_protocols(struct ts_config *cfg, unsigned protocols);
/* Parses "tls1.2,tls1.3" (also "default", "all", "legacy"; names may be
 * written TLSv1.2) into TS_PROTO_* bits. */
int ts_parse_protocols(const char *list, unsigned *protocols, struct ts_error *err);
/* TLS 1.2 cipher policy: "secure" (the default, TS_CIPHERS_SECURE),
 * "compat" (adds CBC suites with forward secrecy), or an OpenSSL cipher
 * string.  TS_E_INVALID when OpenSSL finds no suite in it. */
int ts_config_set_ciphers(struct ts_config *cfg, const char *policy);
/* OpenSSL security level 0..5 (default 2).  Below 2 needs
 * ts_config_insecure_legacy_protocols() (else TS_E_INVALID). */
int ts_config_set_security_level(struct ts_config *cfg, int level);
/* ALPN protocols, most preferred first: "h2,http/1.1".  A client offers
 * them; a server picks the first of its list the client offers (and
 * continues without ALPN when there is none in common). */
int ts_config_set_alpn(struct ts_config *cfg, const char *list);
/* A certificate chain (PEM: leaf first, then intermediates) and its private
 * key.  Client: the client certificate (replaces a previous one).  Server:
 * each call adds one; the first is the default and the others are chosen
 * when the client's SNI matches one of their names.  TS_E_FILE when a file
 * is missing, unreadable, not PEM, or when the key does not match. */
int ts_config_add_keypair_file(struct ts_config *cfg, const char *cert_file, const char *key_file);
/* Server: ask for a client certificate and require one that verifies
 * against ca_path (a PEM file or directory); optional: ask but accept none. */
int ts_config_verify_client(struct ts_config *cfg, const char *ca_path);
int ts_config_verify_client_optional(struct ts_config *cfg, const char *ca_path);
/* Session resumption (default off).  Client: conns made from this config
 * keep the server's last session per name:port (at most 64) and offer it
 * next time.  Server: a session cache and session tickets. */
int ts_config_set_session_cache(struct ts_config *cfg, bool on);
/* Bound on each wait of a blocking call: resolution, connect, handshake,
 * read, write (milliseconds, > 0; default TS_DEFAULT_TIMEOUT_MS). */
int ts_config_set_timeout(struct ts_config *cfg, int timeout_ms);
/* AF_UNSPEC (default), AF_INET or AF_INET6, for ts_conn_connect. */
int ts_config_set_family(struct ts_config *cfg, int family);

/* The weakenings.  Never on by default; each one named. */
void ts_config_insecure_noverifycert(struct ts_config *cfg);  /* accept any chain */
void ts_config_insecure_noverifyname(struct ts_config *cfg);  /* skip the name check */
void ts_config_insecure_noverifytime(struct ts_config *cfg);  /* ignore validity dates */
/* Allow TLS 1.0 and 1.1 (and enable them) and lower the security level to 0. */
void ts_config_insecure_legacy_protocols(struct ts_config *cfg);
/* Client: connect to servers without secure renegotiation (RFC 5746) and
 * let ts_conn_renegotiate() renegotiate with them, which an attacker in the
 * middle can splice into (CVE-2009-3555). */
void ts_config_insecure_legacy_renegotiation(struct ts_config *cfg);
#define TS_INSECURE_MAX 5
/* Fills names (static strings such as "insecure_noverifycert") with the
 * weakenings that are on; returns how many (at most TS_INSECURE_MAX). */
size_t ts_config_insecure(const struct ts_config *cfg, const char *names[TS_INSECURE_MAX]);

/* Read back the settings (for tests and reports). */
unsigned ts_config_protocols(const struct ts_config *cfg);
const char *ts_config_ciphers(const struct ts_config *cfg);  /* the OpenSSL string in force */
int ts_config_security_level(const struct ts_config *cfg);

struct ts_conn;

/* Callback I/O: move at most len bytes.  Return the count moved, 0 at end
 * of stream (read only), TS_E_WANT_READ / TS_E_WANT_WRITE when nothing can
 * move now, or another negative TS_E_* code. */
typedef ssize_t (*ts_read_cb)(void *arg, void *buf, size_t len);
typedef ssize_t (*ts_write_cb)(void *arg, const void *buf, size_t len);

/* A connection object; NULL when out of memory. */
struct ts_conn *ts_conn_client(struct ts_config *cfg);
struct ts_conn *ts_conn_server(struct ts_config *cfg);
/* Frees without sending close_notify; closes the socket only if the conn
 * opened it (ts_conn_connect). */
void ts_conn_free(struct ts_conn *c);

/* Client: resolves host, connects to port with the config's timeout and
 * family.  name is the server name to check and send as SNI (NULL: host);
 * an IP literal name sends no SNI and is matched against IP subjectAltNames.
 * TS_E_RESOLVE, TS_E_CONNECT, TS_E_TIMEOUT. */
int ts_conn_connect(struct ts_conn *c, const char *host, uint16_t port, const char *name);
/* Uses a connected socket the caller owns.  name as above (clients only;
 * servers pass NULL). */
int ts_conn_set_fd(struct ts_conn *c, int fd, const char *name);
/* Uses the caller's callbacks for the bytes.  name as above. */
int ts_conn_set_callbacks(struct ts_conn *c, ts_read_cb rd, ts_write_cb wr, void *arg,
                          const char *name);
/* On a descriptor: return TS_E_WANT_* instead of waiting. */
void ts_conn_set_nonblocking(struct ts_conn *c, bool on);
/* The descriptor in use, or -1. */
int ts_conn_fd(const struct ts_conn *c);

/* Runs the handshake (read and write run it too when needed).  TS_E_VERIFY
 * when the certificate is not trusted for the name; TS_E_TLS when the peer
 * refused, is not TLS, or broke off; TS_E_TIMEOUT; TS_E_WANT_*. */
int ts_conn_handshake(struct ts_conn *c);
/* Returns the count read (> 0; 0 only when len is 0), TS_E_CLOSED at the end
 * of the stream, or a negative code. */
ssize_t ts_conn_read(struct ts_conn *c, void *buf, size_t len);
/* Returns the count written (> 0, possibly less than len), or a negative code. */
ssize_t ts_conn_write(struct ts_conn *c, const void *buf, size_t len);
/* TLS 1.3 record padding (after the handshake): the next application-data
 * records written carry up to budget bytes of padding in all, each as much
 * as fits in it (a record's inner plaintext is at most 2^14 bytes: a record
 * with c bytes of data takes at most 16383 - c).  Handshake records and
 * alerts are never padded.  Replaces an earlier budget; TS_E_INVALID when
 * the connection is not TLS 1.3 (TLS 1.2 has no record padding). */
int ts_conn_pad(struct ts_conn *c, uint64_t budget);
/* The budget not yet used. */
uint64_t ts_conn_pad_left(const struct ts_conn *c);
/* Client, TLS 1.2 and older, after the handshake: client-initiated
 * renegotiation.  Asks the server for a new handshake and runs it; 0 when
 * the server completed it.  Only two codes mean the server refused:
 * TS_E_TLS when it sent an alert (no_renegotiation, a warning, or a fatal
 * one), TS_E_CLOSED when it closed the connection.  A failure on our side
 * says "failed on our side" and why, and is neither: TS_E_MALFORMED when
 * our OpenSSL rejected the server's answer with no alert from the server
 * (a record failed its MAC, the new handshake broke a rule: the answer
 * failed our checks, so nothing is known of the server's will), and
 * TS_E_INTERNAL when OpenSSL would not start the renegotiation at all.
 * The connection is unusable after any failure.  TS_E_INVALID for a server
 * conn or TLS 1.3 (which has no renegotiation); the transport's codes
 * (TS_E_TIMEOUT, TS_E_CONNECT), TS_E_WANT_*.  Renegotiation is otherwise
 * always refused (OpenSSL's SSL_OP_NO_RENEGOTIATION): only this call
 * allows it, for the one handshake it runs. */
int ts_conn_renegotiate(struct ts_conn *c);

/* TLS 1.3 early data (0-RTT), client.  A conn made from a config with the
 * session cache offers the last session of its name:port; the server's
 * ticket says how much early data it allows (0: none, or no session). */
size_t ts_conn_early_data_max(const struct ts_conn *c);
/* Before the handshake: sends buf as early data (starting the handshake)
 * and returns the count written; ts_conn_handshake then finishes it.
 * TS_E_INVALID when the handshake already ran or ts_conn_early_data_max()
 * is 0 or less than len. */
ssize_t ts_conn_write_early(struct ts_conn *c, const void *buf, size_t len);
enum ts_early_data { TS_EARLY_NOT_SENT, TS_EARLY_REJECTED, TS_EARLY_ACCEPTED };
/* After the handshake: whether the server accepted the early data sent. */
enum ts_early_data ts_conn_early_data_status(const struct ts_conn *c);

/* Sends close_notify (also after a read or write timed out).  0 when
 * sent; TS_E_WANT_* to call again. */
int ts_conn_close(struct ts_conn *c);

/* The message of the last failure ("" if none) and its code. */
const char *ts_conn_error(const struct ts_conn *c);
int ts_conn_error_code(const struct ts_conn *c);

/* What was negotiated (after the handshake; NULL / 0 / false before). */
bool ts_conn_handshake_done(const struct ts_conn *c);
const char *ts_conn_protocol(const struct ts_conn *c);        /* "TLSv1.3" */
const char *ts_conn_cipher(const struct ts_conn *c);          /* IANA: "TLS_AES_128_GCM_SHA256" */
const char *ts_conn_cipher_openssl(const struct ts_conn *c);  /* "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256" */
const char *ts_conn_group(const struct ts_conn *c);           /* "x25519", "secp256r1", "ffdhe2048", "DH 2048 bits", or NULL */
bool ts_conn_forward_secret(const struct ts_conn *c);
const char *ts_conn_peer_signature(const struct ts_conn *c);  /* "rsa_pss_rsae_sha256", NULL if none seen */
const char *ts_conn_alpn(const struct ts_conn *c);            /* selected protocol, or NULL */
/* Client: the name checked (also sent as SNI unless an IP literal); server:
 * the SNI the client sent, or NULL. */
const char *ts_conn_servername(const struct ts_conn *c);
bool ts_conn_resumed(const struct ts_conn *c);
bool ts_conn_ticket_offered(const struct ts_conn *c);        /* client: the server sent a session ticket (TLS 1.3: seen after reading) */
bool ts_conn_session_id_offered(const struct ts_conn *c);    /* client, TLS <= 1.2: the server gave a session id */
/* The stapled OCSP response (DER, owned by the conn) or NULL; clients
 * always ask for it. */
const uint8_t *ts_conn_ocsp_response(const struct ts_conn *c, size_t *len);
/* Signed certificate timestamps the server sent in the TLS extension. */
size_t ts_conn_sct_count(const struct ts_conn *c);
/* The peer's chain as sent, leaf first: arrays owned by the conn.  Returns
 * the count (0 when the peer sent none).  Also filled in when the handshake
 * failed because the chain was refused. */
size_t ts_conn_peer_chain(const struct ts_conn *c, const uint8_t *const **ders,
                          const size_t **lens);
/* The verification of the peer's chain (owned by the conn), also after a
 * refusal; NULL when no certificate was checked (a server that asked for
 * none, or a handshake that failed before). */
const struct ts_verify_result *ts_conn_verify_result(const struct ts_conn *c);
/* The address ts_conn_connect reached, or NULL. */
const struct ts_addr *ts_conn_peer_addr(const struct ts_conn *c);

#endif
