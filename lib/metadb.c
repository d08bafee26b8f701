#include "config.h"
#include "metadb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"

/* Seconds from Go's time origin, 0001-01-01T00:00:00Z, to the Unix epoch. */
#define GO_UNIX_TO_INTERNAL 62135596800LL

/* Room for "v1/<ns>/<bucket>/<name>" in messages; longer names are cut. */
#define WHAT_MAX 400

struct dbfile;

struct txn {
	dm_bolt_tx *btx;
	struct dbfile *f;
	const char *path;
	struct timespec now;
};

struct dm_metadb_tx {
	struct txn t;
};

struct dm_snapdb_tx {
	struct txn t;
};

/* The transaction lives in the handle: one at a time, and closing the
 * handle ends it without anything left to free. */
struct dbfile {
	dm_bolt *db;
	char *path;
	bool in_tx;
};

struct dm_metadb {
	struct dbfile f;
	dm_metadb_tx tx;
	int64_t version;
};

struct dm_snapdb {
	struct dbfile f;
	dm_snapdb_tx tx;
};

/* ---- primitive encodings ---- */

size_t dm_uvarint_put(uint8_t buf[DM_VARINT_MAX], uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		buf[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[i++] = (uint8_t)v;
	return i;
}

size_t dm_svarint_put(uint8_t buf[DM_VARINT_MAX], int64_t v)
{
	uint64_t u = (uint64_t)v << 1;

	if (v < 0)
		u = ~u;
	return dm_uvarint_put(buf, u);
}

int dm_uvarint_get(const void *buf, size_t len, uint64_t *v, dm_error *err)
{
	const uint8_t *p = buf;
	uint64_t x = 0;
	unsigned shift = 0;

	if (!len)
		return dm_err_set(err, DM_BOLT_ECORRUPT, "empty varint");
	for (size_t i = 0; i < len; i++) {
		if (i == DM_VARINT_MAX)
			return dm_err_set(err, DM_BOLT_ECORRUPT, "varint overflows 64 bits");
		if (p[i] < 0x80) {
			if (i == DM_VARINT_MAX - 1 && p[i] > 1)
				return dm_err_set(err, DM_BOLT_ECORRUPT, "varint overflows 64 bits");
			if (i + 1 != len)
				return dm_err_set(err, DM_BOLT_ECORRUPT, "%zu stray bytes after the varint",
						  len - i - 1);
			*v = x | (uint64_t)p[i] << shift;
			return 0;
		}
		x |= (uint64_t)(p[i] & 0x7f) << shift;
		shift += 7;
	}
	return dm_err_set(err, DM_BOLT_ECORRUPT, "truncated varint");
}

int dm_svarint_get(const void *buf, size_t len, int64_t *v, dm_error *err)
{
	uint64_t u;

	if (dm_uvarint_get(buf, len, &u, err) < 0)
		return -1;
	*v = (int64_t)(u >> 1);
	if (u & 1)
		*v = ~*v;
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void dm_bintime_put(uint8_t out[DM_BINTIME_LEN], const struct timespec *t)
{
	out[0] = 1;
	put_be(out + 1, (uint64_t)(int64_t)t->tv_sec + (uint64_t)GO_UNIX_TO_INTERNAL, 8);
	put_be(out + 9, (uint64_t)t->tv_nsec, 4);
	out[13] = out[14] = 0xff; /* offset -1 minute: UTC */
}

int dm_bintime_get(const void *buf, size_t len, struct timespec *t, dm_error *err)
{
	const uint8_t *p = buf;
	int64_t sec;
	int32_t nsec;

	if (!len)
		return dm_err_set(err, DM_BOLT_ECORRUPT, "empty time");
	if (p[0] != 1 && p[0] != 2)
		return dm_err_set(err, DM_BOLT_ECORRUPT, "time of unsupported version %u", p[0]);
	if (len != (size_t)DM_BINTIME_LEN + (p[0] == 2))
		return dm_err_set(err, DM_BOLT_ECORRUPT, "time of version %u is %zu bytes, not %d",
				  p[0], len, DM_BINTIME_LEN + (p[0] == 2));
	sec = (int64_t)get_be(p + 1, 8);
	nsec = (int32_t)(uint32_t)get_be(p + 9, 4);
	if (nsec < 0 || nsec >= 1000000000)
		return dm_err_set(err, DM_BOLT_ECORRUPT, "time with %" PRId32 " nanoseconds", nsec);
	if (sec < INT64_MIN + GO_UNIX_TO_INTERNAL ||
	    (time_t)(sec - GO_UNIX_TO_INTERNAL) != sec - GO_UNIX_TO_INTERNAL)
		return dm_err_set(err, DM_BOLT_ECORRUPT, "time out of range");
	t->tv_sec = (time_t)(sec - GO_UNIX_TO_INTERNAL);
	t->tv_nsec = nsec;
	return 0;
}

/* ---- helpers over bolt ---- */

static int copy_err(dm_error *err, const dm_error *e)
{
	*err = *e;
	return -1;
}

/* A malformed record: "<file>: <record>: <problem>". */
static int corrupt(const struct txn *t, dm_error *err, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int corrupt(const struct txn *t, dm_error *err, const char *what, const char *fmt, ...)
{
	char msg[DM_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dm_err_set(err, DM_BOLT_ECORRUPT, "%s: %s: %s", t->path, what, msg);
}

/* Errors of a request that refers to something missing or present. */
static int refuse(const struct txn *t, dm_error *err, int code, const char *what, const char *msg)
{
	return dm_err_set(err, code, "%s: %s: %s", t->path, what, msg);
}

/* 1 and *out when b has sub-bucket name, 0 when b has nothing by that name;
 * a plain value in its place is a damaged record. */
static int sub_get(const struct txn *t, dm_bolt_bucket *b, const char *name, const char *what,
		   dm_bolt_bucket **out, dm_error *err)
{
	dm_error e = {0};
	size_t n = strlen(name);
	const void *v;
	size_t vl;

	if ((*out = dm_bolt_bucket_get(b, name, n, &e)))
		return 1;
	if (e.code != ENOENT)
		return copy_err(err, &e);
	switch (dm_bolt_get(b, name, n, &v, &vl, err)) {
	case 0:
		return 0;
	case 1:
		return corrupt(t, err, what, "\"%.200s\" is a value where a bucket belongs", name);
	default:
		return -1;
	}
}

static dm_bolt_bucket *sub_create(dm_bolt_bucket *b, const char *name, dm_error *err)
{
	return dm_bolt_bucket_create_if_missing(b, name, strlen(name), err);
}

/* Deletes sub-bucket name if it exists. */
static int sub_delete(dm_bolt_bucket *b, const char *name, dm_error *err)
{
	dm_error e = {0};

	if (dm_bolt_bucket_delete(b, name, strlen(name), &e) < 0 && e.code != ENOENT)
		return copy_err(err, &e);
	return 0;
}

static int put_bytes(dm_bolt_bucket *b, const char *key, const void *v, size_t n, dm_error *err)
{
	return dm_bolt_put(b, key, strlen(key), v, n, err);
}

static int put_str(dm_bolt_bucket *b, const char *key, const char *v, dm_error *err)
{
	return put_bytes(b, key, v, strlen(v), err);
}

static int put_svarint(dm_bolt_bucket *b, const char *key, int64_t v, dm_error *err)
{
	uint8_t buf[DM_VARINT_MAX];

	return put_bytes(b, key, buf, dm_svarint_put(buf, v), err);
}

static int put_uvarint(dm_bolt_bucket *b, const char *key, uint64_t v, dm_error *err)
{
	uint8_t buf[DM_VARINT_MAX];

	return put_bytes(b, key, buf, dm_uvarint_put(buf, v), err);
}

static int put_time(dm_bolt_bucket *b, const char *key, const struct timespec *t, dm_error *err)
{
	uint8_t buf[DM_BINTIME_LEN];

	dm_bintime_put(buf, t);
	return put_bytes(b, key, buf, sizeof buf, err);
}

static int put_times(dm_bolt_bucket *b, const struct timespec *t, dm_error *err)
{
	if (put_time(b, "createdat", t, err) < 0 || put_time(b, "updatedat", t, err) < 0)
		return -1;
	return 0;
}

/* A "nil" entry (zero-length value), written only if missing so that
 * repeating a request writes nothing. */
static int put_nil(dm_bolt_bucket *b, const char *key, dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, key, strlen(key), &v, &n, err);

	if (r < 0)
		return -1;
	if (r == 1 && n == 0)
		return 0;
	return put_bytes(b, key, "", 0, err);
}

/* Replaces the labels bucket of b by labels, as containerd's WriteLabels. */
static int write_labels(dm_bolt_bucket *b, const dm_labels *labels, dm_error *err)
{
	dm_bolt_bucket *lb;

	if (sub_delete(b, "labels", err) < 0)
		return -1;
	if (!labels || !labels->n)
		return 0;
	if (!(lb = dm_bolt_bucket_create(b, "labels", 6, err)))
		return -1;
	for (size_t i = 0; i < labels->n; i++)
		if (put_str(lb, labels->v[i].key, labels->v[i].value, err) < 0)
			return -1;
	return 0;
}

/* Sets each of labels on b's labels bucket; *changed when one differed. */
static int merge_labels(const struct txn *t, dm_bolt_bucket *b, const char *what,
			const dm_labels *labels, bool *changed, dm_error *err)
{
	dm_bolt_bucket *lb;
	int r;

	if (!labels || !labels->n)
		return 0;
	if ((r = sub_get(t, b, "labels", what, &lb, err)) < 0)
		return -1;
	for (size_t i = 0; i < labels->n; i++) {
		const char *k = labels->v[i].key, *v = labels->v[i].value;
		const void *old;
		size_t n;

		if (lb) {
			int g = dm_bolt_get(lb, k, strlen(k), &old, &n, err);

			if (g < 0)
				return -1;
			if (g == 1 && n == strlen(v) && !memcmp(old, v, n))
				continue;
		} else if (!(lb = dm_bolt_bucket_create(b, "labels", 6, err))) {
			return -1;
		}
		if (put_str(lb, k, v, err) < 0)
			return -1;
		*changed = true;
	}
	return 0;
}

/* A copy of n bytes as a C string; a NUL inside cannot be one. */
static int dup_bytes(const struct txn *t, const void *p, size_t n, const char *what, const char *field,
		     char **out, dm_error *err)
{
	if (memchr(p, 0, n))
		return corrupt(t, err, what, "%s contains a NUL byte", field);
	if (!(*out = malloc(n + 1))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: %s: ", t->path, what);
	}
	memcpy(*out, p, n);
	(*out)[n] = 0;
	return 0;
}

/* 1 and a malloc'd string, 0 when absent or empty (containerd's "none"). */
static int read_str(const struct txn *t, dm_bolt_bucket *b, const char *key, const char *what,
		    char **out, dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, key, strlen(key), &v, &n, err);

	*out = NULL;
	if (r <= 0 || n == 0)
		return r < 0 ? -1 : 0;
	return dup_bytes(t, v, n, what, key, out, err) < 0 ? -1 : 1;
}

static int read_svarint(const struct txn *t, dm_bolt_bucket *b, const char *key, const char *what,
			int64_t *out, dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, key, strlen(key), &v, &n, err);

	if (r <= 0)
		return r;
	if (dm_svarint_get(v, n, out, err) < 0)
		return dm_err_prefix(err, "%s: %s: %s: ", t->path, what, key);
	return 1;
}

static int read_uvarint(const struct txn *t, dm_bolt_bucket *b, const char *key, const char *what,
			uint64_t *out, dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, key, strlen(key), &v, &n, err);

	if (r <= 0)
		return r;
	if (dm_uvarint_get(v, n, out, err) < 0)
		return dm_err_prefix(err, "%s: %s: %s: ", t->path, what, key);
	return 1;
}

