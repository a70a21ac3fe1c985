/* tlsscope: the IANA TLS registries — names and properties of cipher suites,
 * groups, signature schemes, extensions and alerts.
 *
 * The tables are generated at build time (lib/registry/gen_registry.py) from
 * the CSV files in lib/registry/ (IANA exports, see lib/registry/README.md);
 * suite properties are derived from the IANA names, not typed by hand.
 * Every returned pointer is to static, read-only data: never free it.
 * Lookups by code are O(log n); lookups by name compare case-insensitively. */
#ifndef TLSSCOPE_REGISTRY_H
#define TLSSCOPE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ts_kx {
	TS_KX_NONE = 0,   /* TLS 1.3 suites (key exchange is separate), SCSVs */
	TS_KX_NULL,       /* TLS_NULL_WITH_NULL_NULL */
	TS_KX_RSA,
	TS_KX_DH,         /* static DH */
	TS_KX_DHE,
	TS_KX_ECDH,       /* static ECDH */
	TS_KX_ECDHE,
	TS_KX_PSK,
	TS_KX_DHE_PSK,
	TS_KX_ECDHE_PSK,
	TS_KX_RSA_PSK,
	TS_KX_SRP,
	TS_KX_KRB5,
	TS_KX_GOST,
	TS_KX_ECCPWD,
	TS_KX_SCSV,       /* signalling values, not suites */
	TS_KX_OTHER,
};

enum ts_auth {
	TS_AUTH_NONE = 0, /* TLS 1.3: by certificate, not by suite */
	TS_AUTH_ANON,
	TS_AUTH_RSA,
	TS_AUTH_DSS,
	TS_AUTH_ECDSA,
	TS_AUTH_PSK,
	TS_AUTH_KRB5,
	TS_AUTH_GOST,
	TS_AUTH_OTHER,
};

enum ts_mac {
	TS_MAC_NONE = 0,  /* NULL MAC (only TLS_NULL_WITH_NULL_NULL) */
	TS_MAC_AEAD,
	TS_MAC_MD5,
	TS_MAC_SHA1,
	TS_MAC_SHA256,
	TS_MAC_SHA384,
	TS_MAC_SM3,
	TS_MAC_GOST,
	TS_MAC_OTHER,
};

struct ts_suite_info {
	uint16_t code;
	const char *name;          /* IANA, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" */
	const char *openssl_name;  /* "ECDHE-RSA-AES128-GCM-SHA256", or NULL */
	enum ts_kx kx;
	enum ts_auth auth;
	const char *cipher;        /* "AES_128_GCM", "3DES_EDE_CBC", "RC4_128", "NULL" ... */
	int bits;                  /* effective key bits (40 for export, 0 for NULL) */
	enum ts_mac mac;
	bool aead;
	bool forward_secret;       /* ephemeral key exchange (and every TLS 1.3 suite) */
	bool export_grade;
	bool anonymous;            /* no authentication of the server */
	bool null_cipher;
	bool scsv;
	uint16_t min_version;      /* e.g. TS_SSL3, TS_TLS12, TS_TLS13 */
	uint16_t max_version;
};

struct ts_group_info {
	uint16_t code;
	const char *name;          /* IANA, "x25519", "secp256r1", "X25519MLKEM768" */
	const char *kind;          /* "ec", "ff", "pq", "hybrid", "other" */
	int bits;                  /* classical security-relevant size (curve or modulus bits) */
	bool recommended;          /* IANA "Recommended" = Y */
	bool deprecated;           /* IANA "Recommended" = D */
};

struct ts_sigscheme_info {
	uint16_t code;
	const char *name;          /* "rsa_pss_rsae_sha256" */
	bool recommended;
};

struct ts_named_value {
	uint16_t code;
	const char *name;
};

/* NULL when unknown. */
const struct ts_suite_info *ts_suite_by_code(uint16_t code);
const struct ts_suite_info *ts_suite_by_name(const char *name);   /* IANA or OpenSSL name */
const struct ts_group_info *ts_group_by_code(uint16_t code);
const struct ts_group_info *ts_group_by_name(const char *name);
const struct ts_sigscheme_info *ts_sigscheme_by_code(uint16_t code);
const struct ts_sigscheme_info *ts_sigscheme_by_name(const char *name);
const struct ts_named_value *ts_extension_by_code(uint16_t code);
const struct ts_named_value *ts_extension_by_name(const char *name);
const struct ts_named_value *ts_alert_by_code(uint8_t code);
const struct ts_named_value *ts_alert_by_name(const char *name);

/* Whole tables, sorted by code (for the scanner: "every suite"). */
const struct ts_suite_info *ts_suites(size_t *count);
const struct ts_group_info *ts_groups(size_t *count);
const struct ts_sigscheme_info *ts_sigschemes(size_t *count);
const struct ts_named_value *ts_extensions(size_t *count);
const struct ts_named_value *ts_alerts(size_t *count);

/* Names that never fail: the registry name, "GREASE" for GREASE values, or
 * "0xABCD" / "unknown_N" written into a thread-local buffer otherwise. */
const char *ts_suite_name(uint16_t code);
const char *ts_group_name(uint16_t code);
const char *ts_sigscheme_name(uint16_t code);
const char *ts_extension_name(uint16_t code);
const char *ts_alert_name(uint8_t code);
const char *ts_alert_level_name(uint8_t level);    /* "warning", "fatal" */
const char *ts_kx_name(enum ts_kx kx);             /* "ECDHE" ... */
const char *ts_auth_name(enum ts_auth auth);
const char *ts_mac_name(enum ts_mac mac);

#endif
