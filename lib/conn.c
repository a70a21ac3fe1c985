/* Safe TLS connections over OpenSSL (see include/tlsscope/conn.h).
 *
 * Every connection moves its bytes through one BIO of our own that calls
 * read/write callbacks: for a socket the callbacks are recv/send, for tests
 * and event loops they are the caller's.  One path means one set of error
 * messages, and it lets us keep the first bytes the peer sent, which is how
 * "this is plain HTTP / SSH, not TLS" gets said in words. */
#include "tlsscope/conn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cert_internal.h"

#define SESSIONS_MAX 64
#define FIRST_BYTES 64

struct keypair {
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

struct session_entry {
	char key[TS_HOST_MAX + 8];
	SSL_SESSION *sess;
};

enum client_verify { CLIENT_VERIFY_NONE, CLIENT_VERIFY_OPTIONAL, CLIENT_VERIFY_REQUIRED };

struct ts_config {
	int refs;
	struct ts_error err;
	struct ts_trust *trust;          /* NULL: the system store, loaded when first needed */
	unsigned protocols;
	char *ciphers;                   /* NULL: the policy's default */
	bool ciphers_set;
	int seclevel;
	uint8_t alpn[TS_ALPN_MAX];
	size_t alpn_len;
	struct keypair kp[TS_KEYPAIRS_MAX];
	size_t nkp;
	struct ts_trust *client_trust;
	char *client_ca_path;
	enum client_verify client_verify;
	bool session_cache;
	int timeout_ms;
	int family;
	bool noverifycert, noverifyname, noverifytime, legacy, legacy_reneg;
	SSL_CTX *client_ctx;             /* built on first use, dropped by setters */
	SSL_CTX *server_ctx;
	struct session_entry sessions[SESSIONS_MAX];
	size_t nsessions;
};

struct ts_conn {
	struct ts_config *cfg;
	bool is_server;
	SSL *ssl;
	struct ts_error err;
	bool failed;                     /* a fatal error: every later call repeats it */

	int fd;
	bool owns_fd;
	bool nonblocking;
	ts_read_cb rd;
	ts_write_cb wr;
	void *arg;

	char *name;                      /* client: name to check and send as SNI */
	uint16_t port;
	char peer[TS_ADDRSTR_MAX + TS_HOST_MAX + 8]; /* for messages: "the server at 127.0.0.1:443" */
	struct ts_addr addr;
	bool have_addr;

	uint8_t first[FIRST_BYTES];      /* the first bytes the peer sent */
	size_t nfirst;
	uint64_t bytes_in;
	bool eof;
	int io_error;                    /* a transport failure seen by the BIO */
	int io_errno;
	int alert_received;              /* -1 none, else the alert description */
	int alert_sent;

	bool handshake_done;
	bool verify_ran;
	bool verify_failed;
	int verify_code;
	struct ts_verify_result vres;
	bool got_ticket;
	uint64_t pad_budget;             /* TLS 1.3 record padding still to add (ts_conn_pad) */

	uint8_t **chain_der;
	size_t *chain_len;
	size_t chain_n;
	char group[32];
	char sigalg[48];
	char alpn[256];
};

/* ---- configuration ---- */

struct ts_config *ts_config_new(void)
{
	struct ts_config *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL)
		return NULL;
	cfg->refs = 1;
	cfg->protocols = TS_PROTOS_DEFAULT;
	cfg->seclevel = 2;
	cfg->timeout_ms = TS_DEFAULT_TIMEOUT_MS;
	cfg->family = AF_UNSPEC;
	return cfg;
}

static void keypair_clear(struct keypair *kp)
{
	X509_free(kp->cert);
	sk_X509_pop_free(kp->chain, X509_free);
	EVP_PKEY_free(kp->key);
	memset(kp, 0, sizeof *kp);
}

static void drop_ctx(struct ts_config *cfg)
{
	SSL_CTX_free(cfg->client_ctx);
	SSL_CTX_free(cfg->server_ctx);
	cfg->client_ctx = cfg->server_ctx = NULL;
}

static void config_unref(struct ts_config *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	drop_ctx(cfg);
	ts_trust_free(cfg->trust);
	ts_trust_free(cfg->client_trust);
	free(cfg->client_ca_path);
	free(cfg->ciphers);
	for (size_t i = 0; i < cfg->nkp; i++)
		keypair_clear(&cfg->kp[i]);
	for (size_t i = 0; i < cfg->nsessions; i++)
		SSL_SESSION_free(cfg->sessions[i].sess);
	free(cfg);
}

void ts_config_free(struct ts_config *cfg)
{
	config_unref(cfg);
}

const char *ts_config_error(const struct ts_config *cfg)
{
	return cfg->err.msg;
}

/* Every setter starts here: forget the last error and the built contexts. */
static void changing(struct ts_config *cfg)
{
	ts_error_clear(&cfg->err);
	drop_ctx(cfg);
}

int ts_config_set_ca_path(struct ts_config *cfg, const char *path)
{
	changing(cfg);
	struct ts_trust *t = NULL;
	int rc = ts_trust_new(path, &t, &cfg->err);
	if (rc < 0)
		return rc;
	ts_trust_free(cfg->trust);
	cfg->trust = t;
	return TS_OK;
}

int ts_config_set_trust(struct ts_config *cfg, struct ts_trust *trust)
{
	changing(cfg);
	struct ts_trust *t = NULL;
	if (trust != NULL && (t = ts_trust_share(trust)) == NULL)
		return ts_error_set(&cfg->err, TS_E_NOMEM, "out of memory");
	ts_trust_free(cfg->trust);
	cfg->trust = t;   /* NULL: the system store, read with the first connection */
	return TS_OK;
}

static const struct {
	const char *name;
	unsigned bit;
	int version;
} protos[] = {
	{ "tls1.0", TS_PROTO_TLS1_0, TLS1_VERSION },
	{ "tls1.1", TS_PROTO_TLS1_1, TLS1_1_VERSION },
	{ "tls1.2", TS_PROTO_TLS1_2, TLS1_2_VERSION },
	{ "tls1.3", TS_PROTO_TLS1_3, TLS1_3_VERSION },
};

