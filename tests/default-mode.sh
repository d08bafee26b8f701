#!/bin/sh
# With neither --containerd-address nor --containerd-root, `plan` and `run`
# choose the mode themselves: online when containerd answers on the default
# socket /run/containerd/containerd.sock, offline on the default root
# /var/lib/containerd otherwise (nothing listening, or a socket file left by
# a containerd that stopped).  The test runs in a mount namespace of its own
# with tmpfs over /run and /var/lib, so the default paths are the test's and
# the host's are never touched.  Root and the daemons; skips (77) otherwise.
set -u
if [ -z "${DM_IN_MOUNT_NS:-}" ]; then
	. "$top_srcdir/tests/lib-daemon.sh"
	dm_need_daemons
	command -v unshare >/dev/null 2>&1 || { echo "skip: needs unshare (util-linux)"; exit 77; }
	DM_IN_MOUNT_NS=1 exec unshare --mount --propagation private "$SHELL" "$0" "$@"
fi
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-daemon.sh"
. "$top_srcdir/tests/lib-migrate-check.sh"
trap 'dm_containerd_stop 2>/dev/null; chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

mount -t tmpfs -o mode=0755 dm-test-run /run || fail "tmpfs over /run"
# The system containerd as Debian installs it: configured (the default config,
# no root or address) and enabled; no daemon.json (lib/discover.h).
mkdir -p "$tmp/systemd/multi-user.target.wants" && : > "$tmp/systemd/multi-user.target.wants/containerd.service"
printf 'version = 2\n' > "$tmp/config.toml"
export DM_SYSTEMD_DIR="$tmp/systemd"
dm() { "$DM" "$@" --docker-config "$tmp/absent.json" --containerd-config "$tmp/config.toml"; }
mount -t tmpfs -o mode=0755 dm-test-varlib /var/lib || fail "tmpfs over /var/lib"
sock=/run/containerd/containerd.sock
store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" \
	"$tmp/store") || fail "extract"

# Nothing listens: offline on the default root.
expect_rc 0 dm plan --docker-root "$store"
grep -q "^run would migrate offline into containerd's root /var/lib/containerd: nothing answers on $sock" \
	"$tmp/out" || fail "plan without containerd does not choose offline on the default root"

# containerd on the default socket: online, into the root the daemon serves.
mkdir /run/containerd || fail "mkdir /run/containerd"
dm_containerd_start "$tmp/daemon-root" "$tmp/state" "$sock" || fail "containerd on $sock"
expect_rc 0 dm plan --docker-root "$store" --json
json_is "$tmp/out" mode online && json_is "$tmp/out" containerd_address "$sock" &&
	grep -q "\"mode_reason\":\"containerd answers on $sock, where dockerd looks first" "$tmp/out" ||
	fail "plan with containerd on $sock does not choose online"
expect_rc 0 dm run --docker-root "$store" --json
cp "$tmp/out" "$tmp/online.json"
json_is "$tmp/online.json" mode online || fail "run did not go online"
[ ! -e /var/lib/containerd ] || fail "the online run wrote to the default root"
dm_check_migrated overlay2 overlayfs "$tmp/online.json"
dm_ctr -n moby images ls | awk 'NR > 1 { print $1, $3 }' | sort > "$tmp/online.images"
expect_rc 7 dm run --docker-root "$store"
dm_containerd_stop

# Stopped, with its socket file left or not: offline into /var/lib/containerd,
# to the same images.
expect_rc 0 dm plan --docker-root "$store" --json
json_is "$tmp/out" mode offline && json_is "$tmp/out" containerd_root /var/lib/containerd &&
	grep -q "\"mode_reason\":\"nothing answers on $sock" "$tmp/out" ||
	fail "plan after containerd stopped does not choose offline"
expect_rc 0 dm run --docker-root "$store" --json
json_is "$tmp/out" mode offline || fail "run did not go offline"
dm_containerd_start /var/lib/containerd "$tmp/state2" || fail "containerd on the default root"
dm_ctr -n moby images ls | awk 'NR > 1 { print $1, $3 }' | sort > "$tmp/offline.images"
diff -u "$tmp/online.images" "$tmp/offline.images" >&2 ||
	fail "the offline run on the default root gave other images than the online run"
dm_containerd_stop
exit 0
