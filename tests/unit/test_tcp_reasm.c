#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/tcp_reasm.h"

struct sink {
	char data[4096];
	size_t len;
	size_t gaps, gap_bytes;
};

static void collect(void *ctx, const uint8_t *data, size_t len, int64_t ts)
{
	struct sink *s = ctx;
	if (data == NULL) {
		s->gaps++;
		s->gap_bytes += len;
		/* mark the hole so the test sees where it was */
		for (size_t i = 0; i < len && s->len < sizeof s->data; i++)
			s->data[s->len++] = '_';
		return;
	}
	assert_true(s->len + len <= sizeof s->data);
	memcpy(s->data + s->len, data, len);
	s->len += len;
}

static void seg(struct ts_tcp_reasm *r, struct ts_tcp_stream *st, struct sink *s, uint32_t seq,
                uint8_t flags, const char *text)
{
	struct ts_packet p = { .proto = 6, .seq = seq, .tcp_flags = flags,
	                       .payload = (const uint8_t *)text, .payload_len = text ? strlen(text) : 0 };
	ts_tcp_stream_add(r, st, &p, collect, s);
}

static void orders_segments_and_drops_retransmissions(void **state)
{
	struct ts_tcp_reasm r = { 0 };
	struct ts_tcp_stream st;
	struct sink s = { 0 };
	ts_tcp_stream_init(&st);
	uint32_t isn = 0xfffffff0u; /* wraps around 2^32 */
	seg(&r, &st, &s, isn, TS_TCP_SYN, NULL);
	seg(&r, &st, &s, isn + 1 + 10, TS_TCP_ACK, "KLMNO");     /* early */
	seg(&r, &st, &s, isn + 1 + 20, TS_TCP_ACK, "UVWXYZ");    /* early, after a hole */
	assert_int_equal(s.len, 0);
	seg(&r, &st, &s, isn + 1, TS_TCP_ACK, "ABCDE");
	assert_int_equal(s.len, 5);
	seg(&r, &st, &s, isn + 1, TS_TCP_ACK, "ABCDE");          /* retransmission */
	seg(&r, &st, &s, isn + 1 + 3, TS_TCP_ACK, "DEFGHIJ");    /* overlaps the front */
	assert_int_equal(s.len, 15);
	seg(&r, &st, &s, isn + 1 + 15, TS_TCP_ACK, "PQRST");
	assert_int_equal(s.len, 26);
	assert_memory_equal(s.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
	assert_int_equal(st.retransmitted, 5 + 2);
	assert_int_equal(st.overlaps, 1);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(r.buffered, 0);
	seg(&r, &st, &s, isn + 27, TS_TCP_FIN | TS_TCP_ACK, NULL);
	assert_true(st.fin);
}

static void declares_gaps_at_flush_and_at_the_limit(void **state)
{
	struct ts_tcp_reasm r = { .stream_max = 8 };
	struct ts_tcp_stream st;
	struct sink s = { 0 };
	ts_tcp_stream_init(&st);
	/* seen from the middle: the first segment starts the stream */
	seg(&r, &st, &s, 5000, TS_TCP_ACK, "abc");
	seg(&r, &st, &s, 5010, TS_TCP_ACK, "xyz");   /* 7 bytes lost before it */
	assert_int_equal(s.len, 3);
	ts_tcp_stream_flush(&r, &st, collect, &s);
	assert_int_equal(s.gaps, 1);
	assert_int_equal(s.gap_bytes, 7);
	assert_memory_equal(s.data, "abc_______xyz", 13);
	assert_int_equal(st.gap_bytes, 7);

	/* waiting bytes beyond the limit force the hole to be skipped */
	seg(&r, &st, &s, 5020, TS_TCP_ACK, "12345");
	assert_int_equal(s.gaps, 1);
	seg(&r, &st, &s, 5030, TS_TCP_ACK, "67890");  /* 10 bytes waiting > 8 */
	assert_int_equal(s.gaps, 2);
	assert_int_equal(r.forced_gaps, 1);
	assert_int_equal(r.buffered, 5);
	ts_tcp_stream_flush(&r, &st, collect, &s);
	assert_int_equal(s.gaps, 3);
	assert_int_equal(r.buffered, 0);
	assert_memory_equal(s.data + 13, "_______12345_____67890", 22);

	/* clear frees what waits without delivering it */
	seg(&r, &st, &s, 6000, TS_TCP_ACK, "zz");
	assert_int_equal(r.buffered, 2);
	ts_tcp_stream_clear(&r, &st);
	assert_int_equal(r.buffered, 0);
}

/* Many segments after a hole: appended at the end of the waiting list, one
 * arriving late among them, then the hole filled; twice, so the list empties
 * and fills again. */
static void orders_many_segments_after_a_hole(void **state)
{
	struct ts_tcp_reasm r = { 0 };
	struct ts_tcp_stream st;
	struct sink s = { 0 };
	char text[27] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char one[2] = { 0 };
	ts_tcp_stream_init(&st);
	for (int round = 0; round < 2; round++) {
		uint32_t base = 1000 + 26u * (uint32_t)round;
		if (round == 0)
			seg(&r, &st, &s, base - 1, TS_TCP_SYN, NULL);
		for (uint32_t i = 2; i < 26; i++) {
			if (i == 10)
				continue;
			one[0] = text[i];
			seg(&r, &st, &s, base + i, TS_TCP_ACK, one);
		}
		one[0] = text[10];
		seg(&r, &st, &s, base + 10, TS_TCP_ACK, one);   /* late, in the middle */
		seg(&r, &st, &s, base + 25, TS_TCP_ACK, "Z");    /* a copy of the last */
		assert_int_equal(s.len, 26u * (unsigned)round);
		assert_int_equal(st.ooo_count, 24);
		seg(&r, &st, &s, base, TS_TCP_ACK, "AB");
		assert_int_equal(s.len, 26u * (unsigned)(round + 1));
		assert_memory_equal(s.data + 26 * round, text, 26);
		assert_null(st.ooo);
		assert_null(st.ooo_tail);
		assert_int_equal(r.buffered, 0);
	}
	assert_int_equal(st.retransmitted, 2);
	assert_int_equal(st.gaps, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orders_segments_and_drops_retransmissions),
		cmocka_unit_test(declares_gaps_at_flush_and_at_the_limit),
		cmocka_unit_test(orders_many_segments_after_a_hole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
