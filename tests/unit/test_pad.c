#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/pad.h"

/* ---- policies ---- */

static struct ts_pad_policy policy(const char *spec)
{
	struct ts_pad_policy p;
	struct ts_error err = { 0 };
	assert_int_equal(ts_pad_policy_parse(spec, &p, &err), TS_OK);
	return p;
}

static void policies_round_up(void **state)
{
	struct ts_pad_policy p = policy("none");
	assert_int_equal(ts_pad_target(&p, 1234), 1234);
	p = policy("block:512");
	assert_string_equal(p.name, "block:512");
	assert_int_equal(ts_pad_target(&p, 1), 512);
	assert_int_equal(ts_pad_target(&p, 512), 512);
	assert_int_equal(ts_pad_target(&p, 513), 1024);
	assert_int_equal(ts_pad_target(&p, 0), 0);
	p = policy("pow2");
	assert_int_equal(ts_pad_target(&p, 1000), 1024);
	assert_int_equal(ts_pad_target(&p, 1024), 1024);
	assert_int_equal(ts_pad_target(&p, 1025), 2048);
	assert_int_equal(ts_pad_target(&p, UINT64_MAX), UINT64_MAX); /* bounded: no overflow */
	p = policy("buckets");
	assert_string_equal(p.name, "buckets:1.1");
	assert_int_equal(ts_pad_target(&p, 1), 256);
	assert_int_equal(ts_pad_target(&p, 256), 256);
	assert_int_equal(ts_pad_target(&p, 257), 282);   /* ceil(256 * 1.1) */
	assert_int_equal(ts_pad_target(&p, 283), 311);   /* ceil(282 * 1.1) */
	/* every boundary is a fixed point, and overhead stays under the ratio */
	for (uint64_t len = 200; len < 3000000; len = len * 3 / 2 + 7) {
		uint64_t t = ts_pad_target(&p, len);
		assert_true(t >= len);
		assert_int_equal(ts_pad_target(&p, t), t);
		if (len > 256)
			assert_true((double)t <= (double)len * 1.1 + 1);
	}
	p = policy("buckets:1.5");
	assert_int_equal(ts_pad_target(&p, 257), 384);
	assert_int_equal(ts_pad_target(&p, UINT64_MAX - 3), UINT64_MAX - 3);
}

static void bad_policies_are_refused(void **state)
{
	const char *bad[] = { "", "block", "block:", "block:0", "block:x", "block:16777217", "block:-1",
	                      "pow2:3", "buckets:1", "buckets:5", "buckets:abc", "buckets:1.1x", "none:1", "zebra" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ts_pad_policy p;
		struct ts_error err = { 0 };
		assert_int_equal(ts_pad_policy_parse(bad[i], &p, &err), TS_E_INVALID);
		assert_true(err.msg[0] != '\0');
	}
}

/* ---- the framer ---- */

struct ends {
	size_t n;
	size_t at[32];      /* offset just after each response */
	uint64_t pad[32];
};

/* Feeds the requests, then the responses in pieces of `step` bytes (0: split
 * once at `split`).  Returns false when the tracker gave up. */
static bool run(const char *pol, const char *req, const char *resp, size_t step, size_t split, struct ends *e)
{
	struct ts_pad_policy p = policy(pol);
	struct ts_pad *t = ts_pad_new(&p);
	assert_non_null(t);
	ts_pad_request(t, req, strlen(req));
	memset(e, 0, sizeof *e);
	size_t len = strlen(resp), off = 0;
	while (off < len) {
		size_t piece = step > 0 ? step : (off < split ? split - off : len - off);
		if (piece > len - off)
			piece = len - off;
		size_t done = 0;
		while (done < piece) {
			uint64_t pad;
			bool ended;
			size_t n = ts_pad_response(t, resp + off + done, piece - done, &pad, &ended);
			assert_true(n > 0 && n <= piece - done);
			done += n;
			if (ended) {
				assert_true(e->n < 32);
				e->at[e->n] = off + done;
				e->pad[e->n++] = pad;
			}
		}
		off += piece;
	}
	bool ok = !ts_pad_passthrough(t);
	if (!ok)
		assert_true(ts_pad_error(t)[0] != '\0');
	ts_pad_free(t);
	return ok;
}

