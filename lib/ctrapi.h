/* ctrapi: typed calls to a running containerd's gRPC API on a dm_grpc connection (Version,
 * Introspection, Leases, Content, Snapshots, Images).  Its callers: the online backend
 * (lib/target_online: leases, blob writes, snapshots, images, and dm_ctr_root for the target
 * choice, which compares the daemon's root with --containerd-root), and the tests, which alone use
 * dm_ctr_version_get, dm_ctr_content_read and dm_ctr_snapshot_mounts to judge what was written.
 * Owns the packing and unpacking of the project's .proto subset (lib/proto, protobuf-c); callers
 * see plain C data.  Field numbers: doc/containerd-store.md §11.
 *
 * Namespace and lease come from the connection (dm_grpc_connect, dm_grpc_set_lease): what a call
 * creates while a lease is set is held by that lease; only Leases.AddResource names its lease
 * itself.  Errors are grpc.h's (EEXIST, ENOENT, EAGAIN, EINVAL, ENOSYS, EMSGSIZE, ETIMEDOUT, EIO),
 * messages naming the method (snapshot, image and ingest calls also prefix the key, name or ref);
 * a reply that does not decode, or lacks what the call must return, is EPROTO.  No call retries:
 * retrying on EAGAIN is the caller's (lib/target_online).  Thread safety: as grpc.h. */
#ifndef DM_CTRAPI_H
#define DM_CTRAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "digest.h"
#include "error.h"
#include "grpc.h"
#include "labels.h"
#include "mounts.h"
#include "sink.h"

/* Bytes of blob data per Content.Write message (well under DM_GRPC_MAX_SEND). */
#define DM_CTR_WRITE_CHUNK (1u << 20)

typedef struct dm_ctr_version {
	char version[64];
	char revision[64];
} dm_ctr_version;

/* Version.Version: the daemon's version ("1.6.20~ds1") and revision. */
int dm_ctr_version_get(dm_grpc *c, dm_ctr_version *out, dm_error *err);
/* Introspection.Plugins: *value (free() it) is export key of plugin type/id; ENOENT if the
 * plugin or the export is missing. */
int dm_ctr_plugin_export(dm_grpc *c, const char *type, const char *id, const char *key,
                         char **value, dm_error *err);
/* The daemon's root directory (its config's `root`), from the content plugin's "root" export,
 * which is <root>/io.containerd.content.v1.content; *root: free() it. */
int dm_ctr_root(dm_grpc *c, char **root, dm_error *err);

/* ---- Leases ---- */
typedef struct dm_ctr_lease {
	char *id;
	struct timespec created;
	dm_labels labels;
} dm_ctr_lease;

/* Leases.Create with labels (NULL: none); EEXIST if id exists. */
int dm_ctr_lease_create(dm_grpc *c, const char *id, const dm_labels *labels, dm_error *err);
/* Leases.Delete; with sync, containerd's garbage collection has run when this returns. */
int dm_ctr_lease_delete(dm_grpc *c, const char *id, bool sync, dm_error *err);
/* Leases.List with one containerd filter (NULL: all): *leases (dm_ctr_leases_free) has *n. */
int dm_ctr_lease_list(dm_grpc *c, const char *filter, dm_ctr_lease **leases, size_t *n,
                      dm_error *err);
void dm_ctr_leases_free(dm_ctr_lease *leases, size_t n);
/* Leases.AddResource: puts resource id of type ("content", "ingests", "snapshots/overlayfs")
 * under lease, e.g. a blob that existed already (a write of it fails with EEXIST). */
int dm_ctr_lease_add_resource(dm_grpc *c, const char *lease, const char *type, const char *id,
                              dm_error *err);

/* ---- Content ---- */
typedef struct dm_ctr_content_info {
	dm_digest digest;
	int64_t size;
	struct timespec created, updated;
	dm_labels labels;
} dm_ctr_content_info;

/* Content.Info; ENOENT if the blob is not in the namespace. */
int dm_ctr_content_get(dm_grpc *c, const dm_digest *d, dm_ctr_content_info *out, dm_error *err);
/* Content.Update: sets (adds or replaces) the given labels, keeps the others; out (may be NULL)
 * receives the blob's info afterwards. */
int dm_ctr_content_set_labels(dm_grpc *c, const dm_digest *d, const dm_labels *labels,
                              dm_ctr_content_info *out, dm_error *err);
void dm_ctr_content_info_free(dm_ctr_content_info *info);

/* Content.Read: size bytes (0: to the end) from offset, through sink (an error from the sink
 * stops the read and is returned). */
int dm_ctr_content_read(dm_grpc *c, const dm_digest *d, int64_t offset, int64_t size,
                        dm_sink_fn sink, void *arg, dm_error *err);
