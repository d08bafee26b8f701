#!/bin/sh
# Judges migrated containerd roots with Docker itself: containerd 2.x and
# dockerd 28 with the containerd image store, from a Debian sid chroot
# (tests/sid-chroot-setup.sh, cached in $DM_SID_ROOT or /var/tmp/dm-sid).
#
#   docker28-check.sh [--copy] [--snapshotter overlayfs|native] ROOT EXPECTED_DIR
#       Starts containerd on ROOT (it upgrades meta.db to its own schema:
#       --copy works on a copy instead) and dockerd on it, then checks that
#       `docker images` lists every tag of EXPECTED_DIR/images.txt naming the
#       same image, and that `docker run IMAGE /fixtool tree /` prints
#       EXPECTED_DIR/tree/<id>.txt for every image (see sid_check_expected in
#       tests/lib-sid.sh).  The snapshotter defaults to the one that matches
#       the driver named in EXPECTED_DIR/versions.txt (vfs: native).
#   docker28-check.sh [DRIVER[:SNAPSHOTTER]...]
#       The test (`make check`): for each fixture store (default: overlay2
#       vfs), extracts it, migrates it with `$DM run` into a new root and
#       checks that root against fixtures/expected/DRIVER.  With :SNAPSHOTTER
#       (overlayfs or native) the run gets `--snapshotter SNAPSHOTTER` and
#       dockerd uses it: the crossed pairs vfs:overlayfs and overlay2:native
#       (tests/docker28-crossed.sh) are judged against the same expected trees.
#
# Exit status: 0 all checks passed, 1 a check failed or a daemon did not
# start on the root, 2 usage, 77 skipped (not root, DM_SKIP_DAEMON_TESTS=1,
# the chroot cannot be made, or $DM has no `run` command).  DM_KEEP=1 keeps
# the scratch directories (daemon logs, check outputs) and names them.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-sid.sh"

usage() {
	echo "usage: $0 [--copy] [--snapshotter overlayfs|native] ROOT EXPECTED_DIR | $0 [DRIVER[:SNAPSHOTTER]...]" >&2
	exit 2
}

copy='' snap=''
while [ $# -gt 0 ]; do
	case $1 in
	--copy) copy=1 ;;
	--snapshotter)
		[ $# -ge 2 ] || usage
		case $2 in overlayfs|native) snap=$2 ;; *) usage ;; esac
		shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done

if [ "${DM_SKIP_DAEMON_TESTS:-0}" = 1 ]; then echo "skip: DM_SKIP_DAEMON_TESTS=1"; exit 77; fi
if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root"; exit 77; fi
for b in unshare nsenter; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: $b is missing"; exit 77; }
done

tmp=
cleanup() {
	sid_stop_all
	[ -z "$tmp" ] || [ "${DM_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# check_root ROOT EXPECTED_DIR [SNAPSHOTTER]: one containerd + dockerd on ROOT, then the checks.
check_root() {
	c_root=$1 c_exp=$2 c_snap=${3:-$snap}
	if [ -z "$c_snap" ]; then
		c_snap=overlayfs
		grep -q '^storage driver vfs' "$c_exp/versions.txt" 2>/dev/null && c_snap=native
	fi
	sid_enter || return 1
	[ "${DM_KEEP:-0}" != 1 ] || echo "scratch (kept): $SID_SCRATCH"
	if [ -n "$copy" ]; then
		mkdir "$SID_SCRATCH/root" && cp -a "$c_root/." "$SID_SCRATCH/root/" || return 1
		c_root=$SID_SCRATCH/root
	fi
	echo "== $c_root ($c_snap) against $c_exp"
	if ! sid_start_containerd "$c_root" || ! sid_start_dockerd "$SID_SCRATCH/docker-data" "$c_snap"; then
		sid_stop_all
		return 1
	fi
	c_rc=0
	sid_check_expected "$c_exp" || c_rc=1
	if [ "$c_rc" -ne 0 ]; then sid_logs; fi
	sid_stop_all
	return "$c_rc"
}

# The migration under test.  The lead's command plugs in here: the store is
# read-only input, ROOT starts empty.
migrate() {	# migrate DRIVER STORE ROOT [SNAPSHOTTER]
	"$DM" run --docker-root "$2" --storage-driver "$1" --containerd-root "$3" \
		${4:+--snapshotter "$4"}
}

need_chroot() {
	if ! sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >&2; then
		echo "skip: no sid chroot with containerd 2.x and Docker 28 at $SID_ROOT"
		exit 77
	fi
}

fixture_mode=1
for a in "$@"; do
	case $a in overlay2|vfs|overlay2:overlayfs|overlay2:native|vfs:overlayfs|vfs:native) ;;
	*) fixture_mode= ;; esac
done

if [ -z "$fixture_mode" ]; then
	[ $# -eq 2 ] || usage
	[ -d "$1" ] || { echo "$0: no containerd root $1" >&2; exit 2; }
	[ -r "$2/images.txt" ] || { echo "$0: no $2/images.txt" >&2; exit 2; }
	need_chroot
	check_root "$1" "$2"
	exit $?
fi

[ -z "$copy" ] && [ -z "$snap" ] || usage
DM=${DM:-$top_srcdir/src/dockerd-migrate}
if ! "$DM" run --help > /dev/null 2>&1; then
	echo "skip: $DM has no run command"
	exit 77
fi
need_chroot
tmp=$(mktemp -d /var/tmp/dm-docker28.XXXXXX) || exit 1
[ "${DM_KEEP:-0}" != 1 ] || echo "work directory (kept): $tmp"
rc=0
[ $# -gt 0 ] || set -- overlay2 vfs
for pair in "$@"; do
	driver=${pair%%:*} sn=
	[ "$driver" = "$pair" ] || sn=${pair#*:}
	store=$(sh "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/$driver-store${sn:+-$sn}") || exit 1
	echo "== migrating the $driver fixture store${sn:+ with --snapshotter $sn}"
	migrate "$driver" "$store" "$tmp/$driver-root${sn:+-$sn}" "$sn"
	m_rc=$?
	if [ "$m_rc" -ne 0 ]; then
		echo "FAIL: $DM run on the $driver store${sn:+ with --snapshotter $sn} exited with status $m_rc"
		rc=1
		continue
	fi
	check_root "$tmp/$driver-root${sn:+-$sn}" "$top_srcdir/fixtures/expected/$driver" "$sn" || rc=1
done
exit $rc
