/* Private sharing between lib/scan.c (planner) and lib/scan_probe.c (one
 * connection: connect, preamble, hello, read the answer). */
#ifndef TLSSCOPE_SCAN_INTERNAL_H
#define TLSSCOPE_SCAN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "fiber_internal.h"
#include "tlsscope/cert.h"
#include "tlsscope/net.h"
#include "tlsscope/scan.h"
#include "tlsscope/wire.h"

struct probe;

/* Everything the probes of one target share (they are fibers on one
 * thread: see lib/fiber.c). */
struct scan_target {
	const struct ts_scan_options *opt;
	struct ts_scan_result *res;
	struct ts_trust *trust;         /* the certificates are verified against it */
	char host[TS_HOST_MAX];
	const char *sni;                /* NULL for IP literals */
	uint16_t port;
	enum ts_starttls_proto starttls;
	struct ts_addrlist addrs;       /* the one address that answered first */
	int spare_fd;                   /* the socket that found it, for the first
	                                 * connection to take, or -1 */
	struct fiber_sem budget;        /* connections at a time */
	int hellos_open[64];            /* the sockets of probes answered with a ServerHello,
	                                 * until they close (64: the most connections at once) */
	size_t n_hellos_open;
	bool side_by_side;              /* the server answered a hello while it still held
	                                 * another: it serves connections side by side */
	struct fiber_sem shown;         /* posted when side_by_side is set */
	bool reneg_asked;               /* the renegotiation task has run (or is running) */
	bool small_hellos[TS_SV_COUNT]; /* the server hangs up on big hellos at this version */
	unsigned connections;
	unsigned refusals;              /* refused/reset connects seen */
	unsigned alerts;                /* hellos answered with an alert */
	uint8_t last_alert;             /* the description of one of them */
	uint16_t group13;               /* the group of the first TLS 1.3 suite probe's answer
	                                 * (the same question as the first groups probe) */
	struct key_part *keys;          /* RSA, ECDSA, DSS: each key type's first hello */
	struct probe *conn_chain;       /* the complete handshake's certificates (DER), verified
	                                 * only if no hello drew one out (TLS 1.3-only servers) */
	bool conn_tls13;
	enum ts_tri conn_ocsp;
	char first_error[TS_ERROR_MSG_MAX];  /* the first failed connection's message */
};

enum probe_outcome {
	P_HELLO = 1,      /* a ServerHello (or HelloRetryRequest) */
	P_SSL2,           /* an SSLv2 SERVER-HELLO */
	P_ALERT,          /* an alert before any ServerHello */
	P_CLOSED,         /* closed without a word */
	P_TIMEOUT,        /* no answer in time */
	P_CONNECT,        /* could not connect (or STARTTLS failed) */
	P_MALFORMED,      /* bytes that are not TLS */
	P_ERROR,          /* we could not build the hello */
};

enum probe_stop { STOP_HELLO, STOP_DONE };
enum probe_after { AFTER_NONE, AFTER_HEARTBLEED, AFTER_CCS };

struct probe {
	/* in */
	struct ts_hello_spec spec;
	enum probe_stop stop;
	enum probe_after after;
	/* out */
	enum probe_outcome outcome;
	char msg[TS_ERROR_MSG_MAX + 128];
	/* ServerHello facts */
	uint16_t version, suite, group;
	uint8_t compression;
	bool is_hrr, has_reneg, has_ticket, has_status, has_heartbeat;
	size_t session_id_len;
	char alpn[32];
	struct ts_alert alert;          /* P_ALERT, or an alert after the ServerHello */
	bool alert_after_hello;
	/* after ServerHello (TLS <= 1.2) */
	uint8_t **certs;                /* DER copies, malloc'd; probe_clear frees */
	size_t *cert_lens;
	size_t n_certs;
	bool have_ske;
	struct { int kind; uint16_t group; int dh_bits; bool has_sigalg; uint16_t sigalg; } ske;
	bool cert_status;               /* a CertificateStatus message */
	bool hello_done;
	/* SSLv2 */
	uint32_t ssl2_specs[16];
	size_t n_ssl2_specs;
	/* AFTER_*: TS_YES vulnerable, TS_NO not, TS_UNKNOWN could not tell */
	enum ts_tri after_result;
};

/* A connected socket (after the preamble) within t's budget, for a
 * complete handshake through conn.h; scan_release gives the slot back and
 * closes fd.  msg receives why it failed. */
int scan_connect(struct scan_target *t, int *fd, char *msg, size_t size);
void scan_release(struct scan_target *t, int fd);
/* fd's hello was answered and the server now waits for us (probe_run calls
 * it for its own); scan_forget before fd is closed.  Sets t->side_by_side
 * (and posts t->shown) when an earlier one is still held by the server. */
void scan_answered(struct scan_target *t, int fd);
void scan_forget(struct scan_target *t, int fd);

void probe_init(struct probe *p);
void probe_clear(struct probe *p);
/* Adds a copy of a DER certificate to p's chain. */
void probe_keep_cert(struct probe *p, const uint8_t *der, size_t len);
/* One connection within t's budget.  Returns p->outcome. */
enum probe_outcome probe_run(struct scan_target *t, struct probe *p);

#endif
