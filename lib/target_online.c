/* The online target: a running containerd, through its gRPC API (lib/ctrapi).
 * Everything a call creates is held by the run's lease through the
 * containerd-lease header, so the garbage collector, which keeps running,
 * never takes data in flight.
 *
 * A layer blob's digest and size are only known once it is compressed, but
 * containerd's Write wants them up front to skip a blob it has and to check
 * what it commits: blob data is spooled to an unlinked file under TMPDIR
 * (default /var/tmp) and sent at commit, on a connection of the blob's own. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrapi.h"
#include "target.h"

#define REF_PREFIX "dockerd-migrate-"
/* On our lease: "<pid>:<start time in ticks>" of the run, so that a run tells
 * a dead run's lease from a live one's (containerd is on this host). */
#define EXTRACT_PREFIX "dockerd-migrate-extract-"
/* Tries of a call that fails with EAGAIN (containerd unavailable or restarting). */
#define TRIES 3

typedef struct online {
	dm_target base;
	dm_grpc *c;          /* used under the caller's lock only */
	char *socket;
	char lease[DM_LEASE_ID_MAX];
	char snap_type[96];  /* "snapshots/<snapshotter>" for AddResource */
} online;

typedef struct online_blob {
	dm_target_blob base;
	int fd;
	dm_sha256 h;
	uint64_t size;
	char ref[160];
} online_blob;

static online *on(dm_target *t)
{
	return (online *)t;
}

/* After a failed call: sleeps and says whether to try again. */
static bool again(int *tries, const dm_error *err)
{
	struct timespec ts = {0, 200000000L};

	if (err->code != EAGAIN || ++*tries >= TRIES)
		return false;
	ts.tv_nsec *= *tries;
	nanosleep(&ts, NULL);
	return true;
}

/* Runs call until it does not fail with EAGAIN, at most TRIES times. */
#define RETRY(rc, err, call)                                   \
	do {                                                   \
		int tries_ = 0;                                \
		do                                             \
			(rc) = (call);                         \
		while ((rc) < 0 && again(&tries_, (err))); \
	} while (0)

/* ENOENT is an answer ("not there"), not a failure. */
static int absent_is_zero(int rc, dm_error *err)
{
	if (rc < 0 && err->code == ENOENT) {
		dm_err_clear(err);
		return 0;
	}
	return rc < 0 ? -1 : 1;
}

static dm_grpc *connect_leased(online *o, dm_error *err)
{
	dm_grpc *c;
	int rc;

	RETRY(rc, err, (c = dm_grpc_connect(o->socket, o->base.ns, err)) ? 0 : -1);
	if (rc < 0)
		return NULL;
	if (o->lease[0] && dm_grpc_set_lease(c, o->lease, err) < 0) {
		dm_grpc_close(c);
		return NULL;
	}
	return c;
}

/* Leases of dead runs go only at the end, once the images hold what they
 * held: containerd collects right after a lease is deleted (measured: a
 * snapshot a dead run committed vanished between the delete and the
 * AddResource that was to keep it), and the collector does not wait for us. */
static int remove_stale(online *o, dm_error *err)
{
	dm_ctr_lease *ls = NULL;
	size_t n = 0;
	int rc;

	RETRY(rc, err, dm_ctr_lease_list(o->c, NULL, &ls, &n, err));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!dm_lease_is_stale(ls[i].id, &ls[i].labels, o->lease))
			continue;
		RETRY(rc, err, dm_ctr_lease_delete(o->c, ls[i].id, false, err));
		if (rc < 0 && err->code == ENOENT) {
			dm_err_clear(err);
			rc = 0;
		}
	}
	dm_ctr_leases_free(ls, n);
	return rc;
}

static int on_lease_begin(dm_target *t, const dm_lease *l, dm_error *err)
{
	online *o = on(t);
	int rc;

	RETRY(rc, err, dm_ctr_lease_create(o->c, l->id, &l->labels, err));
	if (rc < 0)
		return dm_err_prefix(err, "lease %s: ", l->id);
	snprintf(o->lease, sizeof o->lease, "%s", l->id);
	return dm_grpc_set_lease(o->c, o->lease, err);
}

static int on_lease_cleanup(dm_target *t, dm_error *err)
{
	return remove_stale(on(t), err);
}

