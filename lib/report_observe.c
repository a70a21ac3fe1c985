#include "tlsscope/report_observe.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tlsscope/registry.h"
#include "tlsscope/report_cert.h"
#include "tlsscope/wire.h"

void ts_report_observe_init(struct ts_report_observe *ro, struct ts_report *r, bool details)
{
	memset(ro, 0, sizeof *ro);
	ro->r = r;
	ro->details = details;
}

static double seconds(int64_t us)
{
	return (double)us / 1e6;
}

static double millis(int64_t us)
{
	return (double)us / 1e3;
}

static json_t *endpoint(const struct ts_ip_addr *a, uint16_t port)
{
	char ip[64];
	ts_ip_addr_format(a, ip, sizeof ip);
	return json_pack("{s:s, s:i}", "ip", ip, "port", (json_int_t)port);
}

static json_t *str_or_null(const char *s)
{
	return (s && *s) ? json_string(s) : json_null();
}

json_t *ts_observe_tls_json(const struct ts_obs_tls *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string("tls"));
	json_object_set_new(o, "ts", json_real(seconds(c->ts_us)));
	json_object_set_new(o, "end", json_real(seconds(c->end_us)));
	json_object_set_new(o, "client", endpoint(&c->client, c->client_port));
	json_object_set_new(o, "server", endpoint(&c->server, c->server_port));
	json_object_set_new(o, "sni", c->has_sni ? json_string(c->sni) : json_null());
	json_object_set_new(o, "dns_name", str_or_null(c->dns_name));
	json_object_set_new(o, "starttls", str_or_null(c->starttls));
	json_t *a = json_array();
	for (size_t i = 0; i < c->n_alpn_offered; i++)
		json_array_append_new(a, json_string(c->alpn_offered[i]));
	json_object_set_new(o, "alpn_offered", c->client_hello ? a : (json_decref(a), json_null()));
	json_object_set_new(o, "alpn", str_or_null(c->alpn));
	json_object_set_new(o, "client_version", c->client_version ? json_string(ts_version_name(c->client_version)) : json_null());
	a = json_array();
	for (size_t i = 0; i < c->n_versions_offered; i++)
		json_array_append_new(a, json_string(ts_version_name(c->versions_offered[i])));
	json_object_set_new(o, "versions_offered", a);
	json_object_set_new(o, "version", c->version ? json_string(ts_version_name(c->version)) : json_null());
	json_object_set_new(o, "suites_offered", c->client_hello ? json_integer((json_int_t)c->suites_offered)
	                                                         : json_null());
	json_object_set_new(o, "cipher", c->server_hello ? json_string(ts_suite_name(c->cipher)) : json_null());
	a = json_array();
	for (size_t i = 0; i < c->n_groups; i++)
		json_array_append_new(a, json_string(ts_group_name(c->groups[i])));
	json_object_set_new(o, "groups", a);
	json_object_set_new(o, "group", c->group ? json_string(ts_group_name(c->group)) : json_null());
	json_object_set_new(o, "ja3", str_or_null(c->ja3));
	json_object_set_new(o, "ja3s", str_or_null(c->ja3s));
	json_object_set_new(o, "ja4", str_or_null(c->ja4));
	json_object_set_new(o, "ech", json_boolean(c->ech));
	json_object_set_new(o, "resumption_offered", json_boolean(c->resumption_offered));
	json_object_set_new(o, "resumed", json_boolean(c->resumed));
	a = json_array();
	/* The certificate object of `cert show`; days_left counts from the end
	 * of the connection, when the observer saw it. */
	for (size_t i = 0; i < c->n_certs; i++)
		json_array_append_new(a, ts_cert_info_json(&c->certs[i], c->end_us / 1000000));
	json_object_set_new(o, "certificates", a);
	a = json_array();
	for (size_t i = 0; i < c->n_alerts; i++) {
		const struct ts_obs_alert *al = &c->alerts[i];
		json_array_append_new(a, json_pack("{s:f, s:s, s:o, s:o}",
			"t", seconds(al->t_us), "from", al->from_server ? "server" : "client",
			"level", al->encrypted ? json_null() : json_string(ts_alert_level_name(al->level)),
			"description", al->encrypted ? json_null() : json_string(ts_alert_name(al->description))));
	}
	json_object_set_new(o, "alerts", a);
	json_object_set_new(o, "handshake_ms", c->handshake_us >= 0 ? json_real(millis(c->handshake_us))
	                                                           : json_null());
	a = json_array();
	for (size_t i = 0; i < c->n_exchanges; i++) {
		const struct ts_obs_exchange *x = &c->exchanges[i];
		json_array_append_new(a, json_pack("{s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"t", seconds(x->t_us), "duration_ms", millis(x->duration_us),
			"request_bytes", (json_int_t)x->request_bytes,
			"response_bytes", (json_int_t)x->response_bytes,
			"request_records", (json_int_t)x->request_records,
			"response_records", (json_int_t)x->response_records,
			"request_plaintext_estimate", (json_int_t)x->request_plaintext_estimate,
			"response_plaintext_estimate", (json_int_t)x->response_plaintext_estimate,
			"response_plaintext_min", (json_int_t)x->response_plaintext_min,
			"response_plaintext_max", (json_int_t)x->response_plaintext_max,
			"response_first_record", (json_int_t)x->response_first_record));
	}
	json_object_set_new(o, "exchanges", a);
	json_object_set_new(o, "exchanges_dropped", json_integer((json_int_t)c->exchanges_dropped));
	json_object_set_new(o, "bytes_to_server", json_integer((json_int_t)c->bytes_to_server));
	json_object_set_new(o, "bytes_to_client", json_integer((json_int_t)c->bytes_to_client));
	json_object_set_new(o, "unsolicited_bytes", json_integer((json_int_t)c->unsolicited_bytes));
	json_object_set_new(o, "unsolicited_records", json_integer((json_int_t)c->unsolicited_records));
	json_object_set_new(o, "gap_bytes", json_integer((json_int_t)c->gap_bytes));
	json_object_set_new(o, "midstream", json_boolean(c->midstream));
	json_object_set_new(o, "truncated", json_boolean(c->truncated));
	json_object_set_new(o, "error", str_or_null(c->error));
	return o;
}

