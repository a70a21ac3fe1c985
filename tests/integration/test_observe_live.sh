#!/usr/bin/env bash
# tlsscope observe on captures this test makes: tcpdump on loopback while curl
# and openssl s_client talk to nginx over TLS 1.2 and TLS 1.3 (HTTP/1.1).
# Truth: curl's own count of each response (headers + body), tshark's
# decryption with the clients' key log (SSLKEYLOGFILE) for the bodies, and
# tshark's dissection for SNI and JA3.  The observer's response sizes must
# hold the true size within the record overhead it reports.
source "$(dirname "$0")/lib.sh"
tmp=$TS_TMP
port=$(free_port)
mkdir -p "$tmp/www" "$tmp/nginx/logs"
chmod 755 "$tmp" "$tmp/www"  # nginx workers run as an unprivileged user
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=shop.example.test" -addext "subjectAltName=DNS:shop.example.test" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
# Documents of sizes no two alike; content is random so compression cannot matter.
sizes=(1234 23456 156789 777)
for i in "${!sizes[@]}"; do head -c "${sizes[$i]}" /dev/urandom >"$tmp/www/doc$i.bin"; done
cat >"$tmp/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$port ssl;
		server_name shop.example.test;
		ssl_certificate $tmp/cert.pem;
		ssl_certificate_key $tmp/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
		root $tmp/www;
	}
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" &
track $!
wait_port "$port" || { not_ok "nginx did not start"; cat "$tmp/nginx/logs/error.log"; echo "1..$TS_N"; exit 1; }

tcpdump -i lo -U -s 0 -w "$tmp/cap.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
track $tcpdump_pid
for _ in $(seq 50); do grep -q "listening on" "$tmp/tcpdump.err" && break; sleep 0.1; done

# The observer itself, live on the loopback interface, stopped with SIGINT below.
"$TLSSCOPE" observe -i lo --filter "tcp port $port" --json >"$tmp/live.jsonl" 2>"$tmp/live.err" &
live_pid=$!
track $live_pid
sleep 1 # libpcap has no readiness signal; the checks below do not depend on timing

urls=()
for i in "${!sizes[@]}"; do urls+=("https://shop.example.test:$port/doc$i.bin"); done
# One connection per TLS version, four requests each, one after the other.
for v in 1.2 1.3; do
	SSLKEYLOGFILE="$tmp/keys.log" timeout 20 curl -sk --http1.1 --tlsv$v --tls-max $v \
		--resolve "shop.example.test:$port:127.0.0.1" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
		-w '%{size_header} %{size_download}\n' "${urls[@]}" >"$tmp/curl-$v.txt" 2>>"$tmp/curl.err"
done
# gnutls-cli with SNI, TLS 1.3; and Python's ssl module, two requests on one connection.
(printf 'GET /doc3.bin HTTP/1.1\r\nHost: shop.example.test\r\nConnection: close\r\n\r\n'; sleep 1) |
	timeout 10 gnutls-cli --insecure --sni-hostname=shop.example.test -p "$port" 127.0.0.1 \
	>"$tmp/gnutls.out" 2>&1
SSLKEYLOGFILE="$tmp/keys.log" timeout 20 python3 - "$port" >"$tmp/python.out" 2>&1 <<'PY'
import http.client, os, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]
ctx.set_alpn_protocols(["http/1.1"])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx)
c._tunnel_host = None
for path in ("/doc0.bin", "/doc2.bin"):
    c.request("GET", path, headers={"Host": "shop.example.test"})
    print(len(c.getresponse().read()))