/* A missing time reads as Go's zero time, as containerd reads it. */
static int read_time(const struct txn *t, dm_bolt_bucket *b, const char *key, const char *what,
		     struct timespec *out, dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, key, strlen(key), &v, &n, err);

	out->tv_sec = (time_t)-GO_UNIX_TO_INTERNAL;
	out->tv_nsec = 0;
	if (r <= 0)
		return r;
	if (dm_bintime_get(v, n, out, err) < 0)
		return dm_err_prefix(err, "%s: %s: %s: ", t->path, what, key);
	return 1;
}

static int read_times(const struct txn *t, dm_bolt_bucket *b, const char *what,
		      struct timespec *created, struct timespec *updated, dm_error *err)
{
	if (read_time(t, b, "createdat", what, created, err) < 0 ||
	    read_time(t, b, "updatedat", what, updated, err) < 0)
		return -1;
	return 0;
}

typedef int (*kv_fn)(void *ctx, const dm_bolt_kv *kv, dm_error *err);

/* Calls fn for every key of b in order. */
static int each(dm_bolt_bucket *b, kv_fn fn, void *ctx, dm_error *err)
{
	dm_bolt_cursor *c = dm_bolt_cursor_open(b, err);
	dm_bolt_kv kv;
	int r;

	if (!c)
		return -1;
	for (r = dm_bolt_cursor_first(c, &kv, err); r == 1; r = dm_bolt_cursor_next(c, &kv, err))
		if (fn(ctx, &kv, err) < 0) {
			r = -1;
			break;
		}
	dm_bolt_cursor_close(c);
	return r < 0 ? -1 : 0;
}

struct labels_ctx {
	const struct txn *t;
	const char *what;
	dm_labels *out;
};

static int label_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct labels_ctx *lc = ctx;
	char *k = NULL, *v = NULL;
	int rc = -1;

	if (kv->is_bucket)
		return corrupt(lc->t, err, lc->what, "labels: a bucket among the labels");
	if (dup_bytes(lc->t, kv->key, kv->klen, lc->what, "a label key", &k, err) < 0 ||
	    dup_bytes(lc->t, kv->val, kv->vlen, lc->what, "a label value", &v, err) < 0)
		goto out;
	if (dm_labels_set(lc->out, k, v, err) < 0) {
		dm_err_prefix(err, "%s: %s: ", lc->t->path, lc->what);
		err->code = DM_BOLT_ECORRUPT;
		goto out;
	}
	rc = 0;
out:
	free(k);
	free(v);
	return rc;
}

static int read_labels(const struct txn *t, dm_bolt_bucket *b, const char *what, dm_labels *out,
		       dm_error *err)
{
	struct labels_ctx lc = {t, what, out};
	dm_bolt_bucket *lb;
	int r = sub_get(t, b, "labels", what, &lb, err);

	if (r <= 0)
		return r;
	return each(lb, label_kv, &lc, err);
}

void dm_metadb_names_free(dm_metadb_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

static int names_push(const struct txn *t, dm_metadb_names *names, const void *p, size_t n,
		      const char *what, dm_error *err)
{
	char **v;

	/* Grow by doubling: n is a power of two exactly when the array is full. */
	if (!(names->n & (names->n - 1))) {
		if (!(v = realloc(names->v, (names->n ? 2 * names->n : 1) * sizeof *v))) {
			dm_err_nomem(err);
			return dm_err_prefix(err, "%s: %s: ", t->path, what);
		}
		names->v = v;
	}
	if (dup_bytes(t, p, n, what, "a key", &names->v[names->n], err) < 0)
		return -1;
	names->n++;
	return 0;
}

/* What each key of a list bucket must be. */
enum names_want { WANT_VALUES, WANT_BUCKETS, ONLY_BUCKETS /* values skipped */ };

struct names_ctx {
	const struct txn *t;
	const char *what;
	enum names_want want;
	const char *prefix; /* prepended with '/' (lease snapshots: the snapshotter) */
	dm_metadb_names *out;
};

static int name_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct names_ctx *nc = ctx;
	char buf[DM_IDENTIFIER_MAX + 1 + DM_BOLT_MAX_KEY];
	size_t pl;

	if (nc->want == ONLY_BUCKETS && !kv->is_bucket)
		return 0;
	if (kv->klen > DM_BOLT_MAX_KEY)
		return corrupt(nc->t, err, nc->what, "a key of %zu bytes", kv->klen);
	if (kv->is_bucket != (nc->want != WANT_VALUES))
		return corrupt(nc->t, err, nc->what, "\"%.*s\" is a %s where %s belongs",
			       (int)(kv->klen > 200 ? 200 : kv->klen), (const char *)kv->key,
			       kv->is_bucket ? "bucket" : "value",
			       kv->is_bucket ? "a value" : "a bucket");
	if (!nc->prefix)
		return names_push(nc->t, nc->out, kv->key, kv->klen, nc->what, err);
	pl = strlen(nc->prefix);
	memcpy(buf, nc->prefix, pl);
	buf[pl] = '/';
	memcpy(buf + pl + 1, kv->key, kv->klen);
	return names_push(nc->t, nc->out, buf, pl + 1 + kv->klen, nc->what, err);
}

static int read_names(const struct txn *t, dm_bolt_bucket *b, const char *what, enum names_want want,
		      const char *prefix, dm_metadb_names *out, dm_error *err)
{
	struct names_ctx nc = {t, what, want, prefix, out};

	return each(b, name_kv, &nc, err);
}

/* v1/<ns>/<parts...> for reading: 1 and *out, 0 when a part is missing. */
static int ns_get(const struct txn *t, const char *ns, const char *const *parts, size_t n,
		  const char *what, dm_bolt_bucket **out, dm_error *err)
{
	dm_bolt_bucket *b = dm_bolt_root(t->btx);
	int r;

	if (!dm_identifier_valid(ns))
		return dm_err_set(err, EINVAL, "invalid namespace \"%.100s\"", ns);
	if ((r = sub_get(t, b, "v1", what, &b, err)) <= 0 ||
	    (r = sub_get(t, b, ns, what, &b, err)) <= 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = sub_get(t, b, parts[i], what, &b, err)) <= 0)
			return r;
	*out = b;
	return 1;
}

/* v1/<ns>/<parts...>, created as needed. */
static dm_bolt_bucket *ns_create(const struct txn *t, const char *ns, const char *const *parts,
				 size_t n, dm_error *err)
{
	dm_bolt_bucket *b = dm_bolt_root(t->btx);

	if (!dm_identifier_valid(ns)) {
		dm_err_set(err, EINVAL, "invalid namespace \"%.100s\"", ns);
		return NULL;
	}
	if (!(b = sub_create(b, "v1", err)) || !(b = sub_create(b, ns, err)))
		return NULL;
	for (size_t i = 0; i < n && b; i++)
		b = sub_create(b, parts[i], err);
	return b;
}

