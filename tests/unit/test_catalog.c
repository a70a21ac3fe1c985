#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tlsscope/catalog.h"
#include "tlsscope/report_catalog.h"

static const struct ts_catalog_link *find_link(const struct ts_catalog_links *l, const char *url)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].url, url) == 0)
			return &l->v[i];
	return NULL;
}

static void assert_link(const struct ts_catalog_links *l, const char *url, enum ts_catalog_kind kind)
{
	const struct ts_catalog_link *k = find_link(l, url);
	if (k == NULL)
		fail_msg("link %s not found", url);
	assert_string_equal(ts_catalog_kind_name(k->kind), ts_catalog_kind_name(kind));
}

static const char html[] =
	"<!DOCTYPE html><html><head><title>t</title>\n"
	"<LINK REL=\"stylesheet\" HREF=\"css/a.css\">\n"
	"<link rel=\"alternate stylesheet\" href=\"alt.css\">\n"
	"<link rel=\"shortcut icon\" href=\"/favicon.ico\">\n"
	"<link rel=\"preload\" as=\"font\" href=\"/f/x.woff2\">\n"
	"<link rel=\"canonical\" href=\"https://site.test/canon\">\n"
	"<script src=\"js/app.js\"></script><script>var x = '<a href=no.html>';</script>\n"
	"<style>body { background: url(img/bg.png) }</style>\n"
	"</head><body>\n"
	"<p><a href=\"page.html#sec\">one</a> <a href=\" page.html \">same</a>\n"
	"<a href=\"../up.html\">up</a> <a href=\"mailto:x@y\">m</a> <a href=\"javascript:void(0)\">j</a>\n"
	"<a href=\"https://other.test/x\">other</a> <a href=\"#top\">top</a>\n"
	"<img src=\"img/p.jpg\"><div style=\"background:url('img/s.png')\">\n"
	"<a href=\"img/p.jpg\">picture</a>\n"
	"<p>unclosed <b>tags <i>everywhere\n"
	"</body></html>\n";

static void html_links_are_found_and_resolved(void **state)
{
	struct ts_catalog_links l = { 0 };
	struct ts_error err = { 0 };
	assert_int_equal(ts_catalog_html_links(html, strlen(html), "https://site.test/dir/index.html",
	                                       &l, &err), TS_OK);
	assert_link(&l, "https://site.test/dir/css/a.css", TS_CATALOG_STYLESHEET);
	assert_link(&l, "https://site.test/favicon.ico", TS_CATALOG_ICON);
	assert_link(&l, "https://site.test/f/x.woff2", TS_CATALOG_FONT);
	assert_link(&l, "https://site.test/dir/js/app.js", TS_CATALOG_SCRIPT);
	assert_link(&l, "https://site.test/dir/img/bg.png", TS_CATALOG_IMAGE);
	assert_link(&l, "https://site.test/dir/img/s.png", TS_CATALOG_IMAGE);
	assert_link(&l, "https://site.test/dir/page.html", TS_CATALOG_PAGE);
	assert_link(&l, "https://site.test/up.html", TS_CATALOG_PAGE);
	assert_link(&l, "https://other.test/x", TS_CATALOG_PAGE);
	/* The image is fetched by <img>, so it is a sub-resource even if also linked. */
	assert_link(&l, "https://site.test/dir/img/p.jpg", TS_CATALOG_IMAGE);
	/* "#top" is the page itself. */
	assert_link(&l, "https://site.test/dir/index.html", TS_CATALOG_PAGE);
	assert_null(find_link(&l, "https://site.test/dir/alt.css"));
	assert_null(find_link(&l, "https://site.test/canon"));
	assert_null(find_link(&l, "https://site.test/dir/no.html"));
	assert_int_equal(l.n, 11);
	ts_catalog_links_clear(&l);
}

/* A browser fetches one candidate of a srcset or a <picture>: at device pixel
 * ratio 1 and an 800-pixel viewport. */
