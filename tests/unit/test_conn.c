/* conn: configuration defaults and validation, and client/server handshakes
 * run in memory through callback I/O (certificates made by ts_cert_generate
 * in a temporary directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tlsscope/cert.h"
#include "tlsscope/conn.h"

static char dir[64];
static char path_buf[8][256];
static int path_next;

/* dir + "/" + name, in a rotating buffer. */
static const char *p(const char *name)
{
	char *b = path_buf[path_next++ % 8];
	snprintf(b, 256, "%s/%s", dir, name);
	return b;
}

static void gen(const char *prefix, const char *issuer, const char *name, bool self_signed)
{
	struct ts_error err = { 0 };
	const char *names[1] = { name };
	struct ts_cert_request req = {
		.key_spec = "ec:P-256", .names = names, .name_count = 1, .self_signed = self_signed,
	};
	char out[256];
	snprintf(out, sizeof out, "%s/%s", dir, prefix);
	int rc = ts_cert_generate(&req, issuer != NULL ? p(issuer) : NULL, out, &err);
	if (rc != TS_OK)
		fprintf(stderr, "# generate %s: %s\n", prefix, err.msg);
	assert_int_equal(rc, TS_OK);
}

static int make_certs(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/tlsscope-conn.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	mkdir(p("ca"), 0700);
	struct ts_error err = { 0 };
	struct ts_cert_request ca = { .key_spec = "ec:P-256", .common_name = "Test Root", .is_ca = true };
	if (ts_cert_generate(&ca, NULL, p("ca/ca"), &err) != TS_OK) {
		fprintf(stderr, "# generate CA: %s\n", err.msg);
		return -1;
	}
	gen("a", "ca", "a.test", false);
	gen("b", "ca", "b.test", false);
	gen("ip", "ca", "127.0.0.1", false);
	gen("client", "ca", "client.test", false);
	gen("self", NULL, "a.test", true);
	FILE *f = fopen(p("notpem.txt"), "w");
	fputs("this is not a certificate\n", f);
	fclose(f);
	return 0;
}

static int remove_certs(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- in-memory transport ---- */

struct pipe {
	uint8_t buf[1 << 17];
	size_t len;
	size_t limit;   /* accept at most this many bytes in total (0: no limit) */
	bool closed;
};

struct end {
	struct pipe *in, *out;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct end *e = arg;
	if (e->in->len == 0)
		return e->in->closed ? 0 : TS_E_WANT_READ;
	size_t n = len < e->in->len ? len : e->in->len;
	memcpy(buf, e->in->buf, n);
	memmove(e->in->buf, e->in->buf + n, e->in->len - n);
	e->in->len -= n;
	return (ssize_t)n;
}

static ssize_t mem_write(void *arg, const void *buf, size_t len)
{
	struct end *e = arg;
	size_t cap = e->out->limit != 0 ? e->out->limit : sizeof e->out->buf;
	if (e->out->closed)
		return TS_E_CONNECT;
	if (e->out->len >= cap)
		return TS_E_WANT_WRITE;
	size_t n = len < cap - e->out->len ? len : cap - e->out->len;
	memcpy(e->out->buf + e->out->len, buf, n);
	e->out->len += n;
	return (ssize_t)n;
}

struct pair {
	struct ts_config *ccfg, *scfg;
	struct ts_conn *cli, *srv;
	struct pipe c2s, s2c;
	struct end ce, se;
	int crc, src;
};

static struct pair *pair_new(void)
{
	struct pair *pr = calloc(1, sizeof *pr);
	assert_non_null(pr);
	pr->ccfg = ts_config_new();
	pr->scfg = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(pr->ccfg, p("ca/ca.pem")), TS_OK);
	assert_int_equal(ts_config_add_keypair_file(pr->scfg, p("a.pem"), p("a.key")), TS_OK);
	pr->ce = (struct end){ .in = &pr->s2c, .out = &pr->c2s };
	pr->se = (struct end){ .in = &pr->c2s, .out = &pr->s2c };
	return pr;
}

static void pair_start(struct pair *pr, const char *name)
{
	ts_conn_free(pr->cli);
	ts_conn_free(pr->srv);
	memset(&pr->c2s, 0, sizeof pr->c2s);
	memset(&pr->s2c, 0, sizeof pr->s2c);
	pr->cli = ts_conn_client(pr->ccfg);
	pr->srv = ts_conn_server(pr->scfg);
	assert_int_equal(ts_conn_set_callbacks(pr->cli, mem_read, mem_write, &pr->ce, name), TS_OK);
	assert_int_equal(ts_conn_set_callbacks(pr->srv, mem_read, mem_write, &pr->se, NULL), TS_OK);
}

static bool is_want(int rc)
{
	return rc == TS_E_WANT_READ || rc == TS_E_WANT_WRITE;
}

/* Runs both handshakes until neither can move; leaves the codes in pr. */
static void pump(struct pair *pr)
{
	pr->crc = pr->src = TS_E_WANT_READ;
	for (int i = 0; i < 50 && (is_want(pr->crc) || is_want(pr->src)); i++) {
		if (is_want(pr->crc))
			pr->crc = ts_conn_handshake(pr->cli);
		if (is_want(pr->src))
			pr->src = ts_conn_handshake(pr->srv);
	}
}

static void pair_free(struct pair *pr)
{
	ts_conn_free(pr->cli);
	ts_conn_free(pr->srv);
	ts_config_free(pr->ccfg);
	ts_config_free(pr->scfg);
	free(pr);
}

