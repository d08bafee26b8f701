#include "config.h"
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "image.h"
#include "lease.h"
#include "mounts.h"
#include "pool.h"
#include "apply.h"
#include "resolve.h"
#include "sizes.h"
#include "target.h"
#include "treecopy.h"

/* An image config larger than this is not a Docker config (moby caps reads too). */
/* Room left over beyond the estimate, for metadata and filesystem overhead. */
#define SPACE_MARGIN (64ull << 20)

enum layer_state { L_UNUSED, L_TODO, L_EXISTED, L_DONE, L_FAILED };

struct layer_work {
	const dm_layer *l;
	enum layer_state state;
	bool snap_exists;     /* committed snapshot already there; only the blob is missing */
	dm_descriptor desc;   /* the layer blob, once known */
	char *reason;
};

struct run {
	const dm_store *st;
	const dm_migrate_options *o;
	dm_target *t;
	dm_migrate_fn cb;
	void *opaque;
	dm_migrate_report *rep;
	dm_lease lease;
	bool have_lease;
	enum dm_copy_mode mode;  /* the options' mode with auto resolved */
	struct layer_work *lw; /* parallel to st->layers */
	pthread_mutex_t mu;    /* guards t's non-blob calls, rep and cb */
	size_t layers_total, layers_done;
	uint64_t bytes_total, bytes_done;
	uint64_t bytes_inflight;   /* streamed so far of the layers not finished yet */
	struct timespec last_progress;
	/* the current wave of the worker pool */
	size_t *wave;
	size_t wave_n;
	/* The free-space check's figures, and whether the filesystem filled up
	 * all the same (a layer or image failed with ENOSPC or EDQUOT): then no
	 * other layer or image is started and the run fails with ENOSPC. */
	uint64_t space_need, space_avail;
	bool full;
};

static bool no_space(int code)
{
	return code == ENOSPC || code == EDQUOT;
}

/* What Docker on the containerd store uses after a graphdriver (moby daemon/daemon.go): its own
 * migration maps overlay2 to overlayfs and vfs to native; with no storage-driver configured
 * Docker 28 takes defaults.DefaultSnapshotter, overlayfs (Docker 29: native when containerd's
 * overlayfs plugin did not load).  A storage-driver of btrfs or fuse-overlayfs left in
 * daemon.json would select containerd's snapshotter of that name, which this tool cannot write. */
static const struct {
	const char *snapshotter, *why;
} default_snapshotters[] = {
	[DM_DRIVER_OVERLAY2] = { "overlayfs", "what Docker's own migration picks for overlay2" },
	[DM_DRIVER_VFS] = { "native", "what Docker's own migration picks for vfs" },
	[DM_DRIVER_BTRFS] = { "overlayfs",
			      "Docker 28 on the containerd store defaults to overlayfs, which runs on btrfs; "
			      "containerd's btrfs snapshotter (what \"storage-driver\": \"btrfs\" in daemon.json "
			      "would select) is not one this tool writes" },
	[DM_DRIVER_FUSE_OVERLAYFS] = { "overlayfs",
				       "Docker 28 on the containerd store defaults to overlayfs; containerd has "
				       "no built-in fuse-overlayfs snapshotter; where the kernel cannot mount "
				       "overlayfs (rootless before Linux 5.11), pass --snapshotter native" },
};

const char *dm_migrate_default_snapshotter(dm_driver driver)
{
	return default_snapshotters[driver].snapshotter;
}

const char *dm_migrate_default_snapshotter_why(dm_driver driver)
{
	return default_snapshotters[driver].why;
}

/* The copy mode the store allows: btrfs keeps each layer in its own subvolume, and btrfs refuses a
 * hard link across subvolumes (EXDEV), so hardlink copies there (reflink works across them). */
static enum dm_copy_mode store_copy_mode(const dm_store *st, enum dm_copy_mode m)
{
	return st->driver == DM_DRIVER_BTRFS && m == DM_COPY_HARDLINK ? DM_COPY_COPY : m;
}

/* Does the layer blob (or config, manifest) d of that size exist already? */
static int blob_present(struct run *r, const dm_digest *d, uint64_t size, dm_error *err)
{
	uint64_t have;
	int rc = r->t->ops->blob_stat(r->t, d, &have, err);

	return rc == 1 ? have == size : rc;
}

/* Records what the run is about to create (or, for a layer blob, has just created). */
static int journal(struct run *r, dm_journal_kind kind, const char *a, const char *b, dm_error *err)
{
	return r->o->journal ? dm_journal_add(r->o->journal, kind, r->t->ns, a, b, err) : 0;
}

static void emit(struct run *r, dm_migrate_kind kind, dm_migrate_status status, const char *id,
		 const char *detail)
{
	uint64_t done = dm_size_add(r->bytes_done, r->bytes_inflight);
	dm_migrate_event ev = {kind, status, id, detail, r->layers_done, r->layers_total,
			       done < r->bytes_total ? done : r->bytes_total, r->bytes_total};

	if (r->cb)
		r->cb(r->opaque, &ev);
}

static struct layer_work *work_of(struct run *r, const dm_layer *l)
{
	return &r->lw[l - r->st->layers];
}

/* ---- finding what a previous run finished ---- */

/* A snapshot we made carries its layer blob's descriptor as labels. */
static bool desc_from_labels(const dm_labels *labels, dm_descriptor *desc)
{
	const char *d = dm_labels_get(labels, DM_LABEL_LAYER_DIGEST);
	const char *s = dm_labels_get(labels, DM_LABEL_LAYER_SIZE);
	const char *m = dm_labels_get(labels, DM_LABEL_LAYER_MEDIA);
	char *end;

	if (!d || !s || !m || !dm_digest_valid(d))
		return false;
	if (!strcmp(m, DM_MEDIA_LAYER_ZSTD))
		desc->media_type = DM_MEDIA_LAYER_ZSTD;
	else if (!strcmp(m, DM_MEDIA_LAYER_GZIP))
		desc->media_type = DM_MEDIA_LAYER_GZIP;
	else if (!strcmp(m, DM_MEDIA_LAYER_TAR))
		desc->media_type = DM_MEDIA_LAYER_TAR;
	else
		return false;
	errno = 0;
	desc->size = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		return false;
	strcpy(desc->digest.s, d);
	return true;
}

static int scan_layer(struct run *r, struct layer_work *w, dm_error *err)
{
	dm_labels labels = DM_LABELS_INIT;
	int rc;

	if (!w->l->usable) {
		w->state = L_FAILED;
		w->reason = w->l->reason ? strdup(w->l->reason) : NULL;
		return 0;
	}
	rc = r->t->ops->snapshot_stat(r->t, w->l->chain_id.s, &labels, err);
	if (rc < 0)
		return -1;
	w->snap_exists = rc == 1;
	w->state = L_TODO;
	if (w->snap_exists && desc_from_labels(&labels, &w->desc) &&
	    !strcmp(w->desc.media_type, dm_compression_media_type(r->o->compression))) {
		rc = blob_present(r, &w->desc.digest, w->desc.size, err);
		if (rc < 0) {
			dm_labels_free(&labels);
			return -1;
		}
		if (rc == 1)
			w->state = L_EXISTED;
	}
	dm_labels_free(&labels);
	return 0;
}