c.close()
PY
# openssl s_client: a TLS 1.3 GET with no SNI.
for attempt in 1 2 3; do
	(printf 'GET /doc1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; sleep 1) |
		timeout 10 openssl s_client -quiet -noservername -connect "127.0.0.1:$port" -tls1_3 \
		>"$tmp/s_client.out" 2>"$tmp/s_client.err"
	head -c 15 "$tmp/s_client.out" | grep -q "HTTP/1.1 200" && break
	diag "openssl s_client attempt $attempt got no response: $(head -c 300 "$tmp/s_client.err")"
done
sleep 1 # let tcpdump write the last packets
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null
kill -INT "$live_pid"
wait "$live_pid"
live_rc=$?
[ "$live_rc" -eq 0 ] && ok "live capture stops cleanly on SIGINT" || not_ok "live capture exit $live_rc: $(head -c 300 "$tmp/live.err")"
if tail -n 1 "$tmp/live.jsonl" | grep -q '"type":"summary","source":"lo"'; then
	ok "live capture: final summary after SIGINT"
else
	not_ok "live capture: no final summary"; diag "$(tail -c 400 "$tmp/live.jsonl")"
fi
if grep -q '"sni":"shop.example.test".*"version":"TLSv1.3"' "$tmp/live.jsonl"; then
	ok "live capture: the TLS 1.3 connection is seen"
else
	not_ok "live capture: TLS 1.3 connection missing"; diag "$(head -c 600 "$tmp/live.jsonl")"
fi

run "$TLSSCOPE" observe --json "$tmp/cap.pcap"
expect "observe reads its own loopback capture" 0
printf '%s\n' "$OUT" >"$tmp/obs.jsonl"
tshark -r "$tmp/cap.pcap" -o "tls.keylog_file:$tmp/keys.log" -T fields -E separator=' ' \
	-e tcp.dstport -e http.content_length -Y http.response >"$tmp/tshark-bodies.txt" 2>/dev/null
tshark -r "$tmp/cap.pcap" -T fields -E separator=' ' -e tcp.srcport \
	-e tls.handshake.extensions_server_name -e tls.handshake.ja3 -Y 'tls.handshake.type == 1' \
	>"$tmp/tshark-hellos.txt" 2>/dev/null

python3 - "$tmp" "${sizes[*]}" >"$tmp/checks.txt" <<'PY'
import json, sys
tmp, sizes = sys.argv[1], [int(x) for x in sys.argv[2].split()]
n = 0
def ok(cond, what, extra=""):
    global n
    n += 1
    print(("ok" if cond else "not ok") + " - " + what)
    if not cond and extra:
        print("# " + extra)
recs = [json.loads(l) for l in open(tmp + "/obs.jsonl") if l.strip()]
tls = [r for r in recs if r["type"] == "tls"]
hellos = {}
for line in open(tmp + "/tshark-hellos.txt"):
    f = line.split()
    if len(f) >= 3:
        hellos[int(f[0])] = (f[1], f[2])
    elif len(f) == 2:
        hellos[int(f[0])] = ("", f[1])
bodies = {}
for line in open(tmp + "/tshark-bodies.txt"):
    f = line.split()
    if len(f) == 2:
        bodies.setdefault(int(f[0]), []).append(int(f[1]))
ok(len(tls) >= 3, "the TLS connections are observed", "got %d" % len(tls))
for r in tls:
    cport = r["client"]["port"]
    sni, ja3 = hellos.get(cport, (None, None))
    ok(ja3 is not None and r["ja3"] == ja3, "port %d: JA3 agrees with tshark" % cport, "%r vs %r" % (r["ja3"], ja3))
    ok((r["sni"] or "") == sni, "port %d: SNI agrees with tshark" % cport, "%r vs %r" % (r["sni"], sni))
for v in ("1.2", "1.3"):
    truth = [sum(int(x) for x in l.split()) for l in open("%s/curl-%s.txt" % (tmp, v)) if l.strip()]
    body_truth = [int(l.split()[1]) for l in open("%s/curl-%s.txt" % (tmp, v)) if l.strip()]
    ok(body_truth == sizes, "TLSv%s: curl fetched every document whole" % v, str(body_truth))
    cands = [r for r in tls if r["version"] == "TLSv" + v and r["sni"] == "shop.example.test"
             and r["alpn_offered"] == ["http/1.1"]]
    ok(len(cands) == 1, "TLSv%s: one curl connection observed" % v)
    if not cands:
        continue
    r = cands[0]
    ok(r["alpn_offered"] == ["http/1.1"], "TLSv%s: ALPN offered http/1.1" % v, str(r["alpn_offered"]))
    ok(r["cipher"] is not None and "GCM" in r["cipher"] or "CHACHA" in (r["cipher"] or ""), "TLSv%s: cipher %s" % (v, r["cipher"]))
    ok(bodies.get(r["client"]["port"]) == sizes, "TLSv%s: tshark decrypts the same bodies with the key log" % v,
       str(bodies.get(r["client"]["port"])))
    ex = r["exchanges"]
    ok(len(ex) == len(truth), "TLSv%s: %d exchanges, one per request" % (v, len(truth)), "got %d" % len(ex))
    for i, (x, t) in enumerate(zip(ex, truth)):
        lo, hi = x["response_plaintext_min"], x["response_plaintext_max"]
        ok(lo <= t <= hi, "TLSv%s: response %d of %d bytes within the bounds %d..%d" % (v, i + 1, t, lo, hi),
           json.dumps(x))
        ok(x["response_plaintext_estimate"] == t, "TLSv%s: response %d estimated at its true size %d" % (v, i + 1, t),
           json.dumps(x))
        ok(x["request_records"] >= 1 and x["response_records"] >= 1, "TLSv%s: exchange %d has records both ways" % (v, i + 1))
    if v == "1.2":
        ok(len(r["certificates"]) == 1 and r["certificates"][0]["subject"] == "CN=shop.example.test",
           "TLSv1.2: the certificate travels in the clear and is read", str(r["certificates"][:1]))
    else:
        ok(r["certificates"] == [], "TLSv1.3: the certificate is encrypted, none reported")
    ok(r["handshake_ms"] is not None and r["handshake_ms"] >= 0, "TLSv%s: handshake duration measured" % v)
g = [r for r in tls if r["sni"] == "shop.example.test" and r["ja4"] and r["ja4"].startswith("t13d") and len(r["exchanges"]) == 1
     and r["exchanges"][0]["response_plaintext_min"] <= sizes[3] + 400 and r["exchanges"][0]["response_plaintext_max"] >= sizes[3]]
ok(len(g) >= 1, "gnutls-cli: a TLS 1.3 connection with SNI and one exchange the size of the document")
py = [r for r in tls if r["sni"] is None and r["alpn_offered"] == ["http/1.1"]]
ok(len(py) == 1 and len(py[0]["exchanges"]) == 2, "Python ssl: one connection, two exchanges",
   str([len(r["exchanges"]) for r in py]))
if py:
    est = [x["response_plaintext_estimate"] for x in py[0]["exchanges"]]
    ok(len(est) == 2 and all(sizes[d] < e < sizes[d] + 400 for d, e in zip((0, 2), est)),
       "Python ssl: each response is its document plus HTTP headers", str(est))
s = [r for r in tls if r["sni"] is None and r["alpn_offered"] == []]
ok(len(s) >= 1 and s[-1]["version"] == "TLSv1.3" and len(s[-1]["exchanges"]) == 1,
   "openssl s_client without SNI: one TLS 1.3 exchange")
summ = recs[-1]
ok(summ["type"] == "summary" and summ["tcp_gaps"] == 0, "loopback capture: no gaps")
PY
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done <"$tmp/checks.txt"
echo "1..$TS_N"
