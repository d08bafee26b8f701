#!/bin/sh
# docker28-check.sh with Debian trixie's daemons instead of sid's: containerd
# 1.7.24 and dockerd 26.1.5 with the containerd image store judge the
# migrated fixture stores, so that containerd 1.7 is checked as 1.6 (the
# other tests) and 2.x (docker28-check.sh) are.  The chroot is made once by
# tests/sid-chroot-setup.sh and cached in $DM_SID_ROOT or /var/tmp/dm-trixie.
# Arguments and exit status: those of docker28-check.sh.
: "${top_srcdir:?}"
DM_SID_SUITE=trixie
export DM_SID_SUITE
exec "${SHELL:-/bin/sh}" "$top_srcdir/tests/docker28-check.sh" "$@"
