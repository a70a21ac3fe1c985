#!/usr/bin/env bash
# tlsscope scan against real servers on loopback: openssl s_server (legacy and
# server-ordered), nginx (modern; RSA + ECDSA), gnutls-serv with its own
# priority string; postfix through STARTTLS; every accepted-suite set is
# compared with sslscan's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
cd "$TS_TMP"

"$TLSSCOPE" cert ca --dir ca >/dev/null
"$TLSSCOPE" cert issue --ca ca --out rsa localhost 127.0.0.1 >/dev/null
"$TLSSCOPE" cert issue --ca ca --key ec:P-256 --out ec localhost 127.0.0.1 >/dev/null
openssl dhparam -out dh1024.pem 1024 2>/dev/null
# postfix takes seconds to start: it starts now and is scanned last
trap 'postfix_restore; ts_cleanup' EXIT
p_smtp=$(free_port)
postfix_start "$p_smtp" "$TS_TMP/rsa.pem" "$TS_TMP/rsa.key"

# j FILE FILTER: one value from the scan's JSON line.
j() { jq -c "$2" "$1"; }
# same DESC FILE FILTER WANT
same() {
	local got; got=$(j "$2" "$3")
	if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1"; diag "wanted $4"; diag "got    $got"; fi
}
# like_sslscan NAME PORT [SSLSCAN_ARGS]: accepted suites per version equal sslscan's.
like_sslscan() {
	timeout 120 sslscan --no-colour "${@:3}" --xml="$1.xml" "127.0.0.1:$2" >/dev/null 2>&1
	if python3 "$TS_ROOT/tests/integration/scan_compare.py" "$1.xml" "$1.json" \
		"$TS_ROOT/lib/registry" >"$1.cmp" 2>&1; then
		ok "$1: accepted suites per version equal sslscan's"
	else
		not_ok "$1: accepted suites differ from sslscan's"; while read -r l; do diag "$l"; done <"$1.cmp"
	fi
}
# scan NAME PORT [ARGS]: JSON into NAME.json, text into NAME.txt
scan() {
	local name=$1 port=$2; shift 2
	run "$TLSSCOPE" scan --json --ca ca/ca.pem "$@" "127.0.0.1:$port"
	echo "$OUT" >"$name.json"
	[ -s "$name.json" ] && jq -e . "$name.json" >/dev/null 2>&1
}

# --- openssl s_server, legacy: every suite of ALL at SECLEVEL 0, TLS 1.0-1.3, client order
p1=$(free_port)
openssl s_server -accept "127.0.0.1:$p1" -cert rsa.pem -key rsa.key -www -quiet \
	-cipher 'ALL:@SECLEVEL=0' -dhparam dh1024.pem >/dev/null 2>&1 &
track $!
wait_port "$p1"
check "legacy: scan gives one JSON line" scan legacy "$p1" --fail-on critical
expect "legacy: no critical finding, exit 0" 0
same "legacy: protocols" legacy.json .protocols \
	'{"ssl2":false,"ssl3":false,"tls1_0":true,"tls1_1":true,"tls1_2":true,"tls1_3":true}'
same "legacy: TLS 1.3 suites (OpenSSL's default set)" legacy.json '.ciphers.tls1_3|sort' \
	'["TLS_AES_128_GCM_SHA256","TLS_AES_256_GCM_SHA384","TLS_CHACHA20_POLY1305_SHA256"]'
same "legacy: s_server without -serverpref follows the client's order" legacy.json \
	'.server_order.tls1_2' false
same "legacy: DHE group from -dhparam is 1024 bits" legacy.json .groups.dh_bits 1024
same "legacy: findings" legacy.json '[.findings[].id]|sort' \
	'["anonymous_cipher","beast","client_order","lucky13","no_forward_secrecy","no_hsts","no_ocsp_stapling","tls1_0","tls1_1","weak_dh"]'
