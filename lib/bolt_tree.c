/* bolt_tree: buckets, cursors and nodes, after bbolt's bucket.go, cursor.go
 * and node.go.  Pages are read in place from the map; a page about to change
 * becomes a node, and at commit every node is rebalanced and spilled to new
 * pages, exactly where bbolt would split, merge and inline. */
#include "config.h"

#include <stdlib.h>

#include "bolt_int.h"

typedef unsigned long long ull;

/* ---- nodes ---- */

static struct bolt_node *node_new(dm_bolt_bucket *b, bool leaf, dm_error *err)
{
	struct bolt_node *n = calloc(1, sizeof *n);

	if (!n) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", b->tx->db->path);
		return NULL;
	}
	n->bucket = b;
	n->leaf = leaf;
	n->all_next = b->tx->nodes;
	b->tx->nodes = n;
	return n;
}

void bolt_node_destroy(struct bolt_node *n)
{
	free(n->children);
	free(n->inodes);
	free(n);
}

static uint64_t node_size(const struct bolt_node *n)
{
	uint64_t sz = BOLT_PAGE_HDR;

	for (size_t i = 0; i < n->n; i++)
		sz += BOLT_ELEM + n->inodes[i].klen + n->inodes[i].vlen;
	return sz;
}

/* Index of the first inode whose key is >= key. */
static size_t node_search(const struct bolt_node *n, const uint8_t *key, size_t klen, bool *exact)
{
	size_t lo = 0, hi = n->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bolt_keycmp(n->inodes[mid].key, n->inodes[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*exact = lo < n->n && !bolt_keycmp(n->inodes[lo].key, n->inodes[lo].klen, key, klen);
	return lo;
}

static int node_add_child(struct bolt_node *parent, struct bolt_node *child, dm_error *err)
{
	if (bolt_reserve(&parent->children, &parent->capchildren, parent->nchildren + 1,
			 sizeof *parent->children, err) < 0)
		return -1;
	parent->children[parent->nchildren++] = child;
	child->parent = parent;
	return 0;
}

static void node_remove_child(struct bolt_node *parent, struct bolt_node *child)
{
	for (size_t i = 0; i < parent->nchildren; i++)
		if (parent->children[i] == child) {
			memmove(parent->children + i, parent->children + i + 1,
				(parent->nchildren - i - 1) * sizeof *parent->children);
			parent->nchildren--;
			return;
		}
}

/* bbolt's node.put: replaces the inode keyed old, or inserts one. */
static int node_put(struct bolt_node *n, const uint8_t *old, uint32_t oldlen, const uint8_t *key,
		    uint32_t klen, const uint8_t *val, uint32_t vlen, uint64_t pgid, uint32_t flags,
		    dm_error *err)
{
	bool exact;
	size_t i = node_search(n, old, oldlen, &exact);

	if (!exact) {
		if (bolt_reserve(&n->inodes, &n->cap, n->n + 1, sizeof *n->inodes, err) < 0)
			return -1;
		memmove(n->inodes + i + 1, n->inodes + i, (n->n - i) * sizeof *n->inodes);
		n->n++;
	}
	n->inodes[i] = (struct bolt_inode){ .key = key, .klen = klen, .val = val, .vlen = vlen,
					    .pgid = pgid, .flags = flags };
	return 0;
}

static void node_del(struct bolt_node *n, const uint8_t *key, uint32_t klen)
{
	bool exact;
	size_t i = node_search(n, key, klen, &exact);

	if (!exact)
		return;
	memmove(n->inodes + i, n->inodes + i + 1, (n->n - i - 1) * sizeof *n->inodes);
	n->n--;
	n->unbalanced = true;
}

/* Serialises n into buf (header id and overflow already set), packed like node.write. */
static void node_write(const struct bolt_node *n, uint8_t *buf)
{
	uint8_t *data = buf + BOLT_PAGE_HDR + n->n * BOLT_ELEM;

	bolt_put16(buf + 8, n->leaf ? BOLT_F_LEAF : BOLT_F_BRANCH);
	bolt_put16(buf + 10, (uint16_t)n->n);
	for (size_t i = 0; i < n->n; i++) {
		const struct bolt_inode *in = &n->inodes[i];
		uint8_t *e = buf + BOLT_PAGE_HDR + i * BOLT_ELEM;
		uint32_t pos = (uint32_t)(data - e);

		if (n->leaf) {
			bolt_put32(e, in->flags);
			bolt_put32(e + 4, pos);
			bolt_put32(e + 8, in->klen);
			bolt_put32(e + 12, in->vlen);
		} else {
			bolt_put32(e, pos);
			bolt_put32(e + 4, in->klen);
			bolt_put64(e + 8, in->pgid);
		}
		memcpy(data, in->key, in->klen);
		data += in->klen;
		if (in->vlen)
			memcpy(data, in->val, in->vlen);
		data += in->vlen;
	}
}

static int node_free(struct bolt_node *n, dm_error *err)
{
	if (n->pgid && bolt_tx_free(n->bucket->tx, n->pgid, n->overflow, err) < 0)
		return -1;
	n->pgid = 0;
	return 0;
}

/* ---- buckets: pages and nodes ---- */

dm_bolt_bucket *bolt_bucket_new(dm_bolt_tx *tx, uint64_t root, uint64_t seq, dm_error *err)
{
	dm_bolt_bucket *b = calloc(1, sizeof *b);

	if (!b) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", tx->db->path);
		return NULL;
	}
	b->tx = tx;
	b->root = root;
	b->sequence = seq;
	b->all_next = tx->buckets;
	tx->buckets = b;
	return b;
}

void bolt_bucket_destroy(dm_bolt_bucket *b)
{
	bolt_map_free(&b->nodes);
	bolt_map_free(&b->buckets);
	free(b);
}

/* bbolt's Bucket.pageNode: the node for pgid if it is materialised, else the page. */
static int bucket_page_node(dm_bolt_bucket *b, uint64_t pgid, struct bolt_pview *pv,
			    struct bolt_node **node, dm_error *err)
{
	*node = NULL;
	if (b->root == 0) {
		if (pgid != 0)
			return bolt_corrupt(b->tx, err, "inline bucket asked for page %llu", (ull)pgid);
		if (b->root_node) {
			*node = b->root_node;
			return 0;
		}
		return bolt_inline_view(b->tx, b->inline_val, b->inline_len, pv, err);
	}
	*node = bolt_map_get(&b->nodes, &pgid, sizeof pgid);
	return *node ? 0 : bolt_tx_page(b->tx, pgid, pv, err);
}

/* bbolt's Bucket.node: materialises page pgid as a node below parent. */
static struct bolt_node *bucket_node(dm_bolt_bucket *b, uint64_t pgid, struct bolt_node *parent,
				     dm_error *err)
{
	struct bolt_node *n = bolt_map_get(&b->nodes, &pgid, sizeof pgid);
	struct bolt_pview pv;

	if (n) {
		/* A page reached from two parents would be written twice. */
		if (n->parent != parent)
			bolt_corrupt(b->tx, err, "page %llu: referenced from two places", (ull)pgid);
		return n->parent == parent ? n : NULL;
	}
	if (bucket_page_node(b, pgid, &pv, &n, err) < 0)
		return NULL;
	if (n) /* inline bucket already materialised */
		return n;
	if (parent && pv.count == 0) {
		bolt_corrupt(b->tx, err, "page %llu: empty page below a branch", (ull)pgid);
		return NULL;
	}
	n = node_new(b, pv.leaf, err);
	if (!n || bolt_reserve(&n->inodes, &n->cap, pv.count, sizeof *n->inodes, err) < 0)
		return NULL;
	for (uint32_t i = 0; i < pv.count; i++)
		if (bolt_pview_elem(b->tx, &pv, i, &n->inodes[i], err) < 0)
			return NULL;
	n->n = pv.count;
	n->pgid = pv.id;
	n->overflow = pv.overflow;
	n->mapkey = pgid;
	if (n->n) {
		n->key = n->inodes[0].key;
		n->klen = n->inodes[0].klen;
	}
	if (bolt_map_put(&b->nodes, &n->mapkey, sizeof n->mapkey, n) < 0) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", b->tx->db->path);
		return NULL;
	}
	if (!parent)
		b->root_node = n;
	else if (node_add_child(parent, n, err) < 0)
		return NULL;
	return n;
}

