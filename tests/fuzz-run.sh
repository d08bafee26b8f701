#!/bin/sh
# Runs one libFuzzer build of a fuzz target (`make fuzz`) on its seeds,
# tests/fuzz-corpus/TARGET (for bolt also the files real containerd wrote),
# for RUNS executions, or SECONDS when RUNS is empty or 0.  New inputs go to
# a scratch corpus; crashes are written to tests/fuzz-artifacts/ in the
# build directory.  Small reproducers worth keeping belong in the target's
# corpus directory, where make check replays them.
#   usage: tests/fuzz-run.sh FUZZ_BINARY TARGET SRCDIR [RUNS [SECONDS]]
# The bolt seeds are small valid files with 1 KiB pages (a few are 4 KiB),
# made with tests/bolttool: valid-empty-* by `gen F 0 PAGESIZE 0`,
# valid-gen2-1k by `gen F 2 1024 2`, valid-ctrd-1k by puts in containerd's
# layout, and valid-branch-1k by 60 puts, a 1500-byte value and 20 deletes
# (branch and overflow pages, free pages); make check asserts they pass the
# checker.  tests/fuzz-corpus/README says where the other seeds come from.
set -eu
usage='usage: fuzz-run.sh FUZZ_BINARY TARGET SRCDIR [RUNS [SECONDS]]'
fuzz=${1:?$usage}
target=${2:?$usage}
src=${3:?$usage}
runs=${4:-}
seconds=${5:-600}
work=$(mktemp -d "${TMPDIR:-/tmp}/dm-fuzz-$target.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/seeds" tests/fuzz-artifacts
cp "$src/tests/fuzz-corpus/$target"/* "$work/seeds/"
[ "$target" != bolt ] || cp "$src"/fixtures/containerd/*.db "$work/seeds/"
case $runs in
''|0) limit=-max_total_time=$seconds ;;
*) limit=-runs=$runs ;;
esac
rc=0
"$fuzz" "$limit" -max_len=140000 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="tests/fuzz-artifacts/$target-" -print_final_stats=1 "$work/corpus" "$work/seeds" \
	>"$work/log" 2>&1 || rc=$?
echo "fuzz $target:"
grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|runtime error|broken promise|Test unit written|Done' \
	"$work/log" || true
[ "$rc" -eq 0 ] || tail -n 60 "$work/log"
exit "$rc"
