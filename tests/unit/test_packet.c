#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <pcap/dlt.h>

#include "tlsscope/bytes.h"
#include "tlsscope/packet.h"

/* Builds a TCP segment 10.0.0.1:40000 -> 10.0.0.2:443 with payload. */
static void put_tcp(struct ts_buf *b, const char *payload)
{
	ts_buf_put_u16(b, 40000);
	ts_buf_put_u16(b, 443);
	ts_buf_put_u32(b, 1000);
	ts_buf_put_u32(b, 2000);
	ts_buf_put_u8(b, 5 << 4);
	ts_buf_put_u8(b, 0x18);
	ts_buf_put_zeros(b, 6);
	ts_buf_put(b, payload, strlen(payload));
}

static void put_ipv4(struct ts_buf *b, uint8_t proto, uint16_t id, uint16_t frag, const uint8_t *l4,
                     size_t len)
{
	ts_buf_put_u8(b, 0x45);
	ts_buf_put_u8(b, 0);
	ts_buf_put_u16(b, (uint16_t)(20 + len));
	ts_buf_put_u16(b, id);
	ts_buf_put_u16(b, frag);
	ts_buf_put_u8(b, 64);
	ts_buf_put_u8(b, proto);
	ts_buf_put_u16(b, 0);
	const uint8_t src[4] = { 10, 0, 0, 1 }, dst[4] = { 10, 0, 0, 2 };
	ts_buf_put(b, src, 4);
	ts_buf_put(b, dst, 4);
	ts_buf_put(b, l4, len);
}

static void ipv4_tcp(struct ts_buf *b, const char *payload)
{
	struct ts_buf t;
	ts_buf_init(&t);
	put_tcp(&t, payload);
	put_ipv4(b, 6, 1, 0, t.data, t.len);
	ts_buf_clear(&t);
}

static void expect_hello(int linktype, const struct ts_buf *frame)
{
	struct ts_packet p;
	struct ts_error err = { 0 };
	int rc = ts_packet_decode(NULL, linktype, frame->data, frame->len, 7, &p, &err);
	if (rc != 1)
		fail_msg("link type %d: rc %d (%s)", linktype, rc, err.msg);
	assert_int_equal(p.proto, 6);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.seq, 1000);
	assert_int_equal(p.payload_len, 5);
	assert_memory_equal(p.payload, "hello", 5);
	assert_int_equal(p.src.family, 4);
	assert_int_equal(p.dst.a[3], 2);
	assert_int_equal(p.ts_us, 7);
}

static void decodes_every_link_type(void **state)
{
	struct ts_buf ip, f;
	ts_buf_init(&ip);
	ipv4_tcp(&ip, "hello");

	/* Ethernet, with QinQ tags and trailing padding */
	ts_buf_init(&f);
	ts_buf_put_zeros(&f, 12);
	ts_buf_put_u16(&f, 0x88a8);
	ts_buf_put_u16(&f, 100);
	ts_buf_put_u16(&f, 0x8100);
	ts_buf_put_u16(&f, 200);
	ts_buf_put_u16(&f, 0x0800);
	ts_buf_put(&f, ip.data, ip.len);
	ts_buf_put_zeros(&f, 6);
	expect_hello(DLT_EN10MB, &f);

	/* Linux cooked v1: protocol at offset 14 */
	ts_buf_reset(&f);
	ts_buf_put_zeros(&f, 14);
	ts_buf_put_u16(&f, 0x0800);
	ts_buf_put(&f, ip.data, ip.len);
	expect_hello(DLT_LINUX_SLL, &f);

	/* Linux cooked v2: protocol first, 20-byte header */
	ts_buf_reset(&f);
	ts_buf_put_u16(&f, 0x0800);
	ts_buf_put_zeros(&f, 18);
	ts_buf_put(&f, ip.data, ip.len);
	expect_hello(DLT_LINUX_SLL2, &f);

	/* raw IP, and the explicit IPv4 link type */
	expect_hello(DLT_RAW, &ip);
	expect_hello(TS_LINKTYPE_IPV4, &ip);

	/* BSD null (host order) and loop (network order) */
	ts_buf_reset(&f);
	ts_buf_put(&f, (const uint8_t[]){ 2, 0, 0, 0 }, 4);
	ts_buf_put(&f, ip.data, ip.len);
	expect_hello(DLT_NULL, &f);
	ts_buf_reset(&f);
	ts_buf_put_u32(&f, 2);
	ts_buf_put(&f, ip.data, ip.len);
	expect_hello(DLT_LOOP, &f);

	ts_buf_clear(&f);
	ts_buf_clear(&ip);
}

