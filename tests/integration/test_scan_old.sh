#!/usr/bin/env bash
# tlsscope scan against scripted servers (tests/integration/scan_oldserver.py):
# an old server (SSLv2, SSLv3, export suites, Heartbleed, CCS injection,
# compression, no secure renegotiation), and hostile ones that send garbage,
# close at once, stall, or announce a 16 MB message.  The scan must finish
# with a clear note, never hang or crash.
source "$(dirname "$0")/lib.sh"
cd "$TS_TMP"

"$TLSSCOPE" cert ca --dir ca >/dev/null
"$TLSSCOPE" cert issue --ca ca --key rsa:1024 --out weak localhost 127.0.0.1 >/dev/null

j() { jq -c "$2" "$1"; }
same() {
	local got; got=$(j "$2" "$3")
	if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1"; diag "wanted $4"; diag "got    $got"; fi
}
"$TLSSCOPE" cert issue --ca ca --out good localhost 127.0.0.1 >/dev/null
server() {   # server MODE [CERT KEY] -> sets $port
	port=$(free_port)
	python3 "$TS_ROOT/tests/integration/scan_oldserver.py" "$port" "$1" "${2:-weak.pem}" ${3:-} &
	track $!
	wait_port "$port"
}

SCAN_PEAK_FILE=$TS_TMP/peak.old server old
run "$TLSSCOPE" scan --json --timeout 1 --ca ca/ca.pem "127.0.0.1:$port"
echo "$OUT" >old.json
expect "old: findings at high or above exit 1" 1
same "old: protocols" old.json .protocols \
	'{"ssl2":true,"ssl3":true,"tls1_0":true,"tls1_1":false,"tls1_2":false,"tls1_3":false}'
same "old: SSLv2 ciphers from its SERVER-HELLO" old.json .ciphers.ssl2 \
	'["SSL_CK_RC4_128_WITH_MD5","SSL_CK_RC4_128_EXPORT40_WITH_MD5","SSL_CK_DES_192_EDE3_CBC_WITH_MD5"]'
same "old: SSLv3 suites in the server's order, export first" old.json .ciphers.ssl3 \
	'["TLS_RSA_EXPORT_WITH_RC4_40_MD5","TLS_RSA_WITH_RC4_128_MD5","TLS_RSA_WITH_3DES_EDE_CBC_SHA","TLS_RSA_EXPORT_WITH_DES40_CBC_SHA","TLS_RSA_WITH_AES_128_CBC_SHA"]'
same "old: server order" old.json .server_order.ssl3 true
same "old: behaviour" old.json \
	'.behaviour|[.secure_renegotiation,.compression,.fallback_scsv,.heartbeat,.heartbleed,.ccs_injection]' \
	'[false,true,false,true,true,true]'
same "old: findings" old.json '[.findings[]|.id+":"+.severity]|sort' \
	'["beast:low","ccs_injection:high","cert_untrusted:high","compression:high","export_cipher:critical","heartbleed:critical","insecure_renegotiation:high","lucky13:low","no_fallback_scsv:medium","no_forward_secrecy:medium","no_ocsp_stapling:info","rc4:high","sslv2:critical","sslv3:high","sweet32:medium","tls1_0:medium","weak_rsa_key:high"]'