/* Sends text one way and reads it on the other side. */
static void roundtrip(struct ts_conn *from, struct ts_conn *to, const char *text)
{
	char buf[256];
	assert_int_equal(ts_conn_write(from, text, strlen(text)), (ssize_t)strlen(text));
	ssize_t n = ts_conn_read(to, buf, sizeof buf);
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_memory_equal(buf, text, strlen(text));
}

/* ---- configuration ---- */

static void config_defaults_are_secure(void **state)
{
	struct ts_config *cfg = ts_config_new();
	const char *names[TS_INSECURE_MAX];
	assert_int_equal(ts_config_protocols(cfg), TS_PROTO_TLS1_2 | TS_PROTO_TLS1_3);
	assert_int_equal(ts_config_security_level(cfg), 2);
	assert_string_equal(ts_config_ciphers(cfg), TS_CIPHERS_SECURE);
	assert_int_equal(ts_config_insecure(cfg, names), 0);
	/* every TLS 1.2 suite the default policy selects is AEAD with forward secrecy */
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, ts_config_ciphers(cfg)), 1);
	STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
	int tls12 = 0;
	for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(list, i);
		if (strcmp(SSL_CIPHER_get_version(ci), "TLSv1.3") == 0)
			continue;
		tls12++;
		assert_true(SSL_CIPHER_is_aead(ci));
		int kx = SSL_CIPHER_get_kx_nid(ci);
		assert_true(kx == NID_kx_ecdhe || kx == NID_kx_dhe);
	}
	assert_true(tls12 >= 4);
	SSL_CTX_free(ctx);
	ts_config_free(cfg);
	ts_config_free(NULL);
	ts_conn_free(NULL);
}

static void config_refuses_bad_options(void **state)
{
	struct ts_config *cfg = ts_config_new();
	unsigned protos = 0;
	struct ts_error err = { 0 };
	assert_int_equal(ts_config_set_protocols(cfg, TS_PROTO_TLS1_0 | TS_PROTO_TLS1_2), TS_E_INVALID);
	assert_non_null(strstr(ts_config_error(cfg), "insecure_legacy_protocols"));
	assert_int_equal(ts_config_set_protocols(cfg, 0), TS_E_INVALID);
	assert_int_equal(ts_config_set_security_level(cfg, 1), TS_E_INVALID);
	assert_non_null(strstr(ts_config_error(cfg), "weak keys"));
	assert_int_equal(ts_config_set_security_level(cfg, 9), TS_E_INVALID);
	assert_int_equal(ts_config_set_ciphers(cfg, "NO-SUCH-CIPHER"), TS_E_INVALID);
	assert_non_null(strstr(ts_config_error(cfg), "'NO-SUCH-CIPHER' selects no cipher suite"));
	assert_int_equal(ts_config_set_ciphers(cfg, "compat"), TS_OK);
	assert_int_equal(ts_config_set_ciphers(cfg, "secure"), TS_OK);
	assert_string_equal(ts_config_ciphers(cfg), TS_CIPHERS_SECURE);
	assert_int_equal(ts_config_set_alpn(cfg, "h2,,http/1.1"), TS_E_INVALID);
	assert_non_null(strstr(ts_config_error(cfg), "empty protocol name"));
	char longlist[400];
	memset(longlist, 'x', sizeof longlist - 1);
	longlist[sizeof longlist - 1] = '\0';
	assert_int_equal(ts_config_set_alpn(cfg, longlist), TS_E_INVALID);
	assert_int_equal(ts_config_set_alpn(cfg, "h2,http/1.1"), TS_OK);
	assert_string_equal(ts_config_error(cfg), "");
	assert_int_equal(ts_config_set_timeout(cfg, 0), TS_E_INVALID);
	assert_int_equal(ts_config_set_family(cfg, 12345), TS_E_INVALID);
	assert_int_equal(ts_config_set_family(cfg, AF_INET6), TS_OK);
	assert_int_equal(ts_parse_protocols("tls1.2,TLSv1.3", &protos, &err), TS_OK);
	assert_int_equal(protos, TS_PROTOS_DEFAULT);
	assert_int_equal(ts_parse_protocols("all", &protos, &err), TS_OK);
	assert_int_equal(protos, TS_PROTOS_DEFAULT | TS_PROTOS_LEGACY);
	assert_int_equal(ts_parse_protocols("ssl3", &protos, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "unknown protocol 'ssl3'"));
	assert_int_equal(ts_parse_protocols("", &protos, &err), TS_E_INVALID);
	assert_int_equal(ts_config_verify_client(cfg, NULL), TS_E_INVALID);
	ts_config_free(cfg);
}

static void insecure_options_are_listed(void **state)
{
	struct ts_config *cfg = ts_config_new();
	const char *names[TS_INSECURE_MAX];
	ts_config_insecure_noverifycert(cfg);
	ts_config_insecure_noverifytime(cfg);
	assert_int_equal(ts_config_insecure(cfg, names), 2);
	assert_string_equal(names[0], "insecure_noverifycert");
	assert_string_equal(names[1], "insecure_noverifytime");
	ts_config_insecure_noverifyname(cfg);
	ts_config_insecure_legacy_protocols(cfg);
	assert_int_equal(ts_config_insecure(cfg, names), 4);
	assert_string_equal(names[3], "insecure_legacy_protocols");
	ts_config_insecure_legacy_renegotiation(cfg);
	assert_int_equal(ts_config_insecure(cfg, names), 5);
	assert_string_equal(names[4], "insecure_legacy_renegotiation");
	assert_int_equal(ts_config_security_level(cfg), 0);
	assert_true(ts_config_protocols(cfg) & TS_PROTO_TLS1_0);
	/* now TLS 1.0 alone and a low level are allowed */
	assert_int_equal(ts_config_set_protocols(cfg, TS_PROTO_TLS1_0), TS_OK);
	assert_int_equal(ts_config_set_security_level(cfg, 1), TS_OK);
	ts_config_free(cfg);
}

