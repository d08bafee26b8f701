#!/bin/sh
# Runs the libFuzzer build of tests/fuzz_bolt.c (`make fuzz`) for SECONDS
# (default 600) on the seed corpus: tests/fuzz-corpus plus the files real
# containerd wrote.  New inputs go to a scratch corpus; crashes are written
# to tests/fuzz-artifacts/ in the build directory.  Small reproducers worth
# keeping belong in tests/fuzz-corpus, where make check replays them.
#   usage: tests/fuzz-bolt.sh FUZZ_BINARY SRCDIR [SECONDS]
# The seeds are small valid files with 1 KiB pages (a few are 4 KiB), made
# with tests/bolttool: valid-empty-* by `gen F 0 PAGESIZE 0`, valid-gen2-1k
# by `gen F 2 1024 2`, valid-ctrd-1k by puts in containerd's layout, and
# valid-branch-1k by 60 puts, a 1500-byte value and 20 deletes (branch and
# overflow pages, free pages); make check asserts they pass the checker.
set -eu
fuzz=${1:?usage: fuzz-bolt.sh FUZZ_BINARY SRCDIR [SECONDS]}
src=${2:?usage: fuzz-bolt.sh FUZZ_BINARY SRCDIR [SECONDS]}
seconds=${3:-600}
work=$(mktemp -d "${TMPDIR:-/tmp}/dm-fuzz-bolt.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/seeds" tests/fuzz-artifacts
cp "$src"/tests/fuzz-corpus/* "$src"/fixtures/containerd/*.db "$work/seeds/"
rc=0
"$fuzz" -max_total_time="$seconds" -max_len=140000 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix=tests/fuzz-artifacts/ -print_final_stats=1 "$work/corpus" "$work/seeds" \
	>"$work/log" 2>&1 || rc=$?
grep -E 'stat::|ERROR|SUMMARY|runtime error|artifact_prefix|Done' "$work/log" || true
exit "$rc"
