#!/usr/bin/env bash
# `make demo` (scripts/demo) runs to the end against the command under test,
# and its probe part shows what it says: a trusted server in text, the forged
# one in JSON, SMTP STARTTLS, and the injection refused.
. "$(dirname "$0")/lib.sh"

TS_RUN_TIMEOUT=600 run "$TS_ROOT/scripts/demo" "$TLSSCOPE"
expect "the demo runs to the end" 0
expect_out "probe shop.test: the text report, trusted" "^  verdict \.+ trusted$"
expect_out "probe shop.test: the built chain up to the demo root" "-> CN=Demo Root CA \(trusted root\)$"
line=$(grep '^{"command":"probe"' <<<"$OUT" | head -1)
check "probe of the forged server: one JSON object, untrusted, self-signed" \
	jtrue '.result == "untrusted" and .verification.trusted == false and (.verification.error | test("self-signed"))
		and .target.name == "pypi.python.org" and .protocol != null' <<<"$line"
expect_out "probe through SMTP STARTTLS: the upgrade accepted" "^starttls \.+ smtp \(upgrade accepted\)$"
expect_out "probe through SMTP STARTTLS: the injection refused" "plaintext injection attempt"

echo "1..$TS_N"
