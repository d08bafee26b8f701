/* target: where a migration writes, behind one interface with two backends:
 * offline (containerd's files, containerd stopped: lib/metadb, lib/content,
 * lib/snapshot) and online (containerd's gRPC API while it runs).  The
 * migration logic (lib/migrate) is written once on top of it.
 *
 * dm_target_choose picks the backend (and says why) for plan and run; the
 * rest of this header is the interface itself.
 *
 * The operations mirror containerd's services: a lease that holds all that is
 * written until the images exist, content written through an ingest and
 * committed with its labels, snapshots prepared (giving the mounts containerd
 * would give, which lib/mounts turns into the directory to fill) and committed
 * under their chainID, and image records.
 *
 * Concurrency: the blob_* calls of different blobs (commit included: it is
 * the slow part online, an upload), and the filling of different prepared
 * snapshots, may run in parallel threads; every other call is made under the
 * caller's own lock, one at a time. */
#ifndef DM_TARGET_H
#define DM_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "descriptor.h"
#include "digest.h"
#include "discover.h"
#include "dockercfg.h"
#include "error.h"
#include "labels.h"
#include "lease.h"
#include "mounts.h"
#include "sink.h"

typedef struct dm_target dm_target;

/* The label active_prepare recognises as "made by this tool" (its value: the container ID). */
#define DM_TARGET_LABEL_OWNER "io.dockerd-migrate.container"

/* A blob being written; backends extend it (this struct first). */
typedef struct dm_target_blob {
	dm_target *t;
} dm_target_blob;

/* A snapshot between prepare and commit. */
typedef struct dm_target_snapshot {
	char key[80];       /* the chainID it is committed as */
	char parent[80];    /* the parent's chainID; "" at the bottom */
	dm_mount mount;     /* what containerd's Prepare returns; empty when adopted */
	bool adopted;       /* complete already (left by a dead run): commit without filling */
	uint64_t inodes;    /* set by the caller after filling: the snapshot's usage */
	uint64_t usage;
	void *priv;         /* the backend's */
} dm_target_snapshot;

struct dm_target_ops {
	/* Creates lease l; what is written from now on is held by it.  Stale leases of this tool
	 * (dead runs) go here (offline) or at lease_end (online: only then is nothing lost to GC). */
	int (*lease_begin)(dm_target *t, const dm_lease *l, dm_error *err);
	/* Puts an existing blob or committed snapshot under the lease. */
	int (*lease_add_content)(dm_target *t, const dm_digest *d, dm_error *err);
	int (*lease_add_snapshot)(dm_target *t, const char *key, dm_error *err);
	/* Deletes the lease: from now on only the images hold what was written. */
	int (*lease_end)(dm_target *t, dm_error *err);
	/* Removes the stale leases of this tool without making one, for a run with nothing
	 * to do (everything they held is in the images); writes nothing when there are none. */
	int (*lease_cleanup)(dm_target *t, dm_error *err);

	/* 1 and *size when blob d exists (record and data), 0 when not. */
	int (*blob_stat)(dm_target *t, const dm_digest *d, uint64_t *size, dm_error *err);
	/* Starts writing a blob under the ingest name ref; bytes go to blob_write. */
	dm_target_blob *(*blob_begin)(dm_target *t, const char *ref, dm_error *err);
	int (*blob_write)(dm_target_blob *b, const void *buf, size_t len, dm_error *err);
	/* Commits with labels (merged into an existing record) and under the lease; frees b. */
	int (*blob_commit)(dm_target_blob *b, const dm_labels *labels, dm_blob_info *out, dm_error *err);
	/* Discards b and its ingest. */
	void (*blob_abort)(dm_target_blob *b);

	/* 1 when committed snapshot key exists; *labels (may be NULL) gets its labels. */
	int (*snapshot_stat)(dm_target *t, const char *key, dm_labels *labels, dm_error *err);
	/* Prepares key on parent (NULL: none); fills s (mount, or adopted). */
	int (*snapshot_prepare)(dm_target *t, const char *key, const char *parent, dm_target_snapshot *s,
				dm_error *err);
	/* Commits s as its key with labels, under the lease; s is finished either way. */
	int (*snapshot_commit)(dm_target *t, dm_target_snapshot *s, const dm_labels *labels, dm_error *err);
	/* Removes what a prepared, uncommitted s left. */
	void (*snapshot_abort)(dm_target *t, dm_target_snapshot *s);

	/* Containers (issue 11, doc/containerd-store.md §13): a lease that lives as long as
	 * the container, and its writable layer, an active snapshot that is never committed. */
	/* Makes lease id with labels and no expiry unless it exists, and lists snapshots
	 * keys[0..n) of t's snapshotter under it, whether they exist yet or not. */
	int (*lease_hold)(dm_target *t, const char *id, const dm_labels *labels, const char *const *keys,
			  size_t n, dm_error *err);
	/* Prepares key on parent (committed) as a snapshot that stays active, labelled with
	 * labels: s to fill.  s->adopted when key exists complete already (offline: its records
	 * are written only once it is filled); online an existing key carrying labels'
	 * DM_TARGET_LABEL_OWNER is handed back (its mount) to be filled again from the start.
	 * EEXIST when key exists and is not ours. */
	int (*active_prepare)(dm_target *t, const char *key, const char *parent, const dm_labels *labels,
			      dm_target_snapshot *s, dm_error *err);
	/* Leaves the filled s in place as the active snapshot key with labels (offline: the rename
	 * and the records; online: nothing is left to write); s is finished either way.  An s
	 * that is not to be kept goes to snapshot_abort (online: the snapshot is removed). */
	int (*active_finish)(dm_target *t, dm_target_snapshot *s, const dm_labels *labels, dm_error *err);

