#!/bin/sh
# lib/bolt reads what real containerd 1.6.20 wrote (fixtures/containerd, made
# by its make.sh): both files pass our checker, our dump of every bucket, key,
# value and sequence equals bbolt's own dump recorded next to them, and the
# records sit where doc/containerd-store.md §2-§3 and §6.1 say.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
tool=$top_builddir/tests/bolttool
fx=$top_srcdir/fixtures/containerd
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-bolt-fixture.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for f in meta.db overlayfs-metadata.db; do
	"$tool" check "$fx/$f"
	"$tool" dump "$fx/$f" >"$tmp/$f.dump"
	diff -u "$fx/$f.dump" "$tmp/$f.dump"
done

# expect FILE VALUE BUCKET... KEY: the value as bolttool prints it.
expect() {
	file=$1 want=$2
	shift 2
	got=$("$tool" get "$fx/$file" "$@")
	[ "$got" = "$want" ] || { echo "FAIL $file $*: got $got, want $want"; exit 1; }
}
layer=sha256:05b2e20575cebfc6486e329e23276f236cc0cbd457f0431b8ce52bf634299a4e
blob=sha256:df475348c5fdc7effebd377fa31e7bc597ebf7af0bab252c8665ecc6ccdedfac
expect meta.db 0x06 v1 version
expect meta.db '"overlayfs"' v1 moby labels containerd.io/defaults/snapshotter
expect meta.db '"fixture"' v1 moby leases dm-fixture-lease labels dm.test/purpose
expect meta.db '"yes"' v1 moby leases dm-fixture-lease labels containerd.io/gc.flat
expect meta.db '"kept"' v1 moby content blob "$blob" labels dm.test/label
expect meta.db '"L"' v1 moby content blob "$blob" size
expect meta.db '"application/vnd.oci.image.manifest.v1+json"' \
	v1 moby images docker.io/library/dmfixture:1.0 target mediatype
expect meta.db "\"moby/2/$layer\"" v1 moby snapshots overlayfs "$layer" name
[ "$("$tool" seq "$fx/meta.db" v1 moby snapshots overlayfs)" = 2 ]
expect overlayfs-metadata.db 0x01 v1 snapshots "moby/2/$layer" id
expect overlayfs-metadata.db 0x03 v1 snapshots "moby/2/$layer" kind
[ "$("$tool" seq "$fx/overlayfs-metadata.db" v1 snapshots)" = 1 ]
# A missing key is reported as missing, not as an error.
rc=0
"$tool" has "$fx/meta.db" v1 moby leases no-such-lease 2>/dev/null || rc=$?
[ "$rc" = 1 ]
echo "bolt-fixture: containerd's meta.db and metadata.db read as bbolt reads them"
