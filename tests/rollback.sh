#!/bin/sh
# rollback (issue 12) judged by real containerd 1.6.20, offline and online: a
# containerd root that already holds images (imported with ctr before the run,
# in namespace "other" and in "moby"), a fixture store migrated into it, an
# image imported and a container created after the migration, and a migrated
# container's snapshots and lease made as the containers convention has them
# (label io.dockerd-migrate.container); then rollback.  The root must hold
# exactly what a reference root holds that only ever got the images imported
# before and after and the container created after (ctr listings of images,
# content, snapshots and leases in every namespace), the later image must
# still run, the container's config is restored from its backup, daemon.json
# from its (hand-made) backup.  --dry-run lists and changes nothing; a second
# rollback has nothing to do (exit 7); rollback refuses while a dockerd on the
# containerd store runs (exit 8: a fake one, a process named dockerd).
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons || exit 77

trap 'dm_containerd_stop 2>/dev/null; [ -n "${fake:-}" ] && kill "$fake" 2>/dev/null;
	chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# mkimage NAME FILE-CONTENT OUT.tar: a one-layer OCI archive holding /true (a static
# program that exits 0, when a compiler is at hand) and /id (FILE-CONTENT).
cat > "$tmp/true.c" <<'EOC'
void _start(void) { __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall"); }
EOC
have_true=0
if [ "$(uname -m)" = x86_64 ] && ${CC:-cc} -static -nostdlib -O2 -o "$tmp/true" "$tmp/true.c" 2>/dev/null; then
	have_true=1
fi
mkimage() {
	python3 - "$1" "$2" "$3" "$tmp/true" <<'EOP'
import hashlib, io, json, os, sys, tarfile
name, content, out, true = sys.argv[1:5]
def tarbytes(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for n, data, mode in files:
            i = tarfile.TarInfo(n); i.size = len(data); i.mode = mode; i.mtime = 0
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()
files = [("id", content.encode(), 0o644)]
if os.path.exists(true):
    files.append(("true", open(true, "rb").read(), 0o755))
layer = tarbytes(files)
ld = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/true"]},
                  "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd = "sha256:" + hashlib.sha256(cfg).hexdigest()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}]}).encode()
md = "sha256:" + hashlib.sha256(man).hexdigest()
idx = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": md, "size": len(man), "annotations": {"io.containerd.image.name": name}}]}).encode()
blobs = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644), ("index.json", idx, 0o644)]
for d, data in ((ld, layer), (cd, cfg), (md, man)):
    blobs.append(("blobs/sha256/" + d[7:], data, 0o644))
open(out, "wb").write(tarbytes(blobs))
EOP
}
mkimage docker.io/test/pre-other:1 pre-other "$tmp/pre-other.tar" || fail "mkimage"
mkimage docker.io/test/pre-moby:1 pre-moby "$tmp/pre-moby.tar" || fail "mkimage"
mkimage docker.io/test/post:1 post "$tmp/post.tar" || fail "mkimage"

# listing: every namespace's images, content, snapshots (both snapshotters), leases, without
# times (ctr's AGE / CREATED AT columns), labels sorted (ctr prints a Go map), after a
# garbage collection (what an import leaves unreferenced goes whenever GC runs: now).
listing() {
	dm_ctr leases create --id dm-gc-now > /dev/null && dm_ctr leases delete --sync dm-gc-now ||
		fail "a synchronous garbage collection"
	for ns in $(dm_ctr namespaces ls -q | sort); do
		dm_ctr -n "$ns" images ls | sed 1d | sed "s|^|$ns image |"
		dm_ctr -n "$ns" content ls | sed 1d | awk -v ns="$ns" '{ print ns " content " $1 " " $2 " " $NF }'
		for sn in overlayfs native; do
			dm_ctr -n "$ns" snapshots --snapshotter "$sn" ls | sed 1d | sed "s|^|$ns snapshot $sn |"
		done
		dm_ctr -n "$ns" leases ls | sed 1d | awk -v ns="$ns" '{ print ns " lease " $1 }'
	done | sed 's/  */ /g' | python3 -c 'import sys
for l in sys.stdin:
    f = l.split()
    print(" ".join(f[:-1] + [",".join(sorted(f[-1].split(",")))]) if f else "")' | sort
}