/* The same ends whatever the split: byte by byte, and at every boundary. */
static void expect_ends(const char *pol, const char *req, const char *resp, const size_t *at, size_t n)
{
	struct ends e;
	size_t len = strlen(resp);
	for (size_t split = 0; split <= len; split++) {
		assert_true(run(pol, req, resp, 0, split, &e));
		assert_int_equal(e.n, n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(e.at[i], at[i]);
	}
	assert_true(run(pol, req, resp, 1, 0, &e));
	assert_int_equal(e.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(e.at[i], at[i]);
}

#define GET(p) "GET " p " HTTP/1.1\r\nHost: x\r\n\r\n"

static void content_length_responses(void **state)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
	const char *r2 = "HTTP/1.1 404 Not Found\r\ncontent-length:  3 \r\n\r\nno!";
	char resp[256];
	snprintf(resp, sizeof resp, "%s%s", r1, r2);
	size_t at[] = { strlen(r1), strlen(r1) + strlen(r2) };
	expect_ends("block:100", GET("/a") GET("/b"), resp, at, 2);
	struct ends e;
	run("block:100", GET("/a") GET("/b"), resp, 0, 0, &e);
	assert_int_equal(e.pad[0], 100 - strlen(r1));
	assert_int_equal(e.pad[1], 100 - strlen(r2));
}

static void chunked_with_extensions_and_trailers(void **state)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	                 "5;name=value\r\nhello\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\nMore: y\r\n\r\n";
	const char *r2 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	char resp[512];
	snprintf(resp, sizeof resp, "%s%s", r1, r2);
	size_t at[] = { strlen(r1), strlen(r1) + strlen(r2) };
	expect_ends("pow2", GET("/a") GET("/b"), resp, at, 2);
}

static void bodiless_responses(void **state)
{
	/* HEAD: Content-Length says the GET's size, no body follows; 204, 304;
	 * a 100 Continue belongs to the response after it */
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
	const char *r2 = "HTTP/1.1 204 No Content\r\n\r\n";
	const char *r3 = "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n";
	const char *r4 = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	char resp[512];
	snprintf(resp, sizeof resp, "%s%s%s%s", r1, r2, r3, r4);
	size_t a1 = strlen(r1), a2 = a1 + strlen(r2), a3 = a2 + strlen(r3), a4 = a3 + strlen(r4);
	size_t at[] = { a1, a2, a3, a4 };
	expect_ends("buckets", "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n" GET("/b") GET("/c")
	            "POST /d HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
	            resp, at, 4);
	struct ends e;
	run("block:1000", "HEAD /a HTTP/1.1\r\n\r\n" GET("/b") GET("/c")
	    "POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", resp, 0, 0, &e);
	assert_int_equal(e.n, 4);
	assert_int_equal(e.pad[3], 1000 - strlen(r4)); /* interim response counted in */
}

static void malformed_streams_pass_through(void **state)
{
	struct ends e;
	const char *bad[] = {
		"HTTP/2 200\r\n\r\n",
		"SSH-2.0-x\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef0\r\n",
		"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nbody until close",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(run("pow2", GET("/"), bad[i], 0, 0, &e));
	/* a response to no request */
	assert_false(run("pow2", "", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, &e));
	/* an endless header line */
	static char longline[TS_PAD_LINE_MAX + 64];
	memset(longline, 'a', sizeof longline - 1);
	memcpy(longline, "HTTP/1.1 200 OK\r\nX: ", 20);
	assert_false(run("pow2", GET("/"), longline, 0, 0, &e));
	/* a request line that is not HTTP/1.x stops the tracker too */
	assert_false(run("pow2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, &e));
}

static void counts_pending_requests(void **state)
{
	/* more pipelined requests than the cap: give up, not overflow */
	static char many[(TS_PAD_PENDING_MAX + 1) * 32];
	size_t off = 0;
	for (int i = 0; i <= TS_PAD_PENDING_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof many - off, "GET / HTTP/1.1\r\n\r\n");
	struct ts_pad_policy p = policy("pow2");
	struct ts_pad *t = ts_pad_new(&p);
	ts_pad_request(t, many, off);
	assert_true(ts_pad_passthrough(t));
	ts_pad_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policies_round_up),
		cmocka_unit_test(bad_policies_are_refused),
		cmocka_unit_test(content_length_responses),
		cmocka_unit_test(chunked_with_extensions_and_trailers),
		cmocka_unit_test(bodiless_responses),
		cmocka_unit_test(malformed_streams_pass_through),
		cmocka_unit_test(counts_pending_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
