/* The probe's report: aligned lines for people, one JSON object for programs. */
#include "tlsscope/report_probe.h"

#include "tlsscope/report_cert.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static json_t *ms_json(double ms)
{
	return ms >= 0 ? json_real((double)(long long)(ms * 1000 + 0.5) / 1000) : json_null();
}

static json_t *time_json(int64_t t)
{
	if (t == 0)
		return json_null();
	char buf[40];
	ts_cert_format_time(t, buf, sizeof buf);
	return json_string(buf);
}

static long days_left(int64_t not_after)
{
	return (long)ts_cert_days_left(not_after, (int64_t)time(NULL));
}

static json_t *cert_json(const struct ts_cert_info *c)
{
	return ts_cert_info_json(c, (int64_t)time(NULL));
}

static const char *verdict_word(const struct ts_probe_result *res)
{
	switch (res->failed_stage) {
	case TS_PROBE_STAGE_NONE: return "trusted";
	case TS_PROBE_STAGE_VERIFY: return "untrusted";
	case TS_PROBE_STAGE_SETUP: return "error";
	case TS_PROBE_STAGE_RESOLVE:
	case TS_PROBE_STAGE_CONNECT: return "unreachable";
	case TS_PROBE_STAGE_STARTTLS: return "starttls-failed";
	case TS_PROBE_STAGE_HANDSHAKE: return "handshake-failed";
	}
	return "error";
}

json_t *ts_probe_json(const struct ts_probe_result *res)
{
	json_t *o = json_object();
	json_object_set_new(o, "command", json_string("probe"));
	json_t *target = json_object();
	json_object_set_new(target, "host", json_string(res->host));
	json_object_set_new(target, "port", json_integer(res->port));
	json_object_set_new(target, "name", json_string(res->name));
	json_object_set_new(o, "target", target);
	json_object_set_new(o, "address", ts_json_string_or_null(or_null(res->address)));
	json_t *addrs = json_array();
	for (size_t i = 0; i < res->addrs.n; i++) {
		char a[TS_ADDRSTR_MAX];
		ts_addr_format(&res->addrs.addr[i], a);
		json_array_append_new(addrs, json_string(a));
	}
	json_object_set_new(o, "addresses", addrs);
	json_object_set_new(o, "result", json_string(verdict_word(res)));
	json_object_set_new(o, "failed_stage", ts_json_string_or_null(ts_probe_stage_name(res->failed_stage)));
	json_object_set_new(o, "error", ts_json_string_or_null(or_null(res->error)));

	/* the preamble */
	if (res->starttls == TS_STARTTLS_NONE) {
		json_object_set_new(o, "starttls", json_null());
	} else {
		json_t *st = json_object();
		json_object_set_new(st, "protocol", json_string(ts_starttls_name(res->starttls)));
		json_object_set_new(st, "offered", json_boolean(res->preamble.offered));
		json_object_set_new(st, "accepted", json_boolean(res->preamble.accepted));
		json_t *lines = json_array();
		const char *p = res->preamble.transcript != NULL ? res->preamble.transcript : "";
		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
			json_array_append_new(lines, json_stringn(p, n));
			p += n + (nl != NULL);
		}
		json_object_set_new(st, "transcript", lines);
		json_object_set_new(st, "truncated", json_boolean(res->preamble.truncated));
		json_object_set_new(o, "starttls", st);
	}

	/* the handshake */
	bool hs = res->handshake_done;
	json_object_set_new(o, "protocol", hs ? json_string(res->protocol) : json_null());
	if (hs) {
		json_t *c = json_object();
		json_object_set_new(c, "iana", json_string(res->cipher_iana));
		json_object_set_new(c, "openssl", json_string(res->cipher_openssl));
		json_object_set_new(o, "cipher", c);
	} else {
		json_object_set_new(o, "cipher", json_null());
	}
	json_object_set_new(o, "group", hs ? ts_json_string_or_null(or_null(res->group)) : json_null());
	json_object_set_new(o, "forward_secrecy", hs ? json_boolean(res->forward_secrecy) : json_null());
	json_object_set_new(o, "server_signature", hs ? ts_json_string_or_null(or_null(res->peer_signature)) : json_null());
	json_object_set_new(o, "alpn", hs ? ts_json_string_or_null(or_null(res->alpn)) : json_null());
	json_object_set_new(o, "resumed", res->resumption_tried ? json_boolean(res->resumed) : json_null());
	json_t *rsm = json_object();
	json_object_set_new(rsm, "ticket_offered", json_boolean(res->ticket_offered));
	json_object_set_new(rsm, "session_id_offered", json_boolean(res->session_id_offered));
	json_object_set_new(rsm, "tried", json_boolean(res->resumption_tried));
	json_object_set_new(rsm, "resumed", json_boolean(res->resumed));
	json_object_set_new(rsm, "error", ts_json_string_or_null(or_null(res->resumption_error)));
	json_object_set_new(o, "resumption", hs ? rsm : (json_decref(rsm), json_null()));

	json_t *ocsp = json_object();
	json_object_set_new(ocsp, "stapled", json_boolean(res->ocsp.stapled));
	json_object_set_new(ocsp, "status", ts_json_string_or_null(or_null(res->ocsp.status)));
	json_object_set_new(ocsp, "response_status", ts_json_string_or_null(or_null(res->ocsp.response_status)));
	json_object_set_new(ocsp, "this_update", time_json(res->ocsp.this_update));
	json_object_set_new(ocsp, "next_update", time_json(res->ocsp.next_update));
	json_object_set_new(ocsp, "revoked_at", time_json(res->ocsp.revoked_at));
	json_object_set_new(o, "ocsp", hs ? ocsp : (json_decref(ocsp), json_null()));
	if (hs) {
		int cert = res->sct_certificate > 0 ? res->sct_certificate : 0;
		json_object_set_new(o, "sct_count", json_integer(cert + (json_int_t)res->sct_tls));
		json_t *sct = json_object();
		json_object_set_new(sct, "certificate", res->sct_certificate >= 0 ? json_integer(res->sct_certificate)
		                                                                  : json_null());
		json_object_set_new(sct, "tls", json_integer((json_int_t)res->sct_tls));
		json_object_set_new(o, "sct", sct);
	} else {
		json_object_set_new(o, "sct_count", json_null());
		json_object_set_new(o, "sct", json_null());
	}

	json_t *certs = json_array();
	for (size_t i = 0; i < res->chain_count; i++)
		json_array_append_new(certs, cert_json(&res->chain[i]));
	json_object_set_new(o, "certificates", certs);
	json_object_set_new(o, "certificates_sent", json_integer((json_int_t)res->chain_sent));

	if (res->verified) {
		json_t *v = json_object();
		json_object_set_new(v, "trusted", json_boolean(res->verify.trusted));
		json_object_set_new(v, "hostname_match", json_boolean(res->verify.hostname_match));
		json_object_set_new(v, "error", ts_json_string_or_null(or_null(res->verify.error)));
		json_t *built = json_array();
		for (size_t i = 0; i < res->verify.built_count; i++)
			json_array_append_new(built, cert_json(&res->verify.built[i]));
		json_object_set_new(v, "chain", built);
		json_object_set_new(v, "root", res->verify.trusted && res->verify.built_count > 0
		                                       ? json_string(res->verify.built[res->verify.built_count - 1].subject)
		                                       : json_null());
		json_object_set_new(o, "verification", v);
	} else {
		json_object_set_new(o, "verification", json_null());
	}

	json_t *t = json_object();
	json_object_set_new(t, "resolve", ms_json(res->resolve_ms));
	json_object_set_new(t, "connect", ms_json(res->connect_ms));
	json_object_set_new(t, "starttls", ms_json(res->starttls_ms));
	json_object_set_new(t, "handshake", ms_json(res->handshake_ms));
	json_object_set_new(o, "timings_ms", t);
	return o;
}

