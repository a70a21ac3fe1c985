#!/usr/bin/env bash
# Interoperability with real peers on 127.0.0.1: `connect` against openssl
# s_server, gnutls-serv and nginx; `serve` against openssl s_client,
# gnutls-cli and curl.  Recipes from ../shared/PEERS.md.
. "$(dirname "$0")/lib.sh"
D=$TS_TMP
PEERS="$TS_ROOT/tests/integration/peers.py"

"$TLSSCOPE" cert ca --dir "$D/ca" >/dev/null
"$TLSSCOPE" cert intermediate --ca "$D/ca" --dir "$D/int" >/dev/null
"$TLSSCOPE" cert issue --ca "$D/int" --out "$D/good" good.test 127.0.0.1 >/dev/null
"$TLSSCOPE" cert issue --ca "$D/ca" --out "$D/ec" --key ec:P-256 good.test >/dev/null
CA="$D/ca/ca.pem"

start_serve() {
	local log="$D/serve.$1.log" i; shift
	"$TLSSCOPE" serve --listen 127.0.0.1:0 "$@" 2>"$log" &
	track $!
	for ((i = 0; i < 600; i++)); do
		PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	diag "serve did not start: $(cat "$log")"
	return 1
}

# feed TEXT CMD...: runs CMD with TEXT on stdin (time-limited); sets RC OUT ERR.
feed() {
	local text=$1; shift
	printf '%b' "$text" >"$D/stdin"
	timeout --kill-after=5 30 "$@" <"$D/stdin" >"$D/o" 2>"$D/e"
	RC=$?; OUT=$(cat "$D/o"); ERR=$(cat "$D/e")
}

REQ='GET / HTTP/1.0\r\nHost: good.test\r\n\r\n'

# ---- connect against openssl s_server ----
P=$(free_port)
openssl s_server -accept "127.0.0.1:$P" -cert "$D/good.pem" -key "$D/good.key" \
	-cert_chain "$D/int/ca.pem" -www -quiet >/dev/null 2>&1 &
track $!
wait_port "$P"
S_PLAIN=$P
feed "$REQ" "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "connect to openssl s_server (TLS 1.3, chain with intermediate)" 0 "verified \.+ yes"
expect_out "s_server's -www page came back through connect" "^HTTP/1.0 200 ok"
check "negotiated TLS 1.3" grep -qE "protocol \.+ TLSv1\.3" <<<"$ERR"

P=$(free_port)
openssl s_server -accept "127.0.0.1:$P" -cert "$D/good.pem" -key "$D/good.key" \
	-cert_chain "$D/int/ca.pem" -www -quiet -tls1_2 >/dev/null 2>&1 &
track $!
wait_port "$P"
feed "$REQ" "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "connect to openssl s_server limited to TLS 1.2" 0 "protocol \.+ TLSv1\.2"
check "TLS 1.2 suite is ECDHE with AEAD" grep -qE "cipher \.+ TLS_ECDHE_RSA_WITH_(AES_(128|256)_GCM|CHACHA20_POLY1305)" <<<"$ERR"
expect_out "the page came back after our close_notify under TLS 1.2 too" "^HTTP/1.0 200 ok"

P=$(free_port)
openssl s_server -accept "127.0.0.1:$P" -cert "$D/good.pem" -key "$D/good.key" \
	-cert_chain "$D/int/ca.pem" -www -quiet -tls1_1 -cipher 'ALL:@SECLEVEL=0' >/dev/null 2>&1 &
track $!
wait_port "$P"
feed "$REQ" "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "a TLS 1.1-only server is refused by default" 1 "alert|protocol"
feed "$REQ" "$TLSSCOPE" connect --ca "$CA" --name good.test --insecure-legacy-protocols "127.0.0.1:$P"
expect "... and accepted with --insecure-legacy-protocols" 0 "protocol \.+ TLSv1\.1"