json_t *ts_observe_dns_json(const struct ts_obs_dns *d)
{
	const struct ts_dns_message *m = d->msg;
	char tb[16];
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string("dns"));
	json_object_set_new(o, "ts", json_real(seconds(d->ts_us)));
	json_object_set_new(o, "client", endpoint(&d->client, d->client_port));
	json_object_set_new(o, "server", endpoint(&d->server, d->server_port));
	json_object_set_new(o, "transport", json_string(d->tcp ? "tcp" : "udp"));
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "response", json_boolean(m->response));
	json_object_set_new(o, "name", json_string(m->qname));
	json_object_set_new(o, "qtype", json_string(ts_dns_type_name(m->qtype, tb, sizeof tb)));
	json_object_set_new(o, "rcode", m->response ? json_integer(m->rcode) : json_null());
	json_t *a = json_array();
	for (size_t i = 0; i < m->answer_count; i++) {
		const struct ts_dns_answer *x = &m->answers[i];
		json_t *e = json_pack("{s:s, s:s, s:I}", "name", x->name,
		                      "type", ts_dns_type_name(x->type, tb, sizeof tb), "ttl", (json_int_t)x->ttl);
		if (x->type == TS_DNS_A || x->type == TS_DNS_AAAA) {
			char ip[64];
			ts_ip_addr_format(&x->addr, ip, sizeof ip);
			json_object_set_new(e, "data", json_string(ip));
		} else {
			json_object_set_new(e, "data", json_string(x->target));
		}
		if (x->type == TS_DNS_HTTPS || x->type == TS_DNS_SVCB) {
			json_object_set_new(e, "priority", json_integer(x->priority));
			json_object_set_new(e, "alpn", str_or_null(x->alpn));
			json_object_set_new(e, "ech", json_boolean(x->ech));
		}
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "answers", a);
	return o;
}