/* ---- files and transactions ---- */

/* Opens directory name in dfd following no symlink, made first (mode) when create is set.
 * path names it in messages.  Returns the fd or -1. */
static int dir_at(int dfd, const char *name, mode_t mode, bool create, const char *path, dm_error *err)
{
	int fd;

	if (create && mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
		return dm_err_sys(err, "%s: mkdir", path);
	if ((fd = dm_openat_nosym(dfd, name, O_RDONLY | O_DIRECTORY, 0)) >= 0)
		return fd;
	if (errno == ELOOP)
		return dm_err_set(err, ELOOP, "%s: is a symbolic link, want a directory", path);
	if (errno == ENOTDIR)
		return dm_err_set(err, ENOTDIR, "%s: not a directory", path);
	return dm_err_sys(err, "%s", path);
}

/* Opens <root>/<dir>/<file>; read-write, makes root (0700), dir (dirmode)
 * and, if extra is set, <dir>/<extra> (0700) first.  The root is taken as
 * given (it may be a symlink: a moved /var/lib/containerd); nothing below it
 * is followed, so that no file is made or written outside it. */
static int dbfile_open(struct dbfile *f, const char *root, const char *dir, mode_t dirmode,
		       const char *extra, const char *file, unsigned fmode, int flags,
		       const char *locked, dm_error *err)
{
	dm_bolt_options opt = {.mode = fmode};
	bool rdonly = flags & DM_METADB_RDONLY;
	char *d = NULL, *x = NULL;
	int rootfd = -1, dfd = -1, xfd = -1;
	dm_error e = {0};
	int rc = -1;

	if (flags & ~DM_METADB_RDONLY)
		return dm_err_set(err, EINVAL, "%s: invalid open flags 0x%x", root, (unsigned)flags);
	if (!(d = dm_path_join(root, dir, err)) || !(f->path = dm_path_join(d, file, err)))
		goto out;
	if (!rdonly && mkdir(root, 0700) < 0 && errno != EEXIST) {
		dm_err_sys(err, "%s: mkdir", root);
		goto out;
	}
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		dm_err_sys(err, "%s", root);
		goto out;
	}
	if ((dfd = dir_at(rootfd, dir, dirmode, !rdonly, d, err)) < 0)
		goto out;
	if (extra && !rdonly &&
	    (!(x = dm_path_join(d, extra, err)) || (xfd = dir_at(dfd, extra, 0700, true, x, err)) < 0))
		goto out;
	f->db = dm_bolt_open_at(dfd, file, f->path, rdonly ? DM_BOLT_RDONLY : DM_BOLT_CREATE, &opt, &e);
	if (!f->db) {
		if (e.code == EWOULDBLOCK)
			dm_err_set(err, DM_METADB_ELOCKED, "%s: %s", f->path, locked);
		else
			copy_err(err, &e);
		goto out;
	}
	rc = 0;
out:
	if (rootfd >= 0)
		close(rootfd);
	if (dfd >= 0)
		close(dfd);
	if (xfd >= 0)
		close(xfd);
	free(d);
	free(x);
	return rc;
}

static void dbfile_close(struct dbfile *f, struct txn *t)
{
	if (f->in_tx)
		dm_bolt_rollback(t->btx);
	dm_bolt_close(f->db);
	free(f->path);
}

static int txn_begin(struct dbfile *f, struct txn *t, bool writable, dm_error *err)
{
	if (f->in_tx)
		return dm_err_set(err, EBUSY, "%s: a transaction is already open", f->path);
	if (!(t->btx = dm_bolt_begin(f->db, writable, err)))
		return -1;
	t->f = f;
	t->path = f->path;
	clock_gettime(CLOCK_REALTIME, &t->now);
	f->in_tx = true;
	return 0;
}

static int txn_commit(struct txn *t, dm_error *err)
{
	t->f->in_tx = false;
	return dm_bolt_commit(t->btx, err);
}

static void txn_rollback(struct txn *t)
{
	t->f->in_tx = false;
	dm_bolt_rollback(t->btx);
}

/* ---- meta.db ---- */

dm_metadb *dm_metadb_open(const char *root, int flags, dm_error *err)
{
	dm_metadb *md = calloc(1, sizeof *md);
	dm_bolt_bucket *v1;
	struct txn *t;
	int r;

	if (!md) {
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", root);
		return NULL;
	}
	if (dbfile_open(&md->f, root, DM_METADB_DIR, 0711, NULL, DM_METADB_FILE, 0644, flags,
			"containerd is running (meta.db is locked)", err) < 0)
		goto fail;
	t = &md->tx.t;
	if (txn_begin(&md->f, t, !(flags & DM_METADB_RDONLY), err) < 0)
		goto fail;
	if ((r = sub_get(t, dm_bolt_root(t->btx), "v1", "v1", &v1, err)) < 0)
		goto fail_tx;
	if (r == 1) {
		if (read_svarint(t, v1, "version", "v1", &md->version, err) < 0)
			goto fail_tx;
		txn_rollback(t);
		return md;
	}
	if (flags & DM_METADB_RDONLY) {
		txn_rollback(t);
		return md;
	}
	md->version = DM_METADB_VERSION;
	if (!(v1 = dm_bolt_bucket_create(dm_bolt_root(t->btx), "v1", 2, err)) ||
	    put_svarint(v1, "version", md->version, err) < 0)
		goto fail_tx;
	if (txn_commit(t, err) < 0)
		goto fail;
	return md;
fail_tx:
	txn_rollback(t);
fail:
	dm_metadb_close(md);
	return NULL;
}

void dm_metadb_close(dm_metadb *md)
{
	if (!md)
		return;
	dbfile_close(&md->f, &md->tx.t);
	free(md);
}

int64_t dm_metadb_version(const dm_metadb *md)
{
	return md->version;
}

const char *dm_metadb_path(const dm_metadb *md)
{
	return md->f.path;
}

dm_metadb_tx *dm_metadb_begin(dm_metadb *md, bool writable, dm_error *err)
{
	return txn_begin(&md->f, &md->tx.t, writable, err) < 0 ? NULL : &md->tx;
}

int dm_metadb_commit(dm_metadb_tx *tx, dm_error *err)
{
	return txn_commit(&tx->t, err);
}

void dm_metadb_rollback(dm_metadb_tx *tx)
{
	if (tx)
		txn_rollback(&tx->t);
}

int dm_metadb_run(dm_metadb *md, bool writable, int (*fn)(dm_metadb_tx *tx, void *arg, dm_error *err),
		  void *arg, dm_error *err)
{
	dm_metadb_tx *tx = dm_metadb_begin(md, writable, err);
	int rc;

	if (!tx)
		return -1;
	rc = fn(tx, arg, err);
	if (rc < 0 || rc == DM_METADB_UNCHANGED || !writable) {
		dm_metadb_rollback(tx);
		return rc == DM_METADB_UNCHANGED ? 0 : rc;
	}
	return dm_metadb_commit(tx, err) < 0 ? -1 : rc;
}

void dm_metadb_tx_set_time(dm_metadb_tx *tx, const struct timespec *t)
{
	tx->t.now = *t;
}

int dm_metadb_namespace_create(dm_metadb_tx *tx, const char *ns, dm_error *err)
{
	dm_bolt_bucket *b;
	int r = ns_get(&tx->t, ns, NULL, 0, "v1", &b, err);

	if (r != 0)
		return r < 0 ? -1 : 0;
	return ns_create(&tx->t, ns, NULL, 0, err) ? 1 : -1;
}

int dm_metadb_namespace_exists(dm_metadb_tx *tx, const char *ns, dm_error *err)
{
	dm_bolt_bucket *b;

	return ns_get(&tx->t, ns, NULL, 0, "v1", &b, err);
}

/* -- content blobs -- */

static const char *const BLOB_PATH[] = {"content", "blob"};

static int blob_what(char *what, const char *ns, const dm_digest *d, dm_error *err)
{
	if (!dm_digest_valid(d->s))
		return dm_err_set(err, EINVAL, "invalid digest \"%.80s\"", d->s);
	snprintf(what, WHAT_MAX, "v1/%s/content/blob/%s", ns, d->s);
	return 0;
}

/* 1 and *b when blob d has a record; 0 when not. */
static int blob_find(const struct txn *t, const char *ns, const dm_digest *d, const char *what,
		     dm_bolt_bucket **b, dm_error *err)
{
	dm_bolt_bucket *blobs;
	int r = ns_get(t, ns, BLOB_PATH, 2, what, &blobs, err);

	if (r <= 0)
		return r;
	return sub_get(t, blobs, d->s, what, b, err);
}

