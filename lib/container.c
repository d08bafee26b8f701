#include "config.h"
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "resolve.h"

/* As layerstore's cap on config.v2.json. */
#define MAX_CONFIG (16u << 20)
#define NEW_SUFFIX ".dockerd-migrate-new"
#define TMP_SUFFIX ".tmp"

/* Where a container's layers are, per driver, and the snapshotter that keeps their form. */
static const struct {
	const char *home;         /* below the data-root; what st->home_fd is */
	const char *sub;          /* below <home>/<mount-id>, or NULL */
	const char *snapshotter;  /* NULL: not migrated */
} layouts[] = {
	[DM_DRIVER_OVERLAY2] = { "overlay2", "diff", "overlayfs" },
	[DM_DRIVER_VFS] = { "vfs/dir", NULL, "native" },
	/* A subvolume is the full tree, as a vfs directory. */
	[DM_DRIVER_BTRFS] = { "btrfs/subvolumes", NULL, "native" },
	/* Its upper directory's whiteout and opaque forms depend on how fuse-overlayfs ran
	 * (devices or .wh. files, trusted.* or user.* xattrs): not checked yet, so not taken. */
	[DM_DRIVER_FUSE_OVERLAYFS] = { "fuse-overlayfs", "diff", NULL },
};

const char *dm_container_snapshotter(dm_driver driver)
{
	return layouts[driver].snapshotter;
}

bool dm_container_on_containerd(const dm_container *c)
{
	return c->driver && (!strcmp(c->driver, "overlayfs") || !strcmp(c->driver, "native"));
}

int dm_container_open_layer(const dm_store *st, const dm_container *c, bool init, char **path,
			    dm_error *err)
{
	const char *id = init ? c->init_id : c->mount_id, *sub = layouts[st->driver].sub;
	char rel[200], *p;
	int fd;

	if (path)
		*path = NULL;
	if (!id)
		return dm_err_set(err, ENOENT, "container %s: no %s", c->id, init ? "init-id" : "mount-id");
	/* Both were checked to be <64 hex>[-init] by layerstore: no "/" or ".." gets in. */
	snprintf(rel, sizeof rel, "%s%s%s", id, sub ? "/" : "", sub ? sub : "");
	if (asprintf(&p, "%s/%s/%s", st->root, layouts[st->driver].home, rel) < 0)
		return dm_err_nomem(err);
	fd = dm_openat_nosym(st->home_fd, rel, O_PATH | O_DIRECTORY, 0);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			dm_err_set(err, errno, "%s: not a directory (or a symbolic link)", p);
		else
			dm_err_sys(err, "%s", p);
		free(p);
		return -1;
	}
	if (path)
		*path = p;
	else
		free(p);
	return fd;
}

int dm_container_usage(const dm_store *st, const dm_container *c, uint64_t *bytes, dm_error *err)
{
	*bytes = 0;
	for (int init = 0; init < 2; init++) {
		uint64_t inodes, b;
		char *path;
		int fd = dm_container_open_layer(st, c, init, &path, err), rc;

		if (fd < 0)
			return -1;
		rc = dm_tree_usage_fd(fd, path, &inodes, &b, err);
		close(fd);
		free(path);
		if (rc < 0)
			return -1;
		*bytes += b;
	}
	return 0;
}

int dm_container_copy_layer(const dm_store *st, const dm_container *c, bool init, const char *dst,
			    dm_treecopy_stats *stats, dm_error *err)
{
	char *path;
	int fd = dm_container_open_layer(st, c, init, &path, err), rc;

	if (fd < 0)
		return -1;
	rc = dm_treecopy_fd(fd, path, dst, DM_TREECOPY_INTO_EXISTING, stats, err);
	close(fd);
	free(path);
	return rc;
}

/* Writes len bytes of buf as name in dir (replacing a leftover), fsync'ed, mode 0600 as Docker's. */
static int write_file(int dir, const char *dirpath, const char *name, const char *buf, size_t len,
		      dm_error *err)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return dm_err_sys(err, "%s/%s", dirpath, name);
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0) {
			dm_err_sys(err, "%s/%s: write", dirpath, name);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		dm_err_sys(err, "%s/%s: fsync", dirpath, name);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return dm_err_sys(err, "%s/%s: close", dirpath, name);
	return 0;
}

/* Writes name atomically: a temporary file next to it, then the rename. */
static int replace_file(int dir, const char *dirpath, const char *name, const char *tmp, const char *buf,
			size_t len, dm_error *err)
{
	if (write_file(dir, dirpath, tmp, buf, len, err) < 0)
		return -1;
	if (renameat(dir, tmp, dir, name) < 0) {
		dm_err_sys(err, "rename %s/%s to %s", dirpath, tmp, name);
		unlinkat(dir, tmp, 0);
		return -1;
	}
	if (fsync(dir) < 0)
		return dm_err_sys(err, "%s: fsync", dirpath);
	return 0;
}

