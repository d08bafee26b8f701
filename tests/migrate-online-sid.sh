#!/bin/sh
# Online migration into containerd 2.x, judged by Docker 28: for each fixture
# store, containerd from the Debian sid chroot (tests/lib-sid.sh) runs on an
# empty root, the host's `$DM run --containerd-address` migrates into it
# while it runs, no lease or ingest of the run is left and a rerun writes
# nothing (exit 7); then dockerd 28 with the containerd image store, on that
# same containerd, lists and runs every image (sid_check_expected).  Skips
# (77) when not root, with DM_SKIP_DAEMON_TESTS=1, or when the chroot cannot
# be made.  DM_KEEP=1 keeps the work directory and daemon logs.  With
# DM_SID_SUITE=trixie and DM_SID_CONTAINERD=1.7 (migrate-online-trixie.sh):
# containerd 1.7 and Docker 26 from a trixie chroot instead.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-sid.sh"

if [ "${DM_SKIP_DAEMON_TESTS:-0}" = 1 ]; then echo "skip: DM_SKIP_DAEMON_TESTS=1"; exit 77; fi
if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root"; exit 77; fi
for b in unshare nsenter; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: $b is missing"; exit 77; }
done
if ! sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >&2; then
	echo "skip: no ${DM_SID_SUITE:-sid} chroot with its containerd and Docker at $SID_ROOT"
	exit 77
fi

# The containerd roots live outside $tmp's /tmp: the chroot has its own /tmp.
work=$(mktemp -d /var/tmp/dm-online-sid.XXXXXX) || exit 1
trap 'sid_stop_all; [ "${DM_KEEP:-0}" = 1 ] && echo "kept: $work" >&2 || rm -rf --one-file-system "$work";
	chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

for driver in overlay2 vfs; do
	case $driver in overlay2) sn=overlayfs ;; vfs) sn=native ;; esac
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$work/store-$driver") || fail "extract $driver"
	sid_enter || fail "$driver: cannot enter the sid chroot"
	sid_start_containerd "$work/root-$driver" || fail "$driver: containerd (sid) did not start"
	version=$(sid_ctr version | awk '/^Server:/ { s = 1 } s && /Version:/ { print $2; exit }')
	echo "$driver: containerd $version"
	want=${DM_SID_CONTAINERD:-2}
	case $version in "v$want".*|"$want".*) ;; *) fail "$driver: the chroot's containerd is $version, not $want" ;; esac

	expect_rc 0 "$DM" run --docker-root "$store" --containerd-address "$SID_CONTAINERD_SOCK" --json
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["mode"] != "online" or d["summary"]["images_failed"] != 0)' \
		"$tmp/out" || fail "$driver: not an online run without failures"
	[ -z "$(sid_ctr -n moby leases ls -q)" ] || fail "$driver: a lease was left"
	[ -z "$(sid_ctr -n moby content active | awk 'NR > 1')" ] || fail "$driver: an ingest was left"
	sid_ctr -n moby snapshots --snapshotter "$sn" ls | grep -q 'dockerd-migrate-extract-' &&
		fail "$driver: an extraction snapshot was left"
	expect_rc 7 "$DM" run --docker-root "$store" --containerd-address "$SID_CONTAINERD_SOCK"

	sid_start_dockerd "$SID_SCRATCH/docker-data" "$sn" || fail "$driver: the chroot's dockerd did not start"
	if ! sid_check_expected "$top_srcdir/fixtures/expected/$driver"; then
		sid_logs
		fail "$driver: the chroot's Docker does not see the migrated images as dockerd 20.10 did"
	fi
	sid_stop_all
done
exit 0