/* ---- layers ---- */

struct layer_out {
	dm_target_snapshot snap;
	bool have_snap;
	dm_blob_info blob;
	dm_tarsplit_stats stats;
	dm_apply_stats applied;
	char *note;           /* a warning for the report (malloc'd), or NULL */
	char *dir;            /* the directory the snapshot was written in (malloc'd), or NULL */
	uint64_t streamed;    /* bytes of the layer's stream read (counted in bytes_inflight) */
};

/* The layer stream as the applier pulls it: every piece is hashed (inside the reader) and
 * compressed into the blob before the applier sees it, so all three consume the same bytes. */
struct tee {
	struct run *r;
	dm_layer_reader *rd;
	dm_compressor *z;
	uint64_t streamed;
};

/* A progress event now and then while layers stream, so that a terminal shows bytes moving
 * within a large layer, not only when a whole one is done. */
#define PROGRESS_NS 200000000

static void progress(struct tee *t, size_t len)
{
	struct run *r = t->r;
	struct timespec now;

	t->streamed += len;
	pthread_mutex_lock(&r->mu);
	r->bytes_inflight += len;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - r->last_progress.tv_sec) * 1000000000 + now.tv_nsec - r->last_progress.tv_nsec >=
	    PROGRESS_NS) {
		r->last_progress = now;
		emit(r, DM_MIG_PROGRESS, DM_MIG_DONE, NULL, NULL);
	}
	pthread_mutex_unlock(&r->mu);
}

static int tee_read(void *opaque, const void **buf, size_t *len, dm_error *err)
{
	struct tee *t = opaque;
	int rc = dm_layer_reader_read(t->rd, buf, len, err);

	if (rc > 0 && dm_compressor_write(t->z, *buf, *len, err) < 0)
		return -1;
	if (rc > 0)
		progress(t, *len);
	return rc;
}

/* Names of the layer directory that its stream did not write: files its tar-split does not list,
 * which the DiffID does not vouch for.  They were never read; the report says which. */
struct unlisted {
	const dm_apply_options *ao;
	size_t n;
	char names[3][128];
};

static int unlisted_cb(void *opaque, const char *rel, const struct stat *st, dm_error *err)
{
	struct unlisted *u = opaque;
	int rc;

	/* The walk leaves out the driver's whiteouts (dm_layer_reader_walk). */
	(void)st;
	if ((rc = dm_apply_has(u->ao, rel, err)) != 0)
		return rc < 0 ? -1 : 0;
	if (u->n < 3)
		dm_quote_name(rel, strlen(rel), u->names[u->n], sizeof u->names[u->n]);
	u->n++;
	return 0;
}

static int find_unlisted(dm_layer_reader *rd, const dm_apply_options *ao, struct layer_out *out,
			 dm_error *err)
{
	struct unlisted u = {ao, 0, {""}};
	dm_error werr = {0};

	/* The snapshot is what the stream says either way: a walk that fails is only reported. */
	if (dm_layer_reader_walk(rd, unlisted_cb, &u, &werr) < 0) {
		if (asprintf(&out->note, "the layer directory could not be checked for names its "
			     "tar-split does not list: %s", werr.msg) < 0)
			return dm_err_nomem(err);
		return 0;
	}
	if (u.n && asprintf(&out->note, "%zu name%s of the layer directory not in its tar-split, left out: %s%s%s%s%s%s",
			    u.n, u.n == 1 ? "" : "s", u.names[0], u.n > 1 ? ", " : "", u.names[1],
			    u.n > 2 ? ", " : "", u.names[2], u.n > 3 ? ", …" : "") < 0)
		return dm_err_nomem(err);
	return 0;
}

/* Where the snapshot is written and in which form: the mount containerd gave for it says which
 * directory (overlay upperdir and its lowers, or bind source), the snapshotter which form. */
static int apply_snapshot(struct run *r, struct tee *t, struct layer_out *out, dm_error *err)
{
	dm_mount_target target;
	dm_apply_options ao = {0};
	dm_applier *ap;
	int rc;

	if (dm_mount_target_parse(&out->snap.mount, 1, &target, err) < 0)
		return -1;
	ao.form = strcmp(r->t->snapshotter, "native") ? DM_APPLY_OVERLAY : DM_APPLY_NATIVE;
	ao.dir = target.dir;
	ao.lowerdirs = (const char *const *)target.lowerdirs;
	ao.nlowerdirs = target.nlowerdirs;
	ao.userxattr = target.userxattr;
	ao.mode = r->mode;
	if (!(ap = dm_apply_new(&ao, err))) {
		dm_mount_target_free(&target);
		return -1;
	}
	/* The applier sees each legacy file as the reader opens it: to share it, not copy it. */
	dm_layer_reader_on_file(t->rd, dm_apply_take_file, ap);
	rc = dm_apply_run(ap, tee_read, t, &out->applied, err);
	dm_layer_reader_on_file(t->rd, NULL, NULL);
	dm_apply_free(ap);
	if (rc == 0)
		rc = find_unlisted(t->rd, &ao, out, err);
	if (rc == 0)
		rc = dm_tree_usage(target.dir, &out->snap.inodes, &out->snap.usage, err);
	if (rc == 0 && !(out->dir = strdup(target.dir)))
		rc = dm_err_nomem(err);
	dm_mount_target_free(&target);
	return rc;
}

/* One pass: the layer stream -> DiffID check, compressor -> blob, and (when this run prepared
 * the snapshot) applier -> snapshot.  The blob is committed with its DiffID label only once the
 * stream matched (unlocked: online, the commit is the upload). */
