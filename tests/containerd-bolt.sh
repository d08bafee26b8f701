#!/bin/sh
# Real containerd (Debian's 1.6.20) reads and keeps modifying bolt files that
# lib/bolt wrote, and lib/bolt reads back what containerd changed:
#  1. bolttool writes meta.db (v1/version, leases, content records with their
#     blob files, a snapshotter bucket sequence) and the overlayfs
#     metadata.db, in containerd's layout (doc/containerd-store.md §2-§3, §6.1);
#  2. containerd starts on that root; ctr must see our records, then creates a
#     lease, labels content, deletes a lease and a blob, prepares a snapshot
#     (its ids come from our sequences) and labels the namespace;
#  3. after it stops, our module must read each of those changes;
#  4. we change containerd's file, start it once more, and it must see that
#     and write again, which we read back again.
# Needs root; skips (77) without containerd/ctr or with DM_SKIP_DAEMON_TESTS=1.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ "${DM_SKIP_DAEMON_TESTS:-0}" != 1 ] || { echo "SKIP: DM_SKIP_DAEMON_TESTS=1"; exit 77; }
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 ||
	{ echo "SKIP: needs containerd and ctr"; exit 77; }
. "$top_srcdir/tests/lib-containerd.sh"
tool=$top_builddir/tests/bolttool
# Under /tmp: the socket path must stay short.
tmp=$(mktemp -d /tmp/dm-ctrd-bolt.XXXXXX)
trap 'ctrd_stop; rm -rf "$tmp"' EXIT
root=$tmp/c/root
meta=$root/io.containerd.metadata.v1.bolt/meta.db
snap=$root/io.containerd.snapshotter.v1.overlayfs/metadata.db
blobs=$root/io.containerd.content.v1.content/blobs/sha256
mkdir -p "$(dirname "$meta")" "$(dirname "$snap")" "$blobs"

fail() { echo "FAIL: $*"; [ ! -f "$tmp/c/containerd.log" ] || tail -n 20 "$tmp/c/containerd.log"; exit 1; }
# expect FILE VALUE BUCKET... KEY: the value as bolttool prints it.
expect() {
	file=$1 want=$2
	shift 2
	got=$("$tool" get "$file" "$@") || fail "${file##*/} $*: missing"
	[ "$got" = "$want" ] || fail "${file##*/} $*: got $got, want $want"
}
absent() {
	rc=0
	"$tool" has "$@" 2>/dev/null || rc=$?
	[ "$rc" = 1 ] || fail "${1##*/} $*: still there"
}
# Go's binary.PutVarint of a byte count, as hex: containerd's "size".
svarint() {
	v=$(($1 * 2)) out=
	while [ "$v" -ge 128 ]; do
		out=$out$(printf %02x $(((v & 127) | 128)))
		v=$((v >> 7))
	done
	printf '%s%02x' "$out" "$v"
}
# A Go time.MarshalBinary value (2026-11-27 UTC), as containerd writes createdat.
when=hex:010000000ee29bf3c52bcb0302ffff
ns="v1 moby"

# 1. Our files.
"$tool" put "$meta" v1 version hex:06
"$tool" put "$meta" $ns labels containerd.io/defaults/snapshotter overlayfs
for lease in dm-lease-1 dm-lease-2; do
	"$tool" put "$meta" $ns leases $lease createdat $when
	"$tool" put "$meta" $ns leases $lease labels dm.test/a 1
done
for name in kept deleted; do
	printf 'a blob that containerd keeps, then %s' "$name" >"$tmp/$name"
	hex=$(sha256sum "$tmp/$name" | cut -d' ' -f1)
	eval "blob_$name=sha256:$hex"
	cp "$tmp/$name" "$blobs/$hex"
	for k in createdat updatedat; do
		"$tool" put "$meta" $ns content blob "sha256:$hex" $k $when
	done
	"$tool" put "$meta" $ns content blob "sha256:$hex" size "hex:$(svarint "$(stat -c %s "$tmp/$name")")"
	"$tool" put "$meta" $ns content blob "sha256:$hex" labels containerd.io/gc.root dm-test
	"$tool" put "$meta" $ns content blob "sha256:$hex" labels dm.test/origin ours