int dm_metadb_blob_put(dm_metadb_tx *tx, const char *ns, const dm_digest *d, uint64_t size,
		       const dm_labels *labels, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *blobs, *b;
	bool changed = false;
	int64_t old;
	int r;

	if (blob_what(what, ns, d, err) < 0)
		return -1;
	if (size > INT64_MAX)
		return dm_err_set(err, EINVAL, "%s: size %" PRIu64 " too large", what, size);
	if (!(blobs = ns_create(t, ns, BLOB_PATH, 2, err)) ||
	    (r = sub_get(t, blobs, d->s, what, &b, err)) < 0)
		return -1;
	if (r == 0) {
		if (!(b = dm_bolt_bucket_create(blobs, d->s, strlen(d->s), err)) ||
		    put_times(b, &t->now, err) < 0 || put_svarint(b, "size", (int64_t)size, err) < 0 ||
		    write_labels(b, labels, err) < 0)
			return -1;
		return 1;
	}
	if ((r = read_svarint(t, b, "size", what, &old, err)) < 0)
		return -1;
	if (r == 0)
		return corrupt(t, err, what, "no size");
	if (old < 0)
		return corrupt(t, err, what, "negative size");
	if ((uint64_t)old != size)
		return dm_err_set(err, EBADMSG, "%s: %s: the record says %" PRId64 " bytes, not %" PRIu64,
				  t->path, what, old, size);
	if (merge_labels(t, b, what, labels, &changed, err) < 0)
		return -1;
	if (changed && put_time(b, "updatedat", &t->now, err) < 0)
		return -1;
	return changed;
}

int dm_metadb_blob_get(dm_metadb_tx *tx, const char *ns, const dm_digest *d, dm_metadb_blob *out,
		       dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *b;
	int64_t size;
	int r;

	memset(out, 0, sizeof *out);
	if (blob_what(what, ns, d, err) < 0 || (r = blob_find(t, ns, d, what, &b, err)) < 0)
		return -1;
	if (r == 0)
		return 0;
	if ((r = read_svarint(t, b, "size", what, &size, err)) < 0)
		return -1;
	if (r == 0)
		return corrupt(t, err, what, "no size");
	if (size < 0)
		return corrupt(t, err, what, "negative size");
	out->size = (uint64_t)size;
	if (read_times(t, b, what, &out->created, &out->updated, err) < 0 ||
	    read_labels(t, b, what, &out->labels, err) < 0) {
		dm_metadb_blob_free(out);
		return -1;
	}
	return 1;
}

void dm_metadb_blob_free(dm_metadb_blob *b)
{
	dm_labels_free(&b->labels);
}

/* The existing record of blob d, for label updates; ENOENT when none. */
static int blob_existing(const struct txn *t, const char *ns, const dm_digest *d, char *what,
			 dm_bolt_bucket **b, dm_error *err)
{
	int r;

	if (blob_what(what, ns, d, err) < 0 || (r = blob_find(t, ns, d, what, b, err)) < 0)
		return -1;
	if (r == 0)
		return refuse(t, err, ENOENT, what, "no such content record");
	return 0;
}

int dm_metadb_blob_set_label(dm_metadb_tx *tx, const char *ns, const dm_digest *d, const char *key,
			     const char *value, dm_error *err)
{
	const struct txn *t = &tx->t;
	dm_labels one = DM_LABELS_INIT;
	char what[WHAT_MAX];
	dm_bolt_bucket *b;
	bool changed = false;
	int rc = -1;

	if (blob_existing(t, ns, d, what, &b, err) < 0 || dm_labels_set(&one, key, value, err) < 0 ||
	    merge_labels(t, b, what, &one, &changed, err) < 0)
		goto out;
	if (changed && put_time(b, "updatedat", &t->now, err) < 0)
		goto out;
	rc = changed;
out:
	dm_labels_free(&one);
	return rc;
}

int dm_metadb_blob_del_label(dm_metadb_tx *tx, const char *ns, const dm_digest *d, const char *key,
			     dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *b, *lb;
	dm_bolt_cursor *c;
	dm_bolt_kv kv;
	const void *v;
	size_t n;
	int r;

	if (blob_existing(t, ns, d, what, &b, err) < 0 ||
	    (r = sub_get(t, b, "labels", what, &lb, err)) < 0)
		return -1;
	if (r == 0 || (r = dm_bolt_get(lb, key, strlen(key), &v, &n, err)) <= 0)
		return r;
	if (dm_bolt_del(lb, key, strlen(key), err) < 0 || !(c = dm_bolt_cursor_open(lb, err)))
		return -1;
	r = dm_bolt_cursor_first(c, &kv, err);
	dm_bolt_cursor_close(c);
	/* containerd never keeps an empty labels bucket. */
	if (r < 0 || (r == 0 && sub_delete(b, "labels", err) < 0))
		return -1;
	return put_time(b, "updatedat", &t->now, err) < 0 ? -1 : 1;
}

/* -- leases -- */

static const char *const LEASE_PATH[] = {"leases"};

static int lease_what(char *what, const char *ns, const char *id, dm_error *err)
{
	if (!*id)
		return dm_err_set(err, EINVAL, "empty lease id");
	snprintf(what, WHAT_MAX, "v1/%s/leases/%.200s", ns, id);
	return 0;
}

static int lease_find(const struct txn *t, const char *ns, const char *id, const char *what,
		      dm_bolt_bucket **b, dm_error *err)
{
	dm_bolt_bucket *leases;
	int r = ns_get(t, ns, LEASE_PATH, 1, what, &leases, err);

	if (r <= 0)
		return r;
	return sub_get(t, leases, id, what, b, err);
}

/* The lease a resource is added to; ENOENT when it does not exist. */
static int lease_existing(const struct txn *t, const char *ns, const char *id, char *what,
			  dm_bolt_bucket **b, dm_error *err)
{
	int r;

	if (lease_what(what, ns, id, err) < 0 || (r = lease_find(t, ns, id, what, b, err)) < 0)
		return -1;
	if (r == 0)
		return refuse(t, err, ENOENT, what, "lease does not exist");
	return 0;
}

int dm_metadb_lease_create(dm_metadb_tx *tx, const char *ns, const char *id, const dm_labels *labels,
			   dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *leases, *b;
	int r;

	if (lease_what(what, ns, id, err) < 0 || !(leases = ns_create(t, ns, LEASE_PATH, 1, err)) ||
	    (r = sub_get(t, leases, id, what, &b, err)) < 0)
		return -1;
	if (r == 1)
		return refuse(t, err, EEXIST, what, "lease exists");
	if (!(b = dm_bolt_bucket_create(leases, id, strlen(id), err)) ||
	    put_time(b, "createdat", &t->now, err) < 0 || write_labels(b, labels, err) < 0)
		return -1;
	return 0;
}

int dm_metadb_lease_add_content(dm_metadb_tx *tx, const char *ns, const char *id, const dm_digest *d,
				dm_error *err)
{
	char what[WHAT_MAX];
	dm_bolt_bucket *b;

	if (!dm_digest_valid(d->s))
		return dm_err_set(err, EINVAL, "invalid digest \"%.80s\"", d->s);
	if (lease_existing(&tx->t, ns, id, what, &b, err) < 0 || !(b = sub_create(b, "content", err)))
		return -1;
	return put_nil(b, d->s, err);
}

int dm_metadb_lease_add_snapshot(dm_metadb_tx *tx, const char *ns, const char *id, const char *sn,
				 const char *key, dm_error *err)
{
	char what[WHAT_MAX];
	dm_bolt_bucket *b;

	if (!dm_identifier_valid(sn))
		return dm_err_set(err, EINVAL, "invalid snapshotter name \"%.100s\"", sn);
	if (!*key)
		return dm_err_set(err, EINVAL, "empty snapshot key");
	if (lease_existing(&tx->t, ns, id, what, &b, err) < 0 ||
	    !(b = sub_create(b, "snapshots", err)) || !(b = sub_create(b, sn, err)))
		return -1;
	return put_nil(b, key, err);
}

int dm_metadb_lease_delete(dm_metadb_tx *tx, const char *ns, const char *id, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *leases, *b;
	int r;

	if (lease_what(what, ns, id, err) < 0)
		return -1;
	if ((r = ns_get(t, ns, LEASE_PATH, 1, what, &leases, err)) <= 0 ||
	    (r = sub_get(t, leases, id, what, &b, err)) <= 0)
		return r;
	return dm_bolt_bucket_delete(leases, id, strlen(id), err) < 0 ? -1 : 1;
}

int dm_metadb_lease_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *ids, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *leases;
	int r;

	memset(ids, 0, sizeof *ids);
	snprintf(what, sizeof what, "v1/%.100s/leases", ns);
	if ((r = ns_get(t, ns, LEASE_PATH, 1, what, &leases, err)) <= 0)
		return r;
	/* containerd's List skips plain keys here. */
	if (read_names(t, leases, what, ONLY_BUCKETS, NULL, ids, err) < 0) {
		dm_metadb_names_free(ids);
		return -1;
	}
	return 0;
}

struct lease_sn_ctx {
	const struct txn *t;
	dm_bolt_bucket *snaps;
	const char *what;
	dm_metadb_names *out;
};

/* One snapshotter's bucket under a lease's "snapshots". */
static int lease_sn_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct lease_sn_ctx *lc = ctx;
	dm_bolt_bucket *b;
	char *sn = NULL;
	int rc;

	if (!kv->is_bucket)
		return corrupt(lc->t, err, lc->what, "snapshots: a value where a snapshotter bucket belongs");
	if (dup_bytes(lc->t, kv->key, kv->klen, lc->what, "a snapshotter name", &sn, err) < 0)
		return -1;
	rc = (b = dm_bolt_bucket_get(lc->snaps, kv->key, kv->klen, err)) ?
		     read_names(lc->t, b, lc->what, WANT_VALUES, sn, lc->out, err) :
		     -1;
	free(sn);
	return rc;
}

