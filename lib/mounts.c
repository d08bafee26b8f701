#include "config.h"
#include "mounts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Hostile strings are cut in messages so that the part naming the problem survives. */
#define SHOW "%.256s"

static int shown(size_t len)
{
	return len > 256 ? 256 : (int)len;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* containerd only ever produces filepath.Clean'ed absolute paths.  Anything else means the reply
 * is not what we think it is.  ',' and '\\' would be taken apart by the kernel's option parser,
 * ':' by lowerdir splitting; containerd escapes none of them. */
static int check_path(const char *p, size_t len, const char *what, dm_error *err)
{
	if (len == 0)
		return dm_err_set(err, EINVAL, "mount: %s is empty", what);
	if (p[0] != '/')
		return dm_err_set(err, EINVAL, "mount: %s \"%.*s\" is not an absolute path", what,
		                  shown(len), p);
	if (len == 1)
		return dm_err_set(err, EINVAL, "mount: %s is the root directory", what);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ',' || p[i] == ':' || p[i] == '\\')
			return dm_err_set(err, EINVAL, "mount: %s \"%.*s\" contains '%c', which the kernel would not read back as one path",
			                  what, shown(len), p, p[i]);
	}
	for (size_t i = 0; i < len;) {
		size_t start = ++i, n;

		while (i < len && p[i] != '/')
			i++;
		n = i - start;
		if (n == 0 || (n == 1 && p[start] == '.') || (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return dm_err_set(err, EINVAL, "mount: %s \"%.*s\" is not a clean path (empty, . or .. component)",
			                  what, shown(len), p);
	}
	return 0;
}

/* a is b, or one contains the other: the kernel refuses such layers (or misbehaves). */
static bool overlaps(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	if (strncmp(a, b, n) != 0)
		return false;
	return la == lb || (la < lb ? b[la] : a[lb]) == '/';
}

void dm_mount_target_free(dm_mount_target *t)
{
	if (!t)
		return;
	free(t->dir);
	free(t->workdir);
	for (size_t i = 0; i < t->nlowerdirs; i++)
		free(t->lowerdirs[i]);
	free(t->lowerdirs);
	memset(t, 0, sizeof *t);
}

static int set_once(char **slot, const char *value, const char *key, dm_error *err)
{
	if (*slot)
		return dm_err_set(err, EINVAL, "mount: option %s= given twice", key);
	if (check_path(value, strlen(value), key, err) < 0)
		return -1;
	*slot = strdup(value);
	if (!*slot) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: %s: ", key);
	}
	return 0;
}

static int split_lowerdir(const char *value, dm_mount_target *t, dm_error *err)
{
	size_t n = 1;

	if (t->lowerdirs)
		return dm_err_set(err, EINVAL, "mount: option lowerdir= given twice");
	for (const char *c = value; *c; c++)
		n += *c == ':';
	t->lowerdirs = calloc(n, sizeof *t->lowerdirs);
	if (!t->lowerdirs) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: lowerdir: ");
	}
	for (const char *p = value;; ) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (check_path(p, len, "lowerdir entry", err) < 0)
			return -1;
		t->lowerdirs[t->nlowerdirs] = strndup(p, len);
		if (!t->lowerdirs[t->nlowerdirs]) {
			dm_err_nomem(err);
			return dm_err_prefix(err, "mount: lowerdir: ");
		}
		t->nlowerdirs++;
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* Options that change how the kernel presents the merged tree but not where a layer's files go. */
static bool harmless_overlay_option(const char *o)
{
	static const char *const keys[] = { "index=", "metacopy=", "redirect_dir=", "xino=", "nfs_export=" };

	if (strcmp(o, "rw") == 0 || strcmp(o, "volatile") == 0)
		return true;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (has_prefix(o, keys[i]) && o[strlen(keys[i])] != '\0')
			return true;
	return false;
}