int ts_parse_protocols(const char *list, unsigned *out, struct ts_error *err)
{
	unsigned bits = 0;
	const char *p = list;
	if (list == NULL || *list == '\0')
		return ts_error_set(err, TS_E_INVALID, "empty protocol list (expected e.g. 'tls1.2,tls1.3')");
	while (*p != '\0') {
		size_t n = strcspn(p, ", ");
		char word[16];
		if (n == 0 || n >= sizeof word)
			return ts_error_set(err, TS_E_INVALID,
			                    "bad protocol list '%s' (expected names such as 'tls1.2,tls1.3')", list);
		for (size_t i = 0; i < n; i++)
			word[i] = (char)tolower((unsigned char)p[i]);
		word[n] = '\0';
		/* TLSv1.2 -> tls1.2 */
		if (strncmp(word, "tlsv", 4) == 0)
			memmove(word + 3, word + 4, strlen(word + 4) + 1);
		unsigned bit = 0;
		if (strcmp(word, "default") == 0 || strcmp(word, "secure") == 0)
			bit = TS_PROTOS_DEFAULT;
		else if (strcmp(word, "legacy") == 0)
			bit = TS_PROTOS_LEGACY;
		else if (strcmp(word, "all") == 0)
			bit = TS_PROTOS_DEFAULT | TS_PROTOS_LEGACY;
		else if (strcmp(word, "tls1") == 0)
			bit = TS_PROTO_TLS1_0;
		for (size_t i = 0; bit == 0 && i < sizeof protos / sizeof protos[0]; i++)
			if (strcmp(word, protos[i].name) == 0)
				bit = protos[i].bit;
		if (bit == 0)
			return ts_error_set(err, TS_E_INVALID,
			                    "unknown protocol '%.*s' (expected tls1.0, tls1.1, tls1.2, tls1.3)",
			                    (int)n, p);
		bits |= bit;
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	*out = bits;
	return TS_OK;
}

int ts_config_set_protocols(struct ts_config *cfg, unsigned protocols)
{
	changing(cfg);
	if ((protocols & (TS_PROTOS_DEFAULT | TS_PROTOS_LEGACY)) == 0 ||
	    (protocols & ~(TS_PROTOS_DEFAULT | TS_PROTOS_LEGACY)) != 0)
		return ts_error_set(&cfg->err, TS_E_INVALID, "no usable protocol version selected");
	if ((protocols & TS_PROTOS_LEGACY) != 0 && !cfg->legacy)
		return ts_error_set(&cfg->err, TS_E_INVALID,
		                    "TLS 1.0 and 1.1 are broken; allow them explicitly with insecure_legacy_protocols");
	cfg->protocols = protocols;
	return TS_OK;
}

/* An OpenSSL cipher string is valid when it selects at least one suite.  It
 * is checked on one context kept for it: making a context costs far more
 * than the check. */
static SSL_CTX *check_ctx;
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

static bool cipher_list_ok(const char *list)
{
	pthread_mutex_lock(&check_lock);
	if (check_ctx == NULL)
		check_ctx = SSL_CTX_new(TLS_method());
	bool ok = check_ctx != NULL && SSL_CTX_set_cipher_list(check_ctx, list) == 1;
	ERR_clear_error();
	pthread_mutex_unlock(&check_lock);
	return ok;
}

#define CIPHERS_COMPAT "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDHE+AES:DHE+AES:!aNULL:!PSK:!SRP:!SHA1"
#define CIPHERS_LEGACY "ALL:!aNULL:!eNULL"

int ts_config_set_ciphers(struct ts_config *cfg, const char *policy)
{
	changing(cfg);
	const char *list;
	if (policy == NULL || strcmp(policy, "secure") == 0 || strcmp(policy, "default") == 0) {
		free(cfg->ciphers);
		cfg->ciphers = NULL;
		cfg->ciphers_set = false;
		return TS_OK;
	}
	list = strcmp(policy, "compat") == 0 ? CIPHERS_COMPAT : policy;
	if (!cipher_list_ok(list))
		return ts_error_set(&cfg->err, TS_E_INVALID,
		                    "cipher policy '%s' selects no cipher suite OpenSSL knows", policy);
	char *copy = strdup(list);
	if (copy == NULL)
		return ts_error_set(&cfg->err, TS_E_NOMEM, "out of memory");
	free(cfg->ciphers);
	cfg->ciphers = copy;
	cfg->ciphers_set = true;
	return TS_OK;
}

int ts_config_set_security_level(struct ts_config *cfg, int level)
{
	changing(cfg);
	if (level < 0 || level > 5)
		return ts_error_set(&cfg->err, TS_E_INVALID, "security level %d is out of range (0 to 5)", level);
	if (level < 2 && !cfg->legacy)
		return ts_error_set(&cfg->err, TS_E_INVALID,
		                    "security level %d admits weak keys; allow it with insecure_legacy_protocols",
		                    level);
	cfg->seclevel = level;
	return TS_OK;
}

int ts_config_set_alpn(struct ts_config *cfg, const char *list)
{
	changing(cfg);
	uint8_t buf[TS_ALPN_MAX];
	size_t len = 0;
	const char *p = list;
	if (list == NULL || *list == '\0') {
		cfg->alpn_len = 0;
		return TS_OK;
	}
	while (true) {
		size_t n = strcspn(p, ",");
		if (n == 0)
			return ts_error_set(&cfg->err, TS_E_INVALID, "empty protocol name in ALPN list '%s'", list);
		if (n > 255 || len + 1 + n > sizeof buf)
			return ts_error_set(&cfg->err, TS_E_INVALID,
			                    "ALPN list '%.40s...' is longer than %d bytes", list, TS_ALPN_MAX);
		buf[len++] = (uint8_t)n;
		memcpy(buf + len, p, n);
		len += n;
		p += n;
		if (*p == '\0')
			break;
		p++;
	}
	memcpy(cfg->alpn, buf, len);
	cfg->alpn_len = len;
	return TS_OK;
}

static int read_pem_certs(struct ts_config *cfg, const char *path, struct keypair *kp)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return ts_error_errno(&cfg->err, TS_E_FILE, errno, "cannot read certificate file '%s'", path);
	if (S_ISDIR(st.st_mode))
		return ts_error_set(&cfg->err, TS_E_FILE, "certificate file '%s' is a directory", path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return ts_error_errno(&cfg->err, TS_E_FILE, errno, "cannot read certificate file '%s'", path);
	X509 *x;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (kp->cert == NULL) {
			kp->cert = x;
			continue;
		}
		if (kp->chain == NULL && (kp->chain = sk_X509_new_null()) == NULL) {
			X509_free(x);
			break;
		}
		if (sk_X509_num(kp->chain) >= 16 || !sk_X509_push(kp->chain, x)) {
			X509_free(x);
			break;
		}
	}
	fclose(f);
	ERR_clear_error();
	if (kp->cert == NULL)
		return ts_error_set(&cfg->err, TS_E_FILE, "'%s' holds no PEM certificate", path);
	return TS_OK;
}