/* bbolt's node.childAt, also checking that the branch key equals the child's
 * first key: bbolt finds the entry by that key when it rewrites the child. */
static struct bolt_node *node_child_at(struct bolt_node *n, size_t i, dm_error *err)
{
	struct bolt_node *c;

	if (n->leaf || i >= n->n) {
		bolt_corrupt(n->bucket->tx, err, "page %llu: no child %zu", (ull)n->pgid, i);
		return NULL;
	}
	c = bucket_node(n->bucket, n->inodes[i].pgid, n, err);
	if (c && bolt_keycmp(c->key, c->klen, n->inodes[i].key, n->inodes[i].klen)) {
		bolt_corrupt(n->bucket->tx, err,
			     "page %llu: branch key %zu differs from the first key of child page %llu",
			     (ull)n->pgid, i, (ull)n->inodes[i].pgid);
		return NULL;
	}
	return c;
}

/* ---- cursors ---- */

static uint32_t ref_count(const struct bolt_elemref *r)
{
	return r->node ? (uint32_t)r->node->n : r->pv.count;
}

static bool ref_leaf(const struct bolt_elemref *r)
{
	return r->node ? r->node->leaf : r->pv.leaf;
}

static int ref_inode(const dm_bolt_tx *tx, const struct bolt_elemref *r, uint32_t i,
		     struct bolt_inode *out, dm_error *err)
{
	if (!r->node)
		return bolt_pview_elem(tx, &r->pv, i, out, err);
	if (i >= r->node->n)
		return bolt_corrupt(tx, err, "node of page %llu: element %u of %zu", (ull)r->node->pgid, i,
				    r->node->n);
	*out = r->node->inodes[i];
	return 0;
}

static int cursor_push(dm_bolt_cursor *c, uint64_t pgid, dm_error *err)
{
	struct bolt_elemref *r;

	if (c->depth >= BOLT_MAX_DEPTH)
		return bolt_corrupt(c->b->tx, err, "tree deeper than %d levels at page %llu (a cycle?)",
				    BOLT_MAX_DEPTH, (ull)pgid);
	r = &c->stack[c->depth];
	if (bucket_page_node(c->b, pgid, &r->pv, &r->node, err) < 0)
		return -1;
	/* bbolt never writes empty pages below a branch; refusing them also
	 * stops a damaged tree from making iteration run for ever. */
	if (c->depth > 0 && !r->node && r->pv.count == 0)
		return bolt_corrupt(c->b->tx, err, "page %llu: empty page below a branch", (ull)pgid);
	r->index = 0;
	c->depth++;
	return 0;
}

/* Descends along index 0 to a leaf (bbolt's Cursor.first helper). */
static int cursor_down(dm_bolt_cursor *c, dm_error *err)
{
	for (;;) {
		struct bolt_elemref *r = &c->stack[c->depth - 1];
		struct bolt_inode in;

		if (ref_leaf(r))
			return 0;
		if (ref_inode(c->b->tx, r, r->index, &in, err) < 0 || cursor_push(c, in.pgid, err) < 0)
			return -1;
	}
}

/* The element under the cursor: 1 and *kv, or 0 past the end. */
static int cursor_kv(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err)
{
	struct bolt_elemref *r = &c->stack[c->depth - 1];
	struct bolt_inode in;

	if (r->index >= ref_count(r))
		return 0;
	if (ref_inode(c->b->tx, r, r->index, &in, err) < 0)
		return -1;
	kv->key = in.key;
	kv->klen = in.klen;
	kv->is_bucket = in.flags & BOLT_LEAF_BUCKET;
	kv->val = kv->is_bucket ? NULL : in.val;
	kv->vlen = kv->is_bucket ? 0 : in.vlen;
	return 1;
}

