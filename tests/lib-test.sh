# Shared helpers for shell tests (sourced).  Sets $tmp, removed on exit.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-test.XXXXXX")
trap 'chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -s "$tmp/out" ] && sed 's/^/  out: /' "$tmp/out" | head -n 40 >&2
	[ -s "$tmp/err" ] && sed 's/^/  err: /' "$tmp/err" | head -n 20 >&2
	exit 1
}

# expect_rc RC CMD...: runs CMD with stdout in $tmp/out, stderr in $tmp/err; fails unless it exits RC.
expect_rc() {
	want=$1
	shift
	"$@" > "$tmp/out" 2> "$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, want $want"
}

# json_is DOC.json FIELD VALUE: the document's top-level FIELD is the string VALUE.
json_is() {
	python3 -c 'import json,sys
sys.exit(json.load(open(sys.argv[1])).get(sys.argv[2]) != sys.argv[3])' "$@"
}

# json_has_name PLAN.json IMAGE_ID FIELD NAME: the image has NAME in its FIELD list.
json_has_name() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
sys.exit(0 if any(i["id"]==sys.argv[2] and sys.argv[4] in i[sys.argv[3]] for i in d["images"]) else 1)' "$@"
}
