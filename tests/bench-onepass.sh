#!/bin/sh
# `make bench-onepass BEFORE=OLD-BINARY` (root, the daemons; not a test):
# issue 9's before/after figures for `run`, offline and online, from one
# invocation on one store.  BEFORE is the two-pass binary (a build of
# bb7a8e2: the blob rebuilt from tar-split, then the snapshot copied from the
# layer directory), AFTER (default DM, this tree's build) the one-pass
# applier.  dockerd 20.10 makes an overlay2 store (tests/lib-bench.sh): one
# layer holding one file of BIG MiB random bytes, one layer of SMALL small
# files.  Each of REPS rounds runs `run --jobs 1` with both binaries, the
# order alternating from round to round, offline into a fresh root and online
# into a fresh containerd 1.6.20 on a fresh root.  Before each run the store's
# files are dropped from the page cache (sync, then posix_fadvise DONTNEED on
# each file; the rest of the machine's cache is left alone), so every run
# reads the store cold.  Every run gives the same manifest digests, and each
# root the after binary wrote passes `ctr -n moby images check` (complete and
# unpacked) under containerd 1.6.20.  The table gives, per mode and binary,
# the median over the rounds of each figure, and after/before per figure:
#
#   wall_s    seconds from the start of the run to the end of a `sync` after
#             it (the sync is timed: the one-pass binary syncs its snapshots
#             itself, the old one left them to the kernel)
#   cpu_s     user + system CPU seconds of the process (and the sync); on a
#             shared machine steadier than wall_s
#   rss_MiB   peak RSS of the dockerd-migrate process (GNU time's %M);
#             online, containerd's own memory is not in it
#   rd_MiB    bytes the process got from read-type calls (rchar: read, pread,
#             readv, sendfile, copy_file_range; page-cache hits count, bolt's
#             mmap'd reads and the gRPC socket's recv() do not); online, the
#             blob spool read back from TMPDIR to be sent is in it
#   wr_MiB    bytes the process handed to write-type calls (wchar; the
#             socket's send() is not in it); online, the blob spool is
#   dkrd_MiB  bytes read from the block device on the run's behalf
#             (read_bytes): the process's, plus, online, containerd's while
#             the run lasted
#   dkwr_MiB  bytes of page cache dirtied on the run's behalf, less what was
#             truncated before writeback (write_bytes - cancelled_write_bytes):
#             what the run sends to the disk; process plus, online, containerd
#   du_MiB    what the run added to the containerd root (du -sb after, less
#             before)
#
# The process's counters are read from /proc/PID/io of the sh that runs it
# and then `sync`, after both were reaped: Linux adds a reaped child's I/O
# counters to its parent's.  containerd's are read from its /proc/PID/io
# before and after.  Environment: BEFORE (required), AFTER (default DM), BIG
# (MiB, default 1024), SMALL (default 4000), REPS (default 3), TMPDIR
# (default /var/tmp: about 4 * BIG MiB free).
set -u
: "${top_srcdir:?}" "${DM:?}"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-bench.sh"
dm_need_daemons
die() { echo "bench-onepass: $*" >&2; exit 1; }
BEFORE=${BEFORE:-} AFTER=${AFTER:-$DM}
BIG=${BIG:-1024} SMALL=${SMALL:-4000} REPS=${REPS:-3}
[ -n "$BEFORE" ] || die "set BEFORE to the old binary (e.g. a build of bb7a8e2)"
for b in "$BEFORE" "$AFTER"; do
	[ -x "$b" ] || die "$b: not an executable"
done
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time; apt-get install time)"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/dm-onepass.XXXXXX") || exit 1
trap 'dm_containerd_stop 2>/dev/null; dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp"; rm -rf "$tmp"' EXIT
avail=$(df -Pk "$tmp" | awk 'NR == 2 { print int($4 / 1024) }')
[ "$avail" -ge $((4 * BIG)) ] || die "$tmp: $avail MiB free, needs about $((4 * BIG))"

dm_bench_store "$tmp" "$BIG" "$SMALL" || die "no store"
store=$DM_BENCH_STORE

# io_fields FILE: rchar wchar read_bytes write_bytes-cancelled_write_bytes of a /proc io file.
io_fields() {
	awk '{ v[$1] = $2 } END { print v["rchar:"], v["wchar:"], v["read_bytes:"], v["write_bytes:"] - v["cancelled_write_bytes:"] }' "$1"
}
du_b() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }

