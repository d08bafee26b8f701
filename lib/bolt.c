/* bolt: the file, its lock, meta pages, freelist and transactions.  The
 * B+tree itself is in bolt_tree.c, the checker in bolt_check.c. */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bolt_int.h"

typedef unsigned long long ull;

int bolt_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

int bolt_reserve(void *arr, size_t *cap, size_t need, size_t elsz, dm_error *err)
{
	void **p = arr;
	size_t ncap = *cap ? *cap : 8;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*p, ncap * elsz);
	if (!n)
		return dm_err_nomem(err);
	*p = n;
	*cap = ncap;
	return 0;
}

static int vcorrupt(const dm_bolt *db, dm_error *err, const char *fmt, va_list ap)
{
	char msg[DM_ERR_MSG_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	return dm_err_set(err, DM_BOLT_ECORRUPT, "%s: %s", db->path, msg);
}

static int db_corrupt(const dm_bolt *db, dm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int db_corrupt(const dm_bolt *db, dm_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcorrupt(db, err, fmt, ap);
	va_end(ap);
	return -1;
}

int bolt_corrupt(const dm_bolt_tx *tx, dm_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcorrupt(tx->db, err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- hash map ---- */

static const char map_tomb_mark;
#define MAP_TOMB ((void *)&map_tomb_mark)

static uint32_t map_hash(const uint8_t *k, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *k++) * 16777619u;
	return h;
}

static struct bolt_map_ent *map_find(const struct bolt_map *m, const void *key, size_t klen,
				     uint32_t h)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct bolt_map_ent *e = &m->e[i];

		if (!e->key && e->val != MAP_TOMB)
			return NULL;
		if (e->key && e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
			return e;
	}
}

void *bolt_map_get(const struct bolt_map *m, const void *key, size_t klen)
{
	struct bolt_map_ent *e;

	if (!m->cap)
		return NULL;
	e = map_find(m, key, klen, map_hash(key, klen));
	return e ? e->val : NULL;
}

static void map_insert(struct bolt_map *m, const uint8_t *key, uint32_t klen, uint32_t h, void *val)
{
	size_t mask = m->cap - 1, i = h & mask;

	while (m->e[i].key)
		i = (i + 1) & mask;
	if (m->e[i].val != MAP_TOMB)
		m->used++;
	m->e[i] = (struct bolt_map_ent){ key, val, klen, h };
	m->live++;
}

int bolt_map_put(struct bolt_map *m, const void *key, size_t klen, void *val)
{
	uint32_t h = map_hash(key, klen);
	struct bolt_map_ent *e = m->cap ? map_find(m, key, klen, h) : NULL;

	if (e) {
		e->val = val;
		return 0;
	}
	if ((m->used + 1) * 4 > m->cap * 3) {
		struct bolt_map old = *m;
		size_t ncap = 16;

		while (ncap * 3 < (m->live + 1) * 8)
			ncap *= 2;
		m->e = calloc(ncap, sizeof *m->e);
		if (!m->e) {
			*m = old;
			return -1;
		}
		m->cap = ncap;
		m->used = m->live = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.e[i].key)
				map_insert(m, old.e[i].key, old.e[i].klen, old.e[i].hash, old.e[i].val);
		free(old.e);
	}
	map_insert(m, key, (uint32_t)klen, h, val);
	return 0;
}

void bolt_map_del(struct bolt_map *m, const void *key, size_t klen)
{
	struct bolt_map_ent *e = m->cap ? map_find(m, key, klen, map_hash(key, klen)) : NULL;

	if (e) {
		e->key = NULL;
		e->val = MAP_TOMB;
		m->live--;
	}
}

void **bolt_map_values(const struct bolt_map *m, size_t *n)
{
	void **v = malloc((m->live ? m->live : 1) * sizeof *v);

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].key)
			v[(*n)++] = m->e[i].val;
	return v;
}

void bolt_map_free(struct bolt_map *m)
{
	free(m->e);
	*m = (struct bolt_map){ 0 };
}

/* ---- per-transaction arena for copied keys and values ---- */

struct bolt_arena_chunk {
	struct bolt_arena_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

#define ARENA_CHUNK (64u << 10)

uint8_t *bolt_arena_alloc(dm_bolt_tx *tx, size_t len, dm_error *err)
{
	struct bolt_arena_chunk *c = tx->arena;
	size_t cap = len > ARENA_CHUNK / 4 ? len : ARENA_CHUNK;

	if (c && c->cap - c->used >= len) {
		c->used += len;
		return c->data + c->used - len;
	}
	c = malloc(sizeof *c + cap);
	if (!c) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: %zu bytes: ", tx->db->path, len);
		return NULL;
	}
	c->used = len;
	c->cap = cap;
	/* A big one-off allocation must not retire the current chunk's free space. */
	if (cap == len && tx->arena) {
		c->next = tx->arena->next;
		tx->arena->next = c;
	} else {
		c->next = tx->arena;
		tx->arena = c;
	}
	return c->data;
}

uint8_t *bolt_arena_dup(dm_bolt_tx *tx, const void *p, size_t len, dm_error *err)
{
	uint8_t *d = bolt_arena_alloc(tx, len, err);

	if (d && len)
		memcpy(d, p, len);
	return d;
}

/* ---- meta pages ---- */

