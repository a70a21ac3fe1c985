#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/identify.h"

/* A synthetic site: /a and /b are 20 bytes apart (only their sub-resources
 * tell them apart), /old redirects to /c. */
static const char site[] =
	"{\"format\":\"tlsscope-catalog\",\"version\":1,\"start_url\":\"https://site.test/a\","
	"\"host\":\"site.test\",\"port\":443,\"address\":\"192.0.2.7\",\"pages\":["
	"{\"url\":\"https://site.test/a\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":5000},"
	" \"refs\":[\"https://site.test/s.css\",\"https://site.test/a.png\"]},"
	"{\"url\":\"https://site.test/b\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":5020},"
	" \"refs\":[\"https://site.test/s.css\",\"https://site.test/b.png\"]},"
	"{\"url\":\"https://site.test/c\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":12000},"
	" \"identity\":{\"status\":200,\"header_bytes\":180,\"body_bytes\":40000},"
	" \"refs\":[\"https://site.test/s.css\"]},"
	"{\"url\":\"https://site.test/d\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":20000}},"
	"{\"url\":\"https://site.test/e\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":9000}},"
	"{\"url\":\"https://site.test/old\",\"encoded\":{\"status\":301,\"header_bytes\":150,\"body_bytes\":170},"
	" \"redirect\":\"https://site.test/c\"}"
	"],\"resources\":["
	"{\"url\":\"https://site.test/s.css\",\"kind\":\"stylesheet\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":800}},"
	"{\"url\":\"https://site.test/a.png\",\"kind\":\"image\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":3000}},"
	"{\"url\":\"https://site.test/b.png\",\"kind\":\"image\",\"encoded\":{\"status\":200,\"header_bytes\":200,\"body_bytes\":7000}}"
	"]}";

struct fixture {
	struct ts_catalog *cat;
	struct ts_id_input in;
	struct ts_id_result res;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct ts_error err = { 0 };
	if (ts_catalog_parse(site, strlen(site), &f->cat, &err) != TS_OK) {
		fprintf(stderr, "catalog: %s\n", err.msg);
		return -1;
	}
	ts_id_input_init(&f->in);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ts_id_result_clear(&f->res);
	ts_id_input_clear(&f->in);
	ts_catalog_free(f->cat);
	free(f);
	return 0;
}

/* Adds a connection to site.test with responses given as (time, size) pairs. */
static void conn(struct fixture *f, const char *sni, uint16_t version, bool h2, size_t n, ...)
{
	struct ts_id_conn c = { .server_port = 443, .version = version, .h2 = h2 };
	snprintf(c.sni, sizeof c.sni, "%s", sni);
	snprintf(c.server_addr, sizeof c.server_addr, "192.0.2.7");
	struct ts_id_response r[16];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		r[i] = (struct ts_id_response){ .t = va_arg(ap, double) };
		r[i].size = r[i].size_min = (uint64_t)va_arg(ap, int);
	}
	va_end(ap);
	c.responses = r;
	c.n_responses = n;
	assert_true(ts_id_input_add(&f->in, &c, NULL) >= 0);
}

static void identify(struct fixture *f)
{
	struct ts_error err = { 0 };
	ts_id_result_clear(&f->res);
	assert_int_equal(ts_identify(f->cat, &f->in, NULL, &f->res, &err), TS_OK);
}

static const char *page(struct fixture *f, size_t load, size_t rank)
{
	assert_true(load < f->res.n_loads);
	assert_true(rank < f->res.loads[load].n_guesses);
	return f->cat->entries[f->res.loads[load].guesses[rank].entry].url;
}

static double confidence(struct fixture *f, size_t load)
{
	return f->res.loads[load].guesses[0].confidence;
}

static void a_unique_size_is_named_with_confidence(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 1, 10.0, 12200 + 9);
	identify(f);
	assert_int_equal(f->res.n_loads, 1);
	assert_string_equal(page(f, 0, 0), "https://site.test/c");
	assert_true(confidence(f, 0) > 0.95);
	assert_false(f->res.loads[0].unknown);
	assert_true(f->res.loads[0].guesses[0].encoded);
}

