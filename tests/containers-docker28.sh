#!/bin/sh
# run --containers judged by Docker itself (issue 11): a store made here by
# real dockerd 20.10 gains containers that changed files (added, modified,
# deleted: a whiteout, a replaced directory: opaque, a changed mode, an xattr,
# a hard link), one exited 0, one exited 1, one created and never started, one
# with a named volume, and one running.  The migration runs while that dockerd
# still runs: the running container is refused (exit 1, its name in the line),
# the others migrate; after it is stopped a rerun migrates it alone.  Then
# Docker 28.5.2 (the sid chroot, containerd image store) on the same
# data-root: `docker ps -a` lists every container with its name, image and
# status, `docker export` of each holds the same tree as on the legacy store,
# `docker start -a` prints what it printed there, the volume's data is there,
# and `docker commit` and `docker rm` work.  For overlay2 (overlayfs) and vfs
# (native), or the drivers given as arguments.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-sid.sh"
dm_need_daemons || exit 77
for b in gcc unshare nsenter python3; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: no $b"; exit 77; }
done
if ! sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >/dev/null 2>&1; then
	echo "skip: no sid chroot with containerd 2.x and Docker 28 at $SID_ROOT"
	exit 77
fi
DM=${DM:-$top_srcdir/src/dockerd-migrate}

# The test's temporary tree lives under /var/tmp (the chroot binds it); the
# trap of lib-test.sh is replaced: daemons first, then mounts, then files.
tmp2=$(mktemp -d /var/tmp/dm-ctr28.XXXXXX) || exit 1
trap 'sid_stop_all; dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp2" 2>/dev/null
      [ "${DM_KEEP:-0}" = 1 ] && echo "kept: $tmp2" || rm -rf --one-file-system "$tmp2"; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

mkdir -p "$tmp2/ctx/base"
gcc -static -Os -s -o "$tmp2/ctx/base/fixtool" "$top_srcdir/fixtures/fixtool.c" || fail "static fixtool"
tar -C "$tmp2/ctx/base" -cf "$tmp2/base.tar" fixtool
cat > "$tmp2/ctx/Dockerfile" <<'EOF'
FROM ctr/base:1
RUN ["/fixtool", "mkdir", "/data", "/opq", "/tmp", ";", "write", "/data/a.txt", "alpha", ";", "write", "/data/b.txt", "beta", ";", "write", "/data/mode.txt", "mode", ";", "write", "/opq/old", "old"]
EOF

