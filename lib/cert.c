/* Certificates: inspect, verify with a reason in words, generate. */
#include "tlsscope/cert.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert_internal.h"

/* Limits: a certificate file or a trust directory is input we bound. */
#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_CERTS_PER_FILE 10000
#define MAX_DIR_ENTRIES 10000
#define MAX_SAN_ENTRIES 1024
#define MAX_CN_LEN 64

struct ts_trust {
	X509_STORE *store;
};

/* ------------------------------------------------------------------ time */

void ts_cert_format_time(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (size == 0)
		return;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, size, "@%lld", (long long)t);
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static bool parse_utc(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return false;
	const char *rest = s + n;
	if (*rest == ' ' || *rest == 'T') {
		int m = 0;
		if (sscanf(rest + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m) != 3 || m != 8)
			return false;
		rest += 1 + m;
	}
	if (strcmp(rest, "Z") == 0 || strcmp(rest, " UTC") == 0)
		rest += strlen(rest);
	if (*rest != '\0')
		return false;
	if (y < 1950 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60 || h < 0 || mi < 0 || se < 0)
		return false;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                 .tm_hour = h, .tm_min = mi, .tm_sec = se };
	time_t t = timegm(&tm);
	struct tm back;
	/* timegm normalises 2025-02-30 into March: refuse such dates. */
	if (gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
		return false;
	*out = (int64_t)t;
	return true;
}

int ts_cert_parse_time(const char *text, int64_t now, int64_t *out, struct ts_error *err)
{
	if (text == NULL || *text == '\0')
		return ts_error_set(err, TS_E_INVALID, "empty time");
	if (strcmp(text, "now") == 0) {
		*out = now;
		return TS_OK;
	}
	if (text[0] == '+' || text[0] == '-' || text[0] == '@') {
		const char *p = text + 1;
		long long v = 0;
		int digits = 0;
		while (isdigit((unsigned char)*p) && digits < 12) {
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (digits > 0 && text[0] == '@' && *p == '\0') {
			*out = v;
			return TS_OK;
		}
		long long unit = 0;
		if (digits > 0 && p[0] != '\0' && p[1] == '\0') {
			switch (p[0]) {
			case 's': unit = 1; break;
			case 'm': unit = 60; break;
			case 'h': unit = 3600; break;
			case 'd': unit = 86400; break;
			}
		}
		if (unit != 0 && text[0] != '@' && v <= 3650000LL * 86400 / unit) {
			*out = now + (text[0] == '-' ? -1 : 1) * (int64_t)(v * unit);
			return TS_OK;
		}
	} else if (parse_utc(text, out)) {
		return TS_OK;
	}
	return ts_error_set(err, TS_E_INVALID,
	                    "bad time '%s' (expected YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' UTC, "
	                    "now, +Nd/-Nd (also h, m, s) or @SECONDS)", text);
}

/* ------------------------------------------------------------------ info */

/* A copy of n bytes with control characters replaced, so text stays one line. */
static char *printable_copy(const unsigned char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
	s[n] = '\0';
	return s;
}

/* "CN=www.example.test, O=Example": RFC 2253 order and escaping, UTF-8 kept. */
static char *name_oneline(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return NULL;
	unsigned long flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC |
	                      XN_FLAG_DN_REV | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS;
	char *s = NULL;
	if (name == NULL || X509_NAME_print_ex(b, name, 0, flags) >= 0) {
		char *data = NULL;
		long len = BIO_get_mem_data(b, &data);
		s = printable_copy((const unsigned char *)data, len > 0 ? (size_t)len : 0);
	}
	BIO_free(b);
	return s;
}

/* The subject CN as UTF-8, or NULL (caller frees). */
static char *subject_cn(X509 *x)
{
	const X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	if (i < 0)
		return NULL;
	const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8, data);
	if (len < 0)
		return NULL;
	char *s = printable_copy(utf8, (size_t)len);
	OPENSSL_free(utf8);
	return s;
}

static int push_string(char ***arr, size_t *count, char *s)
{
	if (s == NULL)
		return TS_E_NOMEM;
	char **grown = realloc(*arr, (*count + 1) * sizeof **arr);
	if (grown == NULL) {
		free(s);
		return TS_E_NOMEM;
	}
	*arr = grown;
	(*arr)[(*count)++] = s;
	return TS_OK;
}

static int read_sans(X509 *x, struct ts_cert_info *info)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL)
		return TS_OK;
	int rc = TS_OK;
	int n = sk_GENERAL_NAME_num(gens);
	for (int i = 0; i < n && i < MAX_SAN_ENTRIES && rc == TS_OK; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->d.dNSName;
			rc = push_string(&info->san_dns, &info->san_dns_count,
			                 printable_copy(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s)));
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *s = g->d.iPAddress;
			char text[INET6_ADDRSTRLEN + 16];
			int len = ASN1_STRING_length(s);
			if (len == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(s), text, sizeof text);
			else if (len == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
			else
				snprintf(text, sizeof text, "<bad address of %d bytes>", len);
			rc = push_string(&info->san_ip, &info->san_ip_count, strdup(text));
		}
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

static void key_info(X509 *x, struct ts_cert_info *info)
{
	snprintf(info->key_type, sizeof info->key_type, "unknown");
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk == NULL)
		return;
	const char *type = "unknown";
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA: case EVP_PKEY_RSA_PSS: type = "RSA"; break;
	case EVP_PKEY_EC: type = "EC"; break;
	case EVP_PKEY_ED25519: type = "ED25519"; break;
	case EVP_PKEY_ED448: type = "ED448"; break;
	case EVP_PKEY_DSA: type = "DSA"; break;
	}
	snprintf(info->key_type, sizeof info->key_type, "%s", type);
	info->key_bits = EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		char group[64];
		size_t glen = 0;
		if (EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) == 1) {
			const char *nist = EC_curve_nid2nist(OBJ_txt2nid(group));
			snprintf(info->key_curve, sizeof info->key_curve, "%.31s", nist != NULL ? nist : group);
		}
	}
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

