#!/usr/bin/env bash
# tlsscope serve: --forward in front of a plain TCP echo service under 200
# concurrent clients (every byte checked end to end), --echo, the log line,
# clean shutdown on SIGTERM with connections open, and bad input.
. "$(dirname "$0")/lib.sh"
D=$TS_TMP
PEERS="$TS_ROOT/tests/integration/peers.py"
CLIENTS="$TS_ROOT/tests/integration/clients.py"

"$TLSSCOPE" cert ca --dir "$D/ca" >/dev/null
"$TLSSCOPE" cert issue --ca "$D/ca" --out "$D/good" --key ec:P-256 good.test >/dev/null

# start_serve LOGNAME ARGS...: sets PORT and SERVE_PID.
start_serve() {
	local log="$D/serve.$1.log" i; shift
	"$TLSSCOPE" serve --listen 127.0.0.1:0 "$@" 2>"$log" &
	SERVE_PID=$!
	track $SERVE_PID
	for ((i = 0; i < 600; i++)); do
		PORT=$(sed -n -e 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' \
			-e 's/.*"event":"listening","address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$log")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	diag "serve did not start: $(cat "$log")"
	return 1
}

# wait_exit PID SECONDS: waits for a process we started; sets WRC.
wait_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then WRC=timeout; return 1; fi
	wait "$1"; WRC=$?
}

UP=$(free_port)
python3 "$PEERS" echo "$UP" &
track $!
wait_port "$UP"

start_serve fwd --cert "$D/good.pem" --key "$D/good.key" --forward "127.0.0.1:$UP"
check "serve prints the real port it listens on" [ -n "$PORT" ]
FWD=$PORT
FWD_PID=$SERVE_PID

run python3 "$CLIENTS" load "$FWD" "$D/ca/ca.pem" good.test 200 100000
expect "200 concurrent clients through --forward: every byte back, in order" 0
expect_out "all 200 clients checked" "^ok 200$"
diag "$OUT"
check "one log line per connection (200)" \
	[ "$(grep -cE '^127\.0\.0\.1:[0-9]+ sni=good\.test TLSv1\.3 TLS_[A-Z0-9_]+ in=[0-9]+ out=[0-9]+ [0-9.]+ms$' "$D/serve.fwd.log")" -ge 200 ]
check "log line counts bytes each way" grep -qE ' in=100000 out=100000 ' "$D/serve.fwd.log"

# a large transfer, to exercise the high/low water marks
run python3 "$CLIENTS" load "$FWD" "$D/ca/ca.pem" good.test 2 20000000
expect "two 20 MB transfers through --forward" 0
expect_out "both checked" "^ok 2$"

# connect through serve --forward
OUT=$(printf 'line one\nline two\n' | timeout 20 "$TLSSCOPE" connect --ca "$D/ca/ca.pem" --name good.test "127.0.0.1:$FWD" 2>/dev/null)
check "tlsscope connect through serve --forward" [ "$OUT" = $'line one\nline two' ]

# SIGTERM with connections open: they get close_notify, serve exits 0
rm -f "$D/ready"
python3 "$CLIENTS" hold "$FWD" "$D/ca/ca.pem" good.test 20 "$D/ready" >"$D/hold.out" 2>&1 &
HOLD=$!
track $HOLD
for ((i = 0; i < 300; i++)); do [ -f "$D/ready" ] && break; sleep 0.1; done
check "20 clients hold connections open" [ -f "$D/ready" ]
kill -TERM "$FWD_PID"
wait_exit "$FWD_PID" 30
check "serve exits 0 on SIGTERM with connections open" [ "$WRC" = 0 ]
wait_exit "$HOLD" 30
check "every open connection was closed with close_notify" grep -qx "closed 20" "$D/hold.out"
check "serve said it was stopping with 20 open" grep -q "stopping (SIGTERM): 20 connections open" "$D/serve.fwd.log"
check "serve logged its stop" grep -qx "stopped" "$D/serve.fwd.log"

