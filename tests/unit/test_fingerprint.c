/* JA3 / JA3S / JA4 against the specifications' examples and against the
 * answers of two independent implementations on real captures:
 *   tests/data/captures/ja4/  — FoxIO's JA4 reference test suite (*.json);
 *   tests/data/captures/ndpi/ — nDPI's regression suite (*.out).
 * See tests/data/captures/README.md for where the files come from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tlsscope/fingerprint.h"
#include "tlsscope/registry.h"
#include "tlsscope/wire.h"

#include "hello_util.h"
#include "pcap_streams.h"

#define CAPTURES TS_SOURCE_ROOT "/tests/data/captures"
#define STREAM_BYTES (256 * 1024)

/* --- the specification's own example ------------------------------------- */

/* JA4.md's example: suites, extensions and signature algorithms as listed. */
static void fill_spec_example(struct ts_client_hello *ch)
{
	static const uint16_t suites[] = { 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
	                                   0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
	                                   0x0035 };
	static const uint16_t exts[] = { 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d,
	                                 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b,
	                                 0x000a, 0x0015 };
	static const uint16_t sigs[] = { 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806,
	                                 0x0601 };
	static const uint8_t h2[] = "h2";
	memset(ch, 0, sizeof *ch);
	ch->version = TS_TLS12;
	ch->suites[0] = 0x0a0a;   /* GREASE first, as browsers do: must be ignored */
	memcpy(ch->suites + 1, suites, sizeof suites);
	ch->n_suites = 1 + sizeof suites / 2;
	ch->ext[0].type = 0x2a2a;
	for (size_t i = 0; i < sizeof exts / 2; i++)
		ch->ext[i + 1].type = exts[i];
	ch->n_ext = 1 + sizeof exts / 2;
	memcpy(ch->sigalgs, sigs, sizeof sigs);
	ch->n_sigalgs = sizeof sigs / 2;
	ch->has_sni = true;
	ch->has_alpn = true;
	ch->alpn[0] = (struct ts_bytes){ h2, 2 };
	ch->n_alpn = 1;
	ch->has_versions = true;
	ch->versions[0] = 0x3a3a;
	ch->versions[1] = TS_TLS13;
	ch->versions[2] = TS_TLS12;
	ch->n_versions = 3;
}

