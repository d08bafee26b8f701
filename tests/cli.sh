#!/bin/sh
# The front end as users and postinst scripts see it: exit codes, usage errors,
# plan (text and JSON) on the fixture stores, verify-source on a good store and
# on one with a single corrupted byte.
set -u
. "$top_srcdir/tests/lib-test.sh"

# Usage and exit codes work without any store.
expect_rc 0 "$DM" --version
expect_rc 0 "$DM" --help
expect_rc 2 "$DM"
expect_rc 2 "$DM" frobnicate
expect_rc 2 "$DM" plan --jobs 3
expect_rc 2 "$DM" verify-source --jobs 0
expect_rc 2 "$DM" plan --storage-driver aufs
expect_rc 2 "$DM" plan extra-arg
"$DM" --version | grep -q '^dockerd-migrate [0-9]' || fail "--version output"

# A missing store is a source error (3) with one grep-able line naming it.
expect_rc 3 "$DM" plan --docker-root "$tmp/nowhere"
grep -q "^dockerd-migrate: error: .*$tmp/nowhere" "$tmp/err" || fail "error line does not name the root"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "more than one error line"

# plan reads only metadata, so an unprivileged extraction is enough.
store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" --any-user \
	"$top_srcdir/fixtures/overlay2-store.tar.xz" "$tmp/store") || fail "extract"
expect_rc 0 "$DM" plan --docker-root "$store"
grep -q '7 of 15 images will be migrated; 13 distinct layers' "$tmp/out" || fail "plan summary"
expect_rc 0 "$DM" plan --docker-root "$store" --json
cp "$tmp/out" "$tmp/plan.json"

# Every tag and digest reference docker images showed is in the plan, normalised.
while read -r repo tag digest id; do
	case $repo in
	"<none>") continue ;;
	*/*/*|*.*/*|*:*/*|localhost/*) full=$repo ;;
	*/*) full=docker.io/$repo ;;
	*) full=docker.io/library/$repo ;;
	esac
	[ "$tag" = "<none>" ] || json_has_name "$tmp/plan.json" "$id" "tags" "$full:$tag" ||
		fail "plan --json lacks tag $full:$tag of $id"
	[ "$digest" = "<none>" ] || json_has_name "$tmp/plan.json" "$id" "digest_references" "$full@$digest" ||
		fail "plan --json lacks digest $full@$digest of $id"
done < "$top_srcdir/fixtures/expected/overlay2/images.txt"

# The dangling head is migrated; intermediates are not, each with a reason.
python3 - "$tmp/plan.json" <<'PY' || fail "plan --json content"
import json, sys
d = json.load(open(sys.argv[1]))
imgs = d["images"]
assert d["summary"]["images_to_migrate"] == sum(i["migrate"] for i in imgs) == 7
assert any(i["dangling"] and i["head"] and i["migrate"] for i in imgs)
skipped = [n for n in d["not_migrated"] if n["kind"] == "image"]
assert len(skipped) == 8 and all("build cache" in n["reason"] for n in skipped)
assert len(d["containers"]) == 2 and d["summary"]["containers"] == 2
for i in imgs:
    assert len(i["layers"]) >= 1 and all(l.startswith("sha256:") for l in i["layers"])
PY

# verify-source needs the exact store (root); then a corrupted byte is named precisely.
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: verify-source parts need root"
	exit 77
fi
for driver in overlay2 vfs; do
	rm -rf "$tmp/exact"
	store=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" \
		"$top_srcdir/fixtures/$driver-store.tar.xz" "$tmp/exact") || fail "extract $driver"
	expect_rc 0 "$DM" verify-source --docker-root "$store" --jobs 3
	grep -q '^verify-source: 13 layers, 13 ok, 0 failed$' "$tmp/out" || fail "$driver: verify-source summary"
	# Flip one byte of fixtool in the bottom layer that adds it (vfs keeps a full copy in every
	# layer directory, but only that layer's tar holds the file).
	"$DM" plan --docker-root "$store" --json > "$tmp/exact.json" || fail "$driver: plan"
	cache=$(python3 -c 'import json,sys
print(*[l["cache_id"] for l in json.load(open(sys.argv[1]))["layers"]
        if l["parent"] is None and l["size"] > 4096])' "$tmp/exact.json")
	case $driver in
	overlay2) victim=$store/overlay2/$cache/diff/fixtool ;;
	vfs) victim=$store/vfs/dir/$cache/fixtool ;;
	esac
	[ -f "$victim" ] || fail "$driver: no fixtool file at $victim"
	printf '\001' | dd of="$victim" bs=1 seek=4096 conv=notrunc status=none
	expect_rc 1 "$DM" verify-source --docker-root "$store" --jobs 2
	[ "$(grep -c '^FAIL ' "$tmp/out")" -eq 1 ] || fail "$driver: want exactly one failed layer"
	grep -q '^FAIL sha256:[0-9a-f]*: .*fixtool.*CRC' "$tmp/out" || fail "$driver: failure does not name file and CRC"
	grep -q '^verify-source: 13 layers, 12 ok, 1 failed$' "$tmp/out" || fail "$driver: summary after corruption"
done
exit 0
