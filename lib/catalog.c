#include "tlsscope/catalog.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tlsscope/bytes.h"
#include "dynlib_internal.h"

#define DEFAULT_MAX_PAGES 500
#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_PARALLEL 4
#define MAX_PARALLEL 16
#define MAX_ENTRIES 1000000      /* loaded catalogs too */
#define MAX_REFS 10000           /* per entry */
#define MAX_HTML_DEPTH 400
#define VIEWPORT_WIDTH 800        /* CSS pixels: headless Chromium's default window */
#define MAX_SIZE_FIELD (UINT64_C(1) << 40)

/* Browser-like request headers: what Chromium 126 on Linux sends. */
#define UA "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
#define BROWSER_ENCODING "gzip, deflate, br"

static const char *const kind_names[TS_CATALOG_KIND_COUNT] = {
	"page", "stylesheet", "script", "image", "icon", "font", "other",
};

const char *ts_catalog_kind_name(enum ts_catalog_kind kind)
{
	return (unsigned)kind < TS_CATALOG_KIND_COUNT ? kind_names[kind] : NULL;
}

int ts_catalog_kind_parse(const char *s)
{
	for (int i = 0; i < TS_CATALOG_KIND_COUNT; i++)
		if (strcmp(kind_names[i], s) == 0)
			return i;
	return -1;
}

/* ---- the catalog and its URL index ---- */

struct ts_catalog_index_table {
	size_t cap;       /* power of two */
	size_t *slots;    /* entry index + 1, 0 = empty */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return h;
}

struct ts_catalog *ts_catalog_new(void)
{
	struct ts_catalog *cat = calloc(1, sizeof *cat);
	if (cat == NULL)
		return NULL;
	cat->version = TS_CATALOG_VERSION;
	cat->index = calloc(1, sizeof *cat->index);
	if (cat->index == NULL) {
		free(cat);
		return NULL;
	}
	return cat;
}

static void fetch_clear(struct ts_catalog_fetch *f)
{
	free(f->content_encoding);
	free(f->error);
}

static void entry_clear(struct ts_catalog_entry *e)
{
	free(e->url);
	free(e->content_type);
	free(e->redirect);
	free(e->http_version);
	fetch_clear(&e->identity);
	fetch_clear(&e->encoded);
	for (size_t i = 0; i < e->n_refs; i++)
		free(e->refs[i]);
	free(e->refs);
	free(e->subresources);
}

void ts_catalog_free(struct ts_catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->n_entries; i++)
		entry_clear(&cat->entries[i]);
	free(cat->entries);
	if (cat->index != NULL)
		free(cat->index->slots);
	free(cat->index);
	free(cat->start_url);
	free(cat->scheme);
	free(cat->host);
	free(cat->address);
	free(cat->created);
	free(cat->user_agent);
	free(cat->accept_encoding);
	free(cat);
}

static long find_index(const struct ts_catalog *cat, const char *url)
{
	const struct ts_catalog_index_table *t = cat->index;
	if (t == NULL || t->cap == 0)
		return -1;
	for (size_t i = hash_str(url) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i] == 0)
			return -1;
		if (strcmp(cat->entries[t->slots[i] - 1].url, url) == 0)
			return (long)(t->slots[i] - 1);
	}
}

const struct ts_catalog_entry *ts_catalog_find(const struct ts_catalog *cat, const char *url)
{
	long i = find_index(cat, url);
	return i < 0 ? NULL : &cat->entries[i];
}

