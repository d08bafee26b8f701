#!/bin/sh
# verify-source and plan on stores that real dockerd 20.10 makes here and now
# (not the committed fixtures): every layer rebuilds to its DiffID, plan --json
# holds every tag `docker images` shows, and one corrupted byte in one layer
# file fails exactly that layer.  For overlay2 and vfs.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-fresh.sh"
dm_need_daemons || exit 77
command -v gcc >/dev/null || { echo "skip: no gcc"; exit 77; }

trap 'dm_dockerd_stop 2>/dev/null; dm_umount_under "$tmp" 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

fresh_context "$tmp"

for driver in overlay2 vfs; do
	dm_dockerd_start "$driver" "$tmp/docker-$driver" || fail "$driver: dockerd did not start"
	data=$tmp/docker-$driver/root
	dm_docker import "$tmp/base.tar" fresh/base:1 > /dev/null || fail "$driver: docker import"
	DOCKER_BUILDKIT=0 dm_docker build -q -t fresh/app:1 -t myorg/app:latest \
		-t localhost:5000/fresh/app:v1 "$tmp/ctx" > /dev/null || fail "$driver: docker build"
	dm_docker tag fresh/base:1 fresh/base:also || fail "$driver: docker tag"
	dm_docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort > "$tmp/tags"
	dm_dockerd_stop

	expect_rc 0 "$DM" verify-source --docker-root "$data" --jobs 2
	layers=$(find "$data/image/$driver/layerdb/sha256" -mindepth 1 -maxdepth 1 -type d | wc -l)
	[ "$layers" -ge 5 ] || fail "$driver: only $layers layers were made"
	grep -q "^verify-source: $layers layers, $layers ok, 0 failed$" "$tmp/out" ||
		fail "$driver: not every one of $layers layers ok"

	expect_rc 0 "$DM" plan --docker-root "$data" --json
	cp "$tmp/out" "$tmp/plan.json"
	while read -r t; do
		full=$(python3 -c 'import sys
r = sys.argv[1]
name, tag = r.rsplit(":", 1)
first = name.split("/")[0]
if not ("." in first or ":" in first or first == "localhost") or "/" not in name:
    name = "docker.io/" + (name if "/" in name else "library/" + name)
print(name + ":" + tag)' "$t")
		python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(sys.argv[2] in i["tags"] for i in d["images"]) else 1)' "$tmp/plan.json" "$full" ||
			fail "$driver: plan --json lacks $full (docker images showed $t)"
	done < "$tmp/tags"
	[ "$(wc -l < "$tmp/tags")" -eq 5 ] || fail "$driver: docker images showed $(wc -l < "$tmp/tags") tags, want 5"

	# One byte of fixtool in the bottom layer (the only layer whose tar holds it).
	read -r cache chain <<EOF
$(python3 -c 'import json,sys
l = [l for l in json.load(open(sys.argv[1]))["layers"] if l["parent"] is None]
print(l[0]["cache_id"], l[0]["chain_id"]) if len(l) == 1 else sys.exit(1)' "$tmp/plan.json")
EOF
	[ -n "$chain" ] || fail "$driver: want exactly one bottom layer"
	case $driver in
	overlay2) victim=$data/overlay2/$cache/diff/fixtool ;;
	vfs) victim=$data/vfs/dir/$cache/fixtool ;;
	esac
	printf '\377' | dd of="$victim" bs=1 seek=1000 conv=notrunc status=none || fail "$driver: corrupt"
	expect_rc 1 "$DM" verify-source --docker-root "$data" --jobs 2
	[ "$(grep -c '^FAIL ' "$tmp/out")" -eq 1 ] || fail "$driver: want exactly one failed layer"
	grep -q "^FAIL $chain: .*fixtool" "$tmp/out" || fail "$driver: the failure does not name $chain and the file"
	echo "$driver: $layers layers ok; after corrupting one byte: $(grep '^FAIL' "$tmp/out")"
done
exit 0
