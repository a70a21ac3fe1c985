/* STARTTLS preambles against a scripted server: a forked child on the other
 * end of a socketpair sends what a real server would and checks what we send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tlsscope/starttls.h"

/* One step of the server's script: send bytes, or read what the client
 * sends (a line starting with expect_line, or exactly expect_bytes bytes,
 * compared with expect_data when given). */
struct step {
	const char *send;
	size_t send_len;                 /* 0: strlen(send) */
	const char *expect_line;
	size_t expect_bytes;
	const void *expect_data;
	const char *until;               /* read until the bytes end with this */
};

#define SEND(s) { .send = (s) }
#define SENDN(s, n) { .send = (const char *)(s), .send_len = (n) }
#define EXPECT(l) { .expect_line = (l) }
#define EXPECTN(n, d) { .expect_bytes = (n), .expect_data = (d) }
#define UNTIL(u) { .until = (u) }
#define END { 0 }

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t got = read(fd, p, n);
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The child: returns its exit status (0 when the client sent what the script expects). */
static int play(int fd, const struct step *steps)
{
	signal(SIGPIPE, SIG_IGN);
	for (const struct step *st = steps; st->send != NULL || st->expect_line != NULL || st->expect_bytes > 0 || st->until != NULL;
	     st++) {
		if (st->send != NULL) {
			size_t n = st->send_len != 0 ? st->send_len : strlen(st->send);
			const char *p = st->send;
			while (n > 0) {
				ssize_t put = write(fd, p, n);
				if (put <= 0)
					return 0; /* the client stopped reading: fine for the limit tests */
				p += put;
				n -= (size_t)put;
			}
		} else if (st->expect_line != NULL) {
			char line[4096];
			size_t n = 0;
			while (n < sizeof line - 1) {
				if (read(fd, line + n, 1) != 1)
					return 2;
				if (line[n++] == '\n')
					break;
			}
			line[n] = '\0';
			if (strncmp(line, st->expect_line, strlen(st->expect_line)) != 0) {
				fprintf(stderr, "server wanted '%s', got '%s'\n", st->expect_line, line);
				return 3;
			}
		} else if (st->until != NULL) {
			char got[4096];
			size_t n = 0, u = strlen(st->until);
			while (n < sizeof got && (n < u || memcmp(got + n - u, st->until, u) != 0))
				if (read(fd, got + n++, 1) != 1)
					return 6;
		} else {
			uint8_t buf[256];
			if (st->expect_bytes > sizeof buf || read_exact(fd, buf, st->expect_bytes) != 0)
				return 4;
			if (st->expect_data != NULL && memcmp(buf, st->expect_data, st->expect_bytes) != 0)
				return 5;
		}
	}
	/* Hold the connection until the client closes it. */
	char c;
	while (read(fd, &c, 1) > 0)
		;
	return 0;
}

struct outcome {
	int rc;
	int child_status;
	struct ts_error err;
	struct ts_starttls_result res;
};

static void converse(enum ts_starttls_proto proto, const struct step *steps, int timeout_ms, struct outcome *o)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(play(sv[1], steps));
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	memset(o, 0, sizeof *o);
	ts_starttls_result_init(&o->res);
	struct ts_starttls_options opt = { .host = "mail.example.test", .client_name = "client.test",
	                                   .timeout_ms = timeout_ms > 0 ? timeout_ms : 2000 };
	o->rc = ts_starttls_run(sv[0], proto, &opt, &o->res, &o->err);
	close(sv[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	o->child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void done(struct outcome *o)
{
	ts_starttls_result_clear(&o->res);
}

#define assert_contains(hay, needle)                                                      \
	do {                                                                              \
		if (strstr((hay), (needle)) == NULL)                                      \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));          \
	} while (0)

static void expect_ok(enum ts_starttls_proto proto, const struct step *steps)
{
	struct outcome o;
	converse(proto, steps, 0, &o);
	if (o.rc != TS_OK)
		fail_msg("%s: %d %s", ts_starttls_name(proto), o.rc, o.err.msg);
	assert_int_equal(o.child_status, 0);
	assert_true(o.res.offered);
	assert_true(o.res.accepted);
	assert_int_equal(o.res.proto, proto);
	assert_true(o.res.transcript_len > 0);
	done(&o);
}

static void expect_fail(enum ts_starttls_proto proto, const struct step *steps, int code, const char *needle1,
                        const char *needle2)
{
	struct outcome o;
	converse(proto, steps, 500, &o);
	if (o.rc != code)
		fail_msg("%s: wanted %d, got %d: %s", ts_starttls_name(proto), code, o.rc, o.err.msg);
	if (getenv("TS_SHOW")) fprintf(stderr, "%s\n", o.err.msg);
	assert_false(o.res.accepted);
	if (needle1 != NULL)
		assert_contains(o.err.msg, needle1);
	if (needle2 != NULL)
		assert_contains(o.err.msg, needle2);
	done(&o);
}

/* ---- names and ports ---- */

