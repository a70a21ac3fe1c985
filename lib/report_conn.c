/* Output of `connect` and `serve` (include/tlsscope/report_conn.h). */
#include "tlsscope/report_conn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tlsscope/report_cert.h"

/* "a.test, *.a.test, 127.0.0.1" into out. */
static void join_names(const struct ts_cert_info *info, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < info->san_dns_count + info->san_ip_count; i++) {
		const char *n = i < info->san_dns_count ? info->san_dns[i] : info->san_ip[i - info->san_dns_count];
		int k = snprintf(out + used, size - used, "%s%s", i > 0 ? ", " : "", n);
		if (k < 0 || (size_t)k >= size - used)
			break;
		used += (size_t)k;
	}
}

static bool leaf_info(const struct ts_conn *c, struct ts_cert_info *info)
{
	const uint8_t *const *ders;
	const size_t *lens;
	struct ts_error err = { 0 };
	memset(info, 0, sizeof *info);
	if (ts_conn_peer_chain(c, &ders, &lens) == 0)
		return false;
	return ts_cert_info_from_der(ders[0], lens[0], info, &err) == TS_OK;
}

static json_t *connect_json(const struct ts_conn *c, int status, const char *const *insecure, size_t n)
{
	json_t *o = json_object();
	char addr[TS_ADDRSTR_MAX] = "";
	const struct ts_addr *a = ts_conn_peer_addr(c);
	if (a != NULL)
		ts_addr_format(a, addr);
	const struct ts_verify_result *vr = ts_conn_verify_result(c);
	struct ts_cert_info info;
	bool have_leaf = leaf_info(c, &info);
	const uint8_t *const *ders;
	const size_t *lens;
	json_object_set_new(o, "address", ts_json_string_or_null(a != NULL ? addr : NULL));
	json_object_set_new(o, "name", ts_json_string_or_null(ts_conn_servername(c)));
	json_object_set_new(o, "ok", json_boolean(status == TS_OK));
	json_object_set_new(o, "protocol", ts_json_string_or_null(ts_conn_protocol(c)));
	json_object_set_new(o, "cipher", ts_json_string_or_null(ts_conn_cipher(c)));
	json_object_set_new(o, "cipher_openssl", ts_json_string_or_null(ts_conn_cipher_openssl(c)));
	json_object_set_new(o, "group", ts_json_string_or_null(ts_conn_group(c)));
	json_object_set_new(o, "forward_secret", ts_conn_handshake_done(c) ? json_boolean(ts_conn_forward_secret(c)) : json_null());
	json_object_set_new(o, "peer_signature", ts_json_string_or_null(ts_conn_peer_signature(c)));
	json_object_set_new(o, "alpn", ts_json_string_or_null(ts_conn_alpn(c)));
	json_object_set_new(o, "resumed", json_boolean(ts_conn_resumed(c)));
	json_object_set_new(o, "chain_length", json_integer((json_int_t)ts_conn_peer_chain(c, &ders, &lens)));
	size_t ocsp_len = 0;
	ts_conn_ocsp_response(c, &ocsp_len);
	json_object_set_new(o, "ocsp_stapled_bytes", ocsp_len > 0 ? json_integer((json_int_t)ocsp_len) : json_null());
	json_object_set_new(o, "sct_count", json_integer((json_int_t)ts_conn_sct_count(c)));
	json_object_set_new(o, "certificate", have_leaf ? ts_cert_info_json(&info, (int64_t)time(NULL)) : json_null());
	json_object_set_new(o, "trusted", vr != NULL ? json_boolean(vr->trusted) : json_null());
	json_object_set_new(o, "hostname_match", vr != NULL ? json_boolean(vr->hostname_match) : json_null());
	json_object_set_new(o, "waived", ts_json_string_or_null(vr != NULL && vr->waived[0] != '\0' ? vr->waived : NULL));
	json_t *ins = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ins, json_string(insecure[i]));
	json_object_set_new(o, "insecure", ins);
	json_object_set_new(o, "error", ts_json_string_or_null(status == TS_OK ? NULL : ts_conn_error(c)));
	if (have_leaf)
		ts_cert_info_clear(&info);
	return o;
}