imports_before() {
	dm_ctr -n other images import "$tmp/pre-other.tar" > /dev/null || fail "import pre-other"
	dm_ctr -n moby images import "$tmp/pre-moby.tar" > /dev/null || fail "import pre-moby"
}
imports_after() {
	dm_ctr -n moby images import "$tmp/post.tar" > /dev/null || fail "import post"
	dm_ctr -n moby containers create docker.io/test/post:1 made-after > /dev/null || fail "container create"
}

# The reference: a root that only got what containerd itself was given.
dm_containerd_start "$tmp/ref" || fail "containerd on the reference root"
imports_before
imports_after
listing > "$tmp/want"
dm_containerd_stop
grep -q 'moby image docker.io/test/post:1' "$tmp/want" || fail "reference listing lacks the later image"

store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") ||
	fail "extract the fixture store"
cid=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# fake_container: a migrated container as the containers convention leaves it: its config
# backed up, snapshots <ID>-init (committed) and <ID> (active) and lease <ID>, labelled.
fake_container() {
	top=$(dm_ctr -n moby snapshots --snapshotter overlayfs ls | awk 'NR > 1 && $3 == "Committed" { print $1; exit }')
	[ -n "$top" ] || fail "no committed snapshot to put a container on"
	mkdir -p "$store/containers/$cid"
	echo '{"Driver":"overlayfs"}' > "$store/containers/$cid/config.v2.json"
	echo '{"Driver":"overlay2"}' > "$store/containers/$cid/config.v2.json.dockerd-migrate"
	dm_ctr -n moby leases create --id "$cid" -x 0 "io.dockerd-migrate.container=$cid" > /dev/null ||
		fail "lease create"
	dm_ctr -n moby snapshots --snapshotter overlayfs prepare "$cid-init-key" "$top" > /dev/null &&
		dm_ctr -n moby snapshots --snapshotter overlayfs commit "$cid-init" "$cid-init-key" &&
		dm_ctr -n moby snapshots --snapshotter overlayfs prepare "$cid" "$cid-init" > /dev/null &&
		dm_ctr -n moby snapshots --snapshotter overlayfs label "$cid-init" "io.dockerd-migrate.container=$cid" > /dev/null &&
		dm_ctr -n moby snapshots --snapshotter overlayfs label "$cid" "io.dockerd-migrate.container=$cid" > /dev/null ||
		fail "container snapshots"
	# ctr marks what it prepares containerd.io/gc.root (the convention's snapshots are held
	# by their lease instead, which ctr cannot add them to): rollback removes them all the
	# same, by their label and the config backup.
}

check_after() { # WHAT
	listing > "$tmp/got"
	diff -u "$tmp/want" "$tmp/got" >&2 || fail "$1: the root does not hold exactly what it held before plus the later image"
	dm_ctr -n moby images check | grep -q 'docker.io/test/post:1.*complete' || fail "$1: the later image is not complete"
	if [ "$have_true" = 1 ]; then
		dm_ctr -n moby run --rm docker.io/test/post:1 "dm-rb-$$" /true || fail "$1: the later image does not run"
	fi
}

check_docker_side() { # WHAT
	[ "$(cat "$store/containers/$cid/config.v2.json")" = '{"Driver":"overlay2"}' ] ||
		fail "$1: the container's config was not restored"
	[ ! -e "$store/containers/$cid/config.v2.json.dockerd-migrate" ] || fail "$1: the config backup is left"
	[ "$(cat "$tmp/daemon.json")" = '{"storage-driver":"overlay2"}' ] || fail "$1: daemon.json not restored"
	[ ! -e "$tmp/daemon.json.dockerd-migrate" ] || fail "$1: the daemon.json backup is left"
}

hand_made_switch() {
	echo '{"storage-driver":"overlay2"}' > "$tmp/daemon.json.dockerd-migrate"
	echo '{"storage-driver":"overlay2","features":{"containerd-snapshotter":true}}' > "$tmp/daemon.json"
}

