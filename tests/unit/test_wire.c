/* The wire codec: build -> parse round trips, the incremental stream, every
 * message parser, malformed input (field and offset), limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/cert.h"
#include "tlsscope/fingerprint.h"
#include "tlsscope/registry.h"
#include "tlsscope/wire.h"

#include "hello_util.h"
#include "pcap_streams.h"

#include <dirent.h>
#include <pcap/pcap.h>
#include <unistd.h>

/* Parses the one handshake record at p as a ClientHello (record header checked). */
static int parse_ch_record(const uint8_t *p, size_t len, struct ts_client_hello *ch,
                           struct ts_error *err)
{
	assert_true(len >= 9);
	assert_int_equal(p[0], TS_CT_HANDSHAKE);
	assert_int_equal(p[5], TS_HS_CLIENT_HELLO);
	size_t mlen = (size_t)p[6] << 16 | (size_t)p[7] << 8 | p[8];
	assert_int_equal(mlen + 9, len);
	struct ts_reader rd;
	ts_reader_init(&rd, p + 9, mlen);
	return ts_parse_client_hello(&rd, ch, err);
}

static struct ts_client_hello ch_buf;

/* Builds sp's hello into out and parses it back into ch_buf, which it returns. */
static struct ts_client_hello *build_and_parse(const struct ts_hello_spec *sp, struct ts_buf *out,
                                               struct ts_error *err)
{
	assert_int_equal(ts_build_client_hello(sp, out, err), 0);
	assert_int_equal(parse_ch_record(out->data, out->len, &ch_buf, err), 0);
	return &ch_buf;
}

static void round_trip_every_tls_version(void **state)
{
	static const uint16_t versions[] = { TS_SSL3, TS_TLS10, TS_TLS11, TS_TLS12, TS_TLS13 };
	const char *alpn[] = { "h2", "http/1.1" };
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		struct ts_hello_spec sp = { .version = versions[i], .server_name = "www.example.test",
		                            .alpn = alpn, .n_alpn = 2, .ems = true,
		                            .renegotiation_info = true, .status_request = true,
		                            .sct = true, .session_ticket = true, .etm = true };
		struct ts_buf out;
		struct ts_error err = { 0 };
		ts_buf_init(&out);
		assert_int_equal(ts_build_client_hello(&sp, &out, &err), 0);
		assert_int_equal(ts_tls_looks_like(out.data, out.len), TS_LOOKS_TLS);
		struct ts_client_hello *ch = &ch_buf;
		assert_int_equal(parse_ch_record(out.data, out.len, ch, &err), 0);
		assert_int_equal(ch->version, versions[i] > TS_TLS12 ? TS_TLS12 : versions[i]);
		assert_int_equal(out.data[1] << 8 | out.data[2],
		                 versions[i] == TS_SSL3 ? TS_SSL3 : TS_TLS10);
		assert_true(ch->has_sni);
		assert_memory_equal(ch->sni.p, "www.example.test", ch->sni.len);
		assert_int_equal(ch->n_alpn, 2);
		assert_memory_equal(ch->alpn[1].p, "http/1.1", 8);
		assert_true(ch->has_ems && ch->has_renegotiation_info && ch->has_status_request);
		assert_true(ch->has_sct && ch->has_session_ticket && ch->has_etm);
		assert_int_equal(ch->status_type, 1);
		assert_int_equal(ch->n_compressions, 1);
		assert_true(ch->has_extensions);
		assert_true(ch->n_suites > 5);
		assert_int_equal(ch->has_sigalgs, versions[i] >= TS_TLS12);
		if (versions[i] == TS_TLS13) {
			assert_true(ch->has_versions);
			assert_int_equal(ch->versions[0], TS_TLS13);
			assert_int_equal(ch->n_key_shares, 1);
			assert_int_equal(ch->key_shares[0].group, 29);
			assert_int_equal(ch->key_shares[0].key.len, 32);
			assert_int_equal(ch->session_id.len, 32);
			assert_true(ch->has_psk_modes);
		} else {
			assert_false(ch->has_versions);
			assert_false(ch->has_key_share);
		}
		/* never 256..511 bytes (RFC 7685) */
		assert_false(out.len - 5 >= 256 && out.len - 5 <= 511);
		ts_buf_clear(&out);
	}
}

/* Writes each hello as one TCP packet (its own source port) into a pcap. */
static void write_pcap(const char *path, struct ts_buf *hellos, size_t n)
{
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		static uint8_t pkt[20 + 20 + 8192];
		size_t len = 40 + hellos[i].len;
		assert_true(len <= sizeof pkt);
		memset(pkt, 0, 40);
		pkt[0] = 0x45;                      /* IPv4, 20-byte header */
		pkt[2] = (uint8_t)(len >> 8);
		pkt[3] = (uint8_t)len;
		pkt[8] = 64;
		pkt[9] = 6;                         /* TCP */
		memcpy(pkt + 12, "\x7f\x00\x00\x01\x7f\x00\x00\x01", 8);
		uint16_t sport = (uint16_t)(40000 + i);
		pkt[20] = (uint8_t)(sport >> 8);
		pkt[21] = (uint8_t)sport;
		pkt[22] = 443 >> 8;
		pkt[23] = 443 & 0xff;
		pkt[27] = 1;                        /* seq 1 */
		pkt[32] = 0x50;                     /* 20-byte header */
		pkt[33] = 0x18;                     /* PSH ACK */
		pkt[34] = 0xff;
		memcpy(pkt + 40, hellos[i].data, hellos[i].len);
		struct pcap_pkthdr h = { .caplen = (bpf_u_int32)len, .len = (bpf_u_int32)len };
		h.ts.tv_sec = (time_t)(1 + i);
		pcap_dump((u_char *)d, &h, pkt);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static void built_hellos_agree_with_tshark(void **state)
{
	/* An independent reader of what the builder writes: tshark dissects every
	 * version's hello (SSLv2 too) with no expert warning, computes the same
	 * JA3, and sees the key shares (groups and lengths) that were asked for. */
	static const uint16_t versions[] = { TS_SSL2, TS_SSL3, TS_TLS10, TS_TLS11, TS_TLS12, TS_TLS13 };
	static const uint16_t groups[] = { 4588, 29, 23, 24, 30, 4587, 25 };
	enum { N = sizeof versions / sizeof versions[0] };
	const char *alpn[] = { "h2", "http/1.1" };
	struct ts_buf out[N];
	char ja3[N][TS_JA3_HASH_LEN];
	for (size_t i = 0; i < N; i++) {
		struct ts_hello_spec sp = { .version = versions[i], .server_name = "tshark.test",
		                            .alpn = alpn, .n_alpn = 2, .ems = true, .etm = true,
		                            .sct = true, .status_request = true, .session_ticket = true,
		                            .renegotiation_info = true, .heartbeat = true };
		if (versions[i] >= TS_TLS10) {
			sp.groups = groups;
			sp.n_groups = 7;
			sp.key_shares = groups;
			sp.n_key_shares = 7;
		}
		struct ts_error err = { 0 };
		ts_buf_init(&out[i]);
		assert_int_equal(ts_build_client_hello(&sp, &out[i], &err), 0);
		ja3[i][0] = '\0';
		if (versions[i] != TS_SSL2) {
			assert_int_equal(parse_ch_record(out[i].data, out[i].len, &ch_buf, &err), 0);
			assert_int_equal(ts_ja3(&ch_buf, ja3[i]), 0);
		}
	}
	char dir[] = "/tmp/tlsscope-test-wire.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char pcap[64], cmd[512];
	snprintf(pcap, sizeof pcap, "%s/hellos.pcap", dir);
	write_pcap(pcap, out, N);
	snprintf(cmd, sizeof cmd,
	         "tshark -n -r %s -d tcp.port==443,tls -T fields -E separator='|' -e tcp.srcport "
	         "-e tls.handshake.ja3 -e tls.handshake.cipherspec "
	         "-e tls.handshake.extensions_key_share_group "
	         "-e tls.handshake.extensions_key_share_key_exchange_length "
	         "-e tls.handshake.extensions_server_name -e _ws.expert.message 2>/dev/null", pcap);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char line[4096];
	size_t seen = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		print_message("# tshark: %s\n", line);
		char *fields[7] = { 0 }, *p = line;
		for (size_t k = 0; k < 7; k++)
			fields[k] = strsep(&p, "|");
		assert_non_null(fields[6]);
		size_t i = (size_t)atoi(fields[0]) - 40000;
		assert_true(i < N);
		seen++;
		assert_string_equal(fields[6], "");          /* no expert warning */
		if (versions[i] == TS_SSL2) {
			assert_non_null(strstr(fields[2], "0x0700c0"));
			continue;
		}
		assert_string_equal(fields[1], ja3[i]);
		assert_string_equal(fields[5], "tshark.test");
		if (versions[i] == TS_TLS13) {
			assert_string_equal(fields[3], "4588,29,23,24,30,4587,25");
			assert_string_equal(fields[4], "1216,32,65,97,56,1249,133");
		} else {
			assert_string_equal(fields[3], "");
		}
	}
	assert_int_equal(pclose(f), 0);
	assert_int_equal(seen, N);
	unlink(pcap);
	rmdir(dir);
	for (size_t i = 0; i < N; i++)
		ts_buf_clear(&out[i]);
}

static void sslv3_hello_without_extensions(void **state)
{
	/* Nothing asked for: no extension block at all, as SSLv3 clients sent. */
	struct ts_hello_spec sp = { .version = TS_SSL3 };
	struct ts_buf out;
	ts_buf_init(&out);
	build_and_parse(&sp, &out, NULL);
	assert_false(ch_buf.has_extensions);
	assert_int_equal(ch_buf.version, TS_SSL3);
	assert_int_equal(ch_buf.n_suites, 8);
	assert_int_equal(out.len, 5 + 4 + 2 + 32 + 1 + 2 + 16 + 2);
	ts_buf_clear(&out);
}