int dm_metadb_lease_get(dm_metadb_tx *tx, const char *ns, const char *id, dm_metadb_lease *out,
			dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *b, *sub;
	struct timespec unused;
	int r;

	memset(out, 0, sizeof *out);
	if (lease_what(what, ns, id, err) < 0)
		return -1;
	if ((r = lease_find(t, ns, id, what, &b, err)) <= 0)
		return r;
	if (read_times(t, b, what, &out->created, &unused, err) < 0 ||
	    read_labels(t, b, what, &out->labels, err) < 0 ||
	    (r = sub_get(t, b, "content", what, &sub, err)) < 0 ||
	    (r && read_names(t, sub, what, WANT_VALUES, NULL, &out->content, err) < 0) ||
	    (r = sub_get(t, b, "snapshots", what, &sub, err)) < 0)
		goto fail;
	if (r) {
		struct lease_sn_ctx lc = {t, sub, what, &out->snapshots};

		if (each(sub, lease_sn_kv, &lc, err) < 0)
			goto fail;
	}
	return 1;
fail:
	dm_metadb_lease_free(out);
	return -1;
}

void dm_metadb_lease_free(dm_metadb_lease *l)
{
	dm_labels_free(&l->labels);
	dm_metadb_names_free(&l->content);
	dm_metadb_names_free(&l->snapshots);
}

/* -- images -- */

static const char *const IMAGE_PATH[] = {"images"};

static void image_what(char *what, const char *ns, const char *name)
{
	snprintf(what, WHAT_MAX, "v1/%s/images/%.250s", ns, name);
}

static int image_read(const struct txn *t, dm_bolt_bucket *b, const char *what, dm_metadb_image *out,
		      dm_error *err)
{
	dm_bolt_bucket *tb;
	int64_t size;
	int r;

	if (read_times(t, b, what, &out->created, &out->updated, err) < 0 ||
	    read_labels(t, b, what, &out->labels, err) < 0 ||
	    (r = sub_get(t, b, "target", what, &tb, err)) < 0)
		return -1;
	if (r == 0)
		return corrupt(t, err, what, "no target bucket");
	if ((r = read_str(t, tb, "digest", what, &out->digest, err)) <= 0)
		return r < 0 ? -1 : corrupt(t, err, what, "target: no digest");
	if ((r = read_str(t, tb, "mediatype", what, &out->media_type, err)) <= 0)
		return r < 0 ? -1 : corrupt(t, err, what, "target: no mediatype");
	if ((r = read_svarint(t, tb, "size", what, &size, err)) <= 0)
		return r < 0 ? -1 : corrupt(t, err, what, "target: no size");
	if (size < 0)
		return corrupt(t, err, what, "target: negative size");
	out->size = (uint64_t)size;
	return 0;
}

static bool labels_equal(const dm_labels *a, const dm_labels *b)
{
	size_t bn = b ? b->n : 0;

	if (a->n != bn)
		return false;
	for (size_t i = 0; i < bn; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	return true;
}

static int write_target(dm_bolt_bucket *b, const dm_descriptor *target, dm_error *err)
{
	dm_bolt_bucket *tb;

	if (sub_delete(b, "target", err) < 0 || !(tb = dm_bolt_bucket_create(b, "target", 6, err)) ||
	    put_str(tb, "digest", target->digest.s, err) < 0 ||
	    put_str(tb, "mediatype", target->media_type, err) < 0 ||
	    put_svarint(tb, "size", (int64_t)target->size, err) < 0)
		return -1;
	return 0;
}

int dm_metadb_image_put(dm_metadb_tx *tx, const char *ns, const char *name,
			const dm_descriptor *target, const dm_labels *labels, dm_error *err)
{
	const struct txn *t = &tx->t;
	dm_metadb_image old = {0};
	char what[WHAT_MAX];
	dm_bolt_bucket *images, *b;
	bool same_target;
	int r, rc = -1;

	image_what(what, ns, name);
	if (!*name)
		return dm_err_set(err, EINVAL, "empty image name");
	if (!target->media_type || !*target->media_type || !dm_digest_valid(target->digest.s) ||
	    !target->size || target->size > INT64_MAX)
		return dm_err_set(err, EINVAL, "%s: invalid target (media type, digest or size)", what);
	if (!(images = ns_create(t, ns, IMAGE_PATH, 1, err)) ||
	    (r = sub_get(t, images, name, what, &b, err)) < 0)
		return -1;
	if (r == 0) {
		if (!(b = dm_bolt_bucket_create(images, name, strlen(name), err)) ||
		    put_times(b, &t->now, err) < 0 || write_target(b, target, err) < 0 ||
		    write_labels(b, labels, err) < 0)
			return -1;
		return 1;
	}
	if (image_read(t, b, what, &old, err) < 0)
		goto out;
	same_target = !strcmp(old.digest, target->digest.s) &&
		      !strcmp(old.media_type, target->media_type) && old.size == target->size;
	rc = 0;
	if (same_target && labels_equal(&old.labels, labels))
		goto out;
	rc = -1;
	/* Annotations describe the old target's descriptor. */
	if (!same_target && (write_target(b, target, err) < 0 || sub_delete(b, "annotations", err) < 0))
		goto out;
	if (write_labels(b, labels, err) < 0 || put_time(b, "updatedat", &t->now, err) < 0)
		goto out;
	rc = 1;
out:
	dm_metadb_image_free(&old);
	return rc;
}

int dm_metadb_image_get(dm_metadb_tx *tx, const char *ns, const char *name, dm_metadb_image *out,
			dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *images, *b;
	int r;

	memset(out, 0, sizeof *out);
	image_what(what, ns, name);
	if (!*name)
		return dm_err_set(err, EINVAL, "empty image name");
	if ((r = ns_get(t, ns, IMAGE_PATH, 1, what, &images, err)) <= 0 ||
	    (r = sub_get(t, images, name, what, &b, err)) <= 0)
		return r;
	if (image_read(t, b, what, out, err) < 0) {
		dm_metadb_image_free(out);
		return -1;
	}
	return 1;
}

void dm_metadb_image_free(dm_metadb_image *img)
{
	free(img->digest);
	free(img->media_type);
	dm_labels_free(&img->labels);
	img->digest = img->media_type = NULL;
}

int dm_metadb_image_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *names, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *images;
	int r;

	memset(names, 0, sizeof *names);
	snprintf(what, sizeof what, "v1/%.100s/images", ns);
	if ((r = ns_get(t, ns, IMAGE_PATH, 1, what, &images, err)) <= 0)
		return r;
	/* A plain key here makes containerd's List fail: report it. */
	if (read_names(t, images, what, WANT_BUCKETS, NULL, names, err) < 0) {
		dm_metadb_names_free(names);
		return -1;
	}
	return 0;
}

/* -- namespace view of snapshots -- */

char *dm_snapshot_backend_name(const char *ns, uint64_t seq, const char *key, dm_error *err)
{
	char *name;

	if (!dm_identifier_valid(ns)) {
		dm_err_set(err, EINVAL, "invalid namespace \"%.100s\"", ns);
		return NULL;
	}
	if (asprintf(&name, "%s/%" PRIu64 "/%s", ns, seq, key) < 0) {
		dm_err_nomem(err);
		dm_err_prefix(err, "snapshot %.100s: ", key);
		return NULL;
	}
	return name;
}

static int snap_args(char *what, const char *ns, const char *sn, const char *key, dm_error *err)
{
	if (!dm_identifier_valid(sn))
		return dm_err_set(err, EINVAL, "invalid snapshotter name \"%.100s\"", sn);
	if (key && !*key)
		return dm_err_set(err, EINVAL, "empty snapshot key");
	snprintf(what, WHAT_MAX, "v1/%s/snapshots/%s/%.200s", ns, sn, key ? key : "");
	return 0;
}

int dm_metadb_snapshot_next_seq(dm_metadb_tx *tx, const char *ns, const char *sn, uint64_t *seq,
				dm_error *err)
{
	char what[WHAT_MAX];
	const char *path[] = {"snapshots", sn};
	dm_bolt_bucket *b;

	if (snap_args(what, ns, sn, NULL, err) < 0 || !(b = ns_create(&tx->t, ns, path, 2, err)))
		return -1;
	return dm_bolt_next_sequence(b, seq, err);
}

