/* Unit tests for metadb and lease: the encodings against the spec's vectors,
 * every record type written into a fresh root and read back both through
 * metadb and byte by byte through bolt, the files real containerd 1.6.20
 * wrote (fixtures/containerd), damaged records, and locking. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bolt.h"
#include "lease.h"
#include "lease_db.h"
#include "metadb.h"
#include "testutil.h"

/* expr must fail with code and a message containing text. */
#define FAILS(expr, want_code, text)                                                       \
	do {                                                                               \
		dm_err_clear(&err);                                                        \
		ck_assert_msg((long)(expr) <= 0 && err.code != 0, "%s did not fail", #expr); \
		ck_assert_msg(err.code == (want_code), "%s: code %d, not %d (%s)", #expr,   \
			      err.code, (want_code), err.msg);                             \
		ck_assert_msg(strstr(err.msg, text), "%s: \"%s\" lacks \"%s\"", #expr,      \
			      err.msg, text);                                              \
	} while (0)

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define MEDIA "application/vnd.oci.image.manifest.v1+json"

/* 2023-01-01T00:00:00.123456789Z and its Go binary form (spec §0.2). */
static const struct timespec T1 = {1672531200, 123456789};
static const uint8_t T1_BIN[] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0xdb, 0x42, 0xc4,
				 0x00, 0x07, 0x5b, 0xcd, 0x15, 0xff, 0xff};
static const struct timespec T2 = {1700000000, 0};

static dm_error err;
static char scratch[256];
static char root[300];

static void setup(void)
{
	umask(022);
	dm_err_clear(&err);
	tu_mkdtemp(scratch, sizeof scratch, "test_metadb.XXXXXX");
	snprintf(root, sizeof root, "%s/root", scratch);
}

static void teardown(void)
{
	ck_assert_int_eq(tu_rmtree(scratch), 0);
}

static dm_digest dg(const char *s)
{
	dm_digest d;

	ck_assert(strlen(s) == DM_DIGEST_STRLEN);
	memcpy(d.s, s, sizeof d.s);
	return d;
}

static const char *meta_path(void)
{
	static char p[400];

	snprintf(p, sizeof p, "%s/" DM_METADB_DIR "/" DM_METADB_FILE, root);
	return p;
}

static const char *snap_path(const char *sn)
{
	static char p[400];

	snprintf(p, sizeof p, "%s/" DM_SNAPDB_DIR_PREFIX "%s/" DM_SNAPDB_FILE, root, sn);
	return p;
}

/* ---- raw access through bolt ---- */

/* The bucket at the NULL-terminated path below the root of tx. */
static dm_bolt_bucket *rb(dm_bolt_tx *tx, ...)
{
	dm_bolt_bucket *b = dm_bolt_root(tx);
	const char *name;
	va_list ap;

	va_start(ap, tx);
	while (b && (name = va_arg(ap, const char *)))
		b = dm_bolt_bucket_get(b, name, strlen(name), &err);
	va_end(ap);
	ck_assert_msg(b != NULL, "bucket missing: %s", err.msg);
	return b;
}

static void expect_val(dm_bolt_bucket *b, const char *key, const void *want, size_t n)
{
	const void *v;
	size_t vn;

	ck_assert_msg(dm_bolt_get(b, key, strlen(key), &v, &vn, &err) == 1, "no value %s", key);
	ck_assert_msg(vn == n && !memcmp(v, want, n), "value %s: %zu bytes, want %zu", key, vn, n);
}

/* A binary key holding the string want. */
static void expect_key(dm_bolt_bucket *b, const void *key, size_t klen, const char *want)
{
	const void *v;
	size_t vn;

	ck_assert_int_eq(dm_bolt_get(b, key, klen, &v, &vn, &err), 1);
	ck_assert(vn == strlen(want) && !memcmp(v, want, vn));
}

static void expect_str(dm_bolt_bucket *b, const char *key, const char *want)
{
	expect_val(b, key, want, strlen(want));
}

static void expect_absent(dm_bolt_bucket *b, const char *key)
{
	const void *v;
	size_t vn;
	dm_bolt_bucket *sub = dm_bolt_bucket_get(b, key, strlen(key), &err);

	ck_assert_ptr_null(sub);
	ck_assert_int_eq(dm_bolt_get(b, key, strlen(key), &v, &vn, &err), 0);
}

/* Runs bbolt's consistency rules on a closed file. */
static void check_file(const char *path)
{
	dm_bolt *db = NN(dm_bolt_open(path, DM_BOLT_RDONLY, &err));

	OK(dm_bolt_check(db, &err));
	dm_bolt_close(db);
}

static void check_names(const dm_metadb_names *n, size_t count, ...)
{
	va_list ap;

	ck_assert_uint_eq(n->n, count);
	va_start(ap, count);
	for (size_t i = 0; i < count; i++)
		ck_assert_str_eq(n->v[i], va_arg(ap, const char *));
	va_end(ap);
}

static dm_labels labels2(const char *k1, const char *v1, const char *k2, const char *v2)
{
	dm_labels l = DM_LABELS_INIT;

	OK(dm_labels_set(&l, k1, v1, &err));
	if (k2)
		OK(dm_labels_set(&l, k2, v2, &err));
	return l;
}

/* ---- encodings ---- */