static void the_identity_encoding_is_recognised_too(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 1, 10.0, 40180);
	identify(f);
	assert_string_equal(page(f, 0, 0), "https://site.test/c");
	assert_false(f->res.loads[0].guesses[0].encoded);
}

static void subresources_break_a_tie(void **state)
{
	struct fixture *f = *state;
	/* Document half-way between /a and /b; the page's image is b.png. */
	conn(f, "site.test", 0x0303, false, 3, 10.0, 5210, 10.05, 1000, 10.08, 7200);
	identify(f);
	assert_int_equal(f->res.n_loads, 1);
	assert_int_equal(f->res.loads[0].responses, 3);
	assert_string_equal(page(f, 0, 0), "https://site.test/b");
	assert_string_equal(page(f, 0, 1), "https://site.test/a");
	assert_int_equal(f->res.loads[0].guesses[0].subresources_matched, 2);
	assert_true(confidence(f, 0) > 0.6);
}

static void without_subresources_a_tie_stays_a_tie(void **state)
{
	struct fixture *f = *state;
	/* Warm cache: the document alone. */
	conn(f, "site.test", 0x0303, false, 1, 10.0, 5210);
	identify(f);
	const char *one = page(f, 0, 0), *two = page(f, 0, 1);
	assert_true((strcmp(one, "https://site.test/a") == 0 && strcmp(two, "https://site.test/b") == 0) ||
	            (strcmp(one, "https://site.test/b") == 0 && strcmp(two, "https://site.test/a") == 0));
	assert_true(confidence(f, 0) < 0.6);
}

static void keep_alive_pages_on_one_connection(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 5, 10.0, 12200, 10.02, 1000, 10.3, 20200, 10.6, 9200, 10.9, 5200);
	identify(f);
	assert_int_equal(f->res.n_loads, 4);
	assert_string_equal(page(f, 0, 0), "https://site.test/c");
	assert_int_equal(f->res.loads[0].responses, 2);
	assert_string_equal(page(f, 1, 0), "https://site.test/d");
	assert_string_equal(page(f, 2, 0), "https://site.test/e");
	assert_string_equal(page(f, 3, 0), "https://site.test/a");
}

static void subresources_over_parallel_connections_join_the_load(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 1, 10.0, 5200);
	conn(f, "site.test", 0x0303, false, 1, 10.10, 1000);
	conn(f, "site.test", 0x0303, false, 1, 10.11, 3200);
	/* Much later, another page on the second connection's successor. */
	conn(f, "site.test", 0x0303, false, 1, 30.0, 20200);
	identify(f);
	assert_int_equal(f->res.conns_site, 4);
	assert_int_equal(f->res.n_loads, 2);
	assert_string_equal(page(f, 0, 0), "https://site.test/a");
	assert_int_equal(f->res.loads[0].responses, 3);
	assert_string_equal(page(f, 1, 0), "https://site.test/d");
}

static void a_late_subresource_still_joins_the_load(void **state)
{
	struct fixture *f = *state;
	/* The image comes 3 s after its page (a slow browser): it fits the
	 * page's sub-resource and no page, so it is no new page load. */
	conn(f, "site.test", 0x0303, false, 1, 10.0, 5200);
	conn(f, "site.test", 0x0303, false, 1, 13.0, 3200);
	identify(f);
	assert_int_equal(f->res.n_loads, 1);
	assert_int_equal(f->res.loads[0].responses, 2);
	/* A page after the same pause is the next load. */
	conn(f, "site.test", 0x0303, false, 1, 16.0, 9200);
	identify(f);
	assert_int_equal(f->res.n_loads, 2);
	assert_string_equal(page(f, 1, 0), "https://site.test/e");
}

static void a_redirect_is_followed_to_its_target(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 2, 10.0, 320, 10.01, 12200);
	identify(f);
	assert_int_equal(f->res.n_loads, 1);
	assert_string_equal(page(f, 0, 0), "https://site.test/c");
	assert_int_equal(f->res.loads[0].redirect_entry,
	                 ts_catalog_find(f->cat, "https://site.test/old") - f->cat->entries);
	assert_int_equal(f->res.loads[0].observed, 12200);
}

