/* tlsscope: output of the catalog and identify commands (lib/report_catalog.c). */
#ifndef TLSSCOPE_REPORT_CATALOG_H
#define TLSSCOPE_REPORT_CATALOG_H

#include <stdio.h>

#include "tlsscope/catalog.h"
#include "tlsscope/identify.h"
#include "tlsscope/report.h"

/* The catalog as one JSON document (format in docs/json.md), ending with a
 * newline.  Returns 0, or -1 when writing failed. */
int ts_report_catalog_json(FILE *out, const struct ts_catalog *cat);
/* The same document as a jansson value (a new reference, owned by the caller). */
json_t *ts_catalog_to_json(const struct ts_catalog *cat);

/* A summary for people: pages, sub-resources, sizes, failures, pages that
 * share a size (what the observer cannot tell apart). */
void ts_report_catalog_summary(struct ts_report *r, const struct ts_catalog *cat);

/* One progress bar line on stderr, redrawn in place; call with NULL to end it. */
void ts_report_catalog_progress(const struct ts_catalog_progress *p);

/* identify: one line per page load (time, guessed page, confidence,
 * runner-up) for people, or one {"type":"page_load"} JSON line per load and
 * a final {"type":"identify_summary"} line (docs/json.md). */
void ts_report_identify(struct ts_report *r, const struct ts_catalog *cat,
                        const struct ts_id_input *in, const struct ts_id_result *res);

#endif
