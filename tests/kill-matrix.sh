#!/bin/sh
# Issue 13's SIGKILL matrix: `dockerd-migrate run` killed at POINTS points
# spread evenly over the bytes it writes, offline and online, each followed
# by a rerun on the same root.  A full run is measured first (write_bytes);
# point k of N kills a run once its /proc/PID/io write_bytes passes
# (2k-1)/2N of that (tests/kill-at.py polls it every 2 ms).  After each kill:
#  - offline, containerd 1.6.20 starts on what the killed run left and every
#    image it lists is complete (no record points at a partial file);
#  - the rerun exits 0 or 7;
#  - boltcheck -mutate passes meta.db and the snapshotter's metadata.db;
#  - containerd 1.6.20 on the root: ctr images check says every image is
#    complete and unpacked, every blob reads back with its digest, every
#    image's top snapshot is there and committed, no ingest (ctr content
#    active), lease or extract- snapshot is left, and offline no new-*
#    directory under the snapshotter's snapshots/;
#  - the Docker root is byte-identical (names, sizes, modes, owners, mtimes,
#    and the sha256 of every file).
# One line per point: bytes at the kill, what the rerun did.
#
# DM_KILL_STORE=fixture (default: the overlay2 fixture store) or fresh: a
# store made here by dockerd 20.10 (tests/lib-bench.sh: a 64 MiB base image
# and 12 images adding a 12 MiB layer each, 14 layers, 208 MiB of random
# bytes).  DM_KILL_POINTS: points per mode (default 5).  make check runs the
# default; make check-kill runs DM_KILL_STORE=fresh DM_KILL_POINTS=20.
# Root, the daemons, golang-go and golang-github-coreos-bbolt-dev; else 77.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-bench.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
. "$top_srcdir/tests/lib-boltcheck.sh"
dm_need_daemons || exit 77
dm_need_boltcheck "$tmp/boltcheck"
POINTS=${DM_KILL_POINTS:-5}
STORE=${DM_KILL_STORE:-fixture}

trap 'dm_containerd_stop 2>/dev/null; dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp";
	chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

case $STORE in
fixture)
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") || fail "extract the fixture store"
	;;
fresh)
	dm_bench_store "$tmp/fresh" 64 200 12 12 || fail "no store"
	store=$DM_BENCH_STORE
	;;
*) fail "DM_KILL_STORE=$STORE: fixture or fresh" ;;
esac
sn=overlayfs
meta=io.containerd.metadata.v1.bolt/meta.db
snapdir=io.containerd.snapshotter.v1.$sn

source_state() {
	find "$store" -printf '%p %s %m %U:%G %T@\n' | sort
	find "$store" -type f -exec sha256sum {} + | sort
}
source_state > "$tmp/source-before"

# ka_bytes: the bytes the run had written, from kill-at.py's line in $tmp/ka.
ka_bytes() { awk '{ print $NF }' "$tmp/ka"; }

# run_dm MODE ROOT THRESHOLD: a run of MODE (offline into ROOT, online into
# the containerd running on it) under kill-at.py; its report in $tmp/run.json.
run_dm() {
	case $1 in
	offline) set -- "$3" --containerd-root "$2" ;;
	online) set -- "$3" --containerd-address "$DM_CONTAINERD_SOCK" ;;
	esac
	at=$1
	shift
	python3 "$top_srcdir/tests/kill-at.py" "$at" "$tmp/ka" \
		"$DM" run --docker-root "$store" --json "$@" > "$tmp/run.json" 2> "$tmp/run.err" ||
		fail "kill-at.py"
}

# boltcheck_root ROOT WHAT: bbolt's check, read-only and on a written copy, of both files.
boltcheck_root() {
	"$DM_BOLTCHECK" -mutate "$1/$meta" "$1/$snapdir/metadata.db" > "$tmp/bc.out" 2>&1 ||
		{ cat "$tmp/bc.out" >&2; fail "$2: boltcheck -mutate"; }
}

# check_running ROOT WHAT: the checks made through the containerd running on ROOT.
check_running() {
	dm_check_complete "$sn" "$2"
	dm_check_blobs "$2"
	dm_check_top_snapshots "$store" "$sn" "$2"
	dm_check_nothing_in_flight "$sn" "$2"
}

for mode in offline online; do
	# A full run: how many bytes it writes.
	root=$tmp/full-$mode
	[ "$mode" = offline ] || dm_containerd_start "$root" || fail "containerd did not start"
	run_dm "$mode" "$root" 0
	read -r what rc total < "$tmp/ka"
	[ "$what" = exited ] && [ "$rc" -eq 0 ] || { cat "$tmp/run.err" >&2; fail "$mode: a full run: $what $rc"; }
	[ "$mode" = offline ] || dm_containerd_stop
	rm -rf "$root"
	echo "$mode: a full run writes $total bytes; $POINTS kill points"

	k=1
	while [ "$k" -le "$POINTS" ]; do
		what="$mode point $k/$POINTS"
		at=$((total * (2 * k - 1) / (2 * POINTS)))
		root=$tmp/root-$mode-$k
		[ "$mode" = offline ] || dm_containerd_start "$root" || fail "$what: containerd did not start"
		run_dm "$mode" "$root" "$at"
		if grep -q '^killed' "$tmp/ka"; then
			killed="killed at $(ka_bytes) bytes (target $at)"
		else
			killed="not killed: $(cat "$tmp/ka") before $at bytes"
		fi
		if [ "$mode" = offline ] && [ -e "$root/$meta" ]; then
			# containerd on what the killed run left: whatever it lists is complete.
			dm_containerd_start "$root" || fail "$what: containerd did not start on the killed root"
			dm_check_complete "$sn" "$what, before the rerun"
			dm_containerd_stop
		fi
		run_dm "$mode" "$root" 0
		read -r _ rc _ < "$tmp/ka"
		[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || { cat "$tmp/run.err" >&2; fail "$what: the rerun exited $rc"; }
		did=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]
print("layers %d migrated, %d existed; images %d migrated, %d existed" % (s["layers_migrated"],
      s["layers_existed"], s["images_migrated"], s["images_existed"]))' "$tmp/run.json") ||
			fail "$what: the rerun's report"
		if [ "$mode" = offline ]; then
			left=$(find "$root/$snapdir/snapshots" -mindepth 1 -maxdepth 1 -name 'new-*')
			[ -z "$left" ] || fail "$what: temporary snapshots left: $left"
			boltcheck_root "$root" "$what"
			dm_containerd_start "$root" || fail "$what: containerd did not start after the rerun"
		fi
		check_running "$root" "$what"
		dm_containerd_stop
		[ "$mode" = offline ] || boltcheck_root "$root" "$what"
		source_state > "$tmp/source-after"
		cmp -s "$tmp/source-before" "$tmp/source-after" ||
			{ diff "$tmp/source-before" "$tmp/source-after" | head >&2; fail "$what: the Docker root changed"; }
		echo "$what: $killed; rerun exit $rc: $did"
		rm -rf "$root"
		k=$((k + 1))
	done
done
exit 0