int ts_cert_info_from_x509(X509 *x, struct ts_cert_info *info, struct ts_error *err)
{
	memset(info, 0, sizeof *info);
	if (x == NULL)
		return ts_error_set(err, TS_E_INVALID, "no certificate");
	info->subject = name_oneline(X509_get_subject_name(x));
	info->issuer = name_oneline(X509_get_issuer_name(x));
	if (info->subject == NULL || info->issuer == NULL || read_sans(x, info) != TS_OK) {
		ts_cert_info_clear(info);
		return ts_error_set(err, TS_E_NOMEM, "out of memory reading a certificate");
	}
	info->not_before = asn1_time_to_unix(X509_get0_notBefore(x));
	info->not_after = asn1_time_to_unix(X509_get0_notAfter(x));
	key_info(x, info);
	int nid = X509_get_signature_nid(x);
	const char *alg = nid != NID_undef ? OBJ_nid2ln(nid) : NULL;
	snprintf(info->signature_algorithm, sizeof info->signature_algorithm, "%s",
	         alg != NULL ? alg : "unknown");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32)
		hex(md, n, info->sha256);
	if (X509_digest(x, EVP_sha1(), md, &n) == 1 && n == 20)
		hex(md, n, info->sha1);
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	info->is_ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	info->self_signed = X509_self_signed(x, 1) == 1;
	ERR_clear_error();
	return TS_OK;
}

int ts_cert_info_from_der(const uint8_t *der, size_t len, struct ts_cert_info *info,
                          struct ts_error *err)
{
	memset(info, 0, sizeof *info);
	if (der == NULL || len == 0 || len > MAX_FILE_BYTES)
		return ts_error_set(err, TS_E_MALFORMED, "certificate: %zu bytes is not a DER certificate", len);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		X509_free(x);
		return ts_error_openssl(err, TS_E_MALFORMED, "certificate of %zu bytes does not parse as DER",
		                        len);
	}
	int rc = ts_cert_info_from_x509(x, info, err);
	X509_free(x);
	return rc;
}

void ts_cert_info_clear(struct ts_cert_info *info)
{
	if (info == NULL)
		return;
	free(info->subject);
	free(info->issuer);
	for (size_t i = 0; i < info->san_dns_count; i++)
		free(info->san_dns[i]);
	free(info->san_dns);
	for (size_t i = 0; i < info->san_ip_count; i++)
		free(info->san_ip[i]);
	free(info->san_ip);
	memset(info, 0, sizeof *info);
}

void ts_cert_infos_free(struct ts_cert_info *infos, size_t count)
{
	if (infos == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		ts_cert_info_clear(&infos[i]);
	free(infos);
}

/* ------------------------------------------------------------- files */

/* Reads every certificate of a PEM file (or the one certificate of a DER
 * file) into *out (caller frees with sk_X509_pop_free).  TS_E_FILE names the
 * file; *out is NULL then. */
static int read_certs(const char *path, const char *what, STACK_OF(X509) **out,
                      struct ts_error *err)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st) != 0)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot read %s '%s'", what, path);
	if (S_ISDIR(st.st_mode))
		return ts_error_set(err, TS_E_FILE, "cannot read %s '%s': it is a directory", what, path);
	if (st.st_size > MAX_FILE_BYTES)
		return ts_error_set(err, TS_E_FILE, "%s '%s' is too large (%lld bytes, at most %d)", what,
		                    path, (long long)st.st_size, MAX_FILE_BYTES);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot read %s '%s'", what, path);
	size_t size = (size_t)st.st_size, got = 0;
	unsigned char *buf = malloc(size + 1);
	if (buf == NULL) {
		fclose(f);
		return ts_error_set(err, TS_E_NOMEM, "out of memory reading '%s'", path);
	}
	got = fread(buf, 1, size, f);
	int read_errno = ferror(f) ? errno : 0;
	fclose(f);
	if (read_errno != 0) {
		free(buf);
		return ts_error_errno(err, TS_E_FILE, read_errno, "cannot read %s '%s'", what, path);
	}
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(buf, (int)got);
	if (certs == NULL || b == NULL) {
		sk_X509_free(certs);
		BIO_free(b);
		free(buf);
		return ts_error_set(err, TS_E_NOMEM, "out of memory reading '%s'", path);
	}
	int rc = TS_OK;
	ERR_clear_error();
	for (;;) {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		if (x == NULL) {
			unsigned long e = ERR_peek_last_error();
			if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
				rc = ts_error_openssl(err, TS_E_FILE, "%s '%s': certificate %d does not parse", what,
				                      path, sk_X509_num(certs) + 1);
			break;
		}
		if (sk_X509_num(certs) >= MAX_CERTS_PER_FILE || !sk_X509_push(certs, x)) {
			X509_free(x);
			rc = ts_error_set(err, TS_E_NOMEM, "%s '%s' holds more than %d certificates", what, path,
			                  MAX_CERTS_PER_FILE);
			break;
		}
	}
	ERR_clear_error();
	BIO_free(b);
	if (rc == TS_OK && sk_X509_num(certs) == 0 && got > 0) {
		/* Not PEM: perhaps one DER certificate. */
		const unsigned char *p = buf;
		X509 *x = d2i_X509(NULL, &p, (long)got);
		if (x != NULL && p == buf + got)
			sk_X509_push(certs, x);
		else
			X509_free(x);
		ERR_clear_error();
	}
	free(buf);
	if (rc == TS_OK && sk_X509_num(certs) == 0)
		rc = ts_error_set(err, TS_E_FILE, "%s '%s' holds no PEM certificate", what, path);
	if (rc != TS_OK) {
		sk_X509_pop_free(certs, X509_free);
		return rc;
	}
	*out = certs;
	return TS_OK;
}

int ts_cert_read_file(const char *path, struct ts_cert_info **infos, size_t *count,
                      struct ts_error *err)
{
	*infos = NULL;
	*count = 0;
	STACK_OF(X509) *certs;
	int rc = read_certs(path, "certificate file", &certs, err);
	if (rc != TS_OK)
		return rc;
	size_t n = (size_t)sk_X509_num(certs);
	struct ts_cert_info *arr = calloc(n, sizeof *arr);
	if (arr == NULL) {
		sk_X509_pop_free(certs, X509_free);
		return ts_error_set(err, TS_E_NOMEM, "out of memory reading '%s'", path);
	}
	for (size_t i = 0; i < n && rc == TS_OK; i++)
		rc = ts_cert_info_from_x509(sk_X509_value(certs, (int)i), &arr[i], err);
	sk_X509_pop_free(certs, X509_free);
	if (rc != TS_OK) {
		ts_cert_infos_free(arr, n);
		return rc;
	}
	*infos = arr;
	*count = n;
	return TS_OK;
}

