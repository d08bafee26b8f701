#include "config.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"
#include "treecopy.h"

/* Deepest parent chain we stack: overlay2 itself caps lowers at 128. */
#define MAX_PARENTS 128

/* Our temporary directories carry this prefix (containerd's own are "new-"),
 * so that cleaning up after a dead run never touches containerd's. */
#define TMP_PREFIX "new-dockerd-migrate-"

struct dm_snapshot_store {
	char *name;
	enum dm_snapshotter kind;
	char *snapdir; /* <root>/io.containerd.snapshotter.v1.<name>/snapshots */
	int snapfd;    /* snapdir, opened beneath the root following no symlink */
	dm_snapdb *db;
};

static char *snapshot_dir(const dm_snapshot_store *s, uint64_t id, dm_error *err)
{
	char *p;

	if (asprintf(&p, "%s/%" PRIu64, s->snapdir, id) < 0) {
		dm_err_nomem(err);
		return NULL;
	}
	return p;
}

static int remove_stale(dm_snapshot_store *s, dm_error *err)
{
	int fd = openat(s->snapfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return dm_err_sys(err, "%s", s->snapdir);
	}
	while (rc == 0 && (e = readdir(d))) {
		char *p;

		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (!(p = dm_path_join(s->snapdir, e->d_name, err)))
			rc = -1;
		else
			rc = dm_tree_remove(p, err);
		free(p);
	}
	closedir(d);
	return rc;
}

dm_snapshot_store *dm_snapshot_store_open(const char *root, const char *sn, dm_error *err)
{
	dm_snapshot_store *s = calloc(1, sizeof *s);
	char rel[sizeof DM_SNAPDB_DIR_PREFIX + 64 + sizeof "/snapshots"];
	int rootfd;

	if (!s) {
		dm_err_nomem(err);
		return NULL;
	}
	s->snapfd = -1;
	if (!strcmp(sn, "overlayfs"))
		s->kind = DM_SNAPSHOTTER_OVERLAYFS;
	else if (!strcmp(sn, "native"))
		s->kind = DM_SNAPSHOTTER_NATIVE;
	else {
		dm_err_set(err, EINVAL, "snapshotter %s is not supported (overlayfs or native)", sn);
		goto fail;
	}
	if (!(s->name = strdup(sn)) ||
	    asprintf(&s->snapdir, "%s/" DM_SNAPDB_DIR_PREFIX "%s/snapshots", root, sn) < 0) {
		s->snapdir = NULL;
		dm_err_nomem(err);
		goto fail;
	}
	if (!(s->db = dm_snapdb_open(root, sn, 0, err)))
		goto fail;
	/* Made by dm_snapdb_open; every snapshot directory is made and renamed beneath this fd. */
	snprintf(rel, sizeof rel, DM_SNAPDB_DIR_PREFIX "%s/snapshots", sn);
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		dm_err_sys(err, "containerd root %s", root);
		goto fail;
	}
	s->snapfd = dm_openat_nosym(rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
	close(rootfd);
	if (s->snapfd < 0) {
		dm_err_sys(err, "%s", s->snapdir);
		goto fail;
	}
	if (remove_stale(s, err) < 0)
		goto fail;
	return s;
fail:
	dm_snapshot_store_close(s);
	return NULL;
}

void dm_snapshot_store_close(dm_snapshot_store *s)
{
	if (!s)
		return;
	dm_snapdb_close(s->db);
	if (s->snapfd >= 0)
		close(s->snapfd);
	free(s->snapdir);
	free(s->name);
	free(s);
}

/* Runs one meta.db transaction around fn; commits when writable. */
struct exists_arg {
	dm_snapshot_store *s;
	const char *ns, *key;
	dm_labels *labels;
};

static int exists_tx(dm_metadb_tx *mtx, void *arg, dm_error *err)
{
	struct exists_arg *a = arg;
	dm_snapdb_tx *stx = dm_snapdb_begin(a->s->db, false, err);
	dm_metadb_snapshot view;
	int rc;

	if (!stx)
		return -1;
	rc = dm_snapshot_committed(mtx, stx, a->ns, a->s->name, a->key, NULL, err);
	dm_snapdb_rollback(stx);
	if (rc <= 0 || !a->labels)
		return rc;
	if (dm_metadb_snapshot_get(mtx, a->ns, a->s->name, a->key, &view, err) != 1)
		return -1;
	*a->labels = view.labels;
	view.labels = (dm_labels)DM_LABELS_INIT;
	dm_metadb_snapshot_free(&view);
	return 1;
}

