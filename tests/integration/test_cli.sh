#!/usr/bin/env bash
# The command's front door: help, version, unknown commands.
. "$(dirname "$0")/lib.sh"

run "$TLSSCOPE" --help
expect "--help exits 0" 0
expect_out "--help lists the commands" "version"

run "$TLSSCOPE" version
expect "version exits 0" 0
expect_out "version names OpenSSL" "OpenSSL 3"
expect_out "version opens libpcap when asked" "libpcap version 1"
expect_out "version opens libcurl when asked" "libcurl/"

# libpcap, libcurl and libxml2 are opened on first use (lib/dynlib.c): linked,
# they and the forty libraries they pull in would slow every command's start.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
links_lazily() {
	local n
	n=$(needed "$1")
	diag "$1 needs: $n"
	[[ $n == *libcrypto* && $n != *libpcap* && $n != *libcurl* && $n != *libxml2* ]]
}
check "the command does not link libpcap, libcurl or libxml2" links_lazily "$TLSSCOPE"
check "the library does not link them either" \
	links_lazily "$(dirname "$TLSSCOPE")/../lib/libtlsscope.so"

run "$TLSSCOPE"
expect "no command is a usage error" 2

run "$TLSSCOPE" no-such-command
expect "an unknown command is a usage error" 2 "unknown command 'no-such-command'"

run "$TLSSCOPE" version extra
expect "version takes no arguments" 2 "takes no arguments"
echo "1..$TS_N"
