# Shell functions (POSIX sh, sourced) that start and stop private instances of
# Debian's containerd and dockerd for tests and fixture generation.  Every
# instance has its own root, state, socket and pid file under a directory the
# caller chooses; nothing touches /var/lib/docker, /run/containerd or
# /etc/docker, and every daemon is stopped by its own PID.
#
#   dm_need_daemons                      skip (exit 77) unless root, daemons installed
#                                        and DM_SKIP_DAEMON_TESTS is not 1
#   dm_containerd_start ROOT [STATE [SOCK]]  containerd on ROOT; sets DM_CONTAINERD_SOCK
#                                        and DM_CONTAINERD_PID (STATE: a short dir for
#                                        the socket, default: a new one under /tmp;
#                                        SOCK: the socket, default STATE/containerd.sock)
#   dm_containerd_stop                   stops it, unmounts what it left under ROOT and
#                                        STATE, removes STATE if it made it
#   dm_dockerd_start DRIVER DIR [SOCK]   dockerd (overlay2|vfs) with data-root DIR/root,
#                                        on containerd SOCK (default: a private one started
#                                        with DIR/containerd as root); sets DM_DOCKER_HOST
#                                        and DM_DOCKERD_PID
#   dm_dockerd_stop                      stops dockerd (and the containerd it started)
#   dm_docker ARGS...                    Debian's docker CLI (20.10) on DM_DOCKER_HOST
#   dm_ctr ARGS...                       ctr on DM_CONTAINERD_SOCK
#   dm_umount_under DIR                  lazily unmounts every mount at or below DIR
#
# Logs go to <state>/containerd.log and DIR/dockerd.log; a start that fails
# prints the log's tail and returns 1.  One containerd and one dockerd per
# shell at a time: save the DM_* variables to juggle more.

DM_DOCKERD=${DM_DOCKERD:-/usr/sbin/dockerd}
DM_DOCKER_CLI=${DM_DOCKER_CLI:-/usr/bin/docker}
DM_CONTAINERD=${DM_CONTAINERD:-/usr/bin/containerd}
DM_CTR=${DM_CTR:-/usr/bin/ctr}
DM_DAEMON_TIMEOUT=${DM_DAEMON_TIMEOUT:-60}

dm_need_daemons() {
	if [ "${DM_SKIP_DAEMON_TESTS:-0}" = 1 ]; then
		echo "skip: DM_SKIP_DAEMON_TESTS=1"; exit 77
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "skip: needs root"; exit 77
	fi
	for dm_b in "$DM_DOCKERD" "$DM_DOCKER_CLI" "$DM_CONTAINERD" "$DM_CTR" runc; do
		command -v "$dm_b" >/dev/null 2>&1 || { echo "skip: $dm_b not installed"; exit 77; }
	done
}