static void file_errors_name_the_file(void **state)
{
	struct ts_config *cfg = ts_config_new();
	assert_int_equal(ts_config_add_keypair_file(cfg, p("missing.pem"), p("a.key")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "cannot read certificate file"));
	assert_non_null(strstr(ts_config_error(cfg), "missing.pem"));
	assert_non_null(strstr(ts_config_error(cfg), "No such file"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("notpem.txt"), p("a.key")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "holds no PEM certificate"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("a.pem"), p("notpem.txt")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "holds no PEM private key"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("a.pem"), p("missing.key")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "cannot read key file"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("a.pem"), p("b.key")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "does not match the certificate"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("ca"), p("a.key")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "is a directory"));
	assert_int_equal(ts_config_set_ca_path(cfg, p("no-such-ca.pem")), TS_E_FILE);
	assert_non_null(strstr(ts_config_error(cfg), "no-such-ca.pem"));
	assert_int_equal(ts_config_add_keypair_file(cfg, p("a.pem"), p("a.key")), TS_OK);
	ts_config_free(cfg);
}

static void conn_misuse_is_reported(void **state)
{
	struct ts_config *cfg = ts_config_new();
	struct end e = { 0 };
	struct ts_conn *c = ts_conn_client(cfg);
	assert_int_equal(ts_conn_handshake(c), TS_E_INVALID);
	assert_non_null(strstr(ts_conn_error(c), "no transport"));
	assert_int_equal(ts_conn_set_callbacks(c, mem_read, mem_write, &e, NULL), TS_E_INVALID);
	assert_non_null(strstr(ts_conn_error(c), "needs the server's name"));
	assert_int_equal(ts_conn_set_callbacks(c, NULL, mem_write, &e, "a.test"), TS_E_INVALID);
	assert_int_equal(ts_conn_set_fd(c, -1, "a.test"), TS_E_INVALID);
	ts_conn_free(c);
	/* a server without a certificate */
	c = ts_conn_server(cfg);
	assert_int_equal(ts_conn_set_callbacks(c, mem_read, mem_write, &e, NULL), TS_E_INVALID);
	assert_non_null(strstr(ts_conn_error(c), "needs a certificate"));
	assert_int_equal(ts_conn_connect(c, "127.0.0.1", 1, NULL), TS_E_INVALID);
	ts_conn_free(c);
	ts_config_free(cfg);
}

/* ---- handshakes in memory ---- */

static void handshake_negotiates_alpn_and_verifies(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_alpn(pr->scfg, "h2,http/1.1"), TS_OK);
	assert_int_equal(ts_config_set_alpn(pr->ccfg, "http/1.1,h2"), TS_OK);
	pair_start(pr, "a.test");
	assert_null(ts_conn_protocol(pr->cli));
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(pr->src, TS_OK);
	assert_true(ts_conn_handshake_done(pr->cli));
	assert_string_equal(ts_conn_protocol(pr->cli), "TLSv1.3");
	assert_string_equal(ts_conn_alpn(pr->cli), "h2");
	assert_string_equal(ts_conn_alpn(pr->srv), "h2");
	assert_non_null(ts_conn_cipher(pr->cli));
	assert_string_equal(ts_conn_cipher(pr->cli), ts_conn_cipher_openssl(pr->cli));
	assert_true(ts_conn_forward_secret(pr->cli));
	assert_non_null(ts_conn_group(pr->cli));
	assert_string_equal(ts_conn_peer_signature(pr->cli), "ecdsa_secp256r1_sha256");
	assert_string_equal(ts_conn_servername(pr->srv), "a.test");
	assert_string_equal(ts_conn_servername(pr->cli), "a.test");
	assert_false(ts_conn_resumed(pr->cli));
	const struct ts_verify_result *vr = ts_conn_verify_result(pr->cli);
	assert_non_null(vr);
	assert_true(vr->trusted);
	assert_true(vr->hostname_match);
	assert_null(ts_conn_verify_result(pr->srv));
	const uint8_t *const *ders;
	const size_t *lens;
	assert_int_equal(ts_conn_peer_chain(pr->cli, &ders, &lens), 1);
	assert_true(lens[0] > 100);
	size_t olen;
	assert_null(ts_conn_ocsp_response(pr->cli, &olen));
	assert_int_equal(ts_conn_sct_count(pr->cli), 0);
	assert_null(ts_conn_peer_addr(pr->cli));
	roundtrip(pr->cli, pr->srv, "ping");
	roundtrip(pr->srv, pr->cli, "pong");
	/* close_notify reaches the server as the end of the stream */
	assert_int_equal(ts_conn_close(pr->cli), TS_OK);
	char buf[16];
	assert_int_equal(ts_conn_read(pr->srv, buf, sizeof buf), TS_E_CLOSED);
	assert_non_null(strstr(ts_conn_error(pr->srv), "closed the connection"));
	pair_free(pr);
}

