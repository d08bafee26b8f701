#!/bin/sh
# Issue 12: the four source drivers on make-broken.sh's hand-made stores
# (good, good-vfs, good-btrfs, good-fuse-overlayfs).  plan names the detected
# driver, the default snapshotter and why (text and JSON); --storage-driver
# takes exactly the four names; on btrfs the hardlink figure is the copy
# figure (no hard link crosses subvolumes).  As root, run on a fuse-overlayfs
# store whose diff/ holds AUFS-form whiteouts reports no .wh. name as left
# out, but does report a .wh. file with content (and an unlisted directory).  Unprivileged otherwise.
set -u
. "$top_srcdir/tests/lib-test.sh"

sh "$top_srcdir/fixtures/make-broken.sh" "$tmp/fx" >/dev/null || fail "make-broken.sh"

for pair in good:overlay2:overlayfs good-vfs:vfs:native good-btrfs:btrfs:overlayfs \
	good-fuse-overlayfs:fuse-overlayfs:overlayfs; do
	store=$tmp/fx/${pair%%:*} rest=${pair#*:}
	driver=${rest%%:*} sn=${rest#*:}
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/unused"
	grep -q "^Docker root $store, storage driver $driver\$" "$tmp/out" || fail "$driver: plan names no driver"
	grep -q "^Snapshotter $sn, the default for $driver: ..*\.\$" "$tmp/out" ||
		fail "$driver: plan does not show the default snapshotter $sn and why"
	expect_rc 0 "$DM" plan --docker-root "$store" --storage-driver "$driver" --containerd-root "$tmp/unused" \
		--snapshotter native --json
	python3 - "$tmp/out" "$driver" <<'PY' || fail "$driver: plan --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["storage_driver"] == sys.argv[2], d["storage_driver"]
assert d["snapshotter"] == "native" and d["snapshotter_reason"] == "--snapshotter", d
s = d["space_needed"]
if sys.argv[2] == "btrfs":
    assert s["hardlink"] == s["copy"], s
else:
    assert s["hardlink"] < s["copy"], s
PY
	expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/unused" --json
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(not (d["snapshotter"] == sys.argv[2] and "Docker" in d["snapshotter_reason"]))' "$tmp/out" "$sn" ||
		fail "$driver: plan --json lacks the default snapshotter's reason"
done

# A driver name is checked before the store is read.
expect_rc 2 "$DM" plan --docker-root "$tmp/fx/good" --storage-driver aufs
grep -q "overlay2, vfs, btrfs or fuse-overlayfs, not 'aufs'" "$tmp/err" || fail "--storage-driver aufs"
expect_rc 2 "$DM" plan --docker-root "$tmp/fx/good" --storage-driver fuse
# Named but not there.
expect_rc 3 "$DM" plan --docker-root "$tmp/fx/good" --storage-driver fuse-overlayfs
grep -q 'image/fuse-overlayfs' "$tmp/err" || fail "plan on a store without image/fuse-overlayfs"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: run needs root"
	exit 77
fi
expect_rc 0 "$DM" run --docker-root "$tmp/fx/fuse-overlayfs-aufs-whiteouts" --containerd-root "$tmp/ctr" --json
python3 - "$tmp/out" <<'PY' || fail "run on AUFS-form whiteouts"
import json, sys
d = json.load(open(sys.argv[1]))
w = [x for x in d["warnings"] if "not in its tar-split" in x]
assert len(w) == 1, w
# The directory opq itself is unlisted too; its .wh..wh..opq is not a name.
assert "2 names of the layer directory" in w[0] and '"opq", ".wh.full"' in w[0], w
assert ".wh.gone" not in w[0] and ".wh..wh..opq" not in w[0], w
PY
exit 0
