/* bolt_int: what lib/bolt.c (file, meta, freelist, transactions),
 * lib/bolt_tree.c (nodes, buckets, cursors) and lib/bolt_check.c (checker)
 * share.  Not part of the public API.  Names follow bbolt's Go sources
 * (node, inode, spill, rebalance) so the two can be read side by side. */
#ifndef DM_BOLT_INT_H
#define DM_BOLT_INT_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bolt.h"

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2u
#define BOLT_NO_FREELIST UINT64_MAX
#define BOLT_PAGE_HDR 16u
#define BOLT_ELEM 16u
#define BOLT_META_OFF 16u
#define BOLT_META_SUMMED 56u
#define BOLT_BUCKET_HDR 16u
#define BOLT_F_BRANCH 0x01u
#define BOLT_F_LEAF 0x02u
#define BOLT_F_META 0x04u
#define BOLT_F_FREELIST 0x10u
#define BOLT_LEAF_BUCKET 0x01u
#define BOLT_MIN_KEYS 2u
#define BOLT_MIN_PAGE 1024u
#define BOLT_MAX_PAGE (16u << 20)
/* bbolt's db.AllocSize: files past this grow in steps of this size. */
#define BOLT_ALLOC_SIZE (16u << 20)
/* A valid tree with >= 2 children per branch is at most log2(pages) deep;
 * anything deeper is a cycle or a damaged file. */
#define BOLT_MAX_DEPTH 64
/* Bucket nesting deeper than this is treated as damage (checker, deletes). */
#define BOLT_MAX_NEST 64

static inline uint16_t bolt_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t bolt_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t bolt_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline void bolt_put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static inline void bolt_put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void bolt_put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

/* Makes room for need elements of size elsz in *arr (capacity *cap). */
int bolt_reserve(void *arr, size_t *cap, size_t need, size_t elsz, dm_error *err);

/* Go's bytes.Compare. */
int bolt_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

struct bolt_meta {
	uint32_t magic, version, page_size, flags;
	uint64_t root, sequence, freelist, pgid, txid, checksum;
};

/* A validated branch or leaf page: bytes [base, base+span) are readable. */
struct bolt_pview {
	const uint8_t *base;
	uint64_t span;
	uint64_t id;      /* 0 for the page embedded in an inline bucket */
	uint32_t overflow;
	uint16_t count;
	bool leaf;
};

/* One element of a page or node. */
struct bolt_inode {
	const uint8_t *key;
	const uint8_t *val;
	uint64_t pgid;
	uint32_t klen, vlen, flags;
};

/* Element i of a validated page (i < count), bounds-checked against the page. */
int bolt_pview_elem(const dm_bolt_tx *tx, const struct bolt_pview *pv, uint32_t i,
		    struct bolt_inode *out, dm_error *err);
/* Checks the header of an embedded inline bucket page (value after the bucket header). */
int bolt_inline_view(const dm_bolt_tx *tx, const uint8_t *v, size_t len, struct bolt_pview *pv,
		     dm_error *err);
