# Shell functions (POSIX sh, sourced after tests/lib-daemon.sh) that run the
# Debian sid chroot's containerd 2.x and dockerd 28 (made by
# tests/sid-chroot-setup.sh) on private roots.  The host's / is a shared
# mount, so every mount the daemons make would leak into it, or vanish for
# runc, if they ran in the host's mount namespace: instead one private mount
# namespace is held open by a sleeping process, and every daemon and client
# is started with `nsenter -t HOLDER -m chroot CHROOT ...`.  Paths the daemons
# use (the scratch directory, a containerd root) are bound into the chroot at
# the same path, so host tools and chroot tools name the same files and
# sockets.  Nothing touches /var/lib/docker, /run/containerd or /etc/docker;
# daemons are stopped by their PIDs.
#
#   sid_enter [SCRATCH]            namespace with the chroot $SID_ROOT (default
#                                  $DM_SID_ROOT or /var/tmp/dm-$DM_SID_SUITE) mounted; SCRATCH
#                                  (default: a new directory under /tmp, removed by
#                                  sid_stop_all unless DM_KEEP=1) holds sockets,
#                                  states and logs; sets SID_NS_PID and SID_SCRATCH
#   sid_bind DIR                   makes host DIR (created if missing) visible in
#                                  the chroot at the same path
#   sid_exec CMD...                runs CMD in the chroot (PATH of the chroot)
#   sid_start_containerd ROOT      containerd on ROOT (bound in); sets
#                                  SID_CONTAINERD_SOCK and SID_CONTAINERD_PID
#   sid_ctr ARGS...                the chroot's ctr on that containerd
#   sid_start_dockerd DATA_ROOT [SNAPSHOTTER]
#                                  dockerd with the containerd image store on
#                                  that containerd (SNAPSHOTTER: overlayfs, the
#                                  default, or native); sets SID_DOCKER_HOST and
#                                  SID_DOCKERD_PID
#   sid_docker ARGS...             the chroot's docker CLI on that dockerd
#   sid_check_expected EXPECTED_DIR
#                                  judges the images of the running dockerd against
#                                  what dockerd 20.10 reported before a migration
#                                  (fixtures/expected/<driver>/, see below); prints
#                                  every check and a diff for each mismatch; returns 1
#                                  if any failed
#   sid_logs                       prints the tails of the daemons' logs (stderr)
#   sid_stop_all                   stops dockerd, containerd and anything else left
#                                  in the namespace, unmounts, ends the namespace;
#                                  safe to call twice, meant for `trap ... EXIT`
#
# Logs: $SID_SCRATCH/containerd.log and $SID_SCRATCH/dockerd.log.  A start that
# fails prints the log's tail and returns 1.

SID_ROOT=${DM_SID_ROOT:-/var/tmp/dm-${DM_SID_SUITE:-sid}}
SID_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# nsenter into the holder's namespace, outside the chroot (for mounts).  A
# holder that died, its PID taken by a process of the host's namespace, must
# not send mounts to the host.
sid_ns() {
	if [ "$(readlink "/proc/$SID_NS_PID/ns/mnt" 2>/dev/null)" != "$SID_NS" ]; then
		echo "sid: the namespace holder $SID_NS_PID is gone" >&2
		return 1
	fi
	nsenter -t "$SID_NS_PID" -m -- "$@"
}

sid_exec() {
	sid_ns chroot "$SID_ROOT" \
		env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
		PATH="$SID_PATH" HOME=/root "$@"
}

