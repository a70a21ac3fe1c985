#include "tlsscope/report_catalog.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static json_t *fetch_json(const struct ts_catalog_fetch *f)
{
	if (!f->done)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:o, s:b, s:o}",
	                 "status", (json_int_t)f->status,
	                 "header_bytes", (json_int_t)f->header_bytes,
	                 "body_bytes", (json_int_t)f->body_bytes,
	                 "content_encoding", ts_json_string_or_null(f->content_encoding),
	                 "chunked", f->chunked,
	                 "error", ts_json_string_or_null(f->error));
}

static json_t *entry_json(const struct ts_catalog *cat, const struct ts_catalog_entry *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "url", json_string(e->url));
	if (e->kind != TS_CATALOG_PAGE)
		json_object_set_new(o, "kind", json_string(ts_catalog_kind_name(e->kind)));
	json_object_set_new(o, "content_type", ts_json_string_or_null(e->content_type));
	json_object_set_new(o, "redirect", ts_json_string_or_null(e->redirect));
	json_object_set_new(o, "http_version", ts_json_string_or_null(e->http_version));
	json_object_set_new(o, "identity", fetch_json(&e->identity));
	json_object_set_new(o, "encoded", fetch_json(&e->encoded));
	json_t *refs = json_array();
	for (size_t i = 0; i < e->n_refs; i++)
		json_array_append_new(refs, json_string(e->refs[i]));
	json_object_set_new(o, "refs", refs);
	if (e->kind == TS_CATALOG_PAGE) {
		json_t *subs = json_array();
		for (size_t i = 0; i < e->n_subresources; i++)
			json_array_append_new(subs, json_string(cat->entries[e->subresources[i]].url));
		json_object_set_new(o, "subresources", subs);
	}
	return o;
}

json_t *ts_catalog_to_json(const struct ts_catalog *cat)
{
	json_t *pages = json_array(), *resources = json_array();
	for (size_t i = 0; i < cat->n_entries; i++) {
		const struct ts_catalog_entry *e = &cat->entries[i];
		json_array_append_new(e->kind == TS_CATALOG_PAGE ? pages : resources, entry_json(cat, e));
	}
	return json_pack("{s:s, s:i, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:I, s:o, s:o}",
	                 "format", TS_CATALOG_FORMAT,
	                 "version", cat->version,
	                 "start_url", ts_json_string_or_null(cat->start_url),
	                 "scheme", ts_json_string_or_null(cat->scheme),
	                 "host", ts_json_string_or_null(cat->host),
	                 "port", cat->port,
	                 "address", ts_json_string_or_null(cat->address),
	                 "created", ts_json_string_or_null(cat->created),
	                 "user_agent", ts_json_string_or_null(cat->user_agent),
	                 "accept_encoding", ts_json_string_or_null(cat->accept_encoding),
	                 "skipped_pages", (json_int_t)cat->skipped_pages,
	                 "pages", pages,
	                 "resources", resources);
}

