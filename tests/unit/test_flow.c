#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/flow.h"

static int ended[4];

static void on_end(void *ctx, struct ts_flow *f, enum ts_flow_end why)
{
	ended[why]++;
	(void)ctx;
	(void)f;
}

static struct ts_packet pkt(uint8_t a, uint16_t sp, uint8_t b, uint16_t dp, int64_t ts)
{
	struct ts_packet p = { .ts_us = ts, .proto = 6, .sport = sp, .dport = dp, .payload_len = 10 };
	p.src.family = p.dst.family = 4;
	p.src.a[0] = 10;
	p.src.a[3] = a;
	p.dst.a[0] = 10;
	p.dst.a[3] = b;
	return p;
}

static void finds_both_directions(void **state)
{
	memset(ended, 0, sizeof ended);
	struct ts_flow_table *t = ts_flow_table_new(8, 1000000, on_end, NULL);
	int dir;
	bool created;
	struct ts_packet p = pkt(1, 40000, 2, 443, 0);
	struct ts_flow *f = ts_flow_lookup(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(dir, 0);
	struct ts_packet q = pkt(2, 443, 1, 40000, 1);
	assert_ptr_equal(ts_flow_lookup(t, &q, &dir, &created), f);
	assert_false(created);
	assert_int_equal(dir, 1);
	assert_int_equal(f->packets[0], 1);
	assert_int_equal(f->packets[1], 1);
	assert_int_equal(f->bytes[1], 10);
	/* another port is another flow */
	struct ts_packet r = pkt(1, 40001, 2, 443, 2);
	assert_ptr_not_equal(ts_flow_lookup(t, &r, &dir, &created), f);
	assert_true(created);
	ts_flow_remove(t, f);
	assert_int_equal(ended[TS_FLOW_END_CLOSED], 1);
	ts_flow_table_free(t);
	assert_int_equal(ended[TS_FLOW_END_FLUSH], 1);
}

static void evicts_least_recent_at_the_cap_and_expires_idle(void **state)
{
	memset(ended, 0, sizeof ended);
	struct ts_flow_table *t = ts_flow_table_new(4, 1000000, on_end, NULL);
	int dir;
	bool created;
	for (uint16_t i = 0; i < 10; i++) {
		struct ts_packet p = pkt(1, (uint16_t)(1000 + i), 2, 443, i);
		assert_non_null(ts_flow_lookup(t, &p, &dir, &created));
	}
	struct ts_flow_stats st;
	ts_flow_table_get_stats(t, &st);
	assert_int_equal(st.active, 4);
	assert_int_equal(st.evicted, 6);
	assert_int_equal(st.peak, 4);
	assert_int_equal(ended[TS_FLOW_END_EVICTED], 6);
	/* the oldest surviving flow (port 1006) is touched: it outlives the others */
	struct ts_packet p = pkt(1, 1006, 2, 443, 900000);
	ts_flow_lookup(t, &p, &dir, &created);
	assert_false(created);
	ts_flow_table_expire(t, 1500000);
	ts_flow_table_get_stats(t, &st);
	assert_int_equal(st.expired, 3);
	assert_int_equal(st.active, 1);
	ts_flow_table_expire(t, 3000000);
	ts_flow_table_get_stats(t, &st);
	assert_int_equal(st.active, 0);
	ts_flow_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_both_directions),
		cmocka_unit_test(evicts_least_recent_at_the_cap_and_expires_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