static void tls12_suite_is_aead_with_forward_secrecy(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	assert_int_equal(ts_config_set_alpn(pr->scfg, "h2"), TS_OK);
	assert_int_equal(ts_config_set_alpn(pr->ccfg, "http/1.1"), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_string_equal(ts_conn_protocol(pr->cli), "TLSv1.2");
	assert_non_null(strstr(ts_conn_cipher(pr->cli), "TLS_ECDHE_ECDSA_WITH_"));
	assert_non_null(strstr(ts_conn_cipher_openssl(pr->cli), "ECDHE-ECDSA-"));
	assert_true(ts_conn_forward_secret(pr->cli));
	assert_null(ts_conn_alpn(pr->cli)); /* nothing in common: no ALPN */
	assert_non_null(ts_conn_group(pr->cli));
	pair_free(pr);
}

/* A static RSA key exchange, only when both sides ask for it by name: the
 * one case where forward secrecy is false and there is no group. */
static void rsa_key_exchange_is_not_forward_secret(void **state)
{
	struct ts_error err = { 0 };
	const char *names[1] = { "a.test" };
	struct ts_cert_request req = { .key_spec = "rsa:2048", .names = names, .name_count = 1 };
	char out[256];
	snprintf(out, sizeof out, "%s/rsa", dir);
	assert_int_equal(ts_cert_generate(&req, p("ca"), out, &err), TS_OK);
	struct pair *pr = pair_new();
	ts_config_free(pr->scfg);
	pr->scfg = ts_config_new();
	assert_int_equal(ts_config_add_keypair_file(pr->scfg, p("rsa.pem"), p("rsa.key")), TS_OK);
	assert_int_equal(ts_config_set_ciphers(pr->scfg, "AES128-GCM-SHA256"), TS_OK);
	assert_int_equal(ts_config_set_ciphers(pr->ccfg, "AES128-GCM-SHA256"), TS_OK);
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_string_equal(ts_conn_cipher(pr->cli), "TLS_RSA_WITH_AES_128_GCM_SHA256");
	assert_false(ts_conn_forward_secret(pr->cli));
	assert_null(ts_conn_group(pr->cli));
	assert_null(ts_conn_peer_signature(pr->cli)); /* the server signs nothing */
	pair_free(pr);
}

static void resumption(bool tls12)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_session_cache(pr->ccfg, true), TS_OK);
	assert_int_equal(ts_config_set_session_cache(pr->scfg, true), TS_OK);
	if (tls12)
		assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_false(ts_conn_resumed(pr->cli));
	/* TLS 1.3 tickets come after the handshake: read to receive them */
	roundtrip(pr->srv, pr->cli, "hello");
	assert_true(ts_conn_ticket_offered(pr->cli));
	if (tls12)
		assert_true(ts_conn_session_id_offered(pr->cli));
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_true(ts_conn_resumed(pr->cli));
	assert_true(ts_conn_resumed(pr->srv));
	assert_non_null(ts_conn_verify_result(pr->cli));
	assert_true(ts_conn_verify_result(pr->cli)->trusted);
	roundtrip(pr->cli, pr->srv, "again");
	/* another name is another session */
	pair_start(pr, "b.test");
	pump(pr);
	assert_false(ts_conn_resumed(pr->cli));
	pair_free(pr);
}

static void resumption_tls13(void **state)
{
	resumption(false);
}

static void resumption_tls12(void **state)
{
	resumption(true);
}

/* Our server refuses renegotiation (SSL_OP_NO_RENEGOTIATION): the client
 * hears OpenSSL's no_renegotiation alert. */
static void renegotiation_refused(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	pair_start(pr, "a.test");
	assert_int_equal(ts_conn_renegotiate(pr->srv), TS_E_WANT_READ);   /* no handshake yet */
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(ts_conn_renegotiate(pr->srv), TS_E_INVALID);
	assert_string_equal(ts_conn_error(pr->srv), "only a client starts a renegotiation here");
	int rc = TS_E_WANT_READ;
	char buf[16];
	for (int i = 0; i < 10 && is_want(rc); i++) {
		rc = ts_conn_renegotiate(pr->cli);
		ts_conn_read(pr->srv, buf, sizeof buf);
	}
	assert_int_equal(rc, TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(pr->cli), "refused renegotiation with alert 'no renegotiation'"));
	/* TLS 1.3 has none */
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTOS_DEFAULT), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(ts_conn_renegotiate(pr->cli), TS_E_INVALID);
	assert_non_null(strstr(ts_conn_error(pr->cli), "TLS 1.2 or older"));
	roundtrip(pr->cli, pr->srv, "still fine");
	pair_free(pr);
}

/* The client's own OpenSSL rejects the answer to its renegotiation (here a
 * record that fails its MAC): no alert came and nothing closed, so the
 * server did not refuse; the code and the message say our side failed. */
static void renegotiation_fails_on_our_side(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(ts_conn_renegotiate(pr->cli), TS_E_WANT_READ);   /* our hello is sent */
	assert_true(pr->c2s.len > 0);
	/* instead of the server's answer: a handshake record of garbage */
	memcpy(pr->s2c.buf, "\x16\x03\x03\x00\x20garbagegarbagegarbagegarbage!!!!", 37);
	pr->s2c.len = 37;
	int rc = ts_conn_renegotiate(pr->cli);
	assert_int_not_equal(rc, TS_E_TLS);
	assert_int_not_equal(rc, TS_E_CLOSED);
	assert_int_equal(rc, TS_E_MALFORMED);
	assert_string_equal(ts_conn_error(pr->cli),
	                    "renegotiation with the server failed on our side, with no alert from it: "
	                    "our TLS library rejected its answer (decryption failed or bad record mac)");
	pair_free(pr);
}