sid_enter() {
	[ -z "${SID_NS_PID:-}" ] || { echo "sid_enter: already entered" >&2; return 1; }
	if [ ! -x "$SID_ROOT/usr/sbin/dockerd" ]; then
		echo "sid_enter: no chroot at $SID_ROOT (tests/sid-chroot-setup.sh makes it)" >&2
		return 1
	fi
	SID_ROOT=$(cd "$SID_ROOT" && pwd -P) || return 1
	SID_OWN_SCRATCH=
	if [ -n "${1:-}" ]; then
		mkdir -p "$1" || return 1
		SID_SCRATCH=$(cd "$1" && pwd -P) || return 1
	else
		SID_SCRATCH=$(mktemp -d /tmp/dm-sid.XXXXXX) || return 1
		SID_OWN_SCRATCH=1
	fi
	SID_DOCKERD_PID='' SID_CONTAINERD_PID='' SID_MADE=''
	# The holder also ends when the shell that started it dies (even by
	# SIGKILL), so a lost test leaves no namespace behind for ever.
	unshare -m --propagation private sh -c \
		'while kill -0 "$1" 2>/dev/null; do sleep 1; done' sid-holder $$ 2>/dev/null &
	SID_NS_PID=$!
	# Until unshare has run, nsenter would enter the host's namespace and
	# every mount below would land on the host.
	sid_t=50
	while [ "$(readlink "/proc/$SID_NS_PID/ns/mnt" 2>/dev/null)" = "$(readlink /proc/self/ns/mnt)" ]; do
		sid_t=$((sid_t - 1))
		if [ "$sid_t" -le 0 ] || ! dm_alive "$SID_NS_PID"; then
			echo "sid_enter: unshare -m did not make a mount namespace" >&2
			sid_stop_all
			return 1
		fi
		sleep 0.1
	done
	SID_NS=$(readlink "/proc/$SID_NS_PID/ns/mnt")
	r=$SID_ROOT
	# dockerd remounts / (e.g. for `docker import`), which fails unless the
	# chroot is a mount point.
	if ! { sid_ns mount --bind "$r" "$r" &&
		sid_ns mount -t proc proc "$r/proc" &&
		sid_ns mount --bind /sys "$r/sys" &&
		sid_ns mount --rbind /sys/fs/cgroup "$r/sys/fs/cgroup" &&
		sid_ns mount --bind /dev "$r/dev" &&
		sid_ns mount --bind /dev/pts "$r/dev/pts" &&
		sid_ns mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm" &&
		sid_ns mount -t tmpfs -o mode=755 tmpfs "$r/run" &&
		sid_ns mount -t tmpfs -o mode=1777 tmpfs "$r/tmp" &&
		sid_bind "$SID_SCRATCH"; }; then
		echo "sid_enter: mounting the chroot failed" >&2
		sid_stop_all
		return 1
	fi
}

