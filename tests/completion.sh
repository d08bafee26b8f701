#!/bin/sh
# The bash completion (data/bash-completion/dockerd-migrate, or the file
# DM_COMPLETION names, e.g. the installed one): subcommands, each command's
# own options, the values of the options that take a fixed set, directories
# for the root options.  Skips (77) without bash-completion.
set -u
. "$top_srcdir/tests/lib-test.sh"
completion=${DM_COMPLETION:-$top_srcdir/data/bash-completion/dockerd-migrate}
framework=/usr/share/bash-completion/bash_completion
[ -r "$framework" ] || { echo "SKIP: needs bash-completion"; exit 77; }
command -v bash >/dev/null || { echo "SKIP: needs bash"; exit 77; }

# check WANT WORDS...: bash-completion offers exactly WANT (sorted, space
# separated) for the last of WORDS, typed on the dockerd-migrate command line.
check() {
	want=$1
	shift
	got=$(cd "$tmp" && bash -c '. "$1" && . "$2" || exit 1; shift 2
		COMP_WORDS=(dockerd-migrate "$@"); COMP_CWORD=$#
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
		_dockerd_migrate dockerd-migrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$framework" "$completion" "$@") ||
		fail "bash could not load $completion"
	[ "$got" = "$want " ] || fail "completing '$*': got '$got', want '$want '"
}

check '--help --version plan run verify-source' ''
check 'verify-source' ver
check '--docker-root --help --json --storage-driver' plan -
check '--docker-root --help --jobs --storage-driver' verify-source --
check '--compression --containerd-root --docker-root --force --help --jobs --json --namespace --snapshotter --storage-driver' run -
check '--compression --containerd-root' run --c
check 'overlay2 vfs' plan --storage-driver ''
check 'overlay2' run --jobs 2 --storage-driver o
check 'native overlayfs' run --snapshotter ''
check 'gzip none zstd' run --compression ''
check 'zstd' run --compression=z
check '' run --jobs ''
mkdir "$tmp/store-a" "$tmp/store-b"
: > "$tmp/store-file"
check 'store-a store-b' plan --docker-root store
check 'store-a store-b' run --containerd-root=store
exit 0
