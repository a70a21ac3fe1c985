/* probe: option checks and failures before any TLS, and its report (text
 * and JSON) from a result filled in by hand.  Live servers are in
 * tests/integration/test_probe.sh and test_starttls.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsscope/probe.h"
#include "tlsscope/report_probe.h"

#define assert_contains(hay, needle)                                                      \
	do {                                                                              \
		if (strstr((hay), (needle)) == NULL)                                      \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));          \
	} while (0)

static void stage_names(void **state)
{
	assert_null(ts_probe_stage_name(TS_PROBE_STAGE_NONE));
	assert_string_equal(ts_probe_stage_name(TS_PROBE_STAGE_RESOLVE), "resolve");
	assert_string_equal(ts_probe_stage_name(TS_PROBE_STAGE_CONNECT), "connect");
	assert_string_equal(ts_probe_stage_name(TS_PROBE_STAGE_STARTTLS), "starttls");
	assert_string_equal(ts_probe_stage_name(TS_PROBE_STAGE_HANDSHAKE), "handshake");
	assert_string_equal(ts_probe_stage_name(TS_PROBE_STAGE_VERIFY), "verify");
}

static void refuses_bad_options(void **state)
{
	struct ts_probe_result res;
	struct ts_error err = { 0 };
	ts_probe_result_init(&res);
	struct ts_probe_options none = { 0 };
	assert_int_equal(ts_probe_run(&none, &res, &err), TS_E_INVALID);
	assert_int_equal(res.failed_stage, TS_PROBE_STAGE_SETUP);
	ts_probe_result_clear(&res);

	ts_probe_result_init(&res);
	struct ts_probe_options badca = { .host = "127.0.0.1", .port = 443, .ca_path = "/nonexistent/ca.pem" };
	assert_int_equal(ts_probe_run(&badca, &res, &err), TS_E_FILE);
	assert_contains(err.msg, "/nonexistent/ca.pem");
	assert_false(res.connected);
	ts_probe_result_clear(&res);
	ts_probe_result_clear(NULL);
}

static void a_closed_port_is_a_connect_failure(void **state)
{
	/* a port we bound and closed: nobody listens */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	struct ts_probe_options opt = { .host = "127.0.0.1", .port = ntohs(sin.sin_port), .timeout_ms = 2000,
	                                .starttls_auto = true };
	struct ts_probe_result res;
	struct ts_error err = { 0 };
	ts_probe_result_init(&res);
	assert_int_equal(ts_probe_run(&opt, &res, &err), TS_E_CONNECT);
	assert_int_equal(res.failed_stage, TS_PROBE_STAGE_CONNECT);
	assert_int_equal(res.addrs.n, 1);
	assert_true(res.resolve_ms >= 0);
	assert_true(res.connect_ms >= 0);
	assert_true(res.handshake_ms < 0);
	assert_string_equal(res.name, "127.0.0.1");
	json_t *o = ts_probe_json(&res);
	assert_string_equal(json_string_value(json_object_get(o, "result")), "unreachable");
	assert_string_equal(json_string_value(json_object_get(o, "failed_stage")), "connect");
	assert_true(json_is_null(json_object_get(o, "address")));
	assert_true(json_is_null(json_object_get(o, "protocol")));
	assert_true(json_is_null(json_object_get(json_object_get(o, "timings_ms"), "handshake")));
	json_decref(o);
	ts_probe_result_clear(&res);
}