/* ------------------------------------------------------------- trust */

static int add_file_to_store(X509_STORE *store, const char *path, const char *what, int *added,
                             struct ts_error *err)
{
	STACK_OF(X509) *certs;
	int rc = read_certs(path, what, &certs, err);
	if (rc != TS_OK)
		return rc;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		/* A certificate already in the store (a hash link to a file we read) is fine. */
		if (X509_STORE_add_cert(store, sk_X509_value(certs, i)) == 1)
			(*added)++;
	}
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	return TS_OK;
}

/* "5ed36f99.0": a name OpenSSL's hashed-directory lookup finds. */
static bool is_hash_name(const char *n)
{
	for (int i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)n[i]))
			return false;
	if (n[8] != '.' || !isdigit((unsigned char)n[9]))
		return false;
	for (const char *p = n + 10; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

/* Whether dir has certificates under subject-hash names (c_rehash). */
static bool dir_is_hashed(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return false;
	bool hashed = false;
	struct dirent *e;
	for (int seen = 0; !hashed && seen < MAX_DIR_ENTRIES && (e = readdir(d)) != NULL; seen++)
		hashed = is_hash_name(e->d_name);
	closedir(d);
	return hashed;
}

/* An OpenSSL hashed directory (c_rehash, /etc/ssl/certs) is searched lazily
 * by OpenSSL; any other directory (like one made by `cert ca --dir`) has every
 * certificate of every file loaded. */
static int add_dir_to_store(X509_STORE *store, const char *dir, struct ts_error *err)
{
	if (dir_is_hashed(dir)) {
		if (X509_STORE_load_path(store, dir) != 1)
			return ts_error_openssl(err, TS_E_FILE, "cannot use CA directory '%s'", dir);
		return TS_OK;
	}
	DIR *d = opendir(dir);
	if (d == NULL)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot read CA directory '%s'", dir);
	struct dirent *e;
	int added = 0, seen = 0;
	while ((e = readdir(d)) != NULL && seen < MAX_DIR_ENTRIES) {
		if (e->d_name[0] == '.')
			continue;
		seen++;
		char path[4096];
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		struct ts_error ignored = { 0 };
		/* Files that are not certificates (keys, notes) are skipped. */
		add_file_to_store(store, path, "CA file", &added, &ignored);
	}
	closedir(d);
	if (added == 0)
		return ts_error_set(err, TS_E_FILE, "CA directory '%s' holds no PEM certificate", dir);
	return TS_OK;
}

/* Whether two paths name the same file (through links). */
static bool same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];
	return realpath(a, ra) != NULL && realpath(b, rb) != NULL && strcmp(ra, rb) == 0;
}

/* The system store, as OpenSSL's default paths: a bundle file
 * ($SSL_CERT_FILE) and a directory ($SSL_CERT_DIR).  The bundle is decoded
 * whole (150 certificates on Debian: some 40 ms every run); the directory
 * holds the same certificates under subject-hash names, read one at a time
 * when a chain needs an issuer.  So the default bundle is left out when the
 * default directory is used and hashed, as Debian's /etc/ssl/certs is. */
static int add_system_store(X509_STORE *store, struct ts_error *err)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());
	bool default_file = file == NULL || same_file(file, X509_get_default_cert_file());
	bool default_dir = dir == NULL || same_file(dir, X509_get_default_cert_dir());
	if (default_file && default_dir && dir_is_hashed(X509_get_default_cert_dir()))
		file = NULL;
	else if (file == NULL)
		file = X509_get_default_cert_file();
	X509_LOOKUP *hashed = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
	if (hashed == NULL || X509_LOOKUP_add_dir(hashed, NULL, X509_FILETYPE_DEFAULT) != 1)
		return ts_error_openssl(err, TS_E_FILE, "cannot load the system trust store");
	if (file != NULL) {
		X509_LOOKUP *bundle = X509_STORE_add_lookup(store, X509_LOOKUP_file());
		if (bundle == NULL)
			return ts_error_openssl(err, TS_E_FILE, "cannot load the system trust store");
		X509_LOOKUP_load_file(bundle, file, X509_FILETYPE_PEM);   /* none is no error, as in OpenSSL */
	}
	return TS_OK;
}

int ts_trust_new(const char *ca_path, struct ts_trust **out, struct ts_error *err)
{
	*out = NULL;
	struct ts_trust *t = calloc(1, sizeof *t);
	if (t == NULL || (t->store = X509_STORE_new()) == NULL) {
		free(t);
		return ts_error_set(err, TS_E_NOMEM, "out of memory making a trust store");
	}
	int rc = TS_OK;
	if (ca_path == NULL) {
		rc = add_system_store(t->store, err);
	} else {
		struct stat st;
		if (stat(ca_path, &st) != 0) {
			rc = ts_error_errno(err, TS_E_FILE, errno, "cannot read CA file '%s'", ca_path);
		} else if (S_ISDIR(st.st_mode)) {
			rc = add_dir_to_store(t->store, ca_path, err);
		} else {
			int added = 0;
			rc = add_file_to_store(t->store, ca_path, "CA file", &added, err);
		}
	}
	ERR_clear_error();
	if (rc != TS_OK) {
		ts_trust_free(t);
		return rc;
	}
	*out = t;
	return TS_OK;
}

void ts_trust_free(struct ts_trust *trust)
{
	if (trust == NULL)
		return;
	X509_STORE_free(trust->store);
	free(trust);
}

X509_STORE *ts_trust_store(struct ts_trust *trust)
{
	return trust != NULL ? trust->store : NULL;
}

struct ts_trust *ts_trust_share(struct ts_trust *trust)
{
	struct ts_trust *t = calloc(1, sizeof *t);
	if (t == NULL || X509_STORE_up_ref(trust->store) != 1) {
		free(t);
		return NULL;
	}
	t->store = trust->store;
	return t;
}