/* Bytes from "84 09"-style hex. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (const char *p = hex; *p; p += 2 + (p[2] == ' '))
		ck_assert_int_eq(sscanf(p, "%2hhx", &out[n++]), 1);
	return n;
}

static void check_svarint(int64_t v, const char *hex)
{
	uint8_t buf[DM_VARINT_MAX], want[DM_VARINT_MAX];
	size_t n = dm_svarint_put(buf, v);
	int64_t back;

	ck_assert_msg(n == unhex(hex, want) && !memcmp(buf, want, n), "svarint %lld is not %s",
		      (long long)v, hex);
	OK(dm_svarint_get(buf, n, &back, &err));
	ck_assert(back == v);
}

static void check_uvarint(uint64_t v, const char *hex)
{
	uint8_t buf[DM_VARINT_MAX], want[DM_VARINT_MAX];
	size_t n = dm_uvarint_put(buf, v);
	uint64_t back;

	ck_assert_msg(n == unhex(hex, want) && !memcmp(buf, want, n), "uvarint %llu is not %s",
		      (unsigned long long)v, hex);
	OK(dm_uvarint_get(buf, n, &back, &err));
	ck_assert(back == v);
}

START_TEST(varint_vectors)
{
	uint64_t u;
	int64_t s;

	/* The spec's examples (§0.1), then the extremes. */
	check_svarint(3, "06");
	check_svarint(4, "08");
	check_svarint(578, "84 09");
	check_svarint(335, "9e 05");
	check_svarint(24576, "80 80 03");
	check_svarint(0, "00");
	check_svarint(-1, "01");
	check_svarint(INT64_MAX, "fe ff ff ff ff ff ff ff ff 01");
	check_svarint(INT64_MIN, "ff ff ff ff ff ff ff ff ff 01");
	check_uvarint(1, "01");
	check_uvarint(127, "7f");
	check_uvarint(128, "80 01");
	check_uvarint(300, "ac 02");
	check_uvarint(UINT64_MAX, "ff ff ff ff ff ff ff ff ff 01");

	FAILS(dm_uvarint_get("", 0, &u, &err), DM_BOLT_ECORRUPT, "empty varint");
	FAILS(dm_uvarint_get("\x80", 1, &u, &err), DM_BOLT_ECORRUPT, "truncated varint");
	FAILS(dm_svarint_get("\x84\x89", 2, &s, &err), DM_BOLT_ECORRUPT, "truncated varint");
	FAILS(dm_uvarint_get("\x01\x00", 2, &u, &err), DM_BOLT_ECORRUPT, "1 stray bytes");
	FAILS(dm_uvarint_get("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, &u, &err),
	      DM_BOLT_ECORRUPT, "overflows");
	FAILS(dm_uvarint_get("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11, &u, &err),
	      DM_BOLT_ECORRUPT, "overflows");
	/* Go accepts a non-minimal encoding; so do we. */
	OK(dm_uvarint_get("\x81\x00", 2, &u, &err));
	ck_assert_uint_eq(u, 1);
}
END_TEST

START_TEST(time_vectors)
{
	static const uint8_t real[] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0xe2, 0x9b, 0xde,
				       0xf9, 0x18, 0x76, 0x92, 0xc5, 0xff, 0xff};
	static const uint8_t zero[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	/* The same instant as T1 written by Go in a +02:00 zone, and in version 2
	 * (offset with seconds) form. */
	uint8_t zoned[16], v2[16];
	uint8_t buf[DM_BINTIME_LEN];
	struct timespec t, z = {-62135596800LL, 0};

	dm_bintime_put(buf, &T1);
	ck_assert(!memcmp(buf, T1_BIN, sizeof buf));
	OK(dm_bintime_get(T1_BIN, sizeof T1_BIN, &t, &err));
	ck_assert(t.tv_sec == T1.tv_sec && t.tv_nsec == T1.tv_nsec);

	OK(dm_bintime_get(real, sizeof real, &t, &err));
	/* 2026-11-27T20:28:41Z; the spec's "Unix 1795796921" is a slip. */
	ck_assert(t.tv_sec == 1795811321 && t.tv_nsec == 410424005);
	dm_bintime_put(buf, &t);
	ck_assert(!memcmp(buf, real, sizeof buf));

	dm_bintime_put(buf, &z);
	ck_assert(!memcmp(buf, zero, sizeof buf));

	memcpy(zoned, T1_BIN, 15);
	zoned[13] = 0x00;
	zoned[14] = 0x78; /* +120 minutes */
	OK(dm_bintime_get(zoned, 15, &t, &err));
	ck_assert(t.tv_sec == T1.tv_sec && t.tv_nsec == T1.tv_nsec);
	memcpy(v2, zoned, 15);
	v2[0] = 2;
	v2[15] = 30;
	OK(dm_bintime_get(v2, 16, &t, &err));
	ck_assert(t.tv_sec == T1.tv_sec);

	FAILS(dm_bintime_get(T1_BIN, 0, &t, &err), DM_BOLT_ECORRUPT, "empty time");
	FAILS(dm_bintime_get(T1_BIN, 14, &t, &err), DM_BOLT_ECORRUPT, "is 14 bytes, not 15");
	FAILS(dm_bintime_get(v2, 16, &t, (v2[0] = 1, &err)), DM_BOLT_ECORRUPT, "is 16 bytes, not 15");
	v2[0] = 2;
	FAILS(dm_bintime_get(v2, 15, &t, &err), DM_BOLT_ECORRUPT, "is 15 bytes, not 16");
	v2[0] = 3;
	FAILS(dm_bintime_get(v2, 16, &t, &err), DM_BOLT_ECORRUPT, "unsupported version 3");
	memcpy(buf, T1_BIN, sizeof buf);
	memcpy(buf + 9, "\x3b\x9a\xca\x00", 4); /* 1e9 ns */
	FAILS(dm_bintime_get(buf, sizeof buf, &t, &err), DM_BOLT_ECORRUPT, "1000000000 nanoseconds");
}
END_TEST

START_TEST(identifiers)
{
	char longest[DM_IDENTIFIER_MAX + 2];

	memset(longest, 'a', sizeof longest - 1);
	longest[DM_IDENTIFIER_MAX] = 0;
	ck_assert(dm_identifier_valid("moby"));
	ck_assert(dm_identifier_valid("k8s.io"));
	ck_assert(dm_identifier_valid("a-b_c.d9"));
	ck_assert(dm_identifier_valid(longest));
	longest[DM_IDENTIFIER_MAX] = 'a';
	longest[DM_IDENTIFIER_MAX + 1] = 0;
	ck_assert(!dm_identifier_valid(longest));
	ck_assert(!dm_identifier_valid(""));
	ck_assert(!dm_identifier_valid("version"));
	ck_assert(!dm_identifier_valid("-a"));
	ck_assert(!dm_identifier_valid("a-"));
	ck_assert(!dm_identifier_valid("a..b"));
	ck_assert(!dm_identifier_valid("a/b"));
	ck_assert(!dm_identifier_valid("a b"));
	ck_assert(!dm_identifier_valid("caf\xc3\xa9"));
}
END_TEST

/* ---- a fresh root ---- */

static void expect_mode(const char *path, unsigned mode)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o, want %o", path,
		      st.st_mode & 07777, mode);
}

/* Issue 13: inside the containerd root a symlink is never followed, dangling or not, whether
 * it stands for meta.db, the snapshotter's metadata.db or a directory on their way: the open
 * fails with ELOOP and nothing outside the root is created or written. */
static const struct {
	const char *rel;  /* below the root: a symlink to scratch/outside/<target> */
	const char *target;
	bool dir, exists; /* what the link points to: a directory or a file, there or not */
	bool snap;        /* the snapshotter's file (dm_snapdb_open), else meta.db */
} root_links[] = {
	{ DM_METADB_DIR "/" DM_METADB_FILE, "meta.db", false, true, false },
	{ DM_METADB_DIR "/" DM_METADB_FILE, "meta.db", false, false, false },
	{ DM_METADB_DIR, "bolt", true, true, false },
	{ DM_SNAPDB_DIR_PREFIX "overlayfs/" DM_SNAPDB_FILE, "metadata.db", false, false, true },
	{ DM_SNAPDB_DIR_PREFIX "overlayfs/" DM_SNAPDB_FILE, "metadata.db", false, true, true },
	{ DM_SNAPDB_DIR_PREFIX "overlayfs/snapshots", "snapshots", true, true, true },
	{ DM_SNAPDB_DIR_PREFIX "overlayfs", "overlayfs", true, true, true },
};

START_TEST(root_symlinks_not_followed)
{
	char outside[400], target[600], link[700], parent[700], cmd[800], *slash;
	struct stat st;

	snprintf(outside, sizeof outside, "%s/outside", scratch);
	snprintf(target, sizeof target, "%s/%s", outside, root_links[_i].target);
	snprintf(link, sizeof link, "%s/%s", root, root_links[_i].rel);
	ck_assert_int_eq(mkdir(outside, 0700), 0);
	if (root_links[_i].exists && root_links[_i].dir)
		ck_assert_int_eq(mkdir(target, 0700), 0);
	else if (root_links[_i].exists)
		tu_put(target, "");
	snprintf(parent, sizeof parent, "%s", link);
	slash = strrchr(parent, '/');
	*slash = '\0';
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", parent);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(symlink(target, link), 0);
	if (root_links[_i].snap)
		FAILS(dm_snapdb_open(root, "overlayfs", 0, &err), ELOOP, root_links[_i].rel);
	else
		FAILS(dm_metadb_open(root, 0, &err), ELOOP, root_links[_i].rel);
	/* Nothing made or written outside: the target as it was. */
	if (!root_links[_i].exists) {
		ck_assert_int_eq(lstat(target, &st), -1);
	} else {
		ck_assert_int_eq(lstat(target, &st), 0);
		if (root_links[_i].dir)
			ck_assert_int_eq(st.st_nlink, 2);  /* still empty: no subdirectory made */
		else
			ck_assert_int_eq(st.st_size, 0);
	}
}
END_TEST