# --echo, and SIGINT with nothing open
start_serve echo --cert "$D/good.pem" --key "$D/good.key" --echo --alpn h2,http/1.1
run python3 "$CLIENTS" load "$PORT" "$D/ca/ca.pem" good.test 50 30000
expect "50 concurrent clients through --echo" 0
kill -INT "$SERVE_PID"
wait_exit "$SERVE_PID" 30
check "serve exits 0 on SIGINT" [ "$WRC" = 0 ]

# backpressure: a client that writes and never reads (echo), and a service
# that never reads (forward).  Without backpressure serve would buffer all
# 256 MB; with it, the client is blocked after a few MB and serve's memory
# stays flat.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
flood() { # PORT PID LABEL
	local before after sent fifo="$D/flood.in.$3"
	mkfifo "$fifo"
	before=$(rss_kb "$2")
	python3 "$CLIENTS" flood "$1" "$D/ca/ca.pem" good.test 268435456 <"$fifo" >"$D/flood.$3" 2>&1 &
	local cpid=$!
	track $cpid
	exec 7>"$fifo"
	for ((i = 0; i < 600; i++)); do grep -q '^sent' "$D/flood.$3" && break; sleep 0.1; done
	sent=$(sed -n 's/^sent //p' "$D/flood.$3")
	after=$(rss_kb "$2")
	exec 7>&-
	wait $cpid 2>/dev/null
	diag "$3: client sent ${sent:-?} bytes before blocking; serve RSS ${before} kB -> ${after} kB"
	check "$3: the client is blocked long before 256 MB" [ "${sent:-999999999}" -lt 67108864 ]
	check "$3: serve's memory grew by less than 64 MB" [ $((after - before)) -lt 65536 ]
}
start_serve bp-echo --cert "$D/good.pem" --key "$D/good.key" --echo
flood "$PORT" "$SERVE_PID" "echo to a client that never reads"
SINK=$(free_port)
python3 "$PEERS" silent "$SINK" &
track $!
wait_port "$SINK"
start_serve bp-fwd --cert "$D/good.pem" --key "$D/good.key" --forward "127.0.0.1:$SINK"
flood "$PORT" "$SERVE_PID" "forward to a service that never reads"

# Without --listen, serve listens on 127.0.0.1:8443: in a private network
# namespace, where nobody else can hold that port.
NETNS=(unshare -n)
[ "$(id -u)" -eq 0 ] || NETNS=(unshare -rn)   # not root: as root of a user namespace
run "${NETNS[@]}" sh -c 'ip link set lo up || exit 9
"$1" serve --cert "$2/good.pem" --key "$2/good.key" --echo 2>"$2/serve.default.log" &
for i in $(seq 200); do grep -q "^listening" "$2/serve.default.log" && break; sleep 0.05; done
"$1" connect --ca "$2/ca/ca.pem" --name good.test 127.0.0.1:8443 </dev/null; rc=$?
kill -TERM $!; wait $!; exit $rc' sh "$TLSSCOPE" "$D"
expect "serve listens on 127.0.0.1:8443 by default" 0 "address \.+ 127\.0\.0\.1:8443$"
check "... and says so" grep -q "^listening on 127\.0\.0\.1:8443 " "$D/serve.default.log"

# --json log lines
start_serve json --cert "$D/good.pem" --key "$D/good.key" --echo --json
run "$TLSSCOPE" connect --ca "$D/ca/ca.pem" --name good.test "127.0.0.1:$PORT"
expect "connect to serve --json" 0
for ((i = 0; i < 50; i++)); do grep -q '"event":"connection"' "$D/serve.json.log" && break; sleep 0.1; done
JSON_DOC="$TS_ROOT/tests/integration/json_doc.py"
check "the listening event has exactly the fields docs/json.md lists" \
	python3 "$JSON_DOC" serve 0 event < <(grep -m1 '"event":"listening"' "$D/serve.json.log")
check "the connection event has exactly the fields docs/json.md lists" \
	python3 "$JSON_DOC" serve 1 event < <(grep -m1 '"event":"connection"' "$D/serve.json.log")