/* ------------------------------------------------------------- verify */

/* What OpenSSL's verifier reported, kept by the callback that lets it go on
 * so that the whole chain gets built and every check gets a say. */
struct verify_state {
	int chain_err;
	int chain_depth;
	X509 *chain_cert;
	int date_err;
	int date_depth;
	X509 *date_cert;
};

static bool is_date_error(int e)
{
	return e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID ||
	       e == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD ||
	       e == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return 1;
	struct verify_state *st = X509_STORE_CTX_get_app_data(ctx);
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	if (st == NULL)
		return 0;
	if (is_date_error(e)) {
		/* internal_verify walks root to leaf: prefer the lowest depth. */
		if (st->date_err == 0 || depth <= st->date_depth) {
			X509_free(st->date_cert);
			st->date_err = e;
			st->date_depth = depth;
			st->date_cert = cur;
			if (cur != NULL)
				X509_up_ref(cur);
		}
	} else if (st->chain_err == 0) {
		st->chain_err = e;
		st->chain_depth = depth;
		st->chain_cert = cur;
		if (cur != NULL)
			X509_up_ref(cur);
	}
	return 1;
}

/* The certificate's own name for messages: the first DNS or IP
 * subjectAltName, else the CN, else the whole subject. */
static void cert_label(X509 *x, char *out, size_t size)
{
	struct ts_cert_info info;
	if (x != NULL && ts_cert_info_from_x509(x, &info, NULL) == TS_OK) {
		char *cn = subject_cn(x);
		const char *label = info.san_dns_count > 0 ? info.san_dns[0]
		                  : info.san_ip_count > 0 ? info.san_ip[0]
		                  : cn != NULL ? cn : info.subject;
		snprintf(out, size, "%s", label);
		free(cn);
		ts_cert_info_clear(&info);
	} else {
		snprintf(out, size, "?");
	}
}

static void name_of(const X509_NAME *n, char *out, size_t size)
{
	char *s = name_oneline(n);
	snprintf(out, size, "%s", s != NULL ? s : "?");
	free(s);
}

static void chain_message(const struct verify_state *st, int sent, int built, bool client,
                          char *msg, size_t size)
{
	char name[256];
	X509 *x = st->chain_cert;
	switch (st->chain_err) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(msg, size, "self-signed certificate '%s' is not trusted", name);
		return;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(msg, size, "issuer '%s' is not a trusted certificate authority", name);
		return;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		if (sent <= 1 && built <= 1) {
			snprintf(msg, size, "the server sent no intermediate certificate: no chain to a trusted root");
		} else {
			name_of(x != NULL ? X509_get_issuer_name(x) : NULL, name, sizeof name);
			snprintf(msg, size, "issuer '%s' is not a trusted certificate authority", name);
		}
		return;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(msg, size, "the signature on certificate '%s' does not verify with its issuer's key",
		         name);
		return;
	case X509_V_ERR_INVALID_PURPOSE:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		if (st->chain_depth == 0)
			snprintf(msg, size, "certificate '%s' is not for a TLS %s (its extendedKeyUsage lacks %s)",
			         name, client ? "client" : "server", client ? "clientAuth" : "serverAuth");
		else
			snprintf(msg, size, "CA certificate '%s' may not issue TLS %s certificates (its extendedKeyUsage)",
			         name, client ? "client" : "server");
		return;
	case X509_V_ERR_INVALID_CA:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(msg, size, "certificate '%s' signs other certificates but is not a CA", name);
		return;
	default:
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(msg, size, "certificate '%s' (depth %d) is not trusted: %s", name, st->chain_depth,
		         X509_verify_cert_error_string(st->chain_err));
		return;
	}
}

static void date_message(const struct verify_state *st, char *msg, size_t size)
{
	X509 *x = st->date_cert;
	char label[256], when[40];
	if (st->date_depth == 0) {
		char own[200];
		cert_label(x, own, sizeof own);
		snprintf(label, sizeof label, "certificate for '%s'", own);
	} else {
		char name[200];
		name_of(x != NULL ? X509_get_subject_name(x) : NULL, name, sizeof name);
		snprintf(label, sizeof label, "CA certificate '%s'", name);
	}
	switch (st->date_err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		ts_cert_format_time(x != NULL ? asn1_time_to_unix(X509_get0_notAfter(x)) : 0, when, sizeof when);
		snprintf(msg, size, "%s expired on %s", label, when);
		return;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		ts_cert_format_time(x != NULL ? asn1_time_to_unix(X509_get0_notBefore(x)) : 0, when, sizeof when);
		snprintf(msg, size, "%s is not valid before %s", label, when);
		return;
	default:
		snprintf(msg, size, "%s has a malformed validity date", label);
		return;
	}
}

/* MD5 and SHA-1 signatures are refused as OpenSSL's security levels 1 and up
 * refuse them (a SHA-1 collision is within reach). */
static const char *weak_digest(X509 *x)
{
	int mdnid = NID_undef;
	if (X509_get_signature_info(x, &mdnid, NULL, NULL, NULL) != 1)
		return NULL;
	switch (mdnid) {
	case NID_sha1: return "SHA-1";
	case NID_md5: return "MD5";
	case NID_md5_sha1: return "MD5+SHA-1";
	case NID_md4: return "MD4";
	case NID_md2: return "MD2";
	}
	return NULL;
}

/* Key sizes and signature digests of the chain, leaf first.  Returns 0 and ""
 * when all are strong enough, else the X509_V_ERR_* with the message. */