int dm_snapshot_exists(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
		       dm_labels *labels, dm_error *err)
{
	struct exists_arg a = {s, ns, key, labels};

	return dm_metadb_run(md, false, exists_tx, &a, err);
}

static int next_seq_tx(dm_metadb_tx *tx, void *arg, dm_error *err)
{
	struct {
		const char *ns, *sn;
		uint64_t *seq;
	} *a = arg;

	return dm_metadb_snapshot_next_seq(tx, a->ns, a->sn, a->seq, err);
}

/* The backend ids of parent and all its ancestors, nearest first, as
 * containerd's ParentIDs: what the overlay mount's lowerdir lists. */
static int parent_ids(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *parent,
		      uint64_t *ids, size_t max, size_t *n, dm_error *err)
{
	struct exists_arg a = {s, ns, parent, NULL};
	dm_metadb_snapshot view;
	dm_metadb_tx *mtx;
	dm_snapdb_tx *stx;
	char *name;
	int rc = -1;

	*n = 0;
	if (dm_metadb_run(md, false, exists_tx, &a, err) < 0)
		return -1;
	if (!(mtx = dm_metadb_begin(md, false, err)))
		return -1;
	if (dm_metadb_snapshot_get(mtx, ns, s->name, parent, &view, err) != 1) {
		if (!err->code)
			dm_err_set(err, ENOENT, "parent snapshot %s does not exist", parent);
		dm_metadb_rollback(mtx);
		return -1;
	}
	dm_metadb_rollback(mtx);
	name = view.name;
	view.name = NULL;
	dm_metadb_snapshot_free(&view);
	if (!(stx = dm_snapdb_begin(s->db, false, err))) {
		free(name);
		return -1;
	}
	while (name) {
		dm_snapdb_snapshot rec;

		if (*n == max) {
			dm_err_set(err, ELOOP, "snapshot %s: parent chain deeper than %zu", parent, max);
			goto out;
		}
		if (dm_snapdb_get(stx, name, &rec, err) != 1) {
			if (!err->code)
				dm_err_set(err, ENOENT, "%s: snapshot %s missing", dm_snapdb_path(s->db), name);
			goto out;
		}
		ids[(*n)++] = rec.id;
		free(name);
		name = rec.parent;
		rec.parent = NULL;
		dm_snapdb_snapshot_free(&rec);
	}
	rc = 0;
out:
	free(name);
	dm_snapdb_rollback(stx);
	return rc;
}

/* Makes the temporary directory as the snapshotter's Prepare would, and the
 * mount containerd returns for it (lib/mounts). */
static int prepare_dir(dm_snapshot_store *s, const uint64_t *pids, size_t npids, dm_snapshot_job *job,
		       dm_error *err)
{
	char *fs = NULL, *work = NULL, **parents = NULL, tmp[sizeof TMP_PREFIX + 24];
	dm_snapshot_dirs dirs = {0};
	int rc = -1;

	snprintf(tmp, sizeof tmp, TMP_PREFIX "%" PRIu64, job->id);
	if (!(job->tmpdir = dm_path_join(s->snapdir, tmp, err)))
		return -1;
	if (mkdirat(s->snapfd, tmp, s->kind == DM_SNAPSHOTTER_NATIVE ? 0755 : 0700) < 0)
		return dm_err_sys(err, "%s", job->tmpdir);
	if (s->kind == DM_SNAPSHOTTER_NATIVE) {
		/* mkdir's mode is filtered by the umask; containerd chmods explicitly. */
		if (fchmodat(s->snapfd, tmp, 0755, 0) < 0)
			return dm_err_sys(err, "%s", job->tmpdir);
		dirs.dir = job->tmpdir;
		/* As containerd's native Prepare: the new snapshot starts as a copy of its parent. */
		if (npids) {
			char parent[PATH_MAX];

			snprintf(parent, sizeof parent, "%s/%" PRIu64, s->snapdir, pids[0]);
			if (dm_treecopy(parent, job->tmpdir, DM_TREECOPY_INTO_EXISTING | DM_TREECOPY_REFLINK,
			                NULL, err) < 0)
				goto out;
		}
	} else {
		if (!(fs = dm_path_join(job->tmpdir, "fs", err)) || !(work = dm_path_join(job->tmpdir, "work", err)))
			goto out;
		if (mkdir(fs, 0755) < 0 || chmod(fs, 0755) < 0 || mkdir(work, 0711) < 0 ||
		    chmod(work, 0711) < 0) {
			dm_err_sys(err, "%s", job->tmpdir);
			goto out;
		}
		dirs.dir = fs;
		dirs.workdir = work;
		/* Native copies the whole parent; overlay stacks it: only overlay needs the lowers. */
		if (npids && !(parents = calloc(npids, sizeof *parents))) {
			dm_err_nomem(err);
			goto out;
		}
		for (size_t i = 0; i < npids; i++) {
			if (asprintf(&parents[i], "%s/%" PRIu64 "/fs", s->snapdir, pids[i]) < 0) {
				parents[i] = NULL;
				dm_err_nomem(err);
				goto out;
			}
		}
		dirs.parents = (const char *const *)parents;
		dirs.nparents = npids;
	}
	if (dm_mount_render(s->kind, &dirs, &job->mount, err) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; parents && i < npids; i++)
		free(parents[i]);
	free(parents);
	free(fs);
	free(work);
	return rc;
}