static void clock_time(int64_t us, char *out, size_t size)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	if (gmtime_r(&s, &tm) == NULL)
		snprintf(out, size, "?");
	else
		snprintf(out, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
		         (int)(us % 1000000 / 1000));
}

static void human_bytes(uint64_t n, char *out, size_t size)
{
	if (n < 10000)
		snprintf(out, size, "%" PRIu64, n);
	else if (n < 10000000)
		snprintf(out, size, "%.1fk", (double)n / 1e3);
	else
		snprintf(out, size, "%.1fM", (double)n / 1e6);
}

static void header(struct ts_report_observe *ro)
{
	struct ts_report *r = ro->r;
	fprintf(r->out, "%s%-12s  %-44s  %-28s  %-7s  %-38s  %-36s  %4s  %7s  %7s%s\n",
	        ts_report_tone(r, TS_TONE_DIM), "time", "client -> server", "name", "version",
	        "cipher", "ja4", "exch", "c->s", "s->c", ts_report_reset(r));
}

void ts_report_observe_tls(struct ts_report_observe *ro, const struct ts_obs_tls *c)
{
	struct ts_report *r = ro->r;
	if (r->json) {
		ts_report_json(r, ts_observe_tls_json(c));
		return;
	}
	if (ro->rows++ == 0)
		header(ro);
	char t[32], ca[64], sa[64], ends[140], up[16], down[16];
	clock_time(c->ts_us, t, sizeof t);
	ts_ip_addr_format(&c->client, ca, sizeof ca);
	ts_ip_addr_format(&c->server, sa, sizeof sa);
	snprintf(ends, sizeof ends, c->client.family == 6 ? "[%s]:%u -> [%s]:%u" : "%s:%u -> %s:%u",
	         ca, c->client_port, sa, c->server_port);
	const char *name = c->has_sni && c->sni[0] ? c->sni : c->dns_name[0] ? c->dns_name : "-";
	char vers[24];
	snprintf(vers, sizeof vers, "%s", c->version ? ts_version_name(c->version) : "?");
	human_bytes(c->bytes_to_server, up, sizeof up);
	human_bytes(c->bytes_to_client, down, sizeof down);
	enum ts_tone vt = c->version == 0 ? TS_TONE_DIM : c->version < TS_TLS12 ? TS_TONE_BAD : TS_TONE_PLAIN;
	fprintf(r->out, "%-12s  %-44s  %-28.28s  %s%-7s%s  %-38.38s  %-36s  %4zu  %7s  %7s\n", t, ends,
	        name, ts_report_tone(r, vt), vers, ts_report_reset(r),
	        c->server_hello ? ts_suite_name(c->cipher) : "?", c->ja4[0] ? c->ja4 : "-",
	        c->n_exchanges, up, down);
	if (!ro->details)
		return;
	const char *ind = "              ";
	if (c->starttls[0])
		fprintf(r->out, "%sstarttls %s\n", ind, c->starttls);
	if (c->n_alpn_offered || c->alpn[0]) {
		fprintf(r->out, "%salpn offered", ind);
		for (size_t i = 0; i < c->n_alpn_offered; i++)
			fprintf(r->out, "%s%s", i ? "," : " ", c->alpn_offered[i]);
		fprintf(r->out, ", chosen %s\n", c->alpn[0] ? c->alpn : "none");
	}
	if (c->ja3[0] || c->ja3s[0])
		fprintf(r->out, "%sja3 %s  ja3s %s\n", ind, c->ja3[0] ? c->ja3 : "-", c->ja3s[0] ? c->ja3s : "-");
	fprintf(r->out, "%ssuites offered %zu, group %s, ech %s, resumption %s%s", ind, c->suites_offered,
	        c->group ? ts_group_name(c->group) : "-", c->ech ? "yes" : "no",
	        c->resumption_offered ? "offered" : "not offered", c->resumed ? " and accepted" : "");
	if (c->handshake_us >= 0)
		fprintf(r->out, ", handshake %.1f ms", millis(c->handshake_us));
	fputc('\n', r->out);
	for (size_t i = 0; i < c->n_certs; i++)
		fprintf(r->out, "%scert %zu: %s  (issuer %s, sha1 %s)\n", ind, i, c->certs[i].subject,
		        c->certs[i].issuer, c->certs[i].sha1);
	for (size_t i = 0; i < c->n_alerts; i++) {
		const struct ts_obs_alert *al = &c->alerts[i];
		if (al->encrypted)
			fprintf(r->out, "%salert from %s (encrypted)\n", ind, al->from_server ? "server" : "client");
		else
			fprintf(r->out, "%s%salert from %s: %s %s%s\n", ind, ts_report_tone(r, TS_TONE_WARN),
			        al->from_server ? "server" : "client", ts_alert_level_name(al->level),
			        ts_alert_name(al->description), ts_report_reset(r));
	}
	for (size_t i = 0; i < c->n_exchanges; i++) {
		const struct ts_obs_exchange *x = &c->exchanges[i];
		char xt[32];
		clock_time(x->t_us, xt, sizeof xt);
		fprintf(r->out, "%s#%-3zu %s  request %" PRIu64 " B in %u records (~%" PRIu64
		        " B plain)  response %" PRIu64 " B in %u records (~%" PRIu64 " B plain, %" PRIu64
		        "..%" PRIu64 ")  %.1f ms\n", ind, i + 1, xt, x->request_bytes, x->request_records,
		        x->request_plaintext_estimate, x->response_bytes, x->response_records,
		        x->response_plaintext_estimate, x->response_plaintext_min, x->response_plaintext_max,
		        millis(x->duration_us));
	}
	if (c->exchanges_dropped)
		fprintf(r->out, "%s(%zu more exchanges not kept)\n", ind, c->exchanges_dropped);
	if (c->gap_bytes || c->midstream || c->truncated || c->error[0]) {
		char note[700] = "";
		size_t n = 0;
		if (c->midstream)
			n += (size_t)snprintf(note + n, sizeof note - n, "%sseen from the middle", n ? "; " : "");
		if (c->gap_bytes && n < sizeof note)
			n += (size_t)snprintf(note + n, sizeof note - n, "%s%llu bytes missing from the capture",
			                      n ? "; " : "", (unsigned long long)c->gap_bytes);
		if (c->truncated && n < sizeof note)
			n += (size_t)snprintf(note + n, sizeof note - n, "%struncated by a limit", n ? "; " : "");
		if (c->error[0] && n < sizeof note)
			snprintf(note + n, sizeof note - n, "%s%s", n ? "; " : "", c->error);
		fprintf(r->out, "%s%s%s%s\n", ind, ts_report_tone(r, TS_TONE_WARN), note, ts_report_reset(r));
	}
}

