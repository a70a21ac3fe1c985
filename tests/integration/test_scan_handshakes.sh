#!/usr/bin/env bash
# tlsscope scan, the complete handshakes: client-initiated renegotiation and
# TLS 1.3 early data (0-RTT) against openssl s_server, nginx and gnutls-serv,
# each expected value written from the server's configuration.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site_nginx.sh"
cd "$TS_TMP"
chmod 755 "$TS_TMP"   # nginx workers run as nobody

"$TLSSCOPE" cert ca --dir ca >/dev/null
"$TLSSCOPE" cert issue --ca ca --out rsa localhost 127.0.0.1 >/dev/null
mkdir -p www && echo hello >www/index.html

# scan NAME PORT [ARGS]: JSON into NAME.json
scan() {
	local name=$1 port=$2; shift 2
	run "$TLSSCOPE" scan --json --ca ca/ca.pem "$@" "127.0.0.1:$port"
	echo "$OUT" >"$name.json"
	[ -s "$name.json" ] && jq -e . "$name.json" >/dev/null 2>&1
}
# same DESC FILE FILTER WANT
same() {
	local got; got=$(jq -c "$3" "$2")
	if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1"; diag "wanted $4"; diag "got    $got"; fi
}
# [client_renegotiation, early_data, early_data_max]
B='.behaviour|[.client_renegotiation,.early_data,.early_data_max]'
# the findings these two add
F='[.findings[].id|select(.=="client_renegotiation" or .=="early_data")]'

# --- openssl s_server: OpenSSL 3 refuses client renegotiation unless told
# -client_renegotiation, and its tickets allow no early data by default
p1=$(free_port)
openssl s_server -accept "127.0.0.1:$p1" -cert rsa.pem -key rsa.key -www -quiet >/dev/null 2>&1 &
track $!
wait_port "$p1"
check "s_server default: scan" scan default "$p1"
same "s_server default: renegotiation refused, no early data" default.json "$B" '[false,false,0]'
same "s_server default: resumption still works" default.json .behaviour.resumption true
same "s_server default: no finding of these" default.json "$F" '[]'

p2=$(free_port)
openssl s_server -accept "127.0.0.1:$p2" -cert rsa.pem -key rsa.key -www -quiet -no_renegotiation \
	>/dev/null 2>&1 &
track $!
wait_port "$p2"
check "s_server -no_renegotiation: scan" scan norenego "$p2"
same "s_server -no_renegotiation: refused" norenego.json .behaviour.client_renegotiation false

# -early_data cannot be combined with -www: the echo mode, its stdin a FIFO
# held open so that it never ends
p3=$(free_port)
mkfifo in3
openssl s_server -accept "127.0.0.1:$p3" -cert rsa.pem -key rsa.key -client_renegotiation \
	-early_data <>in3 >s3.out 2>&1 &
track $!
wait_port "$p3"
# (it answers GET / with nothing: a short timeout bounds the wait for HSTS)
check "s_server -client_renegotiation -early_data: scan" scan open "$p3" --timeout 1
same "s_server -client_renegotiation -early_data: both accepted, 16384 bytes" open.json "$B" \
	'[true,true,16384]'
same "s_server -client_renegotiation -early_data: both are findings" open.json \
	"[.findings[]|select(.id==\"client_renegotiation\" or .id==\"early_data\")|[.id,.severity]]" \
	'[["client_renegotiation","medium"],["early_data","low"]]'
check "s_server -early_data: the server says it received early data" grep -q '^Early data received:' s3.out
run "$TLSSCOPE" scan --ca ca/ca.pem --timeout 1 --fail-on medium "127.0.0.1:$p3"
expect "s_server -client_renegotiation: --fail-on medium exits 1" 1
expect_out "text: client renegotiation allowed" 'client renegotiation \.+ allowed'
expect_out "text: 0-RTT accepted" '0-RTT early data \.+ accepted'

# --- nginx (1.22: TLS 1.3 named in ssl_protocols): it refuses renegotiation;
# ssl_early_data decides 0-RTT
p4=$(free_port)
site_nginx_start "$TS_TMP/ngx_on" "$TS_TMP/www" "$p4" "$TS_TMP/rsa.pem" \
	"$TS_TMP/rsa.key" "ssl_early_data on;"
track "$SITE_NGINX_PID"
wait_port "$p4"
check "nginx ssl_early_data on: scan" scan ngx_on "$p4"
same "nginx ssl_early_data on: renegotiation refused, early data accepted" ngx_on.json "$B" \
	'[false,true,16384]'
p5=$(free_port)
site_nginx_start "$TS_TMP/ngx_off" "$TS_TMP/www" "$p5" "$TS_TMP/rsa.pem" \
	"$TS_TMP/rsa.key" "ssl_early_data off;"
