#!/bin/sh
# daemon.json and the containerd config, without daemons: what `plan` finds
# (which containerd, root, socket, namespace, why) from each kind of
# daemon.json and config.toml, and what `switch` does to each kind of
# daemon.json (absent, {}, other keys, features with other flags, invalid
# JSON, a graphdriver as storage-driver), before and after a completed run.
# Root (an exact fixture store, overlay whiteouts); skips (77) otherwise.  No socket answers here: DM_SYSTEMD_DIR and --containerd-config
# make the host's containerd unit and config the test's.
set -u
if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root (an exact fixture store)"; exit 77; fi
. "$top_srcdir/tests/lib-test.sh"

store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz" \
	"$tmp/store") || fail "extract"
cfg=$tmp/daemon.json
noctr=$tmp/no-config.toml
ctrcfg=$tmp/config.toml
export DM_SYSTEMD_DIR=$tmp/systemd
mkdir -p "$DM_SYSTEMD_DIR"
# A socket path nobody serves: the host's /run/containerd stays out of it.
sock=$tmp/c.sock
printf 'version = 2\nroot = "%s"\n[grpc]\n  address = "%s"\n' "$tmp/sysroot" "$sock" > "$ctrcfg"

# plan_field DOC KEY: containerd.KEY of a plan --json document.
plan_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerd"][sys.argv[2]])' "$1" "$2"
}

# --- discovery ---
# Absent daemon.json, no system containerd configured: dockerd would start its own.
expect_rc 0 "$DM" plan --docker-root "$store" --docker-config "$tmp/absent.json" \
	--containerd-config "$noctr" --json
[ "$(plan_field "$tmp/out" which)" = supervised ] || fail "no config: not the supervised containerd"
[ "$(plan_field "$tmp/out" root)" = "$store/containerd/daemon" ] || fail "supervised root"
[ "$(plan_field "$tmp/out" socket)" = /var/run/docker/containerd/containerd.sock ] || fail "supervised socket"
[ "$(plan_field "$tmp/out" namespace)" = moby ] || fail "namespace default"
json_is "$tmp/out" containerd_root "$store/containerd/daemon" || fail "containerd_root"

# data-root, exec-root and containerd-namespace from daemon.json.
printf '{"data-root": "%s", "exec-root": "%s/exec", "containerd-namespace": "other", "debug": true}\n' \
	"$store" "$tmp" > "$cfg"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr" --json
json_is "$tmp/out" docker_root "$store" || fail "data-root from daemon.json is not the store read"
[ "$(plan_field "$tmp/out" socket)" = "$tmp/exec/containerd/containerd.sock" ] || fail "exec-root"
[ "$(plan_field "$tmp/out" namespace)" = other ] || fail "containerd-namespace"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr" --namespace n3 --json
[ "$(plan_field "$tmp/out" namespace)" = n3 ] || fail "--namespace does not win"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr"
grep -q "^containerd: supervised, root $store/containerd/daemon, socket $tmp/exec/containerd/containerd.sock, namespace other$" \
	"$tmp/out" || fail "plan's text names no containerd line"
grep -q "dockerd starts its own" "$tmp/out" || fail "plan's text says no why"

# The system containerd, configured and enabled.
mkdir -p "$DM_SYSTEMD_DIR/multi-user.target.wants"
: > "$DM_SYSTEMD_DIR/multi-user.target.wants/containerd.service"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$ctrcfg" --json
[ "$(plan_field "$tmp/out" which)" = system ] || fail "configured and enabled: not the system containerd"
[ "$(plan_field "$tmp/out" root)" = "$tmp/sysroot" ] || fail "root from config.toml"
[ "$(plan_field "$tmp/out" socket)" = "$sock" ] || fail "[grpc] address from config.toml"

# Both plausible: one line naming both roots and the option.
mkdir -p "$store/containerd/daemon"
expect_rc 6 "$DM" plan --docker-config "$cfg" --containerd-config "$ctrcfg"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "the ambiguity is not one line"
grep -q "both containerds are plausible.*$tmp/sysroot.*$store/containerd/daemon.*--containerd-root" "$tmp/err" ||
	fail "the ambiguity does not name both roots and the option"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$ctrcfg" \
	--containerd-root "$store/containerd/daemon" --json
json_is "$tmp/out" containerd_root "$store/containerd/daemon" || fail "--containerd-root does not win"
rmdir "$store/containerd/daemon" "$store/containerd"

# daemon.json's containerd: the system socket, stopped: the system root.
printf '{"data-root": "%s", "containerd": "unix://%s"}\n' "$store" "$sock" > "$cfg"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$ctrcfg" --json
[ "$(plan_field "$tmp/out" which)" = "daemon.json's containerd" ] || fail "daemon.json's containerd"
[ "$(plan_field "$tmp/out" root)" = "$tmp/sysroot" ] || fail "daemon.json's containerd: root"
# ... another socket, stopped: its root is unknown.
printf '{"data-root": "%s", "containerd": "%s/x.sock"}\n' "$store" "$tmp" > "$cfg"
expect_rc 6 "$DM" plan --docker-config "$cfg" --containerd-config "$ctrcfg"
grep -q "which does not answer.*give --containerd-root" "$tmp/err" || fail "unknown root not said"

