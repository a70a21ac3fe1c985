/* Fuzz target: the catalog loader, the HTML and CSS link extractors, and the
 * reader of observe JSON lines.  The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tlsscope/catalog.h"
#include "tlsscope/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	struct ts_error err;
	switch (data[0] % 4) {
	case 0: {
		struct ts_catalog *cat = NULL;
		if (ts_catalog_parse(text, len, &cat, &err) == TS_OK) {
			/* A catalog that loads must also be usable by the matcher. */
			struct ts_id_input in;
			ts_id_input_init(&in);
			struct ts_id_response r[2] = { { .t = 1, .size = 1000, .size_min = 990 },
			                               { .t = 1.1, .size = 300, .size_min = 300, .records = 3 } };
			struct ts_id_conn c = { .version = 0x0304, .responses = r, .n_responses = 2 };
			snprintf(c.sni, sizeof c.sni, "%s", cat->host);
			ts_id_input_add(&in, &c, &err);
			struct ts_id_result res;
			ts_identify(cat, &in, NULL, &res, &err);
			ts_id_result_clear(&res);
			ts_id_input_clear(&in);
		}
		ts_catalog_free(cat);
		break;
	}
	case 1: {
		struct ts_catalog_links l = { 0 };
		ts_catalog_html_links(text, len, "https://site.test/dir/page.html", &l, &err);
		ts_catalog_links_clear(&l);
		break;
	}
	case 2: {
		struct ts_catalog_links l = { 0 };
		ts_catalog_css_links(text, len, "https://site.test/css/s.css", &l, &err);
		ts_catalog_links_clear(&l);
		break;
	}
	case 3: {
		struct ts_id_input in;
		ts_id_input_init(&in);
		ts_id_input_parse_observe_json(&in, text, len, &err);
		ts_id_input_clear(&in);
		break;
	}
	}
	return 0;
}
