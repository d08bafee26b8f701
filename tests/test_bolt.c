/* Unit tests for bolt: random operation sequences checked against an
 * in-memory model after every commit and reopen, bbolt's exact shapes
 * (fresh file bytes, inline threshold, freelist escape), damaged files,
 * locking and page sizes.  Set DM_BOLT_KEEP_DIR to keep every valid database
 * the tests write (e.g. to run boltcheck -mutate on them); files damaged on
 * purpose are named bad-* and never kept. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bolt.h"
#include "testutil.h"

typedef unsigned long long ull;

/* ---- scratch files ---- */

static char scratch[256];

static void scratch_setup(void)
{
	tu_mkdtemp(scratch, sizeof scratch, "test_bolt.XXXXXX");
}

/* Removes the scratch files, or moves the valid ones to $DM_BOLT_KEEP_DIR/<test>-<name>. */
static void scratch_done(const char *test)
{
	const char *keep = getenv("DM_BOLT_KEEP_DIR");
	char cmd[1024];

	if (keep && *keep)
		snprintf(cmd, sizeof cmd,
			 "rm -f '%s'/bad-* && mkdir -p '%s' && for f in '%s'/*; do [ -e \"$f\" ] && mv \"$f\" '%s/%s-'\"${f##*/}\"; done; rm -rf '%s'",
			 scratch, keep, scratch, keep, test, scratch);
	else
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *spath(const char *name)
{
	static char p[512];

	snprintf(p, sizeof p, "%s/%s", scratch, name);
	return p;
}

/* ---- raw file access for shape checks and corruption ---- */

static uint64_t fnv64a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

struct rawfile {
	uint8_t *b;
	size_t len;
};

static struct rawfile raw_load(const char *path)
{
	struct rawfile f = { 0 };
	struct stat st;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	f.len = (size_t)st.st_size;
	f.b = malloc(f.len ? f.len : 1);
	ck_assert_int_eq(pread(fd, f.b, f.len, 0), (ssize_t)f.len);
	close(fd);
	return f;
}

static void raw_save(const char *path, const struct rawfile *f)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, f->b, f->len, 0), (ssize_t)f->len);
	close(fd);
}

/* Meta field offsets inside a page. */
enum { M_PSZ = 24, M_ROOT = 32, M_FREELIST = 48, M_PGID = 56, M_TXID = 64, M_SUM = 72 };

static void raw_fix_sum(struct rawfile *f, uint32_t psz, int slot)
{
	uint8_t *m = f->b + (size_t)slot * psz;

	put64(m + M_SUM, fnv64a(m + 16, 56));
}

/* Slot of the meta with the larger txid. */
static int raw_cur(const struct rawfile *f, uint32_t psz)
{
	return get64(f->b + psz + M_TXID) > get64(f->b + M_TXID) ? 1 : 0;
}

static uint8_t *raw_page(const struct rawfile *f, uint32_t psz, uint64_t id)
{
	ck_assert_uint_le((id + 1) * psz, f->len);
	return f->b + id * psz;
}

/* Leaf element i of page p: key and value. */
static void raw_leaf_elem(const uint8_t *p, unsigned i, const uint8_t **k, uint32_t *klen,
			  const uint8_t **v, uint32_t *vlen)
{
	const uint8_t *e = p + 16 + 16 * i;

	*k = e + get32(e + 4);
	*klen = get32(e + 8);
	*v = *k + *klen;
	*vlen = get32(e + 12);
}

/* The root page of top-level bucket number i (its header's root field). */
static uint64_t raw_bucket_root(const struct rawfile *f, uint32_t psz, unsigned i)
{
	const uint8_t *root = raw_page(f, psz, get64(f->b + raw_cur(f, psz) * psz + M_ROOT));
	const uint8_t *k, *v;
	uint32_t kl, vl;

	ck_assert_uint_eq(get16(root + 8), 0x02);
	raw_leaf_elem(root, i, &k, &kl, &v, &vl);
	return get64(v);
}

/* ---- the in-memory model ---- */

struct mbucket;
struct mentry {
	uint8_t *key;
	size_t klen;
	uint8_t *val; /* NULL for a bucket */
	size_t vlen;
	struct mbucket *sub;
};
struct mbucket {
	struct mentry *e;
	size_t n, cap;
	uint64_t seq;
};

static int mcmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

static size_t mfind(const struct mbucket *b, const uint8_t *k, size_t kl, bool *exact)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (mcmp(b->e[mid].key, b->e[mid].klen, k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*exact = lo < b->n && !mcmp(b->e[lo].key, b->e[lo].klen, k, kl);
	return lo;
}

static uint8_t *mdup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	memcpy(d, p, n);
	return d;
}

static void mfree(struct mbucket *b);

static void mentry_free(struct mentry *e)
{
	free(e->key);
	free(e->val);
	if (e->sub)
		mfree(e->sub);
}

static void mfree(struct mbucket *b)
{
	for (size_t i = 0; i < b->n; i++)
		mentry_free(&b->e[i]);
	free(b->e);
	free(b);
}

static struct mbucket *mclone(const struct mbucket *b)
{
	struct mbucket *c = calloc(1, sizeof *c);

	c->seq = b->seq;
	c->n = c->cap = b->n;
	c->e = calloc(b->n ? b->n : 1, sizeof *c->e);
	for (size_t i = 0; i < b->n; i++) {
		c->e[i].key = mdup(b->e[i].key, b->e[i].klen);
		c->e[i].klen = b->e[i].klen;
		if (b->e[i].sub) {
			c->e[i].sub = mclone(b->e[i].sub);
		} else {
			c->e[i].val = mdup(b->e[i].val, b->e[i].vlen);
			c->e[i].vlen = b->e[i].vlen;
		}
	}
	return c;
}

/* Inserts or replaces key; sub != NULL makes it a bucket. */
static void mset(struct mbucket *b, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
		 struct mbucket *sub)
{
	bool exact;
	size_t i = mfind(b, k, kl, &exact);

