#!/bin/sh
# `make bench-compare` (root, the daemons, the sid chroot; not a test): issue
# 10's comparison of dockerd-migrate against the documented manual path and
# against what the disk allows, from one invocation on one store.
#
# The store: overlay2, about SIZE MiB (default 1024) of layer data in about
# 40 * SIZE files, made by Debian's dockerd 20.10 (dm_bench_store_mixed in
# tests/lib-bench.sh: small files, large random files, text, zeros, four
# images on one base, six tags) and kept in CACHE (default
# /var/tmp/dm-bench-compare; CACHE= makes it afresh and throws it away).
# ROUNDS rounds (default 2) run every row on that store, the order reversed
# from one round to the next:
#
#   save/load     dockerd 20.10 on the store: `docker save` of every tag to one
#                 file; then Docker 28.5.2 with the containerd image store
#                 (containerd 2.1.9, the sid chroot of tests/lib-sid.sh) on a
#                 fresh root: `docker load` of it.  Stopping one daemon and
#                 starting the other is not timed.
#   dm copy       dockerd-migrate run --copy-mode copy, offline, into a fresh
#                 root on the store's filesystem
#   dm hardlink   the same with --copy-mode hardlink
#   dm reflink    the same with --copy-mode reflink, on a loop-mounted xfs
#                 (mkfs.xfs -m reflink=1, loop device with direct I/O) holding
#                 a copy of the store and the root; remounted before each run
#   cp -a         one `cp -a` of every layer directory (overlay2/*/diff)
#   tar|zstd      one `tar -cf - . | zstd -T0 -3` of every layer directory
#   bound         cp -a + tar|zstd of the same round: writing the snapshots and
#                 making the blobs, with nothing else
#
# Without --copy-mode in `$DM run --help` (before issue 10's tool side lands)
# dm copy runs plain `run` (today's behaviour: copy), dm hardlink is left
# out, and dm reflink runs plain `run` on the xfs (row "dm xfs (no mode)").
#
# Before each row the store's files leave the page cache (sync, then
# posix_fadvise DONTNEED per file), so every row reads the store cold; the
# xfs copy is cold from its remount.  Every timing ends with `sync`, so that
# data still in the page cache is not counted as done.  Figures:
#
#   wall_s    seconds from the start to the end of the sync after it
#   cpu_s     user + system seconds: of the command and its children; for
#             save/load also of both dockerds and both containerds
#   wr_MiB    bytes of page cache dirtied (write_bytes less
#             cancelled_write_bytes, /proc/PID/io): the command's, and for
#             save/load the daemons' too (save/load: the tar file included)
#   disk_MiB  disk the new store takes beyond the legacy store: save/load, du
#             of containerd's and Docker 28's roots (the tar file, deleted
#             afterwards, not counted); dm copy, dm hardlink, `du -B1 STORE
#             ROOT` (blocks of inodes the store has are not counted again); dm
#             reflink, the xfs's used bytes after less before (du cannot see
#             shared extents); cp -a and tar|zstd, du of what they wrote
#   rss_MiB   peak RSS: GNU time's %M of the command (the largest process);
#             for save/load the largest of that and the daemons' VmHWM
#   /sl       wall_s over save/load's in the same round
#   /bound    wall_s over the bound's (cp -a + tar|zstd) in the same round
#   disk/sl   disk_MiB over save/load's in the same round
#
# Each figure is the median over the rounds (ratios: computed per round, then
# the median).  Every dm run must give the same manifest digests, with
# --copy-mode its report's summary.copy_mode must be the mode asked for, and
# in the first round each dm root must pass `ctr images check` (complete and
# unpacked) under containerd 1.6.20, and Docker 28 must list every tag that
# was loaded.  Then the targets of issue 10, met or missed by how much.
# Environment: SIZE, ROUNDS, CACHE, TMPDIR (default /var/tmp; needs about
# 8 * SIZE MiB free beside the cached store).
set -u
: "${top_srcdir:?}" "${DM:?}"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-sid.sh"
. "$top_srcdir/tests/lib-bench.sh"
dm_need_daemons
die() { echo "bench-compare: $*" >&2; exit 1; }
SIZE=${SIZE:-1024} ROUNDS=${ROUNDS:-2} CACHE=${CACHE-/var/tmp/dm-bench-compare}
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time; tests/integration-deps.sh installs it)"
for b in zstd mkfs.xfs losetup unshare nsenter; do
	command -v "$b" > /dev/null 2>&1 || die "needs $b (tests/integration-deps.sh installs it)"