static bool index_insert(struct ts_catalog *cat, size_t idx)
{
	struct ts_catalog_index_table *t = cat->index;
	if ((cat->n_entries + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		size_t *slots = calloc(cap, sizeof *slots);
		if (slots == NULL)
			return false;
		for (size_t k = 0; k < t->cap; k++) {
			if (t->slots[k] == 0)
				continue;
			size_t j = hash_str(cat->entries[t->slots[k] - 1].url) & (cap - 1);
			while (slots[j] != 0)
				j = (j + 1) & (cap - 1);
			slots[j] = t->slots[k];
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	size_t j = hash_str(cat->entries[idx].url) & (t->cap - 1);
	while (t->slots[j] != 0)
		j = (j + 1) & (t->cap - 1);
	t->slots[j] = idx + 1;
	return true;
}

/* Appends an entry that takes ownership of url; returns its index or -1. */
static long add_entry(struct ts_catalog *cat, char *url, enum ts_catalog_kind kind)
{
	if (cat->n_entries >= MAX_ENTRIES)
		return -1;
	if (cat->n_entries == cat->cap_entries) {
		size_t cap = cat->cap_entries ? cat->cap_entries * 2 : 64;
		struct ts_catalog_entry *v = realloc(cat->entries, cap * sizeof *v);
		if (v == NULL)
			return -1;
		cat->entries = v;
		cat->cap_entries = cap;
	}
	size_t idx = cat->n_entries;
	cat->entries[idx] = (struct ts_catalog_entry){ .url = url, .kind = kind };
	if (!index_insert(cat, idx))
		return -1;
	cat->n_entries++;
	return (long)idx;
}

static bool entry_add_ref(struct ts_catalog_entry *e, const char *url)
{
	for (size_t i = 0; i < e->n_refs; i++)
		if (strcmp(e->refs[i], url) == 0)
			return true;
	if (e->n_refs >= MAX_REFS)
		return false;
	char **v = realloc(e->refs, (e->n_refs + 1) * sizeof *v);
	if (v == NULL)
		return false;
	e->refs = v;
	if ((e->refs[e->n_refs] = strdup(url)) == NULL)
		return false;
	e->n_refs++;
	return true;
}

size_t ts_catalog_page_count(const struct ts_catalog *cat)
{
	size_t n = 0;
	for (size_t i = 0; i < cat->n_entries; i++)
		n += cat->entries[i].kind == TS_CATALOG_PAGE;
	return n;
}

/* Adds entry idx's references (and theirs, through stylesheets) to list. */
static void collect_refs(const struct ts_catalog *cat, size_t idx, size_t *list, size_t *n,
                         size_t cap, unsigned char *seen, int depth)
{
	const struct ts_catalog_entry *e = &cat->entries[idx];
	for (size_t r = 0; r < e->n_refs; r++) {
		long j = find_index(cat, e->refs[r]);
		if (j < 0 || seen[j] || *n >= cap)
			continue;
		seen[j] = 1;
		list[(*n)++] = (size_t)j;
		if (cat->entries[j].kind == TS_CATALOG_STYLESHEET && depth < 8)
			collect_refs(cat, (size_t)j, list, n, cap, seen, depth + 1);
	}
}

int ts_catalog_index(struct ts_catalog *cat, struct ts_error *err)
{
	unsigned char *seen = calloc(cat->n_entries + 1, 1);
	size_t *list = calloc(cat->n_entries + 1, sizeof *list);
	if (seen == NULL || list == NULL) {
		free(seen);
		free(list);
		return ts_error_set(err, TS_E_NOMEM, "out of memory indexing %zu catalog entries",
		                    cat->n_entries);
	}
	int rc = TS_OK;
	for (size_t i = 0; i < cat->n_entries; i++) {
		struct ts_catalog_entry *e = &cat->entries[i];
		free(e->subresources);
		e->subresources = NULL;
		e->n_subresources = 0;
		if (e->kind != TS_CATALOG_PAGE || e->n_refs == 0)
			continue;
		size_t n = 0;
		seen[i] = 1;
		collect_refs(cat, i, list, &n, cat->n_entries, seen, 0);
		seen[i] = 0;
		for (size_t k = 0; k < n; k++)
			seen[list[k]] = 0;
		if (n == 0)
			continue;
		e->subresources = malloc(n * sizeof *e->subresources);
		if (e->subresources == NULL) {
			rc = ts_error_set(err, TS_E_NOMEM, "out of memory indexing sub-resources");
			break;
		}
		memcpy(e->subresources, list, n * sizeof *list);
		e->n_subresources = n;
	}
	free(seen);
	free(list);
	return rc;
}

/* ---- URLs ---- */

/* href resolved against base (either may be absolute), http(s) only, without
 * fragment; malloc'd, or NULL when it is not such a URL. */
static char *resolve_url(const char *base, const char *href)
{
	while (*href != '\0' && isspace((unsigned char)*href))
		href++;
	size_t len = strlen(href);
	while (len > 0 && isspace((unsigned char)href[len - 1]))
		len--;
	if (len == 0 || len > 8192)
		return NULL;
	if (ts_curl_load(NULL) != TS_OK)
		return NULL;
	char *h = strndup(href, len);
	CURLU *u = ts_curl.curl_url();
	char *out = NULL, *scheme = NULL, *tmp = NULL;
	if (h == NULL || u == NULL)
		goto done;
	if (base != NULL && ts_curl.curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto done;
	/* A fragment alone names the base document itself. */
	if (h[0] != '#' && ts_curl.curl_url_set(u, CURLUPART_URL, h, 0) != CURLUE_OK)
		goto done;
	if (ts_curl.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto done;
	if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)
		goto done;
	ts_curl.curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (ts_curl.curl_url_get(u, CURLUPART_URL, &tmp, 0) == CURLUE_OK)
		out = strdup(tmp);
done:
	ts_curl.curl_free(tmp);
	ts_curl.curl_free(scheme);
	ts_curl.curl_url_cleanup(u);
	free(h);
	return out;
}

struct site {
	char *scheme, *host, *port;
};

static bool site_parse(const char *url, struct site *s)
{
	*s = (struct site){ 0 };
	if (ts_curl_load(NULL) != TS_OK)
		return false;
	CURLU *u = ts_curl.curl_url();
	bool ok = u != NULL && ts_curl.curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	          ts_curl.curl_url_get(u, CURLUPART_SCHEME, &s->scheme, 0) == CURLUE_OK &&
	          ts_curl.curl_url_get(u, CURLUPART_HOST, &s->host, 0) == CURLUE_OK &&
	          ts_curl.curl_url_get(u, CURLUPART_PORT, &s->port, CURLU_DEFAULT_PORT) == CURLUE_OK;
	ts_curl.curl_url_cleanup(u);
	return ok;
}

static void site_clear(struct site *s)
{
	ts_curl.curl_free(s->scheme);
	ts_curl.curl_free(s->host);
	ts_curl.curl_free(s->port);
}

bool ts_catalog_same_site(const char *a, const char *b)
{
	struct site x, y;
	bool ok = site_parse(a, &x) && site_parse(b, &y);
	bool same = ok && strcasecmp(x.scheme, y.scheme) == 0 && strcasecmp(x.host, y.host) == 0 &&
	            strcmp(x.port, y.port) == 0;
	if (ok)
		site_clear(&y);
	site_clear(&x);
	return same;
}

/* ---- link extraction ---- */

void ts_catalog_links_clear(struct ts_catalog_links *links)
{
	for (size_t i = 0; i < links->n; i++)
		free(links->v[i].url);
	free(links->v);
	*links = (struct ts_catalog_links){ 0 };
}

/* Adds href (resolved) unless already there; a sub-resource kind wins over
 * "page", because a browser fetches it without a click. */
static bool links_add(struct ts_catalog_links *l, const char *base, const char *href,
                      enum ts_catalog_kind kind)
{
	char *url = resolve_url(base, href);
	if (url == NULL)
		return true;   /* not an http(s) link: ignore it */
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].url, url) == 0) {
			if (l->v[i].kind == TS_CATALOG_PAGE)
				l->v[i].kind = kind;
			free(url);
			return true;
		}
	}
	if (l->n >= MAX_REFS) {
		free(url);
		return true;   /* cap: later links are ignored */
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct ts_catalog_link *v = realloc(l->v, cap * sizeof *v);
		if (v == NULL) {
			free(url);
			return false;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct ts_catalog_link){ .url = url, .kind = kind };
	return true;
}

static bool has_suffix_ci(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* Kind of a CSS url() target, from the file name. */
static enum ts_catalog_kind css_url_kind(const char *url, size_t n)
{
	size_t path = strcspn(url, "?#");
	if (path < n)
		n = path;
	static const char *const fonts[] = { ".woff2", ".woff", ".ttf", ".otf", ".eot" };
	for (size_t i = 0; i < sizeof fonts / sizeof fonts[0]; i++)
		if (has_suffix_ci(url, n, fonts[i]))
			return TS_CATALOG_FONT;
	if (has_suffix_ci(url, n, ".css"))
		return TS_CATALOG_STYLESHEET;
	return TS_CATALOG_IMAGE;
}

/* Reads a CSS url(...) argument or a quoted string at css[*i]; returns its
 * copy (malloc'd) and moves *i past it. */
static char *css_token(const char *css, size_t len, size_t *i, bool in_url)
{
	size_t p = *i;
	while (p < len && isspace((unsigned char)css[p]))
		p++;
	char quote = 0;
	if (p < len && (css[p] == '"' || css[p] == '\''))
		quote = css[p++];
	else if (!in_url)
		return NULL;
	size_t start = p;
	while (p < len && (quote ? css[p] != quote : (css[p] != ')' && !isspace((unsigned char)css[p])))) {
		if (css[p] == '\n' && quote)
			return NULL;
		p++;
	}
	if (p >= len)
		return NULL;
	size_t end = p;
	if (quote)
		p++;
	*i = p;
	return end > start ? strndup(css + start, end - start) : NULL;
}

int ts_catalog_css_links(const char *css, size_t len, const char *base_url,
                         struct ts_catalog_links *out, struct ts_error *err)
{
	for (size_t i = 0; i < len;) {
		if (css[i] == '/' && i + 1 < len && css[i + 1] == '*') {
			const char *end = memmem(css + i + 2, len - i - 2, "*/", 2);
			i = end != NULL ? (size_t)(end - css) + 2 : len;
			continue;
		}
		bool import = len - i >= 7 && strncasecmp(css + i, "@import", 7) == 0;
		bool url = len - i >= 4 && strncasecmp(css + i, "url(", 4) == 0 &&
		           (i == 0 || !isalnum((unsigned char)css[i - 1]));
		if (!import && !url) {
			i++;
			continue;
		}
		i += import ? 7 : 4;
		if (import) {
			size_t p = i;
			while (p < len && isspace((unsigned char)css[p]))
				p++;
			if (len - p >= 4 && strncasecmp(css + p, "url(", 4) == 0) {
				i = p + 4;
				url = true;
			}
		}
		char *target = css_token(css, len, &i, url);
		if (target == NULL)
			continue;
		bool ok = true;
		if (strncasecmp(target, "data:", 5) != 0)
			ok = links_add(out, base_url, target,
			               import ? TS_CATALOG_STYLESHEET : css_url_kind(target, strlen(target)));
		free(target);
		if (!ok)
			return ts_error_set(err, TS_E_NOMEM, "out of memory collecting stylesheet links");
	}
	return TS_OK;
}

static bool rel_has(const char *rel, const char *token)
{
	size_t k = strlen(token);
	for (const char *p = rel; *p;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		size_t n = strcspn(p, " \t\r\n\f");
		if (n == k && strncasecmp(p, token, k) == 0)
			return true;
		p += n;
	}
	return false;
}

static int kind_of_preload(const char *as)
{
	if (as == NULL)
		return TS_CATALOG_OTHER;
	if (strcasecmp(as, "style") == 0)
		return TS_CATALOG_STYLESHEET;
	if (strcasecmp(as, "script") == 0)
		return TS_CATALOG_SCRIPT;
	if (strcasecmp(as, "font") == 0)
		return TS_CATALOG_FONT;
	if (strcasecmp(as, "image") == 0)
		return TS_CATALOG_IMAGE;
	return TS_CATALOG_OTHER;
}

struct html_walk {
	struct ts_catalog_links *out;
	char *base;              /* from <base href>, or a copy of the document URL */
	bool base_set;
	bool oom;
};

static void walk_add(struct html_walk *w, const char *href, int kind)
{
	if (href != NULL && kind >= 0 && !links_add(w->out, w->base, href, (enum ts_catalog_kind)kind))
		w->oom = true;
}

static void xml_free(void *p)
{
	(*ts_xml.xmlFree)(p);
}

static char *prop(xmlNode *n, const char *name)
{
	return (char *)ts_xml.xmlGetProp(n, (const xmlChar *)name);
}

/* The image a browser fetches from a srcset ("URL [Nx|Nw], ..."), for a
 * display of device pixel ratio 1 and VIEWPORT_WIDTH CSS pixels: each
 * candidate's density is its x value, or its w value over the viewport width
 * (`sizes` is taken as 100vw); src counts as 1x when no candidate has a width
 * or density 1.  The browser takes the smallest density >= 1, else the
 * largest.  Returns a copy of the URL (malloc'd) or NULL. */
static char *srcset_pick(const char *srcset, const char *src)
{
	char *best = NULL;
	double best_d = 0;
	bool has_1x = false, has_w = false;
	const char *p = srcset;
	while (*p != '\0') {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		const char *u = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		size_t ulen = (size_t)(p - u);
		bool bare = ulen > 0 && u[ulen - 1] == ',';
		while (ulen > 0 && u[ulen - 1] == ',')
			ulen--;
		double d = 1;
		if (!bare) {
			const char *desc = p;
			while (*p != '\0' && *p != ',')
				p++;
			char *end;
			while (isspace((unsigned char)*desc))
				desc++;
			double v = strtod(desc, &end);
			if (end != desc && v > 0 && (*end == 'x' || *end == 'w')) {
				has_w |= *end == 'w';
				d = *end == 'w' ? v / VIEWPORT_WIDTH : v;
			}
		}
		if (ulen == 0)
			continue;
		has_1x |= d == 1;
		bool better = best == NULL || (d >= 1 ? best_d < 1 || d < best_d : best_d < 1 && d > best_d);
		if (better) {
			char *c = strndup(u, ulen);
			if (c == NULL)
				break;
			free(best);
			best = c;
			best_d = d;
		}
	}
	if (src != NULL && *src != '\0' && !has_1x && !has_w) {
		free(best);
		best = strdup(src);
	}
	return best;
}

/* A `media` condition at the default viewport: only "(min-width: Npx)" and
 * "(max-width: Npx)" joined by "and" are understood; anything else does
 * not match. */
static bool media_matches(const char *media)
{
	const char *p = media;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		double v;
		char what[4];
		int used = 0;
		if (sscanf(p, " ( %3[minax]-width : %lfpx )%n", what, &v, &used) != 2 || used == 0)
			return false;
		if (strcmp(what, "min") == 0 ? VIEWPORT_WIDTH < v : strcmp(what, "max") == 0 ? VIEWPORT_WIDTH > v : true)
			return false;
		p += used;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return true;
		if (strncasecmp(p, "and", 3) != 0)
			return false;
		p += 3;
	}
}

static bool image_type_ok(const char *type)
{
	static const char *const ok[] = { "image/avif", "image/webp", "image/png", "image/jpeg",
	                                  "image/gif", "image/svg+xml", "image/apng", "image/bmp" };
	if (type == NULL || *type == '\0')
		return true;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcasecmp(type, ok[i]) == 0)
			return true;
	return false;
}