int dm_metadb_snapshot_put(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key,
			   uint64_t seq, const char *parent, const dm_labels *labels, dm_error *err)
{
	const struct txn *t = &tx->t;
	const char *path[] = {"snapshots", sn};
	char what[WHAT_MAX];
	dm_bolt_bucket *sb, *b, *pb;
	char *name = NULL;
	int r, rc = -1;

	if (snap_args(what, ns, sn, key, err) < 0)
		return -1;
	if (parent && (!*parent || !strcmp(parent, key)))
		return dm_err_set(err, EINVAL, "%s: invalid parent \"%.200s\"", what, parent);
	if (!(sb = ns_create(t, ns, path, 2, err)) || (r = sub_get(t, sb, key, what, &b, err)) < 0)
		return -1;
	if (r == 1)
		return refuse(t, err, EEXIST, what, "snapshot exists");
	if (parent && (r = sub_get(t, sb, parent, what, &pb, err)) <= 0)
		return r < 0 ? -1 : refuse(t, err, ENOENT, what, "its parent does not exist");
	if (!(name = dm_snapshot_backend_name(ns, seq, key, err)) ||
	    !(b = dm_bolt_bucket_create(sb, key, strlen(key), err)) ||
	    put_str(b, "name", name, err) < 0 || (parent && put_str(b, "parent", parent, err) < 0) ||
	    put_times(b, &t->now, err) < 0 || write_labels(b, labels, err) < 0)
		goto out;
	/* The parent's handle is fetched again after its sibling was created. */
	if (parent && (!(pb = dm_bolt_bucket_get(sb, parent, strlen(parent), err)) ||
		       !(pb = sub_create(pb, "children", err)) || put_nil(pb, key, err) < 0))
		goto out;
	if (dm_bolt_sequence(sb) < seq && dm_bolt_set_sequence(sb, seq, err) < 0)
		goto out;
	rc = 0;
out:
	free(name);
	return rc;
}

int dm_metadb_snapshot_get(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key,
			   dm_metadb_snapshot *out, dm_error *err)
{
	const struct txn *t = &tx->t;
	const char *path[] = {"snapshots", sn};
	char what[WHAT_MAX];
	dm_bolt_bucket *sb, *b, *cb;
	int r;

	memset(out, 0, sizeof *out);
	if (snap_args(what, ns, sn, key, err) < 0)
		return -1;
	if ((r = ns_get(t, ns, path, 2, what, &sb, err)) <= 0 || (r = sub_get(t, sb, key, what, &b, err)) <= 0)
		return r;
	if ((r = read_str(t, b, "name", what, &out->name, err)) <= 0) {
		if (r == 0)
			corrupt(t, err, what, "no name");
		goto fail;
	}
	if (read_str(t, b, "parent", what, &out->parent, err) < 0 ||
	    read_times(t, b, what, &out->created, &out->updated, err) < 0 ||
	    read_labels(t, b, what, &out->labels, err) < 0 ||
	    (r = sub_get(t, b, "children", what, &cb, err)) < 0 ||
	    (r && read_names(t, cb, what, WANT_VALUES, NULL, &out->children, err) < 0))
		goto fail;
	return 1;
fail:
	dm_metadb_snapshot_free(out);
	return -1;
}

void dm_metadb_snapshot_free(dm_metadb_snapshot *s)
{
	free(s->name);
	free(s->parent);
	s->name = s->parent = NULL;
	dm_labels_free(&s->labels);
	dm_metadb_names_free(&s->children);
}

/* ---- snapshotter metadata.db ---- */

/* containerd's readers expect v1/snapshots and v1/parents once the file exists. */
static int snapdb_prepare(dm_snapdb *sd, dm_error *err)
{
	struct txn *t = &sd->tx.t;
	dm_bolt_bucket *v1, *b;
	bool created = false;
	int r;

	if (txn_begin(&sd->f, t, true, err) < 0)
		return -1;
	if ((r = sub_get(t, dm_bolt_root(t->btx), "v1", "v1", &v1, err)) < 0)
		goto fail;
	if (r == 0) {
		if (!(v1 = dm_bolt_bucket_create(dm_bolt_root(t->btx), "v1", 2, err)))
			goto fail;
		created = true;
	}
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "parents" : "snapshots";

		if ((r = sub_get(t, v1, name, "v1", &b, err)) < 0)
			goto fail;
		if (r == 0) {
			if (!dm_bolt_bucket_create(v1, name, strlen(name), err))
				goto fail;
			created = true;
		}
	}
	if (created)
		return txn_commit(t, err);
	txn_rollback(t);
	return 0;
fail:
	txn_rollback(t);
	return -1;
}

dm_snapdb *dm_snapdb_open(const char *root, const char *sn, int flags, dm_error *err)
{
	dm_snapdb *sd;
	char *dir;
	int r;

	if (!dm_identifier_valid(sn)) {
		dm_err_set(err, EINVAL, "invalid snapshotter name \"%.100s\"", sn);
		return NULL;
	}
	if (!(sd = calloc(1, sizeof *sd)) || asprintf(&dir, DM_SNAPDB_DIR_PREFIX "%s", sn) < 0) {
		free(sd);
		dm_err_nomem(err);
		dm_err_prefix(err, "%s: ", root);
		return NULL;
	}
	r = dbfile_open(&sd->f, root, dir, 0700, "snapshots", DM_SNAPDB_FILE, 0600, flags,
			"locked by another process (containerd is running?)", err);
	free(dir);
	if (r < 0 || (!(flags & DM_METADB_RDONLY) && snapdb_prepare(sd, err) < 0)) {
		dm_snapdb_close(sd);
		return NULL;
	}
	return sd;
}

void dm_snapdb_close(dm_snapdb *sd)
{
	if (!sd)
		return;
	dbfile_close(&sd->f, &sd->tx.t);
	free(sd);
}

const char *dm_snapdb_path(const dm_snapdb *sd)
{
	return sd->f.path;
}

dm_snapdb_tx *dm_snapdb_begin(dm_snapdb *sd, bool writable, dm_error *err)
{
	return txn_begin(&sd->f, &sd->tx.t, writable, err) < 0 ? NULL : &sd->tx;
}

int dm_snapdb_commit(dm_snapdb_tx *tx, dm_error *err)
{
	return txn_commit(&tx->t, err);
}

void dm_snapdb_rollback(dm_snapdb_tx *tx)
{
	if (tx)
		txn_rollback(&tx->t);
}

void dm_snapdb_tx_set_time(dm_snapdb_tx *tx, const struct timespec *t)
{
	tx->t.now = *t;
}

/* v1/snapshots and v1/parents: 1 when present, 0 when the file has none. */
static int snapdb_buckets(const struct txn *t, dm_bolt_bucket **snaps, dm_bolt_bucket **parents,
			  dm_error *err)
{
	dm_bolt_bucket *v1;
	int r;

	if ((r = sub_get(t, dm_bolt_root(t->btx), "v1", "v1", &v1, err)) <= 0 ||
	    (r = sub_get(t, v1, "snapshots", "v1", snaps, err)) <= 0)
		return r;
	return parents ? sub_get(t, v1, "parents", "v1", parents, err) : 1;
}

/* Reading, a missing bucket only means "no snapshots"; writing, the file was
 * prepared at open, so it is damage. */
static int snapdb_write_buckets(const struct txn *t, dm_bolt_bucket **snaps,
				dm_bolt_bucket **parents, dm_error *err)
{
	int r = snapdb_buckets(t, snaps, parents, err);

	if (r == 0)
		return corrupt(t, err, "v1", "no snapshots or parents bucket");
	return r < 0 ? -1 : 0;
}

int dm_snapdb_next_id(dm_snapdb_tx *tx, uint64_t *id, dm_error *err)
{
	dm_bolt_bucket *snaps;

	if (snapdb_write_buckets(&tx->t, &snaps, NULL, err) < 0)
		return -1;
	return dm_bolt_next_sequence(snaps, id, err);
}

static int read_kind(const struct txn *t, dm_bolt_bucket *b, const char *what, int *kind,
		     dm_error *err)
{
	const void *v;
	size_t n;
	int r = dm_bolt_get(b, "kind", 4, &v, &n, err);

	if (r < 0)
		return -1;
	if (r == 0)
		return corrupt(t, err, what, "no kind");
	if (n != 1)
		return corrupt(t, err, what, "kind is %zu bytes, not 1", n);
	*kind = *(const uint8_t *)v;
	return 0;
}

static int read_id(const struct txn *t, dm_bolt_bucket *b, const char *what, uint64_t *id,
		   dm_error *err)
{
	int r = read_uvarint(t, b, "id", what, id, err);

	if (r < 0)
		return -1;
	if (r == 0)
		return corrupt(t, err, what, "no id");
	if (*id == 0)
		return corrupt(t, err, what, "id 0");
	return 0;
}

