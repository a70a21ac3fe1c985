#!/usr/bin/env bash
# tlsscope observe on headless Chromium talking to nginx on loopback (HTTP/2
# and HTTP/1.1 over TLS 1.3, a ClientHello of about 2 KB with an
# X25519MLKEM768 key share, split over TCP segments).  Chromium shuffles its
# extension order per connection: JA3 changes, JA4 (which sorts) does not.
# tshark (with Chromium's key log) is the truth for SNI and JA3.
source "$(dirname "$0")/lib.sh"
tmp=$TS_TMP
chmod 755 "$tmp"
port=$(free_port)
mkdir -p "$tmp/www" "$tmp/nginx/logs" && chmod 755 "$tmp/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=shop.example.test" -addext "subjectAltName=DNS:shop.example.test" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
printf '<html><body><h1>shop</h1><img src="/a.png"><img src="/b.png"></body></html>\n' >"$tmp/www/index.html"
head -c 30000 /dev/urandom >"$tmp/www/a.png"
head -c 70000 /dev/urandom >"$tmp/www/b.png"
cat >"$tmp/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
	server {
		listen 127.0.0.1:$port ssl http2;
		ssl_certificate $tmp/cert.pem;
		ssl_certificate_key $tmp/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $tmp/www;
	}
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" &
track $!
wait_port "$port" || { not_ok "nginx did not start"; echo "1..$TS_N"; exit 1; }
tcpdump -i lo -U -s 0 -w "$tmp/cap.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
track $tcpdump_pid
for _ in $(seq 50); do grep -q "listening on" "$tmp/tcpdump.err" && break; sleep 0.1; done
# Two separate browser runs: two connections with (probably) different JA3.
for i in 1 2; do
	SSLKEYLOGFILE="$tmp/keys.log" timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$(mktemp -d "$tmp/profile.XXXX")" \
		--host-resolver-rules="MAP shop.example.test 127.0.0.1" --ignore-certificate-errors \
		--dump-dom "https://shop.example.test:$port/" >"$tmp/dom$i.html" 2>"$tmp/chromium$i.err"
done
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null
grep -q "<h1>shop</h1>" "$tmp/dom1.html" && ok "chromium fetched the page" ||
	{ not_ok "chromium fetched nothing"; diag "$(tail -3 "$tmp/chromium1.err")"; }

run "$TLSSCOPE" observe --json "$tmp/cap.pcap"
expect "observe reads the browser capture" 0
printf '%s\n' "$OUT" >"$tmp/obs.jsonl"
tshark -r "$tmp/cap.pcap" -T fields -E separator=' ' -e tcp.srcport \
	-e tls.handshake.extensions_server_name -e tls.handshake.ja3 -Y 'tls.handshake.type == 1' \
	>"$tmp/hellos.txt" 2>/dev/null
python3 - "$tmp" >"$tmp/checks.txt" <<'PY'
import json, sys
tmp = sys.argv[1]
recs = [json.loads(l) for l in open(tmp + "/obs.jsonl") if l.strip()]
tls = [r for r in recs if r["type"] == "tls" and r["sni"] == "shop.example.test"]
hellos = {int(l.split()[0]): l.split()[1:] for l in open(tmp + "/hellos.txt") if len(l.split()) >= 3}
def ok(c, what, extra=""):
    print(("ok - " if c else "not ok - ") + what)
    if not c and extra:
        print("# " + extra)
ok(len(tls) >= 2, "chromium: at least two TLS connections with SNI", str(len(tls)))
for r in tls:
    p = r["client"]["port"]
    ok(hellos.get(p, [None, None])[1] == r["ja3"], "port %d: JA3 agrees with tshark" % p, "%r %r" % (r["ja3"], hellos.get(p)))
    ok(r["version"] == "TLSv1.3" and r["alpn_offered"][:2] == ["h2", "http/1.1"],
       "port %d: TLS 1.3, ALPN offered h2 then http/1.1" % p, "%s %s" % (r["version"], r["alpn_offered"]))
    ok(any(g in ("X25519MLKEM768", "X25519Kyber768Draft00") for g in r["groups"]),
       "port %d: a post-quantum hybrid group offered" % p, str(r["groups"]))
# Chromium also opens spare connections that never carry a request; the two
# page loads (page, 30 kB and 70 kB images each) are in the others.
total = sum(x["response_plaintext_estimate"] for r in tls for x in r["exchanges"])
ok(total > 2 * 100000, "chromium: the exchanges carry both page loads (%d bytes)" % total)
ja4 = {r["ja4"] for r in tls}
ja3 = {r["ja3"] for r in tls}
ok(len(ja4) == 1, "chromium: one JA4 across connections", str(ja4))
print("# chromium: %d connection(s), %d distinct JA3, %d distinct JA4" % (len(tls), len(ja3), len(ja4)))
PY
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done <"$tmp/checks.txt"
echo "1..$TS_N"
