/* The cleartext preamble before TLS: one small function per protocol, all on
 * top of a bounded, deadline-driven reader over a non-blocking socket. */
#include "tlsscope/starttls.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "tlsscope/net.h"

#define QUOTE_MAX 200             /* characters of server text quoted in a message */
#define IN_MAX (TS_STARTTLS_REPLY_MAX + 1)

struct session {
	int fd;
	enum ts_starttls_proto proto;
	const char *host;
	const char *client_name;
	int timeout_ms;
	uint64_t start_ns;
	uint64_t deadline_ns;
	const char *what;             /* what we are waiting for, for messages */
	size_t reply_bytes;           /* bytes of the current reply consumed so far */
	uint8_t *in;                  /* received, not yet consumed */
	size_t in_len;
	char *transcript;             /* TS_STARTTLS_TRANSCRIPT_MAX + 1 bytes */
	size_t transcript_len;
	bool truncated;
	bool offered;
	bool accepted;
	char reply[QUOTE_MAX * 2];    /* the current reply, joined with " | ", for quoting */
	size_t reply_len;
	struct ts_error *err;
};

/* ---- messages and the transcript ---- */

/* Escapes n bytes for a message or the transcript: printable ASCII as is,
 * everything else \xNN, cut with "..." at max output characters. */
static void escape(const uint8_t *p, size_t n, char *out, size_t size, size_t max)
{
	size_t o = 0;
	if (size == 0)
		return;
	if (max > size - 1)
		max = size - 1;
	for (size_t i = 0; i < n; i++) {
		char tmp[5];
		size_t k;
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			tmp[0] = (char)p[i];
			k = 1;
		} else {
			snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
			k = 4;
		}
		if (o + k > max || (i + 1 < n && o + k + 3 > max)) {
			if (o + 3 <= max) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o] = '\0';
}

static void transcript_add(struct session *s, char dir, const char *text)
{
	if (s->truncated)
		return;
	size_t n = strlen(text);
	const char *marker = "...(transcript truncated)\n";
	size_t room = TS_STARTTLS_TRANSCRIPT_MAX - s->transcript_len;
	if (n + 4 > room || room - (n + 4) < strlen(marker)) {
		size_t m = strlen(marker);
		if (m > room)
			m = room;
		memcpy(s->transcript + s->transcript_len, marker, m);
		s->transcript_len += m;
		s->transcript[s->transcript_len] = '\0';
		s->truncated = true;
		return;
	}
	char *t = s->transcript + s->transcript_len;
	t[0] = dir;
	t[1] = ':';
	t[2] = ' ';
	memcpy(t + 3, text, n);
	t[3 + n] = '\n';
	s->transcript_len += n + 4;
	s->transcript[s->transcript_len] = '\0';
}

static void transcript_bytes(struct session *s, char dir, const uint8_t *p, size_t n)
{
	char text[TS_STARTTLS_LINE_MAX * 4 + 8];
	escape(p, n, text, sizeof text, sizeof text - 1);
	transcript_add(s, dir, text);
}

