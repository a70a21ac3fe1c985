#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlsscope/registry.h"
#include "tlsscope/report_scan.h"
#include "tlsscope/scan.h"

static void blank(struct ts_scan_result *r)
{
	memset(r, 0, sizeof *r);
	for (int v = 0; v < TS_SV_COUNT; v++) {
		r->protocols[v] = TS_NO;
		r->server_order[v] = TS_UNKNOWN;
	}
	r->secure_renegotiation = r->compression = r->fallback_scsv = TS_UNKNOWN;
	r->session_id = r->session_ticket = r->ocsp_stapling = TS_UNKNOWN;
	r->heartbeat = r->heartbleed = r->ccs_injection = r->alpn_tested = TS_UNKNOWN;
	r->resumption = r->hsts = TS_UNKNOWN;
}

static const struct ts_scan_finding *find(const struct ts_scan_result *r, const char *id)
{
	for (size_t i = 0; i < r->n_findings; i++)
		if (strcmp(r->findings[i].id, id) == 0)
			return &r->findings[i];
	return NULL;
}

static void add_suite(struct ts_scan_result *r, int v, const char *name)
{
	const struct ts_suite_info *s = ts_suite_by_name(name);
	assert_non_null(s);
	r->suites[v][r->n_suites[v]++] = s->code;
	r->protocols[v] = TS_YES;
}

static void weak_server_gets_each_finding(void **state)
{
	(void)state;
	struct ts_scan_result r;
	blank(&r);
	add_suite(&r, TS_SV_SSL3, "TLS_RSA_EXPORT_WITH_RC4_40_MD5");
	add_suite(&r, TS_SV_TLS10, "TLS_RSA_WITH_RC4_128_SHA");
	add_suite(&r, TS_SV_TLS10, "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
	add_suite(&r, TS_SV_TLS12, "TLS_RSA_WITH_NULL_SHA256");
	add_suite(&r, TS_SV_TLS12, "TLS_DH_anon_WITH_AES_128_CBC_SHA");
	r.protocols[TS_SV_SSL2] = TS_YES;
	r.ssl2_specs[r.n_ssl2_specs++] = 0x020080;
	r.dh_bits = 512;
	r.fallback_scsv = TS_NO;
	r.secure_renegotiation = TS_NO;
	r.compression = TS_YES;
	r.heartbleed = TS_YES;
	r.ccs_injection = TS_YES;
	r.ocsp_stapling = TS_NO;
	r.hsts = TS_NO;
	r.server_order[TS_SV_TLS10] = TS_NO;
	ts_scan_findings(&r, (int64_t)time(NULL));
	const char *ids[] = { "sslv2", "sslv3", "tls1_0", "export_cipher", "rc4", "sweet32",
	                      "null_cipher", "anonymous_cipher", "beast", "no_forward_secrecy",
	                      "weak_dh", "no_fallback_scsv", "insecure_renegotiation",
	                      "compression", "heartbleed", "ccs_injection", "no_ocsp_stapling",
	                      "no_hsts", "lucky13", "client_order" };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		const struct ts_scan_finding *f = find(&r, ids[i]);
		if (f == NULL)
			fail_msg("finding %s missing", ids[i]);
		assert_true(strlen(f->text) > 10);
		assert_non_null(strchr(f->text, '.'));
	}
	assert_null(find(&r, "tls1_1"));
	assert_int_equal(find(&r, "sslv2")->severity, TS_SEV_CRITICAL);
	assert_int_equal(find(&r, "weak_dh")->severity, TS_SEV_HIGH);
	assert_non_null(strstr(find(&r, "rc4")->text, "TLS_RSA_WITH_RC4_128_SHA"));
	assert_int_equal(ts_scan_worst(&r), TS_SEV_CRITICAL);
}

