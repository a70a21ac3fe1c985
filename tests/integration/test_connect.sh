#!/usr/bin/env bash
# tlsscope connect: one case per trust situation, with a throwaway CA made by
# `tlsscope cert` and served by `tlsscope serve` (several certificates chosen
# by SNI) and openssl s_server; then every bad-input case.
. "$(dirname "$0")/lib.sh"
D=$TS_TMP
PEERS="$TS_ROOT/tests/integration/peers.py"

cert() { "$TLSSCOPE" cert "$@" >/dev/null || { not_ok "cert $*"; exit 1; }; }

# start_serve LOGNAME ARGS...: starts `serve` on a free port; sets PORT.
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

# start_peer MODE [ARGS]: a misbehaving peer from peers.py; sets PORT.
start_peer() {
	PORT=$(free_port)
	python3 "$PEERS" "$1" "$PORT" "${@:2}" &
	track $!
	wait_port "$PORT" || diag "peer $1 did not start"
}

cert ca --dir "$D/ca" --name "Connect Test Root"
cert ca --dir "$D/rogue" --name "Rogue Root"
cert intermediate --ca "$D/ca" --dir "$D/int"
cert issue --ca "$D/ca" --out "$D/ip" 127.0.0.1
cert issue --ca "$D/ca" --out "$D/good" good.test
cert issue --ca "$D/ca" --out "$D/expired" --not-before 2020-01-01 --not-after 2021-01-01 expired.test
cert issue --ca "$D/ca" --out "$D/future" --not-before +30d --days 30 future.test
cert issue --ca "$D/ca" --out "$D/wild" '*.wild.test'
cert issue --ca "$D/ca" --out "$D/cn" --cn-only cn.test
cert issue --self-signed --out "$D/self" self.test
cert issue --ca "$D/rogue" --out "$D/rogue-leaf" rogue.test
cert issue --ca "$D/int" --out "$D/inter" inter.test
cert issue --ca "$D/int" --out "$D/chained" chained.test
cert issue --ca "$D/ca" --key rsa:1024 --out "$D/weak" weak.test
# a server of the rogue CA sends its root along, as such servers do
cat "$D/rogue-leaf.pem" "$D/rogue/ca.pem" >"$D/rogue-chain.pem"

# One server, one certificate per name (the first is the default for no SNI).
start_serve multi --echo \
	--cert "$D/ip.pem" --key "$D/ip.key" \
	--cert "$D/good.pem" --key "$D/good.key" \
	--cert "$D/expired.pem" --key "$D/expired.key" \
	--cert "$D/future.pem" --key "$D/future.key" \
	--cert "$D/cn.pem" --key "$D/cn.key" \
	--cert "$D/self.pem" --key "$D/self.key" \
	--cert "$D/rogue-chain.pem" --key "$D/rogue-leaf.key" \
	--cert "$D/inter.pem" --key "$D/inter.key" \
	--cert "$D/chained.chain.pem" --key "$D/chained.key"
M=$PORT
CA=(--ca "$D/ca/ca.pem")

connect() { run "$TLSSCOPE" connect --timeout 5 "$@"; }

connect "${CA[@]}" --name good.test "127.0.0.1:$M"
expect "valid certificate: trusted" 0 "verified \.+ yes: trusted chain, name 'good.test' matches"
check "verdict names address, protocol, cipher and certificate" \
	grep -qE "address \.+ 127\.0\.0\.1:$M" <<<"$ERR"
check "verdict shows TLS 1.3 and an AEAD cipher" grep -qE "protocol \.+ TLSv1\.3" <<<"$ERR"
check "verdict shows the certificate subject" grep -qE "certificate \.+ CN=good\.test" <<<"$ERR"

connect "${CA[@]}" --name expired.test "127.0.0.1:$M"
expect "expired certificate refused" 1 "certificate for 'expired.test' expired on 2021-01-01 00:00:00 UTC"

connect "${CA[@]}" --name future.test "127.0.0.1:$M"
expect "not-yet-valid certificate refused" 1 "certificate for 'future.test' is not valid before"

connect "${CA[@]}" --name other.test "127.0.0.1:$M"
expect "wrong name refused" 1 "name mismatch: wanted 'other.test', certificate is for '127.0.0.1'"