static int strength_message(STACK_OF(X509) *chain, int min_rsa_bits, char *msg, size_t size)
{
	msg[0] = '\0';
	if (min_rsa_bits < 0)
		return 0;
	bool check_digests = min_rsa_bits == 0 || min_rsa_bits >= 1024;
	if (min_rsa_bits == 0)
		min_rsa_bits = 2048;
	int n = sk_X509_num(chain);
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);
		char where[260] = "";
		if (i > 0) {
			char name[200];
			name_of(X509_get_subject_name(x), name, sizeof name);
			snprintf(where, sizeof where, " in CA certificate '%s'", name);
		}
		EVP_PKEY *pk = X509_get0_pubkey(x);
		int id = pk != NULL ? EVP_PKEY_get_base_id(pk) : NID_undef;
		int bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0, need = 0;
		const char *type = NULL;
		if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
			type = "RSA";
			need = min_rsa_bits;
		} else if (id == EVP_PKEY_DSA) {
			type = "DSA";
			need = min_rsa_bits;
		} else if (id == EVP_PKEY_EC) {
			type = "EC";
			need = 224;
		}
		if (type != NULL && bits < need) {
			snprintf(msg, size, "%s key of %d bits%s is too weak (at least %d required)", type, bits,
			         where, need);
			return i == 0 ? X509_V_ERR_EE_KEY_TOO_SMALL : X509_V_ERR_CA_KEY_TOO_SMALL;
		}
		/* A self-signed root's own signature vouches for nothing: trust does. */
		bool anchor = i == n - 1 && X509_self_signed(x, 0) == 1;
		const char *digest = check_digests && !anchor ? weak_digest(x) : NULL;
		if (digest != NULL) {
			int nid = X509_get_signature_nid(x);
			snprintf(msg, size, "%s signature (%s)%s is too weak (SHA-256 or better required)", digest,
			         OBJ_nid2ln(nid), i > 0 ? where : "");
			return X509_V_ERR_CA_MD_TOO_WEAK;
		}
	}
	ERR_clear_error();
	return 0;
}

static bool parse_ip_literal(const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		if (n - 2 >= size)
			return false;
		memcpy(out, name + 1, n - 2);
		out[n - 2] = '\0';
	} else {
		snprintf(out, size, "%s", name);
	}
	unsigned char buf[16];
	return inet_pton(AF_INET, out, buf) == 1 || inet_pton(AF_INET6, out, buf) == 1;
}

/* Checks the name; on mismatch writes the message naming what the certificate is for. */
static bool name_check(X509 *leaf, const char *name, bool *is_ip, char *msg, size_t size)
{
	char ip[INET6_ADDRSTRLEN + 8];
	int r;
	*is_ip = parse_ip_literal(name, ip, sizeof ip);
	if (*is_ip)
		r = X509_check_ip_asc(leaf, ip, 0);
	else
		r = X509_check_host(leaf, name, 0,
		                    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
		                    NULL);
	ERR_clear_error();
	if (r == 1)
		return true;

	struct ts_cert_info info;
	if (ts_cert_info_from_x509(leaf, &info, NULL) != TS_OK) {
		snprintf(msg, size, "name mismatch: wanted '%.200s'", name);
		return false;
	}
	int used = snprintf(msg, size, "name mismatch: wanted '%.200s', ", name);
	size_t total = info.san_dns_count + info.san_ip_count;
	if (total == 0) {
		GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
		bool has_san = gens != NULL;
		GENERAL_NAMES_free(gens);
		char *cn = subject_cn(leaf);
		if (has_san)
			snprintf(msg + used, size - (size_t)used,
			         "certificate names no DNS name or IP address in its subjectAltName");
		else if (cn != NULL)
			snprintf(msg + used, size - (size_t)used,
			         "certificate has no subjectAltName (CN '%.200s' is not used for name checks)", cn);
		else
			snprintf(msg + used, size - (size_t)used, "certificate has no subjectAltName and no CN");
		free(cn);
	} else {
		used += snprintf(msg + used, size - (size_t)used, "certificate is for ");
		for (size_t i = 0; i < total; i++) {
			const char *entry = i < info.san_dns_count ? info.san_dns[i]
			                                           : info.san_ip[i - info.san_dns_count];
			size_t room = size - (size_t)used;
			/* Keep space for ", and N more". */
			if (strlen(entry) + 8 + 24 > room) {
				snprintf(msg + used, room, "%sand %zu more", i > 0 ? ", " : "", total - i);
				break;
			}
			used += snprintf(msg + used, room, "%s'%s'", i > 0 ? ", " : "", entry);
		}
	}
	ts_cert_info_clear(&info);
	return false;
}

static void note_failure(struct ts_verify_result *res, bool waived, const char *msg, int code)
{
	char *dst = waived ? res->waived : res->error;
	if (dst[0] != '\0')
		return;
	snprintf(dst, TS_ERROR_MSG_MAX, "%s", msg);
	if (!waived)
		res->x509_error = code;
}

