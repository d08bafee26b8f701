#!/bin/sh
# lib/ctrapi and lib/grpc against a private containerd 1.6.20: every call, driven by
# tests/ctrapi_tool, and each result checked with ctr (or by the daemon's garbage collector).
# Root only; skips without containerd/ctr or with DM_SKIP_DAEMON_TESTS=1.
set -eu

if [ "${DM_SKIP_DAEMON_TESTS:-0}" = 1 ]; then echo "skip: DM_SKIP_DAEMON_TESTS=1"; exit 77; fi
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
. "$top_srcdir/tests/lib-daemon.sh"
for b in "$DM_CONTAINERD" "$DM_CTR"; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: $b not installed"; exit 77; }
done

TOOL=$top_builddir/tests/ctrapi_tool
NS=dmtest
SN=overlayfs
# A short path: the socket name must stay below 108 bytes.
work=$(mktemp -d /tmp/dm-ctrapi.XXXXXX)
cleanup() {
	[ -z "${probe_pid:-}" ] || kill "$probe_pid" 2>/dev/null || true
	dm_containerd_stop
	rm -rf "$work"
}
trap cleanup EXIT
dm_containerd_start "$work/root" "$work/state"
S=$DM_CONTAINERD_SOCK

fail() { echo "FAIL: $*" >&2; exit 1; }
t() { "$TOOL" "$S" "$NS" "$@"; }
# expect_err ERRNO ARGS...: the call must fail with that errno.
expect_err() {
	want=$1; shift
	if t "$@" >"$work/out" 2>"$work/err"; then fail "$* succeeded; expected $want"; fi
	grep -q "^ERR $want: " "$work/err" || fail "$*: expected $want, got: $(cat "$work/err")"
	echo "ok: $* -> $(cat "$work/err")"
}
ctr_ns() { dm_ctr -n "$NS" "$@"; }
# gc: a throwaway lease deleted with --sync makes containerd collect garbage now.
gc() {
	ctr_ns leases create --id dm-throwaway >/dev/null
	ctr_ns leases rm --sync dm-throwaway >/dev/null
}
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# --- Version, Introspection ---
v=$(t version)
server=$(dm_ctr version | awk '/^Server:/ { s = 1 } s && $1 == "Version:" { print $2; exit }')
[ "${v%% *}" = "$server" ] || fail "version '$v', ctr says '$server'"
[ "$(t root)" = "$work/root" ] || fail "root: $(t root), not $work/root"
[ "$(t export io.containerd.snapshotter.v1 overlayfs root)" = \
	"$work/root/io.containerd.snapshotter.v1.overlayfs" ] || fail "overlayfs root export"
expect_err ENOENT export io.containerd.snapshotter.v1 nosuch root
echo "ok: version $v, root $work/root"

# --- Leases ---
L=dockerd-migrate-test
expire=$(date -u -d '+24 hours' +%Y-%m-%dT%H:%M:%SZ)
t lease-create "$L" "containerd.io/gc.expire=$expire" io.dockerd-migrate.lease=test
ctr_ns leases ls | grep -q "^$L .*containerd.io/gc.expire=$expire" || fail "lease not listed by ctr"
expect_err EEXIST lease-create "$L"
t lease-list "id==$L" | grep -q "^lease $L [0-9]* containerd.io/gc.expire=$expire io.dockerd-migrate.lease=test$" ||
	fail "lease-list: $(t lease-list)"
[ -z "$(t lease-list 'id==nosuch')" ] || fail "lease-list filter"

# --- Content.Write: interrupted, resumed at the offset containerd reports, in 1 MiB messages ---
blob=$work/blob
head -c $((5 * 1048576 + 12345)) /dev/urandom >"$blob"
D=$(sha "$blob")
t -l "$L" write-part ref-1 "$blob" 3000000 | grep -qx "offset 0" || fail "write-part"
ctr_ns content active | grep -q "^ref-1[[:space:]]" || fail "no ingest ref-1 after the interrupted write"
t -l "$L" write ref-1 "$blob" containerd.io/gc.ref.snapshot.overlayfs=layer-2 k=v >"$work/out"
cat "$work/out"
# Only whole 1 MiB messages reached containerd before the interruption.
grep -qx "offset 2097152" "$work/out" || fail "did not resume at 2097152"
grep -q "^committed $D $((5 * 1048576 + 12345)) " "$work/out" || fail "commit"
ctr_ns content active | grep -q "^ref-1[[:space:]]" && fail "ingest ref-1 left after the commit"
[ "$(ctr_ns content get "$D" | sha256sum | cut -d' ' -f1)" = "${D#sha256:}" ] || fail "ctr reads another blob"
expect_err EEXIST -l "$L" write ref-2 "$blob"
ctr_ns content ls | grep "^$D" | grep -q "k=v" || fail "commit labels missing"

