/* The offline target: containerd's own files, written while it is stopped.
 * Blob data goes through lib/content, records through lib/metadb, snapshots
 * through lib/snapshot; every record joins the run's lease in the same
 * meta.db transaction that writes it.  The bolt handles serve one thread at a
 * time: every operation that touches them holds the target's own lock, so that
 * blob commits can run in the caller's worker threads. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "lease_db.h"
#include "metadb.h"
#include "snapshot.h"
#include "target.h"

typedef struct offline {
	dm_target base;
	dm_metadb *md;
	dm_snapshot_store *snap;
	dm_content_store *cs;
	dm_lease lease;
	bool have_lease;
	pthread_mutex_t mu;  /* guards md and snap */
} offline;

typedef struct offline_blob {
	dm_target_blob base;
	dm_content_writer *w;
} offline_blob;

static offline *off(dm_target *t)
{
	return (offline *)t;
}

struct tx_call {
	offline *o;
	int (*fn)(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err);
	const void *arg;
};

static int tx_call(dm_metadb_tx *tx, void *p, dm_error *err)
{
	struct tx_call *c = p;

	return c->fn(c->o, tx, c->arg, err);
}

/* Runs fn in one write transaction of meta.db, one at a time (dm_metadb_run: fn returns -1,
 * DM_METADB_UNCHANGED or anything else). */
static int in_tx(offline *o, int (*fn)(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err),
		 const void *arg, dm_error *err)
{
	struct tx_call c = {o, fn, arg};
	int rc;

	pthread_mutex_lock(&o->mu);
	rc = dm_metadb_run(o->md, true, tx_call, &c, err);
	pthread_mutex_unlock(&o->mu);
	return rc < 0 ? -1 : 0;
}

static int lease_begin_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	(void)arg;
	if (dm_lease_remove_stale(tx, o->base.ns, o->lease.id, NULL, err) < 0)
		return -1;
	return dm_lease_create(tx, &o->lease, err);
}

/* Leases of dead runs go in the same transaction that makes ours: the caller
 * then puts what it reuses under ours before anything could collect it
 * (containerd is stopped while we hold meta.db). */
static int off_lease_begin(dm_target *t, const dm_lease *l, dm_error *err)
{
	offline *o = off(t);

	memset(&o->lease, 0, sizeof o->lease);
	memcpy(o->lease.ns, l->ns, sizeof o->lease.ns);
	memcpy(o->lease.id, l->id, sizeof o->lease.id);
	for (size_t i = 0; i < l->labels.n; i++)
		if (dm_labels_set(&o->lease.labels, l->labels.v[i].key, l->labels.v[i].value, err) < 0)
			return -1;
	o->have_lease = true;
	return in_tx(o, lease_begin_tx, NULL, err);
}

static int lease_cleanup_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	unsigned removed;

	(void)arg;
	if (dm_lease_remove_stale(tx, o->base.ns, NULL, &removed, err) < 0)
		return -1;
	return removed ? 0 : DM_METADB_UNCHANGED;
}

static int off_lease_cleanup(dm_target *t, dm_error *err)
{
	return in_tx(off(t), lease_cleanup_tx, NULL, err);
}

static int add_content_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	return dm_lease_add_content(tx, &o->lease, arg, err);
}

static int off_lease_add_content(dm_target *t, const dm_digest *d, dm_error *err)
{
	return in_tx(off(t), add_content_tx, d, err);
}

static int add_snapshot_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	return dm_lease_add_snapshot(tx, &o->lease, o->base.snapshotter, arg, err);
}

static int off_lease_add_snapshot(dm_target *t, const char *key, dm_error *err)
{
	return in_tx(off(t), add_snapshot_tx, key, err);
}

static int lease_end_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	(void)arg;
	return dm_lease_delete(tx, &o->lease, err);
}

static int off_lease_end(dm_target *t, dm_error *err)
{
	return in_tx(off(t), lease_end_tx, NULL, err);
}

static int off_blob_stat(dm_target *t, const dm_digest *d, uint64_t *size, dm_error *err)
{
	offline *o = off(t);
	dm_metadb_tx *tx;
	dm_metadb_blob b;
	uint64_t on_disk;
	int rc = -1;

	pthread_mutex_lock(&o->mu);
	if ((tx = dm_metadb_begin(o->md, false, err))) {
		rc = dm_metadb_blob_get(tx, t->ns, d, &b, err);
		dm_metadb_rollback(tx);
	}
	pthread_mutex_unlock(&o->mu);
	if (rc != 1)
		return rc;
	*size = b.size;
	dm_metadb_blob_free(&b);
	/* A record whose file is gone or of another size is not a blob we can use. */
	rc = dm_content_stat_blob(o->cs, d, &on_disk, err);
	return rc == 1 ? on_disk == *size : rc;
}