same "old: the 1024-bit certificate" old.json '.certificates[0]|[.key_bits,.trusted]' '[1024,false]'
# The server counts, at each accept, the connections whose client has not closed yet.
peak=$(cat peak.old)
check "old: at most 4 connections at once by default (peak $peak)" test "$peak" -le 4
# The same server serving one connection at a time, as openssl s_server does
# (which sleeps a second after refusing a renegotiation, while every other
# connection waits): it never answers a hello while another it answered is
# open, so the renegotiation goes last.  Its hello is OpenSSL's: with
# extended_master_secret (23), without supported_versions (43), TLS 1.2 at most.
SCAN_SERIAL=1 SCAN_HELLO_LOG=$TS_TMP/serial.hellos server old
run "$TLSSCOPE" scan --json --timeout 1 --ca ca/ca.pem "127.0.0.1:$port"
echo "$OUT" >serial.json
check "serial: the same suites as old" test "$(j serial.json .ciphers)" = "$(j old.json .ciphers)"
ossl=$(jq -c '.extensions|any(. == 23) and (any(. == 43)|not)' serial.hellos | grep -n true | cut -d: -f1)
check "serial: one hello is OpenSSL's at TLS 1.2 at most (lines: $ossl)" test "$(wc -w <<<"$ossl")" -eq 1
check "serial: it is the last of $(wc -l <serial.hellos)" test "$ossl" = "$(wc -l <serial.hellos)"
# A certificate that is not DER: the scan reports it in the certificate's
# verify_error, and its details stay empty.
python3 -c 'import base64; print("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(b"0\x82\x01\x00" + b"not a certificate" * 10).decode() + "-----END CERTIFICATE-----")' >notder.pem
server old notder.pem
run "$TLSSCOPE" scan --json --timeout 1 "127.0.0.1:$port"
echo "$OUT" >notder.json
same "not DER: the certificate's error says so" notder.json \
	'[.certificates[]|[.auth, .subject, (.verify_error|test("does not parse as DER"))]]' '[["RSA",null,true]]'
# A server that hangs up on big hellos: suites offered 64 at a time, and the
# probes that need no enumeration offer the accepted suites, not the registry's.
server smallhello
run "$TLSSCOPE" scan --json --timeout 1 --ca ca/ca.pem "127.0.0.1:$port"
echo "$OUT" >small.json
check "smallhello: the same suites as old" test "$(j small.json .ciphers)" = "$(j old.json .ciphers)"
same "smallhello: the certificate and behaviour as old" small.json \
	'[.certificates[0].key_bits,(.behaviour|.compression,.heartbleed,.ccs_injection)]' '[1024,true,true,true]'
same "smallhello: a note says so" small.json \
	'[.notes[]|select(test("hangs up on a hello"))]|length>0' true
# Heartbleed fixed, heartbeats on: the well-formed heartbeat sent behind the
# malformed one is answered at once, and that answer is no leak.
server hbfixed
run "$TLSSCOPE" scan --json --timeout 1 --ca ca/ca.pem "127.0.0.1:$port"
echo "$OUT" >hbfixed.json
same "hbfixed: heartbeat on, no Heartbleed" hbfixed.json '.behaviour|[.heartbeat,.heartbleed]' '[true,false]'
SCAN_PEAK_FILE=$TS_TMP/peak.one server old
run "$TLSSCOPE" scan --json --timeout 1 --max-connections 1 "127.0.0.1:$port"
echo "$OUT" >one.json
check "old with --max-connections 1: the same suites" test "$(j one.json .ciphers)" = "$(j old.json .ciphers)"
check "old with --max-connections 1: one connection at a time (peak $(cat peak.one))" test "$(cat peak.one)" -eq 1

# a server that answers the hello and then stalls: CCS injection is not known,
# not a false "vulnerable" (the silence after the early CCS is checked with
# one more record, which a vulnerable server fails to decrypt)
server mute good.pem
run "$TLSSCOPE" scan --json --timeout 1 "127.0.0.1:$port"
echo "$OUT" >mute.json
same "mute: SSLv3 and TLS 1.0 found" mute.json '[.protocols.ssl3,.protocols.tls1_0]' '[true,true]'
same "mute: CCS injection not known" mute.json .behaviour.ccs_injection null
same "mute: a note says it stalls" mute.json \
	'[.notes[]|select(startswith("CCS injection: ") and contains("stalls"))]|length' 1
same "mute: no ccs_injection finding" mute.json '[.findings[].id|select(.=="ccs_injection")]' '[]'