/* Encrypted keys are refused rather than prompted for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

static int read_pem_key(struct ts_config *cfg, const char *path, struct keypair *kp)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return ts_error_errno(&cfg->err, TS_E_FILE, errno, "cannot read key file '%s'", path);
	if (S_ISDIR(st.st_mode))
		return ts_error_set(&cfg->err, TS_E_FILE, "key file '%s' is a directory", path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return ts_error_errno(&cfg->err, TS_E_FILE, errno, "cannot read key file '%s'", path);
	kp->key = PEM_read_PrivateKey(f, NULL, no_password, NULL);
	fclose(f);
	ERR_clear_error();
	if (kp->key == NULL)
		return ts_error_set(&cfg->err, TS_E_FILE,
		                    "'%s' holds no PEM private key (or the key is encrypted)", path);
	return TS_OK;
}

int ts_config_add_keypair_file(struct ts_config *cfg, const char *cert_file, const char *key_file)
{
	changing(cfg);
	struct keypair kp = { 0 };
	int rc;
	if (cert_file == NULL || key_file == NULL)
		return ts_error_set(&cfg->err, TS_E_INVALID, "a certificate needs both a certificate file and a key file");
	if (cfg->nkp >= TS_KEYPAIRS_MAX)
		return ts_error_set(&cfg->err, TS_E_NOMEM, "at most %d certificates", TS_KEYPAIRS_MAX);
	if ((rc = read_pem_certs(cfg, cert_file, &kp)) < 0 || (rc = read_pem_key(cfg, key_file, &kp)) < 0) {
		keypair_clear(&kp);
		return rc;
	}
	if (X509_check_private_key(kp.cert, kp.key) != 1) {
		ERR_clear_error();
		keypair_clear(&kp);
		return ts_error_set(&cfg->err, TS_E_FILE,
		                    "the key in '%s' does not match the certificate in '%s'", key_file, cert_file);
	}
	cfg->kp[cfg->nkp++] = kp;
	return TS_OK;
}

static int set_client_verify(struct ts_config *cfg, const char *ca_path, enum client_verify mode)
{
	changing(cfg);
	struct ts_trust *t = NULL;
	char *copy = NULL;
	if (ca_path == NULL)
		return ts_error_set(&cfg->err, TS_E_INVALID, "client verification needs a CA file or directory");
	int rc = ts_trust_new(ca_path, &t, &cfg->err);
	if (rc < 0)
		return rc;
	if ((copy = strdup(ca_path)) == NULL) {
		ts_trust_free(t);
		return ts_error_set(&cfg->err, TS_E_NOMEM, "out of memory");
	}
	ts_trust_free(cfg->client_trust);
	free(cfg->client_ca_path);
	cfg->client_trust = t;
	cfg->client_ca_path = copy;
	cfg->client_verify = mode;
	return TS_OK;
}

int ts_config_verify_client(struct ts_config *cfg, const char *ca_path)
{
	return set_client_verify(cfg, ca_path, CLIENT_VERIFY_REQUIRED);
}

int ts_config_verify_client_optional(struct ts_config *cfg, const char *ca_path)
{
	return set_client_verify(cfg, ca_path, CLIENT_VERIFY_OPTIONAL);
}

int ts_config_set_session_cache(struct ts_config *cfg, bool on)
{
	changing(cfg);
	cfg->session_cache = on;
	return TS_OK;
}

int ts_config_set_timeout(struct ts_config *cfg, int timeout_ms)
{
	changing(cfg);
	if (timeout_ms <= 0)
		return ts_error_set(&cfg->err, TS_E_INVALID, "timeout must be positive, not %d ms", timeout_ms);
	cfg->timeout_ms = timeout_ms;
	return TS_OK;
}

int ts_config_set_family(struct ts_config *cfg, int family)
{
	changing(cfg);
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return ts_error_set(&cfg->err, TS_E_INVALID, "address family %d is neither IPv4 nor IPv6", family);
	cfg->family = family;
	return TS_OK;
}

void ts_config_insecure_noverifycert(struct ts_config *cfg)
{
	changing(cfg);
	cfg->noverifycert = true;
}

void ts_config_insecure_noverifyname(struct ts_config *cfg)
{
	changing(cfg);
	cfg->noverifyname = true;
}

void ts_config_insecure_noverifytime(struct ts_config *cfg)
{
	changing(cfg);
	cfg->noverifytime = true;
}

void ts_config_insecure_legacy_protocols(struct ts_config *cfg)
{
	changing(cfg);
	cfg->legacy = true;
	cfg->protocols |= TS_PROTOS_LEGACY;
	cfg->seclevel = 0;
}

void ts_config_insecure_legacy_renegotiation(struct ts_config *cfg)
{
	changing(cfg);
	cfg->legacy_reneg = true;
}

size_t ts_config_insecure(const struct ts_config *cfg, const char *names[TS_INSECURE_MAX])
{
	size_t n = 0;
	if (cfg->noverifycert)
		names[n++] = "insecure_noverifycert";
	if (cfg->noverifyname)
		names[n++] = "insecure_noverifyname";
	if (cfg->noverifytime)
		names[n++] = "insecure_noverifytime";
	if (cfg->legacy)
		names[n++] = "insecure_legacy_protocols";
	if (cfg->legacy_reneg)
		names[n++] = "insecure_legacy_renegotiation";
	return n;
}

unsigned ts_config_protocols(const struct ts_config *cfg)
{
	return cfg->protocols;
}

const char *ts_config_ciphers(const struct ts_config *cfg)
{
	if (cfg->ciphers_set)
		return cfg->ciphers;
	return cfg->legacy ? CIPHERS_LEGACY : TS_CIPHERS_SECURE;
}

int ts_config_security_level(const struct ts_config *cfg)
{
	return cfg->seclevel;
}

/* ---- OpenSSL contexts ---- */

static int conn_index(void);

static struct ts_conn *conn_of(const SSL *ssl)
{
	return SSL_get_ex_data(ssl, conn_index());
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ex_index = -1;
static BIO_METHOD *bio_method;

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct ts_conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return c != NULL && c->eof;
	default:
		return 0;
	}
}

