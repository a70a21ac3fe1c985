/* tlsscope: output of `serve --pad` (JSON names in docs/json.md, "serve"). */
#ifndef TLSSCOPE_REPORT_PAD_H
#define TLSSCOPE_REPORT_PAD_H

#include "tlsscope/pad.h"
#include "tlsscope/report.h"

/* One line when a connection's padding stops (pass-through) and why. */
void ts_report_pad_passthrough(struct ts_report *r, const char *client, const char *reason);
/* One line when a padded connection ends: responses, bytes, padding. */
void ts_report_pad_conn(struct ts_report *r, const char *client, const struct ts_pad_stats *s);

#endif
