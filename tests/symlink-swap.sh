#!/bin/sh
# Issue 9, second finding: a layer directory replaced by a symlink while the
# run is in progress must not change what the snapshot holds.
#
# Method.  The race is won deterministically by an LD_PRELOAD shim
# (tests/swapshim.c, built as tests/swapshim.so): the first time the run
# opens a regular file beneath the chosen layer's root (the tar stream is
# being read, through descriptors, and hashed against the DiffID), the shim
# renames a directory on the path to that root away and puts a symlink to an
# attacker's tree in its place:
#   overlay2: overlay2/<cache-id> -> a copy of it (the layer's own diff/ below)
#   vfs:      vfs/dir             -> a copy of it (every layer's directory)
# The attacker's copy has one more file, a root-owned setuid
# dm-swapped-setuid in the chosen layer's root, and the first byte of every
# other regular file there changed.  What was already open keeps
# the real tree; whatever is looked up by path afterwards gets the attacker's.
# The layer is one in the middle of a chain with file data
# (tests/lib-store.sh: store_pick_layer).
#
# Judged: the run exits 0; the shim did swap (its log, else the test did not
# test anything); no snapshot holds dm-swapped-setuid; and every snapshot
# lists (fixtures/fixtool tree) exactly as the same snapshot of a reference
# run on an untouched copy of the store without the shim (--jobs 1 in both,
# so snapshot ids are given in the same order).  Today the second pass copies
# the layer directory again by path, after the swap, and so takes the
# attacker's tree.
#
# Needs root (an exact store); no daemon.  An ASan build gets
# ASAN_OPTIONS=verify_asan_link_order=0 (the shim comes first).
# Standalone: DM=src/dockerd-migrate sh tests/symlink-swap.sh [overlay2|vfs...]
# (after `make tests/swapshim.so`).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-store.sh"
store_need_root
shim=$top_builddir/tests/swapshim.so
[ -r "$shim" ] || { echo "skip: no $shim (make tests/swapshim.so)"; exit 77; }

evil=dm-swapped-setuid
[ $# -gt 0 ] || set -- overlay2 vfs
for driver in "$@"; do
	archive=$top_srcdir/fixtures/$driver-store.tar.xz
	ref=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$archive" "$tmp/ref-store-$driver") || fail "extract $driver"
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$archive" "$tmp/store-$driver") || fail "extract $driver"
	chain=$(store_pick_layer "$store" "$driver") || fail "$driver: no layer to race on"
	trigger=$(store_layer_dir "$store" "$driver" "$chain") || fail "$driver: no directory for layer $chain"
	case $driver in
	overlay2) swap=$(store_cache_dir "$store" "$driver" "$chain") ;;
	*) swap=$store/vfs/dir ;;
	esac
	attacker=$tmp/attacker-$driver
	cp -a "$swap" "$attacker" || fail "$driver: copying $swap"
	planted=$attacker${trigger#"$swap"}/$evil
	find "${planted%/*}" -type f -size +0 -exec sh -c \
		'for f; do printf Z | dd of="$f" conv=notrunc status=none || exit 1; done' sh {} + ||
		fail "$driver: changing the attacker's files"
	printf '#!/bin/sh\necho from the attacker\n' > "$planted" &&
		chown 0:0 "$planted" && chmod 4755 "$planted" || fail "$driver: planting $planted"

	"$DM" run --docker-root "$ref" --containerd-root "$tmp/ref-root-$driver" --jobs 1 > "$tmp/out" 2> "$tmp/err" ||
		fail "$driver: the reference run (no shim) failed"
	snapshot_listing "$tmp/ref-root-$driver" > "$tmp/want" || fail "$driver: listing the reference snapshots"

	log=$tmp/swap-$driver.log
	env LD_PRELOAD="$shim" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		DM_SWAP_TRIGGER="$trigger" DM_SWAP_DIR="$swap" DM_SWAP_TO="$attacker" DM_SWAP_LOG="$log" \
		"$DM" run --docker-root "$store" --containerd-root "$tmp/root-$driver" --jobs 1 > "$tmp/out" 2> "$tmp/err"
	rc=$?
	echo "$driver: layer sha256:$chain; run with the shim exited $rc"
	grep -q '^swapped for a symlink' "$log" 2>/dev/null ||
		fail "$driver: the shim never swapped $swap (${log}: $(cat "$log" 2>/dev/null)): nothing was tested"
	echo "$driver: $(cat "$log")"
	find "$tmp/root-$driver"/io.containerd.snapshotter.v1.* -name "$evil" > "$tmp/found" 2>/dev/null
	if [ -s "$tmp/found" ]; then
		sed 's/^/  in a snapshot: /' "$tmp/found" >&2
		fail "$driver: the attacker's file reached a snapshot through the swapped $swap"
	fi
	[ "$rc" -eq 0 ] || fail "$driver: run with $swap swapped during the run exited $rc, want 0"
	snapshot_listing "$tmp/root-$driver" > "$tmp/got" || fail "$driver: listing the snapshots"
	if ! diff -u "$tmp/want" "$tmp/got" > "$tmp/diff"; then
		head -n 40 "$tmp/diff" >&2
		fail "$driver: the snapshots differ from those of a run without the swap"
	fi
	echo "ok   $driver: the swap during the run changed no snapshot ($(wc -l < "$tmp/got") entries)"
	rm -rf "$tmp/ref-store-$driver" "$tmp/store-$driver" "$attacker" "$tmp/ref-root-$driver" "$tmp/root-$driver"
done
exit 0