static uint64_t fnv64a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void meta_decode(const uint8_t *page, struct bolt_meta *m)
{
	const uint8_t *p = page + BOLT_META_OFF;

	m->magic = bolt_get32(p);
	m->version = bolt_get32(p + 4);
	m->page_size = bolt_get32(p + 8);
	m->flags = bolt_get32(p + 12);
	m->root = bolt_get64(p + 16);
	m->sequence = bolt_get64(p + 24);
	m->freelist = bolt_get64(p + 32);
	m->pgid = bolt_get64(p + 40);
	m->txid = bolt_get64(p + 48);
	m->checksum = bolt_get64(p + 56);
}

/* Writes header and meta into a zeroed page buffer for slot id. */
static void meta_encode(const struct bolt_meta *m, uint64_t id, uint8_t *page)
{
	uint8_t *p = page + BOLT_META_OFF;

	bolt_put64(page, id);
	bolt_put16(page + 8, BOLT_F_META);
	bolt_put32(p, BOLT_MAGIC);
	bolt_put32(p + 4, BOLT_VERSION);
	bolt_put32(p + 8, m->page_size);
	bolt_put32(p + 12, 0);
	bolt_put64(p + 16, m->root);
	bolt_put64(p + 24, m->sequence);
	bolt_put64(p + 32, m->freelist);
	bolt_put64(p + 40, m->pgid);
	bolt_put64(p + 48, m->txid);
	bolt_put64(p + 56, fnv64a(p, BOLT_META_SUMMED));
}

/* bbolt's meta.validate(): NULL if valid, else why not (in buf). */
static const char *meta_invalid(const uint8_t *page, struct bolt_meta *m, char *buf, size_t len)
{
	meta_decode(page, m);
	if (m->magic != BOLT_MAGIC)
		snprintf(buf, len, "bad magic 0x%08x", m->magic);
	else if (m->version != BOLT_VERSION)
		snprintf(buf, len, "unsupported version %u", m->version);
	else if (m->checksum != fnv64a(page + BOLT_META_OFF, BOLT_META_SUMMED))
		snprintf(buf, len, "checksum mismatch");
	else
		return NULL;
	return buf;
}

static bool page_size_ok(uint64_t ps)
{
	return ps >= BOLT_MIN_PAGE && ps <= BOLT_MAX_PAGE && !(ps & (ps - 1));
}

/* bbolt's mmapSize(): 32 KiB doubling to 1 GiB, then whole GiBs. */
static uint64_t bolt_mmap_size(uint64_t size, uint32_t psz)
{
	const uint64_t step = 1ull << 30;

	for (unsigned i = 15; i <= 30; i++)
		if (size <= 1ull << i)
			return 1ull << i;
	size = (size + step - 1) / step * step;
	return (size + psz - 1) / psz * psz;
}

/* ---- file I/O ---- */

static int pwrite_all(dm_bolt *db, const void *buf, size_t len, uint64_t off, dm_error *err)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(db->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return dm_err_sys(err, "%s: write at offset %llu", db->path, (ull)off);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int db_sync(dm_bolt *db, dm_error *err)
{
	db->last.commit_syncs++;
	if (fdatasync(db->fd) < 0)
		return dm_err_sys(err, "%s: fdatasync", db->path);
	return 0;
}

static int db_map(dm_bolt *db, dm_error *err)
{
	uint64_t len = bolt_mmap_size(db->file_size, db->page_size);
	void *m;

	if (len > SIZE_MAX)
		return dm_err_set(err, EFBIG, "%s: too large to map", db->path);
	if (db->map && db->map_len >= db->file_size)
		return 0;
	m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, db->fd, 0);
	if (m == MAP_FAILED)
		return dm_err_sys(err, "%s: mmap of %llu bytes", db->path, (ull)len);
	if (db->map)
		munmap((void *)db->map, (size_t)db->map_len);
	madvise(m, (size_t)len, MADV_RANDOM);
	db->map = m;
	db->map_len = len;
	return 0;
}

/* The four pages bbolt's db.init() writes. */
static int db_init_file(dm_bolt *db, uint32_t psz, dm_error *err)
{
	uint8_t *buf = calloc(4, psz);
	int rc;

	if (!buf) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", db->path);
	}
	for (uint64_t i = 0; i < 2; i++) {
		struct bolt_meta m = { .page_size = psz, .root = 3, .freelist = 2, .pgid = 4, .txid = i };

		meta_encode(&m, i, buf + i * psz);
	}
	bolt_put64(buf + 2 * psz, 2);
	bolt_put16(buf + 2 * psz + 8, BOLT_F_FREELIST);
	bolt_put64(buf + 3 * psz, 3);
	bolt_put16(buf + 3 * psz + 8, BOLT_F_LEAF);
	rc = pwrite_all(db, buf, 4 * (size_t)psz, 0, err);
	free(buf);
	if (rc == 0 && fdatasync(db->fd) < 0)
		rc = dm_err_sys(err, "%s: fdatasync", db->path);
	db->file_size = 4ull * psz;
	return rc;
}

/* bbolt's getPageSize(): meta 0's page size, else probe for meta 1. */
static int db_page_size(dm_bolt *db, dm_error *err)
{
	uint8_t page[BOLT_META_OFF + 64];
	char why0[128], why1[128];
	struct bolt_meta m;
	const char *bad;

	if (pread(db->fd, page, sizeof page, 0) != (ssize_t)sizeof page)
		return db_corrupt(db, err, "invalid database: file of %llu bytes is too short",
				  (ull)db->file_size);
	bad = meta_invalid(page, &m, why0, sizeof why0);
	if (!bad) {
		if (!page_size_ok(m.page_size))
			return db_corrupt(db, err, "invalid database: unsupported page size %u in meta page 0",
					  m.page_size);
		db->page_size = m.page_size;
		return 0;
	}
	snprintf(why1, sizeof why1, "not found");
	for (unsigned i = 0; i < 15; i++) {
		uint64_t off = 1024ull << i;

		if (off + 1024 >= db->file_size)
			break;
		if (pread(db->fd, page, sizeof page, (off_t)off) != (ssize_t)sizeof page)
			break;
		if (!meta_invalid(page, &m, why1, sizeof why1) && m.page_size == off) {
			db->page_size = m.page_size;
			return 0;
		}
	}
	return db_corrupt(db, err, "invalid database: meta page 0: %s; no valid meta page 1", bad);
}