static bool is_element(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->name != NULL &&
	       strcmp((const char *)n->name, name) == 0;
}

/* The one image an <img> (or a <picture>'s <source>) makes the browser fetch. */
static void walk_add_image(struct html_walk *w, xmlNode *n)
{
	char *src = prop(n, "src"), *srcset = prop(n, "srcset");
	char *pick = srcset != NULL ? srcset_pick(srcset, src) : NULL;
	if (srcset != NULL && pick == NULL && (src == NULL || *src == '\0'))
		;   /* nothing to fetch */
	else
		walk_add(w, pick != NULL ? pick : src, TS_CATALOG_IMAGE);
	free(pick);
	xml_free(src);
	xml_free(srcset);
}

/* <picture>: the first <source> of a type the browser decodes and a media
 * that matches, else the <img>; in document order and at any depth, because
 * libxml2's HTML 4 parser does not know <source> is empty and nests what
 * follows it inside. */
static xmlNode *picture_pick(xmlNode *n, int depth)
{
	for (xmlNode *k = n->children; k != NULL && depth < MAX_HTML_DEPTH; k = k->next) {
		if (is_element(k, "img"))
			return k;
		if (is_element(k, "source")) {
			char *type = prop(k, "type"), *media = prop(k, "media"), *srcset = prop(k, "srcset");
			bool ok = srcset != NULL && image_type_ok(type) && (media == NULL || media_matches(media));
			xml_free(type);
			xml_free(media);
			xml_free(srcset);
			if (ok)
				return k;
		}
		xmlNode *in = picture_pick(k, depth + 1);
		if (in != NULL)
			return in;
	}
	return NULL;
}

