#include "tlsscope/identify.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONNS 100000
#define MAX_RESPONSES_PER_CONN 100000
#define MAX_LOADS 1000000
#define LOAD_CANDIDATES 32       /* pages whose sub-resources claim later responses */
#define SUB_MATCH_ERROR 1.5      /* a sub-resource matches within this many tolerances */
#define DOC_MATCH_ERROR 1.5      /* a response "looks like a page" within this */
#define SUB_WEIGHT 0.5           /* score per matched sub-resource */
#define REDIRECT_BONUS 1.0
#define NONE_SCORE -3.0          /* the "none of these" alternative in the softmax */
#define SOFTMAX_K 2.0
#define EXTRA_PENALTY 1.0        /* explaining a burst with unrelated extra bytes costs this */
#define H2_CONTROL_REQUEST 13    /* client bursts this small carry only HTTP/2 control frames */
#define H2_PREFACE_REQUEST_MAX 100
#define H2_PREFACE_RESPONSE_MAX 600
#define MIN_RESPONSE 64
#define H2_FRAME 9
#define H2_MAX_FRAME 16384
#define TLS13_TICKETS_MIN 300    /* two session tickets, as OpenSSL sends by default */
#define TLS13_TICKETS_MAX 700
#define TICKETS_SEARCH_MIN 100   /* learnt bytes per ticket are looked for in this range */
#define TICKETS_SEARCH_MAX 600
#define TICKETS_SLACK 2
#define LEARNT_EXTRA_PENALTY 0.2
#define TLS13_RECORD_WIRE 22     /* header 5, content type 1, AEAD tag 16 */
#define REQUEST_BONUS 2.0        /* the request's size fits the path exactly */
#define REQUEST_OVERHEAD_MAX 8192

/* ---- input ---- */

void ts_id_input_init(struct ts_id_input *in)
{
	*in = (struct ts_id_input){ 0 };
}

void ts_id_input_clear(struct ts_id_input *in)
{
	for (size_t i = 0; i < in->n_conns; i++)
		free(in->conns[i].responses);
	free(in->conns);
	*in = (struct ts_id_input){ 0 };
}

int ts_id_input_add(struct ts_id_input *in, const struct ts_id_conn *conn, struct ts_error *err)
{
	if (in->n_conns >= MAX_CONNS)
		return ts_error_set(err, TS_E_NOMEM, "more than %d connections", MAX_CONNS);
	if (conn->n_responses > MAX_RESPONSES_PER_CONN)
		return ts_error_set(err, TS_E_NOMEM, "more than %d responses on one connection",
		                    MAX_RESPONSES_PER_CONN);
	if (in->n_conns == in->cap_conns) {
		size_t cap = in->cap_conns ? in->cap_conns * 2 : 16;
		struct ts_id_conn *v = realloc(in->conns, cap * sizeof *v);
		if (v == NULL)
			return ts_error_set(err, TS_E_NOMEM, "out of memory");
		in->conns = v;
		in->cap_conns = cap;
	}
	struct ts_id_conn *c = &in->conns[in->n_conns];
	*c = *conn;
	c->responses = NULL;
	if (conn->n_responses > 0) {
		c->responses = malloc(conn->n_responses * sizeof *c->responses);
		if (c->responses == NULL)
			return ts_error_set(err, TS_E_NOMEM, "out of memory");
		memcpy(c->responses, conn->responses, conn->n_responses * sizeof *c->responses);
	}
	return (int)in->n_conns++;
}

static void copy_name(char *dst, size_t cap, json_t *v)
{
	dst[0] = '\0';
	if (json_is_string(v))
		snprintf(dst, cap, "%s", json_string_value(v));
}

