#!/bin/sh
# Installs what the integration tests need beyond the build: Debian's real
# daemons (dockerd 20.10, containerd 1.6.20, runc), the Go toolchain with
# Debian's bbolt sources for the independent boltcheck checker, strace
# (tests/sync-order.sh traces a run's writes and syncs) and GNU time (make
# bench-onepass reads a run's peak RSS from /usr/bin/time), xfsprogs and
# btrfs-progs (loop filesystems with reflinks: make bench-compare,
# tests/copy-modes.sh; dockerd's btrfs driver: tests/btrfs-store.sh),
# fuse-overlayfs (dockerd's fuse-overlayfs driver:
# tests/fuse-overlayfs-store.sh) and zstd (make bench-compare's bound).  The
# packages' services are kept from starting: tests run private instances.
set -e
[ "$(id -u)" -eq 0 ] || { echo "integration-deps.sh: needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	docker.io containerd runc iptables procps \
	golang-go golang-github-coreos-bbolt-dev \
	debootstrap strace time xfsprogs btrfs-progs fuse-overlayfs zstd
