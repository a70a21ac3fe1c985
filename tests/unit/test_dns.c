#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/bytes.h"
#include "tlsscope/dns.h"

static void put_name(struct ts_buf *b, const char *dotted)
{
	const char *p = dotted;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		ts_buf_put_u8(b, (uint8_t)n);
		ts_buf_put(b, p, n);
		p += n + (dot ? 1 : 0);
	}
	ts_buf_put_u8(b, 0);
}

static void header(struct ts_buf *b, uint16_t flags, uint16_t qd, uint16_t an)
{
	ts_buf_put_u16(b, 0x1234);
	ts_buf_put_u16(b, flags);
	ts_buf_put_u16(b, qd);
	ts_buf_put_u16(b, an);
	ts_buf_put_u32(b, 0);
}

static void rr_head(struct ts_buf *b, uint16_t ptr, uint16_t type, uint32_t ttl)
{
	ts_buf_put_u16(b, 0xc000 | ptr);
	ts_buf_put_u16(b, type);
	ts_buf_put_u16(b, 1);
	ts_buf_put_u32(b, ttl);
}

static void reads_answers_with_compression_and_ech(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	header(&b, 0x8180, 1, 4);
	put_name(&b, "www.example.test"); /* at offset 12 */
	ts_buf_put_u16(&b, 1);
	ts_buf_put_u16(&b, 1);
	/* CNAME www -> cdn.example.test, with the target compressed into the question */
	rr_head(&b, 12, TS_DNS_CNAME, 300);
	size_t m = ts_buf_open_vector(&b, 2);
	size_t cname_at = b.len;
	ts_buf_put_u8(&b, 3);
	ts_buf_put(&b, "cdn", 3);
	ts_buf_put_u16(&b, 0xc000 | 16); /* "example.test" */
	ts_buf_close_vector(&b, m, 2);
	/* A and AAAA for the CNAME target */
	rr_head(&b, (uint16_t)cname_at, TS_DNS_A, 60);
	ts_buf_put_u16(&b, 4);
	ts_buf_put(&b, (const uint8_t[]){ 192, 0, 2, 7 }, 4);
	rr_head(&b, (uint16_t)cname_at, TS_DNS_AAAA, 61);
	ts_buf_put_u16(&b, 16);
	ts_buf_put(&b, (const uint8_t[]){ 0x20, 1, 0xd, 0xb8, [15] = 7 }, 16);
	/* HTTPS 1 . alpn=h2,h3 ech=... */
	rr_head(&b, 12, TS_DNS_HTTPS, 3600);
	m = ts_buf_open_vector(&b, 2);
	ts_buf_put_u16(&b, 1);
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u16(&b, 1);
	ts_buf_put_u16(&b, 6);
	ts_buf_put(&b, "\x02h2\x02h3", 6);
	ts_buf_put_u16(&b, 5);
	ts_buf_put_u16(&b, 3);
	ts_buf_put(&b, "ech", 3);
	ts_buf_close_vector(&b, m, 2);

	struct ts_dns_message msg;
	struct ts_error err = { 0 };
	assert_int_equal(ts_dns_parse(b.data, b.len, &msg, &err), TS_OK);
	assert_true(msg.response);
	assert_string_equal(msg.qname, "www.example.test");
	assert_int_equal(msg.qtype, 1);
	assert_int_equal(msg.answer_count, 4);
	assert_int_equal(msg.answers[0].type, TS_DNS_CNAME);
	assert_string_equal(msg.answers[0].target, "cdn.example.test");
	assert_string_equal(msg.answers[1].name, "cdn.example.test");
	assert_int_equal(msg.answers[1].ttl, 60);
	assert_int_equal(msg.answers[1].addr.family, 4);
	assert_int_equal(msg.answers[1].addr.a[3], 7);
	assert_int_equal(msg.answers[2].addr.family, 6);
	assert_int_equal(msg.answers[3].type, TS_DNS_HTTPS);
	assert_true(msg.answers[3].ech);
	assert_string_equal(msg.answers[3].alpn, "h2,h3");
	assert_string_equal(msg.answers[3].target, ".");

	/* every truncation fails cleanly */
	for (size_t n = 0; n < b.len; n++) {
		int rc = ts_dns_parse(b.data, n, &msg, &err);
		assert_true(rc == TS_OK || rc == TS_E_MALFORMED);
	}
	ts_buf_clear(&b);
}

static void refuses_compression_loops_and_long_names(void **state)
{
	struct ts_buf b;
	struct ts_dns_message msg;
	struct ts_error err = { 0 };
	ts_buf_init(&b);
	/* a question name that points at itself */
	header(&b, 0x0100, 1, 0);
	ts_buf_put_u16(&b, 0xc000 | 12);
	ts_buf_put_u32(&b, 0x00010001);
	assert_int_equal(ts_dns_parse(b.data, b.len, &msg, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "looping"));
	/* two labels pointing at each other */
	ts_buf_reset(&b);
	header(&b, 0x0100, 1, 0);
	ts_buf_put_u8(&b, 1);
	ts_buf_put(&b, "a", 1);
	ts_buf_put_u16(&b, 0xc000 | 17); /* forward pointer */
	ts_buf_put_u8(&b, 1);
	ts_buf_put(&b, "b", 1);
	ts_buf_put_u16(&b, 0xc000 | 12); /* back to the start */
	ts_buf_put_u32(&b, 0x00010001);
	assert_int_equal(ts_dns_parse(b.data, b.len, &msg, &err), TS_E_MALFORMED);
	/* a name over 255 bytes */
	ts_buf_reset(&b);
	header(&b, 0x0100, 1, 0);
	for (int i = 0; i < 5; i++) {
		ts_buf_put_u8(&b, 63);
		ts_buf_put_zeros(&b, 63);
	}
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u32(&b, 0x00010001);
	assert_int_equal(ts_dns_parse(b.data, b.len, &msg, &err), TS_E_MALFORMED);
	/* short header */
	assert_int_equal(ts_dns_parse(b.data, 5, &msg, &err), TS_E_MALFORMED);
	ts_buf_clear(&b);
}

static void remembers_names_of_addresses_within_bounds(void **state)
{
	struct ts_dns_names *n = ts_dns_names_new(3);
	struct ts_ip_addr a = { .family = 4, .a = { 10, 0, 0, 1 } };
	assert_null(ts_dns_names_lookup(n, &a));
	ts_dns_names_add(n, &a, "one.test");
	assert_string_equal(ts_dns_names_lookup(n, &a), "one.test");
	ts_dns_names_add(n, &a, "uno.test");
	assert_string_equal(ts_dns_names_lookup(n, &a), "uno.test");
	for (uint8_t i = 2; i < 6; i++) {
		struct ts_ip_addr b = { .family = 4, .a = { 10, 0, 0, i } };
		ts_dns_names_add(n, &b, "other.test");
	}
	assert_null(ts_dns_names_lookup(n, &a)); /* pushed out by newer ones */
	struct ts_ip_addr last = { .family = 4, .a = { 10, 0, 0, 5 } };
	assert_string_equal(ts_dns_names_lookup(n, &last), "other.test");
	ts_dns_names_free(n);
	ts_dns_names_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_answers_with_compression_and_ech),
		cmocka_unit_test(refuses_compression_loops_and_long_names),
		cmocka_unit_test(remembers_names_of_addresses_within_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