static bool in_picture(const xmlNode *n)
{
	for (int i = 0; i < MAX_HTML_DEPTH && n != NULL; i++, n = n->parent)
		if (is_element(n, "picture"))
			return true;
	return false;
}

static void walk_element(struct html_walk *w, xmlNode *n)
{
	const char *name = (const char *)n->name;
	char *href = NULL, *rel = NULL, *as = NULL;
	if (strcmp(name, "base") == 0) {
		href = prop(n, "href");
		if (href != NULL && !w->base_set) {
			char *b = resolve_url(w->base, href);
			if (b != NULL) {
				free(w->base);
				w->base = b;
				w->base_set = true;
			}
		}
	} else if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0) {
		walk_add(w, href = prop(n, "href"), TS_CATALOG_PAGE);
	} else if (strcmp(name, "link") == 0) {
		href = prop(n, "href");
		rel = prop(n, "rel");
		int kind = -1;
		if (rel != NULL) {
			if (rel_has(rel, "stylesheet") && !rel_has(rel, "alternate"))
				kind = TS_CATALOG_STYLESHEET;
			else if (rel_has(rel, "icon") || rel_has(rel, "apple-touch-icon") ||
			         rel_has(rel, "mask-icon"))
				kind = TS_CATALOG_ICON;
			else if (rel_has(rel, "preload"))
				kind = kind_of_preload(as = prop(n, "as"));
			else if (rel_has(rel, "modulepreload"))
				kind = TS_CATALOG_SCRIPT;
			else if (rel_has(rel, "manifest"))
				kind = TS_CATALOG_OTHER;
		}
		walk_add(w, href, kind);
	} else if (strcmp(name, "script") == 0) {
		walk_add(w, href = prop(n, "src"), TS_CATALOG_SCRIPT);
	} else if (strcmp(name, "img") == 0) {
		if (!in_picture(n->parent))
			walk_add_image(w, n);
	} else if (strcmp(name, "picture") == 0 && !in_picture(n->parent)) {
		xmlNode *pick = picture_pick(n, 0);
		if (pick != NULL)
			walk_add_image(w, pick);
	} else if (strcmp(name, "style") == 0) {
		xmlChar *text = ts_xml.xmlNodeGetContent(n);
		if (text != NULL &&
		    ts_catalog_css_links((const char *)text, strlen((const char *)text), w->base, w->out,
		                         NULL) != TS_OK)
			w->oom = true;
		xml_free(text);
	}
	xml_free(href);
	xml_free(rel);
	xml_free(as);
	char *style = prop(n, "style");
	if (style != NULL &&
	    ts_catalog_css_links(style, strlen(style), w->base, w->out, NULL) != TS_OK)
		w->oom = true;
	xml_free(style);
}

static void walk(struct html_walk *w, xmlNode *n, int depth)
{
	for (; n != NULL && !w->oom; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && n->name != NULL)
			walk_element(w, n);
		if (depth < MAX_HTML_DEPTH)
			walk(w, n->children, depth + 1);
	}
}

int ts_catalog_html_links(const char *html, size_t len, const char *base_url,
                          struct ts_catalog_links *out, struct ts_error *err)
{
	if (len > INT32_MAX)
		return ts_error_set(err, TS_E_NOMEM, "HTML document of %zu bytes is too large", len);
	int rc = ts_xml_load(err);
	if (rc != TS_OK || (rc = ts_curl_load(err)) != TS_OK)
		return rc;
	struct html_walk w = { .out = out, .base = base_url != NULL ? strdup(base_url) : NULL };
	if (base_url != NULL && w.base == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	if (len == 0) {
		free(w.base);
		return TS_OK;
	}
	htmlDocPtr doc = ts_xml.htmlReadMemory(html, (int)len, base_url, NULL,
	                                HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	                                HTML_PARSE_RECOVER | HTML_PARSE_NONET);
	if (doc == NULL) {
		free(w.base);
		return ts_error_set(err, TS_E_MALFORMED, "libxml2 could not parse the HTML document");
	}
	walk(&w, ts_xml.xmlDocGetRootElement(doc), 0);
	ts_xml.xmlFreeDoc(doc);
	free(w.base);
	if (w.oom)
		return ts_error_set(err, TS_E_NOMEM, "out of memory collecting links");
	return TS_OK;
}

/* ---- crawl ---- */

enum accept_class { ACCEPT_DOCUMENT, ACCEPT_STYLE, ACCEPT_IMAGE, ACCEPT_ANY, ACCEPT_CLASSES };

static enum accept_class accept_class_of(enum ts_catalog_kind kind)
{
	switch (kind) {
	case TS_CATALOG_PAGE: return ACCEPT_DOCUMENT;
	case TS_CATALOG_STYLESHEET: return ACCEPT_STYLE;
	case TS_CATALOG_IMAGE:
	case TS_CATALOG_ICON: return ACCEPT_IMAGE;
	default: return ACCEPT_ANY;
	}
}

static const char *const accept_values[ACCEPT_CLASSES] = {
	"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
	"text/css,*/*;q=0.1",
	"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
	"*/*",
};

struct job {
	size_t entry;
	bool encoded;
};

struct crawl;

struct xfer {
	struct crawl *c;
	CURL *easy;
	size_t entry;
	bool encoded;
	bool keep_body;
	bool too_big;
	uint64_t body_bytes;
	struct ts_buf body;
	char *content_encoding;
	bool chunked;
	char errbuf[CURL_ERROR_SIZE];
};

struct crawl {
	const struct ts_catalog_config *cfg;
	struct ts_catalog *cat;
	CURLM *multi;
	struct curl_slist *headers[ACCEPT_CLASSES][2];
	struct curl_slist *resolve;
	struct job *jobs;
	size_t n_jobs, cap_jobs, next_job;
	struct xfer *active[MAX_PARALLEL];
	size_t running, fetches_done, pages_done;
	size_t pages, resources;
	size_t max_pages, max_resources, max_body;
	bool oom;
	int start_code;            /* CURLcode of the start URL's first fetch */
	char start_msg[CURL_ERROR_SIZE + 64];
};

static bool push_job(struct crawl *c, size_t entry, bool encoded)
{
	if (c->n_jobs == c->cap_jobs) {
		size_t cap = c->cap_jobs ? c->cap_jobs * 2 : 128;
		struct job *v = realloc(c->jobs, cap * sizeof *v);
		if (v == NULL)
			return false;
		c->jobs = v;
		c->cap_jobs = cap;
	}
	c->jobs[c->n_jobs++] = (struct job){ .entry = entry, .encoded = encoded };
	return true;
}

/* Queues url (a copy is made) unless known or over a cap; returns its index or -1. */
static long crawl_add(struct crawl *c, const char *url, enum ts_catalog_kind kind)
{
	long idx = find_index(c->cat, url);
	if (idx >= 0)
		return idx;
	if (kind == TS_CATALOG_PAGE && c->pages >= c->max_pages) {
		c->cat->skipped_pages++;
		return -1;
	}
	if (kind != TS_CATALOG_PAGE && c->resources >= c->max_resources)
		return -1;
	char *copy = strdup(url);
	if (copy == NULL) {
		c->oom = true;
		return -1;
	}
	idx = add_entry(c->cat, copy, kind);
	if (idx < 0) {
		free(copy);
		c->oom = true;
		return -1;
	}
	if (kind == TS_CATALOG_PAGE)
		c->pages++;
	else
		c->resources++;
	if (!push_job(c, (size_t)idx, false) || !push_job(c, (size_t)idx, true))
		c->oom = true;
	return idx;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (x->body_bytes + len > x->c->max_body) {
		x->too_big = true;
		return 0;
	}
	x->body_bytes += len;
	if (x->keep_body) {
		ts_buf_put(&x->body, p, len);
		if (x->body.oom)
			return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	static const char name[] = "content-encoding:";
	if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
		size_t s = sizeof name - 1, e = len;
		while (s < e && isspace((unsigned char)p[s]))
			s++;
		while (e > s && isspace((unsigned char)p[e - 1]))
			e--;
		free(x->content_encoding);
		x->content_encoding = e > s ? strndup(p + s, e - s) : NULL;
	} else if (len > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
		x->chunked = memmem(p, len, "chunked", 7) != NULL;
	} else if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after 1xx): forget the previous one's headers. */
		free(x->content_encoding);
		x->content_encoding = NULL;
		x->chunked = false;
	}
	return len;
}