static bool get_number(json_t *o, const char *field, double *out)
{
	json_t *v = json_object_get(o, field);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

static int observe_line(struct ts_id_input *in, json_t *o, size_t line, struct ts_error *err)
{
	json_t *type = json_object_get(o, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "tls") != 0)
		return TS_OK;
	struct ts_id_conn c = { 0 };
	copy_name(c.sni, sizeof c.sni, json_object_get(o, "sni"));
	copy_name(c.dns_name, sizeof c.dns_name, json_object_get(o, "dns_name"));
	json_t *server = json_object_get(o, "server");
	copy_name(c.server_addr, sizeof c.server_addr, json_object_get(server, "ip"));
	json_t *port = json_object_get(server, "port");
	if (json_is_integer(port) && json_integer_value(port) > 0 && json_integer_value(port) < 65536)
		c.server_port = (uint16_t)json_integer_value(port);
	port = json_object_get(json_object_get(o, "client"), "port");
	if (json_is_integer(port) && json_integer_value(port) > 0 && json_integer_value(port) < 65536)
		c.client_port = (uint16_t)json_integer_value(port);
	json_t *version = json_object_get(o, "version");
	if (json_is_string(version)) {
		if (strstr(json_string_value(version), "1.3") != NULL)
			c.version = 0x0304;
		else if (strstr(json_string_value(version), "1.2") != NULL)
			c.version = 0x0303;
	}
	json_t *alpn = json_object_get(o, "alpn");
	c.h2 = json_is_string(alpn) && strcmp(json_string_value(alpn), "h2") == 0;
	json_t *offered = json_object_get(o, "alpn_offered");
	for (size_t k = 0; k < json_array_size(offered); k++) {
		json_t *a = json_array_get(offered, k);
		if (json_is_string(a) && strcmp(json_string_value(a), "h2") == 0)
			c.h2_offered = true;
	}
	if (json_is_string(alpn))
		c.h2_offered = false;   /* the choice was seen */
	get_number(o, "ts", &c.t_start);
	double unsolicited = 0;
	if (get_number(o, "unsolicited_bytes", &unsolicited) && unsolicited > 0 && unsolicited < 1e12)
		c.unsolicited_bytes = (uint64_t)unsolicited;
	double unsolicited_records = 0;
	if (get_number(o, "unsolicited_records", &unsolicited_records) && unsolicited_records > 0 &&
	    unsolicited_records < 1e12)
		c.unsolicited_records = (uint64_t)unsolicited_records;
	json_t *ex = json_object_get(o, "exchanges");
	if (ex != NULL && !json_is_array(ex))
		return ts_error_set(err, TS_E_MALFORMED, "line %zu: exchanges: expected an array", line);
	size_t n = json_array_size(ex);
	if (n > MAX_RESPONSES_PER_CONN)
		n = MAX_RESPONSES_PER_CONN;
	if (n > 0 && (c.responses = calloc(n, sizeof *c.responses)) == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(ex, i);
		struct ts_id_response *r = &c.responses[c.n_responses];
		double t, size, size_min, req = 0;
		if (!json_is_object(x) || !get_number(x, "t", &t) ||
		    !get_number(x, "response_plaintext_estimate", &size) || !(size >= 0) || size > 1e15) {
			free(c.responses);
			return ts_error_set(err, TS_E_MALFORMED,
			                    "line %zu: exchanges[%zu]: expected an object with numbers \"t\" and "
			                    "\"response_plaintext_estimate\"", line, i);
		}
		if (!get_number(x, "response_plaintext_min", &size_min) || !(size_min >= 0) || size_min > size)
			size_min = size;
		get_number(x, "request_plaintext_estimate", &req);
		double tmax;
		r->tickets_handled = get_number(x, "response_plaintext_max", &tmax);
		double lead = 0;
		if (i == 0 && get_number(x, "response_first_record", &lead) && lead > 0 && lead < size)
			r->lead = (uint64_t)lead;
		double records = 0;
		if (get_number(x, "response_records", &records) && records > 0 && records < 1e9)
			r->records = (uint32_t)records;
		if (size == 0)
			continue;   /* a request without response (yet) */
		r->t = t;
		r->size = (uint64_t)size;
		r->size_min = (uint64_t)size_min;
		r->request_size = req > 0 && req < 1e15 ? (uint64_t)req : 0;
		c.n_responses++;
	}
	int rc = ts_id_input_add(in, &c, err);
	free(c.responses);
	return rc < 0 ? rc : TS_OK;
}

int ts_id_input_parse_observe_json(struct ts_id_input *in, const char *text, size_t len,
                                   struct ts_error *err)
{
	size_t line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		line++;
		size_t s = pos;
		while (s < end && isspace((unsigned char)text[s]))
			s++;
		if (s < end) {
			json_error_t jerr;
			json_t *o = json_loadb(text + s, end - s, 0, &jerr);
			if (!json_is_object(o)) {
				json_decref(o);
				return ts_error_set(err, TS_E_MALFORMED,
				                    "line %zu: expected a JSON object from 'tlsscope observe --json'%s%s",
				                    line, o == NULL ? ": " : "", o == NULL ? jerr.text : "");
			}
			int rc = observe_line(in, o, line, err);
			json_decref(o);
			if (rc != TS_OK)
				return rc;
		}
		pos = end + 1;
	}
	return TS_OK;
}

bool ts_identify_conn_matches(const struct ts_catalog *cat, const struct ts_id_conn *conn)
{
	if (cat->host == NULL)
		return false;
	if (conn->sni[0] != '\0')
		return strcasecmp(conn->sni, cat->host) == 0;
	if (conn->dns_name[0] != '\0' && strcasecmp(conn->dns_name, cat->host) == 0)
		return true;
	/* No name in the clear: the address (and port) the crawl used. */
	const char *addr = cat->address != NULL ? cat->address : cat->host;
	return conn->server_addr[0] != '\0' && strcmp(conn->server_addr, addr) == 0 &&
	       (conn->server_port == 0 || conn->server_port == cat->port);
}

/* ---- the model ---- */

/* What a connection carries: HTTP/1.x, HTTP/2, or unknown (TLS 1.3 hides
 * the ALPN choice, and the client offered h2). */
enum { PROTO_H1, PROTO_H2, PROTO_EITHER };

struct settings {
	double window, tol_rel, max_error;
	double tol, h2_tol;
	double extra_penalty;   /* cost of explaining a burst with extra bytes */
};

/* Predicted document sizes of an entry: [0] encoded, [1] identity; 0 = unknown. */
struct model {
	uint64_t h1[2], h2[2];
	uint64_t h2_headers[2];     /* the HEADERS frame's share of h2 */
};

