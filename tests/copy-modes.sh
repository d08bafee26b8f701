#!/bin/sh
# Issue 10: `run --copy-mode reflink|hardlink|copy|auto` on the overlay2
# fixture store (root; no daemon but containerd 1.6.20 for the checks).
#
#   reflink   on a loop xfs (mkfs.xfs -m reflink=1) and on a loop btrfs, store
#             and root on the same filesystem: the report says copy_mode
#             reflink and files_shared > 0, a snapshot file's extents are
#             shared (filefrag -v), the default mode (auto) picks reflink too,
#             the legacy store is unchanged (contents, modes, owners, mtimes,
#             xattrs), and the root passes tests/lib-migrate-check.sh's checks
#             under containerd 1.6.20
#   hardlink  store and root on the test's own filesystem: a snapshot file is
#             the legacy file's inode (same st_dev and st_ino, nlink one more);
#             a legacy file chmod-ed so that its mode differs from its tar
#             header (the DiffID still matches: tar-split keeps headers, not
#             inodes) is copied with the header's mode and counted in
#             files_copied, one more than without the mismatch; the store is
#             unchanged but for nlink and ctime; the root passes the checks;
#             `plan --json` gives space_needed for each mode
#   auto      store on a loop ext4, root elsewhere: copy, with one stderr line
#             that says so
#
# Skips (exit 77) when not root, when $DM run --help does not mention
# --copy-mode (until issue 10's tool side is in, so that merging this first
# keeps the suite green), or when every part lacks what it needs; a part whose
# filesystem the kernel or the tools lack says "skip" and the others run.
# The containerd checks skip (said) with DM_SKIP_DAEMON_TESTS=1 or without
# the daemons.  Every mount, loop device and daemon is undone on exit.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
"$DM" run --help 2>&1 | grep -q -- --copy-mode ||
	{ echo "skip: $DM run has no --copy-mode (issue 10's tool side is not in yet)"; exit 77; }
fixtool=${top_builddir:-$top_srcdir}/fixtures/fixtool
[ -x "$fixtool" ] || { echo "skip: no $fixtool (make check builds it)"; exit 77; }
daemons=
( dm_need_daemons ) > /dev/null && daemons=1

mnts='' loops=''
cleanup() {
	dm_containerd_stop 2>/dev/null
	for m in $mnts; do umount "$m" 2>/dev/null || umount -l "$m"; done
	for l in $loops; do losetup -d "$l"; done
	dm_umount_under "$tmp"
	chmod -R u+rwX "$tmp" 2>/dev/null
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

archive=$top_srcdir/fixtures/overlay2-store.tar.xz
snaps=io.containerd.snapshotter.v1.overlayfs/snapshots
ran=0

# loopfs TYPE DIR: a fresh 512 MiB TYPE filesystem on a loop device, mounted
# on DIR; returns 1 (and says skip) when the tools or the kernel lack it.
loopfs() {
	lf_img=$tmp/$1.img
	command -v "mkfs.$1" > /dev/null 2>&1 || { echo "skip $1: no mkfs.$1"; return 1; }
	truncate -s 512M "$lf_img" || fail "truncate $lf_img"
	case $1 in
	xfs) mkfs.xfs -q -f -m reflink=1 "$lf_img" ;;
	btrfs) mkfs.btrfs -q -f "$lf_img" > /dev/null ;;
	*) "mkfs.$1" -q -F "$lf_img" ;;
	esac || fail "mkfs.$1"
	lf_dev=$(losetup -f --show "$lf_img") || fail "losetup $lf_img"
	loops="$lf_dev $loops"
	mkdir -p "$2" || fail "mkdir $2"
	if ! mount -t "$1" "$lf_dev" "$2" 2> "$tmp/mount.err"; then
		echo "skip $1: cannot mount it (the kernel lacks $1?): $(cat "$tmp/mount.err")"
		return 1
	fi
	mnts="$2 $mnts"
}

