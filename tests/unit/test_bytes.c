#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/bytes.h"

static void reads_big_endian_fields(void **state)
{
	const uint8_t in[] = { 1, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a };
	struct ts_reader rd;
	ts_reader_init(&rd, in, sizeof in);
	assert_int_equal(ts_read_u8(&rd, "a"), 1);
	assert_int_equal(ts_read_u16(&rd, "b"), 0x0203);
	assert_int_equal(ts_read_u24(&rd, "c"), 0x040506);
	assert_int_equal(ts_read_u32(&rd, "d"), 0x0708090a);
	assert_true(ts_reader_done(&rd));
}

static void failure_is_sticky_and_names_the_field(void **state)
{
	const uint8_t in[] = { 0x00, 0x01, 0x02 };
	struct ts_reader rd;
	ts_reader_init(&rd, in, sizeof in);
	ts_read_u8(&rd, "first");
	assert_int_equal(ts_read_u32(&rd, "too_long"), 0);
	assert_true(rd.error);
	assert_string_equal(rd.field, "too_long");
	assert_int_equal(rd.error_off, 1);
	/* Later reads fail too and do not move the reported field. */
	assert_int_equal(ts_read_u8(&rd, "later"), 0);
	assert_string_equal(rd.field, "too_long");
	assert_int_equal(ts_reader_left(&rd), 0);
	assert_false(ts_reader_done(&rd));
}

static void vector_longer_than_container_fails_at_its_length(void **state)
{
	/* 2 bytes of header, then a vector claiming 5 bytes with only 3 left */
	const uint8_t in[] = { 0xaa, 0xbb, 0x00, 0x05, 1, 2, 3 };
	struct ts_reader rd, sub;
	ts_reader_init(&rd, in, sizeof in);
	ts_read_u16(&rd, "header");
	assert_false(ts_read_vector(&rd, 2, &sub, "list"));
	assert_true(rd.error);
	assert_string_equal(rd.field, "list");
	assert_int_equal(rd.error_off, 2);
	assert_int_equal(ts_reader_left(&sub), 0);
}

static void vector_offsets_are_absolute(void **state)
{
	const uint8_t in[] = { 0x03, 0x00, 0x01, 0x09, 0x07 };
	struct ts_reader rd, sub, inner;
	ts_reader_init(&rd, in, sizeof in);
	assert_true(ts_read_vector(&rd, 1, &sub, "outer"));
	assert_int_equal(ts_reader_left(&sub), 3);
	assert_true(ts_read_vector(&sub, 2, &inner, "inner"));
	assert_int_equal(ts_read_u8(&inner, "x"), 9);
	ts_read_u8(&inner, "beyond");
	assert_int_equal(inner.error_off, 4);
	ts_reader_propagate(&rd, &inner);
	assert_string_equal(rd.field, "beyond");
	/* An empty vector is fine. */
	const uint8_t empty[] = { 0x00 };
	ts_reader_init(&rd, empty, 1);
	assert_true(ts_read_vector(&rd, 1, &sub, "empty"));
	assert_true(ts_reader_done(&sub));
	assert_true(ts_reader_done(&rd));
}

static void writer_nests_vectors(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	size_t outer = ts_buf_open_vector(&b, 2);
	ts_buf_put_u8(&b, 0x16);
	size_t inner = ts_buf_open_vector(&b, 3);
	ts_buf_put_u32(&b, 0xdeadbeef);
	assert_true(ts_buf_close_vector(&b, inner, 3));
	assert_true(ts_buf_close_vector(&b, outer, 2));
	const uint8_t want[] = { 0x00, 0x08, 0x16, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef };
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	ts_buf_consume(&b, 2);
	assert_int_equal(b.data[0], 0x16);
	ts_buf_clear(&b);
	ts_buf_clear(&b); /* clearing twice is harmless */
}

static void writer_refuses_overflowing_vector_and_max(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	size_t m = ts_buf_open_vector(&b, 1);
	ts_buf_put_zeros(&b, 256);
	assert_false(ts_buf_close_vector(&b, m, 1));
	assert_true(b.oom);
	ts_buf_clear(&b);

	ts_buf_init(&b);
	b.max = 10;
	ts_buf_put_zeros(&b, 10);
	assert_false(b.oom);
	ts_buf_put_u8(&b, 1);
	assert_true(b.oom);
	assert_int_equal(b.len, 10);
	ts_buf_clear(&b);
}

static void hex_is_lowercase(void **state)
{
	const uint8_t in[] = { 0x00, 0xab, 0xff };
	char out[7];
	ts_hex(in, 3, out);
	assert_string_equal(out, "00abff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_big_endian_fields),
		cmocka_unit_test(failure_is_sticky_and_names_the_field),
		cmocka_unit_test(vector_longer_than_container_fails_at_its_length),
		cmocka_unit_test(vector_offsets_are_absolute),
		cmocka_unit_test(writer_nests_vectors),
		cmocka_unit_test(writer_refuses_overflowing_vector_and_max),
		cmocka_unit_test(hex_is_lowercase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
