#!/bin/sh
# Issue 9, first finding: a file in a layer's directory that the layer's
# tar-split does not list is not part of what the DiffID vouches for, and
# must never reach a snapshot.
#
# For each fixture store (overlay2, then vfs), a root-owned setuid regular
# file, dm-extra-setuid (4755), is added to the root of one layer directory
# (overlay2/<cache-id>/diff, vfs/dir/<cache-id>) of a layer in the middle of
# a chain (tests/lib-store.sh: store_pick_layer).  Then `run` (offline, the
# default snapshotter) must
#   - exit 0 or 1 (1: some layer refused), not anything else;
#   - leave that file out of every snapshot directory under the containerd
#     root (and put no setuid file there but the fixture's own suid-tool);
#   - say what it did: when it refused (exit 1) the layer is reported failed,
#     and when it exits 0 the output names the file that was left out.
# Today the layer directory is copied into the snapshot by path, so the file
# lands in it and the run says nothing.
#
# Needs root (an exact store: owners, whiteouts, xattrs); no daemon.
# Standalone: DM=src/dockerd-migrate sh tests/extra-file.sh [overlay2|vfs...]
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-store.sh"
store_need_root

extra=dm-extra-setuid
[ $# -gt 0 ] || set -- overlay2 vfs
for driver in "$@"; do
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/store-$driver") || fail "extract $driver"
	chain=$(store_pick_layer "$store" "$driver") || fail "$driver: no layer to tamper with"
	dir=$(store_layer_dir "$store" "$driver" "$chain") || fail "$driver: no directory for layer $chain"
	printf '#!/bin/sh\necho not in the DiffID\n' > "$dir/$extra" &&
		chown 0:0 "$dir/$extra" && chmod 4755 "$dir/$extra" || fail "$driver: planting $dir/$extra"
	echo "$driver: planted $dir/$extra (layer sha256:$chain)"

	root=$tmp/root-$driver
	"$DM" run --docker-root "$store" --containerd-root "$root" --jobs 1 --json > "$tmp/out" 2> "$tmp/err"
	rc=$?
	echo "$driver: run exited $rc"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "$driver: run exited $rc, want 0 (file left out) or 1 (layer refused)"

	find "$root"/io.containerd.snapshotter.v1.* -name "$extra" > "$tmp/found" 2>/dev/null
	find "$root"/io.containerd.snapshotter.v1.* -type f -perm -4000 ! -name suid-tool > "$tmp/suid" 2>/dev/null
	if [ -s "$tmp/found" ] || [ -s "$tmp/suid" ]; then
		sort -u "$tmp/found" "$tmp/suid" | sed 's/^/  in a snapshot: /' >&2
		fail "$driver: a file the tar-split of layer sha256:$chain does not list reached a snapshot"
	fi
	if [ "$rc" -eq 1 ]; then
		grep -q "layer sha256:$chain: failed" "$tmp/err" ||
			fail "$driver: run exited 1 without reporting layer sha256:$chain as failed"
	else
		grep -q "$extra" "$tmp/out" "$tmp/err" ||
			fail "$driver: run exited 0 and does not say that $extra (layer sha256:$chain) was left out"
	fi
	echo "ok   $driver: $extra is in no snapshot (run exit $rc)"
	chmod -R u+rwX "$tmp/store-$driver" "$root" 2>/dev/null
	rm -rf "$tmp/store-$driver" "$root"
done
exit 0
