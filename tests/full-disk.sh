#!/bin/sh
# Issue 13: the disk fills during an offline run that the free-space check
# let start.  containerd's root is an ext4 filesystem on a loop device, sized
# from plan --json's space_needed so that the check passes; once the run has
# written half of that (tests/kill-at.py watches its write_bytes), the
# test takes all but 1 MiB of what is left (fallocate), while blobs and
# snapshots are being written.  Then:
#  - the run exits 5 with one line giving the figures;
#  - no record points at a partial file: boltcheck -mutate passes both bolt
#    files, containerd 1.6.20 starts on the root and every image it lists is
#    complete, every blob it has reads back with its digest;
#  - after the filesystem is grown (the image file, losetup -c, resize2fs) a
#    rerun completes (exit 0) and the root passes the kill matrix's checks.
# The store: dockerd 20.10 makes a 48 MiB base image and 4 images adding
# 12 MiB each (tests/lib-bench.sh).  Root, the daemons, mkfs.ext4, e2fsck,
# losetup, resize2fs, golang-go and golang-github-coreos-bbolt-dev; else 77.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-bench.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
. "$top_srcdir/tests/lib-boltcheck.sh"
dm_need_daemons || exit 77
dm_need_boltcheck "$tmp/boltcheck"
for b in mkfs.ext4 e2fsck losetup resize2fs fallocate; do
	command -v "$b" > /dev/null || { echo "skip: needs $b"; exit 77; }
done

loop=
trap 'dm_containerd_stop 2>/dev/null; dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp";
	[ -z "$loop" ] || losetup -d "$loop"; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

dm_bench_store "$tmp/fresh" 48 100 4 12 || fail "no store"
store=$DM_BENCH_STORE
sn=overlayfs
mnt=$tmp/mnt
root=$mnt/containerd

# The store and the root are on different filesystems: file data is copied.
expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$root" --json
need=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["space_needed"]["copy"])' "$tmp/out") ||
	fail "plan's space_needed"
# ext4's journal and tables take a few MiB of a filesystem this small.
truncate -s $(((need / 1048576 + 48) * 1048576)) "$tmp/disk.img" && mkfs.ext4 -q -m 0 "$tmp/disk.img" ||
	fail "mkfs.ext4"
loop=$(losetup -f --show "$tmp/disk.img") || fail "losetup"
mkdir -p "$mnt" && mount "$loop" "$mnt" || fail "mount $loop"
avail() { echo $(($(stat -f -c '%a' "$mnt") * $(stat -f -c '%S' "$mnt"))); }
[ "$(avail)" -ge "$need" ] || fail "the loop filesystem has $(avail) bytes free, the run needs $need"

# All but 1 MiB of the free space goes to one file; the run writes meanwhile,
# so an allocation that no longer fits is tried again smaller.
cat > "$tmp/fill.sh" <<EOF
for try in 1 2 3 4 5 6 7 8 9 10; do
	a=\$((\$(stat -f -c '%a' "$mnt") * \$(stat -f -c '%S' "$mnt") - 1048576))
	[ "\$a" -gt 0 ] || exit 0
	fallocate -l "\$a" "$mnt/filler.\$try" 2>/dev/null && exit 0
	rm -f "$mnt/filler.\$try"
done
exit 1
EOF
at=$((need / 2))
python3 "$top_srcdir/tests/kill-at.py" --then "sh $tmp/fill.sh" "$at" "$tmp/ka" \
	"$DM" run --docker-root "$store" --containerd-root "$root" --json > "$tmp/out" 2> "$tmp/err" ||
	fail "the filler did not fill the filesystem"
read -r _ rc written _ fired < "$tmp/ka"
[ -n "${fired:-}" ] || fail "the run ended (exit $rc) before the filesystem was filled"
[ "$rc" -eq 5 ] || fail "a run that filled the disk exited $rc, want 5"
grep -Ev '^dockerd-migrate: (layer|image|name) |^dockerd-migrate: warning: ' "$tmp/err" > "$tmp/lines"
[ "$(wc -l < "$tmp/lines")" -eq 1 ] || { cat "$tmp/lines" >&2; fail "not one line besides the items' and warnings"; }
grep -Eq "^dockerd-migrate: error: $root: no space left on device during the run: it needs up to $need bytes, [0-9]+ were available at its start and [0-9]+ are now; the [0-9]+ bytes of finished layers are kept" \
	"$tmp/lines" || fail "the line does not give the figures"
echo "filled at $fired bytes written, of $need estimated: exit $rc; $(cat "$tmp/lines")"

# What the run left: the bolt files pass bbolt's check; containerd (on the
# full filesystem) starts, and whatever image it lists is complete.
for f in "$root/io.containerd.metadata.v1.bolt/meta.db" "$root/io.containerd.snapshotter.v1.$sn/metadata.db"; do
	[ ! -e "$f" ] || "$DM_BOLTCHECK" -mutate "$f" > "$tmp/bc" 2>&1 || { cat "$tmp/bc" >&2; fail "boltcheck $f"; }
done
dm_containerd_start "$root" || fail "containerd did not start on the full root"
dm_check_complete "$sn" "on the full root"
[ -z "$(dm_ctr -n moby content ls -q)" ] || dm_check_blobs "on the full root"
echo "on the full root: $(dm_ctr -n moby images ls -q | wc -l) images, $(dm_ctr -n moby content ls -q | wc -l) blobs, all complete"
dm_containerd_stop

# Grown by the estimate, the filler kept: the rerun completes.  Unmounted for
# resize2fs: a container may lack what an online resize needs.
umount "$mnt" && truncate -s "+$((need / 1048576 + 1))M" "$tmp/disk.img" && losetup -c "$loop" &&
	e2fsck -fy "$loop" > "$tmp/resize" 2>&1 && resize2fs "$loop" >> "$tmp/resize" 2>&1 && mount "$loop" "$mnt" ||
	{ cat "$tmp/resize" >&2; fail "growing the filesystem"; }
expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$root" --json
left=$(find "$root/io.containerd.snapshotter.v1.$sn/snapshots" -mindepth 1 -maxdepth 1 -name 'new-*')
[ -z "$left" ] || fail "temporary snapshots left: $left"
"$DM_BOLTCHECK" -mutate "$root/io.containerd.metadata.v1.bolt/meta.db" \
	"$root/io.containerd.snapshotter.v1.$sn/metadata.db" > "$tmp/bc" 2>&1 || { cat "$tmp/bc" >&2; fail "boltcheck"; }
dm_containerd_start "$root" || fail "containerd did not start after the rerun"
dm_check_complete "$sn" "after the rerun"
dm_check_blobs "after the rerun"
dm_check_top_snapshots "$store" "$sn" "after the rerun"
dm_check_nothing_in_flight "$sn" "after the rerun"
dm_containerd_stop
did=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]
print("layers %d migrated, %d existed; images %d migrated" % (s["layers_migrated"], s["layers_existed"],
      s["images_migrated"]))' "$tmp/out") || fail "the rerun's report"
echo "grown by $need bytes: the rerun exits 0 ($did) and every image is complete"
exit 0
