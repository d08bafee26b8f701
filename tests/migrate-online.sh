#!/bin/sh
# Online migration (`run --containerd-address`) into a running containerd
# 1.6.20, judged by the same checks as the offline test (lib-migrate-check.sh)
# on each fixture store, with:
#  - containerd's garbage collector forced again and again during the run
#    (a throwaway lease removed with --sync): it must take nothing of ours;
#  - no lease of ours left afterwards, but the lease of a run still alive
#    (another run going on) is kept; a rerun writes nothing (exit 7);
#  - the same image names, manifest digests and snapshot chains as an offline
#    run of the same store (compression is deterministic);
#  - runs killed with SIGKILL, then rerun: the checks pass, containerd holds no
#    ingest (`ctr content active` is empty) and no snapshot but the migrated
#    layers' chainIDs (`ctr snapshots ls` equals the offline run's list: no
#    dockerd-migrate-extract-* key).
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
dm_need_daemons || exit 77

trap 'dm_containerd_stop 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# gc_during PID: until PID ends (at most 2000 times), freezes it wherever it
# is, forces a garbage collection and lets it go on; $gcs counts them.  The
# fixture runs take under a second: freezing is what lets collections land in
# the middle of them, between any two calls.
gc_during() {
	gcs=0
	while [ "$gcs" -lt 2000 ] && kill -STOP "$1" 2>/dev/null; do
		dm_ctr -n moby leases create --id dm-test-throwaway > /dev/null &&
			dm_ctr -n moby leases rm --sync dm-test-throwaway > /dev/null ||
			{ kill -CONT "$1"; fail "forced garbage collection"; }
		kill -CONT "$1" 2>/dev/null
		gcs=$((gcs + 1))
		sleep 0.01
	done
}

# What must be the same offline and online: names with their targets, and
# the snapshot chains.
listing() { # SNAPSHOTTER OUT-PREFIX
	dm_ctr -n moby images ls | awk 'NR > 1 { print $1, $3 }' | sort > "$2.images" || fail "ctr images ls"
	dm_ctr -n moby snapshots --snapshotter "$1" ls | awk 'NR > 1 { print $1, $2, $3 }' | sort > "$2.snaps" ||
		fail "ctr snapshots ls"
}

# Nothing in flight is left: no ingest, no lease, no snapshot but the chains.
no_leftovers() { # DRIVER SNAPSHOTTER REFERENCE-PREFIX WHAT
	dm_check_nothing_in_flight "$2" "$1 $4"
	listing "$2" "$tmp/now"
	diff -u "$3.snaps" "$tmp/now.snaps" >&2 || fail "$1 $4: snapshots differ from the offline run's"
}

online_run() { # STORE JSON-OUT EXTRA-OPTIONS...
	o_store=$1 o_out=$2
	shift 2
	"$DM" run --docker-root "$o_store" --containerd-address "$DM_CONTAINERD_SOCK" --json "$@" \
		> "$tmp/out" 2> "$tmp/err"
	o_rc=$?
	cp "$tmp/out" "$o_out"
	return "$o_rc"
}

