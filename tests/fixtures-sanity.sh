#!/bin/sh
# Extracts both fixture stores and checks that the cases fixtures/README.md
# promises are really in them, as a reader will meet them on disk (device
# nodes, xattrs, owners, names).  Root only: exact extraction needs it.
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
: "${top_srcdir:?}" "${top_builddir:?}"
fixtool=$top_builddir/fixtures/fixtool
fixtures=$top_srcdir/fixtures
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-sanity.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# expect WHAT CMD...: CMD must succeed.
expect() {
	what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failed=1; fi
}

# has WHAT ERE FILE: FILE must have a line matching ERE.
has() {
	if grep -Eq -- "$2" "$3"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no line matching '$2' in $3)"
		failed=1
	fi
}

# hasnt WHAT ERE FILE: no line of FILE may match ERE.
hasnt() {
	if grep -Eq -- "$2" "$3"; then
		echo "FAIL: $1 (a line matches '$2' in $3)"
		failed=1
	else
		echo "ok: $1"
	fi
}

common_checks() {	# tree listing of every layer directory of one store
	has "setuid file" ' f 4755 0:0 ' "$1"
	has "setgid file, group 50" ' f 2755 0:50 ' "$1"
	has "file capability" '/cap-tool f .* security\.capability=\\x01' "$1"
	has "user.* xattr" 'user\.comment=set\\x20by\\x20GNU\\x20tar' "$1"
	has "files owned by 1000:1000" ' f [0-7]{4} 1000:1000 ' "$1"
	has "symlink owned by 1000:1000" ' l 0777 1000:1000 ' "$1"
	has "fifo owned by 65534" ' p 0644 65534:65534 ' "$1"
	has "char device 1,3" ' c 0644 0:0 1,3 ' "$1"
	has "mode 0000 file" '/etc/secret f 0000 ' "$1"
	has "hardlink pair" '/data/keep/a\.txt f .* /[^ ]*/data/keep/a-hard\.txt$' "$1"
	has "relative symlink" '/data/rel-link l .* ->keep/a\.txt ' "$1"
	has "absolute symlink" '/data/abs-link l .* ->/data/keep/a\.txt ' "$1"
	has "dangling symlink" '/data/dangling-link l .* ->\.\./nowhere/missing ' "$1"
	has "name over 100 bytes" '/[^/ ]{101,} f ' "$1"
	has "symlink target over 100 bytes" ' l .* ->[^ ]{101,} ' "$1"
	has "UTF-8 name" '/data/na\\xc3\\xafve-\\xe6\\x97\\xa5' "$1"
	has "Latin-1 name" '/data/latin1-caf\\xe9\.txt f ' "$1"
	has "1 MiB file" '/data/zeros\.bin f 0644 0:0 1048576 ' "$1"
}

check_store() {
	driver=$1
	dir=$(sh "$top_srcdir/tests/fixtures-extract.sh" "$fixtures/$driver-store.tar.xz" "$tmp/$driver") ||
		{ echo "FAIL: cannot extract $driver store"; failed=1; return; }
	meta=$dir/image/$driver
	echo "== $driver store"
	for f in "$meta"/imagedb/content/sha256/*; do
		[ "$(sha256sum < "$f" | cut -d' ' -f1)" = "${f##*/}" ] ||
			{ echo "FAIL: config ${f##*/} does not hash to its name"; failed=1; }
	done
	has "a digest reference" '"localhost:5000/pinned@sha256:[0-9a-f]{64}"' "$meta/repositories.json"
	has "three tags on one image" '"myuser/web:dev"' "$meta/repositories.json"
	empty=sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
	expect "empty layer at the bottom (ChainID = DiffID)" \
		test "$(cat "$meta/layerdb/sha256/${empty#sha256:}/diff")" = "$empty"
	expect "two container layers" test "$(find "$meta/layerdb/mounts" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2
	expect "two container configs" test "$(find "$dir/containers" -name config.v2.json | wc -l)" -eq 2
	for id in $(cut -d' ' -f4 "$fixtures/expected/$driver/images.txt" | cut -c8-19 | sort -u); do
		[ -s "$fixtures/expected/$driver/tree/$id.txt" ] ||
			{ echo "FAIL: no expected tree for $id"; failed=1; }
	done

	case $driver in
	overlay2)
		"$fixtool" tree "$dir/overlay2" > "$tmp/tree" || { echo "FAIL: fixtool tree"; failed=1; return; }
		common_checks "$tmp/tree"
		has "whiteout (char 0,0)" '^/[^/]+/diff/data/doomed\.txt c 0000 0:0 0,0 ' "$tmp/tree"
		has "whiteout of a directory" '^/[^/]+/diff/data/gone c [0-7]{4} 0:0 0,0 ' "$tmp/tree"
		has "opaque directory" '^/[^/]+/diff/opq d .* trusted\.overlay\.opaque=y ' "$tmp/tree"
		has "opaque directory over a lower image's" '^/[^/]+/diff/data/keep d .* trusted\.overlay\.opaque=y ' "$tmp/tree"
		;;
	vfs)
		"$fixtool" tree "$dir/vfs/dir" > "$tmp/tree" || { echo "FAIL: fixtool tree"; failed=1; return; }
		common_checks "$tmp/tree"
		hasnt "no whiteout devices in vfs" ' c [0-7]{4} [0-9]+:[0-9]+ 0,0 ' "$tmp/tree"
		has "a layer before the deletion" '^/[^/]+/data/doomed\.txt f ' "$tmp/tree"
		;;
	esac
}

check_store overlay2
check_store vfs
exit $failed