# measure NAME MODE ROOT ARGS...: one run of binary NAME (before|after) in MODE
# (offline|online; online, containerd runs on ROOT), its report in $tmp/NAME-MODE.json,
# one line of figures appended to $tmp/figures.
measure() {
	m_name=$1 m_mode=$2 m_root=$3
	shift 3
	if [ "$m_name" = before ]; then m_bin=$BEFORE; else m_bin=$AFTER; fi
	m_out=$tmp/$m_name-$m_mode
	dm_bench_drop_cache "$store"
	m_du0=$(du_b "$m_root")
	m_c0="0 0 0 0"
	[ "$m_mode" = offline ] || m_c0=$(io_fields "/proc/$DM_CONTAINERD_PID/io")
	# shellcheck disable=SC2016
	/usr/bin/time -f '%e %U %S %M' -o "$m_out.time" \
		sh -c '"$@" > "$0.json" 2> "$0.err"; rc=$?; sync; cat "/proc/$$/io" > "$0.io"; exit "$rc"' \
		"$m_out" "$m_bin" run --docker-root "$store" --json --jobs 1 "$@" ||
		{ cat "$m_out.err" >&2; die "$m_name $m_mode: run failed"; }
	m_c1="0 0 0 0"
	[ "$m_mode" = offline ] || m_c1=$(io_fields "/proc/$DM_CONTAINERD_PID/io")
	m_du1=$(du_b "$m_root")
	# The process's counters; online, containerd's disk deltas added.
	m_line=$(awk -v mode="$m_mode" -v name="$m_name" -v du=$((m_du1 - m_du0)) \
		-v p="$(io_fields "$m_out.io")" -v c0="$m_c0" -v c1="$m_c1" \
		'{ split(p, a, " "); split(c0, b, " "); split(c1, c, " ")
		   printf "%s %s %s %.2f %s %.0f %.0f %.0f %.0f %.0f\n", mode, name, $1, $2 + $3, $4, a[1], a[2],
			a[3] + c[3] - b[3], a[4] + c[4] - b[4], du }' "$m_out.time")
	echo "$m_line" >> "$tmp/figures"
	echo "round $r: $m_line"
}

# check_root REPORT: the after binary's images, complete and unpacked, in the
# containerd on DM_CONTAINERD_SOCK.
check_root() {
	dm_ctr -n moby images check --snapshotter overlayfs > "$tmp/check" || die "ctr images check"
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["images"]))' "$1")
	[ "$(grep -c 'complete .* true *$' "$tmp/check")" -eq "$n" ] ||
		{ cat "$tmp/check" >&2; die "$1: not every image complete and unpacked"; }
}

echo "store: 1 layer of $BIG MiB random bytes, 1 layer of $SMALL small files; $REPS rounds, run --jobs 1"
echo "before: $BEFORE"
echo "after:  $AFTER"
echo "round N: mode binary wall_s cpu_s rss_KiB rchar wchar read_bytes write_bytes du_bytes"
: > "$tmp/figures"
r=1
while [ "$r" -le "$REPS" ]; do
	if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
	for name in $order; do
		root=$tmp/off-root
		measure "$name" offline "$root" --containerd-root "$root"
		dm_bench_same_manifests "$tmp/$name-offline.json" || exit 1
		if [ "$name" = after ]; then
			dm_containerd_start "$root" || die "containerd did not start on the offline root"
			check_root "$tmp/$name-offline.json"
			dm_containerd_stop
		fi
		dm_umount_under "$root"
		rm -rf "$root"
	done
	for name in $order; do
		root=$tmp/on-root
		dm_containerd_start "$root" || die "containerd did not start"
		measure "$name" online "$root" --containerd-address "$DM_CONTAINERD_SOCK"
		dm_bench_same_manifests "$tmp/$name-online.json" || exit 1
		[ "$name" = before ] || check_root "$tmp/$name-online.json"
		dm_containerd_stop
		rm -rf "$root"
	done
	r=$((r + 1))
done

echo
echo "median of $REPS rounds; MiB = 2^20 bytes; a/b = after/before"
python3 - "$tmp/figures" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, name, *v = line.split()
    rows.setdefault((mode, name), []).append([float(x) for x in v])
cols = ["wall_s", "cpu_s", "rss_MiB", "rd_MiB", "wr_MiB", "dkrd_MiB", "dkwr_MiB", "du_MiB"]
# Seconds as they are; KiB and bytes to MiB.
div = [1, 1, 1024, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20]
print("%-8s %-7s" % ("mode", "binary") + "".join("%10s" % c for c in cols))
for mode in ("offline", "online"):
    med = {}
    for name in ("before", "after"):
        runs = rows[(mode, name)]
        med[name] = [statistics.median(r[i] for r in runs) / div[i] for i in range(len(cols))]
        print("%-8s %-7s" % (mode, name) + "".join("%10.2f" % x for x in med[name]))
    print("%-8s %-7s" % (mode, "a/b") + "".join(
        "%10s" % ("%.2f" % (a / b) if b else "-") for a, b in zip(med["after"], med["before"])))
EOF
