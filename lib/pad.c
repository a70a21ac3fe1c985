/* Response padding: the policies and the HTTP/1.1 framing tracker (pad.h). */
#include "tlsscope/pad.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- policies: one small function each, in one table ---- */

static uint64_t target_none(const struct ts_pad_policy *p, uint64_t len)
{
	(void)p;
	return len;
}

static uint64_t target_block(const struct ts_pad_policy *p, uint64_t len)
{
	uint64_t n = p->block;
	if (n <= 1 || len > UINT64_MAX - n)
		return len;
	return (len + n - 1) / n * n;
}

static uint64_t target_pow2(const struct ts_pad_policy *p, uint64_t len)
{
	(void)p;
	if (len <= 1 || len > (UINT64_C(1) << 62))
		return len;
	uint64_t b = 1;
	while (b < len)
		b <<= 1;
	return b;
}

/* Geometric buckets: 256, then each boundary R times the one before. */
static uint64_t target_buckets(const struct ts_pad_policy *p, uint64_t len)
{
	if (len == 0)
		return 0;
	uint64_t b = 256;
	while (b < len) {
		if (b > (UINT64_C(1) << 52))
			return len;
		uint64_t next = (uint64_t)ceil((double)b * p->ratio);
		b = next > b ? next : b + 1;
	}
	return b;
}

static const struct {
	const char *name;
	enum ts_pad_kind kind;
	int arg;   /* 0 none, 1 required integer, 2 optional ratio */
	uint64_t (*target)(const struct ts_pad_policy *p, uint64_t len);
} policies[] = {
	{ "none", TS_PAD_NONE, 0, target_none },
	{ "block", TS_PAD_BLOCK, 1, target_block },
	{ "pow2", TS_PAD_POW2, 0, target_pow2 },
	{ "buckets", TS_PAD_BUCKETS, 2, target_buckets },
};
#define NPOLICIES (sizeof policies / sizeof policies[0])

int ts_pad_policy_parse(const char *spec, struct ts_pad_policy *p, struct ts_error *err)
{
	memset(p, 0, sizeof *p);
	const char *colon = strchr(spec, ':');
	size_t nlen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	const char *arg = colon != NULL ? colon + 1 : NULL;
	for (size_t i = 0; i < NPOLICIES; i++) {
		if (strlen(policies[i].name) != nlen || strncmp(spec, policies[i].name, nlen) != 0)
			continue;
		p->kind = policies[i].kind;
		if (policies[i].arg == 0) {
			if (arg != NULL)
				return ts_error_set(err, TS_E_INVALID, "padding policy '%s' takes no value, got '%s'",
				                    policies[i].name, spec);
			snprintf(p->name, sizeof p->name, "%s", policies[i].name);
			return TS_OK;
		}
		if (policies[i].arg == 1) {
			char *end;
			unsigned long long v = arg != NULL && arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
			if (arg == NULL || v < 1 || v > TS_PAD_BLOCK_MAX || *end != '\0')
				return ts_error_set(err, TS_E_INVALID,
				                    "padding policy 'block:N' wants N from 1 to %u bytes, got '%s'",
				                    TS_PAD_BLOCK_MAX, spec);
			p->block = v;
			snprintf(p->name, sizeof p->name, "block:%llu", v);
			return TS_OK;
		}
		p->ratio = 1.1;
		if (arg != NULL) {
			char *end;
			double r = arg[0] >= '0' && arg[0] <= '9' ? strtod(arg, &end) : 0;
			if (!(r > 1.0009 && r <= 4.0) || *end != '\0')
				return ts_error_set(err, TS_E_INVALID,
				                    "padding policy 'buckets:R' wants a ratio R above 1.001 and at most 4, got '%s'",
				                    spec);
			p->ratio = r;
		}
		snprintf(p->name, sizeof p->name, "buckets:%.3g", p->ratio);
		return TS_OK;
	}
	return ts_error_set(err, TS_E_INVALID,
	                    "unknown padding policy '%s' (none, block:N, pow2, buckets, buckets:R)", spec);
}

uint64_t ts_pad_target(const struct ts_pad_policy *p, uint64_t len)
{
	for (size_t i = 0; i < NPOLICIES; i++)
		if (policies[i].kind == p->kind) {
			uint64_t t = policies[i].target(p, len);
			return t >= len ? t : len;
		}
	return len;
}

/* ---- the HTTP/1.1 message framer, one per direction ---- */

enum state { ST_START, ST_HEADERS, ST_BODY, ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_END, ST_TRAILERS };

struct framer {
	enum state st;
	char line[TS_PAD_LINE_MAX];
	size_t line_len;
	size_t head_bytes;      /* bytes of the start line and headers so far */
	uint64_t remaining;     /* ST_BODY, ST_CHUNK_DATA */
	bool te, chunked;       /* Transfer-Encoding seen; its last coding is chunked */
	bool have_cl;
	uint64_t cl;
	int status;             /* response */
	char method[16];        /* request */
};

struct pending {
	bool head;
	bool connect;
};

