#!/bin/sh
# Issue 12: a legacy store made here and now by Debian's dockerd 20.10 with
# --storage-driver btrfs (data-root on a loop-mounted btrfs) or
# fuse-overlayfs (Debian's fuse-overlayfs, /dev/fuse), migrated with both
# snapshotters and judged by Docker 28.5.2 on containerd 2.1.9 (the sid
# chroot, tests/docker28-check.sh): every tag listed naming its image, and
# `/fixtool tree /` in a container of every image what dockerd 20.10 showed.
#
#   real-driver-store.sh btrfs|fuse-overlayfs
#
# Also checks the layout doc/legacy-store.md describes (a subvolume per layer
# holding the full tree; diff/ with AUFS-form whiteouts), what plan says of
# the driver, that verify-source rebuilds every layer, that the store is not
# modified, and for btrfs that a root on the same btrfs shares blocks with
# the subvolumes (copy mode reflink) while hardlink falls back to copy.
#
# Needs root and the daemons; 77 when the kernel has no btrfs, mkfs.btrfs or
# losetup is missing (btrfs), /dev/fuse or fuse-overlayfs is missing
# (fuse-overlayfs), or there is no sid chroot.  Run under
# flock /var/tmp/dm-daemons.lock like every daemon test.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons || exit 77
DM=${DM:-$top_srcdir/src/dockerd-migrate}
driver=${1:-}
loop=
cleanup() {
	dm_dockerd_stop 2>/dev/null
	dm_umount_under "$tmp" 2>/dev/null
	[ -z "$loop" ] || losetup -d "$loop" 2>/dev/null
	chmod -R u+rwX "$tmp" 2>/dev/null
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

command -v gcc >/dev/null || { echo "skip: no gcc"; exit 77; }
case $driver in
btrfs)
	grep -qw btrfs /proc/filesystems || { echo "skip: the kernel has no btrfs"; exit 77; }
	for b in mkfs.btrfs losetup; do
		command -v "$b" >/dev/null || { echo "skip: $b is missing"; exit 77; }
	done
	truncate -s 3G "$tmp/btrfs.img" || fail "btrfs image"
	mkfs.btrfs -q "$tmp/btrfs.img" > /dev/null 2>&1 || fail "mkfs.btrfs"
	loop=$(losetup -f --show "$tmp/btrfs.img") || { echo "skip: no loop device"; exit 77; }
	mkdir "$tmp/mnt" && mount -t btrfs "$loop" "$tmp/mnt" || fail "mount $loop"
	near=$tmp/mnt	# where a containerd root shares the store's filesystem
	dir=$near/docker
	;;
fuse-overlayfs)
	[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }
	command -v fuse-overlayfs >/dev/null || { echo "skip: fuse-overlayfs is not installed"; exit 77; }
	near=$tmp
	dir=$near/docker
	;;
*)
	echo "usage: $0 btrfs|fuse-overlayfs" >&2
	exit 2
	;;
esac
data=$dir/root
exp=$tmp/expected

# The images' only program: the project's own fixtool, static.  The build makes
# a deletion (whiteout), an opaque directory, a symlink, a hard link and a
# setuid file.
mkdir -p "$tmp/ctx/base"
gcc -static -Os -s -o "$tmp/ctx/base/fixtool" "$top_srcdir/fixtures/fixtool.c" || fail "static fixtool"
tar -C "$tmp/ctx/base" -cf "$tmp/base.tar" fixtool
cat > "$tmp/ctx/Dockerfile" <<'EOF'
FROM drv/base:1
RUN ["/fixtool", "mkdir", "/data", ";", "write", "/data/a.txt", "alpha", ";", "write", "/data/b.txt", "beta"]
RUN ["/fixtool", "rm", "/data/a.txt", ";", "symlink", "b.txt", "/data/link", ";", "chmod", "4755", "/data/b.txt"]
RUN ["/fixtool", "mkdir", "/opq", ";", "write", "/opq/x", "x"]
RUN ["/fixtool", "rm", "/opq", ";", "mkdir", "/opq", ";", "write", "/opq/y", "y", ";", "link", "/opq/y", "/opq/y2"]
EOF