same "legacy: certificate trusted with --ca, name matches" legacy.json \
	'[.certificates[]|[.auth,.trusted,.name_match,.key_bits]]' '[["RSA",true,true,2048]]'
same "legacy: behaviour" legacy.json \
	'.behaviour|[.secure_renegotiation,.compression,.fallback_scsv,.heartbleed,.ccs_injection]' \
	'[true,false,true,false,false]'
same "legacy: TLS 1.3 groups include x25519 and ffdhe2048" legacy.json \
	'[.groups.tls1_3[]|select(.=="x25519" or .=="ffdhe2048")]|length' 2
check "legacy: connections counted" test "$(j legacy.json .connections)" -gt 50
like_sslscan legacy "$p1"
run "$TLSSCOPE" scan --ca ca/ca.pem --fail-on medium "127.0.0.1:$p1"
expect "legacy: --fail-on medium exits 1" 1
expect_out "legacy: text report lists findings" 'weak_dh +The DHE group has only 1024 bits'
expect_out "legacy: text report counts connections" 'connections \.+ [0-9]+ in [0-9]+ ms'

# --- openssl s_server with a DSA key: DSS suites at TLS 1.0 and 1.1 only (OpenSSL 3
# signs no TLS 1.2 handshake with DSA); the DSS certificate is asked for only
# once DSS suites were found, and the DHE group once DHE suites were
openssl dsaparam -out dsap.pem 1024 2>/dev/null && openssl gendsa -out dsa.key dsap.pem 2>/dev/null
openssl req -new -x509 -key dsa.key -out dsa.pem -subj /CN=localhost -days 30 2>/dev/null
p3=$(free_port)
openssl s_server -accept "127.0.0.1:$p3" -cert dsa.pem -key dsa.key -www -quiet \
	-cipher 'ALL:@SECLEVEL=0' -dhparam dh1024.pem >/dev/null 2>&1 &
track $!
wait_port "$p3"
check "dss: scan" scan dss "$p3"
same "dss: TLS 1.0 and 1.1 only" dss.json '[.protocols[]]' '[false,false,true,true,false,false]'
same "dss: the DSA certificate, drawn out by DSS suites" dss.json \
	'[.certificates[]|[.auth,.key_type,.key_bits]]' '[["DSS","DSA",1024]]'
same "dss: the DHE group" dss.json .groups.dh_bits 1024

# --- openssl s_server with -serverpref and a short list: the order is the configured one
p2=$(free_port)
openssl s_server -accept "127.0.0.1:$p2" -cert rsa.pem -key rsa.key -www -quiet -serverpref \
	-no_tls1_3 -cipher 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256' \
	>/dev/null 2>&1 &
track $!
wait_port "$p2"
check "ordered: scan" scan ordered "$p2"
same "ordered: TLS 1.2 suites in the configured order" ordered.json .ciphers.tls1_2 \
	'["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256","TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384","TLS_RSA_WITH_AES_128_CBC_SHA","TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]'
same "ordered: server order detected" ordered.json .server_order.tls1_2 true
same "ordered: TLS 1.0/1.1 off (OpenSSL 3 refuses them above SECLEVEL 0)" ordered.json \
	'[.protocols.tls1_0,.protocols.tls1_1]' '[false,false]'
same "ordered: no TLS 1.3" ordered.json .protocols.tls1_3 false
like_sslscan ordered "$p2"

