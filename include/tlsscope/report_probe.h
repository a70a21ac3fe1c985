/* tlsscope: the probe's report, as text for people or one JSON object
 * (fields in docs/json.md, "probe"). */
#ifndef TLSSCOPE_REPORT_PROBE_H
#define TLSSCOPE_REPORT_PROBE_H

#include <jansson.h>

#include "tlsscope/probe.h"
#include "tlsscope/report.h"

/* Writes the whole report (text or JSON, as r says). */
void ts_report_probe(struct ts_report *r, const struct ts_probe_result *res);
/* The JSON object alone (a new reference, owned by the caller). */
json_t *ts_probe_json(const struct ts_probe_result *res);

#endif
