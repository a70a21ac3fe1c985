#!/usr/bin/env bash
# tlsscope identify on captures of known page loads: nginx serves a small site
# over TLS on loopback, curl loads chosen pages as a browser would (page, then
# sub-resources; cold and warm cache; keep-alive; TLS 1.2 and 1.3; HTTP/1.1
# and HTTP/2), tcpdump captures, and identify must name the pages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/site_nginx.sh"

site_up 14   # sets site, port, base and resolve

run "$TLSSCOPE" catalog "$base/" --ca "$site/cert.pem" --resolve "$resolve" --http1.1 --out "$TS_TMP/cat.json"
expect "catalog of the test site (HTTP/1.1)" 0

# Pages whose size alone tells them apart (more than 64 bytes from any other
# page or sub-resource): the ones an observer must name.
distinct=$(python3 - "$TS_TMP/cat.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
def sizes(e):
    return [f["header_bytes"] + f["body_bytes"] for f in (e["encoded"], e["identity"]) if f]
pages = {p["url"]: sizes(p)[0] for p in c["pages"] if p["encoded"]["status"] == 200}
every = [(e["url"], s) for e in c["pages"] + c["resources"] for s in sizes(e)]
print(" ".join(u for u in pages if all(abs(pages[u] - s) > 64 for v, s in every if v != u)))
PY
)
n_distinct=$(wc -w <<<"$distinct")
check "the test site has pages with distinct sizes ($n_distinct)" test "$n_distinct" -ge 6
read -r -a pick <<<"$distinct"
pick=("${pick[@]:0:6}")

# capture NAME LOADER_ARGS...: runs the loader under tcpdump; the truth goes to NAME.truth.
capture() {
	local name=$1; shift
	local pcap=$TS_TMP/$name.pcap
	tcpdump -i lo -U -s 0 -B 16384 -w "$pcap" "tcp port $port" 2>"$TS_TMP/$name.tcpdump" &
	local tpid=$!
	track "$tpid"
	for _ in $(seq 100); do grep -q listening "$TS_TMP/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
	python3 "$TS_ROOT/tests/integration/site_load.py" "$TS_TMP/cat.json" "$site/cert.pem" "$resolve" "$@" \
		>"$TS_TMP/$name.truth" 2>"$TS_TMP/$name.loaderr"
	local rc=$?
	# tcpdump may lag behind on a busy machine: let it catch up first.
	capture_sync "$pcap" "$port" || diag "$name: tcpdump did not catch up within 30 s"
	kill -INT "$tpid"; wait "$tpid" 2>/dev/null
	grep -qE "^0 packets dropped by kernel" "$TS_TMP/$name.tcpdump" || diag "$name: $(grep dropped "$TS_TMP/$name.tcpdump")"
	return $rc
}

# score NAME MIN_TOP1: identify's page loads against the truth, in order.
score() {
	local name=$1 want=$2
	run "$TLSSCOPE" identify "$TS_TMP/$name.pcap" --catalog "$TS_TMP/cat.json" --json
	if [ "$RC" -ne 0 ]; then not_ok "$name: identify exit $RC: ${ERR:0:300}"; return; fi
	printf '%s\n' "$OUT" >"$TS_TMP/$name.json"
	local verdict
	verdict=$(python3 - "$TS_TMP/$name.truth" "$TS_TMP/$name.json" <<'PY'
import json, sys
truth = [l.strip() for l in open(sys.argv[1]) if l.strip()]
loads = [l for l in map(json.loads, open(sys.argv[2])) if l["type"] == "page_load"]
got = [l["page"] for l in loads]
top3 = [[g["url"] for g in l["guesses"]] for l in loads]
hits = sum(1 for t, g in zip(truth, got) if t == g)
hits3 = sum(1 for t, g in zip(truth, top3) if t in g)
print(len(truth), len(got), hits, hits3)
for t, l in zip(truth, loads):
    if t != l["page"]:
        print("#   truth %s, named %s (%.2f), observed %d B" % (t, l["page"], l["confidence"] or 0, l["observed_bytes"]), file=sys.stderr)
PY
)
	local n_truth n_got hits hits3
	read -r n_truth n_got hits hits3 <<<"$verdict"
	diag "$name: $n_truth pages loaded, $n_got page loads found, top-1 $hits, top-3 $hits3"
	check "$name: one page load per page loaded ($n_truth)" test "$n_got" = "$n_truth"
	check "$name: at least $want of $n_truth named first" test "${hits:-0}" -ge "$want"
}

