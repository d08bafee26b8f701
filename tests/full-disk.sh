#!/bin/sh
# Issue 13: the disk fills during a run (offline, then online) that the
# free-space check let start.  containerd's root is an ext4 filesystem on a
# loop device, sized from plan --json's space_needed so that the check
# passes; once the run has written half of that (tests/kill-at.py watches its
# write_bytes), the test takes all but 1 MiB of what is left (fallocate),
# while blobs and snapshots are being written.  Then:
#  - the run exits 5 with one line giving the figures (online too, where
#    containerd may be the one that finds the disk full);
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
meta=$root/io.containerd.metadata.v1.bolt/meta.db
snapmeta=$root/io.containerd.snapshotter.v1.$sn/metadata.db

# The store and the root are on different filesystems: file data is copied.
expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$root" --json
need=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["space_needed"]["copy"])' "$tmp/out") ||
	fail "plan's space_needed"
avail() { echo $(($(stat -f -c '%a' "$mnt") * $(stat -f -c '%S' "$mnt"))); }

# All but 1 MiB of the free space goes to a file; the run writes meanwhile,
# so an allocation that no longer fits (it keeps what it got) is followed by
# another of what is left.
cat > "$tmp/fill.sh" <<EOF
for try in 1 2 3 4 5 6 7 8 9 10; do
	a=\$((\$(stat -f -c '%a' "$mnt") * \$(stat -f -c '%S' "$mnt") - 1048576))
	[ "\$a" -gt 0 ] || exit 0
	fallocate -l "\$a" "$mnt/filler.\$try" 2>/dev/null && exit 0
done
exit 1
EOF

# migrate MODE KILL-AT.PY-ARGS...: a run of MODE into the root (online:
# through the containerd running on it) under kill-at.py; its exit in $rc,
# the bytes it had written when the filesystem was filled in $fired.
migrate() {
	m_mode=$1
	shift
	case $m_mode in
	offline) set -- "$@" "$DM" run --containerd-root "$root" ;;
	online) set -- "$@" "$DM" run --containerd-address "$DM_CONTAINERD_SOCK" ;;
	esac
	python3 "$top_srcdir/tests/kill-at.py" "$@" --docker-root "$store" --json > "$tmp/out" 2> "$tmp/err" ||
		fail "$m_mode: the filler did not fill the filesystem"
	fired=
	read -r _ rc _ _ fired < "$tmp/ka"
}

# until_released LOOP: e2fsck -f, once the device is free.  A mount namespace
# made elsewhere on the machine while the filesystem was mounted can hold it
# a while after umount ("in use"): tried again for up to 30 s, then the
# holders are named.
until_released() {
	for try in $(seq 30); do
		e2fsck -fy "$1" > "$tmp/resize" 2>&1 && return 0
		grep -q 'in use' "$tmp/resize" || return 1
		sleep 1
	done
	for p in /proc/[0-9]*; do
		grep -qF " $mnt " "$p/mountinfo" 2>/dev/null && echo "$1 still mounted by ${p#/proc/} ($(cat "$p/comm"))"
	done >> "$tmp/resize"
	return 1
}

boltcheck_root() { # WHAT
	for f in "$meta" "$snapmeta"; do
		[ ! -e "$f" ] || "$DM_BOLTCHECK" -mutate "$f" > "$tmp/bc" 2>&1 ||
			{ cat "$tmp/bc" >&2; fail "$1: boltcheck $f"; }
	done
}

