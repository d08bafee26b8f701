#!/bin/sh
# migrate-online-sid.sh with Debian trixie's daemons: the online migration
# into a running containerd 1.7.24, then dockerd 26.1.5 with the containerd
# image store listing and running every image.  The chroot is made once by
# tests/sid-chroot-setup.sh and cached in $DM_SID_ROOT or /var/tmp/dm-trixie.
: "${top_srcdir:?}"
DM_SID_SUITE=trixie DM_SID_CONTAINERD=1.7
export DM_SID_SUITE DM_SID_CONTAINERD
exec "${SHELL:-/bin/sh}" "$top_srcdir/tests/migrate-online-sid.sh" "$@"
