/* metadb: containerd's schema inside its two bolt files, the only module that
 * knows those layouts (doc/containerd-store.md §0, §2, §3, §6.1):
 *   meta.db      <root>/io.containerd.metadata.v1.bolt/meta.db: namespaces,
 *                content blob records, leases, images, the namespace view of
 *                snapshots, all under the one top-level bucket "v1";
 *   metadata.db  <root>/io.containerd.snapshotter.v1.<name>/metadata.db: the
 *                snapshotter's own records (ids, kinds, parents, usage).
 * It writes records only; blob files are lib/content's, snapshot directories
 * the snapshotter's.  Encodings are containerd 1.6's: sizes and the version as
 * Go varints (ZigZag), ids as uvarints, times as Go's 15-byte binary UTC time,
 * labels as a "labels" sub-bucket, "nil" values as zero-length values.
 *
 * Each open handle holds bbolt's exclusive flock until it is closed, so a
 * containerd starting meanwhile waits instead of reading a half-written root.
 * Writes happen inside a transaction (one bolt commit): callers group the
 * records that belong together, e.g. a blob record and its lease entry.  All
 * records written in one transaction carry its time (taken at begin).
 *
 * Readers treat the files as hostile: a malformed value is an error naming
 * the file and the record (code DM_BOLT_ECORRUPT), never a crash.  "get"
 * functions return 1 and fill *out when the record exists, 0 when it does not.
 *
 * Thread-safety: a handle and its transaction belong to one thread at a time
 * (callers that write from several threads serialise on a lock of their own). */
#ifndef DM_METADB_H
#define DM_METADB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bolt.h"
#include "descriptor.h"
#include "digest.h"
#include "error.h"
#include "identifier.h"
#include "labels.h"

#define DM_METADB_DIR "io.containerd.metadata.v1.bolt"
#define DM_METADB_FILE "meta.db"
#define DM_SNAPDB_DIR_PREFIX "io.containerd.snapshotter.v1."
#define DM_SNAPDB_FILE "metadata.db"

/* Schema version written into a new meta.db (containerd 1.6 and 1.7; 2.x
 * migrates it to 4 on its own). */
#define DM_METADB_VERSION 3
/* Error code when containerd (or another run of this tool) holds a file. */
#define DM_METADB_ELOCKED EWOULDBLOCK
/* Snapshot kinds as the snapshotter stores them (one byte). */
enum { DM_SNAPSHOT_VIEW = 1, DM_SNAPSHOT_ACTIVE = 2, DM_SNAPSHOT_COMMITTED = 3 };

/* Open flags. */
enum { DM_METADB_RDONLY = 1 << 0 }; /* shared lock, the file must exist, no writes */

typedef struct dm_metadb dm_metadb;
typedef struct dm_metadb_tx dm_metadb_tx;
typedef struct dm_snapdb dm_snapdb;
typedef struct dm_snapdb_tx dm_snapdb_tx;

/* A list of names read back (image names, lease ids, lease resources). */
typedef struct dm_metadb_names {
	char **v;
	size_t n;
} dm_metadb_names;
void dm_metadb_names_free(dm_metadb_names *names);

/* ---- primitive encodings (§0) ---- */

#define DM_VARINT_MAX 10 /* bytes of the longest 64-bit varint */
#define DM_BINTIME_LEN 15

/* Go binary.PutUvarint / PutVarint (ZigZag): writes the minimal encoding, returns its length. */
size_t dm_uvarint_put(uint8_t buf[DM_VARINT_MAX], uint64_t v);
size_t dm_svarint_put(uint8_t buf[DM_VARINT_MAX], int64_t v);
/* Decode a whole value as one varint: empty, truncated, overflowing or
 * followed by further bytes is DM_BOLT_ECORRUPT. */
int dm_uvarint_get(const void *buf, size_t len, uint64_t *v, dm_error *err);
int dm_svarint_get(const void *buf, size_t len, int64_t *v, dm_error *err);
/* Go time.MarshalBinary of t as a UTC time (version 1, zone bytes ff ff). */
void dm_bintime_put(uint8_t out[DM_BINTIME_LEN], const struct timespec *t);
/* Go time.UnmarshalBinary: version 1 (15 bytes) or 2 (16 bytes), any zone;
 * gives the instant.  Anything else is DM_BOLT_ECORRUPT. */
int dm_bintime_get(const void *buf, size_t len, struct timespec *t, dm_error *err);

/* ---- meta.db ---- */

/* Opens <root>/io.containerd.metadata.v1.bolt/meta.db with the exclusive lock
 * (DM_METADB_RDONLY: shared).  Read-write, a missing root is made 0700 (its
 * parent must exist), the plugin directory 0711 and the file 0644, as
 * containerd makes them; a file without "v1" gets v1/version = 3, an existing
 * version is kept.  A lock held elsewhere fails with DM_METADB_ELOCKED and
 * the message "…: containerd is running (meta.db is locked)". */