static void compression_methods_as_given(void **state)
{
	static const uint8_t methods[] = { 1, 0 };
	struct ts_hello_spec sp = { .version = TS_TLS12, .compressions = methods, .n_compressions = 2 };
	struct ts_buf out;
	struct ts_error err = { 0 };
	ts_buf_init(&out);
	build_and_parse(&sp, &out, &err);
	assert_int_equal(ch_buf.n_compressions, 2);
	assert_int_equal(ch_buf.compressions[0], 1);
	assert_int_equal(ch_buf.compressions[1], 0);
	ts_buf_clear(&out);
	sp.n_compressions = 0;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, &err), TS_E_INVALID);
	assert_string_equal(err.msg, "compression methods: wanted 1..255, got 0");
	ts_buf_clear(&out);
}

static void key_shares_are_well_formed(void **state)
{
	static const uint16_t groups[] = { 4588, 29, 23, 24, 30, 4587 };
	struct ts_hello_spec sp = { .version = TS_TLS13, .groups = groups, .n_groups = 6,
	                            .key_shares = groups, .n_key_shares = 6 };
	struct ts_buf out;
	struct ts_error err = { 0 };
	ts_buf_init(&out);
	struct ts_client_hello *ch = build_and_parse(&sp, &out, &err);
	assert_int_equal(ch->n_key_shares, 6);
	static const size_t lens[] = { 1184 + 32, 32, 65, 97, 56, 65 + 1184 };
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(ch->key_shares[i].group, groups[i]);
		assert_int_equal(ch->key_shares[i].key.len, lens[i]);
	}
	assert_int_equal(ch->key_shares[2].key.p[0], 0x04);   /* uncompressed point */
	assert_int_equal(ch->key_shares[3].key.p[0], 0x04);
	/* ML-KEM-768 t-hat: 768 coefficients, 12 bits each, all below q = 3329 */
	const uint8_t *ek = ch->key_shares[0].key.p;
	unsigned max = 0;
	for (size_t i = 0; i < 1152; i += 3) {
		unsigned a = ek[i] | (ek[i + 1] & 0x0f) << 8, b = ek[i + 1] >> 4 | ek[i + 2] << 4;
		max = a > max ? a : max;
		max = b > max ? b : max;
	}
	assert_true(max < 3329);
	assert_true(max > 3000);   /* and spread over the range, not all small */
	ts_buf_clear(&out);
	/* a group no key can be made for is refused with its name */
	static const uint16_t ff[] = { 256 };
	sp.key_shares = ff;
	sp.n_key_shares = 1;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "ffdhe2048"));
	ts_buf_clear(&out);
}

static void hundreds_of_suites(void **state)
{
	size_t n;
	const struct ts_suite_info *all = ts_suites(&n);
	uint16_t *codes = malloc(n * sizeof *codes);
	for (size_t i = 0; i < n; i++)
		codes[i] = all[i].code;
	/* and every group and signature scheme of the registry */
	size_t ng, ns;
	const struct ts_group_info *gi = ts_groups(&ng);
	const struct ts_sigscheme_info *si = ts_sigschemes(&ns);
	uint16_t groups[TS_MAX_GROUPS], sigs[TS_MAX_SIGALGS];
	assert_true(ng <= TS_MAX_GROUPS && ns <= TS_MAX_SIGALGS);
	for (size_t i = 0; i < ng; i++)
		groups[i] = gi[i].code;
	for (size_t i = 0; i < ns; i++)
		sigs[i] = si[i].code;
	struct ts_hello_spec sp = { .version = TS_TLS12, .suites = codes, .n_suites = n,
	                            .server_name = "a.test", .groups = groups, .n_groups = ng,
	                            .sigalgs = sigs, .n_sigalgs = ns };
	struct ts_buf out;
	struct ts_error err = { 0 };
	ts_buf_init(&out);
	struct ts_client_hello *ch = build_and_parse(&sp, &out, &err);
	assert_int_equal(ch->n_suites, n);
	assert_memory_equal(ch->suites, codes, n * sizeof *codes);
	assert_int_equal(ch->n_groups, ng);
	assert_memory_equal(ch->groups, groups, ng * sizeof *groups);
	assert_int_equal(ch->n_sigalgs, ns);
	assert_memory_equal(ch->sigalgs, sigs, ns * sizeof *sigs);
	assert_false(ch->truncated);
	free(codes);
	ts_buf_clear(&out);

	/* 9000 suites: a hello over 16 KiB spans two records; the stream joins
	 * them, and the parsed struct keeps the first TS_MAX_SUITES. */
	codes = malloc(9000 * sizeof *codes);
	for (size_t i = 0; i < 9000; i++)
		codes[i] = (uint16_t)(0x0100 + i);
	sp.suites = codes;
	sp.n_suites = 9000;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, &err), 0);
	struct hellos h;
	hellos_collect(out.data, out.len, 1000, &h);
	assert_int_equal(h.n_ch, 1);
	assert_int_equal(h.ch_rc[0], 0);
	assert_int_equal(h.ch[0]->n_suites, TS_MAX_SUITES);
	assert_true(h.ch[0]->truncated);
	assert_int_equal(h.ch[0]->suites[TS_MAX_SUITES - 1], 0x0100 + TS_MAX_SUITES - 1);
	hellos_free(&h);
	free(codes);
	ts_buf_clear(&out);
}

static void padding_keeps_hellos_out_of_256_to_511(void **state)
{
	/* every version, any number of suites (SSLv3 too: the padding is then its
	 * only extension) */
	static const uint16_t versions[] = { TS_SSL3, TS_TLS10, TS_TLS11, TS_TLS12, TS_TLS13 };
	static uint16_t codes[300];
	for (size_t i = 0; i < 300; i++)
		codes[i] = (uint16_t)(0x0001 + i);
	size_t padded = 0;
	for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
		for (size_t n = 1; n <= 300; n++) {
			struct ts_hello_spec sp = { .version = versions[v], .suites = codes,
			                            .n_suites = n };
			struct ts_buf out;
			ts_buf_init(&out);
			assert_int_equal(ts_build_client_hello(&sp, &out, NULL), 0);
			size_t hs = out.len - 5;
			if (hs >= 256 && hs <= 511)
				print_message("# %s, %zu suites: %zu bytes\n", ts_version_name(versions[v]), n, hs);
			assert_false(hs >= 256 && hs <= 511);
			assert_int_equal(parse_ch_record(out.data, out.len, &ch_buf, NULL), 0);
			assert_int_equal(ch_buf.n_suites, n);
			padded += ch_buf.has_padding;
			ts_buf_clear(&out);
		}
	}
	assert_true(padded > 500);
	char name[300];
	for (size_t len = 1; len < 255; len += 3) {
		memset(name, 'a', len);
		name[len] = '\0';
		struct ts_hello_spec sp = { .version = TS_TLS12, .server_name = name };
		struct ts_buf out;
		ts_buf_init(&out);
		assert_int_equal(ts_build_client_hello(&sp, &out, NULL), 0);
		size_t hs = out.len - 5;
		assert_false(hs >= 256 && hs <= 511);
		struct ts_client_hello *ch = &ch_buf;
		assert_int_equal(parse_ch_record(out.data, out.len, ch, NULL), 0);
		assert_int_equal(ch->sni.len, len);
		if (ch->has_padding)
			assert_true(hs == 512 || hs <= 515);
		sp.no_padding = true;
		ts_buf_reset(&out);
		ch = build_and_parse(&sp, &out, NULL);
		assert_false(ch->has_padding);
		ts_buf_clear(&out);
	}
}

static void ssl2_client_hello_round_trip(void **state)
{
	for (int v = 0; v < 2; v++) {
		struct ts_hello_spec sp = { .version = v == 0 ? TS_SSL2 : TS_TLS10 };
		struct ts_buf out;
		struct ts_error err = { 0 };
		ts_buf_init(&out);
		/* SSLv2 itself, and the v2-format hello offering TLS 1.0 of old clients */
		if (v == 0)
			assert_int_equal(ts_build_client_hello(&sp, &out, &err), 0);
		else
			assert_int_equal(ts_build_ssl2_client_hello(&sp, &out, &err), 0);
		assert_int_equal(ts_tls_looks_like(out.data, out.len), TS_LOOKS_SSL2);
		struct ts_tls_stream s;
		struct ts_tls_event ev;
		ts_tls_stream_init(&s, NULL);
		assert_int_equal(ts_tls_stream_feed(&s, out.data, out.len), 0);
		assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
		assert_int_equal(ev.kind, TS_EV_RECORD);
		assert_int_equal(ev.content_type, TS_CT_SSL2);
		assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
		assert_int_equal(ev.kind, TS_EV_SSL2);
		assert_int_equal(ev.hs_type, TS_SSL2_MT_CLIENT_HELLO);
		assert_true(s.ssl2);
		static struct ts_ssl2_client_hello c2;
		struct ts_reader rd;
		ts_reader_init(&rd, ev.body, ev.body_len);
		assert_int_equal(ts_parse_ssl2_client_hello(&rd, &c2, &err), 0);
		assert_int_equal(c2.version, v == 0 ? TS_SSL2 : TS_TLS10);
		assert_int_equal(c2.challenge.len, 16);
		assert_int_equal(c2.specs[0], 0x010080);
		assert_int_equal(c2.n_specs, v == 0 ? 7 : 7 + 9);
		assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
		ts_tls_stream_clear(&s);
		ts_buf_clear(&out);
	}
}