/* Picks the meta bbolt would use (larger txid among the valid ones) and
 * checks that what it points at lies inside the file. */
static int db_load_meta(dm_bolt *db, dm_error *err)
{
	struct bolt_meta m[2];
	char why[2][128];
	const char *bad[2];
	const struct bolt_meta *cur;
	uint64_t psz = db->page_size;

	if (db->file_size < 2 * psz)
		return db_corrupt(db, err, "invalid database: file of %llu bytes is smaller than two %llu-byte pages",
				  (ull)db->file_size, (ull)psz);
	for (int i = 0; i < 2; i++) {
		bad[i] = meta_invalid(db->map + i * psz, &m[i], why[i], sizeof why[i]);
		if (!bad[i] && m[i].page_size != psz) {
			snprintf(why[i], sizeof why[i], "page size %u differs from %llu", m[i].page_size,
				 (ull)psz);
			bad[i] = why[i];
		}
	}
	if (bad[0] && bad[1])
		return db_corrupt(db, err, "invalid database: meta page 0: %s; meta page 1: %s", bad[0],
				  bad[1]);
	if (bad[0])
		cur = &m[1];
	else if (bad[1])
		cur = &m[0];
	else
		cur = m[1].txid > m[0].txid ? &m[1] : &m[0];
	if (cur->pgid < 3 || cur->pgid > db->file_size / psz)
		return db_corrupt(db, err,
				  "high water mark of %llu pages needs %llu bytes but the file has %llu (truncated?)",
				  (ull)cur->pgid, (ull)(cur->pgid * psz), (ull)db->file_size);
	if (cur->root < 2 || cur->root >= cur->pgid)
		return db_corrupt(db, err, "root page %llu out of range (high water mark %llu)",
				  (ull)cur->root, (ull)cur->pgid);
	if (cur->freelist != BOLT_NO_FREELIST && (cur->freelist < 2 || cur->freelist >= cur->pgid))
		return db_corrupt(db, err, "freelist page %llu out of range (high water mark %llu)",
				  (ull)cur->freelist, (ull)cur->pgid);
	db->meta = *cur;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int bolt_read_freelist(dm_bolt *db, const struct bolt_meta *m, bool strict, uint64_t **ids,
		       size_t *n, uint32_t *overflow, dm_error *err)
{
	uint64_t psz = db->page_size, id = m->freelist, cnt, first = 0, span;
	const uint8_t *p = db->map + id * psz;
	uint64_t *v;

	*ids = NULL;
	*n = 0;
	if (bolt_get64(p) != id)
		return db_corrupt(db, err, "freelist page %llu: header says id %llu", (ull)id,
				  (ull)bolt_get64(p));
	if (bolt_get16(p + 8) != BOLT_F_FREELIST)
		return db_corrupt(db, err, "freelist page %llu: flags 0x%x, not a freelist page", (ull)id,
				  bolt_get16(p + 8));
	*overflow = bolt_get32(p + 12);
	if (*overflow >= m->pgid - id)
		return db_corrupt(db, err, "freelist page %llu: %u overflow pages run past the high water mark %llu",
				  (ull)id, *overflow, (ull)m->pgid);
	span = ((uint64_t)*overflow + 1) * psz;
	cnt = bolt_get16(p + 10);
	if (cnt == 0xFFFF) {
		cnt = bolt_get64(p + BOLT_PAGE_HDR);
		first = 1;
	}
	if (cnt > (span - BOLT_PAGE_HDR) / 8 - first)
		return db_corrupt(db, err, "freelist page %llu: %llu ids do not fit in %llu bytes", (ull)id,
				  (ull)cnt, (ull)span);
	v = malloc((cnt ? cnt : 1) * sizeof *v);
	if (!v) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: %llu freelist ids: ", db->path, (ull)cnt);
	}
	for (uint64_t i = 0; i < cnt; i++) {
		v[i] = bolt_get64(p + BOLT_PAGE_HDR + 8 * (first + i));
		if (v[i] < 2 || v[i] >= m->pgid || (v[i] >= id && v[i] - id <= *overflow)) {
			db_corrupt(db, err, "freelist page %llu: free page id %llu is invalid (high water mark %llu)",
				   (ull)id, (ull)v[i], (ull)m->pgid);
			goto fail;
		}
		if (strict && i && v[i] <= v[i - 1]) {
			db_corrupt(db, err, "freelist page %llu: ids not in ascending order at %llu", (ull)id,
				   (ull)v[i]);
			goto fail;
		}
	}
	qsort(v, cnt, sizeof *v, cmp_u64);
	for (uint64_t i = 1; i < cnt; i++)
		if (v[i] == v[i - 1]) {
			db_corrupt(db, err, "page %llu: already freed (listed twice in freelist page %llu)",
				   (ull)v[i], (ull)id);
			goto fail;
		}
	*ids = v;
	*n = cnt;
	return 0;
fail:
	free(v);
	return -1;
}

