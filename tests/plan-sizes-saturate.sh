#!/bin/sh
# Layer size files near 2^63 (make-broken.sh's size-huge: three layers at
# INT64_MAX) do not wrap in plan: no size is negative or smaller than a part
# of it; a sum too large for 64 bits is shown saturated ("over 16 EiB" in
# the text, 2^64-1 in the JSON).  Unprivileged.
set -u
. "$top_srcdir/tests/lib-test.sh"

sh "$top_srcdir/fixtures/make-broken.sh" "$tmp/fx" >/dev/null || fail "make-broken.sh"
store=$tmp/fx/size-huge

expect_rc 0 "$DM" plan --docker-root "$store" --containerd-root "$tmp/unused"
grep -q '^5 of 7 images will be migrated; 3 distinct layers, over 16 EiB in all' "$tmp/out" ||
	fail "plan: the total of the layer sizes is not saturated"
grep -q '^d57f243ec146        3 over 16 EiB  (dangling)$' "$tmp/out" || fail "plan: image D's size"
! grep -q -- '-[0-9]' "$tmp/out" || fail "plan prints a negative number"

expect_rc 0 "$DM" plan --json --docker-root "$store" --containerd-root "$tmp/unused"
python3 - "$tmp/out" <<'PY' || fail "plan --json sizes"
import json, sys
d = json.load(open(sys.argv[1]))
MAX = 2**64 - 1
def walk(v, where):
    if isinstance(v, dict):
        for k, x in v.items(): walk(x, where + "." + k)
    elif isinstance(v, list):
        for n, x in enumerate(v): walk(x, "%s[%d]" % (where, n))
    elif isinstance(v, int) and not isinstance(v, bool):
        assert 0 <= v <= MAX, "%s is %d" % (where, v)
walk(d, "plan")
layers = {l["chain_id"]: l["size"] for l in d["layers"]}
assert set(layers.values()) == {2**63 - 1}, layers
assert d["summary"]["layers_size"] == MAX, d["summary"]
for i in d["images"]:
    want = min(sum(layers[c] for c in i["layers"]), MAX)
    assert i["size"] == want, (i["id"], i["size"], want)
PY
exit 0