# storage-driver: the graphdriver read (vfs: this overlay2 store has none), a snapshotter name ignored.
printf '{"data-root": "%s", "storage-driver": "vfs"}\n' "$store" > "$cfg"
expect_rc 3 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr"
grep -q vfs "$tmp/err" || fail "storage-driver vfs from daemon.json not used"
printf '{"data-root": "%s", "storage-driver": "overlay2"}\n' "$store" > "$cfg"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr" --json
json_is "$tmp/out" storage_driver overlay2 || fail "storage-driver overlay2"
printf '{"data-root": "%s", "storage-driver": "overlayfs"}\n' "$store" > "$cfg"
expect_rc 0 "$DM" plan --docker-config "$cfg" --containerd-config "$noctr" --json

# Bad files: one line naming the file, exit 3 (daemon.json) or 6 (config.toml).
for bad in '{' '{"data-root": 1}' '{"features": {"containerd-snapshotter": "yes"}}' '[]' ''; do
	printf '%s' "$bad" > "$cfg"
	expect_rc 3 "$DM" plan --docker-root "$store" --docker-config "$cfg" --containerd-config "$noctr"
	[ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "^dockerd-migrate: error: $cfg: " "$tmp/err" ||
		fail "bad daemon.json '$bad': not one line naming the file"
done
printf 'root = 5\n' > "$tmp/bad.toml"
expect_rc 6 "$DM" plan --docker-root "$store" --docker-config "$tmp/absent.json" --containerd-config "$tmp/bad.toml"
grep -q "^dockerd-migrate: error: $tmp/bad.toml:1: root must be a string$" "$tmp/err" || fail "bad config.toml"

# --- switch ---
croot=$tmp/croot
cfg=$tmp/etc/daemon.json
mkdir -p "$tmp/etc"
sw() { "$DM" switch --docker-config "$cfg" --docker-root "$store" --containerd-root "$croot" "$@"; }
same() { cmp -s "$1" "$2" || fail "$3"; }

# Refused before any run: nothing written.
expect_rc 8 sw
grep -q "no run has written into $croot" "$tmp/err" || fail "switch before a run does not say why"
[ ! -e "$cfg" ] && [ ! -e "$cfg.dockerd-migrate" ] || fail "a refused switch wrote"
printf '{"debug": true' > "$cfg"
cp "$cfg" "$tmp/keep"
expect_rc 3 sw
grep -q "$cfg: not valid JSON" "$tmp/err" || fail "invalid JSON not refused"
same "$cfg" "$tmp/keep" "invalid JSON: daemon.json changed"
[ ! -e "$cfg.dockerd-migrate" ] || fail "invalid JSON: a backup was made"
printf '{"storage-driver": "overlay2"}\n' > "$cfg"
cp "$cfg" "$tmp/keep"
expect_rc 8 sw
grep -q '"overlay2" is a graphdriver, not a containerd snapshotter.*(overlayfs)' "$tmp/err" ||
	fail "storage-driver overlay2 not refused with its snapshotter"
same "$cfg" "$tmp/keep" "storage-driver: daemon.json changed"

expect_rc 0 "$DM" run --docker-root "$store" --containerd-root "$croot"
# A run into another root does not count.
rm -f "$cfg"
expect_rc 8 sw --containerd-root "$tmp/other" --dry-run

# Absent: created; the backup is empty.
expect_rc 0 sw --dry-run
grep -q '"containerd-snapshotter": true' "$tmp/out" || fail "dry run does not print the new file"
[ ! -e "$cfg" ] && [ ! -e "$cfg.dockerd-migrate" ] || fail "dry run wrote"
expect_rc 0 sw
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != {"features": {"containerd-snapshotter": True}})' \
	"$cfg" || fail "absent: new file"
[ -f "$cfg.dockerd-migrate" ] && [ ! -s "$cfg.dockerd-migrate" ] || fail "absent: the backup is not an empty file"
grep -q "^Backup: $cfg.dockerd-migrate$" "$tmp/out" || fail "the backup is not named"
grep -qi "restart dockerd" "$tmp/out" || fail "switch does not say what to restart"
expect_rc 0 sw
grep -q "nothing to do" "$tmp/out" || fail "second switch"

# {}, other keys, features with other flags: every other key kept; the backup is the old file.
for old in '{}' '{"debug": true, "log-opts": {"max-size": "10m"}, "mtu": 1400}' \
	'{"features": {"buildkit": true, "containerd-snapshotter": false}, "storage-driver": "overlayfs"}'; do
	rm -f "$cfg" "$cfg.dockerd-migrate"
	printf '%s\n' "$old" > "$cfg"
	cp "$cfg" "$tmp/old"
	expect_rc 0 sw
	same "$cfg.dockerd-migrate" "$tmp/old" "$old: the backup is not the old file"
	python3 -c 'import json,sys
old, new = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
want = dict(old); want["features"] = dict(old.get("features", {})); want["features"]["containerd-snapshotter"] = True
sys.exit(new != want or list(new) != list(want))' "$old" "$cfg" || fail "$old: keys not kept: $(cat "$cfg")"
done
# run into the supervised containerd discovered: its root made under the data-root.
rm -rf "$store/containerd"
expect_rc 0 "$DM" run --docker-root "$store" --docker-config "$tmp/absent.json" --containerd-config "$noctr" --json
json_is "$tmp/out" containerd_root "$store/containerd/daemon" || fail "run did not go to the supervised root"
[ -f "$store/containerd/daemon/io.containerd.metadata.v1.bolt/meta.db" ] || fail "no meta.db in the supervised root"
echo "switch: all daemon.json cases ok"
exit 0
