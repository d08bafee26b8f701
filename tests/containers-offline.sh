#!/bin/sh
# run --containers offline on the overlay2 fixture store, without daemons
# (issue 11): plan --containers shows each container's verdict and size; a
# container marked running is refused with one line naming it (exit 1) and
# the other migrates; its snapshots' directories hold the legacy layers'
# trees exactly; the config is rewritten (Driver, Image, ImageManifest) with
# the original kept byte for byte; once it is stopped a rerun migrates it
# alone; a third run has nothing to do (exit 7) and changes nothing; a run
# without --containers never touches a config.  Needs root (the fixture's
# whiteouts and trusted.* xattrs); else 77.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-store.sh"
store_need_root
DM=${DM:-$top_srcdir/src/dockerd-migrate}
sn=overlayfs

store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
	"$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") || fail "extract the fixture store"
root=$tmp/root
stopped=de175231573c4213853109c66c0c44e784b8fab9ef02201e098948ad5a0f2255
created=ae4d7f6483890a2fb06159fd20e85ceb2a17df440a38983eddb591d36f919332
cfg() { echo "$store/containers/$1/config.v2.json"; }
cp "$(cfg $stopped)" "$tmp/stopped.orig"
cp "$(cfg $created)" "$tmp/created.orig"

# Without --containers: no config is touched.
expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmp/images-only"
cmp -s "$(cfg $stopped)" "$tmp/stopped.orig" || fail "a run without --containers rewrote a config"
[ ! -e "$(cfg $stopped).dockerd-migrate" ] || fail "a run without --containers left a backup"

# "stopped" marked running, as a config of a live dockerd says.
python3 - "$(cfg $stopped)" <<'EOF' || fail "edit the config"
import json, sys
j = json.load(open(sys.argv[1]))
j["State"]["Running"] = True
json.dump(j, open(sys.argv[1], "w"))
EOF
cp "$(cfg $stopped)" "$tmp/stopped.running"

expect_rc 0 "$DM" plan --docker-root "$store" --containers
grep -Eq "^${created%${created#????????????}} +/created +[0-9.]+ KiB +migrate$" "$tmp/out" ||
	fail "plan --containers: no line saying /created is migrated"
grep -Eq "^${stopped%${stopped#????????????}} +/stopped +- +refused: running: " "$tmp/out" ||
	fail "plan --containers: no line saying /stopped is refused as running"
expect_rc 0 "$DM" plan --docker-root "$store" --containers --json
python3 - "$tmp/out" <<'EOF' || fail "plan --containers --json"
import json, sys
d = json.load(open(sys.argv[1]))
p = {c["name"]: c for c in d["container_plan"]}
assert p["/created"]["action"] == "migrate" and p["/created"]["size"] > 0, p
assert p["/stopped"]["action"] == "refused" and "running" in p["/stopped"]["reason"], p
EOF

expect_rc 1 "$DM" run --docker-root "$store" --containerd-root "$root" --containers
grep -q "^dockerd-migrate: container $stopped: failed: /stopped: running: its writable layer is changing; stop it and run again$" \
	"$tmp/err" || fail "no line naming the running container"
grep -q "^dockerd-migrate: container $created: migrated: /created$" "$tmp/err" || fail "/created not migrated"
grep -q '^dockerd-migrate: containers: 1 migrated, 0 existed, 0 skipped, 1 failed$' "$tmp/err" || fail "summary line"
cmp -s "$(cfg $stopped)" "$tmp/stopped.running" || fail "the refused container's config changed"
cmp -s "$(cfg $created).dockerd-migrate" "$tmp/created.orig" || fail "the backup is not the original"
python3 - "$(cfg $created)" "$tmp/created.orig" "$root" <<'EOF' || fail "the rewritten config"
import json, sys, glob
new, old = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert new["Driver"] == "overlayfs", new["Driver"]
m = new["ImageManifest"]
assert new["Image"] == m["digest"] and m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
blob = sys.argv[3] + "/io.containerd.content.v1.content/blobs/sha256/" + m["digest"][7:]
data = open(blob, "rb").read()
assert len(data) == m["size"], (len(data), m["size"])
assert json.loads(data)["config"]["digest"] == old["Image"], "the manifest is not of the image"
for k in old:
    if k not in ("Driver", "Image", "ImageManifest"):
        assert new[k] == old[k], k