static int cursor_step(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err)
{
	for (;;) {
		int i;

		for (i = c->depth - 1; i >= 0; i--) {
			struct bolt_elemref *r = &c->stack[i];

			if (r->index + 1 < ref_count(r)) {
				r->index++;
				break;
			}
		}
		if (i < 0)
			return 0;
		c->depth = i + 1;
		if (cursor_down(c, err) < 0)
			return -1;
		if (ref_count(&c->stack[c->depth - 1]))
			return cursor_kv(c, kv, err);
	}
}

static int cursor_first_raw(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err)
{
	c->depth = 0;
	if (cursor_push(c, c->b->root, err) < 0 || cursor_down(c, err) < 0)
		return -1;
	if (ref_count(&c->stack[c->depth - 1]) == 0)
		return cursor_step(c, kv, err);
	return cursor_kv(c, kv, err);
}

/* Binary search in the element under the cursor's top for key: in a leaf the
 * first key >= key, in a branch the last key <= key (or 0). */
static int cursor_search_ref(dm_bolt_cursor *c, const uint8_t *key, size_t klen, dm_error *err)
{
	struct bolt_elemref *r = &c->stack[c->depth - 1];
	uint32_t lo = 0, hi = ref_count(r);
	bool exact = false;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		struct bolt_inode in;
		int cmp;

		if (ref_inode(c->b->tx, r, mid, &in, err) < 0)
			return -1;
		cmp = bolt_keycmp(in.key, in.klen, key, klen);
		if (cmp == 0)
			exact = true;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!ref_leaf(r) && !exact && lo > 0)
		lo--;
	r->index = lo;
	return 0;
}

static int cursor_seek_raw(dm_bolt_cursor *c, const uint8_t *key, size_t klen, dm_bolt_kv *kv,
			   dm_error *err)
{
	c->depth = 0;
	if (cursor_push(c, c->b->root, err) < 0)
		return -1;
	for (;;) {
		struct bolt_elemref *r = &c->stack[c->depth - 1];
		struct bolt_inode in;

		if (cursor_search_ref(c, key, klen, err) < 0)
			return -1;
		if (ref_leaf(r))
			break;
		if (ref_inode(c->b->tx, r, r->index, &in, err) < 0 || cursor_push(c, in.pgid, err) < 0)
			return -1;
	}
	/* Like bbolt's internal seek, stay on the leaf where key belongs even
	 * past its end: that is where Put must insert. */
	return cursor_kv(c, kv, err);
}

/* Seeks key: -1 on error, 0 past the leaf's end, 1 on a greater key, 2 on key itself. */
static int cursor_seek_exact(dm_bolt_cursor *c, const void *key, size_t klen, dm_bolt_kv *kv,
			     dm_error *err)
{
	int rc = cursor_seek_raw(c, key, klen, kv, err);

	if (rc <= 0)
		return rc;
	return bolt_keycmp(kv->key, kv->klen, key, klen) ? 1 : 2;
}

/* bbolt's Cursor.node: materialises the path to the leaf under the cursor. */
static struct bolt_node *cursor_node(dm_bolt_cursor *c, dm_error *err)
{
	struct bolt_elemref *top = &c->stack[c->depth - 1];
	struct bolt_node *n;

	if (top->node && top->node->leaf)
		return top->node;
	n = c->stack[0].node ? c->stack[0].node : bucket_node(c->b, c->b->root, NULL, err);
	for (int i = 0; n && i < c->depth - 1; i++)
		n = node_child_at(n, c->stack[i].index, err);
	if (n && !n->leaf) {
		bolt_corrupt(c->b->tx, err, "page %llu: expected a leaf", (ull)n->pgid);
		return NULL;
	}
	return n;
}

static void cursor_init(dm_bolt_cursor *c, dm_bolt_bucket *b)
{
	c->b = b;
	c->depth = 0;
	c->has_last = false;
}

static int bucket_usable(const dm_bolt_bucket *b, dm_error *err)
{
	if (b->deleted)
		return dm_err_set(err, ENOENT, "%s: bucket was deleted in this transaction", b->tx->db->path);
	return 0;
}

dm_bolt_cursor *dm_bolt_cursor_open(dm_bolt_bucket *b, dm_error *err)
{
	dm_bolt_tx *tx = b->tx;
	dm_bolt_cursor *c;

	if (bucket_usable(b, err) < 0)
		return NULL;
	c = malloc(sizeof *c);
	if (!c) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", tx->db->path);
		return NULL;
	}
	cursor_init(c, b);
	c->prev = NULL;
	c->next = tx->cursors;
	if (tx->cursors)
		tx->cursors->prev = c;
	tx->cursors = c;
	return c;
}