static uint64_t h2_size(uint64_t header_bytes, uint64_t body_bytes, bool chunked)
{
	/* HTTP/2 has no chunked framing; its headers travel HPACK-compressed
	 * (42% of the HTTP/1.1 text, measured on nginx 1.22); each DATA frame
	 * and the HEADERS frame carry a 9-byte frame header. */
	(void)chunked;
	uint64_t frames = 1 + (body_bytes + H2_MAX_FRAME - 1) / H2_MAX_FRAME;
	return body_bytes + frames * H2_FRAME + header_bytes * 424 / 1000;
}

static void model_entry(const struct ts_catalog_entry *e, struct model *m)
{
	*m = (struct model){ 0 };
	const struct ts_catalog_fetch *f[2] = { &e->encoded, &e->identity };
	for (int k = 0; k < 2; k++) {
		if (!f[k]->done || f[k]->error != NULL || f[k]->status == 0)
			continue;
		m->h1[k] = f[k]->header_bytes + f[k]->body_bytes;
		/* The encoded body carries chunk framing on HTTP/1.1 only; HTTP/2
		 * does not chunk, so take an estimate of the framing back out. */
		uint64_t body = f[k]->body_bytes;
		if (f[k]->chunked && k == 0) {
			uint64_t framing = 5 + 7 * (1 + body / 32768);
			body = body > framing ? body - framing : body;
		}
		m->h2[k] = h2_size(f[k]->header_bytes, body, f[k]->chunked);
		m->h2_headers[k] = H2_FRAME + f[k]->header_bytes * 424 / 1000;
	}
	if (m->h1[0] == 0 && m->h1[1] == 0 && m->h2[0] == 0 && m->h2[1] == 0)
		return;
}

/* Distance in bytes between what was observed and an expected size. */
static double distance(const struct ts_id_response *r, uint64_t expected, double *penalty)
{
	double lo = (double)r->size_min, hi = (double)r->size, e = (double)expected;
	double d = e < lo ? lo - e : e > hi ? e - hi : 0;
	*penalty = 0;
	if (r->extra_max > 0 && d > 0) {
		double lo2 = lo - (double)r->extra_max, hi2 = hi - (double)r->extra_min;
		double d2 = e < lo2 ? lo2 - e : e > hi2 ? e - hi2 : 0;
		if (d2 < d) {
			d = d2;
			*penalty = -1;   /* the caller applies settings.extra_penalty */
		}
	}
	return d;
}

/* Error in tolerances of a response against an entry's model; *which says
 * which prediction (encoded or identity) fitted best. */
static double model_error(const struct settings *s, const struct model *m,
                          const struct ts_id_response *r, int proto, int *which, uint64_t *expected)
{
	double best = INFINITY;
	for (int k = 0; k < 4; k++) {
		bool h2 = k >= 2;
		if ((h2 && proto == PROTO_H1) || (!h2 && proto == PROTO_H2))
			continue;
		const uint64_t *pred = h2 ? m->h2 : m->h1;
		if (pred[k % 2] == 0)
			continue;
		double penalty;
		double tol = (h2 ? s->h2_tol : s->tol) + s->tol_rel * (double)pred[k % 2];
		double err = distance(r, pred[k % 2], &penalty) / tol + (penalty < 0 ? s->extra_penalty : 0);
		if (h2 && r->lead > 0 && r->lead < r->size_min) {
			/* A connection's first HTTP/2 burst opens with a record of the
			 * server's SETTINGS, alone or with the response's HEADERS. */
			struct ts_id_response q = *r;
			q.size -= r->lead;
			q.size_min -= r->lead;
			uint64_t hdr = m->h2_headers[k % 2] < pred[k % 2] ? m->h2_headers[k % 2] : 0;
			for (int j = 0; j < 2; j++) {
				double alt = distance(&q, pred[k % 2] - (j ? hdr : 0), &penalty) / tol +
				             (penalty < 0 ? s->extra_penalty : 0);
				if (alt < err)
					err = alt;
			}
		}
		if (err < best) {
			best = err;
			if (which != NULL)
				*which = k % 2;
			if (expected != NULL)
				*expected = pred[k % 2];
		}
	}
	return best;
}

struct event {
	double t;
	size_t conn;
	struct ts_id_response r;
	int h2;                 /* PROTO_* */
	bool first_tls13;       /* the first response of a TLS 1.3 connection */
};

struct work_load {
	struct ts_id_load out;
	int proto;                     /* of the document's connection */
	struct ts_id_response doc;
	double last_t;
	long pending_target;           /* redirect target awaiting its response, or -1 */
	size_t cands[LOAD_CANDIDATES];
	size_t n_cands;
	struct ts_id_response *subs;   /* responses after the document */
	size_t n_subs, cap_subs;
};

struct matcher {
	const struct ts_catalog *cat;
	struct settings s;
	struct model *models;          /* per catalog entry */
	size_t *pathlen;               /* per catalog entry: bytes of path and query */
	long request_overhead;         /* learnt, -1 unknown */
	long ticket_bytes;             /* learnt, -1 unknown */
	uint64_t unsolicited_mode;     /* most common unsolicited bytes per record, TLS 1.3 */
	size_t *pages;                 /* entry indexes of the pages */
	size_t n_pages;
};

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->conn < y->conn ? -1 : x->conn > y->conn;
}

