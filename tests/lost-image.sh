#!/bin/sh
# Issue 13, "nothing silently dropped": a tagged image whose layer directory
# is unusable cannot be migrated, and `run` must say so (one line naming the
# image, exit 1), on the first run and on every rerun, while the images that
# do not need that layer migrate.  Before, the image was left out of `run` without a line and the
# run exited 0 (then 7 on reruns), so the unit deleted its flag file and the
# image was gone from the new store unnoticed.
#
# Needs root (an exact fixture store); no daemon.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-store.sh"
store_need_root

base=sha256:2ef883a98484ef0e1346499501e6707315ad64c2e8b3af59b224224898e1db19
layer=975a69826a6ca491cc2d00924194645d06aa9f7a9cc1f5007a12a37e67e37ca3  # base's only layer (its chain ID)
store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
	"$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") || fail "extract"
dir=$(store_cache_dir "$store" overlay2 "$layer") || fail "no directory for layer $layer"
rm -rf "$dir/diff" || fail "removing $dir/diff"

for round in first rerun; do
	expect_rc 1 "$DM" run --docker-root "$store" --containerd-root "$tmp/root" --json
	grep -q "image $base: failed: layer sha256:$layer: .*diff" "$tmp/err" ||
		fail "$round run: no line says that image $base failed, and why"
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
im = {i["id"]: i for i in d["images"]}
ok = im[sys.argv[2]]["status"] == "failed"
# Every image built on that layer fails with it, naming it; the others migrate.
for i in im.values():
    if i["status"] == "failed":
        ok = ok and sys.argv[3] in i["reason"]
    else:
        ok = ok and i["status"] in ("migrated", "existed")
sys.exit(not (ok and any(i["status"] != "failed" for i in im.values())))' \
		"$tmp/out" "$base" "$layer" || fail "$round run: the report does not hold $base failed (naming the layer) and the rest migrated"
	echo "ok   $round run: exit 1, $base and the images built on it reported failed, the rest migrated"
done
