/* JA3 / JA3S / JA4 fingerprints of parsed hellos. */
#include "tlsscope/fingerprint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Digests through OpenSSL, with the algorithms fetched once and one context
 * per thread (fetching per call costs more than the rest of a JA4). */
static EVP_MD *md_md5, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static _Thread_local EVP_MD_CTX *md_ctx;

static void md_fetch(void)
{
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int digest(bool sha256, const void *p, size_t n, uint8_t *out)
{
	pthread_once(&md_once, md_fetch);
	const EVP_MD *md = sha256 ? md_sha256 : md_md5;
	if (md == NULL)
		return TS_E_INTERNAL;
	if (md_ctx == NULL && (md_ctx = EVP_MD_CTX_new()) == NULL)
		return TS_E_NOMEM;
	unsigned int len = 0;
	if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1 || EVP_DigestUpdate(md_ctx, p, n) != 1 ||
	    EVP_DigestFinal_ex(md_ctx, out, &len) != 1)
		return TS_E_INTERNAL;
	return (int)len;
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
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		sb_putc(b, tmp[--n]);
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

/* Appends the non-GREASE values joined by sep, in decimal. */
static void dec_list16(struct sb *b, const uint16_t *v, size_t n)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (ts_is_grease(v[i]))
			continue;
		if (!first)
			sb_putc(b, '-');
		sb_dec(b, v[i]);
		first = false;
	}
}

int ts_ja3_string(const struct ts_client_hello *ch, char *out, size_t outsz)
{
	struct sb b;
	sb_init(&b, out, outsz);
	sb_dec(&b, ch->version);
	sb_putc(&b, ',');
	dec_list16(&b, ch->suites, ch->n_suites);
	sb_putc(&b, ',');
	bool first = true;
	for (size_t i = 0; i < ch->n_ext; i++) {
		if (ts_is_grease(ch->ext[i].type))
			continue;
		if (!first)
			sb_putc(&b, '-');
		sb_dec(&b, ch->ext[i].type);
		first = false;
	}
	sb_putc(&b, ',');
	dec_list16(&b, ch->groups, ch->n_groups);
	sb_putc(&b, ',');
	for (size_t i = 0; i < ch->n_point_formats; i++) {
		if (i > 0)
			sb_putc(&b, '-');
		sb_dec(&b, ch->point_formats[i]);
	}
	return sb_result(&b);
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

/* Big enough for any hello within the TS_MAX_* caps. */
#define FP_BUF (8 * (TS_MAX_SUITES + TS_MAX_EXTENSIONS + TS_MAX_GROUPS + TS_MAX_SIGALGS) + 64)

int ts_ja3(const struct ts_client_hello *ch, char hash[TS_JA3_HASH_LEN])
{
	char *buf = malloc(FP_BUF);
	if (buf == NULL)
		return TS_E_NOMEM;
	int n = ts_ja3_string(ch, buf, FP_BUF);
	int rc = n < 0 ? n : md5_hex(buf, (size_t)n, hash);
	free(buf);
	return rc;
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

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
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
	char cnt[8];
	snprintf(cnt, sizeof cnt, "%02u%02u", (unsigned)(n_suites > 99 ? 99 : n_suites),
	         (unsigned)(n_all_ext > 99 ? 99 : n_all_ext));
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
		qsort(suites, n_suites, sizeof suites[0], cmp_u16);
	/* c: extensions (sorted without SNI and ALPN, or all in order), then sigalgs */
	size_t n_ext;
	if (original) {
		n_ext = n_all_ext;
	} else {
		n_ext = filter16(ext_types, ch->n_ext, exts, TS_EXT_SERVER_NAME, TS_EXT_ALPN);
		qsort(exts, n_ext, sizeof exts[0], cmp_u16);
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