static dm_target_blob *off_blob_begin(dm_target *t, const char *ref, dm_error *err)
{
	offline_blob *b = calloc(1, sizeof *b);

	if (!b) {
		dm_err_nomem(err);
		return NULL;
	}
	b->base.t = t;
	if (!(b->w = dm_content_writer_open(off(t)->cs, ref, -1, err))) {
		free(b);
		return NULL;
	}
	return &b->base;
}

static int off_blob_write(dm_target_blob *b, const void *buf, size_t len, dm_error *err)
{
	return dm_content_write(((offline_blob *)b)->w, buf, len, err);
}

struct blob_record {
	const dm_blob_info *info;
	const dm_labels *labels;
};

static int blob_record_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	const struct blob_record *r = arg;

	if (dm_metadb_blob_put(tx, o->base.ns, &r->info->digest, r->info->size, r->labels, err) < 0)
		return -1;
	return o->have_lease ? dm_lease_add_content(tx, &o->lease, &r->info->digest, err) : 0;
}

static int off_blob_commit(dm_target_blob *blob, const dm_labels *labels, dm_blob_info *out,
			   dm_error *err)
{
	offline_blob *b = (offline_blob *)blob;
	offline *o = off(blob->t);
	struct blob_record r = {out, labels};
	int rc;

	/* The file first, the record last: a record never points at a missing blob. */
	rc = dm_content_commit(b->w, NULL, 0, out, err);
	free(b);
	if (rc < 0)
		return -1;
	return in_tx(o, blob_record_tx, &r, err);
}

static void off_blob_abort(dm_target_blob *blob)
{
	offline_blob *b = (offline_blob *)blob;
	dm_error ignored;  /* an abort has no one to report to */

	dm_content_abort(b->w, &ignored);
	free(b);
}

static int off_snapshot_stat(dm_target *t, const char *key, dm_labels *labels, dm_error *err)
{
	offline *o = off(t);
	int rc;

	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_exists(o->snap, o->md, t->ns, key, labels, err);
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static int off_snapshot_prepare(dm_target *t, const char *key, const char *parent,
				dm_target_snapshot *s, dm_error *err)
{
	offline *o = off(t);
	dm_snapshot_job *job = calloc(1, sizeof *job);
	int rc;

	memset(s, 0, sizeof *s);
	if (!job)
		return dm_err_nomem(err);
	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_begin(o->snap, o->md, t->ns, key, parent, job, err);
	pthread_mutex_unlock(&o->mu);
	if (rc < 0) {
		dm_snapshot_job_free(o->snap, job);
		free(job);
		return -1;
	}
	strcpy(s->key, job->key);
	strcpy(s->parent, job->parent);
	s->adopted = job->adopted;
	/* The mount stays owned by the job; the caller only reads it. */
	s->mount = job->mount;
	s->priv = job;
	return 0;
}

static void release(offline *o, dm_target_snapshot *s)
{
	dm_snapshot_job *job = s->priv;

	if (!job)
		return;
	dm_snapshot_job_free(o->snap, job);
	free(job);
	memset(&s->mount, 0, sizeof s->mount);
	s->priv = NULL;
}

static int off_snapshot_commit(dm_target *t, dm_target_snapshot *s, const dm_labels *labels,
			       dm_error *err)
{
	offline *o = off(t);
	dm_snapshot_job *job = s->priv;
	int rc;

	job->inodes = s->inodes;
	job->usage = s->usage;
	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_commit(o->snap, o->md, t->ns, job, labels, o->have_lease ? &o->lease : NULL, err);
	pthread_mutex_unlock(&o->mu);
	release(o, s);
	return rc;
}

static void off_snapshot_abort(dm_target *t, dm_target_snapshot *s)
{
	release(off(t), s);
}

struct hold_arg {
	const char *id;
	const dm_labels *labels;
	const char *const *keys;
	size_t n;
};

static int hold_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	const struct hold_arg *a = arg;

	if (dm_metadb_lease_create(tx, o->base.ns, a->id, a->labels, err) < 0) {
		if (err->code != EEXIST)
			return -1;
		dm_err_clear(err);
	}
	for (size_t i = 0; i < a->n; i++)
		if (dm_metadb_lease_add_snapshot(tx, o->base.ns, a->id, o->base.snapshotter, a->keys[i], err) < 0)
			return -1;
	return 0;
}

static int off_lease_hold(dm_target *t, const char *id, const dm_labels *labels, const char *const *keys,
			  size_t n, dm_error *err)
{
	struct hold_arg a = {id, labels, keys, n};

	return in_tx(off(t), hold_tx, &a, err);
}

