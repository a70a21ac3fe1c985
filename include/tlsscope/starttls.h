/* tlsscope: the cleartext preamble before TLS (STARTTLS and its cousins).
 *
 * Thirteen protocols, each a small function in lib/starttls.c, run on a
 * connected non-blocking socket before the TLS handshake: they read the
 * greeting and the capabilities, check the server's reply codes at every
 * step, ask to upgrade, and wait for the go-ahead.  They never fall back to
 * plaintext: when the server does not offer the upgrade, refuses it, says
 * something unexpected, sends more than the limits allow or stalls, the run
 * fails with a message that quotes what the server said.
 *
 * Bytes the server sends after its go-ahead and before the client has sent
 * its ClientHello cannot be part of TLS: they are an injection attempt (the
 * CVE-2011-0411 / CVE-2021-22947 / CVE-2021-23214 class) and the run fails.
 *
 * Limits: a line is at most TS_STARTTLS_LINE_MAX bytes, one reply (greeting,
 * capability list, answer) at most TS_STARTTLS_REPLY_MAX, and the whole
 * preamble must finish within the timeout given in the options. */
#ifndef TLSSCOPE_STARTTLS_H
#define TLSSCOPE_STARTTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/bytes.h"
#include "tlsscope/error.h"

#define TS_STARTTLS_LINE_MAX 8192
#define TS_STARTTLS_REPLY_MAX 65536
#define TS_STARTTLS_TRANSCRIPT_MAX 16384

enum ts_starttls_proto {
	TS_STARTTLS_NONE = 0,   /* direct TLS, no preamble */
	TS_STARTTLS_SMTP,
	TS_STARTTLS_LMTP,
	TS_STARTTLS_IMAP,
	TS_STARTTLS_POP3,
	TS_STARTTLS_FTP,
	TS_STARTTLS_XMPP,        /* client-to-server */
	TS_STARTTLS_XMPP_SERVER, /* server-to-server */
	TS_STARTTLS_LDAP,
	TS_STARTTLS_POSTGRES,
	TS_STARTTLS_MYSQL,
	TS_STARTTLS_NNTP,
	TS_STARTTLS_SIEVE,
	TS_STARTTLS_IRC,
	TS_STARTTLS_COUNT
};

/* "smtp", "xmpp-server", "none" ...; NULL for a value out of range. */
const char *ts_starttls_name(enum ts_starttls_proto proto);

/* Looks a protocol up by name (case-insensitive; "none" is direct TLS).  An
 * unknown name is TS_E_INVALID with a message listing the known ones. */
int ts_starttls_parse(const char *name, enum ts_starttls_proto *out, struct ts_error *err);

/* The protocol usually spoken on a well-known port (25 and 587 smtp, 24 lmtp,
 * 143 imap, 110 pop3, 21 ftp, 5222 xmpp, 5269 xmpp-server, 389 ldap, 5432
 * postgres, 3306 mysql, 119 nntp, 4190 sieve, 6667 irc), else NONE. */
enum ts_starttls_proto ts_starttls_for_port(uint16_t port);

/* The protocol's usual port (smtp: 25), or 0 for NONE. */
uint16_t ts_starttls_default_port(enum ts_starttls_proto proto);

/* The names of all protocols, comma-separated, for help texts (static). */
const char *ts_starttls_names(void);

struct ts_starttls_options {
	const char *host;         /* server name, for XMPP's to= (NULL: "localhost") */
	const char *client_name;  /* our name in EHLO/LHLO and XMPP-server from= (NULL: "tlsscope.invalid") */
	int timeout_ms;           /* bound on the whole preamble (<= 0: 10000) */
};

/* What happened in the cleartext.  transcript holds one line per message,
 * "S: " for the server and "C: " for us, bytes outside printable ASCII
 * escaped as \xNN, binary messages described in words; at most
 * TS_STARTTLS_TRANSCRIPT_MAX bytes (then `truncated`).  Owned by the struct:
 * ts_starttls_result_clear frees it. */
struct ts_starttls_result {
	enum ts_starttls_proto proto;
	char *transcript;          /* NUL-terminated, never NULL after _init */
	size_t transcript_len;
	bool truncated;
	bool offered;              /* the server advertised the upgrade */
	bool accepted;             /* the server gave the go-ahead */
	uint64_t elapsed_ns;       /* time spent in the preamble */
};

void ts_starttls_result_init(struct ts_starttls_result *res);
void ts_starttls_result_clear(struct ts_starttls_result *res);

/* Runs the preamble for proto on fd (connected, non-blocking).  Returns TS_OK
 * when the server has given its go-ahead and nothing else is pending, so the
 * caller may start the TLS handshake on fd.  Failures:
 *   TS_E_PROTOCOL  not offered, refused, unexpected answer, limit exceeded,
 *                  bytes injected after the go-ahead;
 *   TS_E_TIMEOUT   the server stalled;
 *   TS_E_CLOSED    the server hung up;
 *   TS_E_CONNECT   a socket error.
 * NONE returns TS_OK at once.  res (may be NULL) receives the transcript
 * either way; err the message. */
int ts_starttls_run(int fd, enum ts_starttls_proto proto, const struct ts_starttls_options *opt,
                    struct ts_starttls_result *res, struct ts_error *err);

#endif
