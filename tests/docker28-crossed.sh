#!/bin/sh
# Issue 9, the crossed pairs: the vfs fixture store migrated with
# `--snapshotter overlayfs` and the overlay2 one with `--snapshotter native`,
# each judged under Docker 28.5.2 (containerd 2.1.9, the sid chroot) like the
# default pairings: every tag listed, naming its image, and `/fixtool tree /`
# in a container of every image identical to what dockerd 20.10 showed on the
# legacy store (fixtures/expected/vfs, fixtures/expected/overlay2).
#
# A vfs layer directory is the layer's full tree (deletions already applied),
# an overlay2 diff/ only its changes (deletions as whiteouts): a snapshot
# copied from one cannot serve as the other form.  Copied as they are, the
# vfs store under overlayfs shows what upper layers deleted, and the overlay2
# store under native lacks every file of the lower layers.  A run that refuses
# the crossed pair fails here too: the issue asks for the pair to work.
#
# Arguments and exit status: those of docker28-check.sh (77: skipped, e.g.
# not root, DM_SKIP_DAEMON_TESTS=1, no sid chroot).  Standalone:
#   DM=src/dockerd-migrate sh tests/docker28-crossed.sh [vfs:overlayfs] [overlay2:native]
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
export top_srcdir
[ $# -gt 0 ] || set -- vfs:overlayfs overlay2:native
exec "${SHELL:-/bin/sh}" "$top_srcdir/tests/docker28-check.sh" "$@"
