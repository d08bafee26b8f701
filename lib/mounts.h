/* mounts: the mounts containerd describes for a snapshot (Prepare/View replies), in both
 * directions.  Parsing finds the one directory a layer is written into (overlay upperdir= or a
 * bind mount's source) and refuses every shape that cannot be filled safely; rendering builds the
 * mounts containerd 1.6.20 itself would return (overlay and native snapshotters, option order of
 * snapshots/overlay/overlay.go and snapshots/native/native.go) so that the offline backend and
 * the online mode share one path.  Pure string work: nothing here touches the filesystem. */
#ifndef DM_MOUNTS_H
#define DM_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* One mount as containerd's api/types/mount.proto carries it (type=1, source=2, target=3,
 * options=4).  target is NULL or "" for snapshot mounts. */
typedef struct dm_mount {
	char *type;
	char *source;
	char *target;
	char **options;
	size_t noptions;
} dm_mount;

enum dm_mount_kind {
	DM_MOUNT_BIND = 1,    /* the directory is the whole (base or native) tree */
	DM_MOUNT_OVERLAY = 2, /* the directory is an overlay upperdir: whiteouts in overlay form */
};

/* What a writable snapshot mount means for the writer.  All strings are owned copies. */
typedef struct dm_mount_target {
	enum dm_mount_kind kind;
	char *dir;          /* the directory to fill: upperdir= or the bind source */
	char *workdir;      /* overlay: workdir=; NULL for bind */
	char **lowerdirs;   /* overlay: lowerdir= split on ':', immediate parent first; NULL for bind */
	size_t nlowerdirs;
	bool userxattr;     /* overlay with "userxattr": the kernel reads user.overlay.*, not trusted.* */
} dm_mount_target;

/* Parses the mounts of an Active snapshot into out.  Accepts exactly one mount, either overlay
 * (lowerdir=, upperdir=, workdir= once each, plus index=, metacopy=, redirect_dir=, xino=,
 * nfs_export=, volatile, userxattr, rw) or bind (type "bind", or "rbind"/"bind" in the options,
 * with rw).  Refuses read-only views, unknown types and options, id-mapped mounts (uidmap=,
 * gidmap=), and paths that are not clean absolute paths or that hold ',' ':' or '\\' (containerd
 * does not escape them, so the kernel would split them).  On error out is left empty. */
int dm_mount_target_parse(const dm_mount *mounts, size_t nmounts, dm_mount_target *out,
                          dm_error *err);
/* Frees the strings of t and empties it; t may already be empty. */
void dm_mount_target_free(dm_mount_target *t);

enum dm_snapshotter {
	DM_SNAPSHOTTER_OVERLAYFS = 1,
	DM_SNAPSHOTTER_NATIVE = 2,
};

/* A snapshot's directories, as the snapshotter lays them out. */
typedef struct dm_snapshot_dirs {
	const char *dir;             /* own root: overlayfs snapshots/<id>/fs, native snapshots/<id> */
	const char *workdir;         /* overlayfs: snapshots/<id>/work (needed for Active with parents) */
	const char *const *parents;  /* parents' roots, immediate parent first (containerd's ParentIDs) */
	size_t nparents;
	bool view;                   /* a read-only View rather than an Active snapshot */
	bool index_off;              /* overlayfs: /sys/module/overlay/parameters/index exists */
	bool userxattr;              /* overlayfs: containerd runs in a user namespace */
} dm_snapshot_dirs;

/* Renders into out the single mount containerd 1.6.20 returns for the snapshot: bind "rw|ro,rbind"
 * without parents (and for overlayfs Views of one parent, native Views), otherwise overlay
 * "[index=off,][userxattr,][workdir=W,upperdir=U,]lowerdir=P1:P2:…".  Paths are checked as in
 * dm_mount_target_parse.  Free out with dm_mount_free. */
int dm_mount_render(enum dm_snapshotter snapshotter, const dm_snapshot_dirs *dirs, dm_mount *out,
                    dm_error *err);
/* Frees the strings of m and empties it. */
void dm_mount_free(dm_mount *m);

#endif