int ts_report_catalog_json(FILE *out, const struct ts_catalog *cat)
{
	json_t *doc = ts_catalog_to_json(cat);
	if (doc == NULL)
		return -1;
	int rc = json_dumpf(doc, out, JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (fputc('\n', out) == EOF || rc != 0)
		return -1;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void human_bytes(uint64_t n, char *buf, size_t len)
{
	if (n < 10240)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < 10 * 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", n / 1024.0);
	else
		snprintf(buf, len, "%.1f MiB", n / (1024.0 * 1024.0));
}

void ts_report_catalog_summary(struct ts_report *r, const struct ts_catalog *cat)
{
	size_t kinds[TS_CATALOG_KIND_COUNT] = { 0 };
	size_t failed = 0, redirects = 0, errors = 0, encoded = 0, n_pages = 0;
	uint64_t bytes_identity = 0, bytes_encoded = 0;
	uint64_t *sizes = calloc(cat->n_entries + 1, sizeof *sizes);
	for (size_t i = 0; i < cat->n_entries; i++) {
		const struct ts_catalog_entry *e = &cat->entries[i];
		kinds[e->kind]++;
		bytes_identity += e->identity.body_bytes;
		bytes_encoded += e->encoded.body_bytes;
		if (e->identity.error != NULL || e->encoded.error != NULL)
			errors++;
		else if (e->identity.status >= 400)
			failed++;
		if (e->redirect != NULL)
			redirects++;
		if (e->encoded.content_encoding != NULL)
			encoded++;
		if (e->kind == TS_CATALOG_PAGE && e->encoded.done && e->encoded.error == NULL && sizes != NULL)
			sizes[n_pages++] = e->encoded.header_bytes + e->encoded.body_bytes;
	}
	size_t unique = 0;
	if (sizes != NULL) {
		qsort(sizes, n_pages, sizeof *sizes, cmp_u64);
		for (size_t i = 0; i < n_pages; i++)
			unique += (i == 0 || sizes[i] != sizes[i - 1]) && (i + 1 == n_pages || sizes[i] != sizes[i + 1]);
	}
	free(sizes);
	char a[32], b[32];
	ts_report_heading(r, "Catalog");
	ts_report_line(r, "site", TS_TONE_PLAIN, "%s://%s:%d", cat->scheme ? cat->scheme : "https",
	               cat->host ? cat->host : "?", cat->port);
	ts_report_line(r, "address", TS_TONE_PLAIN, "%s", cat->address ? cat->address : "unknown");
	const char *version = cat->n_entries > 0 ? cat->entries[0].http_version : NULL;
	ts_report_line(r, "HTTP version", TS_TONE_PLAIN, "%s", version ? version : "unknown");
	ts_report_line(r, "pages", TS_TONE_PLAIN, "%zu%s", kinds[TS_CATALOG_PAGE],
	               cat->skipped_pages ? " (limit reached, more links not followed)" : "");
	ts_report_line(r, "sub-resources", TS_TONE_PLAIN,
	               "%zu (%zu stylesheets, %zu scripts, %zu images, %zu icons, %zu fonts, %zu other)",
	               cat->n_entries - kinds[TS_CATALOG_PAGE], kinds[TS_CATALOG_STYLESHEET],
	               kinds[TS_CATALOG_SCRIPT], kinds[TS_CATALOG_IMAGE], kinds[TS_CATALOG_ICON],
	               kinds[TS_CATALOG_FONT], kinds[TS_CATALOG_OTHER]);
	human_bytes(bytes_identity, a, sizeof a);
	human_bytes(bytes_encoded, b, sizeof b);
	ts_report_line(r, "bytes", TS_TONE_PLAIN, "%s identity, %s with %s", a, b,
	               cat->accept_encoding ? cat->accept_encoding : "compression");
	ts_report_line(r, "compressed responses", TS_TONE_PLAIN, "%zu of %zu", encoded, cat->n_entries);
	ts_report_line(r, "redirects", TS_TONE_PLAIN, "%zu", redirects);
	ts_report_line(r, "HTTP errors (4xx, 5xx)", failed ? TS_TONE_WARN : TS_TONE_PLAIN, "%zu", failed);
	ts_report_line(r, "failed transfers", errors ? TS_TONE_BAD : TS_TONE_PLAIN, "%zu", errors);
	ts_report_line(r, "pages with a unique size", unique == n_pages ? TS_TONE_BAD : TS_TONE_PLAIN,
	               "%zu of %zu (the observer can tell these apart by size alone)", unique, n_pages);
	for (size_t i = 0, shown = 0; i < cat->n_entries && shown < 10; i++) {
		const struct ts_catalog_entry *e = &cat->entries[i];
		const char *why = e->identity.error ? e->identity.error : e->encoded.error;
		if (why != NULL) {
			ts_report_text(r, TS_TONE_WARN, "  failed: %s: %s", e->url, why);
			shown++;
		}
	}
}

void ts_report_catalog_progress(const struct ts_catalog_progress *p)
{
	if (p == NULL) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		return;
	}
	const int width = 30;
	size_t total = p->fetches_queued ? p->fetches_queued : 1;
	int fill = (int)(width * p->fetches_done / total);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	const char *url = p->last_url ? p->last_url : "";
	size_t len = strlen(url);
	fprintf(stderr, "\r\033[K[%s] %zu/%zu pages, %zu/%zu fetches  %s%.40s", bar, p->pages_done,
	        p->pages_known, p->fetches_done, p->fetches_queued, len > 40 ? "..." : "",
	        len > 40 ? url + len - 40 : url);
	fflush(stderr);
}

/* The URL without the site's scheme://host:port, for short lines. */
static const char *short_url(const struct ts_catalog *cat, const char *url)
{
	const char *p = strstr(url, "://");
	if (p == NULL)
		return url;
	p = strchr(p + 3, '/');
	return p != NULL ? p : url;
}

static void clock_text(double t, char *buf, size_t len)
{
	time_t secs = (time_t)t;
	struct tm tm;
	gmtime_r(&secs, &tm);
	char hms[16];
	strftime(hms, sizeof hms, "%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03d", hms, (int)((t - (double)secs) * 1000) % 1000);
}

static json_t *guess_json(const struct ts_catalog *cat, const struct ts_id_guess *g)
{
	return json_pack("{s:s, s:f, s:I, s:s, s:I}",
	                 "url", cat->entries[g->entry].url,
	                 "confidence", round(g->confidence * 1000) / 1000,
	                 "expected_bytes", (json_int_t)g->expected,
	                 "encoding", g->encoded ? "encoded" : "identity",
	                 "subresources_matched", (json_int_t)g->subresources_matched);
}

void ts_report_identify(struct ts_report *r, const struct ts_catalog *cat,
                        const struct ts_id_input *in, const struct ts_id_result *res)
{
	if (!r->json) {
		ts_report_heading(r, "Page loads");
		ts_report_line(r, "site", TS_TONE_PLAIN, "%s:%d (%zu pages in the catalog)", cat->host,
		               cat->port, ts_catalog_page_count(cat));
		ts_report_line(r, "connections to the site", res->conns_site ? TS_TONE_PLAIN : TS_TONE_WARN,
		               "%zu (%zu other TLS connections ignored)", res->conns_site, res->conns_other);
		ts_report_line(r, "responses", TS_TONE_PLAIN, "%zu in %zu page loads", res->responses,
		               res->n_loads);
		if (res->request_overhead >= 0)
			ts_report_line(r, "request size", TS_TONE_PLAIN,
			               "%ld bytes + the path (learnt: request sizes tell pages apart)",
			               res->request_overhead);
		if (res->ticket_bytes >= 0)
			ts_report_line(r, "TLS 1.3 session tickets", TS_TONE_PLAIN,
			               "%ld bytes each (learnt, taken off first responses)", res->ticket_bytes);
		if (res->n_loads > 0)
			fputc('\n', r->out);
	}
	for (size_t i = 0; i < res->n_loads; i++) {
		const struct ts_id_load *L = &res->loads[i];
		const struct ts_id_conn *c = &in->conns[L->conn];
		const struct ts_id_guess *g = L->n_guesses > 0 ? &L->guesses[0] : NULL;
		const struct ts_id_guess *g2 = L->n_guesses > 1 ? &L->guesses[1] : NULL;
		const char *redirect = L->redirect_entry >= 0 ? cat->entries[L->redirect_entry].url : NULL;
		if (r->json) {
			json_t *guesses = json_array();
			for (size_t k = 0; k < L->n_guesses; k++)
				json_array_append_new(guesses, guess_json(cat, &L->guesses[k]));
			json_t *o = json_pack("{s:s, s:f, s:o, s:o, s:o, s:I, s:b, s:b, s:o, s:I, s:o, s:o}",
				"type", "page_load",
				"t", L->t,
				"page", g ? json_string(cat->entries[g->entry].url) : json_null(),
				"confidence", g ? json_real(round(g->confidence * 1000) / 1000) : json_null(),
				"runner_up", g2 ? json_string(cat->entries[g2->entry].url) : json_null(),
				"observed_bytes", (json_int_t)L->observed,
				"http2", L->h2,
				"unknown", L->unknown,
				"redirect_from", ts_json_string_or_null(redirect),
				"responses", (json_int_t)L->responses,
				"guesses", guesses,
				"server", json_pack("{s:s, s:i, s:i}", "ip", c->server_addr, "port", c->server_port,
				                    "client_port", c->client_port));
			ts_report_json(r, o);
			continue;
		}
		char when[32];
		clock_text(L->t, when, sizeof when);
		enum ts_tone tone = L->unknown || g == NULL ? TS_TONE_DIM
		                  : g->confidence >= 0.8 ? TS_TONE_BAD
		                  : g->confidence >= 0.4 ? TS_TONE_WARN : TS_TONE_PLAIN;
		fprintf(r->out, "%s  %s%-40s %3.0f%%%s", when, ts_report_tone(r, tone),
		        g ? short_url(cat, cat->entries[g->entry].url) : "?", g ? g->confidence * 100 : 0.0,
		        tone == TS_TONE_PLAIN ? "" : ts_report_reset(r));
		if (g2 != NULL)
			fprintf(r->out, "  runner-up %s %.0f%%", short_url(cat, cat->entries[g2->entry].url),
			        g2->confidence * 100);
		fprintf(r->out, "  (%llu B, %zu responses%s%s%s%s)", (unsigned long long)L->observed,
		        L->responses, L->h2 ? ", HTTP/2: burst totals only" : "",
		        redirect ? ", via " : "", redirect ? short_url(cat, redirect) : "",
		        L->unknown ? ", no page of this size" : "");
		fputc('\n', r->out);
	}
	if (r->json) {
		ts_report_json(r, json_pack("{s:s, s:s, s:i, s:o, s:o, s:I, s:I, s:I, s:I, s:I}",
			"type", "identify_summary", "host", cat->host, "port", cat->port,
			"request_overhead", res->request_overhead >= 0 ? json_integer(res->request_overhead) : json_null(),
			"ticket_bytes", res->ticket_bytes >= 0 ? json_integer(res->ticket_bytes) : json_null(),
			"pages", (json_int_t)ts_catalog_page_count(cat),
			"connections_site", (json_int_t)res->conns_site,
			"connections_other", (json_int_t)res->conns_other,
			"responses", (json_int_t)res->responses,
			"page_loads", (json_int_t)res->n_loads));
	}
}