static void ssl2_server_hello(void **state)
{
	/* len 0x8000|(11+3+3+16), SERVER-HELLO, hit 0, X.509, v2, cert 3, specs 3, conn id 16 */
	uint8_t rec[2 + 11 + 3 + 3 + 16] = { 0x80, 33, 4, 0, 1, 0x00, 0x02, 0, 3, 0, 3, 0, 16,
	                                     0x30, 0x01, 0x00, 0x07, 0x00, 0xc0 };
	assert_int_equal(ts_tls_looks_like(rec, sizeof rec), TS_LOOKS_SSL2);
	struct ts_reader rd;
	struct ts_error err = { 0 };
	static struct ts_ssl2_server_hello s2;
	ts_reader_init(&rd, rec + 2, sizeof rec - 2);
	assert_int_equal(ts_parse_ssl2_server_hello(&rd, &s2, &err), 0);
	assert_int_equal(s2.version, TS_SSL2);
	assert_int_equal(s2.certificate.len, 3);
	assert_int_equal(s2.n_specs, 1);
	assert_int_equal(s2.specs[0], 0x0700c0);
	assert_int_equal(s2.connection_id.len, 16);
	/* the same through the stream (a server's first bytes), in two pieces */
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, rec, 10);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
	ts_tls_stream_feed(&s, rec + 10, sizeof rec - 10);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.content_type, TS_CT_SSL2);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.kind, TS_EV_SSL2);
	assert_int_equal(ev.hs_type, TS_SSL2_MT_SERVER_HELLO);
	assert_int_equal(ev.body_len, sizeof rec - 2);
	assert_true(s.ssl2 && s.encrypted);
	assert_int_equal(s.version, TS_SSL2);
	ts_tls_stream_clear(&s);
	/* a certificate length past the end names the field */
	rec[8] = 200;
	ts_reader_init(&rd, rec + 2, sizeof rec - 2);
	assert_int_equal(ts_parse_ssl2_server_hello(&rd, &s2, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "ssl2.server_hello.certificate"));
}

/* A TLS 1.2 server flight: ServerHello, Certificate, ServerKeyExchange (ECDHE),
 * ServerHelloDone in one record; then CCS, an encrypted Finished, an alert. */
static void build_server_flight(struct ts_buf *b)
{
	ts_buf_put_u8(b, TS_CT_HANDSHAKE);
	ts_buf_put_u16(b, TS_TLS12);
	size_t rec = ts_buf_open_vector(b, 2);
	/* ServerHello */
	ts_buf_put_u8(b, TS_HS_SERVER_HELLO);
	size_t m = ts_buf_open_vector(b, 3);
	ts_buf_put_u16(b, TS_TLS12);
	for (int i = 0; i < 32; i++)
		ts_buf_put_u8(b, (uint8_t)i);
	ts_buf_put_u8(b, 0);
	ts_buf_put_u16(b, 0xc02f);
	ts_buf_put_u8(b, 0);
	size_t ex = ts_buf_open_vector(b, 2);
	ts_buf_put_u16(b, 0xff01);
	ts_buf_put_u16(b, 1);
	ts_buf_put_u8(b, 0);
	ts_buf_put_u16(b, 16);   /* ALPN h2 */
	ts_buf_put_u16(b, 5);
	ts_buf_put_u16(b, 3);
	ts_buf_put_u8(b, 2);
	ts_buf_put(b, "h2", 2);
	ts_buf_put_u16(b, 11);
	ts_buf_put_u16(b, 2);
	ts_buf_put_u8(b, 1);
	ts_buf_put_u8(b, 0);
	ts_buf_close_vector(b, ex, 2);
	ts_buf_close_vector(b, m, 3);
	/* Certificate: two fake DER blobs */
	ts_buf_put_u8(b, TS_HS_CERTIFICATE);
	m = ts_buf_open_vector(b, 3);
	size_t list = ts_buf_open_vector(b, 3);
	ts_buf_put_u24(b, 4);
	ts_buf_put(b, "\x30\x02\x05\x00", 4);
	ts_buf_put_u24(b, 3);
	ts_buf_put(b, "\x30\x01\x00", 3);
	ts_buf_close_vector(b, list, 3);
	ts_buf_close_vector(b, m, 3);
	/* ServerKeyExchange: named curve x25519, 32-byte point, rsa_pss_rsae_sha256, 8-byte sig */
	ts_buf_put_u8(b, TS_HS_SERVER_KEY_EXCHANGE);
	m = ts_buf_open_vector(b, 3);
	ts_buf_put_u8(b, 3);
	ts_buf_put_u16(b, 29);
	ts_buf_put_u8(b, 32);
	ts_buf_put_zeros(b, 32);
	ts_buf_put_u16(b, 0x0804);
	ts_buf_put_u16(b, 8);
	ts_buf_put_zeros(b, 8);
	ts_buf_close_vector(b, m, 3);
	ts_buf_put_u8(b, TS_HS_SERVER_HELLO_DONE);
	ts_buf_put_u24(b, 0);
	ts_buf_close_vector(b, rec, 2);
	/* CCS, then an "encrypted Finished" (random-looking), then an alert */
	ts_buf_put(b, "\x14\x03\x03\x00\x01\x01", 6);
	ts_buf_put(b, "\x16\x03\x03\x00\x28", 5);
	for (int i = 0; i < 40; i++)
		ts_buf_put_u8(b, (uint8_t)(0x9b * i + 7));
	ts_buf_put(b, "\x15\x03\x03\x00\x02\x02\x28", 7);
}

struct ev_log {
	int kinds[32], types[32];
	size_t n;
};

static void run_stream(const uint8_t *p, size_t len, size_t chunk, struct ev_log *log,
                       struct ts_tls_stream *s)
{
	memset(log, 0, sizeof *log);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(ts_tls_stream_feed(s, p + off, n), 0);
		struct ts_tls_event ev;
		int rc;
		while ((rc = ts_tls_stream_next(s, &ev)) == 1) {
			assert_true(log->n < 32);
			log->kinds[log->n] = ev.kind;
			log->types[log->n] = ev.kind == TS_EV_HANDSHAKE ? ev.hs_type
			                   : ev.kind == TS_EV_RECORD ? ev.content_type * 100 + ev.encrypted
			                   : ev.kind == TS_EV_ALERT ? ev.alert.description : 0;
			log->n++;
			struct ts_reader rd;
			struct ts_error err = { 0 };
			ts_reader_init(&rd, ev.body, ev.body_len);
			if (ev.kind == TS_EV_HANDSHAKE && ev.hs_type == TS_HS_SERVER_HELLO) {
				static struct ts_server_hello sh;
				assert_int_equal(ts_parse_server_hello(&rd, &sh, &err), 0);
				assert_int_equal(sh.suite, 0xc02f);
				assert_true(sh.has_alpn && sh.alpn.len == 2);
				assert_true(sh.has_renegotiation_info && sh.has_point_formats);
				char ja3s[256];
				assert_true(ts_ja3s_string(&sh, ja3s, sizeof ja3s) > 0);
				assert_string_equal(ja3s, "771,49199,65281-16-11");
			} else if (ev.kind == TS_EV_HANDSHAKE && ev.hs_type == TS_HS_CERTIFICATE) {
				static struct ts_certificate_msg cm;
				assert_int_equal(ts_parse_certificate(&rd, false, &cm, &err), 0);
				assert_int_equal(cm.n_certs, 2);
				assert_int_equal(cm.certs[0].len, 4);
				assert_int_equal(cm.certs[1].len, 3);
			} else if (ev.kind == TS_EV_HANDSHAKE && ev.hs_type == TS_HS_SERVER_KEY_EXCHANGE) {
				struct ts_server_key_exchange ske;
				assert_int_equal(s->suite, 0xc02f);
				assert_int_equal(s->version, TS_TLS12);
				assert_int_equal(ts_parse_server_key_exchange(&rd, s->version, s->suite, &ske,
				                                              &err), 0);
				assert_int_equal(ske.kind, TS_SKE_ECDHE);
				assert_int_equal(ske.group, 29);
				assert_int_equal(ske.point.len, 32);
				assert_true(ske.has_sigalg);
				assert_int_equal(ske.sigalg, 0x0804);
				assert_int_equal(ske.signature.len, 8);
			} else if (ev.kind == TS_EV_HANDSHAKE && ev.hs_type == TS_HS_SERVER_HELLO_DONE) {
				assert_int_equal(ts_parse_server_hello_done(&rd, &err), 0);
			} else if (ev.kind == TS_EV_ALERT) {
				assert_int_equal(ev.alert.level, 2);
				assert_string_equal(ts_alert_name(ev.alert.description), "handshake_failure");
			}
		}
		assert_int_equal(rc, TS_E_NEED_MORE);
	}
}

static void stream_server_flight_in_any_chunks(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	build_server_flight(&b);
	struct ev_log whole, piece;
	struct ts_tls_stream s;
	ts_tls_stream_init(&s, NULL);
	run_stream(b.data, b.len, b.len, &whole, &s);
	ts_tls_stream_clear(&s);
	/* record, 4 messages, CCS record + event, encrypted handshake record, alert record + event */
	static const int kinds[] = { TS_EV_RECORD, TS_EV_HANDSHAKE, TS_EV_HANDSHAKE, TS_EV_HANDSHAKE,
	                             TS_EV_HANDSHAKE, TS_EV_RECORD, TS_EV_CHANGE_CIPHER_SPEC,
	                             TS_EV_RECORD, TS_EV_RECORD, TS_EV_ALERT };
	static const int types[] = { 2200, 2, 11, 12, 14, 2000, 0, 2201, 2100, 40 };
	assert_int_equal(whole.n, 10);
	assert_memory_equal(whole.kinds, kinds, sizeof kinds);
	assert_memory_equal(whole.types, types, sizeof types);
	/* byte by byte, and in odd chunks: the same events */
	for (size_t chunk = 1; chunk < 20; chunk += 6) {
		ts_tls_stream_init(&s, NULL);
		run_stream(b.data, b.len, chunk, &piece, &s);
		assert_int_equal(piece.n, whole.n);
		assert_memory_equal(piece.kinds, whole.kinds, sizeof whole.kinds);
		assert_memory_equal(piece.types, whole.types, sizeof whole.types);
		ts_tls_stream_clear(&s);
	}
	ts_buf_clear(&b);
}

