/* tlsscope: the report layer, the only place output formats live.
 *
 * Text for people: aligned "label ...... value" lines, section headings, and
 * tones that colour problems red and successes green, but only on a terminal
 * (and never when NO_COLOR is set).  JSON for programs: one compact object a
 * line (JSON lines), built with jansson; field names are documented in
 * docs/json.md.  Each engine has its own report_<engine>.c that turns its
 * results into text or JSON with these helpers. */
#ifndef TLSSCOPE_REPORT_H
#define TLSSCOPE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

enum ts_tone { TS_TONE_PLAIN, TS_TONE_GOOD, TS_TONE_WARN, TS_TONE_BAD, TS_TONE_DIM };

struct ts_report {
	FILE *out;
	bool json;          /* JSON lines instead of text */
	bool color;         /* ANSI colours (only when out is a terminal) */
	int label_width;    /* dots pad labels to this width */
};

/* Colour is on when out is a TTY, NO_COLOR is unset and TERM is not "dumb". */
void ts_report_init(struct ts_report *r, FILE *out, bool json);
bool ts_report_use_color(FILE *f);

/* "label ........ value" with the value in the given tone. */
void ts_report_line(struct ts_report *r, const char *label, enum ts_tone tone,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A blank line and a heading. */
void ts_report_heading(struct ts_report *r, const char *title);
/* Free text in a tone, ending with a newline. */
void ts_report_text(struct ts_report *r, enum ts_tone tone, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* ANSI escape for a tone ("" without colour), and the reset sequence. */
const char *ts_report_tone(const struct ts_report *r, enum ts_tone tone);
const char *ts_report_reset(const struct ts_report *r);

/* Writes obj as one compact JSON line and releases the reference. */
int ts_report_json(struct ts_report *r, json_t *obj);

/* "tlsscope: warning: ..." on stderr, in yellow on a terminal. */
void ts_report_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* JSON helpers that turn NULL strings into null. */
json_t *ts_json_string_or_null(const char *s);

#endif
