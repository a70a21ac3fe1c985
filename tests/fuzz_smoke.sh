#!/usr/bin/env bash
# tests/fuzz_smoke.sh TARGET SEEDS: replays the seed corpus, then fuzzes briefly
# (TS_FUZZ_SECONDS, default 20) from it, under the sanitizers the target was
# built with.  New inputs go to a scratch directory, never into the repository.
set -u
target=$1 seeds=$2
[ -d "$seeds" ] || { echo "not ok - no seed corpus at $seeds"; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if "$target" -runs=0 "$seeds" >"$scratch/replay.log" 2>&1; then
	echo "ok - $(basename "$target") replays $(ls "$seeds" | wc -l) seeds"
else
	echo "not ok - $(basename "$target") fails on a seed"; tail -30 "$scratch/replay.log"; exit 1
fi
if "$target" -max_total_time="${TS_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -timeout=10 \
	-artifact_prefix="$scratch/" "$scratch" "$seeds" >"$scratch/fuzz.log" 2>&1; then
	echo "ok - $(basename "$target") fuzzed for ${TS_FUZZ_SECONDS:-20}s: $(grep -o 'cov: [0-9]*' "$scratch/fuzz.log" | tail -1)"
else
	echo "not ok - $(basename "$target") found a crash"; tail -40 "$scratch/fuzz.log"
	for a in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-*; do
		[ -f "$a" ] && { echo "input: $a"; od -An -tx1 "$a" | head -8; }
	done
	exit 1
fi