dm_dockerd_start "$driver" "$dir" || fail "$driver: dockerd 20.10 did not start"
dm_docker import --change 'CMD ["/fixtool", "tree", "/"]' "$tmp/base.tar" drv/base:1 > /dev/null ||
	fail "$driver: docker import"
dm_docker build -q --network none -t drv/app:1 -t localhost:5000/drv/app:v1 "$tmp/ctx" > /dev/null ||
	fail "$driver: docker build"
# What dockerd 20.10 itself says, as fixtures/make-fixtures.sh records it.
mkdir -p "$exp/tree"
fmt='{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}'
dm_docker images --digests --no-trunc --format "$fmt" | LC_ALL=C sort > "$exp/images.txt"
dm_docker images -a --digests --no-trunc --format "$fmt" | LC_ALL=C sort > "$exp/images-all.txt"
for id in $(dm_docker images -q --no-trunc | LC_ALL=C sort -u); do
	id=${id#sha256:}
	dm_docker run --rm --network none "$id" /fixtool tree / > "$exp/tree/$(echo "$id" | cut -c1-12).txt" ||
		fail "$driver: docker run $id"
done
dm_docker info --format 'storage driver {{.Driver}} {{json .DriverStatus}}' > "$exp/versions.txt"
dm_dockerd_stop
[ "$(wc -l < "$exp/images.txt")" -eq 3 ] || fail "$driver: dockerd listed $(wc -l < "$exp/images.txt") tags, want 3"
[ "$(ls "$exp/tree" | wc -l)" -eq 2 ] || fail "$driver: want the trees of 2 images"
grep -q '/opq/y2' "$exp/tree/"*.txt || fail "$driver: the expected trees lack /opq/y2"
echo "$driver: dockerd 20.10 made $(wc -l < "$exp/images-all.txt") images; $(cat "$exp/versions.txt")"

# The layout doc/legacy-store.md states.
layers=$(find "$data/image/$driver/layerdb/sha256" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$layers" -eq 5 ] || fail "$driver: $layers layers, want 5"
[ "$(ls "$data/image")" = "$driver" ] || fail "$driver: image/ holds $(ls "$data/image")"
for c in "$data/image/$driver/layerdb/sha256/"*/cache-id; do
	cid=$(cat "$c")
	case $driver in
	btrfs)
		# A subvolume's root directory is inode 256; each holds the full tree.
		[ "$(stat -c %i "$data/btrfs/subvolumes/$cid")" = 256 ] ||
			fail "btrfs/subvolumes/$cid is not a subvolume"
		[ -f "$data/btrfs/subvolumes/$cid/fixtool" ] || fail "btrfs/subvolumes/$cid lacks /fixtool"
		;;
	fuse-overlayfs)
		[ -d "$data/fuse-overlayfs/$cid/diff" ] && [ -f "$data/fuse-overlayfs/$cid/link" ] ||
			fail "fuse-overlayfs/$cid: no diff/ and link"
		;;
	esac
done
if [ "$driver" = fuse-overlayfs ]; then
	# Deletions in AUFS form: empty regular .wh. files, not 0:0 devices.  A
	# build's layer is the naive diff of the container, which knows no opaque
	# directory: /opq removed and made again is a whiteout of its old /opq/x.
	wh=$(find "$data/fuse-overlayfs" -path '*/diff/data/.wh.a.txt' -type f -empty | wc -l)
	whx=$(find "$data/fuse-overlayfs" -path '*/diff/opq/.wh.x' -type f -empty | wc -l)
	opq=$(find "$data/fuse-overlayfs" -path '*/diff/*' -name .wh..wh..opq | wc -l)
	dev=$(find "$data/fuse-overlayfs" -path '*/diff/*' -type c | wc -l)
	[ "$wh" -eq 1 ] && [ "$whx" -eq 1 ] && [ "$opq" -eq 0 ] && [ "$dev" -eq 0 ] ||
		fail "fuse-overlayfs: want AUFS-form whiteouts, found $wh .wh.a.txt, $whx opq/.wh.x, $opq .wh..wh..opq, $dev devices"