static int adopt(dm_snapshot_store *s, const char *ns, dm_snapshot_job *job, dm_error *err)
{
	dm_snapdb_tx *stx = dm_snapdb_begin(s->db, false, err);
	char *name = NULL;
	int rc;

	if (!stx)
		return -1;
	rc = dm_snapdb_find(stx, ns, job->key, &name, &job->seq, &job->id, err);
	dm_snapdb_rollback(stx);
	free(name);
	if (rc == 1) {
		char idname[24];
		struct stat st;

		snprintf(idname, sizeof idname, "%" PRIu64, job->id);
		/* A record whose directory is gone cannot be adopted: make a new one. */
		rc = fstatat(s->snapfd, idname, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
	}
	return rc;
}

static int begin(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
		 const char *parent, bool active, dm_snapshot_job *job, dm_error *err)
{
	uint64_t pids[MAX_PARENTS];
	size_t npids = 0;
	struct {
		const char *ns, *sn;
		uint64_t *seq;
	} seq_arg = {ns, s->name, &job->seq};
	dm_snapdb_tx *stx;
	int rc;

	memset(job, 0, sizeof *job);
	if (strlen(key) >= sizeof job->key || (parent && strlen(parent) >= sizeof job->parent))
		return dm_err_set(err, EINVAL, "snapshot key too long: %s", key);
	strcpy(job->key, key);
	if (parent)
		strcpy(job->parent, parent);
	job->active = active;
	/* Only committed backend records are adopted: an active one a dead run left was still
	 * being filled, and its directory and record are left to containerd's GC. */
	if (!active && (rc = adopt(s, ns, job, err)) != 0) {
		job->adopted = rc == 1;
		return rc < 0 ? -1 : 0;
	}
	if (parent && parent_ids(s, md, ns, parent, pids, MAX_PARENTS, &npids, err) < 0)
		return dm_err_prefix(err, "snapshot %s: ", key);
	if (dm_metadb_run(md, true, next_seq_tx, &seq_arg, err) < 0)
		return -1;
	if (!(stx = dm_snapdb_begin(s->db, true, err)))
		return -1;
	if (dm_snapdb_next_id(stx, &job->id, err) < 0) {
		dm_snapdb_rollback(stx);
		return -1;
	}
	if (dm_snapdb_commit(stx, err) < 0)
		return -1;
	if (prepare_dir(s, pids, npids, job, err) < 0)
		return dm_err_prefix(err, "snapshot %s: ", key);
	return 0;
}

int dm_snapshot_begin(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
		      const char *parent, dm_snapshot_job *job, dm_error *err)
{
	return begin(s, md, ns, key, parent, false, job, err);
}

int dm_snapshot_begin_active(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
			     const char *parent, dm_snapshot_job *job, dm_error *err)
{
	return begin(s, md, ns, key, parent, true, job, err);
}

static int active_tx(dm_metadb_tx *mtx, void *arg, dm_error *err)
{
	struct exists_arg *a = arg;
	dm_snapdb_tx *stx;
	dm_metadb_snapshot view;
	dm_snapdb_snapshot back;
	int rc;

	if ((rc = dm_metadb_snapshot_get(mtx, a->ns, a->s->name, a->key, &view, err)) <= 0)
		return rc;
	if (!(stx = dm_snapdb_begin(a->s->db, false, err))) {
		dm_metadb_snapshot_free(&view);
		return -1;
	}
	rc = dm_snapdb_get(stx, view.name, &back, err);
	dm_snapdb_rollback(stx);
	if (rc == 1) {
		rc = back.kind == DM_SNAPSHOT_ACTIVE ? 1 : 0;
		if (!rc)
			rc = dm_err_set(err, EEXIST, "snapshot %s exists and is not active", a->key);
		else if (a->labels) {
			*a->labels = view.labels;
			view.labels = (dm_labels)DM_LABELS_INIT;
		}
		dm_snapdb_snapshot_free(&back);
	}
	dm_metadb_snapshot_free(&view);
	return rc;
}

int dm_snapshot_active_exists(dm_snapshot_store *s, dm_metadb *md, const char *ns, const char *key,
			      dm_labels *labels, dm_error *err)
{
	struct exists_arg a = {s, ns, key, labels};

	return dm_metadb_run(md, false, active_tx, &a, err);
}

struct view_arg {
	const char *ns, *sn;
	const dm_snapshot_job *job;
	const dm_labels *labels;
	const dm_lease *lease;
};

static int view_tx(dm_metadb_tx *tx, void *arg, dm_error *err)
{
	struct view_arg *a = arg;

	if (dm_metadb_snapshot_put(tx, a->ns, a->sn, a->job->key, a->job->seq,
				   a->job->parent[0] ? a->job->parent : NULL, a->labels, err) < 0)
		return -1;
	return a->lease ? dm_lease_add_snapshot(tx, a->lease, a->sn, a->job->key, err) : 0;
}

static int backend_record(dm_snapshot_store *s, const char *ns, dm_snapshot_job *job, dm_error *err)
{
	char *name = NULL, *pname = NULL;
	dm_snapdb_tx *stx;
	uint64_t pseq = 0, pid = 0;
	int rc = -1;

	if (!(name = dm_snapshot_backend_name(ns, job->seq, job->key, err)))
		return -1;
	if (!(stx = dm_snapdb_begin(s->db, true, err)))
		goto out;
	if (job->parent[0] && dm_snapdb_find(stx, ns, job->parent, &pname, &pseq, &pid, err) != 1) {
		if (!err->code)
			dm_err_set(err, ENOENT, "%s: parent snapshot %s missing", dm_snapdb_path(s->db),
				   job->parent);
		dm_snapdb_rollback(stx);
		goto out;
	}
	if ((job->active ? dm_snapdb_put_active(stx, name, job->id, pname, NULL, err)
			 : dm_snapdb_put_committed(stx, name, job->id, pname, (int64_t)job->inodes,
						   (int64_t)job->usage, NULL, err)) < 0) {
		dm_snapdb_rollback(stx);
		goto out;
	}
	rc = dm_snapdb_commit(stx, err);
out:
	free(pname);
	free(name);
	return rc;
}

int dm_snapshot_commit(dm_snapshot_store *s, dm_metadb *md, const char *ns, dm_snapshot_job *job,
		       const dm_labels *labels, const dm_lease *lease, dm_error *err)
{
	struct view_arg a = {ns, s->name, job, labels, lease};

	if (!job->adopted) {
		char *dir = snapshot_dir(s, job->id, err), *tmp = job->tmpdir ? strrchr(job->tmpdir, '/') : NULL;

		if (!dir)
			return -1;
		if (!tmp || renameat(s->snapfd, tmp + 1, s->snapfd, strrchr(dir, '/') + 1) < 0) {
			dm_err_sys(err, "rename %s to %s", job->tmpdir, dir);
			free(dir);
			return -1;
		}
		free(dir);
		free(job->tmpdir);
		job->tmpdir = NULL;
		if (fsync(s->snapfd) < 0) {
			dm_err_sys(err, "%s", s->snapdir);
			return dm_err_prefix(err, "snapshot %s: ", job->key);
		}
		if (backend_record(s, ns, job, err) < 0)
			return dm_err_prefix(err, "snapshot %s: ", job->key);
	}
	if (dm_metadb_run(md, true, view_tx, &a, err) < 0)
		return dm_err_prefix(err, "snapshot %s: ", job->key);
	return 0;
}

void dm_snapshot_job_free(dm_snapshot_store *s, dm_snapshot_job *job)
{
	dm_error ignored;  /* freeing reports nothing: a tree left is a dead run's, removed later */

	(void)s;
	if (job->tmpdir)
		dm_tree_remove(job->tmpdir, &ignored);
	free(job->tmpdir);
	job->tmpdir = NULL;
	dm_mount_free(&job->mount);
}