/* Pages nearest to a response, best first, at most cap. */
static size_t nearest_pages(const struct matcher *m, const struct ts_id_response *r, int h2,
                            size_t *out, double *errs, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_pages; i++) {
		size_t e = m->pages[i];
		double err = model_error(&m->s, &m->models[e], r, h2, NULL, NULL);
		if (!(err <= m->s.max_error))
			continue;
		size_t pos = n < cap ? n : cap;
		while (pos > 0 && errs[pos - 1] > err)
			pos--;
		if (pos >= cap)
			continue;
		size_t last = n < cap ? n : cap - 1;
		for (size_t k = last; k > pos; k--) {
			out[k] = out[k - 1];
			errs[k] = errs[k - 1];
		}
		out[pos] = e;
		errs[pos] = err;
		if (n < cap)
			n++;
	}
	return n;
}

/* The smallest error of r against a sub-resource of the load's candidates. */
static double subresource_error(const struct matcher *m, const struct work_load *w,
                                const struct ts_id_response *r, int h2)
{
	double best = INFINITY;
	for (size_t c = 0; c < w->n_cands; c++) {
		const struct ts_catalog_entry *p = &m->cat->entries[w->cands[c]];
		for (size_t k = 0; k < p->n_subresources; k++) {
			double e = model_error(&m->s, &m->models[p->subresources[k]], r, h2, NULL, NULL);
			if (e < best)
				best = e;
		}
	}
	return best;
}

static long redirect_target(const struct matcher *m, size_t entry)
{
	const struct ts_catalog_entry *e = &m->cat->entries[entry];
	if (e->redirect == NULL)
		return -1;
	const struct ts_catalog_entry *t = ts_catalog_find(m->cat, e->redirect);
	return t != NULL ? (long)(t - m->cat->entries) : -1;
}

/* The pages the document could be: only these claim the responses that follow. */
static void set_candidates(const struct matcher *m, struct work_load *w,
                           const struct ts_id_response *r, int h2)
{
	double errs[LOAD_CANDIDATES];
	size_t n = nearest_pages(m, r, h2, w->cands, errs, LOAD_CANDIDATES);
	w->n_cands = 0;
	while (w->n_cands < n && errs[w->n_cands] <= DOC_MATCH_ERROR)
		w->n_cands++;
}

static void start_load(const struct matcher *m, struct work_load *w, const struct event *ev)
{
	*w = (struct work_load){ .pending_target = -1 };
	w->out.t = ev->t;
	w->out.conn = ev->conn;
	w->out.observed = ev->r.size;
	w->out.h2 = ev->h2 != PROTO_H1;
	w->proto = ev->h2;
	w->out.redirect_entry = -1;
	w->out.responses = 1;
	w->doc = ev->r;
	w->last_t = ev->t;
	set_candidates(m, w, &ev->r, ev->h2);
	if (w->n_cands > 0)
		w->pending_target = redirect_target(m, w->cands[0]);
}

static bool add_sub(struct work_load *w, const struct ts_id_response *r)
{
	if (w->n_subs == w->cap_subs) {
		size_t cap = w->cap_subs ? w->cap_subs * 2 : 8;
		struct ts_id_response *v = realloc(w->subs, cap * sizeof *v);
		if (v == NULL)
			return false;
		w->subs = v;
		w->cap_subs = cap;
	}
	w->subs[w->n_subs++] = *r;
	return true;
}

/* Greedy count of the load's other responses that a page's sub-resources explain. */
static size_t count_sub_matches(const struct matcher *m, const struct work_load *w, size_t page)
{
	const struct ts_catalog_entry *p = &m->cat->entries[page];
	if (p->n_subresources == 0 || w->n_subs == 0 || w->proto == PROTO_H2)
		return 0;
	unsigned char used_small[256];
	unsigned char *used = p->n_subresources <= sizeof used_small ? used_small
	                                                              : calloc(p->n_subresources, 1);
	if (used == NULL)
		return 0;
	memset(used, 0, p->n_subresources <= sizeof used_small ? sizeof used_small : 0);
	size_t matched = 0;
	for (size_t i = 0; i < w->n_subs; i++) {
		for (size_t k = 0; k < p->n_subresources; k++) {
			if (used[k])
				continue;
			if (model_error(&m->s, &m->models[p->subresources[k]], &w->subs[i], w->proto, NULL, NULL) <=
			    SUB_MATCH_ERROR) {
				used[k] = 1;
				matched++;
				break;
			}
		}
	}
	if (used != used_small)
		free(used);
	return matched;
}

/* An HTTP/1.1 request is the client's constant headers plus the path. */
static double request_bonus(const struct matcher *m, const struct work_load *w, size_t e)
{
	if (m->request_overhead < 0 || w->proto != PROTO_H1 || w->doc.request_size == 0)
		return 0;
	long d = (long)w->doc.request_size - (long)m->pathlen[e] - m->request_overhead;
	if (d < 0)
		d = -d;
	return d == 0 ? REQUEST_BONUS : d <= 2 ? REQUEST_BONUS / 2 : 0;
}