	if (exact) {
		mentry_free(&b->e[i]);
	} else {
		if (b->n == b->cap) {
			b->cap = b->cap ? 2 * b->cap : 8;
			b->e = realloc(b->e, b->cap * sizeof *b->e);
		}
		memmove(b->e + i + 1, b->e + i, (b->n - i) * sizeof *b->e);
		b->n++;
	}
	b->e[i] = (struct mentry){ mdup(k, kl), kl, sub ? NULL : mdup(v, vl), vl, sub };
}

static void mdel(struct mbucket *b, const uint8_t *k, size_t kl)
{
	bool exact;
	size_t i = mfind(b, k, kl, &exact);

	if (!exact)
		return;
	mentry_free(&b->e[i]);
	memmove(b->e + i, b->e + i + 1, (b->n - i - 1) * sizeof *b->e);
	b->n--;
}

/* Compares bucket b with model m, recursively, through a cursor and gets. */
static void compare(dm_bolt_bucket *b, const struct mbucket *m, int nest)
{
	dm_error err = { 0 };
	dm_bolt_cursor *c = NN(dm_bolt_cursor_open(b, &err));
	dm_bolt_kv kv;
	size_t i = 0;
	int rc;

	if (nest > 0)
		ck_assert_uint_eq(dm_bolt_sequence(b), m->seq);
	for (rc = dm_bolt_cursor_first(c, &kv, &err); rc == 1; rc = dm_bolt_cursor_next(c, &kv, &err), i++) {
		const struct mentry *e;

		ck_assert_msg(i < m->n, "more keys than the model (%zu)", m->n);
		e = &m->e[i];
		ck_assert_msg(kv.klen == e->klen && !memcmp(kv.key, e->key, kv.klen),
			      "key %zu differs at nest %d", i, nest);
		ck_assert_int_eq(kv.is_bucket, e->sub != NULL);
		if (e->sub) {
			compare(NN(dm_bolt_bucket_get(b, kv.key, kv.klen, &err)), e->sub, nest + 1);
		} else {
			const void *v;
			size_t vl;

			ck_assert_uint_eq(kv.vlen, e->vlen);
			ck_assert(!memcmp(kv.val, e->val, kv.vlen));
			ck_assert_int_eq(dm_bolt_get(b, e->key, e->klen, &v, &vl, &err), 1);
			ck_assert_uint_eq(vl, e->vlen);
		}
	}
	OK(rc);
	ck_assert_uint_eq(i, m->n);
	dm_bolt_cursor_close(c);
}

static void compare_db(dm_bolt *db, const struct mbucket *m)
{
	dm_error err = { 0 };
	dm_bolt_tx *tx = NN(dm_bolt_begin(db, false, &err));

	compare(dm_bolt_root(tx), m, 0);
	dm_bolt_rollback(tx);
	OK(dm_bolt_check(db, &err));
}

/* ---- random operation sequences ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)((rng_state >> 33) % n);
}

/* A random key: mostly from a small space so that overwrites and deletes hit. */
static size_t rnd_key(uint8_t *k, uint32_t space)
{
	if (rnd(10) == 0) {
		size_t n = 1 + rnd(40);

		for (size_t i = 0; i < n; i++)
			k[i] = (uint8_t)rnd(256);
		return n;
	}
	return (size_t)sprintf((char *)k, "k%05u", rnd(space));
}

static size_t rnd_vlen(void)
{
	switch (rnd(20)) {
	case 0:
		return 3000 + rnd(20000); /* overflow pages */
	case 1:
		return 0;
	case 2:
		return 980 + rnd(30); /* around the inline threshold */
	default:
		return rnd(120);
	}
}

/* Picks a random bucket below the root (by walking the model and the db in step). */
static dm_bolt_bucket *rnd_bucket(dm_bolt_bucket *root, struct mbucket *mroot, struct mbucket **m,
				  int *nest)
{
	dm_error err = { 0 };
	dm_bolt_bucket *b = root;

	*m = mroot;
	*nest = 0;
	for (;;) {
		size_t subs[64], ns = 0;

		for (size_t i = 0; i < (*m)->n && ns < 64; i++)
			if ((*m)->e[i].sub)
				subs[ns++] = i;
		if (ns == 0 || rnd(*nest > 0 ? 3 : 10) == 0)
			return b;
		struct mentry *e = &(*m)->e[subs[rnd((uint32_t)ns)]];

		b = NN(dm_bolt_bucket_get(b, e->key, e->klen, &err));
		*m = e->sub;
		(*nest)++;
	}
}

static void rnd_op(dm_bolt_bucket *root, struct mbucket *mroot, uint32_t space)
{
	dm_error err = { 0 };
	struct mbucket *m;
	int nest;
	dm_bolt_bucket *b = rnd_bucket(root, mroot, &m, &nest);
	uint8_t k[64], *v;
	size_t kl = rnd_key(k, space), vl;
	uint32_t op = rnd(100);
	bool exact;
	size_t i = mfind(m, k, kl, &exact);
	bool is_bucket = exact && m->e[i].sub;

	if (nest == 0 || op < 8) {
		/* Create a bucket (at the root, only buckets). */
		if (nest >= 4 || (nest == 0 && rnd(3) == 0)) {
			if (is_bucket) {
				OK(dm_bolt_bucket_delete(b, k, kl, &err));
				mdel(m, k, kl);
			}
			return;
		}
		dm_bolt_bucket *c = dm_bolt_bucket_create(b, k, kl, &err);

		if (exact) {
			ck_assert_ptr_null(c);
			ck_assert_int_eq(err.code, is_bucket ? EEXIST : ENOTDIR);
		} else {
			ck_assert_msg(c != NULL, "%s", err.msg);
			mset(m, k, kl, NULL, 0, calloc(1, sizeof(struct mbucket)));
		}
	} else if (op < 11) {
		if (!exact) {
			ck_assert_int_eq(dm_bolt_bucket_delete(b, k, kl, &err), -1);
			ck_assert_int_eq(err.code, ENOENT);
		} else if (is_bucket) {
			OK(dm_bolt_bucket_delete(b, k, kl, &err));
			mdel(m, k, kl);
		}
	} else if (op < 15) {
		uint64_t s;

		if (rnd(2)) {
			OK(dm_bolt_next_sequence(b, &s, &err));
			ck_assert_uint_eq(s, ++m->seq);
		} else {
			m->seq = ((uint64_t)rnd(1u << 31) << 32) | rnd(1u << 31);
			OK(dm_bolt_set_sequence(b, m->seq, &err));
		}
	} else if (op < 40) {
		int rc = dm_bolt_del(b, k, kl, &err);

		if (is_bucket) {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_eq(err.code, EISDIR);
		} else {
			OK(rc);
			mdel(m, k, kl);
		}
	} else {
		int rc;

		vl = rnd_vlen();
		v = malloc(vl ? vl : 1);
		for (size_t j = 0; j < vl; j++)
			v[j] = (uint8_t)(j * 7 + kl + vl);
		rc = dm_bolt_put(b, k, kl, v, vl, &err);
		if (is_bucket) {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_eq(err.code, EISDIR);
		} else {
			OK(rc);
			mset(m, k, kl, v, vl, NULL);
		}
		free(v);
	}
}

