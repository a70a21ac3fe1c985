#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/report.h"

static char *capture(void (*fn)(struct ts_report *), bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ts_report r;
	ts_report_init(&r, f, json);
	fn(&r);
	fclose(f);
	return text;
}

static void write_lines(struct ts_report *r)
{
	r->label_width = 10;
	ts_report_line(r, "protocol", TS_TONE_GOOD, "%s", "TLSv1.3");
	ts_report_line(r, "a-very-long-label", TS_TONE_BAD, "x");
}

static void lines_are_aligned_without_colour_off_a_tty(void **state)
{
	char *text = capture(write_lines, false);
	assert_string_equal(text, "protocol .. TLSv1.3\na-very-long-label  x\n");
	free(text);
}

static void write_json(struct ts_report *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", ts_json_string_or_null("caf\xc3\xa9"));
	json_object_set_new(o, "none", ts_json_string_or_null(NULL));
	ts_report_json(r, o);
}

static void json_is_one_compact_line(void **state)
{
	char *text = capture(write_json, true);
	assert_string_equal(text, "{\"name\":\"caf\\u00E9\",\"none\":null}\n");
	free(text);
}

static void no_color_when_not_a_terminal(void **state)
{
	FILE *f = tmpfile();
	assert_false(ts_report_use_color(f));
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_are_aligned_without_colour_off_a_tty),
		cmocka_unit_test(json_is_one_compact_line),
		cmocka_unit_test(no_color_when_not_a_terminal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
