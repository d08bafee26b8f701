#!/bin/sh
# bbolt itself judges what lib/bolt writes.  Builds boltcheck (tests/boltcheck.go:
# bbolt's Tx.Check plus page-id checks; -mutate also writes to a copy with
# bbolt and checks again) from Debian's Go toolchain and bbolt sources, then
# runs it on every database the other bolt tests left in $DM_BOLT_KEEP_DIR
# (test_bolt, bolt-crash, containerd-bolt), on files bolttool generates here,
# and on the fuzz seeds.  For each file bbolt's dump must also equal ours.
# Skips (77) without golang-go or golang-github-coreos-bbolt-dev.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
keep=${DM_BOLT_KEEP_DIR:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-boltcheck.XXXXXX")
# The kept files are consumed here, whatever the outcome.
trap 'rm -rf "$tmp"; [ -z "$keep" ] || rm -rf "$keep"' EXIT
. "$top_srcdir/tests/lib-boltcheck.sh"
if ! dm_boltcheck_have; then
	echo "SKIP: needs golang-go and golang-github-coreos-bbolt-dev"
	exit 77
fi
tool=$top_builddir/tests/bolttool
dm_boltcheck_build "$tmp"
boltcheck=$DM_BOLTCHECK

mkdir "$tmp/files"
for ps in 1024 4096 16384; do
	for seed in 1 2 3; do
		"$tool" gen "$tmp/files/gen-$seed-$ps.db" "$seed" "$ps" 40
	done
done
cp "$top_srcdir"/tests/fuzz-corpus/bolt/valid-* "$tmp/files/"
if [ -n "$keep" ] && [ -d "$keep" ]; then
	cp "$keep"/* "$tmp/files/"
fi

n=0
for f in "$tmp"/files/*; do
	if ! "$boltcheck" -dump "$f" >"$tmp/theirs"; then
		tail -n 1 "$tmp/theirs"
		exit 1
	fi
	sed -i '$d' "$tmp/theirs" # boltcheck's verdict line
	"$tool" dump "$f" >"$tmp/ours"
	if ! cmp -s "$tmp/theirs" "$tmp/ours"; then
		echo "FAIL $f: bbolt and lib/bolt read different contents:"
		diff -u "$tmp/theirs" "$tmp/ours" | head -20
		exit 1
	fi
	n=$((n + 1))
done
# -mutate checks read-only first, then writes to a copy with bbolt.
if ! "$boltcheck" -mutate "$tmp"/files/* >"$tmp/mutate.out"; then
	grep -v '^ok ' "$tmp/mutate.out"
	exit 1
fi
echo "boltcheck: $n files pass bbolt's check and -mutate, and bbolt reads what we read"
