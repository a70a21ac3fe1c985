/* tlsscope: probe — one TLS connection (after a STARTTLS preamble when the
 * protocol needs one) plus one resumption attempt, and everything about it:
 * where we connected, what was negotiated, the chain as sent, the chain that
 * verification built and the verdict in words, OCSP stapling, SCTs, timings.
 *
 * It is a diagnosis tool: the handshake records the certificate but does not
 * enforce trust, so the report is complete even for an untrusted server; the
 * verdict comes from ts_cert_verify_der afterwards.  Nothing is sent after the
 * handshake (the application protocol is never spoken).
 *
 * Memory: struct ts_probe_result is caller-owned: _init before, _clear after
 * (it frees everything it holds). */
#ifndef TLSSCOPE_PROBE_H
#define TLSSCOPE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/cert.h"
#include "tlsscope/error.h"
#include "tlsscope/net.h"
#include "tlsscope/starttls.h"

struct ts_probe_options {
	const char *host;             /* name or IP literal to connect to */
	uint16_t port;
	const char *name;             /* name to check and send as SNI; NULL: host */
	const char *ca_path;          /* trust anchors (PEM file or directory); NULL: system store */
	const char *alpn;             /* "h2,http/1.1"; NULL: no ALPN offered */
	enum ts_starttls_proto starttls;
	bool starttls_auto;           /* choose the protocol by the port (starttls ignored) */
	int timeout_ms;               /* bound on each step; <= 0: 10000 */
	int family;                   /* AF_UNSPEC, AF_INET or AF_INET6 */
	bool no_resume;               /* skip the second (resumption) connection */
};

/* Which step a failure happened in. */
enum ts_probe_stage {
	TS_PROBE_STAGE_NONE = 0,      /* no failure */
	TS_PROBE_STAGE_SETUP,         /* options, trust store */
	TS_PROBE_STAGE_RESOLVE,
	TS_PROBE_STAGE_CONNECT,
	TS_PROBE_STAGE_STARTTLS,
	TS_PROBE_STAGE_HANDSHAKE,
	TS_PROBE_STAGE_VERIFY,        /* the handshake worked; the certificate is not trusted */
};

#define TS_PROBE_CHAIN_MAX 16

struct ts_probe_ocsp {
	bool stapled;                 /* the server stapled a response */
	char status[16];              /* "good", "revoked", "unknown", "unsuccessful", "malformed", "" */
	char response_status[24];     /* OCSP responseStatus, "successful" ... */
	int64_t this_update;          /* Unix seconds, 0 when absent */
	int64_t next_update;
	int64_t revoked_at;
};

struct ts_probe_result {
	/* target */
	char host[TS_HOST_MAX];
	uint16_t port;
	char name[TS_HOST_MAX];       /* the name checked and sent as SNI */
	/* addresses */
	struct ts_addrlist addrs;     /* all resolved */
	bool connected;
	size_t connected_index;
	char address[TS_ADDRSTR_MAX]; /* "127.0.0.1:443", "" before connecting */
	/* preamble */
	enum ts_starttls_proto starttls;
	struct ts_starttls_result preamble;
	/* handshake */
	bool handshake_done;
	char protocol[16];
	char cipher_iana[96];
	char cipher_openssl[96];
	char group[48];
	bool forward_secrecy;
	char peer_signature[64];
	char alpn[256];               /* "" when none was selected */
	/* resumption */
	bool ticket_offered;
	bool session_id_offered;
	bool resumption_tried;
	bool resumed;
	char resumption_error[TS_ERROR_MSG_MAX];  /* why the second connection failed, or "" */
	/* stapling and transparency */
	struct ts_probe_ocsp ocsp;
	int sct_certificate;          /* SCTs embedded in the leaf certificate; -1 unknown */
	size_t sct_tls;               /* SCTs in the TLS extension */
	/* certificates */
	struct ts_cert_info chain[TS_PROBE_CHAIN_MAX];  /* as sent, leaf first */
	size_t chain_count;
	size_t chain_sent;            /* how many the server sent (may exceed chain_count) */
	struct ts_verify_result verify;                 /* verdict and the chain verification built */
	bool verified;                /* verify was filled in */
	/* timings, milliseconds; negative when the step did not run */
	double resolve_ms;
	double connect_ms;
	double starttls_ms;
	double handshake_ms;
	/* failure */
	enum ts_probe_stage failed_stage;
	int status;                   /* the return value of ts_probe_run */
	char error[TS_ERROR_MSG_MAX]; /* "" when trusted */
};

void ts_probe_result_init(struct ts_probe_result *res);
void ts_probe_result_clear(struct ts_probe_result *res);

/* Runs the probe.  Returns TS_OK when the server's certificate is trusted
 * for the name; TS_E_VERIFY when the handshake worked but it is not (res is
 * complete and res->verify.error says why); TS_E_PROTOCOL when the STARTTLS
 * preamble failed; TS_E_TLS when the handshake failed; TS_E_RESOLVE,
 * TS_E_CONNECT, TS_E_TIMEOUT when the server could not be reached;
 * TS_E_INVALID, TS_E_FILE for bad options.  res holds what was learnt up to
 * the failure and res->error the message (also in err). */
int ts_probe_run(const struct ts_probe_options *opt, struct ts_probe_result *res, struct ts_error *err);

/* "resolve", "connect", "starttls", "handshake", "verify", or NULL for NONE. */
const char *ts_probe_stage_name(enum ts_probe_stage stage);

#endif