/* Our server's tickets allow no early data: nothing to send, nothing sent. */
static void early_data_needs_a_ticket_that_allows_it(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_session_cache(pr->ccfg, true), TS_OK);
	assert_int_equal(ts_config_set_session_cache(pr->scfg, true), TS_OK);
	pair_start(pr, "a.test");
	assert_int_equal(ts_conn_early_data_max(pr->cli), 0);
	assert_int_equal(ts_conn_write_early(pr->cli, "x", 1), TS_E_INVALID);
	assert_string_equal(ts_conn_error(pr->cli), "early data: 1 bytes to send, the session offered allows 0");
	pump(pr);
	roundtrip(pr->srv, pr->cli, "ticket");
	assert_int_equal(ts_conn_early_data_status(pr->cli), TS_EARLY_NOT_SENT);
	pair_start(pr, "a.test");
	assert_int_equal(ts_conn_early_data_max(pr->cli), 0);   /* a session, but no early data in it */
	pump(pr);
	assert_true(ts_conn_resumed(pr->cli));
	assert_int_equal(ts_conn_write_early(pr->cli, "x", 1), TS_E_INVALID);
	assert_string_equal(ts_conn_error(pr->cli), "early data is sent by a client before the handshake");
	assert_int_equal(ts_conn_early_data_status(pr->cli), TS_EARLY_NOT_SENT);
	pair_free(pr);
}

static void no_resumption_without_cache(void **state)
{
	struct pair *pr = pair_new();
	pair_start(pr, "a.test");
	pump(pr);
	roundtrip(pr->srv, pr->cli, "hello");
	assert_false(ts_conn_ticket_offered(pr->cli));
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_false(ts_conn_resumed(pr->cli));
	pair_free(pr);
}

/* The client presents client.pem, which the server's CA issued: both ends
 * finish the handshake and the server's verdict on it is "trusted". */
static void client_certificate_trusted(struct pair *pr)
{
	assert_int_equal(ts_config_add_keypair_file(pr->ccfg, p("client.pem"), p("client.key")), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(pr->src, TS_OK);
	assert_non_null(ts_conn_verify_result(pr->srv));
	assert_true(ts_conn_verify_result(pr->srv)->trusted);
}

static void client_certificate_required(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_verify_client(pr->scfg, p("ca/ca.pem")), TS_OK);
	/* without one: the server refuses, the client hears it on its first read */
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->src, TS_E_VERIFY);
	assert_string_equal(ts_conn_error(pr->srv), "the client sent no certificate, and this server requires one");
	char buf[16];
	ssize_t n = pr->crc == TS_OK ? ts_conn_read(pr->cli, buf, sizeof buf) : pr->crc;
	assert_int_equal(n, TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(pr->cli), "alert"));
	/* with one */
	client_certificate_trusted(pr);
	const uint8_t *const *ders;
	const size_t *lens;
	assert_int_equal(ts_conn_peer_chain(pr->srv, &ders, &lens), 1);
	assert_non_null(ts_conn_peer_signature(pr->srv));
	roundtrip(pr->cli, pr->srv, "authenticated");
	/* a client certificate from a CA the server does not trust */
	struct ts_config *other = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(other, p("ca/ca.pem")), TS_OK);
	assert_int_equal(ts_config_add_keypair_file(other, p("self.pem"), p("self.key")), TS_OK);
	ts_config_free(pr->ccfg);
	pr->ccfg = other;
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->src, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->srv), "self-signed"));
	pair_free(pr);
}

/* Optional: a client without a certificate is let in (nothing verified); one
 * with a certificate has it verified, and refused when it does not verify. */
static void client_certificate_optional(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_verify_client_optional(pr->scfg, p("ca/ca.pem")), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(pr->src, TS_OK);
	assert_null(ts_conn_verify_result(pr->srv));
	roundtrip(pr->cli, pr->srv, "anonymous");
	client_certificate_trusted(pr);
	/* a client's second keypair replaces its first */
	assert_int_equal(ts_config_add_keypair_file(pr->ccfg, p("self.pem"), p("self.key")), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->src, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->srv), "self-signed certificate 'CN=a.test' is not trusted"));
	assert_int_equal(ts_config_verify_client_optional(pr->scfg, NULL), TS_E_INVALID);
	pair_free(pr);
}

static void sni_selects_the_certificate(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_add_keypair_file(pr->scfg, p("b.pem"), p("b.key")), TS_OK);
	pair_start(pr, "b.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_string_equal(ts_conn_servername(pr->srv), "b.test");
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	/* an unknown name gets the first certificate, which does not match */
	pair_start(pr, "c.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->cli), "'c.test'"));
	assert_non_null(strstr(ts_conn_error(pr->cli), "a.test"));
	/* the client's alert reaches the server */
	assert_int_equal(pr->src, TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(pr->srv), "refused the handshake with alert"));
	pair_free(pr);
}

static void ip_literal_sends_no_sni(void **state)
{
	struct pair *pr = pair_new();
	ts_config_free(pr->scfg);
	pr->scfg = ts_config_new();
	assert_int_equal(ts_config_add_keypair_file(pr->scfg, p("ip.pem"), p("ip.key")), TS_OK);
	pair_start(pr, "127.0.0.1");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_null(ts_conn_servername(pr->srv));
	assert_true(ts_conn_verify_result(pr->cli)->hostname_match);
	pair_start(pr, "127.0.0.2");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->cli), "127.0.0.2"));
	pair_free(pr);
}

