/* probe: resolve, connect, STARTTLS, handshake (trust recorded, not
 * enforced), read the stapled OCSP response and the SCTs, verify the chain
 * as sent, then a second connection to see whether the session resumes. */
#include "tlsscope/probe.h"

#include <openssl/ct.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tlsscope/conn.h"

#define TICKET_WAIT_MS 300   /* TLS 1.3 tickets follow the handshake by a round trip */

const char *ts_probe_stage_name(enum ts_probe_stage stage)
{
	switch (stage) {
	case TS_PROBE_STAGE_SETUP: return "setup";
	case TS_PROBE_STAGE_RESOLVE: return "resolve";
	case TS_PROBE_STAGE_CONNECT: return "connect";
	case TS_PROBE_STAGE_STARTTLS: return "starttls";
	case TS_PROBE_STAGE_HANDSHAKE: return "handshake";
	case TS_PROBE_STAGE_VERIFY: return "verify";
	case TS_PROBE_STAGE_NONE: break;
	}
	return NULL;
}

void ts_probe_result_init(struct ts_probe_result *res)
{
	memset(res, 0, sizeof *res);
	ts_starttls_result_init(&res->preamble);
	res->sct_certificate = -1;
	res->resolve_ms = res->connect_ms = res->starttls_ms = res->handshake_ms = -1;
}

void ts_probe_result_clear(struct ts_probe_result *res)
{
	if (res == NULL)
		return;
	ts_starttls_result_clear(&res->preamble);
	for (size_t i = 0; i < res->chain_count; i++)
		ts_cert_info_clear(&res->chain[i]);
	if (res->verified)
		ts_verify_result_clear(&res->verify);
	memset(res, 0, sizeof *res);
}

static double ms_since(uint64_t t0)
{
	return (double)(ts_monotonic_ns() - t0) / 1e6;
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static int failed(struct ts_probe_result *res, enum ts_probe_stage stage, int code, const char *msg,
                  struct ts_error *err)
{
	res->failed_stage = stage;
	res->status = code;
	copy(res->error, sizeof res->error, msg);
	return ts_error_set(err, code, "%s", msg);
}

static int64_t asn1_time_unix(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* The stapled response: its status, and the leaf's status in it.  The
 * response's signature is not checked here (the report says so). */
static void read_ocsp(const uint8_t *der, size_t len, const uint8_t *leaf_der, size_t leaf_len,
                      struct ts_probe_ocsp *o)
{
	o->stapled = true;
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (resp == NULL || p != der + len) {
		copy(o->status, sizeof o->status, "malformed");
		OCSP_RESPONSE_free(resp);
		return;
	}
	int rs = OCSP_response_status(resp);
	copy(o->response_status, sizeof o->response_status, OCSP_response_status_str(rs));
	if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		copy(o->status, sizeof o->status, "unsuccessful");
		OCSP_RESPONSE_free(resp);
		return;
	}
	OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
	X509 *leaf = NULL;
	const unsigned char *lp = leaf_der;
	if (leaf_der != NULL)
		leaf = d2i_X509(NULL, &lp, (long)leaf_len);
	OCSP_SINGLERESP *single = NULL;
	if (bs != NULL) {
		/* the single response whose serial is the leaf's */
		const ASN1_INTEGER *serial = leaf != NULL ? X509_get0_serialNumber(leaf) : NULL;
		int n = OCSP_resp_count(bs);
		for (int i = 0; i < n && i < 64; i++) {
			OCSP_SINGLERESP *s = OCSP_resp_get0(bs, i);
			const OCSP_CERTID *id = OCSP_SINGLERESP_get0_id(s);
			ASN1_INTEGER *sn = NULL;
			if (OCSP_id_get0_info(NULL, NULL, NULL, &sn, (OCSP_CERTID *)id) == 1 && serial != NULL &&
			    ASN1_INTEGER_cmp(sn, serial) == 0) {
				single = s;
				break;
			}
		}
		if (single == NULL && serial == NULL && n > 0)
			single = OCSP_resp_get0(bs, 0);
	}
	if (single == NULL) {
		copy(o->status, sizeof o->status, bs == NULL ? "malformed" : "no-match");
	} else {
		int reason = 0;
		ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
		int st = OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
		copy(o->status, sizeof o->status, st >= 0 ? OCSP_cert_status_str(st) : "malformed");
		o->this_update = asn1_time_unix(thisupd);
		o->next_update = asn1_time_unix(nextupd);
		o->revoked_at = asn1_time_unix(rev);
	}
	X509_free(leaf);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
}

/* SCTs embedded in the certificate (the precertificate SCT list). */
static int cert_sct_count(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return -1;
	int crit = 0;
	STACK_OF(SCT) *scts = X509_get_ext_d2i(x, NID_ct_precert_scts, &crit, NULL);
	int n = scts != NULL ? sk_SCT_num(scts) : 0;
	SCT_LIST_free(scts);
	X509_free(x);
	return n;
}

/* TLS 1.3 session tickets arrive after the handshake: read (nothing is
 * expected from the application protocol yet) until a pause. */
static void collect_tickets(struct ts_conn *c, int fd, int timeout_ms)
{
	int wait = timeout_ms < TICKET_WAIT_MS ? timeout_ms : TICKET_WAIT_MS;
	ts_conn_set_nonblocking(c, true);
	for (int round = 0; round < 4; round++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, wait) <= 0)
			break;
		uint8_t buf[4096];
		ssize_t got = ts_conn_read(c, buf, sizeof buf);
		if (got < 0 && got != TS_E_WANT_READ && got != TS_E_WANT_WRITE)
			break;
		wait = 50; /* a second ticket follows at once, if at all */
	}
}

