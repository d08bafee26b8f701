/* migrate: the migration of a legacy Docker store (lib/layerstore) into
 * containerd's store through a lib/target (offline or online): every layer of every image
 * to migrate becomes a compressed content blob and a committed snapshot
 * keyed by its chainID, every image a config blob (the exact imagedb bytes),
 * an OCI manifest and one image record per name, all held by a lease that
 * expires in 24 h until the image records exist.
 *
 * Idempotent and resumable: what a previous run finished (snapshots carrying
 * their layer blob's descriptor as labels, blob records, image records with
 * the same target) is found and reused; a run with nothing left to do writes
 * nothing at all.  Layers are streamed once (reassembly, DiffID check,
 * compression, blob digest in one pass), up to `jobs` at a time. */
#ifndef DM_MIGRATE_H
#define DM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "compress.h"
#include "error.h"
#include "image.h"
#include "journal.h"
#include "layerstore.h"
#include "target.h"

/* DM_LABEL_LAYER_*: lib/image.h (rollback reads them too). */

typedef struct dm_migrate_options {
	const char *containerd_root; /* where the free-space check looks */
	dm_compression compression;
	unsigned jobs;               /* layers in parallel; 0 means 1 */
	bool force;                  /* replace image records that point elsewhere */
	enum dm_copy_mode copy_mode; /* where snapshot file data comes from (auto: probed) */
	bool containers;             /* also migrate stopped containers (run --containers, issue 11) */
	/* Where the run records what it creates, before creating it (lib/journal.h), so that
	 * rollback can undo it; NULL: not recorded (tests of the migration alone). */
	dm_journal *journal;
} dm_migrate_options;

typedef enum dm_migrate_status {
	DM_MIG_DONE,    /* written by this run */
	DM_MIG_EXISTED, /* already there: nothing written */
	DM_MIG_SKIPPED, /* left alone on purpose (see reason) */
	DM_MIG_FAILED,
} dm_migrate_status;

/* DM_MIG_PROGRESS: no item, only the byte counts moved (about five times a second while
 * layers stream). */
typedef enum dm_migrate_kind { DM_MIG_LAYER, DM_MIG_IMAGE, DM_MIG_NAME, DM_MIG_PROGRESS, DM_MIG_CONTAINER } dm_migrate_kind;

/* What happened to one layer, image or name, with the run's progress so far.
 * Callbacks are never concurrent. */
typedef struct dm_migrate_event {
	dm_migrate_kind kind;
	dm_migrate_status status;
	const char *id;      /* chainID, image ID, image name or container ID */
	const char *detail;  /* why skipped or failed; for a name, its image ID; for a container
	                      * migrated, its name; else NULL */
	size_t layers_done, layers_total;  /* layers to write, finished either way */
	uint64_t bytes_done, bytes_total;  /* their `size` figures; done counts streamed bytes of the
	                                    * layers under way too (at most bytes_total) */
} dm_migrate_event;

typedef void (*dm_migrate_fn)(void *opaque, const dm_migrate_event *ev);

typedef struct dm_migrate_name {
	char *name;
	dm_migrate_status status;
	char *reason;                /* NULL unless skipped or failed */
} dm_migrate_name;

typedef struct dm_migrate_image {
	dm_digest id;
	dm_migrate_status status;
	char *reason;                /* NULL unless skipped or failed */
	dm_digest manifest;          /* "" when none was made */
	dm_migrate_name *names;
	size_t n_names;
	char **digest_refs;          /* kept as labels, not names: a new manifest cannot have that digest */
	size_t n_digest_refs;
} dm_migrate_image;

/* A container of the legacy store (run --containers). */
typedef struct dm_migrate_container {
	char *id;
	char *name;                  /* its name ("/web"); NULL when unknown */
	dm_migrate_status status;    /* DONE, EXISTED (on the containerd store already) or FAILED */
	char *reason;                /* NULL unless failed */
	uint64_t size;               /* usage of its init and writable layers (0 when unknown) */
} dm_migrate_container;

typedef struct dm_migrate_report {
	const char *snapshotter;
	const char *mode;            /* the target's: "offline" or "online" */
	size_t layers_done, layers_existed, layers_failed;
	size_t images_done, images_existed, images_skipped, images_failed;
	uint64_t bytes_read;         /* uncompressed layer bytes streamed */
	uint64_t bytes_written;      /* new blob bytes plus snapshot file bytes written */
	const char *copy_mode;       /* the mode used: "reflink", "hardlink" or "copy" */
	uint64_t files_shared;       /* regular files reflinked or hard-linked */
	uint64_t files_copied;       /* regular files with data written, not shared */
	bool nothing_to_do;          /* everything was already migrated: nothing was
	                              * written but the removal of dead runs' leases */
	dm_migrate_image *images;    /* one per image to migrate, in store order */
	size_t n_images;
	char **warnings;             /* one line each: what was migrated but is worth a look */
	size_t n_warnings;
	dm_migrate_container *containers; /* with options.containers: one per container, in store order */
	size_t n_containers;
	size_t containers_done, containers_existed, containers_failed;
} dm_migrate_report;

/* Migrates every image st marks for migration into t.  Returns -1 only when
 * the run could not go on at all (err->code ENOSPC: not enough free space,
 * before writing or when the filesystem filled up during the run, with the
 * figures; others from the target); failures of single layers or
 * images are in rep.  rep is filled in both cases and freed with
 * dm_migrate_report_free. */
int dm_migrate_run(const dm_store *st, dm_target *t, const dm_migrate_options *o, dm_migrate_fn cb,
		   void *opaque, dm_migrate_report *rep, dm_error *err);

void dm_migrate_report_free(dm_migrate_report *rep);

/* The free space a run of every layer st migrates needs at the most, into an empty root, with
 * snapshotter ("overlayfs" or "native") and copy mode m (auto counted as copy): what plan shows
 * for each mode, and what run checks (for what is left to write) before writing anything. */
uint64_t dm_migrate_space_estimate(const dm_store *st, const char *snapshotter, enum dm_copy_mode m);

/* What run --containers would do with container c into snapshotter sn, judged from the store
 * alone (what plan shows): DM_MIG_DONE (it is migrated; *size gets its layers' usage),
 * DM_MIG_EXISTED (its config names a snapshotter: on the containerd store already, never
 * touched) or DM_MIG_FAILED with *reason (malloc'd; a running container, one whose image is not
 * migrated, a damaged layer, another snapshotter than its driver's).  -1 only when out of memory. */
int dm_migrate_container_verdict(const dm_store *st, const dm_container *c, const char *sn,
				 dm_migrate_status *status, uint64_t *size, char **reason);

/* The snapshotter Docker on the containerd store would use after that graphdriver, among those
 * this tool writes: "native" for vfs, "overlayfs" for overlay2, btrfs and fuse-overlayfs. */
const char *dm_migrate_default_snapshotter(dm_driver driver);
/* Why, in one line (what plan shows when no --snapshotter is given). */
const char *dm_migrate_default_snapshotter_why(dm_driver driver);

#endif