# --- nginx, modern (Mozilla "modern": TLS 1.3 only), an ECDSA certificate, HSTS
nginx_conf() {   # nginx_conf NAME PORT BODY
	mkdir -p "$1"
	cat >"$1/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $TS_TMP/$1/nginx.pid;
error_log $TS_TMP/$1/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $TS_TMP/$1/body;
	proxy_temp_path $TS_TMP/$1/proxy;
	fastcgi_temp_path $TS_TMP/$1/fastcgi;
	uwsgi_temp_path $TS_TMP/$1/uwsgi;
	scgi_temp_path $TS_TMP/$1/scgi;
	server {
		listen 127.0.0.1:$2 ssl http2;
		server_name localhost;
		$3
		location / { return 200 "hello\n"; }
	}
}
NGINX
	nginx -c "$TS_TMP/$1/nginx.conf" -p "$TS_TMP/$1" >/dev/null 2>&1 &
	track $!
	wait_port "$2"
}
p3=$(free_port)
nginx_conf modern "$p3" "ssl_certificate $TS_TMP/ec.pem; ssl_certificate_key $TS_TMP/ec.key;
		ssl_protocols TLSv1.3; ssl_prefer_server_ciphers off;
		add_header Strict-Transport-Security \"max-age=63072000\" always;"
check "modern: scan" scan modern "$p3"
expect "modern: nothing at high or above, exit 0" 0
same "modern: only TLS 1.3" modern.json .protocols \
	'{"ssl2":false,"ssl3":false,"tls1_0":false,"tls1_1":false,"tls1_2":false,"tls1_3":true}'
same "modern: TLS 1.3 suites" modern.json '.ciphers.tls1_3|sort' \
	'["TLS_AES_128_GCM_SHA256","TLS_AES_256_GCM_SHA384","TLS_CHACHA20_POLY1305_SHA256"]'
same "modern: the certificate, through a complete TLS 1.3 handshake" modern.json \
	'[.certificates[]|[.key_type,.key_curve,.trusted,.name_match]]' '[["EC","P-256",true,true]]'
same "modern: TLS 1.3 signature algorithms of a P-256 key" modern.json .sigalgs.tls1_3 \
	'["ecdsa_secp256r1_sha256"]'
same "modern: HSTS seen" modern.json '.behaviour|[.hsts,.hsts_header]' '[true,"max-age=63072000"]'
same "modern: findings" modern.json '[.findings[].id]|sort' '["no_ocsp_stapling"]'
like_sslscan modern "$p3"

# --- nginx with an RSA and an ECDSA certificate, TLS 1.2 + 1.3, server order
p4=$(free_port)
nginx_conf dual "$p4" "ssl_certificate $TS_TMP/rsa.pem; ssl_certificate_key $TS_TMP/rsa.key;
		ssl_certificate $TS_TMP/ec.pem; ssl_certificate_key $TS_TMP/ec.key;
		ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384;"
check "dual: scan" scan dual "$p4"
same "dual: both certificates" dual.json '[.certificates[]|[.auth,.key_type]]' '[["RSA","RSA"],["ECDSA","EC"]]'
same "dual: TLS 1.2 suites in nginx's order" dual.json .ciphers.tls1_2 \
	'["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256","TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256","TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256","TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]'
same "dual: server order" dual.json .server_order.tls1_2 true
# nginx selects h2 (listen ... http2) and the HTTP/1.x names it knows: http/1.1, http/1.0
same "dual: ALPN from 'listen ... http2'" dual.json .behaviour.alpn '["h2","http/1.1","http/1.0"]'
same "dual: fallback SCSV honoured, secure renegotiation" dual.json \
	'.behaviour|[.fallback_scsv,.secure_renegotiation,.compression]' '[true,true,false]'
same "dual: TLS 1.2 signature schemes cover RSA and ECDSA" dual.json \
	'[.sigalgs.tls1_2[]|select(.=="rsa_pss_rsae_sha256" or .=="ecdsa_secp256r1_sha256")]|sort' \
	'["ecdsa_secp256r1_sha256","rsa_pss_rsae_sha256"]'
same "dual: findings" dual.json '[.findings[].id]|sort' '["no_hsts","no_ocsp_stapling"]'
like_sslscan dual "$p4"