/* A result as a successful SMTP probe would leave it. */
static void fill(struct ts_probe_result *res)
{
	ts_probe_result_init(res);
	snprintf(res->host, sizeof res->host, "mx.example.test");
	snprintf(res->name, sizeof res->name, "mx.example.test");
	res->port = 25;
	res->addrs.n = 1;
	struct sockaddr_in *sin = (struct sockaddr_in *)&res->addrs.addr[0].ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(25);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	res->addrs.addr[0].len = sizeof *sin;
	res->connected = true;
	snprintf(res->address, sizeof res->address, "127.0.0.1:25");
	res->starttls = TS_STARTTLS_SMTP;
	free(res->preamble.transcript);
	res->preamble.transcript = strdup("S: 220 mx ESMTP\nC: EHLO tlsscope.invalid\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go\n");
	res->preamble.transcript_len = strlen(res->preamble.transcript);
	res->preamble.offered = res->preamble.accepted = true;
	res->handshake_done = true;
	snprintf(res->protocol, sizeof res->protocol, "TLSv1.2");
	snprintf(res->cipher_iana, sizeof res->cipher_iana, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	snprintf(res->cipher_openssl, sizeof res->cipher_openssl, "ECDHE-RSA-AES128-GCM-SHA256");
	snprintf(res->group, sizeof res->group, "x25519");
	res->forward_secrecy = true;
	snprintf(res->peer_signature, sizeof res->peer_signature, "rsa_pss_rsae_sha256");
	res->session_id_offered = true;
	res->resumption_tried = true;
	res->resumed = true;
	res->sct_certificate = 2;
	res->sct_tls = 1;
	res->ocsp.stapled = true;
	snprintf(res->ocsp.status, sizeof res->ocsp.status, "good");
	res->ocsp.this_update = 1767225600; /* 2026-01-01 */
	res->chain_count = res->chain_sent = 1;
	struct ts_cert_info *c = &res->chain[0];
	c->subject = strdup("CN=mx.example.test");
	c->issuer = strdup("CN=Test CA");
	c->san_dns = calloc(1, sizeof *c->san_dns);
	c->san_dns[0] = strdup("mx.example.test");
	c->san_dns_count = 1;
	c->not_before = 1767225600;
	c->not_after = 4102444800; /* 2100 */
	snprintf(c->key_type, sizeof c->key_type, "RSA");
	c->key_bits = 2048;
	snprintf(c->signature_algorithm, sizeof c->signature_algorithm, "sha256WithRSAEncryption");
	memset(c->sha256, 'a', 64);
	res->verified = true;
	res->verify.trusted = false;
	res->verify.hostname_match = true;
	snprintf(res->verify.error, sizeof res->verify.error, "issuer 'CN=Test CA' is not a trusted certificate authority");
	res->failed_stage = TS_PROBE_STAGE_VERIFY;
	res->status = TS_E_VERIFY;
	snprintf(res->error, sizeof res->error, "%s", res->verify.error);
	res->resolve_ms = 0.25;
	res->connect_ms = 0.5;
	res->starttls_ms = 3.125;
	res->handshake_ms = 4.0;
}

static void json_has_the_stable_names(void **state)
{
	struct ts_probe_result res;
	fill(&res);
	json_t *o = ts_probe_json(&res);
	char *s = json_dumps(o, JSON_COMPACT);
	static const char *const names[] = {
		"\"target\":{", "\"host\":\"mx.example.test\"", "\"port\":25", "\"name\":\"mx.example.test\"",
		"\"address\":\"127.0.0.1:25\"", "\"protocol\":\"TLSv1.2\"",
		"\"iana\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"", "\"openssl\":\"ECDHE-RSA-AES128-GCM-SHA256\"",
		"\"group\":\"x25519\"", "\"forward_secrecy\":true", "\"alpn\":null", "\"resumed\":true",
		"\"stapled\":true", "\"status\":\"good\"", "\"sct_count\":3", "\"certificates\":[{",
		"\"san_dns\":[\"mx.example.test\"]", "\"san_ip\":[]", "\"key_type\":\"RSA\"", "\"key_bits\":2048",
		"\"is_ca\":false", "\"signature_algorithm\":\"sha256WithRSAEncryption\"",
		"\"verification\":{", "\"trusted\":false", "\"hostname_match\":true",
		"\"error\":\"issuer 'CN=Test CA' is not a trusted certificate authority\"",
		"\"starttls\":{\"protocol\":\"smtp\"", "\"transcript\":[\"S: 220 mx ESMTP\",\"C: EHLO tlsscope.invalid\"",
		"\"timings_ms\":{\"resolve\":0.25,\"connect\":0.5,\"starttls\":3.125,\"handshake\":4.0}",
		"\"result\":\"untrusted\"", "\"this_update\":\"2026-01-01 00:00:00 UTC\"",
		"\"subject\":\"CN=mx.example.test\"", "\"issuer\":\"CN=Test CA\"",
		"\"not_before\":\"2026-01-01 00:00:00 UTC\"", "\"not_after\":\"2100-01-01 00:00:00 UTC\"",
		"\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
		"\"server_signature\":\"rsa_pss_rsae_sha256\"", "\"session_id_offered\":true",
		"\"sct\":{\"certificate\":2,\"tls\":1}",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_contains(s, names[i]);
	free(s);
	json_decref(o);
	ts_probe_result_clear(&res);
}

static void text_is_aligned_and_says_why(void **state)
{
	struct ts_probe_result res;
	fill(&res);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ts_report r;
	ts_report_init(&r, f, false);
	ts_report_probe(&r, &res);
	fclose(f);
	assert_contains(text, "\nprotocol ............ TLSv1.2\n");
	assert_contains(text, "cipher .............. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (OpenSSL: ECDHE-RSA-AES128-GCM-SHA256)\n");
	assert_contains(text, "key exchange ........ x25519, forward secret\n");
	assert_contains(text, "starttls ............ smtp (upgrade accepted)\n");
	assert_contains(text, "scts ................ 2 in the certificate, 1 in the TLS extension\n");
	assert_contains(text, "NOT TRUSTED: issuer 'CN=Test CA' is not a trusted certificate authority");
	assert_contains(text, "  C: STARTTLS\n");
	assert_null(strstr(text, "\033[")); /* no colour off a terminal */
	free(text);
	ts_probe_result_clear(&res);
}

/* A static RSA key exchange (no group) and a stapled revocation are shown
 * as problems: in bold red on a terminal. */
static void text_highlights_problems(void **state)
{
	struct ts_probe_result res;
	fill(&res);
	res.forward_secrecy = false;
	res.group[0] = '\0';
	snprintf(res.ocsp.status, sizeof res.ocsp.status, "revoked");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ts_report r;
	ts_report_init(&r, f, false);
	r.color = true;
	ts_report_probe(&r, &res);
	fclose(f);
	assert_contains(text, "key exchange ........ \033[1;31m(group unknown), NOT forward secret\033[0m\n");
	assert_contains(text, "ocsp stapling ....... \033[1;31mrevoked (this update 2026-01-01 00:00:00 UTC");
	assert_contains(text, "\033[1;31mNOT TRUSTED: issuer 'CN=Test CA'");
	free(text);
	ts_probe_result_clear(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stage_names),
		cmocka_unit_test(refuses_bad_options),
		cmocka_unit_test(a_closed_port_is_a_connect_failure),
		cmocka_unit_test(json_has_the_stable_names),
		cmocka_unit_test(text_is_aligned_and_says_why),
		cmocka_unit_test(text_highlights_problems),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