fi
( cd "$data" && find image "$driver" -printf '%p %s %T@ %m\n' | LC_ALL=C sort ) > "$tmp/source-before"

expect_rc 0 "$DM" plan --docker-root "$data"
grep -q "storage driver $driver\$" "$tmp/out" || fail "$driver: plan does not name the driver"
grep -q "^Snapshotter overlayfs, the default for $driver: Docker 28" "$tmp/out" ||
	fail "$driver: plan does not give the default snapshotter and why"
expect_rc 0 "$DM" verify-source --docker-root "$data" --jobs 2
grep -q "^verify-source: $layers layers, $layers ok, 0 failed$" "$tmp/out" || fail "$driver: verify-source"

# native into a root on the store's own filesystem (for btrfs: reflinks from
# the subvolumes), overlayfs into one elsewhere.
for sn in native overlayfs; do
	case $sn in native) root=$near/ctr-$sn ;; *) root=$tmp/ctr-$sn ;; esac
	expect_rc 0 "$DM" run --docker-root "$data" --containerd-root "$root" --snapshotter "$sn" --json --jobs 2
	mode=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["copy_mode"])' "$tmp/out") ||
		fail "$driver: no copy mode in the report"
	echo "$driver: run with --snapshotter $sn into $root: copy mode $mode"
	# Every name of a layer directory is in its tar-split or one of the
	# driver's whiteouts (fuse-overlayfs: empty .wh. files): nothing is
	# reported as left out.
	python3 -c 'import json,sys
w = [x for x in json.load(open(sys.argv[1]))["warnings"] if "not in its tar-split" in x]
sys.exit("\n".join(w) if w else 0)' "$tmp/out" || fail "$driver: names reported as left out"
	if [ "$driver" = btrfs ] && [ "$sn" = native ]; then
		[ "$mode" = reflink ] || fail "btrfs: a root on the same btrfs should share blocks, got copy mode $mode"
		python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["summary"]["files_shared"] < 1)' \
			"$tmp/out" || fail "btrfs: reflink shared no file"
	fi
	sh "$top_srcdir/tests/docker28-check.sh" --snapshotter "$sn" "$root" "$exp" > "$tmp/check" 2>&1
	rc=$?
	sed "s/^/  $sn: /" "$tmp/check"
	case $rc in
	0) ;;
	77) echo "skip: Docker 28 cannot be run here"; exit 77 ;;
	*) fail "$driver: Docker 28.5.2 on the $sn root" ;;
	esac
done

if [ "$driver" = btrfs ]; then
	# No hard link crosses btrfs subvolumes: hardlink copies, and says so.
	expect_rc 0 "$DM" run --docker-root "$data" --containerd-root "$near/ctr-hl" --snapshotter native \
		--copy-mode hardlink --json
	grep -q 'no hard link crosses subvolumes' "$tmp/out" || fail "btrfs: hardlink does not say it copies"
	python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["summary"]["copy_mode"] != "copy")' \
		"$tmp/out" || fail "btrfs: hardlink did not fall back to copy"
fi

( cd "$data" && find image "$driver" -printf '%p %s %T@ %m\n' | LC_ALL=C sort ) > "$tmp/source-after"
cmp -s "$tmp/source-before" "$tmp/source-after" || fail "$driver: the legacy store was modified"
echo "$driver: migrated with native and overlayfs, judged by Docker 28.5.2"
exit 0