done
grep -qw xfs /proc/filesystems || die "the kernel has no xfs"
sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >&2 || die "no sid chroot at $SID_ROOT"

modes=
"$DM" run --help 2>&1 | grep -q -- --copy-mode && modes=1

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/dm-compare.XXXXXX") || exit 1
xfs_mnt=$tmp/xfs xfs_dev=
cleanup() {
	sid_stop_all
	dm_containerd_stop 2>/dev/null
	dm_dockerd_stop 2>/dev/null
	umount "$xfs_mnt" 2>/dev/null || umount -l "$xfs_mnt" 2>/dev/null
	[ -z "$xfs_dev" ] || losetup -d "$xfs_dev"
	dm_umount_under "$tmp"
	rm -rf --one-file-system "$tmp"
	[ -n "$CACHE" ] || rm -rf --one-file-system "${sdir:-}"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# The store, made once per SIZE and builder version.
if [ -n "$CACHE" ]; then
	sdir=$CACHE/store-$SIZE-v1
	if [ ! -e "$sdir/complete" ]; then
		rm -rf --one-file-system "$sdir"
		echo "making a store of $SIZE MiB in $sdir (kept for later runs)"
		dm_bench_store_mixed "$sdir" "$SIZE" || die "no store"
		touch "$sdir/complete"
	fi
else
	sdir=$tmp/store
	dm_bench_store_mixed "$sdir" "$SIZE" || die "no store"
fi
store=$sdir/docker/root
[ -d "$store/overlay2" ] || die "$store: no overlay2 store"
store_b=$(du -s -B1 "$store" | cut -f1)
avail=$(($(df -Pk "$tmp" | awk 'NR == 2 { print $4 }') * 1024))
[ "$avail" -ge $((8 * store_b)) ] || die "$tmp: $((avail >> 20)) MiB free, needs about $((8 * store_b >> 20))"
[ "$(stat -c %d "$store")" = "$(stat -c %d "$tmp")" ] ||
	echo "note: $store and $tmp are on different filesystems: dm hardlink cannot link"
# Every tag of the store (repositories.json), for docker save.
tags=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["Repositories"]
print(" ".join(sorted(t for ts in r.values() for t in ts if "@" not in t)))' "$store/image/overlay2/repositories.json") ||
	die "no tags in the store"
ls -d "$store"/overlay2/*/diff > "$tmp/layers" || die "no layer directories"

# The bound's two commands, each over every layer directory.
cat > "$tmp/cp-all.sh" <<'EOF'
mkdir -p "$2" && while read -r d; do cp -a "$d" "$2/$(basename "$(dirname "$d")")" || exit 1; done < "$1"
EOF
cat > "$tmp/tar-all.sh" <<'EOF'
mkdir -p "$2" && while read -r d; do
	tar -C "$d" -cf - . | zstd -q -T0 -3 -o "$2/$(basename "$(dirname "$d")").tar.zst" || exit 1
done < "$1"
EOF

# The loop xfs: a copy of the store, and the reflink rows' roots.
xfs_img=$tmp/xfs.img
truncate -s $((3 * store_b + (1 << 30))) "$xfs_img" && mkfs.xfs -q -f -m reflink=1 "$xfs_img" || die "mkfs.xfs"
xfs_dev=$(losetup --direct-io=on -f --show "$xfs_img" 2>/dev/null) || xfs_dev=$(losetup -f --show "$xfs_img") ||
	die "losetup"
mkdir -p "$xfs_mnt" && mount "$xfs_dev" "$xfs_mnt" || die "mount xfs"
cp -a "$store" "$xfs_mnt/store" || die "copying the store onto the xfs"
xfs_remount() { umount "$xfs_mnt" && mount "$xfs_dev" "$xfs_mnt"; }
xfs_used() { df -B1 --output=used "$xfs_mnt" | tail -n 1 | tr -d ' '; }

# timed NAME CMD...: runs CMD, then sync, under GNU time (stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err); sets T_WALL, T_CPU (s), T_RSS (KiB),
# T_WR (bytes dirtied by it and its children: Linux adds a reaped child's
# counters to its parent's, read from the sh after both were reaped).
timed() {
	t_out=$tmp/$1
	shift
	# shellcheck disable=SC2016
	/usr/bin/time -f '%e %U %S %M' -o "$t_out.time" \
		sh -c '"$@" > "$0.out" 2> "$0.err"; rc=$?; sync; cat "/proc/$$/io" > "$0.io"; exit "$rc"' "$t_out" "$@" ||
		{ tail -n 5 "$t_out.err" >&2; return 1; }
	read -r T_WALL t_u t_s T_RSS < "$t_out.time"
	T_CPU=$(awk -v u="$t_u" -v s="$t_s" 'BEGIN { print u + s }')
	T_WR=$(awk '{ v[$1] = $2 } END { print v["write_bytes:"] - v["cancelled_write_bytes:"] }' "$t_out.io")
}
# daemon_pid PID NAME: the process named NAME that is PID or below it (the
# sid daemons run under nsenter, chroot and env, which exec, in a subshell).
daemon_pid() {
	dp_q=$1
	while [ -n "$dp_q" ]; do
		dp_p=${dp_q%% *}
		case $dp_q in *" "*) dp_q=${dp_q#* } ;; *) dp_q= ;; esac
		[ "$(cat "/proc/$dp_p/comm" 2>/dev/null)" != "$2" ] || { echo "$dp_p"; return 0; }
		# shellcheck disable=SC2046,SC2086
		dp_q=$(echo $dp_q $(cat /proc/"$dp_p"/task/*/children 2>/dev/null))
	done
	echo "bench-compare: no $2 process below $1" >&2
	return 1
}
# proc_fig PID...: "CPU-seconds dirtied-bytes peak-RSS-KiB" summed (RSS: the largest) over PIDs.
proc_fig() {
	for pf_p in "$@"; do
		echo "$(cut -d' ' -f14-17 "/proc/$pf_p/stat") $(awk '{ v[$1] = $2 } END { print v["write_bytes:"] - v["cancelled_write_bytes:"] }' "/proc/$pf_p/io") $(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pf_p/status")"
	done | awk -v hz="$(getconf CLK_TCK)" '{ c += ($1 + $2 + $3 + $4) / hz; w += $5; if ($6 > r) r = $6 }
		END { printf "%.2f %d %d\n", c, w, r }'
}
du_b() { du -s -B1 "$@" | awk '{ s += $1 } END { print s + 0 }'; }
# row ROUND NAME WALL CPU WR DISK RSS_KIB: one line of figures.
row() {
	echo "$*" >> "$tmp/figures"
	echo "round $*"
}
summary() { python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(" ".join(str(s.get(k, "-")) for k in sys.argv[2:]))' "$@"; }

save_load() {
	sl=$tmp/sl
	rm -rf "$sl" && mkdir -p "$sl" || die "mkdir $sl"
	dm_bench_drop_cache "$store"
	dm_dockerd_start overlay2 "$sdir/docker" || die "dockerd 20.10 did not start on the store"
	sl_d=$(daemon_pid "$DM_DOCKERD_PID" dockerd) sl_c=$(daemon_pid "$DM_CONTAINERD_PID" containerd) ||
		die "no dockerd 20.10 process"
	set -- $(proc_fig "$sl_d" "$sl_c")
	# shellcheck disable=SC2086
	timed "sl-save-$round" env DOCKER_CONFIG="$DM_DOCKERD_DIR/client" \
		"$DM_DOCKER_CLI" -H "$DM_DOCKER_HOST" save -o "$sl/all.tar" $tags || die "docker save"
	sv_wall=$T_WALL sv_cpu=$T_CPU sv_wr=$T_WR sv_rss=$T_RSS
	set -- "$1" "$2" $(proc_fig "$sl_d" "$sl_c")
	sv_dcpu=$(awk -v a="$1" -v b="$3" 'BEGIN { print b - a }') sv_dwr=$(($4 - $2)) sv_drss=$5
	dm_dockerd_stop

	sid_enter || die "sid_enter"
	sid_bind "$sl" && sid_start_containerd "$sl/containerd" && sid_start_dockerd "$sl/docker28" ||
		{ sid_logs; die "Docker 28 did not start"; }
	ld_d=$(daemon_pid "$SID_DOCKERD_PID" dockerd) ld_c=$(daemon_pid "$SID_CONTAINERD_PID" containerd) ||
		die "no dockerd 28 process"
	set -- $(proc_fig "$ld_d" "$ld_c")
	timed "sl-load-$round" nsenter -t "$SID_NS_PID" -m -- chroot "$SID_ROOT" env PATH="$SID_PATH" HOME=/root \
		DOCKER_CONFIG="$SID_SCRATCH/dockerd/client" docker -H "$SID_DOCKER_HOST" load -i "$sl/all.tar" ||
		{ sid_logs; die "docker load"; }
	set -- "$1" "$2" $(proc_fig "$ld_d" "$ld_c")
	ld_dcpu=$(awk -v a="$1" -v b="$3" 'BEGIN { print b - a }') ld_dwr=$(($4 - $2)) ld_drss=$5
	n=$(sid_docker images --format '{{.Repository}}:{{.Tag}}' | grep -vc '<none>')
	[ "$n" -eq "$(echo $tags | wc -w)" ] || die "Docker 28 lists $n tags after docker load, want $(echo $tags | wc -w)"
	sid_stop_all
	disk=$(du_b "$sl/containerd" "$sl/docker28")
	rss=$(printf '%s\n' "$sv_rss" "$sv_drss" "$T_RSS" "$ld_drss" | sort -n | tail -n 1)
	row "$round" save/load $(awk -v a="$sv_wall" -v b="$T_WALL" 'BEGIN { print a + b }') \
		$(awk -v a="$sv_cpu" -v b="$sv_dcpu" -v c="$T_CPU" -v d="$ld_dcpu" 'BEGIN { print a + b + c + d }') \
		$((sv_wr + sv_dwr + T_WR + ld_dwr)) "$disk" "$rss"
	dm_umount_under "$sl"
	rm -rf --one-file-system "$sl"
}

# dm_row MODE: one dockerd-migrate run; copy and hardlink into a root beside
# the store, reflink into a root on the xfs beside its copy of the store.
dm_row() {
	dm_mode=$1 dm_flag=
	[ -z "$modes" ] || dm_flag="--copy-mode $dm_mode"
	if [ "$dm_mode" = reflink ]; then
		xfs_remount || die "remounting the xfs"
		dm_store=$xfs_mnt/store dm_root=$xfs_mnt/root
		dm_u0=$(xfs_used)
	else
		dm_store=$store dm_root=$tmp/root-$dm_mode
		dm_bench_drop_cache "$store"
	fi
	# shellcheck disable=SC2086
	timed "dm-$dm_mode-$round" "$DM" run --docker-root "$dm_store" --containerd-root "$dm_root" --json $dm_flag ||
		die "dm $dm_mode: run failed"
	dm_report=$tmp/dm-$dm_mode-$round.out
	if [ "$dm_mode" = reflink ]; then
		dm_disk=$(($(xfs_used) - dm_u0))
	else
		dm_disk=$(du -s -B1 "$store" "$dm_root" | awk 'NR == 2 { print $1 }')
	fi
	dm_bench_same_manifests "$dm_report" || exit 1
	if [ -n "$modes" ]; then
		dm_got=$(summary "$dm_report" copy_mode)
		[ "$dm_got" = "$dm_mode" ] || die "dm $dm_mode: the report says copy_mode $dm_got"
	fi
	echo "dm $dm_mode $(summary "$dm_report" copy_mode files_shared files_copied bytes_written)" >> "$tmp/shared"
	row "$round" "dm $dm_mode" "$T_WALL" "$T_CPU" "$T_WR" "$dm_disk" "$T_RSS"
	if [ "$round" = 1 ]; then
		dm_containerd_start "$dm_root" || die "dm $dm_mode: containerd 1.6.20 did not start on the root"
		# Every name (tags, and the untagged build cache as moby-dangling@),
		# complete and unpacked.
		n=$(dm_ctr -n moby images ls -q | wc -l)
		[ "$n" -ge "$(echo $tags | wc -w)" ] || die "dm $dm_mode: containerd lists $n names"
		dm_ctr -n moby images check --snapshotter overlayfs > "$tmp/check" || die "ctr images check"
		[ "$(grep -c 'complete .* true *$' "$tmp/check")" -eq "$n" ] ||
			{ cat "$tmp/check" >&2; die "dm $dm_mode: not every image complete and unpacked"; }
		dm_containerd_stop
	fi
	dm_umount_under "$dm_root"
	rm -rf --one-file-system "$dm_root"
}

bound_row() { # cp|tar
	bd_out=$tmp/bound-$1
	dm_bench_drop_cache "$store"
	if [ "$1" = cp ]; then
		timed "cp-$round" sh "$tmp/cp-all.sh" "$tmp/layers" "$bd_out" || die "cp -a"
		bd_name="cp -a"
	else
		timed "tar-$round" sh "$tmp/tar-all.sh" "$tmp/layers" "$bd_out" || die "tar | zstd"
		bd_name="tar|zstd"
	fi
	row "$round" "$bd_name" "$T_WALL" "$T_CPU" "$T_WR" "$(du_b "$bd_out")" "$T_RSS"
	rm -rf --one-file-system "$bd_out"
}

rows="save-load dm-copy dm-hardlink dm-reflink cp tar"
[ -n "$modes" ] || rows="save-load dm-copy dm-reflink cp tar"
echo "store: $store, $((store_b >> 20)) MiB on disk, $(wc -l < "$tmp/layers") layer directories, $(find "$store/overlay2" -type f | wc -l) files"
echo "tags: $tags"
echo "dockerd-migrate: $DM ($("$DM" --version 2>&1 | head -n 1))"
[ -n "$modes" ] || echo "note: $DM run has no --copy-mode: dm copy and dm xfs run plain run (copy); no dm hardlink row"
echo "$ROUNDS rounds; each line: round row wall_s cpu_s dirtied_bytes disk_bytes rss_KiB"
: > "$tmp/figures"
: > "$tmp/shared"
round=1
while [ "$round" -le "$ROUNDS" ]; do
	order=$rows
	[ $((round % 2)) = 1 ] || order=$(echo "$rows" | tr ' ' '\n' | tac | tr '\n' ' ')
	for w in $order; do
		case $w in
		save-load) save_load ;;
		dm-*) dm_row "${w#dm-}" ;;
		*) bound_row "$w" ;;
		esac
	done
	round=$((round + 1))