struct ts_pad {
	struct ts_pad_policy policy;
	struct framer req, resp;
	struct pending queue[TS_PAD_PENDING_MAX];
	size_t qhead, qlen;
	uint64_t resp_bytes;    /* of the response in progress, interim ones included */
	bool broken;
	char error[TS_ERROR_MSG_MAX];
	struct ts_pad_stats stats;
};

struct ts_pad *ts_pad_new(const struct ts_pad_policy *p)
{
	struct ts_pad *t = calloc(1, sizeof *t);
	if (t != NULL)
		t->policy = *p;
	return t;
}

void ts_pad_free(struct ts_pad *t)
{
	free(t);
}

bool ts_pad_passthrough(const struct ts_pad *t)
{
	return t->broken;
}

const char *ts_pad_error(const struct ts_pad *t)
{
	return t->error;
}

void ts_pad_stats(const struct ts_pad *t, struct ts_pad_stats *out)
{
	*out = t->stats;
}

__attribute__((format(printf, 2, 3)))
static void give_up(struct ts_pad *t, const char *fmt, ...)
{
	if (t->broken)
		return;
	t->broken = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof t->error, fmt, ap);
	va_end(ap);
}

void ts_pad_give_up(struct ts_pad *t, const char *why)
{
	give_up(t, "%s", why);
}

static void framer_reset(struct framer *f)
{
	f->st = ST_START;
	f->line_len = 0;
	f->head_bytes = 0;
	f->remaining = 0;
	f->te = f->chunked = f->have_cl = false;
	f->cl = 0;
	f->status = 0;
	f->method[0] = '\0';
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Decimal, at most 18 digits; false when not all digits. */
static bool parse_dec(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 18)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool start_line(struct ts_pad *t, struct framer *f, bool response, char *line)
{
	if (response) {
		/* HTTP/1.x SP 3DIGIT [SP reason] */
		if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
		    line[11] > '9' || (line[12] != '\0' && line[12] != ' ')) {
			give_up(t, "the service sent no HTTP/1.x status line: '%.60s'", line);
			return false;
		}
		f->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		return true;
	}
	size_t m = 0;
	while (is_tchar(line[m]))
		m++;
	const char *sp = strrchr(line, ' ');
	if (m == 0 || m >= sizeof f->method || line[m] != ' ' || sp == NULL || sp == line + m ||
	    strncmp(sp + 1, "HTTP/1.", 7) != 0) {
		give_up(t, "the client sent no HTTP/1.x request line: '%.60s'", line);
		return false;
	}
	memcpy(f->method, line, m);
	f->method[m] = '\0';
	return true;
}

static bool header_line(struct ts_pad *t, struct framer *f, char *line, size_t n, bool response)
{
	const char *who = response ? "the service" : "the client";
	if (line[0] == ' ' || line[0] == '\t') {
		give_up(t, "%s folded a header line (obsolete line folding)", who);
		return false;
	}
	char *colon = memchr(line, ':', n);
	if (colon == NULL || colon == line) {
		give_up(t, "%s sent a header line without a name", who);
		return false;
	}
	size_t nlen = (size_t)(colon - line);
	char *v = colon + 1, *e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		uint64_t cl;
		if (!parse_dec(v, (size_t)(e - v), &cl) || (f->have_cl && cl != f->cl)) {
			give_up(t, "Content-Length is not one number: '%.60s'", line);
			return false;
		}
		f->have_cl = true;
		f->cl = cl;
	} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		f->te = true;
		/* the last coding decides */
		const char *last = e;
		while (last > v && last[-1] != ',' && last[-1] != ' ' && last[-1] != '\t')
			last--;
		f->chunked = (size_t)(e - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
	}
	return true;
}

/* The head is complete: decide how the body is framed.  Returns true when
 * the message ends here, false to go on (body or, for 1xx, the next head);
 * on give-up t->broken is set. */
static bool head_done(struct ts_pad *t, struct framer *f, bool response)
{
	if (!response) {
		if (t->qlen >= TS_PAD_PENDING_MAX) {
			give_up(t, "more than %s requests waiting for their responses", "256");
			return false;
		}
		struct pending *q = &t->queue[(t->qhead + t->qlen++) % TS_PAD_PENDING_MAX];
		q->head = strcmp(f->method, "HEAD") == 0;
		q->connect = strcmp(f->method, "CONNECT") == 0;
		if (f->te) {
			if (!f->chunked) {
				give_up(t, "a request body whose Transfer-Encoding does not end in chunked%s", "");
				return false;
			}
			f->st = ST_CHUNK_SIZE;
			return false;
		}
		if (f->have_cl && f->cl > 0) {
			f->remaining = f->cl;
			f->st = ST_BODY;
			return false;
		}
		return true;
	}
	if (f->status == 101) {
		give_up(t, "the service switched protocols (101)%s", "");
		return false;
	}
	if (f->status < 200) {          /* interim: the final response follows */
		framer_reset(f);
		return false;
	}
	if (t->qlen == 0) {
		give_up(t, "the service sent a response to no request%s", "");
		return false;
	}
	struct pending q = t->queue[t->qhead];
	if (q.connect && f->status < 300) {
		give_up(t, "a CONNECT tunnel opened%s", "");
		return false;
	}
	if (q.head || f->status == 204 || f->status == 304)
		return true;
	if (f->te) {
		if (!f->chunked) {
			give_up(t, "a response without chunked framing ends at close: not padded%s", "");
			return false;
		}
		f->st = ST_CHUNK_SIZE;
		return false;
	}
	if (f->have_cl) {
		if (f->cl == 0)
			return true;
		f->remaining = f->cl;
		f->st = ST_BODY;
		return false;
	}
	give_up(t, "a response without Content-Length ends at close: not padded%s", "");
	return false;
}