START_TEST(fresh_root_layout)
{
	char p[512];
	dm_bolt_stats st;
	uint64_t txid;
	dm_metadb *md = NN(dm_metadb_open(root, 0, &err));
	dm_snapdb *sd = NN(dm_snapdb_open(root, "overlayfs", 0, &err));
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_cursor *c;
	dm_bolt_kv kv;

	ck_assert_int_eq(dm_metadb_version(md), DM_METADB_VERSION);
	ck_assert_str_eq(dm_metadb_path(md), meta_path());
	ck_assert_str_eq(dm_snapdb_path(sd), snap_path("overlayfs"));
	dm_snapdb_close(sd);
	dm_metadb_close(md);
	expect_mode(root, 0700);
	snprintf(p, sizeof p, "%s/" DM_METADB_DIR, root);
	expect_mode(p, 0711);
	expect_mode(meta_path(), 0644);
	snprintf(p, sizeof p, "%s/" DM_SNAPDB_DIR_PREFIX "overlayfs", root);
	expect_mode(p, 0700);
	snprintf(p, sizeof p, "%s/" DM_SNAPDB_DIR_PREFIX "overlayfs/snapshots", root);
	expect_mode(p, 0700);
	expect_mode(snap_path("overlayfs"), 0600);
	check_file(meta_path());
	check_file(snap_path("overlayfs"));

	/* The only top-level bucket is v1, holding version = svarint(3). */
	db = NN(dm_bolt_open(meta_path(), DM_BOLT_RDONLY, &err));
	tx = NN(dm_bolt_begin(db, false, &err));
	c = NN(dm_bolt_cursor_open(dm_bolt_root(tx), &err));
	ck_assert_int_eq(dm_bolt_cursor_first(c, &kv, &err), 1);
	ck_assert(kv.klen == 2 && !memcmp(kv.key, "v1", 2) && kv.is_bucket);
	ck_assert_int_eq(dm_bolt_cursor_next(c, &kv, &err), 0);
	expect_val(rb(tx, "v1", NULL), "version", "\x06", 1);
	dm_bolt_rollback(tx);
	dm_bolt_stats_get(db, &st);
	txid = st.txid;
	dm_bolt_close(db);
	db = NN(dm_bolt_open(snap_path("overlayfs"), DM_BOLT_RDONLY, &err));
	tx = NN(dm_bolt_begin(db, false, &err));
	rb(tx, "v1", "snapshots", NULL);
	rb(tx, "v1", "parents", NULL);
	dm_bolt_rollback(tx);
	dm_bolt_close(db);

	/* Opening again writes nothing. */
	dm_snapdb_close(NN(dm_snapdb_open(root, "overlayfs", 0, &err)));
	dm_metadb_close(NN(dm_metadb_open(root, 0, &err)));
	db = NN(dm_bolt_open(meta_path(), DM_BOLT_RDONLY, &err));
	dm_bolt_stats_get(db, &st);
	ck_assert_uint_eq(st.txid, txid);
	dm_bolt_close(db);

	/* Read-only opens need the file; invalid names are refused. */
	FAILS(dm_snapdb_open(root, "native", DM_METADB_RDONLY, &err), ENOENT, "native");
	FAILS(dm_snapdb_open(root, "../x", 0, &err), EINVAL, "invalid snapshotter name");
	FAILS(dm_metadb_open(root, 8, &err), EINVAL, "invalid open flags");
	snprintf(p, sizeof p, "%s/no/such/root", scratch);
	FAILS(dm_metadb_open(p, 0, &err), ENOENT, "mkdir");
}
END_TEST

START_TEST(locked)
{
	dm_metadb *md = NN(dm_metadb_open(root, 0, &err));
	dm_snapdb *sd = NN(dm_snapdb_open(root, "native", 0, &err));

	FAILS(dm_metadb_open(root, 0, &err), DM_METADB_ELOCKED,
	      "containerd is running (meta.db is locked)");
	ck_assert(strstr(err.msg, meta_path()));
	FAILS(dm_metadb_open(root, DM_METADB_RDONLY, &err), DM_METADB_ELOCKED, "meta.db is locked");
	FAILS(dm_snapdb_open(root, "native", 0, &err), DM_METADB_ELOCKED, "locked by another process");
	/* One transaction at a time per handle. */
	dm_metadb_tx *tx = NN(dm_metadb_begin(md, false, &err));
	FAILS(dm_metadb_begin(md, true, &err), EBUSY, "already open");
	dm_metadb_rollback(tx);
	dm_metadb_rollback(NN(dm_metadb_begin(md, true, &err)));
	/* Closing with an open transaction ends it. */
	NN(dm_snapdb_begin(sd, true, &err));
	dm_snapdb_close(sd);
	dm_metadb_close(md);
	dm_metadb_close(NN(dm_metadb_open(root, DM_METADB_RDONLY, &err)));
}
END_TEST

/* Writes one record of every kind at T1 into root. */
static void write_all(void)
{
	dm_metadb *md = NN(dm_metadb_open(root, 0, &err));
	dm_snapdb *sd = NN(dm_snapdb_open(root, "overlayfs", 0, &err));
	dm_metadb_tx *tx = NN(dm_metadb_begin(md, true, &err));
	dm_snapdb_tx *stx = NN(dm_snapdb_begin(sd, true, &err));
	dm_labels bl = labels2("containerd.io/uncompressed", D3, "dm.test/b", "x");
	dm_labels ll = labels2("containerd.io/gc.expire", "2023-01-02T00:00:00Z", NULL, NULL);
	dm_labels il = labels2("dm.test/image", "yes", NULL, NULL);
	dm_labels sl = labels2("containerd.io/snapshot.ref", "base", NULL, NULL);
	dm_descriptor target = {MEDIA, dg(D2), 398};
	dm_digest d1 = dg(D1), d2 = dg(D2);
	uint64_t seq, id;

	dm_metadb_tx_set_time(tx, &T1);
	dm_snapdb_tx_set_time(stx, &T1);
	ck_assert_int_eq(dm_metadb_namespace_create(tx, "moby", &err), 1);
	ck_assert_int_eq(dm_metadb_namespace_create(tx, "moby", &err), 0);
	ck_assert_int_eq(dm_metadb_blob_put(tx, "moby", &d1, 578, &bl, &err), 1);
	ck_assert_int_eq(dm_metadb_blob_put(tx, "moby", &d2, 398, NULL, &err), 1);
	OK(dm_metadb_lease_create(tx, "moby", "lease-1", &ll, &err));
	OK(dm_metadb_lease_add_content(tx, "moby", "lease-1", &d1, &err));
	OK(dm_metadb_lease_add_snapshot(tx, "moby", "lease-1", "overlayfs", "base", &err));
	ck_assert_int_eq(dm_metadb_image_put(tx, "moby", "docker.io/library/a:1", &target, &il, &err), 1);

	/* Backend first, as the write order wants: base gets id 1, child id 300. */
	OK(dm_snapdb_next_id(stx, &id, &err));
	ck_assert_uint_eq(id, 1);
	OK(dm_snapdb_put_committed(stx, "moby/1/base", 1, NULL, 6, 24576, &sl, &err));
	OK(dm_snapdb_put_committed(stx, "moby/128/child", 300, "moby/1/base", 3, 4096, NULL, &err));
	OK(dm_metadb_snapshot_next_seq(tx, "moby", "overlayfs", &seq, &err));
	ck_assert_uint_eq(seq, 1);
	OK(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "base", seq, NULL, &sl, &err));
	OK(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "child", 128, "base", NULL, &err));
	OK(dm_snapdb_commit(stx, &err));
	OK(dm_metadb_commit(tx, &err));
	dm_labels_free(&bl);
	dm_labels_free(&ll);
	dm_labels_free(&il);
	dm_labels_free(&sl);
	dm_snapdb_close(sd);
	dm_metadb_close(md);
}