static void ja4_spec_example(void **state)
{
	static struct ts_client_hello ch;
	char out[1024];
	fill_spec_example(&ch);
	assert_int_equal(ts_ja4(&ch, out), 0);
	assert_string_equal(out, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	assert_true(ts_ja4_string(&ch, 't', TS_JA4_R, out, sizeof out) > 0);
	assert_string_equal(out, "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,"
	                         "c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,"
	                         "002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
	assert_true(ts_ja4_string(&ch, 't', TS_JA4_RO, out, sizeof out) > 0);
	assert_string_equal(out, "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,"
	                         "009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,"
	                         "0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,"
	                         "0806,0601");
	assert_true(ts_ja4_string(&ch, 't', TS_JA4_O, out, sizeof out) > 0);
	assert_string_equal(out, "t13d1516h2_acb858a92679_18f69afefd3d");
	/* Without signature algorithms the c string ends without '_' (spec: 6d807ffa2a79). */
	ch.n_sigalgs = 0;
	assert_int_equal(ts_ja4(&ch, out), 0);
	assert_string_equal(out + 24, "6d807ffa2a79");
	/* A too small buffer is refused, not overrun. */
	assert_int_equal(ts_ja4_string(&ch, 't', TS_JA4_R, out, 20), TS_E_NOMEM);
	assert_string_equal(out, "");
}

static void ja4_alpn_rules(void **state)
{
	static struct ts_client_hello ch;
	char out[64];
	static const struct { const char *alpn; size_t len; const char *want; } cases[] = {
		{ "http/1.1", 8, "h1" }, { "h2", 2, "h2" }, { "x", 1, "xx" },
		{ "\xab", 1, "ab" }, { "\xab\xcd", 2, "ad" }, { "0\xab", 2, "3b" },
		{ "01\xab\xcd", 4, "3d" }, { "0\xab\xcd" "1", 4, "01" }, { "", 0, "00" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fill_spec_example(&ch);
		ch.alpn[0] = (struct ts_bytes){ (const uint8_t *)cases[i].alpn, cases[i].len };
		assert_int_equal(ts_ja4(&ch, out), 0);
		assert_memory_equal(out + 8, cases[i].want, 2);
	}
	fill_spec_example(&ch);
	ch.has_alpn = false;
	ch.has_sni = false;
	ch.n_suites = 1;   /* only GREASE: no ciphers */
	assert_int_equal(ts_ja4(&ch, out), 0);
	assert_memory_equal(out, "t13i001600_000000000000_", 24);
}

static void ja3_string_and_hash(void **state)
{
	/* The example of the JA3 README: 769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,
	 * 0-10-11,23-24-25,0  ->  ada70206e40642a3e4461f35503241d5 */
	static struct ts_client_hello ch;
	static const uint16_t suites[] = { 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4 };
	memset(&ch, 0, sizeof ch);
	ch.version = 769;
	ch.suites[0] = 0xfafa;
	memcpy(ch.suites + 1, suites, sizeof suites);
	ch.n_suites = 1 + sizeof suites / 2;
	ch.ext[0].type = 0;
	ch.ext[1].type = 0x1a1a;
	ch.ext[2].type = 10;
	ch.ext[3].type = 11;
	ch.n_ext = 4;
	ch.groups[0] = 0x0a0a;
	ch.groups[1] = 23;
	ch.groups[2] = 24;
	ch.groups[3] = 25;
	ch.n_groups = 4;
	ch.point_formats[0] = 0;
	ch.n_point_formats = 1;
	char s[256], h[TS_JA3_HASH_LEN];
	assert_int_equal(ts_ja3_string(&ch, s, sizeof s),
	                 (int)strlen("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"));
	assert_string_equal(s, "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
	assert_int_equal(ts_ja3(&ch, h), 0);
	assert_string_equal(h, "ada70206e40642a3e4461f35503241d5");
	assert_int_equal(ts_ja3_string(&ch, s, 10), TS_E_NOMEM);
	/* JA3S: "version,cipher,extensions" */
	static struct ts_server_hello sh;
	memset(&sh, 0, sizeof sh);
	sh.version = 771;
	sh.suite = 0xc02f;
	sh.ext[0].type = 65281;
	sh.ext[1].type = 11;
	sh.n_ext = 2;
	assert_int_equal(ts_ja3s_string(&sh, s, sizeof s), (int)strlen("771,49199,65281-11"));
	assert_string_equal(s, "771,49199,65281-11");
	assert_int_equal(ts_ja3s(&sh, h), 0);
	assert_int_equal(strlen(h), 32);
}

/* Where a reference answer and this project's differ, the reason, decided from
 * JA4.md (FoxIO-LLC/ja4, technical_details/JA4.md, 2026) and the bytes of the
 * hello.  Each rule checks the bytes, so it cannot excuse anything else:
 * the two strings must differ only where the rule says. */
static bool only_differ_at(const char *got, const char *want, size_t from, size_t to)
{
	size_t n = strlen(got);
	if (n != strlen(want) || n < to)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((i < from || i >= to) && got[i] != want[i])
			return false;
	return true;
}

static bool alnum_byte(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static const char *explain_ja4(const char *got, const char *want, const struct ts_client_hello *ch)
{
	/* nDPI 4.x writes 'd' for hellos without a server_name extension (it looks
	 * at the destination, not at the extension).  JA4.md: "If the SNI extension
	 * (0x0000) exists, then ... 'd'. If the SNI does not exist ... 'i'."  These
	 * hellos have no server_name extension (STARTTLS mail clients, ESNI). */
	if (only_differ_at(got, want, 3, 4) && got[3] == 'i' && want[3] == 'd' && !ch->has_sni)
		return "no server_name extension: JA4 says 'i'";
	if (!only_differ_at(got, want, 8, 10) || !ch->has_alpn || ch->n_alpn == 0 ||
	    ch->alpn[0].len < 2)
		return NULL;
	const struct ts_bytes *a = &ch->alpn[0];
	/* nDPI 4.x takes the first two characters of the ALPN ("ht" for http/1.1);
	 * JA4.md takes the first and last ("h1", its own example). */
	if (want[8] == (char)a->p[0] && want[9] == (char)a->p[1] && got[8] == (char)a->p[0] &&
	    got[9] == (char)a->p[a->len - 1])
		return "JA4 takes the first and last ALPN characters";
	/* Non-alphanumeric ALPN bytes (tls-non-ascii-alpn: 0xba 0xad): the
	 * reference JSON holds "99", what FoxIO's python/ja4.py writes when the
	 * first byte is over 127; JA4.md's prose (and its examples: 0xAB 0xCD ->
	 * "ad") print the first hex digit of the first byte and the last hex digit
	 * of the last byte, as s2n-tls does too.  We follow the specification. */
	static const char hex[] = "0123456789abcdef";
	if (strncmp(want + 8, "99", 2) == 0 && (!alnum_byte(a->p[0]) || !alnum_byte(a->p[a->len - 1])) &&
	    got[8] == hex[a->p[0] >> 4] && got[9] == hex[a->p[a->len - 1] & 15])
		return "non-alphanumeric ALPN: JA4 now prints hex digits, not 99";
	return NULL;
}

/* --- ClientHellos of this machine's real clients (tests/data/hellos/) ------ */

static void real_client_hellos(void **state)
{
	/* JA3: tshark's tls.handshake.ja3; JA4: from tshark's dissected fields
	 * (see tests/data/hellos/README.md).  n_suites and n_ext count GREASE. */
	static const struct {
		const char *file, *ja3, *ja4, *alpn0;
		size_t n_suites, n_ext, key_share_len;
		bool padded;
	} v[] = {
		{ "openssl-s_client-tls13", "a3afc2c46ba4a7d7fbe1cfb7a3031c2f",
		  "t13d311000_e8f1e7e78f70_1f22a2ca17c4", NULL, 31, 10, 32, false },
		{ "openssl-s_client-tls12", "871a754af286dfb70c1b53c6887c62e0",
		  "t12d280700_d943125447b4_e7e480e5a997", NULL, 28, 7, 0, false },
		{ "curl-tls13", "0149f47eabf9a20d0893e2a44e5a6323",
		  "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6", "h2", 31, 12, 32, true },
		{ "curl-tls12", "87b9bfc7da97115ed2276737b09f8d74",
		  "t12d2807h1_d943125447b4_a44c6288192a", "http/1.1", 28, 7, 0, false },
		{ "gnutls-cli", "f35ce21b44ac0b87d3266294bb1b0e20",
		  "t13d291300_723694b0fccc_2cc26d266019", NULL, 29, 13, 65, false },
		{ "python3-ssl", "93c7d42c0df602fb91589311534831f5",
		  "t13d181100_85036bcba153_d41ae481755e", NULL, 18, 11, 32, true },
		{ "chromium-1", "f0169d4d22328b80581f1ffc56425f9f",
		  "t13d1517h2_8daaf6152771_cb7bf5808d99", "h2", 16, 19, 1, false },
		{ "chromium-2", "e1e7e58021ca323ca19db67174cdf75c",
		  "t13d1517h2_8daaf6152771_cb7bf5808d99", "h2", 16, 19, 1, false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/tests/data/hellos/%s.bin", TS_SOURCE_ROOT, v[i].file);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		static uint8_t buf[8192];
		size_t len = fread(buf, 1, sizeof buf, f);
		fclose(f);
		assert_int_equal(ts_tls_looks_like(buf, len), TS_LOOKS_TLS);
		struct hellos h;
		hellos_collect(buf, len, 1, &h);   /* byte by byte */
		assert_int_equal(h.n_ch, 1);
		assert_int_equal(h.ch_rc[0], 0);
		const struct ts_client_hello *ch = h.ch[0];
		char ja3[TS_JA3_HASH_LEN], ja4[TS_JA4_LEN];
		assert_int_equal(ts_ja3(ch, ja3), 0);
		assert_int_equal(ts_ja4(ch, ja4), 0);
		print_message("# %s: %zu bytes, JA3 %s JA4 %s\n", v[i].file, len, ja3, ja4);
		assert_string_equal(ja3, v[i].ja3);
		assert_string_equal(ja4, v[i].ja4);
		assert_true(ch->has_sni);
		assert_int_equal(ch->sni.len, 10);
		assert_memory_equal(ch->sni.p, "hello.test", 10);
		assert_int_equal(ch->n_suites, v[i].n_suites);
		assert_int_equal(ch->n_ext, v[i].n_ext);
		assert_int_equal(ch->has_padding, v[i].padded);
		if (v[i].alpn0 != NULL) {
			assert_true(ch->n_alpn > 0);
			assert_int_equal(ch->alpn[0].len, strlen(v[i].alpn0));
			assert_memory_equal(ch->alpn[0].p, v[i].alpn0, ch->alpn[0].len);
		} else {
			assert_false(ch->has_alpn);
		}
		if (v[i].key_share_len == 0) {
			assert_false(ch->has_key_share);
		} else if (strncmp(v[i].file, "chromium", 8) == 0) {
			/* GREASE share (1 byte), then X25519MLKEM768 (1216 bytes), then x25519 */
			assert_true(ch->has_grease);
			assert_int_equal(ch->n_key_shares, 3);
			assert_true(ts_is_grease(ch->key_shares[0].group));
			assert_int_equal(ch->key_shares[1].group, 4588);
			assert_int_equal(ch->key_shares[1].key.len, 1216);
			assert_int_equal(ch->key_shares[2].group, 29);
			assert_true(ch->has_ech);
			assert_int_equal(ch->ech_type, 0);
			assert_true(ch->has_cert_compression);
		} else {
			assert_int_equal(ch->key_shares[0].key.len, v[i].key_share_len);
		}
		hellos_free(&h);
	}
}

/* --- FoxIO's JA4 test captures --------------------------------------------- */

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int check_ja4_form(const char *file, json_t *entry, const struct ts_client_hello *ch,
                          size_t idx, const char *key, enum ts_ja4_form form, size_t *checked,
                          size_t *explained)
{
	char name[32], got[16384];
	snprintf(name, sizeof name, "%s.%zu", key, idx + 1);
	const char *want = json_string_value(json_object_get(entry, name));
	if (want == NULL)
		return 0;
	(*checked)++;
	if (ts_ja4_string(ch, 't', form, got, sizeof got) < 0 || strcmp(got, want) != 0) {
		const char *why = explain_ja4(got, want, ch);
		if (why != NULL) {
			print_message("# %s %s: differs as explained: %s\n", file, name, why);
			(*explained)++;
			return 0;
		}
		print_message("# %s stream %lld %s:\n#   want %s\n#   got  %s\n", file,
		              (long long)json_integer_value(json_object_get(entry, "stream")), name,
		              want, got);
		return 1;
	}
	return 0;
}

static void ja4_reference_captures(void **state)
{
	DIR *d = opendir(CAPTURES "/ja4");
	assert_non_null(d);
	struct dirent *de;
	size_t checked = 0, failures = 0, files = 0, explained = 0;
	while ((de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".json"))
			continue;
		char jpath[512], ppath[512];
		snprintf(jpath, sizeof jpath, "%s/ja4/%s", CAPTURES, de->d_name);
		snprintf(ppath, sizeof ppath, "%.*s", (int)(strlen(jpath) - 5), jpath);
		json_error_t jerr;
		json_t *root = json_load_file(jpath, 0, &jerr);
		assert_non_null(root);
		struct pcap_stream *streams;
		size_t n;
		assert_int_equal(pcap_streams_load(ppath, STREAM_BYTES, &streams, &n), 0);
		files++;
		size_t i;
		json_t *entry;
		json_array_foreach(root, i, entry) {
			if (json_object_get(entry, "JA4.1") == NULL)
				continue;
			struct pcap_stream *st = pcap_streams_find(
				streams, n, json_string_value(json_object_get(entry, "src")),
				(unsigned)atoi(json_string_value(json_object_get(entry, "srcport"))),
				json_string_value(json_object_get(entry, "dst")),
				(unsigned)atoi(json_string_value(json_object_get(entry, "dstport"))));
			if (st == NULL) {
				print_message("# %s: stream %s:%s not in the capture\n", de->d_name,
				              json_string_value(json_object_get(entry, "src")),
				              json_string_value(json_object_get(entry, "srcport")));
				failures++;
				continue;
			}
			struct hellos h;
			hellos_collect(st->data, st->len, 1460, &h);
			const char *domain = json_string_value(json_object_get(entry, "domain"));
			if (domain != NULL && domain[0] != '\0' && h.n_ch > 0) {
				checked++;
				const struct ts_bytes *sni = &h.ch[0]->sni;
				if (strlen(domain) != sni->len || memcmp(domain, sni->p, sni->len) != 0) {
					print_message("# %s: domain %s, SNI %.*s\n", de->d_name, domain,
					              (int)sni->len, (const char *)sni->p);
					failures++;
				}
			}
			for (size_t k = 1; k <= HELLOS_MAX; k++) {
				char key[16];
				snprintf(key, sizeof key, "JA4.%zu", k);
				if (json_object_get(entry, key) == NULL)
					continue;
				if (k > h.n_ch) {
					print_message("# %s stream %lld: no ClientHello #%zu found\n", de->d_name,
					              (long long)json_integer_value(json_object_get(entry, "stream")), k);
					failures++;
					checked++;
					continue;
				}
				const struct ts_client_hello *ch = h.ch[k - 1];
				failures += check_ja4_form(de->d_name, entry, ch, k - 1, "JA4", TS_JA4, &checked, &explained);
				failures += check_ja4_form(de->d_name, entry, ch, k - 1, "JA4_r", TS_JA4_R, &checked, &explained);
				failures += check_ja4_form(de->d_name, entry, ch, k - 1, "JA4_o", TS_JA4_O, &checked, &explained);
				failures += check_ja4_form(de->d_name, entry, ch, k - 1, "JA4_ro", TS_JA4_RO, &checked, &explained);
			}
			hellos_free(&h);
		}
		pcap_streams_free(streams, n);
		json_decref(root);
	}
	closedir(d);
	print_message("# JA4 reference captures: %zu files, %zu values checked, %zu explained "
	              "differences, %zu unexplained\n", files, checked, explained, failures);
	assert_true(explained <= 4);
	assert_true(files >= 10);
	assert_true(checked >= 500);
	assert_int_equal(failures, 0);
}

/* --- nDPI's regression captures -------------------------------------------- */

/* Splits "1.2.3.4:443" or "[::1]:443" into address and port. */
static bool endpoint(const char *s, size_t len, char *addr, size_t addrsz, unsigned *port)
{
	char tmp[64];
	if (len >= sizeof tmp)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *colon = strrchr(tmp, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	*port = (unsigned)atoi(colon + 1);
	char *a = tmp;
	if (a[0] == '[') {
		a++;
		a[strlen(a) - 1] = '\0';
	}
	snprintf(addr, addrsz, "%s", a);
	return true;
}

/* The value of "[KEY: value]" in line, or false. */
static bool field(const char *line, const char *key, char *out, size_t outsz)
{
	const char *p = strstr(line, key);
	if (p == NULL)
		return false;
	p += strlen(key);
	const char *e = strchr(p, ']');
	if (e == NULL || (size_t)(e - p) >= outsz)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

static void ndpi_reference_captures(void **state)
{
	DIR *d = opendir(CAPTURES "/ndpi");
	assert_non_null(d);
	struct dirent *de;
	size_t checked = 0, failures = 0, files = 0, explained = 0, facts = 0, flows = 0;
	while ((de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".out"))
			continue;
		char opath[512], ppath[512];
		snprintf(opath, sizeof opath, "%s/ndpi/%s", CAPTURES, de->d_name);
		snprintf(ppath, sizeof ppath, "%.*s", (int)(strlen(opath) - 4), opath);
		FILE *f = fopen(opath, "r");
		assert_non_null(f);
		struct pcap_stream *streams;
		size_t n;
		assert_int_equal(pcap_streams_load(ppath, STREAM_BYTES, &streams, &n), 0);
		files++;
		char *line = NULL;
		size_t cap = 0;
		while (getline(&line, &cap, f) > 0) {
			if (strstr(line, "[JA3C: ") == NULL && strstr(line, "[JA4: ") == NULL &&
			    strstr(line, "[JA3S: ") == NULL)
				continue;
			flows++;
			const char *tcp = strstr(line, "\tTCP ");
			if (tcp == NULL) {
				print_message("# %s: a fingerprinted flow that is not TCP: %.80s\n",
				              de->d_name, line);
				failures++;
				continue;
			}
			const char *a = tcp + 5, *sp = strchr(a, ' ');
			const char *b = sp != NULL ? strchr(sp + 1, ' ') : NULL;
			const char *be = b != NULL ? strchr(b + 1, ' ') : NULL;
			char aa[64], ba[64];
			unsigned ap, bp;
			if (be == NULL || !endpoint(a, (size_t)(sp - a), aa, sizeof aa, &ap) ||
			    !endpoint(b + 1, (size_t)(be - b - 1), ba, sizeof ba, &bp)) {
				print_message("# %s: cannot read the flow of: %.80s\n", de->d_name, tcp);
				failures++;
				continue;
			}
			struct pcap_stream *ab = pcap_streams_find(streams, n, aa, ap, ba, bp);
			struct pcap_stream *ba_ = pcap_streams_find(streams, n, ba, bp, aa, ap);
			struct hellos h1 = { 0 }, h2 = { 0 };
			if (ab != NULL)
				hellos_collect(ab->data, ab->len, 1460, &h1);
			if (ba_ != NULL)
				hellos_collect(ba_->data, ba_->len, 1460, &h2);
			struct hellos *client = h1.n_ch > 0 ? &h1 : &h2;
			struct hellos *server = h1.n_sh > 0 ? &h1 : &h2;
			char want[256], got[256];
			static const char *const keys[] = { "[JA3C: ", "[JA4: ", "[JA3S: " };
			for (size_t k = 0; k < 3; k++) {
				if (!field(line, keys[k], want, sizeof want))
					continue;
				/* nDPI appends a verdict to JA3S: "md5 (INSECURE)" */
				want[strcspn(want, " ")] = '\0';
				checked++;
				got[0] = '\0';
				if (k < 2 && client->n_ch > 0) {
					if (k == 0)
						ts_ja3(client->ch[0], got);
					else
						ts_ja4(client->ch[0], got);
				} else if (k == 2 && server->n_sh > 0) {
					ts_ja3s(server->sh[0], got);
				}
				if (strcmp(got, want) == 0)
					continue;
				const char *why = k == 1 && client->n_ch > 0
				                ? explain_ja4(got, want, client->ch[0]) : NULL;
				if (why != NULL) {
					print_message("# %s %s:%u %s differs as explained: %s\n", de->d_name, aa,
					              ap, keys[k], why);
					explained++;
					continue;
				}
				print_message("# %s %s:%u -> %s:%u %s\n#   want %s\n#   got  %s%s%s\n", de->d_name,
				              aa, ap, ba, bp, keys[k], want, got,
				              client->n_ch > 0 && client->ch_rc[0] != 0 ? "\n#   parse: " : "",
				              client->n_ch > 0 && client->ch_rc[0] != 0 ? client->ch_err[0] : "");
				failures++;
			}
			/* The other facts nDPI prints, from the same hellos. */
			const struct ts_client_hello *ch = client->n_ch > 0 ? client->ch[0] : NULL;
			const struct ts_server_hello *sh = server->n_sh > 0 ? server->sh[0] : NULL;
			if (field(line, "[Hostname/SNI: ", want, sizeof want) && ch != NULL && ch->has_sni) {
				snprintf(got, sizeof got, "%.*s", (int)ch->sni.len, (const char *)ch->sni.p);
				facts++;
				if (strcmp(got, want) != 0) {
					print_message("# %s %s:%u SNI: want %s got %s\n", de->d_name, aa, ap, want, got);
					failures++;
				}
			}
			if (field(line, "[(Advertised) ALPNs: ", want, sizeof want) && ch != NULL) {
				struct sb_ { char *p; size_t n; } g = { got, 0 };
				got[0] = '\0';
				for (size_t i = 0; i < ch->n_alpn && g.n + ch->alpn[i].len + 2 < sizeof got; i++)
					g.n += (size_t)snprintf(got + g.n, sizeof got - g.n, "%s%.*s", i ? ";" : "",
					                        (int)ch->alpn[i].len, (const char *)ch->alpn[i].p);
				facts++;
				if (strcmp(got, want) != 0) {
					print_message("# %s %s:%u ALPNs: want %s got %s\n", de->d_name, aa, ap, want, got);
					failures++;
				}
			}
			if (field(line, "[Cipher: ", want, sizeof want) && sh != NULL) {
				facts++;
				if (strcmp(ts_suite_name(sh->suite), want) != 0) {
					print_message("# %s %s:%u Cipher: want %s got %s\n", de->d_name, aa, ap, want,
					              ts_suite_name(sh->suite));
					failures++;
				}
			}
			const char *v = strstr(line, "][TLSv1.");
			if (v != NULL && sh != NULL && !sh->is_hrr) {
				snprintf(want, sizeof want, "%.*s", (int)strcspn(v + 2, "]"), v + 2);
				facts++;
				const char *why = NULL;
				char cv[16] = "";
				if (ch != NULL)
					snprintf(cv, sizeof cv, "%s", ts_version_name(ch->version));
				/* 0xfb1a is Facebook's private Fizz code point; nDPI names it, the
				 * registry has no name for it. */
				if (sh->selected_version == 0xfb1a && strcmp(want, "TLSv1.3 (Fizz)") == 0)
					why = "0xfb1a is Facebook's unregistered Fizz version";
				/* RFC 8446 4.2.1: a ServerHello's supported_versions, not its
				 * legacy_version, is the negotiated version (tshark agrees). */
				else if (sh->selected_version != sh->version &&
				         strcmp(want, ts_version_name(sh->version)) == 0)
					why = "the ServerHello's supported_versions selects the version";
				/* RFC 5246 7.4.1.3: the ServerHello's version is the one chosen; nDPI
				 * shows the ClientHello's here (tshark: ServerHello 0x0301). */
				else if (sh->selected_version < (ch != NULL ? ch->version : 0) &&
				         strcmp(want, cv) == 0)
					why = "the server chose a lower version than the client offered";
				if (why != NULL) {
					print_message("# %s %s:%u version differs as explained: %s\n", de->d_name,
					              aa, ap, why);
					explained++;
				} else if (strcmp(ts_version_name(sh->selected_version), want) != 0) {
					print_message("# %s %s:%u version: want %s got %s\n", de->d_name, aa, ap, want,
					              ts_version_name(sh->selected_version));
					failures++;
				}
			}
			if (field(line, "[Certificate SHA-1: ", want, sizeof want) && server->leaf != NULL) {
				uint8_t md[EVP_MAX_MD_SIZE];
				unsigned int mdlen = 0;
				EVP_Digest(server->leaf, server->leaf_len, md, &mdlen, EVP_sha1(), NULL);
				size_t at = 0;
				for (unsigned int i = 0; i < mdlen && at + 4 < sizeof got; i++)
					at += (size_t)snprintf(got + at, sizeof got - at, "%s%02X", i ? ":" : "", md[i]);
				facts++;
				if (strcmp(got, want) != 0) {
					print_message("# %s %s:%u certificate SHA-1: want %s got %s\n", de->d_name, aa,
					              ap, want, got);
					failures++;
				}
			}
			hellos_free(&h1);
			hellos_free(&h2);
		}
		free(line);
		fclose(f);
		pcap_streams_free(streams, n);
	}
	closedir(d);
	print_message("# nDPI captures: %zu files, %zu flows with fingerprints, %zu fingerprints and "
	              "%zu other facts (SNI, ALPN, cipher, version, certificate SHA-1) checked, %zu "
	              "explained differences, %zu unexplained\n", files, flows, checked, facts,
	              explained, failures);
	assert_true(facts >= 100);
	assert_true(files >= 15);
	assert_true(flows >= 33);
	assert_true(checked >= 80);
	assert_true(explained <= 12);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ja4_spec_example),
		cmocka_unit_test(ja4_alpn_rules),
		cmocka_unit_test(ja3_string_and_hash),
		cmocka_unit_test(real_client_hellos),
		cmocka_unit_test(ja4_reference_captures),
		cmocka_unit_test(ndpi_reference_captures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