static int snapdb_put(dm_snapdb_tx *tx, const char *name, uint64_t id, const char *parent, int kind_new,
		      int64_t inodes, int64_t size, const dm_labels *labels, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX], pwhat[WHAT_MAX];
	dm_bolt_bucket *snaps, *parents, *b, *pb;
	uint8_t key[2 * DM_VARINT_MAX + 1];
	uint64_t pid = 0;
	size_t kl;
	int r, kind;

	snprintf(what, sizeof what, "v1/snapshots/%.250s", name);
	if (!*name || !id || inodes < 0 || size < 0)
		return dm_err_set(err, EINVAL, "%s: invalid name, id or usage", what);
	if (parent && (!*parent || !strcmp(parent, name)))
		return dm_err_set(err, EINVAL, "%s: invalid parent \"%.200s\"", what, parent);
	if (snapdb_write_buckets(t, &snaps, &parents, err) < 0 ||
	    (r = sub_get(t, snaps, name, what, &b, err)) < 0)
		return -1;
	if (r == 1)
		return refuse(t, err, EEXIST, what, "snapshot exists");
	if (parent) {
		snprintf(pwhat, sizeof pwhat, "v1/snapshots/%.250s", parent);
		if ((r = sub_get(t, snaps, parent, pwhat, &pb, err)) <= 0)
			return r < 0 ? -1 : refuse(t, err, ENOENT, pwhat, "parent does not exist");
		if (read_kind(t, pb, pwhat, &kind, err) < 0 || read_id(t, pb, pwhat, &pid, err) < 0)
			return -1;
		if (kind != DM_SNAPSHOT_COMMITTED)
			return refuse(t, err, EINVAL, pwhat, "parent is not a committed snapshot");
	}
	if (!(b = dm_bolt_bucket_create(snaps, name, strlen(name), err)) ||
	    put_uvarint(b, "id", id, err) < 0 ||
	    put_bytes(b, "kind", (const uint8_t[]){(uint8_t)kind_new}, 1, err) < 0 ||
	    (parent && put_str(b, "parent", parent, err) < 0) || put_times(b, &t->now, err) < 0 ||
	    /* containerd records usage at Commit only: an active snapshot has none. */
	    (kind_new == DM_SNAPSHOT_COMMITTED && (put_svarint(b, "inodes", inodes, err) < 0 ||
						   put_svarint(b, "size", size, err) < 0)) ||
	    write_labels(b, labels, err) < 0)
		return -1;
	if (parent) {
		/* uvarint(parent id) 0x00 uvarint(child id), as containerd's parentKey. */
		kl = dm_uvarint_put(key, pid);
		key[kl++] = 0;
		kl += dm_uvarint_put(key + kl, id);
		if (dm_bolt_put(parents, key, kl, name, strlen(name), err) < 0)
			return -1;
	}
	if (dm_bolt_sequence(snaps) < id && dm_bolt_set_sequence(snaps, id, err) < 0)
		return -1;
	return 0;
}

int dm_snapdb_put_committed(dm_snapdb_tx *tx, const char *name, uint64_t id, const char *parent,
			    int64_t inodes, int64_t size, const dm_labels *labels, dm_error *err)
{
	return snapdb_put(tx, name, id, parent, DM_SNAPSHOT_COMMITTED, inodes, size, labels, err);
}

int dm_snapdb_put_active(dm_snapdb_tx *tx, const char *name, uint64_t id, const char *parent,
			 const dm_labels *labels, dm_error *err)
{
	return snapdb_put(tx, name, id, parent, DM_SNAPSHOT_ACTIVE, 0, 0, labels, err);
}

static int snapdb_read(const struct txn *t, dm_bolt_bucket *b, const char *what,
		       dm_snapdb_snapshot *out, dm_error *err)
{
	if (read_id(t, b, what, &out->id, err) < 0 || read_kind(t, b, what, &out->kind, err) < 0 ||
	    read_str(t, b, "parent", what, &out->parent, err) < 0 ||
	    read_times(t, b, what, &out->created, &out->updated, err) < 0 ||
	    read_svarint(t, b, "inodes", what, &out->inodes, err) < 0 ||
	    read_svarint(t, b, "size", what, &out->size, err) < 0 ||
	    read_labels(t, b, what, &out->labels, err) < 0)
		return -1;
	return 0;
}

int dm_snapdb_get(dm_snapdb_tx *tx, const char *name, dm_snapdb_snapshot *out, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *snaps, *b;
	int r;

	memset(out, 0, sizeof *out);
	snprintf(what, sizeof what, "v1/snapshots/%.250s", name);
	if (!*name)
		return dm_err_set(err, EINVAL, "empty snapshot name");
	if ((r = snapdb_buckets(t, &snaps, NULL, err)) <= 0 || (r = sub_get(t, snaps, name, what, &b, err)) <= 0)
		return r;
	if (snapdb_read(t, b, what, out, err) < 0) {
		dm_snapdb_snapshot_free(out);
		return -1;
	}
	return 1;
}

void dm_snapdb_snapshot_free(dm_snapdb_snapshot *s)
{
	free(s->parent);
	s->parent = NULL;
	dm_labels_free(&s->labels);
}

struct find_ctx {
	const struct txn *t;
	dm_bolt_bucket *snaps;
	const char *ns, *key;
	char **name;
	uint64_t *seq, *id;
};

/* The seq of "<ns>/<seq>/<key>", or 0 when name has another form. */
static uint64_t name_seq(const char *name, size_t n, const char *ns, const char *key)
{
	size_t nl = strlen(ns), kl = strlen(key), i;
	uint64_t seq = 0;

	if (n < nl + kl + 3 || memcmp(name, ns, nl) || name[nl] != '/' ||
	    memcmp(name + n - kl, key, kl) || name[n - kl - 1] != '/')
		return 0;
	for (i = nl + 1; i < n - kl - 1; i++) {
		if (name[i] < '0' || name[i] > '9' || seq > (UINT64_MAX - 9) / 10)
			return 0;
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	}
	return seq;
}

static int find_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct find_ctx *fc = ctx;
	char what[WHAT_MAX];
	dm_bolt_bucket *b;
	uint64_t seq, id;
	int kind;

	if (*fc->name || !kv->is_bucket || !(seq = name_seq(kv->key, kv->klen, fc->ns, fc->key)))
		return 0;
	snprintf(what, sizeof what, "v1/snapshots/%.*s", (int)(kv->klen > 250 ? 250 : kv->klen),
		 (const char *)kv->key);
	if (!(b = dm_bolt_bucket_get(fc->snaps, kv->key, kv->klen, err)) ||
	    read_kind(fc->t, b, what, &kind, err) < 0 || read_id(fc->t, b, what, &id, err) < 0)
		return -1;
	if (kind != DM_SNAPSHOT_COMMITTED)
		return 0;
	if (dup_bytes(fc->t, kv->key, kv->klen, what, "the name", fc->name, err) < 0)
		return -1;
	*fc->seq = seq;
	*fc->id = id;
	return 0;
}

int dm_snapdb_find(dm_snapdb_tx *tx, const char *ns, const char *key, char **name, uint64_t *seq,
		   uint64_t *id, dm_error *err)
{
	struct find_ctx fc = {&tx->t, NULL, ns, key, name, seq, id};
	int r;

	*name = NULL;
	if (!dm_identifier_valid(ns))
		return dm_err_set(err, EINVAL, "invalid namespace \"%.100s\"", ns);
	if (!*key)
		return dm_err_set(err, EINVAL, "empty snapshot key");
	if ((r = snapdb_buckets(&tx->t, &fc.snaps, NULL, err)) <= 0)
		return r;
	if (each(fc.snaps, find_kv, &fc, err) < 0) {
		free(*name);
		*name = NULL;
		return -1;
	}
	return *name != NULL;
}

/* ---- both files ---- */

int dm_snapshot_committed(dm_metadb_tx *mtx, dm_snapdb_tx *stx, const char *ns, const char *sn,
			  const char *key, uint64_t *id, dm_error *err)
{
	dm_metadb_snapshot view;
	dm_snapdb_snapshot back;
	char what[WHAT_MAX];
	int r, rc = -1;

	if ((r = dm_metadb_snapshot_get(mtx, ns, sn, key, &view, err)) <= 0)
		return r;
	snprintf(what, sizeof what, "v1/snapshots/%.250s", view.name);
	if ((r = dm_snapdb_get(stx, view.name, &back, err)) < 0)
		goto out;
	if (r == 0)
		corrupt(&stx->t, err, what, "missing, though %s names it for %.200s", mtx->t.path, key);
	else if (back.kind != DM_SNAPSHOT_COMMITTED)
		corrupt(&stx->t, err, what, "kind %d, not committed", back.kind);
	else {
		if (id)
			*id = back.id;
		rc = 1;
	}
	dm_snapdb_snapshot_free(&back);
out:
	dm_metadb_snapshot_free(&view);
	return rc;
}

/* ---- removal and listing, for rollback (issue 12) ---- */

int dm_metadb_namespace_list(dm_metadb_tx *tx, dm_metadb_names *out, dm_error *err)
{
	const struct txn *t = &tx->t;
	dm_bolt_bucket *v1;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = sub_get(t, dm_bolt_root(t->btx), "v1", "v1", &v1, err)) <= 0)
		return r;
	/* v1/version is a plain key beside the namespace buckets. */
	if (read_names(t, v1, "v1", ONLY_BUCKETS, NULL, out, err) < 0) {
		dm_metadb_names_free(out);
		return -1;
	}
	return 0;
}

/* The names of the buckets at v1/<ns>/<parts...> (none when it is missing). */
static int list_at(const struct txn *t, const char *ns, const char *const *parts, size_t n, const char *what,
		   dm_metadb_names *out, dm_error *err)
{
	dm_bolt_bucket *b;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = ns_get(t, ns, parts, n, what, &b, err)) <= 0)
		return r;
	if (read_names(t, b, what, ONLY_BUCKETS, NULL, out, err) < 0) {
		dm_metadb_names_free(out);
		return -1;
	}
	return 0;
}