static int parse_overlay(const dm_mount *m, dm_mount_target *t, dm_error *err)
{
	t->kind = DM_MOUNT_OVERLAY;
	for (size_t i = 0; i < m->noptions; i++) {
		const char *o = m->options[i];

		if (has_prefix(o, "lowerdir=")) {
			if (split_lowerdir(o + 9, t, err) < 0)
				return -1;
		} else if (has_prefix(o, "upperdir=")) {
			if (set_once(&t->dir, o + 9, "upperdir", err) < 0)
				return -1;
		} else if (has_prefix(o, "workdir=")) {
			if (set_once(&t->workdir, o + 8, "workdir", err) < 0)
				return -1;
		} else if (strcmp(o, "userxattr") == 0) {
			t->userxattr = true;
		} else if (strcmp(o, "ro") == 0) {
			return dm_err_set(err, EROFS, "mount: overlay is read-only (option ro): a view, not a snapshot to fill");
		} else if (has_prefix(o, "uidmap=") || has_prefix(o, "gidmap=")) {
			return dm_err_set(err, ENOTSUP, "mount: overlay is id-mapped (option " SHOW "): owners would need shifting, not supported", o);
		} else if (!harmless_overlay_option(o)) {
			return dm_err_set(err, ENOTSUP, "mount: unsupported overlay option \"" SHOW "\"", o);
		}
	}
	if (!t->lowerdirs)
		return dm_err_set(err, EINVAL, "mount: overlay without lowerdir=");
	if (!t->dir)
		return dm_err_set(err, EROFS, "mount: overlay without upperdir= is a read-only view, not a snapshot to fill");
	if (!t->workdir)
		return dm_err_set(err, EINVAL, "mount: overlay upperdir=" SHOW " without workdir=", t->dir);
	if (overlaps(t->dir, t->workdir))
		return dm_err_set(err, EINVAL, "mount: overlay upperdir=" SHOW " and workdir=" SHOW " overlap", t->dir, t->workdir);
	for (size_t i = 0; i < t->nlowerdirs; i++) {
		if (overlaps(t->dir, t->lowerdirs[i]))
			return dm_err_set(err, EINVAL, "mount: overlay upperdir=" SHOW " overlaps lowerdir entry " SHOW,
			                  t->dir, t->lowerdirs[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->lowerdirs[i], t->lowerdirs[j]) == 0)
				return dm_err_set(err, EINVAL, "mount: overlay lowerdir entry " SHOW " given twice", t->lowerdirs[i]);
	}
	return 0;
}

static int parse_bind(const dm_mount *m, dm_mount_target *t, dm_error *err)
{
	t->kind = DM_MOUNT_BIND;
	for (size_t i = 0; i < m->noptions; i++) {
		const char *o = m->options[i];

		if (strcmp(o, "ro") == 0)
			return dm_err_set(err, EROFS, "mount: bind of " SHOW " is read-only (option ro): a view, not a snapshot to fill",
			                  m->source ? m->source : "");
		if (strcmp(o, "rw") != 0 && strcmp(o, "bind") != 0 && strcmp(o, "rbind") != 0)
			return dm_err_set(err, ENOTSUP, "mount: unsupported bind option \"" SHOW "\"", o);
	}
	if (!m->source)
		return dm_err_set(err, EINVAL, "mount: bind without source");
	return set_once(&t->dir, m->source, "bind source", err);
}

static bool has_option(const dm_mount *m, const char *o)
{
	for (size_t i = 0; i < m->noptions; i++)
		if (strcmp(m->options[i], o) == 0)
			return true;
	return false;
}

int dm_mount_target_parse(const dm_mount *mounts, size_t nmounts, dm_mount_target *out,
                          dm_error *err)
{
	const dm_mount *m = mounts;
	int rc;

	memset(out, 0, sizeof *out);
	if (nmounts != 1 || !mounts)
		return dm_err_set(err, EINVAL, "mount: expected exactly one mount for a snapshot, got %zu",
		                  mounts ? nmounts : 0);
	if (!m->type || !*m->type)
		return dm_err_set(err, EINVAL, "mount: empty mount type");
	if (m->target && *m->target)
		return dm_err_set(err, EINVAL, "mount: mount has a target (" SHOW "), a snapshot mount has none", m->target);
	if (m->noptions && !m->options)
		return dm_err_set(err, EINVAL, "mount: %zu options but no option list", m->noptions);
	for (size_t i = 0; i < m->noptions; i++) {
		if (!m->options[i] || !*m->options[i])
			return dm_err_set(err, EINVAL, "mount: option %zu is empty", i);
		if (strchr(m->options[i], ','))
			return dm_err_set(err, EINVAL, "mount: option \"" SHOW "\" contains ',', which the kernel would split", m->options[i]);
	}
	if (strcmp(m->type, "overlay") == 0) {
		if (has_option(m, "bind") || has_option(m, "rbind"))
			return dm_err_set(err, EINVAL, "mount: overlay mount with a bind option");
		if (!m->source || !*m->source)
			return dm_err_set(err, EINVAL, "mount: overlay without source");
		rc = parse_overlay(m, out, err);
	} else if (strcmp(m->type, "bind") == 0 || has_option(m, "bind") || has_option(m, "rbind")) {
		/* With MS_BIND the kernel ignores the type, which is how containerd reads it too. */
		rc = parse_bind(m, out, err);
	} else {
		return dm_err_set(err, ENOTSUP, "mount: unsupported mount type \"" SHOW "\" (expected overlay or bind)", m->type);
	}
	if (rc < 0)
		dm_mount_target_free(out);
	return rc;
}