static void tx_release(dm_bolt_tx *tx);
static int tx_init(dm_bolt_tx *tx, dm_bolt *db, bool writable, dm_error *err);

/* The free page ids: from the freelist page, or, when bbolt's NoFreelistSync
 * left none, every page below the high-water mark that nothing reaches. */
static int db_load_freelist(dm_bolt *db, dm_error *err)
{
	dm_bolt_tx tx;
	uint8_t *seen;
	uint64_t hwm = db->meta.pgid;
	size_t n = 0;
	int rc;

	if (db->meta.freelist != BOLT_NO_FREELIST)
		return bolt_read_freelist(db, &db->meta, false, &db->free, &db->nfree,
					  &db->freelist_overflow, err);
	seen = calloc(hwm / 8 + 1, 1);
	db->free = malloc(hwm * sizeof *db->free);
	if (!seen || !db->free) {
		free(seen);
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", db->path);
	}
	rc = tx_init(&tx, db, false, err);
	if (rc == 0)
		rc = bolt_walk(&tx, seen, NULL, 0, err);
	tx_release(&tx);
	for (uint64_t id = 2; rc == 0 && id < hwm; id++)
		if (!(seen[id / 8] & (1u << (id % 8))))
			db->free[n++] = id;
	db->nfree = n;
	free(seen);
	return rc;
}

dm_bolt *dm_bolt_open(const char *path, int flags, dm_error *err)
{
	return dm_bolt_open_opts(path, flags, NULL, err);
}

/* Opens name in dir_fd without following a symlink, a FIFO or a device node never opened: an
 * existing file is looked at through O_PATH and reopened only when regular; a missing one is
 * created with O_EXCL.  -1 with errno set; EINVAL for an existing file that is not regular. */
static int open_file_at(int dir_fd, const char *name, bool rdonly, bool create, unsigned mode)
{
	int rw = rdonly ? O_RDONLY : O_RDWR;

	for (int tries = 0; tries < 8; tries++) {
		int p = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), fd;
		char proc[64];
		struct stat st;

		if (p < 0 && errno == ENOENT && create) {
			fd = openat(dir_fd, name, rw | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
			/* EEXIST: made meanwhile, look again. */
			if (fd >= 0 || errno != EEXIST)
				return fd;
			continue;
		}
		if (p < 0)
			return -1;
		if (fstat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			int saved = fstat(p, &st) < 0 ? errno : S_ISLNK(st.st_mode) ? ELOOP : EINVAL;

			close(p);
			errno = saved;
			return -1;
		}
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", p);
		fd = open(proc, rw | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		close(p);
		return fd;
	}
	errno = EAGAIN;
	return -1;
}

dm_bolt *dm_bolt_open_opts(const char *path, int flags, const dm_bolt_options *opt, dm_error *err)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	dm_bolt *db;
	int dfd;

	if (slash && (size_t)(slash - path) >= sizeof dir) {
		dm_err_set(err, ENAMETOOLONG, "%s: open: name too long", path);
		return NULL;
	}
	if (slash) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	/* The directory as given (symlinks and all); the file itself is never a symlink. */
	dfd = !slash ? AT_FDCWD : open(slash == path ? "/" : dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && dfd != AT_FDCWD) {
		dm_err_sys(err, "%s: open", path);
		return NULL;
	}
	db = dm_bolt_open_at(dfd, slash ? slash + 1 : path, path, flags, opt, err);
	if (dfd >= 0)
		close(dfd);
	return db;
}