/* Deletes bucket name of v1/<ns>/<parts...>: 1 if deleted, 0 if there was none. */
static int delete_at(const struct txn *t, const char *ns, const char *const *parts, size_t n, const char *name,
		     const char *what, dm_error *err)
{
	dm_bolt_bucket *parent, *b;
	int r;

	if ((r = ns_get(t, ns, parts, n, what, &parent, err)) <= 0 ||
	    (r = sub_get(t, parent, name, what, &b, err)) <= 0)
		return r;
	return dm_bolt_bucket_delete(parent, name, strlen(name), err) < 0 ? -1 : 1;
}

int dm_metadb_image_delete(dm_metadb_tx *tx, const char *ns, const char *name, dm_error *err)
{
	char what[WHAT_MAX];

	if (!*name)
		return dm_err_set(err, EINVAL, "empty image name");
	image_what(what, ns, name);
	return delete_at(&tx->t, ns, IMAGE_PATH, 1, name, what, err);
}

int dm_metadb_blob_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err)
{
	char what[WHAT_MAX];

	snprintf(what, sizeof what, "v1/%.100s/content/blob", ns);
	return list_at(&tx->t, ns, BLOB_PATH, 2, what, out, err);
}

int dm_metadb_blob_delete(dm_metadb_tx *tx, const char *ns, const dm_digest *d, dm_error *err)
{
	char what[WHAT_MAX];

	if (blob_what(what, ns, d, err) < 0)
		return -1;
	return delete_at(&tx->t, ns, BLOB_PATH, 2, d->s, what, err);
}

int dm_metadb_snapshotter_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err)
{
	const char *path[] = {"snapshots"};
	char what[WHAT_MAX];

	snprintf(what, sizeof what, "v1/%.100s/snapshots", ns);
	return list_at(&tx->t, ns, path, 1, what, out, err);
}

int dm_metadb_snapshot_list(dm_metadb_tx *tx, const char *ns, const char *sn, dm_metadb_names *out,
			    dm_error *err)
{
	const char *path[] = {"snapshots", sn};
	char what[WHAT_MAX];

	if (snap_args(what, ns, sn, NULL, err) < 0)
		return -1;
	return list_at(&tx->t, ns, path, 2, what, out, err);
}

int dm_metadb_snapshot_delete(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key, dm_error *err)
{
	const struct txn *t = &tx->t;
	const char *path[] = {"snapshots", sn};
	dm_metadb_snapshot s;
	char what[WHAT_MAX];
	dm_bolt_bucket *sb, *pb, *cb;
	int r;

	if (snap_args(what, ns, sn, key, err) < 0)
		return -1;
	if ((r = dm_metadb_snapshot_get(tx, ns, sn, key, &s, err)) <= 0)
		return r;
	if (s.children.n) {
		refuse(t, err, EBUSY, what, "it has children");
		dm_metadb_snapshot_free(&s);
		return -1;
	}
	r = ns_get(t, ns, path, 2, what, &sb, err);
	/* The parent's children entry goes with it, as containerd's Remove does. */
	if (r == 1 && s.parent && (r = sub_get(t, sb, s.parent, what, &pb, err)) == 1 &&
	    (r = sub_get(t, pb, "children", what, &cb, err)) == 1)
		r = dm_bolt_del(cb, key, strlen(key), err) < 0 ? -1 : 1;
	dm_metadb_snapshot_free(&s);
	if (r < 0)
		return -1;
	/* Fetched again: a change below may have moved the bucket's handle. */
	if (ns_get(t, ns, path, 2, what, &sb, err) <= 0)
		return -1;
	return dm_bolt_bucket_delete(sb, key, strlen(key), err) < 0 ? -1 : 1;
}

struct ctr_ctx {
	const struct txn *t;
	dm_bolt_bucket *ctrs;
	dm_metadb_names *out;
};

static int ctr_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct ctr_ctx *cc = ctx;
	char what[WHAT_MAX], *sn = NULL, *key = NULL, *both = NULL;
	dm_bolt_bucket *b;
	int rc = -1;

	if (!kv->is_bucket)
		return 0;
	snprintf(what, sizeof what, "containers/%.*s", (int)(kv->klen > 200 ? 200 : kv->klen), (const char *)kv->key);
	if (!(b = dm_bolt_bucket_get(cc->ctrs, kv->key, kv->klen, err)) ||
	    read_str(cc->t, b, "snapshotter", what, &sn, err) < 0 ||
	    read_str(cc->t, b, "snapshotKey", what, &key, err) < 0)
		goto out;
	rc = 0;
	if (!sn || !key)
		goto out;
	if (asprintf(&both, "%s/%s", sn, key) < 0) {
		rc = dm_err_nomem(err);
		goto out;
	}
	rc = names_push(cc->t, cc->out, both, strlen(both), what, err);
out:
	free(sn);
	free(key);
	free(both);
	return rc;
}

int dm_metadb_container_snapshots(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err)
{
	const char *path[] = {"containers"};
	struct ctr_ctx cc = {&tx->t, NULL, out};
	char what[WHAT_MAX];
	int r;

	memset(out, 0, sizeof *out);
	snprintf(what, sizeof what, "v1/%.100s/containers", ns);
	if ((r = ns_get(&tx->t, ns, path, 1, what, &cc.ctrs, err)) <= 0)
		return r;
	if (each(cc.ctrs, ctr_kv, &cc, err) < 0) {
		dm_metadb_names_free(out);
		return -1;
	}
	return 0;
}

int dm_snapdb_delete(dm_snapdb_tx *tx, const char *name, uint64_t *id, dm_error *err)
{
	const struct txn *t = &tx->t;
	char what[WHAT_MAX];
	dm_bolt_bucket *snaps, *parents, *b;
	dm_snapdb_snapshot s, p;
	uint8_t key[2 * DM_VARINT_MAX + 1];
	dm_bolt_cursor *c;
	dm_bolt_kv kv;
	size_t kl;
	int r;

	snprintf(what, sizeof what, "v1/snapshots/%.250s", name);
	if ((r = dm_snapdb_get(tx, name, &s, err)) <= 0)
		return r;
	*id = s.id;
	if (snapdb_write_buckets(t, &snaps, &parents, err) < 0)
		goto fail;
	/* A snapshot with children cannot go (containerd refuses too). */
	kl = dm_uvarint_put(key, s.id);
	key[kl++] = 0;
	if (!(c = dm_bolt_cursor_open(parents, err)))
		goto fail;
	r = dm_bolt_cursor_seek(c, key, kl, &kv, err);
	if (r == 1 && kv.klen >= kl && !memcmp(kv.key, key, kl)) {
		dm_bolt_cursor_close(c);
		refuse(t, err, EBUSY, what, "it has children");
		goto fail;
	}
	dm_bolt_cursor_close(c);
	if (r < 0)
		goto fail;
	if (s.parent) {
		if ((r = dm_snapdb_get(tx, s.parent, &p, err)) < 0)
			goto fail;
		if (r == 1) {
			kl = dm_uvarint_put(key, p.id);
			key[kl++] = 0;
			kl += dm_uvarint_put(key + kl, s.id);
			dm_snapdb_snapshot_free(&p);
			if (snapdb_write_buckets(t, &snaps, &parents, err) < 0 ||
			    (dm_bolt_del(parents, key, kl, err) < 0))
				goto fail;
		}
	}
	if (snapdb_write_buckets(t, &snaps, &parents, err) < 0 || sub_get(t, snaps, name, what, &b, err) < 0 ||
	    dm_bolt_bucket_delete(snaps, name, strlen(name), err) < 0)
		goto fail;
	dm_snapdb_snapshot_free(&s);
	return 1;
fail:
	dm_snapdb_snapshot_free(&s);
	return -1;
}

struct ids_ctx {
	const struct txn *t;
	dm_bolt_bucket *snaps;
	uint64_t *v;
	size_t n, cap;
};

static int ids_kv(void *ctx, const dm_bolt_kv *kv, dm_error *err)
{
	struct ids_ctx *ic = ctx;
	char what[WHAT_MAX];
	dm_bolt_bucket *b;
	uint64_t id;

	if (!kv->is_bucket)
		return 0;
	snprintf(what, sizeof what, "v1/snapshots/%.*s", (int)(kv->klen > 250 ? 250 : kv->klen), (const char *)kv->key);
	if (!(b = dm_bolt_bucket_get(ic->snaps, kv->key, kv->klen, err)) || read_id(ic->t, b, what, &id, err) < 0)
		return -1;
	if (ic->n == ic->cap) {
		uint64_t *v = realloc(ic->v, (ic->cap = ic->cap ? 2 * ic->cap : 64) * sizeof *v);

		if (!v)
			return dm_err_nomem(err);
		ic->v = v;
	}
	ic->v[ic->n++] = id;
	return 0;
}

int dm_snapdb_ids(dm_snapdb_tx *tx, uint64_t **ids, size_t *n, dm_error *err)
{
	struct ids_ctx ic = {&tx->t, NULL, NULL, 0, 0};
	int r;

	*ids = NULL;
	*n = 0;
	if ((r = snapdb_buckets(&tx->t, &ic.snaps, NULL, err)) <= 0)
		return r;
	if (each(ic.snaps, ids_kv, &ic, err) < 0) {
		free(ic.v);
		return -1;
	}
	*ids = ic.v;
	*n = ic.n;
	return 0;
}