# listing STORE: what a run must leave as it is: every entry's type, mode,
# owner, size, content hash, mtime and xattrs (fixtool tree), and the
# directories' mtimes too, which tree leaves out.  Not nlink, not ctime.
listing() {
	"$fixtool" tree "$1" || fail "fixtool tree $1"
	find "$1" -type d -printf '%p %m %U:%G %T@\n' | sort
}
same_listing() { # BEFORE AFTER WHAT
	diff -u "$1" "$2" > "$tmp/listing.diff" || { head -n 20 "$tmp/listing.diff" >&2; fail "$3"; }
}
summary() { # REPORT KEY: summary.KEY of a run's --json report
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"].get(sys.argv[2], "missing"))' "$1" "$2"
}
# migrated_ok ROOT REPORT WHAT: the checks of tests/migrate-containerd.sh under containerd 1.6.20.
migrated_ok() {
	if [ -z "$daemons" ]; then
		echo "note: $3: containerd checks skipped (no daemons, or DM_SKIP_DAEMON_TESTS=1)"
		return 0
	fi
	dm_containerd_start "$1" || fail "$3: containerd did not start on the root"
	dm_check_migrated overlay2 overlayfs "$2"
	dm_containerd_stop
	echo "ok   $3: containerd 1.6.20 finds every image complete, unpacked and with its files"
}
extract() { # DEST: the overlay2 fixture store, extracted exactly, in DEST
	$SHELL "$top_srcdir/tests/fixtures-extract.sh" "$archive" "$1" || fail "extracting the fixture store into $1"
}

reflink_part() { # xfs|btrfs
	fs=$1 mnt=$tmp/mnt-$1
	loopfs "$fs" "$mnt" || return 0
	store=$(extract "$mnt/store")
	listing "$store" > "$tmp/$fs-before"
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$mnt/root" --copy-mode reflink --json
	report=$tmp/$fs-report.json
	cp "$tmp/out" "$report"
	[ "$(summary "$report" copy_mode)" = reflink ] || fail "$fs: copy_mode is $(summary "$report" copy_mode), not reflink"
	shared=$(summary "$report" files_shared)
	[ "$shared" -gt 0 ] 2>/dev/null || fail "$fs: files_shared is $shared"
	# The blocks of some snapshot file are the legacy file's (FIEMAP's shared flag).
	find "$mnt/root/$snaps" -type f -size +64k > "$tmp/big"
	found=
	while IFS= read -r f; do
		filefrag -v "$f" > "$tmp/frag" 2>&1 || fail "filefrag -v $f"
		if grep -qw shared "$tmp/frag"; then found=$f; break; fi
	done < "$tmp/big"
	[ -n "$found" ] || { cat "$tmp/frag" >&2; fail "$fs: no snapshot file over 64 KiB has a shared extent"; }
	echo "ok   $fs: reflink, $shared files shared, extents of ${found#"$mnt/root/"} shared"
	listing "$store" > "$tmp/$fs-after"
	same_listing "$tmp/$fs-before" "$tmp/$fs-after" "$fs: run --copy-mode reflink changed the legacy store"
	# The default is auto, which reflinks where the target can.
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$mnt/root-auto" --json
	[ "$(summary "$tmp/out" copy_mode)" = reflink ] ||
		fail "$fs: run without --copy-mode (auto) used $(summary "$tmp/out" copy_mode), not reflink"
	rm -rf "$mnt/root-auto"
	migrated_ok "$mnt/root" "$report" "$fs reflink root"
	listing "$store" > "$tmp/$fs-after"
	same_listing "$tmp/$fs-before" "$tmp/$fs-after" "$fs: the legacy store changed while containerd ran on the reflinked root"
	ran=$((ran + 1))
}

