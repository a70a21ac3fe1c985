#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <pcap/dlt.h>

#include "tlsscope/bytes.h"
#include "tlsscope/observe.h"
#include "tlsscope/wire.h"

/* A tiny TCP conversation builder: raw IPv4 frames between a client
 * 10.0.0.1:40000 and a server 10.0.0.2:<port>, with sequence numbers kept. */
struct conv {
	struct ts_observe *o;
	uint16_t port;
	uint32_t seq[2];
	int64_t t;
	uint8_t client_last; /* last octet of the client address */
};

static void frame(struct conv *c, int from_server, uint8_t flags, const void *data, size_t len)
{
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put_u8(&b, 0x45);
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u16(&b, (uint16_t)(40 + len));
	ts_buf_put_u32(&b, 0);
	ts_buf_put_u8(&b, 64);
	ts_buf_put_u8(&b, 6);
	ts_buf_put_u16(&b, 0);
	uint8_t cl[4] = { 10, 0, 0, c->client_last }, sv[4] = { 10, 0, 0, 2 };
	ts_buf_put(&b, from_server ? sv : cl, 4);
	ts_buf_put(&b, from_server ? cl : sv, 4);
	ts_buf_put_u16(&b, from_server ? c->port : 40000);
	ts_buf_put_u16(&b, from_server ? 40000 : c->port);
	ts_buf_put_u32(&b, c->seq[from_server]);
	ts_buf_put_u32(&b, c->seq[!from_server]);
	ts_buf_put_u8(&b, 5 << 4);
	ts_buf_put_u8(&b, flags);
	ts_buf_put_zeros(&b, 6);
	ts_buf_put(&b, data, len);
	c->seq[from_server] += (uint32_t)len + ((flags & (TS_TCP_SYN | TS_TCP_FIN)) ? 1 : 0);
	c->t += 1000;
	struct ts_error err;
	assert_int_equal(ts_observe_packet(c->o, DLT_RAW, b.data, b.len, c->t, &err), 0);
	ts_buf_clear(&b);
}

static void handshake(struct conv *c)
{
	c->seq[0] = 1000;
	c->seq[1] = 5000;
	frame(c, 0, TS_TCP_SYN, NULL, 0);
	frame(c, 1, TS_TCP_SYN | TS_TCP_ACK, NULL, 0);
	frame(c, 0, TS_TCP_ACK, NULL, 0);
}

static void text(struct conv *c, int from_server, const char *s)
{
	frame(c, from_server, TS_TCP_ACK | TS_TCP_PSH, s, strlen(s));
}

static void client_hello(struct conv *c, const char *sni)
{
	struct ts_hello_spec spec = { .version = TS_TLS13, .server_name = sni };
	const char *alpn[] = { "h2", "http/1.1" };
	spec.alpn = alpn;
	spec.n_alpn = 2;
	struct ts_buf b;
	struct ts_error err;
	ts_buf_init(&b);
	assert_int_equal(ts_build_client_hello(&spec, &b, &err), 0);
	/* split over two segments, the second first: reassembly must sort it out */
	size_t half = b.len / 2;
	uint32_t s0 = c->seq[0];
	c->seq[0] = s0 + (uint32_t)half;
	frame(c, 0, TS_TCP_ACK, b.data + half, b.len - half);
	c->seq[0] = s0;
	frame(c, 0, TS_TCP_ACK, b.data, half);
	c->seq[0] = s0 + (uint32_t)b.len;
	ts_buf_clear(&b);
}

struct seen {
	int tls, dns;
	struct ts_obs_tls last;
	char starttls[16], sni[256], dns_name[256];
	size_t exchanges;
	struct ts_obs_exchange ex[4];
	char dns_qname[256];
};

