#!/usr/bin/env bash
# tlsscope cert: make a CA, an intermediate and certificates, show them, and
# verify every trust situation offline with its verdict, message and exit code.
. "$(dirname "$0")/lib.sh"

T=$TS_TMP
json_ok() { python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' <<<"$OUT"; }

# --- making a CA --------------------------------------------------------------
run "$TLSSCOPE" cert ca --dir "$T/root" --name "Test Root" --key ec:P-256
expect "cert ca makes a root" 0
expect_out "cert ca reports a self-signed CA" "CA \.+ yes \(self-signed\)"
check "the CA key is mode 0600" test "$(stat -c %a "$T/root/ca.key")" = 600
check "the CA directory is mode 0700" test "$(stat -c %a "$T/root")" = 700

run "$TLSSCOPE" cert ca --dir "$T/root"
expect "cert ca never overwrites a CA" 3 "already exists"

run "$TLSSCOPE" cert intermediate --ca "$T/root" --dir "$T/inter" --name "Test Intermediate" --key ec:P-256
expect "cert intermediate makes an intermediate" 0
expect_out "the intermediate is issued by the root" "issuer \.+ CN=Test Root"

run "$TLSSCOPE" cert ca --dir "$T/fake" --name "Fake Root" --key ec:P-256 --json
expect "cert ca --json" 0
check "cert ca --json is JSON" json_ok
expect_out "cert ca --json says it is a CA" '"is_ca":true'

# --- issuing ------------------------------------------------------------------
run "$TLSSCOPE" cert issue --ca "$T/inter" --out "$T/www" --key ec:P-256 www.example.test '*.c.example.test' 127.0.0.1 ::1
expect "cert issue from an intermediate" 0
expect_out "it names the chain file" "chain file \.+ .*www\.chain\.pem"
check "the leaf key is mode 0600" test "$(stat -c %a "$T/www.key")" = 600
check "the chain file holds two certificates" test "$(grep -c 'BEGIN CERTIFICATE' "$T/www.chain.pem")" = 2

run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/direct" --key rsa:2048 direct.example.test
expect "cert issue from a root with an RSA key" 0
check "no chain file from a root" test ! -e "$T/direct.chain.pem"
# issuing again to the same --out: refused, nothing written
sums=$(sha256sum "$T/direct.pem" "$T/direct.key")
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/direct" --key rsa:2048 direct.example.test
expect "cert issue never overwrites a certificate" 3 "^tlsscope cert issue: '$T/direct\.pem' already exists: not overwriting a certificate$"
one_line "cert issue never overwrites a certificate"
check "... and the first files are unchanged" test "$(sha256sum "$T/direct.pem" "$T/direct.key")" = "$sums"
check "... and no chain file appeared" test ! -e "$T/direct.chain.pem"
# the key alone is enough to refuse, and the certificate is not written either
mv "$T/direct.pem" "$T/direct.pem.saved"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/direct" direct.example.test
expect "cert issue never overwrites a key" 3 "'$T/direct\.key' already exists: not overwriting a certificate"
check "... and writes no certificate beside it" test ! -e "$T/direct.pem"
check "... nor changes the key" test "$(sha256sum "$T/direct.key")" = "$(sed -n 2p <<<"$sums")"
mv "$T/direct.pem.saved" "$T/direct.pem"
# nor writes through a dangling symbolic link
ln -s "$T/elsewhere.pem" "$T/link.pem"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/link" link.example.test
expect "cert issue refuses a dangling link as the certificate" 3 "'$T/link\.pem' already exists"
check "... and writes nothing, there or beside it" test ! -e "$T/elsewhere.pem" -a ! -e "$T/link.key"

run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/expired" --key ec:P-256 --not-before 2024-01-01 --not-after "2025-01-01 00:00:00" www.example.test
expect "cert issue --not-after in the past" 0
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/future" --key ec:P-256 --not-before +10d www.example.test
expect "cert issue --not-before in the future" 0
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/wild" --key ec:P-256 '*.example.test'
expect "cert issue a wildcard" 0
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/cn" --key ec:P-256 --cn-only x.example.test
expect "cert issue --cn-only" 0
expect_out "a CN-only certificate shows no names" "names \.+ none"
run "$TLSSCOPE" cert issue --self-signed --out "$T/forged" --key ec:P-256 pypi.python.org
expect "cert issue --self-signed" 0
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/weak" --key rsa:1024 weak.example.test
expect "cert issue --key rsa:1024" 0
run "$TLSSCOPE" cert issue --ca "$T/fake" --out "$T/fakewww" --key ec:P-256 www.example.test
expect "cert issue from the fake root" 0
cat "$T/fakewww.pem" "$T/fake/ca.pem" >"$T/fakefull.pem"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/ed" --key ed25519 ed.example.test
expect "cert issue --key ed25519" 0
expect_out "an ed25519 key is described" "key \.+ ED25519"

# --- show ---------------------------------------------------------------------
run "$TLSSCOPE" cert show "$T/www.chain.pem"
expect "cert show" 0
expect_out "cert show lists each certificate" "certificate 2 of 2"
expect_out "cert show lists the names" "names \.+ www\.example\.test, \*\.c\.example\.test, 127\.0\.0\.1, ::1"
expect_out "cert show gives days left" "\(8[0-9]{2} days left\)"
expect_out "cert show gives the key" "key \.+ EC P-256 \(256 bits\)"
expect_out "cert show gives the fingerprint" "sha256 \.+ [0-9a-f]{64}"
want_fp=$(openssl x509 -in "$T/www.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
expect_out "the fingerprint is openssl's" "sha256 \.+ $want_fp"
expect_out "cert show gives the subject" "^subject \.+ CN=www\.example\.test$"
expect_out "cert show gives the issuer" "^issuer \.+ CN=Test Intermediate$"
expect_out "cert show gives the start of validity" "^valid from \.+ 20[0-9-]+ [0-9:]+ UTC$"
expect_out "cert show gives the signature algorithm" "^signature \.+ ecdsa-with-SHA256$"
expect_out "cert show gives the CA flag of the leaf" "^CA \.+ no$"
expect_out "cert show gives the CA flag of the intermediate" "^CA \.+ yes$"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/short" --key ec:P-384 --days 10 short.example.test
expect "cert issue --days 10 --key ec:P-384" 0
expect_out "it is valid for 10 days (from an hour ago)" "^valid until \.+ .* \(9 days left\)$"
expect_out "its key is EC P-384" "^key \.+ EC P-384 \(384 bits\)$"

run "$TLSSCOPE" cert show --json "$T/www.chain.pem"
expect "cert show --json" 0
check "cert show --json is JSON lines" json_ok
check "cert show --json has one line per certificate" test "$(wc -l <<<"$OUT")" = 2
check "cert show --json has exactly the fields docs/json.md lists" \
	python3 "$TS_ROOT/tests/integration/json_doc.py" "cert show" 0 < <(head -n 1 <<<"$OUT")
check "cert show --json has the documented fields" python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
want = {"subject", "issuer", "san_dns", "san_ip", "not_before", "not_after", "days_left", "key_type",
        "key_bits", "signature_algorithm", "sha256", "sha1", "is_ca", "self_signed"}
leaf, inter = lines
assert want <= set(leaf), want - set(leaf)
assert leaf["san_dns"] == ["www.example.test", "*.c.example.test"], leaf["san_dns"]
assert leaf["san_ip"] == ["127.0.0.1", "::1"], leaf["san_ip"]
assert leaf["key_type"] == "EC" and leaf["key_bits"] == 256
assert leaf["not_after"].endswith(" UTC") and leaf["is_ca"] is False and inter["is_ca"] is True
' "$OUT"

run "$TLSSCOPE" cert show "$T/expired.pem"
expect_out "an expired certificate says so" "expired [0-9]+ days? ago"
openssl x509 -in "$T/www.pem" -outform DER -out "$T/www.der"
run "$TLSSCOPE" cert show "$T/www.der"
expect "cert show reads a DER certificate" 0
expect_out "the DER certificate is the same" "sha256 \.+ $want_fp"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/recent" --key ec:P-256 --not-after -1d recent.example.test
expect "cert issue with a relative --not-after in the past" 0
expect_out "it expired a day ago" "expired 1 day ago"

# --- verify: one run per trust situation ---------------------------------------
v() { run "$TLSSCOPE" cert verify "$@"; }
v "$T/www.chain.pem" --ca "$T/root/ca.pem" --name www.example.test
expect "valid chain: trusted" 0
expect_out "valid chain: verdict" "verdict \.+ trusted"
v "$T/www.chain.pem" --ca "$T/root" --name www.example.test
expect "a CA directory as trust store" 0

# The system store without --ca: OpenSSL's default directory, read by subject
# hash when a chain needs an issuer (its bundle of the same roots is not
# decoded); SSL_CERT_DIR and SSL_CERT_FILE move it, as in OpenSSL.
sys_verify() { run env -u SSL_CERT_FILE -u SSL_CERT_DIR "$@" "$TLSSCOPE" cert verify "$T/www.chain.pem" --name www.example.test; }
sys_verify
expect "system store: the test root is not in it" 1 "issuer 'CN=Test Root' is not a trusted certificate authority"
mkdir -p "$T/hashed" && cp "$T/root/ca.pem" "$T/hashed/root.pem" && openssl rehash "$T/hashed" 2>/dev/null
sys_verify SSL_CERT_DIR="$T/hashed"
expect "system store: SSL_CERT_DIR names a hashed directory with the root" 0
sys_verify SSL_CERT_FILE="$T/root/ca.pem"
expect "system store: SSL_CERT_FILE names a bundle with the root" 0
# a root of Debian's ca-certificates is found through the hashed directory:
# the chain gets as far as the purpose check (roots carry no serverAuth)
run env -u SSL_CERT_FILE -u SSL_CERT_DIR "$TLSSCOPE" cert verify /etc/ssl/certs/ISRG_Root_X1.pem \
	--insecure-noverifyname
expect "system store: ISRG Root X1 is found in /etc/ssl/certs" 1 "is not for a TLS server"
v "$T/expired.pem" --ca "$T/root/ca.pem" --name www.example.test
expect "expired" 1 "^tlsscope cert verify: certificate for 'www.example.test' expired on 2025-01-01 00:00:00 UTC$"
v "$T/future.pem" --ca "$T/root/ca.pem" --name www.example.test
expect "not yet valid" 1 "certificate for 'www.example.test' is not valid before 20[0-9-]+ [0-9:]+ UTC"
v "$T/future.pem" --ca "$T/root/ca.pem" --name www.example.test --at +11d
expect "not yet valid, verified at a later time" 0
v "$T/www.chain.pem" --ca "$T/root/ca.pem" --name a.example.test
expect "wrong name" 1 "name mismatch: wanted 'a.example.test', certificate is for 'www.example.test', '\*.c.example.test', '127.0.0.1', '::1'"
v "$T/wild.pem" --ca "$T/root/ca.pem" --name one.example.test
expect "a wildcard matches one label" 0
v "$T/wild.pem" --ca "$T/root/ca.pem" --name two.one.example.test
expect "a wildcard does not match two labels" 1 "name mismatch: wanted 'two.one.example.test', certificate is for '\*.example.test'"
v "$T/www.chain.pem" --ca "$T/root/ca.pem" --name 127.0.0.1
expect "an IP address in subjectAltName" 0
v "$T/direct.pem" --ca "$T/root/ca.pem" --name 127.0.0.1
expect "an IP address against a DNS-only certificate" 1 "name mismatch: wanted '127.0.0.1', certificate is for 'direct.example.test'"
v "$T/cn.pem" --ca "$T/root/ca.pem" --name x.example.test
expect "CN-only" 1 "name mismatch: wanted 'x.example.test', certificate has no subjectAltName \(CN 'x.example.test' is not used for name checks\)"
v "$T/forged.pem" --ca "$T/root/ca.pem" --name pypi.python.org
expect "self-signed" 1 "self-signed certificate 'CN=pypi.python.org' is not trusted"
v "$T/fakefull.pem" --ca "$T/root/ca.pem" --name www.example.test
expect "issuer not trusted" 1 "issuer 'CN=Fake Root' is not a trusted certificate authority"
v "$T/www.pem" --ca "$T/root/ca.pem" --name www.example.test
expect "intermediate missing" 1 "the server sent no intermediate certificate: no chain to a trusted root"
v "$T/weak.pem" --ca "$T/root/ca.pem" --name weak.example.test
expect "RSA 1024" 1 "RSA key of 1024 bits is too weak \(at least 2048 required\)"
v "$T/ed.pem" --ca "$T/root/ca.pem" --name ed.example.test
expect "an ed25519 leaf is trusted" 0

# a certificate made by openssl for clients only (extendedKeyUsage clientAuth)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/client.key" \
	-subj /CN=client.example.test -out "$T/client.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:client.example.test\n' >"$T/client.ext"
openssl x509 -req -in "$T/client.csr" -CA "$T/root/ca.pem" -CAkey "$T/root/ca.key" -set_serial 7 \
	-days 30 -extfile "$T/client.ext" -out "$T/client.pem" 2>/dev/null
v "$T/client.pem" --ca "$T/root/ca.pem" --name client.example.test
expect "a client-only certificate is refused for a server" 1 "certificate 'CN=client.example.test' is not for a TLS server \(its extendedKeyUsage lacks serverAuth\)"
v "$T/client.pem" --ca "$T/root/ca.pem" --client
expect "a client-only certificate is fine for a client" 0
v "$T/www.chain.pem" --ca "$T/root/ca.pem" --client
expect "issued leaves are fine for clients too" 0

# a leaf signed by our root with SHA-1 (openssl still signs so on request)
openssl x509 -req -in "$T/client.csr" -CA "$T/root/ca.pem" -CAkey "$T/root/ca.key" -set_serial 8 -sha1 \
	-days 30 -extfile <(printf 'subjectAltName=DNS:sha1.example.test\n') -out "$T/sha1.pem" 2>/dev/null
v "$T/sha1.pem" --ca "$T/root/ca.pem" --name sha1.example.test
expect "a SHA-1 signature" 1 "SHA-1 signature \(ecdsa-with-SHA1\) is too weak \(SHA-256 or better required\)"

# the insecure options waive their check, with a warning
v "$T/forged.pem" --ca "$T/root/ca.pem" --name pypi.python.org --insecure-noverifycert
expect "--insecure-noverifycert accepts a self-signed certificate" 0 "warning: --insecure-noverifycert"
v "$T/forged.pem" --ca "$T/root/ca.pem" --name other.test --insecure-noverifycert
expect "--insecure-noverifycert still checks the name" 1 "name mismatch"
v "$T/expired.pem" --ca "$T/root/ca.pem" --name www.example.test --insecure-noverifytime
expect "--insecure-noverifytime accepts an expired certificate" 0 "accepted although certificate for 'www.example.test' expired"
v "$T/www.chain.pem" --ca "$T/root/ca.pem" --name a.example.test --insecure-noverifyname
expect "--insecure-noverifyname accepts a wrong name" 0 "warning: --insecure-noverifyname"

v "$T/www.chain.pem" --ca "$T/root/ca.pem" --name a.example.test --json
expect "cert verify --json, not trusted" 1
check "cert verify --json is JSON" json_ok
check "cert verify --json has exactly the fields docs/json.md lists" \
	python3 "$TS_ROOT/tests/integration/json_doc.py" "cert verify" 0 <<<"$OUT"
check "cert verify --json has the verdict and the chain" python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["verified"] is False and o["trusted"] is True and o["hostname_match"] is False
assert o["error"].startswith("name mismatch: wanted ")
assert [c["subject"] for c in o["chain"]] == ["CN=www.example.test", "CN=Test Intermediate", "CN=Test Root"]
' "$OUT"

# --- independent checks: other X.509 implementations agree ---------------------
ossl_ok() { openssl verify -x509_strict -auth_level 2 -purpose sslserver -CAfile "$T/root/ca.pem" "$@" >/dev/null 2>&1; }
ossl_refuses() { ! ossl_ok "$@"; }
check "openssl verify -x509_strict accepts the intermediate-issued leaf" \
	ossl_ok -untrusted "$T/inter/ca.pem" -verify_hostname www.example.test "$T/www.pem"
check "openssl verify -x509_strict accepts the root-issued RSA leaf" ossl_ok "$T/direct.pem"
check "openssl verify -x509_strict accepts the ed25519 leaf" ossl_ok "$T/ed.pem"
check "openssl verify -x509_strict accepts the intermediate" ossl_ok "$T/inter/ca.pem"
check "openssl also refuses the expired leaf" ossl_refuses "$T/expired.pem"
check "openssl also refuses the self-signed leaf" ossl_refuses "$T/forged.pem"
check "openssl also refuses the fake root's chain" ossl_refuses -untrusted "$T/fake/ca.pem" "$T/fakewww.pem"
check "openssl also refuses the leaf without its intermediate" ossl_refuses "$T/www.pem"
check "openssl also refuses the RSA-1024 key at level 2" ossl_refuses "$T/weak.pem"
check "openssl also refuses a wrong name" ossl_refuses -untrusted "$T/inter/ca.pem" -verify_hostname a.example.test "$T/www.pem"
run certtool --verify --load-ca-certificate "$T/root/ca.pem" --infile "$T/www.chain.pem" --verify-hostname www.example.test
expect "GnuTLS certtool verifies the chain file and the name" 0
expect_out "GnuTLS says trusted" "The certificate is trusted"

# A real handshake: openssl s_server with the issued chain, curl trusting only our root.
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$T/www.pem" -key "$T/www.key" \
	-cert_chain "$T/inter/ca.pem" -www -quiet >"$T/s_server.log" 2>&1 &
track $!
if wait_port "$port"; then
	run curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$T/root/ca.pem" \
		--resolve "www.example.test:$port:127.0.0.1" "https://www.example.test:$port/"
	expect "curl trusts a server using the issued certificate" 0
	run curl -sS -o /dev/null --max-time 10 --cacert "$T/fake/ca.pem" \
		--resolve "www.example.test:$port:127.0.0.1" "https://www.example.test:$port/"
	expect "curl refuses it with another root" 60
else
	not_ok "openssl s_server did not start"; diag "$(cat "$T/s_server.log")"
fi

# --- bad input: one line on stderr and the right exit code ---------------------
run "$TLSSCOPE" cert show "$T/missing.pem"
expect "show: a missing file" 3 "cannot read certificate file '.*missing\.pem': No such file or directory"
one_line "show: a missing file"
echo "not a certificate" >"$T/notpem.txt"
run "$TLSSCOPE" cert show "$T/notpem.txt"
expect "show: a file that is not PEM" 3 "notpem\.txt' holds no PEM certificate"
run "$TLSSCOPE" cert show "$T/www.key"
expect "show: a key is not a certificate" 3 "holds no PEM certificate"
run "$TLSSCOPE" cert verify "$T/notpem.txt" --ca "$T/root/ca.pem"
expect "verify: a file that is not PEM" 3 "holds no PEM certificate"
run "$TLSSCOPE" cert verify "$T/www.pem" --ca "$T/nope.pem"
expect "verify: a missing CA file" 3 "cannot read CA file '.*nope\.pem'"
run "$TLSSCOPE" cert verify "$T/www.pem" --ca "$T/notpem.txt"
expect "verify: a CA file with no certificate" 3 "notpem\.txt' holds no PEM certificate"
run "$TLSSCOPE" cert verify "$T/www.pem" --at yesterday
expect "verify: a bad time" 2 "bad time 'yesterday'"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/bad" --key rsa:512 bad.example.test
expect "issue: a bad key spec" 2 "unknown key type 'rsa:512'"
check "issue: a bad key spec is one line and a hint" \
	test "$(wc -l <<<"$ERR")" = 2 -a "$(tail -n 1 <<<"$ERR")" = "Try 'tlsscope cert issue --help'."
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/bad" 'bad name'
expect "issue: a bad name" 2 "bad name 'bad name'"
run "$TLSSCOPE" cert issue --ca "$T/nowhere" --out "$T/bad" ok.example.test
expect "issue: a missing CA" 3 "cannot read CA certificate '.*nowhere/ca\.pem'"
run "$TLSSCOPE" cert issue --out "$T/bad" ok.example.test
expect "issue: no CA" 2 "needs --ca DIR"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/bad"
expect "issue: no name" 2 "needs at least one NAME"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/bad" --days many ok.example.test
expect "issue: bad --days" 2 "bad --days 'many'"
run "$TLSSCOPE" cert issue --ca "$T/root" --out "$T/bad" --not-before 2030-01-01 --not-after 2029-01-01 ok.example.test
expect "issue: dates the wrong way round" 2 "later than --not-before"
run "$TLSSCOPE" cert show --frobnicate "$T/www.pem"
expect "an unknown option" 2 "unknown option '--frobnicate'"
run "$TLSSCOPE" cert ca
expect "ca without --dir" 2 "needs --dir DIR"
run "$TLSSCOPE" cert ca --dir
expect "an option without its value" 2 "option '--dir' needs a value"
run "$TLSSCOPE" cert show --name x "$T/www.pem"
expect "an option of another subcommand" 2 "does not apply here"
run "$TLSSCOPE" cert bogus
expect "an unknown subcommand" 2 "unknown subcommand 'bogus'"
run "$TLSSCOPE" cert
expect "no subcommand" 2 "needs a subcommand"
for sub in ca intermediate issue show verify; do
	run "$TLSSCOPE" cert "$sub" --help
	expect "cert $sub --help" 0
	expect_out "cert $sub --help shows its usage" "^usage: tlsscope cert $sub"
done
run "$TLSSCOPE" cert --help
expect "cert --help" 0
run "$TLSSCOPE" --help
expect_out "the command list has cert" "^  cert "

echo "1..$TS_N"