# the wildcard certificate alone, so the server never picks another
start_serve wild --echo --cert "$D/wild.pem" --key "$D/wild.key"
connect "${CA[@]}" --name a.wild.test "127.0.0.1:$PORT"
expect "wildcard covering one label accepted" 0 "verified \.+ yes"

connect "${CA[@]}" --name a.b.wild.test "127.0.0.1:$PORT"
expect "wildcard one label too deep refused" 1 "name mismatch: wanted 'a.b.wild.test', certificate is for '\*\.wild\.test'"

connect "${CA[@]}" "127.0.0.1:$M"
expect "IP address in subjectAltName accepted (no SNI sent)" 0 "verified \.+ yes: trusted chain, name '127.0.0.1'"
check "serve logged no SNI for the IP connection" grep -qE "sni=- TLSv1\.3" "$D/serve.multi.log"

connect "${CA[@]}" --name cn.test "127.0.0.1:$M"
expect "CN-only certificate refused" 1 "certificate has no subjectAltName \(CN 'cn.test' is not used"

connect "${CA[@]}" --name self.test "127.0.0.1:$M"
expect "self-signed certificate refused" 1 "self-signed certificate 'CN=self.test' is not trusted"

connect "${CA[@]}" --name rogue.test "127.0.0.1:$M"
expect "issuer not trusted refused" 1 "issuer 'CN=Rogue Root' is not a trusted certificate authority"

connect "${CA[@]}" --name inter.test "127.0.0.1:$M"
expect "intermediate missing refused" 1 "the server sent no intermediate certificate: no chain to a trusted root"

connect "${CA[@]}" --name chained.test "127.0.0.1:$M"
expect "intermediate sent: trusted" 0 "verified \.+ yes"

# RSA 1024: OpenSSL only serves it at security level 0.
W=$(free_port)
openssl s_server -accept "127.0.0.1:$W" -cert "$D/weak.pem" -key "$D/weak.key" \
	-cipher 'DEFAULT:@SECLEVEL=0' -quiet </dev/null >/dev/null 2>&1 &
track $!
wait_port "$W"
connect "${CA[@]}" --name weak.test "127.0.0.1:$W"
expect "RSA 1024 key refused" 1 "RSA key of 1024 bits is too weak \(at least 2048 required\)"
connect "${CA[@]}" --name weak.test --insecure-legacy-protocols "127.0.0.1:$W"
expect "RSA 1024 accepted with --insecure-legacy-protocols, with a warning" 0 "warning: --insecure-legacy-protocols"

# The insecure options: each accepted, each with its warning, none by default.
connect "${CA[@]}" --name self.test --insecure-noverifycert "127.0.0.1:$M"
expect "--insecure-noverifycert accepts a self-signed certificate" 0 "warning: --insecure-noverifycert"
check "... and still says why it is not trusted" grep -q "NO, but accepted by an insecure option: self-signed" <<<"$ERR"
connect "${CA[@]}" --name expired.test --insecure-noverifytime "127.0.0.1:$M"
expect "--insecure-noverifytime accepts an expired certificate" 0 "warning: --insecure-noverifytime"
connect "${CA[@]}" --name other.test --insecure-noverifyname "127.0.0.1:$M"
expect "--insecure-noverifyname accepts a wrong name" 0 "warning: --insecure-noverifyname"
connect --name good.test "127.0.0.1:$M"
expect "the system trust store does not know the test CA" 1 "no chain to a trusted root"
# OpenSSL's default paths are the system store: SSL_CERT_FILE moves them
run env SSL_CERT_FILE="$D/ca/ca.pem" "$TLSSCOPE" connect --timeout 5 --name good.test "127.0.0.1:$M"
expect "without --ca, the system trust store (here SSL_CERT_FILE) is used" 0 "verified \.+ yes"
run env SSL_CERT_FILE="$D/ca/ca.pem" "$TLSSCOPE" connect --timeout 5 --ca "$D/rogue/ca.pem" --name good.test "127.0.0.1:$M"
expect "--ca replaces the system trust store" 1 "no chain to a trusted root"

# Data passes both ways: the echo server returns what stdin sent.
OUT=$(printf 'hello through TLS\n' | timeout 20 "$TLSSCOPE" connect "${CA[@]}" --name good.test "127.0.0.1:$M" 2>/dev/null)
check "stdin is relayed and the echo comes back on stdout" [ "$OUT" = "hello through TLS" ]