for driver in overlay2 vfs; do
	case $driver in overlay2) sn=overlayfs ;; vfs) sn=native ;; esac
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/store-$driver") || fail "extract $driver"

	# The offline run of the same store, for comparison.
	expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmp/off-$driver" --jobs 2
	dm_containerd_start "$tmp/off-$driver" || fail "$driver: containerd on the offline root"
	listing "$sn" "$tmp/off-$driver"
	dm_containerd_stop

	# plan says which mode run would use.
	dm_containerd_start "$tmp/on-$driver" || fail "$driver: containerd did not start"
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-address "$DM_CONTAINERD_SOCK" --json
	json_is "$tmp/out" mode online || fail "$driver: plan --containerd-address does not say online"
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/on-$driver"
	grep -q '^run would migrate offline' "$tmp/out" || fail "$driver: plan --containerd-root does not say offline"
	# The daemon serves another root than the one named: refused.
	expect_rc 6 "$DM" run --docker-root "$store" --containerd-address "$DM_CONTAINERD_SOCK" \
		--containerd-root "$tmp/off-$driver"
	grep -q "serves root" "$tmp/err" || fail "$driver: the root mismatch is not explained"

	# Leases of this tool: one of a dead run (it goes), one of a live run (this shell: it stays).
	start=$(python3 -c 's = open("/proc/%s/stat" % __import__("sys").argv[1]).read()
print(s[s.rindex(")") + 2:].split()[19])' $$)
	dm_ctr -n moby leases create --id dm-test-dead io.dockerd-migrate.lease=test \
		io.dockerd-migrate.process=999999999:1 > /dev/null || fail "ctr leases create"
	dm_ctr -n moby leases create --id dm-test-live io.dockerd-migrate.lease=test \
		"io.dockerd-migrate.process=$$:$start" > /dev/null || fail "ctr leases create"

	# Online, one layer at a time, while the garbage collector runs again and again.
	online_run "$store" "$tmp/report-$driver.json" --jobs 1 --containerd-root "$tmp/on-$driver" &
	pid=$!
	gc_during "$pid"
	wait "$pid" || fail "$driver: online run exited $?"
	echo "$driver: $gcs forced garbage collections during the online run"
	[ "$gcs" -ge 3 ] || fail "$driver: too few garbage collections ran during the online run"
	[ "$(dm_ctr -n moby leases ls -q)" = dm-test-live ] ||
		fail "$driver: leases after the run: $(dm_ctr -n moby leases ls -q | tr '\n' ' '), want dm-test-live"
	dm_ctr -n moby leases rm dm-test-live > /dev/null || fail "ctr leases rm"
	json_is "$tmp/report-$driver.json" mode online || fail "$driver: the report does not say online"
	dm_check_migrated "$driver" "$sn" "$tmp/report-$driver.json"
	listing "$sn" "$tmp/on-$driver"
	diff -u "$tmp/off-$driver.images" "$tmp/on-$driver.images" >&2 ||
		fail "$driver: online and offline runs give different images"
	no_leftovers "$driver" "$sn" "$tmp/off-$driver" "online run"

	# Idempotent: a rerun writes nothing, but removes the lease a run killed after its
	# images were made left behind.
	dm_ctr -n moby leases create --id dm-test-dead io.dockerd-migrate.lease=test \
		io.dockerd-migrate.process=999999999:1 > /dev/null || fail "ctr leases create"
	expect_rc 7 "$DM" run --docker-root "$store" --containerd-address "$DM_CONTAINERD_SOCK"
	grep -q 'nothing to do' "$tmp/err" || fail "$driver: rerun does not say nothing to do"
	[ -z "$(dm_ctr -n moby leases ls -q)" ] || fail "$driver: a dead run's lease outlived a rerun"
	dm_containerd_stop

	# Killed at several points, then rerun: the same result, nothing left over.
	for delay in 0.05 0.2 0.4; do
		dm_containerd_start "$tmp/killed-$driver-$delay" || fail "$driver: containerd did not start"
		"$DM" run --docker-root "$store" --containerd-address "$DM_CONTAINERD_SOCK" --jobs 1 \
			> /dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		online_run "$store" "$tmp/report-k.json"
		rc=$?
		[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || fail "$driver: rerun after kill at $delay s exited $rc"
		[ "$rc" -eq 7 ] && cp "$tmp/report-$driver.json" "$tmp/report-k.json"
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]
print("%s: rerun after kill at %s s: layers migrated %s, existed %s" % (sys.argv[2], sys.argv[3],
      s["layers_migrated"], s["layers_existed"]))' "$tmp/out" "$driver" "$delay"
		dm_check_migrated "$driver" "$sn" "$tmp/report-k.json"
		no_leftovers "$driver" "$sn" "$tmp/off-$driver" "rerun after kill at $delay s"
		listing "$sn" "$tmp/k"
		diff -u "$tmp/off-$driver.images" "$tmp/k.images" >&2 ||
			fail "$driver: after kill at $delay s the images differ from the offline run's"
		dm_containerd_stop
		rm -rf "$tmp/killed-$driver-$delay"
	done
done
exit 0