check "serve --json writes listening and connection events" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert lines[0]["event"] == "listening" and lines[0]["address"].endswith(":" + sys.argv[2])
c = [l for l in lines if l["event"] == "connection"][0]
assert c["sni"] == "good.test" and c["protocol"] == "TLSv1.3" and c["error"] is None
assert c["cipher"].startswith("TLS_") and c["bytes_in"] == 0 and c["duration_ms"] > 0
' "$D/serve.json.log" "$PORT"

# the forward service is down: the client gets close_notify, the log says why
DOWN=$(free_port)
start_serve down --cert "$D/good.pem" --key "$D/good.key" --forward "127.0.0.1:$DOWN"
run "$TLSSCOPE" connect --ca "$D/ca/ca.pem" --name good.test "127.0.0.1:$PORT"
expect "connect succeeds, then the connection ends" 0
for ((i = 0; i < 50; i++)); do grep -q "cannot reach the forward service" "$D/serve.down.log" && break; sleep 0.1; done
check "log says the forward service cannot be reached" grep -q "cannot reach the forward service 127.0.0.1:$DOWN: connection refused" "$D/serve.down.log"

# a client that is not TLS is logged and does not disturb the server
python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(100)' "$PORT"
for ((i = 0; i < 50; i++)); do grep -q "plain HTTP request" "$D/serve.down.log" && break; sleep 0.1; done
check "plain HTTP client logged as such" grep -q "sent a plain HTTP request, not TLS: 'GET / HTTP/1.1'" "$D/serve.down.log"

# ---- bad input ----
run "$TLSSCOPE" serve --echo
expect "no certificate is a usage error" 2 "--cert FILE --key FILE is required"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key"
expect "no mode is a usage error" 2 "choose one of --echo and --forward"
run "$TLSSCOPE" serve --cert "$D/good.pem" --echo
expect "--cert without --key is a usage error" 2 "each --cert needs its --key"
run "$TLSSCOPE" serve --cert "$D/missing.pem" --key "$D/good.key" --echo
expect "missing certificate file" 3 "^tlsscope serve: cannot read certificate file '.*missing.pem': No such file or directory$"
one_line "missing certificate file"
printf 'not a certificate\n' >"$D/junk.pem"
run "$TLSSCOPE" serve --cert "$D/junk.pem" --key "$D/good.key" --echo
expect "certificate file that is not PEM" 3 "^tlsscope serve: '.*junk.pem' holds no PEM certificate$"
one_line "certificate file that is not PEM"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/junk.pem" --echo
expect "key file that is not PEM" 3 "'.*junk.pem' holds no PEM private key"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/ca/ca.key" --echo
expect "key not matching the certificate" 3 "^tlsscope serve: the key in '.*ca.key' does not match the certificate in '.*good.pem'$"
one_line "key not matching the certificate"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --client-ca "$D/junk.pem" --echo
expect "a client CA file that is not PEM" 3 "CA file '.*junk.pem' holds no PEM certificate"
# unreadable: the key (mode 0600, ours) read by nobody, or by us if we are not root
cp "$D/good.key" "$D/unreadable.key"
chmod 0000 "$D/unreadable.key"
chmod 0755 "$D"
AS_NOBODY=()
[ "$(id -u)" -ne 0 ] || AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
run "${AS_NOBODY[@]}" "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/unreadable.key" --echo
expect "an unreadable key file" 3 "^tlsscope serve: cannot read key file '.*unreadable.key': Permission denied$"
one_line "an unreadable key file"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --echo --listen 127.0.0.1:99999
expect "bad --listen port is a usage error" 2 "99999"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --forward nowhere.invalid:80
expect "unresolvable --forward" 3 "nowhere.invalid"
BUSY=$(free_port)
python3 "$PEERS" silent "$BUSY" &
track $!
wait_port "$BUSY"
run "$TLSSCOPE" serve --cert "$D/good.pem" --key "$D/good.key" --echo --listen "127.0.0.1:$BUSY"
expect "port in use" 3 "cannot listen on 127.0.0.1:$BUSY: address already in use"
run "$TLSSCOPE" serve --help
expect "--help exits 0" 0
expect_out "--help names --forward" "--forward HOST:PORT"
echo "1..$TS_N"