static void names_ports_and_parsing(void **state)
{
	enum ts_starttls_proto p;
	struct ts_error err = { 0 };
	assert_int_equal(ts_starttls_parse("SMTP", &p, &err), TS_OK);
	assert_int_equal(p, TS_STARTTLS_SMTP);
	assert_int_equal(ts_starttls_parse("xmpp-server", &p, &err), TS_OK);
	assert_int_equal(p, TS_STARTTLS_XMPP_SERVER);
	assert_int_equal(ts_starttls_parse("none", &p, &err), TS_OK);
	assert_int_equal(p, TS_STARTTLS_NONE);
	assert_int_equal(ts_starttls_parse("gopher", &p, &err), TS_E_INVALID);
	assert_contains(err.msg, "unknown STARTTLS protocol 'gopher'");
	assert_contains(err.msg, "postgres");
	static const struct { uint16_t port; enum ts_starttls_proto proto; } ports[] = {
		{ 25, TS_STARTTLS_SMTP }, { 587, TS_STARTTLS_SMTP }, { 24, TS_STARTTLS_LMTP },
		{ 143, TS_STARTTLS_IMAP }, { 110, TS_STARTTLS_POP3 }, { 21, TS_STARTTLS_FTP },
		{ 5222, TS_STARTTLS_XMPP }, { 5269, TS_STARTTLS_XMPP_SERVER }, { 389, TS_STARTTLS_LDAP },
		{ 5432, TS_STARTTLS_POSTGRES }, { 3306, TS_STARTTLS_MYSQL }, { 119, TS_STARTTLS_NNTP },
		{ 4190, TS_STARTTLS_SIEVE }, { 6667, TS_STARTTLS_IRC }, { 443, TS_STARTTLS_NONE },
		{ 0, TS_STARTTLS_NONE }, { 465, TS_STARTTLS_NONE },
	};
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
		assert_int_equal(ts_starttls_for_port(ports[i].port), ports[i].proto);
	for (int i = 0; i < TS_STARTTLS_COUNT; i++) {
		assert_non_null(ts_starttls_name((enum ts_starttls_proto)i));
		assert_int_equal(ts_starttls_parse(ts_starttls_name((enum ts_starttls_proto)i), &p, &err), TS_OK);
		assert_int_equal(p, i);
	}
	assert_null(ts_starttls_name(TS_STARTTLS_COUNT));
	for (int i = 0; i < TS_STARTTLS_COUNT; i++)
		assert_contains(ts_starttls_names(), ts_starttls_name((enum ts_starttls_proto)i));
	assert_int_equal(ts_starttls_default_port(TS_STARTTLS_SMTP), 25);
	assert_int_equal(ts_starttls_default_port(TS_STARTTLS_XMPP_SERVER), 5269);
	assert_int_equal(ts_starttls_default_port(TS_STARTTLS_NONE), 0);
	for (int i = 1; i < TS_STARTTLS_COUNT; i++)
		assert_int_equal(ts_starttls_for_port(ts_starttls_default_port((enum ts_starttls_proto)i)), i);
}

static void none_needs_no_preamble(void **state)
{
	const struct step steps[] = { END };
	struct outcome o;
	converse(TS_STARTTLS_NONE, steps, 0, &o);
	assert_int_equal(o.rc, TS_OK);
	assert_int_equal(o.res.transcript_len, 0);
	done(&o);
}

/* ---- SMTP and LMTP ---- */