static void good_server_gets_none(void **state)
{
	(void)state;
	struct ts_scan_result r;
	blank(&r);
	add_suite(&r, TS_SV_TLS13, "TLS_AES_128_GCM_SHA256");
	add_suite(&r, TS_SV_TLS12, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	r.fallback_scsv = TS_YES;
	r.secure_renegotiation = TS_YES;
	r.compression = TS_NO;
	r.heartbleed = TS_NO;
	r.ccs_injection = TS_NO;
	r.ocsp_stapling = TS_YES;
	ts_scan_findings(&r, (int64_t)time(NULL));
	assert_int_equal(r.n_findings, 0);
	assert_int_equal(ts_scan_worst(&r), -1);
}

static void certificate_findings(void **state)
{
	(void)state;
	struct ts_scan_result r;
	blank(&r);
	add_suite(&r, TS_SV_TLS12, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	struct ts_scan_cert *c = &r.certs[r.n_certs++];
	snprintf(c->auth, sizeof c->auth, "RSA");
	snprintf(c->leaf.key_type, sizeof c->leaf.key_type, "RSA");
	c->leaf.key_bits = 1024;
	snprintf(c->leaf.signature_algorithm, sizeof c->leaf.signature_algorithm,
	         "sha1WithRSAEncryption");
	c->expired = true;
	c->leaf.not_after = 1000;
	snprintf(c->verify_error, sizeof c->verify_error, "name mismatch: wanted 'a', certificate is for 'b'");
	ts_scan_findings(&r, (int64_t)time(NULL));
	assert_non_null(find(&r, "weak_rsa_key"));
	assert_non_null(find(&r, "sha1_signature"));
	assert_non_null(find(&r, "cert_expired"));
	assert_non_null(find(&r, "cert_name_mismatch"));
	assert_non_null(find(&r, "cert_untrusted"));
	assert_non_null(strstr(find(&r, "cert_expired")->text, "1970-01-01"));
}

static void severity_names_round_trip(void **state)
{
	(void)state;
	enum ts_severity s;
	struct ts_error err = { 0 };
	for (int i = TS_SEV_INFO; i <= TS_SEV_CRITICAL; i++) {
		assert_int_equal(ts_severity_parse(ts_severity_name((enum ts_severity)i), &s, &err), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(ts_severity_parse("HIGH", &s, &err), 0);
	assert_int_equal(s, TS_SEV_HIGH);
	assert_int_equal(ts_severity_parse("severe", &s, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "severe"));
	assert_string_equal(ts_scan_version_key(TS_SV_TLS12), "tls1_2");
	assert_string_equal(ts_scan_version_name(TS_SV_SSL2), "SSLv2");
	assert_int_equal(ts_scan_version_code(TS_SV_TLS13), 0x0304);
	assert_string_equal(ts_ssl2_cipher_name(0x0700c0), "SSL_CK_DES_192_EDE3_CBC_WITH_MD5");
	assert_string_equal(ts_ssl2_cipher_name(0x123456), "0x123456");
}

static void json_has_the_documented_names(void **state)
{
	(void)state;
	struct ts_scan_result r;
	blank(&r);
	snprintf(r.target, sizeof r.target, "a.test:443");
	add_suite(&r, TS_SV_TLS12, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	add_suite(&r, TS_SV_TLS12, "TLS_RSA_WITH_AES_128_CBC_SHA");
	r.server_order[TS_SV_TLS12] = TS_YES;
	r.connections = 7;
	ts_scan_findings(&r, (int64_t)time(NULL));
	json_t *o = ts_scan_result_json(&r);
	const char *keys[] = { "target", "protocols", "ciphers", "server_order", "groups", "sigalgs",
	                       "certificates", "findings", "connections", "elapsed_ms", "behaviour" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_non_null(json_object_get(o, keys[i]));
	json_t *c12 = json_object_get(json_object_get(o, "ciphers"), "tls1_2");
	assert_int_equal(json_array_size(c12), 2);
	assert_string_equal(json_string_value(json_array_get(c12, 0)),
	                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_true(json_is_true(json_object_get(json_object_get(o, "protocols"), "tls1_2")));
	assert_true(json_is_false(json_object_get(json_object_get(o, "protocols"), "tls1_0")));
	assert_true(json_is_true(json_object_get(json_object_get(o, "server_order"), "tls1_2")));
	json_t *f = json_array_get(json_object_get(o, "findings"), 0);
	assert_non_null(json_object_get(f, "id"));
	assert_non_null(json_object_get(f, "severity"));
	assert_non_null(json_object_get(f, "text"));
	assert_int_equal(json_integer_value(json_object_get(o, "connections")), 7);
	json_decref(o);
}

static void unreachable_target_is_reported(void **state)
{
	(void)state;
	/* a port nobody listens on: bind, learn the port, close */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	char target[64];
	snprintf(target, sizeof target, "127.0.0.1:%u", ntohs(a.sin_port));
	const char *targets[] = { target, "bad:port:x" };
	struct ts_scan_result res[2];
	struct ts_scan_options opt;
	ts_scan_options_init(&opt);
	opt.timeout_ms = 2000;
	struct ts_error err = { 0 };
	assert_int_equal(ts_scan_run(targets, 2, &opt, res, NULL, NULL, &err), 0);
	assert_int_equal(res[0].status, TS_E_CONNECT);
	assert_true(strlen(res[0].error) > 0);
	assert_int_not_equal(res[1].status, TS_OK);
	for (int i = 0; i < 2; i++)
		ts_scan_result_clear(&res[i]);
	opt.max_connections = 1000;
	assert_int_equal(ts_scan_run(targets, 1, &opt, res, NULL, NULL, &err), TS_E_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(weak_server_gets_each_finding),
		cmocka_unit_test(good_server_gets_none),
		cmocka_unit_test(certificate_findings),
		cmocka_unit_test(severity_names_round_trip),
		cmocka_unit_test(json_has_the_documented_names),
		cmocka_unit_test(unreachable_target_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