static void refuses_broken_headers(void **state)
{
	struct ts_buf ip;
	ts_buf_init(&ip);
	ipv4_tcp(&ip, "hello");
	struct ts_packet p;
	struct ts_error err = { 0 };
	/* every truncation inside the headers is malformed, never a crash */
	for (size_t n = 1; n < 40; n++)
		assert_int_equal(ts_packet_decode(NULL, DLT_RAW, ip.data, n, 0, &p, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "TCP"));
	/* bad IHL */
	ip.data[0] = 0x43;
	assert_int_equal(ts_packet_decode(NULL, DLT_RAW, ip.data, ip.len, 0, &p, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "header length"));
	/* unknown link type */
	assert_int_equal(ts_packet_decode(NULL, 9999, ip.data, ip.len, 0, &p, &err), TS_E_INVALID);
	/* an ARP frame is simply not ours */
	uint8_t arp[42] = { 0 };
	arp[12] = 0x08;
	arp[13] = 0x06;
	assert_int_equal(ts_packet_decode(NULL, DLT_EN10MB, arp, sizeof arp, 0, &p, &err), 0);
	ts_buf_clear(&ip);
}

static void reassembles_ipv4_fragments_out_of_order(void **state)
{
	struct ts_defrag *d = ts_defrag_new(4, 1000000);
	struct ts_buf t, f1, f2, f3;
	ts_buf_init(&t);
	char payload[61];
	memset(payload, 'x', 60);
	payload[60] = '\0';
	put_tcp(&t, payload); /* 20 + 60 = 80 bytes: fragments of 32, 32, 16 */
	ts_buf_init(&f1);
	ts_buf_init(&f2);
	ts_buf_init(&f3);
	put_ipv4(&f1, 6, 77, 0x2000 | 0, t.data, 32);
	put_ipv4(&f2, 6, 77, 0x2000 | 4, t.data + 32, 32);
	put_ipv4(&f3, 6, 77, 8, t.data + 64, 16);
	struct ts_packet p;
	struct ts_error err = { 0 };
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f3.data, f3.len, 1, &p, &err), 0);
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f1.data, f1.len, 2, &p, &err), 0);
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f2.data, f2.len, 3, &p, &err), 1);
	assert_true(p.reassembled);
	assert_int_equal(p.payload_len, 60);
	assert_memory_equal(p.payload, payload, 60);
	struct ts_defrag_stats st;
	ts_defrag_get_stats(d, &st);
	assert_int_equal(st.fragments, 3);
	assert_int_equal(st.reassembled, 1);

	/* a datagram missing a piece expires; the table never exceeds its cap */
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f1.data, f1.len, 10, &p, &err), 0);
	for (uint16_t id = 1; id <= 10; id++) {
		f2.data[5] = (uint8_t)id;
		assert_int_equal(ts_packet_decode(d, DLT_RAW, f2.data, f2.len, 20, &p, &err), 0);
	}
	ts_defrag_get_stats(d, &st);
	assert_true(st.evicted >= 6);
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f1.data, f1.len, 5000000, &p, &err), 0);
	ts_defrag_get_stats(d, &st);
	assert_true(st.expired >= 1);
	/* an impossible fragment (offset beyond 64 KiB) is counted, not stored */
	ts_buf_reset(&f1);
	put_ipv4(&f1, 6, 5, 0x1fff, (const uint8_t *)"abcdefghabcdefgh", 16);
	assert_int_equal(ts_packet_decode(d, DLT_RAW, f1.data, f1.len, 5000001, &p, &err), 0);
	ts_defrag_get_stats(d, &st);
	assert_int_equal(st.invalid, 1);

	ts_buf_clear(&t);
	ts_buf_clear(&f1);
	ts_buf_clear(&f2);
	ts_buf_clear(&f3);
	ts_defrag_free(d);
}

