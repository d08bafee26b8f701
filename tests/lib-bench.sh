# Shell functions (POSIX sh, sourced after tests/lib-daemon.sh) for the
# benchmarks that migrate a store made on the spot by Debian's dockerd 20.10
# (make bench-migrate, make bench-onepass).  Nothing is cached between runs.
#
#   dm_bench_store DIR BIG SMALL   an overlay2 store in DIR/docker/root with two
#                                  imported images: bench/big:1, one layer holding
#                                  one file of BIG MiB random bytes, and
#                                  bench/small:1, one layer of SMALL small files;
#                                  sets DM_BENCH_STORE to it.  dockerd is stopped
#                                  again; on failure it says why and returns 1.
#   dm_bench_manifests REPORT.json the manifest digests of a run's --json
#                                  report, sorted, on one line

dm_bench_store() {
	dm_bdir=$1 dm_big=$2 dm_small=$3
	mkdir -p "$dm_bdir/big" "$dm_bdir/small/d" || return 1
	head -c "$((dm_big * 1048576))" /dev/urandom > "$dm_bdir/big/random.bin" ||
		{ echo "dm_bench_store: random file" >&2; return 1; }
	dm_i=0
	while [ "$dm_i" -lt "$dm_small" ]; do
		echo "small file $dm_i" > "$dm_bdir/small/d/f$dm_i"
		dm_i=$((dm_i + 1))
	done
	tar -C "$dm_bdir/big" -cf "$dm_bdir/big.tar" . && tar -C "$dm_bdir/small" -cf "$dm_bdir/small.tar" . ||
		{ echo "dm_bench_store: tar" >&2; return 1; }
	rm -rf "$dm_bdir/big" "$dm_bdir/small"
	dm_dockerd_start overlay2 "$dm_bdir/docker" || { echo "dm_bench_store: dockerd did not start" >&2; return 1; }
	if ! dm_docker import "$dm_bdir/big.tar" bench/big:1 > /dev/null ||
		! dm_docker import "$dm_bdir/small.tar" bench/small:1 > /dev/null; then
		echo "dm_bench_store: docker import" >&2
		dm_dockerd_stop
		return 1
	fi
	dm_dockerd_stop
	rm -f "$dm_bdir/big.tar" "$dm_bdir/small.tar"
	DM_BENCH_STORE=$dm_bdir/docker/root
}

dm_bench_manifests() {
	python3 -c 'import json,sys
print(" ".join(sorted(i["manifest"] for i in json.load(open(sys.argv[1]))["images"])))' "$1"
}