/* Page pgid of the tx's snapshot as a branch or leaf page, with every header field checked. */
int bolt_tx_page(const dm_bolt_tx *tx, uint64_t pgid, struct bolt_pview *pv, dm_error *err);
/* Sets err to "<path>: <message>" with code DM_BOLT_ECORRUPT; returns -1. */
int bolt_corrupt(const dm_bolt_tx *tx, dm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An open-addressing hash table from byte strings to pointers; the caller
 * keeps the key bytes alive as long as the entry. */
struct bolt_map_ent {
	const uint8_t *key;
	void *val;
	uint32_t klen;
	uint32_t hash;
};
struct bolt_map {
	struct bolt_map_ent *e;
	size_t cap, used, live;
};
void *bolt_map_get(const struct bolt_map *m, const void *key, size_t klen);
int bolt_map_put(struct bolt_map *m, const void *key, size_t klen, void *val);
void bolt_map_del(struct bolt_map *m, const void *key, size_t klen);
/* Live values in slot order (stable while the map is not changed); caller frees. */
void **bolt_map_values(const struct bolt_map *m, size_t *n);
void bolt_map_free(struct bolt_map *m);

/* In-memory form of a page being changed (bbolt's node). */
struct bolt_node {
	dm_bolt_bucket *bucket;
	struct bolt_node *parent;
	struct bolt_node **children;
	size_t nchildren, capchildren;
	struct bolt_inode *inodes;
	size_t n, cap;
	const uint8_t *key; /* first key when read: how the parent finds us */
	uint32_t klen;
	uint64_t pgid;
	uint32_t overflow; /* of page pgid */
	uint64_t mapkey; /* pgid under which bucket->nodes holds us */
	bool leaf, unbalanced, spilled, removed;
	struct bolt_node *all_next; /* tx->nodes: every node, freed at tx end */
};

struct dm_bolt_bucket {
	dm_bolt_tx *tx;
	uint64_t root, sequence;
	const uint8_t *inline_val; /* embedded page of an inline bucket (root == 0) */
	size_t inline_len;
	struct bolt_node *root_node;
	struct bolt_map nodes;   /* pgid -> node, materialised pages */
	struct bolt_map buckets; /* name -> child bucket, opened sub-buckets */
	const uint8_t *name;
	uint32_t nlen;
	int nest;                /* 0 for the root bucket */
	bool deleted;
	dm_bolt_bucket *all_next; /* tx->buckets: every bucket, freed at tx end */
};

struct bolt_elemref {
	struct bolt_pview pv;
	struct bolt_node *node; /* when set, pv is unused */
	uint32_t index;
};

struct dm_bolt_cursor {
	dm_bolt_bucket *b;
	struct bolt_elemref stack[BOLT_MAX_DEPTH];
	int depth;
	const uint8_t *last; /* key returned last, to go on after changes */
	uint32_t lastlen;
	bool has_last;
	uint64_t gen; /* tx->gen when last was returned */
	dm_bolt_cursor *prev, *next;
};

struct bolt_arena_chunk;

struct bolt_dirty {
	uint64_t id;
	uint64_t npages;
	uint8_t *buf;
};

struct dm_bolt_tx {
	dm_bolt *db;
	bool writable;
	bool failed; /* a change went half-way: commit must refuse */
	uint64_t gen; /* counts changes, so cursors notice them */
	struct bolt_meta meta;
	dm_bolt_bucket *root;
	dm_bolt_bucket *buckets;
	struct bolt_node *nodes;
	dm_bolt_cursor *cursors;
	struct bolt_arena_chunk *arena;
	struct bolt_dirty *dirty;
	size_t ndirty, capdirty;
	uint64_t *pending; /* page ids freed by this tx: reusable after commit */
	size_t npending, cappending;
	struct bolt_dirty *allocs; /* runs taken from db->free, returned on rollback */
	size_t nallocs, capallocs;
};

struct dm_bolt {
	char *path;
	int fd;
	bool rdonly;
	bool broken; /* a commit failed after writing: state on disk is unknown */
	uint32_t page_size;
	struct bolt_meta meta;
	const uint8_t *map;
	uint64_t map_len;
	uint64_t file_size;
	uint64_t *free; /* sorted ids reusable now */
	size_t nfree;
	uint32_t freelist_overflow; /* of the freelist page of meta */
	dm_bolt_tx *tx;
	dm_bolt_stats last;
};

/* Copies len bytes into memory that lives until the tx ends. */
uint8_t *bolt_arena_dup(dm_bolt_tx *tx, const void *p, size_t len, dm_error *err);
uint8_t *bolt_arena_alloc(dm_bolt_tx *tx, size_t len, dm_error *err);

/* Allocates count contiguous pages (lowest fit, else above the high-water
 * mark) and returns a zeroed buffer for them, written out at commit. */
uint8_t *bolt_tx_allocate(dm_bolt_tx *tx, uint64_t count, uint64_t *id, dm_error *err);
/* Frees page pgid and its overflow pages into this tx's pending list. */
int bolt_tx_free(dm_bolt_tx *tx, uint64_t pgid, uint32_t overflow, dm_error *err);
/* Reads the freelist page of m: sorted ids into *ids (caller frees), its
 * overflow into *overflow.  Rejects ids outside [2, HWM), duplicates and the
 * freelist's own pages; with strict, also ids not stored in ascending order. */
int bolt_read_freelist(dm_bolt *db, const struct bolt_meta *m, bool strict, uint64_t **ids,
		       size_t *n, uint32_t *overflow, dm_error *err);

/* bolt_tree.c */
dm_bolt_bucket *bolt_bucket_new(dm_bolt_tx *tx, uint64_t root, uint64_t seq, dm_error *err);
int bolt_bucket_rebalance(dm_bolt_bucket *b, dm_error *err);
int bolt_bucket_spill(dm_bolt_bucket *b, dm_error *err);
void bolt_node_destroy(struct bolt_node *n);
void bolt_bucket_destroy(dm_bolt_bucket *b);

/* bolt_check.c: walks every page reachable from tx's meta, checking the tree,
 * and marks them in seen (a bitmap of meta.pgid bits).  With free (sorted,
 * nfree ids) also checks that no reachable page is free and no page leaks. */
int bolt_walk(dm_bolt_tx *tx, uint8_t *seen, const uint64_t *free, size_t nfree, dm_error *err);

#endif
