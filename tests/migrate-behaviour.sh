#!/bin/sh
# What users and postinst scripts rely on around `run`: refusal while
# containerd (or another run) holds meta.db (exit 4), the free-space check
# (exit 5, with figures, nothing written), names that exist with another
# target (kept and reported; replaced with --force), a root with data of its
# own (kept), and the progress line on a terminal.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons || exit 77

trap 'dm_containerd_stop 2>/dev/null; umount "$tmp/small" 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

o2=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/o2") ||
	fail "extract overlay2"
vfs=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/vfs-store.tar.xz" "$tmp/vfs") ||
	fail "extract vfs"
root=$tmp/root

# containerd running on the root: refused at once, nothing written.
dm_containerd_start "$root" || fail "containerd did not start"
expect_rc 4 "$DM" run --docker-root "$o2" --containerd-root "$root"
grep -q '^dockerd-migrate: error: .*meta.db.*containerd is running' "$tmp/err" || fail "no clear message for a running containerd"
[ -z "$(dm_ctr -n moby images ls -q)" ] || fail "images written while containerd ran"
dm_containerd_stop

# Another run holding the root: refused too (flock on meta.db held by a sleeping holder).
mkdir -p "$root/io.containerd.metadata.v1.bolt"
flock -o "$root/io.containerd.metadata.v1.bolt/meta.db" sleep 30 &
holder=$!
sleep 0.3
expect_rc 4 "$DM" run --docker-root "$o2" --containerd-root "$root"
kill "$holder"
wait "$holder" 2>/dev/null

# Not enough space: a 1 MiB filesystem; the message gives the figures and nothing is written.
mkdir "$tmp/small"
mount -t tmpfs -o size=1m tmpfs "$tmp/small" || fail "mount tmpfs"
expect_rc 5 "$DM" run --docker-root "$o2" --containerd-root "$tmp/small/root"
grep -q 'not enough free space: the migration needs up to [0-9]* bytes, [0-9]* are available' "$tmp/err" ||
	fail "no figures in the free-space error"
[ -z "$(find "$tmp/small/root" -path '*blobs*' -type f 2>/dev/null)" ] || fail "blobs written without space"
umount "$tmp/small"

# On a terminal: a redrawn progress line with layers, bytes, rate and ETA.
script -qec "$DM run --docker-root '$o2' --containerd-root '$tmp/tty-root' --jobs 1" /dev/null > "$tmp/tty" 2>&1
grep -q 'layers 13/13 .*/s  ETA' "$tmp/tty" || { cat "$tmp/tty" >&2; fail "no progress line on a terminal"; }

# A root with data of its own: the vfs store migrated into the overlay2 store's root. Same
# names, other images: kept and reported, exit 0; the first store's images stay intact.
expect_rc 0 "$DM" run --docker-root "$o2" --containerd-root "$root" --json
cp "$tmp/out" "$tmp/first.json"
expect_rc 0 "$DM" run --docker-root "$vfs" --containerd-root "$root" --json
cp "$tmp/out" "$tmp/second.json"
grep -q '^dockerd-migrate: name docker.io/fixtures/app:1.0: skipped: name exists with another target' "$tmp/err" ||
	fail "conflicting name not reported"
python3 - "$tmp/first.json" "$tmp/second.json" <<'PY' || fail "conflict report"
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
tagged = {n["name"]: i["manifest"] for i in first["images"] for n in i["names"]}
skipped = [n for i in second["images"] for n in i["names"] if n["status"] == "skipped"]
assert skipped and all(n["name"] in tagged for n in skipped), skipped
# names only the second store has (its dangling images) were written
assert any(n["status"] == "migrated" for i in second["images"] for n in i["names"])
PY
dm_containerd_start "$root" || fail "containerd on the shared root"
for name in docker.io/fixtures/app:1.0 docker.io/fixtures/base:latest; do
	want=$(python3 -c 'import json,sys
print(*[i["manifest"] for i in json.load(open(sys.argv[1]))["images"] for n in i["names"] if n["name"]==sys.argv[2]])' "$tmp/first.json" "$name")
	got=$(dm_ctr -n moby images ls "name==$name" | awk 'NR==2 {print $3}')
	[ "$got" = "$want" ] || fail "$name was replaced without --force ($got, want $want)"
done
dm_ctr -n moby images check --snapshotter overlayfs | grep -q 'docker.io/fixtures/app:1.0 .*complete.*true' ||
	fail "first store's image no longer complete and unpacked"
dm_containerd_stop

# --force replaces them.
expect_rc 0 "$DM" run --docker-root "$vfs" --containerd-root "$root" --force --json
python3 - "$tmp/out" <<'PY' || fail "--force did not replace the names"
import json, sys
d = json.load(open(sys.argv[1]))
names = [n for i in d["images"] for n in i["names"]]
assert not [n for n in names if n["status"] == "skipped"]
assert any(n["status"] == "migrated" and n["name"] == "docker.io/fixtures/app:1.0" for n in names)
PY
dm_containerd_start "$root" || fail "containerd after --force"
dm_ctr -n moby images check --snapshotter native | grep -q 'docker.io/fixtures/app:1.0 .*complete.*true' ||
	fail "forced image not complete and unpacked on native"
# A run killed after its images were made leaves its lease; a rerun with
# nothing to do removes it and keeps another tool's, and with none left to
# remove leaves meta.db as it was.
dm_ctr -n moby leases create --id dm-test-dead io.dockerd-migrate.lease=test > /dev/null &&
	dm_ctr -n moby leases create --id other-tool > /dev/null || fail "ctr leases create"
dm_containerd_stop
expect_rc 7 "$DM" run --docker-root "$vfs" --containerd-root "$root"
meta=$root/io.containerd.metadata.v1.bolt/meta.db
sum=$(sha256sum < "$meta")
expect_rc 7 "$DM" run --docker-root "$vfs" --containerd-root "$root"
[ "$(sha256sum < "$meta")" = "$sum" ] || fail "a rerun with nothing to do changed meta.db"
dm_containerd_start "$root" || fail "containerd after the reruns"
[ "$(dm_ctr -n moby leases ls -q)" = other-tool ] ||
	fail "leases after a rerun: $(dm_ctr -n moby leases ls -q | tr '\n' ' '), want other-tool"
dm_containerd_stop
exit 0