# The lease alone holds the blob through a garbage collection.
gc
ctr_ns content ls | grep -q "^$D" || fail "GC removed the leased blob"

# Two more blobs without the lease header: one added to the lease afterwards, one left alone.
head -c 1000 /dev/urandom >"$work/b2"; D2=$(sha "$work/b2")
head -c 1000 /dev/urandom >"$work/b3"; D3=$(sha "$work/b3")
t write ref-b2 "$work/b2" >/dev/null
t write ref-b3 "$work/b3" >/dev/null
t lease-add "$L" content "$D2"
gc
t info "$D2" >/dev/null || fail "GC removed the blob added to the lease"
expect_err ENOENT info "$D3"

# One writer per ref at a time: a second one is told to come back later.
expect_err EAGAIN write-twice ref-locked "$work/b3"

# An abandoned ingest can be aborted.
head -c 1000 /dev/urandom >"$work/b4"
t write-part ref-abort "$work/b4" 0 >/dev/null
ctr_ns content active | grep -q "^ref-abort[[:space:]]" || fail "no ingest ref-abort"
t abort ref-abort
ctr_ns content active | grep -q "^ref-abort[[:space:]]" && fail "abort left the ingest"
expect_err ENOENT abort ref-abort

# --- Content.Info / Update / Read ---
t info "$D" | grep -qx "content $D $((5 * 1048576 + 12345)) containerd.io/gc.ref.snapshot.overlayfs=layer-2 k=v" ||
	fail "info: $(t info "$D")"
t label "$D" k=w extra=1 | grep -qx "content $D $((5 * 1048576 + 12345)) containerd.io/gc.ref.snapshot.overlayfs=layer-2 extra=1 k=w" ||
	fail "label"
ctr_ns content ls | grep "^$D" | grep -q "k=w" || fail "ctr does not see the new label"
t read "$D" >"$work/back"
cmp "$blob" "$work/back" || fail "read back differs"
t read "$D" 1000000 2500000 >"$work/part"
tail -c +1000001 "$blob" | head -c 2500000 | cmp - "$work/part" || fail "ranged read differs"
expect_err ENOENT info sha256:0000000000000000000000000000000000000000000000000000000000000000
echo "ok: content"

# --- Snapshots: a bind mount for the base, an overlay for the child; fill, commit ---
t -l "$L" prepare "$SN" extract-1 - >"$work/out"
cat "$work/out"
grep -q "^mount bind .*/snapshots/[0-9]*/fs rw,rbind$" "$work/out" || fail "base mount is not a bind"
dir1=$(sed -n 's/^target bind //p' "$work/out")
[ -d "$dir1" ] || fail "bind target $dir1"
echo one >"$dir1/one"
expect_err EEXIST -l "$L" prepare "$SN" extract-1 -
t -l "$L" commit "$SN" layer-1 extract-1
t stat "$SN" layer-1 | grep -qx "snapshot layer-1 parent=- kind=committed" || fail "stat layer-1"
t -l "$L" prepare "$SN" extract-2 layer-1 snap=label >"$work/out"
cat "$work/out"
grep -q "^mount overlay overlay .*lowerdir=$dir1$" "$work/out" || fail "child mount is not an overlay on layer-1"
upper=$(sed -n 's/^target overlay //p' "$work/out")
t mounts "$SN" extract-2 | grep -qx "target overlay $upper" || fail "Mounts differs from Prepare"
t stat "$SN" extract-2 | grep -qx "snapshot extract-2 parent=layer-1 kind=active snap=label" || fail "stat active"
echo two >"$upper/two"
t -l "$L" commit "$SN" layer-2 extract-2 l=2
t stat "$SN" layer-2 | grep -qx "snapshot layer-2 parent=layer-1 kind=committed l=2" || fail "stat layer-2"
expect_err ENOENT stat "$SN" extract-2
ctr_ns snapshots --snapshotter "$SN" ls | grep -q "^layer-2 *layer-1 *Committed" || fail "ctr snapshots ls"
# What was written into the directories is what a container sees.
mkdir "$work/mnt"
ctr_ns snapshots --snapshotter "$SN" view view-1 layer-2 >/dev/null
ctr_ns snapshots --snapshotter "$SN" mounts "$work/mnt" view-1 | sh
[ "$(cat "$work/mnt/one")$(cat "$work/mnt/two")" = onetwo ] || fail "mounted view lacks the files"
umount "$work/mnt"
ctr_ns snapshots --snapshotter "$SN" rm view-1
t -l "$L" prepare "$SN" extract-3 layer-2 >/dev/null
t remove "$SN" extract-3
expect_err ENOENT stat "$SN" extract-3
echo "ok: snapshots"

