/* lease: the lease that keeps everything a run writes alive until the images
 * referencing it exist (doc/containerd-store.md §3.5, §4).  Without it a blob
 * record or snapshot that no image references yet is swept at containerd's
 * next GC, and the files with it.
 *
 * The lease carries containerd.io/gc.expire (RFC 3339, UTC): if the run
 * dies, containerd's own GC deletes the lease once that time has passed, and
 * with it everything only the lease held (a GC runs ~100 ms after every start
 * of containerd), so nothing a dead run left is kept for ever.  Leases of dead
 * runs that have not expired yet are told by dm_lease_is_stale (the one rule)
 * and removed by the backend: offline by dm_lease_remove_stale (lib/lease_db),
 * in the transaction that creates the new lease (lib/target_offline); online
 * by lib/target_online itself, only at the end of the run.
 *
 * dm_lease is plain data (namespace, id, labels), made by dm_lease_init for
 * lib/migrate, which hands it to the target's lease_begin.  Writing it is the
 * backend's: offline into meta.db (lib/lease_db), online through containerd's
 * Leases API (lib/ctrapi).  So this header needs nothing of either. */
#ifndef DM_LEASE_H
#define DM_LEASE_H

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "identifier.h"
#include "labels.h"

#define DM_LEASE_LABEL_EXPIRE "containerd.io/gc.expire"
/* Marks this tool's leases; its value is the tool and version. */
#define DM_LEASE_LABEL_TOOL "io.dockerd-migrate.lease"
/* "<pid>:<start time>" of the run that made the lease, so that a live run's lease is told
 * from a dead one's (another online run may be going on at the same time). */
#define DM_LEASE_LABEL_PROCESS "io.dockerd-migrate.process"
#define DM_LEASE_ID_PREFIX "dockerd-migrate-"
/* How long a run's lease protects its data if the run dies. */
#define DM_LEASE_TTL (24 * 60 * 60)
#define DM_LEASE_ID_MAX 64

typedef struct dm_lease {
	char ns[DM_IDENTIFIER_MAX + 1];
	char id[DM_LEASE_ID_MAX]; /* "dockerd-migrate-<UTC time>-<8 random hex>" */
	dm_labels labels;         /* DM_LEASE_LABEL_EXPIRE, DM_LEASE_LABEL_TOOL, DM_LEASE_LABEL_PROCESS */
} dm_lease;

/* Makes a new lease in namespace ns expiring ttl seconds after now (a
 * negative ttl gives one that has expired already, for tests); writes nothing. */
int dm_lease_init(dm_lease *l, const char *ns, time_t now, long ttl, dm_error *err);
void dm_lease_free(dm_lease *l);

/* Whether the lease id with labels is a dead run's of this tool, to be removed: it has
 * DM_LEASE_LABEL_TOOL, is not current (the caller's own; may be NULL) and the process
 * DM_LEASE_LABEL_PROCESS names is gone.  The one rule both backends remove leases by. */
bool dm_lease_is_stale(const char *id, const dm_labels *labels, const char *current);

#endif