static int bio_read(BIO *b, char *buf, int len)
{
	struct ts_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	ssize_t n = c->rd(c->arg, buf, (size_t)len);
	if (n > 0) {
		if (c->nfirst < FIRST_BYTES) {
			size_t k = (size_t)n < FIRST_BYTES - c->nfirst ? (size_t)n : FIRST_BYTES - c->nfirst;
			memcpy(c->first + c->nfirst, buf, k);
			c->nfirst += k;
		}
		c->bytes_in += (uint64_t)n;
		return (int)(n > len ? len : n);
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	if (n == TS_E_WANT_READ) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (n == TS_E_WANT_WRITE) {
		BIO_set_retry_write(b);
		return -1;
	}
	c->io_error = (int)n;
	return -1;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	struct ts_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	ssize_t n = c->wr(c->arg, buf, (size_t)len);
	if (n > 0)
		return (int)(n > len ? len : n);
	if (n == TS_E_WANT_WRITE || n == 0) {
		BIO_set_retry_write(b);
		return -1;
	}
	if (n == TS_E_WANT_READ) {
		BIO_set_retry_read(b);
		return -1;
	}
	c->io_error = (int)n;
	return -1;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void init_once(void)
{
	ex_index = SSL_get_ex_new_index(0, "ts_conn", NULL, NULL, NULL);
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlsscope");
	if (bio_method != NULL) {
		BIO_meth_set_read(bio_method, bio_read);
		BIO_meth_set_write(bio_method, bio_write);
		BIO_meth_set_ctrl(bio_method, bio_ctrl);
		BIO_meth_set_create(bio_method, bio_create);
	}
}

static int conn_index(void)
{
	pthread_once(&once, init_once);
	return ex_index;
}

/* The X509 error behind our verdict picks the TLS alert OpenSSL sends. */
static int alert_error(const struct ts_verify_result *res)
{
	return res->x509_error != X509_V_OK ? res->x509_error : X509_V_ERR_CERT_REJECTED;
}

static int run_verify(struct ts_conn *c, X509 *leaf, STACK_OF(X509) *untrusted)
{
	struct ts_config *cfg = c->cfg;
	struct ts_verify_options opt = {
		.name = c->is_server ? NULL : c->name,
		.insecure_noverifycert = !c->is_server && cfg->noverifycert,
		.insecure_noverifyname = !c->is_server && cfg->noverifyname,
		.insecure_noverifytime = !c->is_server && cfg->noverifytime,
		/* the key sizes follow the security level, as OpenSSL's own would */
		.min_rsa_bits = cfg->seclevel >= 2 ? 0 : cfg->seclevel == 1 ? 1024 : -1,
		.client_purpose = c->is_server,
	};
	struct ts_trust *trust = c->is_server ? cfg->client_trust : cfg->trust;
	struct ts_error e = { 0 };
	ts_verify_result_clear(&c->vres);
	memset(&c->vres, 0, sizeof c->vres);
	c->verify_ran = true;
	int rc = ts_cert_verify_x509(trust, leaf, untrusted, &opt, &c->vres, &e);
	c->verify_code = rc;
	if (rc == TS_OK)
		return TS_OK;
	c->verify_failed = true;
	if (rc == TS_E_VERIFY) {
		ts_error_set(&c->err, TS_E_VERIFY, "%s", c->vres.error[0] != '\0' ? c->vres.error
		                                       : "certificate not trusted");
	} else {
		ts_error_set(&c->err, rc, "certificate check could not run: %s", e.msg);
	}
	return rc;
}

static int verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct ts_conn *c = ssl != NULL ? conn_of(ssl) : NULL;
	if (c == NULL) {
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	if (run_verify(c, X509_STORE_CTX_get0_cert(xctx), X509_STORE_CTX_get0_untrusted(xctx)) == TS_OK) {
		X509_STORE_CTX_set_error(xctx, X509_V_OK);
		return 1;
	}
	X509_STORE_CTX_set_error(xctx, alert_error(&c->vres));
	return 0;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	struct ts_conn *c = conn_of(ssl);
	if (c == NULL)
		return;
	/* SSL_CB_READ_ALERT and SSL_CB_WRITE_ALERT share the SSL_CB_ALERT bit */
	if ((where & SSL_CB_ALERT) == 0)
		return;
	if ((where & SSL_CB_READ) != 0 && c->alert_received < 0)
		c->alert_received = ret & 0xff;
	if ((where & SSL_CB_WRITE) != 0 && c->alert_sent < 0)
		c->alert_sent = ret & 0xff;
}

static void session_key(const struct ts_conn *c, char *out, size_t size)
{
	snprintf(out, size, "%s:%u", c->name != NULL ? c->name : "", (unsigned)c->port);
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct ts_conn *c = conn_of(ssl);
	if (c == NULL)
		return 0;
	if (SSL_SESSION_has_ticket(sess))
		c->got_ticket = true;
	struct ts_config *cfg = c->cfg;
	if (!cfg->session_cache)
		return 0;
	char key[sizeof cfg->sessions[0].key];
	session_key(c, key, sizeof key);
	size_t i;
	for (i = 0; i < cfg->nsessions; i++)
		if (strcmp(cfg->sessions[i].key, key) == 0)
			break;
	if (i == cfg->nsessions) {
		if (cfg->nsessions == SESSIONS_MAX) {
			/* full: forget the oldest */
			SSL_SESSION_free(cfg->sessions[0].sess);
			memmove(&cfg->sessions[0], &cfg->sessions[1], sizeof cfg->sessions[0] * (SESSIONS_MAX - 1));
			i = SESSIONS_MAX - 1;
		} else {
			cfg->nsessions++;
		}
		snprintf(cfg->sessions[i].key, sizeof cfg->sessions[i].key, "%s", key);
	} else {
		SSL_SESSION_free(cfg->sessions[i].sess);
	}
	cfg->sessions[i].sess = sess;
	return 1; /* we keep the reference */
}

static int set_protocols(SSL_CTX *ctx, unsigned protocols)
{
	int min = 0, max = 0;
	long holes = 0;
	static const long no_op[] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2, SSL_OP_NO_TLSv1_3 };
	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		if (protocols & protos[i].bit) {
			if (min == 0)
				min = protos[i].version;
			max = protos[i].version;
		} else {
			holes |= no_op[i];
		}
	}
	SSL_CTX_set_options(ctx, (uint64_t)holes);
	return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

static int common_ctx(struct ts_config *cfg, SSL_CTX *ctx, struct ts_error *err)
{
	SSL_CTX_set_security_level(ctx, cfg->seclevel);
	if (!set_protocols(ctx, cfg->protocols))
		return ts_error_openssl(err, TS_E_INTERNAL, "cannot set the protocol versions");
	if (SSL_CTX_set_cipher_list(ctx, ts_config_ciphers(cfg)) != 1)
		return ts_error_openssl(err, TS_E_INVALID, "cipher policy '%s' selects no suite",
		                        ts_config_ciphers(cfg));
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_info_callback(ctx, info_cb);
	return TS_OK;
}

static int use_keypair_ctx(SSL_CTX *ctx, struct keypair *kp, struct ts_error *err)
{
	if (SSL_CTX_use_cert_and_key(ctx, kp->cert, kp->key, kp->chain, 1) != 1)
		return ts_error_openssl(err, TS_E_TLS, "OpenSSL refused the certificate");
	return TS_OK;
}

static SSL_CTX *client_ctx(struct ts_config *cfg, struct ts_error *err)
{
	if (cfg->client_ctx != NULL)
		return cfg->client_ctx;
	if (cfg->trust == NULL && ts_trust_new(NULL, &cfg->trust, err) < 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ts_error_openssl(err, TS_E_NOMEM, "cannot make a TLS context");
		return NULL;
	}
	if (common_ctx(cfg, ctx, err) < 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_cb, NULL);
	if (cfg->legacy_reneg)
		SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
	if (cfg->alpn_len > 0 && SSL_CTX_set_alpn_protos(ctx, cfg->alpn, (unsigned)cfg->alpn_len) != 0) {
		ts_error_openssl(err, TS_E_NOMEM, "cannot set ALPN");
		goto fail;
	}
	/* a client presents the last keypair given: a later one replaces it */
	if (cfg->nkp > 0 && use_keypair_ctx(ctx, &cfg->kp[cfg->nkp - 1], err) < 0)
		goto fail;
	/* The callback sees every session, so tickets are noticed even when
	 * resumption is off; OpenSSL's own store is never used. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	cfg->client_ctx = ctx;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Server: the first certificate whose names cover the SNI, else the first. */
static int cert_cb(SSL *ssl, void *arg)
{
	struct ts_config *cfg = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL || cfg->nkp < 2)
		return 1;
	for (size_t i = 0; i < cfg->nkp; i++) {
		if (X509_check_host(cfg->kp[i].cert, sni, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
			if (i > 0 && SSL_use_cert_and_key(ssl, cfg->kp[i].cert, cfg->kp[i].key, cfg->kp[i].chain, 1) != 1)
				return 0;
			return 1;
		}
	}
	return 1;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
	struct ts_config *cfg = arg;
	for (size_t i = 0; i < cfg->alpn_len; i += 1u + cfg->alpn[i]) {
		const uint8_t *mine = cfg->alpn + i;
		for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
			if (j + 1u + in[j] > inlen)
				break;
			if (in[j] == mine[0] && memcmp(in + j + 1, mine + 1, mine[0]) == 0) {
				*out = in + j + 1;
				*outlen = in[j];
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx(struct ts_config *cfg, struct ts_error *err)
{
	if (cfg->server_ctx != NULL)
		return cfg->server_ctx;
	if (cfg->nkp == 0) {
		ts_error_set(err, TS_E_INVALID, "a server needs a certificate and its key");
		return NULL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ts_error_openssl(err, TS_E_NOMEM, "cannot make a TLS context");
		return NULL;
	}
	if (common_ctx(cfg, ctx, err) < 0)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (use_keypair_ctx(ctx, &cfg->kp[0], err) < 0)
		goto fail;
	SSL_CTX_set_cert_cb(ctx, cert_cb, cfg);
	if (cfg->alpn_len > 0)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, cfg);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tlsscope", 8);
	if (cfg->session_cache) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (cfg->client_verify != CLIENT_VERIFY_NONE) {
		int mode = SSL_VERIFY_PEER;
		if (cfg->client_verify == CLIENT_VERIFY_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_cert_verify_callback(ctx, verify_cb, NULL);
		struct stat st;
		if (stat(cfg->client_ca_path, &st) == 0 && S_ISREG(st.st_mode)) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_path);
			if (names != NULL)
				SSL_CTX_set_client_CA_list(ctx, names);
			ERR_clear_error();
		}
	}
	cfg->server_ctx = ctx;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- connections ---- */

static struct ts_conn *conn_new(struct ts_config *cfg, bool server)
{
	struct ts_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->cfg = cfg;
	cfg->refs++;
	c->is_server = server;
	c->fd = -1;
	c->alert_received = c->alert_sent = -1;
	snprintf(c->peer, sizeof c->peer, "the %s", server ? "client" : "server");
	return c;
}

struct ts_conn *ts_conn_client(struct ts_config *cfg)
{
	return conn_new(cfg, false);
}

struct ts_conn *ts_conn_server(struct ts_config *cfg)
{
	return conn_new(cfg, true);
}

static void free_chain(struct ts_conn *c)
{
	for (size_t i = 0; i < c->chain_n; i++)
		free(c->chain_der[i]);
	free(c->chain_der);
	free(c->chain_len);
	c->chain_der = NULL;
	c->chain_len = NULL;
	c->chain_n = 0;
}

void ts_conn_free(struct ts_conn *c)
{
	if (c == NULL)
		return;
	/* OpenSSL forgets the session of a connection freed without a shutdown;
	 * only a failed connection should lose it (a peer that went quiet after
	 * the handshake did not fail TLS). */
	if (c->ssl != NULL && c->handshake_done && (!c->failed || c->err.code == TS_E_TIMEOUT))
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	if (c->owns_fd && c->fd >= 0)
		close(c->fd);
	ts_verify_result_clear(&c->vres);
	free_chain(c);
	free(c->name);
	config_unref(c->cfg);
	free(c);
}

const char *ts_conn_error(const struct ts_conn *c)
{
	return c->err.msg;
}

int ts_conn_error_code(const struct ts_conn *c)
{
	return c->err.code;
}

static ssize_t fd_read(void *arg, void *buf, size_t len)
{
	struct ts_conn *c = arg;
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TS_E_WANT_READ;
		c->io_errno = errno;
		return TS_E_CONNECT;
	}
}

static ssize_t fd_write(void *arg, const void *buf, size_t len)
{
	struct ts_conn *c = arg;
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TS_E_WANT_WRITE;
		c->io_errno = errno;
		return TS_E_CONNECT;
	}
}

/* Makes the SSL object once the transport and the name are known. */
static int setup(struct ts_conn *c, const char *name)
{
	if (c->ssl != NULL)
		return ts_error_set(&c->err, TS_E_INVALID, "the connection already has a transport");
	if (!c->is_server) {
		if (name == NULL || *name == '\0')
			return ts_error_set(&c->err, TS_E_INVALID,
			                    "a client needs the server's name to check its certificate");
		if (strlen(name) >= TS_HOST_MAX)
			return ts_error_set(&c->err, TS_E_INVALID, "server name is longer than %d bytes", TS_HOST_MAX - 1);
		if ((c->name = strdup(name)) == NULL)
			return ts_error_set(&c->err, TS_E_NOMEM, "out of memory");
	}
	SSL_CTX *ctx = c->is_server ? server_ctx(c->cfg, &c->err) : client_ctx(c->cfg, &c->err);
	if (ctx == NULL)
		return c->err.code;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		return ts_error_openssl(&c->err, TS_E_NOMEM, "cannot make a TLS connection");
	conn_index();
	SSL_set_ex_data(c->ssl, ex_index, c);
	BIO *bio = bio_method != NULL ? BIO_new(bio_method) : NULL;
	if (bio == NULL)
		return ts_error_openssl(&c->err, TS_E_NOMEM, "cannot make a TLS connection");
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	if (c->is_server) {
		SSL_set_accept_state(c->ssl);
		return TS_OK;
	}
	SSL_set_connect_state(c->ssl);
	/* The checked name and the SNI are the same string; an IP literal is
	 * never sent as SNI (RFC 6066). */
	if (!ts_is_ip_literal(c->name) && SSL_set_tlsext_host_name(c->ssl, c->name) != 1)
		return ts_error_openssl(&c->err, TS_E_INVALID, "cannot send '%s' as server name", c->name);
	SSL_set_tlsext_status_type(c->ssl, TLSEXT_STATUSTYPE_ocsp);
	if (SSL_enable_ct(c->ssl, SSL_CT_VALIDATION_PERMISSIVE) != 1)
		ERR_clear_error();
	if (c->cfg->session_cache) {
		char key[TS_HOST_MAX + 8];
		session_key(c, key, sizeof key);
		for (size_t i = 0; i < c->cfg->nsessions; i++)
			if (strcmp(c->cfg->sessions[i].key, key) == 0 &&
			    SSL_SESSION_is_resumable(c->cfg->sessions[i].sess))
				SSL_set_session(c->ssl, c->cfg->sessions[i].sess);
	}
	return TS_OK;
}

int ts_conn_connect(struct ts_conn *c, const char *host, uint16_t port, const char *name)
{
	if (c->is_server)
		return ts_error_set(&c->err, TS_E_INVALID, "a server connection cannot connect");
	if (c->ssl != NULL || c->fd >= 0)
		return ts_error_set(&c->err, TS_E_INVALID, "the connection already has a transport");
	struct ts_addrlist list;
	int rc = ts_resolve(host, port, c->cfg->family, c->cfg->timeout_ms, &list, &c->err);
	if (rc < 0)
		return rc;
	size_t which;
	int fd;
	if ((rc = ts_connect(&list, c->cfg->timeout_ms, &fd, &which, &c->err)) < 0)
		return rc;
	c->fd = fd;
	c->owns_fd = true;
	c->addr = list.addr[which];
	c->have_addr = true;
	c->port = port;
	char a[TS_ADDRSTR_MAX];
	ts_addr_format(&c->addr, a);
	snprintf(c->peer, sizeof c->peer, "the server at %s", a);
	c->rd = fd_read;
	c->wr = fd_write;
	c->arg = c;
	return setup(c, name != NULL ? name : host);
}

int ts_conn_set_fd(struct ts_conn *c, int fd, const char *name)
{
	if (fd < 0)
		return ts_error_set(&c->err, TS_E_INVALID, "bad descriptor %d", fd);
	if (c->ssl != NULL || c->fd >= 0)
		return ts_error_set(&c->err, TS_E_INVALID, "the connection already has a transport");
	c->fd = fd;
	c->rd = fd_read;
	c->wr = fd_write;
	c->arg = c;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		memcpy(&c->addr.ss, &ss, len);
		c->addr.len = len;
		c->have_addr = true;
		char a[TS_ADDRSTR_MAX];
		ts_addr_format(&c->addr, a);
		snprintf(c->peer, sizeof c->peer, "the %s at %s", c->is_server ? "client" : "server", a);
	}
	return setup(c, name);
}

int ts_conn_set_callbacks(struct ts_conn *c, ts_read_cb rd, ts_write_cb wr, void *arg, const char *name)
{
	if (rd == NULL || wr == NULL)
		return ts_error_set(&c->err, TS_E_INVALID, "callback I/O needs both a read and a write callback");
	if (c->ssl != NULL || c->fd >= 0)
		return ts_error_set(&c->err, TS_E_INVALID, "the connection already has a transport");
	c->rd = rd;
	c->wr = wr;
	c->arg = arg;
	return setup(c, name);
}

void ts_conn_set_nonblocking(struct ts_conn *c, bool on)
{
	c->nonblocking = on;
}

int ts_conn_fd(const struct ts_conn *c)
{
	return c->fd;
}

/* What the peer's first bytes were, when they were not TLS. */
static bool explain_not_tls(struct ts_conn *c)
{
	if (c->nfirst == 0)
		return false;
	uint8_t b = c->first[0];
	if (b >= 0x14 && b <= 0x18 && (c->nfirst < 2 || c->first[1] == 3))
		return false;
	/* OpenSSL stopped after a record header: read what else is there for
	 * the message (a socket is read without waiting) */
	if (c->nfirst < FIRST_BYTES && !c->eof && c->io_error == 0) {
		ssize_t n = c->rd(c->arg, c->first + c->nfirst, FIRST_BYTES - c->nfirst);
		if (n > 0)
			c->nfirst += (size_t)n;
	}
	char text[FIRST_BYTES + 1];
	size_t n = 0;
	bool printable = true;
	for (size_t i = 0; i < c->nfirst; i++) {
		uint8_t ch = c->first[i];
		if (ch == '\r' || ch == '\n')
			break;
		if (!isprint(ch)) {
			printable = false;
			break;
		}
		text[n++] = (char)ch;
	}
	text[n] = '\0';
	if (printable && n > 0 && strncmp(text, "HTTP/", 5) == 0)
		ts_error_set(&c->err, TS_E_TLS, "%s answered in plain HTTP, not TLS: '%s'", c->peer, text);
	else if (printable && n > 0 && strncmp(text, "SSH-", 4) == 0)
		ts_error_set(&c->err, TS_E_TLS, "%s is an SSH server, not TLS: '%s'", c->peer, text);
	else if (printable && n > 0 && (strncmp(text, "GET ", 4) == 0 || strncmp(text, "POST ", 5) == 0 ||
	                                strncmp(text, "HEAD ", 5) == 0))
		ts_error_set(&c->err, TS_E_TLS, "%s sent a plain HTTP request, not TLS: '%s'", c->peer, text);
	else if (printable && n > 0)
		ts_error_set(&c->err, TS_E_TLS, "%s answered in plain text, not TLS: '%s'", c->peer, text);
	else
		ts_error_set(&c->err, TS_E_TLS,
		             "%s sent bytes that are not TLS (first bytes %02x %02x %02x, a TLS record starts 16 03)",
		             c->peer, c->first[0], c->nfirst > 1 ? c->first[1] : 0, c->nfirst > 2 ? c->first[2] : 0);
	return true;
}

static int transport_error(struct ts_conn *c, const char *when)
{
	if (c->io_errno != 0)
		return ts_error_set(&c->err, TS_E_CONNECT, "connection to %s failed %s: %s", c->peer, when,
		                    strerror(c->io_errno));
	return ts_error_set(&c->err, c->io_error, "transport to %s failed %s (%s)", c->peer, when,
	                    ts_status_name(c->io_error));
}

static int keep_chain(struct ts_conn *c);

/* Turns a failed SSL call into our code and message. */
static int ssl_failure(struct ts_conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	if (e == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return TS_E_WANT_READ;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return TS_E_WANT_WRITE;
	}
	unsigned long last = ERR_peek_last_error();
	int reason = ERR_GET_REASON(last);
	bool during = !c->handshake_done;
	const char *when = during ? "during the handshake" : "after the handshake";
	int rc;
	if (e == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return ts_error_set(&c->err, TS_E_CLOSED, "%s closed the connection", c->peer);
	}
	if (during && c->verify_failed) {
		ERR_clear_error();
		rc = c->err.code; /* run_verify wrote the message */
		if (c->chain_n == 0)
			keep_chain(c); /* so a caller can show what was refused */
	} else if (c->io_error != 0 && !c->eof) {
		/* (after the peer's end, a failed write is only OpenSSL's alert) */
		ERR_clear_error();
		rc = transport_error(c, when);
	} else if (explain_not_tls(c)) {
		ERR_clear_error();
		rc = TS_E_TLS;
	} else if (c->alert_received >= 0) {
		ERR_clear_error();
		rc = ts_error_set(&c->err, TS_E_TLS, "%s %s with alert '%s'", c->peer,
		                  during ? "refused the handshake" : "ended the connection",
		                  SSL_alert_desc_string_long(c->alert_received));
	} else if (!during && (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING || c->eof)) {
		ERR_clear_error();
		return ts_error_set(&c->err, TS_E_CLOSED, "%s closed the connection without close_notify", c->peer);
	} else if (during && c->eof && reason != SSL_R_NO_SHARED_CIPHER) {
		ERR_clear_error();
		if (c->bytes_in == 0)
			rc = ts_error_set(&c->err, TS_E_TLS, "%s closed the connection without answering the TLS hello",
			                  c->peer);
		else
			rc = ts_error_set(&c->err, TS_E_TLS, "%s closed the connection during the handshake (after %llu bytes)",
			                  c->peer, (unsigned long long)c->bytes_in);
	} else if (during && c->is_server && reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		ERR_clear_error();
		rc = ts_error_set(&c->err, TS_E_VERIFY, "the client sent no certificate, and this server requires one");
	} else if (during && !c->is_server && reason == SSL_R_DH_KEY_TOO_SMALL) {
		ERR_clear_error();
		static const int dh_bits[] = { 0, 1024, 2048, 3072, 7680, 15360 };  /* by security level */
		/* the level in force: a cipher string's @SECLEVEL= overrides the config's */
		int level = SSL_get_security_level(c->ssl);
		level = level < 0 ? 0 : level > 5 ? 5 : level;
		rc = ts_error_set(&c->err, TS_E_TLS,
		                  "%s chose a Diffie-Hellman group that is too weak (at least %d bits required)",
		                  c->peer, dh_bits[level]);
	} else if (during) {
		rc = ts_error_openssl(&c->err, TS_E_TLS, "TLS handshake with %s failed", c->peer);
	} else {
		rc = ts_error_openssl(&c->err, TS_E_TLS, "%s sent data that is not valid TLS %s", c->peer, when);
	}
	c->failed = true;
	return rc;
}

/* On a blocking descriptor, waits for the transport and says yes to retry. */
static int wait_transport(struct ts_conn *c, int want)
{
	if (c->fd < 0 || c->nonblocking)
		return want;
	int timeout = c->cfg->timeout_ms;
	int rc = ts_wait_fd(c->fd, want == TS_E_WANT_WRITE, timeout, NULL);
	if (rc == TS_OK)
		return TS_OK;
	c->failed = true;
	if (rc != TS_E_TIMEOUT)
		return ts_error_set(&c->err, rc, "waiting for %s failed", c->peer);
	double s = timeout / 1000.0;
	if (!c->handshake_done && c->bytes_in == 0)
		return ts_error_set(&c->err, TS_E_TIMEOUT,
		                    "no TLS answer from %s within %g s: it accepted the connection but sent nothing",
		                    c->peer, s);
	if (!c->handshake_done)
		return ts_error_set(&c->err, TS_E_TIMEOUT, "the handshake with %s stalled: nothing for %g s",
		                    c->peer, s);
	return ts_error_set(&c->err, TS_E_TIMEOUT, "%s sent nothing for %g s", c->peer, s);
}

static int ready(struct ts_conn *c)
{
	if (c->ssl == NULL)
		return ts_error_set(&c->err, TS_E_INVALID,
		                    "the connection has no transport (connect, set a descriptor or callbacks first)");
	if (c->failed)
		return c->err.code;
	return TS_OK;
}

static uint8_t *der_of(X509 *x, size_t *len)
{
	int n = i2d_X509(x, NULL);
	if (n <= 0)
		return NULL;
	uint8_t *buf = malloc((size_t)n), *p = buf;
	if (buf == NULL)
		return NULL;
	i2d_X509(x, &p);
	*len = (size_t)n;
	return buf;
}

static int keep_chain(struct ts_conn *c)
{
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	STACK_OF(X509) *sk = SSL_get_peer_cert_chain(c->ssl);
	/* before verification succeeds a client knows only the chain */
	if (leaf == NULL && !c->is_server && sk != NULL && sk_X509_num(sk) > 0)
		leaf = sk_X509_value(sk, 0);
	if (leaf == NULL)
		return TS_OK;
	size_t max = 1 + (sk != NULL ? (size_t)sk_X509_num(sk) : 0);
	c->chain_der = calloc(max, sizeof *c->chain_der);
	c->chain_len = calloc(max, sizeof *c->chain_len);
	if (c->chain_der == NULL || c->chain_len == NULL)
		return ts_error_set(&c->err, TS_E_NOMEM, "out of memory");
	if ((c->chain_der[c->chain_n] = der_of(leaf, &c->chain_len[c->chain_n])) == NULL)
		return ts_error_set(&c->err, TS_E_NOMEM, "out of memory");
	c->chain_n++;
	for (int i = 0; sk != NULL && i < sk_X509_num(sk); i++) {
		X509 *x = sk_X509_value(sk, i);
		if (X509_cmp(x, leaf) == 0)
			continue; /* a client's chain starts with the leaf */
		if ((c->chain_der[c->chain_n] = der_of(x, &c->chain_len[c->chain_n])) == NULL)
			return ts_error_set(&c->err, TS_E_NOMEM, "out of memory");
		c->chain_n++;
	}
	return TS_OK;
}

static int finish_handshake(struct ts_conn *c)
{
	c->handshake_done = true;
	free_chain(c);
	int rc = keep_chain(c);
	if (rc < 0)
		return rc;
	/* A resumed session skips the certificate messages: check the chain
	 * the session remembers, so the result is always filled in. */
	bool wants_verify = !c->is_server || c->cfg->client_verify != CLIENT_VERIFY_NONE;
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	if (!c->verify_ran && wants_verify && leaf != NULL) {
		rc = run_verify(c, leaf, SSL_get_peer_cert_chain(c->ssl));
		if (rc < 0) {
			c->failed = true;
			return rc;
		}
	}
	return TS_OK;
}

int ts_conn_handshake(struct ts_conn *c)
{
	int rc = ready(c);
	if (rc < 0)
		return rc;
	while (!c->handshake_done) {
		ERR_clear_error();
		int ret = SSL_do_handshake(c->ssl);
		if (ret == 1)
			return finish_handshake(c);
		rc = ssl_failure(c, ret);
		if (rc != TS_E_WANT_READ && rc != TS_E_WANT_WRITE)
			return rc;
		if ((rc = wait_transport(c, rc)) < 0)
			return rc;
	}
	return TS_OK;
}

ssize_t ts_conn_read(struct ts_conn *c, void *buf, size_t len)
{
	int rc = ts_conn_handshake(c);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	for (;;) {
		size_t got = 0;
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
			return (ssize_t)got;
		rc = ssl_failure(c, 0);
		if (rc != TS_E_WANT_READ && rc != TS_E_WANT_WRITE)
			return rc;
		if ((rc = wait_transport(c, rc)) < 0)
			return rc;
	}
}

ssize_t ts_conn_write(struct ts_conn *c, const void *buf, size_t len)
{
	int rc = ts_conn_handshake(c);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	for (;;) {
		size_t put = 0;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, buf, len, &put) == 1)
			return (ssize_t)put;
		rc = ssl_failure(c, 0);
		if (rc != TS_E_WANT_READ && rc != TS_E_WANT_WRITE)
			return rc;
		if ((rc = wait_transport(c, rc)) < 0)
			return rc;
	}
}