static int off_active_prepare(dm_target *t, const char *key, const char *parent, const dm_labels *labels,
			      dm_target_snapshot *s, dm_error *err)
{
	offline *o = off(t);
	dm_snapshot_job *job;
	int rc;

	(void)labels;  /* written by active_finish, with the records */
	memset(s, 0, sizeof *s);
	if (strlen(key) >= sizeof s->key || (parent && strlen(parent) >= sizeof s->parent))
		return dm_err_set(err, EINVAL, "snapshot %.100s: key too long", key);
	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_active_exists(o->snap, o->md, t->ns, key, NULL, err);
	pthread_mutex_unlock(&o->mu);
	if (rc < 0)
		return -1;
	strcpy(s->key, key);
	strcpy(s->parent, parent ? parent : "");
	if (rc == 1) {
		s->adopted = true;
		return 0;
	}
	if (!(job = calloc(1, sizeof *job)))
		return dm_err_nomem(err);
	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_begin_active(o->snap, o->md, t->ns, key, parent, job, err);
	pthread_mutex_unlock(&o->mu);
	if (rc < 0) {
		dm_snapshot_job_free(o->snap, job);
		free(job);
		return -1;
	}
	s->mount = job->mount;
	s->priv = job;
	return 0;
}

static int off_active_finish(dm_target *t, dm_target_snapshot *s, const dm_labels *labels, dm_error *err)
{
	offline *o = off(t);
	int rc;

	if (!s->priv)
		return 0;  /* adopted: complete already */
	pthread_mutex_lock(&o->mu);
	rc = dm_snapshot_commit(o->snap, o->md, t->ns, s->priv, labels, o->have_lease ? &o->lease : NULL, err);
	pthread_mutex_unlock(&o->mu);
	release(o, s);
	return rc;
}

static int off_image_get(dm_target *t, const char *name, char **digest, dm_error *err)
{
	offline *o = off(t);
	dm_metadb_tx *tx;
	dm_metadb_image img;
	int rc = -1;

	pthread_mutex_lock(&o->mu);
	if ((tx = dm_metadb_begin(o->md, false, err))) {
		rc = dm_metadb_image_get(tx, t->ns, name, &img, err);
		dm_metadb_rollback(tx);
	}
	pthread_mutex_unlock(&o->mu);
	if (rc != 1)
		return rc;
	*digest = img.digest;
	img.digest = NULL;
	dm_metadb_image_free(&img);
	return 1;
}

struct image_record {
	const char *name;
	const dm_descriptor *target;
	const dm_labels *labels;
};

static int image_tx(offline *o, dm_metadb_tx *tx, const void *arg, dm_error *err)
{
	const struct image_record *r = arg;

	return dm_metadb_image_put(tx, o->base.ns, r->name, r->target, r->labels, err);
}

static int off_image_put(dm_target *t, const char *name, const dm_descriptor *target,
			 const dm_labels *labels, dm_error *err)
{
	struct image_record r = {name, target, labels};

	return in_tx(off(t), image_tx, &r, err);
}

static void off_close(dm_target *t)
{
	offline *o = off(t);

	if (o->have_lease)
		dm_lease_free(&o->lease);
	dm_content_store_close(o->cs);
	dm_snapshot_store_close(o->snap);
	dm_metadb_close(o->md);
	pthread_mutex_destroy(&o->mu);
	free(t->ns);
	free(t->snapshotter);
	free(o);
}

static const struct dm_target_ops offline_ops = {
	.lease_begin = off_lease_begin,
	.lease_add_content = off_lease_add_content,
	.lease_add_snapshot = off_lease_add_snapshot,
	.lease_end = off_lease_end,
	.lease_cleanup = off_lease_cleanup,
	.blob_stat = off_blob_stat,
	.blob_begin = off_blob_begin,
	.blob_write = off_blob_write,
	.blob_commit = off_blob_commit,
	.blob_abort = off_blob_abort,
	.snapshot_stat = off_snapshot_stat,
	.snapshot_prepare = off_snapshot_prepare,
	.snapshot_commit = off_snapshot_commit,
	.snapshot_abort = off_snapshot_abort,
	.lease_hold = off_lease_hold,
	.active_prepare = off_active_prepare,
	.active_finish = off_active_finish,
	.image_get = off_image_get,
	.image_put = off_image_put,
	.close = off_close,
};

dm_target *dm_target_offline_open(const char *root, const char *ns, const char *snapshotter,
				  dm_error *err)
{
	offline *o = calloc(1, sizeof *o);

	if (!o) {
		dm_err_nomem(err);
		return NULL;
	}
	pthread_mutex_init(&o->mu, NULL);
	o->base.ops = &offline_ops;
	o->base.mode = "offline";
	if (!(o->base.ns = strdup(ns)) || !(o->base.snapshotter = strdup(snapshotter))) {
		dm_err_nomem(err);
		goto fail;
	}
	/* meta.db first: its lock is what tells a running containerd apart. */
	if (!(o->md = dm_metadb_open(root, 0, err)) ||
	    !(o->snap = dm_snapshot_store_open(root, snapshotter, err)) ||
	    !(o->cs = dm_content_store_open(root, err)) ||
	    dm_content_clean_ingests(o->cs, NULL, err) < 0)
		goto fail;
	return &o->base;
fail:
	off_close(&o->base);
	return NULL;
}
