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

# A library that cannot be loaded fails the one command that needs it, with
# one line naming it; the others do not notice.  (A private mount namespace
# puts another file over the library file: /dev/null, or a library without
# the functions wanted.)
libfile() { realpath "$(ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }')"; }
replaced() { # replaced LIB FILE COMMAND...: run COMMAND with FILE in LIB's place
	local lib
	lib=$(libfile "$1")
	local by=$2
	shift 2
	run unshare -rm sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$by" "$lib" "$@"
}
without() { replaced "$1" /dev/null "${@:2}"; }
without libcurl.so.4 "$TLSSCOPE" version
expect "libcurl missing: version still runs" 0
expect_out "libcurl missing: version says why" "^  cannot load libcurl\.so\.4: .*file too short$"
without libcurl.so.4 "$TLSSCOPE" catalog https://127.0.0.1:1/
expect "libcurl missing: catalog fails with one line" 3 "^tlsscope catalog: cannot load libcurl\.so\.4: "
CAPTURE="$TS_ROOT/tests/data/captures/ja4/tls-non-ascii-alpn.pcapng"
without libpcap.so.0.8 "$TLSSCOPE" observe "$CAPTURE" --filter 'tcp port 443'
expect "libpcap missing: a filter fails with one line" 3 "^tlsscope observe: cannot load libpcap\.so\.0\.8: "
without libpcap.so.0.8 "$TLSSCOPE" observe "$CAPTURE"
expect "libpcap missing: a capture file is read without it" 0
replaced libpcap.so.0.8 "$(libfile libz.so.1)" "$TLSSCOPE" observe "$CAPTURE" --filter 'tcp port 443'
expect "libpcap without its functions: a filter fails with one line" 3 \
	"^tlsscope observe: libpcap\.so\.0\.8 has no function pcap_[a-z_]+$"
without libxml2.so.2 "$TLSSCOPE" catalog https://127.0.0.1:1/
expect "libxml2 missing: catalog fails with one line" 3 "^tlsscope catalog: cannot load libxml2\.so\.2: "

run "$TLSSCOPE"
expect "no command is a usage error" 2

run "$TLSSCOPE" no-such-command
expect "an unknown command is a usage error" 2 "unknown command 'no-such-command'"

run "$TLSSCOPE" version extra
expect "version takes no arguments" 2 "takes no arguments"
# Documentation: the man page names every option each of these commands
# lists in its --help, and the README's set-up is the two commands.
MAN="$TS_ROOT/docs/tlsscope.1"
for cmd in "cert ca" "cert intermediate" "cert issue" "cert show" "cert verify" connect serve; do
	# shellcheck disable=SC2086
	opts=$("$TLSSCOPE" $cmd --help | grep -oE -- '(^|[ ,[(])--[a-z0-9][a-z0-9.-]*' | grep -oE -- '--.*' | sort -u)
	missing=()
	for o in $opts; do
		[ "$o" = --help ] || grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$MAN" || missing+=("$o")
	done
	check "the man page documents every option of '$cmd' ($(wc -w <<<"$opts") in --help)" \
		[ -n "$opts" -a ${#missing[@]} -eq 0 ]
	[ ${#missing[@]} -eq 0 ] || diag "missing from docs/tlsscope.1: ${missing[*]}"
done
check "the README's set-up is exactly 'make demo' and 'make check'" python3 -c '
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"## Set-up[^\n]*\n+```sh\n(.*?)```", text, re.S).group(1)
cmds = [l.split("#")[0].strip() for l in block.splitlines() if l.split("#")[0].strip()]
assert cmds == ["make demo", "make check"], cmds
' "$TS_ROOT/README.md"
echo "1..$TS_N"