static void responsive_images_give_one_candidate(void **state)
{
	static const char doc[] =
		"<img src=\"s.jpg\" srcset=\"a1.jpg 1x, a2.jpg 2x\">"
		"<img srcset=\"w480.jpg 480w, w960.jpg 960w,w1600.jpg 1600w\" src=\"w.jpg\">"
		"<img src=\"only-src.jpg\" srcset=\"hi.jpg 2x\">"
		"<img srcset=\"lo.jpg 0.5x, mid.jpg 0.75x\">"
		"<img srcset=\"data:image/png;base64,AAAA, second-1x.jpg\">"   /* the first 1x: no fetch */
		"<picture><source type=\"image/x-new\" srcset=\"unk.jpg\">"
		"<source media=\"(min-width: 1200px)\" srcset=\"big.jpg\">"
		"<source media=\"(min-width: 600px) and (max-width: 900px)\" srcset=\"medium.webp\" type=\"image/webp\">"
		"<img src=\"fallback.jpg\"></picture>"
		"<picture><source media=\"print\" srcset=\"p.jpg\"><img src=\"pic-img.jpg\" srcset=\"pic-img2.jpg 2x\"></picture>";
	struct ts_catalog_links l = { 0 };
	assert_int_equal(ts_catalog_html_links(doc, strlen(doc), "https://site.test/", &l, NULL), TS_OK);
	static const char *const want[] = { "a1.jpg", "w960.jpg", "only-src.jpg", "mid.jpg",
	                                    "medium.webp", "pic-img.jpg" };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char url[64];
		snprintf(url, sizeof url, "https://site.test/%s", want[i]);
		assert_link(&l, url, TS_CATALOG_IMAGE);
	}
	assert_int_equal(l.n, sizeof want / sizeof want[0]);
	ts_catalog_links_clear(&l);
}

static void base_href_changes_the_base(void **state)
{
	static const char doc[] = "<html><head><base href=\"https://site.test/b/\"></head>"
	                          "<body><a href=\"x.html\">x</a></body></html>";
	struct ts_catalog_links l = { 0 };
	assert_int_equal(ts_catalog_html_links(doc, strlen(doc), "https://site.test/a/i.html", &l, NULL), TS_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].url, "https://site.test/b/x.html");
	ts_catalog_links_clear(&l);
}

static void garbage_html_does_not_fail(void **state)
{
	static const char junk[] = "\x01\x02<<<a href=\"q.html\"<<<\xff\xfe<a href='r.html'>";
	struct ts_catalog_links l = { 0 };
	assert_int_equal(ts_catalog_html_links(junk, sizeof junk - 1, "https://site.test/", &l, NULL), TS_OK);
	assert_non_null(find_link(&l, "https://site.test/q.html"));
	ts_catalog_links_clear(&l);
	assert_int_equal(ts_catalog_html_links("", 0, "https://site.test/", &l, NULL), TS_OK);
	assert_int_equal(l.n, 0);
}

static void css_links_are_found(void **state)
{
	static const char css[] =
		"@import \"base.css\";\n@import url(print.css) print;\n"
		"body { background: url( '../img/bg.png' ) }\n"
		"/* url(commented.png) */\n"
		"@font-face { src: url(\"/fonts/t.woff2?v=2\") format('woff2'), url(t.ttf); }\n"
		".x { background: url(data:image/png;base64,AAAA) }\n"
		".y { background-image: url(  \"sprite.svg#a\"  ) }\n"
		".z { background: url(unterminated";
	struct ts_catalog_links l = { 0 };
	assert_int_equal(ts_catalog_css_links(css, strlen(css), "https://site.test/css/s.css", &l, NULL), TS_OK);
	assert_link(&l, "https://site.test/css/base.css", TS_CATALOG_STYLESHEET);
	assert_link(&l, "https://site.test/css/print.css", TS_CATALOG_STYLESHEET);
	assert_link(&l, "https://site.test/img/bg.png", TS_CATALOG_IMAGE);
	assert_link(&l, "https://site.test/fonts/t.woff2?v=2", TS_CATALOG_FONT);
	assert_link(&l, "https://site.test/css/t.ttf", TS_CATALOG_FONT);
	assert_link(&l, "https://site.test/css/sprite.svg", TS_CATALOG_IMAGE);
	assert_int_equal(l.n, 6);
	ts_catalog_links_clear(&l);
}

