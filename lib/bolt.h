/* bolt: reads and writes bbolt database files (the format of containerd's
 * meta.db and snapshotter metadata.db) the way go.etcd.io/bbolt does, so that
 * bbolt 1.3.6 … 1.4 opens, checks and keeps modifying what we write.  It knows
 * nothing about what the keys mean.  The format: doc/bolt-format.md.
 *
 * Model: one dm_bolt per open file, holding bbolt's flock until close.  At
 * most one transaction is open on a dm_bolt at a time; a dm_bolt is used by
 * one thread at a time (different handles on different files are
 * independent).  Commits are copy-on-write like bbolt's: touched pages are
 * rewritten to free pages, then the alternate meta page is written, with
 * fdatasync before and after, so a crash leaves either the old or the new
 * state.  Keys and values handed out stay valid until the transaction ends.
 *
 * Errors use lib/error.h.  Codes callers may test: EWOULDBLOCK (another
 * process holds the lock), ENOENT (no such bucket), EEXIST (bucket exists),
 * ENOTDIR (a plain value is where a bucket was asked for), EISDIR (a bucket is
 * where a plain value was asked for), EROFS (write in a read-only
 * transaction), EBUSY (a transaction is already open), DM_BOLT_ECORRUPT (the
 * file is damaged). */
#ifndef DM_BOLT_H
#define DM_BOLT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Error code for a damaged file ("Structure needs cleaning"). */
#define DM_BOLT_ECORRUPT EUCLEAN

/* bbolt's API limits, which we enforce on writes too. */
#define DM_BOLT_MAX_KEY 32768
#define DM_BOLT_MAX_VALUE 0x7FFFFFFEu

/* Flags of dm_bolt_open. */
enum {
	DM_BOLT_RDONLY = 1 << 0, /* shared lock, no write transactions */
	DM_BOLT_CREATE = 1 << 1, /* create a missing file (read-write only) */
};

typedef struct dm_bolt dm_bolt;
typedef struct dm_bolt_tx dm_bolt_tx;
typedef struct dm_bolt_bucket dm_bolt_bucket;
typedef struct dm_bolt_cursor dm_bolt_cursor;

/* Options for files we create; zero fields take the defaults. */
typedef struct dm_bolt_options {
	unsigned mode;      /* permission bits of a created file; 0 = 0600 */
	uint32_t page_size; /* page size of a created file; 0 = sysconf(_SC_PAGESIZE) */
} dm_bolt_options;

/* One key of a bucket as a cursor or lookup sees it.  Pointers stay valid
 * until the transaction ends.  For a sub-bucket, val is NULL and vlen 0. */
typedef struct dm_bolt_kv {
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	bool is_bucket;
} dm_bolt_kv;

/* Figures about the file and about the last successful commit, for tests
 * and benchmarks. */
typedef struct dm_bolt_stats {
	uint32_t page_size;
	uint64_t txid;          /* txid of the current meta page */
	uint64_t high_water;    /* pages in use, i.e. meta "pgid" */
	uint64_t file_size;     /* bytes */
	uint64_t free_pages;    /* ids on the freelist (0 for read-only handles, which skip it) */
	uint64_t commit_pages;  /* pages written by the last commit, meta included */
	uint64_t commit_writes; /* pwrite calls of the last commit */
	uint64_t commit_bytes;  /* bytes written by the last commit */
	uint64_t commit_syncs;  /* fdatasync/fsync calls of the last commit */
} dm_bolt_stats;

/* Opens path, taking flock(LOCK_SH) with DM_BOLT_RDONLY, else LOCK_EX, without
 * waiting: EWOULDBLOCK if another open file holds it.  A missing file is made
 * with DM_BOLT_CREATE; an empty file opened read-write is initialised like bbolt. */
dm_bolt *dm_bolt_open(const char *path, int flags, dm_error *err);
/* dm_bolt_open with options for a file that gets created (opt may be NULL). */
dm_bolt *dm_bolt_open_opts(const char *path, int flags, const dm_bolt_options *opt,
			   dm_error *err);
/* dm_bolt_open_opts for the file name (one component) in the directory dir_fd (or AT_FDCWD),
 * never following a symlink (ELOOP) nor opening anything but a regular file (EINVAL: a FIFO or
 * device node there is only looked at); path names the file in messages.  dm_bolt_open and
 * dm_bolt_open_opts open the directory of their path as given and then do this. */
dm_bolt *dm_bolt_open_at(int dir_fd, const char *name, const char *path, int flags,
			 const dm_bolt_options *opt, dm_error *err);