/* Content.Abort: drops the ingest ref and what it holds. */
int dm_ctr_content_abort(dm_grpc *c, const char *ref, dm_error *err);

/* One Content.Write stream (ingest ref → committed blob). */
typedef struct dm_ctr_writer dm_ctr_writer;
/* Opens the ingest ref for a blob of exactly total bytes and digest expected (both are
 * required; containerd checks them at the commit), holding containerd's lock on the ref.
 * *offset is how much an earlier, interrupted write left in the ingest: continue from there (or
 * abort the ref and start again).  EEXIST if expected is already in the store; EAGAIN if another
 * writer holds ref. */
dm_ctr_writer *dm_ctr_writer_open(dm_grpc *c, const char *ref, const dm_digest *expected,
                                  int64_t total, int64_t *offset, dm_error *err);
/* Appends data; sent in DM_CTR_WRITE_CHUNK messages. */
int dm_ctr_writer_write(dm_ctr_writer *w, const void *data, size_t len, dm_error *err);
/* Commits with labels (NULL: none); containerd checks size and digest.  Ends the stream. */
int dm_ctr_writer_commit(dm_ctr_writer *w, const dm_labels *labels, dm_error *err);
/* Ends the stream; an uncommitted ingest stays for a later resume (or Abort). */
void dm_ctr_writer_free(dm_ctr_writer *w);

/* ---- Snapshots ---- */
enum dm_ctr_snapshot_kind {
	DM_CTR_SNAPSHOT_VIEW = 1,
	DM_CTR_SNAPSHOT_ACTIVE = 2,
	DM_CTR_SNAPSHOT_COMMITTED = 3,
};

typedef struct dm_ctr_snapshot_info {
	char *name;
	char *parent; /* "" without a parent */
	enum dm_ctr_snapshot_kind kind;
	struct timespec created, updated;
	dm_labels labels;
} dm_ctr_snapshot_info;

/* Snapshots.Prepare: an active snapshot key on parent (NULL: none) with labels (NULL: none);
 * *mounts (dm_ctr_mounts_free) are what to fill, for dm_mount_target_parse.  EEXIST if key exists. */
int dm_ctr_snapshot_prepare(dm_grpc *c, const char *snapshotter, const char *key,
                            const char *parent, const dm_labels *labels, dm_mount **mounts,
                            size_t *nmounts, dm_error *err);
/* Snapshots.Mounts: the mounts of an existing active snapshot (resuming after a crash). */
int dm_ctr_snapshot_mounts(dm_grpc *c, const char *snapshotter, const char *key,
                           dm_mount **mounts, size_t *nmounts, dm_error *err);
/* Snapshots.Commit: active key becomes committed snapshot name with labels (NULL: none). */
int dm_ctr_snapshot_commit(dm_grpc *c, const char *snapshotter, const char *name,
                           const char *key, const dm_labels *labels, dm_error *err);
/* Snapshots.Stat; ENOENT if key does not exist. */
int dm_ctr_snapshot_stat(dm_grpc *c, const char *snapshotter, const char *key,
                         dm_ctr_snapshot_info *out, dm_error *err);
/* Snapshots.Remove. */
int dm_ctr_snapshot_remove(dm_grpc *c, const char *snapshotter, const char *key, dm_error *err);
void dm_ctr_snapshot_info_free(dm_ctr_snapshot_info *info);
void dm_ctr_mounts_free(dm_mount *mounts, size_t n);

/* ---- Images ---- */
typedef struct dm_ctr_image {
	char *name;
	dm_labels labels;
	char *media_type;        /* of the target */
	dm_digest digest;        /* of the target */
	int64_t size;            /* of the target */
	struct timespec created, updated; /* set by containerd; ignored on input */
} dm_ctr_image;

/* Images.Create; EEXIST if the name exists. */
int dm_ctr_image_create(dm_grpc *c, const dm_ctr_image *img, dm_error *err);
/* Images.Update: replaces the target and labels of the image img->name (ENOENT if absent). */
int dm_ctr_image_update(dm_grpc *c, const dm_ctr_image *img, dm_error *err);
/* Images.Get; ENOENT if absent. */
int dm_ctr_image_get(dm_grpc *c, const char *name, dm_ctr_image *out, dm_error *err);
/* Images.Delete; ENOENT if there is none; with sync, containerd's garbage collection has run
 * when this returns (what rollback relies on to remove only what nothing references). */
int dm_ctr_image_delete(dm_grpc *c, const char *name, bool sync, dm_error *err);
void dm_ctr_image_free(dm_ctr_image *img);

#endif