int ts_cert_verify_x509(struct ts_trust *trust, X509 *leaf, STACK_OF(X509) *untrusted,
                        const struct ts_verify_options *opt, struct ts_verify_result *res,
                        struct ts_error *err)
{
	memset(res, 0, sizeof *res);
	if (trust == NULL || leaf == NULL || opt == NULL)
		return ts_error_set(err, TS_E_INVALID, "verify: no trust store, certificate or options");
	struct verify_state st = { 0 };
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, trust->store, leaf, untrusted) != 1) {
		X509_STORE_CTX_free(ctx);
		return ts_error_openssl(err, TS_E_NOMEM, "cannot set up certificate verification");
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	if (opt->at != 0)
		X509_VERIFY_PARAM_set_time(param, (time_t)opt->at);
	X509_STORE_CTX_set_purpose(ctx, opt->client_purpose ? X509_PURPOSE_SSL_CLIENT
	                                                    : X509_PURPOSE_SSL_SERVER);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	X509_STORE_CTX_set_app_data(ctx, &st);
	int vr = X509_verify_cert(ctx);
	if (vr <= 0 && st.chain_err == 0 && st.date_err == 0) {
		int e = X509_STORE_CTX_get_error(ctx);
		st.chain_err = e != X509_V_OK ? e : X509_V_ERR_UNSPECIFIED;
	}
	ERR_clear_error();

	int rc = TS_OK;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int built = chain != NULL ? sk_X509_num(chain) : 0;
	if (built > 0) {
		res->built = calloc((size_t)built, sizeof *res->built);
		if (res->built == NULL)
			rc = ts_error_set(err, TS_E_NOMEM, "out of memory");
		for (int i = 0; i < built && rc == TS_OK; i++) {
			rc = ts_cert_info_from_x509(sk_X509_value(chain, i), &res->built[i], err);
			if (rc == TS_OK)
				res->built_count++;
		}
	}
	if (rc == TS_OK) {
		char msg[TS_ERROR_MSG_MAX];
		/* What the peer sent; a client's SSL_get_peer_cert_chain repeats the leaf. */
		int sent = 1;
		for (int i = 0; untrusted != NULL && i < sk_X509_num(untrusted); i++)
			sent += X509_cmp(sk_X509_value(untrusted, i), leaf) != 0;
		bool chain_ok = st.chain_err == 0, dates_ok = st.date_err == 0;
		if (!chain_ok) {
			chain_message(&st, sent, built, opt->client_purpose, msg, sizeof msg);
			note_failure(res, opt->insecure_noverifycert, msg, st.chain_err);
		}
		if (!dates_ok) {
			date_message(&st, msg, sizeof msg);
			note_failure(res, opt->insecure_noverifytime, msg, st.date_err);
		}
		STACK_OF(X509) *just_leaf = NULL;
		if (built == 0) {
			just_leaf = sk_X509_new_null();
			if (just_leaf != NULL)
				sk_X509_push(just_leaf, leaf);
		}
		int weak = strength_message(built > 0 ? chain : just_leaf, opt->min_rsa_bits, msg, sizeof msg);
		sk_X509_free(just_leaf);
		bool keys_ok = weak == 0;
		if (!keys_ok)
			note_failure(res, false, msg, weak);
		res->trusted = chain_ok && dates_ok && keys_ok;
		if (opt->name != NULL) {
			bool is_ip = false;
			res->hostname_match = name_check(leaf, opt->name, &is_ip, msg, sizeof msg);
			if (!res->hostname_match)
				note_failure(res, opt->insecure_noverifyname, msg,
				             is_ip ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
		}
		if (res->error[0] != '\0')
			rc = ts_error_set(err, TS_E_VERIFY, "%s", res->error);
	}
	X509_free(st.chain_cert);
	X509_free(st.date_cert);
	X509_STORE_CTX_free(ctx);
	if (rc != TS_OK && rc != TS_E_VERIFY) {
		ts_verify_result_clear(res);
		snprintf(res->error, sizeof res->error, "%s", err != NULL ? err->msg : "verification failed");
	}
	return rc;
}

static int verify_stack(struct ts_trust *trust, STACK_OF(X509) *certs,
                        const struct ts_verify_options *opt, struct ts_verify_result *res,
                        struct ts_error *err)
{
	X509 *leaf = sk_X509_shift(certs);
	int rc = ts_cert_verify_x509(trust, leaf, certs, opt, res, err);
	X509_free(leaf);
	return rc;
}

int ts_cert_verify_der(struct ts_trust *trust, const uint8_t *const *ders, const size_t *lens,
                       size_t count, const struct ts_verify_options *opt,
                       struct ts_verify_result *res, struct ts_error *err)
{
	memset(res, 0, sizeof *res);
	if (count == 0 || ders == NULL || lens == NULL)
		return ts_error_set(err, TS_E_INVALID, "verify: no certificate given");
	if (count > MAX_CERTS_PER_FILE)
		return ts_error_set(err, TS_E_NOMEM, "verify: %zu certificates is too many", count);
	STACK_OF(X509) *certs = sk_X509_new_null();
	if (certs == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		const unsigned char *p = ders[i];
		X509 *x = lens[i] > 0 && lens[i] <= MAX_FILE_BYTES ? d2i_X509(NULL, &p, (long)lens[i]) : NULL;
		if (x == NULL || p != ders[i] + lens[i] || !sk_X509_push(certs, x)) {
			X509_free(x);
			sk_X509_pop_free(certs, X509_free);
			int rc = ts_error_openssl(err, TS_E_MALFORMED,
			                          "certificate %zu of the chain (%zu bytes) does not parse as DER",
			                          i + 1, lens[i]);
			snprintf(res->error, sizeof res->error, "%s", err != NULL ? err->msg : "malformed");
			return rc;
		}
	}
	int rc = verify_stack(trust, certs, opt, res, err);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int ts_cert_verify_file(struct ts_trust *trust, const char *path,
                        const struct ts_verify_options *opt, struct ts_verify_result *res,
                        struct ts_error *err)
{
	memset(res, 0, sizeof *res);
	STACK_OF(X509) *certs;
	int rc = read_certs(path, "certificate file", &certs, err);
	if (rc != TS_OK) {
		snprintf(res->error, sizeof res->error, "%s", err != NULL ? err->msg : "unreadable");
		return rc;
	}
	rc = verify_stack(trust, certs, opt, res, err);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

void ts_verify_result_clear(struct ts_verify_result *res)
{
	if (res == NULL)
		return;
	ts_cert_infos_free(res->built, res->built_count);
	res->built = NULL;
	res->built_count = 0;
}

/* ------------------------------------------------------------- generate */

static const struct key_kind {
	const char *spec;
	const char *type;  /* OpenSSL's key type name */
	size_t rsa_bits;
	const char *curve;
} key_kinds[] = {
	{ "rsa:2048", "RSA", 2048, NULL },
	{ "rsa:3072", "RSA", 3072, NULL },
	{ "rsa:4096", "RSA", 4096, NULL },
	{ "rsa:1024", "RSA", 1024, NULL }, /* weak on purpose, for tests of refusal */
	{ "ec:P-256", "EC", 0, "P-256" },
	{ "ec:P-384", "EC", 0, "P-384" },
	{ "ec:P-521", "EC", 0, "P-521" },
	{ "ed25519", "ED25519", 0, NULL },
};

static const struct key_kind *find_key_kind(const char *spec)
{
	if (spec == NULL || *spec == '\0')
		spec = "rsa:2048";
	for (size_t i = 0; i < sizeof key_kinds / sizeof key_kinds[0]; i++)
		if (strcmp(spec, key_kinds[i].spec) == 0)
			return &key_kinds[i];
	return NULL;
}

bool ts_cert_key_spec_known(const char *spec)
{
	return spec != NULL && find_key_kind(spec) != NULL;
}

static EVP_PKEY *make_key(const struct key_kind *kind, struct ts_error *err)
{
	EVP_PKEY *k;
	if (kind->rsa_bits != 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, kind->type, kind->rsa_bits);
	else if (kind->curve != NULL)
		k = EVP_PKEY_Q_keygen(NULL, NULL, kind->type, kind->curve);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, kind->type);
	if (k == NULL)
		ts_error_openssl(err, TS_E_INTERNAL, "cannot generate a %s key", kind->spec);
	return k;
}

static bool valid_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		/* '*' anywhere is allowed on purpose: tests need partial wildcards too. */
		if (!isalnum(c) && c != '-' && c != '_' && c != '*')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value, struct ts_error *err)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL || X509_add_ext(x, e, -1) != 1) {
		X509_EXTENSION_free(e);
		return ts_error_openssl(err, TS_E_INTERNAL, "cannot add the %s extension '%s'",
		                        OBJ_nid2sn(nid), value);
	}
	X509_EXTENSION_free(e);
	return TS_OK;
}

