#!/bin/sh
# The include graph as the design says: every #include "..." in lib/*.[ch]
# and src/*.[ch] must be allowed by the layer rules in lib/README (its Layers,
# Modules and Exceptions tables, the one place the rules are written).  Fails
# naming each file and include that breaks them, each file of an unlisted
# module, and each exception no longer needed.
#
# Usage: include-graph.sh [SRCDIR]  (default: $top_srcdir, else ..)
set -u
src=${1:-${top_srcdir:-$(dirname "$0")/..}}
readme=$src/lib/README
[ -r "$readme" ] || { echo "include-graph: cannot read $readme" >&2; exit 1; }

files=
for f in "$src"/lib/*.c "$src"/lib/*.h "$src"/src/*.c "$src"/src/*.h; do
	[ -f "$f" ] && files="$files $f"
done

# One awk pass: the README first, then every source file.  Includes are
# taken from lines that start with #include "...".
# shellcheck disable=SC2086
awk -v src="$src/" '
function fail(msg) { print msg; bad++ }
FNR == 1 { file++; rel = index(FILENAME, src) == 1 ? substr(FILENAME, length(src) + 1) : FILENAME }
file == 1 {
	if ($0 ~ /^[A-Z][a-z]+$/) { section = $0; next }
	if ($0 !~ /^    [^ ]/) next
	if (section == "Layers" && $1 ~ /:$/) {
		l = substr($1, 1, length($1) - 1); layers[l] = 1; nlayers++
		for (i = 2; i <= NF; i++) if ($i != "-") allow[l, $i] = 1
	} else if (section == "Modules" && NF >= 2) {
		layer[$1] = $2; nmods++
	} else if (section == "Exceptions" && $1 ~ /:$/) {
		e = substr($1, 1, length($1) - 1)
		for (i = 2; i <= NF; i++) { exc[e, $i] = 1; excused[e, $i] = 0 }
	}
	next
}
FNR == 1 {
	mod = rel; sub(/^.*\//, "", mod); sub(/\.[ch]$/, "", mod)
	if (!(mod in layer)) { fail(rel ": module " mod " is not in lib/README (Modules)"); mod = "" }
	else if (!(layer[mod] in layers)) fail("lib/README: module " mod ": no such layer " layer[mod])
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
	if (mod == "") next
	inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*$/, "", inc)
	if (inc == "config.h") next
	to = inc
	if (to ~ /^lib\/proto\//) to = "proto"
	else { sub(/^.*\//, "", to); sub(/\.h$/, "", to) }
	if (!(to in layer)) { fail(rel ":" FNR ": #include \"" inc "\": " to " is not in lib/README (Modules)"); next }
	from = layer[mod]; tl = layer[to]
	if (to == mod || tl == from || ((from, tl) in allow) || ((from, to) in allow)) next
	if ((rel, to) in exc) { excused[rel, to] = 1; next }
	fail(rel ":" FNR ": #include \"" inc "\": " mod " (layer " from ") may not include " to " (layer " tl "); see lib/README")
}
END {
	if (!nlayers || !nmods) fail("lib/README: no Layers or Modules table found")
	for (k in excused) if (!excused[k]) {
		split(k, p, SUBSEP)
		fail("lib/README: exception " p[1] ": " p[2] " is no longer needed; remove it")
	}
	exit bad > 0
}
' "$readme" $files
rc=$?
[ $rc -eq 0 ] && echo "include-graph: $(echo $files | wc -w) files follow lib/README"
exit $rc