# --- gnutls-serv with its own priority string: TLS 1.2, two ciphers, ECDHE-RSA and RSA
p5=$(free_port)
gnutls-serv --http -p "$p5" --x509certfile rsa.pem --x509keyfile rsa.key \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:-KX-ALL:+ECDHE-RSA:+RSA' \
	>/dev/null 2>&1 &
track $!
wait_port "$p5"
check "gnutls: scan" scan gnutls "$p5"
same "gnutls: only TLS 1.2" gnutls.json '[.protocols|to_entries[]|select(.value==true)|.key]' '["tls1_2"]'
same "gnutls: the suites its priority string allows" gnutls.json '.ciphers.tls1_2|sort' \
	'["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384","TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256","TLS_RSA_WITH_AES_256_GCM_SHA384"]'
same "gnutls: RSA key exchange without forward secrecy is a finding" gnutls.json \
	'[.findings[].id|select(.=="no_forward_secrecy")]' '["no_forward_secrecy"]'
like_sslscan gnutls "$p5"

# --- postfix through STARTTLS (Debian's defaults: smtpd_tls_security_level=may
# with the "medium" cipher grade, TLS 1.0 and up as OpenSSL allows)
check "postfix: started" postfix_wait "$p_smtp"
check "postfix: scan --starttls smtp" scan postfix "$p_smtp" --starttls smtp
same "postfix: TLS 1.0 to 1.3" postfix.json .protocols \
	'{"ssl2":false,"ssl3":false,"tls1_0":true,"tls1_1":true,"tls1_2":true,"tls1_3":true}'
same "postfix: certificate trusted with --ca" postfix.json '[.certificates[]|[.auth,.trusted,.name_match]]' \
	'[["RSA",true,true]]'
# postfix sets SSL_OP_NO_RENEGOTIATION and no max_early_data; its TLS 1.3
# ticket is read although the server then waits for EHLO
same "postfix: renegotiation refused, no 0-RTT, resumed; no HSTS on SMTP" postfix.json \
	'.behaviour|[.client_renegotiation,.early_data,.resumption,.hsts]' '[false,false,true,null]'
like_sslscan postfix "$p_smtp" --starttls-smtp
check "postfix: sslscan found suites to compare" test "$(grep -c '<cipher status="accepted"' postfix.xml)" -gt 10

# --- several targets in one run (concurrently), from the command line and a file
dead=$(free_port)
printf '# targets\n127.0.0.1:%s\n\n127.0.0.1:%s  \n' "$p2" "$dead" >targets.txt
run "$TLSSCOPE" scan --json --ca ca/ca.pem --timeout 2 "127.0.0.1:$p4" -f targets.txt
echo "$OUT" >many.json
expect "many: one target unreachable exits 3, naming it" 3 "127\.0\.0\.1:$dead: .*(refused|connect)"
check "many: one JSON line per target, in the order given" \
	test "$(jq -r .target many.json | tr '\n' ' ')" = "127.0.0.1:$p4 127.0.0.1:$p2 127.0.0.1:$dead "
check "many: the unreachable one says why" test "$(jq -r 'select(.address==null)|.error' many.json | grep -c refused)" -eq 1
check "many: the others match their single scans" \
	test "$(jq -c 'select(.target=="127.0.0.1:'"$p2"'")|.ciphers' many.json)" = "$(j ordered.json .ciphers)"

# --- usage errors
run "$TLSSCOPE" scan
expect "no target: usage error" 2 "no target"
run "$TLSSCOPE" scan --fail-on severe 127.0.0.1:1
expect "bad --fail-on: usage error" 2 "severe"
run "$TLSSCOPE" scan --max-connections 0 127.0.0.1:1
expect "bad --max-connections: usage error" 2 "max-connections"
run "$TLSSCOPE" scan --starttls gopher 127.0.0.1:1
expect "bad --starttls: usage error" 2 "gopher"
run "$TLSSCOPE" scan -f /nonexistent/targets
expect "missing targets file: exit 3" 3 "nonexistent"

echo "1..$TS_N"