START_TEST(records_read_back)
{
	dm_metadb *md;
	dm_snapdb *sd;
	dm_metadb_tx *tx;
	dm_snapdb_tx *stx;
	dm_metadb_blob blob;
	dm_metadb_lease lease;
	dm_metadb_image img;
	dm_metadb_snapshot snap;
	dm_snapdb_snapshot back;
	dm_metadb_names names;
	dm_digest d1 = dg(D1), d3 = dg(D3);
	uint64_t id, seq;
	char *name;

	write_all();
	md = NN(dm_metadb_open(root, DM_METADB_RDONLY, &err));
	sd = NN(dm_snapdb_open(root, "overlayfs", DM_METADB_RDONLY, &err));
	tx = NN(dm_metadb_begin(md, false, &err));
	stx = NN(dm_snapdb_begin(sd, false, &err));

	ck_assert_int_eq(dm_metadb_namespace_exists(tx, "moby", &err), 1);
	ck_assert_int_eq(dm_metadb_namespace_exists(tx, "other", &err), 0);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d1, &blob, &err), 1);
	ck_assert_uint_eq(blob.size, 578);
	ck_assert(blob.created.tv_sec == T1.tv_sec && blob.updated.tv_nsec == T1.tv_nsec);
	ck_assert_uint_eq(blob.labels.n, 2);
	ck_assert_str_eq(dm_labels_get(&blob.labels, "containerd.io/uncompressed"), D3);
	dm_metadb_blob_free(&blob);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d3, &blob, &err), 0);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "other", &d1, &blob, &err), 0);

	ck_assert_int_eq(dm_metadb_lease_get(tx, "moby", "lease-1", &lease, &err), 1);
	ck_assert(lease.created.tv_sec == T1.tv_sec);
	ck_assert_str_eq(dm_labels_get(&lease.labels, "containerd.io/gc.expire"), "2023-01-02T00:00:00Z");
	check_names(&lease.content, 1, D1);
	check_names(&lease.snapshots, 1, "overlayfs/base");
	dm_metadb_lease_free(&lease);
	ck_assert_int_eq(dm_metadb_lease_get(tx, "moby", "lease-2", &lease, &err), 0);
	OK(dm_metadb_lease_list(tx, "moby", &names, &err));
	check_names(&names, 1, "lease-1");
	dm_metadb_names_free(&names);

	ck_assert_int_eq(dm_metadb_image_get(tx, "moby", "docker.io/library/a:1", &img, &err), 1);
	ck_assert_str_eq(img.digest, D2);
	ck_assert_str_eq(img.media_type, MEDIA);
	ck_assert_uint_eq(img.size, 398);
	ck_assert_str_eq(dm_labels_get(&img.labels, "dm.test/image"), "yes");
	dm_metadb_image_free(&img);
	OK(dm_metadb_image_list(tx, "moby", &names, &err));
	check_names(&names, 1, "docker.io/library/a:1");
	dm_metadb_names_free(&names);

	ck_assert_int_eq(dm_metadb_snapshot_get(tx, "moby", "overlayfs", "base", &snap, &err), 1);
	ck_assert_str_eq(snap.name, "moby/1/base");
	ck_assert_ptr_null(snap.parent);
	check_names(&snap.children, 1, "child");
	ck_assert_str_eq(dm_labels_get(&snap.labels, "containerd.io/snapshot.ref"), "base");
	dm_metadb_snapshot_free(&snap);
	ck_assert_int_eq(dm_metadb_snapshot_get(tx, "moby", "overlayfs", "child", &snap, &err), 1);
	ck_assert_str_eq(snap.name, "moby/128/child");
	ck_assert_str_eq(snap.parent, "base");
	ck_assert_uint_eq(snap.children.n, 0);
	dm_metadb_snapshot_free(&snap);
	ck_assert_int_eq(dm_metadb_snapshot_get(tx, "moby", "native", "base", &snap, &err), 0);

	ck_assert_int_eq(dm_snapdb_get(stx, "moby/128/child", &back, &err), 1);
	ck_assert_uint_eq(back.id, 300);
	ck_assert_int_eq(back.kind, DM_SNAPSHOT_COMMITTED);
	ck_assert_str_eq(back.parent, "moby/1/base");
	ck_assert(back.inodes == 3 && back.size == 4096);
	ck_assert_uint_eq(back.labels.n, 0);
	dm_snapdb_snapshot_free(&back);
	ck_assert_int_eq(dm_snapdb_get(stx, "moby/1/nope", &back, &err), 0);

	ck_assert_int_eq(dm_snapshot_committed(tx, stx, "moby", "overlayfs", "child", &id, &err), 1);
	ck_assert_uint_eq(id, 300);
	ck_assert_int_eq(dm_snapshot_committed(tx, stx, "moby", "overlayfs", "nope", &id, &err), 0);
	ck_assert_int_eq(dm_snapdb_find(stx, "moby", "base", &name, &seq, &id, &err), 1);
	ck_assert_str_eq(name, "moby/1/base");
	ck_assert(seq == 1 && id == 1);
	free(name);
	ck_assert_int_eq(dm_snapdb_find(stx, "moby", "bas", &name, &seq, &id, &err), 0);
	ck_assert_int_eq(dm_snapdb_find(stx, "other", "base", &name, &seq, &id, &err), 0);

	dm_snapdb_rollback(stx);
	dm_metadb_rollback(tx);
	dm_snapdb_close(sd);
	dm_metadb_close(md);
}
END_TEST

/* The bytes containerd reads, key by key (spec §2, §3, §6.1). */
START_TEST(records_bytes)
{
	dm_bolt *db;
	dm_bolt_tx *tx;
	dm_bolt_bucket *b;

	write_all();
	check_file(meta_path());
	check_file(snap_path("overlayfs"));

	db = NN(dm_bolt_open(meta_path(), DM_BOLT_RDONLY, &err));
	tx = NN(dm_bolt_begin(db, false, &err));
	expect_val(rb(tx, "v1", NULL), "version", "\x06", 1);
	b = rb(tx, "v1", "moby", "content", "blob", D1, NULL);
	expect_val(b, "size", "\x84\x09", 2);
	expect_val(b, "createdat", T1_BIN, sizeof T1_BIN);
	expect_val(b, "updatedat", T1_BIN, sizeof T1_BIN);
	expect_str(rb(tx, "v1", "moby", "content", "blob", D1, "labels", NULL), "dm.test/b", "x");
	/* No labels: no labels bucket, as WriteLabels does. */
	expect_absent(rb(tx, "v1", "moby", "content", "blob", D2, NULL), "labels");

	b = rb(tx, "v1", "moby", "leases", "lease-1", NULL);
	expect_val(b, "createdat", T1_BIN, sizeof T1_BIN);
	expect_absent(b, "updatedat");
	expect_str(rb(tx, "v1", "moby", "leases", "lease-1", "labels", NULL), "containerd.io/gc.expire",
		   "2023-01-02T00:00:00Z");
	expect_val(rb(tx, "v1", "moby", "leases", "lease-1", "content", NULL), D1, "", 0);
	expect_val(rb(tx, "v1", "moby", "leases", "lease-1", "snapshots", "overlayfs", NULL), "base", "", 0);

	b = rb(tx, "v1", "moby", "images", "docker.io/library/a:1", NULL);
	expect_val(b, "createdat", T1_BIN, sizeof T1_BIN);
	expect_val(b, "updatedat", T1_BIN, sizeof T1_BIN);
	b = rb(tx, "v1", "moby", "images", "docker.io/library/a:1", "target", NULL);
	expect_str(b, "digest", D2);
	expect_str(b, "mediatype", MEDIA);
	expect_val(b, "size", "\x9c\x06", 2);

	b = rb(tx, "v1", "moby", "snapshots", "overlayfs", NULL);
	ck_assert_uint_eq(dm_bolt_sequence(b), 128); /* raised to the largest seq used */
	b = rb(tx, "v1", "moby", "snapshots", "overlayfs", "base", NULL);
	expect_str(b, "name", "moby/1/base");
	expect_absent(b, "parent");
	expect_val(b, "createdat", T1_BIN, sizeof T1_BIN);
	expect_val(rb(tx, "v1", "moby", "snapshots", "overlayfs", "base", "children", NULL), "child", "", 0);
	b = rb(tx, "v1", "moby", "snapshots", "overlayfs", "child", NULL);
	expect_str(b, "name", "moby/128/child");
	expect_str(b, "parent", "base");
	expect_absent(b, "children");
	dm_bolt_rollback(tx);
	dm_bolt_close(db);

	db = NN(dm_bolt_open(snap_path("overlayfs"), DM_BOLT_RDONLY, &err));
	tx = NN(dm_bolt_begin(db, false, &err));
	b = rb(tx, "v1", "snapshots", NULL);
	ck_assert_uint_eq(dm_bolt_sequence(b), 300);
	b = rb(tx, "v1", "snapshots", "moby/1/base", NULL);
	expect_val(b, "id", "\x01", 1);
	expect_val(b, "kind", "\x03", 1);
	expect_val(b, "inodes", "\x0c", 1);
	expect_val(b, "size", "\x80\x80\x03", 3);
	expect_val(b, "updatedat", T1_BIN, sizeof T1_BIN);
	expect_absent(b, "parent");
	expect_str(rb(tx, "v1", "snapshots", "moby/1/base", "labels", NULL), "containerd.io/snapshot.ref",
		   "base");
	b = rb(tx, "v1", "snapshots", "moby/128/child", NULL);
	expect_val(b, "id", "\xac\x02", 2);
	expect_str(b, "parent", "moby/1/base");
	expect_val(b, "size", "\x80\x40", 2);
	/* parents: uvarint(1) 0x00 uvarint(300) → the child's name. */
	expect_key(rb(tx, "v1", "parents", NULL), "\x01\x00\xac\x02", 4, "moby/128/child");
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
}
END_TEST

