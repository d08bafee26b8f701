/* bolt_check: walks every page the current meta reaches, doing what bbolt's
 * Tx.Check does (each page reached once, none both reached and free, types,
 * key order) plus the stricter rules of bbolt 1.3.7/1.4 and the shapes bbolt
 * itself writes (exact overflow, packed elements, branch key = first key of
 * the child, >= 2 children per branch, inline buckets only when inlineable).
 * Also used to rebuild a freelist that bbolt's NoFreelistSync left out. */
#include "config.h"

#include <stdlib.h>

#include "bolt_int.h"

typedef unsigned long long ull;

/* Frames of recursion allowed across nested buckets and tree levels. */
#define WALK_MAX_LEVELS 1024

struct walk {
	dm_bolt_tx *tx;
	uint8_t *seen;
	const uint64_t *free;
	size_t nfree;
	dm_error *err;
};

/* The range keys of one page must respect: lo is the exact first key
 * (the parent's branch key), all keys are below hi. NULL means unbounded. */
struct keyrange {
	const uint8_t *lo, *hi;
	uint32_t lolen, hilen;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int mark(struct walk *w, uint64_t id, uint32_t overflow)
{
	for (uint64_t p = id; p <= id + overflow; p++) {
		if (w->seen[p / 8] & (1u << (p % 8)))
			return bolt_corrupt(w->tx, w->err, "check: page %llu: multiple references", (ull)p);
		if (w->free && bsearch(&p, w->free, w->nfree, sizeof *w->free, cmp_u64))
			return bolt_corrupt(w->tx, w->err, "check: page %llu: reachable freed", (ull)p);
		w->seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	return 0;
}

static int walk_page(struct walk *w, uint64_t pgid, int depth, int level, int nest, bool root,
		     const struct keyrange *r);

static int walk_bucket(struct walk *w, const struct bolt_inode *in, int level, int nest);

/* Checks the elements of one page (a real one, or inline when pv->id == 0). */
static int walk_elems(struct walk *w, const struct bolt_pview *pv, int depth, int level, int nest,
		      bool root, const struct keyrange *r)
{
	dm_bolt_tx *tx = w->tx;
	uint64_t psz = tx->db->page_size, data = BOLT_PAGE_HDR + (uint64_t)pv->count * BOLT_ELEM;
	bool inl = pv->id == 0;
	struct bolt_inode in, prev = { 0 };

	if (!pv->leaf && pv->count < 2)
		return bolt_corrupt(tx, w->err, "check: page %llu: branch with %u children (bbolt keeps >= 2)",
				    (ull)pv->id, pv->count);
	if (pv->leaf && pv->count == 0 && !root)
		return bolt_corrupt(tx, w->err, "check: page %llu: empty leaf below a branch", (ull)pv->id);
	for (uint32_t i = 0; i < pv->count; i++) {
		if (bolt_pview_elem(tx, pv, i, &in, w->err) < 0)
			return -1;
		if ((uint64_t)(in.key - pv->base) != data)
			return bolt_corrupt(tx, w->err, "check: page %llu: element %u is not packed as bbolt writes it",
					    (ull)pv->id, i);
		data += (uint64_t)in.klen + in.vlen;
		if (i > 0 && bolt_keycmp(prev.key, prev.klen, in.key, in.klen) >= 0)
			return bolt_corrupt(tx, w->err, "check: page %llu: key %u is not above the key before it",
					    (ull)pv->id, i);
		if (i == 0 && r->lo && bolt_keycmp(in.key, in.klen, r->lo, r->lolen))
			return bolt_corrupt(tx, w->err, "check: page %llu: first key differs from its branch key",
					    (ull)pv->id);
		if (r->hi && bolt_keycmp(in.key, in.klen, r->hi, r->hilen) >= 0)
			return bolt_corrupt(tx, w->err,
					    "check: page %llu: key %u is not below the next key in an ancestor",
					    (ull)pv->id, i);
		if (pv->leaf && nest == 0 && !(in.flags & BOLT_LEAF_BUCKET))
			return bolt_corrupt(tx, w->err, "check: page %llu: plain value at the top level",
					    (ull)pv->id);
		if (in.flags & BOLT_LEAF_BUCKET) {
			if (inl)
				return bolt_corrupt(tx, w->err, "check: inline bucket holds a sub-bucket");
			if (walk_bucket(w, &in, level + 1, nest + 1) < 0)
				return -1;
		}
		prev = in;
	}
	if (inl ? data != pv->span : (data + psz - 1) / psz != (uint64_t)pv->overflow + 1)
		return bolt_corrupt(tx, w->err, "check: page %llu: %llu bytes of content in %llu bytes of page%s",
				    (ull)pv->id, (ull)data, (ull)pv->span,
				    inl ? " (inline)" : "s (bbolt allocates exactly what is needed)");
	for (uint32_t i = 0; !pv->leaf && i < pv->count; i++) {
		struct keyrange cr = { .hi = r->hi, .hilen = r->hilen };
		struct bolt_inode next;

		if (bolt_pview_elem(tx, pv, i, &in, w->err) < 0)
			return -1;
		cr.lo = in.key;
		cr.lolen = in.klen;
		if (i + 1 < pv->count) {
			if (bolt_pview_elem(tx, pv, i + 1, &next, w->err) < 0)
				return -1;
			cr.hi = next.key;
			cr.hilen = next.klen;
		}
		if (walk_page(w, in.pgid, depth + 1, level + 1, nest, false, &cr) < 0)
			return -1;
	}
	return 0;
}

static int walk_page(struct walk *w, uint64_t pgid, int depth, int level, int nest, bool root,
		     const struct keyrange *r)
{
	struct bolt_pview pv;

	if (depth >= BOLT_MAX_DEPTH || level >= WALK_MAX_LEVELS)
		return bolt_corrupt(w->tx, w->err, "check: page %llu: tree too deep", (ull)pgid);
	if (bolt_tx_page(w->tx, pgid, &pv, w->err) < 0 || mark(w, pgid, pv.overflow) < 0)
		return -1;
	return walk_elems(w, &pv, depth, level, nest, root, r);
}

static int walk_bucket(struct walk *w, const struct bolt_inode *in, int level, int nest)
{
	dm_bolt_tx *tx = w->tx;
	const struct keyrange none = { 0 };
	struct bolt_pview pv;
	uint64_t root;

	if (nest > BOLT_MAX_NEST)
		return bolt_corrupt(tx, w->err, "check: buckets nested deeper than %d levels", BOLT_MAX_NEST);
	if (in->vlen < BOLT_BUCKET_HDR)
		return bolt_corrupt(tx, w->err, "check: bucket value of %u bytes", in->vlen);
	root = bolt_get64(in->val);
	if (root)
		return in->vlen != BOLT_BUCKET_HDR
			       ? bolt_corrupt(tx, w->err, "check: bucket header of %u bytes (bbolt writes 16)",
					      in->vlen)
			       : walk_page(w, root, 0, level, nest, true, &none);
	if (bolt_inline_view(tx, in->val + BOLT_BUCKET_HDR, in->vlen - BOLT_BUCKET_HDR, &pv, w->err) < 0)
		return -1;
	if (pv.span > tx->db->page_size / 4)
		return bolt_corrupt(tx, w->err, "check: inline bucket of %llu bytes exceeds bbolt's limit of %u",
				    (ull)pv.span, tx->db->page_size / 4);
	return walk_elems(w, &pv, 0, level, nest, true, &none);
}

int bolt_walk(dm_bolt_tx *tx, uint8_t *seen, const uint64_t *free, size_t nfree, dm_error *err)
{
	struct walk w = { tx, seen, free, nfree, err };
	const struct keyrange none = { 0 };

	return walk_page(&w, tx->meta.root, 0, 0, 0, true, &none);
}