# The default policy in a real handshake: a TLS 1.2 server whose only suites
# are CBC (no AEAD), or RSA key exchange (no forward secrecy), or DHE with a
# 1024-bit group (below security level 2) is refused; the insecure option
# lets each through, naming what it took.
openssl dhparam -out "$D/dh1024.pem" 1024 2>/dev/null
weak_server() { # CIPHERS [ARGS]: a TLS 1.2 s_server with only these suites; sets P
	P=$(free_port)
	openssl s_server -accept "127.0.0.1:$P" -cert "$D/good.pem" -key "$D/good.key" \
		-cert_chain "$D/int/ca.pem" -www -quiet -tls1_2 -cipher "$1" "${@:2}" >/dev/null 2>&1 &
	track $!
	wait_port "$P"
}
weak_server 'ECDHE-RSA-AES128-SHA'
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "a server with only CBC suites is refused by default" 1 "refused the handshake with alert 'handshake failure'"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --insecure-legacy-protocols "127.0.0.1:$P"
expect "... and accepted with --insecure-legacy-protocols" 0 "cipher \.+ TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA$"
weak_server 'AES128-GCM-SHA256'
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "a server with only RSA key exchange is refused by default" 1 "refused the handshake with alert 'handshake failure'"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --insecure-legacy-protocols "127.0.0.1:$P"
expect "... and accepted with --insecure-legacy-protocols" 0 "cipher \.+ TLS_RSA_WITH_AES_128_GCM_SHA256$"
weak_server 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0' -dhparam "$D/dh1024.pem"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "a 1024-bit DH group is refused by default (security level 2)" 1 "chose a Diffie-Hellman group that is too weak \(at least 2048 bits required\)$"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --insecure-legacy-protocols "127.0.0.1:$P"
expect "... and accepted with --insecure-legacy-protocols" 0 "key exchange \.+ DH 1024 bits"

# OCSP stapling: an OCSP response signed by the test CA, stapled by s_server
"$TLSSCOPE" cert issue --ca "$D/ca" --out "$D/stapled" good.test >/dev/null
serial=$(openssl x509 -in "$D/stapled.pem" -noout -serial | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t/CN=good.test\n' "$(date -u -d '+30 days' +%y%m%d%H%M%SZ)" "$serial" >"$D/index.txt"
openssl ocsp -index "$D/index.txt" -rsigner "$CA" -rkey "$D/ca/ca.key" -CA "$CA" -issuer "$CA" \
	-cert "$D/stapled.pem" -respout "$D/ocsp.der" -ndays 1 >/dev/null 2>&1
check "openssl made an OCSP response" [ -s "$D/ocsp.der" ]
P=$(free_port)
openssl s_server -accept "127.0.0.1:$P" -cert "$D/stapled.pem" -key "$D/stapled.key" \
	-status_file "$D/ocsp.der" -www -quiet >/dev/null 2>&1 &
track $!
wait_port "$P"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "connect shows the stapled OCSP response" 0 "ocsp stapled \.+ yes \($(stat -c %s "$D/ocsp.der") bytes\)"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --json "127.0.0.1:$P"
check "--json has the OCSP size and no SCT" \
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ocsp_stapled_bytes"]==int(sys.argv[2]) and d["sct_count"]==0' "$ERR" "$(stat -c %s "$D/ocsp.der")"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --json "127.0.0.1:$S_PLAIN"
check "a server without stapling: ocsp_stapled_bytes is null" \
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["ocsp_stapled_bytes"] is None' "$ERR"

# ---- connect against gnutls-serv (echo mode) ----
P=$(free_port)
cat "$D/good.pem" "$D/int/ca.pem" >"$D/good.full.pem"
gnutls-serv --echo -p "$P" --x509certfile "$D/good.full.pem" --x509keyfile "$D/good.key" >/dev/null 2>&1 &
track $!
wait_port "$P"
feed 'echo through gnutls\n' "$TLSSCOPE" connect --ca "$CA" --name good.test "127.0.0.1:$P"
expect "connect to gnutls-serv" 0 "verified \.+ yes"
expect_out "gnutls-serv echoed our line" "^echo through gnutls$"

# ---- connect against nginx ----
P=$(free_port)
mkdir -p "$D/nginx/html" "$D/nginx/tmp"
printf 'hello from nginx\n' >"$D/nginx/html/index.html"
chmod 755 "$D" "$D/nginx" "$D/nginx/html"   # nginx workers run as nobody
cat >"$D/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $D/nginx/nginx.pid;
error_log $D/nginx/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $D/nginx/tmp/body;
	proxy_temp_path $D/nginx/tmp/proxy;
	fastcgi_temp_path $D/nginx/tmp/fastcgi;
	uwsgi_temp_path $D/nginx/tmp/uwsgi;
	scgi_temp_path $D/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$P ssl http2;
		server_name good.test;
		ssl_certificate $D/good.full.pem;
		ssl_certificate_key $D/good.key;
		root $D/nginx/html;
	}
}
CONF
nginx -c "$D/nginx/nginx.conf" -p "$D/nginx" &
track $!
wait_port "$P"
feed 'GET / HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n' \
	"$TLSSCOPE" connect --ca "$CA" --name good.test --alpn http/1.1 "127.0.0.1:$P"