done
"$tool" setseq "$meta" $ns snapshots overlayfs 7
"$tool" setseq "$snap" v1 snapshots 5
"$tool" mkbucket "$snap" v1 parents
"$tool" check "$meta"
"$tool" check "$snap"
if [ -n "${DM_BOLT_KEEP_DIR:-}" ]; then
	mkdir -p "$DM_BOLT_KEEP_DIR"
	cp "$meta" "$DM_BOLT_KEEP_DIR/containerd-ours-meta.db"
	cp "$snap" "$DM_BOLT_KEEP_DIR/containerd-ours-metadata.db"
fi

# 2. containerd reads them and changes them.
ctrd_start "$tmp/c"
ctrd moby leases ls >"$tmp/leases"
grep -q '^dm-lease-1 .*dm.test/a=1' "$tmp/leases" || fail "ctr does not list our lease: $(cat "$tmp/leases")"
grep -q '^dm-lease-2 ' "$tmp/leases" || fail "ctr does not list dm-lease-2"
ctrd moby content ls >"$tmp/content"
grep -q "^$blob_kept.*containerd.io/gc.root=dm-test" "$tmp/content" ||
	fail "ctr does not list our blob: $(cat "$tmp/content")"
[ "$(ctrd moby content get "$blob_kept")" = "$(cat "$tmp/kept")" ] || fail "ctr content get $blob_kept"
ctrd moby snapshots prepare dm-active
ctrd moby snapshots label dm-active containerd.io/gc.root=dm-test >/dev/null
ctrd moby leases create --id ctr-lease dm.test/by=ctr >/dev/null
ctrd moby content label "$blob_kept" dm.test/added=yes >/dev/null
ctrd moby leases rm dm-lease-2
ctrd moby content rm "$blob_deleted"
ctrd moby namespaces label moby dm.test/ns=yes
ctrd_stop

# 3. We read containerd's changes.
"$tool" check "$meta"
"$tool" check "$snap"
expect "$meta" 0x06 v1 version
expect "$meta" '"1"' $ns leases dm-lease-1 labels dm.test/a
absent "$meta" $ns leases dm-lease-2
expect "$meta" '"ctr"' $ns leases ctr-lease labels dm.test/by
"$tool" get "$meta" $ns leases ctr-lease labels containerd.io/gc.expire >/dev/null
expect "$meta" '"yes"' $ns content blob "$blob_kept" labels dm.test/added
expect "$meta" '"dm-test"' $ns content blob "$blob_kept" labels containerd.io/gc.root
[ "$("$tool" get "$meta" $ns content blob "$blob_kept" updatedat)" != "0x${when#hex:}" ] ||
	fail "containerd did not rewrite updatedat of $blob_kept"
absent "$meta" $ns content blob "$blob_deleted"
expect "$meta" '"yes"' $ns labels dm.test/ns
# Prepare took 8 from the sequence we set to 7; the backend took 6 from our 5.
expect "$meta" '"moby/8/dm-active"' $ns snapshots overlayfs dm-active name
[ "$("$tool" seq "$meta" $ns snapshots overlayfs)" = 8 ] || fail "snapshot sequence"
expect "$snap" 0x06 v1 snapshots moby/8/dm-active id
[ "$("$tool" seq "$snap" v1 snapshots)" = 6 ] || fail "backend snapshot sequence"

# 4. We change containerd's file; containerd sees it and writes once more.
"$tool" del "$meta" $ns leases ctr-lease
"$tool" put "$meta" $ns leases dm-lease-3 createdat $when
"$tool" put "$meta" $ns leases dm-lease-3 labels dm.test/round 2
ctrd_start "$tmp/c"
ctrd moby leases ls >"$tmp/leases"
grep -q '^dm-lease-3 .*dm.test/round=2' "$tmp/leases" || fail "ctr does not list dm-lease-3"
! grep -q '^ctr-lease ' "$tmp/leases" || fail "ctr still lists the lease we deleted"
ctrd moby snapshots ls | grep -q '^dm-active ' || fail "ctr lost the snapshot"
ctrd moby leases create --id ctr-lease-2 dm.test/by=ctr >/dev/null
ctrd_stop
"$tool" check "$meta"
expect "$meta" '"ctr"' $ns leases ctr-lease-2 labels dm.test/by
expect "$meta" '"2"' $ns leases dm-lease-3 labels dm.test/round

# containerd complained about nothing in our files (the CNI line is expected
# with the CRI plugin disabled).
if grep -E 'level=(error|fatal)|panic' "$tmp/c/containerd.log" | grep -v 'cni'; then
	fail "containerd logged errors"
fi
echo "containerd-bolt: containerd 1.6.20 read and modified our files, and we read its changes"