for tls in 1.2 1.3; do
	capture "cold-tls$tls" "$tls" 1.1 cold "${pick[@]}"
	check "the loader ran (TLS $tls, cold)" test $? -eq 0
	score "cold-tls$tls" "${#pick[@]}"
done

capture warm 1.3 1.1 warm "${pick[@]}"
check "the loader ran (warm cache)" test $? -eq 0
score warm "${#pick[@]}"

capture keepalive 1.2 1.1 keepalive "${pick[@]}"
check "the loader ran (keep-alive)" test $? -eq 0
score keepalive "${#pick[@]}"

capture parallel 1.3 1.1 parallel "${pick[@]:0:4}"
check "the loader ran (parallel connections)" test $? -eq 0
score parallel 4

# The redirect: /old.html answers 301 to /page3.html, which the loader follows.
capture redirect 1.2 1.1 cold "$base/old.html"
run "$TLSSCOPE" identify "$TS_TMP/redirect.pcap" --catalog "$TS_TMP/cat.json" --json
check "a followed redirect is named by its target, via the redirect" \
	python3 -c "import json,sys; l=[x for x in map(json.loads, sys.stdin) if x['type'] == 'page_load']; sys.exit(not (len(l) == 1 and l[0]['page'].endswith('/page3.html') and l[0]['redirect_from'].endswith('/old.html')))" <<<"$OUT"

# HTTP/2: burst totals only; reported, with a modest requirement.
run "$TLSSCOPE" catalog "$base/" --ca "$site/cert.pem" --resolve "$resolve" --http2 --out "$TS_TMP/cat2.json"
capture h2 1.3 2 warm "${pick[@]}"
run "$TLSSCOPE" identify "$TS_TMP/h2.pcap" --catalog "$TS_TMP/cat.json" --json
check "HTTP/2 page loads are marked as such" grep -q '"http2":true' <<<"$OUT"
printf '%s\n' "$OUT" >"$TS_TMP/h2.json"
diag "HTTP/2: $(python3 -c "
import json,sys
t=[l.strip() for l in open('$TS_TMP/h2.truth') if l.strip()]
g=[l['page'] for l in map(json.loads, open('$TS_TMP/h2.json')) if l['type'] == 'page_load']
print('%d of %d named first' % (sum(a==b for a,b in zip(t,g)), len(t)))")"

# Text output and errors.
run "$TLSSCOPE" identify "$TS_TMP/cold-tls1.2.pcap" --catalog "$TS_TMP/cat.json"
expect "text output exits 0" 0
expect_out "one line per page load with the page and a confidence" "${pick[0]#$base} +[0-9]+%"
run "$TLSSCOPE" identify "$TS_TMP/cold-tls1.2.pcap"
expect "--catalog is required" 2 "--catalog FILE is required"
echo '{"format":"tlsscope-catalog","version":1,"pages":[]}' >"$TS_TMP/bad.json"
run "$TLSSCOPE" identify "$TS_TMP/cold-tls1.2.pcap" --catalog "$TS_TMP/bad.json"
expect "a malformed catalog is one clear line, exit 3" 3 "catalog '.*bad.json': start_url: expected a string, got nothing"
check "... and only one line" test "$(wc -l <<<"$ERR")" -eq 1
echo 'not a capture' >"$TS_TMP/junk.pcap"
run "$TLSSCOPE" identify "$TS_TMP/junk.pcap" --catalog "$TS_TMP/cat.json"
expect "an unreadable capture is exit 3" 3 "junk.pcap"
run "$TLSSCOPE" identify "$TS_TMP/missing.pcap" --catalog "$TS_TMP/cat.json"
expect "a missing capture is exit 3" 3 "missing.pcap"

# The same page loads through the observer's JSON lines.
"$TLSSCOPE" observe "$TS_TMP/cold-tls1.3.pcap" --json >"$TS_TMP/cold.jsonl" 2>/dev/null
run "$TLSSCOPE" identify "$TS_TMP/cold.jsonl" --catalog "$TS_TMP/cat.json" --json
expect "identify reads 'tlsscope observe --json' output" 0
check "... and names the same pages as from the capture" test \
	"$(grep -o '"page":"[^"]*"' <<<"$OUT")" = "$(grep -o '"page":"[^"]*"' "$TS_TMP/cold-tls1.3.json")"
printf '{"type":"tls","exchanges":[{"t":"x"}]}\n' >"$TS_TMP/bad.jsonl"
run "$TLSSCOPE" identify "$TS_TMP/bad.jsonl" --catalog "$TS_TMP/cat.json"
expect "bad observe JSON lines are one clear line, exit 3" 3 "bad.jsonl': line 1: exchanges\[0\]"

echo "1..$TS_N"