START_TEST(updates)
{
	dm_metadb *md;
	dm_metadb_tx *tx;
	dm_metadb_blob blob;
	dm_metadb_image img;
	dm_metadb_names names;
	dm_digest d1 = dg(D1), d2 = dg(D2), d3 = dg(D3), bad = dg(D3);
	dm_labels l = labels2("dm.test/b", "x", NULL, NULL), l2 = labels2("dm.test/new", "1", NULL, NULL);
	dm_descriptor same = {MEDIA, dg(D2), 398}, other = {MEDIA, dg(D3), 10};

	write_all();
	md = NN(dm_metadb_open(root, 0, &err));
	tx = NN(dm_metadb_begin(md, true, &err));
	dm_metadb_tx_set_time(tx, &T2);

	/* Repeating a write changes nothing. */
	ck_assert_int_eq(dm_metadb_blob_put(tx, "moby", &d1, 578, &l, &err), 0);
	ck_assert_int_eq(dm_metadb_blob_put(tx, "moby", &d1, 578, NULL, &err), 0);
	FAILS(dm_metadb_blob_put(tx, "moby", &d1, 579, NULL, &err), EBADMSG, "says 578 bytes, not 579");
	/* Labels merge; createdat stays, updatedat moves. */
	ck_assert_int_eq(dm_metadb_blob_put(tx, "moby", &d1, 578, &l2, &err), 1);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d1, &blob, &err), 1);
	ck_assert_uint_eq(blob.labels.n, 3);
	ck_assert(blob.created.tv_sec == T1.tv_sec && blob.updated.tv_sec == T2.tv_sec);
	dm_metadb_blob_free(&blob);
	ck_assert_int_eq(dm_metadb_blob_set_label(tx, "moby", &d2, "k", "v", &err), 1);
	ck_assert_int_eq(dm_metadb_blob_set_label(tx, "moby", &d2, "k", "v", &err), 0);
	ck_assert_int_eq(dm_metadb_blob_set_label(tx, "moby", &d2, "k", "w", &err), 1);
	ck_assert_int_eq(dm_metadb_blob_del_label(tx, "moby", &d2, "nope", &err), 0);
	ck_assert_int_eq(dm_metadb_blob_del_label(tx, "moby", &d2, "k", &err), 1);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d2, &blob, &err), 1);
	ck_assert_uint_eq(blob.labels.n, 0);
	dm_metadb_blob_free(&blob);
	FAILS(dm_metadb_blob_set_label(tx, "moby", &d3, "k", "v", &err), ENOENT, "no such content record");
	FAILS(dm_metadb_blob_set_label(tx, "moby", &d1, "k", "", &err), EINVAL, "empty value");
	FAILS(dm_metadb_blob_del_label(tx, "moby", &d3, "k", &err), ENOENT, "no such content record");
	bad.s[10] = 'X';
	FAILS(dm_metadb_blob_put(tx, "moby", &bad, 1, NULL, &err), EINVAL, "invalid digest");
	FAILS(dm_metadb_blob_put(tx, "bad ns", &d1, 1, NULL, &err), EINVAL, "invalid namespace");
	FAILS(dm_metadb_blob_get(tx, "version", &d1, &blob, &err), EINVAL, "invalid namespace");

	/* Images: same target and labels → nothing; a new target replaces it. */
	dm_labels il = labels2("dm.test/image", "yes", NULL, NULL);
	ck_assert_int_eq(dm_metadb_image_put(tx, "moby", "docker.io/library/a:1", &same, &il, &err), 0);
	ck_assert_int_eq(dm_metadb_image_put(tx, "moby", "docker.io/library/a:1", &same, NULL, &err), 1);
	ck_assert_int_eq(dm_metadb_image_put(tx, "moby", "docker.io/library/a:1", &other, NULL, &err), 1);
	ck_assert_int_eq(dm_metadb_image_get(tx, "moby", "docker.io/library/a:1", &img, &err), 1);
	ck_assert_str_eq(img.digest, D3);
	ck_assert_uint_eq(img.size, 10);
	ck_assert_uint_eq(img.labels.n, 0);
	ck_assert(img.created.tv_sec == T1.tv_sec && img.updated.tv_sec == T2.tv_sec);
	dm_metadb_image_free(&img);
	dm_labels_free(&il);
	other.size = 0;
	FAILS(dm_metadb_image_put(tx, "moby", "x", &other, NULL, &err), EINVAL, "invalid target");
	other.size = 1;
	other.media_type = "";
	FAILS(dm_metadb_image_put(tx, "moby", "x", &other, NULL, &err), EINVAL, "invalid target");
	FAILS(dm_metadb_image_put(tx, "moby", "", &same, NULL, &err), EINVAL, "empty image name");
	ck_assert_int_eq(dm_metadb_image_get(tx, "moby", "docker.io/library/b:1", &img, &err), 0);

	/* Leases. */
	FAILS(dm_metadb_lease_create(tx, "moby", "lease-1", NULL, &err), EEXIST, "lease exists");
	FAILS(dm_metadb_lease_add_content(tx, "moby", "lease-2", &d1, &err), ENOENT,
	      "v1/moby/leases/lease-2: lease does not exist");
	FAILS(dm_metadb_lease_add_snapshot(tx, "moby", "lease-1", "a/b", "k", &err), EINVAL,
	      "invalid snapshotter");
	FAILS(dm_metadb_lease_add_snapshot(tx, "moby", "lease-1", "native", "", &err), EINVAL,
	      "empty snapshot key");
	FAILS(dm_metadb_lease_create(tx, "moby", "", NULL, &err), EINVAL, "empty lease id");
	OK(dm_metadb_lease_create(tx, "moby", "lease-0", NULL, &err));
	OK(dm_metadb_lease_list(tx, "moby", &names, &err));
	check_names(&names, 2, "lease-0", "lease-1");
	dm_metadb_names_free(&names);
	ck_assert_int_eq(dm_metadb_lease_delete(tx, "moby", "lease-1", &err), 1);
	ck_assert_int_eq(dm_metadb_lease_delete(tx, "moby", "lease-1", &err), 0);
	ck_assert_int_eq(dm_metadb_lease_delete(tx, "other", "lease-1", &err), 0);

	/* Snapshots in the namespace view. */
	FAILS(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "base", 5, NULL, NULL, &err), EEXIST,
	      "snapshot exists");
	FAILS(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "x", 5, "nope", NULL, &err), ENOENT,
	      "its parent does not exist");
	FAILS(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "x", 5, "x", NULL, &err), EINVAL,
	      "invalid parent");
	FAILS(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "", 5, NULL, NULL, &err), EINVAL,
	      "empty snapshot key");
	{
		uint64_t seq;

		OK(dm_metadb_snapshot_next_seq(tx, "moby", "overlayfs", &seq, &err));
		ck_assert_uint_eq(seq, 129);
	}
	OK(dm_metadb_commit(tx, &err));
	dm_metadb_close(md);
	check_file(meta_path());
	dm_labels_free(&l);
	dm_labels_free(&l2);
}
END_TEST