static void transcript_printf(struct session *s, char dir, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void transcript_printf(struct session *s, char dir, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	transcript_add(s, dir, text);
}

static int fail(struct session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct session *s, int code, const char *fmt, ...)
{
	char text[TS_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	return ts_error_set(s->err, code, "%s: %s", ts_starttls_name(s->proto), text);
}

/* The current reply, as quoted in messages. */
static const char *quoted_reply(struct session *s)
{
	return s->reply_len > 0 ? s->reply : "(nothing)";
}

static void reply_begin(struct session *s, const char *what)
{
	s->what = what;
	s->reply_bytes = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
}

static void reply_note(struct session *s, const uint8_t *p, size_t n)
{
	size_t room = sizeof s->reply - s->reply_len;
	if (room <= 4)
		return;
	if (s->reply_len > 0) {
		memcpy(s->reply + s->reply_len, " | ", 3);
		s->reply_len += 3;
		room -= 3;
	}
	escape(p, n, s->reply + s->reply_len, room, QUOTE_MAX);
	s->reply_len += strlen(s->reply + s->reply_len);
	if (s->reply_len > QUOTE_MAX && s->reply_len + 4 < sizeof s->reply) {
		/* keep messages short: the first QUOTE_MAX characters say enough */
		s->reply_len = QUOTE_MAX;
		memcpy(s->reply + s->reply_len, "...", 4);
		s->reply_len += 3;
	}
}

/* ---- bounded I/O ---- */

static int remaining_ms(struct session *s)
{
	uint64_t now = ts_monotonic_ns();
	if (now >= s->deadline_ns)
		return 0;
	return (int)((s->deadline_ns - now + 999999) / 1000000);
}

/* What the server had sent of the reply we wait for, quoted. */
static void sent_so_far(struct session *s, char *out, size_t size)
{
	if (s->reply_len > 0 && s->in_len > 0) {
		char rest[QUOTE_MAX + 8];
		escape(s->in, s->in_len, rest, sizeof rest, 80);
		snprintf(out, size, "%s | %s", s->reply, rest);
	} else if (s->reply_len > 0) {
		snprintf(out, size, "%s", s->reply);
	} else {
		escape(s->in, s->in_len, out, size, QUOTE_MAX);
	}
}

static int timed_out(struct session *s)
{
	char q[QUOTE_MAX * 4];
	sent_so_far(s, q, sizeof q);
	return fail(s, TS_E_TIMEOUT, "no complete answer within %d ms while waiting for %s%s%s", s->timeout_ms,
	            s->what, q[0] != '\0' ? "; the server had sent: " : " (the server sent nothing)", q);
}

/* Reads more bytes into s->in, waiting until the deadline at most. */
static int fill(struct session *s)
{
	if (s->in_len >= IN_MAX)
		return fail(s, TS_E_PROTOCOL, "%s exceeds the limit of %d bytes", s->what, TS_STARTTLS_REPLY_MAX);
	int left = remaining_ms(s);
	if (left <= 0)
		return timed_out(s);
	struct ts_error e = { 0 };
	ssize_t got = ts_read_timeout(s->fd, s->in + s->in_len, IN_MAX - s->in_len, left, &e);
	if (got == TS_E_TIMEOUT)
		return timed_out(s);
	if (got == TS_E_CLOSED) {
		char q[QUOTE_MAX * 4];
		sent_so_far(s, q, sizeof q);
		return fail(s, TS_E_CLOSED, "the server closed the connection while we waited for %s%s%s", s->what,
		            q[0] != '\0' ? "; it had sent: " : "", q);
	}
	if (got < 0)
		return fail(s, (int)got, "while waiting for %s: %s", s->what, e.msg);
	s->in_len += (size_t)got;
	return TS_OK;
}

static void consume(struct session *s, size_t n)
{
	memmove(s->in, s->in + n, s->in_len - n);
	s->in_len -= n;
}

/* Makes sure at least n bytes are buffered. */
static int need(struct session *s, size_t n)
{
	if (n > IN_MAX)
		return fail(s, TS_E_PROTOCOL, "%s announces %zu bytes, more than the limit of %d", s->what, n,
		            TS_STARTTLS_REPLY_MAX);
	while (s->in_len < n) {
		int rc = fill(s);
		if (rc != TS_OK)
			return rc;
	}
	return TS_OK;
}

/* Reads one line (without CR LF) into line (TS_STARTTLS_LINE_MAX + 1 bytes),
 * counting it against the current reply's limit. */
static int read_line(struct session *s, char *line, size_t *len)
{
	size_t scanned = 0;
	for (;;) {
		uint8_t *nl = memchr(s->in + scanned, '\n', s->in_len - scanned);
		if (nl != NULL) {
			size_t n = (size_t)(nl - s->in);
			size_t take = n + 1;
			if (n > TS_STARTTLS_LINE_MAX)
				break;
			s->reply_bytes += take;
			if (s->reply_bytes > TS_STARTTLS_REPLY_MAX)
				return fail(s, TS_E_PROTOCOL, "%s exceeds the limit of %d bytes; it began: %s", s->what,
				            TS_STARTTLS_REPLY_MAX, quoted_reply(s));
			if (n > 0 && s->in[n - 1] == '\r')
				n--;
			memcpy(line, s->in, n);
			line[n] = '\0';
			transcript_bytes(s, 'S', s->in, n);
			reply_note(s, s->in, n);
			consume(s, take);
			*len = n;
			return TS_OK;
		}
		scanned = s->in_len;
		if (s->in_len > TS_STARTTLS_LINE_MAX)
			break;
		int rc = fill(s);
		if (rc != TS_OK)
			return rc;
	}
	char begin[QUOTE_MAX + 8];
	escape(s->in, s->in_len, begin, sizeof begin, 80);
	return fail(s, TS_E_PROTOCOL, "a line of %s is longer than the limit of %d bytes; it began: %s", s->what,
	            TS_STARTTLS_LINE_MAX, begin);
}

static int send_bytes(struct session *s, const void *p, size_t n)
{
	int left = remaining_ms(s);
	if (left <= 0)
		return fail(s, TS_E_TIMEOUT, "out of time (%d ms) before sending our request", s->timeout_ms);
	struct ts_error e = { 0 };
	int rc = ts_write_all(s->fd, p, n, left, &e);
	if (rc != TS_OK)
		return fail(s, rc, "sending our request: %s", e.msg);
	return TS_OK;
}

static int send_line(struct session *s, const char *text)
{
	char buf[TS_STARTTLS_LINE_MAX];
	int n = snprintf(buf, sizeof buf, "%s\r\n", text);
	if (n < 0 || (size_t)n >= sizeof buf)
		return fail(s, TS_E_INVALID, "our own command is too long");
	transcript_add(s, 'C', text);
	return send_bytes(s, buf, (size_t)n);
}

/* After the go-ahead the next bytes must be the server's answer to our
 * ClientHello; anything already here was sent before it could have seen one. */
static int no_injection(struct session *s)
{
	s->accepted = true;
	uint8_t peek[256];
	size_t n = s->in_len < sizeof peek ? s->in_len : sizeof peek;
	if (n > 0) {
		memcpy(peek, s->in, n);
	} else {
		ssize_t got;
		do
			got = recv(s->fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
		while (got < 0 && errno == EINTR);
		if (got == 0)
			return fail(s, TS_E_CLOSED, "the server closed the connection right after its go-ahead");
		if (got < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK)
			               ? TS_OK
			               : fail(s, TS_E_CONNECT, "after the go-ahead: %s", strerror(errno));
		n = (size_t)got;
	}
	char q[QUOTE_MAX + 8];
	escape(peek, n, q, sizeof q, 120);
	transcript_printf(s, 'S', "(injected before the TLS handshake) %s", q);
	return fail(s, TS_E_PROTOCOL,
	            "refusing the connection: the server sent %zu%s bytes after its go-ahead and before our "
	            "TLS handshake (a plaintext injection attempt, the CVE-2011-0411 class): %s",
	            n, n == sizeof peek ? "+" : "", q);
}

/* ---- small text helpers ---- */

static bool ieq_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* True when text, after leading blanks, starts with the words of keyword
 * (case-insensitive) followed by its end, a blank, '=' or ';'. */
static bool has_keyword(const char *text, const char *keyword)
{
	while (*text == ' ' || *text == '\t')
		text++;
	size_t n = strlen(keyword);
	if (strncasecmp(text, keyword, n) != 0)
		return false;
	char c = text[n];
	return c == '\0' || c == ' ' || c == '\t' || c == '=' || c == ';';
}

/* True when token is one of the words of text (split on blanks and brackets). */
static bool has_token(const char *text, const char *token)
{
	size_t n = strlen(token);
	const char *p = text;
	while (*p != '\0') {
		while (*p != '\0' && strchr(" \t[]()\"", *p) != NULL)
			p++;
		const char *w = p;
		while (*p != '\0' && strchr(" \t[]()\"", *p) == NULL)
			p++;
		if ((size_t)(p - w) == n && strncasecmp(w, token, n) == 0)
			return true;
	}
	return false;
}

static int code_of(const char *line)
{
	if (!isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	if (line[3] != '\0' && line[3] != ' ' && line[3] != '-')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Reads a numbered reply, one line or several (SMTP "250-...", FTP "211-"
 * ... "211 End").  *found tells whether a line's text starts with keyword. */
static int read_code_reply(struct session *s, const char *what, int *code, const char *keyword, bool *found)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	reply_begin(s, what);
	if (found != NULL)
		*found = false;
	int rc = read_line(s, line, &len);
	if (rc != TS_OK)
		return rc;
	int first = code_of(line);
	if (first < 0)
		return fail(s, TS_E_PROTOCOL, "expected a three-digit reply code in %s, got: %s", what, quoted_reply(s));
	*code = first;
	bool more = line[3] == '-';
	while (more) {
		rc = read_line(s, line, &len);
		if (rc != TS_OK)
			return rc;
		int c = code_of(line);
		if (c == first && line[3] != '-') {
			more = false;
		} else if (s->proto != TS_STARTTLS_FTP && c != first) {
			/* SMTP-style replies repeat the code on every line */
			return fail(s, TS_E_PROTOCOL, "expected the rest of the %d reply in %s, got: %s", first, what,
			            quoted_reply(s));
		}
		if (found != NULL && keyword != NULL) {
			const char *text = c >= 0 ? line + (line[3] == '\0' ? 3 : 4) : line;
			if (has_keyword(text, keyword))
				*found = true;
		}
	}
	return TS_OK;
}

/* Reads a POP3/NNTP multi-line body up to the "." line; *found as above. */
static int read_dot_body(struct session *s, const char *keyword, bool *found)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	*found = false;
	for (;;) {
		int rc = read_line(s, line, &len);
		if (rc != TS_OK)
			return rc;
		if (strcmp(line, ".") == 0)
			return TS_OK;
		const char *text = line[0] == '.' ? line + 1 : line;
		if (has_keyword(text, keyword))
			*found = true;
	}
}

/* ---- the protocols ---- */

static int smtp_like(struct session *s, const char *hello)
{
	int code, rc;
	bool found;
	char cmd[TS_HOST_MAX + 16];
	if ((rc = read_code_reply(s, "the greeting", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 220)
		return fail(s, TS_E_PROTOCOL, "the server's greeting is not 220 (ready): %s", quoted_reply(s));
	snprintf(cmd, sizeof cmd, "%s %s", hello, s->client_name);
	if ((rc = send_line(s, cmd)) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, hello[0] == 'L' ? "the LHLO reply" : "the EHLO reply", &code, "STARTTLS",
	                          &found)) != TS_OK)
		return rc;
	if (code != 250)
		return fail(s, TS_E_PROTOCOL, "the server refused %s: %s", hello, quoted_reply(s));
	if (!found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS; its %s reply was: %s", hello,
		            quoted_reply(s));
	s->offered = true;
	if ((rc = send_line(s, "STARTTLS")) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, "the STARTTLS reply", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 220)
		return fail(s, TS_E_PROTOCOL, "the server refused STARTTLS: %s", quoted_reply(s));
	return no_injection(s);
}

static int smtp(struct session *s)
{
	return smtp_like(s, "EHLO");
}

static int lmtp(struct session *s)
{
	return smtp_like(s, "LHLO");
}

/* Reads IMAP lines until the tagged answer; *found when an untagged
 * CAPABILITY (or the greeting's [CAPABILITY ...]) lists STARTTLS. */
static int imap_tagged(struct session *s, const char *tag, const char *what, bool *found)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	size_t tl = strlen(tag);
	reply_begin(s, what);
	for (;;) {
		int rc = read_line(s, line, &len);
		if (rc != TS_OK)
			return rc;
		if (strncmp(line, tag, tl) == 0 && line[tl] == ' ') {
			if (!ieq_prefix(line + tl + 1, "OK"))
				return fail(s, TS_E_PROTOCOL, "the server answered %s with: %s", what, quoted_reply(s));
			return TS_OK;
		}
		if (ieq_prefix(line, "* BYE"))
			return fail(s, TS_E_PROTOCOL, "the server said goodbye: %s", quoted_reply(s));
		if (found != NULL && ieq_prefix(line, "* CAPABILITY ") && has_token(line + 13, "STARTTLS"))
			*found = true;
	}
}

static int imap(struct session *s)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	int rc;
	bool found = false;
	reply_begin(s, "the greeting");
	if ((rc = read_line(s, line, &len)) != TS_OK)
		return rc;
	if (ieq_prefix(line, "* PREAUTH"))
		return fail(s, TS_E_PROTOCOL,
		            "the server greeted with PREAUTH, which leaves no room for STARTTLS: %s", quoted_reply(s));
	if (!ieq_prefix(line, "* OK"))
		return fail(s, TS_E_PROTOCOL, "the server's greeting is not '* OK': %s", quoted_reply(s));
	if ((rc = send_line(s, "a1 CAPABILITY")) != TS_OK)
		return rc;
	if ((rc = imap_tagged(s, "a1", "CAPABILITY", &found)) != TS_OK)
		return rc;
	if (!found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS; its CAPABILITY reply was: %s",
		            quoted_reply(s));
	s->offered = true;
	if ((rc = send_line(s, "a2 STARTTLS")) != TS_OK)
		return rc;
	if ((rc = imap_tagged(s, "a2", "STARTTLS", NULL)) != TS_OK)
		return rc;
	return no_injection(s);
}

static int pop3(struct session *s)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	int rc;
	bool found = false, capa = false;
	reply_begin(s, "the greeting");
	if ((rc = read_line(s, line, &len)) != TS_OK)
		return rc;
	if (!ieq_prefix(line, "+OK"))
		return fail(s, TS_E_PROTOCOL, "the server's greeting is not '+OK': %s", quoted_reply(s));
	if ((rc = send_line(s, "CAPA")) != TS_OK)
		return rc;
	reply_begin(s, "the CAPA reply");
	if ((rc = read_line(s, line, &len)) != TS_OK)
		return rc;
	if (ieq_prefix(line, "+OK")) {
		capa = true;
		if ((rc = read_dot_body(s, "STLS", &found)) != TS_OK)
			return rc;
		if (!found)
			return fail(s, TS_E_PROTOCOL, "the server does not offer STLS; its CAPA reply was: %s",
			            quoted_reply(s));
	} else if (!ieq_prefix(line, "-ERR")) {
		return fail(s, TS_E_PROTOCOL, "expected +OK or -ERR to CAPA, got: %s", quoted_reply(s));
	}
	/* Without CAPA (RFC 1939 servers) only STLS itself can tell. */
	s->offered = capa;
	if ((rc = send_line(s, "STLS")) != TS_OK)
		return rc;
	reply_begin(s, "the STLS reply");
	if ((rc = read_line(s, line, &len)) != TS_OK)
		return rc;
	if (!ieq_prefix(line, "+OK"))
		return fail(s, TS_E_PROTOCOL, "the server refused STLS: %s", quoted_reply(s));
	s->offered = true;
	return no_injection(s);
}

