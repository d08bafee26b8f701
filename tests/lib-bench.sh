# Shell functions (POSIX sh, sourced after tests/lib-daemon.sh) for the
# benchmarks that migrate a store made on the spot by Debian's dockerd 20.10
# (make bench-migrate, make bench-onepass).  Nothing is cached between runs.
#
#   dm_bench_store DIR BIG SMALL [LAYERS MIB]
#                                  an overlay2 store in DIR/docker/root with two
#                                  imported images: bench/big:1, one layer holding
#                                  one file of BIG MiB random bytes, and
#                                  bench/small:1, one layer of SMALL small files;
#                                  with LAYERS > 0 also bench/layers:1 .. :LAYERS,
#                                  each built (docker build, COPY) on the one
#                                  before (the first on bench/big:1) and adding a
#                                  layer of one file of MIB MiB random bytes;
#                                  sets DM_BENCH_STORE to it.  dockerd is stopped
#                                  again; on failure it says why and returns 1.
#   dm_bench_manifests REPORT.json the manifest digests of a run's --json
#                                  report, sorted, on one line

dm_bench_store() {
	dm_bdir=$1 dm_big=$2 dm_small=$3 dm_layers=${4:-0} dm_lmib=${5:-0}
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
	if ! dm_bench_layers "$dm_bdir/ctx" "$dm_layers" "$dm_lmib"; then
		echo "dm_bench_store: docker build of bench/layers" >&2
		dm_dockerd_stop
		return 1
	fi
	dm_dockerd_stop
	rm -rf "$dm_bdir/big.tar" "$dm_bdir/small.tar" "$dm_bdir/ctx"
	DM_BENCH_STORE=$dm_bdir/docker/root
}

# dm_bench_layers CTX LAYERS MIB: bench/layers:1 .. :LAYERS on the running
# dockerd, one docker build each (the legacy builder: COPY needs no network).
dm_bench_layers() {
	dm_i=1
	while [ "$dm_i" -le "$2" ]; do
		rm -rf "$1" && mkdir -p "$1" || return 1
		head -c "$(($3 * 1048576))" /dev/urandom > "$1/l$dm_i.bin" || return 1
		if [ "$dm_i" -eq 1 ]; then dm_from=bench/big:1; else dm_from=bench/layers:$((dm_i - 1)); fi
		printf 'FROM %s\nCOPY l%s.bin /\n' "$dm_from" "$dm_i" > "$1/Dockerfile"
		dm_docker build -q -t "bench/layers:$dm_i" "$1" > /dev/null || return 1
		dm_i=$((dm_i + 1))
	done
}

dm_bench_manifests() {
	python3 -c 'import json,sys
print(" ".join(sorted(i["manifest"] for i in json.load(open(sys.argv[1]))["images"])))' "$1"
}