struct attempt {
	const struct ts_probe_options *opt;
	struct ts_probe_result *res;
	struct ts_config *cfg;
	const char *name;
	int timeout_ms;
};

/* One connection: connect, preamble, handshake.  On the first, records the
 * facts; on the second, whether it resumed. */
static int attempt_connection(struct attempt *a, bool first, struct ts_error *err)
{
	struct ts_probe_result *res = a->res;
	struct ts_error e = { 0 };
	int fd = -1;
	size_t which = 0;
	uint64_t t0 = ts_monotonic_ns();
	int rc = ts_connect(&res->addrs, a->timeout_ms, &fd, &which, &e);
	if (first) {
		res->connect_ms = ms_since(t0);
		if (rc != TS_OK)
			return failed(res, TS_PROBE_STAGE_CONNECT, rc, e.msg, err);
		res->connected = true;
		res->connected_index = which;
		ts_addr_format(&res->addrs.addr[which], res->address);
	} else if (rc != TS_OK) {
		return ts_error_set(err, rc, "%s", e.msg);
	}

	struct ts_starttls_options sopt = { .host = a->name, .timeout_ms = a->timeout_ms };
	t0 = ts_monotonic_ns();
	rc = ts_starttls_run(fd, res->starttls, &sopt, first ? &res->preamble : NULL, &e);
	if (first && res->starttls != TS_STARTTLS_NONE)
		res->starttls_ms = ms_since(t0);
	if (rc != TS_OK) {
		close(fd);
		return first ? failed(res, TS_PROBE_STAGE_STARTTLS, rc, e.msg, err) : ts_error_set(err, rc, "%s", e.msg);
	}

	struct ts_conn *c = ts_conn_client(a->cfg);
	if (c == NULL) {
		close(fd);
		return failed(res, TS_PROBE_STAGE_SETUP, TS_E_NOMEM, "out of memory", err);
	}
	t0 = ts_monotonic_ns();
	rc = ts_conn_set_fd(c, fd, a->name);
	if (rc == TS_OK)
		rc = ts_conn_handshake(c);
	if (first)
		res->handshake_ms = ms_since(t0);
	if (rc != TS_OK) {
		char msg[TS_ERROR_MSG_MAX];
		copy(msg, sizeof msg, ts_conn_error(c));
		ts_conn_free(c);
		close(fd);
		if (!first)
			return ts_error_set(err, rc, "%s", msg);
		/* the handshake verifies nothing, so any failure is the handshake's */
		return failed(res, TS_PROBE_STAGE_HANDSHAKE, rc == TS_E_VERIFY ? TS_E_TLS : rc, msg, err);
	}

	if (!first) {
		res->resumed = ts_conn_resumed(c);
		ts_conn_set_nonblocking(c, true);
		ts_conn_close(c);
		ts_conn_free(c);
		close(fd);
		return TS_OK;
	}

	res->handshake_done = true;
	copy(res->protocol, sizeof res->protocol, ts_conn_protocol(c));
	copy(res->cipher_iana, sizeof res->cipher_iana, ts_conn_cipher(c));
	copy(res->cipher_openssl, sizeof res->cipher_openssl, ts_conn_cipher_openssl(c));
	copy(res->group, sizeof res->group, ts_conn_group(c));
	res->forward_secrecy = ts_conn_forward_secret(c);
	copy(res->peer_signature, sizeof res->peer_signature, ts_conn_peer_signature(c));
	copy(res->alpn, sizeof res->alpn, ts_conn_alpn(c));
	res->sct_tls = ts_conn_sct_count(c);

	const uint8_t *const *ders = NULL;
	const size_t *lens = NULL;
	size_t n = ts_conn_peer_chain(c, &ders, &lens);
	res->chain_sent = n;
	for (size_t i = 0; i < n && i < TS_PROBE_CHAIN_MAX; i++) {
		if (ts_cert_info_from_der(ders[i], lens[i], &res->chain[res->chain_count], &e) == TS_OK)
			res->chain_count++;
		else
			break;
	}
	if (n > 0)
		res->sct_certificate = cert_sct_count(ders[0], lens[0]);
	size_t ocsp_len = 0;
	const uint8_t *ocsp = ts_conn_ocsp_response(c, &ocsp_len);
	if (ocsp != NULL && ocsp_len > 0)
		read_ocsp(ocsp, ocsp_len, n > 0 ? ders[0] : NULL, n > 0 ? lens[0] : 0, &res->ocsp);

	if (strcmp(res->protocol, "TLSv1.3") == 0)
		collect_tickets(c, fd, a->timeout_ms);
	res->ticket_offered = ts_conn_ticket_offered(c);
	res->session_id_offered = ts_conn_session_id_offered(c);

	/* The verdict: the chain as sent, checked for the name. */
	struct ts_trust *trust = NULL;
	rc = ts_trust_new(a->opt->ca_path, &trust, &e);
	if (rc == TS_OK) {
		struct ts_verify_options vopt = { .name = a->name };
		rc = ts_cert_verify_der(trust, ders, lens, n, &vopt, &res->verify, &e);
		res->verified = true;
		ts_trust_free(trust);
	}
	ts_conn_set_nonblocking(c, true);
	ts_conn_close(c);
	ts_conn_free(c);
	close(fd);
	if (rc == TS_E_VERIFY)
		return failed(res, TS_PROBE_STAGE_VERIFY, rc, res->verify.error[0] != '\0' ? res->verify.error : e.msg,
		              err);
	if (rc != TS_OK)
		return failed(res, TS_PROBE_STAGE_VERIFY, rc, e.msg, err);
	return TS_OK;
}

