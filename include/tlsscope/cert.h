/* tlsscope: certificates — inspect, verify with a reason in words, generate.
 *
 * Everything here works on DER bytes or files, so the scanner and the
 * observer (which see certificates as bytes) and the connection layer (which
 * sees them from OpenSSL) share one piece of code for each job.
 * Memory: structs are caller-owned with _clear(); opaque objects have
 * _new/_free and free(NULL) is a no-op. */
#ifndef TLSSCOPE_CERT_H
#define TLSSCOPE_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"

/* What one certificate says.  Strings are owned by the struct. */
struct ts_cert_info {
	char *subject;                 /* one line, "CN=www.example.test, O=Example" */
	char *issuer;
	char **san_dns;                /* subjectAltName dNSName entries */
	size_t san_dns_count;
	char **san_ip;                 /* subjectAltName iPAddress entries, as text */
	size_t san_ip_count;
	int64_t not_before;            /* Unix seconds, UTC */
	int64_t not_after;
	char key_type[16];             /* "RSA", "EC", "ED25519", "ED448", "DSA", "unknown" */
	int key_bits;
	char key_curve[32];            /* "P-256" for EC keys, else "" */
	char signature_algorithm[64];  /* e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256" */
	char sha256[65];               /* fingerprint of the DER, lowercase hex */
	char sha1[41];
	bool is_ca;                    /* basicConstraints CA:TRUE */
	bool self_signed;              /* subject == issuer and the signature checks with its own key */
};

/* Decodes one DER certificate.  TS_E_MALFORMED when it does not parse. */
int ts_cert_info_from_der(const uint8_t *der, size_t len, struct ts_cert_info *info,
                          struct ts_error *err);
void ts_cert_info_clear(struct ts_cert_info *info);

/* Reads every certificate in a PEM file.  *infos is a malloc'd array of *count
 * entries owned by the caller (free with ts_cert_infos_free).  A missing or
 * unreadable file, or one holding no PEM certificate, is TS_E_FILE with a
 * message naming the file. */
int ts_cert_read_file(const char *path, struct ts_cert_info **infos, size_t *count,
                      struct ts_error *err);
void ts_cert_infos_free(struct ts_cert_info *infos, size_t count);

/* A set of trusted certificate authorities. */
struct ts_trust;
/* ca_path: a PEM file or an OpenSSL hashed directory; NULL means the system
 * trust store.  TS_E_FILE when the path cannot be read or holds no CA.
 * (cert: a directory without hash-named entries, like one made by
 * `tlsscope cert ca --dir`, has every certificate of every file trusted.) */
int ts_trust_new(const char *ca_path, struct ts_trust **out, struct ts_error *err);
void ts_trust_free(struct ts_trust *trust);

struct ts_verify_options {
	const char *name;               /* DNS name or IP literal to match; NULL: no name check */
	bool insecure_noverifycert;     /* accept any chain (the name is still checked) */
	bool insecure_noverifyname;     /* skip the name check */
	bool insecure_noverifytime;     /* ignore validity dates */
	int min_rsa_bits;               /* 0 means 2048; negative: no key-size check */
	int64_t at;                     /* verification time, Unix seconds; 0 means now */
	/* Added by cert: */
	bool client_purpose;            /* the peer is a client: the leaf needs clientAuth, not serverAuth */
};

struct ts_verify_result {
	bool trusted;                   /* a chain to a trusted root, in date, strong keys */
	bool hostname_match;            /* the name matched a subjectAltName (false if no name given) */
	char error[TS_ERROR_MSG_MAX];   /* "" when trusted and matching, else the first reason in words */
	struct ts_cert_info *built;     /* the chain verification built, leaf first, root last */
	size_t built_count;
	/* Added by cert: the first failure an insecure_* option waived ("" when
	 * none), for the warning a caller should print. */
	char waived[TS_ERROR_MSG_MAX];
	/* Added by cert: OpenSSL's X509_V_ERR_* for the failure in error (0 when
	 * none): the chain's own code (e.g. X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
	 * X509_V_ERR_CERT_HAS_EXPIRED / _NOT_YET_VALID, X509_V_ERR_EE_KEY_TOO_SMALL
	 * / X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_HOSTNAME_MISMATCH /
	 * X509_V_ERR_IP_ADDRESS_MISMATCH: for choosing a TLS alert or a category
	 * without parsing the words. */
	int x509_error;
};