	/* 1 and *digest (malloc'd) when image name exists, 0 when not. */
	int (*image_get)(dm_target *t, const char *name, char **digest, dm_error *err);
	/* Creates image name, or replaces its target and labels. */
	int (*image_put)(dm_target *t, const char *name, const dm_descriptor *target, const dm_labels *labels,
			 dm_error *err);

	void (*close)(dm_target *t);
};

struct dm_target {
	const struct dm_target_ops *ops;
	const char *mode;        /* "offline" or "online" */
	char *ns;
	char *snapshotter;       /* "overlayfs" or "native" */
};

/* The offline backend on containerd's root (made if missing; its parent must
 * exist).  Holds meta.db's lock until closed: EWOULDBLOCK when containerd or
 * another run holds it. */
dm_target *dm_target_offline_open(const char *root, const char *ns, const char *snapshotter,
				  dm_error *err);

/* The online backend on the containerd serving the unix socket `socket`
 * (connected here: ECONNREFUSED/ENOENT when nothing listens).  Blob data is
 * spooled under TMPDIR (default /var/tmp) until its digest is known. */
dm_target *dm_target_online_open(const char *socket, const char *ns, const char *snapshotter,
				 dm_error *err);

/* Whether a containerd answers on the unix socket `socket` (connects and
 * disconnects): 0 when it does, -1 with err (ECONNREFUSED, ENOENT, ...) when not. */
int dm_target_online_probe(const char *socket, const char *ns, dm_error *err);

/* *root (malloc'd): the root the containerd on `socket` serves, from its
 * content plugin.  Errors name the socket ("containerd at SOCK: ..."). */
int dm_target_online_root(const char *socket, const char *ns, char **root, dm_error *err);

/* Where containerd listens and keeps its store unless told otherwise. */
#define DM_CONTAINERD_ADDRESS "/run/containerd/containerd.sock"
#define DM_CONTAINERD_ROOT "/var/lib/containerd"

/* The choice of target, made once for plan and run. */
typedef struct dm_target_request {
	const char *address;     /* a containerd's socket (--containerd-address): online; NULL: not given */
	const char *root;        /* containerd's root (--containerd-root); NULL: not given */
	const char *ns;          /* containerd namespace (--namespace); NULL: Docker's (daemon.json, moby) */
	const char *snapshotter; /* "overlayfs" or "native" */
	/* Discovery (lib/discover.h), when neither address nor root is given: */
	const dm_docker_config *docker;  /* daemon.json as read; NULL: none (dockerd's defaults) */
	const char *containerd_config;   /* config.toml; NULL: DM_CONTAINERD_CONFIG */
	const char *systemd_dir;         /* NULL: DM_SYSTEMD_DIR */
	const char *data_root;           /* Docker's data-root read (--docker-root); NULL: daemon.json's */
} dm_target_request;

typedef struct dm_target_choice {
	bool online;
	const char *mode;        /* "online" or "offline" */
	const char *address;     /* online: the socket written through; offline: NULL */
	/* The root written to: offline, the one given or discovered; online, the one given
	 * (NULL if none) until dm_target_choose_open, then the one the daemon serves. */
	const char *root;
	const char *ns;          /* the namespace written to */
	/* Which containerd: "given" (an option), "daemon.json's containerd", "system" or
	 * "supervised"; the socket it serves on when known (offline too: where it would). */
	const char *which;
	const char *socket;
	char why[1280];          /* one line: why this containerd and mode */
	char *root_buf;          /* the backend's answer; freed by dm_target_choice_free */
	dm_discovery disc;       /* what discovery found (when it ran) */
} dm_target_choice;

/* Chooses the containerd and mode of r without writing anything: online
 * through r->address when given; offline into r->root when only that is
 * given; with neither, what lib/discover decides from daemon.json, the
 * system containerd's config.toml and which sockets answer.  What plan
 * shows.  -1 with a complete line (config files refused, both containerds
 * plausible) when it cannot.  Free c with dm_target_choice_free, also then. */
int dm_target_choose(const dm_target_request *r, dm_target_choice *c, dm_error *err);

/* dm_target_choose, then opens the target chosen, as run does.  Online, the
 * daemon's root must be r->root when that was given (the user means that
 * store: EINVAL otherwise), and becomes c->root.  Offline, EWOULDBLOCK (meta.db
 * held by containerd or another run) says how to migrate online instead.
 * Errors are complete lines for the user.  c is filled (and must be freed) in
 * both cases. */
dm_target *dm_target_choose_open(const dm_target_request *r, dm_target_choice *c, dm_error *err);

/* Frees what c holds (not c); c may be NULL. */
void dm_target_choice_free(dm_target_choice *c);

/* dm_sink_fn adapter: writes into the dm_target_blob given as opaque. */
int dm_target_blob_sink(void *blob, const void *buf, size_t len, dm_error *err);

/* Closes t (NULL is fine). */
void dm_target_close(dm_target *t);

#endif
