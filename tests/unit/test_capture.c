/* The capture file reader, on files built here: classic pcap in both byte
 * orders and both timestamp precisions, pcapng with a timestamp resolution and
 * offset, and the damaged files it must refuse with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <pcap/dlt.h>

#include "tlsscope/capture.h"

struct got {
	int n;
	int64_t ts[4];
	size_t caplen[4], len[4];
	int linktype[4];
	uint8_t first[4];
};

static void on_packet(void *ctx, const struct ts_capture_packet *p)
{
	struct got *g = ctx;
	if (g->n < 4) {
		g->ts[g->n] = p->ts_us;
		g->caplen[g->n] = p->caplen;
		g->len[g->n] = p->len;
		g->linktype[g->n] = p->linktype;
		g->first[g->n] = p->caplen ? p->data[0] : 0;
	}
	g->n++;
}

static size_t put32(uint8_t *b, uint32_t v, int big)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(big ? v >> (24 - 8 * i) : v >> (8 * i));
	return 4;
}

static size_t put16(uint8_t *b, uint16_t v, int big)
{
	b[0] = (uint8_t)(big ? v >> 8 : v);
	b[1] = (uint8_t)(big ? v : v >> 8);
	return 2;
}

/* A classic pcap with two packets of 3 and 5 bytes. */
static size_t classic(uint8_t *b, uint32_t magic, int big, uint32_t linktype)
{
	size_t n = 0;
	n += put32(b + n, magic, big);
	n += put16(b + n, 2, big);
	n += put16(b + n, 4, big);
	n += put32(b + n, 0, big);
	n += put32(b + n, 0, big);
	n += put32(b + n, 65535, big);
	n += put32(b + n, linktype, big);
	for (int k = 0; k < 2; k++) {
		uint32_t len = k ? 5 : 3;
		n += put32(b + n, 1700000000 + (uint32_t)k, big);
		n += put32(b + n, magic == 0xa1b23c4d ? 123456789 : 123456, big);
		n += put32(b + n, len, big);
		n += put32(b + n, len + 100, big);
		memset(b + n, 0x40 + k, len);
		n += len;
	}
	return n;
}

static int read_all(const uint8_t *b, size_t n, struct got *g, struct ts_error *err)
{
	struct ts_capture *c;
	memset(g, 0, sizeof *g);
	int rc = ts_capture_open_memory(b, n, &c, err);
	if (rc < 0)
		return rc;
	long long k = ts_capture_loop(c, on_packet, g, err);
	ts_capture_free(c);
	return k < 0 ? (int)k : 0;
}

static void reads_classic_pcap_in_both_orders_and_precisions(void **state)
{
	uint8_t b[256];
	struct got g;
	struct ts_error err = { 0 };
	for (int big = 0; big < 2; big++) {
		size_t n = classic(b, 0xa1b2c3d4, big, 1);
		assert_int_equal(read_all(b, n, &g, &err), 0);
		assert_int_equal(g.n, 2);
		assert_true(g.ts[0] == 1700000000LL * 1000000 + 123456);
		assert_int_equal(g.caplen[1], 5);
		assert_int_equal(g.len[1], 105);
		assert_int_equal(g.first[1], 0x41);
		assert_int_equal(g.linktype[0], DLT_EN10MB);
	}
	/* nanoseconds are cut to microseconds; LINKTYPE_RAW (101) is DLT_RAW */
	size_t n = classic(b, 0xa1b23c4d, 1, 101);
	assert_int_equal(read_all(b, n, &g, &err), 0);
	assert_true(g.ts[1] == 1700000001LL * 1000000 + 123456);
	assert_int_equal(g.linktype[0], DLT_RAW);
}

static void refuses_damaged_pcap(void **state)
{
	uint8_t b[256];
	struct got g;
	struct ts_error err = { 0 };
	size_t n = classic(b, 0xa1b2c3d4, 0, 1);
	/* cut in the second packet: the first is delivered, then the reason */
	assert_int_equal(read_all(b, n - 2, &g, &err), TS_E_FILE);
	assert_int_equal(g.n, 1);
	assert_non_null(strstr(err.msg, "truncated"));
	/* a captured length no capture can have */
	put32(b + 24 + 8, 300000, 0);
	assert_int_equal(read_all(b, n, &g, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "300000"));
	assert_int_equal(read_all((const uint8_t *)"not a capture", 13, &g, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "unknown file format"));
	assert_int_equal(read_all(b, 2, &g, &err), TS_E_FILE);
}