static void untrusted_and_insecure(void **state)
{
	struct pair *pr = pair_new();
	ts_config_free(pr->scfg);
	pr->scfg = ts_config_new();
	assert_int_equal(ts_config_add_keypair_file(pr->scfg, p("self.pem"), p("self.key")), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->cli), "self-signed"));
	assert_non_null(ts_conn_verify_result(pr->cli));
	assert_false(ts_conn_verify_result(pr->cli)->trusted);
	/* the failure is sticky */
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_VERIFY);
	char buf[4];
	assert_int_equal(ts_conn_read(pr->cli, buf, sizeof buf), TS_E_VERIFY);
	/* waived: the handshake succeeds and the result still says why */
	ts_config_insecure_noverifycert(pr->ccfg);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_false(ts_conn_verify_result(pr->cli)->trusted);
	assert_true(ts_conn_verify_result(pr->cli)->hostname_match);
	/* the name is still checked */
	pair_start(pr, "b.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_VERIFY);
	assert_non_null(strstr(ts_conn_error(pr->cli), "name mismatch"));
	ts_config_insecure_noverifyname(pr->ccfg);
	pair_start(pr, "b.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	pair_free(pr);
}

/* Trust read once serves several configs; each keeps its own handle. */
static void trust_is_shared_between_configs(void **state)
{
	struct pair *pr = pair_new();
	struct ts_trust *trust = NULL;
	struct ts_error err = { 0 };
	assert_int_equal(ts_trust_new(p("ca/ca.pem"), &trust, &err), TS_OK);
	struct ts_config *other = ts_config_new();
	assert_int_equal(ts_config_set_trust(pr->ccfg, trust), TS_OK);
	assert_int_equal(ts_config_set_trust(other, trust), TS_OK);
	ts_trust_free(trust);   /* the configs' handles keep the store */
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_true(ts_conn_verify_result(pr->cli)->trusted);
	ts_config_free(pr->ccfg);
	pr->ccfg = other;   /* the store outlives the first config */
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_true(ts_conn_verify_result(pr->cli)->trusted);
	/* NULL: the system store, which does not know the test CA */
	assert_int_equal(ts_config_set_trust(pr->ccfg, NULL), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_VERIFY);
	pair_free(pr);
}

static void want_read_and_want_write(void **state)
{
	struct pair *pr = pair_new();
	pair_start(pr, "a.test");
	pr->c2s.limit = 10;
	/* the transport takes 10 bytes of the ClientHello, then no more */
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_WANT_WRITE);
	assert_int_equal(pr->c2s.len, 10);
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_WANT_WRITE);
	pr->c2s.limit = 0;
	/* now it is all out and the client waits for the server */
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_WANT_READ);
	assert_true(pr->c2s.len > 100);
	assert_int_equal(ts_conn_handshake(pr->srv), TS_E_WANT_READ);
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	assert_int_equal(pr->src, TS_OK);
	char buf[16];
	assert_int_equal(ts_conn_read(pr->cli, buf, sizeof buf), TS_E_WANT_READ);
	pair_free(pr);
}

/* A client whose peer sends fixed bytes, then closes. */
static int client_against(const char *bytes, size_t n, bool close, struct ts_conn **out,
                          struct pipe *in, struct pipe *outp, struct end *e, struct ts_config *cfg)
{
	memset(in, 0, sizeof *in);
	memset(outp, 0, sizeof *outp);
	memcpy(in->buf, bytes, n);
	in->len = n;
	in->closed = close;
	*e = (struct end){ .in = in, .out = outp };
	*out = ts_conn_client(cfg);
	assert_int_equal(ts_conn_set_callbacks(*out, mem_read, mem_write, e, "a.test"), TS_OK);
	return ts_conn_handshake(*out);
}

static void peers_that_are_not_tls(void **state)
{
	struct ts_config *cfg = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(cfg, p("ca/ca.pem")), TS_OK);
	static struct pipe in, outp;
	struct end e;
	struct ts_conn *c;
	const char *http = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(client_against(http, strlen(http), true, &c, &in, &outp, &e, cfg), TS_E_TLS);
	assert_string_equal(ts_conn_error(c), "the server answered in plain HTTP, not TLS: 'HTTP/1.1 400 Bad Request'");
	ts_conn_free(c);
	const char *ssh = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
	assert_int_equal(client_against(ssh, strlen(ssh), false, &c, &in, &outp, &e, cfg), TS_E_TLS);
	assert_string_equal(ts_conn_error(c), "the server is an SSH server, not TLS: 'SSH-2.0-OpenSSH_9.2p1 Debian-2'");
	ts_conn_free(c);
	const char bin[] = { 0x00, 0x01, (char)0xff, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42 };
	assert_int_equal(client_against(bin, sizeof bin, true, &c, &in, &outp, &e, cfg), TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(c), "not TLS (first bytes 00 01 ff"));
	ts_conn_free(c);
	assert_int_equal(client_against("", 0, true, &c, &in, &outp, &e, cfg), TS_E_TLS);
	assert_string_equal(ts_conn_error(c), "the server closed the connection without answering the TLS hello");
	ts_conn_free(c);
	/* silence is not an error for a non-blocking caller */
	assert_int_equal(client_against("", 0, false, &c, &in, &outp, &e, cfg), TS_E_WANT_READ);
	ts_conn_free(c);
	ts_config_free(cfg);
}

static void server_drops_mid_handshake(void **state)
{
	struct pair *pr = pair_new();
	pair_start(pr, "a.test");
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_WANT_READ);
	assert_int_equal(ts_conn_handshake(pr->srv), TS_E_WANT_READ);
	assert_true(pr->s2c.len > 200);
	pr->s2c.len = 150; /* part of the server's flight, then the end */
	pr->s2c.closed = true;
	assert_int_equal(ts_conn_handshake(pr->cli), TS_E_TLS);
	assert_string_equal(ts_conn_error(pr->cli),
	                    "the server closed the connection during the handshake (after 150 bytes)");
	pair_free(pr);
}

