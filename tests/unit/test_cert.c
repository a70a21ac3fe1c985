/* Certificates: generation of each key type, what info says, and every
 * verification verdict and message, on chains generated into a temporary
 * directory at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/cert_internal.h"
#include "tlsscope/cert.h"

static char tmp[256];

/* 2025-01-01 00:00:00 UTC and friends. */
#define T2024 ((int64_t)1704067200)
#define T2025 ((int64_t)1735689600)
#define T2030 ((int64_t)1893456000)
#define T2030_JUNE ((int64_t)1906588800)

static const char *path_of(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, 512, "%s/%s", tmp, name);
	return p;
}

/* Generates with the request, failing the test on error. */
static void gen(struct ts_cert_request *req, const char *issuer, const char *prefix)
{
	struct ts_error err = { 0 };
	char issuer_path[512], prefix_path[512];
	if (issuer != NULL)
		snprintf(issuer_path, sizeof issuer_path, "%s/%s", tmp, issuer);
	snprintf(prefix_path, sizeof prefix_path, "%s/%s", tmp, prefix);
	int rc = ts_cert_generate(req, issuer != NULL ? issuer_path : NULL, prefix_path, &err);
	if (rc != TS_OK)
		fail_msg("generate %s: %s", prefix, err.msg);
}

static void make_ca(const char *dir, const char *cn, const char *issuer)
{
	mkdir(path_of(dir), 0700);
	char prefix[300];
	snprintf(prefix, sizeof prefix, "%s/ca", dir);
	struct ts_cert_request req = { .key_spec = "ec:P-256", .common_name = cn, .is_ca = true };
	gen(&req, issuer, prefix);
}

static void make_leaf(const char *ca, const char *prefix, const char *const *names, size_t n)
{
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = n };
	gen(&req, ca, prefix);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof tmp, "/tmp/tlsscope-test-cert.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	make_ca("root", "Test Root", NULL);
	make_ca("inter", "Test Intermediate", "root");
	make_ca("fake", "Fake Root", NULL);
	make_ca("fakeinter", "Fake Intermediate", "fake");
	static const char *const www[] = { "www.example.test", "*.c.example.test", "127.0.0.1", "::1" };
	make_leaf("inter", "www", www, 4);
	make_leaf("root", "direct", www, 1);
	make_leaf("fakeinter", "fakewww", www, 1);
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	if (getenv("TS_KEEP") == NULL)
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Reads the PEM files given (NULL-terminated, names relative to tmp) into DER. */
struct ders {
	uint8_t *der[8];
	size_t len[8];
	size_t count;
};

static void load(struct ders *d, ...)
{
	memset(d, 0, sizeof *d);
	va_list ap;
	va_start(ap, d);
	const char *name;
	while ((name = va_arg(ap, const char *)) != NULL) {
		FILE *f = fopen(path_of(name), "r");
		assert_non_null(f);
		X509 *x;
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			assert_true(d->count < 8);
			unsigned char *p = NULL;
			int len = i2d_X509(x, &p);
			assert_true(len > 0);
			d->der[d->count] = p;
			d->len[d->count++] = (size_t)len;
			X509_free(x);
		}
		fclose(f);
	}
	va_end(ap);
}

static void unload(struct ders *d)
{
	for (size_t i = 0; i < d->count; i++)
		OPENSSL_free(d->der[i]);
}

struct outcome {
	int rc;
	bool trusted;
	bool hostname_match;
	size_t built;
	char error[TS_ERROR_MSG_MAX];
	char waived[TS_ERROR_MSG_MAX];
	int x509_error;
};

/* Verifies the chain made of the files against the trust path. */
static struct outcome verify(const char *trust_path, const struct ts_verify_options *opt, ...)
{
	struct ts_trust *trust = NULL;
	struct ts_error err = { 0 };
	int rc = ts_trust_new(path_of(trust_path), &trust, &err);
	if (rc != TS_OK)
		fail_msg("trust %s: %s", trust_path, err.msg);
	struct ders d;
	memset(&d, 0, sizeof d);
	va_list ap;
	va_start(ap, opt);
	const char *name;
	while ((name = va_arg(ap, const char *)) != NULL) {
		struct ders one;
		load(&one, name, NULL);
		for (size_t i = 0; i < one.count; i++) {
			d.der[d.count] = one.der[i];
			d.len[d.count++] = one.len[i];
		}
	}
	va_end(ap);
	struct ts_verify_result res;
	struct outcome o = { 0 };
	o.rc = ts_cert_verify_der(trust, (const uint8_t *const *)d.der, d.len, d.count, opt, &res, &err);
	o.trusted = res.trusted;
	o.hostname_match = res.hostname_match;
	o.built = res.built_count;
	snprintf(o.error, sizeof o.error, "%s", res.error);
	snprintf(o.waived, sizeof o.waived, "%s", res.waived);
	o.x509_error = res.x509_error;
	/* The code is set exactly when there is a reason. */
	assert_true((o.x509_error != 0) == (o.error[0] != '\0'));
	if (o.rc == TS_E_VERIFY)
		assert_string_equal(err.msg, res.error);
	ts_verify_result_clear(&res);
	unload(&d);
	ts_trust_free(trust);
	return o;
}

