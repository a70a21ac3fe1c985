/* tlsscope: error codes and the one error channel.
 *
 * Every library function returns 0 (or a non-negative count) on success and a
 * negative TS_E_* code on failure.  Objects keep a struct ts_error; functions
 * that work on no object take a `struct ts_error *` from the caller.  The
 * message says what was expected and what was seen, in words. */
#ifndef TLSSCOPE_ERROR_H
#define TLSSCOPE_ERROR_H

#include <stddef.h>

enum ts_status {
	TS_OK = 0,
	TS_E_INVALID = -1,     /* bad argument or option (a usage error) */
	TS_E_NOMEM = -2,       /* out of memory, or a size limit was hit */
	TS_E_RESOLVE = -3,     /* the name did not resolve */
	TS_E_CONNECT = -4,     /* refused, unreachable, reset */
	TS_E_TIMEOUT = -5,     /* a wait ran out */
	TS_E_FILE = -6,        /* a file is missing, unreadable or not what it should be */
	TS_E_TLS = -7,         /* the handshake failed or the peer broke the protocol */
	TS_E_VERIFY = -8,      /* the certificate is not trusted for this name */
	TS_E_PROTOCOL = -9,    /* a cleartext peer said no or misbehaved (STARTTLS) */
	TS_E_MALFORMED = -10,  /* bytes that do not parse */
	TS_E_NEED_MORE = -11,  /* a parser needs more bytes; not an error yet */
	TS_E_WANT_READ = -12,  /* non-blocking: call again when readable */
	TS_E_WANT_WRITE = -13, /* non-blocking: call again when writable */
	TS_E_CLOSED = -14,     /* the peer closed the connection */
	TS_E_INTERNAL = -15,   /* a library that should not fail did */
};

#define TS_ERROR_MSG_MAX 512

struct ts_error {
	int code;                      /* last TS_E_* code, or TS_OK */
	char msg[TS_ERROR_MSG_MAX];    /* human message, "" when code is TS_OK */
};

/* Record code and a printf-style message in err (err may be NULL); returns code. */
int ts_error_set(struct ts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like ts_error_set, then appends ": " and strerror(errnum). */
int ts_error_errno(struct ts_error *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends OpenSSL's queued errors (and clears the queue); returns code. */
int ts_error_openssl(struct ts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ts_error_clear(struct ts_error *err);
/* A short fixed name for a code, e.g. "timeout". */
const char *ts_status_name(int code);

#endif