/* The client's request overhead: for every HTTP/1.1 load, each candidate page
 * votes for request size minus path length; the true value gets a vote from
 * nearly every load, wrong ones scatter. */
static void calibrate_requests(struct matcher *m, const struct work_load *wl, size_t n)
{
	unsigned *votes = calloc(REQUEST_OVERHEAD_MAX, sizeof *votes);
	size_t *stamp = calloc(REQUEST_OVERHEAD_MAX, sizeof *stamp);
	size_t voters = 0;
	for (size_t i = 0; i < n && votes != NULL && stamp != NULL; i++) {
		const struct work_load *w = &wl[i];
		if (w->proto != PROTO_H1 || w->doc.request_size == 0 || w->n_cands == 0)
			continue;
		voters++;
		for (size_t c = 0; c < w->n_cands; c++) {
			long v = (long)w->doc.request_size - (long)m->pathlen[w->cands[c]];
			if (v < 0 || v >= REQUEST_OVERHEAD_MAX || stamp[v] == i + 1)
				continue;
			stamp[v] = i + 1;
			votes[v]++;
		}
	}
	unsigned most = 0;
	for (long v = 0; votes != NULL && v < REQUEST_OVERHEAD_MAX; v++) {
		if (votes[v] > most) {
			most = votes[v];
			m->request_overhead = v;
		}
	}
	if (most < 3 || most * 10 < voters * 3)
		m->request_overhead = -1;
	free(votes);
	free(stamp);
}

static void rank(const struct matcher *m, struct work_load *w)
{
	struct ts_id_load *L = &w->out;
	double best_err = INFINITY;
	double max_score = NONE_SCORE;
	/* Two passes: the first finds the scale for a stable softmax. */
	double *scores = malloc(m->n_pages * sizeof *scores);
	if (scores == NULL)
		return;
	for (size_t i = 0; i < m->n_pages; i++) {
		size_t e = m->pages[i];
		double err = model_error(&m->s, &m->models[e], &w->doc, w->proto, NULL, NULL);
		if (err < best_err)
			best_err = err;
		double score = -err;
		if (err <= m->s.max_error) {
			score += SUB_WEIGHT * (double)count_sub_matches(m, w, e);
			if (L->redirect_entry >= 0 && redirect_target(m, (size_t)L->redirect_entry) == (long)e)
				score += REDIRECT_BONUS;
			score += request_bonus(m, w, e);
		}
		scores[i] = score;
		if (score > max_score)
			max_score = score;
	}
	double sum = exp(SOFTMAX_K * (NONE_SCORE - max_score));
	for (size_t i = 0; i < m->n_pages; i++)
		if (isfinite(scores[i]))
			sum += exp(SOFTMAX_K * (scores[i] - max_score));
	L->unknown = !(best_err <= m->s.max_error);
	L->n_guesses = 0;
	for (size_t i = 0; i < m->n_pages; i++) {
		if (!isfinite(scores[i]))
			continue;
		size_t pos = L->n_guesses;
		while (pos > 0 && L->guesses[pos - 1].score < scores[i])
			pos--;
		if (pos >= TS_ID_TOP)
			continue;
		size_t last = L->n_guesses < TS_ID_TOP ? L->n_guesses : TS_ID_TOP - 1;
		for (size_t k = last; k > pos; k--)
			L->guesses[k] = L->guesses[k - 1];
		struct ts_id_guess *g = &L->guesses[pos];
		int which = 0;
		uint64_t expected = 0;
		model_error(&m->s, &m->models[m->pages[i]], &w->doc, w->proto, &which, &expected);
		*g = (struct ts_id_guess){
			.entry = m->pages[i], .score = scores[i],
			.confidence = exp(SOFTMAX_K * (scores[i] - max_score)) / sum,
			.expected = expected, .encoded = which == 0,
			.subresources_matched = count_sub_matches(m, w, m->pages[i]),
		};
		if (L->n_guesses < TS_ID_TOP)
			L->n_guesses++;
	}
	free(scores);
}

static void settings_from(const struct ts_id_config *cfg, struct settings *s)
{
	struct ts_id_config d = { 0 };
	if (cfg == NULL)
		cfg = &d;
	s->window = cfg->window > 0 ? cfg->window : 2.0;
	s->tol = cfg->tolerance > 0 ? (double)cfg->tolerance : 16;
	s->tol_rel = cfg->tolerance_rel > 0 ? cfg->tolerance_rel : 0.002;
	s->h2_tol = cfg->h2_tolerance > 0 ? (double)cfg->h2_tolerance : 24;
	s->max_error = cfg->max_error > 0 ? cfg->max_error : 6;
	s->extra_penalty = EXTRA_PENALTY;
}

void ts_id_result_clear(struct ts_id_result *res)
{
	free(res->loads);
	*res = (struct ts_id_result){ 0 };
}

/* The site's responses in time order; HTTP/2 bursts split by a client
 * control frame are joined again. */
