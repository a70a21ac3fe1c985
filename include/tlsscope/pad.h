/* tlsscope: response padding for a TLS front end (`serve --forward --pad`).
 *
 * An observer of an HTTP/1.1 connection sees each response as one burst of
 * records and sums it: the total is the page's size.  Padding single
 * records does not hide it.  This module follows the HTTP/1.1 framing of
 * both directions (requests from the client, for the method: a HEAD
 * response has no body; responses from the service: status line, headers,
 * Content-Length or chunked, 1xx/204/304) so that the front end knows where
 * each response ends, and a policy says how much padding brings the
 * response's total to a bucket boundary.  The padding itself is TLS 1.3
 * record padding (conn.h ts_conn_pad).
 *
 * Bounded: lines of at most TS_PAD_LINE_MAX bytes, headers of at most
 * TS_PAD_HEADERS_MAX, at most TS_PAD_PENDING_MAX requests awaiting their
 * response.  Anything the framer does not understand (a malformed message,
 * a response without a length that ends at close, 101 / CONNECT, a response
 * with no request) turns the tracker into pass-through for the rest of the
 * connection: every byte still goes through, none is padded, and
 * ts_pad_error() says why.
 *
 * Memory: ts_pad_new returns an object the caller frees with ts_pad_free. */
#ifndef TLSSCOPE_PAD_H
#define TLSSCOPE_PAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"

#define TS_PAD_LINE_MAX 8192
#define TS_PAD_HEADERS_MAX 65536
#define TS_PAD_PENDING_MAX 256
#define TS_PAD_BLOCK_MAX (1u << 24)

enum ts_pad_kind { TS_PAD_NONE, TS_PAD_BLOCK, TS_PAD_POW2, TS_PAD_BUCKETS };

struct ts_pad_policy {
	enum ts_pad_kind kind;
	uint64_t block;   /* block:N */
	double ratio;     /* buckets:R, 1 < R <= 4 */
	char name[32];    /* as given back: "block:512", "buckets:1.10" */
};

/* "none", "block:N" (1 <= N <= 2^24), "pow2", "buckets" (ratio 1.1) or
 * "buckets:R".  TS_E_INVALID with a message otherwise. */
int ts_pad_policy_parse(const char *spec, struct ts_pad_policy *p, struct ts_error *err);
/* The smallest boundary >= len (len itself for none; 0 stays 0). */
uint64_t ts_pad_target(const struct ts_pad_policy *p, uint64_t len);

struct ts_pad;

/* NULL when out of memory. */
struct ts_pad *ts_pad_new(const struct ts_pad_policy *p);
void ts_pad_free(struct ts_pad *t);

/* Bytes from the client to the service (plaintext), in order. */
void ts_pad_request(struct ts_pad *t, const void *data, size_t len);

/* Bytes from the service towards the client.  Consumes n <= len bytes: up
 * to and including the end of the response in progress, or all of them.
 * When a response ends at n, *pad is the padding that brings its total
 * (interim 1xx responses included) to the policy's boundary and *ended is
 * true; otherwise *pad is 0 and *ended false.  Call again with the rest. */
size_t ts_pad_response(struct ts_pad *t, const void *data, size_t len, uint64_t *pad, bool *ended);

/* True once the tracker gave up (then every byte passes unpadded). */
bool ts_pad_passthrough(const struct ts_pad *t);
/* Why it gave up ("" while it has not). */
const char *ts_pad_error(const struct ts_pad *t);
/* Gives up now with this reason (the caller's own limit, e.g. TLS 1.2). */
void ts_pad_give_up(struct ts_pad *t, const char *why);

/* Counters: responses padded, their bytes, the padding asked for. */
struct ts_pad_stats {
	uint64_t responses;
	uint64_t response_bytes;
	uint64_t padding;
};
void ts_pad_stats(const struct ts_pad *t, struct ts_pad_stats *out);

#endif
