#include "tlsscope/error.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct ts_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int ts_error_set(struct ts_error *err, int code, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

static void append(struct ts_error *err, const char *text)
{
	size_t used = strlen(err->msg);
	snprintf(err->msg + used, sizeof err->msg - used, "%s", text);
}

int ts_error_errno(struct ts_error *err, int code, int errnum, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	append(err, ": ");
	append(err, strerror(errnum));
	return code;
}

int ts_error_openssl(struct ts_error *err, int code, const char *fmt, ...)
{
	if (err == NULL) {
		ERR_clear_error();
		return code;
	}
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	/* The last queued error is the most specific one. */
	unsigned long e, last = 0;
	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last != 0) {
		char buf[256];
		ERR_error_string_n(last, buf, sizeof buf);
		const char *reason = ERR_reason_error_string(last);
		append(err, ": ");
		append(err, reason != NULL ? reason : buf);
	}
	return code;
}

void ts_error_clear(struct ts_error *err)
{
	if (err == NULL)
		return;
	err->code = TS_OK;
	err->msg[0] = '\0';
}

const char *ts_status_name(int code)
{
	switch (code) {
	case TS_OK: return "ok";
	case TS_E_INVALID: return "invalid argument";
	case TS_E_NOMEM: return "out of memory or limit reached";
	case TS_E_RESOLVE: return "name resolution failed";
	case TS_E_CONNECT: return "connection failed";
	case TS_E_TIMEOUT: return "timeout";
	case TS_E_FILE: return "file error";
	case TS_E_TLS: return "TLS failure";
	case TS_E_VERIFY: return "certificate not trusted";
	case TS_E_PROTOCOL: return "protocol error";
	case TS_E_MALFORMED: return "malformed input";
	case TS_E_NEED_MORE: return "need more bytes";
	case TS_E_WANT_READ: return "want read";
	case TS_E_WANT_WRITE: return "want write";
	case TS_E_CLOSED: return "connection closed";
	case TS_E_INTERNAL: return "internal error";
	}
	return "unknown error";
}