static void same_site_compares_scheme_host_and_port(void **state)
{
	assert_true(ts_catalog_same_site("https://Site.Test/a", "https://site.test:443/b?c"));
	assert_false(ts_catalog_same_site("https://site.test/a", "https://site.test:8443/a"));
	assert_false(ts_catalog_same_site("https://site.test/a", "http://site.test/a"));
	assert_false(ts_catalog_same_site("https://site.test/a", "https://www.site.test/a"));
	assert_false(ts_catalog_same_site("https://site.test/a", "not a url"));
}

#define FETCH(st, h, b, enc) "{\"status\":" #st ",\"header_bytes\":" #h ",\"body_bytes\":" #b \
	",\"content_encoding\":" enc ",\"error\":null}"

static const char good[] =
	"{\"format\":\"tlsscope-catalog\",\"version\":1,\"start_url\":\"https://site.test/\","
	"\"scheme\":\"https\",\"host\":\"Site.Test\",\"port\":443,\"address\":\"127.0.0.1\","
	"\"pages\":["
	"{\"url\":\"https://site.test/\",\"identity\":" FETCH(200, 200, 5000, "null") ","
	" \"encoded\":" FETCH(200, 190, 1500, "\"gzip\"") ",\"refs\":[\"https://site.test/s.css\",\"https://site.test/a.js\"]},"
	"{\"url\":\"https://site.test/old\",\"identity\":" FETCH(301, 160, 169, "null") ","
	" \"redirect\":\"https://site.test/\"}"
	"],\"resources\":["
	"{\"url\":\"https://site.test/s.css\",\"kind\":\"stylesheet\",\"encoded\":" FETCH(200, 190, 700, "\"gzip\"") ","
	" \"refs\":[\"https://site.test/bg.png\",\"https://site.test/missing.png\"]},"
	"{\"url\":\"https://site.test/a.js\",\"kind\":\"script\",\"encoded\":" FETCH(200, 190, 900, "\"gzip\"") "},"
	"{\"url\":\"https://site.test/bg.png\",\"kind\":\"image\",\"encoded\":" FETCH(200, 190, 3000, "null") "}"
	"]}";

static void a_catalog_parses_and_indexes_subresources(void **state)
{
	struct ts_catalog *cat = NULL;
	struct ts_error err = { 0 };
	assert_int_equal(ts_catalog_parse(good, strlen(good), &cat, &err), TS_OK);
	assert_string_equal(cat->host, "site.test");
	assert_int_equal(cat->n_entries, 5);
	assert_int_equal(ts_catalog_page_count(cat), 2);
	const struct ts_catalog_entry *home = ts_catalog_find(cat, "https://site.test/");
	assert_non_null(home);
	assert_int_equal(home->encoded.body_bytes, 1500);
	assert_string_equal(home->encoded.content_encoding, "gzip");
	/* The stylesheet's image comes with the page; the missing one does not. */
	assert_int_equal(home->n_subresources, 3);
	const struct ts_catalog_entry *old = ts_catalog_find(cat, "https://site.test/old");
	assert_string_equal(old->redirect, "https://site.test/");
	assert_false(old->encoded.done);

	/* What the report writes, the loader reads back the same. */
	json_t *doc = ts_catalog_to_json(cat);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	struct ts_catalog *again = NULL;
	assert_int_equal(ts_catalog_parse(text, strlen(text), &again, &err), TS_OK);
	assert_int_equal(again->n_entries, cat->n_entries);
	for (size_t i = 0; i < cat->n_entries; i++) {
		assert_string_equal(again->entries[i].url, cat->entries[i].url);
		assert_int_equal(again->entries[i].kind, cat->entries[i].kind);
		assert_int_equal(again->entries[i].encoded.body_bytes, cat->entries[i].encoded.body_bytes);
		assert_int_equal(again->entries[i].n_subresources, cat->entries[i].n_subresources);
	}
	free(text);
	ts_catalog_free(again);
	ts_catalog_free(cat);
}