void ts_report_observe_dns(struct ts_report_observe *ro, const struct ts_obs_dns *d)
{
	struct ts_report *r = ro->r;
	if (r->json) {
		ts_report_json(r, ts_observe_dns_json(d));
		return;
	}
	if (!ro->details || !d->msg->response)
		return;
	char t[32], tb[16];
	clock_time(d->ts_us, t, sizeof t);
	fprintf(r->out, "%-12s  dns %s %s:", t, ts_dns_type_name(d->msg->qtype, tb, sizeof tb), d->msg->qname);
	for (size_t i = 0; i < d->msg->answer_count; i++) {
		const struct ts_dns_answer *x = &d->msg->answers[i];
		char ip[64];
		if (x->type == TS_DNS_A || x->type == TS_DNS_AAAA) {
			ts_ip_addr_format(&x->addr, ip, sizeof ip);
			fprintf(r->out, " %s", ip);
		} else {
			fprintf(r->out, " %s=%s%s", ts_dns_type_name(x->type, tb, sizeof tb), x->target,
			        x->ech ? " (ech)" : "");
		}
	}
	if (d->msg->answer_count == 0)
		fprintf(r->out, " (no answer, rcode %u)", d->msg->rcode);
	fputc('\n', r->out);
}

void ts_report_observe_summary(struct ts_report_observe *ro, const char *source,
                               const struct ts_observe_stats *st, unsigned long long dropped)
{
	struct ts_report *r = ro->r;
	if (r->json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"type", "summary", "source", source,
			"packets", (json_int_t)st->packets, "bytes", (json_int_t)st->bytes,
			"malformed", (json_int_t)st->malformed, "flows", (json_int_t)st->flows,
			"flows_evicted", (json_int_t)st->flows_evicted,
			"flows_expired", (json_int_t)st->flows_expired,
			"flows_truncated", (json_int_t)st->flows_truncated,
			"tcp_gaps", (json_int_t)st->tcp_gaps, "tcp_gap_bytes", (json_int_t)st->tcp_gap_bytes,
			"tls_connections", (json_int_t)st->tls_connections,
			"dns_messages", (json_int_t)st->dns_messages);
		json_object_set_new(o, "ip_fragments", json_integer((json_int_t)st->ip_fragments));
		json_object_set_new(o, "ip_reassembled", json_integer((json_int_t)st->ip_reassembled));
		json_object_set_new(o, "truncated_packets", json_integer((json_int_t)st->truncated_packets));
		json_object_set_new(o, "dns_malformed", json_integer((json_int_t)st->dns_malformed));
		json_object_set_new(o, "tcp_retransmitted", json_integer((json_int_t)st->tcp_retransmitted));
		json_object_set_new(o, "dropped", json_integer((json_int_t)dropped));
		ts_report_json(r, o);
		return;
	}
	ts_report_heading(r, "Summary");
	ts_report_line(r, "source", TS_TONE_PLAIN, "%s", source);
	ts_report_line(r, "packets", TS_TONE_PLAIN, "%llu (%llu bytes, %llu TCP/UDP, %llu malformed)",
	               st->packets, st->bytes, st->decoded, st->malformed);
	if (dropped)
		ts_report_line(r, "dropped by the kernel", TS_TONE_WARN, "%llu", dropped);
	ts_report_line(r, "flows", TS_TONE_PLAIN, "%llu (peak %llu at once)", st->flows, st->flows_active_peak);
	ts_report_line(r, "flows evicted", st->flows_evicted ? TS_TONE_WARN : TS_TONE_PLAIN, "%llu",
	               st->flows_evicted);
	ts_report_line(r, "flows truncated", st->flows_truncated ? TS_TONE_WARN : TS_TONE_PLAIN, "%llu",
	               st->flows_truncated);
	ts_report_line(r, "TCP gaps", st->tcp_gaps ? TS_TONE_WARN : TS_TONE_PLAIN, "%llu (%llu bytes lost)",
	               st->tcp_gaps, st->tcp_gap_bytes);
	if (st->ip_fragments)
		ts_report_line(r, "IP fragments", TS_TONE_PLAIN, "%llu (%llu datagrams rebuilt)",
		               st->ip_fragments, st->ip_reassembled);
	ts_report_line(r, "TLS connections", TS_TONE_PLAIN, "%llu", st->tls_connections);
	ts_report_line(r, "DNS messages", TS_TONE_PLAIN, "%llu (%llu malformed)", st->dns_messages,
	               st->dns_malformed);
}
