#!/usr/bin/env bash
# `tlsscope probe` against real servers started here on loopback: openssl
# s_server (OCSP stapled; TLS 1.2 only), nginx (h2 and http/1.1 ALPN), postfix
# (SMTP STARTTLS), dovecot (IMAP and POP3 STARTTLS), PostgreSQL (SSLRequest), OpenLDAP
# slapd (StartTLS extended operation) and MariaDB (SSLRequest packet).
# For each, the protocol, cipher and certificate SHA-256 that probe reports
# must equal what `openssl s_client` reports for the same server, and the
# verdict must follow the CA the test made.
. "$(dirname "$0")/lib.sh"

CA="$TS_TMP/ca/ca.pem"
"$TLSSCOPE" cert ca --dir "$TS_TMP/ca" >/dev/null || { not_ok "make a test CA"; echo "1..$TS_N"; exit 1; }
"$TLSSCOPE" cert issue --ca "$TS_TMP/ca" --out "$TS_TMP/leaf" localhost 127.0.0.1 >/dev/null
"$TLSSCOPE" cert issue --ca "$TS_TMP/ca" --key ec:P-256 --out "$TS_TMP/ec" localhost 127.0.0.1 >/dev/null
check "the test certificates exist" test -s "$TS_TMP/leaf.pem" -a -s "$TS_TMP/ec.pem"