EOF

# Stopped now: the rerun migrates it alone.
cp "$tmp/stopped.orig" "$(cfg $stopped)"
expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$root" --containers --json
python3 - "$tmp/out" <<'EOF' || fail "the rerun's report"
import json, sys
d = json.load(open(sys.argv[1]))
st = {c["name"]: c["status"] for c in d["containers"]}
assert st == {"/stopped": "migrated", "/created": "existed"}, st
s = d["summary"]
assert (s["containers_migrated"], s["containers_existed"], s["containers_failed"]) == (1, 1, 0), s
EOF
cmp -s "$(cfg $stopped).dockerd-migrate" "$tmp/stopped.orig" || fail "the backup of /stopped"

# The snapshot directories hold the legacy layers' trees exactly (every entry:
# type, mode, owner, size, mtime but of directories, links, content, xattrs).
listing() { python3 "$top_srcdir/tests/tree-listing.py" "$1"; }
snaps=$root/io.containerd.snapshotter.v1.$sn/snapshots
for c in $stopped $created; do
	mid=$(cat "$store/image/overlay2/layerdb/mounts/$c/mount-id")
	for d in "$mid" "$mid-init"; do
		listing "$store/overlay2/$d/diff" > "$tmp/want" || fail "listing"
		found=
		for s in "$snaps"/*/fs; do
			listing "$s" > "$tmp/got" || fail "listing $s"
			if cmp -s "$tmp/want" "$tmp/got"; then found=$s; break; fi
		done
		[ -n "$found" ] || fail "no snapshot holds the tree of overlay2/$d/diff"
	done
done
mid=$(cat "$store/image/overlay2/layerdb/mounts/$stopped/mount-id")
listing "$store/overlay2/$mid/diff" | grep -q '^run-output.txt ' ||
	fail "the writable layer of /stopped lacks run-output.txt: nothing was compared"
find "$store/containers" "$root" -printf '%p %s %T@\n' | sort > "$tmp/before"
expect_rc 7 "$DM" run --docker-root "$store" --containerd-root "$root" --containers
grep -q '^dockerd-migrate: containers: 0 migrated, 2 existed, 0 skipped, 0 failed$' "$tmp/err" || fail "third run"
find "$store/containers" "$root" -printf '%p %s %T@\n' | sort > "$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || { diff "$tmp/before" "$tmp/after" | head; fail "a run with nothing to do wrote"; }
# A writable layer whose container is gone (removed on the new store): skipped, not failed.
mv "$store/containers/$created" "$tmp/created.dir"
expect_rc 7 "$DM" run --docker-root "$store" --containerd-root "$root" --containers
grep -q "^dockerd-migrate: container $created: skipped: no .*/containers/$created/config.v2.json: Docker has no such container$" \
	"$tmp/err" || fail "the layer without a container is not reported as skipped"
grep -q '^dockerd-migrate: containers: 0 migrated, 1 existed, 1 skipped, 0 failed$' "$tmp/err" || fail "fourth run"
# Another snapshotter than the driver's form: refused, named.
expect_rc 0 "$DM" plan --docker-root "$store" --containers --snapshotter native
# rollback (offline) undoes the containers with the images: their configs back byte for byte,
# their snapshots and leases gone with everything else the runs wrote; a second one has nothing.
mv "$tmp/created.dir" "$store/containers/$created"
expect_rc 0 "$DM" rollback --docker-root "$store" --containerd-root "$root" --docker-config "$tmp/absent.json"
cmp -s "$(cfg $stopped)" "$tmp/stopped.orig" || fail "rollback: the config of /stopped is not the original"
[ ! -e "$(cfg $stopped).dockerd-migrate" ] || fail "rollback: the backup of /stopped is left"
cmp -s "$(cfg $created)" "$tmp/created.orig" || fail "rollback: the config of /created is not the original"
[ -z "$(ls -A "$snaps")" ] || { ls "$snaps" >&2; fail "rollback: snapshot directories left"; }
expect_rc 7 "$DM" rollback --docker-root "$store" --containerd-root "$root" --docker-config "$tmp/absent.json"
echo "containers: refused while running, migrated after, backups intact, third run writes nothing, rolled back"
exit 0
