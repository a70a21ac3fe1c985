/* Output of `serve --pad` (report_pad.h). */
#include "tlsscope/report_pad.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

void ts_report_pad_passthrough(struct ts_report *r, const char *client, const char *reason)
{
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "event", json_string("pad_passthrough"));
		json_object_set_new(o, "client", json_string(client));
		json_object_set_new(o, "reason", json_string(reason));
		ts_report_json(r, o);
	} else {
		fprintf(r->out, "%s: padding stopped, passing through: %s\n", client, reason);
	}
	fflush(r->out);
}

void ts_report_pad_conn(struct ts_report *r, const char *client, const struct ts_pad_stats *s)
{
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "event", json_string("pad"));
		json_object_set_new(o, "client", json_string(client));
		json_object_set_new(o, "responses", json_integer((json_int_t)s->responses));
		json_object_set_new(o, "response_bytes", json_integer((json_int_t)s->response_bytes));
		json_object_set_new(o, "padding", json_integer((json_int_t)s->padding));
		ts_report_json(r, o);
	} else {
		fprintf(r->out, "%s: padded %" PRIu64 " response%s, %" PRIu64 " bytes + %" PRIu64 " padding\n", client,
		        s->responses, s->responses == 1 ? "" : "s", s->response_bytes, s->padding);
	}
	fflush(r->out);
}