/* A complete line (without CR LF) in f->line.  Returns true at the end of
 * the message. */
static bool line_done(struct ts_pad *t, struct framer *f, bool response)
{
	char *line = f->line;
	size_t n = f->line_len;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	f->line_len = 0;
	if (memchr(line, '\0', n) != NULL) {
		give_up(t, "a NUL byte in an HTTP line%s", "");
		return false;
	}
	switch (f->st) {
	case ST_START:
		if (n == 0 && !response)
			return false; /* an empty line before a request is tolerated */
		if (start_line(t, f, response, line))
			f->st = ST_HEADERS;
		return false;
	case ST_HEADERS:
		if (n == 0)
			return head_done(t, f, response);
		header_line(t, f, line, n, response);
		return false;
	case ST_CHUNK_SIZE: {
		uint64_t size = 0;
		size_t i = 0;
		for (; i < n; i++) {
			char c = line[i];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				break;
			if (i >= 15) {
				give_up(t, "a chunk size of more than 15 hex digits%s", "");
				return false;
			}
			size = size * 16 + (uint64_t)d;
		}
		if (i == 0 || (i < n && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
			give_up(t, "not a chunk size: '%.60s'", line);
			return false;
		}
		if (size == 0) {
			f->st = ST_TRAILERS;
		} else {
			f->remaining = size;
			f->st = ST_CHUNK_DATA;
		}
		return false;
	}
	case ST_CHUNK_END:
		if (n != 0) {
			give_up(t, "a chunk did not end with CR LF: '%.60s'", line);
			return false;
		}
		f->st = ST_CHUNK_SIZE;
		return false;
	case ST_TRAILERS:
		if (n == 0)
			return true;
		if (strchr(line, ':') == NULL) {
			give_up(t, "not a trailer field: '%.60s'", line);
			return false;
		}
		return false;
	default:
		return false;
	}
}

/* Feeds bytes to one framer; returns how many it took: up to the end of a
 * message (*end set) or all. */
static size_t feed(struct ts_pad *t, struct framer *f, bool response, const uint8_t *d, size_t len, bool *end)
{
	*end = false;
	size_t i = 0;
	while (i < len && !t->broken) {
		if (f->st == ST_BODY || f->st == ST_CHUNK_DATA) {
			uint64_t take = len - i < f->remaining ? len - i : f->remaining;
			i += (size_t)take;
			f->remaining -= take;
			if (f->remaining == 0) {
				if (f->st == ST_CHUNK_DATA) {
					f->st = ST_CHUNK_END;
				} else {
					*end = true;
					return i;
				}
			}
			continue;
		}
		/* a line: copy up to LF */
		const uint8_t *lf = memchr(d + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (d + i)) : len - i;
		if (f->line_len + n >= TS_PAD_LINE_MAX) {
			give_up(t, "an HTTP line longer than %s bytes", "8191");
			return i;
		}
		if (f->st == ST_START || f->st == ST_HEADERS || f->st == ST_TRAILERS) {
			f->head_bytes += n + (lf != NULL);
			if (f->head_bytes > TS_PAD_HEADERS_MAX) {
				give_up(t, "HTTP headers longer than %s bytes", "65536");
				return i;
			}
		}
		memcpy(f->line + f->line_len, d + i, n);
		f->line_len += n;
		i += n;
		if (lf == NULL)
			break;
		i++;
		if (line_done(t, f, response)) {
			*end = true;
			return i;
		}
	}
	return i;
}

void ts_pad_request(struct ts_pad *t, const void *data, size_t len)
{
	const uint8_t *d = data;
	while (len > 0 && !t->broken) {
		bool end;
		size_t n = feed(t, &t->req, false, d, len, &end);
		if (end)
			framer_reset(&t->req);
		d += n;
		len -= n;
	}
}

size_t ts_pad_response(struct ts_pad *t, const void *data, size_t len, uint64_t *pad, bool *ended)
{
	*pad = 0;
	*ended = false;
	if (t->broken)
		return len;
	bool end;
	size_t n = feed(t, &t->resp, true, data, len, &end);
	if (t->broken)
		return len;
	t->resp_bytes += n;
	if (!end)
		return n;
	*ended = true;
	*pad = ts_pad_target(&t->policy, t->resp_bytes) - t->resp_bytes;
	t->stats.responses++;
	t->stats.response_bytes += t->resp_bytes;
	t->stats.padding += *pad;
	t->resp_bytes = 0;
	t->qhead = (t->qhead + 1) % TS_PAD_PENDING_MAX;
	t->qlen--;
	framer_reset(&t->resp);
	return n;
}
