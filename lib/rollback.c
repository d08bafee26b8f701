#include "config.h"
#include "rollback.h"

#include <ctype.h>
#include <dirent.h>
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

const char *dm_rollback_kind_name(dm_rollback_kind k)
{
	static const char *const names[] = {"image", "blob", "snapshot", "lease", "container", "daemon.json"};

	return k <= DM_RB_DAEMON_JSON ? names[k] : "item";
}

int dm_rollback_report_add(dm_rollback_report *rep, dm_rollback_kind kind, dm_rollback_status status,
			   const char *ns, const char *what, const char *note, dm_error *err)
{
	dm_rollback_item *v = realloc(rep->v, (rep->n + 1) * sizeof *v), *it;

	if (!v)
		return dm_err_nomem(err);
	rep->v = v;
	it = &v[rep->n];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	it->status = status;
	if ((ns && !(it->ns = strdup(ns))) || !(it->what = strdup(what)) || (note && !(it->note = strdup(note)))) {
		free(it->ns);
		free(it->what);
		return dm_err_nomem(err);
	}
	rep->n++;
	if (status == DM_RB_REMOVED)
		rep->removed++;
	else
		rep->kept++;
	return 0;
}

void dm_rollback_report_free(dm_rollback_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->v[i].ns);
		free(rep->v[i].what);
		free(rep->v[i].note);
	}
	free(rep->v);
	memset(rep, 0, sizeof *rep);
}

void dm_rollback_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* A container ID as Docker makes them: 64 lowercase hex digits. */
static bool container_id_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
			return false;
	return n == 64;
}

