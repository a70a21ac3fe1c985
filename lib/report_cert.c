/* Output of `cert`: text blocks and JSON lines for certificates and verdicts. */
#include "tlsscope/report_cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ts_cert_days_left(int64_t t, int64_t now)
{
	int64_t d = t - now;
	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

static json_t *string_array(char *const *items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	return a;
}

json_t *ts_cert_info_json(const struct ts_cert_info *info, int64_t now)
{
	char nb[40], na[40];
	ts_cert_format_time(info->not_before, nb, sizeof nb);
	ts_cert_format_time(info->not_after, na, sizeof na);
	json_t *o = json_object();
	json_object_set_new(o, "subject", ts_json_string_or_null(info->subject));
	json_object_set_new(o, "issuer", ts_json_string_or_null(info->issuer));
	json_object_set_new(o, "san_dns", string_array(info->san_dns, info->san_dns_count));
	json_object_set_new(o, "san_ip", string_array(info->san_ip, info->san_ip_count));
	json_object_set_new(o, "not_before", json_string(nb));
	json_object_set_new(o, "not_after", json_string(na));
	json_object_set_new(o, "days_left", json_integer(ts_cert_days_left(info->not_after, now)));
	json_object_set_new(o, "key_type", json_string(info->key_type));
	json_object_set_new(o, "key_bits", json_integer(info->key_bits));
	json_object_set_new(o, "key_curve", info->key_curve[0] != '\0' ? json_string(info->key_curve)
	                                                               : json_null());
	json_object_set_new(o, "signature_algorithm", json_string(info->signature_algorithm));
	json_object_set_new(o, "sha256", json_string(info->sha256));
	json_object_set_new(o, "sha1", json_string(info->sha1));
	json_object_set_new(o, "is_ca", json_boolean(info->is_ca));
	json_object_set_new(o, "self_signed", json_boolean(info->self_signed));
	return o;
}

static void key_text(const struct ts_cert_info *info, char *out, size_t size)
{
	if (info->key_curve[0] != '\0')
		snprintf(out, size, "%s %s (%d bits)", info->key_type, info->key_curve, info->key_bits);
	else
		snprintf(out, size, "%s %d bits", info->key_type, info->key_bits);
}

static void names_text(struct ts_report *r, const struct ts_cert_info *info)
{
	size_t total = info->san_dns_count + info->san_ip_count;
	if (total == 0) {
		ts_report_line(r, "names", TS_TONE_WARN, "none (no subjectAltName)");
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return;
	for (size_t i = 0; i < total; i++)
		fprintf(f, "%s%s", i > 0 ? ", " : "",
		        i < info->san_dns_count ? info->san_dns[i] : info->san_ip[i - info->san_dns_count]);
	fclose(f);
	ts_report_line(r, "names", TS_TONE_PLAIN, "%s", text);
	free(text);
}

static void cert_block(struct ts_report *r, const struct ts_cert_info *info, int64_t now)
{
	char nb[40], na[40], key[64];
	ts_cert_format_time(info->not_before, nb, sizeof nb);
	ts_cert_format_time(info->not_after, na, sizeof na);
	key_text(info, key, sizeof key);
	int64_t left = ts_cert_days_left(info->not_after, now);
	ts_report_line(r, "subject", TS_TONE_PLAIN, "%s", info->subject);
	names_text(r, info);
	ts_report_line(r, "issuer", TS_TONE_PLAIN, "%s", info->issuer);
	ts_report_line(r, "valid from", info->not_before > now ? TS_TONE_BAD : TS_TONE_PLAIN, "%s%s", nb,
	               info->not_before > now ? " (not yet valid)" : "");
	if (info->not_after < now) {
		long long ago = (long long)((now - info->not_after) / 86400);
		if (ago == 0)
			ts_report_line(r, "valid until", TS_TONE_BAD, "%s (expired less than a day ago)", na);
		else
			ts_report_line(r, "valid until", TS_TONE_BAD, "%s (expired %lld day%s ago)", na, ago,
			               ago == 1 ? "" : "s");
	} else
		ts_report_line(r, "valid until", left < 30 ? TS_TONE_WARN : TS_TONE_GOOD, "%s (%lld day%s left)",
		               na, (long long)left, left == 1 ? "" : "s");
	ts_report_line(r, "key", TS_TONE_PLAIN, "%s", key);
	ts_report_line(r, "signature", TS_TONE_PLAIN, "%s", info->signature_algorithm);
	ts_report_line(r, "sha256", TS_TONE_PLAIN, "%s", info->sha256);
	ts_report_line(r, "CA", TS_TONE_PLAIN, "%s%s", info->is_ca ? "yes" : "no",
	               info->self_signed ? " (self-signed)" : "");
}

void ts_report_cert(struct ts_report *r, const char *file, size_t index, size_t count,
                    const struct ts_cert_info *info, int64_t now)
{
	if (r->json) {
		json_t *o = ts_cert_info_json(info, now);
		json_object_set_new(o, "file", json_string(file));
		json_object_set_new(o, "index", json_integer((json_int_t)index));
		ts_report_json(r, o);
		return;
	}
	char title[600];
	snprintf(title, sizeof title, "certificate %zu of %zu in %s", index + 1, count, file);
	if (index > 0)
		fputc('\n', r->out);
	ts_report_text(r, TS_TONE_PLAIN, "%s%s%s", r->color ? "\033[1m" : "", title, ts_report_reset(r));
	cert_block(r, info, now);
}

void ts_report_cert_verify(struct ts_report *r, const char *file, const char *name,
                           const struct ts_verify_result *res, int64_t now)
{
	bool ok = res->error[0] == '\0';
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(file));
		json_object_set_new(o, "name", ts_json_string_or_null(name));
		json_object_set_new(o, "verified", json_boolean(ok));
		json_object_set_new(o, "trusted", json_boolean(res->trusted));
		json_object_set_new(o, "hostname_match", json_boolean(res->hostname_match));
		json_object_set_new(o, "error", ok ? json_null() : json_string(res->error));
		json_object_set_new(o, "waived", res->waived[0] != '\0' ? json_string(res->waived) : json_null());
		json_t *chain = json_array();
		for (size_t i = 0; i < res->built_count; i++)
			json_array_append_new(chain, ts_cert_info_json(&res->built[i], now));
		json_object_set_new(o, "chain", chain);
		ts_report_json(r, o);
		return;
	}
	ts_report_line(r, "file", TS_TONE_PLAIN, "%s", file);
	ts_report_line(r, "name", TS_TONE_PLAIN, "%s", name != NULL ? name : "(not checked)");
	if (ok)
		ts_report_line(r, "verdict", TS_TONE_GOOD, "%s", res->trusted ? "trusted" : "accepted (checks waived)");
	else
		ts_report_line(r, "verdict", TS_TONE_BAD, "not trusted: %s", res->error);
	if (res->waived[0] != '\0')
		ts_report_line(r, "waived", TS_TONE_WARN, "%s", res->waived);
	for (size_t i = 0; i < res->built_count; i++) {
		const struct ts_cert_info *c = &res->built[i];
		char na[40], key[64], label[32];
		ts_cert_format_time(c->not_after, na, sizeof na);
		key_text(c, key, sizeof key);
		snprintf(label, sizeof label, "chain[%zu]", i);
		ts_report_line(r, label, TS_TONE_PLAIN, "%s (%s, until %s%s)", c->subject, key, na,
		               c->self_signed ? ", self-signed" : "");
	}
}

void ts_report_cert_made(struct ts_report *r, const char *what, const char *cert_path,
                         const char *key_path, const char *chain_path,
                         const struct ts_cert_info *info, int64_t now)
{
	if (r->json) {
		json_t *o = ts_cert_info_json(info, now);
		json_object_set_new(o, "made", json_string(what));
		json_object_set_new(o, "cert_file", json_string(cert_path));
		json_object_set_new(o, "key_file", json_string(key_path));
		json_object_set_new(o, "chain_file", ts_json_string_or_null(chain_path));
		ts_report_json(r, o);
		return;
	}
	ts_report_line(r, "made", TS_TONE_GOOD, "%s", what);
	ts_report_line(r, "certificate file", TS_TONE_PLAIN, "%s", cert_path);
	ts_report_line(r, "key file", TS_TONE_PLAIN, "%s", key_path);
	if (chain_path != NULL)
		ts_report_line(r, "chain file", TS_TONE_PLAIN, "%s", chain_path);
	cert_block(r, info, now);
}
