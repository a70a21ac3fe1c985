#!/usr/bin/env bash
# tlsscope observe on STARTTLS it captures itself: postfix (SMTP), dovecot
# (IMAP and POP3) and PostgreSQL on loopback, openssl s_client -starttls as the
# client.  The observer must see TLS after the cleartext preamble, name the
# protocol, and agree with tshark on SNI, JA3, version and cipher.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
source "$(dirname "$0")/dovecot.sh"
tmp=$TS_TMP
chmod 755 "$tmp"
smtp=$(free_port)
imap=$(free_port)
pop3=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
# postfix takes seconds to start: it starts first, and /etc/postfix is
# restored at exit, pass or fail.
postfix_start "$smtp" "$tmp/cert.pem" "$tmp/key.pem"
trap 'postfix_restore; ts_cleanup' EXIT
if ! dovecot_start "$imap" "$pop3" "$tmp/cert.pem" "$tmp/key.pem"; then
	not_ok "dovecot did not start"
	echo "1..$TS_N"; exit 1
fi

# PostgreSQL, in a directory owned by postgres.
pg=$(free_port)
pgdir="$tmp/pg"
mkdir -p "$pgdir" && chown postgres "$pgdir"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
cp "$tmp/cert.pem" "$tmp/key.pem" "$pgdir/" && chown postgres "$pgdir"/*.pem && chmod 600 "$pgdir/key.pem"
su postgres -c "$pgbin/initdb -D $pgdir/data -A trust" >"$tmp/initdb.log" 2>&1
cat >>"$pgdir/data/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = '$pgdir/cert.pem'
ssl_key_file = '$pgdir/key.pem'
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
CONF
su postgres -c "$pgbin/pg_ctl -D $pgdir/data -o '-p $pg' -l $pgdir/log start" >"$tmp/pgctl.log" 2>&1
pg_started=$?
stop_pg() { su postgres -c "$pgbin/pg_ctl -D $pgdir/data stop -m fast" >/dev/null 2>&1; }
trap 'stop_pg; postfix_restore; ts_cleanup' EXIT
wait_port "$pg" 20 || diag "postgres did not start: $(tail -3 "$pgdir/log" 2>/dev/null)"

check "postfix started" postfix_wait "$smtp"

tcpdump -i lo -U -s 0 -w "$tmp/cap.pcap" "tcp port $smtp or tcp port $imap or tcp port $pop3 or tcp port $pg" \
	2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
track $tcpdump_pid
for _ in $(seq 50); do grep -q "listening on" "$tmp/tcpdump.err" && break; sleep 0.1; done

for p in "smtp:$smtp" "imap:$imap" "pop3:$pop3" "postgres:$pg"; do
	(sleep 1; printf 'QUIT\r\n') | timeout 10 openssl s_client -starttls "${p%%:*}" -servername mail.example.test \
		-connect "127.0.0.1:${p##*:}" >"$tmp/${p%%:*}.out" 2>&1
done
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null

run "$TLSSCOPE" observe --json "$tmp/cap.pcap"
expect "observe reads the STARTTLS capture" 0
printf '%s\n' "$OUT" >"$tmp/obs.jsonl"
tshark -r "$tmp/cap.pcap" -d "tcp.port==$smtp,smtp" -d "tcp.port==$imap,imap" -d "tcp.port==$pop3,pop" -d "tcp.port==$pg,pgsql" \
	-T fields -E separator=' ' -e tcp.srcport -e tls.handshake.ja3 -Y 'tls.handshake.type == 1' \
	>"$tmp/tshark.txt" 2>/dev/null
# tshark's version and cipher from the server's hello: "PORT VERSION CIPHER"
server_hello() {
	tshark -r "$tmp/cap.pcap" -d "tcp.port==$smtp,smtp" -d "tcp.port==$imap,imap" \
		-d "tcp.port==$pop3,pop" -d "tcp.port==$pg,pgsql" -Y "tls.handshake.type == 2 && tcp.srcport == $1" \
		-V 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
v = re.search(r"Supported Version: TLS 1\.(\d)", t) or re.search(r"Handshake Protocol: Server Hello\n(?:.*\n)*?\s+Version: TLS 1\.(\d)", t)
c = re.search(r"Cipher Suite: (\S+)", t)
print("TLSv1.%s %s" % (v.group(1) if v else "?", c.group(1) if c else "?"))'
}
for p in "smtp:$smtp" "imap:$imap" "pop3:$pop3" "postgres:$pg"; do
	name=${p%%:*} port=${p##*:}
	if [ "$name" = postgres ] && [ "$pg_started" -ne 0 ]; then
		not_ok "postgres: server did not start"; diag "$(cat "$tmp/pgctl.log")"; continue
	fi
	rec=$(grep "\"port\":$port}" "$tmp/obs.jsonl" | grep '"type":"tls"' | head -1)
	if [ -z "$rec" ]; then
		not_ok "$name: no TLS connection observed on port $port"; diag "$(head -c 300 "$tmp/$name.out")"; continue
	fi
	grep -q "\"starttls\":\"$name\"" <<<"$rec" && ok "$name: STARTTLS named '$name'" ||
		not_ok "$name: starttls field wrong: $(grep -o '"starttls":[^,]*' <<<"$rec")"
	grep -q '"sni":"mail.example.test"' <<<"$rec" && ok "$name: SNI after STARTTLS" || not_ok "$name: SNI missing"
	cport=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client"]["port"])' "$rec")
	ja3=$(awk -v p="$cport" '$1 == p { print $2 }' "$tmp/tshark.txt")
	grep -q "\"ja3\":\"$ja3\"" <<<"$rec" && [ -n "$ja3" ] && ok "$name: JA3 agrees with tshark" ||
		not_ok "$name: JA3 differs from tshark ($ja3)"
	grep -q '"version":"TLSv1.3"' <<<"$rec" && ok "$name: TLS 1.3 negotiated" || not_ok "$name: version"
	read -r tversion tcipher <<<"$(server_hello "$port")"
	grep -q "\"version\":\"$tversion\",.*\"cipher\":\"$tcipher\"" <<<"$rec" &&
		ok "$name: version and cipher agree with tshark ($tversion, $tcipher)" ||
		not_ok "$name: version/cipher differ from tshark's $tversion $tcipher: $(grep -o '"version":"[^"]*"\|"cipher":"[^"]*"' <<<"$rec" | tr '\n' ' ')"
done
echo "1..$TS_N"