/* Record padding: only application-data records take it (handshake records,
 * such as session tickets, and alerts never do); each takes what fits under
 * the 2^14 limit on a record's inner plaintext. */
static size_t padding_cb(SSL *ssl, int type, size_t len, void *arg)
{
	struct ts_conn *c = arg;
	(void)ssl;
	if (type != SSL3_RT_APPLICATION_DATA || c->pad_budget == 0 || len >= SSL3_RT_MAX_PLAIN_LENGTH)
		return 0;
	size_t room = SSL3_RT_MAX_PLAIN_LENGTH - len;
	size_t pad = c->pad_budget < room ? (size_t)c->pad_budget : room;
	c->pad_budget -= pad;
	return pad;
}

int ts_conn_pad(struct ts_conn *c, uint64_t budget)
{
	if (!c->handshake_done || SSL_version(c->ssl) < TLS1_3_VERSION)
		return ts_error_set(&c->err, TS_E_INVALID, "record padding needs TLS 1.3 (negotiated: %s)",
		                    c->handshake_done ? SSL_get_version(c->ssl) : "no handshake yet");
	if (SSL_get_record_padding_callback_arg(c->ssl) != c) {
		SSL_set_record_padding_callback(c->ssl, padding_cb);
		SSL_set_record_padding_callback_arg(c->ssl, c);
	}
	c->pad_budget = budget;
	return TS_OK;
}

