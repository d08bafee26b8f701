#!/bin/sh
# Issue 9, durability: every snapshot's data is synced before the record
# that names it is written (offline: the bolt commits of the snapshotter's
# metadata.db and of meta.db), so that no committed record can point at
# file data a power cut could lose.
#
# Method.  Each fixture store (overlay2 with its default overlayfs, vfs with
# native) is migrated offline with --jobs 1 under
#     strace -f -y -qq -s 65536 -e trace=<writes, syncs, name and inode changes>
# (-y names the file behind every descriptor, -s keeps names whole), and
# tests/sync-order.py replays the trace: every entry beneath a snapshot
# directory that was written (data), made, removed or renamed (entry), or
# had its owner, mode, times or xattrs set (inode) stays dirty until an
# fsync/fdatasync of it (of its directory, for its name) or a syncfs/sync;
# sync_file_range clears nothing.  Then
#   - at every write to io.containerd.snapshotter.v1.*/metadata.db nothing
#     may be dirty (its commits may name any snapshot);
#   - at every write to meta.db nothing may be dirty beneath a snapshot
#     directory with its final name (snapshots/<id>, not containerd's
#     temporary new-*): the blob's record, which names no snapshot, may be
#     written while its layer's snapshot is still being filled.
# What the trace cannot see: data written through mmap, and whether a
# syncfs was on the root's filesystem (everything here is on one).  Today
# the snapshot files are never synced (only the snapshots directory, after
# the rename into place), so the first commit after each layer fails.
#
# Needs root (an exact store) and strace (tests/integration-deps.sh installs
# it) allowed to trace; no daemon.  DM_KEEP=1 keeps the traces.
# Standalone: DM=src/dockerd-migrate sh tests/sync-order.sh [overlay2|vfs...]
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-store.sh"
store_need_root
command -v strace >/dev/null 2>&1 || { echo "skip: strace is not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "skip: python3 is not installed"; exit 77; }
strace -qq -o /dev/null true 2>/dev/null || { echo "skip: strace cannot trace here"; exit 77; }
[ "${DM_KEEP:-0}" != 1 ] || trap 'echo "kept: $tmp"' EXIT

calls=write,pwrite64,writev,pwritev,pwritev2,copy_file_range,sendfile,splice,ioctl
calls=$calls,fsync,fdatasync,syncfs,sync,sync_file_range
calls=$calls,open,openat,openat2,creat,mkdir,mkdirat,mknod,mknodat,symlink,symlinkat
calls=$calls,link,linkat,unlink,unlinkat,rmdir,rename,renameat,renameat2
calls=$calls,chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown,utimensat
calls=$calls,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr

# LeakSanitizer cannot work under ptrace and aborts at exit: in the sanitizer
# pass the traced run checks everything but leaks (the untraced tests do).
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS

rc=0
[ $# -gt 0 ] || set -- overlay2 vfs
for driver in "$@"; do
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/store-$driver") || fail "extract $driver"
	root=$tmp/root-$driver
	strace -f -y -qq -s 65536 -o "$tmp/trace-$driver" -e trace="$calls" \
		"$DM" run --docker-root "$store" --containerd-root "$root" --jobs 1 > "$tmp/out" 2> "$tmp/err" ||
		fail "$driver: run under strace failed"
	echo "== $driver: $(wc -l < "$tmp/trace-$driver") traced calls"
	python3 "$top_srcdir/tests/sync-order.py" "$tmp/trace-$driver" "$root" || rc=1
	[ "${DM_KEEP:-0}" = 1 ] || rm -rf "$tmp/store-$driver" "$root" "$tmp/trace-$driver"
done
exit $rc