# --- Images ---
IMG=docker.io/library/dmtest:1
MT=application/vnd.oci.image.manifest.v1+json
SIZE=$((5 * 1048576 + 12345))
t image-create "$IMG" "$MT" "$D" "$SIZE" a=1
# (ctr complains on stderr that the target is no real manifest.)
ctr_ns images ls 2>/dev/null | grep -q "^$IMG *$MT *$D " || fail "ctr images ls"
expect_err EEXIST image-create "$IMG" "$MT" "$D" "$SIZE"
t image-update "$IMG" "$MT" "$D" "$SIZE" a=2
t image-get "$IMG" | grep -qx "image $IMG $MT $D $SIZE a=2" || fail "image-get: $(t image-get "$IMG")"
expect_err ENOENT image-get docker.io/library/nosuch:1
expect_err ENOENT image-update docker.io/library/nosuch:1 "$MT" "$D" "$SIZE"
echo "ok: images"

# --- Errors keep the connection usable ---
expect_err ENOSYS raw /containerd.services.nosuch.v1.Nosuch/Call
printf 'image-get nosuch:1\nversion\ninfo sha256:%s\nversion\n' \
	0000000000000000000000000000000000000000000000000000000000000000 |
	"$TOOL" "$S" "$NS" - >"$work/out" 2>"$work/err" && fail "a failed call in a batch went unnoticed"
[ "$(grep -cxF "$v" "$work/out")" = 2 ] || fail "connection not usable after a failed call"
[ "$(grep -c '^ERR ENOENT' "$work/err")" = 2 ] || fail "batch errors: $(cat "$work/err")"
echo "ok: one connection, failed calls in between"

# --- Leases.Delete with sync: what only the lease held is gone, the image keeps the rest ---
t lease-delete "$L" sync
ctr_ns leases ls | grep -q "^$L " && fail "lease still listed"
t info "$D" >/dev/null || fail "image target collected"
expect_err ENOENT info "$D2"
t stat "$SN" layer-2 >/dev/null || fail "layer-2 collected although the target's label references it"
t stat "$SN" layer-1 >/dev/null || fail "layer-1 (parent of layer-2) collected"
expect_err ENOENT lease-delete "$L"
echo "ok: lease deleted with sync"

# --- containerd restarts under an open connection: EAGAIN at most once, then reconnected ---
mkfifo "$work/in"
"$TOOL" "$S" "$NS" - <"$work/in" >"$work/probe.out" 2>"$work/probe.err" &
probe_pid=$!
exec 3>"$work/in"
printf 'version\npause\n' >&3
n=0
until grep -q '^paused$' "$work/probe.out"; do
	n=$((n + 1)); [ "$n" -lt 100 ] || fail "probe did not pause"; sleep 0.1
done
dm_containerd_stop
# Not with fd 3: a containerd holding the fifo open would keep the probe waiting for EOF.
dm_containerd_start "$work/root" "$work/state" 3>&-
printf 'go\nversion\nversion\n' >&3
exec 3>&-
wait "$probe_pid" || true
probe_pid=
cat "$work/probe.out" "$work/probe.err"
lines=$(grep -cxF "$v" "$work/probe.out" || true)
errs=$(grep -c '^ERR' "$work/probe.err" || true)
if [ "$lines" -lt 2 ] || [ "$((lines + errs))" != 3 ]; then
	fail "restart: $lines replies, $errs errors"
fi
if [ "$errs" != 0 ] && ! grep -q '^ERR EAGAIN: ' "$work/probe.err"; then
	fail "restart error is not EAGAIN"
fi
echo "ok: reconnected after a restart of containerd"

# --- Throughput: a 64 MiB blob in 1 MiB messages ---
head -c $((64 * 1048576)) /dev/urandom >"$work/big"
t write ref-big "$work/big" | grep committed
