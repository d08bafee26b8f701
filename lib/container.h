/* container: a legacy container's layers and config, for run --containers (issue 11): its init
 * and writable layer directories (overlay2 <mount-id>-init/diff and <mount-id>/diff, vfs
 * dir/<mount-id>-init and dir/<mount-id>) opened beneath the store's graphdriver directory
 * following no symlink, copied as they are into a snapshot directory, and the rewrite of
 * containers/<id>/config.v2.json that Docker on the containerd store expects
 * (doc/containerd-store.md §13).
 *
 * The layers are live data, not verified layers: nothing checks them against a digest, they are
 * copied as they are (lib/treecopy keeps whiteouts, opaque markers, xattrs, hard links).  The
 * config rewrite is the one write to Docker's store this project makes: the original is kept
 * beside it as config.v2.json.dockerd-migrate, and the new file replaces the old atomically. */
#ifndef DM_CONTAINER_H
#define DM_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "descriptor.h"
#include "error.h"
#include "layerstore.h"
#include "treecopy.h"

/* What the original config is kept as, next to config.v2.json. */
#define DM_CONTAINER_CONFIG_BACKUP "config.v2.json.dockerd-migrate"

/* The snapshotter a container of driver needs: its layers are copied as they are, so only the
 * snapshotter that keeps the same form takes them ("overlayfs" for overlay2, "native" for vfs). */
const char *dm_container_snapshotter(dm_driver driver);

/* Whether the config's "Driver" names a snapshotter: the container is on the containerd store
 * already (migrated by an earlier run, or made there). */
bool dm_container_on_containerd(const dm_container *c);

/* Opens the container's writable layer (init false) or init layer directory as an O_PATH
 * directory fd; *path (malloc'd, may be NULL) names it.  -1 with err when it is missing, not a
 * directory, or reached through a symlink. */
int dm_container_open_layer(const dm_store *st, const dm_container *c, bool init, char **path,
			    dm_error *err);

/* The usage of both layer directories (bytes as containerd counts a snapshot's: st_blocks * 512
 * once per inode): what copying them writes at the most. */
int dm_container_usage(const dm_store *st, const dm_container *c, uint64_t *bytes, dm_error *err);

/* Copies the layer (as dm_container_open_layer) into the existing empty directory dst. */
int dm_container_copy_layer(const dm_store *st, const dm_container *c, bool init, const char *dst,
			    dm_treecopy_stats *stats, dm_error *err);

/* Rewrites containers/<id>/config.v2.json for Docker on the containerd store: "Driver" becomes
 * snapshotter, "Image" the manifest's digest and "ImageManifest" its descriptor; every other
 * member stays.  The original bytes are kept first as DM_CONTAINER_CONFIG_BACKUP (an existing
 * backup is kept as it is: it is the original of an earlier, interrupted run), then the new file
 * is written, fsync'ed and renamed over the old one. */
int dm_container_rewrite_config(const dm_store *st, const dm_container *c, const char *snapshotter,
				const dm_descriptor *manifest, dm_error *err);

#endif