static struct event *collect(const struct ts_catalog *cat, const struct ts_id_input *in,
                             struct ts_id_result *res, size_t *n_out)
{
	size_t total = 0;
	for (size_t i = 0; i < in->n_conns; i++)
		if (ts_identify_conn_matches(cat, &in->conns[i]))
			total += in->conns[i].n_responses;
	struct event *ev = malloc((total + 1) * sizeof *ev);
	if (ev == NULL)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < in->n_conns; i++) {
		const struct ts_id_conn *c = &in->conns[i];
		if (!ts_identify_conn_matches(cat, c)) {
			res->conns_other++;
			continue;
		}
		res->conns_site++;
		size_t first = n;
		int proto = c->h2 ? PROTO_H2 : c->h2_offered && c->version == 0x0304 ? PROTO_EITHER : PROTO_H1;
		/* A first request too small for HTTP/1.1 headers is HTTP/2's preface. */
		if (proto == PROTO_EITHER && c->n_responses > 0 && c->responses[0].request_size > 0 &&
		    c->responses[0].request_size < H2_PREFACE_REQUEST_MAX)
			proto = PROTO_H2;
		for (size_t k = 0; k < c->n_responses; k++) {
			const struct ts_id_response *r = &c->responses[k];
			if (proto != PROTO_H1 && n > first && r->request_size > 0 &&
			    r->request_size <= H2_CONTROL_REQUEST) {
				ev[n - 1].r.size += r->size;
				ev[n - 1].r.size_min += r->size_min;
				continue;
			}
			/* HTTP/2's opening: the client preface and SETTINGS, answered by the
			 * server's SETTINGS (and maybe session tickets), before any request. */
			if (proto != PROTO_H1 && k == 0 && r->request_size > 0 &&
			    r->request_size < H2_PREFACE_REQUEST_MAX && r->size < H2_PREFACE_RESPONSE_MAX)
				continue;
			/* No HTTP/1.x response is this small: HTTP/2 control frames, alerts. */
			if (r->size < MIN_RESPONSE)
				continue;
			ev[n] = (struct event){ .t = r->t, .conn = i, .r = *r, .h2 = proto };
			/* TLS 1.3 servers send their session tickets after the handshake; when
			 * the request went out with the client's Finished they land in the
			 * first response burst (calibrate_tickets decides how many bytes). */
			ev[n].first_tls13 = k == 0 && c->version == 0x0304 && r->extra_max == 0 &&
			                    !r->tickets_handled;
			n++;
		}
	}
	res->responses = n;
	qsort(ev, n, sizeof *ev, cmp_event);
	*n_out = n;
	return ev;
}

/* Session tickets the burst seems to carry: TLS records beyond what the
 * response needs (a record holds at most 16 KiB of plaintext).  -1 unknown. */
static int extra_records(const struct ts_id_response *r, int proto)
{
	if (r->records == 0)
		return -1;
	long needed = (long)((r->size + 16383) / 16384);
	/* An HTTP/2 server's first burst also has its SETTINGS in a record. */
	if (proto != PROTO_H1)
		needed++;
	long k = (long)r->records - (needed > 0 ? needed : 1);
	return k > 0 ? (int)(k > 4 ? 4 : k) : 0;
}

/* The server's session tickets weigh the same on every connection: find the
 * ticket size that, taken off the first responses of TLS 1.3 connections
 * that carry extra records, makes the most of them fit a catalogued size
 * exactly.  Two agreeing responses are needed; otherwise a wide range with a
 * higher penalty is allowed.  Responses without extra records get no
 * allowance at all. */