connect "${CA[@]}" --name good.test --json "127.0.0.1:$M"
expect "--json exits 0" 0 '"trusted":true'
check "--json verdict is valid JSON with the cipher" \
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] and d["cipher"].startswith("TLS_") and d["certificate"]["san_dns"]==["good.test"]' "$ERR"
check "--json verdict has exactly the fields docs/json.md lists" \
	python3 "$TS_ROOT/tests/integration/json_doc.py" connect 0 <<<"$ERR"
check "... and so does its certificate object" \
	sh -c 'python3 -c "import json,sys; print(json.dumps(json.loads(sys.stdin.read())[\"certificate\"]))" |
		python3 "$1" "cert show" 0 file index' sh "$TS_ROOT/tests/integration/json_doc.py" <<<"$ERR"

# Client certificates: a server that requires one.
cert issue --ca "$D/ca" --out "$D/client" client.test
start_serve clientauth --echo --cert "$D/good.pem" --key "$D/good.key" --client-ca "$D/ca/ca.pem"
connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "a server requiring a client certificate refuses us without one" 1 "alert 'certificate required'|alert"
connect "${CA[@]}" --name good.test --cert "$D/client.pem" --key "$D/client.key" "127.0.0.1:$PORT"
expect "with a client certificate the connection works" 0 "verified \.+ yes"

# -4 / -6: an address of the other family is refused, not used
cert issue --ca "$D/ca" --out "$D/six" six.test ::1
"$TLSSCOPE" serve --listen '[::1]:0' --echo --cert "$D/six.pem" --key "$D/six.key" 2>"$D/serve.six.log" &
track $!
for ((i = 0; i < 600; i++)); do
	P6=$(sed -n 's/^listening on \[::1\]:\([0-9]*\) .*/\1/p' "$D/serve.six.log")
	[ -n "$P6" ] && break
	sleep 0.05
done
connect "${CA[@]}" -6 "[::1]:$P6"
expect "-6 reaches an IPv6 server" 0 "address \.+ \[::1\]:$P6"
connect "${CA[@]}" -4 "[::1]:$P6"
expect "-4 refuses an IPv6 address" 3 "^tlsscope connect: address '::1' is not usable with the chosen address family$"
connect "${CA[@]}" -6 --name good.test "127.0.0.1:$M"
expect "-6 refuses an IPv4 address" 3 "address '127.0.0.1' is not usable with the chosen address family"
connect "${CA[@]}" -4 --name good.test "127.0.0.1:$M"
expect "-4 reaches an IPv4 server" 0 "verified \.+ yes"

# The default port is 443: a private network namespace, where nobody else can
# hold 127.0.0.1:443, with serve there.
NETNS=(unshare -n)
[ "$(id -u)" -eq 0 ] || NETNS=(unshare -rn)   # not root: as root of a user namespace
run "${NETNS[@]}" sh -c 'ip link set lo up || exit 9
"$1" serve --listen 127.0.0.1:443 --echo --cert "$2/good.pem" --key "$2/good.key" 2>"$2/serve.443.log" &
for i in $(seq 200); do grep -q "^listening" "$2/serve.443.log" && break; sleep 0.05; done
"$1" connect --ca "$2/ca/ca.pem" --name good.test 127.0.0.1; rc=$?
kill -TERM $!; wait $!; exit $rc' sh "$TLSSCOPE" "$D"
expect "without :PORT, connect goes to port 443" 0 "address \.+ 127\.0\.0\.1:443$"

# ---- bad input: one line on stderr, the right exit code ----
connect "${CA[@]}" no-such-host.invalid:443
expect "unknown host" 3 "^tlsscope connect: cannot resolve 'no-such-host.invalid'"
one_line "unknown host"
P=$(free_port)
connect "${CA[@]}" "127.0.0.1:$P"
expect "refused port" 3 "^tlsscope connect: cannot connect: 127.0.0.1:$P: Connection refused$"
one_line "refused port"
start_peer http
connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "plain HTTP on the port" 1 "answered in plain HTTP, not TLS: 'HTTP/1.1 400 Bad Request'"
one_line "plain HTTP"
start_peer ssh
connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "SSH server on the port" 1 "is an SSH server, not TLS: 'SSH-2.0-OpenSSH_9.2p1 Debian-2'"
one_line "SSH server"
start_peer silent
run "$TLSSCOPE" connect --timeout 1 "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "server that never speaks times out" 3 "no TLS answer from the server at 127.0.0.1:$PORT within 1 s"
one_line "server that never speaks"
run "$TLSSCOPE" connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "the default timeout is 10 s" 3 "no TLS answer from the server at 127.0.0.1:$PORT within 10 s"
start_peer drop
connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "server dropping mid-handshake" 1 "closed the connection during the handshake"
one_line "server dropping mid-handshake"
start_peer garbage "$D/good.pem" "$D/good.key"
connect "${CA[@]}" --name good.test "127.0.0.1:$PORT"
expect "garbage after the handshake" 1 "sent data that is not valid TLS after the handshake"
check "garbage after the handshake: the verdict, then one error line" \
	[ "$(grep -c '^tlsscope connect:' <<<"$ERR")" -eq 1 -a "$(tail -n 1 <<<"$ERR" | grep -c 'not valid TLS')" -eq 1 ]