void dm_bolt_cursor_close(dm_bolt_cursor *c)
{
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->b->tx->cursors = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static int cursor_done(dm_bolt_cursor *c, int rc, dm_bolt_kv *kv)
{
	c->has_last = rc == 1;
	if (rc == 1) {
		c->last = kv->key;
		c->lastlen = (uint32_t)kv->klen;
		c->gen = c->b->tx->gen;
	}
	return rc;
}

int dm_bolt_cursor_first(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err)
{
	if (bucket_usable(c->b, err) < 0)
		return -1;
	return cursor_done(c, cursor_first_raw(c, kv, err), kv);
}

int dm_bolt_cursor_seek(dm_bolt_cursor *c, const void *key, size_t klen, dm_bolt_kv *kv,
			dm_error *err)
{
	int rc;

	if (bucket_usable(c->b, err) < 0)
		return -1;
	rc = cursor_seek_raw(c, key, klen, kv, err);
	if (rc == 0)
		rc = cursor_step(c, kv, err);
	return cursor_done(c, rc, kv);
}

int dm_bolt_cursor_next(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err)
{
	int rc;

	if (bucket_usable(c->b, err) < 0)
		return -1;
	if (!c->has_last)
		return cursor_done(c, c->depth ? 0 : cursor_first_raw(c, kv, err), kv);
	if (c->gen != c->b->tx->gen) {
		/* The tree changed under the cursor: find our place again. */
		rc = cursor_seek_exact(c, c->last, c->lastlen, kv, err);
		if (rc < 0 || rc == 1)
			return cursor_done(c, rc, kv);
	}
	rc = cursor_step(c, kv, err);
	/* Unchanged trees yield strictly ascending keys; anything else means a
	 * page is reached twice, and iterating on could take for ever. */
	if (rc == 1 && bolt_keycmp(kv->key, kv->klen, c->last, c->lastlen) <= 0)
		rc = bolt_corrupt(c->b->tx, err, "keys out of order (a page reached twice?)");
	return cursor_done(c, rc, kv);
}

/* ---- bucket operations ---- */

static int check_writable(const dm_bolt_bucket *b, dm_error *err)
{
	if (!b->tx->writable)
		return dm_err_set(err, EROFS, "%s: read-only transaction", b->tx->db->path);
	return bucket_usable(b, err);
}

static int check_key(const dm_bolt_bucket *b, size_t klen, dm_error *err)
{
	if (klen == 0 || klen > DM_BOLT_MAX_KEY)
		return dm_err_set(err, EINVAL, "%s: key length %zu not in 1..%d", b->tx->db->path, klen,
				  DM_BOLT_MAX_KEY);
	return 0;
}

/* Marks the tx unusable when a change failed after it may have started. */
static int tx_fail(dm_bolt_tx *tx)
{
	tx->failed = true;
	return -1;
}

static dm_bolt_bucket *bucket_open_child(dm_bolt_bucket *parent, const dm_bolt_kv *kv,
					 const struct bolt_inode *in, dm_error *err)
{
	dm_bolt_tx *tx = parent->tx;
	dm_bolt_bucket *child;

	if (in->vlen < BOLT_BUCKET_HDR) {
		bolt_corrupt(tx, err, "bucket value of %u bytes is shorter than a bucket header", in->vlen);
		return NULL;
	}
	if (parent->nest >= BOLT_MAX_NEST) {
		bolt_corrupt(tx, err, "buckets nested deeper than %d levels", BOLT_MAX_NEST);
		return NULL;
	}
	child = bolt_bucket_new(tx, bolt_get64(in->val), bolt_get64(in->val + 8), err);
	if (!child)
		return NULL;
	child->nest = parent->nest + 1;
	child->name = kv->key;
	child->nlen = (uint32_t)kv->klen;
	if (child->root == 0) {
		struct bolt_pview pv;

		child->inline_val = in->val + BOLT_BUCKET_HDR;
		child->inline_len = in->vlen - BOLT_BUCKET_HDR;
		if (bolt_inline_view(tx, child->inline_val, child->inline_len, &pv, err) < 0)
			return NULL;
	}
	if (bolt_map_put(&parent->buckets, child->name, child->nlen, child) < 0) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", tx->db->path);
		return NULL;
	}
	return child;
}

dm_bolt_bucket *dm_bolt_root(dm_bolt_tx *tx)
{
	return tx->root;
}

enum { LOOKUP_MISSING, LOOKUP_BUCKET, LOOKUP_VALUE };

/* Finds name in parent: LOOKUP_BUCKET with *out set, LOOKUP_MISSING,
 * LOOKUP_VALUE when a plain value has that key, or -1. */
static int bucket_lookup(dm_bolt_bucket *parent, const void *name, size_t len,
			 dm_bolt_bucket **out, dm_error *err)
{
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	struct bolt_inode in;
	int rc;

	if (bucket_usable(parent, err) < 0)
		return -1;
	*out = bolt_map_get(&parent->buckets, name, len);
	if (*out)
		return LOOKUP_BUCKET;
	cursor_init(&c, parent);
	rc = cursor_seek_exact(&c, name, len, &kv, err);
	if (rc < 0)
		return -1;
	if (rc < 2)
		return LOOKUP_MISSING;
	if (!kv.is_bucket)
		return LOOKUP_VALUE;
	if (ref_inode(parent->tx, &c.stack[c.depth - 1], c.stack[c.depth - 1].index, &in, err) < 0)
		return -1;
	*out = bucket_open_child(parent, &kv, &in, err);
	return *out ? LOOKUP_BUCKET : -1;
}

static int bucket_name_err(const dm_bolt_bucket *parent, int code, const void *name, size_t len,
			   const char *what, dm_error *err)
{
	return dm_err_set(err, code, "%s: bucket \"%.*s\": %s", parent->tx->db->path,
			  (int)(len > 200 ? 200 : len), (const char *)name, what);
}

dm_bolt_bucket *dm_bolt_bucket_get(dm_bolt_bucket *parent, const void *name, size_t len,
				   dm_error *err)
{
	dm_bolt_bucket *child;
	int rc = bucket_lookup(parent, name, len, &child, err);

	if (rc == LOOKUP_MISSING || rc == LOOKUP_VALUE)
		bucket_name_err(parent, ENOENT, name, len,
				rc == LOOKUP_VALUE ? "is a plain value" : "not found", err);
	return rc == LOOKUP_BUCKET ? child : NULL;
}