static void expect_malformed(const char *text, const char *message_part)
{
	struct ts_catalog *cat = (struct ts_catalog *)1;
	struct ts_error err = { 0 };
	assert_int_equal(ts_catalog_parse(text, strlen(text), &cat, &err), TS_E_MALFORMED);
	assert_null(cat);
	if (strstr(err.msg, message_part) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, message_part);
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	assert_non_null(p);
	char *out = malloc(strlen(s) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
	return out;
}

static void malformed_catalogs_are_refused_with_the_field(void **state)
{
	expect_malformed("", "not JSON");
	expect_malformed("{\"format\":", "not JSON");
	expect_malformed("[]", "expected a JSON object");
	expect_malformed("{\"format\":\"har\"}", "format: expected \"tlsscope-catalog\"");
	struct { const char *from, *to, *msg; } cases[] = {
		{ "\"version\":1", "\"version\":2", "reads catalog version 1, the file is version 2" },
		{ "\"version\":1", "\"version\":\"1\"", "version: expected an integer" },
		{ "\"port\":443", "\"port\":70000", "port: expected an integer from 0 to 65535" },
		{ "\"body_bytes\":5000", "\"body_bytes\":-5", "pages[0].identity.body_bytes: expected an integer" },
		{ "\"kind\":\"script\"", "\"kind\":\"video\"", "resources[1].kind: expected one of" },
		{ "\"pages\":[", "\"pages\":{\"x\":[", "" },
		{ "\"url\":\"https://site.test/a.js\"", "\"url\":\"https://site.test/s.css\"", "appears twice" },
		{ "\"refs\":[\"https://site.test/s.css\"", "\"refs\":[7", "pages[0].refs[0]: expected a URL string, got an integer" },
		{ "\"host\":\"Site.Test\",", "", "host: expected a string, got nothing" },
		{ " \"redirect\":\"https://site.test/\"", " \"redirect\":true", "pages[1].redirect: expected a string, got true" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = replace(good, cases[i].from, cases[i].to);
		expect_malformed(text, cases[i].msg);
		free(text);
	}
}

static void missing_file_is_a_file_error(void **state)
{
	struct ts_catalog *cat = NULL;
	struct ts_error err = { 0 };
	assert_int_equal(ts_catalog_load("/nonexistent/catalog.json", &cat, &err), TS_E_FILE);
	assert_non_null(strstr(err.msg, "cannot open catalog '/nonexistent/catalog.json'"));
	assert_null(cat);
}

static void crawl_refuses_non_https(void **state)
{
	struct ts_catalog_config cfg = { .url = "http://site.test/" };
	struct ts_catalog *cat = NULL;
	struct ts_error err = { 0 };
	assert_int_equal(ts_catalog_crawl(&cfg, &cat, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "wanted an https:// URL"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(html_links_are_found_and_resolved),
		cmocka_unit_test(responsive_images_give_one_candidate),
		cmocka_unit_test(base_href_changes_the_base),
		cmocka_unit_test(garbage_html_does_not_fail),
		cmocka_unit_test(css_links_are_found),
		cmocka_unit_test(same_site_compares_scheme_host_and_port),
		cmocka_unit_test(a_catalog_parses_and_indexes_subresources),
		cmocka_unit_test(malformed_catalogs_are_refused_with_the_field),
		cmocka_unit_test(missing_file_is_a_file_error),
		cmocka_unit_test(crawl_refuses_non_https),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