uint64_t ts_conn_pad_left(const struct ts_conn *c)
{
	return c->pad_budget;
}

/* Why a renegotiation failed: the server refused it (an alert, or its end
 * of the connection), or our side gave up on its answer with no word from
 * the server; last is OpenSSL's last queued error, taken before
 * ssl_failure() cleared the queue. */
static int renegotiation_failed(struct ts_conn *c, int rc, unsigned long last)
{
	if (c->alert_received >= 0)
		return ts_error_set(&c->err, TS_E_TLS, "%s refused renegotiation with alert '%s'", c->peer,
		                    SSL_alert_desc_string_long(c->alert_received));
	if (rc == TS_E_CLOSED || c->eof)
		return ts_error_set(&c->err, TS_E_CLOSED, "%s closed the connection instead of renegotiating",
		                    c->peer);
	if (rc != TS_E_TLS)
		return rc;   /* the transport failed or timed out: its message says so */
	const char *why = ERR_reason_error_string(last);
	return ts_error_set(&c->err, TS_E_MALFORMED,
	                    "renegotiation with %s failed on our side, with no alert from it: "
	                    "our TLS library rejected its answer (%s)", c->peer, why != NULL ? why : "no reason given");
}

int ts_conn_renegotiate(struct ts_conn *c)
{
	int rc = ts_conn_handshake(c);
	if (rc < 0)
		return rc;
	if (c->is_server)
		return ts_error_set(&c->err, TS_E_INVALID, "only a client starts a renegotiation here");
	if (SSL_version(c->ssl) >= TLS1_3_VERSION)
		return ts_error_set(&c->err, TS_E_INVALID,
		                    "renegotiation needs TLS 1.2 or older; the connection is %s", SSL_get_version(c->ssl));
	c->alert_received = -1;
	SSL_clear_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
	ERR_clear_error();
	if (!SSL_renegotiate_pending(c->ssl) && SSL_renegotiate(c->ssl) != 1) {
		SSL_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
		return ts_error_openssl(&c->err, TS_E_INTERNAL,
		                        "renegotiation with %s failed on our side: our TLS library would not start it",
		                        c->peer);
	}
	for (;;) {
		ERR_clear_error();
		int ret = SSL_do_handshake(c->ssl);
		if (ret == 1) {
			rc = TS_OK;
			break;
		}
		unsigned long last = ERR_peek_last_error();
		rc = ssl_failure(c, ret);
		if (rc == TS_E_WANT_READ || rc == TS_E_WANT_WRITE)
			rc = wait_transport(c, rc);
		if (rc == TS_E_WANT_READ || rc == TS_E_WANT_WRITE)
			return rc;   /* non-blocking: call again */
		if (rc < 0) {
			rc = renegotiation_failed(c, rc, last);
			break;
		}
	}
	SSL_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
	return rc;
}

