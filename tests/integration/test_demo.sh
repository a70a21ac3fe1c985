#!/usr/bin/env bash
# make demo: scripts/demo runs to the end with the command under test, and
# shows what the README promises: connect trusting the local CA succeeds
# against the good certificate and refuses the forged one, saying why, every
# server stops cleanly; its probe part shows a trusted server in text, the
# forged one in JSON, SMTP STARTTLS, and the injection refused.
. "$(dirname "$0")/lib.sh"

TS_RUN_TIMEOUT=900 run "$TS_ROOT/scripts/demo" "$TLSSCOPE"
expect "scripts/demo exits 0" 0
check "no sanitizer report in the demo's output" \
	eval '! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$OUT$ERR"'
expect_out "connect to the good server: verified" "^verified \.+ yes: trusted chain, name 'shop\.test' matches$"
expect_out "the line came back through the echo server" "^echoed back: hello over TLS$"
expect_out "connect to the forged pypi.python.org: refused, with the reason" \
	"^verified \.+ no: self-signed certificate 'CN=pypi\.python\.org' is not trusted$"
expect_out "... and exit status 1" "^exit status 1 \(1: the TLS check failed"
expect_out "serve logged the forged connection's refusal" "sni=pypi\.python\.org .* alert 'unknown CA'$"
check "both servers of the first part exited 0" [ "$(grep -c '^serve (pid [0-9]*) exited 0$' <<<"$OUT")" -eq 2 ]

expect_out "probe shop.test: the text report, trusted" "^  verdict \.+ trusted$"
expect_out "probe shop.test: the built chain up to the demo root" "-> CN=Demo Root CA \(trusted root\)$"
line=$(grep '^{"command":"probe"' <<<"$OUT" | head -1)
check "probe of the forged server: one JSON object, untrusted, self-signed" \
	jtrue '.result == "untrusted" and .verification.trusted == false and (.verification.error | test("self-signed"))
		and .target.name == "pypi.python.org" and .protocol != null' <<<"$line"
expect_out "probe through SMTP STARTTLS: the upgrade accepted" "^starttls \.+ smtp \(upgrade accepted\)$"
expect_out "probe through SMTP STARTTLS: the injection refused" "plaintext injection attempt"

echo "1..$TS_N"