dm_bolt_bucket *dm_bolt_bucket_create(dm_bolt_bucket *parent, const void *name, size_t len,
				      dm_error *err)
{
	dm_bolt_tx *tx = parent->tx;
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	struct bolt_node *n;
	uint8_t *key, *val;
	int rc;

	if (check_writable(parent, err) < 0 || check_key(parent, len, err) < 0)
		return NULL;
	if (parent->nest + 1 >= BOLT_MAX_NEST) {
		dm_err_set(err, EINVAL, "%s: buckets nested deeper than %d levels", tx->db->path,
			   BOLT_MAX_NEST);
		return NULL;
	}
	cursor_init(&c, parent);
	rc = cursor_seek_exact(&c, name, len, &kv, err);
	if (rc < 0)
		return NULL;
	if (rc == 2) {
		bucket_name_err(parent, kv.is_bucket ? EEXIST : ENOTDIR, name, len,
				kv.is_bucket ? "already exists" : "a plain value has that key", err);
		return NULL;
	}
	/* An empty inline bucket, as bbolt's CreateBucket writes it. */
	key = bolt_arena_dup(tx, name, len, err);
	val = bolt_arena_alloc(tx, BOLT_BUCKET_HDR + BOLT_PAGE_HDR, err);
	if (!key || !val)
		return NULL;
	memset(val, 0, BOLT_BUCKET_HDR + BOLT_PAGE_HDR);
	bolt_put16(val + BOLT_BUCKET_HDR + 8, BOLT_F_LEAF);
	n = cursor_node(&c, err);
	if (!n || node_put(n, key, (uint32_t)len, key, (uint32_t)len, val,
			   BOLT_BUCKET_HDR + BOLT_PAGE_HDR, 0, BOLT_LEAF_BUCKET, err) < 0) {
		tx_fail(tx);
		return NULL;
	}
	tx->gen++;
	return dm_bolt_bucket_get(parent, key, len, err);
}

dm_bolt_bucket *dm_bolt_bucket_create_if_missing(dm_bolt_bucket *parent, const void *name,
						 size_t len, dm_error *err)
{
	dm_bolt_bucket *b;
	int rc = bucket_lookup(parent, name, len, &b, err);

	if (rc == LOOKUP_BUCKET)
		return b;
	if (rc == LOOKUP_VALUE)
		bucket_name_err(parent, ENOTDIR, name, len, "a plain value has that key", err);
	return rc == LOOKUP_MISSING ? dm_bolt_bucket_create(parent, name, len, err) : NULL;
}

/* Records pgid in seen; a damaged file that reaches a page twice would
 * otherwise make deleting a bucket take exponential time. */
static int mark_once(dm_bolt_tx *tx, struct bolt_map *seen, uint64_t pgid, dm_error *err)
{
	uint8_t *k;

	if (bolt_map_get(seen, &pgid, sizeof pgid))
		return bolt_corrupt(tx, err, "page %llu: reached twice", (ull)pgid);
	k = bolt_arena_dup(tx, &pgid, sizeof pgid, err);
	if (!k)
		return -1;
	if (bolt_map_put(seen, k, sizeof pgid, k) < 0) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", tx->db->path);
	}
	return 0;
}

/* bbolt's Bucket.free: every page of b goes to the pending list.  With seen,
 * each page below the root must be new to it (the caller marked the root). */
static int bucket_free_pages(dm_bolt_bucket *b, uint64_t pgid, int depth, struct bolt_map *seen,
			     dm_error *err)
{
	struct bolt_pview pv;
	struct bolt_node *n;
	size_t count;

	if (depth >= BOLT_MAX_DEPTH)
		return bolt_corrupt(b->tx, err, "tree deeper than %d levels at page %llu (a cycle?)",
				    BOLT_MAX_DEPTH, (ull)pgid);
	if (seen && depth > 0 && mark_once(b->tx, seen, pgid, err) < 0)
		return -1;
	if (bucket_page_node(b, pgid, &pv, &n, err) < 0)
		return -1;
	if (n) {
		if (node_free(n, err) < 0)
			return -1;
		count = n->leaf ? 0 : n->n;
	} else {
		if (bolt_tx_free(b->tx, pv.id, pv.overflow, err) < 0)
			return -1;
		count = pv.leaf ? 0 : pv.count;
	}
	for (size_t i = 0; i < count; i++) {
		struct bolt_inode in;

		if (n)
			in = n->inodes[i];
		else if (bolt_pview_elem(b->tx, &pv, (uint32_t)i, &in, err) < 0)
			return -1;
		if (bucket_free_pages(b, in.pgid, depth + 1, seen, err) < 0)
			return -1;
	}
	return 0;
}

static int bucket_free(dm_bolt_bucket *b, struct bolt_map *seen, dm_error *err)
{
	if (b->root == 0)
		return 0;
	if (bucket_free_pages(b, b->root, 0, seen, err) < 0)
		return -1;
	b->root = 0;
	return 0;
}

/* The keys of b's sub-buckets (pointing into pages or the arena). */
static int bucket_children(dm_bolt_bucket *b, dm_bolt_kv **out, size_t *nout, dm_error *err)
{
	dm_bolt_cursor c;
	dm_bolt_kv kv, prev = { 0 };
	size_t cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	cursor_init(&c, b);
	for (rc = cursor_first_raw(&c, &kv, err); rc == 1; rc = cursor_step(&c, &kv, err)) {
		/* As in dm_bolt_cursor_next: a page reached twice must not loop. */
		if (prev.key && bolt_keycmp(kv.key, kv.klen, prev.key, prev.klen) <= 0)
			return bolt_corrupt(b->tx, err, "keys out of order (a page reached twice?)");
		prev = kv;
		if (!kv.is_bucket)
			continue;
		if (bolt_reserve(out, &cap, *nout + 1, sizeof **out, err) < 0)
			return -1;
		(*out)[(*nout)++] = kv;
	}
	return rc;
}

static int bucket_delete(dm_bolt_bucket *parent, const void *name, size_t len,
			 struct bolt_map *seen, dm_error *err)
{
	dm_bolt_tx *tx = parent->tx;
	dm_bolt_bucket *child;
	dm_bolt_kv *subs;
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	struct bolt_node *n;
	size_t nsubs;
	int rc;

