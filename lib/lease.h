/* lease: the lease that keeps everything a run writes alive until the images
 * referencing it exist (doc/containerd-store.md §3.5, §4).  Without it a blob
 * record or snapshot that no image references yet is swept at containerd's
 * next GC, and the files with it.
 *
 * The lease carries containerd.io/gc.expire (RFC 3339, UTC): if the run
 * dies, containerd's own GC deletes the lease once that time has passed, and
 * with it everything only the lease held (a GC runs ~100 ms after every start
 * of containerd), so nothing a dead run left is kept for ever.  A lease of a
 * dead run that has not expired yet is removed by dm_lease_remove_stale,
 * which recognises this tool's leases by DM_LEASE_LABEL_TOOL.
 *
 * dm_lease is plain data (namespace, id, labels).  The operations on it are
 * the ones containerd's Leases API has (Create with labels, AddResource,
 * Delete): an online backend would implement the same set with its gRPC
 * client in place of the meta.db transaction. */
#ifndef DM_LEASE_H
#define DM_LEASE_H

#include <time.h>

#include "digest.h"
#include "error.h"
#include "labels.h"
#include "metadb.h"

#define DM_LEASE_LABEL_EXPIRE "containerd.io/gc.expire"
/* Marks this tool's leases; its value is the tool and version. */
#define DM_LEASE_LABEL_TOOL "io.dockerd-migrate.lease"
#define DM_LEASE_ID_PREFIX "dockerd-migrate-"
/* How long a run's lease protects its data if the run dies. */
#define DM_LEASE_TTL (24 * 60 * 60)
#define DM_LEASE_ID_MAX 64

typedef struct dm_lease {
	char ns[DM_IDENTIFIER_MAX + 1];
	char id[DM_LEASE_ID_MAX]; /* "dockerd-migrate-<UTC time>-<8 random hex>" */
	dm_labels labels;         /* DM_LEASE_LABEL_EXPIRE and DM_LEASE_LABEL_TOOL */
} dm_lease;

/* Makes a new lease in namespace ns expiring ttl seconds after now (a
 * negative ttl gives one that has expired already, for tests); writes nothing. */
int dm_lease_init(dm_lease *l, const char *ns, time_t now, long ttl, dm_error *err);
void dm_lease_free(dm_lease *l);

/* Records l (EEXIST if its id exists). */
int dm_lease_create(dm_metadb_tx *tx, const dm_lease *l, dm_error *err);
/* Puts content d under l. */
int dm_lease_add_content(dm_metadb_tx *tx, const dm_lease *l, const dm_digest *d, dm_error *err);
/* Puts snapshot key of snapshotter sn under l. */
int dm_lease_add_snapshot(dm_metadb_tx *tx, const dm_lease *l, const char *sn, const char *key,
			  dm_error *err);
/* Removes l; what only l held becomes garbage at containerd's next GC. */
int dm_lease_delete(dm_metadb_tx *tx, const dm_lease *l, dm_error *err);

/* Deletes every lease of ns carrying DM_LEASE_LABEL_TOOL except the one with
 * id keep (NULL: none); *removed (may be NULL) counts them.  Holding meta.db's
 * lock proves their runs are dead; call it only once what they held and the
 * current run uses is held by images or by the current lease. */
int dm_lease_remove_stale(dm_metadb_tx *tx, const char *ns, const char *keep, unsigned *removed,
			  dm_error *err);

#endif
