#!/bin/sh
# `make bench-migrate` (root, the daemons; not a test): what an online run
# costs against an offline run of the same store in the same invocation.
# dockerd 20.10 imports two images made here: one layer with a BIG MiB file
# of random bytes, one with SMALL small files.  Each is then migrated, with
# --jobs 1 and 2, offline into a new root (the baseline) and online into a
# containerd 1.6.20 on another new root; the best of REPS runs of each is
# kept, and the ratio online/offline printed.  Both runs must give the same
# manifest digests.  Environment: BIG (MiB, default 256), SMALL (default
# 4000), REPS (default 3), TMPDIR (default /var/tmp: the store and the roots
# need about 3 * BIG MiB).
set -u
: "${top_srcdir:?}" "${DM:?}"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-bench.sh"
dm_need_daemons
BIG=${BIG:-256} SMALL=${SMALL:-4000} REPS=${REPS:-3}
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/dm-bench.XXXXXX") || exit 1
trap 'dm_containerd_stop 2>/dev/null; dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp"; rm -rf "$tmp"' EXIT
die() { echo "bench-migrate: $*" >&2; exit 1; }

dm_bench_store "$tmp" "$BIG" "$SMALL" || die "no store"
store=$DM_BENCH_STORE

now() { date +%s.%N; }
# timed_run OUT-JSON ARGS...: the run's wall time in seconds on stdout.
timed_run() {
	t_out=$1
	shift
	t0=$(now)
	"$DM" run --docker-root "$store" --json "$@" > "$t_out" 2> "$tmp/err" || { cat "$tmp/err" >&2; die "run $* failed"; }
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
min() { printf '%s\n' "$@" | sort -g | head -n 1; }

echo "store: 1 layer of $BIG MiB random bytes, 1 layer of $SMALL small files; best of $REPS"
for jobs in 1 2; do
	offs= ons=
	r=0
	while [ "$r" -lt "$REPS" ]; do
		offs="$offs $(timed_run "$tmp/off.json" --containerd-root "$tmp/off-$r" --jobs "$jobs")"
		rm -rf "$tmp/off-$r"
		dm_containerd_start "$tmp/on-$r" || die "containerd did not start"
		ons="$ons $(timed_run "$tmp/on.json" --containerd-address "$DM_CONTAINERD_SOCK" --jobs "$jobs")"
		dm_containerd_stop
		rm -rf "$tmp/on-$r"
		[ "$(dm_bench_manifests "$tmp/off.json")" = "$(dm_bench_manifests "$tmp/on.json")" ] ||
			die "online and offline runs gave different manifests"
		r=$((r + 1))
	done
	# shellcheck disable=SC2086
	off=$(min $offs) on=$(min $ons)
	awk -v j="$jobs" -v off="$off" -v on="$on" \
		'BEGIN { printf "jobs %s: offline %.2f s, online %.2f s, online/offline %.2f\n", j, off, on, on / off }'
done
