/* rollback: undoing what runs of this tool added to a containerd store, and what switch and a
 * container migration changed on Docker's side (issue 12).
 *
 * What is removed, and only that:
 *   - image records the journal (lib/journal.h) names, if they still point at the manifest the
 *     run wrote (one re-pointed since is someone else's now: kept);
 *   - blobs and snapshots the journal names (and the layer blob a journaled snapshot's labels
 *     name), only if nothing left references them: offline, a walk of containerd's own GC
 *     roots and references (doc/containerd-store.md §4: images, leases, containers, gc.root
 *     labels, gc.ref labels, snapshot parents) in their namespace; online, containerd's GC,
 *     run synchronously once the images and leases are gone;
 *   - this tool's leases (DM_LEASE_LABEL_TOOL), in every namespace;
 *   - for a migrated container (its config kept as containers/<ID>/config.v2.json.dockerd-migrate),
 *     the snapshots <ID> and <ID>-init and the lease <ID>, each only if it carries
 *     DM_ROLLBACK_LABEL_CONTAINER=<ID>; then the config is restored from the backup;
 *   - daemon.json restored from <daemon.json>.dockerd-migrate (an empty backup: there was
 *     none, so daemon.json is removed).
 * Anything containerd or Docker made themselves (an image pulled after the migration, a
 * container created after it) is not in the journal, carries no label of ours, and so stays,
 * with all it references.
 *
 * Offline the metadata goes in one meta.db transaction; the snapshotters' metadata.db records
 * next, then the directories and blob files: a rollback killed in between leaves records
 * nobody references (containerd's GC removes them, and so does a second rollback, which finds
 * the journal still there), never a record pointing at nothing.  The journal is removed last,
 * so a second rollback has nothing to do. */
#ifndef DM_ROLLBACK_H
#define DM_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "journal.h"

/* The label containers' snapshots and leases carry when this tool made them (issue 11). */
#define DM_ROLLBACK_LABEL_CONTAINER "io.dockerd-migrate.container"
#define DM_ROLLBACK_BACKUP_SUFFIX ".dockerd-migrate"

typedef enum dm_rollback_kind {
	DM_RB_IMAGE, DM_RB_BLOB, DM_RB_SNAPSHOT, DM_RB_LEASE, DM_RB_CONTAINER, DM_RB_DAEMON_JSON
} dm_rollback_kind;

typedef enum dm_rollback_status {
	DM_RB_REMOVED, /* removed or restored (a dry run: would be) */
	DM_RB_KEPT,    /* left alone on purpose: note says why */
} dm_rollback_status;

typedef struct dm_rollback_item {
	dm_rollback_kind kind;
	dm_rollback_status status;
	char *ns;      /* NULL for Docker-side items */
	char *what;    /* name, digest, "<snapshotter>/<key>", lease id, container ID, path */
	char *note;    /* why kept, or NULL */
} dm_rollback_item;

typedef struct dm_rollback_report {
	dm_rollback_item *v;
	size_t n;
	size_t removed, kept;
	bool dry_run;
} dm_rollback_report;

typedef struct dm_rollback_request {
	const dm_journal_entries *journal;
	const char *container_ns;   /* namespace of the containers' snapshots and leases */
	char **containers;          /* IDs of migrated containers (a config backup exists) */
	size_t n_containers;
	bool dry_run;               /* nothing written; the report says what would go */
} dm_rollback_request;

/* Offline, containerd stopped: EWOULDBLOCK when meta.db is locked (containerd runs). */
int dm_rollback_offline(const char *root, const dm_rollback_request *rq, dm_rollback_report *rep,
			dm_error *err);
/* Online, through the containerd on socket. */
int dm_rollback_online(const char *socket, const dm_rollback_request *rq, dm_rollback_report *rep,
		       dm_error *err);

/* The whole rollback, in the order that keeps a failed one repeatable: the journal in root
 * (containerd's root) and the containers with a config backup under docker_root are read;
 * containerd's side is undone, online through socket (NULL: offline into root); only then
 * Docker's side (container configs, daemon.json at docker_config) is restored, and last the
 * journal removed (not on a dry run).  ns is the containers' namespace.  rep (zeroed by the
 * caller) says what was removed or kept.  Offline, EWOULDBLOCK: containerd runs on root. */
int dm_rollback_run(const char *socket, const char *root, const char *ns, const char *docker_root,
		    const char *docker_config, bool dry_run, dm_rollback_report *rep, dm_error *err);

int dm_rollback_report_add(dm_rollback_report *rep, dm_rollback_kind kind, dm_rollback_status status,
			   const char *ns, const char *what, const char *note, dm_error *err);
void dm_rollback_report_free(dm_rollback_report *rep);
const char *dm_rollback_kind_name(dm_rollback_kind k);

/* The IDs of the containers under <docker_root>/containers that have a config backup. */
int dm_rollback_find_containers(const char *docker_root, char ***ids, size_t *n, dm_error *err);
void dm_rollback_ids_free(char **ids, size_t n);
/* Restores each container's config.v2.json from its backup (atomically: the backup is renamed
 * over it). */
int dm_rollback_restore_containers(const char *docker_root, char **ids, size_t n, bool dry_run,
				   dm_rollback_report *rep, dm_error *err);
/* Restores daemon.json from <path>.dockerd-migrate when that exists (empty: removes
 * daemon.json); nothing when it does not. */
int dm_rollback_restore_daemon_json(const char *path, bool dry_run, dm_rollback_report *rep, dm_error *err);

/* Whether a dockerd runs on the containerd image store (it would hold the images rollback
 * removes): 1 with *pid, 0 when none does.  A dockerd process is on it when its command line
 * enables the containerd-snapshotter feature, or its daemon.json (--config-file, default
 * /etc/docker/daemon.json, read in the process's own root, so a chroot's dockerd is judged by
 * its own file) sets features.containerd-snapshotter to true. */
int dm_rollback_dockerd_on_containerd(int *pid, dm_error *err);

#endif