dm_bolt *dm_bolt_open_at(int dir_fd, const char *name, const char *path, int flags,
			 const dm_bolt_options *opt, dm_error *err)
{
	bool rdonly = flags & DM_BOLT_RDONLY;
	unsigned mode = opt && opt->mode ? opt->mode : 0600;
	long sys_psz = sysconf(_SC_PAGESIZE);
	uint64_t psz = opt && opt->page_size ? opt->page_size : (uint64_t)(sys_psz > 0 ? sys_psz : 4096);
	struct stat st;
	dm_bolt *db;

	if ((flags & ~(DM_BOLT_RDONLY | DM_BOLT_CREATE)) || (rdonly && (flags & DM_BOLT_CREATE))) {
		dm_err_set(err, EINVAL, "%s: invalid open flags 0x%x", path, (unsigned)flags);
		return NULL;
	}
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		dm_err_set(err, EINVAL, "%s: not a file name in its directory", path);
		return NULL;
	}
	if (!page_size_ok(psz)) {
		dm_err_set(err, EINVAL, "%s: page size %llu is not a power of two in [%u, %u]", path,
			   (ull)psz, BOLT_MIN_PAGE, BOLT_MAX_PAGE);
		return NULL;
	}
	db = calloc(1, sizeof *db);
	if (!db || !(db->path = strdup(path))) {
		free(db);
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", path);
		return NULL;
	}
	db->rdonly = rdonly;
	db->fd = open_file_at(dir_fd, name, rdonly, flags & DM_BOLT_CREATE, mode);
	if (db->fd < 0) {
		if (errno == ELOOP)
			dm_err_set(err, ELOOP, "%s: is a symbolic link", path);
		else if (errno == EINVAL)
			dm_err_set(err, EINVAL, "%s: not a regular file", path);
		else
			dm_err_sys(err, "%s: open", path);
		goto fail;
	}
	if (flock(db->fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			dm_err_set(err, EWOULDBLOCK, "%s: database is locked by another process", path);
		else
			dm_err_sys(err, "%s: flock", path);
		goto fail;
	}
	if (fstat(db->fd, &st) < 0) {
		dm_err_sys(err, "%s: fstat", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		dm_err_set(err, EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	db->file_size = (uint64_t)st.st_size;
	if (db->file_size == 0) {
		if (rdonly) {
			db_corrupt(db, err, "invalid database: empty file");
			goto fail;
		}
		if (db_init_file(db, (uint32_t)psz, err) < 0)
			goto fail;
	}
	if (db_page_size(db, err) < 0 || db_map(db, err) < 0 || db_load_meta(db, err) < 0)
		goto fail;
	if (!rdonly && db_load_freelist(db, err) < 0)
		goto fail;
	return db;
fail:
	dm_bolt_close(db);
	return NULL;
}

void dm_bolt_close(dm_bolt *db)
{
	if (!db)
		return;
	dm_bolt_rollback(db->tx);
	if (db->map)
		munmap((void *)db->map, (size_t)db->map_len);
	if (db->fd >= 0)
		close(db->fd); /* also drops the flock */
	free(db->free);
	free(db->path);
	free(db);
}

void dm_bolt_stats_get(const dm_bolt *db, dm_bolt_stats *st)
{
	*st = db->last;
	st->page_size = db->page_size;
	st->txid = db->meta.txid;
	st->high_water = db->meta.pgid;
	st->file_size = db->file_size;
	st->free_pages = db->nfree;
}

/* ---- page access ---- */

int bolt_tx_page(const dm_bolt_tx *tx, uint64_t pgid, struct bolt_pview *pv, dm_error *err)
{
	const dm_bolt *db = tx->db;
	uint64_t hwm = db->meta.pgid, psz = db->page_size;
	const uint8_t *p;
	uint16_t flags;

	/* Only committed pages are ever read, so the committed high-water mark
	 * (not tx->meta's, which grows while allocating) bounds them. */
	if (pgid < 2 || pgid >= hwm)
		return bolt_corrupt(tx, err, "page %llu out of range (high water mark %llu)", (ull)pgid,
				    (ull)hwm);
	p = db->map + pgid * psz;
	flags = bolt_get16(p + 8);
	if (bolt_get64(p) != pgid)
		return bolt_corrupt(tx, err, "page %llu: header says id %llu", (ull)pgid,
				    (ull)bolt_get64(p));
	if (flags != BOLT_F_BRANCH && flags != BOLT_F_LEAF)
		return bolt_corrupt(tx, err, "page %llu: flags 0x%x, not a branch or leaf page", (ull)pgid,
				    flags);
	pv->base = p;
	pv->id = pgid;
	pv->leaf = flags == BOLT_F_LEAF;
	pv->count = bolt_get16(p + 10);
	pv->overflow = bolt_get32(p + 12);
	if (pv->overflow >= hwm - pgid)
		return bolt_corrupt(tx, err, "page %llu: %u overflow pages run past the high water mark %llu",
				    (ull)pgid, pv->overflow, (ull)hwm);
	pv->span = ((uint64_t)pv->overflow + 1) * psz;
	if (BOLT_PAGE_HDR + (uint64_t)pv->count * BOLT_ELEM > pv->span)
		return bolt_corrupt(tx, err, "page %llu: %u elements do not fit in %llu bytes", (ull)pgid,
				    pv->count, (ull)pv->span);
	if (!pv->leaf && pv->count == 0)
		return bolt_corrupt(tx, err, "page %llu: branch page without elements", (ull)pgid);
	return 0;
}

int bolt_inline_view(const dm_bolt_tx *tx, const uint8_t *v, size_t len, struct bolt_pview *pv,
		     dm_error *err)
{
	if (len < BOLT_PAGE_HDR)
		return bolt_corrupt(tx, err, "inline bucket of %zu bytes is shorter than a page header", len);
	if (bolt_get64(v) != 0 || bolt_get16(v + 8) != BOLT_F_LEAF || bolt_get32(v + 12) != 0)
		return bolt_corrupt(tx, err,
				    "inline bucket page has id %llu, flags 0x%x, overflow %u (want 0, leaf, 0)",
				    (ull)bolt_get64(v), bolt_get16(v + 8), bolt_get32(v + 12));
	pv->base = v;
	pv->span = len;
	pv->id = 0;
	pv->leaf = true;
	pv->overflow = 0;
	pv->count = bolt_get16(v + 10);
	if (BOLT_PAGE_HDR + (uint64_t)pv->count * BOLT_ELEM > len)
		return bolt_corrupt(tx, err, "inline bucket: %u elements do not fit in %zu bytes", pv->count,
				    len);
	return 0;
}

int bolt_pview_elem(const dm_bolt_tx *tx, const struct bolt_pview *pv, uint32_t i,
		    struct bolt_inode *out, dm_error *err)
{
	uint64_t eoff = BOLT_PAGE_HDR + (uint64_t)i * BOLT_ELEM, kpos;
	const uint8_t *e = pv->base + eoff;

	if (i >= pv->count)
		return bolt_corrupt(tx, err, "page %llu: element %u of %u", (ull)pv->id, i, pv->count);
	if (pv->leaf) {
		out->flags = bolt_get32(e);
		kpos = eoff + bolt_get32(e + 4);
		out->klen = bolt_get32(e + 8);
		out->vlen = bolt_get32(e + 12);
		out->pgid = 0;
		if (out->flags & ~BOLT_LEAF_BUCKET)
			return bolt_corrupt(tx, err, "page %llu: element %u has unknown flags 0x%x",
					    (ull)pv->id, i, out->flags);
	} else {
		out->flags = 0;
		kpos = eoff + bolt_get32(e);
		out->klen = bolt_get32(e + 4);
		out->vlen = 0;
		out->pgid = bolt_get64(e + 8);
	}
	if (kpos + out->klen + out->vlen > pv->span)
		return bolt_corrupt(tx, err, "page %llu: element %u (key %u + value %u bytes at %llu) runs past the page end %llu",
				    (ull)pv->id, i, out->klen, out->vlen, (ull)kpos, (ull)pv->span);
	if (out->klen == 0)
		return bolt_corrupt(tx, err, "page %llu: element %u has an empty key", (ull)pv->id, i);
	out->key = pv->base + kpos;
	out->val = out->key + out->klen;
	return 0;
}

/* ---- freelist ---- */

/* bbolt's array freelist: the lowest run of count contiguous free ids. */
static uint64_t free_take(dm_bolt *db, uint64_t count)
{
	uint64_t start = 0;

	for (size_t i = 0; i < db->nfree; i++) {
		uint64_t id = db->free[i];

		if (i == 0 || id != db->free[i - 1] + 1)
			start = id;
		if (id - start + 1 == count) {
			size_t first = i + 1 - (size_t)count;

			memmove(db->free + first, db->free + i + 1, (db->nfree - i - 1) * sizeof *db->free);
			db->nfree -= (size_t)count;
			return start;
		}
	}
	return 0;
}

uint8_t *bolt_tx_allocate(dm_bolt_tx *tx, uint64_t count, uint64_t *id, dm_error *err)
{
	dm_bolt *db = tx->db;
	uint64_t psz = db->page_size;
	uint8_t *buf;

	if (count > (UINT64_MAX / psz) - tx->meta.pgid || count * psz > SIZE_MAX) {
		dm_err_set(err, EFBIG, "%s: allocation of %llu pages is too large", db->path, (ull)count);
		return NULL;
	}
	if (bolt_reserve(&tx->dirty, &tx->capdirty, tx->ndirty + 1, sizeof *tx->dirty, err) < 0 ||
	    bolt_reserve(&tx->allocs, &tx->capallocs, tx->nallocs + 1, sizeof *tx->allocs, err) < 0)
		return NULL;
	buf = calloc(count, psz);
	if (!buf) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: %llu pages: ", db->path, (ull)count);
		return NULL;
	}
	*id = free_take(db, count);
	if (*id) {
		tx->allocs[tx->nallocs++] = (struct bolt_dirty){ .id = *id, .npages = count };
	} else {
		*id = tx->meta.pgid;
		tx->meta.pgid += count;
	}
	bolt_put64(buf, *id);
	bolt_put32(buf + 12, (uint32_t)(count - 1));
	tx->dirty[tx->ndirty++] = (struct bolt_dirty){ .id = *id, .npages = count, .buf = buf };
	return buf;
}

int bolt_tx_free(dm_bolt_tx *tx, uint64_t pgid, uint32_t overflow, dm_error *err)
{
	if (pgid < 2)
		return bolt_corrupt(tx, err, "freeing meta page %llu", (ull)pgid);
	if (bolt_reserve(&tx->pending, &tx->cappending, tx->npending + overflow + 1,
			 sizeof *tx->pending, err) < 0)
		return -1;
	for (uint64_t i = 0; i <= overflow; i++)
		tx->pending[tx->npending++] = pgid + i;
	return 0;
}

/* Merges the sorted arrays a and b into out; a page in both means the tree
 * reached a page twice or reached a free one. */
static int merge_ids(dm_bolt_tx *tx, const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
		     uint64_t *out, dm_error *err)
{
	size_t i = 0, j = 0, k = 0;

	while (i < na || j < nb) {
		if (i < na && j < nb && a[i] == b[j])
			return bolt_corrupt(tx, err, "page %llu: freed twice (referenced twice or already free)",
					    (ull)a[i]);
		if (j >= nb || (i < na && a[i] < b[j]))
			out[k++] = a[i++];
		else
			out[k++] = b[j++];
	}
	return 0;
}

/* bbolt's db.grow(): past the mmap size below 16 MiB, else 16 MiB ahead. */
static int db_grow(dm_bolt *db, uint64_t sz, dm_error *err)
{
	uint64_t ms;

	if (sz <= db->file_size)
		return 0;
	ms = bolt_mmap_size(sz, db->page_size);
	sz = ms < BOLT_ALLOC_SIZE ? ms : sz + BOLT_ALLOC_SIZE;
	if (ftruncate(db->fd, (off_t)sz) < 0)
		return dm_err_sys(err, "%s: growing to %llu bytes", db->path, (ull)sz);
	db->last.commit_syncs++;
	if (fsync(db->fd) < 0)
		return dm_err_sys(err, "%s: fsync", db->path);
	db->file_size = sz;
	return 0;
}

/* Writes free ∪ pending into newly allocated pages, as tx.commitFreelist does.
 * *merged receives that union: the free list once the commit is durable. */
static int tx_commit_freelist(dm_bolt_tx *tx, uint64_t **merged, size_t *nmerged,
			      uint32_t *overflow, dm_error *err)
{
	dm_bolt *db = tx->db;
	uint64_t opgid = tx->meta.pgid, n, id, *all, npages;
	size_t total;
	uint8_t *p;

	if (tx->npending > 1)
		qsort(tx->pending, tx->npending, sizeof *tx->pending, cmp_u64);
	for (size_t i = 1; i < tx->npending; i++)
		if (tx->pending[i] == tx->pending[i - 1])
			return bolt_corrupt(tx, err, "page %llu: freed twice (referenced twice?)",
					    (ull)tx->pending[i]);
	n = db->nfree + tx->npending;
	if (n >= 0xFFFF)
		n++;
	npages = (BOLT_PAGE_HDR + 8 * n) / db->page_size + 1;
	p = bolt_tx_allocate(tx, npages, &id, err);
	if (!p)
		return -1;
	*overflow = (uint32_t)(npages - 1);
	total = db->nfree + tx->npending;
	all = malloc((total ? total : 1) * sizeof *all);
	if (!all) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", db->path);
	}
	if (merge_ids(tx, db->free, db->nfree, tx->pending, tx->npending, all, err) < 0) {
		free(all);
		return -1;
	}
	bolt_put16(p + 8, BOLT_F_FREELIST);
	if (total < 0xFFFF) {
		bolt_put16(p + 10, (uint16_t)total);
		for (size_t i = 0; i < total; i++)
			bolt_put64(p + BOLT_PAGE_HDR + 8 * i, all[i]);
	} else {
		bolt_put16(p + 10, 0xFFFF);
		bolt_put64(p + BOLT_PAGE_HDR, total);
		for (size_t i = 0; i < total; i++)
			bolt_put64(p + BOLT_PAGE_HDR + 8 * (i + 1), all[i]);
	}
	tx->meta.freelist = id;
	*merged = all;
	*nmerged = total;
	if (tx->meta.pgid > opgid && db_grow(db, (tx->meta.pgid + 1) * db->page_size, err) < 0)
		return -1;
	return 0;
}

static int cmp_dirty(const void *a, const void *b)
{
	return cmp_u64(&((const struct bolt_dirty *)a)->id, &((const struct bolt_dirty *)b)->id);
}

/* pwrite of every dirty page in id order, adjacent pages in one call. */
static int tx_write_pages(dm_bolt_tx *tx, dm_error *err)
{
	dm_bolt *db = tx->db;
	uint64_t psz = db->page_size;
	struct iovec iov[64];

	if (tx->ndirty > 1)
		qsort(tx->dirty, tx->ndirty, sizeof *tx->dirty, cmp_dirty);
	for (size_t i = 0; i < tx->ndirty;) {
		uint64_t off = tx->dirty[i].id * psz, len = 0;
		int niov = 0;

		while (i < tx->ndirty && niov < 64 && tx->dirty[i].id * psz == off + len) {
			iov[niov].iov_base = tx->dirty[i].buf;
			iov[niov++].iov_len = tx->dirty[i].npages * psz;
			len += tx->dirty[i].npages * psz;
			db->last.commit_pages += tx->dirty[i].npages;
			i++;
		}
		db->last.commit_writes++;
		db->last.commit_bytes += len;
		if (niov == 1) {
			if (pwrite_all(db, iov[0].iov_base, iov[0].iov_len, off, err) < 0)
				return -1;
		} else {
			ssize_t w = pwritev(db->fd, iov, niov, (off_t)off);

			/* A short vectored write is finished page run by page run. */
			if (w < 0 || (uint64_t)w != len) {
				uint64_t o = off;

				for (int k = 0; k < niov; k++) {
					if (pwrite_all(db, iov[k].iov_base, iov[k].iov_len, o, err) < 0)
						return -1;
					o += iov[k].iov_len;
				}
			}
		}
		if (off + len > db->file_size)
			db->file_size = off + len;
	}
	return 0;
}

static int tx_write_meta(dm_bolt_tx *tx, dm_error *err)
{
	dm_bolt *db = tx->db;
	uint64_t slot = tx->meta.txid % 2;
	uint8_t *page = calloc(1, db->page_size);
	int rc;

	if (!page) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", db->path);
	}
	tx->meta.page_size = db->page_size;
	meta_encode(&tx->meta, slot, page);
	rc = pwrite_all(db, page, db->page_size, slot * db->page_size, err);
	free(page);
	db->last.commit_pages++;
	db->last.commit_writes++;
	db->last.commit_bytes += db->page_size;
	return rc;
}