# inodes STORE OUT: the legacy store's regular files, DEV INO NLINK PATH, as JSON.
inodes() {
	python3 - "$1" "$2" <<'EOF'
import glob, json, os, sys
out = {}
for diff in glob.glob(os.path.join(sys.argv[1], "overlay2", "*", "diff")):
    for d, _, files in os.walk(diff):
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            if os.path.isfile(p) and not os.path.islink(p):
                out[os.fsencode(p).hex()] = [st.st_dev, st.st_ino, st.st_nlink, st.st_size, diff]
json.dump(out, open(sys.argv[2], "w"))
EOF
}
# linked INODES.json ROOT: the snapshot files of ROOT that are legacy inodes,
# one line each, "NLINK-BEFORE NLINK-NOW LEGACY-PATH"; then, on the last line,
# "pick PATH REL": a linked legacy file alone in its inode, not empty, with a
# plain name, whose path below diff/ (REL) no other layer has.
linked() {
	python3 - "$1" "$2/$snaps" <<'EOF'
import collections, json, os, re, sys
legacy = json.load(open(sys.argv[1]))
by_inode = {(v[0], v[1]): (bytes.fromhex(k), v) for k, v in legacy.items()}
rels = collections.Counter(os.path.relpath(bytes.fromhex(k), os.fsencode(v[4])) for k, v in legacy.items())
pick = None
for d, _, files in os.walk(sys.argv[2]):
    for f in files:
        st = os.lstat(os.path.join(d, f))
        hit = by_inode.get((st.st_dev, st.st_ino))
        if not hit:
            continue
        path, (_, _, nlink, size, diff) = hit
        now = os.lstat(path).st_nlink
        print(nlink, now, path.decode(errors="replace"))
        rel = os.path.relpath(path, os.fsencode(diff))
        if (pick is None and nlink == 1 and size > 0 and rels[rel] == 1
                and re.fullmatch(rb"[A-Za-z0-9._/-]+", path)):
            pick = (path.decode(), rel.decode())
if pick:
    print("pick", *pick)
EOF
}