/* ---- text ---- */

static void names_text(const struct ts_cert_info *c, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < c->san_dns_count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%sDNS:%s", used > 0 ? ", " : "", c->san_dns[i]);
	for (size_t i = 0; i < c->san_ip_count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%sIP:%s", used > 0 ? ", " : "", c->san_ip[i]);
	if (out[0] == '\0')
		snprintf(out, size, "(no subjectAltName)");
}

static void cert_text(struct ts_report *r, const struct ts_probe_result *res, size_t i)
{
	const struct ts_cert_info *c = &res->chain[i];
	char title[64], names[1024], nb[40], na[40];
	snprintf(title, sizeof title, "certificate %zu of %zu as sent%s", i + 1, res->chain_sent,
	         i == 0 ? " (leaf)" : "");
	ts_report_heading(r, title);
	ts_report_line(r, "  subject", TS_TONE_PLAIN, "%s", c->subject != NULL ? c->subject : "");
	ts_report_line(r, "  issuer", TS_TONE_PLAIN, "%s", c->issuer != NULL ? c->issuer : "");
	names_text(c, names, sizeof names);
	ts_report_line(r, "  names", TS_TONE_PLAIN, "%s", names);
	ts_cert_format_time(c->not_before, nb, sizeof nb);
	ts_cert_format_time(c->not_after, na, sizeof na);
	long left = days_left(c->not_after);
	bool early = c->not_before > (int64_t)time(NULL);
	ts_report_line(r, "  valid", left < 0 || early ? TS_TONE_BAD : left < 30 ? TS_TONE_WARN : TS_TONE_PLAIN,
	               "%s to %s (%s%ld days %s)", nb, na, early ? "not yet valid; " : "", left < 0 ? -left : left,
	               left < 0 ? "ago" : "left");
	if (c->key_curve[0] != '\0')
		ts_report_line(r, "  key", TS_TONE_PLAIN, "%s %s (%d bits)", c->key_type, c->key_curve, c->key_bits);
	else
		ts_report_line(r, "  key", strcmp(c->key_type, "RSA") == 0 && c->key_bits < 2048 ? TS_TONE_BAD
		                                                                              : TS_TONE_PLAIN,
		               "%s %d bits", c->key_type, c->key_bits);
	ts_report_line(r, "  signature", strstr(c->signature_algorithm, "sha1") != NULL ||
	                                                 strstr(c->signature_algorithm, "md5") != NULL
	                                         ? TS_TONE_BAD
	                                         : TS_TONE_PLAIN,
	               "%s", c->signature_algorithm);
	ts_report_line(r, "  sha256", TS_TONE_PLAIN, "%s", c->sha256);
	ts_report_line(r, "  ca", TS_TONE_PLAIN, "%s%s", c->is_ca ? "yes" : "no", c->self_signed ? ", self-signed" : "");
}

static void fmt_ms(double ms, char *out, size_t size)
{
	if (ms < 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%.1f", ms);
}

static void text(struct ts_report *r, const struct ts_probe_result *res)
{
	r->label_width = 20;
	ts_report_line(r, "target", TS_TONE_PLAIN, "%s port %u%s%s", res->host, res->port,
	               strcmp(res->name, res->host) != 0 ? ", name " : "",
	               strcmp(res->name, res->host) != 0 ? res->name : "");
	if (res->addrs.n > 0) {
		char list[TS_ADDRS_MAX * (TS_ADDRSTR_MAX + 2)];
		size_t used = 0;
		list[0] = '\0';
		for (size_t i = 0; i < res->addrs.n; i++) {
			char a[TS_ADDRSTR_MAX];
			ts_addr_ip(&res->addrs.addr[i], a);
			used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i > 0 ? ", " : "", a);
		}
		ts_report_line(r, "resolved", TS_TONE_PLAIN, "%s", list);
	}
	if (res->connected)
		ts_report_line(r, "connected to", TS_TONE_PLAIN, "%s", res->address);
	if (res->starttls != TS_STARTTLS_NONE)
		ts_report_line(r, "starttls", res->preamble.accepted ? TS_TONE_GOOD : TS_TONE_BAD, "%s (%s)",
		               ts_starttls_name(res->starttls),
		               res->preamble.accepted ? "upgrade accepted"
		               : res->preamble.offered ? "offered, then failed"
		                                       : "not offered, or refused");
	if (res->handshake_done) {
		bool old = strcmp(res->protocol, "TLSv1.2") != 0 && strcmp(res->protocol, "TLSv1.3") != 0;
		ts_report_line(r, "protocol", old ? TS_TONE_BAD : TS_TONE_PLAIN, "%s", res->protocol);
		if (strcmp(res->cipher_iana, res->cipher_openssl) == 0 || res->cipher_openssl[0] == '\0')
			ts_report_line(r, "cipher", TS_TONE_PLAIN, "%s", res->cipher_iana);
		else
			ts_report_line(r, "cipher", TS_TONE_PLAIN, "%s (OpenSSL: %s)", res->cipher_iana,
			               res->cipher_openssl);
		ts_report_line(r, "key exchange", res->forward_secrecy ? TS_TONE_PLAIN : TS_TONE_BAD, "%s, %s",
		               res->group[0] != '\0' ? res->group : "(group unknown)",
		               res->forward_secrecy ? "forward secret" : "NOT forward secret");
		ts_report_line(r, "server signature", TS_TONE_PLAIN, "%s",
		               res->peer_signature[0] != '\0' ? res->peer_signature : "(none seen)");
		ts_report_line(r, "alpn", TS_TONE_PLAIN, "%s", res->alpn[0] != '\0' ? res->alpn : "(none)");
		char offered[64];
		snprintf(offered, sizeof offered, "%s%s%s",
		         res->ticket_offered ? "ticket" : "", res->ticket_offered && res->session_id_offered ? " and " : "",
		         res->session_id_offered ? "session id" : "");
		ts_report_line(r, "resumption offered", TS_TONE_PLAIN, "%s", offered[0] != '\0' ? offered : "no");
		if (res->resumption_tried && res->resumption_error[0] != '\0')
			ts_report_line(r, "resumed", TS_TONE_WARN, "no (the second connection failed: %s)",
			               res->resumption_error);
		else if (res->resumption_tried)
			ts_report_line(r, "resumed", TS_TONE_PLAIN, "%s", res->resumed ? "yes" : "no");
		if (!res->ocsp.stapled) {
			ts_report_line(r, "ocsp stapling", TS_TONE_PLAIN, "not stapled");
		} else {
			char tu[40] = "-", nu[40] = "-";
			if (res->ocsp.this_update != 0)
				ts_cert_format_time(res->ocsp.this_update, tu, sizeof tu);
			if (res->ocsp.next_update != 0)
				ts_cert_format_time(res->ocsp.next_update, nu, sizeof nu);
			bool good = strcmp(res->ocsp.status, "good") == 0;
			ts_report_line(r, "ocsp stapling", good ? TS_TONE_GOOD : TS_TONE_BAD,
			               "%s (this update %s, next update %s; signature not checked)", res->ocsp.status, tu,
			               nu);
		}
		char sct_cert[16];
		if (res->sct_certificate >= 0)
			snprintf(sct_cert, sizeof sct_cert, "%d", res->sct_certificate);
		else
			snprintf(sct_cert, sizeof sct_cert, "?");
		ts_report_line(r, "scts", TS_TONE_PLAIN, "%s in the certificate, %zu in the TLS extension", sct_cert,
		               res->sct_tls);
	}
	for (size_t i = 0; i < res->chain_count; i++)
		cert_text(r, res, i);
	if (res->verified) {
		ts_report_heading(r, "verification");
		if (res->verify.built_count > 0) {
			for (size_t i = 0; i < res->verify.built_count; i++) {
				const char *subject = res->verify.built[i].subject != NULL ? res->verify.built[i].subject : "?";
				bool root = i + 1 == res->verify.built_count && res->verify.trusted;
				if (i == 0)
					ts_report_line(r, "  built chain", TS_TONE_PLAIN, "%s", subject);
				else
					ts_report_text(r, TS_TONE_PLAIN, "%*s-> %s%s", r->label_width + 2, "", subject,
					               root ? " (trusted root)" : "");
			}
		} else {
			ts_report_line(r, "  built chain", TS_TONE_BAD, "(no chain to a trusted root)");
		}
		ts_report_line(r, "  hostname match", res->verify.hostname_match ? TS_TONE_GOOD : TS_TONE_BAD, "%s (%s)",
		               res->verify.hostname_match ? "yes" : "no", res->name);
		if (res->verify.trusted && res->verify.hostname_match && res->verify.error[0] == '\0')
			ts_report_line(r, "  verdict", TS_TONE_GOOD, "trusted");
		else
			ts_report_line(r, "  verdict", TS_TONE_BAD, "NOT TRUSTED: %s", res->verify.error);
	}
	char a[16], b[16], c[16], d[16];
	fmt_ms(res->resolve_ms, a, sizeof a);
	fmt_ms(res->connect_ms, b, sizeof b);
	fmt_ms(res->starttls_ms, c, sizeof c);
	fmt_ms(res->handshake_ms, d, sizeof d);
	ts_report_heading(r, "timings (ms)");
	ts_report_line(r, "  resolve", TS_TONE_PLAIN, "%s", a);
	ts_report_line(r, "  connect", TS_TONE_PLAIN, "%s", b);
	ts_report_line(r, "  starttls", TS_TONE_PLAIN, "%s", c);
	ts_report_line(r, "  handshake", TS_TONE_PLAIN, "%s", d);
	if (res->starttls != TS_STARTTLS_NONE && res->preamble.transcript != NULL &&
	    res->preamble.transcript[0] != '\0') {
		ts_report_heading(r, "starttls transcript");
		const char *p = res->preamble.transcript;
		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			int n = nl != NULL ? (int)(nl - p) : (int)strlen(p);
			if (n > 200)
				ts_report_text(r, TS_TONE_DIM, "  %.200s...", p);
			else
				ts_report_text(r, TS_TONE_DIM, "  %.*s", n, p);
			p += n + (nl != NULL);
		}
	}
	if (res->failed_stage != TS_PROBE_STAGE_NONE && res->failed_stage != TS_PROBE_STAGE_VERIFY) {
		fputc('\n', r->out);
		ts_report_line(r, "failed", TS_TONE_BAD, "at %s: %s", ts_probe_stage_name(res->failed_stage), res->error);
	}
}

void ts_report_probe(struct ts_report *r, const struct ts_probe_result *res)
{
	if (r->json)
		ts_report_json(r, ts_probe_json(res));
	else
		text(r, res);
}