int ts_probe_run(const struct ts_probe_options *opt, struct ts_probe_result *res, struct ts_error *err)
{
	struct ts_error e = { 0 };
	if (opt == NULL || opt->host == NULL || opt->host[0] == '\0' || opt->port == 0)
		return failed(res, TS_PROBE_STAGE_SETUP, TS_E_INVALID, "probe needs a host and a port", err);
	copy(res->host, sizeof res->host, opt->host);
	res->port = opt->port;
	copy(res->name, sizeof res->name, opt->name != NULL ? opt->name : opt->host);
	res->starttls = opt->starttls_auto ? ts_starttls_for_port(opt->port) : opt->starttls;
	res->preamble.proto = res->starttls;
	int timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 10000;

	/* Check the trust anchors first: a typo in --ca is a usage problem. */
	struct ts_trust *trust = NULL;
	int rc = ts_trust_new(opt->ca_path, &trust, &e);
	ts_trust_free(trust);
	if (rc != TS_OK)
		return failed(res, TS_PROBE_STAGE_SETUP, rc, e.msg, err);

	struct ts_config *cfg = ts_config_new();
	if (cfg == NULL)
		return failed(res, TS_PROBE_STAGE_SETUP, TS_E_NOMEM, "out of memory", err);
	/* Record, do not enforce: the verdict comes after the handshake. */
	ts_config_insecure_noverifycert(cfg);
	ts_config_insecure_noverifyname(cfg);
	ts_config_insecure_noverifytime(cfg);
	rc = ts_config_set_timeout(cfg, timeout_ms);
	if (rc == TS_OK)
		rc = ts_config_set_session_cache(cfg, true);
	if (rc == TS_OK && opt->alpn != NULL)
		rc = ts_config_set_alpn(cfg, opt->alpn);
	if (rc != TS_OK) {
		char msg[TS_ERROR_MSG_MAX];
		copy(msg, sizeof msg, ts_config_error(cfg));
		ts_config_free(cfg);
		return failed(res, TS_PROBE_STAGE_SETUP, rc, msg, err);
	}

	uint64_t t0 = ts_monotonic_ns();
	rc = ts_resolve(opt->host, opt->port, opt->family, timeout_ms, &res->addrs, &e);
	res->resolve_ms = ms_since(t0);
	if (rc != TS_OK) {
		ts_config_free(cfg);
		return failed(res, TS_PROBE_STAGE_RESOLVE, rc, e.msg, err);
	}
	/* The second connection goes where the first went. */
	struct attempt a = { .opt = opt, .res = res, .cfg = cfg, .name = res->name, .timeout_ms = timeout_ms };
	rc = attempt_connection(&a, true, err);
	if (res->handshake_done && !opt->no_resume) {
		struct ts_addrlist all = res->addrs;
		res->addrs.n = 1;
		res->addrs.addr[0] = all.addr[res->connected_index];
		res->resumption_tried = true;
		struct ts_error e2 = { 0 };
		if (attempt_connection(&a, false, &e2) != TS_OK)
			copy(res->resumption_error, sizeof res->resumption_error, e2.msg);
		res->addrs = all;
	}
	ts_config_free(cfg);
	res->status = rc;
	return rc;
}
