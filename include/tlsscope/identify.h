/* tlsscope: the page-identification attack — name the pages behind the
 * encrypted responses an observer saw, using a catalog of the site.
 *
 * Input: TLS connections as an observer reports them (observe.h gives them;
 * ts_id_input_parse_observe_json reads `tlsscope observe --json` output), each
 * reduced to what matters here: names, address, version, ALPN, and the size
 * of every response burst with its time.
 *
 * The matcher keeps the connections to the catalogued site (by SNI, DNS name,
 * or the address the crawl connected to), merges their responses in time
 * order (a browser spreads sub-resources over up to six connections), and cuts
 * them into page loads: a response that matches a page document starts a
 * load; responses that follow within a time window and match that page's
 * sub-resources support it (and may be absent: cached); a small 3xx response
 * matching a catalogued redirect joins the response for its target.  Each load
 * gets its candidates ranked by size distance (with a tolerance for header
 * variation and the record overhead the observer could not remove) plus the
 * sub-resource evidence, plus the request size: an HTTP/1.1 request is a
 * constant number of bytes (the client's headers, learnt from the capture)
 * plus the length of the path, so it tells pages of one size apart.  The
 * confidence comes from the score gap (softmax).
 *
 * HTTP/2 multiplexes responses in one connection: the observer sees burst
 * totals only.  The matcher models the document burst (body, frame headers,
 * HPACK-compressed headers) with a wider tolerance and uses no sub-resource
 * evidence there; its accuracy is lower, and the results say HTTP/2. */
#ifndef TLSSCOPE_IDENTIFY_H
#define TLSSCOPE_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/catalog.h"
#include "tlsscope/error.h"

#define TS_ID_NAME_MAX 256
#define TS_ID_TOP 3

/* One response burst seen by the observer. */
struct ts_id_response {
	double t;               /* seconds (capture clock) of the request that caused it */
	uint64_t size;          /* plaintext estimate (upper bound) */
	uint64_t size_min;      /* lower bound (CBC padding, unseen TLS 1.3 padding); <= size */
	uint64_t request_size;  /* plaintext estimate of the request, 0 unknown */
	uint32_t records;       /* TLS records in the burst, 0 unknown */
	bool tickets_handled;   /* the observer already left TLS 1.3 session tickets out of size */
	uint64_t lead;          /* a connection's first response: plaintext of its first record
	                         * (HTTP/2: the server's SETTINGS, maybe the HEADERS too); else 0 */
	/* The burst may also carry unrelated bytes in [extra_min, extra_max] (e.g.
	 * TLS 1.3 session tickets sent with the first response); 0, 0 for none. */
	uint64_t extra_min, extra_max;
};

struct ts_id_conn {
	char sni[TS_ID_NAME_MAX];         /* "" when absent */
	char dns_name[TS_ID_NAME_MAX];    /* "" when unknown */
	char server_addr[64];             /* numeric */
	uint16_t server_port;
	uint16_t client_port;
	uint16_t version;                 /* 0x0303, 0x0304; 0 unknown */
	uint64_t unsolicited_bytes;       /* server application data (wire bytes) before the
	                                   * first request: TLS 1.3 session tickets */
	uint64_t unsolicited_records;     /* in how many records (0 unknown) */
	bool h2;                          /* ALPN chose h2 */
	bool h2_offered;                  /* the client offered h2 and the choice was not seen
	                                   * (TLS 1.3 encrypts it): either protocol is modelled */
	double t_start;
	struct ts_id_response *responses; /* owned by the input */
	size_t n_responses;
};

struct ts_id_input {
	struct ts_id_conn *conns;
	size_t n_conns, cap_conns;
};

void ts_id_input_init(struct ts_id_input *in);
void ts_id_input_clear(struct ts_id_input *in);
/* Appends a copy of conn (responses copied too); returns its index or a negative code. */
int ts_id_input_add(struct ts_id_input *in, const struct ts_id_conn *conn, struct ts_error *err);
/* Reads `tlsscope observe --json` JSON lines ({"type":"tls",...} objects with
 * sni, dns_name, server{ip,port}, client{port}, version, alpn, ts and
 * exchanges[{t, response_plaintext_estimate, response_plaintext_min,
 * request_plaintext_estimate}]); other lines are skipped.  TS_E_MALFORMED
 * names the line of a bad one. */
int ts_id_input_parse_observe_json(struct ts_id_input *in, const char *text, size_t len,
                                   struct ts_error *err);

/* Whether the connection goes to the catalogued site. */
bool ts_identify_conn_matches(const struct ts_catalog *cat, const struct ts_id_conn *conn);

struct ts_id_config {
	double window;          /* s: a response this soon after the load's last belongs to it (0: 2.0) */
	uint64_t tolerance;     /* bytes of size difference that cost one point (0: 16) */
	double tolerance_rel;   /* plus this fraction of the expected size (0: 0.002) */
	uint64_t h2_tolerance;  /* the same over HTTP/2 (0: 24) */
	double max_error;       /* candidates further than this many tolerances are dropped (0: 6) */
};

struct ts_id_guess {
	size_t entry;           /* index into the catalog's entries */
	double score;           /* higher is better */
	double confidence;      /* 0..1 */
	uint64_t expected;      /* the size the candidate predicts for the document */
	bool encoded;           /* the prediction uses the compressed (browser) fetch */
	size_t subresources_matched;
};

struct ts_id_load {
	double t;               /* time of the document's request */
	size_t conn;            /* input connection index of the document */
	uint64_t observed;      /* document response size (plaintext estimate) */
	bool h2;                /* HTTP/2, or possibly (ALPN choice hidden, h2 offered) */
	bool unknown;           /* no page within max_error tolerances: guesses are weak */
	long redirect_entry;    /* the catalogued redirect that led here, or -1 */
	size_t responses;       /* responses attributed to the load, document included */
	struct ts_id_guess guesses[TS_ID_TOP];
	size_t n_guesses;       /* best first; 0 when the catalog has no page */
};

struct ts_id_result {
	struct ts_id_load *loads;
	size_t n_loads;
	size_t conns_site;      /* connections to the catalogued site */
	size_t conns_other;     /* other TLS connections, ignored */
	size_t responses;       /* responses on the site's connections */
	long ticket_bytes;      /* TLS 1.3 session ticket plaintext per record, as learnt; -1 unknown */
	long request_overhead;  /* HTTP/1.1 request bytes besides the path, as learnt; -1 unknown */
};

void ts_id_result_clear(struct ts_id_result *res);

/* Names the page behind each page load.  res is filled (owned by the caller,
 * ts_id_result_clear).  cfg may be NULL for the defaults. */
int ts_identify(const struct ts_catalog *cat, const struct ts_id_input *in,
                const struct ts_id_config *cfg, struct ts_id_result *res, struct ts_error *err);

/* Pages whose document size (as a browser fetches it) is within tolerance
 * bytes of another page's: what no observer can tell apart by size alone. */
size_t ts_identify_ambiguous_pages(const struct ts_catalog *cat, uint64_t tolerance);

#endif