static int add_resource(online *o, const char *type, const char *id, dm_error *err)
{
	int rc;

	RETRY(rc, err, dm_ctr_lease_add_resource(o->c, o->lease, type, id, err));
	return rc;
}

static int on_lease_add_content(dm_target *t, const dm_digest *d, dm_error *err)
{
	return add_resource(on(t), "content", d->s, err);
}

static int on_lease_add_snapshot(dm_target *t, const char *key, dm_error *err)
{
	return add_resource(on(t), on(t)->snap_type, key, err);
}

static int on_lease_end(dm_target *t, dm_error *err)
{
	online *o = on(t);
	int rc;

	if (remove_stale(o, err) < 0)
		return -1;
	RETRY(rc, err, dm_ctr_lease_delete(o->c, o->lease, false, err));
	if (rc < 0)
		return dm_err_prefix(err, "lease %s: ", o->lease);
	o->lease[0] = '\0';
	return dm_grpc_set_lease(o->c, NULL, err);
}

static int on_blob_stat(dm_target *t, const dm_digest *d, uint64_t *size, dm_error *err)
{
	dm_ctr_content_info info;
	int rc;

	memset(&info, 0, sizeof info);
	RETRY(rc, err, dm_ctr_content_get(on(t)->c, d, &info, err));
	if ((rc = absent_is_zero(rc, err)) == 1) {
		*size = info.size > 0 ? (uint64_t)info.size : 0;
		dm_ctr_content_info_free(&info);
	}
	return rc;
}

static dm_target_blob *on_blob_begin(dm_target *t, const char *ref, dm_error *err)
{
	const char *dir = getenv("TMPDIR");
	online_blob *b = calloc(1, sizeof *b);

	if (!b) {
		dm_err_nomem(err);
		return NULL;
	}
	if (!dir || !*dir)
		dir = "/var/tmp";
	b->base.t = t;
	snprintf(b->ref, sizeof b->ref, REF_PREFIX "%s", ref);
	b->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (b->fd < 0) {
		dm_err_sys(err, "%s: spool file for %s", dir, b->ref);
		free(b);
		return NULL;
	}
	dm_sha256_init(&b->h);
	return &b->base;
}