static void sslv3_server_flight(void **state)
{
	/* An SSLv3 server: ServerHello (RSA_EXPORT_WITH_RC4_40_MD5, no extensions),
	 * Certificate, a 512-bit export RSA ServerKeyExchange, ServerHelloDone,
	 * each in its own 0x0300 record, fed byte by byte. */
	struct ts_buf b;
	ts_buf_init(&b);
	for (int msg = 0; msg < 4; msg++) {
		ts_buf_put_u8(&b, TS_CT_HANDSHAKE);
		ts_buf_put_u16(&b, TS_SSL3);
		size_t rec = ts_buf_open_vector(&b, 2);
		static const uint8_t types[] = { TS_HS_SERVER_HELLO, TS_HS_CERTIFICATE,
		                                 TS_HS_SERVER_KEY_EXCHANGE, TS_HS_SERVER_HELLO_DONE };
		ts_buf_put_u8(&b, types[msg]);
		size_t m = ts_buf_open_vector(&b, 3);
		if (msg == 0) {
			ts_buf_put_u16(&b, TS_SSL3);
			ts_buf_put_zeros(&b, 32);
			ts_buf_put_u8(&b, 0);
			ts_buf_put_u16(&b, 0x0003);
			ts_buf_put_u8(&b, 0);
		} else if (msg == 1) {
			size_t list = ts_buf_open_vector(&b, 3);
			ts_buf_put_u24(&b, 5);
			ts_buf_put(&b, "\x30\x03\x02\x01\x07", 5);
			ts_buf_close_vector(&b, list, 3);
		} else if (msg == 2) {
			ts_buf_put_u16(&b, 64);
			ts_buf_put_u8(&b, 0xc1);
			ts_buf_put_zeros(&b, 63);
			ts_buf_put(&b, "\x00\x03\x01\x00\x01", 5);
			ts_buf_put(&b, "\x00\x24", 2);   /* MD5 + SHA-1 signature, no scheme */
			ts_buf_put_zeros(&b, 36);
		}
		ts_buf_close_vector(&b, m, 3);
		ts_buf_close_vector(&b, rec, 2);
	}
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	size_t seen = 0;
	for (size_t off = 0; off < b.len; off++) {
		assert_int_equal(ts_tls_stream_feed(&s, b.data + off, 1), 0);
		while (ts_tls_stream_next(&s, &ev) == 1) {
			if (ev.kind == TS_EV_RECORD) {
				assert_int_equal(ev.record_version, TS_SSL3);
				continue;
			}
			assert_int_equal(ev.kind, TS_EV_HANDSHAKE);
			struct ts_reader rd;
			struct ts_error err = { 0 };
			static struct ts_server_hello sh;
			static struct ts_certificate_msg cm;
			struct ts_server_key_exchange ske;
			ts_reader_init(&rd, ev.body, ev.body_len);
			switch (seen++) {
			case 0:
				assert_int_equal(ev.hs_type, TS_HS_SERVER_HELLO);
				assert_int_equal(ts_parse_server_hello(&rd, &sh, &err), 0);
				assert_int_equal(sh.selected_version, TS_SSL3);
				assert_false(sh.has_extensions);
				break;
			case 1:
				assert_int_equal(ev.hs_type, TS_HS_CERTIFICATE);
				assert_int_equal(ts_parse_certificate(&rd, false, &cm, &err), 0);
				assert_int_equal(cm.n_certs, 1);
				assert_memory_equal(cm.certs[0].p, "\x30\x03\x02\x01\x07", 5);
				break;
			case 2:
				assert_int_equal(s.version, TS_SSL3);
				assert_int_equal(s.suite, 0x0003);
				assert_int_equal(ts_parse_server_key_exchange(&rd, s.version, s.suite, &ske,
				                                              &err), 0);
				assert_int_equal(ske.kind, TS_SKE_RSA);
				assert_int_equal(ske.rsa_bits, 512);
				assert_false(ske.has_sigalg);
				assert_int_equal(ske.signature.len, 36);
				break;
			case 3:
				assert_int_equal(ts_parse_server_hello_done(&rd, &err), 0);
				break;
			}
		}
	}
	assert_int_equal(seen, 4);
	assert_false(s.encrypted);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&b);

	/* The TLS 1.3 layout of Certificate: request context, per-entry extensions. */
	static const uint8_t tls13[] = { 0, 0, 0, 12, 0, 0, 3, 0x30, 1, 0, 0, 4, 0, 5, 0, 0 };
	static struct ts_certificate_msg cm;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	ts_reader_init(&rd, tls13, sizeof tls13);
	assert_int_equal(ts_parse_certificate(&rd, true, &cm, &err), 0);
	assert_int_equal(cm.n_certs, 1);
	assert_int_equal(cm.certs[0].len, 3);
	ts_reader_init(&rd, tls13, sizeof tls13);
	assert_int_equal(ts_parse_certificate(&rd, false, &cm, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "certificate has bytes after the certificate list"));
}

static void handshake_spanning_records(void **state)
{
	/* One ClientHello cut into 3 records of the stream, fed byte by byte. */
	struct ts_hello_spec sp = { .version = TS_TLS13, .server_name = "span.test" };
	struct ts_buf one, split;
	ts_buf_init(&one);
	ts_buf_init(&split);
	assert_int_equal(ts_build_client_hello(&sp, &one, NULL), 0);
	const uint8_t *msg = one.data + 5;
	size_t len = one.len - 5, cut[] = { 0, 3, 100, len };
	for (int i = 0; i < 3; i++) {
		ts_buf_put(&split, "\x16\x03\x01", 3);
		ts_buf_put_u16(&split, (uint16_t)(cut[i + 1] - cut[i]));
		ts_buf_put(&split, msg + cut[i], cut[i + 1] - cut[i]);
	}
	struct hellos h;
	hellos_collect(split.data, split.len, 1, &h);
	assert_int_equal(h.n_ch, 1);
	assert_int_equal(h.ch_rc[0], 0);
	assert_memory_equal(h.ch[0]->sni.p, "span.test", 9);
	hellos_free(&h);
	ts_buf_clear(&one);
	ts_buf_clear(&split);
}

static void truncated_hellos_fail_with_field_and_offset(void **state)
{
	struct ts_hello_spec sp = { .version = TS_TLS13, .server_name = "trunc.test" };
	struct ts_buf out;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, NULL), 0);
	const uint8_t *body = out.data + 9;
	size_t len = out.len - 9;
	/* the body without extensions is 2+32+1+32+2+2*15+1+1 bytes: a complete hello */
	size_t bare = 2 + 32 + 1 + 32 + 2 + 30 + 2;
	for (size_t n = 0; n < len; n++) {
		struct ts_reader rd;
		struct ts_error err = { 0 };
		ts_reader_init(&rd, body, n);
		int rc = ts_parse_client_hello(&rd, &ch_buf, &err);
		if (n == bare) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, TS_E_MALFORMED);
		assert_true(rd.error);
		assert_non_null(rd.field);
		assert_true(rd.error_off <= n);
		assert_non_null(strstr(err.msg, "offset"));
		assert_non_null(strstr(err.msg, rd.field));
	}
	ts_buf_clear(&out);

	/* A cipher_suites length larger than what is left: the field and the
	 * offset of its length (2 + 32 + 1 + 0-byte session id = 35). */
	uint8_t bad[2 + 32 + 1 + 2 + 4] = { 3, 3 };
	bad[35] = 0x01;
	bad[36] = 0x2c;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	ts_reader_init(&rd, bad, sizeof bad);
	assert_int_equal(ts_parse_client_hello(&rd, &ch_buf, &err), TS_E_MALFORMED);
	assert_string_equal(rd.field, "client_hello.cipher_suites");
	assert_int_equal(rd.error_off, 35);
	assert_string_equal(err.msg, "malformed ClientHello: client_hello.cipher_suites runs past the "
	                             "end of its container at offset 35");
	/* odd cipher_suites length */
	bad[35] = 0;
	bad[36] = 3;
	ts_reader_init(&rd, bad, sizeof bad);
	assert_int_equal(ts_parse_client_hello(&rd, &ch_buf, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "odd length"));
}

/* Parses the first n bytes of body as message kind k (0 ServerHello,
 * 1 Certificate, 2 ServerKeyExchange of ECDHE_RSA in TLS 1.2, 3 SSLv2
 * CLIENT-HELLO, 4 SSLv2 SERVER-HELLO). */
static int parse_prefix(int k, const uint8_t *body, size_t n, struct ts_reader *rd,
                        struct ts_error *err)
{
	static struct ts_server_hello sh;
	static struct ts_certificate_msg cm;
	static struct ts_ssl2_client_hello c2;
	static struct ts_ssl2_server_hello s2;
	struct ts_server_key_exchange ske;
	ts_reader_init(rd, body, n);
	switch (k) {
	case 0: return ts_parse_server_hello(rd, &sh, err);
	case 1: return ts_parse_certificate(rd, false, &cm, err);
	case 2: return ts_parse_server_key_exchange(rd, TS_TLS12, 0xc02f, &ske, err);
	case 3: return ts_parse_ssl2_client_hello(rd, &c2, err);
	default: return ts_parse_ssl2_server_hello(rd, &s2, err);
	}
}