static int read_config(int dir, const char *path, char **out, size_t *len, dm_error *err)
{
	int fd = dm_open_regular(dir, "config.v2.json", path, NULL, err), rc;

	if (fd < 0)
		return -1;
	rc = dm_read_fd(fd, path, MAX_CONFIG, out, len, err);
	close(fd);
	return rc;
}

/* The rewritten config: the three members set, the others as they were. */
static int new_config(const char *buf, size_t len, const char *path, const char *snapshotter,
		      const dm_descriptor *m, char **out, size_t *outlen, dm_error *err)
{
	json_object *cfg, *desc = NULL;
	const char *s;
	int rc = -1;

	if (dm_json_parse(buf, len, path, &cfg, err) < 0)
		return -1;
	if (!json_object_is_type(cfg, json_type_object)) {
		dm_err_set(err, EINVAL, "%s: not a JSON object", path);
		goto out;
	}
	if (!(desc = json_object_new_object()) ||
	    json_object_object_add(desc, "mediaType", json_object_new_string(m->media_type)) < 0 ||
	    json_object_object_add(desc, "digest", json_object_new_string(m->digest.s)) < 0 ||
	    json_object_object_add(desc, "size", json_object_new_int64((int64_t)m->size)) < 0 ||
	    json_object_object_add(cfg, "Driver", json_object_new_string(snapshotter)) < 0 ||
	    json_object_object_add(cfg, "Image", json_object_new_string(m->digest.s)) < 0) {
		json_object_put(desc);
		dm_err_nomem(err);
		goto out;
	}
	if (json_object_object_add(cfg, "ImageManifest", desc) < 0) {
		json_object_put(desc);
		dm_err_nomem(err);
		goto out;
	}
	if (!(s = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) ||
	    !(*out = strdup(s))) {
		dm_err_nomem(err);
		goto out;
	}
	*outlen = strlen(*out);
	rc = 0;
out:
	json_object_put(cfg);
	return rc;
}

int dm_container_rewrite_config(const dm_store *st, const dm_container *c, const char *snapshotter,
				const dm_descriptor *manifest, dm_error *err)
{
	char rel[sizeof "containers/" + DM_DIGEST_HEXLEN + 1], *dirpath = NULL, *path = NULL;
	char *old = NULL, *new = NULL;
	size_t oldlen = 0, newlen = 0;
	struct stat sb;
	int root = -1, dir = -1, rc = -1;

	snprintf(rel, sizeof rel, "containers/%s", c->id);
	if (asprintf(&dirpath, "%s/%s", st->root, rel) < 0 || asprintf(&path, "%s/config.v2.json", dirpath) < 0) {
		free(dirpath);
		return dm_err_nomem(err);
	}
	if ((root = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		dm_err_sys(err, "%s", st->root);
		goto out;
	}
	if ((dir = dm_openat_nosym(root, rel, O_RDONLY | O_DIRECTORY, 0)) < 0) {
		dm_err_sys(err, "%s", dirpath);
		goto out;
	}
	if (read_config(dir, path, &old, &oldlen, err) < 0 ||
	    new_config(old, oldlen, path, snapshotter, manifest, &new, &newlen, err) < 0)
		goto out;
	/* The original is kept before anything replaces it; a backup that exists is the original
	 * already (a config once rewritten is never rewritten again). */
	if (fstatat(dir, DM_CONTAINER_CONFIG_BACKUP, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			dm_err_sys(err, "%s/" DM_CONTAINER_CONFIG_BACKUP, dirpath);
			goto out;
		}
		if (replace_file(dir, dirpath, DM_CONTAINER_CONFIG_BACKUP, DM_CONTAINER_CONFIG_BACKUP TMP_SUFFIX,
				 old, oldlen, err) < 0)
			goto out;
	} else if (!S_ISREG(sb.st_mode)) {
		dm_err_set(err, EEXIST, "%s/" DM_CONTAINER_CONFIG_BACKUP ": not a regular file", dirpath);
		goto out;
	}
	rc = replace_file(dir, dirpath, "config.v2.json", "config.v2.json" NEW_SUFFIX, new, newlen, err);
out:
	free(old);
	free(new);
	free(dirpath);
	free(path);
	if (dir >= 0)
		close(dir);
	if (root >= 0)
		close(root);
	return rc;
}
