#!/bin/sh
# run --containers killed with SIGKILL (issue 11), offline and online: the
# images of the overlay2 fixture store are migrated first, then a
# --containers run is killed at POINTS points spread over the bytes it
# writes (tests/kill-at.py), and rerun.  After each kill, containerd 1.6.20
# on what was left: a container whose config.v2.json names the snapshotter
# has both its snapshots (<ID>-init committed, <ID> active) and its lease.
# After the rerun: every container migrated (config rewritten, the original
# kept byte for byte as config.v2.json.dockerd-migrate), exactly the
# snapshots <ID>-init and <ID> and the lease <ID> per container, no lease of
# a run left, no new-* directory (offline).  DM_KILL_POINTS (default 4).
# Root and the daemons; else 77.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons || exit 77
POINTS=${DM_KILL_POINTS:-4}
sn=overlayfs
snapdir=io.containerd.snapshotter.v1.$sn

trap 'dm_containerd_stop 2>/dev/null; dm_umount_under "$tmp"; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

pristine=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
	"$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/pristine") || fail "extract the fixture store"
ids=$(ls "$pristine/image/overlay2/layerdb/mounts")
[ "$(echo "$ids" | wc -l)" -eq 2 ] || fail "want the fixture's 2 containers"
# The images alone, once: every point starts from a copy of this root.
expect_rc 0 "$DM" run --docker-root "$pristine" --containerd-root "$tmp/images-root"

# fresh NAME: a copy of the store and of the root with the images, as $store and $root.
fresh() {
	rm -rf "$tmp/$1-store" "$tmp/$1-root"
	cp -a "$pristine" "$tmp/$1-store" && cp -a "$tmp/images-root" "$tmp/$1-root" || fail "copies"
	store=$tmp/$1-store root=$tmp/$1-root
}

# run_dm MODE THRESHOLD: run --containers (offline into $root, online into the containerd on it).
run_dm() {
	case $1 in
	offline) set -- "$2" --containerd-root "$root" ;;
	online) set -- "$2" --containerd-address "$DM_CONTAINERD_SOCK" ;;
	esac
	ka_at=$1
	shift
	python3 "$top_srcdir/tests/kill-at.py" "$ka_at" "$tmp/ka" \
		"$DM" run --docker-root "$store" --containers --json "$@" > "$tmp/run.json" 2> "$tmp/run.err" ||
		fail "kill-at.py"
}

migrated() {	# migrated ID: its config names the snapshotter
	grep -q "\"Driver\":\"$sn\"" "$store/containers/$1/config.v2.json"
}

# check_left WHAT [final]: through the containerd running on $root.
check_left() {
	dm_ctr -n moby snapshots --snapshotter "$sn" ls > "$tmp/snaps" || fail "$1: ctr snapshots ls"
	dm_ctr -n moby leases ls -q > "$tmp/leases" || fail "$1: ctr leases ls"
	for id in $ids; do
		if migrated "$id" || [ -n "${2:-}" ]; then
			migrated "$id" || fail "$1: container $id: config not rewritten"
			grep -Eq "^$id-init +sha256:[0-9a-f]+ +Committed" "$tmp/snaps" ||
				fail "$1: container $id: its config is rewritten, but no committed $id-init"
			grep -Eq "^$id +$id-init +Active" "$tmp/snaps" ||
				fail "$1: container $id: its config is rewritten, but no active $id"
			grep -qx "$id" "$tmp/leases" || fail "$1: container $id: no lease $id"
		fi
	done
	[ -z "${2:-}" ] && return 0
	n=$(grep -c -- '-init \|^[0-9a-f]\{64\} ' "$tmp/snaps")
	[ "$n" -eq 4 ] || { cat "$tmp/snaps" >&2; fail "$1: $n container snapshots, want 4"; }
	grep -q '^dockerd-migrate-' "$tmp/leases" && fail "$1: a run's lease is left: $(cat "$tmp/leases")"
	[ "$(grep -c . "$tmp/leases")" -eq 2 ] || fail "$1: leases: $(cat "$tmp/leases")"
	for id in $ids; do
		cmp -s "$pristine/containers/$id/config.v2.json" \
			"$store/containers/$id/config.v2.json.dockerd-migrate" ||
			fail "$1: container $id: the backup is not the original config"
	done
	return 0
}

for mode in offline online; do
	fresh full
	[ "$mode" = offline ] || dm_containerd_start "$root" || fail "containerd did not start"
	run_dm "$mode" 0
	read -r what rc total < "$tmp/ka"
	[ "$what" = exited ] && [ "$rc" -eq 0 ] || { cat "$tmp/run.err" >&2; fail "$mode: a full run: $what $rc"; }
	[ "$mode" = offline ] || dm_containerd_stop
	echo "$mode: a full --containers run writes $total bytes; $POINTS kill points"
	k=1
	while [ "$k" -le "$POINTS" ]; do
		what="$mode point $k/$POINTS"
		at=$((total * (2 * k - 1) / (2 * POINTS)))
		fresh "$mode-$k"
		[ "$mode" = offline ] || dm_containerd_start "$root" || fail "$what: containerd did not start"
		run_dm "$mode" "$at"
		killed=$(cat "$tmp/ka")
		[ "$mode" = online ] || dm_containerd_start "$root" || fail "$what: containerd on the killed root"
		check_left "$what, before the rerun"
		[ "$mode" = online ] || dm_containerd_stop
		run_dm "$mode" 0
		read -r _ rc _ < "$tmp/ka"
		# 7: the run was killed after its last container (its lease's removal was left).
		[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || { cat "$tmp/run.err" >&2; fail "$what: the rerun exited $rc"; }
		did=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]
print("exit %s, containers %d migrated, %d existed" % (sys.argv[2], s["containers_migrated"], s["containers_existed"]))' \
			"$tmp/run.json" "$rc") || fail "$what: the rerun's report"
		if [ "$mode" = offline ]; then
			left=$(find "$root/$snapdir/snapshots" -mindepth 1 -maxdepth 1 -name 'new-*')
			[ -z "$left" ] || fail "$what: temporary snapshots left: $left"
			dm_containerd_start "$root" || fail "$what: containerd after the rerun"
		fi
		check_left "$what, after the rerun" final
		dm_containerd_stop
		echo "$what: $killed (target $at bytes); rerun: $did"
		k=$((k + 1))
	done
done
exit 0