static bool start_job(struct crawl *c, const struct job *j)
{
	const struct ts_catalog_config *cfg = c->cfg;
	struct ts_catalog_entry *e = &c->cat->entries[j->entry];
	struct xfer *x = calloc(1, sizeof *x);
	if (x == NULL)
		return false;
	x->c = c;
	x->entry = j->entry;
	x->encoded = j->encoded;
	x->keep_body = !j->encoded && (e->kind == TS_CATALOG_PAGE || e->kind == TS_CATALOG_STYLESHEET);
	ts_buf_init(&x->body);
	x->body.max = c->max_body;
	CURL *h = x->easy = ts_curl.curl_easy_init();
	if (h == NULL) {
		free(x);
		return false;
	}
	ts_curl.curl_easy_setopt(h, CURLOPT_URL, e->url);
	ts_curl.curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	ts_curl.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	ts_curl.curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	ts_curl.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	ts_curl.curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	ts_curl.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	ts_curl.curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers[accept_class_of(e->kind)][j->encoded]);
	ts_curl.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	ts_curl.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	ts_curl.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	ts_curl.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS));
	ts_curl.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS));
	ts_curl.curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	/* The browser-encoded fetch counts the body as it travels: compressed,
	 * and with its chunked framing, which the observer sees too. */
	if (j->encoded)
		ts_curl.curl_easy_setopt(h, CURLOPT_HTTP_TRANSFER_DECODING, 0L);
	long version = CURL_HTTP_VERSION_2TLS;
	if (cfg->http_version == 11)
		version = CURL_HTTP_VERSION_1_1;
	else if (cfg->http_version == 2)
		version = CURL_HTTP_VERSION_2_0;
	ts_curl.curl_easy_setopt(h, CURLOPT_HTTP_VERSION, version);
	ts_curl.curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cfg->ca_file != NULL)
		ts_curl.curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->ca_dir != NULL)
		ts_curl.curl_easy_setopt(h, CURLOPT_CAPATH, cfg->ca_dir);
	if (cfg->insecure_noverifycert) {
		ts_curl.curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		ts_curl.curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->resolve != NULL)
		ts_curl.curl_easy_setopt(h, CURLOPT_RESOLVE, c->resolve);
	if (ts_curl.curl_multi_add_handle(c->multi, h) != CURLM_OK) {
		ts_curl.curl_easy_cleanup(h);
		free(x);
		return false;
	}
	for (size_t i = 0; i < MAX_PARALLEL; i++) {
		if (c->active[i] == NULL) {
			c->active[i] = x;
			break;
		}
	}
	c->running++;
	return true;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static const char *http_version_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0: return "1.0";
	case CURL_HTTP_VERSION_1_1: return "1.1";
	case CURL_HTTP_VERSION_2_0: return "2";
	case CURL_HTTP_VERSION_3: return "3";
	}
	return NULL;
}

static bool is_html(const char *content_type)
{
	return content_type != NULL && (strncasecmp(content_type, "text/html", 9) == 0 ||
	                                strncasecmp(content_type, "application/xhtml+xml", 21) == 0);
}

/* Follows what the identity fetch of an entry found: a redirect, links, url(). */
static void discover(struct crawl *c, struct xfer *x)
{
	struct ts_catalog_entry *e = &c->cat->entries[x->entry];
	enum ts_catalog_kind kind = e->kind;
	long status = e->identity.status;
	if (status >= 300 && status < 400 && e->redirect != NULL) {
		if (ts_catalog_same_site(c->cfg->url, e->redirect))
			crawl_add(c, e->redirect, kind);
		return;
	}
	if (status < 200 || status >= 300 || x->body.len == 0)
		return;
	struct ts_catalog_links links = { 0 };
	char *base = strdup(e->url);
	char *ctype = dup_or_null(e->content_type);
	int rc;
	if (kind == TS_CATALOG_PAGE && is_html(ctype))
		rc = ts_catalog_html_links((const char *)x->body.data, x->body.len, base, &links, NULL);
	else if (kind == TS_CATALOG_STYLESHEET)
		rc = ts_catalog_css_links((const char *)x->body.data, x->body.len, base, &links, NULL);
	else
		rc = TS_OK;
	if (rc == TS_E_NOMEM || base == NULL)
		c->oom = true;
	for (size_t i = 0; i < links.n && base != NULL; i++) {
		if (!ts_catalog_same_site(c->cfg->url, links.v[i].url))
			continue;
		crawl_add(c, links.v[i].url, links.v[i].kind);
		/* crawl_add may move the entries: look the entry up again. */
		if (links.v[i].kind != TS_CATALOG_PAGE &&
		    !entry_add_ref(&c->cat->entries[x->entry], links.v[i].url))
			c->oom = true;
	}
	ts_catalog_links_clear(&links);
	free(base);
	free(ctype);
}