static int ftp(struct session *s)
{
	int code, rc;
	bool found = false;
	do {
		/* 120: "ready in n minutes", then the real greeting */
		if ((rc = read_code_reply(s, "the greeting", &code, NULL, NULL)) != TS_OK)
			return rc;
	} while (code >= 100 && code < 200);
	if (code != 220)
		return fail(s, TS_E_PROTOCOL, "the server's greeting is not 220 (ready): %s", quoted_reply(s));
	if ((rc = send_line(s, "FEAT")) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, "the FEAT reply", &code, "AUTH TLS", &found)) != TS_OK)
		return rc;
	if (code == 211 && !found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer AUTH TLS; its FEAT reply was: %s",
		            quoted_reply(s));
	if (code != 211 && code < 500)
		return fail(s, TS_E_PROTOCOL, "unexpected answer to FEAT: %s", quoted_reply(s));
	/* A server without FEAT (5xx) may still know AUTH TLS: its answer decides. */
	s->offered = found;
	if ((rc = send_line(s, "AUTH TLS")) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, "the AUTH TLS reply", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 234)
		return fail(s, TS_E_PROTOCOL, "the server refused AUTH TLS: %s", quoted_reply(s));
	s->offered = true;
	return no_injection(s);
}

static int nntp(struct session *s)
{
	int code, rc;
	bool found = false;
	if ((rc = read_code_reply(s, "the greeting", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 200 && code != 201)
		return fail(s, TS_E_PROTOCOL, "the server's greeting is not 200 or 201: %s", quoted_reply(s));
	if ((rc = send_line(s, "CAPABILITIES")) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, "the CAPABILITIES reply", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 101)
		return fail(s, TS_E_PROTOCOL, "the server did not list its capabilities (101 expected): %s",
		            quoted_reply(s));
	if ((rc = read_dot_body(s, "STARTTLS", &found)) != TS_OK)
		return rc;
	if (!found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS; its CAPABILITIES were: %s",
		            quoted_reply(s));
	s->offered = true;
	if ((rc = send_line(s, "STARTTLS")) != TS_OK)
		return rc;
	if ((rc = read_code_reply(s, "the STARTTLS reply", &code, NULL, NULL)) != TS_OK)
		return rc;
	if (code != 382)
		return fail(s, TS_E_PROTOCOL, "the server refused STARTTLS: %s", quoted_reply(s));
	return no_injection(s);
}

/* ManageSieve (RFC 5804): capability lines, then OK, NO or BYE. */
static int sieve_response(struct session *s, const char *what, bool *found)
{
	char line[TS_STARTTLS_LINE_MAX + 1];
	size_t len;
	reply_begin(s, what);
	for (;;) {
		int rc = read_line(s, line, &len);
		if (rc != TS_OK)
			return rc;
		if (ieq_prefix(line, "OK") && (line[2] == '\0' || line[2] == ' '))
			return TS_OK;
		if ((ieq_prefix(line, "NO") && (line[2] == '\0' || line[2] == ' ')) ||
		    (ieq_prefix(line, "BYE") && (line[3] == '\0' || line[3] == ' ')))
			return fail(s, TS_E_PROTOCOL, "the server answered %s with: %s", what, quoted_reply(s));
		if (found != NULL && ieq_prefix(line, "\"STARTTLS\""))
			*found = true;
	}
}

static int sieve(struct session *s)
{
	int rc;
	bool found = false;
	if ((rc = sieve_response(s, "the greeting", &found)) != TS_OK)
		return rc;
	if (!found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS; its capabilities were: %s",
		            quoted_reply(s));
	s->offered = true;
	if ((rc = send_line(s, "STARTTLS")) != TS_OK)
		return rc;
	if ((rc = sieve_response(s, "STARTTLS", NULL)) != TS_OK)
		return rc;
	return no_injection(s);
}

/* IRC: ":prefix COMMAND params" lines.  Returns the command word and the
 * rest; skips the prefix. */
static const char *irc_command(const char *line, char *cmd, size_t size)
{
	const char *p = line;
	if (*p == ':') {
		while (*p != '\0' && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	size_t n = 0;
	while (p[n] != '\0' && p[n] != ' ')
		n++;
	if (n >= size)
		n = size - 1;
	memcpy(cmd, p, n);
	cmd[n] = '\0';
	p += n;
	while (*p == ' ')
		p++;
	return p;
}

static int irc(struct session *s)
{
	char line[TS_STARTTLS_LINE_MAX + 1], cmd[32];
	size_t len;
	int rc;
	bool cap_known = true, cap_done = false, found = false;
	if ((rc = send_line(s, "CAP LS")) != TS_OK)
		return rc;
	reply_begin(s, "the CAP LS reply");
	while (!cap_done) {
		if ((rc = read_line(s, line, &len)) != TS_OK)
			return rc;
		const char *rest = irc_command(line, cmd, sizeof cmd);
		if (strcasecmp(cmd, "PING") == 0) {
			char pong[TS_STARTTLS_LINE_MAX + 8];
			snprintf(pong, sizeof pong, "PONG %s", rest);
			if ((rc = send_line(s, pong)) != TS_OK)
				return rc;
		} else if (strcasecmp(cmd, "ERROR") == 0) {
			return fail(s, TS_E_PROTOCOL, "the server sent an error: %s", quoted_reply(s));
		} else if (strcasecmp(cmd, "CAP") == 0) {
			/* "nick LS [*] :caps"; a "*" before the list means more lines follow */
			const char *ls = strstr(rest, " LS ");
			if (ls == NULL)
				continue;
			const char *list = strchr(ls + 4, ':');
			bool more = strncmp(ls + 4, "* ", 2) == 0;
			if (list != NULL && has_token(list + 1, "tls"))
				found = true;
			cap_done = !more;
		} else if (strcmp(cmd, "421") == 0 || strcmp(cmd, "451") == 0) {
			cap_known = false; /* no capability negotiation: STARTTLS decides */
			cap_done = true;
		}
	}
	if (cap_known && !found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS (no 'tls' in CAP LS): %s",
		            quoted_reply(s));
	s->offered = found;
	if ((rc = send_line(s, "STARTTLS")) != TS_OK)
		return rc;
	reply_begin(s, "the STARTTLS reply");
	for (;;) {
		if ((rc = read_line(s, line, &len)) != TS_OK)
			return rc;
		const char *rest = irc_command(line, cmd, sizeof cmd);
		if (strcmp(cmd, "670") == 0)
			break;
		if (strcmp(cmd, "691") == 0)
			return fail(s, TS_E_PROTOCOL, "the server could not start TLS (691): %s", quoted_reply(s));
		if (strcasecmp(cmd, "ERROR") == 0 || (isdigit((unsigned char)cmd[0]) && (cmd[0] == '4' || cmd[0] == '5')))
			return fail(s, TS_E_PROTOCOL, "the server refused STARTTLS: %s", quoted_reply(s));
		if (strcasecmp(cmd, "PING") == 0) {
			char pong[TS_STARTTLS_LINE_MAX + 8];
			snprintf(pong, sizeof pong, "PONG %s", rest);
			if ((rc = send_line(s, pong)) != TS_OK)
				return rc;
		}
	}
	s->offered = true;
	return no_injection(s);
}

/* XMPP: reads until needle appears in the buffer (or a stream error). */
static int xmpp_until(struct session *s, const char *needle, const char *alt, size_t *end)
{
	for (;;) {
		const uint8_t *hit = memmem(s->in, s->in_len, needle, strlen(needle));
		if (hit == NULL && alt != NULL)
			hit = memmem(s->in, s->in_len, alt, strlen(alt));
		if (hit != NULL) {
			*end = (size_t)(hit - s->in);
			return TS_OK;
		}
		if (memmem(s->in, s->in_len, "<stream:error", 13) != NULL ||
		    memmem(s->in, s->in_len, "</stream:stream>", 16) != NULL) {
			reply_note(s, s->in, s->in_len);
			transcript_bytes(s, 'S', s->in, s->in_len);
			return fail(s, TS_E_PROTOCOL, "the server ended the stream with an error: %s", quoted_reply(s));
		}
		int rc = fill(s);
		if (rc == TS_E_PROTOCOL) {
			char q[QUOTE_MAX + 8];
			escape(s->in, s->in_len, q, sizeof q, 120);
			transcript_bytes(s, 'S', s->in, s->in_len > 1024 ? 1024 : s->in_len);
			return fail(s, TS_E_PROTOCOL, "%s exceeds the limit of %d bytes; it began: %s", s->what,
			            TS_STARTTLS_REPLY_MAX, q);
		}
		if (rc != TS_OK)
			return rc;
	}
}

static int xmpp_like(struct session *s, bool server)
{
	char open[TS_HOST_MAX * 2 + 512];
	int rc;
	size_t at;
	if (server)
		snprintf(open, sizeof open,
		         "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
		         "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
		         "from='%s' to='%s' version='1.0'>",
		         s->client_name, s->host);
	else
		snprintf(open, sizeof open,
		         "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
		         "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
		         s->host);
	transcript_add(s, 'C', open);
	if ((rc = send_bytes(s, open, strlen(open))) != TS_OK)
		return rc;
	reply_begin(s, "the stream features");
	if ((rc = xmpp_until(s, "</stream:features>", "<stream:features/>", &at)) != TS_OK)
		return rc;
	const char *close = memmem(s->in, s->in_len, "</stream:features>", 18) != NULL ? "</stream:features>"
	                                                                                 : "<stream:features/>";
	size_t end = at + strlen(close);
	bool found = memmem(s->in, end, "urn:ietf:params:xml:ns:xmpp-tls", 31) != NULL;
	transcript_bytes(s, 'S', s->in, end);
	reply_note(s, s->in, end);
	consume(s, end);
	if (!found)
		return fail(s, TS_E_PROTOCOL, "the server does not offer STARTTLS in its stream features: %s",
		            quoted_reply(s));
	s->offered = true;
	const char *req = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	transcript_add(s, 'C', req);
	if ((rc = send_bytes(s, req, strlen(req))) != TS_OK)
		return rc;
	reply_begin(s, "the answer to starttls");
	if ((rc = xmpp_until(s, "<proceed", "<failure", &at)) != TS_OK)
		return rc;
	bool proceed = memcmp(s->in + at, "<proceed", 8) == 0;
	/* the element ends at the next '>' */
	for (;;) {
		uint8_t *gt = memchr(s->in + at, '>', s->in_len - at);
		if (gt != NULL) {
			end = (size_t)(gt - s->in) + 1;
			break;
		}
		if ((rc = fill(s)) != TS_OK)
			return rc;
	}
	transcript_bytes(s, 'S', s->in, end);
	reply_note(s, s->in, end);
	consume(s, end);
	if (!proceed)
		return fail(s, TS_E_PROTOCOL, "the server refused starttls: %s", quoted_reply(s));
	return no_injection(s);
}

static int xmpp(struct session *s)
{
	return xmpp_like(s, false);
}

static int xmpp_server(struct session *s)
{
	return xmpp_like(s, true);
}

/* BER: one tag-length-value, the length in short or long form (at most 3
 * length bytes, never more than what is left). */
static bool ber_next(struct ts_reader *rd, uint8_t want_tag, struct ts_reader *value, const char *field)
{
	uint8_t tag = ts_read_u8(rd, field);
	uint8_t l0 = ts_read_u8(rd, field);
	size_t len = l0;
	if (l0 & 0x80) {
		int n = l0 & 0x7f;
		if (n < 1 || n > 3) {
			ts_reader_fail(rd, field);
			return false;
		}
		len = 0;
		for (int i = 0; i < n; i++)
			len = len << 8 | ts_read_u8(rd, field);
	}
	if (rd->error || tag != want_tag) {
		ts_reader_fail(rd, field);
		return false;
	}
	const uint8_t *p = ts_read_bytes(rd, len, field);
	if (p == NULL)
		return false;
	ts_reader_init(value, p, len);
	return true;
}

static const char *ldap_result_name(unsigned code)
{
	switch (code) {
	case 0: return "success";
	case 1: return "operationsError";
	case 2: return "protocolError";
	case 3: return "timeLimitExceeded";
	case 7: return "authMethodNotSupported";
	case 8: return "strongerAuthRequired";
	case 12: return "unavailableCriticalExtension";
	case 13: return "confidentialityRequired";
	case 51: return "busy";
	case 52: return "unavailable";
	case 53: return "unwillingToPerform";
	case 80: return "other";
	default: return "unknown";
	}
}

static int ldap(struct session *s)
{
	static const char oid[] = "1.3.6.1.4.1.1466.20037";
	uint8_t req[64];
	size_t n = 0, oid_len = sizeof oid - 1;
	req[n++] = 0x30;                      /* LDAPMessage */
	req[n++] = (uint8_t)(3 + 2 + 2 + oid_len);
	req[n++] = 0x02; req[n++] = 0x01; req[n++] = 0x01;   /* messageID 1 */
	req[n++] = 0x77;                      /* [APPLICATION 23] ExtendedRequest */
	req[n++] = (uint8_t)(2 + oid_len);
	req[n++] = 0x80;                      /* [0] requestName */
	req[n++] = (uint8_t)oid_len;
	memcpy(req + n, oid, oid_len);
	n += oid_len;
	transcript_printf(s, 'C', "ExtendedRequest StartTLS (%s), message 1 (%zu bytes)", oid, n);
	int rc = send_bytes(s, req, n);
	if (rc != TS_OK)
		return rc;
	reply_begin(s, "the ExtendedResponse");
	if ((rc = need(s, 2)) != TS_OK)
		return rc;
	if (s->in[0] != 0x30)
		return fail(s, TS_E_PROTOCOL, "expected an LDAP message (tag 0x30), got tag 0x%02x", s->in[0]);
	size_t hdr = 2, len = s->in[1];
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k < 1 || k > 3)
			return fail(s, TS_E_PROTOCOL, "an LDAP length of %zu bytes is not supported", k);
		if ((rc = need(s, 2 + k)) != TS_OK)
			return rc;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | s->in[2 + i];
		hdr += k;
	}
	if ((rc = need(s, hdr + len)) != TS_OK)
		return rc;
	struct ts_reader msg, id, op, field;
	ts_reader_init(&msg, s->in + hdr, len);
	unsigned msgid = 0, result = 0;
	if (ber_next(&msg, 0x02, &id, "messageID")) {
		if (ts_reader_left(&id) < 1 || ts_reader_left(&id) > 4)
			ts_reader_fail(&msg, "messageID");
		while (ts_reader_left(&id) > 0)
			msgid = msgid << 8 | ts_read_u8(&id, "messageID");
	}
	char diag[QUOTE_MAX + 8] = "";
	if (!msg.error && ber_next(&msg, 0x78, &op, "ExtendedResponse")) {
		if (ber_next(&op, 0x0a, &field, "resultCode")) {
			while (ts_reader_left(&field) > 0)
				result = result << 8 | ts_read_u8(&field, "resultCode");
		}
		if (ber_next(&op, 0x04, &field, "matchedDN") && ber_next(&op, 0x04, &field, "diagnosticMessage"))
			escape(field.data, field.len, diag, sizeof diag, QUOTE_MAX);
		ts_reader_propagate(&msg, &op);
	}
	if (msg.error)
		return fail(s, TS_E_PROTOCOL, "the server's answer is not an LDAP ExtendedResponse (%s at offset %zu)",
		            msg.field != NULL ? msg.field : "?", msg.error_off);
	transcript_printf(s, 'S', "ExtendedResponse, message %u, result %u (%s), diagnostic '%s'", msgid, result,
	                  ldap_result_name(result), diag);
	consume(s, hdr + len);
	if (msgid == 0)
		return fail(s, TS_E_PROTOCOL, "the server sent an unsolicited notice (result %u, %s): '%s'", result,
		            ldap_result_name(result), diag);
	if (msgid != 1)
		return fail(s, TS_E_PROTOCOL, "expected the answer to message 1, got message %u", msgid);
	if (result != 0)
		return fail(s, TS_E_PROTOCOL, "the server refused StartTLS with result %u (%s): '%s'", result,
		            ldap_result_name(result), diag);
	s->offered = true;
	return no_injection(s);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int postgres(struct session *s)
{
	static const uint8_t req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f }; /* 80877103 */
	transcript_add(s, 'C', "SSLRequest (8 bytes: 00000008 04d2162f)");
	int rc = send_bytes(s, req, sizeof req);
	if (rc != TS_OK)
		return rc;
	reply_begin(s, "the answer to SSLRequest");
	if ((rc = need(s, 1)) != TS_OK)
		return rc;
	uint8_t answer = s->in[0];
	if (answer == 'S') {
		transcript_add(s, 'S', "'S' (TLS accepted)");
		consume(s, 1);
		s->offered = true;
		return no_injection(s);
	}
	if (answer == 'N') {
		transcript_add(s, 'S', "'N' (no TLS)");
		consume(s, 1);
		return fail(s, TS_E_PROTOCOL, "the server does not accept TLS: it answered 'N' to SSLRequest");
	}
	if (answer == 'E') {
		/* An ErrorResponse: 'E', length, then (type, C string) fields. */
		if (need(s, 5) == TS_OK) {
			uint32_t len = be32(s->in + 1);
			if (len > TS_STARTTLS_REPLY_MAX - 1)
				return fail(s, TS_E_PROTOCOL,
				            "the server's ErrorResponse announces %llu bytes, more than the limit of %d",
				            1 + (unsigned long long)len, TS_STARTTLS_REPLY_MAX);
			if (len >= 4 && need(s, 1 + len) == TS_OK) {
				const uint8_t *p = s->in + 5, *end = s->in + 1 + len;
				char text[QUOTE_MAX + 8] = "";
				while (p < end && *p != 0) {
					uint8_t type = *p++;
					const uint8_t *z = memchr(p, 0, (size_t)(end - p));
					if (z == NULL)
						break;
					if (type == 'M')
						escape(p, (size_t)(z - p), text, sizeof text, QUOTE_MAX);
					p = z + 1;
				}
				transcript_printf(s, 'S', "ErrorResponse '%s'", text);
				return fail(s, TS_E_PROTOCOL, "the server refused SSLRequest with an error: '%s'", text);
			}
		}
		return fail(s, TS_E_PROTOCOL, "the server refused SSLRequest with an unreadable error");
	}
	char q[QUOTE_MAX + 8];
	escape(s->in, s->in_len, q, sizeof q, 80);
	transcript_printf(s, 'S', "%s", q);
	return fail(s, TS_E_PROTOCOL, "expected 'S' or 'N' in answer to SSLRequest, got: %s", q);
}

static uint32_t le(const uint8_t *p, int n)
{
	uint32_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

enum {
	MYSQL_CLIENT_LONG_PASSWORD = 0x1,
	MYSQL_CLIENT_LONG_FLAG = 0x4,
	MYSQL_CLIENT_PROTOCOL_41 = 0x200,
	MYSQL_CLIENT_SSL = 0x800,
	MYSQL_CLIENT_TRANSACTIONS = 0x2000,
	MYSQL_CLIENT_SECURE_CONNECTION = 0x8000,
	MYSQL_CLIENT_PLUGIN_AUTH = 0x80000,
};

static int mysql(struct session *s)
{
	int rc;
	reply_begin(s, "the handshake packet");
	if ((rc = need(s, 4)) != TS_OK)
		return rc;
	size_t len = le(s->in, 3);
	uint8_t seq = s->in[3];
	if (len == 0)
		return fail(s, TS_E_PROTOCOL, "the handshake packet is empty");
	if ((rc = need(s, 4 + len)) != TS_OK)
		return rc;
	const uint8_t *p = s->in + 4;
	struct ts_reader rd;
	ts_reader_init(&rd, p, len);
	uint8_t version = ts_read_u8(&rd, "protocol version");
	if (version == 0xff) {
		/* ERR packet: code, optional '#' + SQL state, message */
		uint32_t code = 0;
		const uint8_t *c = ts_read_bytes(&rd, 2, "error code");
		if (c != NULL)
			code = le(c, 2);
		if (ts_reader_left(&rd) >= 6 && rd.data[rd.off] == '#')
			ts_read_skip(&rd, 6, "sql state");
		char text[QUOTE_MAX + 8];
		escape(rd.data + rd.off, ts_reader_left(&rd), text, sizeof text, QUOTE_MAX);
		transcript_printf(s, 'S', "error packet %u: %s", code, text);
		return fail(s, TS_E_PROTOCOL, "the server refused the connection with error %u: '%s'", code, text);
	}
	if (version != 10) {
		transcript_printf(s, 'S', "handshake packet, protocol version %u", version);
		return fail(s, TS_E_PROTOCOL, "expected handshake protocol version 10, got %u", version);
	}
	const uint8_t *zero = memchr(rd.data + rd.off, 0, ts_reader_left(&rd));
	if (zero == NULL)
		return fail(s, TS_E_PROTOCOL, "the handshake packet's server version is not terminated");
	size_t vlen = (size_t)(zero - (rd.data + rd.off));
	char server_version[96];
	escape(rd.data + rd.off, vlen, server_version, sizeof server_version, 80);
	ts_read_skip(&rd, vlen + 1, "server version");
	ts_read_skip(&rd, 4 + 8 + 1, "connection id and auth data");
	const uint8_t *lo = ts_read_bytes(&rd, 2, "capability flags");
	uint32_t caps = lo != NULL ? le(lo, 2) : 0;
	uint8_t charset = 0x21;
	if (!rd.error && ts_reader_left(&rd) >= 5) {
		charset = ts_read_u8(&rd, "character set");
		ts_read_skip(&rd, 2, "status flags");
		const uint8_t *hi = ts_read_bytes(&rd, 2, "capability flags (upper)");
		if (hi != NULL)
			caps |= le(hi, 2) << 16;
	}
	if (rd.error)
		return fail(s, TS_E_PROTOCOL, "the handshake packet is truncated in '%s'", rd.field);
	transcript_printf(s, 'S', "handshake v10, server version '%s', capabilities 0x%08x%s", server_version, caps,
	                  caps & MYSQL_CLIENT_SSL ? " (CLIENT_SSL)" : "");
	consume(s, 4 + len);
	if (!(caps & MYSQL_CLIENT_SSL))
		return fail(s, TS_E_PROTOCOL,
		            "the server (version '%s') does not offer TLS: CLIENT_SSL is not among its capabilities 0x%08x",
		            server_version, caps);
	s->offered = true;
	uint32_t ours = (MYSQL_CLIENT_LONG_PASSWORD | MYSQL_CLIENT_LONG_FLAG | MYSQL_CLIENT_PROTOCOL_41 |
	                 MYSQL_CLIENT_TRANSACTIONS | MYSQL_CLIENT_SECURE_CONNECTION | MYSQL_CLIENT_PLUGIN_AUTH) &
	                caps;
	ours |= MYSQL_CLIENT_SSL | MYSQL_CLIENT_PROTOCOL_41;
	uint8_t pkt[4 + 32] = { 32, 0, 0, (uint8_t)(seq + 1) };
	for (int i = 0; i < 4; i++)
		pkt[4 + i] = (uint8_t)(ours >> (8 * i));
	uint32_t max_packet = 16777216;
	for (int i = 0; i < 4; i++)
		pkt[8 + i] = (uint8_t)(max_packet >> (8 * i));
	pkt[12] = charset;
	transcript_printf(s, 'C', "SSLRequest packet (36 bytes), capabilities 0x%08x", ours);
	if ((rc = send_bytes(s, pkt, sizeof pkt)) != TS_OK)
		return rc;
	return no_injection(s);
}

static int none(struct session *s)
{
	return TS_OK;
}

/* ---- the table ---- */

struct proto {
	const char *name;
	int (*run)(struct session *s);
	uint16_t ports[2];
};

static const struct proto protos[TS_STARTTLS_COUNT] = {
	[TS_STARTTLS_NONE] = { "none", none, { 0, 0 } },
	[TS_STARTTLS_SMTP] = { "smtp", smtp, { 25, 587 } },
	[TS_STARTTLS_LMTP] = { "lmtp", lmtp, { 24, 0 } },
	[TS_STARTTLS_IMAP] = { "imap", imap, { 143, 0 } },
	[TS_STARTTLS_POP3] = { "pop3", pop3, { 110, 0 } },
	[TS_STARTTLS_FTP] = { "ftp", ftp, { 21, 0 } },
	[TS_STARTTLS_XMPP] = { "xmpp", xmpp, { 5222, 0 } },
	[TS_STARTTLS_XMPP_SERVER] = { "xmpp-server", xmpp_server, { 5269, 0 } },
	[TS_STARTTLS_LDAP] = { "ldap", ldap, { 389, 0 } },
	[TS_STARTTLS_POSTGRES] = { "postgres", postgres, { 5432, 0 } },
	[TS_STARTTLS_MYSQL] = { "mysql", mysql, { 3306, 0 } },
	[TS_STARTTLS_NNTP] = { "nntp", nntp, { 119, 0 } },
	[TS_STARTTLS_SIEVE] = { "sieve", sieve, { 4190, 0 } },
	[TS_STARTTLS_IRC] = { "irc", irc, { 6667, 0 } },
};

const char *ts_starttls_name(enum ts_starttls_proto proto)
{
	if ((int)proto < 0 || proto >= TS_STARTTLS_COUNT)
		return NULL;
	return protos[proto].name;
}

uint16_t ts_starttls_default_port(enum ts_starttls_proto proto)
{
	if ((int)proto <= 0 || proto >= TS_STARTTLS_COUNT)
		return 0;
	return protos[proto].ports[0];
}

const char *ts_starttls_names(void)
{
	return "none, smtp, lmtp, imap, pop3, ftp, xmpp, xmpp-server, ldap, postgres, mysql, nntp, sieve, irc";
}

int ts_starttls_parse(const char *name, enum ts_starttls_proto *out, struct ts_error *err)
{
	for (int i = 0; i < TS_STARTTLS_COUNT; i++) {
		if (name != NULL && strcasecmp(name, protos[i].name) == 0) {
			*out = (enum ts_starttls_proto)i;
			return TS_OK;
		}
	}
	char q[64];
	escape((const uint8_t *)(name != NULL ? name : ""), name != NULL ? strlen(name) : 0, q, sizeof q, 40);
	return ts_error_set(err, TS_E_INVALID, "unknown STARTTLS protocol '%s' (known: %s)", q, ts_starttls_names());
}

enum ts_starttls_proto ts_starttls_for_port(uint16_t port)
{
	for (int i = 1; i < TS_STARTTLS_COUNT; i++)
		for (int k = 0; k < 2; k++)
			if (port != 0 && protos[i].ports[k] == port)
				return (enum ts_starttls_proto)i;
	return TS_STARTTLS_NONE;
}

void ts_starttls_result_init(struct ts_starttls_result *res)
{
	memset(res, 0, sizeof *res);
	res->transcript = calloc(1, 1);
}

void ts_starttls_result_clear(struct ts_starttls_result *res)
{
	if (res == NULL)
		return;
	free(res->transcript);
	memset(res, 0, sizeof *res);
}

int ts_starttls_run(int fd, enum ts_starttls_proto proto, const struct ts_starttls_options *opt,
                    struct ts_starttls_result *res, struct ts_error *err)
{
	if ((int)proto < 0 || proto >= TS_STARTTLS_COUNT)
		return ts_error_set(err, TS_E_INVALID, "STARTTLS protocol %d is out of range", (int)proto);
	struct session *s = calloc(1, sizeof *s);
	uint8_t *in = malloc(IN_MAX);
	char *transcript = malloc(TS_STARTTLS_TRANSCRIPT_MAX + 1);
	if (s == NULL || in == NULL || transcript == NULL) {
		free(s);
		free(in);
		free(transcript);
		return ts_error_set(err, TS_E_NOMEM, "out of memory for the STARTTLS preamble");
	}
	transcript[0] = '\0';
	s->fd = fd;
	s->proto = proto;
	s->in = in;
	s->transcript = transcript;
	s->err = err;
	s->host = opt != NULL && opt->host != NULL ? opt->host : "localhost";
	s->client_name = opt != NULL && opt->client_name != NULL ? opt->client_name : "tlsscope.invalid";
	s->timeout_ms = opt != NULL && opt->timeout_ms > 0 ? opt->timeout_ms : 10000;
	s->start_ns = ts_monotonic_ns();
	s->deadline_ns = s->start_ns + (uint64_t)s->timeout_ms * 1000000u;
	s->what = "the greeting";

	int rc = TS_OK;
	/* Names go into commands verbatim: refuse line breaks and markup. */
	if (strpbrk(s->host, "\r\n<>'\"&") != NULL || strpbrk(s->client_name, "\r\n<>'\"&") != NULL ||
	    strlen(s->host) >= TS_HOST_MAX || strlen(s->client_name) >= TS_HOST_MAX)
		rc = ts_error_set(err, TS_E_INVALID, "a name for the STARTTLS preamble contains forbidden characters");
	else
		rc = protos[proto].run(s);

	if (res != NULL) {
		free(res->transcript);
		res->proto = proto;
		res->transcript = transcript;
		res->transcript_len = s->transcript_len;
		res->truncated = s->truncated;
		res->offered = s->offered;
		res->accepted = s->accepted && rc == TS_OK;
		res->elapsed_ns = ts_monotonic_ns() - s->start_ns;
	} else {
		free(transcript);
	}
	free(in);
	free(s);
	return rc;
}