static void other_sites_are_ignored_and_the_address_counts_without_sni(void **state)
{
	struct fixture *f = *state;
	conn(f, "other.test", 0x0303, false, 1, 10.0, 12200);
	conn(f, "", 0x0303, false, 1, 20.0, 20200);
	identify(f);
	assert_int_equal(f->res.conns_other, 1);
	assert_int_equal(f->res.conns_site, 1);
	assert_int_equal(f->res.n_loads, 1);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
	f->in.conns[1].server_addr[0] = '9';
	identify(f);
	assert_int_equal(f->res.n_loads, 0);
	assert_int_equal(f->res.conns_other, 2);
}

static void a_size_far_from_every_page_is_unknown(void **state)
{
	struct fixture *f = *state;
	conn(f, "site.test", 0x0303, false, 1, 10.0, 100000);
	identify(f);
	assert_int_equal(f->res.n_loads, 1);
	assert_true(f->res.loads[0].unknown);
	assert_true(confidence(f, 0) < 0.05);
}

static void tls13_session_tickets_in_the_first_burst(void **state)
{
	struct fixture *f = *state;
	/* Two ~265-byte tickets ride with the first response; the second has none. */
	conn(f, "site.test", 0x0304, false, 2, 10.0, 20200 + 530, 11.0, 9200);
	identify(f);
	assert_int_equal(f->res.n_loads, 2);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
	assert_string_equal(page(f, 1, 0), "https://site.test/e");
	/* Without the tickets the first response is still named. */
	f->in.conns[0].responses[0].size = f->in.conns[0].responses[0].size_min = 20200;
	identify(f);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
	assert_true(confidence(f, 0) > 0.8);
}

static void tickets_are_learnt_from_extra_records(void **state)
{
	struct fixture *f = *state;
	/* Three connections whose first burst has two records more than the
	 * response needs: two 265-byte tickets each. */
	conn(f, "site.test", 0x0304, false, 1, 10.0, 20200 + 530);
	conn(f, "site.test", 0x0304, false, 1, 20.0, 9200 + 530);
	conn(f, "site.test", 0x0304, false, 1, 30.0, 12200 + 530);
	f->in.conns[0].responses[0].records = 4;
	f->in.conns[1].responses[0].records = 3;
	f->in.conns[2].responses[0].records = 3;
	identify(f);
	assert_int_equal(f->res.n_loads, 3);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
	assert_string_equal(page(f, 1, 0), "https://site.test/e");
	assert_string_equal(page(f, 2, 0), "https://site.test/c");
	for (size_t i = 0; i < 3; i++)
		assert_true(confidence(f, i) > 0.9);
	/* One record only: no tickets in the burst, so no allowance for them. */
	f->in.conns[2].responses[0].records = 1;
	identify(f);
	assert_true(f->res.loads[2].unknown);
}

static void a_lone_ticket_ahead_of_a_response_is_taken_off(void **state)
{
	struct fixture *f = *state;
	/* A full handshake's two 287-byte ticket records came alone, before the
	 * request; a resumed connection's single ticket rides ahead of its first
	 * response, where the observer reports it as the first record. */
	conn(f, "site.test", 0x0304, false, 1, 10.0, 20200);
	conn(f, "site.test", 0x0304, false, 1, 20.0, 9200 + 265);
	f->in.conns[0].unsolicited_bytes = 574;
	f->in.conns[0].unsolicited_records = 2;
	struct ts_id_response *r = &f->in.conns[1].responses[0];
	r->tickets_handled = true;
	r->records = 2;
	r->lead = 265;
	identify(f);
	assert_int_equal(f->res.n_loads, 2);
	assert_string_equal(page(f, 1, 0), "https://site.test/e");
	assert_int_equal(f->res.loads[1].observed, 9200);
	/* A first record of another size is the response's own. */
	r->lead = 300;
	identify(f);
	assert_int_equal(f->res.loads[1].observed, 9200 + 265);
}