static void calibrate_tickets(struct matcher *m, struct event *ev, size_t n)
{
	enum { SPAN = TICKETS_SEARCH_MAX - TICKETS_SEARCH_MIN + 1 };
	unsigned *count = calloc(SPAN, sizeof *count);
	size_t *stamp = calloc(SPAN, sizeof *stamp);
	long best = -1;
	for (size_t i = 0; i < n && count != NULL && stamp != NULL; i++) {
		int k = ev[i].first_tls13 ? extra_records(&ev[i].r, ev[i].h2) : 0;
		if (k <= 0)
			continue;
		for (size_t e = 0; e < m->cat->n_entries; e++) {
			for (int v = 0; v < 4; v++) {
				const uint64_t *pred = v < 2 ? m->models[e].h1 : m->models[e].h2;
				if ((v < 2 && ev[i].h2 == PROTO_H2) || (v >= 2 && ev[i].h2 == PROTO_H1))
					continue;
				if (pred[v % 2] == 0)
					continue;
				double lo = ((double)ev[i].r.size_min - (double)pred[v % 2] - TICKETS_SLACK) / k;
				double hi = ((double)ev[i].r.size - (double)pred[v % 2] + TICKETS_SLACK) / k;
				if (lo < TICKETS_SEARCH_MIN)
					lo = TICKETS_SEARCH_MIN;
				if (hi > TICKETS_SEARCH_MAX)
					hi = TICKETS_SEARCH_MAX;
				for (long x = (long)ceil(lo); x <= (long)floor(hi); x++) {
					size_t j = (size_t)(x - TICKETS_SEARCH_MIN);
					if (stamp[j] != i + 1) {
						stamp[j] = i + 1;
						count[j]++;
					}
				}
			}
		}
	}
	unsigned most = 1;
	for (size_t j = 0; count != NULL && j < SPAN; j++) {
		if (count[j] > most) {
			most = count[j];
			best = (long)j + TICKETS_SEARCH_MIN;
		}
	}
	free(count);
	free(stamp);
	/* Better: connections whose tickets arrived before the request show
	 * them alone, a record each (unsolicited bytes and records): when first
	 * responses carry extra records, a ticket weighs the commonest such
	 * record minus its overhead (a resumed connection may get one ticket
	 * where a full handshake got two). */
	bool extra = false;
	for (size_t i = 0; i < n; i++)
		extra |= ev[i].first_tls13 && extra_records(&ev[i].r, ev[i].h2) > 0;
	uint64_t u = m->unsolicited_mode;
	if (extra && u > TLS13_RECORD_WIRE + TICKETS_SEARCH_MIN &&
	    u < TLS13_RECORD_WIRE + TICKETS_SEARCH_MAX)
		best = (long)u - TLS13_RECORD_WIRE;
	m->ticket_bytes = best;
	for (size_t i = 0; i < n; i++) {
		if (!ev[i].first_tls13)
			continue;
		if (ev[i].h2 != PROTO_H1 && best > 0) {
			/* HTTP/2 splits its DATA into records of its own sizes, so the
			 * record count cannot say how many tickets ride along: allow
			 * one or two. */
			ev[i].r.extra_min = (uint64_t)best > TICKETS_SLACK * 8 ? (uint64_t)best - TICKETS_SLACK * 8 : 0;
			ev[i].r.extra_max = 2 * (uint64_t)best + TICKETS_SLACK;
			continue;
		}
		int k = extra_records(&ev[i].r, ev[i].h2);
		if (k == 0)
			continue;
		if (k > 0 && best > 0) {
			/* The extra records say the tickets are there, and their size is
			 * known: take them off. */
			uint64_t t = (uint64_t)k * (uint64_t)best;
			if (ev[i].r.size_min > t + MIN_RESPONSE) {
				ev[i].r.size -= t;
				ev[i].r.size_min -= t;
			}
		} else {
			ev[i].r.extra_min = TLS13_TICKETS_MIN;
			ev[i].r.extra_max = TLS13_TICKETS_MAX;
		}
	}
	if (best > 0)
		m->s.extra_penalty = LEARNT_EXTRA_PENALTY;
}

/* The wire size of the records a TLS 1.3 connection's server sent before
 * any request, when they all have one size; 0 otherwise. */
static uint64_t unsolicited_record(const struct ts_id_conn *c)
{
	uint64_t r = c->unsolicited_records;
	if (c->version != 0x0304 || r == 0 || c->unsolicited_bytes % r != 0)
		return 0;
	return c->unsolicited_bytes / r;
}

/* A resumed TLS 1.3 connection may get a single ticket, and when it rides
 * ahead of the first response the observer cannot tell it from a header
 * record (it reports that record as `lead`): a first record of exactly the
 * size of the tickets seen alone on other connections is that ticket. */
static void drop_riding_tickets(const struct matcher *m, struct event *ev, size_t n)
{
	if (m->unsolicited_mode <= TLS13_RECORD_WIRE + MIN_RESPONSE)
		return;
	uint64_t ticket = m->unsolicited_mode - TLS13_RECORD_WIRE;
	for (size_t i = 0; i < n; i++) {
		struct ts_id_response *r = &ev[i].r;
		if (ev[i].h2 == PROTO_H1 && r->tickets_handled && r->lead == ticket && r->records >= 2 &&
		    r->size_min > ticket + MIN_RESPONSE) {
			r->size -= ticket;
			r->size_min -= ticket;
			r->lead = 0;
		}
	}
}

static uint64_t unsolicited_mode(const struct ts_catalog *cat, const struct ts_id_input *in)
{
	uint64_t best = 0;
	size_t best_n = 0;
	for (size_t i = 0; i < in->n_conns; i++) {
		const struct ts_id_conn *c = &in->conns[i];
		uint64_t size = unsolicited_record(c);
		if (size == 0 || !ts_identify_conn_matches(cat, c))
			continue;
		size_t n = 0;
		for (size_t j = 0; j < in->n_conns; j++)
			n += unsolicited_record(&in->conns[j]) == size;
		if (n > best_n) {
			best_n = n;
			best = size;
		}
		if (i > 200)
			break;   /* enough to see the pattern; keeps this linear-ish */
	}
	return best;
}