static int migrate_stream(struct run *r, const dm_layer *l, struct layer_out *out, dm_error *err)
{
	dm_labels labels = DM_LABELS_INIT;
	struct tee t = {.r = r};
	const void *buf;
	size_t len;
	char ref[128];
	dm_target_blob *b = NULL;
	int rc = -1;

	snprintf(ref, sizeof ref, "layer-%s", l->chain_id.s);
	if (dm_layer_labels(&l->diff_id, &labels, err) < 0)
		return -1;
	if (!(t.rd = dm_layer_reader_open(r->st, l, err)) || !(b = r->t->ops->blob_begin(r->t, ref, err)) ||
	    !(t.z = dm_compressor_new(r->o->compression, 0, dm_target_blob_sink, b, err)))
		goto out;
	if (out->have_snap && !out->snap.adopted) {
		if (apply_snapshot(r, &t, out, err) < 0)
			goto out;
	} else {
		while ((rc = tee_read(&t, &buf, &len, err)) > 0)
			;
		if (rc < 0)
			goto out;
		rc = -1;
	}
	/* Until the stream matched its DiffID, neither the blob nor the snapshot may be committed:
	 * on failure the caller aborts both. */
	if (dm_layer_reader_finish(t.rd, &out->stats, err) < 0 || dm_compressor_finish(t.z, err) < 0)
		goto out;
	dm_compressor_free(t.z);
	t.z = NULL;
	rc = r->t->ops->blob_commit(b, &labels, &out->blob, err);
	b = NULL;
	/* Its digest is known only now; a run killed in between leaves it to the snapshot's
	 * labels (which name it) and to containerd's GC. */
	if (rc == 0 && !out->blob.existed)
		rc = journal(r, DM_JOURNAL_BLOB, out->blob.digest.s, NULL, err);
	/* Snapshot data durable before the record that names it (made at commit).  Only now: the
	 * online backend's blob spool is gone, so the sync does not write it out for nothing. */
	if (rc == 0 && out->dir)
		rc = dm_sync_fs(out->dir, err);
out:
	out->streamed = t.streamed;
	dm_compressor_free(t.z);
	if (b)
		r->t->ops->blob_abort(b);
	dm_layer_reader_close(t.rd);
	dm_labels_free(&labels);
	return rc;
}

static int set_desc_labels(const dm_descriptor *d, dm_labels *labels, dm_error *err)
{
	char size[32];

	snprintf(size, sizeof size, "%" PRIu64, d->size);
	if (dm_labels_set(labels, DM_LABEL_LAYER_DIGEST, d->digest.s, err) < 0 ||
	    dm_labels_set(labels, DM_LABEL_LAYER_SIZE, size, err) < 0 ||
	    dm_labels_set(labels, DM_LABEL_LAYER_MEDIA, d->media_type, err) < 0)
		return -1;
	return 0;
}

/* Commits the snapshot this run made, carrying its blob's descriptor. */
static int commit_snapshot(struct run *r, struct layer_work *w, struct layer_out *out, dm_error *err)
{
	dm_labels labels = DM_LABELS_INIT;
	int rc;

	if (!out->have_snap)
		return 0;
	out->have_snap = false;
	if (set_desc_labels(&w->desc, &labels, err) < 0) {
		r->t->ops->snapshot_abort(r->t, &out->snap);
		dm_labels_free(&labels);
		return -1;
	}
	rc = r->t->ops->snapshot_commit(r->t, &out->snap, &labels, err);
	dm_labels_free(&labels);
	return rc;
}

static void add_warning(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning line for the report (dropped only when memory runs out). */
static void add_warning(struct run *r, const char *fmt, ...)
{
	char **v = realloc(r->rep->warnings, (r->rep->n_warnings + 1) * sizeof *v);
	va_list ap;

	if (!v)
		return;
	r->rep->warnings = v;
	va_start(ap, fmt);
	if (vasprintf(&v[r->rep->n_warnings], fmt, ap) >= 0)
		r->rep->n_warnings++;
	va_end(ap);
}

static void finish_layer(struct run *r, struct layer_work *w, struct layer_out *out, int rc,
			 const dm_error *err)
{
	uint64_t size = w->l->size > 0 ? (uint64_t)w->l->size : 0;

	r->layers_done++;
	r->bytes_done = dm_size_add(r->bytes_done, size);
	r->bytes_inflight -= out->streamed;
	if (rc == 0) {
		w->state = L_DONE;
		r->rep->layers_done++;
		r->rep->bytes_read += out->stats.bytes;
		r->rep->bytes_written += (out->blob.existed ? 0 : out->blob.size) + out->applied.bytes -
					 out->applied.bytes_shared;
		r->rep->files_shared += out->applied.files_shared;
		r->rep->files_copied += out->applied.files_copied;
		if (out->note)
			add_warning(r, "layer %s: %s", w->l->chain_id.s, out->note);
		emit(r, DM_MIG_LAYER, DM_MIG_DONE, w->l->chain_id.s, NULL);
	} else {
		w->state = L_FAILED;
		w->reason = strdup(err->msg);
		r->rep->layers_failed++;
		r->full = r->full || no_space(err->code);
		emit(r, DM_MIG_LAYER, DM_MIG_FAILED, w->l->chain_id.s, err->msg);
	}
}

static void migrate_layer(struct run *r, struct layer_work *w)
{
	const dm_layer *l = w->l;
	struct layer_out out;
	dm_error err = {0};
	int rc = -1;

	memset(&out, 0, sizeof out);
	pthread_mutex_lock(&r->mu);
	if (l->parent && work_of(r, l->parent)->state == L_FAILED) {
		dm_err_set(&err, EIO, "parent layer %s failed", l->parent->chain_id.s);
	} else if (w->snap_exists) {
		rc = 0;
	} else if ((rc = journal(r, DM_JOURNAL_SNAPSHOT, r->t->snapshotter, l->chain_id.s, &err)) == 0) {
		rc = r->t->ops->snapshot_prepare(r->t, l->chain_id.s,
						 l->parent ? l->parent->chain_id.s : NULL, &out.snap, &err);
		out.have_snap = rc == 0;
	}
	pthread_mutex_unlock(&r->mu);

	/* The slow part runs unlocked: other layers stream and write meanwhile. */
	if (rc == 0)
		rc = migrate_stream(r, l, &out, &err);

	pthread_mutex_lock(&r->mu);
	if (rc == 0) {
		w->desc.media_type = dm_compression_media_type(r->o->compression);
		w->desc.digest = out.blob.digest;
		w->desc.size = out.blob.size;
		rc = commit_snapshot(r, w, &out, &err);
	}
	if (out.have_snap)
		r->t->ops->snapshot_abort(r->t, &out.snap);
	/* No "layer <chainID>: " prefix: the event and the image's reason name the layer once. */
	finish_layer(r, w, &out, rc, &err);
	pthread_mutex_unlock(&r->mu);
	free(out.note);
	free(out.dir);
}

static void wave_item(void *opaque, size_t k)
{
	struct run *r = opaque;

	bool full;

	pthread_mutex_lock(&r->mu);
	full = r->full;
	pthread_mutex_unlock(&r->mu);
	/* A filesystem that filled up stops the run: no other layer is started. */
	if (!full)
		migrate_layer(r, &r->lw[r->wave[k]]);
}

/* Layers go in waves by depth: a snapshot's parent must be committed before it. */
static int migrate_layers(struct run *r, dm_error *err)
{
	if (!(r->wave = calloc(r->st->n_layers + 1, sizeof *r->wave)))
		return dm_err_nomem(err);
	for (unsigned depth = 1; depth <= DM_MAX_LAYER_DEPTH && !r->full; depth++) {
		r->wave_n = 0;
		for (size_t i = 0; i < r->st->n_layers; i++)
			if (r->lw[i].state == L_TODO && r->lw[i].l->depth == depth)
				r->wave[r->wave_n++] = i;
		dm_pool_run(r->wave_n, r->o->jobs, wave_item, r);
	}
	return 0;
}

/* ---- images ---- */

struct image_plan {
	const char *config;          /* the exact imagedb bytes (the store's) */
	size_t config_len;
	dm_descriptor config_desc;
	dm_descriptor *layers;
	dm_manifest manifest;
	dm_image_names names;
	dm_labels name_labels;       /* digest references kept as labels */
};

static void image_plan_free(struct image_plan *p)
{
	free(p->layers);
	dm_manifest_free(&p->manifest);
	dm_image_names_free(&p->names);
	dm_labels_free(&p->name_labels);
	memset(p, 0, sizeof *p);
}

/* The config as layerstore read and validated it, the very bytes plan judged: run never reads
 * or parses it again (lib/layerstore is the one reader of Docker's config). */
static int read_config(const dm_image *im, struct image_plan *p, dm_error *err)
{
	if (!im->config)
		return dm_err_set(err, EIO, "%s: not read", im->config_path);
	p->config = im->config;
	p->config_len = im->config_size;
	p->config_desc.media_type = DM_MEDIA_OCI_CONFIG;
	p->config_desc.size = p->config_len;
	p->config_desc.digest = im->id;
	return 0;
}

/* Everything about an image that needs no writing: config, manifest, names. */
static int plan_image(struct run *r, const dm_image *im, struct image_plan *p, dm_error *err)
{
	const char **refs;
	int rc;

	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < im->n_layers; i++) {
		struct layer_work *w = im->layers[i] ? work_of(r, im->layers[i]) : NULL;

		if (!w || (w->state != L_DONE && w->state != L_EXISTED))
			return dm_err_set(err, EIO, "layer %s was not migrated%s%s",
					  im->layers[i] ? im->layers[i]->chain_id.s : im->diff_ids[i].s,
					  w && w->reason ? ": " : "", w && w->reason ? w->reason : "");
	}
	if (read_config(im, p, err) < 0)
		return -1;
	if (im->n_layers && !(p->layers = calloc(im->n_layers, sizeof *p->layers)))
		return dm_err_nomem(err);
	for (size_t i = 0; i < im->n_layers; i++)
		p->layers[i] = work_of(r, im->layers[i])->desc;
	if (dm_manifest_build(&p->config_desc, p->layers, im->n_layers, &p->manifest, err) < 0)
		return -1;
	if (!(refs = calloc(im->n_tags + im->n_digests + 1, sizeof *refs)))
		return dm_err_nomem(err);
	for (size_t i = 0; i < im->n_tags; i++)
		refs[i] = im->tags[i];
	for (size_t i = 0; i < im->n_digests; i++)
		refs[im->n_tags + i] = im->digests[i];
	rc = dm_image_names_plan(refs, im->n_tags + im->n_digests, &p->manifest.digest, &p->names,
				 &p->name_labels, err);
	free(refs);
	return rc;
}

