# Sourced (not run) by the shell tests and fixture scripts that need a real
# containerd: starts a private instance whose root, state, sockets and plugin
# directories all live under one scratch directory, so it never touches the
# host's /run/containerd or /var/lib/containerd, and stops it by its PID.

# ctrd_start DIR: starts containerd on DIR/root; sets CTRD_PID and CTRD_SOCK.
ctrd_start() {
	ctrd_dir=$1
	mkdir -p "$ctrd_dir/root" "$ctrd_dir/state" "$ctrd_dir/opt"
	cat > "$ctrd_dir/config.toml" <<CONF
version = 2
root = "$ctrd_dir/root"
state = "$ctrd_dir/state"
[grpc]
  address = "$ctrd_dir/c.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctrd_dir/opt"
CONF
	CTRD_SOCK=$ctrd_dir/c.sock
	containerd --config "$ctrd_dir/config.toml" >"$ctrd_dir/containerd.log" 2>&1 &
	CTRD_PID=$!
	ctrd_tries=0
	until ctr -a "$CTRD_SOCK" version >/dev/null 2>&1; do
		ctrd_tries=$((ctrd_tries + 1))
		if [ "$ctrd_tries" -gt 150 ] || ! kill -0 "$CTRD_PID" 2>/dev/null; then
			echo "containerd did not come up; its log:" >&2
			cat "$ctrd_dir/containerd.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

# ctrd_stop: stops the instance ctrd_start started and waits until it has
# released meta.db (containerd holds bbolt's exclusive flock until it exits).
ctrd_stop() {
	[ -n "${CTRD_PID:-}" ] || return 0
	kill -TERM "$CTRD_PID" 2>/dev/null || true
	wait "$CTRD_PID" 2>/dev/null || true
	CTRD_PID=
}

# ctrd NS ARGS...: runs ctr against the private instance in namespace NS.
ctrd() {
	ctrd_ns=$1
	shift
	ctr -a "$CTRD_SOCK" -n "$ctrd_ns" "$@"
}