size_t ts_conn_early_data_max(const struct ts_conn *c)
{
	if (c->ssl == NULL || c->is_server || c->handshake_done)
		return 0;
	SSL_SESSION *s = SSL_get0_session(c->ssl);
	return s != NULL && SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION
	     ? SSL_SESSION_get_max_early_data(s) : 0;
}

ssize_t ts_conn_write_early(struct ts_conn *c, const void *buf, size_t len)
{
	int rc = ready(c);
	if (rc < 0)
		return rc;
	if (c->is_server || c->handshake_done)
		return ts_error_set(&c->err, TS_E_INVALID, "early data is sent by a client before the handshake");
	size_t max = ts_conn_early_data_max(c);
	if (len == 0 || len > max)
		return ts_error_set(&c->err, TS_E_INVALID,
		                    "early data: %zu bytes to send, the session offered allows %zu", len, max);
	for (;;) {
		size_t put = 0;
		ERR_clear_error();
		if (SSL_write_early_data(c->ssl, buf, len, &put) == 1)
			return (ssize_t)put;
		rc = ssl_failure(c, 0);
		if (rc != TS_E_WANT_READ && rc != TS_E_WANT_WRITE)
			return rc;
		if ((rc = wait_transport(c, rc)) < 0)
			return rc;
	}
}

enum ts_early_data ts_conn_early_data_status(const struct ts_conn *c)
{
	if (c->ssl == NULL || !c->handshake_done)
		return TS_EARLY_NOT_SENT;
	switch (SSL_get_early_data_status(c->ssl)) {
	case SSL_EARLY_DATA_ACCEPTED:
		return TS_EARLY_ACCEPTED;
	case SSL_EARLY_DATA_REJECTED:
		return TS_EARLY_REJECTED;
	default:
		return TS_EARLY_NOT_SENT;
	}
}

int ts_conn_close(struct ts_conn *c)
{
	int rc = ready(c);
	/* a peer that went quiet after the handshake can still be told goodbye */
	if (rc < 0 && !(rc == TS_E_TIMEOUT && c->handshake_done))
		return rc;
	if (!c->handshake_done)
		return TS_OK;
	for (;;) {
		ERR_clear_error();
		int ret = SSL_shutdown(c->ssl);
		if (ret >= 0)
			return TS_OK; /* close_notify is out; we do not wait for the peer's */
		int e = SSL_get_error(c->ssl, ret);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			if (c->io_error != 0)
				return transport_error(c, "while closing");
			return ts_error_openssl(&c->err, TS_E_TLS, "cannot send close_notify to %s", c->peer);
		}
		rc = e == SSL_ERROR_WANT_READ ? TS_E_WANT_READ : TS_E_WANT_WRITE;
		if ((rc = wait_transport(c, rc)) < 0)
			return rc;
	}
}

