#!/bin/sh
# Docker's own (supervised) containerd, end to end (issue 12):
#   1. Debian's dockerd 20.10, started WITHOUT --containerd on a private
#      data-root and exec-root (what daemon.json says), starts its own
#      containerd: root <data-root>/containerd/daemon, socket
#      <exec-root>/containerd/containerd.sock.  Images are built, the tree of
#      each is recorded, dockerd is stopped.
#   2. `plan` (no system containerd configured) names
#      <data-root>/containerd/daemon and says why; `run` writes there;
#      `switch` turns on the containerd image store in that daemon.json.
#   3. Docker 28.5.2 from the sid chroot, started with that daemon.json and
#      no --containerd, supervises its own containerd 2.1.9 on that root,
#      uses the containerd image store, lists every tag and runs every image
#      to the same tree.
# Root, the daemons and the sid chroot (tests/sid-chroot-setup.sh); skips (77)
# otherwise.  Run under flock /var/tmp/dm-daemons.lock (make check does not
# take it: the caller does).
set -u
. "$top_srcdir/tests/lib-daemon.sh"
dm_need_daemons
for b in unshare nsenter gcc; do
	command -v "$b" >/dev/null 2>&1 || { echo "skip: $b is missing"; exit 77; }
done
. "$top_srcdir/tests/lib-test.sh"
. "$top_srcdir/tests/lib-sid.sh"
if ! sh "$top_srcdir/tests/sid-chroot-setup.sh" "$SID_ROOT" >&2; then
	echo "skip: no sid chroot with Docker 28 at $SID_ROOT"
	exit 77
fi
# dockerd 20.10 would use a system containerd that has its socket file there.
if [ -e /run/containerd/containerd.sock ]; then
	echo "skip: /run/containerd/containerd.sock exists: dockerd would not supervise its own containerd"
	exit 77
fi

