#!/bin/sh
# The bash completion (data/bash-completion/dockerd-migrate, or the file
# DM_COMPLETION names, e.g. the installed one): subcommands, each command's
# own options exactly as the binary $DM accepts them, the values of the
# options that take a fixed set, directories for the root options.  Skips
# (77) without bash-completion.
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

check '--help --version plan rollback run switch verify-source' ''
check 'verify-source' ver

# Each command's options are those the binary takes: every option its --help
# names, given to each command (with a store that does not exist, so nothing
# runs), is either refused as "has no option" or accepted.
opts=$("$DM" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ -n "$opts" ] || fail "no options in $DM --help"
for cmd in plan verify-source run switch; do
	want=--help
	for opt in $opts; do
		case $opt in
		--help | --version) continue ;;
		--json | --force | --containers | --dry-run) arg= ;;
		--storage-driver) arg=vfs ;;
		--jobs) arg=1 ;;
		--namespace) arg=moby ;;
		--snapshotter) arg=native ;;
		--compression) arg=zstd ;;
		--copy-mode) arg=copy ;;
		--docker-root | --containerd-root | --containerd-address | --docker-config | --containerd-config)
			arg=$tmp/nowhere ;;
		*) fail "$opt: unknown to this test and maybe to the completion" ;;
		esac
		"$DM" "$cmd" --docker-root "$tmp/nowhere" $opt $arg > /dev/null 2> "$tmp/probe"
		rc=$?
		if grep -q 'has no option' "$tmp/probe"; then continue; fi
		[ "$rc" -eq 3 ] || fail "$DM $cmd $opt $arg exited $rc, not 3 (no store)"
		want="$want $opt"
	done
	check "$(printf '%s\n' $want | sort -u | tr '\n' ' ' | sed 's/ $//')" "$cmd" -
done
check '--compression --containerd-address --containerd-config --containerd-root --containers --copy-mode' run --c
# rollback reads no store (its --docker-root only for the containers' config backups), so it
# is judged by the "has no option" refusal alone; every probe is a dry run on roots that do
# not exist, so that nothing on this host is rolled back.
want=--help
for opt in $opts; do
	case $opt in
	--help | --version) continue ;;
	--json | --force | --dry-run) arg= ;;
	--namespace) arg=moby ;;
	--storage-driver | --snapshotter | --compression | --copy-mode | --jobs) arg=x ;;
	*) arg=$tmp/nowhere ;;
	esac
	"$DM" rollback --dry-run --docker-root "$tmp/nowhere" --containerd-root "$tmp/nowhere" \
		--docker-config "$tmp/nowhere.json" $opt $arg > /dev/null 2> "$tmp/probe" < /dev/null
	grep -q 'has no option' "$tmp/probe" || want="$want $opt"
done
check "$(printf '%s\n' $want | sort -u | tr '\n' ' ' | sed 's/ $//')" rollback -
check '--docker-config --docker-root --dry-run' rollback --d
check '--containerd-address --containerd-config --containerd-root' rollback --containerd
check 'auto copy hardlink reflink' run --copy-mode ''
check 'btrfs fuse-overlayfs overlay2 vfs' plan --storage-driver ''
check 'fuse-overlayfs' plan --storage-driver f
check 'overlay2' run --jobs 2 --storage-driver o
check 'native overlayfs' run --snapshotter ''
check 'gzip none zstd' run --compression ''
check 'zstd' run --compression=z
check '' run --jobs ''
mkdir "$tmp/store-a" "$tmp/store-b"
: > "$tmp/store-file"
check 'store-a store-b' plan --docker-root store
check 'store-a store-b' run --containerd-root=store
check 'store-a store-b store-file' run --containerd-address store
check 'store-a store-b store-file' switch --docker-config store
check '--containerd-address --containerd-config --containerd-root' switch --containerd
check 'store-file' rollback --docker-config store-f
exit 0