done
[ -n "$modes" ] || sed -i 's/ dm reflink / dm xfs (no mode) /; s/ dm copy / dm run (no mode) /; s/^dm reflink /dm xfs (no mode) /; s/^dm copy /dm run (no mode) /' "$tmp/figures" "$tmp/shared"
echo
echo "dockerd-migrate's reports (last round): copy_mode files_shared files_copied bytes_written"
tail -n "$(echo "$rows" | tr ' ' '\n' | grep -c '^dm-')" "$tmp/shared" | sed 's/^/  /'
echo
echo "median of $ROUNDS rounds; MiB = 2^20 bytes; ratios per round, then the median"
python3 - "$tmp/figures" "$modes" <<'EOF'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    f = line.split()
    r, v, name = f[0], [float(x) for x in f[-5:]], " ".join(f[1:-5])
    rounds.setdefault(r, {})[name] = v
for fig in rounds.values():
    fig["bound"] = [fig["cp -a"][0] + fig["tar|zstd"][0], fig["cp -a"][1] + fig["tar|zstd"][1],
                    fig["cp -a"][2] + fig["tar|zstd"][2], fig["cp -a"][3] + fig["tar|zstd"][3],
                    max(fig["cp -a"][4], fig["tar|zstd"][4])]
names = list(next(iter(rounds.values())).keys())
order = ["save/load", "dm copy", "dm run (no mode)", "dm hardlink", "dm reflink", "dm xfs (no mode)",
         "cp -a", "tar|zstd", "bound"]
