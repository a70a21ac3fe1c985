/* tlsscope: the site catalog — what an observer who crawled a site knows.
 *
 * ts_catalog_crawl() fetches a site over HTTPS with libcurl, as a browser
 * would (same request headers, HTTP/1.1 or HTTP/2), follows the links that stay
 * on the site (same scheme, host and port) and records, for every page and
 * every sub-resource it references (stylesheets, scripts, images, icons,
 * fonts): the status, the redirect target, the response header bytes and the
 * body bytes once with no content coding ("identity") and once with the
 * browser's Accept-Encoding ("encoded"), which is what a browser's response
 * really weighs.  Each URL is fetched once per coding, whatever number of
 * pages refer to it.
 *
 * ts_catalog_load()/ts_catalog_parse() read a catalog back from its JSON form
 * (written by ts_report_catalog_json(), format in docs/json.md) and check it:
 * a malformed file gives one message that names the field, and TS_E_MALFORMED.
 *
 * The link extractors are exported so that tests can check them on samples. */
#ifndef TLSSCOPE_CATALOG_H
#define TLSSCOPE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"

#define TS_CATALOG_FORMAT "tlsscope-catalog"
#define TS_CATALOG_VERSION 1

enum ts_catalog_kind {
	TS_CATALOG_PAGE,        /* a document reached by a link (<a href>) or the start URL */
	TS_CATALOG_STYLESHEET,  /* <link rel=stylesheet>, CSS @import */
	TS_CATALOG_SCRIPT,      /* <script src> */
	TS_CATALOG_IMAGE,       /* <img src>, CSS url() */
	TS_CATALOG_ICON,        /* <link rel=icon|apple-touch-icon|shortcut icon> */
	TS_CATALOG_FONT,        /* <link rel=preload as=font>, CSS url() of a font file */
	TS_CATALOG_OTHER,       /* other <link rel=preload|prefetch|manifest> */
	TS_CATALOG_KIND_COUNT,
};

/* "page", "stylesheet", ...; NULL for an unknown kind. */
const char *ts_catalog_kind_name(enum ts_catalog_kind kind);
/* The kind named s; returns -1 when s names none. */
int ts_catalog_kind_parse(const char *s);

/* One fetch of a URL with one Accept-Encoding. */
struct ts_catalog_fetch {
	bool done;                  /* fetched (even if the status is an error) */
	long status;                /* HTTP status, 0 when the transfer failed */
	uint64_t header_bytes;      /* response header bytes as HTTP/1.1 text (curl's count) */
	uint64_t body_bytes;        /* identity: decoded body; encoded: as it travelled
	                             * (compressed, and with chunked framing if chunked) */
	bool chunked;               /* Transfer-Encoding: chunked */
	char *content_encoding;     /* Content-Encoding received, NULL for none */
	char *error;                /* why the transfer failed, NULL when it did not */
};

struct ts_catalog_entry {
	char *url;                  /* absolute, without fragment */
	enum ts_catalog_kind kind;
	char *content_type;         /* as sent by the server, NULL if none */
	char *redirect;             /* absolute Location of a 3xx, NULL otherwise */
	char *http_version;         /* "1.1", "2" ... as negotiated */
	struct ts_catalog_fetch identity;   /* Accept-Encoding: identity */
	struct ts_catalog_fetch encoded;    /* the browser's Accept-Encoding */
	/* URLs this entry references directly (same site only): for a page, its
	 * sub-resources; for a stylesheet, its url() and @import targets. */
	char **refs;
	size_t n_refs;
	/* Filled by ts_catalog_index(): every sub-resource a browser loads for this
	 * page, transitively through stylesheets, as indexes into entries. */
	size_t *subresources;
	size_t n_subresources;
};

struct ts_catalog {
	int version;                /* TS_CATALOG_VERSION */
	char *start_url;
	char *scheme;               /* "https" */
	char *host;                 /* lowercase */
	int port;
	char *address;              /* the server address the crawl connected to, or NULL */
	char *created;              /* "YYYY-MM-DD HH:MM:SS UTC" */
	char *user_agent;
	char *accept_encoding;
	size_t skipped_pages;       /* links not followed because of --max-pages */
	struct ts_catalog_entry *entries;   /* pages and sub-resources, in the order found */
	size_t n_entries;
	size_t cap_entries;
	struct ts_catalog_index_table *index;   /* URL lookup, private */
};