/* Verifies a chain as a server sent it (leaf first) for opt->name.  Returns
 * TS_OK when it is trusted and the name matches (or the matching checks were
 * waived by insecure options), TS_E_VERIFY otherwise; either way res is filled
 * in and res->error says why in words, for example
 *   certificate for 'www.example.test' expired on 2025-01-01 00:00:00 UTC
 *   name mismatch: wanted 'a.example.test', certificate is for 'b.example.test', '*.c.example.test'
 *   issuer 'CN=Fake Root' is not a trusted certificate authority
 *   the server sent no intermediate certificate: no chain to a trusted root
 *   self-signed certificate 'CN=pypi.python.org' is not trusted
 *   RSA key of 1024 bits is too weak (at least 2048 required)
 * "issuer ... is not a trusted certificate authority" when the chain sent ends
 * in a self-signed root not trusted, or in a certificate whose issuer is
 * unknown; "the server sent no intermediate certificate" when only the leaf
 * was sent (copies of the leaf in the rest do not count) and its issuer is
 * unknown.  A certificate's expiry names its first DNS/IP subjectAltName (else
 * its CN); a CA's is "CA certificate 'CN=...' expired on ...".
 * Names match subjectAltName entries only (never the subject CN), wildcards
 * cover exactly one whole left-most label, and an IP literal matches only
 * iPAddress entries.  Other negative codes mean the check could not run. */
int ts_cert_verify_der(struct ts_trust *trust, const uint8_t *const *ders, const size_t *lens,
                       size_t count, const struct ts_verify_options *opt,
                       struct ts_verify_result *res, struct ts_error *err);
void ts_verify_result_clear(struct ts_verify_result *res);
/* res is overwritten by the verify functions: clear it before reusing it.
 * Checks run in this order and the first failure is reported: the chain (to a
 * trusted root; insecure_noverifycert waives it), the dates of every
 * certificate in the built chain (insecure_noverifytime), the key sizes of
 * every certificate in the built chain (RSA and DSA >= min_rsa_bits, EC >=
 * 224) and their signatures (no MD5 or SHA-1, except on a self-signed root,
 * unless 0 < min_rsa_bits < 1024, like OpenSSL's security level 0) -- not
 * waivable except by a negative min_rsa_bits -- then the name
 * (insecure_noverifyname). */

/* Reads a chain file (PEM, leaf first; or one DER certificate) and verifies it
 * like ts_cert_verify_der.  TS_E_FILE when the file cannot be read or holds no
 * certificate. */
int ts_cert_verify_file(struct ts_trust *trust, const char *path,
                        const struct ts_verify_options *opt, struct ts_verify_result *res,
                        struct ts_error *err);

/* Generation, in the spirit of mkcert: a local CA for tests and demos. */
struct ts_cert_request {
	const char *key_spec;           /* "rsa:2048" (default), "rsa:3072", "rsa:1024", "ec:P-256", "ec:P-384", "ed25519" */
	const char *common_name;        /* subject CN; NULL: the first name */
	const char *const *names;       /* DNS names and IP literals, all put in subjectAltName */
	size_t name_count;
	int64_t not_before;             /* Unix seconds; 0: now - 1 hour */
	int64_t not_after;              /* Unix seconds; 0: not_before + days */
	int days;                       /* 0: 825 for leaves, 3650 for CAs */
	bool is_ca;                     /* a CA (root when issuer is NULL, else an intermediate) */
	bool self_signed;               /* a leaf signed by its own key */
	bool cn_only;                   /* name in the CN and no subjectAltName (for tests) */
};

/* Makes a key and certificate.  issuer_dir is a directory written by a
 * previous call (holding ca.pem and ca.key), or NULL for a root or a
 * self-signed leaf.  Writes out_prefix + ".pem" (the certificate), ".key" (the
 * private key, mode 0600) and, when the issuer is an intermediate,
 * ".chain.pem" (leaf then intermediate).  For CAs out_prefix is
 * "<dir>/ca".  TS_E_INVALID for a bad key spec or name, TS_E_FILE for I/O. */
int ts_cert_generate(const struct ts_cert_request *req, const char *issuer_dir,
                     const char *out_prefix, struct ts_error *err);
/* Whether ts_cert_generate knows the key spec (also rsa:4096 and ec:P-521). */
bool ts_cert_key_spec_known(const char *spec);

/* Parses a time for the command line: "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS"
 * (also with a 'T', and an optional "Z" or " UTC"), all UTC; "now"; a
 * relative "+10d", "-30d", "-2h", "+15m", "-5s" from now; or "@SECONDS".
 * TS_E_INVALID with a message when it is none of these. */
int ts_cert_parse_time(const char *text, int64_t now, int64_t *out, struct ts_error *err);

/* Formats Unix seconds as "2025-01-01 00:00:00 UTC" into out (at least 24 bytes). */
void ts_cert_format_time(int64_t t, char *out, size_t size);

#endif
