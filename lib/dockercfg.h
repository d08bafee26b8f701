/* dockercfg: Docker's daemon.json, read strictly for the keys that decide
 * where Docker's images live, and rewritten by `switch` to turn on the
 * containerd image store.
 *
 * Read: only data-root, exec-root, containerd, containerd-namespace,
 * storage-driver and features are looked at; every other key is left alone
 * (dockerd has many; they are none of our business).  The file must be one
 * JSON object: anything else (invalid JSON, trailing bytes, an empty file,
 * a key of the wrong type) is a one-line error naming the file, because a
 * dockerd would refuse to start with it and any guess here would be wrong.
 * A missing file is not an error: dockerd's defaults apply.
 *
 * Switch and its backup (the convention rollback relies on):
 *   - daemon.json gets "features": {"containerd-snapshotter": true}; every
 *     other key and every other feature flag is kept, in its order.
 *   - Before the first switch that changes the file, its previous bytes are
 *     kept, exactly, in DM_DOCKER_CONFIG_BACKUP beside it
 *     ("<daemon.json>.dockerd-migrate").  When there was no daemon.json, the
 *     backup is an empty file: an empty daemon.json is invalid (refused
 *     above), so an empty backup can only mean "there was none": rollback
 *     then removes daemon.json.
 *   - A backup that exists already is never overwritten: it holds the state
 *     before the first switch, which is what a rollback restores.
 *   - A file that has the feature on already is not written (and gets no
 *     backup: nothing to undo).
 *   - Both files are written atomically: a temporary file in the same
 *     directory, fsync, rename, fsync of the directory.  The backup is
 *     durable before daemon.json is replaced. */
#ifndef DM_DOCKERCFG_H
#define DM_DOCKERCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define DM_DOCKER_CONFIG "/etc/docker/daemon.json"
#define DM_DOCKER_CONFIG_BACKUP_SUFFIX ".dockerd-migrate"
/* dockerd's defaults when daemon.json (and the command line) say nothing. */
#define DM_DOCKER_DATA_ROOT "/var/lib/docker"
#define DM_DOCKER_EXEC_ROOT "/var/run/docker"
#define DM_DOCKER_NAMESPACE "moby"
/* daemon.json larger than this is refused rather than read. */
#define DM_DOCKER_CONFIG_MAX (1u << 20)

typedef struct dm_docker_config {
	char *path;            /* the file read */
	bool present;          /* false: no such file (dockerd's defaults) */
	/* NULL when the key is absent. */
	char *data_root;
	char *exec_root;
	char *containerd;           /* a containerd socket: dockerd uses that one */
	char *containerd_namespace;
	char *storage_driver;
	int snapshotter;       /* features.containerd-snapshotter: -1 absent, 0 false, 1 true */
} dm_docker_config;

/* Reads path into c (zeroed first; free with dm_docker_config_free, also on
 * error).  -1 with a line naming path on invalid JSON, a non-object, a key of
 * the wrong type, a relative data-root or exec-root, or a read error. */
int dm_docker_config_read(const char *path, dm_docker_config *c, dm_error *err);
void dm_docker_config_free(dm_docker_config *c);

/* Whether name is one of Docker's graphdrivers and not a containerd
 * snapshotter as well (overlay2, vfs, ...; btrfs and zfs are both, so they
 * pass); *hint gets the snapshotter that plays its part, or NULL. */
bool dm_docker_graphdriver_only(const char *name, const char **hint);

typedef struct dm_docker_switch {
	char *text;         /* the new daemon.json (malloc'd); NULL when nothing changes */
	bool was_present;   /* daemon.json existed */
	bool already;       /* the feature was on already: nothing written */
	bool backup_made;   /* this call wrote the backup (false: one existed, or dry run) */
	char *backup;       /* the backup's path (malloc'd) */
} dm_docker_switch;

/* Turns features.containerd-snapshotter on in path (see the convention
 * above).  dry_run: computes s->text and writes nothing.  Refuses (EINVAL,
 * nothing written) what dm_docker_config_read refuses and a storage-driver
 * that is a graphdriver only (naming it and its snapshotter), or, when
 * snapshotter (the one the images were migrated into) is not NULL, one that
 * names another snapshotter.  Free s with dm_docker_switch_free, also on error. */
int dm_docker_config_switch(const char *path, const char *snapshotter, bool dry_run, dm_docker_switch *s,
			    dm_error *err);
void dm_docker_switch_free(dm_docker_switch *s);

#endif