static void every_prefix_fails_with_field_and_offset(void **state)
{
	/* The server flight's ServerHello, Certificate and ServerKeyExchange, and
	 * both SSLv2 hellos: each parses whole, and every shorter prefix is
	 * TS_E_MALFORMED with a field and an offset within the bytes given
	 * (except a ServerHello cut right before its optional extensions). */
	struct ts_buf b, ssl2;
	ts_buf_init(&b);
	ts_buf_init(&ssl2);
	build_server_flight(&b);
	const uint8_t *msg[5];
	size_t len[5];
	size_t at = 5;
	for (int k = 0; k < 3; k++) {
		len[k] = (size_t)b.data[at + 1] << 16 | (size_t)b.data[at + 2] << 8 | b.data[at + 3];
		msg[k] = b.data + at + 4;
		at += 4 + len[k];
	}
	struct ts_hello_spec sp = { .version = TS_SSL2 };
	assert_int_equal(ts_build_client_hello(&sp, &ssl2, NULL), 0);
	msg[3] = ssl2.data + 2;
	len[3] = ssl2.len - 2;
	static const uint8_t s2[] = { 4, 0, 1, 0x00, 0x02, 0, 3, 0, 3, 0, 16, 0x30, 0x01, 0x00,
	                              0x07, 0x00, 0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	                              14, 15, 16 };
	msg[4] = s2;
	len[4] = sizeof s2;
	for (int k = 0; k < 5; k++) {
		struct ts_reader rd;
		struct ts_error err = { 0 };
		assert_int_equal(parse_prefix(k, msg[k], len[k], &rd, &err), 0);
		for (size_t n = 0; n < len[k]; n++) {
			int rc = parse_prefix(k, msg[k], n, &rd, &err);
			if (k == 0 && n == 2 + 32 + 1 + 2 + 1) {
				assert_int_equal(rc, 0);
				continue;
			}
			assert_int_equal(rc, TS_E_MALFORMED);
			assert_non_null(rd.field);
			assert_true(rd.error_off <= n);
			assert_non_null(strstr(err.msg, rd.field));
			assert_non_null(strstr(err.msg, "offset"));
		}
	}
	ts_buf_clear(&b);
	ts_buf_clear(&ssl2);
}

static void malformed_extension_keeps_the_rest(void **state)
{
	/* supported_groups with a list length larger than its extension */
	uint8_t ext[] = { 0x00, 0x0a, 0x00, 0x04, 0x00, 0x08, 0x00, 0x1d,
	                  0x00, 0x00, 0x00, 0x07, 0x00, 0x05, 0x00, 0x00, 0x02, 'a', 'b' };
	struct ts_hello_spec sp = { .version = TS_TLS12, .suites = (const uint16_t[]){ 0x002f },
	                            .n_suites = 1, .no_extensions = true };
	struct ts_buf out;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, NULL), 0);
	ts_buf_put_u16(&out, sizeof ext);
	ts_buf_put(&out, ext, sizeof ext);
	struct ts_reader rd;
	struct ts_error err = { 0 };
	ts_reader_init(&rd, out.data + 9, out.len - 9);
	assert_int_equal(ts_parse_client_hello(&rd, &ch_buf, &err), TS_E_MALFORMED);
	assert_string_equal(rd.field, "supported_groups.named_group_list");
	assert_int_equal(rd.error_off, 2 + 32 + 1 + 4 + 2 + 2 + 4);
	/* every extension is still listed and the later SNI decoded */
	assert_int_equal(ch_buf.n_ext, 2);
	assert_true(ch_buf.has_sni);
	assert_memory_equal(ch_buf.sni.p, "ab", 2);
	ts_buf_clear(&out);
}

/* A raw extension for ts_hello_spec.extra. */
#define EXT(t, body) { .type = (t), .len = sizeof(body) - 1, .data = (const uint8_t *)(body) }

static void every_extension_decoded(void **state)
{
	/* Every extension the issue names, with known contents: the ones the
	 * builder writes itself, the rest as raw extras (pre_shared_key last). */
	static const struct ts_ext extra[] = {
		EXT(TS_EXT_SIGNATURE_ALGORITHMS_CERT, "\x00\x04\x08\x04\x04\x03"),
		EXT(TS_EXT_EARLY_DATA, ""),
		EXT(TS_EXT_COMPRESS_CERTIFICATE, "\x04\x00\x02\x00\x01"),
		EXT(TS_EXT_ENCRYPTED_CLIENT_HELLO,
		    "\x00\x00\x01\x00\x01\x2a\x00\x03" "ENC" "\x00\x04" "PAYL"),
		EXT(TS_EXT_ENCRYPTED_SERVER_NAME,
		    "\x13\x01\x00\x1d\x00\x02" "KS" "\x00\x03" "DIG" "\x00\x05" "ESNI!"),
		EXT(0x4469, "unknown"),   /* ALPS: not decoded, kept as type + bytes */
		EXT(0x3a3a, ""),          /* GREASE */
		EXT(TS_EXT_PRE_SHARED_KEY,
		    "\x00\x0a\x00\x04" "TKT1" "\x00\x00\x00\x07" "\x00\x21\x20"
		    "0123456789abcdef0123456789abcdef"),
	};
	static const uint16_t groups[] = { 0x0a0a, 29, 23 };
	const char *alpn[] = { "h2" };
	struct ts_hello_spec sp = { .version = TS_TLS13, .server_name = "every.test", .alpn = alpn,
	                            .n_alpn = 1, .groups = groups, .n_groups = 3,
	                            .key_shares = groups + 1, .n_key_shares = 1,
	                            .status_request = true, .sct = true, .ems = true, .etm = true,
	                            .session_ticket = true, .renegotiation_info = true,
	                            .heartbeat = true, .extra = extra,
	                            .n_extra = sizeof extra / sizeof extra[0] };
	struct ts_buf out;
	struct ts_error err = { 0 };
	ts_buf_init(&out);
	struct ts_client_hello *ch = build_and_parse(&sp, &out, &err);
	assert_memory_equal(ch->sni.p, "every.test", 10);
	assert_true(ch->has_alpn && ch->n_alpn == 1 && ch->alpn[0].len == 2);
	assert_true(ch->has_versions && ch->n_versions == 2 && ch->versions[1] == TS_TLS12);
	assert_true(ch->has_groups && ch->n_groups == 3 && ch->groups[2] == 23);
	assert_true(ch->has_point_formats && ch->n_point_formats == 1 && ch->point_formats[0] == 0);
	assert_true(ch->has_key_share && ch->n_key_shares == 1 && ch->key_shares[0].group == 29);
	assert_true(ch->has_sigalgs && ch->n_sigalgs == 10);
	assert_true(ch->has_sigalgs_cert && ch->n_sigalgs_cert == 2);
	assert_int_equal(ch->sigalgs_cert[1], 0x0403);
	assert_true(ch->has_session_ticket && ch->session_ticket.len == 0);
	assert_true(ch->has_status_request && ch->status_type == 1);
	assert_true(ch->has_sct && ch->has_ems && ch->has_etm);
	assert_true(ch->has_renegotiation_info && ch->renegotiation_info.len == 0);
	assert_true(ch->has_heartbeat && ch->heartbeat_mode == 1);
	assert_true(ch->has_early_data);
	assert_true(ch->has_psk_modes && ch->n_psk_modes == 1 && ch->psk_modes[0] == 1);
	assert_true(ch->has_cert_compression && ch->n_cert_compression == 2);
	assert_int_equal(ch->cert_compression[0], 2);   /* brotli */
	assert_int_equal(ch->cert_compression[1], 1);   /* zlib */
	assert_true(ch->has_ech && ch->ech_type == 0);
	assert_int_equal(ch->ech_kdf, 1);
	assert_int_equal(ch->ech_aead, 1);
	assert_int_equal(ch->ech_config_id, 0x2a);
	assert_memory_equal(ch->ech_enc.p, "ENC", 3);
	assert_memory_equal(ch->ech_payload.p, "PAYL", 4);
	assert_true(ch->has_esni);
	assert_int_equal(ch->esni_suite, 0x1301);
	assert_int_equal(ch->esni_group, 29);
	assert_memory_equal(ch->esni_record_digest.p, "DIG", 3);
	assert_memory_equal(ch->esni_encrypted_sni.p, "ESNI!", 5);
	assert_true(ch->has_psk && ch->n_psk_identities == 1 && ch->n_psk_binders == 1);
	assert_memory_equal(ch->psk_identities[0].p, "TKT1", 4);
	assert_true(ch->has_grease);
	assert_false(ch->truncated);
	/* unknown and GREASE extensions are kept as type + bytes, in order; PSK last */
	bool unknown = false, grease = false;
	for (size_t i = 0; i < ch->n_ext; i++) {
		const struct ts_ext *e = &ch->ext[i];
		assert_ptr_equal(e->data, out.data + 9 + e->off);
		if (e->type == 0x4469) {
			unknown = true;
			assert_int_equal(e->len, 7);
			assert_memory_equal(e->data, "unknown", 7);
		}
		grease |= e->type == 0x3a3a;
	}
	assert_true(unknown && grease);
	assert_int_equal(ch->ext[ch->n_ext - 1].type, TS_EXT_PRE_SHARED_KEY);
	/* an ECH inner marker is one byte */
	static const struct ts_ext inner[] = { EXT(TS_EXT_ENCRYPTED_CLIENT_HELLO, "\x01") };
	struct ts_hello_spec sp2 = { .version = TS_TLS13, .extra = inner, .n_extra = 1 };
	ts_buf_reset(&out);
	ch = build_and_parse(&sp2, &out, &err);
	assert_true(ch->has_ech && ch->ech_type == 1);
	ts_buf_clear(&out);
}