START_TEST(snapdb_rules)
{
	dm_snapdb *sd;
	dm_snapdb_tx *stx;
	dm_bolt *db;
	dm_bolt_tx *tx;
	uint64_t id;
	char name[64];

	write_all();
	/* An active snapshot cannot be a parent. */
	db = NN(dm_bolt_open(snap_path("overlayfs"), 0, &err));
	tx = NN(dm_bolt_begin(db, true, &err));
	dm_bolt_bucket *b = NN(dm_bolt_bucket_create(rb(tx, "v1", "snapshots", NULL), "moby/7/active", 13, &err));
	OK(dm_bolt_put(b, "id", 2, "\x07", 1, &err));
	OK(dm_bolt_put(b, "kind", 4, "\x02", 1, &err));
	OK(dm_bolt_commit(tx, &err));
	dm_bolt_close(db);

	sd = NN(dm_snapdb_open(root, "overlayfs", 0, &err));
	stx = NN(dm_snapdb_begin(sd, true, &err));
	OK(dm_snapdb_next_id(stx, &id, &err));
	ck_assert_uint_eq(id, 301); /* after the raised sequence */
	FAILS(dm_snapdb_put_committed(stx, "moby/9/x", id, "moby/7/active", 0, 0, NULL, &err), EINVAL,
	      "parent is not a committed snapshot");
	FAILS(dm_snapdb_put_committed(stx, "moby/9/x", id, "moby/1/nope", 0, 0, NULL, &err), ENOENT,
	      "parent does not exist");
	FAILS(dm_snapdb_put_committed(stx, "moby/1/base", id, NULL, 0, 0, NULL, &err), EEXIST,
	      "snapshot exists");
	FAILS(dm_snapdb_put_committed(stx, "moby/9/x", 0, NULL, 0, 0, NULL, &err), EINVAL, "invalid");
	FAILS(dm_snapdb_put_committed(stx, "moby/9/x", id, NULL, -1, 0, NULL, &err), EINVAL, "invalid");
	/* The active one is not what find looks for. */
	{
		char *found;
		uint64_t seq;

		ck_assert_int_eq(dm_snapdb_find(stx, "moby", "active", &found, &seq, &id, &err), 0);
	}
	/* A second child of base gets its own parents entry. */
	snprintf(name, sizeof name, "moby/200/second");
	OK(dm_snapdb_put_committed(stx, name, 301, "moby/1/base", 1, 0, NULL, &err));
	OK(dm_snapdb_commit(stx, &err));
	dm_snapdb_close(sd);
	check_file(snap_path("overlayfs"));

	db = NN(dm_bolt_open(snap_path("overlayfs"), DM_BOLT_RDONLY, &err));
	tx = NN(dm_bolt_begin(db, false, &err));
	expect_key(rb(tx, "v1", "parents", NULL), "\x01\x00\xac\x02", 4, "moby/128/child");
	expect_key(rb(tx, "v1", "parents", NULL), "\x01\x00\xad\x02", 4, "moby/200/second");
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
}
END_TEST

/* ---- what containerd 1.6.20 wrote (fixtures/containerd/make.sh) ---- */

#define FX_MANIFEST "sha256:030d2370c433657899a947871269cf19c1b0e4a361c2379aa43e2e3bd518eb39"
#define FX_CONFIG "sha256:7a4dcdc7fe7e3ca5b0f487c2cace8012f0b53ebfd55023bf63d859091b57bc88"
#define FX_LAYER "sha256:05b2e20575cebfc6486e329e23276f236cc0cbd457f0431b8ce52bf634299a4e"
#define FX_BLOB "sha256:df475348c5fdc7effebd377fa31e7bc597ebf7af0bab252c8665ecc6ccdedfac"
#define FX_IMAGE "docker.io/library/dmfixture:1.0"

static void copy_fixtures(void)
{
	const char *src = getenv("top_srcdir");
	char cmd[2048];

	ck_assert_msg(src != NULL, "top_srcdir is not set");
	snprintf(cmd, sizeof cmd,
		 "mkdir -p '%s/" DM_METADB_DIR "' '%s/" DM_SNAPDB_DIR_PREFIX "overlayfs' && "
		 "cp '%s/fixtures/containerd/meta.db' '%s' && "
		 "cp '%s/fixtures/containerd/overlayfs-metadata.db' '%s'",
		 root, root, src, meta_path(), src, snap_path("overlayfs"));
	ck_assert_int_eq(system(cmd), 0);
}

/* Reads containerd's records; returns the layer snapshot's backend name. */
static void read_fixture_records(dm_metadb_tx *tx, dm_snapdb_tx *stx)
{
	dm_metadb_image img;
	dm_metadb_blob blob;
	dm_metadb_lease lease;
	dm_metadb_snapshot snap;
	dm_snapdb_snapshot back;
	dm_digest d = dg(FX_MANIFEST);
	uint64_t id;

	ck_assert_int_eq(dm_metadb_image_get(tx, "moby", FX_IMAGE, &img, &err), 1);
	ck_assert_str_eq(img.digest, FX_MANIFEST);
	ck_assert_str_eq(img.media_type, MEDIA);
	ck_assert_uint_eq(img.size, 398);
	ck_assert_uint_eq(img.labels.n, 0);
	dm_metadb_image_free(&img);

	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d, &blob, &err), 1);
	ck_assert_uint_eq(blob.size, 398);
	ck_assert_str_eq(dm_labels_get(&blob.labels, "containerd.io/gc.ref.content.config"), FX_CONFIG);
	ck_assert_str_eq(dm_labels_get(&blob.labels, "containerd.io/gc.ref.content.l.0"), FX_LAYER);
	/* Commit time, then a later label update. */
	ck_assert(blob.created.tv_sec > 1700000000 && blob.updated.tv_sec >= blob.created.tv_sec);
	dm_metadb_blob_free(&blob);
	d = dg(FX_LAYER);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d, &blob, &err), 1);
	ck_assert_uint_eq(blob.size, 10240);
	dm_metadb_blob_free(&blob);
	d = dg(FX_BLOB);
	ck_assert_int_eq(dm_metadb_blob_get(tx, "moby", &d, &blob, &err), 1);
	ck_assert_uint_eq(blob.size, 38);
	ck_assert_str_eq(dm_labels_get(&blob.labels, "containerd.io/gc.root"), "fixture");
	dm_metadb_blob_free(&blob);

	ck_assert_int_eq(dm_metadb_lease_get(tx, "moby", "dm-fixture-lease", &lease, &err), 1);
	ck_assert_str_eq(dm_labels_get(&lease.labels, "containerd.io/gc.flat"), "yes");
	ck_assert_str_eq(dm_labels_get(&lease.labels, "dm.test/purpose"), "fixture");
	dm_metadb_lease_free(&lease);

	ck_assert_int_eq(dm_metadb_snapshot_get(tx, "moby", "overlayfs", FX_LAYER, &snap, &err), 1);
	ck_assert_str_eq(snap.name, "moby/2/" FX_LAYER);
	ck_assert_ptr_null(snap.parent);
	dm_metadb_snapshot_free(&snap);
	ck_assert_int_eq(dm_snapdb_get(stx, "moby/2/" FX_LAYER, &back, &err), 1);
	ck_assert_uint_eq(back.id, 1);
	ck_assert_int_eq(back.kind, DM_SNAPSHOT_COMMITTED);
	ck_assert(back.inodes == 3 && back.size == 12288);
	dm_snapdb_snapshot_free(&back);
	ck_assert_int_eq(dm_snapshot_committed(tx, stx, "moby", "overlayfs", FX_LAYER, &id, &err), 1);
	ck_assert_uint_eq(id, 1);
}

