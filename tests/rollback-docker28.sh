#!/bin/sh
# rollback judged by Docker 28.5.2 and containerd 2.1.9 (the sid chroot, see
# tests/lib-sid.sh): the overlay2 fixture store migrated offline, with its
# containers (run --containers), into an empty containerd root; `switch` turns
# the feature on in daemon.json (the previous file kept as
# daemon.json.dockerd-migrate); dockerd 28 started with it on the fixture
# store's data-root uses the containerd image store and lists every migrated
# name and container; rollback refuses while it runs (exit 8); once it is
# stopped, rollback (online) restores daemon.json and the containers' configs
# and leaves the containerd root without an image, blob, snapshot or lease of
# the migration; dockerd 28 started again with the restored file is back on
# the overlay2 graphdriver and lists every legacy image and container.
set -u
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-sid.sh"
dm_need_daemons || exit 77
for b in unshare nsenter; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: $b is missing"; exit 77; }
done
if ! sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >&2; then
	echo "skip: no sid chroot with containerd 2.x and Docker 28 at $SID_ROOT"
	exit 77
fi
trap 'sid_stop_all; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf --one-file-system "$tmp"' EXIT

store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") ||
	fail "extract the fixture store"
root=$tmp/ctr
cfg=$tmp/etc/daemon.json
mkdir -p "$tmp/etc"
printf '{"debug": false, "features": {"buildkit": false}}\n' > "$cfg"
cp "$cfg" "$tmp/cfg.before"
expect_rc 0 "$DM" run --containers --docker-root "$store" --containerd-root "$root" --docker-config "$cfg"
expect_rc 0 "$DM" switch --docker-root "$store" --containerd-root "$root" --docker-config "$cfg"
cmp -s "$cfg.dockerd-migrate" "$tmp/cfg.before" || fail "switch: the backup is not the previous daemon.json"
ls "$store/containers" | sort > "$tmp/ctrs"
[ -s "$tmp/ctrs" ] || fail "the fixture store has no containers"

# The names docker 20.10 listed, as the 28 CLI prints them (familiar form).
awk '$1 != "<none>" && $2 != "<none>" { print $1 ":" $2 }' "$top_srcdir/fixtures/expected/overlay2/images.txt" |
	sort -u > "$tmp/names"
[ -s "$tmp/names" ] || fail "no expected names"

start_dockerd() { # WHAT DRIVER-WANTED
	sid_dd=$SID_SCRATCH/dockerd
	mkdir -p "$sid_dd/exec" "$sid_dd/client"
	SID_DOCKER_HOST=unix://$sid_dd/docker.sock
	sid_exec dockerd --config-file "$cfg" --data-root "$store" --exec-root "$sid_dd/exec" \
		--pidfile "$sid_dd/dockerd.pid" -H "$SID_DOCKER_HOST" --containerd "$SID_CONTAINERD_SOCK" \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--bridge=none --userland-proxy=false > "$SID_SCRATCH/dockerd.log" 2>&1 &
	SID_DOCKERD_PID=$!
	dm_wait_until "$DM_DAEMON_TIMEOUT" "$SID_DOCKERD_PID" sid_docker version ||
		{ sid_logs; fail "$1: dockerd 28 did not start"; }
	# $! is the shell that runs sid_exec; dockerd itself wrote its PID.
	dockerd_pid=$(cat "$sid_dd/dockerd.pid") || fail "$1: no dockerd pid file"
	got=$(sid_docker info --format '{{.Driver}}')
	[ "$got" = "$2" ] || { sid_logs; fail "$1: dockerd 28 runs on '$got', not $2"; }
	sid_docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort -u > "$tmp/listed"
	comm -23 "$tmp/names" "$tmp/listed" > "$tmp/missing"
	[ ! -s "$tmp/missing" ] || { cat "$tmp/missing" >&2; fail "$1: dockerd 28 does not list every image"; }
	sid_docker ps -a --no-trunc --format '{{.ID}}' | sort > "$tmp/ctrs.listed"
	cmp -s "$tmp/ctrs" "$tmp/ctrs.listed" ||
		{ diff "$tmp/ctrs" "$tmp/ctrs.listed" >&2; fail "$1: dockerd 28 does not list every container"; }
}
stop_dockerd() {
	dm_stop_pid "$dockerd_pid"
	dm_stop_pid "$SID_DOCKERD_PID"
	SID_DOCKERD_PID=
}

sid_enter || fail "sid namespace"
sid_bind "$tmp" || fail "bind $tmp"
sid_start_containerd "$root" || fail "containerd 2.1.9 on the migrated root"
start_dockerd "switched" overlayfs

# While it runs on the containerd store, rollback refuses and changes nothing.
expect_rc 8 "$DM" rollback --containerd-address "$SID_CONTAINERD_SOCK" --docker-root "$store" --docker-config "$cfg"
grep -q "dockerd (pid $dockerd_pid)" "$tmp/err" || fail "the refusal does not name dockerd 28"
[ -e "$cfg.dockerd-migrate" ] || fail "the refused rollback touched daemon.json"
stop_dockerd

expect_rc 0 "$DM" rollback --containerd-address "$SID_CONTAINERD_SOCK" --docker-root "$store" --docker-config "$cfg"
sed 's/^/rollback: /' "$tmp/err"
cmp -s "$cfg" "$tmp/cfg.before" || fail "daemon.json was not restored"
[ ! -e "$cfg.dockerd-migrate" ] || fail "the daemon.json backup is left"
for c in $(cat "$tmp/ctrs"); do
	[ ! -e "$store/containers/$c/config.v2.json.dockerd-migrate" ] || fail "container $c: config backup left"
	grep -q '"Driver":"overlay2"' "$store/containers/$c/config.v2.json" || fail "container $c: config not restored"
done
# The root was empty before the run: nothing of the migration is left in moby.
for what in images content leases; do
	sid_ctr -n moby "$what" ls -q > "$tmp/left"
	[ ! -s "$tmp/left" ] || { cat "$tmp/left" >&2; fail "$what left in namespace moby after rollback"; }
done
sid_ctr -n moby snapshots --snapshotter overlayfs ls | sed 1d > "$tmp/left"
[ ! -s "$tmp/left" ] || { cat "$tmp/left" >&2; fail "snapshots left in namespace moby after rollback"; }

start_dockerd "rolled back" overlay2
stop_dockerd
exit 0