hardlink_part() {
	store=$(extract "$tmp/hl-store")
	inodes "$store" "$tmp/hl-inodes.json" || fail "hardlink: reading the store's inodes"
	listing "$store" > "$tmp/hl-before"
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmp/hl-a" --copy-mode hardlink --json
	cp "$tmp/out" "$tmp/hl-a.json"
	[ "$(summary "$tmp/hl-a.json" copy_mode)" = hardlink ] ||
		fail "hardlink: copy_mode is $(summary "$tmp/hl-a.json" copy_mode)"
	shared_a=$(summary "$tmp/hl-a.json" files_shared) copied_a=$(summary "$tmp/hl-a.json" files_copied)
	[ "$shared_a" -gt 0 ] 2>/dev/null || fail "hardlink: files_shared is $shared_a"
	[ "$copied_a" -ge 0 ] 2>/dev/null || fail "hardlink: files_copied is $copied_a"
	linked "$tmp/hl-inodes.json" "$tmp/hl-a" > "$tmp/hl-linked" || fail "hardlink: reading the root's inodes"
	grep -v '^pick ' "$tmp/hl-linked" > "$tmp/hl-shared"
	[ -s "$tmp/hl-shared" ] || fail "hardlink: no snapshot file shares an inode (st_dev, st_ino) with a legacy file"
	awk '$2 <= $1 { print; bad = 1 } END { exit bad }' "$tmp/hl-shared" >&2 ||
		fail "hardlink: a shared inode's nlink did not grow"
	echo "ok   hardlink: $shared_a files shared ($(wc -l < "$tmp/hl-shared") snapshot files are legacy inodes, nlink grown), $copied_a copied"
	listing "$store" > "$tmp/hl-after"
	same_listing "$tmp/hl-before" "$tmp/hl-after" "hardlink: the run changed the legacy store beyond nlink and ctime"

	# The mismatch: a legacy file that was linked, alone in its inode, whose
	# path below diff/ no other layer has; its mode changed, not its header.
	read -r _ pick rel <<EOF
$(grep '^pick ' "$tmp/hl-linked")
EOF
	[ -n "${rel:-}" ] || fail "hardlink: no linked legacy file with a path of its own"
	mode=$(stat -c %a "$pick")
	new=600
	[ "$mode" != 600 ] || new=640
	rm -rf "$tmp/hl-a"
	chmod "$new" "$pick" || fail "chmod $pick"
	listing "$store" > "$tmp/hl-before"
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmp/hl-b" --copy-mode hardlink --json
	cp "$tmp/out" "$tmp/hl-b.json"
	shared_b=$(summary "$tmp/hl-b.json" files_shared) copied_b=$(summary "$tmp/hl-b.json" files_copied)
	[ "$copied_b" = $((copied_a + 1)) ] && [ "$shared_b" = $((shared_a - 1)) ] ||
		fail "hardlink: with $rel's mode changed, $shared_b shared and $copied_b copied; want $((shared_a - 1)) and $((copied_a + 1))"
	ls -d "$tmp/hl-b/$snaps"/*/fs/"$rel" > "$tmp/hl-copies" 2>/dev/null
	[ "$(wc -l < "$tmp/hl-copies")" -eq 1 ] || fail "hardlink: $rel is in $(wc -l < "$tmp/hl-copies") snapshots, want 1"
	snap=$(cat "$tmp/hl-copies")
	[ "$(stat -c '%d %i' "$snap")" != "$(stat -c '%d %i' "$pick")" ] ||
		fail "hardlink: $rel was linked although its mode ($new) differs from its header ($mode)"
	[ "$(stat -c %a "$snap")" = "$mode" ] || fail "hardlink: the copy of $rel has mode $(stat -c %a "$snap"), not the header's $mode"
	cmp -s "$snap" "$pick" || fail "hardlink: the copy of $rel differs from the legacy file"
	[ "$(stat -c '%a %h' "$pick")" = "$new 1" ] || fail "hardlink: the legacy $rel is now $(stat -c '%a %h' "$pick")"
	echo "ok   hardlink: $rel (mode $new, header $mode) copied with mode $mode, counted: $shared_b shared, $copied_b copied"
	listing "$store" > "$tmp/hl-after"
	same_listing "$tmp/hl-before" "$tmp/hl-after" "hardlink: the second run changed the legacy store beyond nlink and ctime"
	migrated_ok "$tmp/hl-b" "$tmp/hl-b.json" "hardlink root"
	listing "$store" > "$tmp/hl-after"
	same_listing "$tmp/hl-before" "$tmp/hl-after" "hardlink: the legacy store changed while containerd ran on the linked root"

	# plan: the bytes each mode needs; linking and reflinking need the blobs only.
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/plan-root" --json
	cp "$tmp/out" "$tmp/plan.json"
	python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["space_needed"]
ok = all(isinstance(s.get(k), int) and s[k] > 0 for k in ("copy", "reflink", "hardlink"))
sys.exit(not (ok and s["reflink"] < s["copy"] and s["hardlink"] < s["copy"]))' "$tmp/out" ||
		fail "plan --json: space_needed is not {copy, reflink, hardlink} bytes with copy the largest"
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/plan-root" --copy-mode hardlink
	echo "ok   plan: space_needed $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["space_needed"])' "$tmp/plan.json" 2>/dev/null)"
	ran=$((ran + 1))
}

cross_part() {
	mnt=$tmp/mnt-cross
	loopfs ext4 "$mnt" || return 0
	store=$(extract "$mnt/store")
	listing "$store" > "$tmp/x-before"
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmp/x-root" --copy-mode auto --json
	[ "$(summary "$tmp/out" copy_mode)" = copy ] || fail "cross: copy_mode is $(summary "$tmp/out" copy_mode), not copy"
	[ "$(summary "$tmp/out" files_shared)" = 0 ] || fail "cross: files_shared is $(summary "$tmp/out" files_shared)"
	[ "$(summary "$tmp/out" files_copied)" -gt 0 ] 2>/dev/null || fail "cross: files_copied is $(summary "$tmp/out" files_copied)"
	n=$(grep -ci 'file *system' "$tmp/err")
	[ "$n" -eq 1 ] && grep -i 'file *system' "$tmp/err" | grep -qi copy ||
		fail "cross: want one stderr line saying the filesystems differ and data is copied, got $n"
	echo "ok   cross-filesystem: auto copied; said: $(grep -i 'file *system' "$tmp/err")"
	listing "$store" > "$tmp/x-after"
	same_listing "$tmp/x-before" "$tmp/x-after" "cross: the run changed the legacy store"
	ran=$((ran + 1))
}

reflink_part xfs
reflink_part btrfs
hardlink_part
cross_part
[ "$ran" -gt 0 ] || { echo "skip: no part could run"; exit 77; }
exit 0
