/* content: the backend of containerd's content store,
 * <containerd root>/io.containerd.content.v1.content (doc/containerd-store.md §5).
 * Owns the blob files blobs/sha256/<hex> (mode 0444, directories 0755) and
 * the ingest directories they are written through; no meta.db records.
 *
 * Every blob goes through ingest/<sha256 of ref>/ laid out as containerd lays
 * it out (ref, startedat, updatedat, total, data), data fsynced, then renamed
 * atomically into blobs/sha256/ and the directory fsynced.  The ingest is
 * assembled as ingest/.dm-<hash> and renamed into place complete, so a killed
 * run never leaves a half-made ingest that containerd's listing chokes on
 * (it fails on a directory with data but no startedat).  Refs are prefixed
 * with DM_CONTENT_REF_PREFIX: dm_content_clean_ingests can then remove this
 * tool's leftovers and nothing of containerd's, and containerd itself aborts
 * them at its next content cleanup since no meta.db ingest names them.
 *
 * LEASES: a blob file with no meta.db record is deleted by containerd's next
 * content cleanup, and a record that no image references is swept by its
 * next GC.  Every blob committed here must therefore be recorded in meta.db
 * under the run's lease (containerd.io/gc.expire) before the run's image
 * records exist; only then may the lease go.
 *
 * Thread-safety: one store may be shared by threads; each writer belongs to
 * one thread at a time.  Refs must be unique among open writers (EBUSY). */
#ifndef DM_CONTENT_H
#define DM_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "descriptor.h"
#include "digest.h"
#include "error.h"
#include "identifier.h"

#define DM_CONTENT_REF_PREFIX "dockerd-migrate/"
/* Longest ref accepted from callers (containerd has no limit; ours are short). */
#define DM_CONTENT_REF_MAX 512

/* Commit flag: re-hash a blob that already exists instead of checking only
 * that it is a regular file of the right size. */
#define DM_CONTENT_REHASH_EXISTING 1u

typedef struct dm_content_store dm_content_store;
typedef struct dm_content_writer dm_content_writer;

/* Opens the content store of the containerd root `root` (which must exist),
 * creating the content directory and ingest/ (0755) if missing. */
dm_content_store *dm_content_store_open(const char *root, dm_error *err);
/* Closes s; all its writers must be committed or aborted first. */
void dm_content_store_close(dm_content_store *s);
/* Removes ingests left by an earlier run of this tool (its ref prefix or its
 * .dm- temp names), never containerd's; *removed (may be NULL) counts them. */
int dm_content_clean_ingests(dm_content_store *s, unsigned *removed, dm_error *err);

/* Starts an ingest for ref (a caller name such as "layer-sha256:…", prefixed
 * with DM_CONTENT_REF_PREFIX here).  total is the expected size, or -1 if
 * unknown; a known total is recorded and checked at commit.  A leftover
 * ingest of the same ref from a dead run is replaced. */
dm_content_writer *dm_content_writer_open(dm_content_store *s, const char *ref, int64_t total,
					  dm_error *err);
/* Appends len bytes, hashing them on the way. */
int dm_content_write(dm_content_writer *w, const void *buf, size_t len, dm_error *err);
/* Finishes the blob: checks size and expected digest (NULL: any), then moves
 * it into blobs/sha256/.  An existing blob of that digest is checked (see
 * DM_CONTENT_REHASH_EXISTING) and kept; a corrupt one is an error (EBADMSG),
 * never silently replaced.  Always consumes w and removes its ingest. */
int dm_content_commit(dm_content_writer *w, const dm_digest *expected, unsigned flags,
		      dm_blob_info *out, dm_error *err);
/* Discards w and removes its ingest; returns -1 only if removal failed. */
int dm_content_abort(dm_content_writer *w, dm_error *err);

/* Removes blob d's file (rollback, once no namespace has a record of it): 1 if removed, 0 if
 * there was none. */
int dm_content_remove_blob(dm_content_store *s, const dm_digest *d, dm_error *err);

/* Writes a whole buffer (config, manifest) as a blob; when the blob already
 * exists it is only checked, and no ingest is made. */
int dm_content_write_buffer(dm_content_store *s, const char *ref, const void *buf, size_t len,
			    unsigned flags, dm_blob_info *out, dm_error *err);
/* 1 and *size if blob d exists as a regular file, 0 if absent, -1 on error. */
int dm_content_stat_blob(dm_content_store *s, const dm_digest *d, uint64_t *size, dm_error *err);
/* Reads blob d and checks its sha256 and, when size >= 0, its size (EBADMSG on
 * a mismatch, ENOENT when absent). */
int dm_content_verify_blob(dm_content_store *s, const dm_digest *d, int64_t size, dm_error *err);

#endif
