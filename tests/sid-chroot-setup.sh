#!/bin/sh
# Makes (once) a Debian sid chroot with containerd 2.x and Docker 28 (docker.io
# with the containerd image store), for the tests that judge a migrated
# containerd root with newer daemons than Debian 12 has:
#     sid-chroot-setup.sh [DIR]        DIR defaults to $DM_SID_ROOT or /var/tmp/dm-SUITE
# DM_SID_SUITE=trixie makes a trixie chroot instead (containerd 1.7, Docker 26);
# SUITE is sid otherwise.
# It is a cache: when DIR holds a stamp whose daemons still answer --version,
# nothing is done.  Otherwise the chroot is built in DIR.new and renamed to DIR
# only once complete, so an interrupted run never leaves a chroot that looks
# ready.  Prints the daemons' versions.
# Exit status: 0 ready, 77 not root or debootstrap missing, 1 failure (e.g.
# no mirror reachable).  The mirror is the host's own Debian mirror, read
# from /etc/apt/sources.list*, unless DM_SID_MIRROR names one.
set -u

suite=${DM_SID_SUITE:-sid}
dir=${1:-${DM_SID_ROOT:-/var/tmp/dm-$suite}}
stamp=.dm-sid-stamp
me=sid-chroot-setup.sh

[ "$(id -u)" -eq 0 ] || { echo "$me: needs root" >&2; exit 77; }
for b in debootstrap unshare flock chroot; do
	command -v "$b" >/dev/null 2>&1 || { echo "$me: $b is missing" >&2; exit 77; }
done

versions() {	# versions ROOT: one line per daemon, fails if one does not run
	chroot "$1" /usr/bin/containerd --version &&
	chroot "$1" /usr/sbin/dockerd --version &&
	chroot "$1" /usr/bin/docker --version &&
	chroot "$1" /usr/sbin/runc --version | head -n 1
}

ready() {
	[ -f "$dir/$stamp" ] && versions "$dir" > /dev/null 2>&1
}

# The first Debian archive the host's apt uses (one-line or deb822 format);
# the -security archive is a different tree and has no sid.
host_mirror() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
	done
}

# Anything left mounted below a half-made chroot (debootstrap binds /dev when
# it thinks it is in a container) must go before rm, or rm would empty the host's.
umount_under() {
	[ -d "$1" ] || return 0
	d=$(cd "$1" && pwd -P)
	awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$(printf '%b' "$m")" 2>/dev/null; done
}

mkdir -p "$(dirname "$dir")" || exit 1
# Two test runs may ask at once: the second waits and then finds the stamp.
exec 9> "$dir.lock" || exit 1
flock 9 || exit 1

if ! ready; then
	mirror=${DM_SID_MIRROR:-$(host_mirror | grep -E '/debian/?$' | head -n 1)}
	if [ -z "$mirror" ]; then
		echo "$me: no Debian mirror in /etc/apt/sources.list*; set DM_SID_MIRROR" >&2
		exit 1
	fi
	new=$dir.new
	umount_under "$new"
	rm -rf --one-file-system "$new" || exit 1
	mkdir -p "$new" || exit 1
	start=$(date +%s)
	echo "$me: debootstrap $suite from $mirror into $new" >&2
	# A private mount namespace: whatever debootstrap or a package script
	# mounts goes away with it, even when this script is killed.
	if ! unshare -m --propagation private debootstrap --variant=minbase "$suite" "$new" "$mirror" \
		> "$new.log" 2>&1; then
		echo "$me: debootstrap failed; last lines of $new.log:" >&2
		tail -n 20 "$new.log" >&2
		exit 1
	fi
	# Package scripts must not start services; sid's Release may be past
	# its Valid-Until on a frozen mirror.
	printf '#!/bin/sh\nexit 101\n' > "$new/usr/sbin/policy-rc.d" && chmod 755 "$new/usr/sbin/policy-rc.d" &&
	printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' \
		> "$new/etc/apt/apt.conf.d/99dm-sid" &&
	cp /etc/resolv.conf "$new/etc/resolv.conf" || exit 1
	if ! unshare -m --propagation private sh -c '
		mount -t proc proc "$1/proc" || exit 1
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C
		chroot "$1" apt-get update -q || exit 1
		# sid has the CLI in a package of its own; trixie has it in docker.io.
		cli=$(chroot "$1" apt-cache show docker-cli > /dev/null 2>&1 && echo docker-cli)
		chroot "$1" apt-get install -y -q --no-install-recommends \
			docker.io $cli containerd runc iptables procps &&
		chroot "$1" apt-get clean' sh "$new" >> "$new.log" 2>&1; then
		echo "$me: installing the daemons failed; last lines of $new.log:" >&2
		tail -n 20 "$new.log" >&2
		exit 1
	fi
	versions "$new" > "$new/$stamp" || { echo "$me: the installed daemons do not run" >&2; exit 1; }
	umount_under "$dir"
	rm -rf --one-file-system "$dir" && mv "$new" "$dir" && mv "$new.log" "$dir.log" || exit 1
	echo "$me: made $dir in $(( $(date +%s) - start )) s (log: $dir.log)" >&2
fi
cat "$dir/$stamp"