# An exited child stays a zombie, and answers kill -0, until waited for.
dm_alive() {
	kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# dm_wait_until TIMEOUT PID CMD...: retries CMD until it succeeds; fails when
# PID (the daemon being waited for) dies or TIMEOUT seconds pass.
dm_wait_until() {
	dm_t=$(( $1 * 5 )); dm_p=$2; shift 2
	while [ "$dm_t" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		dm_alive "$dm_p" || return 1
		sleep 0.2
		dm_t=$((dm_t - 1))
	done
	return 1
}

# dm_stop_pid PID: SIGTERM, then SIGKILL after 30 s; reaps it when it is our child.
dm_stop_pid() {
	dm_t=150
	kill -TERM "$1" 2>/dev/null || return 0
	while [ "$dm_t" -gt 0 ] && dm_alive "$1"; do
		sleep 0.2
		dm_t=$((dm_t - 1))
	done
	[ "$dm_t" -gt 0 ] || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

dm_umount_under() {
	dm_dir=$(cd "$1" 2>/dev/null && pwd -P) || return 0
	# mountinfo field 5 is the mount point; deepest first.
	awk -v d="$dm_dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r dm_m; do
			umount -l "$(printf '%b' "$dm_m")" 2>/dev/null || true
		done
}

dm_log_tail() {
	echo "--- last lines of $1:" >&2
	tail -n 30 "$1" >&2 2>/dev/null || true
}

dm_containerd_start() {
	dm_croot=$1
	dm_cstate=${2:-}
	DM_CONTAINERD_TMPSTATE=
	if [ -z "$dm_cstate" ]; then
		dm_cstate=$(mktemp -d /tmp/dm-ctd.XXXXXX) || return 1
		DM_CONTAINERD_TMPSTATE=$dm_cstate
	fi
	mkdir -p "$dm_croot" "$dm_cstate" || return 1
	DM_CONTAINERD_ROOT=$dm_croot
	DM_CONTAINERD_STATE=$dm_cstate
	DM_CONTAINERD_SOCK=${3:-$dm_cstate/containerd.sock}
	# CRI stays off (it wants CNI and would log noise); opt keeps its files
	# out of /opt/containerd.
	cat > "$dm_cstate/config.toml" <<EOF
version = 2
root = "$dm_croot"
state = "$dm_cstate/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$DM_CONTAINERD_SOCK"

[ttrpc]
  address = "$DM_CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dm_cstate/opt"
EOF
	"$DM_CONTAINERD" --config "$dm_cstate/config.toml" > "$dm_cstate/containerd.log" 2>&1 &
	DM_CONTAINERD_PID=$!
	echo "$DM_CONTAINERD_PID" > "$dm_cstate/containerd.pid"
	if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$DM_CONTAINERD_PID" \
		"$DM_CTR" --address "$DM_CONTAINERD_SOCK" version; then
		echo "containerd did not become ready on $DM_CONTAINERD_SOCK" >&2
		dm_log_tail "$dm_cstate/containerd.log"
		dm_containerd_stop
		return 1
	fi
}

dm_containerd_stop() {
	[ -n "${DM_CONTAINERD_PID:-}" ] || return 0
	dm_stop_pid "$DM_CONTAINERD_PID"
	DM_CONTAINERD_PID=
	dm_umount_under "$DM_CONTAINERD_STATE"
	dm_umount_under "$DM_CONTAINERD_ROOT"
	if [ -n "$DM_CONTAINERD_TMPSTATE" ]; then
		rm -rf "$DM_CONTAINERD_TMPSTATE"
		DM_CONTAINERD_TMPSTATE=
	fi
}

dm_ctr() {
	"$DM_CTR" --address "$DM_CONTAINERD_SOCK" "$@"
}

dm_dockerd_start() {
	dm_driver=$1
	dm_ddir=$(mkdir -p "$2" && cd "$2" && pwd -P) || return 1
	DM_DOCKERD_DIR=$dm_ddir
	DM_DOCKERD_OWN_CONTAINERD=
	if [ -n "${3:-}" ]; then
		dm_csock=$3
	else
		dm_containerd_start "$dm_ddir/containerd" || return 1
		DM_DOCKERD_OWN_CONTAINERD=1
		dm_csock=$DM_CONTAINERD_SOCK
	fi
	# DIR may be deep; a socket name must stay below 108 bytes.
	dm_sockdir=$(mktemp -d /tmp/dm-dkd.XXXXXX) || return 1
	DM_DOCKERD_SOCKDIR=$dm_sockdir
	DM_DOCKER_HOST=unix://$dm_sockdir/docker.sock
	# The trust key would otherwise land in /etc/docker (no flag for it).
	printf '{"deprecated-key-path": "%s"}\n' "$dm_ddir/key.json" > "$dm_ddir/daemon.json"
	mkdir -p "$dm_ddir/root" "$dm_ddir/exec"
	# No bridge and no iptables: builds and runs use --network none, and the
	# host's firewall is left alone.
	env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
	"$DM_DOCKERD" --config-file "$dm_ddir/daemon.json" \
		--data-root "$dm_ddir/root" --exec-root "$dm_ddir/exec" \
		--pidfile "$dm_ddir/dockerd.pid" -H "$DM_DOCKER_HOST" \
		--containerd "$dm_csock" --storage-driver "$dm_driver" \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--bridge=none --userland-proxy=false \
		> "$dm_ddir/dockerd.log" 2>&1 &
	DM_DOCKERD_PID=$!
	if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$DM_DOCKERD_PID" dm_docker version; then
		echo "dockerd ($dm_driver) did not become ready on $DM_DOCKER_HOST" >&2
		dm_log_tail "$dm_ddir/dockerd.log"
		dm_dockerd_stop
		return 1
	fi
	dm_got=$(dm_docker info --format '{{.Driver}}' 2>/dev/null)
	if [ "$dm_got" != "$dm_driver" ]; then
		echo "dockerd runs storage driver '$dm_got', not '$dm_driver'" >&2
		dm_log_tail "$dm_ddir/dockerd.log"
		dm_dockerd_stop
		return 1
	fi
}

dm_dockerd_stop() {
	if [ -n "${DM_DOCKERD_PID:-}" ]; then
		dm_stop_pid "$DM_DOCKERD_PID"
		DM_DOCKERD_PID=
		dm_umount_under "$DM_DOCKERD_DIR"
		rm -rf "$DM_DOCKERD_SOCKDIR"
	fi
	if [ -n "${DM_DOCKERD_OWN_CONTAINERD:-}" ]; then
		dm_containerd_stop
		DM_DOCKERD_OWN_CONTAINERD=
	fi
}

dm_docker() {
	DOCKER_BUILDKIT=0 DOCKER_CONFIG=$DM_DOCKERD_DIR/client \
		"$DM_DOCKER_CLI" -H "$DM_DOCKER_HOST" "$@"
}
