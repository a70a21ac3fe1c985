#!/usr/bin/env bash
# tlsscope serve --forward --pad: every byte of every response intact under
# concurrent keep-alive clients (Content-Length, chunked, HEAD, 304); each
# response burst the observer sees lands on the policy's boundary; a service
# that does not speak HTTP/1.1 is passed through untouched; and the page
# identification attack (tlsscope identify) with and without padding.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/site_nginx.sh"
D=$TS_TMP
chmod 755 "$D"   # nginx workers run as nobody
HTTP11="$TS_ROOT/tests/integration/http11_server.py"

"$TLSSCOPE" cert ca --dir "$D/ca" >/dev/null
"$TLSSCOPE" cert issue --ca "$D/ca" --out "$D/good" --key ec:P-256 good.test >/dev/null

# start_serve LOGNAME ARGS...: sets PORT and SERVE_PID (port 0 unless --listen given).
start_serve() {
	local log="$D/serve.$1.log" i; shift
	"$TLSSCOPE" serve "$@" 2>"$log" &
	SERVE_PID=$!
	track $SERVE_PID
	for ((i = 0; i < 600; i++)); do
		PORT=$(sed -n -e 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
		[ -n "$PORT" ] && return 0
		kill -0 $SERVE_PID 2>/dev/null || break
		sleep 0.05
	done
	diag "serve did not start: $(cat "$log")"
	return 1
}
stop_serve() {
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
}
# start_capture NAME PORT / stop_capture NAME PORT: tcpdump on lo, stopped
# once the client's FIN of every connection is in the file.
start_capture() {
	tcpdump -i lo -U -s 0 -B 16384 -w "$D/$1.pcap" "tcp port $2" 2>"$D/$1.tcpdump" &
	TD_PID=$!
	track $TD_PID
	for _ in $(seq 100); do grep -q listening "$D/$1.tcpdump" 2>/dev/null && break; sleep 0.05; done
}
stop_capture() {
	local syn fin
	for _ in $(seq 50); do
		sleep 0.3
		syn=$(tcpdump -r "$D/$1.pcap" "dst port $2 and tcp[tcpflags] & tcp-syn != 0" 2>/dev/null | wc -l)
		fin=$(tcpdump -r "$D/$1.pcap" "dst port $2 and tcp[tcpflags] & tcp-fin != 0" 2>/dev/null | wc -l)
		[ "$syn" -gt 0 ] && [ "$fin" -ge "$syn" ] && break
	done
	kill -INT "$TD_PID"; wait "$TD_PID" 2>/dev/null
}

# ---- every byte intact, bursts on the boundary ----
mkdir -p "$D/www"
for n in 0 1 700 4095 4096 20000 100003 300000; do head -c $n /dev/urandom >"$D/www/f$n.bin"; done
UP=$(free_port)
python3 "$HTTP11" "$UP" "$D/www" &
track $!
wait_port "$UP"
for n in 5000 70001; do python3 "$HTTP11" body $n >"$D/chunked$n"; done

start_serve blk --listen 127.0.0.1:0 --cert "$D/good.pem" --key "$D/good.key" \
	--forward "127.0.0.1:$UP" --pad block:4096
check "serve --pad says its policy" grep -q "pad block:4096" "$D/serve.blk.log"
BLK=$PORT
start_capture blk "$BLK"
C=(curl -s --http1.1 --cacert "$D/ca/ca.pem" --resolve "good.test:$BLK:127.0.0.1")
U="https://good.test:$BLK"
for c in 1 2 3 4; do
	(
		mkdir -p "$D/c$c"
		args=()
		for n in 0 1 700 4095 4096 20000 100003 300000; do args+=(-o "$D/c$c/f$n.bin" "$U/f$n.bin"); done
		args+=(-o "$D/c$c/chunked5000" "$U/chunked/5000" -o "$D/c$c/chunked70001" "$U/chunked/70001")
		"${C[@]}" "${args[@]}" && "${C[@]}" -I "$U/f20000.bin" "$U/f700.bin" >"$D/c$c/head" &&
			"${C[@]}" -z "$D/www/f700.bin" -o "$D/c$c/notmod" -w '%{http_code}' "$U/f700.bin" >"$D/c$c/code"
	) &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
stop_capture blk "$BLK"
check "4 concurrent keep-alive clients finished ($bad failed)" test $bad -eq 0
same=0
for c in 1 2 3 4; do
	for n in 0 1 700 4095 4096 20000 100003 300000; do cmp -s "$D/www/f$n.bin" "$D/c$c/f$n.bin" && same=$((same + 1)); done
	for n in 5000 70001; do cmp -s "$D/chunked$n" "$D/c$c/chunked$n" && same=$((same + 1)); done
done
check "every response intact, Content-Length and chunked (checksums: $same of 40)" test $same -eq 40
check "HEAD responses came through" test "$(cat "$D"/c*/head | grep -c '^Content-Length: 20000')" -eq 4
check "If-Modified-Since answered 304" test "$(cat "$D"/c*/code)" = 304304304304
check "serve logged the padded responses" grep -qE "padded 10 responses" "$D/serve.blk.log"
check "no connection gave up padding" test "$(grep -c 'padding stopped' "$D/serve.blk.log")" -eq 0

run "$TLSSCOPE" observe "$D/blk.pcap" --json
expect "observe reads the padded capture" 0
printf '%s\n' "$OUT" >"$D/blk.json"
verdict=$(python3 - "$D/blk.json" 4096 <<'PY'
import json, sys
n = int(sys.argv[2])
ex = [e for l in map(json.loads, open(sys.argv[1])) if l["type"] == "tls" for e in l["exchanges"]]
off = [e["response_plaintext_estimate"] for e in ex if e["response_plaintext_estimate"] % n]
print(len(ex), len(off), off[:5])
PY
)
read -r n_ex n_off rest <<<"$verdict"
diag "exchanges $n_ex, off the 4096 boundary: $n_off $rest"
# 4 clients x 13 responses; the observer may join two quick ones into one burst
check "the observer saw the responses as exchanges ($n_ex of 52)" test "$n_ex" -ge 40
check "every response burst's plaintext estimate is a multiple of 4096" test "$n_off" -eq 0
stop_serve

# the same through buckets: on the geometric boundaries
start_serve bkt --listen 127.0.0.1:0 --cert "$D/good.pem" --key "$D/good.key" \
	--forward "127.0.0.1:$UP" --pad buckets
start_capture bkt "$PORT"
"${C[@]}" -o "$D/b1" "https://good.test:$PORT/f100003.bin" -o "$D/b2" "https://good.test:$PORT/f1.bin" \
	-o "$D/b3" "https://good.test:$PORT/chunked/70001" --resolve "good.test:$PORT:127.0.0.1"
stop_capture bkt "$PORT"
check "buckets: bytes intact" cmp -s "$D/b1" "$D/www/f100003.bin"
run "$TLSSCOPE" observe "$D/bkt.pcap" --json
check "buckets: every burst on a boundary (256, then x1.1 rounded up)" python3 -c '
import json, math, sys
b, s = 256, {256}
while b < 1 << 30:
    b = max(b + 1, math.ceil(b * 1.1)); s.add(b)
ex = [e["response_plaintext_estimate"] for l in map(json.loads, sys.stdin) if l["type"] == "tls" for e in l["exchanges"]]
print("#", ex); sys.exit(not (len(ex) == 3 and all(x in s for x in ex)))' <<<"$OUT"
stop_serve

# ---- a service that is not HTTP/1.1: passed through, said once ----
ECHO=$(free_port)
python3 "$TS_ROOT/tests/integration/peers.py" echo "$ECHO" &
track $!
wait_port "$ECHO"
start_serve echo --listen 127.0.0.1:0 --cert "$D/good.pem" --key "$D/good.key" --forward "127.0.0.1:$ECHO" --pad pow2
cat >"$D/raw.py" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="good.test")
msg = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 40
s.sendall(msg)
got = b""
while len(got) < len(msg):
    d = s.recv(65536)
    if not d:
        break
    got += d
