#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tlsscope/error.h"

int cli_exit_code(int status)
{
	switch (status) {
	case TS_OK:
		return CLI_OK;
	case TS_E_INVALID:
		return CLI_USAGE;
	case TS_E_TLS:
	case TS_E_VERIFY:
	case TS_E_PROTOCOL:
		return CLI_FAIL;
	default:
		return CLI_UNREACHABLE;
	}
}

static void vmessage(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "tlsscope%s%s: ", cmd != NULL ? " " : "", cmd != NULL ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cmd, fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'tlsscope%s%s --help'.\n", cmd != NULL ? " " : "", cmd != NULL ? cmd : "");
	return CLI_USAGE;
}

bool cli_parse_seconds(const char *s, int *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > 86400)
		return false;
	*ms = (int)ceil(v * 1000);
	return true;
}
