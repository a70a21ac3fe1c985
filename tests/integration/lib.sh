# Shared helpers for integration tests: source it from tests/integration/test_*.sh.
#
# Each test script speaks TAP: `ok "description"` / `not_ok "description"` and
# the check helpers below print one line each.  Every process a test starts is
# registered with `track PID` and stopped by that PID when the script exits,
# pass or fail.  Servers listen on 127.0.0.1 only, on free ports picked at run
# time.  $TLSSCOPE is the command under test, $TS_ROOT the source tree.
set -u
: "${TLSSCOPE:?set TLSSCOPE to the tlsscope binary}"
: "${TS_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
TS_TMP=$(mktemp -d /tmp/tlsscope-it.XXXXXX)
TS_PIDS=()
TS_N=0

track() { TS_PIDS+=("$1"); }

ts_cleanup() {
	local pid
	for pid in "${TS_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${TS_PIDS[@]}"; do
		# give each a moment, then insist
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "${TS_KEEP:-}" ] || rm -rf "$TS_TMP"
}
trap ts_cleanup EXIT
trap 'exit 130' INT TERM

ok() { TS_N=$((TS_N + 1)); echo "ok $TS_N - $*"; }
not_ok() { TS_N=$((TS_N + 1)); echo "not ok $TS_N - $*"; }
diag() { echo "# $*"; }

# free_port: prints a TCP port on 127.0.0.1 that nobody listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: waits until something accepts on 127.0.0.1:PORT.
wait_port() {
	local port=$1 limit=${2:-10} i
	for ((i = 0; i < limit * 20; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# capture_sync PCAP PORT: waits until a tcpdump writing PCAP (with -U) has
# caught up with everything sent to 127.0.0.1:PORT so far.  It opens and
# closes one last TCP connection from a port it chose and waits (at most 30 s)
# until that connection's SYN is in the file: tcpdump writes in order, so
# every earlier packet is there too.
capture_sync() {
	local pcap=$1 port=$2 mark
	mark=$(python3 -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
try: s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError: pass
s.close()' "$port")
	for _ in $(seq 150); do
		tcpdump -r "$pcap" "src port $mark and tcp[tcpflags] & tcp-syn != 0" 2>/dev/null | grep -q . && return 0
		sleep 0.2
	done
	return 1
}

# run CMD...: runs a command with a time limit, keeping its exit code in $RC,
# its stdout in $OUT and its stderr in $ERR.
run() {
	local o="$TS_TMP/out.$$" e="$TS_TMP/err.$$"
	timeout --kill-after=5 "${TS_RUN_TIMEOUT:-60}" "$@" >"$o" 2>"$e" </dev/null
	RC=$?
	OUT=$(cat "$o")
	ERR=$(cat "$e")
}

# expect DESC WANT_RC [PATTERN_IN_STDERR]: checks the last `run`.
expect() {
	local desc=$1 want=$2 pat=${3:-}
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' <<<"$ERR"; then
		not_ok "$desc (sanitizer report)"
		diag "stderr: ${ERR:0:1500}"
	elif [ "$RC" -ne "$want" ]; then
		not_ok "$desc (exit $RC, wanted $want)"
		diag "stderr: ${ERR:0:600}"
		diag "stdout: ${OUT:0:600}"
	elif [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$ERR"; then
		not_ok "$desc (stderr lacks /$pat/)"
		diag "stderr: ${ERR:0:600}"
	else
		ok "$desc"
	fi
}

# expect_out DESC PATTERN: the last run's stdout matches the pattern.
expect_out() {
	if grep -qE -- "$2" <<<"$OUT"; then ok "$1"; else not_ok "$1 (stdout lacks /$2/)"; diag "stdout: ${OUT:0:800}"; fi
}

# check DESC COMMAND...: ok when the command succeeds.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# one_line DESC: ok when the last run's stderr is exactly one line (after an
# `expect` with a pattern, which fails on an empty stderr).
one_line() { check "$1: one line on stderr" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]; }

# Under the sanitizers a leak or error makes a command exit 1, which an expected
# exit code of 1 would hide: `expect` therefore also fails on any sanitizer
# report in $ERR.

# jtrue FILTER [JQ OPTIONS...] <<<"$JSON": succeeds when FILTER is true of the
# JSON read.  Unlike `jq -e`, which jq 1.6 lets pass on empty input, no input
# or bad JSON fails.
jtrue() {
	local filter=$1; shift
	jq -ne "$@" "input | ($filter)" >/dev/null 2>&1
}