struct random_cfg {
	uint64_t seed;
	uint32_t page_size;
	int txs, ops;
	uint32_t space;
};

static void run_random(const struct random_cfg *cfg)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = cfg->page_size };
	struct mbucket *model = calloc(1, sizeof *model);
	char name[64];
	dm_bolt *db;

	snprintf(name, sizeof name, "random-%llu-%u.db", (ull)cfg->seed, cfg->page_size);
	rng_state = cfg->seed;
	db = NN(dm_bolt_open_opts(spath(name), DM_BOLT_CREATE, &opt, &err));
	for (int t = 0; t < cfg->txs; t++) {
		dm_bolt_tx *tx = NN(dm_bolt_begin(db, true, &err));
		struct mbucket *work = mclone(model);
		int nops = 1 + (int)rnd((uint32_t)cfg->ops);

		for (int i = 0; i < nops; i++)
			rnd_op(dm_bolt_root(tx), work, cfg->space);
		/* Reads inside the write tx see its own changes. */
		compare(dm_bolt_root(tx), work, 0);
		if (rnd(6) == 0) {
			dm_bolt_rollback(tx);
			mfree(work);
		} else {
			OK(dm_bolt_commit(tx, &err));
			mfree(model);
			model = work;
		}
		compare_db(db, model);
		if (rnd(8) == 0) {
			dm_bolt_close(db);
			db = NN(dm_bolt_open(spath(name), rnd(2) ? DM_BOLT_RDONLY : 0, &err));
			compare_db(db, model);
			dm_bolt_close(db);
			db = NN(dm_bolt_open(spath(name), 0, &err));
		}
	}
	dm_bolt_close(db);
	db = NN(dm_bolt_open(spath(name), DM_BOLT_RDONLY, &err));
	compare_db(db, model);
	{
		dm_bolt_stats st;

		dm_bolt_stats_get(db, &st);
		ck_assert_uint_eq(st.page_size, cfg->page_size ? cfg->page_size : (uint32_t)sysconf(_SC_PAGESIZE));
	}
	dm_bolt_close(db);
	mfree(model);
}

static const struct random_cfg random_cfgs[] = {
	{ 1, 0, 60, 60, 400 },   { 2, 0, 40, 200, 3000 }, { 3, 1024, 60, 60, 400 },
	{ 4, 0, 120, 20, 100 },  { 5, 8192, 40, 150, 2000 }, { 6, 0, 30, 400, 5000 },
	{ 7, 1024, 40, 150, 2000 }, { 8, 65536, 20, 300, 5000 },
};

START_TEST(random_sequences)
{
	scratch_setup();
	run_random(&random_cfgs[_i]);
	scratch_done("random");
}
END_TEST

/* ---- shapes bbolt writes ---- */

START_TEST(fresh_file_matches_bbolt)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 4096 };
	struct rawfile f;
	dm_bolt *db;

	scratch_setup();
	db = NN(dm_bolt_open_opts(spath("fresh.db"), DM_BOLT_CREATE, &opt, &err));
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	f = raw_load(spath("fresh.db"));
	ck_assert_uint_eq(f.len, 4 * 4096);
	/* The checksums from bbolt's own test and the spec (§4.3). */
	ck_assert_uint_eq(get64(f.b + M_SUM), 0x07516e114689fdeeull);
	ck_assert_uint_eq(get64(f.b + 4096 + M_SUM), 0x264c351a5179480full);
	ck_assert_uint_eq(get16(f.b + 2 * 4096 + 8), 0x10);
	ck_assert_uint_eq(get64(f.b + 3 * 4096), 3);
	ck_assert_uint_eq(get16(f.b + 3 * 4096 + 8), 0x02);
	free(f.b);

	/* An empty file opened read-write is initialised the same way. */
	close(open(spath("empty.db"), O_CREAT | O_WRONLY, 0600));
	ck_assert_ptr_null(dm_bolt_open(spath("empty.db"), DM_BOLT_RDONLY, &err));
	ck_assert_int_eq(err.code, DM_BOLT_ECORRUPT);
	db = NN(dm_bolt_open(spath("empty.db"), 0, &err));
	dm_bolt_close(db);
	ck_assert_ptr_null(dm_bolt_open(spath("missing.db"), 0, &err));
	ck_assert_int_eq(err.code, ENOENT);
	scratch_done("fresh");
}
END_TEST

/* The value a one-key bucket gets in its parent, given the key's value size. */
static uint32_t inline_probe(size_t vlen)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 4096 };
	dm_bolt *db = NN(dm_bolt_open_opts(spath("inline.db"), DM_BOLT_CREATE, &opt, &err));
	dm_bolt_tx *tx = NN(dm_bolt_begin(db, true, &err));
	dm_bolt_bucket *b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "b", 1, &err));
	uint8_t *v = calloc(1, vlen);
	struct rawfile f;
	const uint8_t *root, *k, *val;
	uint32_t kl, vl;

	OK(dm_bolt_put(b, "k", 1, v, vlen, &err));
	OK(dm_bolt_commit(tx, &err));
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	free(v);
	f = raw_load(spath("inline.db"));
	root = raw_page(&f, 4096, get64(f.b + raw_cur(&f, 4096) * 4096 + M_ROOT));
	raw_leaf_elem(root, 0, &k, &kl, &val, &vl);
	free(f.b);
	unlink(spath("inline.db"));
	return vl;
}