/* ---------------------------------------------------------------- info */

static void each_key_type_is_generated_and_described(void **state)
{
	static const struct {
		const char *spec, *type, *curve, *sig;
		int bits;
	} cases[] = {
		{ "rsa:2048", "RSA", "", "sha256WithRSAEncryption", 2048 },
		{ "rsa:3072", "RSA", "", "sha256WithRSAEncryption", 3072 },
		{ "rsa:1024", "RSA", "", "sha256WithRSAEncryption", 1024 },
		{ "ec:P-256", "EC", "P-256", "ecdsa-with-SHA256", 256 },
		{ "ec:P-384", "EC", "P-384", "ecdsa-with-SHA384", 384 },
		{ "ed25519", "ED25519", "", "ED25519", 256 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		static const char *const names[] = { "k.example.test" };
		struct ts_cert_request req = { .key_spec = cases[i].spec, .names = names, .name_count = 1,
		                               .self_signed = true };
		gen(&req, NULL, "keytype");
		struct ts_cert_info *infos;
		size_t n;
		struct ts_error err = { 0 };
		assert_int_equal(ts_cert_read_file(path_of("keytype.pem"), &infos, &n, &err), TS_OK);
		assert_int_equal(n, 1);
		assert_string_equal(infos[0].key_type, cases[i].type);
		assert_int_equal(infos[0].key_bits, cases[i].bits);
		assert_string_equal(infos[0].key_curve, cases[i].curve);
		/* Self-signed: the key signs, so the signature follows the key. */
		assert_string_equal(infos[0].signature_algorithm, cases[i].sig);
		assert_true(infos[0].self_signed);
		assert_false(infos[0].is_ca);
		ts_cert_infos_free(infos, n);
		/* The key file is private and matches the certificate. */
		struct stat st;
		assert_int_equal(stat(path_of("keytype.key"), &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		FILE *kf = fopen(path_of("keytype.key"), "r");
		FILE *cf = fopen(path_of("keytype.pem"), "r");
		EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
		X509 *x = PEM_read_X509(cf, NULL, NULL, NULL);
		assert_int_equal(X509_check_private_key(x, key), 1);
		EVP_PKEY_free(key);
		X509_free(x);
		fclose(kf);
		fclose(cf);
	}
}

static void info_describes_a_leaf(void **state)
{
	static const char *const names[] = { "www.example.test", "*.c.example.test", "127.0.0.1", "::1" };
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = 4,
	                               .not_before = T2024, .not_after = T2030 };
	gen(&req, "root", "info");
	struct ders d;
	load(&d, "info.pem", NULL);
	assert_int_equal(d.count, 1);
	struct ts_cert_info info;
	struct ts_error err = { 0 };
	assert_int_equal(ts_cert_info_from_der(d.der[0], d.len[0], &info, &err), TS_OK);
	assert_string_equal(info.subject, "CN=www.example.test");
	assert_string_equal(info.issuer, "CN=Test Root");
	assert_int_equal(info.san_dns_count, 2);
	assert_string_equal(info.san_dns[0], "www.example.test");
	assert_string_equal(info.san_dns[1], "*.c.example.test");
	assert_int_equal(info.san_ip_count, 2);
	assert_string_equal(info.san_ip[0], "127.0.0.1");
	assert_string_equal(info.san_ip[1], "::1");
	assert_int_equal(info.not_before, T2024);
	assert_int_equal(info.not_after, T2030);
	assert_false(info.is_ca);
	assert_false(info.self_signed);
	/* The fingerprint is the SHA-256 of the DER, computed here independently. */
	unsigned char md[32];
	unsigned int mdlen = 0;
	assert_int_equal(EVP_Digest(d.der[0], d.len[0], md, &mdlen, EVP_sha256(), NULL), 1);
	char want[65];
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(info.sha256, want);
	assert_int_equal(strlen(info.sha1), 40);
	ts_cert_info_clear(&info);
	ts_cert_info_clear(&info); /* twice is harmless */
	unload(&d);
}

static void info_describes_cas(void **state)
{
	struct ts_cert_info *infos;
	size_t n;
	struct ts_error err = { 0 };
	assert_int_equal(ts_cert_read_file(path_of("inter/ca.pem"), &infos, &n, &err), TS_OK);
	assert_int_equal(n, 1);
	assert_true(infos[0].is_ca);
	assert_false(infos[0].self_signed);
	assert_string_equal(infos[0].subject, "CN=Test Intermediate");
	assert_int_equal(infos[0].san_dns_count + infos[0].san_ip_count, 0);
	ts_cert_infos_free(infos, n);
	assert_int_equal(ts_cert_read_file(path_of("root/ca.pem"), &infos, &n, &err), TS_OK);
	assert_true(infos[0].is_ca);
	assert_true(infos[0].self_signed);
	ts_cert_infos_free(infos, n);
	ts_cert_infos_free(NULL, 0);
}

static void chain_files_follow_the_issuer(void **state)
{
	struct ts_cert_info *infos;
	size_t n;
	struct ts_error err = { 0 };
	/* Issued from an intermediate: leaf then intermediate. */
	assert_int_equal(ts_cert_read_file(path_of("www.chain.pem"), &infos, &n, &err), TS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(infos[0].subject, "CN=www.example.test");
	assert_string_equal(infos[1].subject, "CN=Test Intermediate");
	ts_cert_infos_free(infos, n);
	/* Issued from a root: no chain file. */
	assert_int_not_equal(access(path_of("direct.chain.pem"), F_OK), 0);
	/* An intermediate under an intermediate: the chain goes all the way up. */
	make_ca("inter2", "Second Intermediate", "inter");
	static const char *const names[] = { "deep.example.test" };
	make_leaf("inter2", "deep", names, 1);
	assert_int_equal(ts_cert_read_file(path_of("deep.chain.pem"), &infos, &n, &err), TS_OK);
	assert_int_equal(n, 3);
	assert_string_equal(infos[1].subject, "CN=Second Intermediate");
	assert_string_equal(infos[2].subject, "CN=Test Intermediate");
	ts_cert_infos_free(infos, n);
	struct ts_verify_options opt = { .name = "deep.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "deep.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_int_equal(o.built, 4);
}

static void times_are_formatted_and_parsed(void **state)
{
	char buf[40];
	ts_cert_format_time(T2025, buf, sizeof buf);
	assert_string_equal(buf, "2025-01-01 00:00:00 UTC");
	int64_t t = 0, now = T2025;
	struct ts_error err = { 0 };
	assert_int_equal(ts_cert_parse_time("2025-01-01", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025);
	assert_int_equal(ts_cert_parse_time("2025-01-01 00:00:10", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025 + 10);
	assert_int_equal(ts_cert_parse_time("2025-01-01T00:01:00Z", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025 + 60);
	assert_int_equal(ts_cert_parse_time("-30d", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025 - 30 * 86400);
	assert_int_equal(ts_cert_parse_time("+10d", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025 + 10 * 86400);
	assert_int_equal(ts_cert_parse_time("+2h", now, &t, &err), TS_OK);
	assert_int_equal(t, T2025 + 7200);
	assert_int_equal(ts_cert_parse_time("@1700000000", now, &t, &err), TS_OK);
	assert_int_equal(t, 1700000000);
	assert_int_equal(ts_cert_parse_time("now", now, &t, &err), TS_OK);
	assert_int_equal(t, now);
	static const char *const bad[] = { "", "2025-02-30", "2025-13-01", "yesterday", "10d", "+d",
	                                   "+10x", "2025-01-01 25:00:00", "2025-01-01 00:00", "@" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(ts_cert_parse_time(bad[i], now, &t, &err), TS_E_INVALID);
		assert_non_null(strstr(err.msg, "time"));
	}
}

/* ---------------------------------------------------------------- verify */

static void a_good_chain_is_trusted(void **state)
{
	struct ts_verify_options opt = { .name = "www.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "www.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_true(o.trusted);
	assert_true(o.hostname_match);
	assert_string_equal(o.error, "");
	assert_string_equal(o.waived, "");
	assert_int_equal(o.built, 3);
	/* Also through the X509 entry point, with the built chain leaf to root. */
	struct ts_trust *trust;
	struct ts_error err = { 0 };
	assert_int_equal(ts_trust_new(path_of("root"), &trust, &err), TS_OK);
	assert_non_null(ts_trust_store(trust));
	FILE *f = fopen(path_of("www.chain.pem"), "r");
	X509 *leaf = PEM_read_X509(f, NULL, NULL, NULL);
	STACK_OF(X509) *rest = sk_X509_new_null();
	sk_X509_push(rest, PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	struct ts_verify_result res;
	assert_int_equal(ts_cert_verify_x509(trust, leaf, rest, &opt, &res, &err), TS_OK);
	assert_int_equal(res.built_count, 3);
	assert_string_equal(res.built[0].subject, "CN=www.example.test");
	assert_string_equal(res.built[1].subject, "CN=Test Intermediate");
	assert_string_equal(res.built[2].subject, "CN=Test Root");
	ts_verify_result_clear(&res);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	ts_trust_free(trust);
	ts_trust_free(NULL);
}

static void expired_and_not_yet_valid(void **state)
{
	static const char *const names[] = { "www.example.test" };
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = 1,
	                               .not_before = T2024, .not_after = T2025 };
	gen(&req, "root", "expired");
	struct ts_verify_options opt = { .name = "www.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_false(o.trusted);
	assert_string_equal(o.error, "certificate for 'www.example.test' expired on 2025-01-01 00:00:00 UTC");
	assert_int_equal(o.x509_error, X509_V_ERR_CERT_HAS_EXPIRED);

	struct ts_cert_request fut = { .key_spec = "ec:P-256", .names = names, .name_count = 1,
	                               .not_before = T2030, .days = 365 };
	gen(&fut, "root", "future");
	o = verify("root/ca.pem", &opt, "future.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error,
	                    "certificate for 'www.example.test' is not valid before 2030-01-01 00:00:00 UTC");
	assert_int_equal(o.x509_error, X509_V_ERR_CERT_NOT_YET_VALID);
	/* Verification at a time when it is valid (and the root too). */
	opt.at = T2030_JUNE;
	o = verify("root/ca.pem", &opt, "future.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_true(o.trusted);
	/* And the expired one, as of when it was valid: the root was not valid yet. */
	opt.at = T2024 + 86400;
	o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_non_null(strstr(o.error, "CA certificate 'CN=Test Root' is not valid before"));
}

static void names_match_subject_alt_names_only(void **state)
{
	struct ts_verify_options opt = { .name = "a.example.test" };
	static const char *const names[] = { "b.example.test", "*.c.example.test" };
	make_leaf("root", "wrongname", names, 2);
	struct outcome o = verify("root/ca.pem", &opt, "wrongname.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_true(o.trusted);
	assert_false(o.hostname_match);
	assert_string_equal(o.error, "name mismatch: wanted 'a.example.test', certificate is for "
	                             "'b.example.test', '*.c.example.test'");
	assert_int_equal(o.x509_error, X509_V_ERR_HOSTNAME_MISMATCH);
	/* A wildcard covers one label... */
	opt.name = "x.c.example.test";
	o = verify("root/ca.pem", &opt, "wrongname.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_true(o.hostname_match);
	/* ...not two, and not none. */
	opt.name = "y.x.c.example.test";
	o = verify("root/ca.pem", &opt, "wrongname.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_non_null(strstr(o.error, "name mismatch: wanted 'y.x.c.example.test'"));
	opt.name = "c.example.test";
	o = verify("root/ca.pem", &opt, "wrongname.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	/* Case does not matter. */
	opt.name = "B.Example.TEST";
	o = verify("root/ca.pem", &opt, "wrongname.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
}

static void long_name_lists_are_cut_short(void **state)
{
	static const char *names[60];
	static char buf[60][64];
	for (int i = 0; i < 60; i++) {
		snprintf(buf[i], sizeof buf[i], "host-number-%02d.a-rather-long-domain.example.test", i);
		names[i] = buf[i];
	}
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = 60 };
	gen(&req, "root", "many");
	struct ts_verify_options opt = { .name = "other.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "many.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_non_null(strstr(o.error, "certificate is for 'host-number-00.a-rather-long-domain.example.test', "));
	assert_non_null(strstr(o.error, " more"));
	assert_true(strlen(o.error) < TS_ERROR_MSG_MAX - 1);
	/* It says how many were left out, and that count is right. */
	const char *and = strstr(o.error, "and ");
	assert_non_null(and);
	int shown = 0;
	for (const char *p = o.error; (p = strstr(p, "host-number-")) != NULL; p++)
		shown++;
	assert_int_equal(atoi(and + 4), 60 - shown);
}

static void partial_wildcards_are_refused(void **state)
{
	static const char *const names[] = { "f*.example.test" };
	make_leaf("root", "partial", names, 1);
	struct ts_verify_options opt = { .name = "foo.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "partial.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "name mismatch: wanted 'foo.example.test', certificate is for "
	                             "'f*.example.test'");
}

static void ip_addresses_match_ip_entries(void **state)
{
	struct ts_verify_options opt = { .name = "127.0.0.1" };
	struct outcome o = verify("root/ca.pem", &opt, "www.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	opt.name = "::1";
	assert_int_equal(verify("root/ca.pem", &opt, "www.chain.pem", NULL).rc, TS_OK);
	opt.name = "[::1]";
	assert_int_equal(verify("root/ca.pem", &opt, "www.chain.pem", NULL).rc, TS_OK);
	opt.name = "127.0.0.2";
	o = verify("root/ca.pem", &opt, "www.chain.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "name mismatch: wanted '127.0.0.2', certificate is for "
	                             "'www.example.test', '*.c.example.test', '127.0.0.1', '::1'");
	assert_int_equal(o.x509_error, X509_V_ERR_IP_ADDRESS_MISMATCH);
	/* A DNS-only certificate never matches an address, even one spelled as its DNS name. */
	static const char *const dns_ip[] = { "dns.example.test" };
	make_leaf("root", "dnsonly", dns_ip, 1);
	opt.name = "127.0.0.1";
	o = verify("root/ca.pem", &opt, "dnsonly.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "name mismatch: wanted '127.0.0.1', certificate is for 'dns.example.test'");
}

static void cn_only_certificates_fail_the_name_check(void **state)
{
	static const char *const names[] = { "x.example.test" };
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = 1,
	                               .cn_only = true };
	gen(&req, "root", "cnonly");
	struct ts_verify_options opt = { .name = "x.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "cnonly.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_true(o.trusted);
	assert_string_equal(o.error, "name mismatch: wanted 'x.example.test', certificate has no "
	                             "subjectAltName (CN 'x.example.test' is not used for name checks)");
	/* Without a name to check, the chain alone decides. */
	opt.name = NULL;
	o = verify("root/ca.pem", &opt, "cnonly.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_false(o.hostname_match);
}

static void self_signed_is_not_trusted(void **state)
{
	static const char *const names[] = { "pypi.python.org" };
	struct ts_cert_request req = { .key_spec = "ec:P-256", .names = names, .name_count = 1,
	                               .self_signed = true };
	gen(&req, NULL, "forged");
	struct ts_verify_options opt = { .name = "pypi.python.org" };
	struct outcome o = verify("root/ca.pem", &opt, "forged.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_false(o.trusted);
	assert_true(o.hostname_match);
	assert_string_equal(o.error, "self-signed certificate 'CN=pypi.python.org' is not trusted");
	assert_int_equal(o.x509_error, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	assert_int_equal(o.built, 1);
	/* ...unless the user trusts exactly it. */
	o = verify("forged.pem", &opt, "forged.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
}

static void untrusted_issuers_are_named(void **state)
{
	struct ts_verify_options opt = { .name = "www.example.test" };
	/* The chain ends in a self-signed root that is not trusted. */
	struct outcome o = verify("root/ca.pem", &opt, "fakewww.chain.pem", "fake/ca.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "issuer 'CN=Fake Root' is not a trusted certificate authority");
	assert_int_equal(o.built, 3);
	assert_int_equal(o.x509_error, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
	/* The chain stops at an intermediate whose issuer is unknown. */
	o = verify("root/ca.pem", &opt, "fakewww.chain.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "issuer 'CN=Fake Root' is not a trusted certificate authority");
	/* Trusting the fake root makes it fine. */
	o = verify("fake/ca.pem", &opt, "fakewww.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
}

static void a_missing_intermediate_is_explained(void **state)
{
	struct ts_verify_options opt = { .name = "www.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "www.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_false(o.trusted);
	assert_string_equal(o.error, "the server sent no intermediate certificate: no chain to a trusted root");
	assert_int_equal(o.built, 1);
	/* A client's SSL_get_peer_cert_chain repeats the leaf: still "no intermediate". */
	struct ts_trust *trust;
	struct ts_error err = { 0 };
	assert_int_equal(ts_trust_new(path_of("root/ca.pem"), &trust, &err), TS_OK);
	FILE *f = fopen(path_of("www.pem"), "r");
	X509 *leaf = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	STACK_OF(X509) *sent = sk_X509_new_null();
	sk_X509_push(sent, leaf);
	X509_up_ref(leaf);
	struct ts_verify_result res;
	assert_int_equal(ts_cert_verify_x509(trust, leaf, sent, &opt, &res, &err), TS_E_VERIFY);
	assert_string_equal(res.error, "the server sent no intermediate certificate: no chain to a trusted root");
	assert_string_equal(err.msg, res.error);
	ts_verify_result_clear(&res);
	X509_free(leaf);
	sk_X509_pop_free(sent, X509_free);
	ts_trust_free(trust);
}

static void weak_keys_are_refused(void **state)
{
	static const char *const names[] = { "weak.example.test" };
	struct ts_cert_request req = { .key_spec = "rsa:1024", .names = names, .name_count = 1 };
	gen(&req, "root", "weak");
	struct ts_verify_options opt = { .name = "weak.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "weak.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_false(o.trusted);
	assert_string_equal(o.error, "RSA key of 1024 bits is too weak (at least 2048 required)");
	assert_int_equal(o.x509_error, X509_V_ERR_EE_KEY_TOO_SMALL);
	opt.min_rsa_bits = 1024;
	assert_int_equal(verify("root/ca.pem", &opt, "weak.pem", NULL).rc, TS_OK);
	opt.min_rsa_bits = -1;
	assert_int_equal(verify("root/ca.pem", &opt, "weak.pem", NULL).rc, TS_OK);
	/* A weak CA key anywhere in the chain counts too. */
	mkdir(path_of("weakca"), 0700);
	struct ts_cert_request ca = { .key_spec = "rsa:1024", .common_name = "Weak CA", .is_ca = true };
	gen(&ca, NULL, "weakca/ca");
	static const char *const strong[] = { "strong.example.test" };
	make_leaf("weakca", "understrong", strong, 1);
	opt = (struct ts_verify_options){ .name = "strong.example.test" };
	o = verify("weakca/ca.pem", &opt, "understrong.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "RSA key of 1024 bits in CA certificate 'CN=Weak CA' is too weak "
	                             "(at least 2048 required)");
	assert_int_equal(o.x509_error, X509_V_ERR_CA_KEY_TOO_SMALL);
}

/* Re-signs the certificate in file `in` with the CA key of `ca_dir`, using SHA-1. */
static void resign_sha1(const char *in, const char *ca_dir, const char *out)
{
	char keypath[100];
	snprintf(keypath, sizeof keypath, "%s/ca.key", ca_dir);
	FILE *f = fopen(path_of(keypath), "r");
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(path_of(in), "r");
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(key);
	assert_non_null(x);
	assert_true(X509_sign(x, key, EVP_sha1()) > 0);
	f = fopen(path_of(out), "w");
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void sha1_signatures_are_refused(void **state)
{
	resign_sha1("direct.pem", "root", "sha1leaf.pem");
	struct ts_verify_options opt = { .name = "www.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "sha1leaf.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_false(o.trusted);
	assert_string_equal(o.error, "SHA-1 signature (ecdsa-with-SHA1) is too weak (SHA-256 or better required)");
	assert_int_equal(o.x509_error, X509_V_ERR_CA_MD_TOO_WEAK);
	/* Security level 0 (min_rsa_bits below 1024) or no strength check accepts it. */
	opt.min_rsa_bits = 512;
	assert_int_equal(verify("root/ca.pem", &opt, "sha1leaf.pem", NULL).rc, TS_OK);
	opt.min_rsa_bits = -1;
	assert_int_equal(verify("root/ca.pem", &opt, "sha1leaf.pem", NULL).rc, TS_OK);
	/* An intermediate signed with SHA-1 is named. */
	resign_sha1("inter/ca.pem", "root", "sha1inter.pem");
	opt.min_rsa_bits = 0;
	o = verify("root/ca.pem", &opt, "www.pem", "sha1inter.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_string_equal(o.error, "SHA-1 signature (ecdsa-with-SHA1) in CA certificate 'CN=Test Intermediate' "
	                             "is too weak (SHA-256 or better required)");
	/* A trusted root's own SHA-1 self-signature does not matter. */
	resign_sha1("root/ca.pem", "root", "sha1root.pem");
	o = verify("sha1root.pem", &opt, "direct.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_int_equal(o.built, 2);
}

static void checks_run_in_order(void **state)
{
	/* Untrusted chain and wrong name: the chain is reported. */
	struct ts_verify_options opt = { .name = "nope.example.test" };
	struct outcome o = verify("root/ca.pem", &opt, "www.pem", NULL);
	assert_string_equal(o.error, "the server sent no intermediate certificate: no chain to a trusted root");
	/* Expired and wrong name: the date is reported. */
	o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_non_null(strstr(o.error, "expired on 2025-01-01"));
	/* Weak and wrong name: the key is reported. */
	o = verify("root/ca.pem", &opt, "weak.pem", NULL);
	assert_non_null(strstr(o.error, "RSA key of 1024 bits"));
}

static void insecure_options_waive_exactly_their_check(void **state)
{
	struct ts_verify_options opt = { .name = "www.example.test", .insecure_noverifycert = true };
	/* noverifycert: the chain, and only the chain. */
	struct outcome o = verify("root/ca.pem", &opt, "forged.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY); /* the name still counts */
	assert_non_null(strstr(o.error, "name mismatch"));
	opt.name = "pypi.python.org";
	o = verify("root/ca.pem", &opt, "forged.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_false(o.trusted);
	assert_string_equal(o.error, "");
	assert_string_equal(o.waived, "self-signed certificate 'CN=pypi.python.org' is not trusted");
	opt.name = "www.example.test";
	o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY); /* dates still count */
	assert_non_null(strstr(o.error, "expired"));
	o = verify("root/ca.pem", &opt, "www.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_non_null(strstr(o.waived, "no intermediate"));

	/* noverifytime: the dates only. */
	opt = (struct ts_verify_options){ .name = "www.example.test", .insecure_noverifytime = true };
	o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_false(o.trusted);
	assert_non_null(strstr(o.waived, "expired on 2025-01-01 00:00:00 UTC"));
	o = verify("root/ca.pem", &opt, "forged.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);

	/* noverifyname: the name only. */
	opt = (struct ts_verify_options){ .name = "other.example.test", .insecure_noverifyname = true };
	o = verify("root/ca.pem", &opt, "www.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK);
	assert_true(o.trusted);
	assert_false(o.hostname_match);
	assert_non_null(strstr(o.waived, "name mismatch: wanted 'other.example.test'"));
	o = verify("root/ca.pem", &opt, "expired.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	/* Waiving never waives a weak key. */
	opt = (struct ts_verify_options){ .insecure_noverifycert = true, .insecure_noverifytime = true,
	                                  .insecure_noverifyname = true, .name = "x" };
	o = verify("root/ca.pem", &opt, "weak.pem", NULL);
	assert_int_equal(o.rc, TS_E_VERIFY);
	assert_non_null(strstr(o.error, "too weak"));
}

static void server_purpose_is_checked(void **state)
{
	/* A CA certificate presented as a server leaf has no serverAuth. */
	struct ts_verify_options opt = { 0 };
	struct outcome o = verify("root/ca.pem", &opt, "inter/ca.pem", NULL);
	assert_int_equal(o.rc, TS_OK); /* no EKU at all: any purpose */
	opt.client_purpose = true;
	o = verify("root/ca.pem", &opt, "www.chain.pem", NULL);
	assert_int_equal(o.rc, TS_OK); /* leaves carry clientAuth too */
}

/* ---------------------------------------------------------------- bad input */

static void trust_store_sources(void **state)
{
	struct ts_trust *trust = NULL;
	struct ts_error err = { 0 };
	/* The system store loads (its contents are the system's business). */
	assert_int_equal(ts_trust_new(NULL, &trust, &err), TS_OK);
	ts_trust_free(trust);
	/* A directory of PEM files (a CA dir) works. */
	struct ts_verify_options opt = { .name = "www.example.test" };
	assert_int_equal(verify("root", &opt, "www.chain.pem", NULL).rc, TS_OK);
	/* An OpenSSL hashed directory (only hash-named links) works too. */
	mkdir(path_of("hashed"), 0700);
	FILE *f = fopen(path_of("root/ca.pem"), "r");
	X509 *root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	char link_name[64];
	snprintf(link_name, sizeof link_name, "hashed/%08lx.0", X509_subject_name_hash(root));
	X509_free(root);
	assert_int_equal(symlink(path_of("root/ca.pem"), path_of(link_name)), 0);
	assert_int_equal(verify("hashed", &opt, "www.chain.pem", NULL).rc, TS_OK);
	assert_int_equal(verify("hashed", &opt, "fakewww.chain.pem", "fake/ca.pem", NULL).rc, TS_E_VERIFY);
	/* Missing path, a file with no certificate, an empty directory. */
	assert_int_equal(ts_trust_new(path_of("nope.pem"), &trust, &err), TS_E_FILE);
	assert_null(trust);
	assert_non_null(strstr(err.msg, "nope.pem"));
	assert_non_null(strstr(err.msg, "No such file"));
	assert_int_equal(ts_trust_new(path_of("root/ca.key"), &trust, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "ca.key' holds no PEM certificate"));
	mkdir(path_of("empty"), 0700);
	assert_int_equal(ts_trust_new(path_of("empty"), &trust, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "holds no PEM certificate"));
}

static void bad_files_and_bytes(void **state)
{
	struct ts_cert_info *infos = NULL;
	size_t n = 0;
	struct ts_error err = { 0 };
	assert_int_equal(ts_cert_read_file(path_of("missing.pem"), &infos, &n, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "missing.pem"));
	assert_null(infos);
	FILE *f = fopen(path_of("garbage.pem"), "w");
	fputs("this is not a certificate\n", f);
	fclose(f);
	assert_int_equal(ts_cert_read_file(path_of("garbage.pem"), &infos, &n, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "garbage.pem' holds no PEM certificate"));
	/* A PEM block whose body is broken. */
	f = fopen(path_of("broken.pem"), "w");
	fputs("-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	assert_int_equal(ts_cert_read_file(path_of("broken.pem"), &infos, &n, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "broken.pem"));
	/* One DER certificate is read too. */
	{
		struct ders one;
		load(&one, "direct.pem", NULL);
		FILE *df = fopen(path_of("direct.der"), "wb");
		fwrite(one.der[0], 1, one.len[0], df);
		fclose(df);
		unload(&one);
		assert_int_equal(ts_cert_read_file(path_of("direct.der"), &infos, &n, &err), TS_OK);
		assert_int_equal(n, 1);
		assert_string_equal(infos[0].subject, "CN=www.example.test");
		ts_cert_infos_free(infos, n);
	}
	assert_int_equal(ts_cert_read_file(tmp, &infos, &n, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "directory"));
	/* DER bytes that do not parse, or parse with bytes left over. */
	struct ts_cert_info info;
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01, 0x00 };
	assert_int_equal(ts_cert_info_from_der(junk, sizeof junk, &info, &err), TS_E_MALFORMED);
	assert_int_equal(ts_cert_info_from_der(junk, 0, &info, &err), TS_E_MALFORMED);
	struct ders d;
	load(&d, "direct.pem", NULL);
	uint8_t *longer = malloc(d.len[0] + 1);
	memcpy(longer, d.der[0], d.len[0]);
	longer[d.len[0]] = 0;
	assert_int_equal(ts_cert_info_from_der(longer, d.len[0] + 1, &info, &err), TS_E_MALFORMED);
	/* A chain with a bad certificate is malformed, not "untrusted". */
	struct ts_trust *trust;
	assert_int_equal(ts_trust_new(path_of("root/ca.pem"), &trust, &err), TS_OK);
	const uint8_t *ders[2] = { d.der[0], junk };
	size_t lens[2] = { d.len[0], sizeof junk };
	struct ts_verify_options opt = { 0 };
	struct ts_verify_result res;
	assert_int_equal(ts_cert_verify_der(trust, ders, lens, 2, &opt, &res, &err), TS_E_MALFORMED);
	assert_non_null(strstr(err.msg, "certificate 2 of the chain"));
	ts_verify_result_clear(&res);
	assert_int_equal(ts_cert_verify_der(trust, ders, lens, 0, &opt, &res, &err), TS_E_INVALID);
	ts_verify_result_clear(&res);
	assert_int_equal(ts_cert_verify_file(trust, path_of("garbage.pem"), &opt, &res, &err), TS_E_FILE);
	ts_verify_result_clear(&res);
	assert_int_equal(ts_cert_verify_file(trust, path_of("direct.pem"), &opt, &res, &err), TS_OK);
	ts_verify_result_clear(&res);
	ts_trust_free(trust);
	free(longer);
	unload(&d);
}

static void bad_requests_are_refused(void **state)
{
	struct ts_error err = { 0 };
	static const char *const names[] = { "ok.example.test" };
	struct ts_cert_request req = { .key_spec = "rsa:512", .names = names, .name_count = 1 };
	char prefix[512];
	snprintf(prefix, sizeof prefix, "%s/badreq", tmp);
	char root[512];
	snprintf(root, sizeof root, "%s/root", tmp);
	assert_int_equal(ts_cert_generate(&req, root, prefix, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "unknown key type 'rsa:512'"));
	assert_false(ts_cert_key_spec_known("rsa:512"));
	assert_false(ts_cert_key_spec_known(NULL));
	assert_true(ts_cert_key_spec_known("ec:P-384"));
	req.key_spec = "ec:P-256";
	static const char *const bad_names[] = { "bad name,DNS:evil.test" };
	req.names = bad_names;
	assert_int_equal(ts_cert_generate(&req, root, prefix, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "bad name"));
	req.names = names;
	req.name_count = 0;
	assert_int_equal(ts_cert_generate(&req, root, prefix, &err), TS_E_INVALID);
	req.name_count = 1;
	/* A CA directory that is not one. */
	assert_int_equal(ts_cert_generate(&req, path_of("empty"), prefix, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "ca.pem"));
	/* A leaf directory is not a CA. */
	mkdir(path_of("notca"), 0700);
	rename(path_of("direct.pem"), path_of("notca/ca.pem"));
	rename(path_of("direct.key"), path_of("notca/ca.key"));
	assert_int_equal(ts_cert_generate(&req, path_of("notca"), prefix, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "is not a CA certificate"));
	rename(path_of("notca/ca.pem"), path_of("direct.pem"));
	rename(path_of("notca/ca.key"), path_of("direct.key"));
	/* A key that does not belong to the CA certificate. */
	mkdir(path_of("mixed"), 0700);
	link(path_of("root/ca.pem"), path_of("mixed/ca.pem"));
	link(path_of("fake/ca.key"), path_of("mixed/ca.key"));
	assert_int_equal(ts_cert_generate(&req, path_of("mixed"), prefix, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "does not match"));
	/* Dates the wrong way round, and nothing to sign with. */
	req.not_before = T2030;
	req.not_after = T2025;
	assert_int_equal(ts_cert_generate(&req, root, prefix, &err), TS_E_INVALID);
	req.not_before = req.not_after = 0;
	assert_int_equal(ts_cert_generate(&req, NULL, prefix, &err), TS_E_INVALID);
	req.self_signed = true;
	assert_int_equal(ts_cert_generate(&req, root, prefix, &err), TS_E_INVALID);
	/* Nowhere to write. */
	req.self_signed = false;
	assert_int_equal(ts_cert_generate(&req, root, "/nonexistent-dir/x", &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_key_type_is_generated_and_described),
		cmocka_unit_test(info_describes_a_leaf),
		cmocka_unit_test(info_describes_cas),
		cmocka_unit_test(chain_files_follow_the_issuer),
		cmocka_unit_test(times_are_formatted_and_parsed),
		cmocka_unit_test(a_good_chain_is_trusted),
		cmocka_unit_test(expired_and_not_yet_valid),
		cmocka_unit_test(names_match_subject_alt_names_only),
		cmocka_unit_test(long_name_lists_are_cut_short),
		cmocka_unit_test(partial_wildcards_are_refused),
		cmocka_unit_test(ip_addresses_match_ip_entries),
		cmocka_unit_test(cn_only_certificates_fail_the_name_check),
		cmocka_unit_test(self_signed_is_not_trusted),
		cmocka_unit_test(untrusted_issuers_are_named),
		cmocka_unit_test(a_missing_intermediate_is_explained),
		cmocka_unit_test(weak_keys_are_refused),
		cmocka_unit_test(sha1_signatures_are_refused),
		cmocka_unit_test(checks_run_in_order),
		cmocka_unit_test(insecure_options_waive_exactly_their_check),
		cmocka_unit_test(server_purpose_is_checked),
		cmocka_unit_test(trust_store_sources),
		cmocka_unit_test(bad_files_and_bytes),
		cmocka_unit_test(bad_requests_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