print("same" if got == msg else "differ %d %d" % (len(got), len(msg)))
PY
run python3 "$D/raw.py" "$PORT" "$D/ca/ca.pem"
expect_out "a non-HTTP answer comes back byte for byte" "^same$"
stop_serve
check "serve logs that it stopped padding and why" grep -q "padding stopped, passing through: " "$D/serve.echo.log"

# ---- the attack with and without padding: a small site behind serve ----
site=$D/site
mkdir -p "$site"
python3 "$TS_ROOT/tests/integration/site_gen.py" "$site/www" 14
site_cert "$site"
nport=$(free_port)
plain=$(free_port)
site_nginx_start "$site" "$site/www" "$nport" "$site/cert.pem" "$site/key.pem" "listen 127.0.0.1:$plain;"
track "$SITE_NGINX_PID"
wait_port "$plain"
fport=$(free_port)
resolve="site.test:$fport:127.0.0.1"
start_serve site-none --listen "127.0.0.1:$fport" --cert "$site/cert.pem" --key "$site/key.pem" \
	--forward "127.0.0.1:$plain" --pad none
run "$TLSSCOPE" catalog "https://site.test:$fport/" --ca "$site/cert.pem" --resolve "$resolve" --http1.1 --out "$D/cat.json"
expect "catalog of the small site through serve" 0
# pages whose size alone tells them apart (more than 64 bytes from any other
# page or sub-resource), as in test_identify.sh: the ones the observer names
mapfile -t pick < <(python3 - "$D/cat.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
def sizes(e):
    return [f["header_bytes"] + f["body_bytes"] for f in (e["encoded"], e["identity"]) if f]
pages = {p["url"]: sizes(p)[0] for p in c["pages"] if p["encoded"]["status"] == 200}
every = [(e["url"], s) for e in c["pages"] + c["resources"] for s in sizes(e)]
print("\n".join([u for u in pages if all(abs(pages[u] - s) > 64 for v, s in every if v != u)][:6]))
PY
)
check "the small site has 6 pages of distinct sizes" test "${#pick[@]}" -eq 6
# load_score NAME [MODE]: page loads of the picked pages, captured; sets TOP1.  MODE
# (site_load.py's): keepalive (default: one connection, the first page with its
# sub-resources) or cold (a connection per page: TLS 1.3 session tickets on each).
load_score() {
	start_capture "$1" "$fport"
	python3 "$TS_ROOT/tests/integration/site_load.py" "$D/cat.json" "$site/cert.pem" "$resolve" 1.3 1.1 "${2:-keepalive}" \
		"${pick[@]}" >"$D/$1.truth" 2>"$D/$1.loaderr"
	check "$1: the loader ran" test $? -eq 0
	stop_capture "$1" "$fport"
	"$TLSSCOPE" identify "$D/$1.pcap" --catalog "$D/cat.json" --json >"$D/$1.json"
	read -r _ _ TOP1 _ < <(python3 "$TS_ROOT/bench/identify/score.py" "$D/$1.truth" "$D/$1.json")
	diag "$1: ${#pick[@]} pages loaded, named first: $TOP1"
}
load_score site-none
stop_serve
none_top1=$TOP1
check "without padding the observer names most pages ($none_top1 of ${#pick[@]})" test "${none_top1:-0}" -ge 4
# a connection per page: serve's session tickets travel alone or ahead of the
# first response, and must not be taken for part of it (nor it for tickets)
start_serve site-none-cold --listen "127.0.0.1:$fport" --cert "$site/cert.pem" --key "$site/key.pem" \
	--forward "127.0.0.1:$plain" --pad none
load_score site-none-cold cold
stop_serve
check "without padding, a connection per page, it names nearly all ($TOP1 of ${#pick[@]})" test "${TOP1:-0}" -ge 5
start_serve site-pow2 --listen "127.0.0.1:$fport" --cert "$site/cert.pem" --key "$site/key.pem" \
	--forward "127.0.0.1:$plain" --pad pow2
load_score site-pow2
stop_serve
check "with --pad pow2 it names at most one ($TOP1 of ${#pick[@]})" test "${TOP1:-9}" -le 1
check "the padded bursts still carry every response (no pass-through)" test "$(grep -c 'padding stopped' "$D/serve.site-pow2.log")" -eq 0

# ---- usage ----
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --echo --pad pow2
expect "--pad without --forward is a usage error" 2 "--pad works with --forward"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --forward 127.0.0.1:1 --pad block:0
expect "a bad policy is a usage error" 2 "block:N"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --forward 127.0.0.1:1 --pad zebra
expect "an unknown policy is a usage error" 2 "unknown padding policy 'zebra'"

echo "1..$TS_N"
