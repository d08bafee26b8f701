# Shell functions (POSIX sh, sourced after lib-test.sh and lib-daemon.sh) that
# judge a migrated containerd store through the running containerd on
# DM_CONTAINERD_SOCK, whether the migration was offline or online:
#
#   dm_check_migrated DRIVER SNAPSHOTTER REPORT.json
#       every name docker listed (fixtures/expected/DRIVER) is there, complete
#       and unpacked; digest references are kept as labels; every blob hashes to
#       its digest; no lease is left; a container of every image sees the files
#       the original dockerd showed.  Fails the test (fail) otherwise.
#   expected_names IMAGES.txt   the names docker listed, fully qualified
#
# and its pieces, for stores made on the spot (no fixtures/expected list):
#
#   dm_check_complete SNAPSHOTTER WHAT   ctr images check: every image containerd
#                                        lists is complete and unpacked
#   dm_check_blobs WHAT                  every blob read back (ctr content get)
#                                        hashes to its digest
#   dm_check_top_snapshots DOCKER-ROOT SNAPSHOTTER WHAT
#                                        the committed snapshot of every image's top
#                                        layer (its chainID, from the image configs of
#                                        DOCKER-ROOT) is there
#   dm_check_nothing_in_flight SNAPSHOTTER WHAT
#                                        no ingest (ctr content active), no lease, no
#                                        snapshot under an extract- key

# Names docker images showed, fully qualified; dangling and digest-only images are checked by ID.
expected_names() {
	while read -r repo tag digest id; do
		[ "$repo" = "<none>" ] || [ "$tag" = "<none>" ] && continue
		case $repo in
		*.*/*|*:*/*|localhost/*) echo "$repo:$tag" ;;
		*/*) echo "docker.io/$repo:$tag" ;;
		*) echo "docker.io/library/$repo:$tag" ;;
		esac
	done < "$1" | sort -u
}

# What differs by runtime, not by image: containerd mounts /run, Docker's init layer adds /etc.
tree_filter() {
	grep -v -e '^/run ' -e '^/etc d ' "$1" | sort
}

# ctr run of /fixtool tree /.  runc can lose the race with a process this short
# under load ("cannot start a stopped process", seen once in the sanitizer
# pass; "unable to store init state", seen once while CI ran beside), and ctr can lose a short process's output (containerd issue 770: exit
# 0 and nothing printed, seen once under autopkgtest while another run loaded
# the machine; `fixtool tree /` always prints lines): those two get a second
# try, reported; anything else fails.
run_tree() { # SNAPSHOTTER IMAGE ID
	if dm_ctr -n moby run --rm --snapshotter "$1" "$2" "$3" /fixtool tree / > "$tmp/tree" 2> "$tmp/err"; then
		[ -s "$tmp/tree" ] && return 0
		echo "note: ctr run $2: exit 0 but no output (ctr lost it); trying once more" >&2
	else
		grep -qE 'cannot start a stopped process|unable to store init state' "$tmp/err" || return 1
		echo "note: ctr run $2: runc lost the start race; trying once more" >&2
	fi
	dm_ctr -n moby containers rm "$3" > /dev/null 2>&1
	dm_ctr -n moby run --rm --snapshotter "$1" "$2" "$3-again" /fixtool tree / > "$tmp/tree" 2> "$tmp/err"
}

dm_check_complete() { # SNAPSHOTTER WHAT
	dm_ctr -n moby images ls -q | sort > "$tmp/names" || fail "$2: ctr images ls"
	dm_ctr -n moby images check --snapshotter "$1" > "$tmp/check" || fail "$2: ctr images check"
	n=$(grep -c 'moby-dangling@\|:' "$tmp/names")
	[ "$(grep -c 'complete .* true *$' "$tmp/check")" -eq "$n" ] ||
		{ cat "$tmp/check" >&2; fail "$2: not every image complete and unpacked"; }
}

# ctr images check reads metadata only: hash every blob for real.
dm_check_blobs() { # WHAT
	dm_ctr -n moby content ls -q > "$tmp/blobs"
	[ -s "$tmp/blobs" ] || fail "$1: no content"
	while read -r d; do
		got=sha256:$(dm_ctr -n moby content get "$d" | sha256sum | cut -c1-64)
		[ "$got" = "$d" ] || fail "$1: blob $d reads back as $got"
	done < "$tmp/blobs"
}