names = [n for n in order if n in names]
med = lambda xs: statistics.median(xs)
cols = ["wall_s", "cpu_s", "wr_MiB", "disk_MiB", "rss_MiB", "/sl", "/bound", "disk/sl"]
print("%-17s" % "row" + "".join("%9s" % c for c in cols))
out = {}
for n in names:
    v = [med(fig[n][i] for fig in rounds.values()) for i in range(5)]
    v[2] /= 1 << 20; v[3] /= 1 << 20; v[4] /= 1024
    ratios = [med(fig[n][0] / fig["save/load"][0] for fig in rounds.values()),
              med(fig[n][0] / fig["bound"][0] for fig in rounds.values()),
              med(fig[n][3] / fig["save/load"][3] for fig in rounds.values())]
    out[n] = v + ratios
    print("%-17s" % n + "%9.2f%9.2f%9.0f%9.0f%9.1f" % tuple(v) + "%9.2f%9.2f%9.2f" % tuple(ratios))
print()
print("issue 10's targets:")
def target(what, ok, how):
    print("  %-6s %s (%s)" % ("met" if ok else "MISSED", what, how))
copy = "dm copy" if "dm copy" in out else "dm run (no mode)"
target("copy at least 2x faster than save/load", out[copy][5] <= 0.5,
       "%s: %.2fx save/load's wall time, %.1fx faster" % (copy, out[copy][5], 1 / out[copy][5]))
target("copy within 1.2x of the bound", out[copy][6] <= 1.2, "%s: %.2fx the bound" % (copy, out[copy][6]))
for n in ("dm hardlink", "dm reflink"):
    if n not in out:
        print("  -      %s: no row (no --copy-mode)" % n)
        continue
    target(n + " at least 8x faster than save/load", out[n][5] <= 0.125, "%.1fx faster" % (1 / out[n][5]))
    target(n + " disk at most 0.35x save/load's", out[n][7] <= 0.35, "%.2fx" % out[n][7])
for n in names:
    if n.startswith("dm "):
        target(n + " peak RSS at most 64 MiB", out[n][4] <= 64, "%.1f MiB" % out[n][4])
EOF