expect "connect to nginx" 0 "alpn \.+ http/1\.1"
expect_out "nginx served the page" "^hello from nginx"
feed '' "$TLSSCOPE" connect --ca "$CA" --name good.test --alpn h2,http/1.1 "127.0.0.1:$P"
expect "nginx picks h2 from our ALPN list" 0 "alpn \.+ h2"

# ---- serve against openssl s_client ----
UP=$(free_port)
python3 "$PEERS" http "$UP" &
track $!
wait_port "$UP"
start_serve http --cert "$D/good.chain.pem" --key "$D/good.key" --forward "127.0.0.1:$UP"
S=$PORT
feed "$REQ" openssl s_client -connect "127.0.0.1:$S" -servername good.test -CAfile "$CA" \
	-verify_return_error -verify_hostname good.test -quiet
check "openssl s_client verified serve's certificate" [ "$RC" -eq 0 ]
expect_out "s_client got the service's answer through serve" "^HTTP/1.1 400 Bad Request"
feed "$REQ" openssl s_client -connect "127.0.0.1:$S" -servername good.test -CAfile "$CA" \
	-verify_return_error -tls1_2 -quiet
check "openssl s_client over TLS 1.2" [ "$RC" -eq 0 ]
expect_out "s_client (TLS 1.2) got the answer" "^HTTP/1.1 400 Bad Request"

# ---- serve against gnutls-cli ----
feed "$REQ" gnutls-cli --x509cafile "$CA" --sni-hostname good.test --verify-hostname good.test \
	-p "$S" 127.0.0.1
check "gnutls-cli verified serve's certificate" grep -q "Handshake was completed" <<<"$ERR$OUT"
expect_out "gnutls-cli got the service's answer through serve" "HTTP/1.1 400 Bad Request"

# ---- serve against curl, in front of a real HTTP server ----
WEB=$(free_port)
mkdir -p "$D/web"
printf 'served over TLS by tlsscope\n' >"$D/web/page.txt"
(cd "$D/web" && exec python3 -m http.server --bind 127.0.0.1 "$WEB") >/dev/null 2>&1 &
track $!
wait_port "$WEB"
start_serve web --cert "$D/good.chain.pem" --key "$D/good.key" --cert "$D/ec.pem" --key "$D/ec.key" \
	--forward "127.0.0.1:$WEB" --alpn http/1.1
run curl -sS --cacert "$CA" --resolve "good.test:$PORT:127.0.0.1" -w '\n%{http_version} %{ssl_verify_result}' \
	"https://good.test:$PORT/page.txt"
expect "curl through serve --forward" 0
expect_out "curl got the page" "^served over TLS by tlsscope$"
expect_out "curl verified the chain (python's server answers HTTP/1.0)" "^1(\.[01])? 0$"
run curl -sS --cacert "$CA" --resolve "good.test:$PORT:127.0.0.1" --tls-max 1.2 "https://good.test:$PORT/page.txt"
expect "curl with TLS 1.2 through serve" 0
run curl -sS --cacert "$CA" --resolve "other.test:$PORT:127.0.0.1" "https://other.test:$PORT/page.txt"
expect "curl refuses serve's certificate for another name" 60
for ((i = 0; i < 50; i++)); do [ "$(grep -c 'sni=good.test' "$D/serve.web.log")" -ge 2 ] && break; sleep 0.1; done
check "serve logged curl's connections with SNI, ALPN and bytes" grep -qE "sni=good\.test TLSv1\.3 TLS_[A-Z0-9_]+ alpn=http/1\.1 in=[1-9][0-9]* out=[1-9][0-9]*" "$D/serve.web.log"
echo "1..$TS_N"
