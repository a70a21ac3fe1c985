/* JA3 / JA3S / JA4 fingerprints of parsed hellos. */
#include "tlsscope/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libcrypto's low-level MD5 and SHA-256 (deprecated in OpenSSL 3 in favour of
 * EVP): EVP, and even the one-shot SHA256(), fetch the algorithm and allocate
 * a provider context per digest (locks and malloc), which cost more than the
 * rest of a JA4; these run straight on a context on the stack (bench/README.md). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

static int digest(bool sha256, const void *p, size_t n, uint8_t *out)
{
	if (sha256) {
		SHA256_CTX c;
		if (!SHA256_Init(&c) || !SHA256_Update(&c, p, n) || !SHA256_Final(out, &c))
			return TS_E_INTERNAL;
		return SHA256_DIGEST_LENGTH;
	}
	MD5_CTX c;
	if (!MD5_Init(&c) || !MD5_Update(&c, p, n) || !MD5_Final(out, &c))
		return TS_E_INTERNAL;
	return MD5_DIGEST_LENGTH;
}

/* A bounded string builder: overflow is sticky. */
struct sb {
	char *p;
	size_t len, cap;
	bool over;
};

static void sb_init(struct sb *b, char *p, size_t cap)
{
	*b = (struct sb){ .p = p, .cap = cap, .over = cap == 0 };
	if (cap > 0)
		p[0] = '\0';
}

static void sb_putc(struct sb *b, char c)
{
	if (b->over || b->len + 1 >= b->cap) {
		b->over = true;
		return;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s, size_t n)
{
	if (b->over || b->len + n >= b->cap) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_dec(struct sb *b, unsigned v)
{
	char tmp[8];
	size_t n = sizeof tmp;
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n > 0);
	sb_puts(b, tmp + n, sizeof tmp - n);
}

static void sb_hex4(struct sb *b, uint16_t v)
{
	static const char d[] = "0123456789abcdef";
	char s[4] = { d[v >> 12], d[(v >> 8) & 15], d[(v >> 4) & 15], d[v & 15] };
	sb_puts(b, s, 4);
}

static int sb_result(struct sb *b)
{
	if (b->over) {
		if (b->cap > 0)
			b->p[0] = '\0';
		return TS_E_NOMEM;
	}
	return (int)b->len;
}

/* Writes v in decimal at p; returns the end.  No bounds check: the callers
 * size their buffers for the TS_MAX_* caps (at most 6 bytes per value). */
static char *put_dec(char *p, unsigned v)
{
	char tmp[8];
	size_t n = sizeof tmp;
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(p, tmp + n, sizeof tmp - n);
	return p + (sizeof tmp - n);
}

/* The non-GREASE values joined by '-', in decimal. */
static char *put_dec_list16(char *p, const uint16_t *v, size_t n)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (ts_is_grease(v[i]))
			continue;
		if (!first)
			*p++ = '-';
		p = put_dec(p, v[i]);
		first = false;
	}
	return p;
}

/* Big enough for any hello within the TS_MAX_* caps. */
#define FP_BUF (8 * (TS_MAX_SUITES + TS_MAX_EXTENSIONS + TS_MAX_GROUPS + TS_MAX_SIGALGS) + 64)