static void smtp_good(void **state)
{
	const struct step steps[] = {
		SEND("220 mx.example.test ESMTP Postfix\r\n"),
		EXPECT("EHLO client.test\r\n"),
		SEND("250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
		EXPECT("STARTTLS\r\n"),
		SEND("220 2.0.0 Ready to start TLS\r\n"),
		END,
	};
	expect_ok(TS_STARTTLS_SMTP, steps);

	struct outcome o;
	converse(TS_STARTTLS_SMTP, steps, 0, &o);
	assert_int_equal(o.rc, TS_OK);
	assert_contains(o.res.transcript, "S: 220 mx.example.test ESMTP Postfix\n");
	assert_contains(o.res.transcript, "C: EHLO client.test\n");
	assert_contains(o.res.transcript, "S: 250-STARTTLS\n");
	assert_contains(o.res.transcript, "C: STARTTLS\nS: 220 2.0.0 Ready to start TLS\n");
	assert_false(o.res.truncated);
	done(&o);
}

static void smtp_not_offered(void **state)
{
	const struct step steps[] = {
		SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("250-mx\r\n250 SIZE 1000\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SMTP, steps, TS_E_PROTOCOL, "does not offer STARTTLS", "250 SIZE 1000");
}

static void smtp_refused(void **state)
{
	const struct step steps[] = {
		SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("250-mx\r\n250 STARTTLS\r\n"),
		EXPECT("STARTTLS"), SEND("454 4.7.0 TLS not available due to local problem\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SMTP, steps, TS_E_PROTOCOL, "refused STARTTLS", "454 4.7.0 TLS not available");
}

static void smtp_bad_greeting(void **state)
{
	const struct step steps[] = { SEND("554 5.3.2 go away\r\n"), END };
	expect_fail(TS_STARTTLS_SMTP, steps, TS_E_PROTOCOL, "greeting is not 220", "554 5.3.2 go away");
	const struct step garbage[] = { SEND("HTTP/1.1 400 Bad Request\r\n"), END };
	expect_fail(TS_STARTTLS_SMTP, garbage, TS_E_PROTOCOL, "three-digit reply code", "HTTP/1.1 400");
}

static void smtp_injection_after_go_ahead(void **state)
{
	const struct step steps[] = {
		SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("250-mx\r\n250 STARTTLS\r\n"), EXPECT("STARTTLS"),
		SEND("220 Ready\r\n250 injected MAIL FROM accepted\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SMTP, steps, TS_E_PROTOCOL, "injection", "250 injected MAIL FROM");
}

static void smtp_stall_times_out(void **state)
{
	const struct step steps[] = { SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("250-mx\r\n"), END };
	struct outcome o;
	converse(TS_STARTTLS_SMTP, steps, 300, &o);
	assert_int_equal(o.rc, TS_E_TIMEOUT);
	assert_contains(o.err.msg, "within 300 ms");
	assert_contains(o.err.msg, "EHLO reply");
	assert_contains(o.err.msg, "250-mx");
	done(&o);
	const struct step silent[] = { END };
	converse(TS_STARTTLS_SMTP, silent, 200, &o);
	assert_int_equal(o.rc, TS_E_TIMEOUT);
	assert_contains(o.err.msg, "the server sent nothing");
	done(&o);
}

static void smtp_closed(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "220-mx\r\n", 8), 8);
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	struct ts_error err = { 0 };
	struct ts_starttls_options opt = { .timeout_ms = 1000 };
	assert_int_equal(ts_starttls_run(sv[0], TS_STARTTLS_SMTP, &opt, NULL, &err), TS_E_CLOSED);
	assert_contains(err.msg, "closed the connection");
	assert_contains(err.msg, "220-mx");
	close(sv[0]);
}

static char *repeat_lines(const char *prefix, size_t line_len, size_t total, const char *last)
{
	char *s = malloc(total + line_len + strlen(last) + 8);
	size_t n = 0;
	while (n < total) {
		size_t p = strlen(prefix);
		memcpy(s + n, prefix, p);
		memset(s + n + p, 'x', line_len);
		memcpy(s + n + p + line_len, "\r\n", 2);
		n += p + line_len + 2;
	}
	strcpy(s + n, last);
	return s;
}

static void smtp_huge_greeting_is_bounded(void **state)
{
	char *many = repeat_lines("220-", 70, 100000, "220 ok\r\n");
	const struct step steps[] = { SEND(many), END };
	struct outcome o;
	converse(TS_STARTTLS_SMTP, steps, 2000, &o);
	assert_int_equal(o.rc, TS_E_PROTOCOL);
	assert_contains(o.err.msg, "the greeting exceeds the limit of 65536 bytes");
	assert_true(o.res.truncated);
	assert_true(o.res.transcript_len <= TS_STARTTLS_TRANSCRIPT_MAX);
	assert_int_equal(strlen(o.res.transcript), o.res.transcript_len);
	done(&o);
	free(many);

	char *one = repeat_lines("220 ", 100000, 1, "");
	const struct step steps2[] = { SEND(one), END };
	converse(TS_STARTTLS_SMTP, steps2, 2000, &o);
	assert_int_equal(o.rc, TS_E_PROTOCOL);
	assert_contains(o.err.msg, "longer than the limit of 8192 bytes");
	done(&o);
	free(one);
}

static void lmtp_good(void **state)
{
	const struct step steps[] = {
		SEND("220 lmtp.example.test LMTP ready\r\n"), EXPECT("LHLO client.test\r\n"),
		SEND("250-lmtp.example.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"),
		EXPECT("STARTTLS\r\n"), SEND("220 2.0.0 Begin TLS\r\n"), END,
	};
	expect_ok(TS_STARTTLS_LMTP, steps);
}

/* ---- IMAP, POP3 ---- */

static void imap_good(void **state)
{
	const struct step steps[] = {
		SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
		     "LOGINDISABLED] Dovecot ready.\r\n"),
		EXPECT("a1 CAPABILITY\r\n"),
		SEND("* CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED\r\na1 OK Pre-login capabilities listed\r\n"),
		EXPECT("a2 STARTTLS\r\n"), SEND("a2 OK Begin TLS negotiation now.\r\n"), END,
	};
	expect_ok(TS_STARTTLS_IMAP, steps);
}

static void imap_failures(void **state)
{
	const struct step preauth[] = { SEND("* PREAUTH logged in\r\n"), END };
	expect_fail(TS_STARTTLS_IMAP, preauth, TS_E_PROTOCOL, "PREAUTH", "logged in");
	const struct step bye[] = { SEND("* BYE too many connections\r\n"), END };
	expect_fail(TS_STARTTLS_IMAP, bye, TS_E_PROTOCOL, "not '* OK'", "too many connections");
	const struct step nocap[] = {
		SEND("* OK ready\r\n"), EXPECT("a1 CAPABILITY"), SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK\r\n"),
		END,
	};
	expect_fail(TS_STARTTLS_IMAP, nocap, TS_E_PROTOCOL, "does not offer STARTTLS", "AUTH=PLAIN");
	const struct step no[] = {
		SEND("* OK ready\r\n"), EXPECT("a1 CAPABILITY"), SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK\r\n"),
		EXPECT("a2 STARTTLS"), SEND("a2 NO [UNAVAILABLE] TLS is broken today\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IMAP, no, TS_E_PROTOCOL, "answered STARTTLS", "TLS is broken today");
	const struct step inj[] = {
		SEND("* OK ready\r\n"), EXPECT("a1 CAPABILITY"), SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK\r\n"),
		EXPECT("a2 STARTTLS"), SEND("a2 OK go\r\n* OK injected\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IMAP, inj, TS_E_PROTOCOL, "injection", "* OK injected");
}

static void pop3_good(void **state)
{
	const struct step steps[] = {
		SEND("+OK Dovecot ready.\r\n"), EXPECT("CAPA\r\n"),
		SEND("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nSTLS\r\nSASL PLAIN\r\n.\r\n"), EXPECT("STLS\r\n"),
		SEND("+OK Begin TLS negotiation now.\r\n"), END,
	};
	expect_ok(TS_STARTTLS_POP3, steps);
}

static void pop3_failures(void **state)
{
	const struct step nostls[] = {
		SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("+OK\r\nTOP\r\nUSER\r\n.\r\n"), END,
	};
	expect_fail(TS_STARTTLS_POP3, nostls, TS_E_PROTOCOL, "does not offer STLS", "USER");
	const struct step err[] = {
		SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("+OK\r\nSTLS\r\n.\r\n"), EXPECT("STLS"),
		SEND("-ERR [IN-USE] TLS already active\r\n"), END,
	};
	expect_fail(TS_STARTTLS_POP3, err, TS_E_PROTOCOL, "refused STLS", "-ERR [IN-USE] TLS already active");
	const struct step greet[] = { SEND("-ERR go away\r\n"), END };
	expect_fail(TS_STARTTLS_POP3, greet, TS_E_PROTOCOL, "greeting", "-ERR go away");
}

/* ---- FTP, NNTP ---- */

static void ftp_good(void **state)
{
	const struct step steps[] = {
		SEND("220-Welcome to the FTP service.\r\n This is a banner.\r\n220 Ready\r\n"), EXPECT("FEAT\r\n"),
		SEND("211-Features:\r\n EPRT\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n"), EXPECT("AUTH TLS\r\n"),
		SEND("234 Proceed with negotiation.\r\n"), END,
	};
	expect_ok(TS_STARTTLS_FTP, steps);
}

static void ftp_failures(void **state)
{
	const struct step noauth[] = {
		SEND("220 Ready\r\n"), EXPECT("FEAT"), SEND("211-Features:\r\n EPRT\r\n211 End\r\n"), END,
	};
	expect_fail(TS_STARTTLS_FTP, noauth, TS_E_PROTOCOL, "does not offer AUTH TLS", "EPRT");
	const struct step refused[] = {
		SEND("220 Ready\r\n"), EXPECT("FEAT"), SEND("500 FEAT not understood\r\n"), EXPECT("AUTH TLS"),
		SEND("530 Please login with USER and PASS.\r\n"), END,
	};
	expect_fail(TS_STARTTLS_FTP, refused, TS_E_PROTOCOL, "refused AUTH TLS", "530 Please login");
}

static void nntp_good_and_refused(void **state)
{
	const struct step steps[] = {
		SEND("200 news.example.test InterNetNews server ready\r\n"), EXPECT("CAPABILITIES\r\n"),
		SEND("101 Capability list:\r\nVERSION 2\r\nREADER\r\nSTARTTLS\r\n.\r\n"), EXPECT("STARTTLS\r\n"),
		SEND("382 Continue with TLS negotiation\r\n"), END,
	};
	expect_ok(TS_STARTTLS_NNTP, steps);
	const struct step refused[] = {
		SEND("201 ready\r\n"), EXPECT("CAPABILITIES"), SEND("101 caps\r\nVERSION 2\r\nSTARTTLS\r\n.\r\n"),
		EXPECT("STARTTLS"), SEND("580 Can not initiate TLS negotiation\r\n"), END,
	};
	expect_fail(TS_STARTTLS_NNTP, refused, TS_E_PROTOCOL, "refused STARTTLS", "580 Can not initiate");
}

/* ---- ManageSieve, IRC ---- */

static void sieve_good_and_not_offered(void **state)
{
	const struct step steps[] = {
		SEND("\"IMPLEMENTATION\" \"Dovecot Pigeonhole\"\r\n\"SIEVE\" \"fileinto reject\"\r\n"
		     "\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\nOK \"Dovecot ready.\"\r\n"),
		EXPECT("STARTTLS\r\n"), SEND("OK \"Begin TLS negotiation now.\"\r\n"), END,
	};
	expect_ok(TS_STARTTLS_SIEVE, steps);
	const struct step not[] = { SEND("\"IMPLEMENTATION\" \"x\"\r\nOK \"ready\"\r\n"), END };
	expect_fail(TS_STARTTLS_SIEVE, not, TS_E_PROTOCOL, "does not offer STARTTLS", "IMPLEMENTATION");
	const struct step no[] = {
		SEND("\"STARTTLS\"\r\nOK\r\n"), EXPECT("STARTTLS"), SEND("NO \"no TLS for you\"\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SIEVE, no, TS_E_PROTOCOL, "answered STARTTLS", "no TLS for you");
}

static void irc_good_and_failed(void **state)
{
	const struct step steps[] = {
		SEND(":irc.example.test NOTICE * :*** Looking up your hostname...\r\n"), EXPECT("CAP LS\r\n"),
		SEND("PING :12345\r\n"), EXPECT("PONG :12345\r\n"),
		SEND(":irc.example.test CAP * LS * :multi-prefix sasl\r\n:irc.example.test CAP * LS :tls away-notify\r\n"),
		EXPECT("STARTTLS\r\n"), SEND(":irc.example.test 670 * :STARTTLS successful, go ahead with TLS handshake\r\n"),
		END,
	};
	expect_ok(TS_STARTTLS_IRC, steps);
	const struct step failed[] = {
		EXPECT("CAP LS"), SEND(":irc CAP * LS :tls\r\n"), EXPECT("STARTTLS"),
		SEND(":irc 691 * :STARTTLS failed (Internal error)\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IRC, failed, TS_E_PROTOCOL, "691", "Internal error");
	const struct step notls[] = { EXPECT("CAP LS"), SEND(":irc CAP * LS :sasl multi-prefix\r\n"), END };
	expect_fail(TS_STARTTLS_IRC, notls, TS_E_PROTOCOL, "does not offer STARTTLS", "sasl multi-prefix");
	const struct step nocap[] = {
		EXPECT("CAP LS"), SEND(":irc 421 * CAP :Unknown command\r\n"), EXPECT("STARTTLS"),
		SEND(":irc 421 * STARTTLS :Unknown command\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IRC, nocap, TS_E_PROTOCOL, "refused STARTTLS", "Unknown command");
}

/* ---- XMPP ---- */

static void xmpp_good(void **state)
{
	const struct step steps[] = {
		UNTIL("to='mail.example.test' version='1.0'>"),
		SEND("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/"
		     "streams' id='c2s1' from='mail.example.test' version='1.0'><stream:features><starttls xmlns='urn:"
		     "ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:"
		     "xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"),
		EXPECTN(51, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
		SEND("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), END,
	};
	expect_ok(TS_STARTTLS_XMPP, steps);
}

static void xmpp_server_good_and_failures(void **state)
{
	const struct step steps[] = {
		UNTIL("from='client.test' to='mail.example.test' version='1.0'>"),
		SEND("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/"
		     "streams' version='1.0'><stream:features><starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>"
		     "</stream:features>"),
		EXPECTN(51, NULL), SEND("<proceed xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>"), END,
	};
	expect_ok(TS_STARTTLS_XMPP_SERVER, steps);
	const struct step failure[] = {
		UNTIL("version='1.0'>"),
		SEND("<stream:stream version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		     "</stream:features>"),
		EXPECTN(51, NULL), SEND("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"), END,
	};
	expect_fail(TS_STARTTLS_XMPP, failure, TS_E_PROTOCOL, "refused starttls", "<failure");
	const struct step none[] = {
		UNTIL("version='1.0'>"), SEND("<stream:stream version='1.0'><stream:features/>"), END,
	};
	expect_fail(TS_STARTTLS_XMPP, none, TS_E_PROTOCOL, "does not offer STARTTLS", "<stream:features/>");
	const struct step err[] = {
		UNTIL("version='1.0'>"),
		SEND("<stream:stream><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
		     "</stream:error></stream:stream>"),
		END,
	};
	expect_fail(TS_STARTTLS_XMPP, err, TS_E_PROTOCOL, "ended the stream", "host-unknown");
	const struct step inj[] = {
		UNTIL("version='1.0'>"),
		SEND("<stream:stream version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		     "</stream:features>"),
		EXPECTN(51, NULL), SEND("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message>evil</message>"),
		END,
	};
	expect_fail(TS_STARTTLS_XMPP, inj, TS_E_PROTOCOL, "injection", "<message>evil");
}

/* ---- LDAP ---- */

static const uint8_t ldap_request[] = {
	0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16, '1', '.', '3', '.', '6', '.', '1', '.',
	'4',  '.',  '1',  '.',  '1',  '4',  '6',  '6',  '.',  '2', '0', '0', '3', '7',
};

static void ldap_good(void **state)
{
	static const uint8_t ok[] = { 0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00 };
	const struct step steps[] = { EXPECTN(sizeof ldap_request, ldap_request), SENDN(ok, sizeof ok), END };
	expect_ok(TS_STARTTLS_LDAP, steps);
	/* long-form lengths are fine too */
	static const uint8_t ok_long[] = { 0x30, 0x81, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a,
	                                   0x01, 0x00, 0x04, 0x00, 0x04, 0x00 };
	const struct step steps2[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(ok_long, sizeof ok_long), END };
	expect_ok(TS_STARTTLS_LDAP, steps2);
}

static void ldap_failures(void **state)
{
	static const uint8_t refused[] = {
		0x30, 0x2a, 0x02, 0x01, 0x01, 0x78, 0x25, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x1e,
		'u', 'n', 's', 'u', 'p', 'p', 'o', 'r', 't', 'e', 'd', ' ', 'e', 'x', 't', 'e', 'n', 'd', 'e', 'd',
		' ', 'o', 'p', 'e', 'r', 'a', 't', 'i', 'o', 'n',
	};
	const struct step steps[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(refused, sizeof refused), END };
	expect_fail(TS_STARTTLS_LDAP, steps, TS_E_PROTOCOL, "result 2 (protocolError)", "unsupported extended operation");
	static const uint8_t lying[] = { 0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x20, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00 };
	const struct step steps2[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(lying, sizeof lying), END };
	expect_fail(TS_STARTTLS_LDAP, steps2, TS_E_PROTOCOL, "not an LDAP ExtendedResponse", NULL);
	static const uint8_t huge[] = { 0x30, 0x84, 0x7f, 0xff, 0xff, 0xff };
	const struct step steps3[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(huge, sizeof huge), END };
	expect_fail(TS_STARTTLS_LDAP, steps3, TS_E_PROTOCOL, "not supported", NULL);
	static const uint8_t big[] = { 0x30, 0x83, 0x7f, 0xff, 0xff };
	const struct step steps4[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(big, sizeof big), END };
	expect_fail(TS_STARTTLS_LDAP, steps4, TS_E_PROTOCOL, "limit", NULL);
	static const uint8_t inj[] = { 0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
	                               0x00, 'X', 'Y' };
	const struct step steps5[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(inj, sizeof inj), END };
	expect_fail(TS_STARTTLS_LDAP, steps5, TS_E_PROTOCOL, "injection", "XY");
}

/* ---- PostgreSQL ---- */

static const uint8_t pg_request[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };

static void postgres_all(void **state)
{
	const struct step good[] = { EXPECTN(8, pg_request), SEND("S"), END };
	expect_ok(TS_STARTTLS_POSTGRES, good);
	const struct step no[] = { EXPECTN(8, pg_request), SEND("N"), END };
	expect_fail(TS_STARTTLS_POSTGRES, no, TS_E_PROTOCOL, "answered 'N'", NULL);
	const struct step inj2[] = { EXPECTN(8, pg_request), SENDN("SR\x00\x00\x00\x08\x00\x00\x00\x00", 10), END };
	expect_fail(TS_STARTTLS_POSTGRES, inj2, TS_E_PROTOCOL, "injection", "R\\x00");
	static const uint8_t e[] = { 'E', 0, 0, 0, 0x20, 'S', 'F', 'A', 'T', 'A', 'L', 0, 'M', 'u', 'n', 's',
	                             'u',  'p', 'p', 'o', 'r', 't', 'e', 'd', ' ', 'p', 'r', 'o', 't', 'o', 0, 0, 0 };
	const struct step err[] = { EXPECTN(8, pg_request), SENDN(e, sizeof e), END };
	expect_fail(TS_STARTTLS_POSTGRES, err, TS_E_PROTOCOL, "refused SSLRequest", "unsupported proto");
	const struct step garbage[] = { EXPECTN(8, pg_request), SEND("HTTP/1.0 400\r\n"), END };
	expect_fail(TS_STARTTLS_POSTGRES, garbage, TS_E_PROTOCOL, "expected 'S' or 'N'", "HTTP/1.0");
}

/* ---- MySQL ---- */

static size_t mysql_handshake(uint8_t *p, uint32_t caps)
{
	size_t n = 4;
	p[n++] = 10;
	memcpy(p + n, "8.0.36", 7);
	n += 7;
	memset(p + n, 1, 4 + 8);
	n += 12;
	p[n++] = 0;
	p[n++] = (uint8_t)caps;
	p[n++] = (uint8_t)(caps >> 8);
	p[n++] = 0xff; /* charset */
	p[n++] = 2;
	p[n++] = 0;
	p[n++] = (uint8_t)(caps >> 16);
	p[n++] = (uint8_t)(caps >> 24);
	p[n++] = 21;
	memset(p + n, 0, 10);
	n += 10;
	memset(p + n, 2, 13);
	n += 13;
	memcpy(p + n, "caching_sha2_password", 22);
	n += 22;
	size_t len = n - 4;
	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = 0;
	p[3] = 0;
	return n;
}

static void mysql_all(void **state)
{
	uint8_t hs[256];
	size_t n = mysql_handshake(hs, 0xdfffffff);
	/* 32-byte payload, sequence 1; capabilities include CLIENT_SSL and PROTOCOL_41 */
	const struct step good[] = { SENDN(hs, n), EXPECTN(4, "\x20\x00\x00\x01"), EXPECTN(32, NULL), END };
	expect_ok(TS_STARTTLS_MYSQL, good);

	uint8_t nossl[256];
	size_t m = mysql_handshake(nossl, 0xdffff7ff);
	const struct step no[] = { SENDN(nossl, m), END };
	expect_fail(TS_STARTTLS_MYSQL, no, TS_E_PROTOCOL, "CLIENT_SSL is not among", "8.0.36");

	static const uint8_t err[] = { 0x2b, 0, 0, 0, 0xff, 0x6a, 0x04, 'H', 'o', 's', 't', ' ', '\'', '1', '0', '.', '0',
	                               '.', '0', '.', '1', '\'', ' ', 'i', 's', ' ', 'n', 'o', 't', ' ', 'a', 'l', 'l',
	                               'o', 'w', 'e', 'd', ' ', 't', 'o', ' ', 'c', 'o', 'n', 'n', 'e', 'c' };
	const struct step refused[] = { SENDN(err, sizeof err), END };
	expect_fail(TS_STARTTLS_MYSQL, refused, TS_E_PROTOCOL, "error 1130", "is not allowed");

	uint8_t inj[300];
	size_t k = mysql_handshake(inj, 0xdfffffff);
	memcpy(inj + k, "\x05\x00\x00\x01hello", 9);
	const struct step injected[] = { SENDN(inj, k + 9), END };
	expect_fail(TS_STARTTLS_MYSQL, injected, TS_E_PROTOCOL, "injection", "hello");

	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0x00, 10 };
	const struct step big[] = { SENDN(huge, sizeof huge), END };
	expect_fail(TS_STARTTLS_MYSQL, big, TS_E_PROTOCOL, "limit", NULL);
}

/* ---- every step's answer is checked, not only the upgrade's ---- */

static void smtp_like_steps(void **state)
{
	const struct step ehlo[] = {
		SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("502 5.5.2 Error: command not recognized\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SMTP, ehlo, TS_E_PROTOCOL, "refused EHLO", "502 5.5.2 Error");
	const struct step lhlo[] = { SEND("220 lmtp\r\n"), EXPECT("LHLO "), SEND("500 5.5.1 what?\r\n"), END };
	expect_fail(TS_STARTTLS_LMTP, lhlo, TS_E_PROTOCOL, "refused LHLO", "500 5.5.1 what?");
	/* a multi-line reply whose code changes half-way is not one reply */
	const struct step mixed[] = {
		SEND("220 mx ESMTP\r\n"), EXPECT("EHLO "), SEND("250-mx\r\n554 STARTTLS\r\n"), END,
	};
	expect_fail(TS_STARTTLS_SMTP, mixed, TS_E_PROTOCOL, "rest of the 250 reply", "250-mx | 554 STARTTLS");
}

static void imap_pop3_steps(void **state)
{
	const struct step capbad[] = {
		SEND("* OK ready\r\n"), EXPECT("a1 CAPABILITY"), SEND("a1 BAD unknown command\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IMAP, capbad, TS_E_PROTOCOL, "answered CAPABILITY", "a1 BAD unknown command");
	const struct step bye[] = {
		SEND("* OK ready\r\n"), EXPECT("a1 CAPABILITY"), SEND("* BYE shutting down\r\n"), END,
	};
	expect_fail(TS_STARTTLS_IMAP, bye, TS_E_PROTOCOL, "said goodbye", "shutting down");

	const struct step capa[] = { SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("HELLO?\r\n"), END };
	expect_fail(TS_STARTTLS_POP3, capa, TS_E_PROTOCOL, "+OK or -ERR to CAPA", "HELLO?");
	/* RFC 1939 servers know no CAPA: STLS itself decides */
	const struct step old[] = {
		SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("-ERR unknown command\r\n"), EXPECT("STLS"),
		SEND("+OK begin TLS\r\n"), END,
	};
	expect_ok(TS_STARTTLS_POP3, old);
	const struct step oldno[] = {
		SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("-ERR unknown command\r\n"), EXPECT("STLS"),
		SEND("-ERR unknown command\r\n"), END,
	};
	struct outcome o;
	converse(TS_STARTTLS_POP3, oldno, 500, &o);
	assert_int_equal(o.rc, TS_E_PROTOCOL);
	assert_contains(o.err.msg, "refused STLS: -ERR unknown command");
	assert_false(o.res.offered);
	done(&o);
}

static void ftp_nntp_steps(void **state)
{
	const struct step later[] = {
		SEND("120 ready in 1 minute\r\n"), SEND("220 ready\r\n"), EXPECT("FEAT"),
		SEND("211-Features:\r\n AUTH TLS\r\n211 End\r\n"), EXPECT("AUTH TLS"), SEND("234 go\r\n"), END,
	};
	expect_ok(TS_STARTTLS_FTP, later);
	const struct step busy[] = { SEND("421 Too many users\r\n"), END };
	expect_fail(TS_STARTTLS_FTP, busy, TS_E_PROTOCOL, "greeting is not 220", "421 Too many users");
	const struct step feat[] = { SEND("220 ready\r\n"), EXPECT("FEAT"), SEND("331 password please\r\n"), END };
	expect_fail(TS_STARTTLS_FTP, feat, TS_E_PROTOCOL, "unexpected answer to FEAT", "331 password please");

	const struct step greet[] = { SEND("400 service temporarily unavailable\r\n"), END };
	expect_fail(TS_STARTTLS_NNTP, greet, TS_E_PROTOCOL, "not 200 or 201", "400 service temporarily");
	const struct step caps[] = {
		SEND("200 ready\r\n"), EXPECT("CAPABILITIES"), SEND("500 What?\r\n"), END,
	};
	expect_fail(TS_STARTTLS_NNTP, caps, TS_E_PROTOCOL, "(101 expected)", "500 What?");
	const struct step notls[] = {
		SEND("200 ready\r\n"), EXPECT("CAPABILITIES"), SEND("101 caps\r\nVERSION 2\r\nREADER\r\n.\r\n"), END,
	};
	expect_fail(TS_STARTTLS_NNTP, notls, TS_E_PROTOCOL, "does not offer STARTTLS", "101 caps");
}

static void sieve_irc_steps(void **state)
{
	const struct step bye[] = { SEND("\"STARTTLS\"\r\nBYE \"too many connections\"\r\n"), END };
	expect_fail(TS_STARTTLS_SIEVE, bye, TS_E_PROTOCOL, "answered the greeting", "too many connections");

	const struct step error[] = { EXPECT("CAP LS"), SEND("ERROR :Closing Link: 127.0.0.1 (Banned)\r\n"), END };
	expect_fail(TS_STARTTLS_IRC, error, TS_E_PROTOCOL, "sent an error", "Banned");
	/* no capability negotiation (421 to CAP): the STARTTLS answer decides */
	const struct step nocap[] = {
		EXPECT("CAP LS"), SEND(":irc 421 * CAP :Unknown command\r\n"), EXPECT("STARTTLS"),
		SEND(":irc 670 * :STARTTLS successful\r\n"), END,
	};
	expect_ok(TS_STARTTLS_IRC, nocap);
}

static void ldap_mysql_postgres_steps(void **state)
{
	/* a Notice of Disconnection (message 0) instead of our answer */
	static const uint8_t notice[] = {
		0x30, 0x29, 0x02, 0x01, 0x00, 0x78, 0x24, 0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, 0x05, 'b', 'y', 'e', '!',
		'!', 0x8a, 0x16, '1', '.', '3', '.', '6', '.', '1', '.', '4', '.', '1', '.', '1', '4', '6', '6', '.',
		'2', '0', '0', '3', '6',
	};
	const struct step n1[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(notice, sizeof notice), END };
	expect_fail(TS_STARTTLS_LDAP, n1, TS_E_PROTOCOL, "unsolicited notice (result 52, unavailable)", "bye!!");
	static const uint8_t other[] = { 0x30, 0x0c, 0x02, 0x01, 0x02, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00 };
	const struct step n2[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(other, sizeof other), END };
	expect_fail(TS_STARTTLS_LDAP, n2, TS_E_PROTOCOL, "expected the answer to message 1, got message 2", NULL);
	static const uint8_t set[] = { 0x31, 0x00 };
	const struct step n3[] = { EXPECTN(sizeof ldap_request, NULL), SENDN(set, sizeof set), END };
	expect_fail(TS_STARTTLS_LDAP, n3, TS_E_PROTOCOL, "(tag 0x30), got tag 0x31", NULL);

	static const uint8_t v9[] = { 2, 0, 0, 0, 9, 0 };
	const struct step m1[] = { SENDN(v9, sizeof v9), END };
	expect_fail(TS_STARTTLS_MYSQL, m1, TS_E_PROTOCOL, "protocol version 10, got 9", NULL);
	static const uint8_t empty[] = { 0, 0, 0, 0 };
	const struct step m2[] = { SENDN(empty, sizeof empty), END };
	expect_fail(TS_STARTTLS_MYSQL, m2, TS_E_PROTOCOL, "handshake packet is empty", NULL);
	static const uint8_t unterminated[] = { 4, 0, 0, 0, 10, '8', '.', '0' };
	const struct step m3[] = { SENDN(unterminated, sizeof unterminated), END };
	expect_fail(TS_STARTTLS_MYSQL, m3, TS_E_PROTOCOL, "server version is not terminated", NULL);
	static const uint8_t truncated[] = { 10, 0, 0, 0, 10, '8', '.', '0', 0, 1, 2, 3, 4, 5 };
	const struct step m4[] = { SENDN(truncated, sizeof truncated), END };
	expect_fail(TS_STARTTLS_MYSQL, m4, TS_E_PROTOCOL, "truncated in 'connection id and auth data'", NULL);

	static const uint8_t huge[] = { 'E', 0x00, 0x01, 0x00, 0x00 };
	const struct step p1[] = { EXPECTN(8, pg_request), SENDN(huge, sizeof huge), END };
	expect_fail(TS_STARTTLS_POSTGRES, p1, TS_E_PROTOCOL, "ErrorResponse announces 65537 bytes, more than the limit of 65536", NULL);
}

static void refuses_names_that_would_inject(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct ts_error err = { 0 };
	struct ts_starttls_options opt = { .client_name = "a\r\nRCPT TO:<x>", .timeout_ms = 100 };
	assert_int_equal(ts_starttls_run(sv[0], TS_STARTTLS_SMTP, &opt, NULL, &err), TS_E_INVALID);
	struct ts_starttls_options opt2 = { .host = "x'/><evil", .timeout_ms = 100 };
	assert_int_equal(ts_starttls_run(sv[0], TS_STARTTLS_XMPP, &opt2, NULL, &err), TS_E_INVALID);
	assert_int_equal(ts_starttls_run(sv[0], (enum ts_starttls_proto)99, &opt2, NULL, &err), TS_E_INVALID);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_ports_and_parsing),
		cmocka_unit_test(none_needs_no_preamble),
		cmocka_unit_test(smtp_good),
		cmocka_unit_test(smtp_not_offered),
		cmocka_unit_test(smtp_refused),
		cmocka_unit_test(smtp_bad_greeting),
		cmocka_unit_test(smtp_injection_after_go_ahead),
		cmocka_unit_test(smtp_stall_times_out),
		cmocka_unit_test(smtp_closed),
		cmocka_unit_test(smtp_huge_greeting_is_bounded),
		cmocka_unit_test(lmtp_good),
		cmocka_unit_test(imap_good),
		cmocka_unit_test(imap_failures),
		cmocka_unit_test(pop3_good),
		cmocka_unit_test(pop3_failures),
		cmocka_unit_test(ftp_good),
		cmocka_unit_test(ftp_failures),
		cmocka_unit_test(nntp_good_and_refused),
		cmocka_unit_test(sieve_good_and_not_offered),
		cmocka_unit_test(irc_good_and_failed),
		cmocka_unit_test(xmpp_good),
		cmocka_unit_test(xmpp_server_good_and_failures),
		cmocka_unit_test(ldap_good),
		cmocka_unit_test(ldap_failures),
		cmocka_unit_test(postgres_all),
		cmocka_unit_test(mysql_all),
		cmocka_unit_test(smtp_like_steps),
		cmocka_unit_test(imap_pop3_steps),
		cmocka_unit_test(ftp_nntp_steps),
		cmocka_unit_test(sieve_irc_steps),
		cmocka_unit_test(ldap_mysql_postgres_steps),
		cmocka_unit_test(refuses_names_that_would_inject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