START_TEST(inline_threshold_matches_bbolt)
{
	scratch_setup();
	/* Spec §9.4, verified with bbolt: 991 bytes stay inline (1040-byte value),
	 * 992 bytes go to their own page (16-byte header). */
	ck_assert_uint_eq(inline_probe(991), 1040);
	ck_assert_uint_eq(inline_probe(992), 16);
	scratch_done("inline");
}
END_TEST

START_TEST(sequences_and_api_errors)
{
	dm_error err = { 0 };
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *root, *a, *big;
	uint64_t s;
	const void *v;
	size_t vl;
	char val[3000] = { 0 };

	scratch_setup();
	db = NN(dm_bolt_open(spath("seq.db"), DM_BOLT_CREATE, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	root = dm_bolt_root(tx);
	a = NN(dm_bolt_bucket_create(root, "a", 1, &err));
	big = NN(dm_bolt_bucket_create(root, "big", 3, &err));
	OK(dm_bolt_put(big, "x", 1, val, sizeof val, &err));
	for (uint64_t i = 1; i <= 3; i++) {
		OK(dm_bolt_next_sequence(a, &s, &err));
		ck_assert_uint_eq(s, i);
	}
	OK(dm_bolt_set_sequence(big, 0x1122334455667788ull, &err));
	/* Misuse is refused with the documented codes. */
	ck_assert_ptr_null(dm_bolt_begin(db, false, &err));
	ck_assert_int_eq(err.code, EBUSY);
	ck_assert_int_eq(dm_bolt_put(root, "k", 1, "v", 1, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_eq(dm_bolt_next_sequence(root, &s, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_eq(dm_bolt_put(a, "", 0, "v", 1, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_ptr_null(dm_bolt_bucket_create(root, "a", 1, &err));
	ck_assert_int_eq(err.code, EEXIST);
	OK(dm_bolt_put(a, "plain", 5, "v", 1, &err));
	ck_assert_ptr_null(dm_bolt_bucket_create(a, "plain", 5, &err));
	ck_assert_int_eq(err.code, ENOTDIR);
	ck_assert_ptr_null(dm_bolt_bucket_create_if_missing(a, "plain", 5, &err));
	ck_assert_int_eq(err.code, ENOTDIR);
	ck_assert_ptr_null(dm_bolt_bucket_get(a, "plain", 5, &err));
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_int_eq(dm_bolt_bucket_delete(a, "plain", 5, &err), -1);
	ck_assert_int_eq(err.code, ENOTDIR);
	ck_assert_ptr_nonnull(dm_bolt_bucket_create(a, "sub", 3, &err));
	ck_assert_ptr_eq(dm_bolt_bucket_create_if_missing(a, "sub", 3, &err),
			 dm_bolt_bucket_get(a, "sub", 3, &err));
	ck_assert_int_eq(dm_bolt_put(a, "sub", 3, "v", 1, &err), -1);
	ck_assert_int_eq(err.code, EISDIR);
	ck_assert_int_eq(dm_bolt_del(a, "sub", 3, &err), -1);
	ck_assert_int_eq(err.code, EISDIR);
	ck_assert_int_eq(dm_bolt_get(a, "sub", 3, &v, &vl, &err), 0);
	ck_assert_int_eq(dm_bolt_get(a, "nope", 4, &v, &vl, &err), 0);
	OK(dm_bolt_del(a, "nope", 4, &err));
	ck_assert_ptr_null(dm_bolt_bucket_get(root, "nope", 4, &err));
	ck_assert_int_eq(err.code, ENOENT);
	OK(dm_bolt_commit(tx, &err));

	dm_bolt_close(db);
	db = NN(dm_bolt_open(spath("seq.db"), DM_BOLT_RDONLY, &err));
	ck_assert_ptr_null(dm_bolt_begin(db, true, &err));
	ck_assert_int_eq(err.code, EROFS);
	tx = NN(dm_bolt_begin(db, false, &err));
	a = NN(dm_bolt_bucket_get(dm_bolt_root(tx), "a", 1, &err));
	ck_assert_uint_eq(dm_bolt_sequence(a), 3);
	ck_assert_uint_eq(dm_bolt_sequence(NN(dm_bolt_bucket_get(dm_bolt_root(tx), "big", 3, &err))),
			  0x1122334455667788ull);
	ck_assert_int_eq(dm_bolt_put(a, "k", 1, "v", 1, &err), -1);
	ck_assert_int_eq(err.code, EROFS);
	OK(dm_bolt_commit(tx, &err)); /* ends a read-only tx */
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	scratch_done("seq");
}
END_TEST

START_TEST(cursor_seek_and_changes)
{
	dm_error err = { 0 };
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *b;
	dm_bolt_cursor *c;
	dm_bolt_kv kv;
	char k[16];
	int n;

	scratch_setup();
	db = NN(dm_bolt_open(spath("cursor.db"), DM_BOLT_CREATE, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "b", 1, &err));
	for (int i = 0; i < 2000; i += 2) {
		snprintf(k, sizeof k, "%05d", i);
		OK(dm_bolt_put(b, k, 5, k, 5, &err));
	}
	OK(dm_bolt_commit(tx, &err));

	tx = NN(dm_bolt_begin(db, true, &err));
	b = NN(dm_bolt_bucket_get(dm_bolt_root(tx), "b", 1, &err));
	c = NN(dm_bolt_cursor_open(b, &err));
	ck_assert_int_eq(dm_bolt_cursor_seek(c, "00999", 5, &kv, &err), 1);
	ck_assert(kv.klen == 5 && !memcmp(kv.key, "01000", 5));
	ck_assert_int_eq(dm_bolt_cursor_seek(c, "1", 1, &kv, &err), 0);
	ck_assert_int_eq(dm_bolt_cursor_seek(c, "", 0, &kv, &err), 1);
	ck_assert(!memcmp(kv.key, "00000", 5));
	/* Deleting every key while iterating visits each exactly once. */
	n = 0;
	for (int rc = dm_bolt_cursor_first(c, &kv, &err); rc == 1; rc = dm_bolt_cursor_next(c, &kv, &err)) {
		snprintf(k, sizeof k, "%05d", 2 * n);
		ck_assert(!memcmp(kv.key, k, 5));
		OK(dm_bolt_del(b, kv.key, kv.klen, &err));
		n++;
	}
	ck_assert_int_eq(n, 1000);
	ck_assert_int_eq(dm_bolt_cursor_first(c, &kv, &err), 0);
	OK(dm_bolt_commit(tx, &err));
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	scratch_done("cursor");
}
END_TEST

/* A commit touches what changed, not the whole file. */
START_TEST(commit_cost_is_local)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 4096 };
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *b;
	dm_bolt_stats st;
	char k[32], v[100] = { 0 };

	scratch_setup();
	db = NN(dm_bolt_open_opts(spath("cost.db"), DM_BOLT_CREATE, &opt, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "b", 1, &err));
	/* In key order: random order would make this one big node's inserts quadratic. */
	for (int i = 0; i < 50000; i++) {
		snprintf(k, sizeof k, "key%08d", i);
		OK(dm_bolt_put(b, k, strlen(k), v, sizeof v, &err));
	}
	OK(dm_bolt_commit(tx, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_gt(st.high_water, 1000);
	for (int round = 0; round < 5; round++) {
		tx = NN(dm_bolt_begin(db, true, &err));
		b = NN(dm_bolt_bucket_get(dm_bolt_root(tx), "b", 1, &err));
		snprintf(k, sizeof k, "new%d", round);
		OK(dm_bolt_put(b, k, strlen(k), v, sizeof v, &err));
		OK(dm_bolt_commit(tx, &err));
		dm_bolt_stats_get(db, &st);
		/* leaf, branch path, root bucket leaf, freelist, meta */
		ck_assert_uint_le(st.commit_pages, 8);
		ck_assert_uint_le(st.commit_syncs, 3);
	}
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	scratch_done("cost");
}
END_TEST

/* 70 000 freed 1 KiB pages need the 0xFFFF count escape (spec §5.1). */
START_TEST(large_freelist_escape)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 1024 };
	size_t vlen = 70000u * 1024;
	uint8_t *v = calloc(1, vlen);
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *b;
	dm_bolt_stats st;
	struct rawfile f;
	const uint8_t *fl;

	scratch_setup();
	db = NN(dm_bolt_open_opts(spath("bigfree.db"), DM_BOLT_CREATE, &opt, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "b", 1, &err));
	OK(dm_bolt_put(b, "big", 3, v, vlen, &err));
	OK(dm_bolt_put(b, "small", 5, "x", 1, &err));
	OK(dm_bolt_commit(tx, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	OK(dm_bolt_del(NN(dm_bolt_bucket_get(dm_bolt_root(tx), "b", 1, &err)), "big", 3, &err));
	OK(dm_bolt_commit(tx, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_gt(st.free_pages, 0xFFFF);
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	free(v);

	f = raw_load(spath("bigfree.db"));
	fl = raw_page(&f, 1024, get64(f.b + raw_cur(&f, 1024) * 1024 + M_FREELIST));
	ck_assert_uint_eq(get16(fl + 10), 0xFFFF);
	ck_assert_uint_eq(get64(fl + 16), st.free_pages);
	free(f.b);
	db = NN(dm_bolt_open(spath("bigfree.db"), 0, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_gt(st.free_pages, 0xFFFF);
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	scratch_done("bigfree");
}
END_TEST

/* bbolt's NoFreelistSync leaves no freelist page; we rebuild it and write one. */
START_TEST(no_freelist_is_rebuilt)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 4096 };
	struct mbucket *model = calloc(1, sizeof *model);
	dm_bolt *db;
	dm_bolt_tx *tx;
	struct rawfile f;
	dm_bolt_stats st;

	scratch_setup();
	rng_state = 99;
	db = NN(dm_bolt_open_opts(spath("nofl.db"), DM_BOLT_CREATE, &opt, &err));
	for (int t = 0; t < 10; t++) {
		tx = NN(dm_bolt_begin(db, true, &err));
		for (int i = 0; i < 100; i++)
			rnd_op(dm_bolt_root(tx), model, 500);
		OK(dm_bolt_commit(tx, &err));
	}
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_gt(st.free_pages, 0);
	dm_bolt_close(db);
	f = raw_load(spath("nofl.db"));
	for (int slot = 0; slot < 2; slot++) {
		put64(f.b + slot * 4096 + M_FREELIST, UINT64_MAX);
		raw_fix_sum(&f, 4096, slot);
	}
	raw_save(spath("nofl.db"), &f);
	free(f.b);
	db = NN(dm_bolt_open(spath("nofl.db"), DM_BOLT_RDONLY, &err));
	compare_db(db, model);
	dm_bolt_close(db);
	db = NN(dm_bolt_open(spath("nofl.db"), 0, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_gt(st.free_pages, 0);
	tx = NN(dm_bolt_begin(db, true, &err));
	rnd_op(dm_bolt_root(tx), model, 500);
	OK(dm_bolt_commit(tx, &err));
	compare_db(db, model);
	dm_bolt_close(db);
	f = raw_load(spath("nofl.db"));
	ck_assert_uint_ne(get64(f.b + raw_cur(&f, 4096) * 4096 + M_FREELIST), UINT64_MAX);
	free(f.b);
	mfree(model);
	scratch_done("nofl");
}
END_TEST

/* ---- locking ---- */

/* Opens path in a child process; returns the child's err.code (0 on success). */
static int open_in_child(const char *path, int flags)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dm_error err = { 0 };
		dm_bolt *db = dm_bolt_open(path, flags, &err);

		dm_bolt_close(db);
		_exit(db ? 0 : (err.code & 0xff));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(lock_is_exclusive_and_nonblocking)
{
	dm_error err = { 0 };
	/* static: the children _exit with these open, and valgrind's leak check
	 * of a child must find them reachable (its verdict is the exit status). */
	static dm_bolt *db, *ro, *ro2;

	scratch_setup();
	db = NN(dm_bolt_open(spath("lock.db"), DM_BOLT_CREATE, &err));
	ck_assert_int_eq(open_in_child(spath("lock.db"), 0), EWOULDBLOCK);
	ck_assert_int_eq(open_in_child(spath("lock.db"), DM_BOLT_RDONLY), EWOULDBLOCK);
	/* flock belongs to the open file description, so this process is refused too. */
	ck_assert_ptr_null(dm_bolt_open(spath("lock.db"), 0, &err));
	ck_assert_int_eq(err.code, EWOULDBLOCK);
	ck_assert_ptr_nonnull(strstr(err.msg, "locked"));
	dm_bolt_close(db);
	ck_assert_int_eq(open_in_child(spath("lock.db"), 0), 0);

	/* Readers share the lock and keep writers out. */
	ro = NN(dm_bolt_open(spath("lock.db"), DM_BOLT_RDONLY, &err));
	ro2 = NN(dm_bolt_open(spath("lock.db"), DM_BOLT_RDONLY, &err));
	ck_assert_int_eq(open_in_child(spath("lock.db"), DM_BOLT_RDONLY), 0);
	ck_assert_int_eq(open_in_child(spath("lock.db"), 0), EWOULDBLOCK);
	dm_bolt_close(ro);
	dm_bolt_close(ro2);
	ck_assert_int_eq(open_in_child(spath("lock.db"), 0), 0);
	scratch_done("lock");
}
END_TEST

/* ---- damaged files ---- */

/* A database with a bucket "b" of 500 keys (a branch root), an inline bucket
 * "c" and a bucket "d" with two sub-buckets on pages of their own. */
static void make_victim(const char *path)
{
	dm_error err = { 0 };
	dm_bolt_options opt = { .page_size = 4096 };
	dm_bolt *db = NN(dm_bolt_open_opts(path, DM_BOLT_CREATE, &opt, &err));
	dm_bolt_tx *tx = NN(dm_bolt_begin(db, true, &err));
	dm_bolt_bucket *b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "b", 1, &err));
	char k[16], v[64] = { 0 }, big[2000] = { 0 };

	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof k, "%05d", i);
		OK(dm_bolt_put(b, k, 5, v, sizeof v, &err));
	}
	OK(dm_bolt_put(NN(dm_bolt_bucket_create(dm_bolt_root(tx), "c", 1, &err)), "k", 1, "v", 1, &err));
	b = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "d", 1, &err));
	OK(dm_bolt_put(NN(dm_bolt_bucket_create(b, "x", 1, &err)), "k", 1, big, sizeof big, &err));
	OK(dm_bolt_put(NN(dm_bolt_bucket_create(b, "y", 1, &err)), "k", 1, big, sizeof big, &err));
	OK(dm_bolt_commit(tx, &err));
	dm_bolt_close(db);
}

/* Opens path and reads everything; returns the first error code (0 if none).
 * A damaged file must fail somewhere between open and check, never crash. */
static int open_and_walk(const char *path, dm_error *err)
{
	dm_bolt *db = dm_bolt_open(path, DM_BOLT_RDONLY, err);
	dm_bolt_tx *tx;
	dm_bolt_cursor *c;
	dm_bolt_kv kv;
	int rc = 0;

	if (!db)
		return err->code;
	tx = dm_bolt_begin(db, false, err);
	c = dm_bolt_cursor_open(dm_bolt_root(tx), err);
	for (int r = dm_bolt_cursor_first(c, &kv, err); r != 0; r = dm_bolt_cursor_next(c, &kv, err)) {
		dm_bolt_bucket *b;
		dm_bolt_cursor *bc;
		dm_bolt_kv bkv;
		int r2;

		if (r < 0 || !(b = dm_bolt_bucket_get(dm_bolt_root(tx), kv.key, kv.klen, err))) {
			rc = err->code;
			break;
		}
		bc = dm_bolt_cursor_open(b, err);
		while ((r2 = dm_bolt_cursor_next(bc, &bkv, err)) == 1)
			;
		if (r2 < 0) {
			rc = err->code;
			break;
		}
	}
	dm_bolt_rollback(tx);
	if (rc == 0 && dm_bolt_check(db, err) < 0)
		rc = err->code;
	dm_bolt_close(db);
	return rc;
}

typedef void (*damage_fn)(struct rawfile *f);

static void dmg_magic(struct rawfile *f)
{
	put32(f->b + 16, 0xdeadbeef);
	put32(f->b + 4096 + 16, 0xdeadbeef);
}

static void dmg_both_sums(struct rawfile *f)
{
	f->b[M_SUM] ^= 1;
	f->b[4096 + M_SUM] ^= 1;
}

static void dmg_version(struct rawfile *f)
{
	for (int s = 0; s < 2; s++) {
		put32(f->b + s * 4096 + 20, 3);
		raw_fix_sum(f, 4096, s);
	}
}

static void dmg_root_range(struct rawfile *f)
{
	int s = raw_cur(f, 4096);

	put64(f->b + s * 4096 + M_ROOT, get64(f->b + s * 4096 + M_PGID) + 5);
	raw_fix_sum(f, 4096, s);
}

static void dmg_truncate(struct rawfile *f)
{
	f->len = (get64(f->b + raw_cur(f, 4096) * 4096 + M_PGID) - 1) * 4096;
}

static void dmg_branch_range(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));

	ck_assert_uint_eq(get16(br + 8), 0x01);
	put64(br + 16 + 16 + 8, 1u << 30);
}

static void dmg_cycle(struct rawfile *f)
{
	uint64_t id = raw_bucket_root(f, 4096, 0);
	uint8_t *br = raw_page(f, 4096, id);

	put64(br + 16 + 16 + 8, id);
}

static void dmg_shared_child(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));

	put64(br + 16 + 16 + 8, get64(br + 16 + 8));
}

static void dmg_huge_count(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));

	put16(raw_page(f, 4096, get64(br + 16 + 8)) + 10, 0xFFFE);
}