for mode in offline online; do
	# ext4's journal and tables take a few MiB of a filesystem this small.
	rm -f "$tmp/disk.img"
	truncate -s $(((need / 1048576 + 48) * 1048576)) "$tmp/disk.img" && mkfs.ext4 -q -m 0 "$tmp/disk.img" ||
		fail "mkfs.ext4"
	loop=$(losetup -f --show "$tmp/disk.img") || fail "losetup"
	mkdir -p "$mnt" && mount "$loop" "$mnt" || fail "mount $loop"
	[ "$(avail)" -ge "$need" ] || fail "the loop filesystem has $(avail) bytes free, the run needs $need"
	[ "$mode" = offline ] || dm_containerd_start "$root" || fail "containerd did not start"

	migrate "$mode" --then "sh $tmp/fill.sh" $((need / 2)) "$tmp/ka"
	[ -n "$fired" ] || fail "$mode: the run ended (exit $rc) before the filesystem was filled"
	[ "$rc" -eq 5 ] || fail "$mode: a run that filled the disk exited $rc, want 5"
	grep -Ev '^dockerd-migrate: (layer|image|name) |^dockerd-migrate: warning: ' "$tmp/err" > "$tmp/lines"
	[ "$(wc -l < "$tmp/lines")" -eq 1 ] ||
		{ cat "$tmp/lines" >&2; fail "$mode: not one line besides the items' and warnings"; }
	grep -Eq "^dockerd-migrate: error: $root: no space left on device during the run: it needs up to $need bytes, [0-9]+ were available at its start and [0-9]+ are now; the [0-9]+ bytes of finished layers are kept" \
		"$tmp/lines" || fail "$mode: the line does not give the figures"
	echo "$mode: filled at $fired bytes written, of $need estimated: exit $rc; $(cat "$tmp/lines")"

	# What the run left: containerd (on the full filesystem) starts, or ran
	# throughout, and whatever image it lists is complete; the bolt files
	# pass bbolt's check.
	if [ "$mode" = offline ]; then
		boltcheck_root "$mode, full"
		dm_containerd_start "$root" || fail "containerd did not start on the full root"
	fi
	dm_check_complete "$sn" "$mode, full"
	[ -z "$(dm_ctr -n moby content ls -q)" ] || dm_check_blobs "$mode, full"
	echo "$mode: on the full root: $(dm_ctr -n moby images ls -q | wc -l) images," \
		"$(dm_ctr -n moby content ls -q | wc -l) blobs, all complete"
	dm_containerd_stop
	[ "$mode" = offline ] || boltcheck_root "$mode, full"

	# Grown by the estimate, the filler kept: the rerun completes.  Unmounted
	# for resize2fs: a container may lack what an online resize needs.
	umount "$mnt" && truncate -s "+$((need / 1048576 + 1))M" "$tmp/disk.img" && losetup -c "$loop" ||
		fail "$mode: growing the image file"
	until_released "$loop" && resize2fs "$loop" >> "$tmp/resize" 2>&1 && mount "$loop" "$mnt" ||
		{ cat "$tmp/resize" >&2; fail "$mode: growing the filesystem"; }
	[ "$mode" = offline ] || dm_containerd_start "$root" || fail "containerd did not start"
	migrate "$mode" 0 "$tmp/ka"
	[ "$rc" -eq 0 ] || { cat "$tmp/err" >&2; fail "$mode: the rerun after growing exited $rc"; }
	if [ "$mode" = offline ]; then
		left=$(find "$root/io.containerd.snapshotter.v1.$sn/snapshots" -mindepth 1 -maxdepth 1 -name 'new-*')
		[ -z "$left" ] || fail "$mode: temporary snapshots left: $left"
		boltcheck_root "$mode, rerun"
		dm_containerd_start "$root" || fail "containerd did not start after the rerun"
	fi
	dm_check_complete "$sn" "$mode, rerun"
	dm_check_blobs "$mode, rerun"
	dm_check_top_snapshots "$store" "$sn" "$mode, rerun"
	dm_check_nothing_in_flight "$sn" "$mode, rerun"
	dm_containerd_stop
	[ "$mode" = offline ] || boltcheck_root "$mode, rerun"
	did=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]
print("layers %d migrated, %d existed; images %d migrated" % (s["layers_migrated"], s["layers_existed"],
      s["images_migrated"]))' "$tmp/out") || fail "$mode: the rerun's report"
	echo "$mode: grown by $need bytes: the rerun exits 0 ($did) and every image is complete"
	dm_umount_under "$mnt"
	losetup -d "$loop"
	loop=
done
exit 0