# TLS 1.3 schemes are asked with no key share only of a server that refuses
# such a hello for its schemes; this one asks for a share whatever the
# schemes (Go's crypto/tls does), so full handshakes must tell.
SCAN_HELLO_LOG=$TS_TMP/share.hellos server shareFirst good.pem
run "$TLSSCOPE" scan --json --timeout 1 "127.0.0.1:$port"
echo "$OUT" >share.json
# The groups' chain starts from the answer to the suites' first hello (every
# suite, every group, no key share), which asks the same: not again.  (The
# order of the suites is part of the question, that of groups and schemes
# is not, for a server that picks by its own preference.)
asked=$(jq -c 'select(.share_groups == [])|[.version,.suites,(.groups|sort),(.sigalgs|sort)]' share.hellos)
check "shareFirst: hellos without a key share were logged" test -n "$asked"
check "shareFirst: none of them asked twice" test -z "$(sort <<<"$asked" | uniq -d)"
same "shareFirst: TLS 1.3 only" share.json '[.protocols[]]' '[false,false,false,false,false,true]'
same "shareFirst: its suites and groups, from HelloRetryRequests" share.json \
	'[.ciphers.tls1_3,.groups.tls1_3]' \
	'[["TLS_AES_128_GCM_SHA256","TLS_AES_256_GCM_SHA384"],["x25519","secp256r1"]]'
same "shareFirst: only the scheme its P-256 key signs with" share.json .sigalgs.tls1_3 \
	'["ecdsa_secp256r1_sha256"]'

for mode in garbage close stall bigrecord; do
	server "$mode"
	run "$TLSSCOPE" scan --json --timeout 1 "127.0.0.1:$port"
	echo "$OUT" >"$mode.json"
	if [ "$RC" -eq 1 ] || [ "$RC" -eq 3 ]; then ok "$mode: scan finishes (exit $RC)"; else
		not_ok "$mode: scan exit $RC"; diag "$ERR"; fi
	same "$mode: no protocol found" "$mode.json" '[.protocols[]|select(.==true)]|length' 0
	if grep -qE "tlsscope scan: 127\.0\.0\.1:$port: .{10,}" <<<"$ERR"; then ok "$mode: a clear note on stderr"
	else not_ok "$mode: note on stderr"; diag "$ERR"; fi
	check "$mode: the JSON says why" test "$(j "$mode.json" .error)" != null
done
same "stall: says it timed out" stall.json .error '"the server did not answer any hello in time"'
same "close: says it closed" close.json .error '"the server closed every connection without answering the hello"'
same "bigrecord: says it is not TLS" bigrecord.json '.error|startswith("the server answered hellos with bytes that are not TLS: ")' true
same "garbage: says it is not TLS" garbage.json '.error|startswith("the server answered hellos with bytes that are not TLS: ")' true

# STARTTLS: a scripted SMTP server (postfix belongs to the starttls tests, which
# change /etc/postfix; this one runs beside anything)
server smtp good.pem good.key
run "$TLSSCOPE" scan --json --starttls smtp --ca ca/ca.pem "127.0.0.1:$port"
echo "$OUT" >smtp.json
expect "smtp: scan through STARTTLS, exit 0" 0
same "smtp: TLS 1.2 and 1.3 (the server's minimum_version)" smtp.json \
	'[.protocols|to_entries[]|select(.value==true)|.key]' '["tls1_2","tls1_3"]'
same "smtp: certificate verified" smtp.json '[.certificates[]|.trusted]' '[true]'
timeout 120 sslscan --no-colour --starttls-smtp --xml=smtp.xml "127.0.0.1:$port" >/dev/null 2>&1
if python3 "$TS_ROOT/tests/integration/scan_compare.py" smtp.xml smtp.json "$TS_ROOT/lib/registry" >smtp.cmp 2>&1
then ok "smtp: accepted suites equal sslscan --starttls-smtp"
else not_ok "smtp: suites differ from sslscan's"; while read -r l; do diag "$l"; done <smtp.cmp; fi
run "$TLSSCOPE" scan --json --starttls imap "127.0.0.1:$port"
expect "smtp spoken to as IMAP: unreachable, exit 3" 3 "STARTTLS|IMAP|imap"

echo "1..$TS_N"