track "$SITE_NGINX_PID"
wait_port "$p5"
check "nginx ssl_early_data off: scan" scan ngx_off "$p5"
same "nginx ssl_early_data off: neither" ngx_off.json "$B" '[false,false,0]'
same "nginx ssl_early_data off: resumption works" ngx_off.json .behaviour.resumption true
run "$TLSSCOPE" scan --ca ca/ca.pem "127.0.0.1:$p5"
expect_out "text: renegotiation refused" 'client renegotiation \.+ refused'

# --- gnutls-serv: GnuTLS lets a client renegotiate (safely) by default;
# --earlydata accepts 0-RTT
p6=$(free_port)
gnutls-serv --http -p "$p6" --x509certfile rsa.pem --x509keyfile rsa.key >/dev/null 2>&1 &
track $!
wait_port "$p6"
check "gnutls-serv: scan" scan gnutls "$p6"
same "gnutls-serv: renegotiation allowed, no early data" gnutls.json "$B" '[true,false,0]'
p7=$(free_port)
gnutls-serv --http -p "$p7" --x509certfile rsa.pem --x509keyfile rsa.key --earlydata >/dev/null 2>&1 &
track $!
wait_port "$p7"
check "gnutls-serv --earlydata: scan" scan gnutls_ed "$p7"
same "gnutls-serv --earlydata: early data accepted" gnutls_ed.json "$B" '[true,true,16384]'
# without RFC 5746 (%DISABLE_SAFE_RENEGOTIATION) it still lets a client
# renegotiate: the plaintext injection of CVE-2009-3555
p8=$(free_port)
gnutls-serv --http -p "$p8" --x509certfile rsa.pem --x509keyfile rsa.key \
	--priority 'NORMAL:%DISABLE_SAFE_RENEGOTIATION' >/dev/null 2>&1 &
track $!
wait_port "$p8"
check "gnutls-serv unsafe: scan" scan unsafe "$p8"
same "gnutls-serv unsafe: no secure renegotiation, client renegotiation allowed" unsafe.json \
	'.behaviour|[.secure_renegotiation,.client_renegotiation]' '[false,true]'
same "gnutls-serv unsafe: the findings say so" unsafe.json \
	"[.findings[]|select(.id|test(\"renegotiation\"))|[.id,.severity]]" \
	'[["insecure_renegotiation","high"],["insecure_client_renegotiation","high"]]'
run "$TLSSCOPE" scan --ca ca/ca.pem "127.0.0.1:$p8"
expect_out "gnutls-serv unsafe: text names the CVE" 'client renegotiation \.+ allowed, without RFC 5746 \(CVE-2009-3555\)'

# --- a server whose answer to the renegotiation fails our checks (a record
# with a bad MAC, no alert): our side failed, the server did not refuse
p9=$(free_port)
python3 "$TS_ROOT/tests/integration/peers.py" renegbad "$p9" rsa.pem rsa.key &
track $!
wait_port "$p9"
check "renegotiation answered with a bad record: scan" scan renegbad "$p9" --timeout 1
same "renegotiation answered with a bad record: unknown, not refused" renegbad.json \
	'.behaviour | has("client_renegotiation") and .client_renegotiation == null' true
same "renegotiation answered with a bad record: the note says our side failed" renegbad.json \
	'[.notes[]|select(startswith("client renegotiation: "))|test("failed on our side.*bad record mac")]' \
	'[true]'

# --- STARTTLS and TLS 1.3 tickets: after the handshake the server waits for
# the client, so the scan reads the tickets that come (twice the handshake's
# time); one server sends them, one sends none
python3 "$TS_ROOT/tests/integration/starttls_server.py" rsa.pem rsa.key ports-t imap:good &
track $!
TS_NO_TICKETS=1 python3 "$TS_ROOT/tests/integration/starttls_server.py" rsa.pem rsa.key \
	ports-n imap:good &
track $!
for _ in $(seq 200); do [ -s ports-t ] && [ -s ports-n ] && break; sleep 0.05; done
B13='[.protocols.tls1_3,.behaviour.resumption,.behaviour.early_data,(.notes|length)]'
check "STARTTLS with tickets: scan" scan imap_t "$(awk '{print $3}' ports-t)" --starttls imap
same "STARTTLS with tickets: TLS 1.3 resumed, no 0-RTT, no note" imap_t.json "$B13" \
	'[true,true,false,0]'
check "STARTTLS without tickets: scan" scan imap_n "$(awk '{print $3}' ports-n)" --starttls imap
same "STARTTLS without tickets: TLS 1.3 not resumed, no 0-RTT, no note" imap_n.json "$B13" \
	'[true,false,false,0]'

echo "1..$TS_N"