static void garbage_after_handshake(void **state)
{
	struct pair *pr = pair_new();
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_OK);
	roundtrip(pr->srv, pr->cli, "fine");
	memcpy(pr->s2c.buf, "\x17\x03\x03\x00\x20garbagegarbagegarbagegarbage!!!!", 37);
	pr->s2c.len = 37;
	char buf[64];
	assert_int_equal(ts_conn_read(pr->cli, buf, sizeof buf), TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(pr->cli), "sent data that is not valid TLS after the handshake"));
	/* and a peer that just stops */
	pair_start(pr, "a.test");
	pump(pr);
	pr->s2c.closed = true;
	assert_int_equal(ts_conn_read(pr->cli, buf, sizeof buf), TS_E_CLOSED);
	assert_non_null(strstr(ts_conn_error(pr->cli), "without close_notify"));
	pair_free(pr);
}

static void protocol_mismatch_is_refused(void **state)
{
	struct pair *pr = pair_new();
	assert_int_equal(ts_config_set_protocols(pr->ccfg, TS_PROTO_TLS1_2), TS_OK);
	assert_int_equal(ts_config_set_protocols(pr->scfg, TS_PROTO_TLS1_3), TS_OK);
	pair_start(pr, "a.test");
	pump(pr);
	assert_int_equal(pr->crc, TS_E_TLS);
	assert_int_equal(pr->src, TS_E_TLS);
	assert_non_null(strstr(ts_conn_error(pr->cli), "alert 'protocol version'"));
	assert_non_null(strstr(ts_conn_error(pr->srv), "unsupported protocol"));
	pair_free(pr);
}

/* ---- sockets ---- */

static void socket_timeout_and_errors(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct ts_config *cfg = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(cfg, p("ca/ca.pem")), TS_OK);
	assert_int_equal(ts_config_set_timeout(cfg, 100), TS_OK);
	struct ts_conn *c = ts_conn_client(cfg);
	assert_int_equal(ts_conn_set_fd(c, sv[0], "a.test"), TS_OK);
	assert_int_equal(ts_conn_fd(c), sv[0]);
	assert_int_equal(ts_conn_handshake(c), TS_E_TIMEOUT);
	assert_non_null(strstr(ts_conn_error(c), "it accepted the connection but sent nothing"));
	ts_conn_free(c);
	/* the conn does not own a descriptor it was given */
	assert_int_equal(write(sv[0], "x", 1), 1);
	close(sv[0]);
	close(sv[1]);

	/* refused: a port nobody listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	bind(fd, (struct sockaddr *)&sin, sizeof sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	c = ts_conn_client(cfg);
	assert_int_equal(ts_conn_connect(c, "127.0.0.1", ntohs(sin.sin_port), NULL), TS_E_CONNECT);
	assert_non_null(strstr(ts_conn_error(c), "refused"));
	ts_conn_free(c);
	c = ts_conn_client(cfg);
	assert_int_equal(ts_conn_connect(c, "no-such-host.invalid", 443, NULL), TS_E_RESOLVE);
	ts_conn_free(c);

	/* a listener that accepts and never speaks */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = 0;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(lfd, 4), 0);
	len = sizeof sin;
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	c = ts_conn_client(cfg);
	assert_int_equal(ts_conn_connect(c, "127.0.0.1", ntohs(sin.sin_port), "a.test"), TS_OK);
	assert_non_null(ts_conn_peer_addr(c));
	assert_int_equal(ts_addr_port(ts_conn_peer_addr(c)), ntohs(sin.sin_port));
	assert_int_equal(ts_conn_handshake(c), TS_E_TIMEOUT);
	assert_non_null(strstr(ts_conn_error(c), "no TLS answer from the server at 127.0.0.1:"));
	ts_conn_free(c);
	close(lfd);
	ts_config_free(cfg);
}

/* Both ends on a socketpair, non-blocking: the caller polls. */
static void nonblocking_descriptors(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct ts_config *ccfg = ts_config_new(), *scfg = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(ccfg, p("ca/ca.pem")), TS_OK);
	assert_int_equal(ts_config_add_keypair_file(scfg, p("a.pem"), p("a.key")), TS_OK);
	struct ts_conn *cli = ts_conn_client(ccfg), *srv = ts_conn_server(scfg);
	assert_int_equal(ts_conn_set_fd(cli, sv[0], "a.test"), TS_OK);
	assert_int_equal(ts_conn_set_fd(srv, sv[1], NULL), TS_OK);
	ts_conn_set_nonblocking(cli, true);
	ts_conn_set_nonblocking(srv, true);
	int crc = TS_E_WANT_READ, src = TS_E_WANT_READ;
	for (int i = 0; i < 50 && (is_want(crc) || is_want(src)); i++) {
		if (is_want(crc))
			crc = ts_conn_handshake(cli);
		if (is_want(src))
			src = ts_conn_handshake(srv);
	}
	assert_int_equal(crc, TS_OK);
	assert_int_equal(src, TS_OK);
	char buf[8];
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), TS_E_WANT_READ);
	assert_int_equal(ts_conn_write(srv, "fd!", 3), 3);
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), 3);
	assert_memory_equal(buf, "fd!", 3);
	assert_int_equal(ts_conn_read(cli, buf, 0), 0);
	/* the peer goes away without close_notify */
	close(sv[1]);
	ssize_t n = ts_conn_read(cli, buf, sizeof buf);
	assert_int_equal(n, TS_E_CLOSED);
	assert_string_equal(ts_conn_error(cli), "the server closed the connection without close_notify");
	ts_conn_free(cli);
	ts_conn_free(srv);
	close(sv[0]);
	ts_config_free(ccfg);
	ts_config_free(scfg);
}

