#!/bin/sh
# A run refused for want of space (exit 5, nothing written) says so in one
# line and nothing else: no "digest reference ... kept as a label" lines
# for images it never wrote.  The store is make-broken.sh's size-huge with
# each layer's size file at 2^60 (the bytes needed, some 7 EiB, do not
# wrap).  Unprivileged (the native snapshotter).
set -u
. "$top_srcdir/tests/lib-test.sh"

sh "$top_srcdir/fixtures/make-broken.sh" "$tmp/fx" >/dev/null || fail "make-broken.sh"
store=$tmp/fx/size-huge
for f in "$store"/image/overlay2/layerdb/sha256/*/size; do
	printf 1152921504606846976 >"$f"
done

expect_rc 5 "$DM" run --docker-root "$store" --containerd-root "$tmp/ctr" --snapshotter native
grep -q "^dockerd-migrate: error: $tmp/ctr: not enough free space: the migration needs up to [0-9]* bytes" \
	"$tmp/err" || fail "run: no free-space refusal"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "run: more than the one error line"
[ ! -s "$tmp/out" ] || fail "run wrote to stdout"
exit 0