int dm_rollback_find_containers(const char *docker_root, char ***ids, size_t *n, dm_error *err)
{
	char path[4096];
	struct dirent *de;
	int dfd, cfd;
	DIR *d;

	*ids = NULL;
	*n = 0;
	snprintf(path, sizeof path, "%s/containers", docker_root);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s", path);
	if (!(d = fdopendir(dfd))) {
		close(dfd);
		return dm_err_sys(err, "%s", path);
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char **v;

		if (!container_id_ok(de->d_name))
			continue;
		if ((cfd = dm_openat_nosym(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY, 0)) < 0)
			continue;
		if (fstatat(cfd, "config.v2.json" DM_ROLLBACK_BACKUP_SUFFIX, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode)) {
			close(cfd);
			continue;
		}
		close(cfd);
		if (!(v = realloc(*ids, (*n + 1) * sizeof *v)) || !(v[*n] = strdup(de->d_name))) {
			if (v)
				*ids = v;
			closedir(d);
			return dm_err_nomem(err);
		}
		*ids = v;
		(*n)++;
	}
	if (errno) {
		dm_err_sys(err, "%s", path);
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

int dm_rollback_restore_containers(const char *docker_root, char **ids, size_t n, bool dry_run,
				   dm_rollback_report *rep, dm_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		int dfd;

		snprintf(path, sizeof path, "%s/containers/%s", docker_root, ids[i]);
		if (!dry_run) {
			if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				return dm_err_sys(err, "%s", path);
			/* The backup renamed over the config: atomic, and the backup's absence then
			 * says the restore is done (a second rollback finds nothing to do). */
			if (renameat(dfd, "config.v2.json" DM_ROLLBACK_BACKUP_SUFFIX, dfd, "config.v2.json") < 0 ||
			    fsync(dfd) < 0) {
				dm_err_sys(err, "%s/config.v2.json", path);
				close(dfd);
				return -1;
			}
			close(dfd);
		}
		if (dm_rollback_report_add(rep, DM_RB_CONTAINER, DM_RB_REMOVED, NULL, ids[i],
					   "config.v2.json restored from its backup", err) < 0)
			return -1;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int dm_rollback_restore_daemon_json(const char *path, bool dry_run, dm_rollback_report *rep, dm_error *err)
{
	char backup[4096];
	struct stat st;

	if ((size_t)snprintf(backup, sizeof backup, "%s%s", path, DM_ROLLBACK_BACKUP_SUFFIX) >= sizeof backup)
		return dm_err_set(err, ENAMETOOLONG, "%s: name too long", path);
	if (lstat(backup, &st) < 0)
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s", backup);
	if (!S_ISREG(st.st_mode))
		return dm_err_set(err, EINVAL, "%s: not a regular file", backup);
	if (!dry_run) {
		/* An empty backup: there was no daemon.json before switch (an empty one is invalid). */
		if (st.st_size == 0) {
			if (unlink(path) < 0 && errno != ENOENT)
				return dm_err_sys(err, "%s", path);
			if (unlink(backup) < 0)
				return dm_err_sys(err, "%s", backup);
		} else if (rename(backup, path) < 0) {
			return dm_err_sys(err, "%s: restoring from %s", path, backup);
		}
		if (fsync_dir_of(path) < 0)
			return dm_err_sys(err, "%s: fsync of its directory", path);
	}
	return dm_rollback_report_add(rep, DM_RB_DAEMON_JSON, DM_RB_REMOVED, NULL, path,
				      st.st_size ? "restored from its backup" : "removed: there was none before switch",
				      err);
}

/* ---- is a dockerd on the containerd store? ---- */

#define PROC_FILE_MAX (1u << 20)

/* Reads a small file whole (fd is closed), NUL-terminated; NULL on any failure. */
static char *read_fd(int fd, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *b = cap < PROC_FILE_MAX ? realloc(buf, cap = cap ? 2 * cap : 4096) : NULL;

			if (!b)
				goto fail;
			buf = b;
		}
		if ((r = read(fd, buf + n, cap - n - 1)) < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* features.containerd-snapshotter in a daemon.json's bytes. */
static bool config_enables(const char *buf, size_t len)
{
	json_object *doc, *f, *v;
	dm_error e = {0};
	bool on = false;

	/* Not JSON: that dockerd could not have started with it. */
	if (dm_json_parse(buf, len, "daemon.json", &doc, &e) == 0 && doc && json_object_object_get_ex(doc, "features", &f) &&
	    json_object_object_get_ex(f, "containerd-snapshotter", &v) && json_object_is_type(v, json_type_boolean))
		on = json_object_get_boolean(v);
	json_object_put(doc);
	return on;
}

/* The process's command line says it is on the containerd store: --feature containerd-snapshotter[=true],
 * or its config file does. */
static bool dockerd_enables(int pdfd, const char *cmdline, size_t len)
{
	const char *config = "/etc/docker/daemon.json";
	bool on = false;
	char *buf;
	size_t n;
	int root;

	for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1) {
		const char *a = cmdline + i, *next = i + strlen(a) + 1 < len ? a + strlen(a) + 1 : NULL;

		if ((!strcmp(a, "--feature") && next &&
		     (!strcmp(next, "containerd-snapshotter") || !strcmp(next, "containerd-snapshotter=true"))) ||
		    !strcmp(a, "--feature=containerd-snapshotter") || !strcmp(a, "--feature=containerd-snapshotter=true"))
			on = true;
		if (!strcmp(a, "--config-file") && next)
			config = next;
		else if (!strncmp(a, "--config-file=", 14))
			config = a + 14;
	}
	if (on)
		return true;
	/* The file as the process sees it: beneath its root (a chroot's dockerd reads its own). */
	if ((root = openat(pdfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	while (*config == '/')
		config++;
	{
		dm_error e = {0};

		buf = read_fd(dm_open_beneath(root, config, strlen(config), O_RDONLY, &e), &n);
	}
	close(root);
	on = buf && config_enables(buf, n);
	free(buf);
	return on;
}

int dm_rollback_dockerd_on_containerd(int *pid, dm_error *err)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	*pid = 0;
	if (!d)
		return dm_err_sys(err, "/proc");
	while ((de = readdir(d))) {
		char *comm, *cmdline;
		size_t n, cn;
		int pdfd;
		bool on;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if ((pdfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			continue;
		comm = read_fd(openat(pdfd, "comm", O_RDONLY | O_CLOEXEC), &n);
		if (!comm || strcmp(comm, "dockerd\n")) {
			free(comm);
			close(pdfd);
			continue;
		}
		free(comm);
		cmdline = read_fd(openat(pdfd, "cmdline", O_RDONLY | O_CLOEXEC), &cn);
		on = cmdline && dockerd_enables(pdfd, cmdline, cn);
		free(cmdline);
		close(pdfd);
		if (on) {
			*pid = atoi(de->d_name);
			closedir(d);
			return 1;
		}
	}
	closedir(d);
	return 0;
}

int dm_rollback_run(const char *socket, const char *root, const char *ns, const char *docker_root,
		    const char *docker_config, bool dry_run, dm_rollback_report *rep, dm_error *err)
{
	dm_journal_entries j = {0};
	dm_rollback_request rq = {0};
	char **ids = NULL;
	size_t n_ids = 0;
	int rc = -1;

	if (dm_journal_read(root, &j, err) < 0 || dm_rollback_find_containers(docker_root, &ids, &n_ids, err) < 0)
		goto out;
	rq.journal = &j;
	rq.container_ns = ns;
	rq.containers = ids;
	rq.n_containers = n_ids;
	rq.dry_run = dry_run;
	if ((socket ? dm_rollback_online(socket, &rq, rep, err) : dm_rollback_offline(root, &rq, rep, err)) < 0)
		goto out;
	/* Docker's side only once containerd's is undone: a failure above leaves both as they were
	 * for a second rollback. */
	if (dm_rollback_restore_containers(docker_root, ids, n_ids, dry_run, rep, err) < 0 ||
	    dm_rollback_restore_daemon_json(docker_config, dry_run, rep, err) < 0 ||
	    (!dry_run && dm_journal_remove(root, err) < 0))
		goto out;
	rc = 0;
out:
	dm_journal_entries_free(&j);
	dm_rollback_ids_free(ids, n_ids);
	return rc;
}
