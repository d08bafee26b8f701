# Shell functions (POSIX sh, sourced after tests/lib-daemon.sh) for the
# benchmarks that migrate a store made on the spot by Debian's dockerd 20.10
# (make bench-migrate, make bench-onepass, make bench-compare).  Nothing is
# cached here: a caller that keeps a store does so itself.
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
#   dm_bench_store_mixed DIR SIZE  an overlay2 store in DIR/docker/root of about
#                                  SIZE MiB of layer data in about 40 * SIZE files,
#                                  the mix of a real host: many small files, large
#                                  random (incompressible) files, text, a file of
#                                  zeros, several images on one base.  Images:
#                                  bench/base:1 (imported: SIZE*25 small files,
#                                  text, symlinks, a hard link, a setuid file),
#                                  bench/app1:1 = :alias (FROM base; random, small
#                                  files), bench/app2:1 (FROM base; zeros, text),
#                                  bench/app3:1 = :latest (FROM app1; random,
#                                  small files, text); every COPY its own layer
#                                  (legacy builder), 8 layers.  Sets DM_BENCH_STORE;
#                                  dockerd is stopped again.
#   dm_bench_manifests REPORT.json the manifest digests of a run's --json
#                                  report, sorted, on one line
#   dm_bench_same_manifests REPORT.json
#                                  the same manifest digests as the first report it
#                                  was given (kept in DM_BENCH_WANT); otherwise says
#                                  which and returns 1
#   dm_bench_drop_cache DIR        DIR's files out of the page cache (after a sync),
#                                  so that the next reader reads them cold

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

dm_bench_same_manifests() {
	dm_got=$(dm_bench_manifests "$1")
	[ -n "$dm_got" ] || { echo "$1: no manifest" >&2; return 1; }
	if [ -z "${DM_BENCH_WANT:-}" ]; then
		DM_BENCH_WANT=$dm_got
	elif [ "$dm_got" != "$DM_BENCH_WANT" ]; then
		echo "$1: manifests $dm_got, the first run gave $DM_BENCH_WANT" >&2
		return 1
	fi
}

# The build contexts of dm_bench_store_mixed: DIR/ctx/{base,app1,app2,app3}.
# Random data from os.urandom, text from a seeded generator of words (zstd -3
# takes it to about a third, like source code or logs), zeros written out.
dm_bench_contexts() {
	python3 - "$1" "$2" <<'EOF'
import os, random, sys
top, size = sys.argv[1], int(sys.argv[2])
MiB = 1 << 20
rng = random.Random(20)
syll = ["ka", "to", "ri", "men", "sa", "lo", "ver", "in", "da", "que", "ta", "con", "el", "um", "pre", "sys"]
words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(3000)]

def text(n):
    out, got = [], 0
    while got < n:
        line = " ".join(rng.choices(words, k=rng.randint(4, 14))) + "\n"
        out.append(line)
        got += len(line)
    return "".join(out).encode()[:n]

pool = text(4 * MiB)

def put(path, data=None, n=0, chunk=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        if data is not None:
            f.write(data)
        while n > 0:
            k = min(n, 4 * MiB)
            f.write(chunk(k))
            n -= k

def small(d, count):
    for i in range(count):
        o = rng.randrange(len(pool) - 4096)
        put("%s/d%03d/f%05d.txt" % (d, i // 500, i), pool[o:o + rng.randint(100, 4000)])

def bigtext(d, total, files):
    for i in range(files):
        put("%s/text%02d.txt" % (d, i), n=max(total // files, 1), chunk=text)

def rand(d, sizes):
    for i, n in enumerate(sizes):
        put("%s/random%d.bin" % (d, i), n=n, chunk=os.urandom)

S = size * MiB
b = top + "/base"
small(b + "/usr/lib/small", size * 25)
bigtext(b + "/usr/share/doc", S * 15 // 100, 20)
os.makedirs(b + "/etc", exist_ok=True)
put(b + "/etc/os-release", b"NAME=bench\n")
os.symlink("os-release", b + "/etc/os-release.link")
os.symlink("/usr/share/doc", b + "/doc")
put(b + "/usr/bin/tool", pool[:5000])
os.chmod(b + "/usr/bin/tool", 0o4755)
os.link(b + "/usr/bin/tool", b + "/usr/bin/tool-again")
os.makedirs(b + "/var/empty", exist_ok=True)
a = top + "/app1"
rand(a + "/rand", [S * 15 // 100, S * 5 // 100, S * 5 // 100])
small(a + "/small", size * 5)
a = top + "/app2"
put(a + "/zeros/zeros.bin", n=S * 10 // 100, chunk=lambda k: bytes(k))
bigtext(a + "/text", S * 10 // 100, 10)
a = top + "/app3"
rand(a + "/rand", [S * 12 // 100, S * 8 // 100])
small(a + "/small", size * 10)
bigtext(a + "/text", S * 5 // 100, 5)
for name, body in {
    "app1": "FROM bench/base:1\nCOPY rand /opt/rand\nCOPY small /srv/app1\n",
    "app2": "FROM bench/base:1\nCOPY zeros /var/zeros\nCOPY text /usr/share/doc/app2\n",
    "app3": "FROM bench/app1:1\nCOPY rand /opt/rand3\nCOPY small /srv/app3\nCOPY text /usr/share/app3\n",
}.items():
    put("%s/%s/Dockerfile" % (top, name), body.encode())
EOF
}

dm_bench_store_mixed() {
	dm_bdir=$1 dm_size=$2
	rm -rf "$dm_bdir/ctx" && mkdir -p "$dm_bdir/ctx" || return 1
	dm_bench_contexts "$dm_bdir/ctx" "$dm_size" || { echo "dm_bench_store_mixed: contexts" >&2; return 1; }
	tar -C "$dm_bdir/ctx/base" -cf "$dm_bdir/base.tar" . || { echo "dm_bench_store_mixed: tar" >&2; return 1; }
	rm -rf "$dm_bdir/ctx/base"
	dm_dockerd_start overlay2 "$dm_bdir/docker" || { echo "dm_bench_store_mixed: dockerd did not start" >&2; return 1; }
	dm_ok=1
	dm_docker import "$dm_bdir/base.tar" bench/base:1 > /dev/null &&
	dm_docker build -q -t bench/app1:1 -t bench/app1:alias "$dm_bdir/ctx/app1" > /dev/null &&
	dm_docker build -q -t bench/app2:1 "$dm_bdir/ctx/app2" > /dev/null &&
	dm_docker build -q -t bench/app3:1 -t bench/app3:latest "$dm_bdir/ctx/app3" > /dev/null || dm_ok=
	dm_dockerd_stop
	rm -rf "$dm_bdir/ctx" "$dm_bdir/base.tar"
	[ -n "$dm_ok" ] || { echo "dm_bench_store_mixed: docker import or build failed" >&2; return 1; }
	DM_BENCH_STORE=$dm_bdir/docker/root
}

# dm_bench_drop_cache DIR: DIR's file pages out of the page cache (clean ones
# only, hence the sync first); the rest of the machine's cache is left alone.
dm_bench_drop_cache() {
	sync
	python3 - "$1" <<'EOF'
import os, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
EOF
}