static void every_extension_checks_its_lengths(void **state)
{
	/* Each decoded extension with a body that runs past itself (or has bytes
	 * left over): TS_E_MALFORMED naming that extension's field, at an offset
	 * inside that extension. */
	static const struct { struct ts_ext ext; const char *field; } bad[] = {
		{ EXT(TS_EXT_SERVER_NAME, "\x00\x09\x00\x00\x03" "ab"), "server_name." },
		{ EXT(TS_EXT_SERVER_NAME, "\x00\x05\x00\x00\x03" "ab"), "server_name." },
		{ EXT(TS_EXT_ALPN, "\x00\x03\x05h2"), "alpn." },
		{ EXT(TS_EXT_SUPPORTED_VERSIONS, "\x04\x03\x04"), "supported_versions." },
		{ EXT(TS_EXT_SUPPORTED_VERSIONS, "\x03\x03\x04\x03"), "supported_versions." },
		{ EXT(TS_EXT_SUPPORTED_GROUPS, "\x00\x04\x00\x1d"), "supported_groups." },
		{ EXT(TS_EXT_KEY_SHARE, "\x00\x06\x00\x1d\x00\x20\x01\x02"), "key_share." },
		{ EXT(TS_EXT_SIGNATURE_ALGORITHMS, "\x00\x01\x04"), "signature_algorithms." },
		{ EXT(TS_EXT_SIGNATURE_ALGORITHMS_CERT, "\x00\x04\x04\x03"), "signature_algorithms_cert." },
		{ EXT(TS_EXT_EC_POINT_FORMATS, "\x02\x00"), "ec_point_formats." },
		{ EXT(TS_EXT_STATUS_REQUEST, ""), NULL },   /* empty: a server's ack, fine */
		{ EXT(TS_EXT_RENEGOTIATION_INFO, "\x05\x00"), "renegotiation_info." },
		{ EXT(TS_EXT_HEARTBEAT, ""), "heartbeat." },
		{ EXT(TS_EXT_EARLY_DATA, "\x00"), "extension_data" },
		{ EXT(TS_EXT_EXTENDED_MASTER_SECRET, "\x00"), "extension_data" },
		{ EXT(TS_EXT_PSK_KEY_EXCHANGE_MODES, "\x03\x01"), "psk_key_exchange_modes." },
		{ EXT(TS_EXT_COMPRESS_CERTIFICATE, "\x02\x00"), "compress_certificate." },
		{ EXT(TS_EXT_COMPRESS_CERTIFICATE, "\x03\x00\x02\x00"), "compress_certificate." },
		{ EXT(TS_EXT_ENCRYPTED_CLIENT_HELLO, "\x00\x00\x01\x00\x01\x2a\x00\x09"),
		  "encrypted_client_hello." },
		{ EXT(TS_EXT_ENCRYPTED_CLIENT_HELLO, ""), "encrypted_client_hello." },
		{ EXT(TS_EXT_ENCRYPTED_SERVER_NAME, "\x13\x01\x00\x1d\x00\x02KS\x00\x03"),
		  "encrypted_server_name." },
		{ EXT(TS_EXT_PRE_SHARED_KEY, "\x00\x0a\x00\x04TKT1\x00\x00\x00\x07\x00\x05\x04"),
		  "pre_shared_key." },
		{ EXT(TS_EXT_PRE_SHARED_KEY, "\x00\x06\x00\x04TKT1\x00\x00\x00\x07"), "pre_shared_key." },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ts_hello_spec sp = { .version = TS_TLS12, .suites = (const uint16_t[]){ 0x002f },
		                            .n_suites = 1, .no_padding = true, .extra = &bad[i].ext,
		                            .n_extra = 1 };
		struct ts_buf out;
		struct ts_error err = { 0 };
		ts_buf_init(&out);
		assert_int_equal(ts_build_client_hello(&sp, &out, &err), 0);
		struct ts_reader rd;
		ts_reader_init(&rd, out.data + 9, out.len - 9);
		int rc = ts_parse_client_hello(&rd, &ch_buf, &err);
		const struct ts_ext *e = &ch_buf.ext[ch_buf.n_ext - 1];
		print_message("# %s: %s\n", ts_extension_name(bad[i].ext.type),
		              rc == 0 ? "accepted" : err.msg);
		assert_int_equal(e->type, bad[i].ext.type);
		if (bad[i].field == NULL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, TS_E_MALFORMED);
			assert_non_null(rd.field);
			assert_int_equal(strncmp(rd.field, bad[i].field, strlen(bad[i].field)), 0);
			assert_true(rd.error_off >= e->off && rd.error_off <= e->off + e->len);
			assert_non_null(strstr(err.msg, rd.field));
		}
		ts_buf_clear(&out);
	}
}

static void server_hello_and_hrr(void **state)
{
	static const uint8_t hrr_random[32] = {
		0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
		0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
	};
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put_u16(&b, TS_TLS12);
	ts_buf_put(&b, hrr_random, 32);
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u16(&b, 0x1301);
	ts_buf_put_u8(&b, 0);
	size_t ex = ts_buf_open_vector(&b, 2);
	ts_buf_put(&b, "\x00\x2b\x00\x02\x03\x04", 6);
	ts_buf_put(&b, "\x00\x33\x00\x02\x11\xec", 6);
	ts_buf_put(&b, "\x00\x2c\x00\x05\x00\x03xyz", 9);
	ts_buf_close_vector(&b, ex, 2);
	static struct ts_server_hello sh;
	struct ts_reader rd;
	ts_reader_init(&rd, b.data, b.len);
	assert_int_equal(ts_parse_server_hello(&rd, &sh, NULL), 0);
	assert_true(sh.is_hrr);
	assert_int_equal(sh.selected_version, TS_TLS13);
	assert_int_equal(sh.group, 4588);
	assert_int_equal(sh.cookie.len, 3);
	/* the same as a stream: reported as hello_retry_request */
	struct ts_buf rec;
	ts_buf_init(&rec);
	ts_buf_put(&rec, "\x16\x03\x03", 3);
	ts_buf_put_u16(&rec, (uint16_t)(b.len + 4));
	ts_buf_put_u8(&rec, 2);
	ts_buf_put_u24(&rec, (uint32_t)b.len);
	ts_buf_put(&rec, b.data, b.len);
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, rec.data, rec.len);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.hs_type, TS_HS_HELLO_RETRY_REQUEST);
	assert_string_equal(ts_hs_type_name(ev.hs_type), "hello_retry_request");
	assert_false(s.encrypted);
	/* The compatibility CCS after a HelloRetryRequest starts no encryption:
	 * the real ServerHello that follows is still read in the clear. */
	ts_tls_stream_feed(&s, (const uint8_t *)"\x14\x03\x03\x00\x01\x01", 6);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.kind, TS_EV_RECORD);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.kind, TS_EV_CHANGE_CIPHER_SPEC);
	assert_false(s.encrypted);
	rec.data[5 + 4 + 2] ^= 0xff; /* no longer the HelloRetryRequest random */
	ts_tls_stream_feed(&s, rec.data, rec.len);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_false(ev.encrypted);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.hs_type, TS_HS_SERVER_HELLO);
	assert_true(s.encrypted);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&rec);
	ts_buf_clear(&b);
}

static void ske_dhe_and_errors(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put_u16(&b, 129);   /* p: leading zero then 1024 bits */
	ts_buf_put_u8(&b, 0);
	ts_buf_put_u8(&b, 0x80);
	ts_buf_put_zeros(&b, 127);
	ts_buf_put(&b, "\x00\x01\x02", 3);
	ts_buf_put(&b, "\x00\x02\x12\x34", 4);
	ts_buf_put(&b, "\x00\x04\x00\x00\x00\x00", 6);   /* TLS 1.0: no sigalg */
	struct ts_reader rd;
	struct ts_error err = { 0 };
	struct ts_server_key_exchange ske;
	ts_reader_init(&rd, b.data, b.len);
	assert_int_equal(ts_parse_server_key_exchange(&rd, TS_TLS10, 0x0033, &ske, &err), 0);
	assert_int_equal(ske.kind, TS_SKE_DHE);
	assert_int_equal(ske.dh_bits, 1024);
	assert_false(ske.has_sigalg);
	assert_int_equal(ske.signature.len, 4);
	/* as TLS 1.2 the same bytes lack a sigalg: the signature runs short */
	ts_reader_init(&rd, b.data, b.len);
	assert_int_equal(ts_parse_server_key_exchange(&rd, TS_TLS12, 0x0033, &ske, &err),
	                 TS_E_MALFORMED);
	assert_string_equal(rd.field, "server_key_exchange");
	assert_non_null(strstr(err.msg, "bytes after its contents"));
	/* a suite without ServerKeyExchange, and an unknown suite */
	ts_reader_init(&rd, b.data, b.len);
	assert_int_equal(ts_parse_server_key_exchange(&rd, TS_TLS12, 0x1301, &ske, &err), TS_E_INVALID);
	assert_int_equal(ts_parse_server_key_exchange(&rd, TS_TLS12, 0x7777, &ske, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "0x7777"));
	ts_buf_clear(&b);
	/* alert and CCS checks */
	struct ts_alert al;
	ts_reader_init(&rd, "\x03\x28", 2);
	assert_int_equal(ts_parse_alert(&rd, &al, &err), TS_E_MALFORMED);
	assert_string_equal(rd.field, "alert.level");
	ts_reader_init(&rd, "\x01\x00", 2);
	assert_int_equal(ts_parse_alert(&rd, &al, &err), 0);
	assert_string_equal(ts_alert_name(al.description), "close_notify");
	ts_reader_init(&rd, "\x01", 1);
	assert_int_equal(ts_parse_change_cipher_spec(&rd, &err), 0);
	ts_reader_init(&rd, "\x02", 1);
	assert_int_equal(ts_parse_change_cipher_spec(&rd, &err), TS_E_MALFORMED);
	ts_reader_init(&rd, "\x00", 1);
	assert_int_equal(ts_parse_server_hello_done(&rd, &err), TS_E_MALFORMED);
}

