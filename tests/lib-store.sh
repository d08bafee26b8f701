# Shell functions (POSIX sh, sourced after tests/lib-test.sh) for tests that
# tamper with an extracted fixture store (tests/fixtures-extract.sh) and then
# look at the snapshots a run wrote (issue 9: what reaches a snapshot must be
# what the DiffID vouches for).  Sourcing it defaults top_builddir to
# top_srcdir and DM to the binary there, for a test run by hand.
#
#   store_need_root                 skip (exit 77) unless root: only root
#                                   extracts a store exactly
#   store_pick_layer STORE DRIVER   prints the ChainID (hex) of a layer in the
#                                   middle of a chain: it has a parent, some layer
#                                   has it as parent, and its tar-split lists the
#                                   most regular files with data (ties: lowest ID)
#   store_cache_dir STORE DRIVER HEX
#                                   prints the layer's directory in the driver's
#                                   home: overlay2/<cache-id> or vfs/dir/<cache-id>
#   store_layer_dir STORE DRIVER HEX
#                                   prints the layer's root, as the tool names it:
#                                   overlay2/<cache-id>/diff or vfs/dir/<cache-id>
#   snapshot_roots ROOT             prints every snapshot's root directory under a
#                                   containerd root, one a line, sorted: overlayfs
#                                   snapshots/<id>/fs, native snapshots/<id>
#   snapshot_listing ROOT           `fixtures/fixtool tree` of every snapshot root,
#                                   each line prefixed with the root's path below
#                                   ROOT (ids are allocated in run order: two runs of
#                                   one store with --jobs 1 number them the same),
#                                   whiteouts' mtimes left out

top_builddir=${top_builddir:-$top_srcdir}
DM=${DM:-$top_builddir/src/dockerd-migrate}

store_need_root() {
	[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (an exact fixture store)"; exit 77; }
}

store_pick_layer() {
	python3 - "$1/image/$2/layerdb/sha256" <<'EOF'
import gzip, json, os, sys
db = sys.argv[1]
parent, files = {}, {}
for c in sorted(os.listdir(db)):
    try:
        parent[c] = open(os.path.join(db, c, "parent")).read().strip().split(":")[-1]
    except FileNotFoundError:
        parent[c] = None
    n = 0
    with gzip.open(os.path.join(db, c, "tar-split.json.gz"), "rt") as f:
        for line in f:
            e = json.loads(line)
            # tar-split: type 1 is a file entry, type 2 a raw segment
            if e.get("type") == 1 and e.get("size", 0) > 0:
                n += 1
    files[c] = n
children = {p for p in parent.values() if p}
middle = [c for c in sorted(parent) if parent[c] and c in children and files[c] > 0]
if not middle:
    sys.exit("no layer with a parent, a child and file data in " + db)
print(max(middle, key=lambda c: (files[c], [-ord(ch) for ch in c])))
EOF
}

store_cache_dir() {
	sc_id=$(cat "$1/image/$2/layerdb/sha256/$3/cache-id") || return 1
	case $2 in
	overlay2) echo "$1/overlay2/$sc_id" ;;
	vfs) echo "$1/vfs/dir/$sc_id" ;;
	*) echo "store_cache_dir: unknown driver $2" >&2; return 1 ;;
	esac
}

store_layer_dir() {
	sc_dir=$(store_cache_dir "$@") || return 1
	case $2 in
	overlay2) echo "$sc_dir/diff" ;;
	*) echo "$sc_dir" ;;
	esac
}

snapshot_roots() {
	for sr_d in "$1"/io.containerd.snapshotter.v1.*/snapshots/*; do
		[ -d "$sr_d" ] || continue
		case ${sr_d##*/} in new-*) continue ;; esac
		case $sr_d in
		*/io.containerd.snapshotter.v1.overlayfs/*) echo "$sr_d/fs" ;;
		*) echo "$sr_d" ;;
		esac
	done | sort
}

snapshot_listing() {
	# A whiteout (char 0,0) is made at apply time, by us as by containerd,
	# with no time from the layer: its mtime is when the run made it.
	snapshot_roots "$1" | while read -r sl_d; do
		"$top_builddir/fixtures/fixtool" tree "$sl_d" |
			sed -E "s|^|${sl_d#"$1"/} |; s/^(.* c [0-7]{4} [0-9]+:[0-9]+ 0,0) [0-9]+ /\1 - /" || return 1
	done
}