/* The JA3 string into buf (FP_BUF bytes); returns its length. */
static size_t ja3_build(const struct ts_client_hello *ch, char *buf)
{
	char *p = put_dec(buf, ch->version);
	*p++ = ',';
	p = put_dec_list16(p, ch->suites, ch->n_suites);
	*p++ = ',';
	bool first = true;
	for (size_t i = 0; i < ch->n_ext; i++) {
		if (ts_is_grease(ch->ext[i].type))
			continue;
		if (!first)
			*p++ = '-';
		p = put_dec(p, ch->ext[i].type);
		first = false;
	}
	*p++ = ',';
	p = put_dec_list16(p, ch->groups, ch->n_groups);
	*p++ = ',';
	for (size_t i = 0; i < ch->n_point_formats; i++) {
		if (i > 0)
			*p++ = '-';
		p = put_dec(p, ch->point_formats[i]);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

int ts_ja3_string(const struct ts_client_hello *ch, char *out, size_t outsz)
{
	char buf[FP_BUF];
	size_t n = ja3_build(ch, buf);
	if (n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return TS_E_NOMEM;
	}
	memcpy(out, buf, n + 1);
	return (int)n;
}

static int md5_hex(const char *s, size_t n, char hash[TS_JA3_HASH_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	int rc = digest(false, s, n, md);
	if (rc < 0) {
		hash[0] = '\0';
		return rc;
	}
	ts_hex(md, 16, hash);
	return 0;
}

int ts_ja3(const struct ts_client_hello *ch, char hash[TS_JA3_HASH_LEN])
{
	char buf[FP_BUF];
	size_t n = ja3_build(ch, buf);
	return md5_hex(buf, n, hash);
}

int ts_ja3s_string(const struct ts_server_hello *sh, char *out, size_t outsz)
{
	struct sb b;
	sb_init(&b, out, outsz);
	sb_dec(&b, sh->version);
	sb_putc(&b, ',');
	sb_dec(&b, sh->suite);
	sb_putc(&b, ',');
	bool first = true;
	for (size_t i = 0; i < sh->n_ext; i++) {
		if (ts_is_grease(sh->ext[i].type))
			continue;
		if (!first)
			sb_putc(&b, '-');
		sb_dec(&b, sh->ext[i].type);
		first = false;
	}
	return sb_result(&b);
}

int ts_ja3s(const struct ts_server_hello *sh, char hash[TS_JA3_HASH_LEN])
{
	char buf[8 * TS_MAX_EXTENSIONS + 64];
	int n = ts_ja3s_string(sh, buf, sizeof buf);
	return n < 0 ? n : md5_hex(buf, (size_t)n, hash);
}

/* --- JA4 ------------------------------------------------------------------ */

static const char *ja4_version(uint16_t v)
{
	switch (v) {
	case TS_TLS13: return "13";
	case TS_TLS12: return "12";
	case TS_TLS11: return "11";
	case TS_TLS10: return "10";
	case TS_SSL3: return "s3";
	case TS_SSL2: return "s2";
	case 0xfeff: return "d1";
	case 0xfefd: return "d2";
	case 0xfefc: return "d3";
	default: return "00";
	}
}

static bool alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Insertion sort: the lists are short (tens of entries) and mostly in order. */
static void sort_u16(uint16_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint16_t x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* Copies the non-GREASE values of v (skipping `skip1`/`skip2` when not -1). */
static size_t filter16(const uint16_t *v, size_t n, uint16_t *out, int skip1, int skip2)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (ts_is_grease(v[i]) || v[i] == skip1 || v[i] == skip2)
			continue;
		out[k++] = v[i];
	}
	return k;
}

static void hex_list(struct sb *b, const uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sb_putc(b, ',');
		sb_hex4(b, v[i]);
	}
}

/* Appends the first 12 hex digits of SHA-256(s), or 12 zeros for an empty list. */
static int hash12(struct sb *b, const char *s, size_t n, bool empty)
{
	if (empty) {
		sb_puts(b, "000000000000", 12);
		return 0;
	}
	uint8_t md[EVP_MAX_MD_SIZE];
	int rc = digest(true, s, n, md);
	if (rc < 0)
		return rc;
	char hex[13];
	ts_hex(md, 6, hex);
	sb_puts(b, hex, 12);
	return 0;
}

int ts_ja4_string(const struct ts_client_hello *ch, char transport, enum ts_ja4_form form,
                  char *out, size_t outsz)
{
	bool raw = form == TS_JA4_R || form == TS_JA4_RO;
	bool original = form == TS_JA4_O || form == TS_JA4_RO;
	uint16_t suites[TS_MAX_SUITES], exts[TS_MAX_EXTENSIONS], sigalgs[TS_MAX_SIGALGS];
	uint16_t ext_types[TS_MAX_EXTENSIONS];
	struct sb b;
	sb_init(&b, out, outsz);

	/* a: transport, version, SNI, counts, ALPN */
	uint16_t version = ch->version;
	if (ch->has_versions) {
		uint16_t best = 0;
		for (size_t i = 0; i < ch->n_versions; i++)
			if (!ts_is_grease(ch->versions[i]) && ch->versions[i] > best)
				best = ch->versions[i];
		if (best != 0)
			version = best;
	}
	for (size_t i = 0; i < ch->n_ext; i++)
		ext_types[i] = ch->ext[i].type;
	size_t n_suites = filter16(ch->suites, ch->n_suites, suites, -1, -1);
	size_t n_all_ext = filter16(ext_types, ch->n_ext, exts, -1, -1);
	sb_putc(&b, transport);
	sb_puts(&b, ja4_version(version), 2);
	sb_putc(&b, ch->has_sni ? 'd' : 'i');
	unsigned nc = n_suites > 99 ? 99 : (unsigned)n_suites;
	unsigned ne = n_all_ext > 99 ? 99 : (unsigned)n_all_ext;
	char cnt[4] = { (char)('0' + nc / 10), (char)('0' + nc % 10), (char)('0' + ne / 10),
	                (char)('0' + ne % 10) };
	sb_puts(&b, cnt, 4);
	if (!ch->has_alpn || ch->n_alpn == 0 || ch->alpn[0].len == 0) {
		sb_puts(&b, "00", 2);
	} else {
		const struct ts_bytes *a = &ch->alpn[0];
		uint8_t f = a->p[0], l = a->p[a->len - 1];
		if (alnum(f) && alnum(l)) {
			sb_putc(&b, (char)f);
			sb_putc(&b, (char)l);
		} else {
			static const char d[] = "0123456789abcdef";
			sb_putc(&b, d[f >> 4]);
			sb_putc(&b, d[l & 15]);
		}
	}
	sb_putc(&b, '_');

	/* b: ciphers */
	if (!original)
		sort_u16(suites, n_suites);
	/* c: extensions (sorted without SNI and ALPN, or all in order), then sigalgs */
	size_t n_ext;
	if (original) {
		n_ext = n_all_ext;
	} else {
		n_ext = filter16(ext_types, ch->n_ext, exts, TS_EXT_SERVER_NAME, TS_EXT_ALPN);
		sort_u16(exts, n_ext);
	}
	size_t n_sig = filter16(ch->sigalgs, ch->n_sigalgs, sigalgs, -1, -1);

	if (raw) {
		hex_list(&b, suites, n_suites);
		sb_putc(&b, '_');
		hex_list(&b, exts, n_ext);
		if (n_sig > 0) {
			sb_putc(&b, '_');
			hex_list(&b, sigalgs, n_sig);
		}
		return sb_result(&b);
	}
	char tmp[FP_BUF];
	struct sb t;
	sb_init(&t, tmp, sizeof tmp);
	hex_list(&t, suites, n_suites);
	int rc = hash12(&b, tmp, t.len, n_suites == 0);
	if (rc < 0)
		return rc;
	sb_putc(&b, '_');
	sb_init(&t, tmp, sizeof tmp);
	hex_list(&t, exts, n_ext);
	if (n_sig > 0) {
		sb_putc(&t, '_');
		hex_list(&t, sigalgs, n_sig);
	}
	if (t.over)
		return TS_E_NOMEM;
	rc = hash12(&b, tmp, t.len, n_ext == 0);
	if (rc < 0)
		return rc;
	return sb_result(&b);
}

int ts_ja4(const struct ts_client_hello *ch, char out[TS_JA4_LEN])
{
	int rc = ts_ja4_string(ch, 't', TS_JA4, out, TS_JA4_LEN);
	return rc < 0 ? rc : 0;
}