/* Handshakes a client and a server on a socketpair (non-blocking while
 * they do); the caller frees both and closes sv. */
static void fd_pair(struct ts_config *ccfg, struct ts_config *scfg, int sv[2],
                    struct ts_conn **cli, struct ts_conn **srv)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*cli = ts_conn_client(ccfg);
	*srv = ts_conn_server(scfg);
	assert_int_equal(ts_conn_set_fd(*cli, sv[0], "a.test"), TS_OK);
	assert_int_equal(ts_conn_set_fd(*srv, sv[1], NULL), TS_OK);
	ts_conn_set_nonblocking(*cli, true);
	ts_conn_set_nonblocking(*srv, true);
	int crc = TS_E_WANT_READ, src = TS_E_WANT_READ;
	for (int i = 0; i < 50 && (is_want(crc) || is_want(src)); i++) {
		if (is_want(crc))
			crc = ts_conn_handshake(*cli);
		if (is_want(src))
			src = ts_conn_handshake(*srv);
	}
	assert_int_equal(crc, TS_OK);
	assert_int_equal(src, TS_OK);
}

/* A peer that goes quiet after the handshake is no TLS failure: the client
 * can still send close_notify, and its session is kept for resumption. */
static void quiet_peer_keeps_the_session(void **state)
{
	struct ts_config *ccfg = ts_config_new(), *scfg = ts_config_new();
	assert_int_equal(ts_config_set_ca_path(ccfg, p("ca/ca.pem")), TS_OK);
	assert_int_equal(ts_config_add_keypair_file(scfg, p("a.pem"), p("a.key")), TS_OK);
	assert_int_equal(ts_config_set_session_cache(ccfg, true), TS_OK);
	assert_int_equal(ts_config_set_session_cache(scfg, true), TS_OK);
	assert_int_equal(ts_config_set_timeout(ccfg, 100), TS_OK);
	int sv[2];
	struct ts_conn *cli, *srv;
	fd_pair(ccfg, scfg, sv, &cli, &srv);
	char buf[8];
	assert_int_equal(ts_conn_write(srv, "t", 1), 1);   /* after the tickets */
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), 1);
	ts_conn_set_nonblocking(cli, false);
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), TS_E_TIMEOUT);
	assert_int_equal(ts_conn_close(cli), TS_OK);
	assert_int_equal(ts_conn_read(srv, buf, sizeof buf), TS_E_CLOSED);
	assert_string_equal(ts_conn_error(srv), "the client closed the connection");
	ts_conn_free(cli);
	ts_conn_free(srv);
	close(sv[0]);
	close(sv[1]);
	/* resumed; and once more, freed after the timeout without close_notify */
	fd_pair(ccfg, scfg, sv, &cli, &srv);
	assert_true(ts_conn_resumed(cli));
	assert_int_equal(ts_conn_write(srv, "t", 1), 1);
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), 1);
	ts_conn_set_nonblocking(cli, false);
	assert_int_equal(ts_conn_read(cli, buf, sizeof buf), TS_E_TIMEOUT);
	ts_conn_free(cli);
	ts_conn_free(srv);
	close(sv[0]);
	close(sv[1]);
	fd_pair(ccfg, scfg, sv, &cli, &srv);
	assert_true(ts_conn_resumed(cli));
	ts_conn_free(cli);
	ts_conn_free(srv);
	close(sv[0]);
	close(sv[1]);
	ts_config_free(ccfg);
	ts_config_free(scfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_defaults_are_secure),
		cmocka_unit_test(config_refuses_bad_options),
		cmocka_unit_test(insecure_options_are_listed),
		cmocka_unit_test(file_errors_name_the_file),
		cmocka_unit_test(conn_misuse_is_reported),
		cmocka_unit_test(handshake_negotiates_alpn_and_verifies),
		cmocka_unit_test(tls12_suite_is_aead_with_forward_secrecy),
		cmocka_unit_test(rsa_key_exchange_is_not_forward_secret),
		cmocka_unit_test(resumption_tls13),
		cmocka_unit_test(resumption_tls12),
		cmocka_unit_test(no_resumption_without_cache),
		cmocka_unit_test(renegotiation_refused),
		cmocka_unit_test(renegotiation_fails_on_our_side),
		cmocka_unit_test(early_data_needs_a_ticket_that_allows_it),
		cmocka_unit_test(client_certificate_required),
		cmocka_unit_test(client_certificate_optional),
		cmocka_unit_test(sni_selects_the_certificate),
		cmocka_unit_test(ip_literal_sends_no_sni),
		cmocka_unit_test(untrusted_and_insecure),
		cmocka_unit_test(trust_is_shared_between_configs),
		cmocka_unit_test(want_read_and_want_write),
		cmocka_unit_test(peers_that_are_not_tls),
		cmocka_unit_test(server_drops_mid_handshake),
		cmocka_unit_test(garbage_after_handshake),
		cmocka_unit_test(protocol_mismatch_is_refused),
		cmocka_unit_test(socket_timeout_and_errors),
		cmocka_unit_test(nonblocking_descriptors),
		cmocka_unit_test(quiet_peer_keeps_the_session),
	};
	return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