dm_metadb *dm_metadb_open(const char *root, int flags, dm_error *err);
/* Rolls back an open transaction, releases the lock and frees md (NULL is fine). */
void dm_metadb_close(dm_metadb *md);
/* v1/version as found or written at open; 0 when v1 has none (containerd then re-runs its migrations). */
int64_t dm_metadb_version(const dm_metadb *md);
/* The path of the meta.db file. */
const char *dm_metadb_path(const dm_metadb *md);

/* Starts a transaction (one at a time per handle; EBUSY otherwise); its time is now. */
dm_metadb_tx *dm_metadb_begin(dm_metadb *md, bool writable, dm_error *err);
/* Writes everything of tx durably and ends it, also on failure (then nothing is written). */
int dm_metadb_commit(dm_metadb_tx *tx, dm_error *err);
/* Discards tx (NULL is fine). */
void dm_metadb_rollback(dm_metadb_tx *tx);
/* What a function run by dm_metadb_run returns when it changed nothing: the write transaction
 * is then rolled back, so meta.db stays byte for byte as it was (a commit would still write a
 * new meta page). */
#define DM_METADB_UNCHANGED 0x7fff

/* Runs fn in one transaction of md, the one transaction runner: fn returns -1 (rolled back, err
 * set), DM_METADB_UNCHANGED (rolled back; 0 is returned) or another value, which is returned
 * after a commit (writable) or a rollback (read-only). */
int dm_metadb_run(dm_metadb *md, bool writable, int (*fn)(dm_metadb_tx *tx, void *arg, dm_error *err),
		  void *arg, dm_error *err);
/* Sets the time the records of tx get (tests; reproducible files). */
void dm_metadb_tx_set_time(dm_metadb_tx *tx, const struct timespec *t);

/* Creates namespace ns (bucket v1/<ns>): 1 if created, 0 if it existed.
 * Every writer below also creates it on demand; EINVAL for an invalid name. */
int dm_metadb_namespace_create(dm_metadb_tx *tx, const char *ns, dm_error *err);
/* 1 if v1/<ns> exists, 0 if not. */
int dm_metadb_namespace_exists(dm_metadb_tx *tx, const char *ns, dm_error *err);

/* -- content blob records: v1/<ns>/content/blob/<digest> -- */
typedef struct dm_metadb_blob {
	uint64_t size;
	struct timespec created, updated;
	dm_labels labels;
} dm_metadb_blob;

/* Records blob d of size bytes in ns and sets labels on it (NULL: none),
 * keeping its other labels.  A new record gets createdat = updatedat = the
 * tx time; an existing one keeps createdat, gets updatedat only when a label
 * changes, and must say the same size (EBADMSG otherwise).  Returns 1 when it
 * wrote something, 0 when the record already said all of it. */
int dm_metadb_blob_put(dm_metadb_tx *tx, const char *ns, const dm_digest *d, uint64_t size,
		       const dm_labels *labels, dm_error *err);
/* Reads blob d's record; free it with dm_metadb_blob_free. */
int dm_metadb_blob_get(dm_metadb_tx *tx, const char *ns, const dm_digest *d, dm_metadb_blob *out,
		       dm_error *err);
void dm_metadb_blob_free(dm_metadb_blob *b);
/* Sets one label of an existing record (ENOENT if none): 1 if it changed, 0 if it was so. */
int dm_metadb_blob_set_label(dm_metadb_tx *tx, const char *ns, const dm_digest *d, const char *key,
			     const char *value, dm_error *err);
/* Removes one label of an existing record (ENOENT if none): 1 if removed, 0 if absent. */
int dm_metadb_blob_del_label(dm_metadb_tx *tx, const char *ns, const dm_digest *d, const char *key,
			     dm_error *err);

/* -- leases: v1/<ns>/leases/<id> -- */
typedef struct dm_metadb_lease {
	struct timespec created;
	dm_labels labels;
	dm_metadb_names content;   /* digests */
	dm_metadb_names snapshots; /* "<snapshotter>/<key>" */
} dm_metadb_lease;

/* Creates lease id with createdat = tx time and labels (NULL: none); EEXIST if it exists. */
int dm_metadb_lease_create(dm_metadb_tx *tx, const char *ns, const char *id, const dm_labels *labels,
			   dm_error *err);
/* Adds content d to lease id (ENOENT if the lease does not exist). */
int dm_metadb_lease_add_content(dm_metadb_tx *tx, const char *ns, const char *id, const dm_digest *d,
				dm_error *err);
