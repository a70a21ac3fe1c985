/* Output of `tlsscope scan`: a grouped text report and one JSON object per
 * target (field names documented in docs/json.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tlsscope/registry.h"
#include "tlsscope/report_cert.h"
#include "tlsscope/report_scan.h"
#include "tlsscope/wire.h"

static json_t *tri_json(enum ts_tri t)
{
	return t == TS_UNKNOWN ? json_null() : json_boolean(t == TS_YES);
}

static json_t *groups_json(const uint16_t *g, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ts_group_name(g[i])));
	return a;
}

static json_t *sigalgs_json(const uint16_t *g, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ts_sigscheme_name(g[i])));
	return a;
}

json_t *ts_scan_result_json(const struct ts_scan_result *r)
{
	json_t *o = json_object();
	int64_t now = (int64_t)time(NULL);
	json_object_set_new(o, "target", json_string(r->target));
	json_object_set_new(o, "address", r->address[0] ? json_string(r->address) : json_null());
	json_object_set_new(o, "error", r->status != TS_OK ? json_string(r->error) : json_null());
	json_t *prot = json_object(), *ciph = json_object(), *order = json_object();
	for (int v = 0; v < TS_SV_COUNT; v++) {
		const char *k = ts_scan_version_key((enum ts_scan_version)v);
		json_object_set_new(prot, k, tri_json(r->protocols[v]));
		json_t *list = json_array();
		if (v == TS_SV_SSL2) {
			for (size_t i = 0; i < r->n_ssl2_specs; i++)
				json_array_append_new(list, json_string(ts_ssl2_cipher_name(r->ssl2_specs[i])));
		} else {
			for (size_t i = 0; i < r->n_suites[v]; i++)
				json_array_append_new(list, json_string(ts_suite_name(r->suites[v][i])));
		}
		json_object_set_new(ciph, k, list);
		json_object_set_new(order, k, tri_json(r->server_order[v]));
	}
	json_object_set_new(o, "protocols", prot);
	json_object_set_new(o, "ciphers", ciph);
	json_object_set_new(o, "server_order", order);
	json_t *groups = json_object();
	json_object_set_new(groups, "tls1_3", groups_json(r->groups13, r->n_groups13));
	json_object_set_new(groups, "tls1_2", groups_json(r->groups12, r->n_groups12));
	json_object_set_new(groups, "preferred",
	                    r->n_groups13 > 0 ? json_string(ts_group_name(r->groups13[0]))
	                    : r->n_groups12 > 0 ? json_string(ts_group_name(r->groups12[0]))
	                                        : json_null());
	json_object_set_new(groups, "dh_bits", r->dh_bits > 0 ? json_integer(r->dh_bits) : json_null());
	json_object_set_new(o, "groups", groups);
	json_t *sig = json_object();
	json_object_set_new(sig, "tls1_3", sigalgs_json(r->sigalgs13, r->n_sigalgs13));
	json_object_set_new(sig, "tls1_2", sigalgs_json(r->sigalgs12, r->n_sigalgs12));
	json_object_set_new(o, "sigalgs", sig);
	json_t *certs = json_array();
	for (size_t i = 0; i < r->n_certs; i++) {
		const struct ts_scan_cert *c = &r->certs[i];
		json_t *co = ts_cert_info_json(&c->leaf, now);
		json_object_set_new(co, "auth", json_string(c->auth));
		json_object_set_new(co, "chain_length", json_integer((json_int_t)c->chain_len));
		json_object_set_new(co, "trusted", json_boolean(c->trusted));
		json_object_set_new(co, "name_match", json_boolean(c->name_match));
		json_object_set_new(co, "verify_error",
		                    c->verify_error[0] ? json_string(c->verify_error) : json_null());
		json_array_append_new(certs, co);
	}
	json_object_set_new(o, "certificates", certs);
	json_t *b = json_object();
	json_object_set_new(b, "secure_renegotiation", tri_json(r->secure_renegotiation));
	json_object_set_new(b, "compression", tri_json(r->compression));
	json_object_set_new(b, "fallback_scsv", tri_json(r->fallback_scsv));
	json_object_set_new(b, "session_id", tri_json(r->session_id));
	json_object_set_new(b, "session_ticket", tri_json(r->session_ticket));
	json_object_set_new(b, "ocsp_stapling", tri_json(r->ocsp_stapling));
	json_object_set_new(b, "resumption", tri_json(r->resumption));
	json_object_set_new(b, "hsts", tri_json(r->hsts));
	json_object_set_new(b, "hsts_header", r->hsts_value[0] ? json_string(r->hsts_value) : json_null());
	json_object_set_new(b, "client_renegotiation", tri_json(r->client_renegotiation));
	json_object_set_new(b, "early_data", tri_json(r->early_data));
	json_object_set_new(b, "early_data_max", json_integer((json_int_t)r->early_data_max));
	json_object_set_new(b, "heartbeat", tri_json(r->heartbeat));
	json_object_set_new(b, "heartbleed", tri_json(r->heartbleed));
	json_object_set_new(b, "ccs_injection", tri_json(r->ccs_injection));
	if (r->alpn_tested == TS_YES) {
		json_t *alpn = json_array();
		for (size_t i = 0; i < r->n_alpn; i++)
			json_array_append_new(alpn, json_string(r->alpn[i]));
		json_object_set_new(b, "alpn", alpn);
	} else {
		json_object_set_new(b, "alpn", json_null());
	}
	json_object_set_new(o, "behaviour", b);
	json_t *f = json_array();
	for (size_t i = 0; i < r->n_findings; i++) {
		json_t *fo = json_object();
		json_object_set_new(fo, "id", json_string(r->findings[i].id));
		json_object_set_new(fo, "severity", json_string(ts_severity_name(r->findings[i].severity)));
		json_object_set_new(fo, "text", json_string(r->findings[i].text));
		json_array_append_new(f, fo);
	}
	json_object_set_new(o, "findings", f);
	json_t *notes = json_array();
	for (size_t i = 0; i < r->n_notes; i++)
		json_array_append_new(notes, json_string(r->notes[i]));
	json_object_set_new(o, "notes", notes);
	json_object_set_new(o, "connections", json_integer(r->connections));
	json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)r->elapsed_ms));
	return o;
}

static enum ts_tone suite_tone(const struct ts_suite_info *s)
{
	if (s == NULL)
		return TS_TONE_PLAIN;
	if (s->null_cipher || s->anonymous || s->export_grade || strncmp(s->cipher, "RC4", 3) == 0)
		return TS_TONE_BAD;
	if (strstr(s->cipher, "DES") != NULL || !s->forward_secret || !s->aead)
		return TS_TONE_WARN;
	return TS_TONE_GOOD;
}

static enum ts_tone severity_tone(enum ts_severity s)
{
	return s >= TS_SEV_HIGH ? TS_TONE_BAD : s >= TS_SEV_LOW ? TS_TONE_WARN : TS_TONE_DIM;
}

static const char *tri_word(enum ts_tri t, const char *yes, const char *no)
{
	return t == TS_YES ? yes : t == TS_NO ? no : "not tested";
}

static void tri_line(struct ts_report *rep, const char *label, enum ts_tri t, bool yes_is_good,
                     const char *yes, const char *no)
{
	enum ts_tone tone = t == TS_UNKNOWN ? TS_TONE_DIM
	                  : (t == TS_YES) == yes_is_good ? TS_TONE_GOOD : TS_TONE_BAD;
	ts_report_line(rep, label, tone, "%s", tri_word(t, yes, no));
}

static void list_line(struct ts_report *rep, const char *label, const char *(*name)(uint16_t),
                      const uint16_t *l, size_t n)
{
	char buf[1024] = "";
	size_t len = 0;
	for (size_t i = 0; i < n && len < sizeof buf - 64; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", name(l[i]));
	ts_report_line(rep, label, n > 0 ? TS_TONE_PLAIN : TS_TONE_DIM, "%s", n > 0 ? buf : "none");
}

void ts_report_scan(struct ts_report *rep, const struct ts_scan_result *r)
{
	if (rep->json) {
		ts_report_json(rep, ts_scan_result_json(r));
		return;
	}
	char title[400];
	snprintf(title, sizeof title, "%s%s%s%s", r->target, r->address[0] ? " (" : "", r->address,
	         r->address[0] ? ")" : "");
	ts_report_heading(rep, title);
	if (r->status != TS_OK) {
		ts_report_line(rep, "scan", TS_TONE_BAD, "failed: %s", r->error);
		for (size_t i = 0; i < r->n_notes; i++)
			ts_report_line(rep, "note", TS_TONE_DIM, "%s", r->notes[i]);
		ts_report_line(rep, "connections", TS_TONE_PLAIN, "%u in %llu ms", r->connections,
		               (unsigned long long)r->elapsed_ms);
		return;
	}
	ts_report_text(rep, TS_TONE_PLAIN, "Protocols");
	for (int v = 0; v < TS_SV_COUNT; v++) {
		bool old = v <= TS_SV_TLS11;
		enum ts_tone tone = r->protocols[v] == TS_UNKNOWN ? TS_TONE_DIM
		                  : r->protocols[v] == TS_YES ? (old ? TS_TONE_BAD : TS_TONE_GOOD)
		                  : (old ? TS_TONE_GOOD : TS_TONE_PLAIN);
		ts_report_line(rep, ts_scan_version_name((enum ts_scan_version)v), tone, "%s",
		               tri_word(r->protocols[v], "offered", "not offered"));
	}
	for (int v = TS_SV_COUNT - 1; v >= 0; v--) {
		if (v == TS_SV_SSL2 && r->n_ssl2_specs > 0) {
			ts_report_text(rep, TS_TONE_PLAIN, "\nCipher suites, SSLv2");
			for (size_t i = 0; i < r->n_ssl2_specs; i++)
				ts_report_text(rep, TS_TONE_BAD, "  %s", ts_ssl2_cipher_name(r->ssl2_specs[i]));
			continue;
		}
		if (r->n_suites[v] == 0)
			continue;
		ts_report_text(rep, TS_TONE_PLAIN, "\nCipher suites, %s (%s)",
		               ts_scan_version_name((enum ts_scan_version)v),
		               r->server_order[v] == TS_YES ? "server order"
		               : r->server_order[v] == TS_NO ? "client order" : "order not known");
		for (size_t i = 0; i < r->n_suites[v]; i++) {
			const struct ts_suite_info *s = ts_suite_by_code(r->suites[v][i]);
			fprintf(rep->out, "  %s%-50s%s %4d bits  %s\n", ts_report_tone(rep, suite_tone(s)),
			        ts_suite_name(r->suites[v][i]), ts_report_reset(rep), s ? s->bits : 0,
			        s ? (s->forward_secret ? "forward secret" : "no forward secrecy") : "");
		}
	}
	ts_report_text(rep, TS_TONE_PLAIN, "\nKey exchange and signatures");
	list_line(rep, "groups TLS 1.3", ts_group_name, r->groups13, r->n_groups13);
	list_line(rep, "curves TLS <= 1.2", ts_group_name, r->groups12, r->n_groups12);
	if (r->dh_bits > 0)
		ts_report_line(rep, "DH group", r->dh_bits < 2048 ? TS_TONE_BAD : TS_TONE_GOOD, "%d bits",
		               r->dh_bits);
	list_line(rep, "signatures TLS 1.3", ts_sigscheme_name, r->sigalgs13, r->n_sigalgs13);
	list_line(rep, "signatures TLS 1.2", ts_sigscheme_name, r->sigalgs12, r->n_sigalgs12);

	for (size_t i = 0; i < r->n_certs; i++) {
		const struct ts_scan_cert *c = &r->certs[i];
		char h[64], nb[32], na[32];
		snprintf(h, sizeof h, "\nCertificate (%s suites)", c->auth);
		ts_report_text(rep, TS_TONE_PLAIN, "%s", h);
		ts_report_line(rep, "subject", TS_TONE_PLAIN, "%s", c->leaf.subject ? c->leaf.subject : "?");
		ts_report_line(rep, "issuer", TS_TONE_PLAIN, "%s", c->leaf.issuer ? c->leaf.issuer : "?");
		ts_report_line(rep, "key", c->leaf.key_bits < 2048 && !strcmp(c->leaf.key_type, "RSA")
		                   ? TS_TONE_BAD : TS_TONE_PLAIN, "%s %d%s%s", c->leaf.key_type,
		               c->leaf.key_bits, c->leaf.key_curve[0] ? " " : "", c->leaf.key_curve);
		ts_report_line(rep, "signature", TS_TONE_PLAIN, "%s", c->leaf.signature_algorithm);
		ts_cert_format_time(c->leaf.not_before, nb, sizeof nb);
		ts_cert_format_time(c->leaf.not_after, na, sizeof na);
		ts_report_line(rep, "valid", c->expired || c->not_yet_valid ? TS_TONE_BAD : TS_TONE_PLAIN,
		               "%s to %s", nb, na);
		ts_report_line(rep, "chain sent", TS_TONE_PLAIN, "%zu certificate%s", c->chain_len,
		               c->chain_len == 1 ? "" : "s");
		ts_report_line(rep, "verdict", c->trusted && c->name_match ? TS_TONE_GOOD : TS_TONE_BAD,
		               "%s", c->trusted && c->name_match ? "trusted, name matches"
		               : c->verify_error[0] ? c->verify_error : "not trusted");
		ts_report_line(rep, "sha256", TS_TONE_DIM, "%s", c->leaf.sha256);
	}

	ts_report_text(rep, TS_TONE_PLAIN, "\nBehaviour");
	tri_line(rep, "secure renegotiation", r->secure_renegotiation, true, "yes", "no");
	tri_line(rep, "compression", r->compression, false, "accepted (CRIME)", "no");
	tri_line(rep, "fallback SCSV", r->fallback_scsv, true, "honoured", "ignored");
	ts_report_line(rep, "session resumption", TS_TONE_PLAIN, "IDs %s, tickets %s",
	               tri_word(r->session_id, "yes", "no"), tri_word(r->session_ticket, "yes", "no"));
	tri_line(rep, "resumed handshake", r->resumption, true, "yes", "no");
	tri_line(rep, "client renegotiation", r->client_renegotiation, false,
	         r->secure_renegotiation == TS_NO ? "allowed, without RFC 5746 (CVE-2009-3555)" : "allowed",
	         "refused");
	if (r->early_data == TS_NO && r->early_data_max > 0)
		ts_report_line(rep, "0-RTT early data", TS_TONE_GOOD, "rejected (tickets allow %zu bytes)",
		               r->early_data_max);
	else
		tri_line(rep, "0-RTT early data", r->early_data, false, "accepted (replayable)", "no");
	tri_line(rep, "OCSP stapling", r->ocsp_stapling, true, "yes", "no");
	if (r->hsts == TS_YES)
		ts_report_line(rep, "HSTS", TS_TONE_GOOD, "%s", r->hsts_value);
	else
		tri_line(rep, "HSTS", r->hsts, true, "yes", "no");
	tri_line(rep, "heartbeat extension", r->heartbeat, false, "yes", "no");
	tri_line(rep, "Heartbleed", r->heartbleed, false, "VULNERABLE", "not vulnerable");
	tri_line(rep, "CCS injection", r->ccs_injection, false, "VULNERABLE", "not vulnerable");
	if (r->alpn_tested == TS_YES) {
		char buf[300] = "";
		size_t len = 0;
		for (size_t i = 0; i < r->n_alpn; i++)
			len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", r->alpn[i]);
		ts_report_line(rep, "ALPN", TS_TONE_PLAIN, "%s", r->n_alpn ? buf : "none");
	}

	ts_report_text(rep, TS_TONE_PLAIN, "\nFindings");
	if (r->n_findings == 0)
		ts_report_text(rep, TS_TONE_GOOD, "  none");
	for (int sev = TS_SEV_CRITICAL; sev >= TS_SEV_INFO; sev--)
		for (size_t i = 0; i < r->n_findings; i++) {
			const struct ts_scan_finding *f = &r->findings[i];
			if ((int)f->severity != sev)
				continue;
			fprintf(rep->out, "  %s%-8s%s %-22s %s\n", ts_report_tone(rep, severity_tone(f->severity)),
			        ts_severity_name(f->severity), ts_report_reset(rep), f->id, f->text);
		}
	if (r->n_notes > 0) {
		ts_report_text(rep, TS_TONE_PLAIN, "\nNotes");
		for (size_t i = 0; i < r->n_notes; i++)
			ts_report_text(rep, TS_TONE_DIM, "  %s", r->notes[i]);
	}
	fputc('\n', rep->out);
	ts_report_line(rep, "connections", TS_TONE_PLAIN, "%u in %llu ms", r->connections,
	               (unsigned long long)r->elapsed_ms);
}
