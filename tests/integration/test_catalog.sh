#!/usr/bin/env bash
# tlsscope catalog against a small site served by nginx over TLS on loopback:
# pages, sizes (compared with curl's), sub-resources, the redirect, gzip;
# then tlsscope identify on captures of known page loads (test_identify.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/site_nginx.sh"

site_up 14   # sets site, port, base and resolve

run "$TLSSCOPE" catalog "$base/" --ca "$site/cert.pem" --resolve "$resolve" --http1.1 --out "$TS_TMP/cat.json"
expect "catalog of the test site exits 0" 0
expect_out "the summary counts the pages" "pages \.+ 16"

# Every page and resource: the sizes the catalog recorded are the ones curl sees
# (curl --raw keeps the chunked framing of compressed responses, as the wire does).
cat >"$TS_TMP/check.py" <<'PY'
import json, subprocess, sys, os
cat = json.load(open(sys.argv[1]))
ca, resolve, www = sys.argv[2], sys.argv[3], sys.argv[4]
bad = []
body = sys.argv[1] + ".body"
def curl(url, enc):
    ua = "User-Agent: " + cat["user_agent"]
    raw = ["--raw"] if enc != "identity" else []   # the observer sees chunked framing
    out = subprocess.run(["curl", "-s", "--http1.1"] + raw + [ "--cacert", ca, "--resolve", resolve, "-H", ua,
                          "-H", "Accept-Encoding: " + enc, "-o", body,
                          "-w", "%{http_code} %{size_header}", url],
                         capture_output=True, text=True, timeout=30).stdout.split()
    return [int(x) for x in out] + [os.path.getsize(body)]
n = 0
for e in cat["pages"] + cat["resources"]:
    for key, enc in (("identity", "identity"), ("encoded", "gzip, deflate, br")):
        f = e[key]
        want = curl(e["url"], enc)
        got = [f["status"], f["header_bytes"], f["body_bytes"]]
        n += 1
        if got != want:
            bad.append("%s %s: catalog %s, curl %s" % (e["url"], key, got, want))
htmls = sorted(x for x in os.listdir(www) if x.endswith(".html"))
print("checked %d fetches; %d pages, %d html files" % (n, len(cat["pages"]), len(htmls)))
for b in bad:
    print("MISMATCH " + b)
sys.exit(1 if bad or n == 0 else 0)
PY
run python3 "$TS_TMP/check.py" "$TS_TMP/cat.json" "$site/cert.pem" "$resolve" "$site/www"
expect "every size in the catalog equals curl's (status, header bytes, body bytes, identity and gzip)" 0
diag "$OUT"

# py EXPR: evaluates a Python expression over the catalog `c`; prints the result.
py() { python3 -c "import json,sys; c=json.load(open('$TS_TMP/cat.json')); P={p['url']:p for p in c['pages']}; R={r['url']:r for r in c['resources']}; print(repr(($1)))"; }
n_html=$(ls "$site/www"/*.html | wc -l)
check "one page per HTML file, plus / and the redirect ($((n_html + 2)))" \
	test "$(py "len(c['pages'])")" = "$((n_html + 2))"
check "format and version" test "$(py "c['format'], c['version']")" = "('tlsscope-catalog', 1)"
check "pages are compressed with gzip, images are not" \
	test "$(py "P['$base/page1.html']['encoded']['content_encoding'], R['$base/img/p1.jpg']['encoded']['content_encoding']")" = "('gzip', None)"
check "gzip makes the page smaller" \
	test "$(py "P['$base/page1.html']['encoded']['body_bytes'] < P['$base/page1.html']['identity']['body_bytes']")" = True
check "the redirect is recorded with its target" \
	test "$(py "P['$base/old.html']['identity']['status'], P['$base/old.html']['redirect']")" = "(301, '$base/page3.html')"
check "the home page's sub-resources include the stylesheet's image and font" \
	test "$(py "sorted(u[len('$base'):] for u in P['$base/']['subresources'])")" = \
	"['/css/print.css', '/css/site.css', '/favicon.ico', '/fonts/t.woff2', '/img/bg.png', '/img/p0.jpg', '/js/app.js']"
check "srcset and <picture>: only the candidate a browser fetches (1x, the width for 800 px, the WebP source)" \
	test "$(py "sorted(u[len('$base/img/'):] for u in P['$base/page2.html']['subresources'] if '/img/' in u and 'p2.jpg' not in u and 'bg.png' not in u)")" = \
	"['pic.webp', 'r-1x.jpg', 'w-960.jpg']"
check "the other candidates are not fetched at all" \
	test "$(py "sorted(u for u in R if any(k in u for k in ('r-small', 'r-2x', 'w-480', 'w-1600', 'pic-unk', 'pic-big', 'pic-fallback', 'pic2')))")" = "[]"
check "resource kinds" \
	test "$(py "R['$base/css/site.css']['kind'], R['$base/js/app.js']['kind'], R['$base/fonts/t.woff2']['kind'], R['$base/favicon.ico']['kind']")" = \
	"('stylesheet', 'script', 'font', 'icon')"
check "each resource is fetched once: no duplicate URLs" \
	test "$(py "len(set(P) | set(R)) == len(c['pages']) + len(c['resources'])")" = True
check "the link to another site is not followed" \
	test "$(py "any('elsewhere' in u for u in list(P) + list(R))")" = False
check "HTTP/1.1 was used" test "$(py "set(p['http_version'] for p in c['pages'])")" = "{'1.1'}"

run "$TLSSCOPE" catalog "$base/" --ca "$site/cert.pem" --resolve "$resolve" --http2
expect "catalog over HTTP/2 exits 0" 0
check "HTTP/2 was negotiated" grep -q '"http_version": "2"' <<<"$OUT"

run "$TLSSCOPE" catalog "$base/" --ca "$site/cert.pem" --resolve "$resolve" --max-pages 3
expect "--max-pages 3 exits 0" 0
check "--max-pages 3 keeps 3 pages and counts the links skipped" \
	python3 -c "import json,sys; c=json.loads(sys.argv[1]); sys.exit(not (len(c['pages']) == 3 and c['skipped_pages'] > 0))" "$OUT"

run "$TLSSCOPE" catalog "$base/" --resolve "$resolve"
expect "an untrusted certificate fails the check (exit 1)" 1 "could not fetch .*certificate"
run "$TLSSCOPE" catalog "$base/" --resolve "$resolve" --insecure-noverifycert --max-pages 1
expect "--insecure-noverifycert crawls with a warning" 0 "warning: --insecure-noverifycert"
run "$TLSSCOPE" catalog "http://site.test:$port/"
expect "an http:// URL is a usage error" 2 "wanted an https:// URL"
run "$TLSSCOPE" catalog "$base/" --max-pages 0
expect "--max-pages 0 is a usage error" 2 "max-pages"
run "$TLSSCOPE" catalog "https://site.test:$(free_port)/" --resolve "site.test:$(free_port):127.0.0.1" --timeout 5
expect "a closed port is unreachable (exit 3)" 3 "could not fetch"
run "$TLSSCOPE" catalog "$base/" --ca "$TS_TMP/none.pem" --resolve "$resolve"
expect "a missing --ca file is exit 3" 3 "--ca: cannot use"

echo "1..$TS_N"