static void dmg_key_bounds(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));
	uint8_t *leaf = raw_page(f, 4096, get64(br + 16 + 16 + 8));

	put32(leaf + 16 + 8, 0x7FFFFFF0);
}

static void dmg_page_flags(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));

	put16(raw_page(f, 4096, get64(br + 16 + 8)) + 8, 0x03);
}

static void dmg_page_id(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));
	uint8_t *leaf = raw_page(f, 4096, get64(br + 16 + 8));

	put64(leaf, get64(leaf) + 1);
}

static void dmg_overflow(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));

	put32(raw_page(f, 4096, get64(br + 16 + 8)) + 12, 0xFFFFFFF0);
}

static void dmg_key_order(struct rawfile *f)
{
	uint8_t *br = raw_page(f, 4096, raw_bucket_root(f, 4096, 0));
	uint8_t *leaf = raw_page(f, 4096, get64(br + 16 + 8));
	const uint8_t *k, *v;
	uint32_t kl, vl;

	raw_leaf_elem(leaf, 3, &k, &kl, &v, &vl);
	((uint8_t *)k)[0] = '9';
}

static void dmg_freelist_dup(struct rawfile *f)
{
	uint8_t *fl = raw_page(f, 4096, get64(f->b + raw_cur(f, 4096) * 4096 + M_FREELIST));

	ck_assert_uint_ge(get16(fl + 10), 2);
	put64(fl + 24, get64(fl + 16));
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = get64(a), y = get64(b);

	return (x > y) - (x < y);
}