/* "DNS:a.example,IP:127.0.0.1" from names already checked to hold no comma. */
static int san_value(const struct ts_cert_request *req, char **out, struct ts_error *err)
{
	size_t cap = 1;
	for (size_t i = 0; i < req->name_count; i++)
		cap += strlen(req->names[i]) + 5;
	char *s = malloc(cap);
	if (s == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	size_t used = 0;
	s[0] = '\0';
	for (size_t i = 0; i < req->name_count; i++) {
		char ip[INET6_ADDRSTRLEN + 8];
		bool is_ip = parse_ip_literal(req->names[i], ip, sizeof ip);
		used += (size_t)snprintf(s + used, cap - used, "%s%s:%s", i > 0 ? "," : "",
		                         is_ip ? "IP" : "DNS", is_ip ? ip : req->names[i]);
	}
	*out = s;
	return TS_OK;
}

static int check_names(const struct ts_cert_request *req, const char **cn, struct ts_error *err)
{
	if (req->name_count > MAX_SAN_ENTRIES)
		return ts_error_set(err, TS_E_INVALID, "%zu names is too many (at most %d)", req->name_count,
		                    MAX_SAN_ENTRIES);
	for (size_t i = 0; i < req->name_count; i++) {
		char ip[INET6_ADDRSTRLEN + 8];
		const char *n = req->names[i];
		if (n == NULL || (!parse_ip_literal(n, ip, sizeof ip) && !valid_dns_name(n)))
			return ts_error_set(err, TS_E_INVALID,
			                    "bad name '%s' (expected a DNS name like www.example.test or an IP address)",
			                    n != NULL ? n : "(null)");
	}
	*cn = req->common_name != NULL ? req->common_name : req->name_count > 0 ? req->names[0] : NULL;
	if (*cn == NULL || **cn == '\0')
		return ts_error_set(err, TS_E_INVALID, req->is_ca ? "a CA needs a name"
		                                                  : "a certificate needs at least one name");
	if (strlen(*cn) > MAX_CN_LEN)
		return ts_error_set(err, TS_E_INVALID, "common name '%s' is longer than %d characters", *cn,
		                    MAX_CN_LEN);
	if (req->cn_only && req->name_count > 1)
		return ts_error_set(err, TS_E_INVALID, "a CN-only certificate takes exactly one name");
	return TS_OK;
}

static int write_certs(const char *path, X509 *const *certs, size_t n, STACK_OF(X509) *more,
                       struct ts_error *err)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot write '%s'", path);
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok = ok && PEM_write_X509(f, certs[i]) == 1;
	for (int i = 0; more != NULL && i < sk_X509_num(more); i++)
		ok = ok && PEM_write_X509(f, sk_X509_value(more, i)) == 1;
	if (fclose(f) != 0 || !ok)
		return ts_error_errno(err, TS_E_FILE, errno != 0 ? errno : EIO, "cannot write '%s'", path);
	return TS_OK;
}

static int write_key(const char *path, EVP_PKEY *key, struct ts_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot write '%s'", path);
	if (fchmod(fd, 0600) != 0) {
		int e = errno;
		close(fd);
		return ts_error_errno(err, TS_E_FILE, e, "cannot make '%s' private", path);
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		int e = errno;
		close(fd);
		return ts_error_errno(err, TS_E_FILE, e, "cannot write '%s'", path);
	}
	bool ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (fclose(f) != 0 || !ok)
		return ts_error_errno(err, TS_E_FILE, errno != 0 ? errno : EIO, "cannot write '%s'", path);
	return TS_OK;
}

struct issuer {
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain; /* the issuer's ca.chain.pem (itself and up), or NULL for a root */
};

static void issuer_clear(struct issuer *is)
{
	X509_free(is->cert);
	EVP_PKEY_free(is->key);
	sk_X509_pop_free(is->chain, X509_free);
	memset(is, 0, sizeof *is);
}

static int load_issuer(const char *dir, struct issuer *is, struct ts_error *err)
{
	char path[4096];
	memset(is, 0, sizeof *is);
	STACK_OF(X509) *certs;
	snprintf(path, sizeof path, "%s/ca.pem", dir);
	int rc = read_certs(path, "CA certificate", &certs, err);
	if (rc != TS_OK)
		return rc;
	is->cert = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	snprintf(path, sizeof path, "%s/ca.key", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		issuer_clear(is);
		return ts_error_errno(err, TS_E_FILE, errno, "cannot read CA key '%s'", path);
	}
	is->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (is->key == NULL) {
		issuer_clear(is);
		return ts_error_openssl(err, TS_E_FILE, "CA key '%s' holds no PEM private key", path);
	}
	if (X509_check_private_key(is->cert, is->key) != 1) {
		issuer_clear(is);
		return ts_error_openssl(err, TS_E_FILE, "CA key '%s' does not match '%s/ca.pem'", path, dir);
	}
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(is->cert, NID_basic_constraints, NULL, NULL);
	bool ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (!ca) {
		issuer_clear(is);
		return ts_error_set(err, TS_E_FILE, "'%s/ca.pem' is not a CA certificate", dir);
	}
	if (X509_self_signed(is->cert, 0) != 1) {
		/* An intermediate: its chain up (without the root) goes into chain files. */
		snprintf(path, sizeof path, "%s/ca.chain.pem", dir);
		struct ts_error ignored = { 0 };
		if (read_certs(path, "CA chain", &is->chain, &ignored) != TS_OK) {
			is->chain = sk_X509_new_null();
			if (is->chain == NULL || !sk_X509_push(is->chain, is->cert)) {
				issuer_clear(is);
				return ts_error_set(err, TS_E_NOMEM, "out of memory");
			}
			X509_up_ref(is->cert);
		}
	}
	ERR_clear_error();
	return TS_OK;
}