static void on_tls(void *ctx, const struct ts_obs_tls *t)
{
	struct seen *s = ctx;
	s->tls++;
	s->last = *t;
	snprintf(s->starttls, sizeof s->starttls, "%s", t->starttls);
	snprintf(s->sni, sizeof s->sni, "%s", t->sni);
	snprintf(s->dns_name, sizeof s->dns_name, "%s", t->dns_name);
	s->exchanges = t->n_exchanges;
	for (size_t i = 0; i < t->n_exchanges && i < 4; i++)
		s->ex[i] = t->exchanges[i];
	s->last.exchanges = NULL;
	s->last.certs = NULL;
}

static void on_dns(void *ctx, const struct ts_obs_dns *d)
{
	struct seen *s = ctx;
	s->dns++;
	snprintf(s->dns_qname, sizeof s->dns_qname, "%s", d->msg->qname);
}

static struct ts_observe *engine(struct seen *s, const struct ts_observe_config *cfg)
{
	memset(s, 0, sizeof *s);
	struct ts_observe_callbacks cb = { .tls = on_tls, .dns = on_dns, .ctx = s };
	struct ts_observe *o = ts_observe_new(cfg, &cb);
	assert_non_null(o);
	return o;
}

static void names_starttls_protocols_from_the_preamble(void **state)
{
	static const struct {
		uint16_t port;
		const char *server_greeting, *client1, *server1, *client2, *server2, *want;
	} cases[] = {
		{ 25, "220 mx.example ESMTP\r\n", "EHLO me\r\n", "250-mx\r\n250 STARTTLS\r\n", "STARTTLS\r\n",
		  "220 go ahead\r\n", "smtp" },
		{ 143, "* OK IMAP4rev1 ready\r\n", "a1 CAPABILITY\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK\r\n",
		  "a2 STARTTLS\r\n", "a2 OK begin TLS\r\n", "imap" },
		{ 110, "+OK POP3 ready\r\n", "CAPA\r\n", "+OK\r\nSTLS\r\n.\r\n", "STLS\r\n", "+OK begin\r\n", "pop3" },
		{ 21, "220 FTP server ready\r\n", "AUTH TLS\r\n", "234 AUTH TLS OK\r\n", NULL, NULL, "ftp" },
		{ 5222, NULL, "<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client'>",
		  "<stream:stream xmlns='jabber:client'><stream:features><starttls/></stream:features>",
		  "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
		  "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "xmpp" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seen s;
		struct conv c = { .o = engine(&s, NULL), .port = cases[i].port, .client_last = 1 };
		handshake(&c);
		if (cases[i].server_greeting)
			text(&c, 1, cases[i].server_greeting);
		text(&c, 0, cases[i].client1);
		text(&c, 1, cases[i].server1);
		if (cases[i].client2) {
			text(&c, 0, cases[i].client2);
			text(&c, 1, cases[i].server2);
		}
		client_hello(&c, "mail.example.test");
		ts_observe_free(c.o);
		assert_int_equal(s.tls, 1);
		assert_string_equal(s.starttls, cases[i].want);
		assert_string_equal(s.sni, "mail.example.test");
	}
	/* PostgreSQL: a binary SSLRequest and a one-byte 'S' */
	struct seen s;
	struct conv c = { .o = engine(&s, NULL), .port = 5432, .client_last = 1 };
	handshake(&c);
	frame(&c, 0, TS_TCP_ACK, "\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
	frame(&c, 1, TS_TCP_ACK, "S", 1);
	client_hello(&c, "db.example.test");
	ts_observe_free(c.o);
	assert_string_equal(s.starttls, "postgres");
	/* LDAP: an ExtendedRequest naming the StartTLS OID (RFC 4511 4.14) */
	c = (struct conv){ .o = engine(&s, NULL), .port = 389, .client_last = 1 };
	handshake(&c);
	static const char ldap_req[] = "\x30\x1d\x02\x01\x01\x77\x18\x80\x16" "1.3.6.1.4.1.1466.20037";
	static const char ldap_resp[] = "\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00";
	frame(&c, 0, TS_TCP_ACK, ldap_req, sizeof ldap_req - 1);
	frame(&c, 1, TS_TCP_ACK, ldap_resp, sizeof ldap_resp - 1);
	client_hello(&c, "dir.example.test");
	ts_observe_free(c.o);
	assert_string_equal(s.starttls, "ldap");
	/* TLS from the first byte on an odd port: no STARTTLS */
	c = (struct conv){ .o = engine(&s, NULL), .port = 8443, .client_last = 1 };
	handshake(&c);
	client_hello(&c, "odd.example.test");
	ts_observe_free(c.o);
	assert_int_equal(s.tls, 1);
	assert_string_equal(s.starttls, "");
	assert_true(s.last.client_hello);
	assert_false(s.last.midstream);
	assert_int_equal(s.last.n_alpn_offered, 2);
	assert_string_equal(s.last.alpn_offered[1], "http/1.1");
	assert_int_equal(strlen(s.last.ja4), 36);
	assert_int_equal(strlen(s.last.ja3), 32);
	/* plain HTTP is not TLS: nothing reported */
	c = (struct conv){ .o = engine(&s, NULL), .port = 80, .client_last = 1 };
	handshake(&c);
	text(&c, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	text(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	ts_observe_free(c.o);
	assert_int_equal(s.tls, 0);
}

static void dns_over_tcp_names_the_server(void **state)
{
	struct seen s;
	struct conv c = { .o = engine(&s, NULL), .port = 53, .client_last = 1 };
	handshake(&c);
	/* response: shop.example.test A 10.0.0.2, with a 2-byte length prefix */
	static const uint8_t resp[] = {
		0, 51, 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		4, 's', 'h', 'o', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
		0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 2,
	};
	/* in two pieces: the length prefix alone first */
	frame(&c, 1, TS_TCP_ACK, resp, 1);
	frame(&c, 1, TS_TCP_ACK, resp + 1, sizeof resp - 1);
	assert_int_equal(s.dns, 1);
	assert_string_equal(s.dns_qname, "shop.example.test");
	/* a later TLS connection to 10.0.0.2 carries the name */
	struct conv t = { .o = c.o, .port = 443, .client_last = 3 };
	handshake(&t);
	client_hello(&t, NULL);
	ts_observe_free(c.o);
	assert_int_equal(s.tls, 1);
	assert_string_equal(s.dns_name, "shop.example.test");
	assert_false(s.last.has_sni);
}

static void a_reused_port_starts_a_new_connection(void **state)
{
	struct seen s;
	struct conv c = { .o = engine(&s, NULL), .port = 443, .client_last = 1 };
	handshake(&c);
	client_hello(&c, "first.example.test");
	frame(&c, 0, TS_TCP_FIN | TS_TCP_ACK, NULL, 0); /* the server's FIN is not captured */
	assert_int_equal(s.tls, 0);
	handshake(&c); /* same addresses and ports, new sequence numbers */
	assert_int_equal(s.tls, 1);
	assert_string_equal(s.sni, "first.example.test");
	client_hello(&c, "second.example.test");
	ts_observe_free(c.o);
	assert_int_equal(s.tls, 2);
	assert_string_equal(s.sni, "second.example.test");
}

static void udp(struct ts_observe *o, int from_server, const uint8_t *dns, size_t len)
{
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put_u8(&b, 0x45);
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u16(&b, (uint16_t)(28 + len));
	ts_buf_put_u32(&b, 0);
	ts_buf_put_u8(&b, 64);
	ts_buf_put_u8(&b, 17);
	ts_buf_put_u16(&b, 0);
	uint8_t cl[4] = { 10, 0, 0, 1 }, sv[4] = { 10, 0, 0, 53 };
	ts_buf_put(&b, from_server ? sv : cl, 4);
	ts_buf_put(&b, from_server ? cl : sv, 4);
	ts_buf_put_u16(&b, from_server ? 53 : 33333);
	ts_buf_put_u16(&b, from_server ? 33333 : 53);
	ts_buf_put_u16(&b, (uint16_t)(8 + len));
	ts_buf_put_u16(&b, 0);
	ts_buf_put(&b, dns, len);
	struct ts_error err;
	assert_int_equal(ts_observe_packet(o, DLT_RAW, b.data, b.len, 1000, &err), 0);
	ts_buf_clear(&b);
}

static void dns_over_udp_frees_the_flow_after_the_answer(void **state)
{
	struct seen s;
	struct ts_observe *o = engine(&s, NULL);
	static const uint8_t q[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	                             1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	uint8_t r[sizeof q];
	memcpy(r, q, sizeof q);
	r[2] = 0x81;
	r[3] = 0x80;
	for (int i = 0; i < 2; i++) {
		udp(o, 0, q, sizeof q);
		udp(o, 1, r, sizeof r);
	}
	struct ts_observe_stats st;
	ts_observe_get_stats(o, &st);
	assert_int_equal(s.dns, 4);
	assert_string_equal(s.dns_qname, "a.test");
	assert_int_equal(st.flows, 2); /* the same ports twice: two exchanges, two flows */
	assert_int_equal(st.dns_messages, 4);
	ts_observe_free(o);
}

static void caps_flows_and_counts_evictions(void **state)
{
	struct seen s;
	struct ts_observe_config cfg = { .max_flows = 2 };
	struct ts_observe *o = engine(&s, &cfg);
	for (uint8_t i = 10; i < 20; i++) {
		struct conv c = { .o = o, .port = 443, .client_last = i };
		handshake(&c);
		client_hello(&c, "many.example.test");
	}
	struct ts_observe_stats st;
	ts_observe_get_stats(o, &st);
	assert_int_equal(st.flows, 10);
	assert_int_equal(st.flows_evicted, 8);
	assert_int_equal(st.flows_active_peak, 2);
	assert_int_equal(s.tls, 8); /* evicted flows are reported, marked truncated */
	assert_true(s.last.truncated);
	ts_observe_free(o);
	assert_int_equal(s.tls, 10);
}

static void overhead_follows_version_and_suite(void **state)
{
	size_t lo, hi;
	ts_observe_record_overhead(TS_TLS13, 0x1301, &lo, &hi);
	assert_int_equal(lo, 17);
	assert_int_equal(hi, 17);
	ts_observe_record_overhead(TS_TLS12, 0xc02f, &lo, &hi); /* ECDHE-RSA-AES128-GCM-SHA256 */
	assert_int_equal(lo, 24);
	assert_int_equal(hi, 24);
	ts_observe_record_overhead(TS_TLS12, 0xcca8, &lo, &hi); /* ECDHE-RSA-CHACHA20-POLY1305 */
	assert_int_equal(lo, 16);
	ts_observe_record_overhead(TS_TLS12, 0x002f, &lo, &hi); /* RSA-AES128-CBC-SHA */
	assert_int_equal(lo, 16 + 20 + 1);
	assert_int_equal(hi, 16 + 20 + 16);
	ts_observe_record_overhead(TS_TLS10, 0x000a, &lo, &hi); /* RSA-3DES-EDE-CBC-SHA, no explicit IV */
	assert_int_equal(lo, 20 + 1);
	assert_int_equal(hi, 20 + 8);
	ts_observe_record_overhead(TS_TLS10, 0x0005, &lo, &hi); /* RC4-SHA */
	assert_int_equal(lo, 20);
	ts_observe_record_overhead(TS_TLS12, 0xeeee, &lo, &hi);
	assert_int_equal(hi, 0);
}

/* One TLS record of the given type and length (contents: filler). */
static void record(struct conv *c, int from_server, uint8_t type, size_t len)
{
	static uint8_t buf[5 + 16384];
	assert_true(len <= 16384);
	buf[0] = type;
	buf[1] = 3;
	buf[2] = 3;
	buf[3] = (uint8_t)(len >> 8);
	buf[4] = (uint8_t)len;
	memset(buf + 5, 0x5a, len);
	frame(c, from_server, TS_TCP_ACK | TS_TCP_PSH, buf, 5 + len);
}

/* A TLS 1.3 handshake as the observer sees it: hellos in the clear, then the
 * server's encrypted flight and the client's CCS and Finished. */
static void tls13_handshake(struct conv *c)
{
	handshake(c);
	client_hello(c, "tickets.test");
	static const uint8_t sh[] = {
		0x16, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
		25, 26, 27, 28, 29, 30, 31, 32,
		0, 0x13, 0x01, 0, 0, 46,
		0, 0x2b, 0, 2, 3, 4,
		0, 0x33, 0, 36, 0, 0x1d, 0, 32,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
		25, 26, 27, 28, 29, 30, 31, 32,
	};
	frame(c, 1, TS_TCP_ACK | TS_TCP_PSH, sh, sizeof sh);
	record(c, 1, TS_CT_CHANGE_CIPHER_SPEC, 1);
	record(c, 1, TS_CT_APPLICATION_DATA, 1500);   /* EncryptedExtensions .. Finished */
	record(c, 0, TS_CT_CHANGE_CIPHER_SPEC, 1);
	record(c, 0, TS_CT_APPLICATION_DATA, 53);     /* the client's Finished */
}

/* Where OpenSSL's two session tickets land, and a proxy that relays a
 * response's headers in a record of their own (serve --forward): the ticket
 * flight is the leading run of equal-sized records, never the header record. */
static void tls13_tickets_are_told_from_a_header_record(void **state)
{
	(void)state;
	enum { TICKET = 282, HEADER = 250, BODY = 5000, OVH = 17 };
	const uint64_t response = HEADER - OVH + BODY - OVH;
	for (int where = 0; where < 3; where++) {
		struct seen s;
		struct ts_observe *o = engine(&s, NULL);
		struct conv c = { .o = o, .port = 443, .client_last = 1 };
		tls13_handshake(&c);
		if (where == 0) {           /* alone, before the request */
			record(&c, 1, TS_CT_APPLICATION_DATA, TICKET);
			record(&c, 1, TS_CT_APPLICATION_DATA, TICKET);
		}
		record(&c, 0, TS_CT_APPLICATION_DATA, 120);  /* the request */
		if (where == 1) {           /* ahead of the response */
			record(&c, 1, TS_CT_APPLICATION_DATA, TICKET);
			record(&c, 1, TS_CT_APPLICATION_DATA, TICKET);
		}                           /* where == 2: no tickets at all */
		record(&c, 1, TS_CT_APPLICATION_DATA, HEADER);
		record(&c, 1, TS_CT_APPLICATION_DATA, BODY);
		frame(&c, 0, TS_TCP_FIN | TS_TCP_ACK, NULL, 0);
		frame(&c, 1, TS_TCP_FIN | TS_TCP_ACK, NULL, 0);
		ts_observe_free(o);
		assert_int_equal(s.tls, 1);
		assert_int_equal(s.exchanges, 1);
		assert_int_equal(s.ex[0].response_plaintext_estimate, response);
		assert_int_equal(s.ex[0].response_plaintext_max, response + (where == 1 ? 2 * (TICKET - OVH) : 0));
		assert_int_equal(s.last.unsolicited_bytes, where == 0 ? 2 * (TICKET + 5) : 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_starttls_protocols_from_the_preamble),
		cmocka_unit_test(dns_over_tcp_names_the_server),
		cmocka_unit_test(a_reused_port_starts_a_new_connection),
		cmocka_unit_test(dns_over_udp_frees_the_flow_after_the_answer),
		cmocka_unit_test(caps_flows_and_counts_evictions),
		cmocka_unit_test(overhead_follows_version_and_suite),
		cmocka_unit_test(tls13_tickets_are_told_from_a_header_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
