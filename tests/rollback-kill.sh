#!/bin/sh
# rollback killed with SIGKILL, offline: the overlay2 fixture store migrated
# into a root that holds an image of its own (imported with ctr before), then
# rollback killed at POINTS points spread over the bytes a whole rollback
# writes (tests/kill-at.py), each on a fresh copy of that root.  After each
# kill containerd 1.6.20 starts on what was left and every image it lists is
# complete (no record points at something removed); a second rollback exits
# 0 or 7; then the root lists exactly what a rollback that was never killed
# leaves, in ctr's listings and on disk before containerd's GC could tidy up
# (snapshot directories, blob files: a second rollback removes what the killed
# one left behind its meta.db commit).  A rollback writes most of its bytes in
# that commit, so the points tend to fall just after it: the case that matters,
# views gone and the snapshotter's records, directories and files still there.
# DM_KILL_POINTS: default 4.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons || exit 77
points=${DM_KILL_POINTS:-4}
trap 'dm_containerd_stop 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") ||
	fail "extract the fixture store"
# An image of containerd's own: the base fixture image exported by ctr from a migrated root
# would share blobs; a hand-made one does not need the network either.
python3 - "$tmp/own.tar" <<'EOP' || fail "make an image"
import hashlib, io, json, sys, tarfile
def tb(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for n, d in files:
            i = tarfile.TarInfo(n); i.size = len(d); i.mtime = 0; t.addfile(i, io.BytesIO(d))
    return b.getvalue()
layer = tb([("own", b"own\n")]); ld = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd = "sha256:" + hashlib.sha256(cfg).hexdigest()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}]}).encode()
md = "sha256:" + hashlib.sha256(man).hexdigest()
idx = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
  "digest": md, "size": len(man), "annotations": {"io.containerd.image.name": "docker.io/test/own:1"}}]}).encode()
f = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx)]
f += [("blobs/sha256/" + d[7:], x) for d, x in ((ld, layer), (cd, cfg), (md, man))]
open(sys.argv[1], "wb").write(tb(f))
EOP

listing() {
	dm_ctr leases create --id dm-gc-now > /dev/null && dm_ctr leases delete --sync dm-gc-now ||
		fail "a synchronous garbage collection"
	for ns in $(dm_ctr namespaces ls -q | sort); do
		dm_ctr -n "$ns" images ls -q | sed "s|^|$ns image |"
		dm_ctr -n "$ns" content ls -q | sed "s|^|$ns content |"
		dm_ctr -n "$ns" snapshots ls | sed 1d | awk -v ns="$ns" '{ print ns " snapshot " $1 }'
		dm_ctr -n "$ns" leases ls -q | sed "s|^|$ns lease |"
	done | sort
}

tmpl=$tmp/template
dm_containerd_start "$tmpl" || fail "containerd"
dm_ctr -n moby images import "$tmp/own.tar" > /dev/null || fail "import"
# What the import leaves unreferenced (its index blob) goes now, not at a GC of some later start.
dm_ctr leases create --id dm-gc-now > /dev/null && dm_ctr leases delete --sync dm-gc-now || fail "GC"
dm_containerd_stop
expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$tmpl"

rollback() { "$DM" rollback --docker-root "$store" --docker-config "$tmp/none.json" --containerd-root "$1"; }

# The whole rollback, measured, and what it leaves.
cp -a "$tmpl" "$tmp/whole"
python3 "$top_srcdir/tests/kill-at.py" 0 "$tmp/result" "$DM" rollback --docker-root "$store" \
	--docker-config "$tmp/none.json" --containerd-root "$tmp/whole" > /dev/null 2>&1
read -r what rc total < "$tmp/result" || fail "no result"
[ "$what $rc" = "exited 0" ] || fail "the whole rollback: $what $rc"
files() { ( cd "$1" && find io.containerd.content.v1.content/blobs io.containerd.snapshotter.v1.*/snapshots \
	-mindepth 1 -maxdepth 2 | sort ); }
files "$tmp/whole" > "$tmp/files-want"
dm_containerd_start "$tmp/whole" || fail "containerd after the whole rollback"
listing > "$tmp/want"
dm_containerd_stop
grep -q 'moby image docker.io/test/own:1' "$tmp/want" || fail "the whole rollback lost the image of containerd's own"
[ "$(grep -c ' image ' "$tmp/want")" -eq 1 ] || fail "the whole rollback left a migrated image"
echo "a whole rollback writes $total bytes"

k=1
while [ "$k" -le "$points" ]; do
	at=$(( total * (2 * k - 1) / (2 * points) ))
	[ "$at" -gt 0 ] || at=1
	root=$tmp/k$k
	cp -a "$tmpl" "$root"
	python3 "$top_srcdir/tests/kill-at.py" "$at" "$tmp/result" "$DM" rollback --docker-root "$store" \
		--docker-config "$tmp/none.json" --containerd-root "$root" > /dev/null 2>&1
	read -r what w rest < "$tmp/result"
	dm_containerd_start "$root" || fail "point $k ($what at $w bytes): containerd does not start"
	dm_ctr -n moby images check > "$tmp/check" || fail "point $k: ctr images check"
	if grep -v -e '^REF' -e 'complete' "$tmp/check" | grep -q .; then
		cat "$tmp/check" >&2
		fail "point $k ($what at $w bytes): an image record points at something removed"
	fi
	dm_containerd_stop
	rollback "$root" > /dev/null 2> "$tmp/err"
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || fail "point $k: the second rollback exited $rc"
	files "$root" > "$tmp/files-got"
	diff -u "$tmp/files-want" "$tmp/files-got" >&2 || fail "point $k: files left that a whole rollback removes"
	dm_containerd_start "$root" || fail "point $k: containerd after the second rollback"
	listing > "$tmp/got"
	dm_containerd_stop
	diff -u "$tmp/want" "$tmp/got" >&2 || fail "point $k ($what at $w bytes): not what a whole rollback leaves"
	echo "point $k: $what at $w of $total bytes; second rollback exit $rc"
	rm -rf "$root"
	k=$((k + 1))
done
exit 0