/* Returns an empty catalog (NULL when out of memory); free it with
 * ts_catalog_free(), which frees every string and array it holds. */
struct ts_catalog *ts_catalog_new(void);
void ts_catalog_free(struct ts_catalog *cat);

/* The entry for url (absolute, without fragment), or NULL. */
const struct ts_catalog_entry *ts_catalog_find(const struct ts_catalog *cat, const char *url);
/* Number of entries of kind TS_CATALOG_PAGE. */
size_t ts_catalog_page_count(const struct ts_catalog *cat);
/* Resolves refs into subresources for every entry (after a crawl or a load). */
int ts_catalog_index(struct ts_catalog *cat, struct ts_error *err);

/* What the crawl is doing, for a progress bar. */
struct ts_catalog_progress {
	size_t pages_done, pages_known;
	size_t fetches_done, fetches_queued;
	const char *last_url;
};

struct ts_catalog_config {
	const char *url;            /* start URL, https:// */
	size_t max_pages;           /* 0 = 500 */
	size_t max_resources;       /* 0 = 20 * max_pages */
	size_t max_body;            /* bytes per response, 0 = 16 MiB */
	int timeout_ms;             /* per transfer, 0 = 30 s */
	int connect_timeout_ms;     /* 0 = 10 s */
	int parallel;               /* transfers at once, 0 = 4 */
	int http_version;           /* 0 = let TLS ALPN choose (h2 preferred), 11 = HTTP/1.1, 2 = HTTP/2 */
	const char *ca_file;        /* trust these CAs instead of the system store */
	const char *ca_dir;
	bool insecure_noverifycert; /* do not verify the certificate (the crawl still records it) */
	const char *const *resolve; /* HOST:PORT:ADDR entries, as curl --resolve */
	size_t n_resolve;
	void (*progress)(void *arg, const struct ts_catalog_progress *p);
	void *progress_arg;
};

/* libcurl's version string, or NULL with err set when it cannot be loaded
 * (libcurl and libxml2 are opened on first use, not when the program starts). */
const char *ts_catalog_libcurl_version(struct ts_error *err);

/* Crawls the site at cfg->url into a new catalog (*out, owned by the caller).
 * Fails only when the start URL cannot be fetched at all (TS_E_RESOLVE,
 * TS_E_CONNECT, TS_E_TIMEOUT, TS_E_VERIFY, TS_E_TLS) or on bad arguments;
 * failures of later URLs are recorded in their entries. */
int ts_catalog_crawl(const struct ts_catalog_config *cfg, struct ts_catalog **out,
                     struct ts_error *err);

/* Reads a catalog from JSON text or a file into *out (owned by the caller).
 * TS_E_FILE when the file cannot be read, TS_E_MALFORMED when it is not a
 * valid catalog; the message names the first bad field. */
int ts_catalog_parse(const char *text, size_t len, struct ts_catalog **out, struct ts_error *err);
int ts_catalog_load(const char *path, struct ts_catalog **out, struct ts_error *err);

/* Links found in a document: absolute URLs without fragment, deduplicated. */
struct ts_catalog_link {
	char *url;
	enum ts_catalog_kind kind;
};
struct ts_catalog_links {
	struct ts_catalog_link *v;
	size_t n, cap;
};
void ts_catalog_links_clear(struct ts_catalog_links *links);

/* Every http(s) link and sub-resource of an HTML document (libxml2's
 * forgiving HTML parser), resolved against base_url (or <base href>). */
int ts_catalog_html_links(const char *html, size_t len, const char *base_url,
                          struct ts_catalog_links *out, struct ts_error *err);
/* url(...) and @import targets of a stylesheet. */
int ts_catalog_css_links(const char *css, size_t len, const char *base_url,
                         struct ts_catalog_links *out, struct ts_error *err);
/* True when both URLs have the same scheme, host and port. */
bool ts_catalog_same_site(const char *a, const char *b);

#endif