static int on_blob_write(dm_target_blob *blob, const void *buf, size_t len, dm_error *err)
{
	online_blob *b = (online_blob *)blob;
	const char *p = buf;

	dm_sha256_update(&b->h, buf, len);
	b->size += len;
	while (len > 0) {
		ssize_t n = write(b->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dm_err_sys(err, "spool file for %s", b->ref);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void blob_free(online_blob *b)
{
	close(b->fd);
	free(b);
}

/* Sends the spool from offset on w and commits it. */
static int send_spool(online_blob *b, dm_ctr_writer *w, int64_t offset, const dm_labels *labels,
		      dm_error *err)
{
	static const size_t bufsize = DM_CTR_WRITE_CHUNK;
	char *buf = malloc(bufsize);
	uint64_t pos = (uint64_t)offset;
	int rc = 0;

	if (!buf)
		return dm_err_nomem(err);
	while (rc == 0 && pos < b->size) {
		ssize_t n = pread(b->fd, buf, bufsize, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? dm_err_sys(err, "spool file for %s", b->ref)
				   : dm_err_set(err, EIO, "spool file for %s: short", b->ref);
			break;
		}
		rc = dm_ctr_writer_write(w, buf, (size_t)n, err);
		pos += (uint64_t)n;
	}
	free(buf);
	return rc < 0 ? -1 : dm_ctr_writer_commit(w, labels, err);
}

/* One attempt at the ingest: 1 when the blob turned out to exist, 0 when
 * written, -1 on error.  A resumed ingest that fails its check is dropped and
 * written again from the start. */
static int upload(online_blob *b, dm_grpc *c, const dm_digest *d, const dm_labels *labels,
		  dm_error *err)
{
	for (int fresh = 0; fresh < 2; fresh++) {
		int64_t offset = 0;
		dm_ctr_writer *w = dm_ctr_writer_open(c, b->ref, d, (int64_t)b->size, &offset, err);
		int rc;

		if (!w)
			return err->code == EEXIST ? 1 : -1;
		if (offset > (int64_t)b->size) {
			dm_ctr_writer_free(w);
			dm_err_set(err, EIO, "ingest %s: holds more than %" PRIu64 " bytes", b->ref, b->size);
		} else {
			rc = send_spool(b, w, offset, labels, err);
			dm_ctr_writer_free(w);
			if (rc == 0 || err->code == EEXIST)
				return rc == 0 ? 0 : 1;
			if (offset == 0 || err->code == EAGAIN)
				return -1;
		}
		if (dm_ctr_content_abort(c, b->ref, err) < 0 && err->code != ENOENT)
			return -1;
	}
	return -1;
}

/* An existing blob: our labels join its own, and our lease holds it. */
static int adopt_blob(online *o, dm_grpc *c, const dm_digest *d, const dm_labels *labels, dm_error *err)
{
	int rc;

	if (labels && labels->n) {
		RETRY(rc, err, dm_ctr_content_set_labels(c, d, labels, NULL, err));
		if (rc < 0)
			return -1;
	}
	RETRY(rc, err, dm_ctr_lease_add_resource(c, o->lease, "content", d->s, err));
	return rc;
}

static int on_blob_commit(dm_target_blob *blob, const dm_labels *labels, dm_blob_info *out,
			  dm_error *err)
{
	online_blob *b = (online_blob *)blob;
	online *o = on(blob->t);
	dm_grpc *c = connect_leased(o, err);
	int rc = -1;

	memset(out, 0, sizeof *out);
	dm_sha256_final(&b->h, &out->digest);
	out->size = b->size;
	if (c) {
		RETRY(rc, err, upload(b, c, &out->digest, labels, err));
		if (rc == 1) {
			dm_err_clear(err);
			out->existed = true;
			rc = adopt_blob(o, c, &out->digest, labels, err);
		}
		dm_grpc_close(c);
	}
	blob_free(b);
	return rc < 0 ? dm_err_prefix(err, "blob %s: ", out->digest.s) : 0;
}

static void on_blob_abort(dm_target_blob *blob)
{
	blob_free((online_blob *)blob);
}

static int on_snapshot_stat(dm_target *t, const char *key, dm_labels *labels, dm_error *err)
{
	online *o = on(t);
	dm_ctr_snapshot_info info;
	int rc;

	memset(&info, 0, sizeof info);
	RETRY(rc, err, dm_ctr_snapshot_stat(o->c, t->snapshotter, key, &info, err));
	if ((rc = absent_is_zero(rc, err)) != 1)
		return rc;
	rc = info.kind == DM_CTR_SNAPSHOT_COMMITTED;
	if (rc && labels) {
		*labels = info.labels;
		memset(&info.labels, 0, sizeof info.labels);
	}
	dm_ctr_snapshot_info_free(&info);
	return rc;
}

static int prepare(online *o, const char *key, const char *parent, dm_mount **mounts, size_t *n,
		   dm_error *err)
{
	int rc;

	RETRY(rc, err, dm_ctr_snapshot_prepare(o->c, o->base.snapshotter, key, parent, NULL, mounts, n, err));
	return rc;
}

/* The active snapshot is keyed apart from the chainID it becomes, so a dead
 * run's leftover is recognised (and replaced: its contents are unknown). */
static int on_snapshot_prepare(dm_target *t, const char *key, const char *parent,
			       dm_target_snapshot *s, dm_error *err)
{
	online *o = on(t);
	char *active = malloc(sizeof EXTRACT_PREFIX + strlen(key));
	dm_mount *mounts = NULL;
	size_t n = 0;
	int rc;

	memset(s, 0, sizeof *s);
	if (!active)
		return dm_err_nomem(err);
	if (strlen(key) >= sizeof s->key || (parent && strlen(parent) >= sizeof s->parent)) {
		free(active);
		return dm_err_set(err, EINVAL, "snapshot %.100s: key too long", key);
	}
	strcpy(stpcpy(active, EXTRACT_PREFIX), key);
	rc = prepare(o, active, parent, &mounts, &n, err);
	if (rc < 0 && err->code == EEXIST) {
		dm_err_clear(err);
		RETRY(rc, err, dm_ctr_snapshot_remove(o->c, t->snapshotter, active, err));
		if (rc == 0)
			rc = prepare(o, active, parent, &mounts, &n, err);
	}
	if (rc == 0) {
		/* A native child holds its parent's copy already, which the layer is applied on. */
		if (n != 1)
			rc = dm_err_set(err, EPROTO, "snapshot %s: Prepare gave %zu mounts, not 1", active, n);
		if (rc < 0)
			dm_ctr_snapshot_remove(o->c, t->snapshotter, active, &(dm_error){0});
	}
	if (rc < 0) {
		dm_ctr_mounts_free(mounts, n);
		free(active);
		return dm_err_prefix(err, "snapshot %s: ", key);
	}
	strcpy(s->key, key);
	strcpy(s->parent, parent ? parent : "");
	s->mount = mounts[0];
	free(mounts);
	s->priv = active;
	return 0;
}

static void release(dm_target_snapshot *s)
{
	dm_mount_free(&s->mount);
	memset(&s->mount, 0, sizeof s->mount);
	free(s->priv);
	s->priv = NULL;
}

static void on_snapshot_abort(dm_target *t, dm_target_snapshot *s)
{
	if (s->priv)
		dm_ctr_snapshot_remove(on(t)->c, t->snapshotter, s->priv, &(dm_error){0});
	release(s);
}

static int on_snapshot_commit(dm_target *t, dm_target_snapshot *s, const dm_labels *labels,
			      dm_error *err)
{
	online *o = on(t);
	int rc;

	RETRY(rc, err, dm_ctr_snapshot_commit(o->c, t->snapshotter, s->key, s->priv, labels, err));
	if (rc < 0) {
		dm_err_prefix(err, "snapshot %s: ", s->key);
		on_snapshot_abort(t, s);
		return -1;
	}
	release(s);
	return 0;
}

static int on_lease_hold(dm_target *t, const char *id, const dm_labels *labels, const char *const *keys,
			 size_t n, dm_error *err)
{
	online *o = on(t);
	int rc;

	RETRY(rc, err, dm_ctr_lease_create(o->c, id, labels, err));
	if (rc < 0 && err->code == EEXIST) {
		dm_err_clear(err);
		rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		RETRY(rc, err, dm_ctr_lease_add_resource(o->c, id, o->snap_type, keys[i], err));
	return rc < 0 ? dm_err_prefix(err, "lease %s: ", id) : 0;
}

/* An active snapshot cannot be renamed: it is made under its final key at once, and one a dead
 * run left (recognised by the owner label) is filled again from the start. */
static int on_active_prepare(dm_target *t, const char *key, const char *parent, const dm_labels *labels,
			     dm_target_snapshot *s, dm_error *err)
{
	online *o = on(t);
	const char *owner = dm_labels_get(labels, DM_TARGET_LABEL_OWNER);
	dm_ctr_snapshot_info info;
	dm_mount *mounts = NULL;
	size_t n = 0;
	int rc;

	memset(s, 0, sizeof *s);
	if (strlen(key) >= sizeof s->key || (parent && strlen(parent) >= sizeof s->parent))
		return dm_err_set(err, EINVAL, "snapshot %.100s: key too long", key);
	RETRY(rc, err, dm_ctr_snapshot_prepare(o->c, t->snapshotter, key, parent, labels, &mounts, &n, err));
	if (rc < 0 && err->code == EEXIST) {
		const char *v;

		dm_err_clear(err);
		memset(&info, 0, sizeof info);
		RETRY(rc, err, dm_ctr_snapshot_stat(o->c, t->snapshotter, key, &info, err));
		if (rc == 0) {
			v = dm_labels_get(&info.labels, DM_TARGET_LABEL_OWNER);
			if (info.kind != DM_CTR_SNAPSHOT_ACTIVE || !owner || !v || strcmp(v, owner) ||
			    strcmp(info.parent, parent ? parent : ""))
				rc = dm_err_set(err, EEXIST, "exists and was not made by dockerd-migrate");
		}
		dm_ctr_snapshot_info_free(&info);
		if (rc == 0)
			RETRY(rc, err, dm_ctr_snapshot_mounts(o->c, t->snapshotter, key, &mounts, &n, err));
	}
	if (rc == 0 && n != 1)
		rc = dm_err_set(err, EPROTO, "Prepare gave %zu mounts, not 1", n);
	if (rc < 0) {
		dm_ctr_mounts_free(mounts, n);
		return dm_err_prefix(err, "snapshot %s: ", key);
	}
	strcpy(s->key, key);
	strcpy(s->parent, parent ? parent : "");
	s->mount = mounts[0];
	free(mounts);
	if (!(s->priv = strdup(key))) {
		release(s);
		return dm_err_nomem(err);
	}
	return 0;
}

static int on_active_finish(dm_target *t, dm_target_snapshot *s, const dm_labels *labels, dm_error *err)
{
	(void)t;
	(void)labels;  /* given at Prepare */
	(void)err;
	release(s);
	return 0;
}

static int on_image_get(dm_target *t, const char *name, char **digest, dm_error *err)
{
	dm_ctr_image img;
	int rc;

	memset(&img, 0, sizeof img);
	RETRY(rc, err, dm_ctr_image_get(on(t)->c, name, &img, err));
	if ((rc = absent_is_zero(rc, err)) == 1) {
		if (!(*digest = strdup(img.digest.s)))
			rc = dm_err_nomem(err);
		dm_ctr_image_free(&img);
	}
	return rc;
}

static int on_image_put(dm_target *t, const char *name, const dm_descriptor *target,
			const dm_labels *labels, dm_error *err)
{
	online *o = on(t);
	dm_ctr_image img;
	int rc;

	memset(&img, 0, sizeof img);
	img.name = (char *)name;
	img.labels = *labels;
	img.media_type = (char *)target->media_type;
	img.digest = target->digest;
	img.size = (int64_t)target->size;
	RETRY(rc, err, dm_ctr_image_create(o->c, &img, err));
	if (rc < 0 && err->code == EEXIST) {
		dm_err_clear(err);
		RETRY(rc, err, dm_ctr_image_update(o->c, &img, err));
	}
	return rc < 0 ? dm_err_prefix(err, "image %s: ", name) : 0;
}

static void on_close(dm_target *t)
{
	online *o = on(t);

	dm_grpc_close(o->c);
	free(o->socket);
	free(t->ns);
	free(t->snapshotter);
	free(o);
}

static const struct dm_target_ops online_ops = {
	.lease_begin = on_lease_begin,
	.lease_add_content = on_lease_add_content,
	.lease_add_snapshot = on_lease_add_snapshot,
	.lease_end = on_lease_end,
	.lease_cleanup = on_lease_cleanup,
	.blob_stat = on_blob_stat,
	.blob_begin = on_blob_begin,
	.blob_write = on_blob_write,
	.blob_commit = on_blob_commit,
	.blob_abort = on_blob_abort,
	.snapshot_stat = on_snapshot_stat,
	.snapshot_prepare = on_snapshot_prepare,
	.snapshot_commit = on_snapshot_commit,
	.snapshot_abort = on_snapshot_abort,
	.lease_hold = on_lease_hold,
	.active_prepare = on_active_prepare,
	.active_finish = on_active_finish,
	.image_get = on_image_get,
	.image_put = on_image_put,
	.close = on_close,
};

dm_target *dm_target_online_open(const char *socket, const char *ns, const char *snapshotter,
				 dm_error *err)
{
	online *o = calloc(1, sizeof *o);

	if (!o) {
		dm_err_nomem(err);
		return NULL;
	}
	o->base.ops = &online_ops;
	o->base.mode = "online";
	if (!(o->base.ns = strdup(ns)) || !(o->base.snapshotter = strdup(snapshotter)) ||
	    !(o->socket = strdup(socket))) {
		dm_err_nomem(err);
		goto fail;
	}
	snprintf(o->snap_type, sizeof o->snap_type, "snapshots/%s", snapshotter);
	if (!(o->c = connect_leased(o, err)))
		goto fail;
	return &o->base;
fail:
	on_close(&o->base);
	return NULL;
}

int dm_target_online_probe(const char *socket, const char *ns, dm_error *err)
{
	dm_grpc *c = dm_grpc_connect(socket, ns, err);

	if (!c)
		return -1;
	dm_grpc_close(c);
	return 0;
}

int dm_target_online_root(const char *socket, const char *ns, char **root, dm_error *err)
{
	dm_grpc *c = dm_grpc_connect(socket, ns, err);
	int rc;

	if (!c)
		return dm_err_prefix(err, "containerd at %s: ", socket);
	rc = dm_ctr_root(c, root, err);
	dm_grpc_close(c);
	return rc < 0 ? dm_err_prefix(err, "containerd at %s: ", socket) : 0;
}
