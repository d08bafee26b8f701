#!/bin/sh
# Crash safety of lib/bolt's commits (tests/bolt-crash.c): 200 writers killed
# with SIGKILL at random moments, then 400 simulated power cuts that keep a
# random part of the unsynced writes.  Fixed seeds, so a power-cut failure
# repeats exactly; a failing file is kept and its path printed.
set -eu
: "${top_builddir:?}"
crash=$top_builddir/tests/bolt-crash
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-bolt-crash.XXXXXX")
"$crash" kill "$tmp/crash-kill.db" 200 0x5eed 20000 || { echo "kept in $tmp"; exit 1; }
"$crash" powercut "$tmp/crash-powercut.db" 400 0x5eed || { echo "kept in $tmp"; exit 1; }
if [ -n "${DM_BOLT_KEEP_DIR:-}" ]; then
	mkdir -p "$DM_BOLT_KEEP_DIR"
	cp "$tmp"/*.db "$DM_BOLT_KEEP_DIR/"
fi
rm -rf "$tmp"