# The chainID of each image's top layer: the image configs' diff_ids, chained
# as Docker and containerd chain them (sha256 of "PARENT DIFFID").
dm_top_chain_ids() { # DOCKER-ROOT
	python3 -c 'import glob,hashlib,json,sys
for f in sorted(glob.glob(sys.argv[1] + "/image/*/imagedb/content/sha256/*")):
    chain = None
    for d in json.load(open(f))["rootfs"]["diff_ids"]:
        chain = d if chain is None else "sha256:" + hashlib.sha256((chain + " " + d).encode()).hexdigest()
    if chain:
        print(chain)' "$1" | sort -u
}

dm_check_top_snapshots() { # DOCKER-ROOT SNAPSHOTTER WHAT
	dm_top_chain_ids "$1" > "$tmp/tops"
	[ -s "$tmp/tops" ] || fail "$3: no image in $1"
	while read -r c; do
		dm_ctr -n moby snapshots --snapshotter "$2" info "$c" > "$tmp/snap" 2>&1 ||
			{ cat "$tmp/snap" >&2; fail "$3: no snapshot $c"; }
		grep -q '"Kind": "Committed"' "$tmp/snap" || { cat "$tmp/snap" >&2; fail "$3: snapshot $c not committed"; }
	done < "$tmp/tops"
}

dm_check_nothing_in_flight() { # SNAPSHOTTER WHAT
	[ -z "$(dm_ctr -n moby content active | awk 'NR > 1')" ] ||
		{ dm_ctr -n moby content active >&2; fail "$2: an ingest was left"; }
	[ -z "$(dm_ctr -n moby leases ls -q)" ] || fail "$2: a lease was left"
	dm_ctr -n moby snapshots --snapshotter "$1" ls > "$tmp/snaps" || fail "$2: ctr snapshots ls"
	! grep 'extract-' "$tmp/snaps" >&2 || fail "$2: an extract- snapshot was left"
}

dm_check_migrated() { # DRIVER SNAPSHOTTER REPORT.json
	driver=$1 sn=$2 report=$3
	exp=$top_srcdir/fixtures/expected/$driver
	dm_ctr -n moby images ls -q | sort > "$tmp/names" || fail "$driver: ctr images ls"
	expected_names "$exp/images.txt" > "$tmp/want-names"
	missing=$(comm -13 "$tmp/names" "$tmp/want-names")
	[ -z "$missing" ] || fail "$driver: names missing in containerd: $missing"
	dm_check_complete "$sn" "$driver"
	# Digest references cannot be names (the manifest is new): they stay as labels.
	python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    for r in i["digest_references_kept_as_labels"]:
        print(i["names"][0]["name"], r)' "$report" > "$tmp/digest-refs"
	[ -s "$tmp/digest-refs" ] || fail "$driver: the report keeps no digest reference"
	while read -r name ref; do
		dm_ctr -n moby images ls "name==$name" | grep -q "io.dockerd-migrate.source-digest-ref.0=$ref" ||
			fail "$driver: $name lacks the label for $ref"
	done < "$tmp/digest-refs"
	dm_check_blobs "$driver"
	[ -z "$(dm_ctr -n moby leases ls -q)" ] || fail "$driver: a lease was left behind"
	# A container of every image the original daemon listed sees the same files.
	for f in "$exp"/tree/*.txt; do
		short=$(basename "$f" .txt)
		name=$(python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    if i["id"].startswith("sha256:"+sys.argv[2]):
        print(i["names"][0]["name"])' "$report" "$short")
		[ -n "$name" ] || fail "$driver: image $short not in the report"
		run_tree "$sn" "$name" "dm-$short" || fail "$driver: ctr run $name"
		tree_filter "$tmp/tree" > "$tmp/got"
		tree_filter "$f" > "$tmp/want"
		diff -u "$tmp/want" "$tmp/got" > "$tmp/diff" ||
			{ head -n 30 "$tmp/diff" >&2; fail "$driver: files of $name differ from the original"; }
	done
}