void ts_report_connect(struct ts_report *r, const struct ts_conn *c, int status,
                       const char *const *insecure, size_t n)
{
	if (r->json) {
		ts_report_json(r, connect_json(c, status, insecure, n));
		return;
	}
	char addr[TS_ADDRSTR_MAX];
	const struct ts_addr *a = ts_conn_peer_addr(c);
	if (a != NULL) {
		ts_addr_format(a, addr);
		ts_report_line(r, "address", TS_TONE_PLAIN, "%s", addr);
	}
	if (ts_conn_servername(c) != NULL)
		ts_report_line(r, "name", TS_TONE_PLAIN, "%s", ts_conn_servername(c));
	if (ts_conn_handshake_done(c)) {
		ts_report_line(r, "protocol", TS_TONE_PLAIN, "%s", ts_conn_protocol(c));
		ts_report_line(r, "cipher", TS_TONE_PLAIN, "%s", ts_conn_cipher(c));
		if (ts_conn_group(c) != NULL)
			ts_report_line(r, "key exchange", TS_TONE_PLAIN, "%s", ts_conn_group(c));
		if (ts_conn_alpn(c) != NULL)
			ts_report_line(r, "alpn", TS_TONE_PLAIN, "%s", ts_conn_alpn(c));
		if (ts_conn_resumed(c))
			ts_report_line(r, "session", TS_TONE_PLAIN, "resumed");
		size_t ocsp_len = 0;
		if (ts_conn_ocsp_response(c, &ocsp_len) != NULL)
			ts_report_line(r, "ocsp stapled", TS_TONE_PLAIN, "yes (%zu bytes)", ocsp_len);
	}
	struct ts_cert_info info;
	if (leaf_info(c, &info)) {
		char names[400];
		join_names(&info, names, sizeof names);
		ts_report_line(r, "certificate", TS_TONE_PLAIN, "%s", info.subject);
		ts_report_line(r, "names", names[0] != '\0' ? TS_TONE_PLAIN : TS_TONE_WARN, "%s",
		               names[0] != '\0' ? names : "(no subjectAltName)");
		ts_report_line(r, "issuer", TS_TONE_PLAIN, "%s", info.issuer);
		ts_cert_info_clear(&info);
	}
	const struct ts_verify_result *vr = ts_conn_verify_result(c);
	if (status == TS_OK && vr != NULL && vr->waived[0] == '\0' && vr->trusted)
		ts_report_line(r, "verified", TS_TONE_GOOD, "yes: trusted chain, name '%s' matches",
		               ts_conn_servername(c));
	else if (status == TS_OK && vr != NULL)
		ts_report_line(r, "verified", TS_TONE_WARN, "NO, but accepted by an insecure option: %s",
		               vr->waived[0] != '\0' ? vr->waived : vr->error);
	else if (status == TS_E_VERIFY)
		ts_report_line(r, "verified", TS_TONE_BAD, "no: %s", ts_conn_error(c));
	else if (status != TS_OK)
		ts_report_line(r, "error", TS_TONE_BAD, "%s", ts_conn_error(c));
}

void ts_report_serve_listening(struct ts_report *r, const char *addr, size_t ncerts, const char *mode)
{
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "event", json_string("listening"));
		json_object_set_new(o, "address", json_string(addr));
		json_object_set_new(o, "certificates", json_integer((json_int_t)ncerts));
		json_object_set_new(o, "mode", json_string(mode));
		ts_report_json(r, o);
	} else {
		fprintf(r->out, "listening on %s (%zu certificate%s, %s)\n", addr, ncerts, ncerts == 1 ? "" : "s", mode);
	}
	fflush(r->out);
}

void ts_report_serve_conn(struct ts_report *r, const struct ts_serve_log *l)
{
	bool failed = l->error != NULL && l->error[0] != '\0';
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "event", json_string("connection"));
		json_object_set_new(o, "client", json_string(l->client));
		json_object_set_new(o, "sni", ts_json_string_or_null(l->sni));
		json_object_set_new(o, "protocol", ts_json_string_or_null(l->protocol));
		json_object_set_new(o, "cipher", ts_json_string_or_null(l->cipher));
		json_object_set_new(o, "alpn", ts_json_string_or_null(l->alpn));
		json_object_set_new(o, "bytes_in", json_integer((json_int_t)l->bytes_in));
		json_object_set_new(o, "bytes_out", json_integer((json_int_t)l->bytes_out));
		json_object_set_new(o, "duration_ms", json_real(l->duration_ms));
		json_object_set_new(o, "error", ts_json_string_or_null(failed ? l->error : NULL));
		ts_report_json(r, o);
	} else {
		fprintf(r->out, "%s sni=%s %s %s%s%s in=%llu out=%llu %.1fms%s%s%s%s\n", l->client,
		        l->sni != NULL ? l->sni : "-", l->protocol != NULL ? l->protocol : "-",
		        l->cipher != NULL ? l->cipher : "-", l->alpn != NULL ? " alpn=" : "",
		        l->alpn != NULL ? l->alpn : "", (unsigned long long)l->bytes_in,
		        (unsigned long long)l->bytes_out, l->duration_ms, failed ? " " : "",
		        failed ? ts_report_tone(r, TS_TONE_BAD) : "", failed ? l->error : "",
		        failed ? ts_report_reset(r) : "");
	}
	fflush(r->out);
}