sid_bind() {
	mkdir -p "$1" || return 1
	sid_d=$(cd "$1" && pwd -P) || return 1
	case $sid_d in
	*[[:space:]]*) echo "sid_bind: '$sid_d': a path with blanks is not supported" >&2; return 1 ;;
	esac
	# The mount point is made inside the namespace: under /tmp it lands on
	# the chroot's tmpfs and goes with it; elsewhere the directories made in
	# the cached chroot (from the deepest up to the first that was missing)
	# are removed by sid_stop_all.
	sid_top=$sid_d
	while [ "${sid_top%/*}" != "" ] && ! sid_ns test -e "$SID_ROOT${sid_top%/*}"; do
		sid_top=${sid_top%/*}
	done
	sid_ns test -e "$SID_ROOT$sid_top" || SID_MADE="$SID_MADE $sid_d:$sid_top"
	sid_ns mkdir -p "$SID_ROOT$sid_d" && sid_ns mount --bind "$sid_d" "$SID_ROOT$sid_d"
}

sid_start_containerd() {
	sid_croot=$1
	[ -z "${SID_CONTAINERD_PID:-}" ] || { echo "sid_start_containerd: already running" >&2; return 1; }
	sid_bind "$sid_croot" || return 1
	sid_croot=$(cd "$sid_croot" && pwd -P) || return 1
	sid_cstate=$SID_SCRATCH/containerd
	mkdir -p "$sid_cstate" || return 1
	SID_CONTAINERD_SOCK=$sid_cstate/containerd.sock
	# Version 3 is 2.x's own format (a version 2 file is converted at each
	# start); 1.7 (a trixie chroot) reads only version 2.  CRI stays off: it
	# wants CNI and would log noise.
	sid_cver=$(sid_exec containerd --version | awk '{ print $3 }')
	case ${sid_cver#v} in
	1.*) sid_cfg='version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri"]' ;;
	*) sid_cfg='version = 3
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.nri.v1.nri"]' ;;
	esac
	cat > "$sid_cstate/config.toml" <<EOF
$sid_cfg
root = "$sid_croot"
state = "$sid_cstate/state"

[grpc]
  address = "$SID_CONTAINERD_SOCK"

[ttrpc]
  address = "$SID_CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$sid_cstate/opt"
EOF
	sid_exec containerd --config "$sid_cstate/config.toml" > "$SID_SCRATCH/containerd.log" 2>&1 &
	SID_CONTAINERD_PID=$!
	if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$SID_CONTAINERD_PID" sid_ctr version; then
		echo "containerd (sid) did not become ready on $SID_CONTAINERD_SOCK" >&2
		dm_log_tail "$SID_SCRATCH/containerd.log"
		return 1
	fi
	# containerd serves without the plugins that fail to load, meta.db's
	# among them: a root it cannot read must fail here, with its log.
	if ! sid_ctr plugins ls | grep -Eq '^io\.containerd\.metadata\.v1 +bolt +.* ok *$'; then
		echo "containerd (sid) did not load the metadata plugin of $sid_croot:" >&2
		grep -E 'level=(error|warning)' "$SID_SCRATCH/containerd.log" | head -n 3 >&2
		return 1
	fi
}

sid_ctr() {
	sid_exec ctr --address "$SID_CONTAINERD_SOCK" "$@"
}

sid_start_dockerd() {
	sid_ddata=$1
	sid_snap=${2:-overlayfs}
	[ -z "${SID_DOCKERD_PID:-}" ] || { echo "sid_start_dockerd: already running" >&2; return 1; }
	[ -n "${SID_CONTAINERD_SOCK:-}" ] || { echo "sid_start_dockerd: no containerd" >&2; return 1; }
	sid_bind "$sid_ddata" || return 1
	sid_ddata=$(cd "$sid_ddata" && pwd -P) || return 1
	sid_dd=$SID_SCRATCH/dockerd
	mkdir -p "$sid_dd/exec" "$sid_dd/client" || return 1
	SID_DOCKER_HOST=unix://$sid_dd/docker.sock
	printf '{"features": {"containerd-snapshotter": true}}\n' > "$sid_dd/daemon.json" || return 1
	# No bridge and no iptables: containers run with --network none, and
	# the host's firewall is left alone.
	sid_exec dockerd --config-file "$sid_dd/daemon.json" \
		--data-root "$sid_ddata" --exec-root "$sid_dd/exec" \
		--pidfile "$sid_dd/dockerd.pid" -H "$SID_DOCKER_HOST" \
		--containerd "$SID_CONTAINERD_SOCK" --storage-driver "$sid_snap" \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--bridge=none --userland-proxy=false \
		> "$SID_SCRATCH/dockerd.log" 2>&1 &
	SID_DOCKERD_PID=$!
	if ! dm_wait_until "$DM_DAEMON_TIMEOUT" "$SID_DOCKERD_PID" sid_docker version; then
		echo "dockerd (sid) did not become ready on $SID_DOCKER_HOST" >&2
		dm_log_tail "$SID_SCRATCH/dockerd.log"
		return 1
	fi
	# A dockerd that ignored the feature would show an empty graphdriver
	# store, and every check after this would fail for the wrong reason.
	sid_got=$(sid_docker info --format '{{.Driver}} {{json .DriverStatus}}' 2>&1)
	case $sid_got in
	"$sid_snap "*io.containerd.snapshotter.v1*) ;;
	*)
		echo "dockerd (sid) does not use the containerd image store with $sid_snap: $sid_got" >&2
		return 1 ;;
	esac
}

sid_docker() {
	sid_exec env DOCKER_CONFIG="$SID_SCRATCH/dockerd/client" docker -H "$SID_DOCKER_HOST" "$@"
}

sid_logs() {
	for sid_l in "$SID_SCRATCH/containerd.log" "$SID_SCRATCH/dockerd.log"; do
		[ ! -s "$sid_l" ] || dm_log_tail "$sid_l"
	done
}

# Processes still in the namespace: container shims and whatever a failed
# start left; the namespace identifies them, so nothing else is touched.
sid_ns_pids() {
	for sid_p in /proc/[0-9]*; do
		[ "$(readlink "$sid_p/ns/mnt" 2>/dev/null)" = "$SID_NS" ] || continue
		[ "${sid_p#/proc/}" = "$SID_NS_PID" ] || echo "${sid_p#/proc/}"
	done
}

sid_stop_all() {
	if [ -n "${SID_DOCKERD_PID:-}" ]; then
		dm_stop_pid "$SID_DOCKERD_PID"
		SID_DOCKERD_PID=
	fi
	if [ -n "${SID_CONTAINERD_PID:-}" ]; then
		dm_stop_pid "$SID_CONTAINERD_PID"
		SID_CONTAINERD_PID=
	fi
	[ -n "${SID_NS_PID:-}" ] || return 0
	if [ -n "${SID_NS:-}" ]; then
		for sid_p in $(sid_ns_pids); do
			kill -KILL "$sid_p" 2>/dev/null
		done
		# umount -R takes the chroot and everything mounted below it; the
		# bound directories' mount points outside /tmp are ours to remove.
		sid_ns umount -R "$SID_ROOT" 2>/dev/null || sid_ns umount -R -l "$SID_ROOT" 2>/dev/null
		for sid_m in $SID_MADE; do
			sid_d=${sid_m%:*} sid_top=${sid_m#*:}
			while rmdir "$SID_ROOT$sid_d" 2>/dev/null && [ "$sid_d" != "$sid_top" ]; do
				sid_d=${sid_d%/*}
			done
		done
	fi
	kill -TERM "$SID_NS_PID" 2>/dev/null
	wait "$SID_NS_PID" 2>/dev/null
	SID_NS_PID='' SID_NS='' SID_MADE=''
	if [ -n "${SID_OWN_SCRATCH:-}" ] && [ "${DM_KEEP:-0}" != 1 ]; then
		rm -rf --one-file-system "$SID_SCRATCH"
	fi
	SID_OWN_SCRATCH=
	return 0
}

# EXPECTED_DIR/images.txt lines are `REPOSITORY TAG DIGEST ID` (ID: the config
# digest, which a migration keeps); tree/<first 12 hex of ID>.txt is what
# `/fixtool tree /` printed in a container of that image.  Docker 28 shows the
# manifest digest as IMAGE ID, so images are matched by config digest, read
# from containerd's content store (sid_config_of).  Checked:
#   - every tag is listed by `docker images` and names the image it named;
#   - every image with a tree/ file is listed (dangling and digest-only ones
#     by whatever name) and a container of it lists the same tree;
#   - every blob of the namespace reads back with its digest;
#   - `docker images` shows no image the old daemon did not have (images that
#     only `docker images -a` showed, i.e. intermediates, are reported only).
# sid_config_of DIGEST: the config digest of manifest DIGEST (of an index:
# of its first manifest), read from the content store (containerd 1.7's ctr
# has no `images inspect`).
sid_config_of() {
	sid_m=$(sid_ctr -n moby content get "$1" | python3 -c 'import json, sys
j = json.load(sys.stdin)
print(j["manifests"][0]["digest"] if "manifests" in j else "config " + j["config"]["digest"])') || return 1
	case $sid_m in
	"config "*) echo "${sid_m#config }" ;;
	*) sid_config_of "$sid_m" ;;
	esac
}

sid_check_expected() {
	sid_exp=$1
	sid_w=$SID_SCRATCH/check
	rm -rf "$sid_w" && mkdir -p "$sid_w/tree" || return 1
	[ -r "$sid_exp/images.txt" ] || { echo "sid_check_expected: no $sid_exp/images.txt" >&2; return 1; }
	sid_pass=0 sid_fail=0
	sid_docker version --format 'checking with dockerd {{.Server.Version}}, containerd {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}' || return 1

	# TARGET CONFIG for every image record of namespace moby.
	sid_ctr -n moby images ls > "$sid_w/ctr-images" || return 1
	awk 'NR > 1 { print $1, $3 }' "$sid_w/ctr-images" | while read -r _ sid_target; do
		sid_cfg=$(sid_config_of "$sid_target")
		echo "$sid_target ${sid_cfg:-unknown}"
	done | sort -u > "$sid_w/target-config"
	# NAME TARGET CONFIG for what Docker lists; names normalised (docker.io/,
	# library/) on both sides, dangling ones as <none>.
	sid_docker images --no-trunc --format '{{.Repository}} {{.Tag}} {{.ID}}' > "$sid_w/docker-images" || return 1
	sid_norm='function norm(r, t,   i, f) {
			if (r == "<none>" || t == "<none>") return "<none>"
			i = index(r, "/"); f = i ? substr(r, 1, i - 1) : ""
			if (!i) r = "docker.io/library/" r
			else if (f !~ /[.:]/ && f != "localhost") r = "docker.io/" r
			return r ":" t
		}'
	awk "$sid_norm"'
		FNR == NR { cfg[$1] = $2; next }
		{ print norm($1, $2), $3, ($3 in cfg) ? cfg[$3] : "unknown" }' \
		"$sid_w/target-config" "$sid_w/docker-images" | sort > "$sid_w/docker-table"
	echo "docker images (name, target, config):"
	sed 's/^/  /' "$sid_w/docker-table"

	awk "$sid_norm"'$2 != "<none>" { print norm($1, $2), $4 }' "$sid_exp/images.txt" > "$sid_w/expected-tags"
	while read -r sid_name sid_id; do
		sid_got=$(awk -v n="$sid_name" '$1 == n { print $3 }' "$sid_w/docker-table")
		if [ -z "$sid_got" ]; then
			echo "FAIL tag $sid_name: not listed by docker images"
			sid_fail=$((sid_fail + 1))
		elif [ "$sid_got" != "$sid_id" ]; then
			echo "FAIL tag $sid_name: names config $sid_got, expected $sid_id"
			sid_fail=$((sid_fail + 1))
		else
			echo "ok   tag $sid_name"
			sid_pass=$((sid_pass + 1))
		fi
	done < "$sid_w/expected-tags"

	for sid_f in "$sid_exp"/tree/*.txt; do
		[ -e "$sid_f" ] || continue
		sid_short=$(basename "$sid_f" .txt)
		sid_id=$(awk -v p="sha256:$sid_short" 'index($4, p) == 1 { print $4; exit }' "$sid_exp/images.txt")
		sid_id=${sid_id:-sha256:$sid_short}
		sid_targets=$(awk -v p="$sid_id" 'index($3, p) == 1 { print $2 }' "$sid_w/docker-table" | sort -u)
		if [ -z "$sid_targets" ]; then
			echo "FAIL image $sid_id ($(awk -v p="$sid_id" '$4 == p { printf "%s:%s ", $1, $2 }' "$sid_exp/images.txt")): not listed by docker images"
			sid_fail=$((sid_fail + 1))
			continue
		fi
		for sid_t in $sid_targets; do
			sid_out=$sid_w/tree/$sid_short-${sid_t#sha256:}
			if ! sid_docker run --rm --network none "$sid_t" /fixtool tree / > "$sid_out.txt" 2> "$sid_out.err"; then
				echo "FAIL tree of $sid_short (run $sid_t): docker run failed: $(tail -n 3 "$sid_out.err")"
				sid_fail=$((sid_fail + 1))
			elif ! diff -u "$sid_f" "$sid_out.txt" > "$sid_out.diff"; then
				echo "FAIL tree of $sid_short (run $sid_t) differs from $sid_f:"
				cat "$sid_out.diff"
				sid_fail=$((sid_fail + 1))
			else
				echo "ok   tree of $sid_short (run $sid_t, $(wc -l < "$sid_out.txt") entries)"
				sid_pass=$((sid_pass + 1))
			fi
		done
	done

	# containerd answers from meta.db, and Docker runs from snapshots: neither
	# notices a blob file that is missing or wrong until someone reads it.
	sid_ctr -n moby content ls -q > "$sid_w/content" || return 1
	sid_bad=0
	while read -r sid_dg; do
		sid_got=sha256:$(sid_ctr -n moby content get "$sid_dg" 2>/dev/null | sha256sum | cut -d' ' -f1)
		if [ "$sid_got" != "$sid_dg" ]; then
			echo "FAIL blob $sid_dg: reads back as $sid_got"
			sid_bad=$((sid_bad + 1))
		fi
	done < "$sid_w/content"
	if [ "$sid_bad" -eq 0 ]; then
		echo "ok   content: $(wc -l < "$sid_w/content") blobs read back with their digests"
		sid_pass=$((sid_pass + 1))
	else
		sid_fail=$((sid_fail + 1))
	fi

	sid_all=$sid_exp/images-all.txt
	[ -r "$sid_all" ] || sid_all=$sid_exp/images.txt
	for sid_cfg in $(awk '{ print $3 }' "$sid_w/docker-table" | sort -u); do
		if grep -q " $sid_cfg\$" "$sid_exp/images.txt"; then
			:
		elif grep -q " $sid_cfg\$" "$sid_all"; then
			echo "note image $sid_cfg: an intermediate image (docker images -a only before) is listed"
		else
			echo "FAIL image $sid_cfg ($(awk -v c="$sid_cfg" '$3 == c { printf "%s ", $1 }' "$sid_w/docker-table")): listed, but the original daemon had no such image"
			sid_fail=$((sid_fail + 1))
		fi
	done
	echo "sid_check_expected: $sid_pass of $((sid_pass + sid_fail)) checks passed against $sid_exp"
	[ "$sid_fail" -eq 0 ] && [ "$sid_pass" -gt 0 ]
}