START_TEST(containerd_fixture)
{
	dm_metadb *md;
	dm_snapdb *sd;
	dm_metadb_tx *tx;
	dm_snapdb_tx *stx;
	dm_descriptor target = {MEDIA, dg(FX_MANIFEST), 398};
	uint64_t id, seq;
	dm_bolt *db;
	dm_bolt_tx *btx;

	copy_fixtures();
	md = NN(dm_metadb_open(root, 0, &err));
	sd = NN(dm_snapdb_open(root, "overlayfs", 0, &err));
	ck_assert_int_eq(dm_metadb_version(md), 3);
	tx = NN(dm_metadb_begin(md, true, &err));
	stx = NN(dm_snapdb_begin(sd, true, &err));
	read_fixture_records(tx, stx);

	/* Same image again: nothing to write, annotations stay. */
	ck_assert_int_eq(dm_metadb_image_put(tx, "moby", FX_IMAGE, &target, NULL, &err), 0);
	/* A child on top continues both sequences. */
	OK(dm_snapdb_next_id(stx, &id, &err));
	ck_assert_uint_eq(id, 2);
	OK(dm_metadb_snapshot_next_seq(tx, "moby", "overlayfs", &seq, &err));
	ck_assert_uint_eq(seq, 3);
	OK(dm_snapdb_put_committed(stx, "moby/3/child", id, "moby/2/" FX_LAYER, 1, 4096, NULL, &err));
	OK(dm_metadb_snapshot_put(tx, "moby", "overlayfs", "child", seq, FX_LAYER, NULL, &err));
	OK(dm_snapdb_commit(stx, &err));
	OK(dm_metadb_commit(tx, &err));
	dm_snapdb_close(sd);
	dm_metadb_close(md);
	check_file(meta_path());
	check_file(snap_path("overlayfs"));

	md = NN(dm_metadb_open(root, DM_METADB_RDONLY, &err));
	sd = NN(dm_snapdb_open(root, "overlayfs", DM_METADB_RDONLY, &err));
	tx = NN(dm_metadb_begin(md, false, &err));
	stx = NN(dm_snapdb_begin(sd, false, &err));
	read_fixture_records(tx, stx);
	ck_assert_int_eq(dm_snapshot_committed(tx, stx, "moby", "overlayfs", "child", &id, &err), 1);
	ck_assert_uint_eq(id, 2);
	dm_snapdb_rollback(stx);
	dm_metadb_rollback(tx);
	dm_snapdb_close(sd);
	dm_metadb_close(md);

	db = NN(dm_bolt_open(meta_path(), DM_BOLT_RDONLY, &err));
	btx = NN(dm_bolt_begin(db, false, &err));
	expect_val(rb(btx, "v1", NULL), "version", "\x06", 1);
	expect_str(rb(btx, "v1", "moby", "images", FX_IMAGE, "annotations", NULL), "io.containerd.image.name",
		   FX_IMAGE);
	expect_val(rb(btx, "v1", "moby", "snapshots", "overlayfs", FX_LAYER, "children", NULL), "child", "", 0);
	dm_bolt_rollback(btx);
	dm_bolt_close(db);
}
END_TEST

/* ---- damaged records ---- */

static dm_bolt_bucket *mk(dm_bolt_bucket *parent, const char *name)
{
	return NN(dm_bolt_bucket_create_if_missing(parent, name, strlen(name), &err));
}

static void put(dm_bolt_bucket *b, const char *key, const void *v, size_t n)
{
	OK(dm_bolt_put(b, key, strlen(key), v, n, &err));
}

START_TEST(damaged_records)
{
	dm_metadb *md;
	dm_snapdb *sd;
	dm_metadb_tx *tx;
	dm_snapdb_tx *stx;
	dm_metadb_blob blob;
	dm_metadb_image img;
	dm_metadb_lease lease;
	dm_metadb_snapshot snap;
	dm_snapdb_snapshot back;
	dm_metadb_names names;
	dm_digest d1 = dg(D1), d2 = dg(D2), d3 = dg(D3);
	dm_bolt *db;
	dm_bolt_tx *btx;
	dm_bolt_bucket *ns, *b;
	uint64_t id;

	dm_snapdb_close(NN(dm_snapdb_open(root, "overlayfs", 0, &err)));
	dm_metadb_close(NN(dm_metadb_open(root, 0, &err)));
	db = NN(dm_bolt_open(meta_path(), 0, &err));
	btx = NN(dm_bolt_begin(db, true, &err));
	ns = mk(rb(btx, "v1", NULL), "moby");
	b = mk(mk(mk(ns, "content"), "blob"), D1);
	put(b, "size", "\x80", 1);
	b = mk(rb(btx, "v1", "moby", "content", "blob", NULL), D2);
	put(b, "size", "\x02", 1);
	put(b, "createdat", T1_BIN, 14);
	mk(rb(btx, "v1", "moby", "content", "blob", NULL), D3);
	b = mk(mk(ns, "images"), "no-target");
	put(b, "createdat", T1_BIN, sizeof T1_BIN);
	b = mk(mk(rb(btx, "v1", "moby", "images", NULL), "no-digest"), "target");
	put(b, "mediatype", MEDIA, strlen(MEDIA));
	put(b, "size", "\x02", 1);
	b = mk(mk(mk(ns, "leases"), "L"), "labels");
	mk(b, "sub");
	put(rb(btx, "v1", "moby", "leases", NULL), "plain", "x", 1);
	b = mk(mk(mk(ns, "snapshots"), "overlayfs"), "no-name");
	put(b, "parent", "x", 1);
	b = mk(rb(btx, "v1", "moby", "snapshots", "overlayfs", NULL), "no-backend");
	put(b, "name", "moby/5/missing", 14);
	put(mk(mk(rb(btx, "v1", NULL), "ns2"), "images"), "plain", "x", 1);
	OK(dm_bolt_commit(btx, &err));
	dm_bolt_close(db);

	db = NN(dm_bolt_open(snap_path("overlayfs"), 0, &err));
	btx = NN(dm_bolt_begin(db, true, &err));
	b = mk(rb(btx, "v1", "snapshots", NULL), "bad-kind");
	put(b, "id", "\x01", 1);
	put(b, "kind", "\x03\x03", 2);
	b = mk(rb(btx, "v1", "snapshots", NULL), "bad-id");
	put(b, "id", "\x80", 1);
	put(b, "kind", "\x03", 1);
	b = mk(rb(btx, "v1", "snapshots", NULL), "no-id");
	put(b, "kind", "\x03", 1);
	OK(dm_bolt_commit(btx, &err));
	dm_bolt_close(db);

	md = NN(dm_metadb_open(root, 0, &err));
	sd = NN(dm_snapdb_open(root, "overlayfs", 0, &err));
	tx = NN(dm_metadb_begin(md, true, &err));
	stx = NN(dm_snapdb_begin(sd, true, &err));
	FAILS(dm_metadb_blob_get(tx, "moby", &d1, &blob, &err), DM_BOLT_ECORRUPT,
	      "v1/moby/content/blob/" D1 ": size: truncated varint");
	ck_assert(strstr(err.msg, meta_path()) == err.msg);
	FAILS(dm_metadb_blob_get(tx, "moby", &d2, &blob, &err), DM_BOLT_ECORRUPT,
	      "createdat: time of version 1 is 14 bytes, not 15");
	FAILS(dm_metadb_blob_get(tx, "moby", &d3, &blob, &err), DM_BOLT_ECORRUPT, D3 ": no size");
	FAILS(dm_metadb_blob_put(tx, "moby", &d3, 1, NULL, &err), DM_BOLT_ECORRUPT, "no size");
	FAILS(dm_metadb_image_get(tx, "moby", "no-target", &img, &err), DM_BOLT_ECORRUPT,
	      "images/no-target: no target bucket");
	FAILS(dm_metadb_image_get(tx, "moby", "no-digest", &img, &err), DM_BOLT_ECORRUPT,
	      "target: no digest");
	FAILS(dm_metadb_image_put(tx, "moby", "no-target", &(dm_descriptor){MEDIA, d1, 1}, NULL, &err),
	      DM_BOLT_ECORRUPT, "no target bucket");
	FAILS(dm_metadb_image_list(tx, "ns2", &names, &err), DM_BOLT_ECORRUPT,
	      "v1/ns2/images: \"plain\" is a value where a bucket belongs");
	FAILS(dm_metadb_image_get(tx, "ns2", "plain", &img, &err), DM_BOLT_ECORRUPT,
	      "is a value where a bucket belongs");
	OK(dm_metadb_image_list(tx, "moby", &names, &err));
	check_names(&names, 2, "no-digest", "no-target");
	dm_metadb_names_free(&names);
	FAILS(dm_metadb_lease_get(tx, "moby", "L", &lease, &err), DM_BOLT_ECORRUPT,
	      "a bucket among the labels");
	FAILS(dm_metadb_lease_add_content(tx, "moby", "plain", &d1, &err), DM_BOLT_ECORRUPT,
	      "is a value where a bucket belongs");
	OK(dm_metadb_lease_list(tx, "moby", &names, &err));
	check_names(&names, 1, "L"); /* containerd's List skips the plain key too */
	dm_metadb_names_free(&names);
	FAILS(dm_metadb_snapshot_get(tx, "moby", "overlayfs", "no-name", &snap, &err), DM_BOLT_ECORRUPT,
	      "no-name: no name");
	FAILS(dm_snapshot_committed(tx, stx, "moby", "overlayfs", "no-backend", &id, &err),
	      DM_BOLT_ECORRUPT, "v1/snapshots/moby/5/missing: missing, though");
	FAILS(dm_snapdb_get(stx, "bad-kind", &back, &err), DM_BOLT_ECORRUPT, "kind is 2 bytes, not 1");
	FAILS(dm_snapdb_get(stx, "bad-id", &back, &err), DM_BOLT_ECORRUPT, "bad-id: id: truncated varint");
	FAILS(dm_snapdb_get(stx, "no-id", &back, &err), DM_BOLT_ECORRUPT, "no-id: no id");
	FAILS(dm_snapdb_put_committed(stx, "c", 9, "bad-id", 0, 0, NULL, &err), DM_BOLT_ECORRUPT,
	      "truncated varint");
	dm_snapdb_rollback(stx);
	dm_metadb_rollback(tx);
	dm_snapdb_close(sd);
	dm_metadb_close(md);

	/* A version that is no varint makes the file unusable. */
	db = NN(dm_bolt_open(meta_path(), 0, &err));
	btx = NN(dm_bolt_begin(db, true, &err));
	put(rb(btx, "v1", NULL), "version", "\xff", 1);
	OK(dm_bolt_commit(btx, &err));
	dm_bolt_close(db);
	FAILS(dm_metadb_open(root, 0, &err), DM_BOLT_ECORRUPT, "v1: version: truncated varint");

	/* A snapshotter file without its buckets reads as empty; read-write open adds them. */
	ck_assert_int_eq(unlink(snap_path("overlayfs")), 0);
	dm_bolt_close(NN(dm_bolt_open(snap_path("overlayfs"), DM_BOLT_CREATE, &err)));
	sd = NN(dm_snapdb_open(root, "overlayfs", DM_METADB_RDONLY, &err));
	stx = NN(dm_snapdb_begin(sd, false, &err));
	ck_assert_int_eq(dm_snapdb_get(stx, "x", &back, &err), 0);
	dm_snapdb_rollback(stx);
	dm_snapdb_close(sd);
	dm_snapdb_close(NN(dm_snapdb_open(root, "overlayfs", 0, &err)));
	check_file(snap_path("overlayfs"));
}
END_TEST