static void dmg_freelist_reachable(struct rawfile *f)
{
	uint8_t *fl = raw_page(f, 4096, get64(f->b + raw_cur(f, 4096) * 4096 + M_FREELIST));

	/* Still sorted, so only the overlap with the tree is wrong. */
	put64(fl + 16, raw_bucket_root(f, 4096, 0));
	qsort(fl + 16, get16(fl + 10), 8, cmp_id);
}

static void dmg_inline_id(struct rawfile *f)
{
	const uint8_t *root = raw_page(f, 4096, get64(f->b + raw_cur(f, 4096) * 4096 + M_ROOT));
	const uint8_t *k, *v;
	uint32_t kl, vl;

	raw_leaf_elem(root, 1, &k, &kl, &v, &vl);
	ck_assert_uint_eq(get64(v), 0);
	put64((uint8_t *)v + 16, 4);
}

static void dmg_garbage(struct rawfile *f)
{
	f->len = 3000;
	memset(f->b, 0x5a, f->len);
}

static const struct {
	const char *name;
	damage_fn fn;
	const char *msg;
	const char *rw_msg; /* if set, a read-write open fails with it */
} damages[] = {
	{ "magic", dmg_magic, "bad magic", NULL },
	{ "sums", dmg_both_sums, "checksum", NULL },
	{ "version", dmg_version, "version", NULL },
	{ "root-range", dmg_root_range, "out of range", NULL },
	{ "truncated", dmg_truncate, "truncated", NULL },
	{ "branch-range", dmg_branch_range, "out of range", NULL },
	{ "cycle", dmg_cycle, "", NULL },
	{ "shared-child", dmg_shared_child, "", NULL },
	{ "huge-count", dmg_huge_count, "do not fit", NULL },
	{ "key-bounds", dmg_key_bounds, "past the page end", NULL },
	{ "page-flags", dmg_page_flags, "flags", NULL },
	{ "page-id", dmg_page_id, "header says id", NULL },
	{ "overflow", dmg_overflow, "overflow", NULL },
	{ "key-order", dmg_key_order, "", NULL },
	{ "freelist-dup", dmg_freelist_dup, "ascending order", "already freed" },
	{ "freelist-reachable", dmg_freelist_reachable, "reachable freed", NULL },
	{ "inline-id", dmg_inline_id, "inline bucket page", NULL },
	{ "garbage", dmg_garbage, "invalid database", NULL },
};

