#include "tlsscope/report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool ts_report_use_color(FILE *f)
{
	const char *term = getenv("TERM");
	if (getenv("NO_COLOR") != NULL || (term != NULL && strcmp(term, "dumb") == 0))
		return false;
	return isatty(fileno(f)) == 1;
}

void ts_report_init(struct ts_report *r, FILE *out, bool json)
{
	*r = (struct ts_report){ .out = out, .json = json, .color = !json && ts_report_use_color(out),
	                         .label_width = 24 };
}

const char *ts_report_tone(const struct ts_report *r, enum ts_tone tone)
{
	if (!r->color)
		return "";
	switch (tone) {
	case TS_TONE_GOOD: return "\033[32m";
	case TS_TONE_WARN: return "\033[33m";
	case TS_TONE_BAD: return "\033[1;31m";
	case TS_TONE_DIM: return "\033[2m";
	case TS_TONE_PLAIN: break;
	}
	return "";
}

const char *ts_report_reset(const struct ts_report *r)
{
	return r->color ? "\033[0m" : "";
}

void ts_report_line(struct ts_report *r, const char *label, enum ts_tone tone, const char *fmt, ...)
{
	int pad = r->label_width - (int)strlen(label);
	fprintf(r->out, "%s ", label);
	for (int i = 0; i < pad; i++)
		fputc('.', r->out);
	fputs(" ", r->out);
	fputs(ts_report_tone(r, tone), r->out);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputs(tone == TS_TONE_PLAIN ? "" : ts_report_reset(r), r->out);
	fputc('\n', r->out);
}

void ts_report_heading(struct ts_report *r, const char *title)
{
	fprintf(r->out, "\n%s%s%s\n", r->color ? "\033[1m" : "", title, ts_report_reset(r));
}

void ts_report_text(struct ts_report *r, enum ts_tone tone, const char *fmt, ...)
{
	fputs(ts_report_tone(r, tone), r->out);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputs(tone == TS_TONE_PLAIN ? "" : ts_report_reset(r), r->out);
	fputc('\n', r->out);
}

int ts_report_json(struct ts_report *r, json_t *obj)
{
	/* 9 significant digits: timings read 38.524, not 38.524000000000001.
	 * Dumped to a string and written at once: json_dumpf calls fwrite for
	 * every token, which was a tenth of `observe --json`'s time. */
	char *s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9));
	json_decref(obj);
	if (s == NULL)
		return -1;
	fputs(s, r->out);
	fputc('\n', r->out);
	free(s);
	return 0;
}

void ts_report_warning(const char *fmt, ...)
{
	bool color = ts_report_use_color(stderr);
	fprintf(stderr, "%stlsscope: warning: ", color ? "\033[33m" : "");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", color ? "\033[0m" : "");
}

json_t *ts_json_string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}