/* Rolls back an open transaction, releases the lock and frees db (NULL is fine). */
void dm_bolt_close(dm_bolt *db);
/* Fills st; no transaction needed. */
void dm_bolt_stats_get(const dm_bolt *db, dm_bolt_stats *st);

/* Checks the committed state like bbolt's Tx.Check (every page below the
 * high-water mark reachable exactly once or free, keys sorted, page types)
 * plus the stricter bbolt 1.3.7/1.4 rules and the shapes bbolt writes.
 * Needs no open transaction (EBUSY otherwise); DM_BOLT_ECORRUPT on the first
 * problem found, described in err. */
int dm_bolt_check(dm_bolt *db, dm_error *err);

/* Starts a transaction; writable needs a read-write db.  EBUSY if one is open. */
dm_bolt_tx *dm_bolt_begin(dm_bolt *db, bool writable, dm_error *err);
/* Writes the changes of a writable tx durably; always ends tx, also on failure
 * (then nothing of it is visible).  Ending a read-only tx this way returns 0. */
int dm_bolt_commit(dm_bolt_tx *tx, dm_error *err);
/* Discards the changes and ends tx (NULL is fine). */
void dm_bolt_rollback(dm_bolt_tx *tx);

/* The root bucket: it holds only buckets, like bbolt's Tx.Bucket/CreateBucket. */
dm_bolt_bucket *dm_bolt_root(dm_bolt_tx *tx);
/* The sub-bucket name of parent; ENOENT if missing or a plain value. */
dm_bolt_bucket *dm_bolt_bucket_get(dm_bolt_bucket *parent, const void *name, size_t len,
				   dm_error *err);
/* Creates sub-bucket name; EEXIST if it exists, ENOTDIR if a value has that key. */
dm_bolt_bucket *dm_bolt_bucket_create(dm_bolt_bucket *parent, const void *name, size_t len,
				      dm_error *err);
/* Returns sub-bucket name, creating it if it is missing. */
dm_bolt_bucket *dm_bolt_bucket_create_if_missing(dm_bolt_bucket *parent, const void *name,
						 size_t len, dm_error *err);
/* Deletes sub-bucket name and everything below it; ENOENT if missing. */
int dm_bolt_bucket_delete(dm_bolt_bucket *parent, const void *name, size_t len, dm_error *err);

/* Looks key up: 1 and *val, *vlen when it holds a value, 0 when missing or a bucket. */
int dm_bolt_get(dm_bolt_bucket *b, const void *key, size_t klen, const void **val, size_t *vlen,
		dm_error *err);
/* Sets key to a copy of val; EISDIR if key is a sub-bucket. */
int dm_bolt_put(dm_bolt_bucket *b, const void *key, size_t klen, const void *val, size_t vlen,
		dm_error *err);
/* Removes key; missing keys are fine, EISDIR if key is a sub-bucket. */
int dm_bolt_del(dm_bolt_bucket *b, const void *key, size_t klen, dm_error *err);

/* The bucket's sequence counter (bbolt Bucket.Sequence). */
uint64_t dm_bolt_sequence(const dm_bolt_bucket *b);
/* Sets the sequence counter (bbolt SetSequence). */
int dm_bolt_set_sequence(dm_bolt_bucket *b, uint64_t seq, dm_error *err);
/* Increments the counter and stores the new value in *out (bbolt NextSequence). */
int dm_bolt_next_sequence(dm_bolt_bucket *b, uint64_t *out, dm_error *err);

/* A cursor over b's keys in byte order; it ends with the transaction at the latest.
 * After changes to the tx, next goes on after the key it returned last. */
dm_bolt_cursor *dm_bolt_cursor_open(dm_bolt_bucket *b, dm_error *err);
/* Moves to the first key: 1 and *kv filled, 0 if the bucket is empty, -1 on error. */
int dm_bolt_cursor_first(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err);
/* Moves to the next key (the first one on a fresh cursor): 1, 0 at the end, -1 on error. */
int dm_bolt_cursor_next(dm_bolt_cursor *c, dm_bolt_kv *kv, dm_error *err);
/* Moves to the first key >= key: 1, 0 if there is none, -1 on error. */
int dm_bolt_cursor_seek(dm_bolt_cursor *c, const void *key, size_t klen, dm_bolt_kv *kv,
			dm_error *err);
/* Frees c early (NULL is fine); otherwise the transaction's end frees it. */
void dm_bolt_cursor_close(dm_bolt_cursor *c);

#endif