connect --ca "$D/missing.pem" --name good.test "127.0.0.1:$M"
expect "missing CA file" 3 "^tlsscope connect: cannot read CA file '.*missing.pem': No such file or directory$"
one_line "missing CA file"
printf 'not a certificate\n' >"$D/junk.pem"
connect --ca "$D/junk.pem" --name good.test "127.0.0.1:$M"
expect "CA file that is not PEM" 3 "CA file '.*junk.pem' holds no PEM certificate$"
one_line "CA file that is not PEM"
connect "${CA[@]}" --cert "$D/missing.pem" --key "$D/good.key" --name good.test "127.0.0.1:$M"
expect "missing client certificate file" 3 "cannot read certificate file '.*missing.pem': No such file"
one_line "missing client certificate file"
connect "${CA[@]}" --cert "$D/junk.pem" --key "$D/good.key" --name good.test "127.0.0.1:$M"
expect "client certificate that is not PEM" 3 "holds no PEM certificate"
one_line "client certificate that is not PEM"
connect "${CA[@]}" --cert "$D/client.pem" --key "$D/junk.pem" --name good.test "127.0.0.1:$M"
expect "client key that is not PEM" 3 "'.*junk.pem' holds no PEM private key"
connect "${CA[@]}" --cert "$D/client.pem" --key "$D/good.key" --name good.test "127.0.0.1:$M"
expect "key not matching the certificate" 3 "the key in '.*good.key' does not match the certificate in '.*client.pem'$"
one_line "key not matching the certificate"
connect "${CA[@]}" --cert "$D/client.pem" --key "$D" --name good.test "127.0.0.1:$M"
expect "a directory given as the key file" 3 "key file '.*' is a directory"
# unreadable: a key only root may read, read by nobody (or by us, if we are not root)
cp "$D/client.key" "$D/unreadable.key"
chmod 0000 "$D/unreadable.key"
chmod 0755 "$D"
cp "$D/ca/ca.pem" "$D/ca-for-nobody.pem"
AS_NOBODY=()
[ "$(id -u)" -ne 0 ] || AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
run "${AS_NOBODY[@]}" "$TLSSCOPE" connect --timeout 5 --ca "$D/ca-for-nobody.pem" --cert "$D/client.pem" --key "$D/unreadable.key" \
	--name good.test "127.0.0.1:$M"
expect "an unreadable key file" 3 "^tlsscope connect: cannot read key file '.*unreadable.key': Permission denied$"
one_line "an unreadable key file"

# ---- usage ----
run "$TLSSCOPE" connect
expect "no host is a usage error" 2 "which HOST"
run "$TLSSCOPE" connect --cert "$D/client.pem" 127.0.0.1:1
expect "--cert without --key is a usage error" 2 "--cert and --key go together"
run "$TLSSCOPE" connect --timeout soon 127.0.0.1:1
expect "bad --timeout is a usage error" 2 "--timeout wants a positive number"
run "$TLSSCOPE" connect 127.0.0.1:99999
expect "bad port is a usage error" 2 "99999"
run "$TLSSCOPE" connect --alpn 'h2,,x' 127.0.0.1:1
expect "bad --alpn is a usage error" 2 "empty protocol name"
run "$TLSSCOPE" connect --bogus 127.0.0.1:1
expect "unknown option is a usage error" 2 "unknown option '--bogus'"
run "$TLSSCOPE" connect --help
expect "--help exits 0" 0
expect_out "--help lists every option" "--insecure-legacy-protocols"
echo "1..$TS_N"