/* Adds snapshot key of snapshotter sn to lease id (ENOENT if the lease does not exist). */
int dm_metadb_lease_add_snapshot(dm_metadb_tx *tx, const char *ns, const char *id, const char *sn,
				 const char *key, dm_error *err);
/* Deletes lease id with its resource lists: 1 if deleted, 0 if there was none. */
int dm_metadb_lease_delete(dm_metadb_tx *tx, const char *ns, const char *id, dm_error *err);
/* The ids of all leases of ns, in byte order. */
int dm_metadb_lease_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *ids, dm_error *err);
/* Reads lease id; free it with dm_metadb_lease_free. */
int dm_metadb_lease_get(dm_metadb_tx *tx, const char *ns, const char *id, dm_metadb_lease *out,
			dm_error *err);
void dm_metadb_lease_free(dm_metadb_lease *l);

/* -- images: v1/<ns>/images/<name> -- */
typedef struct dm_metadb_image {
	char *digest; /* target, as stored (any algorithm) */
	char *media_type;
	uint64_t size;
	struct timespec created, updated;
	dm_labels labels;
} dm_metadb_image;

/* Makes image name hold target and exactly labels (NULL: none).  A new record
 * gets both times; an existing one keeps createdat and, when anything
 * differs, gets updatedat (a new target also drops the old target's
 * annotations).  Returns 1 if it wrote, 0 if the record already was so.
 * Callers that must not replace another image compare with dm_metadb_image_get
 * first.  EINVAL for an empty name or media type or a zero size. */
int dm_metadb_image_put(dm_metadb_tx *tx, const char *ns, const char *name,
			const dm_descriptor *target, const dm_labels *labels, dm_error *err);
/* Reads image name; free it with dm_metadb_image_free. */
int dm_metadb_image_get(dm_metadb_tx *tx, const char *ns, const char *name, dm_metadb_image *out,
			dm_error *err);
void dm_metadb_image_free(dm_metadb_image *img);
/* The names of all images of ns, in byte order. */
int dm_metadb_image_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *names, dm_error *err);

/* -- namespace view of snapshots: v1/<ns>/snapshots/<sn>/<key> -- */
typedef struct dm_metadb_snapshot {
	char *name;   /* the backend name, "<ns>/<seq>/<key>" */
	char *parent; /* the parent's key, or NULL */
	struct timespec created, updated;
	dm_labels labels;
	dm_metadb_names children; /* keys */
} dm_metadb_snapshot;

/* The backend name "<ns>/<seq>/<key>" of a snapshot (malloc'd). */
char *dm_snapshot_backend_name(const char *ns, uint64_t seq, const char *key, dm_error *err);
/* Draws the next seq from the sequence of v1/<ns>/snapshots/<sn> (NextSequence),
 * so that no later Prepare/Commit of containerd produces the same name. */
int dm_metadb_snapshot_next_seq(dm_metadb_tx *tx, const char *ns, const char *sn, uint64_t *seq,
				dm_error *err);
/* Records snapshot key of sn with name dm_snapshot_backend_name(ns, seq, key),
 * parent key (NULL: none; must exist, ENOENT otherwise; gets a children
 * entry) and labels (NULL: none); raises the bucket sequence to at least seq.
 * EEXIST if key exists. */
int dm_metadb_snapshot_put(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key,
			   uint64_t seq, const char *parent, const dm_labels *labels, dm_error *err);
/* Reads snapshot key of sn; free it with dm_metadb_snapshot_free. */
int dm_metadb_snapshot_get(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key,
			   dm_metadb_snapshot *out, dm_error *err);
void dm_metadb_snapshot_free(dm_metadb_snapshot *s);

/* ---- snapshotter metadata.db ---- */

/* Opens <root>/io.containerd.snapshotter.v1.<sn>/metadata.db like
 * dm_metadb_open: read-write, the plugin directory and its snapshots/ are
 * made 0700 and the file 0600 when missing, and v1/snapshots and v1/parents
 * are created.  Its lock is no liveness test (containerd takes it lazily),
 * but holding it keeps containerd out while we write. */
dm_snapdb *dm_snapdb_open(const char *root, const char *sn, int flags, dm_error *err);
void dm_snapdb_close(dm_snapdb *sd);
const char *dm_snapdb_path(const dm_snapdb *sd);

dm_snapdb_tx *dm_snapdb_begin(dm_snapdb *sd, bool writable, dm_error *err);
int dm_snapdb_commit(dm_snapdb_tx *tx, dm_error *err);
void dm_snapdb_rollback(dm_snapdb_tx *tx);
void dm_snapdb_tx_set_time(dm_snapdb_tx *tx, const struct timespec *t);

