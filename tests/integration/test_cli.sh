#!/usr/bin/env bash
# The command's front door: help, version, unknown commands.
. "$(dirname "$0")/lib.sh"

run "$TLSSCOPE" --help
expect "--help exits 0" 0
expect_out "--help lists the commands" "version"

run "$TLSSCOPE" version
expect "version exits 0" 0
expect_out "version names OpenSSL" "OpenSSL 3"

run "$TLSSCOPE"
expect "no command is a usage error" 2

run "$TLSSCOPE" no-such-command
expect "an unknown command is a usage error" 2 "unknown command 'no-such-command'"

run "$TLSSCOPE" version extra
expect "version takes no arguments" 2 "takes no arguments"
echo "1..$TS_N"