static void recognising_and_resynchronising(void **state)
{
	static const uint8_t zeros[32];   /* no random byte may look like a header */
	struct ts_hello_spec sp = { .version = TS_TLS12, .random = zeros };
	struct ts_buf out;
	ts_buf_init(&out);
	assert_int_equal(ts_build_client_hello(&sp, &out, NULL), 0);
	assert_int_equal(ts_tls_looks_like(out.data, 3), TS_LOOKS_MAYBE);
	assert_int_equal(ts_tls_looks_like(out.data, out.len), TS_LOOKS_TLS);
	assert_int_equal(ts_tls_looks_like((const uint8_t *)"GET / HTTP/1.1\r\n", 16), TS_LOOKS_NO);
	assert_int_equal(ts_tls_looks_like((const uint8_t *)"SSH-2.0-OpenSSH", 15), TS_LOOKS_NO);
	assert_int_equal(ts_tls_looks_like((const uint8_t *)"\x16\x03\x01\x00\x05\x63", 6), TS_LOOKS_NO);
	assert_int_equal(ts_tls_looks_like((const uint8_t *)"\x16\x03\x07", 3), TS_LOOKS_NO);
	assert_int_equal(ts_tls_looks_like((const uint8_t *)"\x17\x03\x03\x50\x00", 5), TS_LOOKS_NO);

	/* garbage, then two records: resync finds the first of them */
	struct ts_buf g;
	ts_buf_init(&g);
	ts_buf_put(&g, "220 mail.example ESMTP\r\n\x16\x03", 26);
	size_t at = g.len;
	ts_buf_put(&g, out.data, out.len);
	ts_buf_put(&g, out.data, out.len);
	assert_int_equal(ts_tls_resync(g.data, g.len), at);
	assert_int_equal(ts_tls_resync(g.data, 10), 10);

	/* the stream after a gap: first half lost, resynchronises on the next record */
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, out.data, 20);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
	ts_tls_stream_gap(&s, 7);
	ts_tls_stream_feed(&s, out.data + 27, out.len - 27);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
	ts_tls_stream_feed(&s, out.data, out.len);
	ts_tls_stream_feed(&s, (const uint8_t *)"\x17\x03\x03\x00\x01\x00", 6);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.kind, TS_EV_RECORD);
	assert_int_equal(ev.record_off, out.len);   /* 20 fed + 7 lost + the rest of the first */
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.hs_type, TS_HS_CLIENT_HELLO);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&g);

	/* bad record header: content type named, stream stays failed */
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, (const uint8_t *)"\x16\x03\x01\x00\x01\x01\x42\x03\x03\x00\x00", 11);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_MALFORMED);
	assert_non_null(strstr(s.err.msg, "record.content_type at offset 6"));
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_MALFORMED);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&out);
}

/* A stream (of the given version, 0 for none yet) fed one 5-byte record
 * header fails on it, with why in its message. */
static void record_header_refused(uint16_t version, const char *header, const char *why)
{
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	if (version != 0)
		ts_tls_stream_set_version(&s, version);
	ts_tls_stream_feed(&s, (const uint8_t *)header, 5);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_MALFORMED);
	assert_non_null(strstr(s.err.msg, why));
	ts_tls_stream_clear(&s);
}

static void limits(void **state)
{
	struct ts_wire_limits lim = { .max_handshake = 1000 };
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, &lim);
	/* a handshake header announcing 1 MiB */
	ts_tls_stream_feed(&s, (const uint8_t *)"\x16\x03\x01\x00\x04\x01\x10\x00\x00", 9);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_MALFORMED);
	assert_non_null(strstr(s.err.msg, "over the limit of 1000"));
	ts_tls_stream_clear(&s);
	/* records over the record limit */
	record_header_refused(0, "\x17\x03\x03\x50\x00", "record.length");
	/* plaintext handshake records are at most 2^14 bytes */
	record_header_refused(0, "\x16\x03\x03\x40\x01", "over the plaintext limit of 16384");
	/* TLS 1.3 ciphertext: at most 2^14 + 256 */
	record_header_refused(TS_TLS13, "\x17\x03\x03\x41\x01", "over the TLS 1.3 limit of 16640");
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, (const uint8_t *)"\x17\x03\x03\x41\x01", 5);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);   /* fine in TLS 1.2: reported at its header */
	ts_tls_stream_clear(&s);
	/* buffering is bounded */
	lim = (struct ts_wire_limits){ .max_buffered = 100 };
	ts_tls_stream_init(&s, &lim);
	uint8_t junk[101] = { 0 };
	assert_int_equal(ts_tls_stream_feed(&s, junk, sizeof junk), TS_E_NOMEM);
	ts_tls_stream_clear(&s);
}

static void tls13_after_server_hello_is_encrypted(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put(&b, "\x16\x03\x03\x00\x3a\x02\x00\x00\x36\x03\x03", 11);
	ts_buf_put_zeros(&b, 32);
	ts_buf_put(&b, "\x00\x13\x01\x00\x00\x0e\x00\x2b\x00\x02\x03\x04\x00\x33\x00\x04\x00\x1d\x00\x00", 20);
	ts_buf_put(&b, "\x14\x03\x03\x00\x01\x01", 6);
	ts_buf_put(&b, "\x17\x03\x03\x00\x05\x01\x02\x03\x04\x05", 10);
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, b.data, b.len);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.hs_type, TS_HS_SERVER_HELLO);
	assert_int_equal(s.version, TS_TLS13);
	assert_int_equal(s.suite, 0x1301);
	assert_true(s.encrypted);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);   /* CCS record */
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.kind, TS_EV_CHANGE_CIPHER_SPEC);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.content_type, TS_CT_APPLICATION_DATA);
	assert_true(ev.encrypted);
	assert_int_equal(ev.record_len, 5);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&b);
}

static void application_data_is_skipped_not_buffered(void **state)
{
	struct ts_buf b;
	ts_buf_init(&b);
	ts_buf_put(&b, "\x17\x03\x03\x27\x10", 5);   /* 10000 bytes of ciphertext */
	for (int i = 0; i < 10000; i++)
		ts_buf_put_u8(&b, (uint8_t)(i * 7));
	ts_buf_put(&b, "\x15\x03\x03\x00\x02\x01\x00", 7);   /* close_notify */
	struct ts_tls_stream s;
	struct ts_tls_event ev;
	ts_tls_stream_init(&s, NULL);
	size_t events = 0, max_cap = 0;
	for (size_t off = 0; off < b.len; off += 100) {
		size_t n = b.len - off < 100 ? b.len - off : 100;
		assert_int_equal(ts_tls_stream_feed(&s, b.data + off, n), 0);
		max_cap = s.in.cap > max_cap ? s.in.cap : max_cap;
		while (ts_tls_stream_next(&s, &ev) == 1) {
			if (events == 0) {
				assert_int_equal(off, 0);   /* reported with its header */
				assert_int_equal(ev.content_type, TS_CT_APPLICATION_DATA);
				assert_int_equal(ev.record_len, 10000);
				assert_null(ev.body);
			} else if (ev.kind == TS_EV_ALERT) {
				assert_string_equal(ts_alert_name(ev.alert.description), "close_notify");
				assert_int_equal(ev.record_off, 10005);
			}
			events++;
		}
	}
	assert_int_equal(events, 3);
	assert_true(max_cap <= 256);
	ts_tls_stream_clear(&s);
	/* a gap inside the record: the stream keeps its place */
	ts_tls_stream_init(&s, NULL);
	ts_tls_stream_feed(&s, b.data, 1000);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ts_tls_stream_next(&s, &ev), TS_E_NEED_MORE);
	ts_tls_stream_gap(&s, 5000);
	ts_tls_stream_feed(&s, b.data + 6000, b.len - 6000);
	assert_int_equal(ts_tls_stream_next(&s, &ev), 1);
	assert_int_equal(ev.content_type, TS_CT_ALERT);
	assert_int_equal(ev.record_off, 10005);
	ts_tls_stream_clear(&s);
	ts_buf_clear(&b);
}

/* Every TLS direction of every reference capture (tests/data/captures/) runs
 * through the stream to its end in 1400-byte pieces, and every plaintext
 * ClientHello, ServerHello, Certificate, ServerKeyExchange and alert in it
 * through its parser.  Where either fails, the failure must be explained. */
static bool is_capture(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".pcap") == 0) ||
	       (n > 7 && strcmp(name + n - 7, ".pcapng") == 0);
}

/* Each message the codec parses, out of the captures: how many of each kind
 * parsed and how many failed. */
struct parsed_count {
	size_t ok[6], broken, failed, certs;
};