static dm_descriptor manifest_desc(const struct image_plan *p)
{
	dm_descriptor d = {DM_MEDIA_OCI_MANIFEST, p->manifest.digest, p->manifest.len};

	return d;
}

/* 1 when the blobs and every name already say exactly this. */
static int image_existing(struct run *r, const struct image_plan *p, dm_error *err)
{
	int rc;

	/* A name that cannot be recorded is reported by the write pass, never "nothing to do". */
	if (p->names.n_bad)
		return 0;
	if ((rc = blob_present(r, &p->config_desc.digest, p->config_desc.size, err)) != 1 ||
	    (rc = blob_present(r, &p->manifest.digest, p->manifest.len, err)) != 1)
		return rc;
	for (size_t i = 0; rc == 1 && i < p->names.n; i++) {
		char *digest = NULL;

		rc = r->t->ops->image_get(r->t, p->names.v[i], &digest, err);
		if (rc == 1)
			rc = !strcmp(digest, p->manifest.digest.s);
		free(digest);
	}
	return rc;
}

/* Writes a small blob (config, manifest) in one piece, with its labels. */
static int put_blob(struct run *r, const char *ref, const dm_digest *d, const void *buf, size_t len,
		    const dm_labels *labels, dm_error *err)
{
	dm_target_blob *b;
	dm_blob_info info;
	int rc;

	/* Its digest is known beforehand: recorded before it is made, unless it exists. */
	if ((rc = blob_present(r, d, len, err)) < 0 || (rc == 0 && journal(r, DM_JOURNAL_BLOB, d->s, NULL, err) < 0))
		return -1;
	if (!(b = r->t->ops->blob_begin(r->t, ref, err)))
		return -1;
	if (r->t->ops->blob_write(b, buf, len, err) < 0) {
		r->t->ops->blob_abort(b);
		return -1;
	}
	if (r->t->ops->blob_commit(b, labels, &info, err) < 0)
		return -1;
	r->rep->bytes_written += info.existed ? 0 : info.size;
	return 0;
}

/* The config (exact imagedb bytes, pointing at the top snapshot) and the
 * manifest (pointing at config and layers), so GC keeps the whole image. */
static int write_blobs(struct run *r, const dm_image *im, const struct image_plan *p, dm_error *err)
{
	dm_labels cl = DM_LABELS_INIT, ml = DM_LABELS_INIT;
	char ref[128];
	int rc = -1;

	if (dm_config_labels(im->diff_ids, im->n_layers, r->t->snapshotter, &cl, err) < 0 ||
	    dm_manifest_labels(&p->config_desc, p->layers, im->n_layers, &ml, err) < 0)
		goto out;
	snprintf(ref, sizeof ref, "config-%s", im->id.s);
	if (put_blob(r, ref, &p->config_desc.digest, p->config, p->config_len, &cl, err) < 0)
		goto out;
	snprintf(ref, sizeof ref, "manifest-%s", p->manifest.digest.s);
	rc = put_blob(r, ref, &p->manifest.digest, p->manifest.json, p->manifest.len, &ml, err);
out:
	dm_labels_free(&cl);
	dm_labels_free(&ml);
	return rc;
}

/* Records a name that failed: alone, with its reason; the image's other names go on. */
static int name_failed(dm_migrate_name *nm, const char *why, dm_error *err)
{
	nm->status = DM_MIG_FAILED;
	if (!(nm->reason = strdup(why)))
		return dm_err_nomem(err);
	return 0;
}

/* Writes the names; one that points elsewhere is left alone unless --force.  A name that cannot
 * be recorded (refused when planned, or by the target) fails alone. */