/* ---- transactions ---- */

static int tx_init(dm_bolt_tx *tx, dm_bolt *db, bool writable, dm_error *err)
{
	memset(tx, 0, sizeof *tx);
	tx->db = db;
	tx->writable = writable;
	tx->meta = db->meta;
	if (writable)
		tx->meta.txid++;
	tx->root = bolt_bucket_new(tx, tx->meta.root, tx->meta.sequence, err);
	return tx->root ? 0 : -1;
}

static void tx_release(dm_bolt_tx *tx)
{
	while (tx->cursors)
		dm_bolt_cursor_close(tx->cursors);
	while (tx->nodes) {
		struct bolt_node *n = tx->nodes;

		tx->nodes = n->all_next;
		bolt_node_destroy(n);
	}
	while (tx->buckets) {
		dm_bolt_bucket *b = tx->buckets;

		tx->buckets = b->all_next;
		bolt_bucket_destroy(b);
	}
	while (tx->arena) {
		struct bolt_arena_chunk *c = tx->arena;

		tx->arena = c->next;
		free(c);
	}
	for (size_t i = 0; i < tx->ndirty; i++)
		free(tx->dirty[i].buf);
	free(tx->dirty);
	free(tx->pending);
	free(tx->allocs);
}

dm_bolt_tx *dm_bolt_begin(dm_bolt *db, bool writable, dm_error *err)
{
	dm_bolt_tx *tx;

	if (db->tx) {
		dm_err_set(err, EBUSY, "%s: a transaction is already open", db->path);
		return NULL;
	}
	if (writable && db->rdonly) {
		dm_err_set(err, EROFS, "%s: opened read-only", db->path);
		return NULL;
	}
	if (db->broken) {
		dm_err_set(err, EIO, "%s: an earlier commit failed half-way; reopen the database", db->path);
		return NULL;
	}
	tx = malloc(sizeof *tx);
	if (!tx) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", db->path);
		return NULL;
	}
	if (tx_init(tx, db, writable, err) < 0) {
		tx_release(tx);
		free(tx);
		return NULL;
	}
	db->tx = tx;
	return tx;
}