START_TEST(damaged_files_are_rejected)
{
	dm_error err = { 0 };
	struct rawfile f;
	char name[64];

	scratch_setup();
	make_victim(spath("victim.db"));
	ck_assert_int_eq(open_and_walk(spath("victim.db"), &err), 0);
	f = raw_load(spath("victim.db"));
	damages[_i].fn(&f);
	snprintf(name, sizeof name, "bad-%s.db", damages[_i].name);
	close(open(spath(name), O_CREAT | O_WRONLY, 0600));
	raw_save(spath(name), &f);
	free(f.b);
	dm_err_clear(&err);
	ck_assert_int_eq(open_and_walk(spath(name), &err), DM_BOLT_ECORRUPT);
	ck_assert_msg(strstr(err.msg, damages[_i].msg) && strstr(err.msg, name),
		      "%s: unexpected message: %s", damages[_i].name, err.msg);
	/* A write transaction on it fails cleanly as well (or open already did). */
	{
		dm_bolt *db = dm_bolt_open(spath(name), 0, &err);

		if (damages[_i].rw_msg) {
			ck_assert_ptr_null(db);
			ck_assert_ptr_nonnull(strstr(err.msg, damages[_i].rw_msg));
		}
		if (db) {
			dm_bolt_tx *tx = NN(dm_bolt_begin(db, true, &err));
			dm_bolt_bucket *b = dm_bolt_bucket_get(dm_bolt_root(tx), "b", 1, &err);

			/* The last leaves only: the damage is in the first ones. */
			for (int i = 400; b && i < 500; i++) {
				char k[16];

				snprintf(k, sizeof k, "%05d", i);
				if (dm_bolt_del(b, k, 5, &err) < 0)
					break;
			}
			if (dm_bolt_commit(tx, &err) == 0)
				ck_assert_int_eq(dm_bolt_check(db, &err), -1);
			dm_bolt_close(db);
		}
	}
	unlink(spath(name));
	scratch_done("damaged");
}
END_TEST

/* Bucket "d" of make_victim holds two non-inline sub-buckets; make the
 * second share the first one's pages. */