static void finish(struct crawl *c, struct xfer *x, CURLcode result)
{
	CURL *h = x->easy;
	struct ts_catalog_entry *e = &c->cat->entries[x->entry];
	struct ts_catalog_fetch *f = x->encoded ? &e->encoded : &e->identity;
	long status = 0, version = 0, header_size = 0;
	char *ctype = NULL, *redirect = NULL, *ip = NULL;
	ts_curl.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	ts_curl.curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &header_size);
	ts_curl.curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
	ts_curl.curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect);
	ts_curl.curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
	ts_curl.curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip);
	f->done = true;
	f->status = result == CURLE_OK ? status : 0;
	f->header_bytes = header_size > 0 ? (uint64_t)header_size : 0;
	f->body_bytes = x->body_bytes;
	f->content_encoding = x->content_encoding;
	f->chunked = x->chunked;
	x->content_encoding = NULL;
	if (result != CURLE_OK) {
		char msg[CURL_ERROR_SIZE + 64];
		if (x->too_big)
			snprintf(msg, sizeof msg, "body larger than the %zu-byte limit", c->max_body);
		else
			snprintf(msg, sizeof msg, "%s", x->errbuf[0] ? x->errbuf : ts_curl.curl_easy_strerror(result));
		f->error = strdup(msg);
		if (x->entry == 0 && !x->encoded) {
			c->start_code = (int)result;
			snprintf(c->start_msg, sizeof c->start_msg, "%s", msg);
		}
	} else {
		if (e->content_type == NULL && ctype != NULL)
			e->content_type = strdup(ctype);
		if (e->redirect == NULL && redirect != NULL && status >= 300 && status < 400)
			e->redirect = strdup(redirect);
		if (e->http_version == NULL && http_version_name(version) != NULL)
			e->http_version = strdup(http_version_name(version));
		if (c->cat->address == NULL && ip != NULL && *ip != '\0')
			c->cat->address = strdup(ip);
		if (!x->encoded)
			discover(c, x);
	}
	c->fetches_done++;
	if (c->cat->entries[x->entry].kind == TS_CATALOG_PAGE && c->cat->entries[x->entry].identity.done &&
	    c->cat->entries[x->entry].encoded.done)
		c->pages_done++;
	for (size_t i = 0; i < MAX_PARALLEL; i++)
		if (c->active[i] == x)
			c->active[i] = NULL;
	ts_curl.curl_multi_remove_handle(c->multi, h);
	ts_curl.curl_easy_cleanup(h);
	ts_buf_clear(&x->body);
	free(x->content_encoding);
	free(x);
	c->running--;
}