	rc = bucket_lookup(parent, name, len, &child, err);
	if (rc != LOOKUP_BUCKET)
		return rc < 0 ? -1 : bucket_name_err(parent, rc == LOOKUP_VALUE ? ENOTDIR : ENOENT, name,
						     len, rc == LOOKUP_VALUE ? "is a plain value" : "not found",
						     err);
	/* Marked before descending, so that buckets sharing pages cannot recurse for ever. */
	if (child->root && mark_once(tx, seen, child->root, err) < 0)
		return tx_fail(tx);
	if (bucket_children(child, &subs, &nsubs, err) < 0) {
		free(subs);
		return -1;
	}
	for (size_t i = 0; i < nsubs; i++)
		if (bucket_delete(child, subs[i].key, subs[i].klen, seen, err) < 0) {
			free(subs);
			return tx_fail(tx);
		}
	free(subs);
	bolt_map_del(&parent->buckets, name, len);
	child->deleted = true;
	bolt_map_free(&child->nodes);
	bolt_map_free(&child->buckets);
	child->root_node = NULL;
	if (bucket_free(child, seen, err) < 0)
		return tx_fail(tx);
	cursor_init(&c, parent);
	if (cursor_seek_exact(&c, name, len, &kv, err) != 2 || !(n = cursor_node(&c, err)))
		return tx_fail(tx);
	node_del(n, kv.key, (uint32_t)kv.klen);
	tx->gen++;
	return 0;
}

int dm_bolt_bucket_delete(dm_bolt_bucket *parent, const void *name, size_t len, dm_error *err)
{
	struct bolt_map seen = { 0 };
	int rc;

	if (check_writable(parent, err) < 0 || check_key(parent, len, err) < 0)
		return -1;
	rc = bucket_delete(parent, name, len, &seen, err);
	bolt_map_free(&seen);
	return rc;
}

int dm_bolt_get(dm_bolt_bucket *b, const void *key, size_t klen, const void **val, size_t *vlen,
		dm_error *err)
{
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	int rc;

	if (bucket_usable(b, err) < 0)
		return -1;
	cursor_init(&c, b);
	rc = cursor_seek_exact(&c, key, klen, &kv, err);
	if (rc < 2 || kv.is_bucket)
		return rc < 0 ? -1 : 0;
	*val = kv.val;
	*vlen = kv.vlen;
	return 1;
}

static int check_plain(const dm_bolt_bucket *b, dm_error *err)
{
	if (b->nest == 0)
		return dm_err_set(err, EINVAL, "%s: the root bucket holds only buckets", b->tx->db->path);
	return 0;
}

int dm_bolt_put(dm_bolt_bucket *b, const void *key, size_t klen, const void *val, size_t vlen,
		dm_error *err)
{
	dm_bolt_tx *tx = b->tx;
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	struct bolt_node *n;
	uint8_t *k, *v;
	int rc;

	if (check_writable(b, err) < 0 || check_key(b, klen, err) < 0 || check_plain(b, err) < 0)
		return -1;
	if (vlen > DM_BOLT_MAX_VALUE)
		return dm_err_set(err, EINVAL, "%s: value of %zu bytes is too large", tx->db->path, vlen);
	cursor_init(&c, b);
	rc = cursor_seek_exact(&c, key, klen, &kv, err);
	if (rc < 0)
		return -1;
	if (rc == 2 && kv.is_bucket)
		return dm_err_set(err, EISDIR, "%s: key \"%.*s\" is a bucket", tx->db->path,
				  (int)(klen > 200 ? 200 : klen), (const char *)key);
	k = bolt_arena_dup(tx, key, klen, err);
	v = k ? bolt_arena_dup(tx, val, vlen, err) : NULL;
	if (!v)
		return -1;
	n = cursor_node(&c, err);
	if (!n || node_put(n, k, (uint32_t)klen, k, (uint32_t)klen, v, (uint32_t)vlen, 0, 0, err) < 0)
		return tx_fail(tx);
	tx->gen++;
	return 0;
}

int dm_bolt_del(dm_bolt_bucket *b, const void *key, size_t klen, dm_error *err)
{
	dm_bolt_tx *tx = b->tx;
	dm_bolt_cursor c;
	dm_bolt_kv kv;
	struct bolt_node *n;
	int rc;

	if (check_writable(b, err) < 0 || check_key(b, klen, err) < 0 || check_plain(b, err) < 0)
		return -1;
	cursor_init(&c, b);
	rc = cursor_seek_exact(&c, key, klen, &kv, err);
	if (rc < 2)
		return rc < 0 ? -1 : 0;
	if (kv.is_bucket)
		return dm_err_set(err, EISDIR, "%s: key \"%.*s\" is a bucket", tx->db->path,
				  (int)(klen > 200 ? 200 : klen), (const char *)key);
	n = cursor_node(&c, err);
	if (!n)
		return tx_fail(tx);
	node_del(n, kv.key, (uint32_t)kv.klen);
	tx->gen++;
	return 0;
}

uint64_t dm_bolt_sequence(const dm_bolt_bucket *b)
{
	return b->sequence;
}

int dm_bolt_set_sequence(dm_bolt_bucket *b, uint64_t seq, dm_error *err)
{
	if (check_writable(b, err) < 0 || check_plain(b, err) < 0)
		return -1;
	/* Materialising the root marks the bucket for rewriting at commit. */
	if (!b->root_node && !bucket_node(b, b->root, NULL, err))
		return tx_fail(b->tx);
	b->sequence = seq;
	return 0;
}

int dm_bolt_next_sequence(dm_bolt_bucket *b, uint64_t *out, dm_error *err)
{
	if (dm_bolt_set_sequence(b, b->sequence + 1, err) < 0)
		return -1;
	*out = b->sequence;
	return 0;
}

/* ---- commit: rebalance and spill ---- */

static size_t node_min_keys(const struct bolt_node *n)
{
	return n->leaf ? 1 : 2;
}

static void node_forget(struct bolt_node *n)
{
	bolt_map_del(&n->bucket->nodes, &n->mapkey, sizeof n->mapkey);
	n->removed = true;
}

/* Moves the materialised children of src's branch inodes below dst
 * (bbolt's reparenting loop in node.rebalance). */