# sclient PORT [STARTTLS [EXTRA...]]: what openssl s_client sees, in SC_PROTO,
# SC_CIPHER, SC_SHA256 (lowercase hex), SC_ALPN.
sclient() {
	local port=$1 st=${2:-} out
	shift 2 2>/dev/null || shift $#
	local args=(-connect "127.0.0.1:$port" -CAfile "$CA" -servername localhost "$@")
	[ -n "$st" ] && args+=(-starttls "$st")
	out=$(timeout 15 openssl s_client "${args[@]}" </dev/null 2>/dev/null)
	# "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" is printed for every handshake
	SC_PROTO=$(sed -n 's/^New, \([^,]*\), Cipher is .*$/\1/p' <<<"$out" | head -1)
	SC_CIPHER=$(sed -n 's/^New, [^,]*, Cipher is \(.*\)$/\1/p' <<<"$out" | head -1)
	SC_ALPN=$(sed -n 's/^ALPN protocol: *//p' <<<"$out" | head -1)
	SC_SHA256=$(openssl x509 -noout -fingerprint -sha256 <<<"$out" 2>/dev/null | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
}

# field JSON PATH: prints one field of probe's JSON ("cipher.openssl",
# "certificates.0.sha256"); null, true and false as such (jq: python starts
# too slowly on a loaded machine for dozens of calls).
field() {
	local filter="" part
	local IFS=.
	for part in $2; do
		if [[ "$part" =~ ^[0-9]+$ ]]; then filter+="[$part]"; else filter+=".\"$part\""; fi
	done
	jq -r "$filter" <<<"$1" 2>/dev/null
}

# compare NAME PORT STARTTLS [PROBE ARGS...]: probe --json and s_client agree.
compare() {
	local name=$1 port=$2 st=$3
	shift 3
	run "$TLSSCOPE" probe "127.0.0.1:$port" --name localhost --starttls "${st:-none}" --ca "$CA" --json "$@"
	expect "$name: probe exits 0 with the test CA" 0
	PROBE_JSON=$OUT
	sclient "$port" "$st"
	local p c h
	p=$(field "$OUT" protocol) c=$(field "$OUT" cipher.openssl) h=$(field "$OUT" certificates.0.sha256)
	if [ -n "$SC_PROTO" ] && [ "$p" = "$SC_PROTO" ]; then ok "$name: protocol $p as s_client"; else not_ok "$name: protocol '$p', s_client '$SC_PROTO'"; fi
	if [ -n "$SC_CIPHER" ] && [ "$c" = "$SC_CIPHER" ]; then ok "$name: cipher $c as s_client"; else not_ok "$name: cipher '$c', s_client '$SC_CIPHER'"; fi
	if [ -n "$SC_SHA256" ] && [ "$h" = "$SC_SHA256" ]; then ok "$name: certificate sha256 as s_client"; else not_ok "$name: sha256 '$h', s_client '$SC_SHA256'"; fi
	if [ "$(field "$OUT" verification.trusted)" = true ] && [ "$(field "$OUT" verification.hostname_match)" = true ]; then
		ok "$name: trusted for localhost by the test CA"
	else
		not_ok "$name: verdict"; diag "$OUT"
	fi
}

# Every port the test needs, distinct, from one call.
read -r pg_port my_port smtp_port ocsp_port closed_port tls12_port nginx_port imap_port pop3_port \
	ldap_port ldap_plain_port <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')"

# ---------- the slow set-ups start first, in the background ----------
diag "${SECONDS}s: the slow set-ups start first, in the background"
# initdb, mariadb-install-db and postfix take seconds each: they run while
# the quick servers below are tested.  postfix changes /etc/postfix: it is
# backed up here and restored at exit, pass or fail.
source "$(dirname "$0")/postfix.sh"
source "$(dirname "$0")/dovecot.sh"
pgdir=
trap 'postfix_restore; ts_cleanup; [ -n "$pgdir" ] && rm -rf "$pgdir"' EXIT
pgdir=$(mktemp -d /tmp/tlsscope-pg.XXXXXX)
chmod 755 "$pgdir"
cp "$TS_TMP/leaf.pem" "$TS_TMP/leaf.key" "$pgdir/"
chown -R postgres "$pgdir"
chmod 600 "$pgdir/leaf.key"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
su postgres -c "$pgbin/initdb -D $pgdir/data -A trust" >"$TS_TMP/initdb.log" 2>&1 &
pg_init=$!
track $pg_init
mkdir -p "$TS_TMP/mariadb"
cp "$TS_TMP/leaf.pem" "$TS_TMP/leaf.key" "$TS_TMP/mariadb/"
mariadb-install-db --no-defaults --datadir="$TS_TMP/mariadb/data" --user=root \
	--auth-root-authentication-method=normal >"$TS_TMP/mariadb/install.log" 2>&1 &
my_init=$!
track $my_init
postfix_start "$smtp_port" "$TS_TMP/leaf.pem" "$TS_TMP/leaf.key"

# ---------- openssl s_server: OCSP stapling ----------
diag "${SECONDS}s: openssl s_server: OCSP stapling"
serial=$(openssl x509 -in "$TS_TMP/leaf.pem" -noout -serial | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t%s\n' 351231235959Z "$serial" /CN=localhost >"$TS_TMP/index.txt"
openssl ocsp -issuer "$CA" -cert "$TS_TMP/leaf.pem" -no_nonce -reqout "$TS_TMP/ocsp.req" >/dev/null 2>&1
openssl ocsp -index "$TS_TMP/index.txt" -rsigner "$CA" -rkey "$TS_TMP/ca/ca.key" -CA "$CA" \
	-reqin "$TS_TMP/ocsp.req" -respout "$TS_TMP/ocsp.der" -ndays 2 >/dev/null 2>&1
check "openssl ocsp made a response for the leaf" test -s "$TS_TMP/ocsp.der"
port=$ocsp_port
openssl s_server -accept "127.0.0.1:$port" -cert "$TS_TMP/leaf.pem" -key "$TS_TMP/leaf.key" \
	-status_file "$TS_TMP/ocsp.der" -www -quiet >/dev/null 2>&1 &
track $!
wait_port "$port"
compare "s_server+OCSP" "$port" ""
OCSP_JSON=$PROBE_JSON
check "s_server+OCSP: the stapled response is reported" test "$(field "$OCSP_JSON" ocsp.stapled)" = true
check "s_server+OCSP: its status is good" test "$(field "$OCSP_JSON" ocsp.status)" = good
next=$(field "$OCSP_JSON" ocsp.next_update)
want=$(openssl ocsp -respin "$TS_TMP/ocsp.der" -resp_text -noverify 2>/dev/null | sed -n 's/^ *Next Update: //p')
want=$(date -u -d "$want" '+%Y-%m-%d %H:%M:%S UTC' 2>/dev/null)
if [ -n "$want" ] && [ "$next" = "$want" ]; then ok "s_server+OCSP: next update $next as openssl ocsp says"; else not_ok "s_server+OCSP: next update '$next', openssl '$want'"; fi
check "s_server+OCSP: no SCTs" test "$(field "$OCSP_JSON" sct_count)" = 0
run "$TLSSCOPE" probe "127.0.0.1:$port" --name localhost --ca "$CA"
expect "s_server+OCSP: text report exits 0" 0
expect_out "text: aligned protocol line" "^protocol \.+ TLSv1\.3$"
expect_out "text: the stapled status" "^ocsp stapling \.+ good \(this update"
expect_out "text: the verdict" "verdict \.+ trusted"
expect_out "text: the built chain ends at the test root" "-> CN=tlsscope Test Root CA"
expect_out "text: timings" "handshake \.+ [0-9]+\.[0-9]"

# The verdict follows the trust anchors and the name, and the report is complete anyway.
run "$TLSSCOPE" probe "127.0.0.1:$port" --name localhost --json
expect "without the test CA: not trusted (exit 1)" 1 "not trusted"
check "without the test CA: the handshake facts are still there" test "$(field "$OUT" protocol)" = TLSv1.3
check "without the test CA: verification.trusted is false" test "$(field "$OUT" verification.trusted)" = false
run "$TLSSCOPE" probe "127.0.0.1:$port" --name other.example.test --ca "$CA" --json
expect "a name the certificate lacks: not trusted (exit 1)" 1 "name mismatch"
check "a name the certificate lacks: hostname_match is false" test "$(field "$OUT" verification.hostname_match)" = false
check "a name the certificate lacks: target.name is reported" test "$(field "$OUT" target.name)" = other.example.test
run "$TLSSCOPE" probe "127.0.0.1:$closed_port" --ca "$CA"
expect "a closed port is unreachable (exit 3)" 3
run "$TLSSCOPE" probe "127.0.0.1:$port" --ca "$TS_TMP/nonexistent.pem"
expect "an unreadable --ca is exit 3" 3 "nonexistent"
run "$TLSSCOPE" probe
expect "no target is a usage error" 2 "needs HOST"

# ---------- openssl s_server limited to TLS 1.2 ----------
diag "${SECONDS}s: openssl s_server limited to TLS 1.2"
port=$tls12_port
openssl s_server -accept "127.0.0.1:$port" -cert "$TS_TMP/ec.pem" -key "$TS_TMP/ec.key" -tls1_2 -www -quiet \
	>/dev/null 2>&1 &
track $!
wait_port "$port"
compare "s_server TLS 1.2" "$port" ""
check "TLS 1.2: protocol is TLSv1.2" test "$(field "$PROBE_JSON" protocol)" = TLSv1.2
check "TLS 1.2: ECDHE is forward secret" test "$(field "$PROBE_JSON" forward_secrecy)" = true
check "TLS 1.2: the key is EC P-256" test "$(field "$PROBE_JSON" certificates.0.key_curve)" = P-256
check "TLS 1.2: no OCSP stapled" test "$(field "$PROBE_JSON" ocsp.stapled)" = false
check "TLS 1.2: the second connection resumed" test "$(field "$PROBE_JSON" resumed)" = true

# ---------- nginx: ALPN h2 and http/1.1 ----------
diag "${SECONDS}s: nginx: ALPN h2 and http/1.1"
port=$nginx_port
mkdir -p "$TS_TMP/nginx/logs"
cat >"$TS_TMP/nginx/nginx.conf" <<EOF
daemon off;
pid $TS_TMP/nginx/nginx.pid;
error_log $TS_TMP/nginx/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $TS_TMP/nginx/body;
	proxy_temp_path $TS_TMP/nginx/proxy;
	fastcgi_temp_path $TS_TMP/nginx/fastcgi;
	uwsgi_temp_path $TS_TMP/nginx/uwsgi;
	scgi_temp_path $TS_TMP/nginx/scgi;
	server {
		listen 127.0.0.1:$port ssl http2;
		ssl_certificate $TS_TMP/leaf.pem;
		ssl_certificate_key $TS_TMP/leaf.key;
		location / { return 200 "hello\n"; }
	}
}
EOF
nginx -c "$TS_TMP/nginx/nginx.conf" -p "$TS_TMP/nginx" >/dev/null 2>&1 &
track $!
wait_port "$port"
compare "nginx h2" "$port" "" --alpn h2,http/1.1
check "nginx: ALPN h2 chosen when offered first" test "$(field "$PROBE_JSON" alpn)" = h2
sclient "$port" "" -alpn h2,http/1.1
check "nginx: s_client also got h2" test "$SC_ALPN" = h2
check "nginx: a session ticket was offered" test "$(field "$PROBE_JSON" resumption.ticket_offered)" = true
check "nginx: the second connection resumed" test "$(field "$PROBE_JSON" resumed)" = true
run "$TLSSCOPE" probe "127.0.0.1:$port" --name localhost --ca "$CA" --json --alpn http/1.1
check "nginx: ALPN http/1.1 when only it is offered" test "$(field "$OUT" alpn)" = http/1.1
run "$TLSSCOPE" probe "127.0.0.1:$port" --name localhost --ca "$CA" --json
check "nginx: no ALPN when none is offered" test "$(field "$OUT" alpn)" = null

# ---------- dovecot: IMAP and POP3 STARTTLS ----------
diag "${SECONDS}s: dovecot: IMAP and POP3 STARTTLS"
dovecot_start "$imap_port" "$pop3_port" "$TS_TMP/leaf.pem" "$TS_TMP/leaf.key"
compare "dovecot imap" "$imap_port" imap
check "dovecot imap: the transcript shows the STARTTLS go-ahead" \
	grep -q "OK Begin TLS negotiation now" <<<"$(field "$PROBE_JSON" starttls.transcript)"
compare "dovecot pop3" "$pop3_port" pop3

# ---------- PostgreSQL: SSLRequest ----------
diag "${SECONDS}s: PostgreSQL: SSLRequest"
wait "$pg_init"
cat >>"$pgdir/data/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = '$pgdir/leaf.pem'
ssl_key_file = '$pgdir/leaf.key'
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
EOF
su postgres -c "$pgbin/pg_ctl -D $pgdir/data -o '-p $pg_port' -l $pgdir/log -w start" >/dev/null 2>&1
pg_pid=$(head -1 "$pgdir/data/postmaster.pid" 2>/dev/null)
[ -n "$pg_pid" ] && track "$pg_pid"
check "PostgreSQL started" wait_port "$pg_port" 20
compare "postgres" "$pg_port" postgres
check "postgres: the transcript shows the 'S' answer" grep -q "'S'" <<<"$(field "$PROBE_JSON" starttls.transcript)"

# ---------- OpenLDAP slapd: the StartTLS extended operation ----------
diag "${SECONDS}s: OpenLDAP slapd: the StartTLS extended operation"
mkdir -p "$TS_TMP/ldap/db" "$TS_TMP/ldap/db2"
ldap_conf() { # ldap_conf NAME [TLS lines]
	{
		echo "include /etc/ldap/schema/core.schema"
		echo "pidfile $TS_TMP/ldap/$1.pid"
		echo "argsfile $TS_TMP/ldap/$1.args"
		echo "modulepath /usr/lib/ldap"
		echo "moduleload back_mdb"
		[ $# -gt 1 ] && printf '%s\n' "$2"
		echo "database mdb"
		echo 'suffix "dc=example,dc=test"'
		echo 'rootdn "cn=admin,dc=example,dc=test"'
		echo "directory $TS_TMP/ldap/$3"
	} >"$TS_TMP/ldap/$1.conf"
}
ldap_conf tls "TLSCertificateFile $TS_TMP/leaf.pem
TLSCertificateKeyFile $TS_TMP/leaf.key" db
ldap_conf plain "" db2
slapd -f "$TS_TMP/ldap/tls.conf" -h "ldap://127.0.0.1:$ldap_port/" -d 0 >"$TS_TMP/ldap/tls.log" 2>&1 &
track $!
slapd -f "$TS_TMP/ldap/plain.conf" -h "ldap://127.0.0.1:$ldap_plain_port/" -d 0 >"$TS_TMP/ldap/plain.log" 2>&1 &
track $!
check "slapd started" wait_port "$ldap_port" 20
compare "slapd ldap" "$ldap_port" ldap
wait_port "$ldap_plain_port" 20
run "$TLSSCOPE" probe "127.0.0.1:$ldap_plain_port" --starttls ldap --ca "$CA" --timeout 5
expect "slapd without TLS: StartTLS refused, quoting slapd" 1 "result 2 \(protocolError\): 'unsupported extended operation'"

# ---------- MariaDB: the SSLRequest packet ----------
diag "${SECONDS}s: MariaDB: the SSLRequest packet"
wait "$my_init"
mariadbd --no-defaults --datadir="$TS_TMP/mariadb/data" --user=root --bind-address=127.0.0.1 \
	--port="$my_port" --socket="$TS_TMP/mariadb/sock" --pid-file="$TS_TMP/mariadb/pid" \
	--ssl-cert="$TS_TMP/mariadb/leaf.pem" --ssl-key="$TS_TMP/mariadb/leaf.key" >"$TS_TMP/mariadb/log" 2>&1 &
track $!
check "MariaDB started" wait_port "$my_port" 30
compare "mariadb" "$my_port" mysql
check "mariadb: the transcript shows the server's handshake with CLIENT_SSL" \
	grep -q "handshake v10, server version '.*MariaDB.*(CLIENT_SSL)" <<<"$(field "$PROBE_JSON" starttls.transcript)"

# ---------- postfix: SMTP STARTTLS (started at the top) ----------
diag "${SECONDS}s: postfix: SMTP STARTTLS (started at the top)"
check "postfix started" postfix_wait "$smtp_port"
compare "postfix smtp" "$smtp_port" smtp
check "postfix: EHLO and the 220 go-ahead are in the transcript" \
	grep -q "Ready to start TLS" <<<"$(field "$PROBE_JSON" starttls.transcript)"
# The port chooses the protocol: 25 is not ours to bind, but the choice is in
# the library's unit tests; here, asking for the wrong protocol fails cleanly.
run "$TLSSCOPE" probe "127.0.0.1:$smtp_port" --starttls imap --ca "$CA" --timeout 3
expect "postfix spoken to as IMAP: refused, quoting the SMTP greeting" 1 "not '\* OK': 220 "

echo "1..$TS_N"
