#include "identify_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/capture.h"
#include "tlsscope/observe.h"
#include "tlsscope/packet.h"

struct run {
	struct ts_observe *obs;
	struct ts_id_input *in;
	struct ts_error err;
	int rc;
};

/* The observer's connection reduced to what the matcher needs. */
static void on_tls(void *ctx, const struct ts_obs_tls *t)
{
	struct run *run = ctx;
	if (run->rc != TS_OK)
		return;
	struct ts_id_conn c = {
		.server_port = t->server_port, .client_port = t->client_port, .version = t->version,
		.h2 = strcmp(t->alpn, "h2") == 0, .t_start = (double)t->ts_us / 1e6,
		.unsolicited_bytes = t->unsolicited_bytes,
		.unsolicited_records = t->unsolicited_records,
	};
	for (size_t i = 0; i < t->n_alpn_offered && t->alpn[0] == '\0'; i++)
		if (strcmp(t->alpn_offered[i], "h2") == 0)
			c.h2_offered = true;
	snprintf(c.sni, sizeof c.sni, "%s", t->has_sni ? t->sni : "");
	snprintf(c.dns_name, sizeof c.dns_name, "%s", t->dns_name);
	ts_ip_addr_format(&t->server, c.server_addr, sizeof c.server_addr);
	struct ts_id_response *r = t->n_exchanges ? calloc(t->n_exchanges, sizeof *r) : NULL;
	if (t->n_exchanges && r == NULL) {
		run->rc = ts_error_set(&run->err, TS_E_NOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < t->n_exchanges; i++) {
		const struct ts_obs_exchange *x = &t->exchanges[i];
		if (x->response_plaintext_estimate == 0)
			continue;   /* a request without response: a close_notify, a ping */
		r[c.n_responses++] = (struct ts_id_response){
			.t = (double)x->t_us / 1e6,
			.size = x->response_plaintext_estimate,
			.size_min = x->response_plaintext_min,
			.request_size = x->request_plaintext_estimate,
			.records = x->response_records,
			/* The observer leaves records it takes for TLS 1.3 session
			 * tickets out of the estimate (they stay in the maximum). */
			.tickets_handled = true,
			.lead = i == 0 ? x->response_first_record : 0,
		};
	}
	c.responses = r;
	int rc = ts_id_input_add(run->in, &c, &run->err);
	if (rc < 0)
		run->rc = rc;
	free(r);
}

static void on_packet(void *ctx, const struct ts_capture_packet *pkt)
{
	struct run *run = ctx;
	struct ts_error err;
	/* Frames that do not decode are counted by the engine and skipped. */
	ts_observe_packet(run->obs, pkt->linktype, pkt->data, pkt->caplen, pkt->ts_us, &err);
}

int identify_input_capture(const char *path, struct ts_id_input *in, struct ts_error *err)
{
	struct ts_capture *cap = NULL;
	int rc = ts_capture_open_file(path, &cap, err);
	if (rc < 0)
		return rc;
	struct run run = { .in = in, .rc = TS_OK };
	struct ts_observe_callbacks cb = { .tls = on_tls, .ctx = &run };
	run.obs = ts_observe_new(NULL, &cb);
	if (run.obs == NULL) {
		ts_capture_free(cap);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	long long n = ts_capture_loop(cap, on_packet, &run, err);
	ts_observe_finish(run.obs);
	ts_observe_free(run.obs);
	ts_capture_free(cap);
	if (run.rc != TS_OK) {
		*err = run.err;
		return run.rc;
	}
	return n < 0 ? (int)n : TS_OK;
}