opt_made=
[ -e /opt/containerd ] || opt_made=1
old_pid= exec_root=
cleanup() {
	[ -z "$old_pid" ] || dm_stop_pid "$old_pid"
	sid_stop_all
	dm_umount_under "$tmp"
	# The supervised containerd of dockerd 20.10 makes /opt/containerd (its opt plugin).
	[ -z "$opt_made" ] || rmdir /opt/containerd/bin /opt/containerd/lib /opt/containerd 2>/dev/null
	[ -z "$exec_root" ] || { dm_umount_under "$exec_root"; rm -rf --one-file-system "$exec_root"; }
	chmod -R u+rwX "$tmp" 2>/dev/null
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Short paths: sockets live under the exec-root.
data=$tmp/data
exec_root=$(mktemp -d /tmp/dm-sup.XXXXXX) || fail "mktemp"
mkdir -p "$data" "$tmp/old"
cfg=$tmp/etc/daemon.json
mkdir -p "$tmp/etc"
# What a sysadmin's daemon.json says; dockerd 20.10 gets the same by flags
# (its own file only moves the trust key out of /etc/docker).
printf '{\n  "data-root": "%s",\n  "exec-root": "%s"\n}\n' \
	"$data" "$exec_root" > "$cfg"
printf '{"deprecated-key-path": "%s/key.json"}\n' "$tmp/old" > "$tmp/old/daemon.json"
old_host=unix://$tmp/old/docker.sock
old_docker() { DOCKER_BUILDKIT=0 DOCKER_CONFIG=$tmp/old/client "$DM_DOCKER_CLI" -H "$old_host" "$@"; }

env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
	"$DM_DOCKERD" --config-file "$tmp/old/daemon.json" --data-root "$data" --exec-root "$exec_root" \
	--pidfile "$tmp/old/dockerd.pid" -H "$old_host" --storage-driver overlay2 \
	--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
	--bridge=none --userland-proxy=false > "$tmp/old/dockerd.log" 2>&1 &
old_pid=$!
if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$old_pid" old_docker version; then
	dm_log_tail "$tmp/old/dockerd.log"
	fail "dockerd 20.10 did not start"
fi
grep -q 'starting containerd' "$tmp/old/dockerd.log" ||
	grep -q 'libcontainerd: started new containerd process' "$tmp/old/dockerd.log" ||
	fail "dockerd 20.10 did not start its own containerd"
[ -S "$exec_root/containerd/containerd.sock" ] || fail "no supervised socket at $exec_root/containerd/containerd.sock"
[ -d "$data/containerd/daemon/io.containerd.metadata.v1.bolt" ] ||
	fail "the supervised containerd's root is not $data/containerd/daemon"
echo "dockerd 20.10 supervises containerd: root $data/containerd/daemon, socket $exec_root/containerd/containerd.sock"

mkdir -p "$tmp/ctx/base"
gcc -static -Os -s -o "$tmp/ctx/base/fixtool" "$top_srcdir/fixtures/fixtool.c" || fail "static fixtool"
tar -C "$tmp/ctx/base" -cf "$tmp/base.tar" fixtool
cat > "$tmp/ctx/Dockerfile" <<'EOF'
FROM sup/base:1
RUN ["/fixtool", "mkdir", "/data", ";", "write", "/data/a.txt", "alpha", ";", "symlink", "a.txt", "/data/l"]
RUN ["/fixtool", "rm", "/data/a.txt", ";", "mkdir", "/opq", ";", "write", "/opq/y", "y"]
EOF
old_docker import "$tmp/base.tar" sup/base:1 > /dev/null || fail "docker import"
old_docker build -q -t sup/app:1 -t example.com/sup/app:v2 "$tmp/ctx" > /dev/null || fail "docker build"
old_docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort > "$tmp/tags"
[ "$(wc -l < "$tmp/tags")" -eq 3 ] || fail "dockerd 20.10 shows $(wc -l < "$tmp/tags") tags, want 3"
while read -r t; do
	old_docker run --rm --network none "$t" /fixtool tree / > "$tmp/tree-$(echo "$t" | tr '/:' '__')" ||
		fail "dockerd 20.10: run $t"
done < "$tmp/tags"
dm_stop_pid "$old_pid"
old_pid=
dm_umount_under "$data"
[ ! -S "$exec_root/containerd/containerd.sock" ] || ! "$DM_CTR" --address "$exec_root/containerd/containerd.sock" \
	version > /dev/null 2>&1 || fail "the supervised containerd still answers after dockerd stopped"

# No system containerd here: no config, no enabled unit.
export DM_SYSTEMD_DIR=$tmp/systemd
mkdir -p "$DM_SYSTEMD_DIR"
dm() { "$DM" "$@" --docker-config "$cfg" --containerd-config "$tmp/no-config.toml"; }
expect_rc 0 dm plan --json
python3 - "$tmp/out" "$data" "$exec_root" <<'EOF' || fail "plan does not name the supervised containerd"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["containerd"]
want = {"which": "supervised", "mode": "offline", "root": sys.argv[2] + "/containerd/daemon",
        "socket": sys.argv[3] + "/containerd/containerd.sock", "namespace": "moby"}
got = {k: c[k] for k in want}
print("plan: containerd", got, "why:", c["why"])
sys.exit(got != want or d["docker_root"] != sys.argv[2] or "(it exists)" not in c["why"]
         or "dockerd starts its own" not in c["why"])
EOF
expect_rc 0 dm plan
grep -q "^containerd: supervised, root $data/containerd/daemon, socket $exec_root/containerd/containerd.sock, namespace moby$" \
	"$tmp/out" || fail "plan's text"

# switch refuses before the run.
expect_rc 8 dm switch
grep -q "not in $data/containerd/daemon" "$tmp/err" || fail "switch before run: $(cat "$tmp/err")"
expect_rc 0 dm run --json
json_is "$tmp/out" containerd_root "$data/containerd/daemon" || fail "run did not write into the supervised root"
json_is "$tmp/out" mode offline || fail "run was not offline"
expect_rc 0 dm switch
grep -qi "restart dockerd" "$tmp/out" || fail "switch says nothing to restart"
[ -f "$cfg.dockerd-migrate" ] || fail "no backup of daemon.json"
sed 's/^/  daemon.json: /' "$cfg"

# Docker 28.5.2 on the same daemon.json, without --containerd.
sid_enter || fail "sid chroot"
sid_bind "$data" && sid_bind "$exec_root" && sid_bind "$tmp/etc" || fail "sid_bind"
new_host=unix://$SID_SCRATCH/docker.sock
new_docker() { sid_exec env DOCKER_CONFIG="$SID_SCRATCH/client" docker -H "$new_host" "$@"; }
sid_exec dockerd --config-file "$cfg" --pidfile "$SID_SCRATCH/dockerd.pid" -H "$new_host" \
	--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
	--bridge=none --userland-proxy=false > "$SID_SCRATCH/dockerd.log" 2>&1 &
SID_DOCKERD_PID=$!
if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$SID_DOCKERD_PID" new_docker version; then
	dm_log_tail "$SID_SCRATCH/dockerd.log"
	fail "Docker 28 did not start on the switched daemon.json"
fi
new_docker version --format 'Docker {{.Server.Version}}, containerd {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}'
grep -q 'containerd not running, starting managed containerd' "$SID_SCRATCH/dockerd.log" ||
	{ dm_log_tail "$SID_SCRATCH/dockerd.log"; fail "Docker 28 did not start its own containerd"; }
got=$(new_docker info --format '{{.Driver}} {{json .DriverStatus}}')
case $got in
*io.containerd.snapshotter.v1*) echo "Docker 28: $got" ;;
*) fail "Docker 28 is not on the containerd image store: $got" ;;
esac
sid_exec ctr --address "$exec_root/containerd/containerd.sock" -n moby images ls -q | sort > "$tmp/ctr-images" ||
	fail "ctr on the supervised socket"
grep -q 'docker.io/sup/app:1' "$tmp/ctr-images" || fail "the supervised containerd does not hold the images"
new_docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort > "$tmp/new-tags"
diff -u "$tmp/tags" "$tmp/new-tags" || fail "Docker 28 lists other tags than dockerd 20.10 had"
while read -r t; do
	new_docker run --rm --network none "$t" /fixtool tree / > "$tmp/new-tree" 2> "$tmp/new-err" ||
		fail "Docker 28: run $t: $(tail -n 3 "$tmp/new-err")"
	diff -u "$tmp/tree-$(echo "$t" | tr '/:' '__')" "$tmp/new-tree" || fail "Docker 28: $t has another tree"
	echo "ok   $t runs under Docker 28 with the tree it had ($(wc -l < "$tmp/new-tree") entries)"
done < "$tmp/tags"
exit 0
