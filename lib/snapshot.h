/* snapshot: the offline snapshotter.  Lays out committed snapshots exactly as
 * containerd's overlayfs or native snapshotter would (snapshots/<id>/fs or
 * snapshots/<id>, records in the snapshotter's metadata.db and in meta.db's
 * namespace view), keyed by chainID, each filled from a Docker layer
 * directory.
 *
 * A snapshot goes through the same steps as containerd's Prepare/Commit: an
 * id drawn from metadata.db, a directory made under a temporary name, the
 * mount containerd would return for it (lib/mounts), which the caller fills,
 * the rename into place, then the records: metadata.db first, meta.db last,
 * so that a run that dies leaves either nothing containerd can see or a
 * backend record that the next run adopts (and containerd's GC would
 * otherwise remove).
 *
 * Handles are not thread-safe: callers serialise dm_snapshot_begin and
 * dm_snapshot_commit, and may fill different snapshots in parallel. */
#ifndef DM_SNAPSHOT_H
#define DM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "labels.h"
#include "lease_db.h"
#include "metadb.h"
#include "mounts.h"

typedef struct dm_snapshot_store dm_snapshot_store;

/* Opens snapshotter sn ("overlayfs" or "native") under the containerd root:
 * its metadata.db (exclusive lock, created if missing) and snapshots/.  Stale
 * temporary directories of an earlier run of this tool are removed. */
dm_snapshot_store *dm_snapshot_store_open(const char *root, const char *sn, dm_error *err);
/* Releases the lock and frees s (NULL is fine). */
void dm_snapshot_store_close(dm_snapshot_store *s);

/* One snapshot being made. */
typedef struct dm_snapshot_job {
	char key[80];        /* the chainID */
	char parent[80];     /* the parent's chainID, "" at the bottom */
	uint64_t id;         /* backend id: the directory snapshots/<id> */
	uint64_t seq;        /* namespace sequence in the backend name "<ns>/<seq>/<key>" */
	char *tmpdir;        /* where it is filled before the rename */
	dm_mount mount;      /* the mount containerd's Prepare would return for it */
	bool adopted;        /* a backend record left by a dead run is reused: nothing to fill */
	bool active;         /* recorded as an active snapshot (dm_snapshot_begin_active) */
	uint64_t inodes;     /* usage of the filled tree, set by the caller */
	uint64_t usage;
} dm_snapshot_job;

/* Whether committed snapshot key exists in ns (both records); *labels (may be
 * NULL) receives its namespace-view labels. */
int dm_snapshot_exists(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
		       dm_labels *labels, dm_error *err);

/* Starts snapshot key on parent (NULL: none; it must be committed): draws the
 * seq and id (committed at once, so no later Prepare of containerd reuses
 * them), makes the temporary directory and renders the mount containerd would
 * give for it.  A backend record that a dead run left for key is adopted
 * instead (job->adopted). */
int dm_snapshot_begin(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
		      const char *parent, dm_snapshot_job *job, dm_error *err);

/* dm_snapshot_begin for a snapshot that stays active (a container's writable layer,
 * doc/containerd-store.md §13): nothing is adopted; dm_snapshot_commit then records it as
 * active, without usage. */
int dm_snapshot_begin_active(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
			     const char *parent, dm_snapshot_job *job, dm_error *err);

/* 1 when key is an active snapshot in ns (both records; EEXIST if it is another kind), 0 when
 * the namespace has no key; *labels (may be NULL) gets its namespace-view labels. */
int dm_snapshot_active_exists(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
			      dm_labels *labels, dm_error *err);

/* Renames the directory into place and writes the records: the committed
 * snapshot in metadata.db, then its namespace view with labels (NULL: none)
 * and its entry in lease, in one meta.db transaction. */
int dm_snapshot_commit(dm_snapshot_store *s, dm_metadb *md, const char *ns, dm_snapshot_job *job,
		       const dm_labels *labels, const dm_lease *lease, dm_error *err);

/* Removes what an unfinished job made on disk and frees it. */
void dm_snapshot_job_free(dm_snapshot_store *s, dm_snapshot_job *job);

#endif