static void dmg_shared_bucket(struct rawfile *f)
{
	const uint8_t *d = raw_page(f, 4096, raw_bucket_root(f, 4096, 2));
	const uint8_t *k, *x, *y;
	uint32_t kl, vl;

	ck_assert_uint_eq(get16(d + 10), 2);
	raw_leaf_elem(d, 0, &k, &kl, &x, &vl);
	raw_leaf_elem(d, 1, &k, &kl, &y, &vl);
	ck_assert_uint_ne(get64(x), 0);
	put64((uint8_t *)y, get64(x));
}

/* Deleting a bucket whose pages are reached twice fails instead of freeing
 * them twice (or, with deeper sharing, running for ever). */
START_TEST(deleting_damaged_bucket_fails)
{
	static const struct {
		damage_fn fn;
		const char *bucket, *msg;
		int commit_rc; /* nothing changed yet (0), or a half-done delete (-1) */
	} cases[] = {
		{ dmg_cycle, "b", "keys out of order", 0 },
		{ dmg_shared_child, "b", "keys out of order", 0 },
		{ dmg_shared_bucket, "d", ": reached twice", -1 },
	};
	dm_error err = { 0 };
	struct rawfile f;
	dm_bolt *db;
	dm_bolt_tx *tx;

	scratch_setup();
	make_victim(spath("bad-dag.db"));
	f = raw_load(spath("bad-dag.db"));
	cases[_i].fn(&f);
	raw_save(spath("bad-dag.db"), &f);
	free(f.b);
	db = NN(dm_bolt_open(spath("bad-dag.db"), 0, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	ck_assert_int_eq(dm_bolt_bucket_delete(dm_bolt_root(tx), cases[_i].bucket, 1, &err), -1);
	ck_assert_int_eq(err.code, DM_BOLT_ECORRUPT);
	ck_assert_msg(strstr(err.msg, cases[_i].msg), "%s", err.msg);
	ck_assert_int_eq(dm_bolt_commit(tx, &err), cases[_i].commit_rc);
	tx = NN(dm_bolt_begin(db, false, &err));
	NN(dm_bolt_bucket_get(dm_bolt_root(tx), cases[_i].bucket, 1, &err));
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
	scratch_done("dag");
}
END_TEST

/* With one meta damaged, the other (older) one is used, as bbolt does. */
START_TEST(one_bad_meta_falls_back)
{
	dm_error err = { 0 };
	struct rawfile f;
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_stats st;

	scratch_setup();
	make_victim(spath("fb.db"));
	f = raw_load(spath("fb.db"));
	ck_assert_int_eq(raw_cur(&f, 4096), 0);
	f.b[M_SUM] ^= 0x40;
	raw_save(spath("fb.db"), &f);
	free(f.b);
	db = NN(dm_bolt_open(spath("fb.db"), 0, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_eq(st.txid, 1);
	tx = NN(dm_bolt_begin(db, false, &err));
	ck_assert_ptr_null(dm_bolt_bucket_get(dm_bolt_root(tx), "b", 1, &err));
	dm_bolt_rollback(tx);
	OK(dm_bolt_check(db, &err));
	/* The next commit (txid 2) rewrites the damaged slot. */
	tx = NN(dm_bolt_begin(db, true, &err));
	NN(dm_bolt_bucket_create(dm_bolt_root(tx), "x", 1, &err));
	OK(dm_bolt_commit(tx, &err));
	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
	scratch_done("fallback");
}
END_TEST

/* Deleting nested buckets frees every page they used. */
START_TEST(bucket_delete_frees_pages)
{
	dm_error err = { 0 };
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *a, *b;
	dm_bolt_stats before, after;
	char k[16], v[300] = { 0 };

	scratch_setup();
	db = NN(dm_bolt_open(spath("del.db"), DM_BOLT_CREATE, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	NN(dm_bolt_bucket_create(dm_bolt_root(tx), "keep", 4, &err));
	OK(dm_bolt_commit(tx, &err));
	dm_bolt_stats_get(db, &before);
	tx = NN(dm_bolt_begin(db, true, &err));
	a = NN(dm_bolt_bucket_create(dm_bolt_root(tx), "a", 1, &err));
	for (int j = 0; j < 5; j++) {
		snprintf(k, sizeof k, "sub%d", j);
		b = NN(dm_bolt_bucket_create(a, k, strlen(k), &err));
		for (int i = 0; i < 200; i++) {
			snprintf(k, sizeof k, "%05d", i);
			OK(dm_bolt_put(b, k, 5, v, sizeof v, &err));
		}
		OK(dm_bolt_put(NN(dm_bolt_bucket_create(b, "deeper", 6, &err)), "k", 1, v, 20, &err));
	}
	OK(dm_bolt_commit(tx, &err));
	OK(dm_bolt_check(db, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	OK(dm_bolt_bucket_delete(dm_bolt_root(tx), "a", 1, &err));
	ck_assert_ptr_null(dm_bolt_bucket_get(dm_bolt_root(tx), "a", 1, &err));
	OK(dm_bolt_commit(tx, &err));
	OK(dm_bolt_check(db, &err));
	dm_bolt_stats_get(db, &after);
	/* Everything but the two root-bucket pages and the freelist is free again. */
	ck_assert_uint_ge(after.free_pages + 4, after.high_water - before.high_water + before.free_pages);
	dm_bolt_close(db);
	scratch_done("delete");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bolt");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, random_sequences, 0, sizeof random_cfgs / sizeof *random_cfgs);
	tcase_add_test(tc, fresh_file_matches_bbolt);
	tcase_add_test(tc, inline_threshold_matches_bbolt);
	tcase_add_test(tc, sequences_and_api_errors);
	tcase_add_test(tc, cursor_seek_and_changes);
	tcase_add_test(tc, commit_cost_is_local);
	tcase_add_test(tc, large_freelist_escape);
	tcase_add_test(tc, no_freelist_is_rebuilt);
	tcase_add_test(tc, lock_is_exclusive_and_nonblocking);
	tcase_add_loop_test(tc, damaged_files_are_rejected, 0, sizeof damages / sizeof *damages);
	tcase_add_loop_test(tc, deleting_damaged_bucket_fails, 0, 3);
	tcase_add_test(tc, one_bad_meta_falls_back);
	tcase_add_test(tc, bucket_delete_frees_pages);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