/* Gives the pages this tx took from the free list back. */
static void tx_restore_free(dm_bolt_tx *tx)
{
	dm_bolt *db = tx->db;
	size_t n = db->nfree;
	uint64_t *v;

	for (size_t i = 0; i < tx->nallocs; i++)
		n += tx->allocs[i].npages;
	if (n == db->nfree)
		return;
	v = realloc(db->free, n * sizeof *v);
	if (!v) {
		/* Without memory the pages stay leaked until reopen; nothing else breaks. */
		return;
	}
	for (size_t i = 0; i < tx->nallocs; i++)
		for (uint64_t k = 0; k < tx->allocs[i].npages; k++)
			v[db->nfree++] = tx->allocs[i].id + k;
	qsort(v, db->nfree, sizeof *v, cmp_u64);
	db->free = v;
}

static void tx_end(dm_bolt_tx *tx)
{
	tx->db->tx = NULL;
	tx_release(tx);
	free(tx);
}

void dm_bolt_rollback(dm_bolt_tx *tx)
{
	if (!tx)
		return;
	if (tx->writable)
		tx_restore_free(tx);
	tx_end(tx);
}

int dm_bolt_commit(dm_bolt_tx *tx, dm_error *err)
{
	dm_bolt *db = tx->db;
	uint64_t *merged = NULL;
	size_t nmerged = 0;
	uint32_t overflow = 0;
	dm_bolt_stats saved = db->last;

	if (!tx->writable) {
		tx_end(tx);
		return 0;
	}
	if (tx->failed) {
		dm_err_set(err, EIO, "%s: transaction cannot commit after an earlier failed change",
			   db->path);
		goto rollback;
	}
	db->last.commit_pages = db->last.commit_writes = 0;
	db->last.commit_bytes = db->last.commit_syncs = 0;
	if (bolt_bucket_rebalance(tx->root, err) < 0 || bolt_bucket_spill(tx->root, err) < 0)
		goto rollback;
	tx->meta.root = tx->root->root;
	if (db->meta.freelist != BOLT_NO_FREELIST &&
	    bolt_tx_free(tx, db->meta.freelist, db->freelist_overflow, err) < 0)
		goto rollback;
	if (tx_commit_freelist(tx, &merged, &nmerged, &overflow, err) < 0)
		goto rollback;
	/* From here on the file changes; a failure leaves the old meta current,
	 * but our picture of the file may be stale, so the handle is retired. */
	if (tx_write_pages(tx, err) < 0 || db_sync(db, err) < 0 || tx_write_meta(tx, err) < 0 ||
	    db_sync(db, err) < 0) {
		db->broken = true;
		goto rollback;
	}
	free(db->free);
	db->free = merged;
	db->nfree = nmerged;
	db->freelist_overflow = overflow;
	db->meta = tx->meta;
	tx_end(tx);
	if (db_map(db, err) < 0) {
		db->broken = true;
		return -1;
	}
	return 0;
rollback:
	free(merged);
	if (!db->broken)
		db->last = saved;
	dm_bolt_rollback(tx);
	return -1;
}