/* A pcapng block: type, length, body padded to 4, length. */
static size_t block(uint8_t *b, uint32_t type, const uint8_t *body, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3, total = 12 + padded;
	put32(b, type, 0);
	put32(b + 4, (uint32_t)total, 0);
	memset(b + 8, 0, padded);
	memcpy(b + 8, body, len);
	put32(b + 8 + padded, (uint32_t)total, 0);
	return total;
}

static size_t shb(uint8_t *b)
{
	uint8_t body[16] = { 0 };
	put32(body, 0x1A2B3C4D, 0);
	put16(body + 4, 1, 0);
	memset(body + 8, 0xff, 8); /* section length unknown */
	return block(b, 0x0A0D0D0A, body, sizeof body);
}

/* An interface: link type 1; if_tsresol 10^-9 (or none), if_tsoffset. */
static size_t idb(uint8_t *b, uint16_t linktype, int nanos, int64_t offset)
{
	uint8_t body[64] = { 0 };
	size_t n = 0;
	n += put16(body + n, linktype, 0);
	n += 2;
	n += put32(body + n, 262144, 0);
	if (nanos) {
		n += put16(body + n, 9, 0);
		n += put16(body + n, 1, 0);
		body[n] = 9;
		n += 4;
	}
	if (offset) {
		n += put16(body + n, 14, 0);
		n += put16(body + n, 8, 0);
		memcpy(body + n, &offset, 8); /* the section is little-endian, as this machine */
		n += 8;
	}
	n += 4; /* opt_endofopt */
	return block(b, 1, body, n);
}

static size_t epb(uint8_t *b, uint32_t iface, uint64_t t, size_t caplen)
{
	uint8_t body[64] = { 0 };
	put32(body, iface, 0);
	put32(body + 4, (uint32_t)(t >> 32), 0);
	put32(body + 8, (uint32_t)t, 0);
	put32(body + 12, (uint32_t)caplen, 0);
	put32(body + 16, (uint32_t)caplen, 0);
	memset(body + 20, 0x55, caplen);
	return block(b, 6, body, 20 + caplen);
}

static void reads_pcapng_with_resolution_and_offset(void **state)
{
	uint8_t b[512];
	size_t n = 0;
	n += shb(b + n);
	n += idb(b + n, 1, 0, 0);
	n += idb(b + n, 1, 1, 10);
	n += block(b + n, 0x0BAD, (const uint8_t *)"skip", 4); /* an unknown block is passed over */
	n += epb(b + n, 0, 1700000000123456ULL, 7);
	n += epb(b + n, 1, 1700000000123456789ULL, 6);
	struct got g;
	struct ts_error err = { 0 };
	assert_int_equal(read_all(b, n, &g, &err), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.ts[0] == 1700000000123456LL);
	assert_true(g.ts[1] == 1700000010123456LL); /* nanoseconds, plus 10 s of offset */
	assert_int_equal(g.caplen[0], 7);
	assert_int_equal(g.first[1], 0x55);
	/* a packet naming an interface that was not described */
	n = shb(b);
	n += idb(b + n, 1, 0, 0);
	n += epb(b + n, 0, 0, 6);
	n += epb(b + n, 2, 0, 6);
	assert_int_equal(read_all(b, n, &g, &err), TS_E_FILE);
	assert_int_equal(g.n, 1);
	assert_non_null(strstr(err.msg, "interface 2"));
}

static void refuses_pcapng_without_interface_or_with_mixed_link_types(void **state)
{
	uint8_t b[512];
	struct got g;
	struct ts_error err = { 0 };
	size_t n = shb(b);
	n += epb(b + n, 0, 0, 4);
	assert_int_equal(read_all(b, n, &g, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "no interface"));
	n = shb(b);
	n += idb(b + n, 1, 0, 0);
	n += idb(b + n, 113, 0, 0);
	n += epb(b + n, 1, 0, 4);
	assert_int_equal(read_all(b, n, &g, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "link type"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_classic_pcap_in_both_orders_and_precisions),
		cmocka_unit_test(refuses_damaged_pcap),
		cmocka_unit_test(reads_pcapng_with_resolution_and_offset),
		cmocka_unit_test(refuses_pcapng_without_interface_or_with_mixed_link_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