static int write_names(struct run *r, const struct image_plan *p, dm_migrate_image *res,
		       dm_error *err)
{
	dm_descriptor md = manifest_desc(p);

	for (size_t i = 0; i < p->names.n; i++) {
		dm_migrate_name *nm = &res->names[res->n_names];
		dm_error nerr = {0};
		char *digest = NULL;
		int rc;

		if (!(nm->name = strdup(p->names.v[i])))
			return dm_err_nomem(err);
		res->n_names++;
		if ((rc = r->t->ops->image_get(r->t, nm->name, &digest, &nerr)) < 0) {
			if (name_failed(nm, nerr.msg, err) < 0)
				return -1;
			continue;
		}
		if (rc == 1 && !strcmp(digest, md.digest.s)) {
			nm->status = DM_MIG_EXISTED;
		} else if (rc == 1 && !r->o->force) {
			nm->status = DM_MIG_SKIPPED;
			if (asprintf(&nm->reason, "name exists with another target %s (use --force to replace it)",
				     digest) < 0)
				nm->reason = NULL;
		} else {
			nm->status = DM_MIG_DONE;
		}
		/* A new name is recorded before it is made; one replaced by --force is not the run's
		 * to remove (rollback leaves it, pointing at the migrated image). */
		if (nm->status == DM_MIG_DONE && rc == 0 &&
		    journal(r, DM_JOURNAL_IMAGE, nm->name, md.digest.s, &nerr) < 0) {
			free(digest);
			if (name_failed(nm, nerr.msg, err) < 0)
				return -1;
			continue;
		}
		free(digest);
		if (nm->status == DM_MIG_DONE &&
		    r->t->ops->image_put(r->t, nm->name, &md, &p->name_labels, &nerr) < 0 &&
		    name_failed(nm, nerr.msg, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->names.n_bad; i++) {
		dm_migrate_name *nm = &res->names[res->n_names];

		if (!(nm->name = strdup(p->names.bad[i])))
			return dm_err_nomem(err);
		res->n_names++;
		if (name_failed(nm, p->names.bad_reason[i], err) < 0)
			return -1;
	}
	return 0;
}

/* A name that failed fails the image (its other names are written all the same), so that the
 * run says so and exits 1. */
static dm_migrate_status image_status(const dm_migrate_image *res)
{
	bool any_done = false, any_skipped = false, any_failed = false;

	for (size_t i = 0; i < res->n_names; i++) {
		any_done |= res->names[i].status == DM_MIG_DONE;
		any_skipped |= res->names[i].status == DM_MIG_SKIPPED;
		any_failed |= res->names[i].status == DM_MIG_FAILED;
	}
	return any_failed ? DM_MIG_FAILED : any_done ? DM_MIG_DONE : any_skipped ? DM_MIG_SKIPPED : DM_MIG_EXISTED;
}

static int migrate_image(struct run *r, const dm_image *im, dm_migrate_image *res, dm_error *err)
{
	struct image_plan p;
	int rc = -1;

	if (plan_image(r, im, &p, err) < 0)
		goto out;
	res->manifest = p.manifest.digest;
	if (!(res->names = calloc(p.names.n + p.names.n_bad + 1, sizeof *res->names))) {
		dm_err_nomem(err);
		goto out;
	}
	if (write_blobs(r, im, &p, err) < 0 || write_names(r, &p, res, err) < 0)
		goto out;
	res->status = image_status(res);
	for (size_t i = 0; res->status == DM_MIG_FAILED && !res->reason && i < res->n_names; i++)
		if (res->names[i].status == DM_MIG_FAILED &&
		    asprintf(&res->reason, "name %s: %s", res->names[i].name, res->names[i].reason) < 0)
			res->reason = NULL;
	for (size_t i = 0; i < res->n_names; i++)
		emit(r, DM_MIG_NAME, res->names[i].status, res->names[i].name,
		     res->names[i].reason ? res->names[i].reason : im->id.s);
	rc = 0;
out:
	image_plan_free(&p);
	return rc;
}

/* ---- containers (issue 11, doc/containerd-store.md §13) ---- */

/* The image's top chainID: the container's init layer goes on it.  NULL for an image without
 * layers. */
static const dm_layer *image_top(const dm_image *im)
{
	return im->n_layers ? im->layers[im->n_layers - 1] : NULL;
}

static int verdict_fail(dm_migrate_status *status, char **reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int verdict_fail(dm_migrate_status *status, char **reason, const char *fmt, ...)
{
	va_list ap;
	int n;

	*status = DM_MIG_FAILED;
	va_start(ap, fmt);
	n = vasprintf(reason, fmt, ap);
	va_end(ap);
	if (n < 0) {
		*reason = NULL;
		return -1;
	}
	return 0;
}

int dm_migrate_container_verdict(const dm_store *st, const dm_container *c, const char *sn,
				 dm_migrate_status *status, uint64_t *size, char **reason)
{
	const char *want = dm_container_snapshotter(st->driver);
	const dm_image *im;
	const dm_layer *top;
	dm_error err = {0};

	*size = 0;
	*reason = NULL;
	*status = DM_MIG_DONE;
	if (c->reason)
		return verdict_fail(status, reason, "%s", c->reason);
	if (!c->has_config)
		return verdict_fail(status, reason, "%s/containers/%s/config.v2.json: missing", st->root, c->id);
	if (dm_container_on_containerd(c)) {
		*status = DM_MIG_EXISTED;
		return 0;
	}
	if (c->running || c->paused || c->restarting)
		return verdict_fail(status, reason, "%s: its writable layer is changing; stop it and run again",
				    c->paused ? "paused" : c->restarting ? "restarting" : "running");
	if (!c->driver || strcmp(c->driver, dm_driver_name(st->driver)))
		return verdict_fail(status, reason, "its config names storage driver %s, not %s",
				    c->driver ? c->driver : "(none)", dm_driver_name(st->driver));
	if (strcmp(sn, want))
		return verdict_fail(status, reason,
				    "a %s container's layers go to snapshotter %s only, not %s (run it with "
				    "--snapshotter %s)",
				    dm_driver_name(st->driver), want, sn, want);
	if (!c->init_id)
		return verdict_fail(status, reason, "no init layer (layerdb/mounts/%s/init-id)", c->id);
	if (!c->image.s[0] || !(im = dm_store_image(st, c->image.s)))
		return verdict_fail(status, reason, "its image %s is not in the store",
				    c->image.s[0] ? c->image.s : "(none)");
	if (!im->migrate)
		return verdict_fail(status, reason, "its image %s is not migrated: %s", im->id.s,
				    im->reason ? im->reason : "");
	top = image_top(im);
	if ((top ? top->chain_id.s : "")[0] != c->parent_id.s[0] ||
	    (top && strcmp(top->chain_id.s, c->parent_id.s)))
		return verdict_fail(status, reason, "its layer's parent %s is not the top layer of its image %s",
				    c->parent_id.s[0] ? c->parent_id.s : "(none)", im->id.s);
	if (dm_container_usage(st, c, size, &err) < 0)
		return verdict_fail(status, reason, "%s", err.msg);
	return 0;
}

/* Clears the prepared snapshot's directory (native: the parent's copy; online: what a dead run
 * left) and copies the layer into it, then its usage and a syncfs: data durable before the
 * records that name it. */
static int fill_container_snapshot(struct run *r, const dm_container *c, bool init, dm_target_snapshot *s,
				   dm_error *err)
{
	dm_mount_target target;
	dm_treecopy_stats ts;
	int rc;

	if (dm_mount_target_parse(&s->mount, 1, &target, err) < 0)
		return -1;
	rc = dm_tree_clear(target.dir, err);
	if (rc == 0)
		rc = dm_container_copy_layer(r->st, c, init, target.dir, &ts, err);
	if (rc == 0)
		rc = dm_tree_usage(target.dir, &s->inodes, &s->usage, err);
	if (rc == 0)
		rc = dm_sync_fs(target.dir, err);
	if (rc == 0)
		r->rep->bytes_written += ts.bytes;
	dm_mount_target_free(&target);
	return rc;
}

/* The image's manifest as this run recorded it: what the container's config names. */
static int container_manifest(struct run *r, const dm_image *im, dm_descriptor *out, dm_error *err)
{
	struct image_plan p;
	int rc;

	for (size_t i = 0; i < r->rep->n_images; i++) {
		const dm_migrate_image *res = &r->rep->images[i];

		if (strcmp(res->id.s, im->id.s))
			continue;
		if (res->status == DM_MIG_FAILED)
			return dm_err_set(err, EIO, "its image %s was not migrated: %s", im->id.s,
					  res->reason ? res->reason : "failed");
	}
	if (plan_image(r, im, &p, err) < 0)
		return dm_err_prefix(err, "its image %s: ", im->id.s);
	*out = manifest_desc(&p);
	rc = image_existing(r, &p, err);
	image_plan_free(&p);
	if (rc == 0)
		rc = dm_err_set(err, EIO, "its image %s is not in containerd's store", im->id.s);
	return rc < 0 ? -1 : 0;
}

/* The snapshots and lease first, the config last: a config that names the containerd store
 * is the mark of a container migrated, so it is written only once both snapshots exist. */
static int migrate_container(struct run *r, const dm_container *c, dm_error *err)
{
	const dm_image *im = dm_store_image(r->st, c->image.s);
	const dm_layer *top = image_top(im);
	char init_key[DM_DIGEST_HEXLEN + 8];
	const char *keys[2] = {init_key, c->id};
	dm_labels labels = DM_LABELS_INIT;
	dm_target_snapshot s;
	dm_descriptor manifest;
	int rc = -1, have;

	snprintf(init_key, sizeof init_key, "%s-init", c->id);
	if (container_manifest(r, im, &manifest, err) < 0)
		return -1;
	if (dm_labels_set(&labels, DM_TARGET_LABEL_OWNER, c->id, err) < 0)
		return -1;
	/* The lease lists both snapshots before they exist: nothing is collectable in between. */
	if (r->t->ops->lease_hold(r->t, c->id, &labels, keys, 2, err) < 0)
		goto out;
	if ((have = r->t->ops->snapshot_stat(r->t, init_key, NULL, err)) < 0)
		goto out;
	if (!have) {
		if (r->t->ops->snapshot_prepare(r->t, init_key, top ? top->chain_id.s : NULL, &s, err) < 0)
			goto out;
		if (!s.adopted && fill_container_snapshot(r, c, true, &s, err) < 0) {
			r->t->ops->snapshot_abort(r->t, &s);
			goto out;
		}
		if (r->t->ops->snapshot_commit(r->t, &s, &labels, err) < 0)
			goto out;
	}
	if (r->t->ops->active_prepare(r->t, c->id, init_key, &labels, &s, err) < 0)
		goto out;
	if (!s.adopted && fill_container_snapshot(r, c, false, &s, err) < 0) {
		r->t->ops->snapshot_abort(r->t, &s);
		goto out;
	}
	if (r->t->ops->active_finish(r->t, &s, &labels, err) < 0)
		goto out;
	rc = dm_container_rewrite_config(r->st, c, r->t->snapshotter, &manifest, err);
out:
	dm_labels_free(&labels);
	return rc;
}

static int init_containers(struct run *r, size_t *todo, dm_error *err)
{
	const dm_store *st = r->st;
	dm_migrate_report *rep = r->rep;

	*todo = 0;
	if (!r->o->containers)
		return 0;
	if (!(rep->containers = calloc(st->n_containers + 1, sizeof *rep->containers)))
		return dm_err_nomem(err);
	for (size_t i = 0; i < st->n_containers; i++) {
		const dm_container *c = &st->containers[i];
		dm_migrate_container *mc = &rep->containers[i];

		rep->n_containers++;
		if (!(mc->id = strdup(c->id)) || (c->name && !(mc->name = strdup(c->name))) ||
		    dm_migrate_container_verdict(st, c, r->t->snapshotter, &mc->status, &mc->size, &mc->reason) < 0)
			return dm_err_nomem(err);
		*todo += mc->status == DM_MIG_DONE;
	}
	return 0;
}

static void migrate_containers(struct run *r)
{
	dm_migrate_report *rep = r->rep;

	for (size_t i = 0; i < rep->n_containers; i++) {
		dm_migrate_container *mc = &rep->containers[i];
		dm_error err = {0};

		if (mc->status == DM_MIG_DONE && r->full) {
			mc->status = DM_MIG_FAILED;
			mc->reason = strdup("not migrated: no space left on device");
		} else if (mc->status == DM_MIG_DONE && migrate_container(r, &r->st->containers[i], &err) < 0) {
			mc->status = DM_MIG_FAILED;
			mc->reason = strdup(err.msg[0] ? err.msg : "failed");
			r->full = r->full || no_space(err.code);
		}
		switch (mc->status) {
		case DM_MIG_DONE:
			rep->containers_done++;
			break;
		case DM_MIG_EXISTED:
			rep->containers_existed++;
			break;
		default:
			rep->containers_failed++;
			break;
		}
		if (mc->status == DM_MIG_FAILED) {
			/* One line naming the container the user knows by its name. */
			char *line = NULL;

			if (asprintf(&line, "%s%s%s", mc->name ? mc->name : "", mc->name ? ": " : "",
				     mc->reason ? mc->reason : "failed") < 0)
				line = NULL;
			emit(r, DM_MIG_CONTAINER, mc->status, mc->id, line ? line : mc->reason);
			free(line);
		} else {
			emit(r, DM_MIG_CONTAINER, mc->status, mc->id, mc->name);
		}
	}
}

/* ---- the run ---- */

/* An image Docker shows (named, or a dangling head) that is too damaged to migrate: the run
 * reports it failed rather than leave it out unsaid. */
static bool image_lost(const dm_image *im)
{
	return im->state == DM_IMAGE_BROKEN && (im->n_tags || im->n_digests || im->head);
}

static bool in_report(const dm_image *im)
{
	return im->migrate || image_lost(im);
}

static int init_report(struct run *r, dm_error *err)
{
	const dm_store *st = r->st;
	dm_migrate_report *rep = r->rep;

	for (size_t i = 0; i < st->n_images; i++)
		rep->n_images += in_report(&st->images[i]);
	if (!(rep->images = calloc(rep->n_images + 1, sizeof *rep->images)))
		return dm_err_nomem(err);
	for (size_t i = 0, j = 0; i < st->n_images; i++) {
		const dm_image *im = &st->images[i];
		dm_migrate_image *res;

		if (!in_report(im))
			continue;
		res = &rep->images[j++];
		res->id = im->id;
		if (!im->migrate) {
			res->status = DM_MIG_FAILED;
			if (!(res->reason = strdup(im->reason ? im->reason : "damaged")))
				return dm_err_nomem(err);
		}
		if (im->n_digests && !(res->digest_refs = calloc(im->n_digests, sizeof *res->digest_refs)))
			return dm_err_nomem(err);
		for (size_t k = 0; k < im->n_digests; k++) {
			if (!(res->digest_refs[k] = strdup(im->digests[k])))
				return dm_err_nomem(err);
			res->n_digest_refs++;
		}
	}
	return 0;
}

/* An image with a layer that cannot be migrated fails whatever a run does. */
static bool image_blocked(struct run *r, const dm_image *im)
{
	for (size_t i = 0; i < im->n_layers; i++)
		if (!im->layers[i] || work_of(r, im->layers[i])->state == L_FAILED)
			return true;
	return false;
}

/* Marks the layers to write; counts what is left.  Returns the number of images
 * that need writing (their layers all exist but records are missing or differ). */
static int scan(struct run *r, size_t *images_todo, dm_error *err)
{
	const dm_store *st = r->st;

	*images_todo = 0;
	for (size_t i = 0; i < st->n_layers; i++) {
		struct layer_work *w = &r->lw[i];

		w->l = &st->layers[i];
		if (!w->l->migrate_refs)
			continue;
		if (scan_layer(r, w, err) < 0)
			return -1;
		if (w->state == L_TODO) {
			r->layers_total++;
			r->bytes_total = dm_size_add(r->bytes_total, dm_size_of(w->l->size));
		}
	}
	for (size_t i = 0; i < st->n_images; i++) {
		const dm_image *im = &st->images[i];
		struct image_plan p;
		dm_error ierr = {0};
		int rc = 0;

		if (!im->migrate || image_blocked(r, im))
			continue;
		/* An image that cannot be planned now fails in the write pass, with its reason. */
		if (plan_image(r, im, &p, &ierr) == 0 && (rc = image_existing(r, &p, err)) < 0) {
			image_plan_free(&p);
			return -1;
		}
		image_plan_free(&p);
		*images_todo += rc != 1;
	}
	return 0;
}

/* What writing layer l adds at the most: its blob (at most its uncompressed size) and, unless
 * its snapshot exists, the snapshot's data: the layer's own files unless shared (reflink,
 * hardlink), and for native the copy of the parent's tree that Prepare makes (shared only by
 * reflink).  Sums saturate (sizes.h): a store claiming more than fits is refused, not wrapped. */
static uint64_t layer_need(const dm_layer *l, bool native, enum dm_copy_mode m, bool snap_exists)
{
	uint64_t need = dm_size_of(l->size);

	if (snap_exists)
		return need;
	if (m == DM_COPY_COPY || m == DM_COPY_AUTO)
		need = dm_size_add(need, dm_size_of(l->size));
	if (native && m != DM_COPY_REFLINK)
		for (const dm_layer *p = l->parent; p; p = p->parent)
			need = dm_size_add(need, dm_size_of(p->size));
	return need;
}

uint64_t dm_migrate_space_estimate(const dm_store *st, const char *snapshotter, enum dm_copy_mode m)
{
	uint64_t need = SPACE_MARGIN;

	m = store_copy_mode(st, m);
	for (size_t i = 0; i < st->n_layers; i++)
		if (st->layers[i].migrate_refs && st->layers[i].usable)
			need = dm_size_add(need, layer_need(&st->layers[i], !strcmp(snapshotter, "native"), m,
							   false));
	return need;
}

/* Bytes this run will add: the layers it writes, as dm_migrate_space_estimate counts them. */
static uint64_t space_needed(struct run *r)
{
	uint64_t need = SPACE_MARGIN;

	for (size_t i = 0; i < r->st->n_layers; i++) {
		const struct layer_work *w = &r->lw[i];

		if (w->state == L_TODO)
			need = dm_size_add(need, layer_need(w->l, !strcmp(r->t->snapshotter, "native"), r->mode,
							    w->snap_exists));
	}
	/* A container's layers are copied (native: on top of the copy of the image's tree that
	 * Prepare makes, which counts as much as the layer's own full tree at the most). */
	for (size_t i = 0; i < r->rep->n_containers; i++)
		if (r->rep->containers[i].status == DM_MIG_DONE)
			need = dm_size_add(need, dm_size_add(r->rep->containers[i].size,
							     r->rep->containers[i].size));
	return need;
}

static int check_space(struct run *r, dm_error *err)
{
	uint64_t need = space_needed(r), avail;
	struct statvfs sv;

	if (statvfs(r->o->containerd_root, &sv) < 0)
		return dm_err_sys(err, "%s", r->o->containerd_root);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	r->space_need = need;
	r->space_avail = avail;
	if (avail < need)
		return dm_err_set(err, ENOSPC,
				  "%s: not enough free space: the migration needs up to %" PRIu64
				  " bytes, %" PRIu64 " are available",
				  r->o->containerd_root, need, avail);
	return 0;
}

/* The run's error when the filesystem filled up during it, with the figures. */
static int full_error(struct run *r, dm_error *err)
{
	struct statvfs sv;
	uint64_t now = 0;

	if (statvfs(r->o->containerd_root, &sv) == 0)
		now = (uint64_t)sv.f_bavail * sv.f_frsize;
	return dm_err_set(err, ENOSPC,
			  "%s: no space left on device during the run: it needs up to %" PRIu64
			  " bytes, %" PRIu64 " were available at its start and %" PRIu64
			  " are now; the %" PRIu64 " bytes of finished layers are kept: make room and run again",
			  r->o->containerd_root, r->space_need, r->space_avail, now, r->rep->bytes_written);
}

/* The copy mode this store and root allow: sharing needs one filesystem, reflink one that
 * clones (probed once, with a tar-split file of the store).  What cannot work falls back to
 * copy with a warning; auto falls back silently from reflink. */
static void choose_copy_mode(struct run *r)
{
	enum dm_copy_mode m = r->o->copy_mode;
	struct stat src, dst;
	const char *probe = NULL;

	for (size_t i = 0; i < r->st->n_layers && !probe; i++)
		if (r->lw[i].state == L_TODO)
			probe = r->st->layers[i].tarsplit_path;
	if (store_copy_mode(r->st, m) != m) {
		add_warning(r, "%s: btrfs keeps each layer in its own subvolume and no hard link crosses "
			    "subvolumes: file data is copied (copy mode copy)", r->st->root);
		m = DM_COPY_COPY;
	}
	if (m != DM_COPY_COPY && (stat(r->st->root, &src) < 0 || stat(r->o->containerd_root, &dst) < 0 ||
				  src.st_dev != dst.st_dev)) {
		add_warning(r, "%s and %s are not on one filesystem: file data is copied (copy mode copy)", r->st->root,
			    r->o->containerd_root);
		m = DM_COPY_COPY;
	}
	if (m == DM_COPY_AUTO || m == DM_COPY_REFLINK) {
		bool ok = probe && dm_reflink_probe(probe, r->o->containerd_root) == 1;

		if (!ok && m == DM_COPY_REFLINK)
			add_warning(r, "%s cannot share blocks with %s (no reflink): file data is copied (copy mode copy)",
				    r->o->containerd_root, r->st->root);
		m = ok ? DM_COPY_REFLINK : DM_COPY_COPY;
	}
	r->mode = m;
	r->rep->copy_mode = dm_copy_mode_name(m);
}

/* The run's lease, holding from the start what earlier runs finished and this
 * run reuses (leases of dead runs of this tool go as it is made). */
static int start_lease(struct run *r, dm_error *err)
{
	if (dm_lease_init(&r->lease, r->t->ns, time(NULL), DM_LEASE_TTL, err) < 0)
		return -1;
	r->have_lease = true;
	if (r->t->ops->lease_begin(r->t, &r->lease, err) < 0)
		return -1;
	for (size_t i = 0; i < r->st->n_layers; i++) {
		const struct layer_work *w = &r->lw[i];

		if (w->state != L_EXISTED)
			continue;
		if (r->t->ops->lease_add_content(r->t, &w->desc.digest, err) < 0 ||
		    r->t->ops->lease_add_snapshot(r->t, w->l->chain_id.s, err) < 0)
			return -1;
	}
	return 0;
}

static void migrate_images(struct run *r)
{
	for (size_t i = 0, j = 0; i < r->st->n_images; i++) {
		const dm_image *im = &r->st->images[i];
		dm_migrate_image *res;
		dm_error err = {0};

		if (!in_report(im))
			continue;
		res = &r->rep->images[j++];
		if (r->full && res->status != DM_MIG_FAILED) {
			/* Not tried: the report says so, the run's error line says why. */
			res->status = DM_MIG_FAILED;
			res->reason = strdup("not migrated: no space left on device");
			r->rep->images_failed++;
			continue;
		}
		if (im->migrate && migrate_image(r, im, res, &err) < 0) {
			res->status = DM_MIG_FAILED;
			res->reason = strdup(err.msg);
			r->full = no_space(err.code);
		}
		switch (res->status) {
		case DM_MIG_DONE:
			r->rep->images_done++;
			break;
		case DM_MIG_EXISTED:
			r->rep->images_existed++;
			break;
		case DM_MIG_SKIPPED:
			r->rep->images_skipped++;
			break;
		case DM_MIG_FAILED:
			r->rep->images_failed++;
			break;
		}
		emit(r, DM_MIG_IMAGE, res->status, im->id.s, res->reason);
	}
}

int dm_migrate_run(const dm_store *st, dm_target *t, const dm_migrate_options *o, dm_migrate_fn cb,
		   void *opaque, dm_migrate_report *rep, dm_error *err)
{
	struct run r = {.st = st, .o = o, .t = t, .cb = cb, .opaque = opaque, .rep = rep};
	size_t images_todo = 0, containers_todo = 0;
	int rc = -1;

	memset(rep, 0, sizeof *rep);
	rep->snapshotter = t->snapshotter;
	rep->mode = t->mode;
	pthread_mutex_init(&r.mu, NULL);
	if (init_report(&r, err) < 0)
		goto out;
	if (!(r.lw = calloc(st->n_layers + 1, sizeof *r.lw))) {
		dm_err_nomem(err);
		goto out;
	}
	if (scan(&r, &images_todo, err) < 0 || init_containers(&r, &containers_todo, err) < 0)
		goto out;
	for (size_t i = 0; i < st->n_layers; i++) {
		rep->layers_existed += r.lw[i].state == L_EXISTED;
		if (r.lw[i].state == L_FAILED) {
			rep->layers_failed++;
			emit(&r, DM_MIG_LAYER, DM_MIG_FAILED, st->layers[i].chain_id.s, r.lw[i].reason);
		}
	}
	if (!r.layers_total && !images_todo && !containers_todo) {
		/* Everything is in place: say so, writing nothing but the removal of
		 * what a run killed before its lease_end left (its lease held only
		 * what the images now hold). */
		rep->nothing_to_do = true;
		for (size_t i = 0; i < rep->n_images; i++) {
			dm_migrate_image *res = &rep->images[i];

			if (res->status == DM_MIG_FAILED) {
				rep->images_failed++;
				emit(&r, DM_MIG_IMAGE, res->status, res->id.s, res->reason);
				continue;
			}
			res->status = DM_MIG_EXISTED;
			rep->images_existed++;
		}
		migrate_containers(&r);  /* none to write: each is reported */
		rc = t->ops->lease_cleanup(t, err);
		goto out;
	}
	choose_copy_mode(&r);
	if (check_space(&r, err) < 0 || start_lease(&r, err) < 0 || migrate_layers(&r, err) < 0)
		goto out;
	migrate_images(&r);
	migrate_containers(&r);
	if (r.full) {
		/* The lease stays, as when the run is killed: what was written is
		 * kept for the next run, which removes the lease. */
		rc = full_error(&r, err);
		goto out;
	}
	rc = t->ops->lease_end(t, err);
out:
	if (r.have_lease)
		dm_lease_free(&r.lease);
	for (size_t i = 0; r.lw && i < st->n_layers; i++)
		free(r.lw[i].reason);
	free(r.lw);
	free(r.wave);
	pthread_mutex_destroy(&r.mu);
	return rc;
}

void dm_migrate_report_free(dm_migrate_report *rep)
{
	for (size_t i = 0; rep->images && i < rep->n_images; i++) {
		dm_migrate_image *im = &rep->images[i];

		free(im->reason);
		for (size_t j = 0; j < im->n_names; j++) {
			free(im->names[j].name);
			free(im->names[j].reason);
		}
		free(im->names);
		for (size_t j = 0; j < im->n_digest_refs; j++)
			free(im->digest_refs[j]);
		free(im->digest_refs);
	}
	free(rep->images);
	for (size_t i = 0; i < rep->n_warnings; i++)
		free(rep->warnings[i]);
	free(rep->warnings);
	for (size_t i = 0; rep->containers && i < rep->n_containers; i++) {
		free(rep->containers[i].id);
		free(rep->containers[i].name);
		free(rep->containers[i].reason);
	}
	free(rep->containers);
	memset(rep, 0, sizeof *rep);
}
