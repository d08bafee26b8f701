/* rollback, offline: containerd stopped, its files edited as lib/metadb knows them.  The walk
 * of GC roots and references is containerd's own (doc/containerd-store.md §4), per namespace:
 * a candidate the walk reaches is still someone's and stays. */
#include "config.h"
#include "rollback.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "content.h"
#include "image.h"
#include "lease.h"
#include "metadb.h"
#include "treecopy.h"

#define GC_ROOT "containerd.io/gc.root"
#define GC_REF_CONTENT "containerd.io/gc.ref.content"

/* A set of strings (open addressing); small stores, but a real one may have thousands. */
struct set {
	char **v;
	size_t cap, n;
};

static size_t hash(const char *s)
{
	size_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool set_has(const struct set *s, const char *k)
{
	if (!s->cap)
		return false;
	for (size_t i = hash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->v[i])
			return false;
		if (!strcmp(s->v[i], k))
			return true;
	}
}

/* 1 if added, 0 if there already. */
static int set_add(struct set *s, const char *k, dm_error *err)
{
	size_t i;

	if (set_has(s, k))
		return 0;
	if (2 * (s->n + 1) > s->cap) {
		struct set g = {calloc(s->cap ? 2 * s->cap : 64, sizeof *g.v), s->cap ? 2 * s->cap : 64, 0};

		if (!g.v)
			return dm_err_nomem(err);
		for (size_t j = 0; j < s->cap; j++)
			if (s->v[j]) {
				for (i = hash(s->v[j]) & (g.cap - 1); g.v[i]; i = (i + 1) & (g.cap - 1))
					;
				g.v[i] = s->v[j];
				g.n++;
			}
		free(s->v);
		*s = g;
	}
	for (i = hash(k) & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		;
	if (!(s->v[i] = strdup(k)))
		return dm_err_nomem(err);
	s->n++;
	return 1;
}

static void set_free(struct set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* A list of strings, in order. */
struct list {
	char **v;
	size_t n;
};

static int list_add(struct list *l, const char *k, dm_error *err)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof *v);

	if (!v)
		return dm_err_nomem(err);
	l->v = v;
	if (!(v[l->n] = strdup(k)))
		return dm_err_nomem(err);
	l->n++;
	return 0;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The GC mark of one namespace: "c:<digest>" and "s:<snapshotter>/<key>". */
struct mark {
	dm_metadb_tx *tx;
	const char *ns;
	struct set seen;
	struct list todo;
	struct set containers; /* "s:<snapshotter>/<key>" of containerd's container records */
	struct set skip;       /* migrated containers' snapshots, labelled ours: removed, not roots */
};

static int mark(struct mark *m, char kind, const char *what, dm_error *err)
{
	char *k;
	int r;

	if (asprintf(&k, "%c:%s", kind, what) < 0)
		return dm_err_nomem(err);
	r = set_add(&m->seen, k, err);
	if (r == 1)
		r = list_add(&m->todo, k, err);
	free(k);
	return r < 0 ? -1 : 0;
}

/* The references in labels (§4.3). */
static int mark_labels(struct mark *m, const dm_labels *l, dm_error *err)
{
	static const char snap[] = "containerd.io/gc.ref.snapshot.";

	for (size_t i = 0; i < l->n; i++) {
		const char *k = l->v[i].key, *v = l->v[i].value;

		if ((!strcmp(k, GC_REF_CONTENT) || !strncmp(k, GC_REF_CONTENT ".", sizeof GC_REF_CONTENT)) &&
		    mark(m, 'c', v, err) < 0)
			return -1;
		if (!strncmp(k, snap, sizeof snap - 1) && k[sizeof snap - 1]) {
			char *sk;
			size_t sl = strcspn(k + sizeof snap - 1, "/");
			int r;

			if (asprintf(&sk, "%.*s/%s", (int)sl, k + sizeof snap - 1, v) < 0)
				return dm_err_nomem(err);
			r = mark(m, 's', sk, err);
			free(sk);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

static int mark_roots(struct mark *m, dm_error *err)
{
	dm_metadb_names names = {0}, sns = {0}, keys = {0};
	int rc = -1;

	if (dm_metadb_image_list(m->tx, m->ns, &names, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		dm_metadb_image img;
		int r = dm_metadb_image_get(m->tx, m->ns, names.v[i], &img, err);

		if (r < 0)
			goto out;
		r = r ? mark(m, 'c', img.digest, err) < 0 || mark_labels(m, &img.labels, err) < 0 : 0;
		if (img.digest)
			dm_metadb_image_free(&img);
		if (r)
			goto out;
	}
	dm_metadb_names_free(&names);
	if (dm_metadb_lease_list(m->tx, m->ns, &names, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		dm_metadb_lease l;
		int r = dm_metadb_lease_get(m->tx, m->ns, names.v[i], &l, err);

		if (r < 0)
			goto out;
		for (size_t j = 0; r == 1 && j < l.content.n; j++)
			if (mark(m, 'c', l.content.v[j], err) < 0)
				r = -1;
		for (size_t j = 0; r == 1 && j < l.snapshots.n; j++)
			if (mark(m, 's', l.snapshots.v[j], err) < 0)
				r = -1;
		if (r == 1)
			dm_metadb_lease_free(&l);
		if (r < 0)
			goto out;
	}
	dm_metadb_names_free(&names);
	if (dm_metadb_container_snapshots(m->tx, m->ns, &names, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		char *k;
		int r;

		if (mark(m, 's', names.v[i], err) < 0 || asprintf(&k, "s:%s", names.v[i]) < 0)
			goto out;
		r = set_add(&m->containers, k, err);
		free(k);
		if (r < 0)
			goto out;
	}
	dm_metadb_names_free(&names);
	/* Blobs and snapshots labelled containerd.io/gc.root. */
	if (dm_metadb_blob_list(m->tx, m->ns, &names, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		dm_metadb_blob b;
		dm_digest d;
		int r;

		if (!dm_digest_valid(names.v[i]))
			continue;
		strcpy(d.s, names.v[i]);
		if ((r = dm_metadb_blob_get(m->tx, m->ns, &d, &b, err)) < 0)
			goto out;
		if (r == 1) {
			r = dm_labels_get(&b.labels, GC_ROOT) ? mark(m, 'c', names.v[i], err) : 0;
			dm_metadb_blob_free(&b);
			if (r < 0)
				goto out;
		}
	}
	if (dm_metadb_snapshotter_list(m->tx, m->ns, &sns, err) < 0)
		goto out;
	for (size_t i = 0; i < sns.n; i++) {
		if (!dm_identifier_valid(sns.v[i]))
			continue;
		if (dm_metadb_snapshot_list(m->tx, m->ns, sns.v[i], &keys, err) < 0)
			goto out;
		for (size_t j = 0; j < keys.n; j++) {
			dm_metadb_snapshot s;
			char sk[600];
			int r;

			if ((r = dm_metadb_snapshot_get(m->tx, m->ns, sns.v[i], keys.v[j], &s, err)) < 0)
				goto out;
			if (r == 0)
				continue;
			snprintf(sk, sizeof sk, "s:%s/%s", sns.v[i], keys.v[j]);
			r = dm_labels_get(&s.labels, GC_ROOT) && !set_has(&m->skip, sk) ? mark(m, 's', sk + 2, err) : 0;
			dm_metadb_snapshot_free(&s);
			if (r < 0)
				goto out;
		}
		dm_metadb_names_free(&keys);
	}
	rc = 0;
out:
	dm_metadb_names_free(&names);
	dm_metadb_names_free(&sns);
	dm_metadb_names_free(&keys);
	return rc;
}

/* Follows every reference from what is marked. */
static int mark_walk(struct mark *m, dm_error *err)
{
	for (size_t i = 0; i < m->todo.n; i++) {
		const char *k = m->todo.v[i] + 2;
		int r;

		if (m->todo.v[i][0] == 'c') {
			dm_metadb_blob b;
			dm_digest d;

			if (!dm_digest_valid(k))
				continue;
			strcpy(d.s, k);
			if ((r = dm_metadb_blob_get(m->tx, m->ns, &d, &b, err)) < 0)
				return -1;
			if (r == 1) {
				r = mark_labels(m, &b.labels, err);
				dm_metadb_blob_free(&b);
			}
		} else {
			dm_metadb_snapshot s;
			char sn[DM_IDENTIFIER_MAX + 1];
			size_t sl = strcspn(k, "/");

			if (!k[sl] || sl > DM_IDENTIFIER_MAX)
				continue;
			memcpy(sn, k, sl);
			sn[sl] = '\0';
			if (!dm_identifier_valid(sn) || !k[sl + 1])
				continue;
			if ((r = dm_metadb_snapshot_get(m->tx, m->ns, sn, k + sl + 1, &s, err)) < 0)
				return -1;
			if (r == 1) {
				char pk[600];

				r = mark_labels(m, &s.labels, err);
				if (r == 0 && s.parent) {
					snprintf(pk, sizeof pk, "%s/%s", sn, s.parent);
					r = mark(m, 's', pk, err);
				}
				dm_metadb_snapshot_free(&s);
			}
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

/* ---- the transaction ---- */

struct cand_snap {
	char *ns, *sn, *key;
	const char *container; /* a container's snapshot: removed if labelled so */
	char *backend;         /* after the view is deleted: the backend name to delete */
	bool done;
	bool view_gone;        /* no view of it at all (an interrupted rollback's leftover?) */
};

struct rb {
	const char *root;
	const dm_rollback_request *rq;
	dm_rollback_report *rep;
	struct set blob_keys;      /* "<ns> <digest>" candidates, deduplicated */
	struct list blobs;         /* the same, in order */
	struct cand_snap *snaps;
	size_t n_snaps;
	size_t *order;             /* indices into snaps, in the order their views went (children first) */
	size_t n_order;
	struct list files;         /* digests whose file goes after the commit */
};

static int add_blob_cand(struct rb *rb, const char *ns, const char *digest, dm_error *err)
{
	char *k;
	int r;

	if (!dm_digest_valid(digest))
		return 0;
	if (asprintf(&k, "%s %s", ns, digest) < 0)
		return dm_err_nomem(err);
	r = set_add(&rb->blob_keys, k, err);
	if (r == 1)
		r = list_add(&rb->blobs, k, err);
	free(k);
	return r < 0 ? -1 : 0;
}

static int add_snap_cand(struct rb *rb, const char *ns, const char *sn, const char *key, const char *container,
			 dm_error *err)
{
	struct cand_snap *v;

	for (size_t i = 0; i < rb->n_snaps; i++)
		if (!strcmp(rb->snaps[i].ns, ns) && !strcmp(rb->snaps[i].sn, sn) && !strcmp(rb->snaps[i].key, key))
			return 0;
	if (!(v = realloc(rb->snaps, (rb->n_snaps + 1) * sizeof *v)))
		return dm_err_nomem(err);
	rb->snaps = v;
	v = &v[rb->n_snaps];
	memset(v, 0, sizeof *v);
	v->container = container;
	if (!(v->ns = strdup(ns)) || !(v->sn = strdup(sn)) || !(v->key = strdup(key))) {
		free(v->ns);
		free(v->sn);
		return dm_err_nomem(err);
	}
	rb->n_snaps++;
	return 0;
}

static int report(struct rb *rb, dm_rollback_kind k, dm_rollback_status st, const char *ns, const char *what,
		  const char *note, dm_error *err)
{
	return dm_rollback_report_add(rb->rep, k, st, ns, what, note, err);
}

static int rollback_images(struct rb *rb, dm_metadb_tx *tx, dm_error *err)
{
	const dm_journal_entries *j = rb->rq->journal;

	for (size_t i = 0; i < j->n; i++) {
		const dm_journal_entry *e = &j->v[i];
		dm_metadb_image img;
		char note[200];
		int r;

		if (e->kind != DM_JOURNAL_IMAGE)
			continue;
		if ((r = dm_metadb_image_get(tx, e->ns, e->a, &img, err)) < 0)
			return -1;
		if (r == 0)
			continue; /* gone already: nothing to say (a second rollback) */
		if (strcmp(img.digest, e->b)) {
			snprintf(note, sizeof note, "points to %.80s now, not the migrated %.80s", img.digest, e->b);
			r = report(rb, DM_RB_IMAGE, DM_RB_KEPT, e->ns, e->a, note, err);
		} else {
			r = dm_metadb_image_delete(tx, e->ns, e->a, err) < 0 ||
			    report(rb, DM_RB_IMAGE, DM_RB_REMOVED, e->ns, e->a, NULL, err) < 0 ? -1 : 0;
		}
		dm_metadb_image_free(&img);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* This tool's leases (runs killed before their end), in every namespace. */
static int rollback_leases(struct rb *rb, dm_metadb_tx *tx, const dm_metadb_names *nss, dm_error *err)
{
	for (size_t n = 0; n < nss->n; n++) {
		const char *ns = nss->v[n];
		dm_metadb_names ids;

		if (!dm_identifier_valid(ns))
			continue;
		if (dm_metadb_lease_list(tx, ns, &ids, err) < 0)
			return -1;
		for (size_t i = 0; i < ids.n; i++) {
			dm_metadb_lease l;
			const char *cid;
			bool ours;
			int r;

			if ((r = dm_metadb_lease_get(tx, ns, ids.v[i], &l, err)) < 0) {
				dm_metadb_names_free(&ids);
				return -1;
			}
			if (r == 0)
				continue;
			cid = dm_labels_get(&l.labels, DM_ROLLBACK_LABEL_CONTAINER);
			ours = dm_labels_get(&l.labels, DM_LEASE_LABEL_TOOL) != NULL;
			/* A migrated container's lease: id and label its ID, and its config backed up. */
			for (size_t c = 0; !ours && cid && c < rb->rq->n_containers; c++)
				ours = !strcmp(ns, rb->rq->container_ns) && !strcmp(cid, rb->rq->containers[c]) &&
				       !strcmp(ids.v[i], cid);
			dm_metadb_lease_free(&l);
			if (ours && (dm_metadb_lease_delete(tx, ns, ids.v[i], err) < 0 ||
				     report(rb, DM_RB_LEASE, DM_RB_REMOVED, ns, ids.v[i], NULL, err) < 0)) {
				dm_metadb_names_free(&ids);
				return -1;
			}
		}
		dm_metadb_names_free(&ids);
	}
	return 0;
}

/* Candidates: the journal's blobs and snapshots, the layer blobs its snapshots name, and the
 * migrated containers' snapshots. */
static int gather(struct rb *rb, dm_metadb_tx *tx, dm_error *err)
{
	const dm_journal_entries *j = rb->rq->journal;

	for (size_t i = 0; i < j->n; i++) {
		const dm_journal_entry *e = &j->v[i];

		if (e->kind == DM_JOURNAL_BLOB && add_blob_cand(rb, e->ns, e->a, err) < 0)
			return -1;
		if (e->kind == DM_JOURNAL_SNAPSHOT) {
			dm_metadb_snapshot s;
			int r;

			if (add_snap_cand(rb, e->ns, e->a, e->b, NULL, err) < 0 ||
			    (r = dm_metadb_snapshot_get(tx, e->ns, e->a, e->b, &s, err)) < 0)
				return -1;
			if (r == 1) {
				const char *d = dm_labels_get(&s.labels, DM_LABEL_LAYER_DIGEST);

				r = d ? add_blob_cand(rb, e->ns, d, err) : 0;
				dm_metadb_snapshot_free(&s);
				if (r < 0)
					return -1;
			}
		}
	}
	for (size_t c = 0; c < rb->rq->n_containers; c++) {
		dm_metadb_names sns;
		char key[80];

		if (dm_metadb_snapshotter_list(tx, rb->rq->container_ns, &sns, err) < 0)
			return -1;
		for (size_t i = 0; i < sns.n; i++) {
			if (!dm_identifier_valid(sns.v[i]))
				continue;
			/* <ID> first: it is <ID>-init's child. */
			snprintf(key, sizeof key, "%s", rb->rq->containers[c]);
			if (add_snap_cand(rb, rb->rq->container_ns, sns.v[i], key, rb->rq->containers[c], err) < 0)
				goto fail;
			snprintf(key, sizeof key, "%s-init", rb->rq->containers[c]);
			if (add_snap_cand(rb, rb->rq->container_ns, sns.v[i], key, rb->rq->containers[c], err) < 0)
				goto fail;
		}
		dm_metadb_names_free(&sns);
		continue;
fail:
		dm_metadb_names_free(&sns);
		return -1;
	}
	return 0;
}

/* Removes the unmarked candidate snapshots of ns, children before parents. */
static int remove_snaps(struct rb *rb, dm_metadb_tx *tx, const char *ns, const struct mark *m, dm_error *err)
{
	bool progress = true;

	while (progress) {
		progress = false;
		for (size_t i = 0; i < rb->n_snaps; i++) {
			struct cand_snap *c = &rb->snaps[i];
			dm_metadb_snapshot s;
			char sk[600];
			int r;

			if (c->done || strcmp(c->ns, ns))
				continue;
			if ((r = dm_metadb_snapshot_get(tx, ns, c->sn, c->key, &s, err)) < 0)
				return -1;
			if (r == 0) {
				c->done = c->view_gone = true; /* its backend record may be left (below) */
				continue;
			}
			snprintf(sk, sizeof sk, "s:%s/%s", c->sn, c->key);
			if (c->container) {
				const char *v = dm_labels_get(&s.labels, DM_ROLLBACK_LABEL_CONTAINER);

				/* Docker's own snapshot by that name (no label of ours) is not ours. */
				if (!v || strcmp(v, c->container)) {
					c->done = true;
					dm_metadb_snapshot_free(&s);
					continue;
				}
			}
			/* A migrated container's snapshots are ours by their label and the config
			 * backup: only a containerd container record (or a child, below) keeps them. */
			if (c->container ? set_has(&m->containers, sk) : set_has(&m->seen, sk)) {
				c->done = true;
				dm_metadb_snapshot_free(&s);
				if (report(rb, DM_RB_SNAPSHOT, DM_RB_KEPT, ns, sk + 2, "still referenced", err) < 0)
					return -1;
				continue;
			}
			if (s.children.n) {
				dm_metadb_snapshot_free(&s);
				continue; /* its children first */
			}
			c->backend = s.name;
			s.name = NULL;
			rb->order[rb->n_order++] = i;
			dm_metadb_snapshot_free(&s);
			if (dm_metadb_snapshot_delete(tx, ns, c->sn, c->key, err) < 0 ||
			    report(rb, DM_RB_SNAPSHOT, DM_RB_REMOVED, ns, sk + 2, NULL, err) < 0)
				return -1;
			c->done = progress = true;
		}
	}
	for (size_t i = 0; i < rb->n_snaps; i++) {
		struct cand_snap *c = &rb->snaps[i];
		char what[600];

		if (c->done || strcmp(c->ns, ns))
			continue;
		c->done = true;
		snprintf(what, sizeof what, "%s/%s", c->sn, c->key);
		if (report(rb, DM_RB_SNAPSHOT, DM_RB_KEPT, ns, what, "has children nothing references", err) < 0)
			return -1;
	}
	return 0;
}

static int remove_blobs(struct rb *rb, dm_metadb_tx *tx, const char *ns, const struct mark *m, dm_error *err)
{
	size_t nl = strlen(ns);

	for (size_t i = 0; i < rb->blobs.n; i++) {
		const char *k = rb->blobs.v[i];
		dm_metadb_blob b;
		dm_digest d;
		char ck[100];
		int r;

		if (strncmp(k, ns, nl) || k[nl] != ' ')
			continue;
		strcpy(d.s, k + nl + 1);
		if ((r = dm_metadb_blob_get(tx, ns, &d, &b, err)) < 0)
			return -1;
		if (r == 0)
			continue;
		dm_metadb_blob_free(&b);
		snprintf(ck, sizeof ck, "c:%s", d.s);
		if (set_has(&m->seen, ck)) {
			if (report(rb, DM_RB_BLOB, DM_RB_KEPT, ns, d.s, "still referenced", err) < 0)
				return -1;
			continue;
		}
		if (dm_metadb_blob_delete(tx, ns, &d, err) < 0 ||
		    report(rb, DM_RB_BLOB, DM_RB_REMOVED, ns, d.s, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* Blob files that no namespace has a record of any more (also those an earlier, interrupted
 * rollback left). */
static int orphan_files(struct rb *rb, dm_metadb_tx *tx, const dm_metadb_names *nss, dm_error *err)
{
	for (size_t i = 0; i < rb->blobs.n; i++) {
		const char *dg = strchr(rb->blobs.v[i], ' ') + 1;
		bool held = false;
		dm_digest d;

		strcpy(d.s, dg);
		for (size_t n = 0; !held && n < nss->n; n++) {
			dm_metadb_blob b;
			int r;

			if (!dm_identifier_valid(nss->v[n]))
				continue;
			if ((r = dm_metadb_blob_get(tx, nss->v[n], &d, &b, err)) < 0)
				return -1;
			if (r == 1) {
				held = true;
				dm_metadb_blob_free(&b);
			}
		}
		if (!held && list_add(&rb->files, dg, err) < 0)
			return -1;
	}
	return 0;
}

static int rb_tx(dm_metadb_tx *tx, void *arg, dm_error *err)
{
	struct rb *rb = arg;
	dm_metadb_names nss = {0};
	int rc = -1;

	if (dm_metadb_namespace_list(tx, &nss, err) < 0)
		return -1;
	if (gather(rb, tx, err) < 0)
		goto out;
	if (!(rb->order = calloc(rb->n_snaps + 1, sizeof *rb->order))) {
		dm_err_nomem(err);
		goto out;
	}
	if (rollback_images(rb, tx, err) < 0 || rollback_leases(rb, tx, &nss, err) < 0)
		goto out;
	/* Each namespace a candidate lives in: its GC mark, then its removals. */
	for (size_t n = 0; n < nss.n; n++) {
		const char *ns = nss.v[n];
		struct mark m = {tx, ns, {0}, {0}, {0}, {0}};
		bool any = false;
		int r;

		for (size_t i = 0; i < rb->n_snaps && !any; i++)
			any = !strcmp(rb->snaps[i].ns, ns);
		for (size_t i = 0; i < rb->blobs.n && !any; i++)
			any = !strncmp(rb->blobs.v[i], ns, strlen(ns)) && rb->blobs.v[i][strlen(ns)] == ' ';
		if (!any || !dm_identifier_valid(ns))
			continue;
		r = 0;
		for (size_t i = 0; i < rb->n_snaps && r == 0; i++) {
			struct cand_snap *c = &rb->snaps[i];
			dm_metadb_snapshot s;
			char sk[600];
			const char *v;

			if (!c->container || strcmp(c->ns, ns))
				continue;
			if ((r = dm_metadb_snapshot_get(tx, ns, c->sn, c->key, &s, err)) <= 0)
				continue;
			v = dm_labels_get(&s.labels, DM_ROLLBACK_LABEL_CONTAINER);
			snprintf(sk, sizeof sk, "s:%s/%s", c->sn, c->key);
			r = v && !strcmp(v, c->container) ? set_add(&m.skip, sk, err) : 0;
			r = r < 0 ? -1 : 0;
			dm_metadb_snapshot_free(&s);
		}
		r = r < 0 || mark_roots(&m, err) < 0 || mark_walk(&m, err) < 0 || remove_snaps(rb, tx, ns, &m, err) < 0 ||
		    remove_blobs(rb, tx, ns, &m, err) < 0 ? -1 : 0;
		set_free(&m.seen);
		set_free(&m.containers);
		set_free(&m.skip);
		list_free(&m.todo);
		if (r < 0)
			goto out;
	}
	if (orphan_files(rb, tx, &nss, err) < 0)
		goto out;
	rc = rb->rq->dry_run || !rb->rep->removed ? DM_METADB_UNCHANGED : 1;
out:
	dm_metadb_names_free(&nss);
	return rc;
}

/* Deletes the backend record of candidate c in stx: 1 and *id when deleted, 0 when it has none
 * (yet: EBUSY, children first) or none at all. */
static int backend_one(dm_snapdb_tx *stx, struct cand_snap *c, uint64_t *id, dm_error *err)
{
	dm_error e = {0};
	uint64_t seq, fid;
	int r;

	/* A view gone but a backend record left (by a rollback killed after its meta.db commit):
	 * a journaled snapshot whose key no view of its namespace names any more. */
	if (!c->backend && c->view_gone && !c->container &&
	    dm_snapdb_find(stx, c->ns, c->key, &c->backend, &seq, &fid, err) < 0)
		return -1;
	if (!c->backend)
		return 0;
	if ((r = dm_snapdb_delete(stx, c->backend, id, &e)) < 0 && e.code != EBUSY) {
		*err = e;
		return -1;
	}
	return r < 0 ? 0 : r;
}

/* Snapshot directories whose id metadata.db no longer has: what a rollback killed after that
 * commit left (containerd's own cleanup removes the same, but only after a GC that removed
 * something of that snapshotter).  Only numeric names: containerd's new-* and ours are not
 * snapshots yet. */
static int remove_orphan_dirs(struct rb *rb, dm_snapdb *sd, const char *sn, dm_error *err)
{
	char path[4096];
	dm_snapdb_tx *stx;
	uint64_t *ids = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof path, "%s/" DM_SNAPDB_DIR_PREFIX "%s/snapshots", rb->root, sn);
	if (!(stx = dm_snapdb_begin(sd, false, err)))
		return -1;
	rc = dm_snapdb_ids(stx, &ids, &n, err);
	dm_snapdb_rollback(stx);
	if (rc < 0)
		return -1;
	if (!(d = opendir(path))) {
		free(ids);
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s", path);
	}
	while (rc == 0 && (de = readdir(d))) {
		char *end, sub[4096 + 260];
		unsigned long long id;
		bool known = false;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 10);
		if (errno || *end)
			continue;
		for (size_t k = 0; k < n && !known; k++)
			known = ids[k] == id;
		if (known)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		rc = dm_tree_remove(sub, err);
	}
	closedir(d);
	free(ids);
	return rc;
}

/* After the meta.db commit: each snapshotter's records of the snapshots whose view went (and
 * of journaled ones whose view an interrupted rollback removed), in one metadata.db
 * transaction, children first; then their directories. */
static int remove_backend(struct rb *rb, dm_error *err)
{
	for (size_t i = 0; i < rb->n_snaps; i++) {
		const char *sn = rb->snaps[i].sn;
		uint64_t *ids = NULL;
		size_t n_ids = 0;
		char path[4096];
		dm_snapdb *sd;
		dm_snapdb_tx *stx;
		struct stat st;
		bool seen = false, progress = true;
		int rc = -1;

		for (size_t k = 0; k < i; k++)
			seen = seen || !strcmp(rb->snaps[k].sn, sn);
		snprintf(path, sizeof path, "%s/" DM_SNAPDB_DIR_PREFIX "%s/" DM_SNAPDB_FILE, rb->root, sn);
		if (seen || stat(path, &st) < 0)
			continue;
		if (!(ids = calloc(rb->n_snaps + 1, sizeof *ids)))
			return dm_err_nomem(err);
		if (!(sd = dm_snapdb_open(rb->root, sn, 0, err))) {
			free(ids);
			return -1;
		}
		if (!(stx = dm_snapdb_begin(sd, true, err)))
			goto next;
		/* In the order the views went, then what is left until nothing more can go. */
		for (size_t k = 0; k < rb->n_order; k++) {
			struct cand_snap *c = &rb->snaps[rb->order[k]];
			uint64_t id;
			int r;

			if (strcmp(c->sn, sn))
				continue;
			if ((r = backend_one(stx, c, &id, err)) < 0)
				goto next;
			if (r == 1) {
				ids[n_ids++] = id;
				free(c->backend);
				c->backend = NULL;
				c->view_gone = false;
			}
		}
		while (progress) {
			progress = false;
			for (size_t k = 0; k < rb->n_snaps; k++) {
				struct cand_snap *c = &rb->snaps[k];
				uint64_t id;
				int r;

				if (strcmp(c->sn, sn) || (!c->backend && !c->view_gone))
					continue;
				if ((r = backend_one(stx, c, &id, err)) < 0)
					goto next;
				if (r == 1) {
					ids[n_ids++] = id;
					progress = true;
				}
				if (r == 1 || !c->backend) {
					free(c->backend);
					c->backend = NULL;
					c->view_gone = false;
				}
			}
		}
		if (n_ids ? dm_snapdb_commit(stx, err) < 0 : (dm_snapdb_rollback(stx), 0))
			goto next;
		stx = NULL;
		rc = 0;
		for (size_t k = 0; k < n_ids && rc == 0; k++) {
			snprintf(path, sizeof path, "%s/" DM_SNAPDB_DIR_PREFIX "%s/snapshots/%" PRIu64, rb->root, sn, ids[k]);
			rc = dm_tree_remove(path, err);
		}
		if (rc == 0)
			rc = remove_orphan_dirs(rb, sd, sn, err);
next:
		if (stx)
			dm_snapdb_rollback(stx);
		dm_snapdb_close(sd);
		free(ids);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int remove_files(struct rb *rb, dm_error *err)
{
	dm_content_store *cs;
	int rc = 0;

	if (!rb->files.n)
		return 0;
	if (!(cs = dm_content_store_open(rb->root, err)))
		return -1;
	for (size_t i = 0; i < rb->files.n && rc == 0; i++) {
		dm_digest d;

		strcpy(d.s, rb->files.v[i]);
		rc = dm_content_remove_blob(cs, &d, err) < 0 ? -1 : 0;
	}
	dm_content_store_close(cs);
	return rc;
}

int dm_rollback_offline(const char *root, const dm_rollback_request *rq, dm_rollback_report *rep,
			dm_error *err)
{
	struct rb rb = {.root = root, .rq = rq, .rep = rep};
	char path[4096];
	struct stat st;
	dm_metadb *md;
	int rc = -1;

	rep->dry_run = rq->dry_run;
	snprintf(path, sizeof path, "%s/" DM_METADB_DIR "/" DM_METADB_FILE, root);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* no store: nothing to undo in it */
		return dm_err_sys(err, "%s", path);
	}
	/* A dry run goes the same way in a write transaction that is rolled back (meta.db is
	 * left byte for byte as it was), so that what it lists is what a rollback removes. */
	if (!(md = dm_metadb_open(root, 0, err)))
		return -1;
	if (dm_metadb_run(md, true, rb_tx, &rb, err) < 0)
		goto out;
	dm_metadb_close(md);
	md = NULL;
	if (!rq->dry_run && (remove_backend(&rb, err) < 0 || remove_files(&rb, err) < 0))
		goto out;
	rc = 0;
out:
	dm_metadb_close(md);
	for (size_t i = 0; i < rb.n_snaps; i++) {
		free(rb.snaps[i].ns);
		free(rb.snaps[i].sn);
		free(rb.snaps[i].key);
		free(rb.snaps[i].backend);
	}
	free(rb.snaps);
	free(rb.order);
	set_free(&rb.blob_keys);
	list_free(&rb.blobs);
	list_free(&rb.files);
	return rc;
}