int ts_identify(const struct ts_catalog *cat, const struct ts_id_input *in,
                const struct ts_id_config *cfg, struct ts_id_result *res, struct ts_error *err)
{
	*res = (struct ts_id_result){ 0 };
	struct matcher m = { .cat = cat, .request_overhead = -1, .ticket_bytes = -1 };
	settings_from(cfg, &m.s);
	m.models = calloc(cat->n_entries + 1, sizeof *m.models);
	m.pages = calloc(cat->n_entries + 1, sizeof *m.pages);
	m.pathlen = calloc(cat->n_entries + 1, sizeof *m.pathlen);
	size_t n_ev = 0, cap_loads = 0, n_wl = 0;
	struct event *ev = NULL;
	struct work_load w = { 0 }, *wl = NULL;
	bool have = false;
	int rc = TS_OK;
	if (m.models == NULL || m.pages == NULL || m.pathlen == NULL)
		goto oom;
	for (size_t i = 0; i < cat->n_entries; i++) {
		model_entry(&cat->entries[i], &m.models[i]);
		const char *url = cat->entries[i].url;
		const char *p = strstr(url, "://");
		p = p != NULL ? strchr(p + 3, '/') : NULL;
		m.pathlen[i] = p != NULL ? strlen(p) : 1;
		if (cat->entries[i].kind == TS_CATALOG_PAGE &&
		    (m.models[i].h1[0] || m.models[i].h1[1]))
			m.pages[m.n_pages++] = i;
	}
	if ((ev = collect(cat, in, res, &n_ev)) == NULL)
		goto oom;
	m.unsolicited_mode = unsolicited_mode(cat, in);
	calibrate_tickets(&m, ev, n_ev);
	drop_riding_tickets(&m, ev, n_ev);
	for (size_t i = 0; i <= n_ev; i++) {
		const struct event *e = i < n_ev ? &ev[i] : NULL;
		if (e != NULL && have) {
			bool near = e->t - w.last_t <= m.s.window;
			if (near && w.pending_target >= 0 &&
			    model_error(&m.s, &m.models[w.pending_target], &e->r, e->h2, NULL, NULL) <= SUB_MATCH_ERROR) {
				/* The redirect was followed: the target's response is the document. */
				w.out.redirect_entry = (long)w.cands[0];
				w.doc = e->r;
				w.out.observed = e->r.size;
				w.out.t = e->t;
				w.out.conn = e->conn;
				w.out.responses++;
				w.last_t = e->t;
				w.pending_target = -1;
				set_candidates(&m, &w, &e->r, e->h2);
				continue;
			}
			/* A sub-resource of this page, or the next page?  Whichever fits
			 * better; a response that fits neither stays with the load.  After
			 * a pause longer than the window only a response that fits a
			 * sub-resource and no page does (a slow browser's late fetch). */
			double sub_err = subresource_error(&m, &w, &e->r, e->h2);
			size_t best;
			double page_err = INFINITY;
			if (nearest_pages(&m, &e->r, e->h2, &best, &page_err, 1) != 1)
				page_err = INFINITY;
			bool sub = sub_err <= SUB_MATCH_ERROR && sub_err <= page_err;
			bool page_like = page_err <= DOC_MATCH_ERROR;
			if (near ? sub || !page_like : sub && !page_like) {
				if (!add_sub(&w, &e->r))
					goto oom;
				w.out.responses++;
				w.last_t = e->t;
				continue;
			}
		}
		if (have) {
			if (n_wl == cap_loads) {
				size_t cap = cap_loads ? cap_loads * 2 : 16;
				if (cap > MAX_LOADS)
					goto oom;
				struct work_load *v = realloc(wl, cap * sizeof *v);
				if (v == NULL)
					goto oom;
				wl = v;
				cap_loads = cap;
			}
			wl[n_wl++] = w;
			w.subs = NULL;
			have = false;
		}
		if (e != NULL) {
			start_load(&m, &w, e);
			have = true;
		}
	}
	calibrate_requests(&m, wl, n_wl);
	res->ticket_bytes = m.ticket_bytes;
	res->request_overhead = m.request_overhead;
	if (n_wl > 0 && (res->loads = calloc(n_wl, sizeof *res->loads)) == NULL)
		goto oom;
	for (size_t i = 0; i < n_wl; i++) {
		rank(&m, &wl[i]);
		res->loads[res->n_loads++] = wl[i].out;
	}
	goto done;
oom:
	rc = ts_error_set(err, TS_E_NOMEM, "out of memory identifying pages");
	ts_id_result_clear(res);
done:
	for (size_t i = 0; i < n_wl; i++)
		free(wl[i].subs);
	free(wl);
	free(m.pathlen);
	free(w.subs);
	free(ev);
	free(m.models);
	free(m.pages);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t ts_identify_ambiguous_pages(const struct ts_catalog *cat, uint64_t tolerance)
{
	uint64_t *sizes = malloc((cat->n_entries + 1) * sizeof *sizes);
	if (sizes == NULL)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < cat->n_entries; i++) {
		struct model mo;
		model_entry(&cat->entries[i], &mo);
		if (cat->entries[i].kind == TS_CATALOG_PAGE && (mo.h1[0] || mo.h1[1]))
			sizes[n++] = mo.h1[0] ? mo.h1[0] : mo.h1[1];
	}
	qsort(sizes, n, sizeof *sizes, cmp_u64);
	size_t ambiguous = 0;
	for (size_t i = 0; i < n; i++)
		ambiguous += (i > 0 && sizes[i] - sizes[i - 1] <= tolerance) ||
		             (i + 1 < n && sizes[i + 1] - sizes[i] <= tolerance);
	free(sizes);
	return ambiguous;
}
