/* tlsscope: output of the observer — a table of TLS connections for people,
 * JSON lines {"type":"tls"}, {"type":"dns"} and {"type":"summary"} for
 * programs (docs/json.md, section "observe").
 * Memory: ts_observe_tls_json returns a new reference owned by the caller. */
#ifndef TLSSCOPE_REPORT_OBSERVE_H
#define TLSSCOPE_REPORT_OBSERVE_H

#include <jansson.h>
#include <stdbool.h>

#include "tlsscope/observe.h"
#include "tlsscope/report.h"

struct ts_report_observe {
	struct ts_report *r;
	bool details;            /* per-exchange lines and DNS messages in text */
	unsigned long long rows; /* connections printed so far */
};

void ts_report_observe_init(struct ts_report_observe *ro, struct ts_report *r, bool details);
void ts_report_observe_tls(struct ts_report_observe *ro, const struct ts_obs_tls *c);
void ts_report_observe_dns(struct ts_report_observe *ro, const struct ts_obs_dns *d);
/* The final summary; dropped is the kernel's drop count (live), source names the input. */
void ts_report_observe_summary(struct ts_report_observe *ro, const char *source,
                               const struct ts_observe_stats *st, unsigned long long dropped);

/* The {"type":"tls"} object of one connection (the identify engine reads it too). */
json_t *ts_observe_tls_json(const struct ts_obs_tls *c);
json_t *ts_observe_dns_json(const struct ts_obs_dns *d);

#endif