# A container's tree as `docker export` gives it, one line per entry:
# name type mode uid:gid size mtime (not directories: the runtime touches
# them) sha256 or link target, xattrs.  The runtime's files (/etc/hosts,
# /etc/hostname, /etc/resolv.conf, /.dockerenv, /dev, /proc, /sys) differ
# between runtimes and are left out, as fixtool tree does.
tree_of() {	# tree_of DOCKER-FUNCTION CONTAINER > listing
	"$1" export "$2" | python3 -c '
import hashlib, sys, tarfile
skip = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", ".dockerenv")
t = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
out = []
for m in t:
    n = m.name.lstrip("./").rstrip("/")
    if n in skip or n.split("/")[0] in ("dev", "proc", "sys"):
        continue
    kind = {tarfile.REGTYPE: "f", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h",
            tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}.get(m.type, "?")
    what = "-"
    if m.isfile():
        what = hashlib.sha256(t.extractfile(m).read()).hexdigest()[:16]
    elif m.issym() or m.islnk():
        what = m.linkname
    x = ",".join(sorted(k + "=" + v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")))
    out.append("%s %s %o %d:%d %d %s %s %s" % (n or "/", kind, m.mode & 0o7777, m.uid, m.gid, m.size,
               "-" if m.isdir() else int(m.mtime), what, x or "-"))
print("\n".join(sorted(out)))'
}

# A directory's tree with everything docker export leaves out (xattrs, link
# counts), for comparing a legacy layer directory with a snapshot's.
listing() {
	python3 -c '
import hashlib, os, stat, sys
top = sys.argv[1]
for d, dirs, files in os.walk(top):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        what = "-"
        if stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
        elif stat.S_ISLNK(st.st_mode):
            what = os.readlink(p)
        elif stat.S_ISCHR(st.st_mode):
            what = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        x = ",".join(sorted(k + "=" + os.getxattr(p, k, follow_symlinks=False).hex()
                            for k in os.listxattr(p, follow_symlinks=False)))
        print(os.path.relpath(p, top), oct(st.st_mode), st.st_uid, st.st_gid, st.st_size,
              "-" if stat.S_ISDIR(st.st_mode) else int(st.st_mtime), st.st_nlink, what, x or "-")
' "$1" | sort
}

# `docker ps -a` as NAME IMAGE STATUS-WORDS (Exited (N) or Created; times left out).
ps_of() {	# ps_of DOCKER-FUNCTION
	"$1" ps -a --no-trunc --format '{{.Names}} {{.Image}} {{.Status}}' |
		sed -E 's/^([^ ]+ [^ ]+ )(Exited \([0-9]+\)|Created|Up).*/\1\2/' | sort
}

# start_a DOCKER-FUNCTION NAME: `docker start -a` output (both streams) and exit status.
start_a() {
	"$1" start -a "$2" 2>&1
	echo "exit $?"
}

ctrs='changes stopped failing created withvol busy'

check_driver() {
	driver=$1 sn=$2
	w=$tmp2/$driver
	echo "== $driver -> $sn"
	dm_dockerd_start "$driver" "$w/docker" || fail "$driver: dockerd 20.10 did not start"
	data=$w/docker/root
	dm_docker import "$tmp2/base.tar" ctr/base:1 > /dev/null || fail "$driver: docker import"
	dm_docker build -q -t ctr/app:1 "$tmp2/ctx" > /dev/null || fail "$driver: docker build"
	# Every kind of change in one writable layer; its first step fails on a second run, so
	# that a rerun changes nothing and prints the same line on both daemons.
	dm_docker run --name changes --network none ctr/app:1 /fixtool \
		link /data/b.txt /data/b-link ";" write /added.txt added ";" write /data/b.txt modified ";" \
		chmod 600 /data/mode.txt ";" setxattr /data/b.txt user.note hello ";" rm /data/a.txt ";" \
		rm /opq ";" mkdir /opq ";" write /opq/new new > /dev/null || fail "$driver: container changes"
	dm_docker run --name stopped --network none ctr/app:1 /fixtool write /run.txt ok ";" tree /data \
		> /dev/null || fail "$driver: container stopped"
	dm_docker run --name failing --network none ctr/app:1 /fixtool write /f.txt f ";" link /nonexistent /x \
		> /dev/null 2>&1 && fail "$driver: container failing exited 0"
	dm_docker create --name created --network none ctr/app:1 /fixtool tree / > /dev/null ||
		fail "$driver: container created"
	dm_docker run --rm --network none -v ctrvol:/vol ctr/app:1 /fixtool write /vol/data "volume data" ||
		fail "$driver: volume"
	dm_docker run --name withvol --network none -v ctrvol:/vol ctr/app:1 /fixtool tree /vol > /dev/null ||
		fail "$driver: container withvol"
	# Blocks for ever: writing a FIFO nobody reads.
	dm_docker run -d --name busy --network none ctr/app:1 /fixtool mkfifo /tmp/f ";" write /tmp/f x \
		> /dev/null || fail "$driver: container busy"
	mkdir -p "$w/legacy"
	for c in changes stopped failing withvol; do
		start_a dm_docker "$c" > "$w/legacy/$c.start"
	done
	dm_docker run --rm --network none ctr/app:1 /fixtool tree / > "$w/legacy/created.start" 2>&1
	echo "exit 0" >> "$w/legacy/created.start"
	for c in changes stopped failing created withvol; do
		tree_of dm_docker "$c" > "$w/legacy/$c.tree" || fail "$driver: docker export $c"
	done
	grep -q '^data/a.txt ' "$w/legacy/changes.tree" && fail "$driver: the legacy tree still has data/a.txt"
	grep -q '^opq/old ' "$w/legacy/changes.tree" && fail "$driver: the legacy tree still has opq/old"

	# While dockerd 20.10 runs: busy is refused by name, the rest migrates.
	expect_rc 1 "$DM" run --docker-root "$data" --containerd-root "$w/croot" --containers
	grep -q "^dockerd-migrate: container [0-9a-f]*: failed: /busy: running: " "$tmp/err" ||
		fail "$driver: no line naming the running container /busy"
	grep -q '^dockerd-migrate: containers: 5 migrated, 0 existed, 1 failed$' "$tmp/err" ||
		fail "$driver: want 5 containers migrated, 1 failed"
	dm_docker kill busy > /dev/null || fail "$driver: docker kill busy"
	tree_of dm_docker busy > "$w/legacy/busy.tree" || fail "$driver: docker export busy"
	ps_of dm_docker > "$w/legacy/ps"
	dm_dockerd_stop
	expect_rc 0 "$DM" run --docker-root "$data" --containerd-root "$w/croot" --containers --json
	python3 - "$tmp/out" <<'EOF' || fail "$driver: the rerun's report"
import json, sys
d = json.load(open(sys.argv[1]))
st = {c["name"]: c["status"] for c in d["containers"]}
want = {"/busy": "migrated", "/changes": "existed", "/stopped": "existed", "/failing": "existed",
        "/created": "existed", "/withvol": "existed"}
if st != want:
    sys.exit("containers: %s" % st)
EOF
	expect_rc 7 "$DM" run --docker-root "$data" --containerd-root "$w/croot" --containers
	for c in $ctrs; do
		id=$(python3 -c 'import json,sys,glob
for p in glob.glob(sys.argv[1] + "/containers/*/config.v2.json"):
    j = json.load(open(p))
    if j["Name"] == "/" + sys.argv[2]: print(j["ID"])' "$data" "$c")
		[ -n "$id" ] || fail "$driver: no config of $c"
		[ -f "$data/containers/$id/config.v2.json.dockerd-migrate" ] || fail "$driver: $c: no backup"
		eval "id_$c=$id"
	done

	sid_enter || fail "sid_enter"
	sid_start_containerd "$w/croot" || fail "$driver: containerd (sid)"
	sid_start_dockerd "$data" "$sn" || { sid_logs; fail "$driver: dockerd 28 on the migrated root"; }
	mkdir -p "$w/new"
	ps_of sid_docker > "$w/new/ps"
	diff -u "$w/legacy/ps" "$w/new/ps" || { sid_logs; fail "$driver: docker ps -a differs"; }
	[ "$(wc -l < "$w/new/ps")" -eq 6 ] || fail "$driver: docker ps -a lists $(wc -l < "$w/new/ps") containers, not 6"
	for c in $ctrs; do
		tree_of sid_docker "$c" > "$w/new/$c.tree" || fail "$driver: docker export $c (Docker 28)"
		diff -u "$w/legacy/$c.tree" "$w/new/$c.tree" || fail "$driver: the tree of $c differs"
	done
	# The writable layer of changes as containerd keeps it, against the legacy directory:
	# whiteout, opaque marker, xattr and hard link included.
	mid=$(cat "$data/image/$driver/layerdb/mounts/$id_changes/mount-id")
	case $driver in
	overlay2) legacy_dir=$data/overlay2/$mid/diff ;;
	*) legacy_dir=$data/vfs/dir/$mid ;;
	esac
	sid_ctr -n moby snapshots --snapshotter "$sn" mounts /mnt "$id_changes" > "$w/new/mounts" ||
		fail "$driver: ctr snapshots mounts $id_changes"
	snap_dir=$(sed -nE 's/.*upperdir=([^,]*).*/\1/p' "$w/new/mounts")
	[ -n "$snap_dir" ] || snap_dir=$(awk '$1 == "mount" { print $4; exit }' "$w/new/mounts")
	[ -d "$snap_dir" ] || fail "$driver: no snapshot directory in $(cat "$w/new/mounts")"
	listing "$legacy_dir" > "$w/legacy/changes.layer"
	listing "$snap_dir" > "$w/new/changes.layer"
	diff -u "$w/legacy/changes.layer" "$w/new/changes.layer" || fail "$driver: the writable layer of changes differs"
	grep -q 'user.note=' "$w/new/changes.layer" || fail "$driver: the xattr user.note is not in the layer"
	for c in changes stopped failing created withvol; do
		start_a sid_docker "$c" > "$w/new/$c.start"
		diff -u "$w/legacy/$c.start" "$w/new/$c.start" || fail "$driver: docker start -a $c differs"
	done
	grep -q '^/vol/data f .* -$' "$w/new/withvol.start" || grep -q 'data' "$w/new/withvol.start" ||
		fail "$driver: the volume's data is not there"
	sid_docker commit changes ctr/committed:1 > /dev/null || fail "$driver: docker commit"
	sid_docker run --rm --network none ctr/committed:1 /fixtool tree / > "$w/new/committed" 2>&1 ||
		fail "$driver: docker run of the committed image"
	grep -q '^/added.txt ' "$w/new/committed" || fail "$driver: the committed image lacks /added.txt"
	grep -q '^/data/a.txt ' "$w/new/committed" && fail "$driver: the committed image has /data/a.txt"
	sid_docker rm stopped > /dev/null || fail "$driver: docker rm"
	sid_ctr -n moby snapshots --snapshotter "$sn" ls > "$w/new/snapshots"
	grep -q "^$id_stopped" "$w/new/snapshots" && fail "$driver: docker rm left the snapshots of stopped"
	grep -q "^$id_changes " "$w/new/snapshots" || fail "$driver: no active snapshot for changes"
	sid_ctr -n moby leases ls > "$w/new/leases"
	grep -q "^$id_changes " "$w/new/leases" || fail "$driver: no lease for changes"
	sid_stop_all
	echo "$driver: 6 containers migrated; ps, trees, start -a, volume, commit and rm as on dockerd 20.10"
}

[ $# -gt 0 ] || set -- overlay2 vfs
for d in "$@"; do
	case $d in
	overlay2) check_driver overlay2 overlayfs ;;
	vfs) check_driver vfs native ;;
	*) echo "usage: $0 [overlay2|vfs]..." >&2; exit 2 ;;
	esac
done
exit 0