static int node_reparent(struct bolt_node *src, struct bolt_node *dst, dm_error *err)
{
	if (src->leaf)
		return 0;
	for (size_t i = 0; i < src->n; i++) {
		struct bolt_node *c = bolt_map_get(&src->bucket->nodes, &src->inodes[i].pgid,
						   sizeof src->inodes[i].pgid);

		if (!c)
			continue;
		if (c->parent)
			node_remove_child(c->parent, c);
		if (node_add_child(dst, c, err) < 0)
			return -1;
	}
	return 0;
}

/* Appends src's inodes to its sibling dst and removes src from the tree. */
static int node_merge(struct bolt_node *dst, struct bolt_node *src, dm_error *err)
{
	if (node_reparent(src, dst, err) < 0 ||
	    bolt_reserve(&dst->inodes, &dst->cap, dst->n + src->n, sizeof *dst->inodes, err) < 0)
		return -1;
	if (src->n)
		memcpy(dst->inodes + dst->n, src->inodes, src->n * sizeof *src->inodes);
	dst->n += src->n;
	node_del(src->parent, src->key, src->klen);
	node_remove_child(src->parent, src);
	node_forget(src);
	return node_free(src, err);
}

static size_t node_child_index(const struct bolt_node *parent, const struct bolt_node *child)
{
	bool exact;

	return node_search(parent, child->key, child->klen, &exact);
}

static int node_rebalance(struct bolt_node *n, dm_error *err)
{
	dm_bolt_tx *tx = n->bucket->tx;
	struct bolt_node *parent = n->parent, *target;
	size_t idx;

	if (!n->unbalanced)
		return 0;
	n->unbalanced = false;
	if (node_size(n) > tx->db->page_size / 4 && n->n > node_min_keys(n))
		return 0;
	if (!parent) {
		/* A root branch with one child is replaced by that child. */
		if (!n->leaf && n->n == 1) {
			struct bolt_node *child = bucket_node(n->bucket, n->inodes[0].pgid, n, err);

			if (!child)
				return -1;
			/* n takes over the child's arrays; the child is discarded. */
			free(n->inodes);
			free(n->children);
			n->leaf = child->leaf;
			n->inodes = child->inodes, n->n = child->n, n->cap = child->cap;
			n->children = child->children, n->nchildren = child->nchildren;
			n->capchildren = child->capchildren;
			child->inodes = NULL, child->n = child->cap = 0;
			child->children = NULL, child->nchildren = child->capchildren = 0;
			for (size_t i = 0; i < n->nchildren; i++)
				n->children[i]->parent = n;
			child->parent = NULL;
			node_forget(child);
			return node_free(child, err);
		}
		return 0;
	}
	if (n->n == 0) {
		node_del(parent, n->key, n->klen);
		node_remove_child(parent, n);
		node_forget(n);
		if (node_free(n, err) < 0)
			return -1;
		return node_rebalance(parent, err);
	}
	if (parent->n < 2)
		return bolt_corrupt(tx, err, "page %llu: branch with fewer than 2 children", (ull)parent->pgid);
	idx = node_child_index(parent, n);
	if (idx >= parent->n)
		return bolt_corrupt(tx, err, "page %llu: child page %llu not found in its parent",
				    (ull)parent->pgid, (ull)n->pgid);
	/* The first child takes in its right sibling; any other joins its left one. */
	target = node_child_at(parent, idx == 0 ? 1 : idx - 1, err);
	if (!target || (idx == 0 ? node_merge(n, target, err) : node_merge(target, n, err)) < 0)
		return -1;
	return node_rebalance(parent, err);
}

static int cmp_node_pgid(const void *a, const void *b)
{
	uint64_t x = (*(struct bolt_node *const *)a)->mapkey, y = (*(struct bolt_node *const *)b)->mapkey;

	return x < y ? -1 : x > y;
}

static int cmp_bucket_name(const void *a, const void *b)
{
	const dm_bolt_bucket *x = *(dm_bolt_bucket *const *)a, *y = *(dm_bolt_bucket *const *)b;

	return bolt_keycmp(x->name, x->nlen, y->name, y->nlen);
}

/* The values of m in a fixed order.  bbolt walks Go maps here, in random
 * order; a fixed one makes our files reproducible and comparable with a
 * bbolt patched to walk its maps sorted the same way. */
static void **sorted_values(const struct bolt_map *m, size_t *n, int (*cmp)(const void *, const void *),
			    const dm_bolt_tx *tx, dm_error *err)
{
	void **v = bolt_map_values(m, n);

	if (!v) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", tx->db->path);
	} else if (*n > 1)
		qsort(v, *n, sizeof *v, cmp);
	return v;
}

int bolt_bucket_rebalance(dm_bolt_bucket *b, dm_error *err)
{
	size_t n;
	void **v = sorted_values(&b->nodes, &n, cmp_node_pgid, b->tx, err);
	int rc = 0;

	if (!v)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!((struct bolt_node *)v[i])->removed)
			rc = node_rebalance(v[i], err);
	free(v);
	if (rc < 0)
		return -1;
	v = sorted_values(&b->buckets, &n, cmp_bucket_name, b->tx, err);
	if (!v)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = bolt_bucket_rebalance(v[i], err);
	free(v);
	return rc;
}

/* bbolt's node.splitTwo: splits off the tail of n when it does not fit a page. */
static int node_split_two(struct bolt_node *n, struct bolt_node **next, dm_error *err)
{
	uint64_t psz = n->bucket->tx->db->page_size, threshold = psz / 2, sz = BOLT_PAGE_HDR;
	size_t idx = 0;
	struct bolt_node *nx;

	*next = NULL;
	if (n->n <= BOLT_MIN_KEYS * 2 || node_size(n) < psz)
		return 0;
	for (size_t i = 0; i < n->n - BOLT_MIN_KEYS; i++) {
		uint64_t el = BOLT_ELEM + n->inodes[i].klen + n->inodes[i].vlen;

		idx = i;
		if (i >= BOLT_MIN_KEYS && sz + el > threshold)
			break;
		sz += el;
	}
	if (!n->parent) {
		struct bolt_node *p = node_new(n->bucket, false, err);

		if (!p || node_add_child(p, n, err) < 0)
			return -1;
	}
	nx = node_new(n->bucket, n->leaf, err);
	if (!nx || node_add_child(n->parent, nx, err) < 0 ||
	    bolt_reserve(&nx->inodes, &nx->cap, n->n - idx, sizeof *nx->inodes, err) < 0)
		return -1;
	memcpy(nx->inodes, n->inodes + idx, (n->n - idx) * sizeof *n->inodes);
	nx->n = n->n - idx;
	n->n = idx;
	*next = nx;
	return 0;
}

