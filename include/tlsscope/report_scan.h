/* tlsscope: output of `scan` — the grouped text report and the JSON line
 * (one object per target; names in docs/json.md). */
#ifndef TLSSCOPE_REPORT_SCAN_H
#define TLSSCOPE_REPORT_SCAN_H

#include <jansson.h>

#include "tlsscope/report.h"
#include "tlsscope/scan.h"

/* One target's result as JSON (new reference, owned by the caller). */
json_t *ts_scan_result_json(const struct ts_scan_result *r);
/* Text or one JSON line, as r is set up. */
void ts_report_scan(struct ts_report *rep, const struct ts_scan_result *r);

#endif