for mode in offline online; do
	root=$tmp/ctr-$mode
	rm -rf "$store/containers/$cid"
	dm_containerd_start "$root" || fail "$mode: containerd"
	imports_before
	listing > "$tmp/before"
	if [ "$mode" = offline ]; then
		dm_containerd_stop
		expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$root"
		dm_containerd_start "$root" || fail "$mode: containerd after the run"
	else
		expect_rc 0 "$DM" run --docker-root "$store" --containerd-address "$DM_CONTAINERD_SOCK"
	fi
	[ -s "$root/dockerd-migrate/journal" ] || fail "$mode: the run left no journal"
	fake_container
	imports_after
	hand_made_switch
	listing > "$tmp/mid"
	if [ "$mode" = offline ]; then
		dm_containerd_stop
		set -- --containerd-root "$root"
		# containerd holds meta.db: offline rollback refuses and says how to go online.
	else
		set -- --containerd-address "$DM_CONTAINERD_SOCK"
	fi
	common="--docker-root $store --docker-config $tmp/daemon.json"

	# A dockerd on the containerd store (here a fake: a process named dockerd whose
	# command line enables the feature) makes rollback refuse, writing nothing.
	cp /bin/sh "$tmp/dockerd"
	"$tmp/dockerd" -c 'while :; do sleep 0.2; done' dockerd --feature containerd-snapshotter &
	fake=$!
	sleep 0.2
	expect_rc 8 "$DM" rollback $common "$@"
	grep -q "dockerd (pid $fake)" "$tmp/err" || fail "$mode: the refusal does not name the dockerd"
	kill "$fake"; wait "$fake" 2>/dev/null; fake=

	dbs() { find "$root" -name '*.db' -exec sha256sum {} + | sort; }
	dbs > "$tmp/dbs-before"
	expect_rc 0 "$DM" rollback --dry-run --json $common "$@"
	dbs > "$tmp/dbs-after"
	cmp -s "$tmp/dbs-before" "$tmp/dbs-after" || fail "$mode: the dry run changed a database"
	json_is "$tmp/out" mode "$mode" || fail "$mode: the dry run's JSON does not say $mode"
	grep -q 'would remove image docker.io/fixtures/base:latest' "$tmp/err" || fail "$mode: dry run lists no image"
	grep -q "would remove lease $cid" "$tmp/err" || fail "$mode: dry run does not list the container's lease"
	grep -q "would remove snapshot overlayfs/$cid-init" "$tmp/err" || fail "$mode: dry run does not list the container's snapshot"
	[ -s "$root/dockerd-migrate/journal" ] || fail "$mode: the dry run removed the journal"
	[ -e "$tmp/daemon.json.dockerd-migrate" ] || fail "$mode: the dry run restored daemon.json"
	if [ "$mode" = online ]; then
		listing > "$tmp/got"
		diff -u "$tmp/mid" "$tmp/got" >&2 || fail "$mode: the dry run changed the store"
	fi

	expect_rc 0 "$DM" rollback $common "$@"
	sed "s/^/$mode rollback: /" "$tmp/err"
	grep -q 'removed image docker.io/fixtures/base:latest' "$tmp/err" || fail "$mode: rollback says no image removed"
	check_docker_side "$mode"
	[ ! -e "$root/dockerd-migrate" ] || fail "$mode: the journal is left"
	[ "$mode" = offline ] && { dm_containerd_start "$root" || fail "$mode: containerd after the rollback"; }
	check_after "$mode"

	# Idempotent: nothing left to do.
	[ "$mode" = offline ] && dm_containerd_stop
	expect_rc 7 "$DM" rollback $common "$@"
	grep -q 'nothing to roll back' "$tmp/err" || fail "$mode: a second rollback does not say nothing to do"
	[ "$mode" = offline ] && { dm_containerd_start "$root" || fail "$mode: containerd after the second rollback"; }
	check_after "$mode (second rollback)"
	dm_containerd_stop
done

# daemon.json: an empty backup means there was none before switch: rollback removes it.
: > "$tmp/daemon.json.dockerd-migrate"
echo '{"features":{"containerd-snapshotter":true}}' > "$tmp/daemon.json"
expect_rc 0 "$DM" rollback --docker-root "$tmp/nowhere" --containerd-root "$tmp/nowhere" --docker-config "$tmp/daemon.json"
[ ! -e "$tmp/daemon.json" ] && [ ! -e "$tmp/daemon.json.dockerd-migrate" ] ||
	fail "an empty backup did not remove daemon.json"
exit 0