/* ---- lease ---- */

START_TEST(lease_lifecycle)
{
	dm_lease l, l2, old, bad;
	dm_metadb *md;
	dm_metadb_tx *tx;
	dm_metadb_lease got;
	dm_metadb_names ids;
	dm_digest d1 = dg(D1);
	unsigned removed;
	const char *id;

	OK(dm_lease_init(&l, "moby", 1700000000, DM_LEASE_TTL, &err));
	OK(dm_lease_init(&l2, "moby", 1700000000, DM_LEASE_TTL, &err));
	OK(dm_lease_init(&old, "moby", 1700000000, -3600, &err));
	ck_assert_str_eq(l.ns, "moby");
	ck_assert_int_eq(strncmp(l.id, "dockerd-migrate-20231114T221320Z-", 33), 0);
	ck_assert_uint_eq(strlen(l.id), 41);
	ck_assert_uint_eq(strspn(l.id + 33, "0123456789abcdef"), 8);
	ck_assert_str_ne(l.id, l2.id);
	ck_assert_uint_eq(l.labels.n, 3);
	ck_assert_ptr_nonnull(dm_labels_get(&l.labels, DM_LEASE_LABEL_PROCESS));
	/* This process made l2, so it is a live run's until its process label names a dead one
	 * (pid 1 with another start time); a lease without the tool's label is never stale. */
	ck_assert(!dm_lease_is_stale(l2.id, &l2.labels, l.id));
	OK(dm_labels_set(&l2.labels, DM_LEASE_LABEL_PROCESS, "1:0", &err));
	ck_assert(dm_lease_is_stale(l2.id, &l2.labels, l.id));
	ck_assert(dm_lease_is_stale(l2.id, &l2.labels, NULL));
	ck_assert(!dm_lease_is_stale(l2.id, &l2.labels, l2.id));
	{
		dm_labels foreign = DM_LABELS_INIT;

		OK(dm_labels_set(&foreign, DM_LEASE_LABEL_PROCESS, "1:0", &err));
		ck_assert(!dm_lease_is_stale("x", &foreign, NULL));
		dm_labels_free(&foreign);
	}
	ck_assert_str_eq(dm_labels_get(&l.labels, DM_LEASE_LABEL_EXPIRE), "2023-11-15T22:13:20Z");
	ck_assert_str_eq(dm_labels_get(&old.labels, DM_LEASE_LABEL_EXPIRE), "2023-11-14T21:13:20Z");
	ck_assert_str_eq(dm_labels_get(&l.labels, DM_LEASE_LABEL_TOOL), PACKAGE_STRING);
	FAILS(dm_lease_init(&bad, "no/ns", 0, 0, &err), EINVAL, "invalid namespace");

	md = NN(dm_metadb_open(root, 0, &err));
	tx = NN(dm_metadb_begin(md, true, &err));
	OK(dm_lease_create(tx, &l, &err));
	FAILS(dm_lease_create(tx, &l, &err), EEXIST, "lease exists");
	OK(dm_lease_add_content(tx, &l, &d1, &err));
	OK(dm_lease_add_content(tx, &l, &d1, &err));
	OK(dm_lease_add_snapshot(tx, &l, "overlayfs", "sha256:chain", &err));
	OK(dm_lease_create(tx, &l2, &err));
	OK(dm_metadb_lease_create(tx, "moby", "foreign", NULL, &err));
	OK(dm_metadb_commit(tx, &err));

	tx = NN(dm_metadb_begin(md, true, &err));
	ck_assert_int_eq(dm_metadb_lease_get(tx, "moby", l.id, &got, &err), 1);
	ck_assert_str_eq(dm_labels_get(&got.labels, DM_LEASE_LABEL_EXPIRE), "2023-11-15T22:13:20Z");
	check_names(&got.content, 1, D1);
	check_names(&got.snapshots, 1, "overlayfs/sha256:chain");
	dm_metadb_lease_free(&got);
	/* The other run's lease goes; ours and containerd's stay. */
	OK(dm_lease_remove_stale(tx, "moby", l.id, &removed, &err));
	ck_assert_uint_eq(removed, 1);
	OK(dm_metadb_lease_list(tx, "moby", &ids, &err));
	id = strcmp(l.id, "foreign") < 0 ? l.id : "foreign";
	ck_assert_uint_eq(ids.n, 2);
	ck_assert_str_eq(ids.v[0], id);
	dm_metadb_names_free(&ids);
	OK(dm_lease_delete(tx, &l, &err));
	OK(dm_lease_delete(tx, &l, &err));
	OK(dm_lease_remove_stale(tx, "moby", NULL, &removed, &err));
	ck_assert_uint_eq(removed, 0);
	OK(dm_metadb_lease_list(tx, "moby", &ids, &err));
	check_names(&ids, 1, "foreign");
	dm_metadb_names_free(&ids);
	OK(dm_metadb_commit(tx, &err));
	dm_metadb_close(md);
	check_file(meta_path());
	dm_lease_free(&l);
	dm_lease_free(&l2);
	dm_lease_free(&old);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metadb");
	TCase *enc = tcase_create("encodings");
	TCase *rec = tcase_create("records");

	tcase_add_test(enc, varint_vectors);
	tcase_add_test(enc, time_vectors);
	tcase_add_test(enc, identifiers);
	suite_add_tcase(s, enc);
	tcase_add_checked_fixture(rec, setup, teardown);
	tcase_add_test(rec, fresh_root_layout);
	tcase_add_loop_test(rec, root_symlinks_not_followed, 0, sizeof root_links / sizeof *root_links);
	tcase_add_test(rec, locked);
	tcase_add_test(rec, records_read_back);
	tcase_add_test(rec, records_bytes);
	tcase_add_test(rec, updates);
	tcase_add_test(rec, snapdb_rules);
	tcase_add_test(rec, containerd_fixture);
	tcase_add_test(rec, damaged_records);
	tcase_add_test(rec, lease_lifecycle);
	suite_add_tcase(s, rec);
	return tu_run(s);
}
