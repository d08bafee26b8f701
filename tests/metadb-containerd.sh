#!/bin/sh
# metadb and lease against a real containerd (Debian's 1.6.20): a fresh root
# written by tests/metadb_tool through lib/metadb, lib/lease and lib/content
# must be taken by containerd as its own, and containerd's GC must honour our
# leases: it keeps what a valid lease holds, drops an expired lease with what
# only it held, and once our lease record is gone, collects what it held
# (content and snapshots, files and directories) while the image stays.
set -eu
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons
tool=$top_builddir/tests/metadb_tool
ns=moby
sn=overlayfs

tmp=$(mktemp -d /var/tmp/dm-metadb.XXXXXX)
trap 'dm_containerd_stop; rm -rf "$tmp"' EXIT
root=$tmp/root
blobs=$root/io.containerd.content.v1.content/blobs/sha256
snaps=$root/io.containerd.snapshotter.v1.$sn/snapshots

fail() { echo "FAIL: $*" >&2; exit 1; }
hex() { echo "${1#sha256:}"; }
ctrn() { dm_ctr -n "$ns" "$@"; }
# wait_for SECONDS CMD...: retries CMD (containerd's GC runs ~100 ms after start).
wait_for() {
	w=$(( $1 * 10 )); shift
	until "$@" >/dev/null 2>&1; do
		w=$((w - 1))
		[ "$w" -gt 0 ] || return 1
		sleep 0.1
	done
}
lacks() { ! "$@"; }

eval "$("$tool" seed "$root" "$ns" "$sn")"
for d in "$LEASED" "$EXPIRED" "$CONFIG" "$MANIFEST"; do
	[ -f "$blobs/$(hex "$d")" ] || fail "seed wrote no blob $d"
done

echo "== containerd on the written root"
dm_containerd_start "$root"
# While containerd runs, meta.db is locked and we say so.
set +e
msg=$("$tool" open "$root" 2>&1)
rc=$?
set -e
[ "$rc" = 2 ] || fail "open while containerd runs: exit $rc ($msg)"
case $msg in *"containerd is running (meta.db is locked)"*) ;; *) fail "lock message: $msg" ;; esac

wait_for 10 lacks sh -c "'$DM_CTR' --address '$DM_CONTAINERD_SOCK' -n $ns leases ls | grep -q '$EXPIRED_LEASE'" ||
	fail "containerd did not drop the expired lease $EXPIRED_LEASE"
wait_for 10 lacks test -e "$blobs/$(hex "$EXPIRED")" || fail "the expired lease's blob stayed"
leases=$(ctrn leases ls)
echo "$leases"
echo "$leases" | grep "^$LEASE " | grep -q "containerd.io/gc.expire=" || fail "lease $LEASE or its expiry not listed"
echo "$leases" | grep -q "^$EXPIRED_LEASE" && fail "expired lease $EXPIRED_LEASE still listed"
echo "$leases" | grep "^$LEASE " | grep -q "io.dockerd-migrate.lease=dockerd-migrate" ||
	fail "lease $LEASE lacks the tool label"
content=$(ctrn content ls)
echo "$content"
echo "$content" | grep "^$LEASED" | grep -q "dm.test/held=lease" || fail "leased blob not listed with its label"
echo "$content" | grep -q "^$EXPIRED" && fail "the expired lease's blob is still listed"
[ "$(ctrn content get "$LEASED")" = "dockerd-migrate metadb test: a blob held by a lease" ] ||
	fail "leased blob reads back wrong"
images=$(ctrn images ls)
echo "$images"
echo "$images" | grep "^$IMAGE " | grep -q "$MANIFEST" || fail "image $IMAGE not listed with its target"
ctrn images check | grep "^$IMAGE " | grep -q complete || fail "image $IMAGE not complete"
snapshots=$(ctrn snapshots --snapshotter "$sn" ls)
echo "$snapshots"
echo "$snapshots" | grep -Eq '^base +Committed' || fail "snapshot base not committed"
echo "$snapshots" | grep -Eq '^child +base +Committed' || fail "snapshot child not on base"
# A new snapshot on ours gets fresh ids from both sequences and stacks our dirs.
mounts=$(ctrn snapshots --snapshotter "$sn" prepare --mounts dm-active child)
echo "$mounts"
echo "$mounts" | grep -q "lowerdir=$snaps/$CHILD_ID/fs:$snaps/$BASE_ID/fs" ||
	fail "prepare on child does not stack our directories"
ctrn snapshots --snapshotter "$sn" rm dm-active
dm_containerd_stop

echo "== our reader on what containerd rewrote"
"$tool" show "$root" "$ns" | tee "$tmp/show"
grep -q "^lease $LEASE .*content=$LEASED snapshot=$sn/child" "$tmp/show" || fail "lease not read back"
grep -q "^lease $EXPIRED_LEASE" "$tmp/show" && fail "expired lease read back"
grep -q "^image $IMAGE $MANIFEST " "$tmp/show" || fail "image not read back"
"$tool" snapshot "$root" "$ns" "$sn" child | grep -qx "committed child id=$CHILD_ID" ||
	fail "snapshot child not read back"

echo "== without our lease, containerd collects what it held"
"$tool" delete-lease "$root" "$ns" "$LEASE"
dm_containerd_start "$root"
wait_for 10 lacks test -e "$blobs/$(hex "$LEASED")" || fail "blob $LEASED outlived its lease"
wait_for 10 lacks test -e "$snaps/$CHILD_ID" || fail "snapshot dir $CHILD_ID outlived its lease"
ctrn content ls | grep -q "^$LEASED" && fail "blob $LEASED still listed"
ctrn snapshots --snapshotter "$sn" ls | grep -Eq '^(base|child) ' && fail "snapshots still listed"
[ -e "$snaps/$BASE_ID" ] && fail "snapshot dir $BASE_ID outlived its lease"
# The image is a root: its manifest and, through the manifest's GC label, its config stay.
ctrn images check | grep "^$IMAGE " | grep -q complete || fail "image lost content"
[ -f "$blobs/$(hex "$CONFIG")" ] || fail "config blob collected"
dm_containerd_stop
"$tool" show "$root" "$ns" >/dev/null
echo "ok"
