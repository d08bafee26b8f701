/* lease_db: the run's lease (lib/lease) as a record in meta.db
 * (doc/containerd-store.md §3.5), for the offline backend.  Thin operations on
 * lib/metadb's lease records, in the caller's transaction, with the
 * operations containerd's Leases API has (Create with labels, AddResource,
 * Delete) plus the removal of this tool's stale leases.  The online backend
 * does the same through lib/ctrapi; nothing outside the offline side includes
 * this header, so the target interface stays clear of meta.db and bolt. */
#ifndef DM_LEASE_DB_H
#define DM_LEASE_DB_H

#include "digest.h"
#include "error.h"
#include "lease.h"
#include "metadb.h"

/* Records l (EEXIST if its id exists). */
int dm_lease_create(dm_metadb_tx *tx, const dm_lease *l, dm_error *err);
/* Puts content d under l. */
int dm_lease_add_content(dm_metadb_tx *tx, const dm_lease *l, const dm_digest *d, dm_error *err);
/* Puts snapshot key of snapshotter sn under l. */
int dm_lease_add_snapshot(dm_metadb_tx *tx, const dm_lease *l, const char *sn, const char *key,
			  dm_error *err);
/* Removes l; what only l held becomes garbage at containerd's next GC. */
int dm_lease_delete(dm_metadb_tx *tx, const dm_lease *l, dm_error *err);

/* Deletes every lease of ns that dm_lease_is_stale calls a dead run's, keep
 * being the current one (NULL: none); *removed (may be NULL) counts them.
 * Holding meta.db's lock keeps containerd (so its GC) stopped
 * until it is released: what they held and the current run reuses must be
 * under the current lease or an image by then. */
int dm_lease_remove_stale(dm_metadb_tx *tx, const char *ns, const char *keep, unsigned *removed,
			  dm_error *err);

#endif