/* Writes one node (of a split) to newly allocated pages and updates its parent. */
static int node_write_out(struct bolt_node *n, dm_error *err)
{
	dm_bolt_tx *tx = n->bucket->tx;
	uint64_t psz = tx->db->page_size, id;
	uint64_t count = (node_size(n) + psz - 1) / psz;
	uint8_t *buf;

	if (n->n >= 0xFFFF)
		return dm_err_set(err, EFBIG, "%s: %zu elements do not fit in one page", tx->db->path, n->n);
	if (node_free(n, err) < 0)
		return -1;
	buf = bolt_tx_allocate(tx, count, &id, err);
	if (!buf)
		return -1;
	n->pgid = id;
	n->overflow = (uint32_t)(count - 1);
	node_write(n, buf);
	n->spilled = true;
	if (n->parent) {
		const uint8_t *old = n->key ? n->key : n->inodes[0].key;
		uint32_t oldlen = n->key ? n->klen : n->inodes[0].klen;

		if (n->n == 0)
			return bolt_corrupt(tx, err, "empty page %llu below a branch", (ull)id);
		if (node_put(n->parent, old, oldlen, n->inodes[0].key, n->inodes[0].klen, NULL, 0, id, 0,
			     err) < 0)
			return -1;
		n->key = n->inodes[0].key;
		n->klen = n->inodes[0].klen;
	}
	return 0;
}

static int cmp_child(const void *a, const void *b)
{
	const struct bolt_node *x = *(struct bolt_node *const *)a, *y = *(struct bolt_node *const *)b;

	if (!x->n || !y->n)
		return (x->n > 0) - (y->n > 0);
	return bolt_keycmp(x->inodes[0].key, x->inodes[0].klen, y->inodes[0].key, y->inodes[0].klen);
}

static int node_spill(struct bolt_node *n, dm_error *err)
{
	struct bolt_node *cur;

	if (n->spilled)
		return 0;
	if (n->nchildren > 1)
		qsort(n->children, n->nchildren, sizeof *n->children, cmp_child);
	/* Spilling a child may split it and so add children here. */
	for (size_t i = 0; i < n->nchildren; i++)
		if (node_spill(n->children[i], err) < 0)
			return -1;
	n->nchildren = 0;
	for (cur = n; cur;) {
		struct bolt_node *next;

		if (node_split_two(cur, &next, err) < 0 || node_write_out(cur, err) < 0)
			return -1;
		cur = next;
	}
	if (n->parent && n->parent->pgid == 0) {
		n->nchildren = 0;
		return node_spill(n->parent, err);
	}
	return 0;
}

/* bbolt's Bucket.inlineable: a leaf root without sub-buckets, small enough. */
static bool bucket_inlineable(const dm_bolt_bucket *b)
{
	const struct bolt_node *n = b->root_node;

	if (!n || !n->leaf)
		return false;
	for (size_t i = 0; i < n->n; i++)
		if (n->inodes[i].flags & BOLT_LEAF_BUCKET)
			return false;
	return node_size(n) <= b->tx->db->page_size / 4;
}

/* The parent's value for child: header plus embedded page when inline. */
static uint8_t *bucket_value(dm_bolt_bucket *child, bool inl, uint32_t *len, dm_error *err)
{
	uint64_t sz = BOLT_BUCKET_HDR + (inl ? node_size(child->root_node) : 0);
	uint8_t *v = bolt_arena_alloc(child->tx, sz, err);

	if (!v)
		return NULL;
	memset(v, 0, sz);
	bolt_put64(v, child->root);
	bolt_put64(v + 8, child->sequence);
	if (inl)
		node_write(child->root_node, v + BOLT_BUCKET_HDR);
	*len = (uint32_t)sz;
	return v;
}

int bolt_bucket_spill(dm_bolt_bucket *b, dm_error *err)
{
	dm_bolt_tx *tx = b->tx;
	size_t n;
	void **v = sorted_values(&b->buckets, &n, cmp_bucket_name, tx, err);
	int rc = 0;

	if (!v)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		dm_bolt_bucket *child = v[i];
		bool inl = bucket_inlineable(child);
		dm_bolt_cursor c;
		dm_bolt_kv kv;
		struct bolt_node *node;
		uint8_t *val;
		uint32_t vlen;

		if (inl)
			rc = bucket_free(child, NULL, err);
		else
			rc = bolt_bucket_spill(child, err);
		if (rc < 0 || !child->root_node)
			continue;
		val = bucket_value(child, inl, &vlen, err);
		if (!val)
			rc = -1;
		cursor_init(&c, b);
		if (rc == 0 && (rc = cursor_seek_exact(&c, child->name, child->nlen, &kv, err)) >= 0) {
			if (rc != 2 || !kv.is_bucket)
				rc = bolt_corrupt(tx, err, "bucket vanished from its parent");
			else if (!(node = cursor_node(&c, err)) ||
				 node_put(node, child->name, child->nlen, child->name, child->nlen, val,
					  vlen, 0, BOLT_LEAF_BUCKET, err) < 0)
				rc = -1;
			else
				rc = 0;
		}
	}
	free(v);
	if (rc < 0 || !b->root_node)
		return rc;
	if (node_spill(b->root_node, err) < 0)
		return -1;
	while (b->root_node->parent)
		b->root_node = b->root_node->parent;
	b->root = b->root_node->pgid;
	return 0;
}