int dm_bolt_check(dm_bolt *db, dm_error *err)
{
	dm_bolt_tx tx;
	uint64_t *ids = NULL, hwm = db->meta.pgid;
	size_t nids = 0;
	uint32_t overflow = 0;
	uint8_t *seen;
	int rc;

	if (db->tx)
		return dm_err_set(err, EBUSY, "%s: check needs no open transaction", db->path);
	if (db->file_size < hwm * db->page_size)
		return db_corrupt(db, err, "file of %llu bytes is shorter than %llu pages",
				  (ull)db->file_size, (ull)hwm);
	seen = calloc(hwm / 8 + 1, 1);
	if (!seen) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", db->path);
	}
	seen[0] |= 3; /* the meta pages */
	rc = 0;
	memset(&tx, 0, sizeof tx);
	if (db->meta.freelist != BOLT_NO_FREELIST) {
		rc = bolt_read_freelist(db, &db->meta, true, &ids, &nids, &overflow, err);
		for (uint64_t i = 0; rc == 0 && i <= overflow; i++) {
			uint64_t id = db->meta.freelist + i;

			seen[id / 8] |= (uint8_t)(1u << (id % 8));
		}
	}
	if (rc == 0 && (rc = tx_init(&tx, db, false, err)) == 0) {
		rc = bolt_walk(&tx, seen, ids, nids, err);
		for (uint64_t id = 2; rc == 0 && id < hwm && db->meta.freelist != BOLT_NO_FREELIST; id++)
			if (!(seen[id / 8] & (1u << (id % 8))) &&
			    !bsearch(&id, ids, nids, sizeof *ids, cmp_u64))
				rc = db_corrupt(db, err, "check: page %llu: unreachable unfreed", (ull)id);
	}
	tx_release(&tx);
	free(ids);
	free(seen);
	return rc;
}