static void parse_real_message(const struct ts_tls_stream *s, const struct ts_tls_event *ev,
                               const char *file, struct parsed_count *pc)
{
	static struct ts_client_hello ch;
	static struct ts_server_hello sh;
	static struct ts_certificate_msg cm;
	struct ts_server_key_exchange ske;
	struct ts_alert al;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	int rc, kind;
	ts_reader_init(&rd, ev->body, ev->body_len);
	switch (ev->kind == TS_EV_ALERT ? -1 : ev->hs_type) {
	case TS_HS_CLIENT_HELLO:
		kind = 0;
		rc = ts_parse_client_hello(&rd, &ch, &err);
		break;
	case TS_HS_SERVER_HELLO:
	case TS_HS_HELLO_RETRY_REQUEST:
		kind = 1;
		rc = ts_parse_server_hello(&rd, &sh, &err);
		break;
	case TS_HS_CERTIFICATE:
		kind = 2;
		rc = ts_parse_certificate(&rd, s->version == TS_TLS13, &cm, &err);
		/* the DER handed to the cert module decodes */
		for (size_t i = 0; rc == 0 && i < cm.n_certs; i++) {
			struct ts_cert_info info = { 0 };
			struct ts_error cerr = { 0 };
			if (ts_cert_info_from_der(cm.certs[i].p, cm.certs[i].len, &info, &cerr) == 0) {
				pc->certs++;
			} else {
				print_message("# %s: certificate %zu: %s\n", file, i, cerr.msg);
				pc->failed++;
			}
			ts_cert_info_clear(&info);
		}
		break;
	case TS_HS_SERVER_KEY_EXCHANGE:
		kind = 3;
		rc = ts_parse_server_key_exchange(&rd, s->version, s->suite, &ske, &err);
		if (rc == 0 && ske.kind == TS_SKE_ECDHE)
			assert_true(ske.group != 0 && ske.point.len > 0);
		if (rc == 0 && ske.kind == TS_SKE_DHE)
			assert_true(ske.dh_bits >= 512);
		break;
	case TS_HS_SERVER_HELLO_DONE:
		kind = 5;
		rc = ts_parse_server_hello_done(&rd, &err);
		break;
	case -1:
		kind = 4;
		ts_reader_init(&rd, ev->body, ev->record_len);
		rc = ts_parse_alert(&rd, &al, &err);
		assert_true(rc != 0 || strncmp(ts_alert_name(al.description), "unknown_", 8) != 0);
		break;
	default:
		return;
	}
	if (rc == 0) {
		pc->ok[kind]++;
		return;
	}
	/* Hellos whose bytes are broken: tshark 4.0 flags the same ones
	 * ("Vector length 45203 is too large", "Malformed Packet"). */
	static const struct { const char *file, *error; } broken[] = {
		{ "tls-esni-fuzzed.pcap", "malformed ClientHello: encrypted_server_name.encrypted_sni "
		                          "runs past the end of its container at offset 407" },
		{ "tls_invalid_reads.pcap", "malformed ClientHello: extensions runs past the end of "
		                            "its container at offset 92" },
		{ "tls_invalid_reads.pcap", "malformed ClientHello: alpn.protocol_name_list runs past "
		                            "the end of its container at offset 145" },
	};
	bool known = false;
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		known |= strcmp(file, broken[i].file) == 0 && strcmp(err.msg, broken[i].error) == 0;
	print_message("# %s: %s: %s%s\n", file, ts_hs_type_name(ev->hs_type), err.msg,
	              known ? " (broken in the capture)" : "");
	pc->broken += known;
	pc->failed += !known;
}

static void every_tls_direction_of_the_captures(void **state)
{
	/* Files where the bytes themselves are not TLS past some point. */
	static const struct { const char *file, *error, *reason; } known[] = {
		{ "tls_invalid_reads.pcap",
		  "record.content_type at offset 842: 0xaa is not a TLS content type (20..24)",
		  "after the ServerHello flight come bytes that are no record (tshark: \"Ignored Unknown "
		  "Record\"); nDPI keeps this capture for its invalid reads" },
	};
	static const char *const dirs[] = { "ja4", "ndpi" };
	size_t directions = 0, records = 0, messages = 0, explained = 0, failures = 0;
	struct parsed_count parsed = { 0 };
	for (size_t di = 0; di < 2; di++) {
		char dpath[512];
		snprintf(dpath, sizeof dpath, "%s/tests/data/captures/%s", TS_SOURCE_ROOT, dirs[di]);
		DIR *d = opendir(dpath);
		assert_non_null(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (!is_capture(de->d_name))
				continue;
			char path[1024];
			snprintf(path, sizeof path, "%s/%s", dpath, de->d_name);
			struct pcap_stream *st;
			size_t n;
			assert_int_equal(pcap_streams_load(path, 1 << 22, &st, &n), 0);
			for (size_t i = 0; i < n; i++) {
				const uint8_t *p = st[i].data;
				size_t len = st[i].len;
				size_t start = len > 0 && ts_tls_looks_like(p, len) == TS_LOOKS_NO
				             ? ts_tls_resync(p, len) : 0;
				if (len == 0 || start >= len)
					continue;   /* not TLS (DNS, HTTP, an empty direction) */
				directions++;
				struct ts_tls_stream s;
				ts_tls_stream_init(&s, NULL);
				int rc = TS_E_NEED_MORE;
				int last_type = 0;
				for (size_t off = start; off < len && rc == TS_E_NEED_MORE; off += 1400) {
					size_t k = len - off < 1400 ? len - off : 1400;
					assert_int_equal(ts_tls_stream_feed(&s, p + off, k), 0);
					struct ts_tls_event ev;
					while ((rc = ts_tls_stream_next(&s, &ev)) == 1) {
						if (ev.kind == TS_EV_RECORD) {
							records++;
							last_type = ev.content_type;
						}
						messages += ev.kind == TS_EV_HANDSHAKE;
						if (ev.kind == TS_EV_HANDSHAKE || ev.kind == TS_EV_ALERT)
							parse_real_message(&s, &ev, de->d_name, &parsed);
					}
				}
				if (rc != TS_E_NEED_MORE) {
					bool ok = false;
					/* FTP's CCC: after close_notify both ways the control channel
					 * returns to cleartext ("PASV"...): the TLS stream has ended. */
					if (last_type == TS_CT_ALERT)
						ok = true;
					for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
						if (strcmp(de->d_name, known[k].file) == 0 &&
						    strcmp(s.err.msg, known[k].error) == 0)
							ok = true;
					print_message("# %s %s:%u -> %s:%u: %s%s\n", de->d_name, st[i].src,
					              st[i].sport, st[i].dst, st[i].dport, s.err.msg,
					              ok ? " (explained)" : "");
					explained += ok;
					failures += !ok;
				}
				ts_tls_stream_clear(&s);
			}
			pcap_streams_free(st, n);
		}
		closedir(d);
	}
	print_message("# %zu TLS directions, %zu records, %zu handshake messages, %zu explained "
	              "stops, %zu unexplained\n", directions, records, messages, explained, failures);
	print_message("# parsed: %zu ClientHello, %zu ServerHello, %zu Certificate, %zu "
	              "ServerKeyExchange, %zu ServerHelloDone, %zu alerts; %zu broken in the capture, "
	              "%zu failed; %zu certificates decoded\n", parsed.ok[0], parsed.ok[1], parsed.ok[2],
	              parsed.ok[3], parsed.ok[5], parsed.ok[4], parsed.broken, parsed.failed,
	              parsed.certs);
	assert_true(directions >= 300);
	assert_true(records >= 1000);
	assert_true(messages >= 400);
	assert_true(explained <= 3);
	assert_int_equal(failures, 0);
	assert_true(parsed.ok[0] >= 170 && parsed.ok[1] >= 100 && parsed.ok[2] >= 30);
	assert_true(parsed.ok[3] >= 25 && parsed.ok[5] >= 25 && parsed.certs >= 70);
	assert_int_equal(parsed.broken, 3);
	assert_int_equal(parsed.failed, 0);
}

static void names(void **state)
{
	assert_string_equal(ts_version_name(TS_TLS13), "TLSv1.3");
	assert_string_equal(ts_version_name(TS_SSL2), "SSLv2");
	assert_string_equal(ts_version_name(0x7f1c), "0x7f1c");
	assert_string_equal(ts_content_type_name(TS_CT_ALERT), "alert");
	assert_string_equal(ts_hs_type_name(TS_HS_CERTIFICATE), "certificate");
	assert_string_equal(ts_hs_type_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_every_tls_version),
		cmocka_unit_test(built_hellos_agree_with_tshark),
		cmocka_unit_test(sslv3_hello_without_extensions),
		cmocka_unit_test(compression_methods_as_given),
		cmocka_unit_test(key_shares_are_well_formed),
		cmocka_unit_test(hundreds_of_suites),
		cmocka_unit_test(padding_keeps_hellos_out_of_256_to_511),
		cmocka_unit_test(ssl2_client_hello_round_trip),
		cmocka_unit_test(ssl2_server_hello),
		cmocka_unit_test(stream_server_flight_in_any_chunks),
		cmocka_unit_test(sslv3_server_flight),
		cmocka_unit_test(handshake_spanning_records),
		cmocka_unit_test(truncated_hellos_fail_with_field_and_offset),
		cmocka_unit_test(every_prefix_fails_with_field_and_offset),
		cmocka_unit_test(malformed_extension_keeps_the_rest),
		cmocka_unit_test(every_extension_decoded),
		cmocka_unit_test(every_extension_checks_its_lengths),
		cmocka_unit_test(server_hello_and_hrr),
		cmocka_unit_test(ske_dhe_and_errors),
		cmocka_unit_test(recognising_and_resynchronising),
		cmocka_unit_test(limits),
		cmocka_unit_test(tls13_after_server_hello_is_encrypted),
		cmocka_unit_test(application_data_is_skipped_not_buffered),
		cmocka_unit_test(every_tls_direction_of_the_captures),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