typedef struct dm_snapdb_snapshot {
	uint64_t id;     /* directory snapshots/<id> */
	int kind;        /* DM_SNAPSHOT_* */
	char *parent;    /* the parent's backend name, or NULL */
	struct timespec created, updated;
	int64_t inodes;  /* committed snapshots only; 0 when absent */
	int64_t size;
	dm_labels labels;
} dm_snapdb_snapshot;

/* Allocates a snapshot id (NextSequence of v1/snapshots), as Prepare does. */
int dm_snapdb_next_id(dm_snapdb_tx *tx, uint64_t *id, dm_error *err);
/* Records committed snapshot name with id, parent's backend name (NULL: none;
 * must be a committed snapshot: ENOENT / EINVAL), usage and labels (NULL:
 * none; containerd only passes containerd.io/snapshot.ref and
 * containerd.io/snapshot/… down to here), the v1/parents link, and raises the
 * v1/snapshots sequence to at least id.  EEXIST if name exists. */
int dm_snapdb_put_committed(dm_snapdb_tx *tx, const char *name, uint64_t id, const char *parent,
			    int64_t inodes, int64_t size, const dm_labels *labels, dm_error *err);
/* Records active snapshot name as dm_snapdb_put_committed does, but of kind active and without
 * usage (what containerd's Prepare leaves: a container's writable layer, issue 11). */
int dm_snapdb_put_active(dm_snapdb_tx *tx, const char *name, uint64_t id, const char *parent,
			 const dm_labels *labels, dm_error *err);
/* Reads snapshot name; free it with dm_snapdb_snapshot_free. */
int dm_snapdb_get(dm_snapdb_tx *tx, const char *name, dm_snapdb_snapshot *out, dm_error *err);
void dm_snapdb_snapshot_free(dm_snapdb_snapshot *s);
/* Finds a committed snapshot whose name is "<ns>/<seq>/<key>" for any seq
 * (one left by a run that died before its meta.db commit): 1 with *name
 * (malloc'd), *seq and *id, 0 if there is none. */
int dm_snapdb_find(dm_snapdb_tx *tx, const char *ns, const char *key, char **name, uint64_t *seq,
		   uint64_t *id, dm_error *err);

/* ---- removal and listing, for rollback (issue 12) ---- */

/* Deleting functions return 1 if they deleted, 0 if there was nothing; listing functions give
 * the names of the buckets there (none when the bucket is missing), in byte order. */
/* The namespaces (buckets of v1). */
int dm_metadb_namespace_list(dm_metadb_tx *tx, dm_metadb_names *out, dm_error *err);
int dm_metadb_image_delete(dm_metadb_tx *tx, const char *ns, const char *name, dm_error *err);
/* The digests of the blob records of ns. */
int dm_metadb_blob_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err);
int dm_metadb_blob_delete(dm_metadb_tx *tx, const char *ns, const dm_digest *d, dm_error *err);
/* The snapshotters ns has a namespace view of, and the keys of one. */
int dm_metadb_snapshotter_list(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err);
int dm_metadb_snapshot_list(dm_metadb_tx *tx, const char *ns, const char *sn, dm_metadb_names *out,
			    dm_error *err);
/* Deletes the namespace view of snapshot key and its parent's children entry; EBUSY when it
 * has children. */
int dm_metadb_snapshot_delete(dm_metadb_tx *tx, const char *ns, const char *sn, const char *key, dm_error *err);
/* "<snapshotter>/<key>" of every container record of ns that names a snapshot (a GC root). */
int dm_metadb_container_snapshots(dm_metadb_tx *tx, const char *ns, dm_metadb_names *out, dm_error *err);
/* Deletes backend snapshot name (any kind) and its v1/parents link; *id gets its id (the
 * directory snapshots/<id>, which is the caller's to remove after the commit).  EBUSY when
 * it has children. */
int dm_snapdb_delete(dm_snapdb_tx *tx, const char *name, uint64_t *id, dm_error *err);
/* The ids of every backend snapshot (*ids malloc'd, *n of them; none when the file has none). */
int dm_snapdb_ids(dm_snapdb_tx *tx, uint64_t **ids, size_t *n, dm_error *err);

/* ---- both files ---- */

/* Whether committed snapshot key exists as containerd sees it: the namespace
 * view of sn has key, and the backend holds its name as a committed snapshot.
 * 1 with *id (may be NULL) set to its backend id, 0 if the view lacks key;
 * a view entry whose backend snapshot is missing or not committed is an
 * error (DM_BOLT_ECORRUPT). */
int dm_snapshot_committed(dm_metadb_tx *mtx, dm_snapdb_tx *stx, const char *ns, const char *sn,
			  const char *key, uint64_t *id, dm_error *err);

#endif
