/* lease: the lease that keeps everything a run writes alive until the images
 * referencing it exist (doc/containerd-store.md §3.5, §4).  Without it a blob
 * record or snapshot that no image references yet is swept at containerd's
 * next GC, and the files with it.
 *
 * The lease carries containerd.io/gc.expire (RFC 3339, UTC): if the run
 * dies, containerd's own GC deletes the lease once that time has passed, and
 * with it everything only the lease held (a GC runs ~100 ms after every start
 * of containerd), so nothing a dead run left is kept for ever.  Leases of dead
 * runs that have not expired yet are recognised by DM_LEASE_LABEL_TOOL and
 * removed by the backend: offline by dm_lease_remove_stale, in the transaction
 * that creates the new lease (lib/target_offline); online by lib/target_online
 * itself, only at the end of the run, and never the lease of a run that is
 * still alive (it adds a process label to tell).
 *
 * dm_lease is plain data (namespace, id, labels), made by dm_lease_init for
 * lib/migrate, which hands it to the target's lease_begin.  The functions that
 * take a dm_metadb_tx below are the offline backend's: they write the lease
 * into meta.db.  The online backend does not use them; it sends the same
 * lease through containerd's Leases API (lib/ctrapi). */
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
 * lock proves their runs are dead, and keeps containerd (so its GC) stopped
 * until it is released: what they held and the current run reuses must be
 * under the current lease or an image by then. */
int dm_lease_remove_stale(dm_metadb_tx *tx, const char *ns, const char *keep, unsigned *removed,
			  dm_error *err);

#endif