void dm_mount_free(dm_mount *m)
{
	if (!m)
		return;
	free(m->type);
	free(m->source);
	free(m->target);
	for (size_t i = 0; i < m->noptions; i++)
		free(m->options[i]);
	free(m->options);
	memset(m, 0, sizeof *m);
}

static int add_option(dm_mount *m, const char *a, const char *b, dm_error *err)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	char *o = malloc(la + lb + 1);

	if (!o) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: render: ");
	}
	memcpy(o, a, la);
	if (b)
		memcpy(o + la, b, lb);
	o[la + lb] = '\0';
	m->options[m->noptions++] = o;
	return 0;
}

static int check_dir(const char *p, const char *what, dm_error *err)
{
	if (!p)
		return dm_err_set(err, EINVAL, "mount: %s missing", what);
	return check_path(p, strlen(p), what, err);
}

static int render_lowerdir(const dm_snapshot_dirs *d, dm_mount *m, dm_error *err)
{
	size_t len = strlen("lowerdir=") + 1;
	char *o, *p;

	for (size_t i = 0; i < d->nparents; i++)
		len += strlen(d->parents[i]) + 1;
	o = malloc(len);
	if (!o) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: render: ");
	}
	p = stpcpy(o, "lowerdir=");
	for (size_t i = 0; i < d->nparents; i++) {
		if (i)
			*p++ = ':';
		p = stpcpy(p, d->parents[i]);
	}
	m->options[m->noptions++] = o;
	return 0;
}

static int render(enum dm_snapshotter snapshotter, const dm_snapshot_dirs *d, dm_mount *m,
                  dm_error *err)
{
	const char *bind_source = d->dir;

	/* Room for the longest list: index=off, userxattr, workdir, upperdir, lowerdir. */
	m->options = calloc(5, sizeof *m->options);
	if (!m->options) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: render: ");
	}
	if (snapshotter == DM_SNAPSHOTTER_NATIVE) {
		if (d->view && d->nparents > 0)
			bind_source = d->parents[0];
	} else if (d->nparents > 0) {
		if (d->view && d->nparents == 1) {
			bind_source = d->parents[0];
		} else {
			if (!(m->type = strdup("overlay")) || !(m->source = strdup("overlay"))) {
				dm_err_nomem(err);
				return dm_err_prefix(err, "mount: render: ");
			}
			if (d->index_off && add_option(m, "index=off", NULL, err) < 0)
				return -1;
			if (d->userxattr && add_option(m, "userxattr", NULL, err) < 0)
				return -1;
			if (!d->view) {
				if (check_dir(d->workdir, "workdir", err) < 0 ||
				    add_option(m, "workdir=", d->workdir, err) < 0 ||
				    add_option(m, "upperdir=", d->dir, err) < 0)
					return -1;
			}
			return render_lowerdir(d, m, err);
		}
	}
	if (!(m->type = strdup("bind")) || !(m->source = strdup(bind_source))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "mount: render: ");
	}
	if (add_option(m, d->view ? "ro" : "rw", NULL, err) < 0 || add_option(m, "rbind", NULL, err) < 0)
		return -1;
	return 0;
}

int dm_mount_render(enum dm_snapshotter snapshotter, const dm_snapshot_dirs *dirs, dm_mount *out,
                    dm_error *err)
{
	memset(out, 0, sizeof *out);
	if (snapshotter != DM_SNAPSHOTTER_OVERLAYFS && snapshotter != DM_SNAPSHOTTER_NATIVE)
		return dm_err_set(err, EINVAL, "mount: unknown snapshotter %d", (int)snapshotter);
	if (check_dir(dirs->dir, "snapshot dir", err) < 0)
		return -1;
	if (dirs->nparents && !dirs->parents)
		return dm_err_set(err, EINVAL, "mount: %zu parents but no parent list", dirs->nparents);
	for (size_t i = 0; i < dirs->nparents; i++)
		if (check_dir(dirs->parents[i], "parent dir", err) < 0)
			return -1;
	if (render(snapshotter, dirs, out, err) < 0) {
		dm_mount_free(out);
		return -1;
	}
	return 0;
}