static struct curl_slist *build_headers(enum accept_class ac, bool encoded)
{
	char line[256];
	struct curl_slist *l = NULL, *t;
	snprintf(line, sizeof line, "Accept: %s", accept_values[ac]);
	const char *lines[] = {
		"User-Agent: " UA,
		line,
		"Accept-Language: en-US,en;q=0.9",
		encoded ? "Accept-Encoding: " BROWSER_ENCODING : "Accept-Encoding: identity",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if ((t = ts_curl.curl_slist_append(l, lines[i])) == NULL) {
			ts_curl.curl_slist_free_all(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

static int start_error(int code, const char *url, const char *msg, struct ts_error *err)
{
	int status;
	switch ((CURLcode)code) {
	case CURLE_COULDNT_RESOLVE_HOST: status = TS_E_RESOLVE; break;
	case CURLE_COULDNT_CONNECT: status = TS_E_CONNECT; break;
	case CURLE_OPERATION_TIMEDOUT: status = TS_E_TIMEOUT; break;
	case CURLE_PEER_FAILED_VERIFICATION: status = TS_E_VERIFY; break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CERTPROBLEM: status = TS_E_TLS; break;
	case CURLE_SSL_CACERT_BADFILE: status = TS_E_FILE; break;
	default: status = TS_E_CONNECT; break;
	}
	return ts_error_set(err, status, "could not fetch %s: %s", url, msg);
}

static char *utc_now(void)
{
	char buf[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return strdup(buf);
}

const char *ts_catalog_libcurl_version(struct ts_error *err)
{
	return ts_curl_load(err) == TS_OK ? ts_curl.curl_version() : NULL;
}

int ts_catalog_crawl(const struct ts_catalog_config *cfg, struct ts_catalog **out,
                     struct ts_error *err)
{
	*out = NULL;
	if (cfg->url == NULL || strncasecmp(cfg->url, "https://", 8) != 0)
		return ts_error_set(err, TS_E_INVALID, "wanted an https:// URL, got '%s'",
		                    cfg->url != NULL ? cfg->url : "");
	int rc = ts_curl_load(err);
	if (rc != TS_OK || (rc = ts_xml_load(err)) != TS_OK)
		return rc;
	char *start = resolve_url(NULL, cfg->url);
	struct site site;
	if (start == NULL || !site_parse(start, &site)) {
		free(start);
		return ts_error_set(err, TS_E_INVALID, "'%s' is not a URL curl can parse", cfg->url);
	}
	struct ts_catalog *cat = ts_catalog_new();
	struct crawl c = {
		.cfg = cfg, .cat = cat,
		.max_pages = cfg->max_pages ? cfg->max_pages : DEFAULT_MAX_PAGES,
		.max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY,
	};
	c.max_resources = cfg->max_resources ? cfg->max_resources : 20 * c.max_pages;
	int parallel = cfg->parallel > 0 ? cfg->parallel : DEFAULT_PARALLEL;
	if (parallel > MAX_PARALLEL)
		parallel = MAX_PARALLEL;
	if (cat == NULL) {
		rc = ts_error_set(err, TS_E_NOMEM, "out of memory");
		goto done;
	}
	cat->start_url = strdup(start);
	cat->scheme = strdup(site.scheme);
	cat->host = strdup(site.host);
	for (char *p = cat->host; p != NULL && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	cat->port = atoi(site.port);
	cat->created = utc_now();
	cat->user_agent = strdup(UA);
	cat->accept_encoding = strdup(BROWSER_ENCODING);
	for (size_t i = 0; i < cfg->n_resolve; i++) {
		struct curl_slist *t = ts_curl.curl_slist_append(c.resolve, cfg->resolve[i]);
		if (t == NULL)
			c.oom = true;
		else
			c.resolve = t;
	}
	for (int a = 0; a < ACCEPT_CLASSES; a++)
		for (int enc = 0; enc < 2; enc++)
			if ((c.headers[a][enc] = build_headers((enum accept_class)a, enc)) == NULL)
				c.oom = true;
	c.multi = ts_curl.curl_multi_init();
	if (c.multi == NULL || c.oom || cat->start_url == NULL || cat->host == NULL ||
	    cat->created == NULL || cat->user_agent == NULL || cat->accept_encoding == NULL) {
		rc = ts_error_set(err, TS_E_NOMEM, "out of memory setting up the crawl");
		goto done;
	}
	ts_curl.curl_multi_setopt(c.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
	ts_curl.curl_multi_setopt(c.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);
	crawl_add(&c, start, TS_CATALOG_PAGE);
	while (!c.oom && (c.next_job < c.n_jobs || c.running > 0)) {
		while (c.running < (size_t)parallel && c.next_job < c.n_jobs) {
			if (!start_job(&c, &c.jobs[c.next_job])) {
				c.oom = true;
				break;
			}
			c.next_job++;
		}
		int still = 0;
		if (ts_curl.curl_multi_perform(c.multi, &still) != CURLM_OK) {
			rc = ts_error_set(err, TS_E_INTERNAL, "libcurl's multi interface failed");
			break;
		}
		CURLMsg *msg;
		int left;
		bool finished = false;
		while ((msg = ts_curl.curl_multi_info_read(c.multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x = NULL;
			ts_curl.curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			/* The URL string stays put when the entries array moves. */
			const char *url = cat->entries[x->entry].url;
			finish(&c, x, msg->data.result);
			finished = true;
			if (cfg->progress != NULL) {
				struct ts_catalog_progress p = {
					.pages_done = c.pages_done, .pages_known = c.pages,
					.fetches_done = c.fetches_done, .fetches_queued = c.n_jobs,
					.last_url = url,
				};
				cfg->progress(cfg->progress_arg, &p);
			}
		}
		if (!finished && still > 0)
			ts_curl.curl_multi_poll(c.multi, NULL, 0, 1000, NULL);
	}
	if (rc == TS_OK && c.oom)
		rc = ts_error_set(err, TS_E_NOMEM, "out of memory during the crawl");
	if (rc == TS_OK && c.start_code != 0)
		rc = start_error(c.start_code, start, c.start_msg, err);
	if (rc == TS_OK)
		rc = ts_catalog_index(cat, err);
done:
	if (c.multi != NULL) {
		/* Transfers are left only after an error: drop them. */
		for (size_t i = 0; i < MAX_PARALLEL; i++) {
			struct xfer *x = c.active[i];
			if (x == NULL)
				continue;
			ts_curl.curl_multi_remove_handle(c.multi, x->easy);
			ts_curl.curl_easy_cleanup(x->easy);
			ts_buf_clear(&x->body);
			free(x->content_encoding);
			free(x);
		}
		ts_curl.curl_multi_cleanup(c.multi);
	}
	for (int a = 0; a < ACCEPT_CLASSES; a++)
		for (int enc = 0; enc < 2; enc++)
			ts_curl.curl_slist_free_all(c.headers[a][enc]);
	ts_curl.curl_slist_free_all(c.resolve);
	free(c.jobs);
	site_clear(&site);
	free(start);
	if (rc != TS_OK) {
		ts_catalog_free(cat);
		return rc;
	}
	*out = cat;
	return TS_OK;
}

/* ---- loading a catalog ---- */

struct loader {
	struct ts_error *err;
	char path[160];      /* where in the document we are, for messages */
};

static int bad(struct loader *l, const char *field, const char *want, json_t *got)
{
	static const char *const types[] = { "an object", "an array", "a string", "an integer",
	                                     "a real number", "true", "false", "null" };
	const char *seen = got == NULL ? "nothing" : types[json_typeof(got)];
	return ts_error_set(l->err, TS_E_MALFORMED, "%s%s%s: expected %s, got %s", l->path,
	                    l->path[0] ? "." : "", field, want, seen);
}

/* Optional string: *out stays NULL for a missing or null field. */
static int get_string(struct loader *l, json_t *o, const char *field, bool required, char **out)
{
	json_t *v = json_object_get(o, field);
	if ((v == NULL || json_is_null(v)) && !required)
		return TS_OK;
	if (!json_is_string(v))
		return bad(l, field, "a string", v);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return ts_error_set(l->err, TS_E_NOMEM, "out of memory");
	return TS_OK;
}

static int get_uint(struct loader *l, json_t *o, const char *field, bool required, uint64_t max,
                    uint64_t *out)
{
	json_t *v = json_object_get(o, field);
	if (v == NULL && !required)
		return TS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
		char want[64];
		snprintf(want, sizeof want, "an integer from 0 to %llu", (unsigned long long)max);
		return bad(l, field, want, v);
	}
	*out = (uint64_t)json_integer_value(v);
	return TS_OK;
}

static int get_bool(struct loader *l, json_t *o, const char *field, bool *out)
{
	json_t *v = json_object_get(o, field);
	if (v == NULL || json_is_null(v))
		return TS_OK;
	if (!json_is_boolean(v))
		return bad(l, field, "true or false", v);
	*out = json_is_true(v);
	return TS_OK;
}

static int load_fetch(struct loader *l, json_t *o, const char *field, struct ts_catalog_fetch *f)
{
	json_t *v = json_object_get(o, field);
	if (v == NULL || json_is_null(v))
		return TS_OK;   /* not fetched */
	if (!json_is_object(v))
		return bad(l, field, "an object", v);
	size_t plen = strlen(l->path);
	snprintf(l->path + plen, sizeof l->path - plen, ".%s", field);
	uint64_t status = 0;
	int rc;
	if ((rc = get_uint(l, v, "status", true, 999, &status)) == TS_OK &&
	    (rc = get_uint(l, v, "header_bytes", true, MAX_SIZE_FIELD, &f->header_bytes)) == TS_OK &&
	    (rc = get_uint(l, v, "body_bytes", true, MAX_SIZE_FIELD, &f->body_bytes)) == TS_OK &&
	    (rc = get_string(l, v, "content_encoding", false, &f->content_encoding)) == TS_OK &&
	    (rc = get_string(l, v, "error", false, &f->error)) == TS_OK &&
	    (rc = get_bool(l, v, "chunked", &f->chunked)) == TS_OK) {
		f->status = (long)status;
		f->done = true;
		l->path[plen] = '\0';
	}
	return rc;
}

static int load_entry(struct loader *l, struct ts_catalog *cat, json_t *o, bool page)
{
	if (!json_is_object(o))
		return bad(l, "", "an object", o);
	char *url = NULL;
	int rc = get_string(l, o, "url", true, &url);
	if (rc != TS_OK)
		return rc;
	if (find_index(cat, url) >= 0) {
		rc = ts_error_set(l->err, TS_E_MALFORMED, "%s.url: '%s' appears twice", l->path, url);
		free(url);
		return rc;
	}
	int kind = TS_CATALOG_PAGE;
	if (!page) {
		json_t *k = json_object_get(o, "kind");
		if (!json_is_string(k) || (kind = ts_catalog_kind_parse(json_string_value(k))) < 0 ||
		    kind == TS_CATALOG_PAGE) {
			free(url);
			return bad(l, "kind", "one of stylesheet, script, image, icon, font, other", k);
		}
	}
	long idx = add_entry(cat, url, (enum ts_catalog_kind)kind);
	if (idx < 0) {
		free(url);
		return ts_error_set(l->err, TS_E_NOMEM, "too many catalog entries (limit %d)", MAX_ENTRIES);
	}
	struct ts_catalog_entry *e = &cat->entries[idx];
	if ((rc = get_string(l, o, "content_type", false, &e->content_type)) != TS_OK ||
	    (rc = get_string(l, o, "redirect", false, &e->redirect)) != TS_OK ||
	    (rc = get_string(l, o, "http_version", false, &e->http_version)) != TS_OK ||
	    (rc = load_fetch(l, o, "identity", &e->identity)) != TS_OK ||
	    (rc = load_fetch(l, o, "encoded", &e->encoded)) != TS_OK)
		return rc;
	if (!e->identity.done && !e->encoded.done)
		return ts_error_set(l->err, TS_E_MALFORMED,
		                    "%s: expected an \"identity\" or \"encoded\" fetch, got neither", l->path);
	json_t *refs = json_object_get(o, "refs");
	if (refs == NULL || json_is_null(refs))
		return TS_OK;
	if (!json_is_array(refs))
		return bad(l, "refs", "an array of URLs", refs);
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) {
		if (!json_is_string(r)) {
			char f[32];
			snprintf(f, sizeof f, "refs[%zu]", i);
			return bad(l, f, "a URL string", r);
		}
		if (!entry_add_ref(&cat->entries[idx], json_string_value(r)))
			return ts_error_set(l->err, TS_E_NOMEM, "%s.refs: too many references (limit %d)",
			                    l->path, MAX_REFS);
	}
	return TS_OK;
}

static int load_root(struct loader *l, struct ts_catalog *cat, json_t *root)
{
	if (!json_is_object(root))
		return bad(l, "catalog", "a JSON object", root);
	json_t *fmt = json_object_get(root, "format");
	if (!json_is_string(fmt) || strcmp(json_string_value(fmt), TS_CATALOG_FORMAT) != 0)
		return ts_error_set(l->err, TS_E_MALFORMED,
		                    "format: expected \"%s\" (a file written by 'tlsscope catalog'), got %s%s%s",
		                    TS_CATALOG_FORMAT, json_is_string(fmt) ? "\"" : "",
		                    json_is_string(fmt) ? json_string_value(fmt) : (fmt ? "another type" : "nothing"),
		                    json_is_string(fmt) ? "\"" : "");
	uint64_t version = 0, port = 0, skipped = 0;
	int rc;
	if ((rc = get_uint(l, root, "version", true, 1000, &version)) != TS_OK)
		return rc;
	if (version != TS_CATALOG_VERSION)
		return ts_error_set(l->err, TS_E_MALFORMED,
		                    "version: this tlsscope reads catalog version %d, the file is version %llu",
		                    TS_CATALOG_VERSION, (unsigned long long)version);
	if ((rc = get_string(l, root, "start_url", true, &cat->start_url)) != TS_OK ||
	    (rc = get_string(l, root, "scheme", false, &cat->scheme)) != TS_OK ||
	    (rc = get_string(l, root, "host", true, &cat->host)) != TS_OK ||
	    (rc = get_uint(l, root, "port", true, 65535, &port)) != TS_OK ||
	    (rc = get_string(l, root, "address", false, &cat->address)) != TS_OK ||
	    (rc = get_string(l, root, "created", false, &cat->created)) != TS_OK ||
	    (rc = get_string(l, root, "user_agent", false, &cat->user_agent)) != TS_OK ||
	    (rc = get_string(l, root, "accept_encoding", false, &cat->accept_encoding)) != TS_OK ||
	    (rc = get_uint(l, root, "skipped_pages", false, MAX_SIZE_FIELD, &skipped)) != TS_OK)
		return rc;
	if (port == 0)
		return ts_error_set(l->err, TS_E_MALFORMED, "port: expected 1 to 65535, got 0");
	cat->port = (int)port;
	cat->skipped_pages = (size_t)skipped;
	for (char *p = cat->host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	static const char *const lists[] = { "pages", "resources" };
	for (int k = 0; k < 2; k++) {
		json_t *arr = json_object_get(root, lists[k]);
		if (!json_is_array(arr))
			return bad(l, lists[k], "an array", arr);
		size_t i;
		json_t *o;
		json_array_foreach(arr, i, o) {
			snprintf(l->path, sizeof l->path, "%s[%zu]", lists[k], i);
			if ((rc = load_entry(l, cat, o, k == 0)) != TS_OK)
				return rc;
		}
		l->path[0] = '\0';
	}
	if (ts_catalog_page_count(cat) == 0)
		return ts_error_set(l->err, TS_E_MALFORMED, "pages: expected at least one page, got none");
	return ts_catalog_index(cat, l->err);
}

int ts_catalog_parse(const char *text, size_t len, struct ts_catalog **out, struct ts_error *err)
{
	*out = NULL;
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return ts_error_set(err, TS_E_MALFORMED, "not JSON: %s at line %d, column %d", jerr.text,
		                    jerr.line, jerr.column);
	struct ts_catalog *cat = ts_catalog_new();
	if (cat == NULL) {
		json_decref(root);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	struct loader l = { .err = err };
	int rc = load_root(&l, cat, root);
	json_decref(root);
	if (rc != TS_OK) {
		ts_catalog_free(cat);
		return rc;
	}
	*out = cat;
	return TS_OK;
}

int ts_catalog_load(const char *path, struct ts_catalog **out, struct ts_error *err)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return ts_error_errno(err, TS_E_FILE, errno, "cannot open catalog '%s'", path);
	struct ts_buf b;
	ts_buf_init(&b);
	b.max = (size_t)1 << 30;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !b.oom)
		ts_buf_put(&b, chunk, n);
	bool failed = ferror(f);
	fclose(f);
	int rc;
	if (failed)
		rc = ts_error_set(err, TS_E_FILE, "cannot read catalog '%s'", path);
	else if (b.oom)
		rc = ts_error_set(err, TS_E_FILE, "catalog '%s' is larger than 1 GiB", path);
	else
		rc = ts_catalog_parse((const char *)b.data, b.len, out, err);
	ts_buf_clear(&b);
	return rc;
}
