#!/usr/bin/env bash
# make demo: scripts/demo runs to the end with the command under test, and
# shows what the README promises: connect trusting the local CA succeeds
# against the good certificate and refuses the forged one, saying why, and
# every server stops cleanly.
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
echo "1..$TS_N"
