#!/bin/sh
# Extracts a fixture store (fixtures/<driver>-store.tar.xz) and prints the
# directory, to be used as a --docker-root:
#     store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" ARCHIVE) || exit $?
#     fixtures-extract.sh [--any-user] ARCHIVE [DEST]
# DEST defaults to a new directory under ${TMPDIR:-/tmp}; the caller removes it.
#
# As root the store is exact: owners, modes (setuid too), times, device nodes
# (overlay2 whiteouts are char 0,0) and every xattr, trusted.overlay.opaque
# included.  Other users cannot make device nodes or trusted.* xattrs, so the
# script exits 77 (skip) for them, unless --any-user is given: then it
# extracts what it can (no device nodes, no xattrs, everything owned by the
# caller and made readable and removable), which is enough for reading image/
# metadata (`plan`, `make demo`) but not an exact store.
set -u

any_user=
if [ "${1:-}" = --any-user ]; then any_user=1; shift; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 [--any-user] ARCHIVE [DEST]" >&2
	exit 2
fi
archive=$1
[ -r "$archive" ] || { echo "$0: cannot read $archive" >&2; exit 1; }
command -v xz >/dev/null 2>&1 || { echo "$0: xz is missing (Debian package xz-utils)" >&2; exit 1; }

root=
[ "$(id -u)" -eq 0 ] && root=1
if [ -z "$root" ] && [ -z "$any_user" ]; then
	echo "$0: extracting a store exactly needs root" >&2
	exit 77
fi

if [ $# -eq 2 ]; then
	dest=$2
	mkdir -p "$dest" || exit 1
else
	dest=$(mktemp -d "${TMPDIR:-/tmp}/dm-store.XXXXXX") || exit 1
fi

if [ -n "$root" ]; then
	tar --xattrs --xattrs-include='*' --numeric-owner -xJf "$archive" -C "$dest" || exit 1
else
	# tar goes on past entries it cannot make and fails at the end: accept
	# only the device nodes, which an unprivileged user can never create.
	err=$(tar --no-same-owner -xJf "$archive" -C "$dest" 2>&1)
	rc=$?
	bad=$(printf '%s\n' "$err" | grep -v -e ': Cannot mknod: Operation not permitted$' \
		-e '^tar: Exiting with failure status due to previous errors$' -e '^$')
	if [ -n "$bad" ] || { [ $rc -ne 0 ] && [ -z "$err" ]; }; then
		printf '%s\n' "$err" >&2
		exit 1
	fi
	skipped=$(printf '%s\n' "$err" | grep -c ': Cannot mknod')
	[ "$skipped" -eq 0 ] || echo "$0: not root: left out $skipped device nodes that need root, owners and xattrs" >&2
	chmod -R u+rwX "$dest" || exit 1
fi
printf '%s\n' "$dest"