/* ---- what was negotiated ---- */

bool ts_conn_handshake_done(const struct ts_conn *c)
{
	return c->handshake_done;
}

const char *ts_conn_protocol(const struct ts_conn *c)
{
	return c->handshake_done ? SSL_get_version(c->ssl) : NULL;
}

const char *ts_conn_cipher(const struct ts_conn *c)
{
	const SSL_CIPHER *ci = c->handshake_done ? SSL_get_current_cipher(c->ssl) : NULL;
	return ci != NULL ? SSL_CIPHER_standard_name(ci) : NULL;
}

const char *ts_conn_cipher_openssl(const struct ts_conn *c)
{
	const SSL_CIPHER *ci = c->handshake_done ? SSL_get_current_cipher(c->ssl) : NULL;
	return ci != NULL ? SSL_CIPHER_get_name(ci) : NULL;
}

const char *ts_conn_group(const struct ts_conn *c)
{
	struct ts_conn *m = (struct ts_conn *)c; /* the name is cached */
	if (!c->handshake_done)
		return NULL;
	if (m->group[0] != '\0')
		return m->group;
	int nid = SSL_get_negotiated_group(c->ssl);
	const char *name = nid > 0 ? SSL_group_to_name(c->ssl, nid) : NULL;
	if (name != NULL) {
		snprintf(m->group, sizeof m->group, "%s", name);
		return m->group;
	}
	EVP_PKEY *key = NULL;
	if (c->is_server ? SSL_get_tmp_key(c->ssl, &key) : SSL_get_peer_tmp_key(c->ssl, &key)) {
		if (EVP_PKEY_is_a(key, "DH"))
			snprintf(m->group, sizeof m->group, "DH %d bits", EVP_PKEY_get_bits(key));
		EVP_PKEY_free(key);
	}
	ERR_clear_error();
	return m->group[0] != '\0' ? m->group : NULL;
}

bool ts_conn_forward_secret(const struct ts_conn *c)
{
	if (!c->handshake_done)
		return false;
	if (SSL_version(c->ssl) >= TLS1_3_VERSION)
		return true;
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
	int kx = ci != NULL ? SSL_CIPHER_get_kx_nid(ci) : NID_undef;
	return kx == NID_kx_ecdhe || kx == NID_kx_dhe || kx == NID_kx_ecdhe_psk || kx == NID_kx_dhe_psk;
}

const char *ts_conn_peer_signature(const struct ts_conn *c)
{
	struct ts_conn *m = (struct ts_conn *)c;
	int type = NID_undef, hash = NID_undef;
	if (!c->handshake_done || SSL_get_peer_signature_type_nid(c->ssl, &type) != 1)
		return NULL;
	if (SSL_get_peer_signature_nid(c->ssl, &hash) != 1)
		hash = NID_undef;
	char h[16] = "";
	const char *hn = hash != NID_undef ? OBJ_nid2sn(hash) : NULL;
	for (size_t i = 0; hn != NULL && hn[i] != '\0' && i + 1 < sizeof h; i++) {
		h[i] = (char)tolower((unsigned char)hn[i]);
		h[i + 1] = '\0';
	}
	if (strcmp(h, "sha-256") == 0 || strcmp(h, "sha-384") == 0 || strcmp(h, "sha-512") == 0)
		memmove(h + 3, h + 4, strlen(h + 4) + 1);
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	EVP_PKEY *pk = peer != NULL ? X509_get0_pubkey(peer) : NULL;
	switch (type) {
	case EVP_PKEY_RSA_PSS:
		snprintf(m->sigalg, sizeof m->sigalg, "rsa_pss_%s_%s",
		         pk != NULL && EVP_PKEY_is_a(pk, "RSA-PSS") ? "pss" : "rsae", h);
		break;
	case EVP_PKEY_RSA:
		snprintf(m->sigalg, sizeof m->sigalg, "rsa_pkcs1_%s", h);
		break;
	case EVP_PKEY_EC:
		if (strcmp(h, "sha256") == 0)
			snprintf(m->sigalg, sizeof m->sigalg, "ecdsa_secp256r1_sha256");
		else if (strcmp(h, "sha384") == 0)
			snprintf(m->sigalg, sizeof m->sigalg, "ecdsa_secp384r1_sha384");
		else if (strcmp(h, "sha512") == 0)
			snprintf(m->sigalg, sizeof m->sigalg, "ecdsa_secp521r1_sha512");
		else
			snprintf(m->sigalg, sizeof m->sigalg, "ecdsa_%s", h);
		break;
	case EVP_PKEY_ED25519:
		snprintf(m->sigalg, sizeof m->sigalg, "ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(m->sigalg, sizeof m->sigalg, "ed448");
		break;
	default:
		snprintf(m->sigalg, sizeof m->sigalg, "%s+%s", OBJ_nid2sn(type), h);
	}
	return m->sigalg;
}

const char *ts_conn_alpn(const struct ts_conn *c)
{
	const unsigned char *p = NULL;
	unsigned len = 0;
	struct ts_conn *m = (struct ts_conn *)c;
	if (!c->handshake_done)
		return NULL;
	SSL_get0_alpn_selected(c->ssl, &p, &len);
	if (p == NULL || len == 0)
		return NULL;
	memcpy(m->alpn, p, len);
	m->alpn[len] = '\0';
	return m->alpn;
}

const char *ts_conn_servername(const struct ts_conn *c)
{
	if (!c->is_server)
		return c->name;
	return c->ssl != NULL ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

bool ts_conn_resumed(const struct ts_conn *c)
{
	return c->handshake_done && SSL_session_reused(c->ssl) == 1;
}

bool ts_conn_ticket_offered(const struct ts_conn *c)
{
	if (!c->handshake_done)
		return false;
	SSL_SESSION *s = SSL_get_session(c->ssl);
	return c->got_ticket || (s != NULL && SSL_SESSION_has_ticket(s));
}

bool ts_conn_session_id_offered(const struct ts_conn *c)
{
	if (!c->handshake_done || SSL_version(c->ssl) >= TLS1_3_VERSION)
		return false;
	unsigned len = 0;
	SSL_SESSION *s = SSL_get_session(c->ssl);
	if (s != NULL)
		SSL_SESSION_get_id(s, &len);
	return len > 0;
}

const uint8_t *ts_conn_ocsp_response(const struct ts_conn *c, size_t *len)
{
	const unsigned char *p = NULL;
	*len = 0;
	if (!c->handshake_done)
		return NULL;
	long n = SSL_get_tlsext_status_ocsp_resp(c->ssl, &p);
	if (n <= 0 || p == NULL)
		return NULL;
	*len = (size_t)n;
	return p;
}

size_t ts_conn_sct_count(const struct ts_conn *c)
{
	if (!c->handshake_done || c->is_server)
		return 0;
	const STACK_OF(SCT) *scts = SSL_get0_peer_scts(c->ssl);
	size_t n = 0;
	for (int i = 0; scts != NULL && i < sk_SCT_num(scts); i++)
		if (SCT_get_source(sk_SCT_value(scts, i)) == SCT_SOURCE_TLS_EXTENSION)
			n++;
	ERR_clear_error();
	return n;
}

size_t ts_conn_peer_chain(const struct ts_conn *c, const uint8_t *const **ders, const size_t **lens)
{
	*ders = (const uint8_t *const *)c->chain_der;
	*lens = c->chain_len;
	return c->chain_n;
}

const struct ts_verify_result *ts_conn_verify_result(const struct ts_conn *c)
{
	return c->verify_ran ? &c->vres : NULL;
}

const struct ts_addr *ts_conn_peer_addr(const struct ts_conn *c)
{
	return c->have_addr ? &c->addr : NULL;
}
