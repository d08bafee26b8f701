#include "config.h"
#include "dockercfg.h"
#include "identifier.h"
#include "json.h"
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FEATURE "containerd-snapshotter"

void dm_docker_config_free(dm_docker_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->data_root);
	free(c->exec_root);
	free(c->containerd);
	free(c->containerd_namespace);
	free(c->storage_driver);
	memset(c, 0, sizeof *c);
	c->snapshotter = -1;
}

static int get_string(json_object *obj, const char *path, const char *key, char **out, dm_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return dm_err_set(err, EINVAL, "%s: \"%s\" must be a string", path, key);
	if (!(*out = strdup(json_object_get_string(v))))
		return dm_err_nomem(err);
	return 0;
}

/* Parses text (len bytes) as daemon.json: *root gets the object. */
static int parse(const char *path, const char *text, size_t len, json_object **root, dm_error *err)
{
	json_object *obj;

	*root = NULL;
	/* dockerd takes a UTF-8 byte order mark (Notepad writes one); the rewrite drops it. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		text += 3, len -= 3;
	if (len >= 2 && (!memcmp(text, "\xff\xfe", 2) || !memcmp(text, "\xfe\xff", 2)))
		return dm_err_set(err, EINVAL, "%s: UTF-16 is not supported; save it as UTF-8", path);
	if (dm_json_parse(text, len, path, &obj, err) < 0)
		return -1;
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return dm_err_set(err, EINVAL, "%s: not a JSON object", path);
	}
	*root = obj;
	return 0;
}

/* The keys of obj this tool reads, into c. */
static int extract(json_object *obj, dm_docker_config *c, dm_error *err)
{
	json_object *feat;

	if (get_string(obj, c->path, "data-root", &c->data_root, err) < 0 ||
	    get_string(obj, c->path, "exec-root", &c->exec_root, err) < 0 ||
	    get_string(obj, c->path, "containerd", &c->containerd, err) < 0 ||
	    get_string(obj, c->path, "containerd-namespace", &c->containerd_namespace, err) < 0 ||
	    get_string(obj, c->path, "storage-driver", &c->storage_driver, err) < 0)
		return -1;
	/* dockerd makes both absolute itself; a relative one here would mean
	 * "relative to dockerd's working directory", which nobody can know. */
	if (c->data_root && c->data_root[0] != '/')
		return dm_err_set(err, EINVAL, "%s: \"data-root\" must be an absolute path, not '%s'", c->path,
				  c->data_root);
	if (c->exec_root && c->exec_root[0] != '/')
		return dm_err_set(err, EINVAL, "%s: \"exec-root\" must be an absolute path, not '%s'", c->path,
				  c->exec_root);
	if (c->containerd_namespace) {
		dm_error nerr = {0};

		if (dm_namespace_check(c->containerd_namespace, &nerr) < 0)
			return dm_err_set(err, EINVAL, "%s: \"containerd-namespace\": %s", c->path, nerr.msg);
	}
	/* dockerd dials "unix:///run/x.sock" and "/run/x.sock" alike. */
	if (c->containerd && !strncmp(c->containerd, "unix://", 7))
		memmove(c->containerd, c->containerd + 7, strlen(c->containerd + 7) + 1);
	if (c->containerd && c->containerd[0] != '/')
		return dm_err_set(err, EINVAL, "%s: \"containerd\" must be a unix socket's absolute path, not '%s'",
				  c->path, c->containerd);
	if (!json_object_object_get_ex(obj, "features", &feat))
		return 0;
	if (!json_object_is_type(feat, json_type_object))
		return dm_err_set(err, EINVAL, "%s: \"features\" must be an object of true/false flags", c->path);
	json_object_object_foreach(feat, k, v) {
		if (!json_object_is_type(v, json_type_boolean))
			return dm_err_set(err, EINVAL, "%s: features.\"%s\" must be true or false", c->path, k);
		if (!strcmp(k, FEATURE))
			c->snapshotter = json_object_get_boolean(v) ? 1 : 0;
	}
	return 0;
}

/* Reads and checks path; *root (may be NULL) keeps the parsed object. */
static int load(const char *path, dm_docker_config *c, json_object **root, mode_t *mode, dm_error *err)
{
	char *text;
	size_t len;
	json_object *obj = NULL;
	int rc;

	memset(c, 0, sizeof *c);
	c->snapshotter = -1;
	if (root)
		*root = NULL;
	if (!(c->path = strdup(path)))
		return dm_err_nomem(err);
	*mode = 0644;
	if (dm_read_small_file(path, DM_DOCKER_CONFIG_MAX, &text, &len, &c->present, mode, err) < 0)
		return -1;
	if (!c->present)
		return 0;
	rc = parse(path, text, len, &obj, err);
	free(text);
	if (rc == 0)
		rc = extract(obj, c, err);
	if (rc == 0 && root)
		*root = obj;
	else
		json_object_put(obj);
	return rc;
}

int dm_docker_config_read(const char *path, dm_docker_config *c, dm_error *err)
{
	mode_t mode;

	return load(path, c, NULL, &mode, err);
}

bool dm_docker_graphdriver_only(const char *name, const char **hint)
{
	/* btrfs, zfs and fuse-overlayfs name a snapshotter too, so they are not here. */
	static const struct {
		const char *driver, *snapshotter;
	} map[] = {
		{"overlay2", "overlayfs"}, {"overlay", "overlayfs"}, {"vfs", "native"},
		{"aufs", "overlayfs"}, {"devicemapper", "devmapper"}, {"windowsfilter", "windows"},
	};

	*hint = NULL;
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (!strcmp(name, map[i].driver)) {
			*hint = map[i].snapshotter;
			return true;
		}
	return false;
}

void dm_docker_switch_free(dm_docker_switch *s)
{
	if (!s)
		return;
	free(s->text);
	free(s->backup);
	memset(s, 0, sizeof *s);
}

static int fsync_dir(const char *dir, dm_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return dm_err_sys(err, "%s", dir);
	if (fsync(fd) < 0) {
		dm_err_sys(err, "%s: fsync", dir);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Writes data to path atomically: a temporary file beside it, fsync, rename,
 * fsync of the directory.  A crash leaves the old file or the new one. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode, dm_error *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
		return dm_err_set(err, ENAMETOOLONG, "%s: name too long", path);
	snprintf(dir, sizeof dir, "%s", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return dm_err_sys(err, "%s: cannot make a temporary file beside it", path);
	if (fchmod(fd, mode) < 0) {
		dm_err_sys(err, "%s: chmod", tmp);
		goto fail;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dm_err_sys(err, "%s: write", tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		dm_err_sys(err, "%s: fsync", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		dm_err_sys(err, "%s: close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		dm_err_sys(err, "%s: rename into place", path);
		goto fail;
	}
	return fsync_dir(dirname(dir), err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int dm_docker_config_switch(const char *path, const char *snapshotter, bool dry_run, dm_docker_switch *s,
			    dm_error *err)
{
	dm_docker_config c;
	json_object *root = NULL, *feat;
	const char *hint, *text;
	char *old = NULL;
	size_t oldlen = 0;
	bool present;
	mode_t mode;
	struct stat sb;
	int rc = -1;

	memset(s, 0, sizeof *s);
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
		return dm_err_set(err, EINVAL, "%s: a symbolic link; give the file it points to (--docker-config)",
				  path);
	if (load(path, &c, &root, &mode, err) < 0)
		goto out;
	s->was_present = c.present;
	if (c.storage_driver && dm_docker_graphdriver_only(c.storage_driver, &hint)) {
		dm_err_set(err, EINVAL,
			   "%s: \"storage-driver\": \"%s\" is a graphdriver, not a containerd snapshotter: on the "
			   "containerd image store dockerd would take it as a snapshotter name; remove the key or "
			   "set a snapshotter (%s)",
			   path, c.storage_driver, hint);
		goto out;
	}
	/* btrfs, zfs, fuse-overlayfs: a snapshotter name too, which dockerd would then use, and
	 * not the one the images were migrated into. */
	if (c.storage_driver && snapshotter && strcmp(c.storage_driver, snapshotter) != 0) {
		dm_err_set(err, EINVAL,
			   "%s: \"storage-driver\": \"%s\": on the containerd image store dockerd would use the "
			   "%s snapshotter, but the images were migrated into %s: remove the key or set it to %s",
			   path, c.storage_driver, c.storage_driver, snapshotter, snapshotter);
		goto out;
	}
	if (asprintf(&s->backup, "%s%s", path, DM_DOCKER_CONFIG_BACKUP_SUFFIX) < 0) {
		s->backup = NULL;
		dm_err_nomem(err);
		goto out;
	}
	if (c.snapshotter == 1) {
		s->already = true;
		rc = 0;
		goto out;
	}
	if (!root && !(root = json_object_new_object())) {
		dm_err_nomem(err);
		goto out;
	}
	if (!json_object_object_get_ex(root, "features", &feat)) {
		if (!(feat = json_object_new_object()) || json_object_object_add(root, "features", feat) < 0) {
			dm_err_nomem(err);
			goto out;
		}
	}
	/* Replaces a false in its place, or appends: the other flags keep their order. */
	if (json_object_object_add(feat, FEATURE, json_object_new_boolean(1)) < 0) {
		dm_err_nomem(err);
		goto out;
	}
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text || asprintf(&s->text, "%s\n", text) < 0) {
		s->text = NULL;
		dm_err_nomem(err);
		goto out;
	}
	if (dry_run) {
		rc = 0;
		goto out;
	}
	if (lstat(s->backup, &sb) < 0) {
		if (errno != ENOENT) {
			dm_err_sys(err, "%s", s->backup);
			goto out;
		}
		/* The first switch: keep what there was, exactly (nothing: an empty backup). */
		if (dm_read_small_file(path, DM_DOCKER_CONFIG_MAX, &old, &oldlen, &present, &mode, err) < 0)
			goto out;
		if (write_atomic(s->backup, old ? old : "", oldlen, present ? mode : 0600, err) < 0) {
			dm_err_prefix(err, "backup of %s: ", path);
			goto out;
		}
		s->backup_made = true;
	} else if (!S_ISREG(sb.st_mode)) {
		dm_err_set(err, EINVAL, "%s: the backup of %s is not a regular file", s->backup, path);
		goto out;
	}
	rc = write_atomic(path, s->text, strlen(s->text), c.present ? mode : 0644, err);
out:
	free(old);
	json_object_put(root);
	dm_docker_config_free(&c);
	return rc;
}
