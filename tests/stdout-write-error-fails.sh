#!/bin/sh
# A result that cannot be written is a failure: every command whose stdout is
# a full disk (/dev/full) exits non-zero (1, never 0 or 7) with one error line
# saying so, instead of exiting as if its listing or report had been read.
# The hand-made stores of fixtures/make-broken.sh, and (as root) run into
# scratch containerd roots (vfs store, native snapshotter).
set -u
. "$top_srcdir/tests/lib-test.sh"

[ -c /dev/full ] || { echo "SKIP: no /dev/full"; exit 77; }
sh "$top_srcdir/fixtures/make-broken.sh" "$tmp/fx" >/dev/null || fail "make-broken.sh"
good=$tmp/fx/good-vfs

# full RC CMD...: CMD exits RC with stdout on a file; with stdout on
# /dev/full it exits 1 with exactly one line on stderr about it.
full() {
	expect_rc "$@"
	shift
	[ -s "$tmp/out" ] || fail "'$*' wrote nothing to stdout"
	"$@" >/dev/full 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "'$*' > /dev/full exited $rc, want 1"
	n=$(grep -c '^dockerd-migrate: error: cannot write to standard output: No space left on device$' "$tmp/err")
	[ "$n" -eq 1 ] || fail "'$*' > /dev/full: $n error lines about stdout, want 1"
}

full 0 "$DM" --version
full 0 "$DM" --help
full 0 "$DM" plan --help
full 0 "$DM" plan --docker-root "$good" --containerd-root "$tmp/unused"
full 0 "$DM" plan --json --docker-root "$good" --containerd-root "$tmp/unused"
full 0 "$DM" verify-source --docker-root "$good" --jobs 2
# run writes snapshots with the owners the layers' headers give (root), which
# only root can: unprivileged, the run part is left out.
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: run's part needs root (snapshot owners come from the tar headers)"
	exit 0
fi
# The first run into a root migrates (0), the second finds nothing to do (7,
# here to /dev/full); a lost JSON report is a failure either way.
full 0 "$DM" run --json --docker-root "$good" --containerd-root "$tmp/ctr1"
"$DM" run --json --docker-root "$good" --containerd-root "$tmp/ctr2" >/dev/full 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "first run --json > /dev/full exited $rc, want 1"
grep -q '^dockerd-migrate: images: 5 migrated' "$tmp/err" || fail "first run did not migrate"
[ "$(grep -c '^dockerd-migrate: error: cannot write to standard output' "$tmp/err")" -eq 1 ] ||
	fail "first run --json > /dev/full: no single error line about stdout"
# Without --json, run writes nothing to stdout: nothing to lose, nothing failed.
expect_rc 7 "$DM" run --docker-root "$good" --containerd-root "$tmp/ctr1"
"$DM" run --docker-root "$good" --containerd-root "$tmp/ctr1" >/dev/full 2>"$tmp/err"
[ $? -eq 7 ] || fail "run without --json > /dev/full: exit status changed"
exit 0