static void put_ipv6(struct ts_buf *b, uint8_t next, const uint8_t *rest, size_t len)
{
	ts_buf_put_u32(b, 0x60000000);
	ts_buf_put_u16(b, (uint16_t)len);
	ts_buf_put_u8(b, next);
	ts_buf_put_u8(b, 64);
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	a[15] = 1;
	ts_buf_put(b, a, 16);
	a[15] = 2;
	ts_buf_put(b, a, 16);
	ts_buf_put(b, rest, len);
}

static void walks_ipv6_extension_headers_and_fragments(void **state)
{
	struct ts_buf t, rest, f;
	ts_buf_init(&t);
	ts_buf_init(&rest);
	ts_buf_init(&f);
	put_tcp(&t, "hello");
	/* hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP */
	ts_buf_put_u8(&rest, 60);
	ts_buf_put_u8(&rest, 0);
	ts_buf_put_zeros(&rest, 6);
	ts_buf_put_u8(&rest, 6);
	ts_buf_put_u8(&rest, 1);
	ts_buf_put_zeros(&rest, 14);
	ts_buf_put(&rest, t.data, t.len);
	put_ipv6(&f, 0, rest.data, rest.len);
	struct ts_packet p;
	struct ts_error err = { 0 };
	assert_int_equal(ts_packet_decode(NULL, TS_LINKTYPE_IPV6, f.data, f.len, 0, &p, &err), 1);
	assert_int_equal(p.src.family, 6);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.payload_len, 5);

	/* the same segment in two IPv6 fragments, second first */
	struct ts_defrag *d = ts_defrag_new(0, 0);
	struct ts_buf fr1, fr2;
	ts_buf_init(&fr1);
	ts_buf_init(&fr2);
	ts_buf_reset(&rest);
	ts_buf_put_u8(&rest, 6);
	ts_buf_put_u8(&rest, 0);
	ts_buf_put_u16(&rest, 0 | 1);
	ts_buf_put_u32(&rest, 0xabcd);
	ts_buf_put(&rest, t.data, 16);
	put_ipv6(&fr1, 44, rest.data, rest.len);
	ts_buf_reset(&rest);
	ts_buf_put_u8(&rest, 6);
	ts_buf_put_u8(&rest, 0);
	ts_buf_put_u16(&rest, 16);
	ts_buf_put_u32(&rest, 0xabcd);
	ts_buf_put(&rest, t.data + 16, t.len - 16);
	put_ipv6(&fr2, 44, rest.data, rest.len);
	assert_int_equal(ts_packet_decode(d, TS_LINKTYPE_IPV6, fr2.data, fr2.len, 0, &p, &err), 0);
	assert_int_equal(ts_packet_decode(d, TS_LINKTYPE_IPV6, fr1.data, fr1.len, 0, &p, &err), 1);
	assert_true(p.reassembled);
	assert_int_equal(p.payload_len, 5);
	assert_memory_equal(p.payload, "hello", 5);

	/* a chain of more extension headers than allowed is refused */
	ts_buf_reset(&rest);
	for (int i = 0; i < 12; i++) {
		ts_buf_put_u8(&rest, 60);
		ts_buf_put_u8(&rest, 0);
		ts_buf_put_zeros(&rest, 6);
	}
	ts_buf_reset(&f);
	put_ipv6(&f, 60, rest.data, rest.len);
	assert_int_equal(ts_packet_decode(NULL, TS_LINKTYPE_IPV6, f.data, f.len, 0, &p, &err),
	                 TS_E_MALFORMED);
	ts_defrag_free(d);
	ts_buf_clear(&fr1);
	ts_buf_clear(&fr2);
	ts_buf_clear(&t);
	ts_buf_clear(&rest);
	ts_buf_clear(&f);
}

static void formats_addresses(void **state)
{
	struct ts_ip_addr a = { .family = 4, .a = { 192, 0, 2, 1 } };
	char s[64];
	ts_ip_addr_format(&a, s, sizeof s);
	assert_string_equal(s, "192.0.2.1");
	struct ts_ip_addr b = { .family = 6, .a = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	ts_ip_addr_format(&b, s, sizeof s);
	assert_string_equal(s, "2001:db8::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decodes_every_link_type),
		cmocka_unit_test(refuses_broken_headers),
		cmocka_unit_test(reassembles_ipv4_fragments_out_of_order),
		cmocka_unit_test(walks_ipv6_extension_headers_and_fragments),
		cmocka_unit_test(formats_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