static void hidden_alpn_models_both_protocols(void **state)
{
	struct fixture *f = *state;
	/* TLS 1.3 hides the ALPN choice; h2 was offered.  The opening exchange
	 * (preface and SETTINGS) is not a page; then one HTTP/2, one HTTP/1.1-sized
	 * document on two connections. */
	conn(f, "site.test", 0x0304, false, 2, 10.0, 40, 10.01, 20000 + 27 + 90);
	conn(f, "site.test", 0x0304, false, 1, 20.0, 9200);
	f->in.conns[0].h2_offered = f->in.conns[1].h2_offered = true;
	f->in.conns[0].responses[0].request_size = 64;
	identify(f);
	assert_int_equal(f->res.n_loads, 2);
	assert_true(f->res.loads[0].h2);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
	assert_string_equal(page(f, 1, 0), "https://site.test/e");
}

static void http2_bursts_are_modelled(void **state)
{
	struct fixture *f = *state;
	/* 20000 body bytes: 2 DATA frames + HEADERS, headers HPACK-compressed. */
	conn(f, "site.test", 0x0304, true, 1, 10.0, 20000 + 27 + 90);
	identify(f);
	assert_true(f->res.loads[0].h2);
	assert_string_equal(page(f, 0, 0), "https://site.test/d");
}

static void observe_json_lines_are_read(void **state)
{
	struct fixture *f = *state;
	static const char lines[] =
		"{\"type\":\"dns\",\"name\":\"site.test\"}\n"
		"\n"
		"{\"type\":\"tls\",\"ts\":9.5,\"sni\":\"site.test\",\"dns_name\":null,"
		"\"server\":{\"ip\":\"192.0.2.7\",\"port\":443},\"client\":{\"ip\":\"192.0.2.1\",\"port\":50000},"
		"\"version\":\"TLSv1.2\",\"alpn\":\"http/1.1\",\"exchanges\":["
		"{\"t\":10.0,\"request_plaintext_estimate\":300,\"response_plaintext_estimate\":12210,\"response_plaintext_min\":12200},"
		"{\"t\":10.5,\"request_plaintext_estimate\":300,\"response_plaintext_estimate\":0}]}\n";
	struct ts_error err = { 0 };
	assert_int_equal(ts_id_input_parse_observe_json(&f->in, lines, strlen(lines), &err), TS_OK);
	assert_int_equal(f->in.n_conns, 1);
	const struct ts_id_conn *c = &f->in.conns[0];
	assert_string_equal(c->sni, "site.test");
	assert_int_equal(c->version, 0x0303);
	assert_int_equal(c->client_port, 50000);
	assert_false(c->h2);
	assert_int_equal(c->n_responses, 1);
	assert_int_equal(c->responses[0].size_min, 12200);
	identify(f);
	assert_string_equal(page(f, 0, 0), "https://site.test/c");

	static const char bad_line[] = "{\"type\":\"tls\"}\nnot json\n";
	assert_int_equal(ts_id_input_parse_observe_json(&f->in, bad_line, strlen(bad_line), &err),
	                 TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "line 2"));
	static const char bad_ex[] = "{\"type\":\"tls\",\"exchanges\":[{\"t\":\"x\"}]}";
	assert_int_equal(ts_id_input_parse_observe_json(&f->in, bad_ex, strlen(bad_ex), &err),
	                 TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "line 1: exchanges[0]"));
}

static void ambiguous_pages_are_counted(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(ts_identify_ambiguous_pages(f->cat, 48), 2);
	assert_int_equal(ts_identify_ambiguous_pages(f->cat, 10), 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_unique_size_is_named_with_confidence),
		T(the_identity_encoding_is_recognised_too),
		T(subresources_break_a_tie),
		T(without_subresources_a_tie_stays_a_tie),
		T(keep_alive_pages_on_one_connection),
		T(subresources_over_parallel_connections_join_the_load),
		T(a_late_subresource_still_joins_the_load),
	T(a_redirect_is_followed_to_its_target),
		T(other_sites_are_ignored_and_the_address_counts_without_sni),
		T(a_size_far_from_every_page_is_unknown),
		T(tls13_session_tickets_in_the_first_burst),
		T(tickets_are_learnt_from_extra_records),
		T(a_lone_ticket_ahead_of_a_response_is_taken_off),
	T(hidden_alpn_models_both_protocols),
		T(http2_bursts_are_modelled),
		T(observe_json_lines_are_read),
		T(ambiguous_pages_are_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
