#!/bin/sh
# Offline migration judged by real containerd 1.6.20: migrate each fixture
# store, start containerd on the result and check with ctr that every name is
# there, complete and unpacked, that every blob hashes to its digest, that a
# container of each image sees the files the original dockerd showed, and that
# no lease of ours is left.  Then: a second run writes nothing (exit 7, files
# unchanged), and runs killed with SIGKILL at several points, then rerun, give
# the same result and a containerd that starts cleanly.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
dm_need_daemons || exit 77

trap 'dm_containerd_stop 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

check_root() { # ROOT DRIVER SNAPSHOTTER REPORT.json
	dm_containerd_start "$1" || fail "$2: containerd did not start on the migrated root"
	dm_check_migrated "$2" "$3" "$4"
	dm_containerd_stop
}

snapshot_state() { # ROOT: what a rerun must leave exactly as it is
	find "$1" -path '*/ingest' -prune -o -printf '%p %s %T@\n' | sort
	find "$1" -name '*.db' -exec sha256sum {} + | sort
}

for driver in overlay2 vfs; do
	case $driver in overlay2) sn=overlayfs ;; vfs) sn=native ;; esac
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/store-$driver") || fail "extract $driver"
	( cd "$store" && find . -printf '%p %s %T@ %m\n' | sort ) > "$tmp/source-before"

	root=$tmp/ctr-$driver
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$root" --json --jobs 2
	cp "$tmp/out" "$tmp/report-$driver.json"
	check_root "$root" "$driver" "$sn" "$tmp/report-$driver.json"

	# The source store is never modified.
	( cd "$store" && find . -printf '%p %s %T@ %m\n' | sort ) > "$tmp/source-after"
	cmp -s "$tmp/source-before" "$tmp/source-after" || fail "$driver: the Docker store was modified"

	# Idempotent: a rerun (containerd having run on the root meanwhile) writes nothing.
	snapshot_state "$root" > "$tmp/state-before"
	expect_rc 7 "$DM" run --docker-root "$store" --containerd-root "$root"
	grep -q 'nothing to do' "$tmp/err" || fail "$driver: rerun does not say nothing to do"
	snapshot_state "$root" > "$tmp/state-after"
	diff -u "$tmp/state-before" "$tmp/state-after" >&2 || fail "$driver: rerun changed the root"

	# Killed at several points, then rerun: the same result.
	for delay in 0.05 0.15 0.3 0.6; do
		kroot=$tmp/killed-$driver-$delay
		"$DM" run --docker-root "$store" --containerd-root "$kroot" --jobs 1 >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		# containerd starts cleanly on what a killed run left, and its GC does not break it.
		if [ -e "$kroot/io.containerd.metadata.v1.bolt/meta.db" ]; then
			dm_containerd_start "$kroot" || fail "$driver: containerd failed on a root killed after $delay s"
			dm_ctr -n moby images ls -q > /dev/null || fail "$driver: ctr on a killed root"
			dm_containerd_stop
		fi
		"$DM" run --docker-root "$store" --containerd-root "$kroot" --json > "$tmp/out" 2> "$tmp/err"
		rc=$?
		[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || fail "$driver: rerun after kill at $delay s exited $rc"
		cp "$tmp/out" "$tmp/report-k.json"
		[ "$rc" -eq 7 ] && cp "$tmp/report-$driver.json" "$tmp/report-k.json"
		check_root "$kroot" "$driver" "$sn" "$tmp/report-k.json"
		rm -rf "$kroot"
	done
done
exit 0
