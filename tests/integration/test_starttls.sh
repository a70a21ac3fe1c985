#!/usr/bin/env bash
# STARTTLS for thirteen protocols against scripted servers (starttls_server.py)
# that replay each protocol's real dialogue and then do a real TLS handshake,
# and that misbehave on request: upgrade not offered, an error reply, bytes
# pipelined after the go-ahead, a stall, a 100 kB greeting.  Runs
# `tlsscope probe` (and `tlsscope connect --starttls` when it exists).
. "$(dirname "$0")/lib.sh"

protos="smtp lmtp imap pop3 ftp xmpp xmpp-server ldap postgres mysql nntp sieve irc"
modes="good not-offered error-reply pipelined stall huge-greeting"

"$TLSSCOPE" cert ca --dir "$TS_TMP/ca" >/dev/null || { not_ok "make a test CA"; echo "1..$TS_N"; exit 1; }
"$TLSSCOPE" cert issue --ca "$TS_TMP/ca" --out "$TS_TMP/leaf" localhost 127.0.0.1 >/dev/null
"$TLSSCOPE" cert issue --self-signed --out "$TS_TMP/self" localhost 127.0.0.1 >/dev/null

specs=()
for p in $protos; do for m in $modes; do specs+=("$p:$m"); done; done
python3 "$TS_ROOT/tests/integration/starttls_server.py" "$TS_TMP/leaf.pem" "$TS_TMP/leaf.key" \
	"$TS_TMP/ports" "${specs[@]}" 2>"$TS_TMP/server.log" &
track $!
for _ in $(seq 200); do [ -s "$TS_TMP/ports" ] && break; sleep 0.05; done
check "the scripted servers listen" test -s "$TS_TMP/ports"
# a second set with a self-signed certificate, for the untrusted verdict
python3 "$TS_ROOT/tests/integration/starttls_server.py" "$TS_TMP/self.pem" "$TS_TMP/self.key" \
	"$TS_TMP/ports-self" smtp:good imap:good postgres:good 2>>"$TS_TMP/server.log" &
track $!
for _ in $(seq 200); do [ -s "$TS_TMP/ports-self" ] && break; sleep 0.05; done

port_of() { awk -v p="$1" -v m="$2" '$1 == p && $2 == m { print $3 }' "$3"; }

# What each protocol's server says when it does not offer the upgrade, and
# when it refuses it: the message must quote it.
declare -A not_offered=(
	[smtp]="does not offer STARTTLS.*PIPELINING" [lmtp]="does not offer STARTTLS.*PIPELINING"
	[imap]="does not offer STARTTLS.*IMAP4rev1" [pop3]="does not offer STLS.*UIDL"
	[ftp]="does not offer AUTH TLS.*EPSV" [xmpp]="does not offer STARTTLS.*mechanism"
	[xmpp-server]="does not offer STARTTLS.*mechanism"
	[ldap]="result 2 \(protocolError\): 'unsupported extended operation'"
	[postgres]="answered 'N'" [mysql]="10.11.6-MariaDB.*CLIENT_SSL is not among"
	[nntp]="does not offer STARTTLS.*READER" [sieve]="does not offer STARTTLS.*IMPLEMENTATION"
	[irc]="no 'tls' in CAP LS.*multi-prefix"
)
declare -A refused=(
	[smtp]="454 4.7.0 TLS not available" [lmtp]="454 4.7.0 TLS not available"
	[imap]="BAD \[ALERT\] TLS support isn't enabled" [pop3]="-ERR TLS support isn't enabled"
	[ftp]="530 Please login with USER and PASS" [xmpp]="refused starttls: <failure"
	[xmpp-server]="refused starttls: <failure" [ldap]="result 52 \(unavailable\): 'TLS already started"
	[postgres]="unsupported frontend protocol 1234.5679"
	[mysql]="error 1129: 'Host '127.0.0.1' is blocked"
	[nntp]="580 Can not initiate TLS negotiation" [sieve]="NO \"TLS support isn't enabled"
	[irc]="691.*STARTTLS failed \(Internal error\)"
)

for p in $protos; do
	port=$(port_of "$p" good "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: probe after STARTTLS is trusted" 0
	expect_out "$p: the report names the protocol and the accepted upgrade" "starttls \.+ $p \(upgrade accepted\)"
	expect_out "$p: TLS 1.3 was negotiated after the preamble" "protocol \.+ TLSv1\.3"

	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --json --no-resume
	expect "$p: --json exits 0" 0
	if python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["starttls"]["protocol"] == sys.argv[1], o["starttls"]
assert o["starttls"]["accepted"] is True
assert len(o["starttls"]["transcript"]) >= 2
assert o["verification"]["trusted"] is True and o["verification"]["hostname_match"] is True
assert o["timings_ms"]["starttls"] is not None and o["timings_ms"]["starttls"] >= 0
' "$p" <<<"$OUT"; then ok "$p: JSON has the preamble, its transcript and the verdict"; else not_ok "$p: JSON fields"; diag "$OUT"; fi

	port=$(port_of "$p" not-offered "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: upgrade not offered: refused, quoting the server" 1 "${not_offered[$p]}"

	port=$(port_of "$p" error-reply "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: error reply: refused, quoting the server" 1 "${refused[$p]}"

	port=$(port_of "$p" pipelined "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: bytes after the go-ahead are refused as an injection" 1 "plaintext injection attempt"

	port=$(port_of "$p" stall "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 1
	expect "$p: a stalled server times out" 3 "within 1000 ms"

	port=$(port_of "$p" huge-greeting "$TS_TMP/ports")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: a 100 kB message is cut off at the limit" 1 "limit of (65536|8192)"
done

# The port chooses the protocol when --starttls is not given only for
# well-known ports; here the port is random, so naming it is required and
# 'none' on a STARTTLS port fails the handshake (no plaintext fallback).
port=$(port_of smtp good "$TS_TMP/ports")
run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls none --ca "$TS_TMP/ca/ca.pem" --timeout 3
expect "--starttls none on an SMTP port: the handshake fails, no fallback" 1
run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls gopher
expect "an unknown protocol is a usage error" 2 "unknown STARTTLS protocol 'gopher'"

for p in smtp imap postgres; do
	port=$(port_of "$p" good "$TS_TMP/ports-self")
	run "$TLSSCOPE" probe "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --timeout 5
	expect "$p: a self-signed certificate is reported, not trusted" 1 "not trusted"
	expect_out "$p: the untrusted server is still reported in full" "protocol \.+ TLSv1\.3"
	expect_out "$p: the verdict says why" "NOT TRUSTED: .*self-signed"
done

# `connect --starttls` (the conn engineer's command) uses the same library.
if "$TLSSCOPE" connect --help 2>/dev/null | grep -q -- --starttls; then
	for p in smtp xmpp ldap mysql; do
		port=$(port_of "$p" good "$TS_TMP/ports")
		run "$TLSSCOPE" connect "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --name localhost
		expect "$p: connect --starttls succeeds" 0
		port=$(port_of "$p" pipelined "$TS_TMP/ports")
		run "$TLSSCOPE" connect "127.0.0.1:$port" --starttls "$p" --ca "$TS_TMP/ca/ca.pem" --name localhost
		expect "$p: connect --starttls refuses the injection" 1 "plaintext injection attempt"
	done
fi

echo "1..$TS_N"