static const EVP_MD *digest_for(EVP_PKEY *signer)
{
	int id = EVP_PKEY_get_base_id(signer);
	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		return NULL;
	if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(signer) > 384)
		return EVP_sha512();
	if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(signer) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

static int set_serial(X509 *x)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		return -1;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x40; /* and always 16 bytes long */
	BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
	int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int build_cert(const struct ts_cert_request *req, const char *cn, EVP_PKEY *key,
                      struct issuer *is, X509 **out, struct ts_error *err)
{
	*out = NULL;
	int64_t nb = req->not_before != 0 ? req->not_before : (int64_t)time(NULL) - 3600;
	int days = req->days > 0 ? req->days : req->is_ca ? 3650 : 825;
	int64_t na = req->not_after != 0 ? req->not_after : nb + (int64_t)days * 86400;
	if (na <= nb)
		return ts_error_set(err, TS_E_INVALID, "the certificate would end before it begins");
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();
	int rc = TS_OK;
	if (x == NULL || subject == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_serial(x) != 0 ||
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, is->cert != NULL ? X509_get_subject_name(is->cert) : subject) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL || X509_set_pubkey(x, key) != 1)
		rc = ts_error_openssl(err, TS_E_INTERNAL, "cannot build the certificate for '%s'", cn);
	X509_NAME_free(subject);
	X509 *signer_cert = is->cert != NULL ? is->cert : x;
	bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	if (rc == TS_OK && req->is_ca) {
		rc = add_ext(x, signer_cert, NID_basic_constraints, "critical,CA:TRUE", err);
		if (rc == TS_OK)
			rc = add_ext(x, signer_cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature",
			             err);
	} else if (rc == TS_OK) {
		rc = add_ext(x, signer_cert, NID_basic_constraints, "critical,CA:FALSE", err);
		if (rc == TS_OK)
			rc = add_ext(x, signer_cert, NID_key_usage,
			             rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature",
			             err);
		if (rc == TS_OK)
			rc = add_ext(x, signer_cert, NID_ext_key_usage, "serverAuth,clientAuth", err);
	}
	if (rc == TS_OK)
		rc = add_ext(x, signer_cert, NID_subject_key_identifier, "hash", err);
	if (rc == TS_OK && is->cert != NULL)
		rc = add_ext(x, signer_cert, NID_authority_key_identifier, "keyid:always", err);
	if (rc == TS_OK && !req->cn_only && req->name_count > 0) {
		char *san = NULL;
		rc = san_value(req, &san, err);
		if (rc == TS_OK)
			rc = add_ext(x, signer_cert, NID_subject_alt_name, san, err);
		free(san);
	}
	EVP_PKEY *signer = is->key != NULL ? is->key : key;
	if (rc == TS_OK && X509_sign(x, signer, digest_for(signer)) <= 0)
		rc = ts_error_openssl(err, TS_E_INTERNAL, "cannot sign the certificate for '%s'", cn);
	if (rc != TS_OK) {
		X509_free(x);
		return rc;
	}
	*out = x;
	return TS_OK;
}

int ts_cert_generate(const struct ts_cert_request *req, const char *issuer_dir,
                     const char *out_prefix, struct ts_error *err)
{
	if (req == NULL || out_prefix == NULL || *out_prefix == '\0')
		return ts_error_set(err, TS_E_INVALID, "generate: no request or output prefix");
	if (req->self_signed && (issuer_dir != NULL || req->is_ca))
		return ts_error_set(err, TS_E_INVALID, "a self-signed certificate takes no CA");
	if (!req->is_ca && !req->self_signed && issuer_dir == NULL)
		return ts_error_set(err, TS_E_INVALID, "a certificate needs a CA (or self-signed)");
	if (strlen(out_prefix) > 4000)
		return ts_error_set(err, TS_E_INVALID, "output prefix too long");
	const char *cn = NULL;
	int rc = check_names(req, &cn, err);
	if (rc != TS_OK)
		return rc;
	const struct key_kind *kind = find_key_kind(req->key_spec);
	if (kind == NULL)
		return ts_error_set(err, TS_E_INVALID,
		                    "unknown key type '%s' (expected rsa:2048, rsa:3072, rsa:4096, rsa:1024, "
		                    "ec:P-256, ec:P-384, ec:P-521 or ed25519)", req->key_spec);
	struct issuer is = { 0 };
	if (issuer_dir != NULL && (rc = load_issuer(issuer_dir, &is, err)) != TS_OK)
		return rc;
	EVP_PKEY *key = make_key(kind, err);
	if (key == NULL) {
		issuer_clear(&is);
		return TS_E_INTERNAL;
	}
	X509 *x = NULL;
	rc = build_cert(req, cn, key, &is, &x, err);
	char path[4200];
	if (rc == TS_OK) {
		snprintf(path, sizeof path, "%s.key", out_prefix);
		rc = write_key(path, key, err);
	}
	if (rc == TS_OK) {
		snprintf(path, sizeof path, "%s.pem", out_prefix);
		rc = write_certs(path, &x, 1, NULL, err);
	}
	if (rc == TS_OK && (is.chain != NULL || (req->is_ca && is.cert != NULL))) {
		/* Leaf (or this intermediate) then the issuing intermediates, no root. */
		snprintf(path, sizeof path, "%s.chain.pem", out_prefix);
		rc = write_certs(path, &x, 1, is.chain, err);
	} else if (rc == TS_OK) {
		/* A chain file left from an earlier certificate would no longer match. */
		snprintf(path, sizeof path, "%s.chain.pem", out_prefix);
		if (unlink(path) != 0 && errno != ENOENT)
			rc = ts_error_errno(err, TS_E_FILE, errno, "cannot remove the stale '%s'", path);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	issuer_clear(&is);
	ERR_clear_error();
	return rc;
}
