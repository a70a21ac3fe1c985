/* tlsscope: the scanner — a complete assessment of a server's TLS with few
 * connections.
 *
 * Hand-built hellos from the wire codec (wire.h) go out over plain sockets
 * (after a STARTTLS preamble when asked): one hello answers a version, a
 * suite and a group at once, and accepted suites are eliminated in bulk
 * (offer the whole registry, strike out the one chosen, offer the rest).  A
 * per-target budget caps concurrent connections (default 4); refused or reset
 * connections are retried after a back-off.  Many targets run concurrently,
 * one thread each; a target's probes share its thread as fibers.
 *
 * Memory: ts_scan_run fills caller-allocated results; ts_scan_result_clear
 * frees what a result owns. */
#ifndef TLSSCOPE_SCAN_H
#define TLSSCOPE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/cert.h"
#include "tlsscope/error.h"
#include "tlsscope/starttls.h"

/* Protocol versions in the order scanned; ts_scan_version_code gives the wire value. */
enum ts_scan_version { TS_SV_SSL2, TS_SV_SSL3, TS_SV_TLS10, TS_SV_TLS11, TS_SV_TLS12,
                       TS_SV_TLS13, TS_SV_COUNT };
uint16_t ts_scan_version_code(enum ts_scan_version v);
/* "SSLv2", "TLSv1.2": display names; "ssl2", "tls1_2": the JSON keys. */
const char *ts_scan_version_name(enum ts_scan_version v);
const char *ts_scan_version_key(enum ts_scan_version v);

/* Three-valued facts: not tested (or could not tell), no, yes. */
enum ts_tri { TS_UNKNOWN = -1, TS_NO = 0, TS_YES = 1 };

enum ts_severity { TS_SEV_INFO, TS_SEV_LOW, TS_SEV_MEDIUM, TS_SEV_HIGH, TS_SEV_CRITICAL };
const char *ts_severity_name(enum ts_severity s);
/* "info".."critical" (case-insensitive); TS_E_INVALID otherwise. */
int ts_severity_parse(const char *s, enum ts_severity *out, struct ts_error *err);

#define TS_SCAN_MAX_SUITES 512
#define TS_SCAN_MAX_LIST 96
#define TS_SCAN_MAX_CERTS 4
#define TS_SCAN_MAX_FINDINGS 48
#define TS_SCAN_MAX_NOTES 8
#define TS_SCAN_MAX_ALPN 8

struct ts_scan_options {
	int max_connections;            /* per target at a time; <= 0: 4 */
	int max_targets;                /* targets scanned at a time; <= 0: 8 */
	int timeout_ms;                 /* each connect and each wait for an answer; <= 0: 5000 */
	bool starttls_set;              /* starttls given (else chosen by port) */
	enum ts_starttls_proto starttls;
	const char *ca_path;            /* extra trust (PEM file or hashed dir); NULL: system store */
	const char *server_name;        /* SNI and name to verify; NULL: the target's host */
};
void ts_scan_options_init(struct ts_scan_options *opt);

/* One certificate the server presented (one per key type). */
struct ts_scan_cert {
	char auth[8];                   /* "RSA", "ECDSA", "DSS": the suites that drew it out */
	struct ts_cert_info leaf;
	size_t chain_len;               /* certificates sent, leaf included */
	bool trusted;
	bool name_match;
	bool expired, not_yet_valid;
	char verify_error[TS_ERROR_MSG_MAX];   /* "" when trusted and matching */
};

struct ts_scan_finding {
	const char *id;                 /* stable, e.g. "sslv3", "rc4", "heartbleed" */
	enum ts_severity severity;
	char text[256];                 /* one sentence */
};

struct ts_scan_result {
	char target[320];               /* as given */
	char address[64];               /* "127.0.0.1:443" that answered, "" if none */
	int status;                     /* TS_OK, or why the target could not be scanned */
	char error[TS_ERROR_MSG_MAX];

	enum ts_tri protocols[TS_SV_COUNT];
	uint16_t suites[TS_SV_COUNT][TS_SCAN_MAX_SUITES];  /* server order when server_order */
	size_t n_suites[TS_SV_COUNT];
	uint32_t ssl2_specs[16];        /* SSLv2 cipher kinds (3 bytes) */
	size_t n_ssl2_specs;
	enum ts_tri server_order[TS_SV_COUNT];

	uint16_t groups13[TS_SCAN_MAX_LIST];    /* TLS 1.3 groups, preferred first */
	size_t n_groups13;
	uint16_t groups12[TS_SCAN_MAX_LIST];    /* ECDHE curves at TLS 1.2 and below */
	size_t n_groups12;
	int dh_bits;                    /* DHE group size; 0 when no DHE suite */
	uint16_t sigalgs12[TS_SCAN_MAX_LIST];
	size_t n_sigalgs12;
	uint16_t sigalgs13[TS_SCAN_MAX_LIST];
	size_t n_sigalgs13;

	struct ts_scan_cert certs[TS_SCAN_MAX_CERTS];
	size_t n_certs;

	enum ts_tri secure_renegotiation, compression, fallback_scsv, session_id, session_ticket;
	enum ts_tri ocsp_stapling, heartbeat, heartbleed, ccs_injection;
	enum ts_tri resumption;         /* a second complete handshake resumed the first (conn) */
	enum ts_tri hsts;               /* Strict-Transport-Security on GET / (HTTPS targets) */
	char hsts_value[160];
	enum ts_tri client_renegotiation;  /* the server completed a renegotiation we started (conn) */
	enum ts_tri early_data;         /* the server accepted TLS 1.3 early data (0-RTT) on resumption */
	size_t early_data_max;          /* bytes of early data its ticket allows; 0 none */
	char alpn[TS_SCAN_MAX_ALPN][32];
	size_t n_alpn;
	enum ts_tri alpn_tested;

	struct ts_scan_finding findings[TS_SCAN_MAX_FINDINGS];
	size_t n_findings;
	char notes[TS_SCAN_MAX_NOTES][256];     /* what could not be tested, and why */
	size_t n_notes;

	unsigned connections;           /* TCP connections opened (attempts) */
	uint64_t elapsed_ms;
};

/* Called from scanner threads (serialise inside) as each target finishes. */
typedef void (*ts_scan_progress_fn)(void *ud, size_t done, size_t total,
                                    const struct ts_scan_result *r);

/* Scans targets[i] ("host", "host:port", "[v6]:port"; port 443 by default)
 * into results[i] (caller-allocated array of n; each is initialised here).
 * Returns TS_OK when every target was scanned (results[i].status says if a
 * target could not be reached), TS_E_INVALID for bad options. */
int ts_scan_run(const char *const *targets, size_t n, const struct ts_scan_options *opt,
                struct ts_scan_result *results, ts_scan_progress_fn progress, void *ud,
                struct ts_error *err);
void ts_scan_result_clear(struct ts_scan_result *r);

/* Derives findings from the facts in r (ts_scan_run does it; exposed for tests). */
void ts_scan_findings(struct ts_scan_result *r, int64_t now);
/* The highest severity among r's findings, or -1 when none. */
int ts_scan_worst(const struct ts_scan_result *r);

/* SSLv2 cipher kind name ("SSL_CK_RC4_128_WITH_MD5"), or "0xXXXXXX" (static/thread-local). */
const char *ts_ssl2_cipher_name(uint32_t spec);

#endif
