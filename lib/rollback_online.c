/* rollback, online: through a running containerd.  Image records and leases are deleted by
 * name; blobs and snapshots are left to containerd's own GC, run synchronously once they are
 * gone: it removes exactly what nothing references any more, which is what rollback may
 * remove.  Each candidate is looked at afterwards to say which went and which stayed. */
#include "config.h"
#include "rollback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrapi.h"
#include "grpc.h"
#include "image.h"
#include "lease.h"

struct cand {
	char sn[DM_IDENTIFIER_MAX + 1]; /* "" for a blob */
	char what[300];                 /* digest or key */
	bool existed;
};

struct on {
	const dm_rollback_request *rq;
	dm_rollback_report *rep;
	dm_grpc *c;
	const char *ns;
	struct cand *v;
	size_t n;
};

static int cand_add(struct on *o, const char *sn, const char *what, dm_error *err)
{
	struct cand *v;

	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].sn, sn) && !strcmp(o->v[i].what, what))
			return 0;
	if (!(v = realloc(o->v, (o->n + 1) * sizeof *v)))
		return dm_err_nomem(err);
	o->v = v;
	memset(&v[o->n], 0, sizeof *v);
	snprintf(v[o->n].sn, sizeof v[o->n].sn, "%s", sn);
	snprintf(v[o->n].what, sizeof v[o->n].what, "%s", what);
	o->n++;
	return 0;
}

/* 1 when the candidate exists, 0 when not. */
static int cand_exists(struct on *o, const struct cand *c, dm_labels *labels, dm_error *err)
{
	dm_error e = {0};
	int r;

	if (!*c->sn) {
		dm_ctr_content_info ci;
		dm_digest d;

		strcpy(d.s, c->what);
		if ((r = dm_ctr_content_get(o->c, &d, &ci, &e)) == 0)
			dm_ctr_content_info_free(&ci);
	} else {
		dm_ctr_snapshot_info si;

		if ((r = dm_ctr_snapshot_stat(o->c, c->sn, c->what, &si, &e)) == 0) {
			if (labels)
				*labels = si.labels, si.labels = (dm_labels)DM_LABELS_INIT;
			dm_ctr_snapshot_info_free(&si);
		}
	}
	if (r == 0)
		return 1;
	if (e.code == ENOENT)
		return 0;
	*err = e;
	return -1;
}

static int images(struct on *o, dm_error *err)
{
	const dm_journal_entries *j = o->rq->journal;

	for (size_t i = 0; i < j->n; i++) {
		const dm_journal_entry *e = &j->v[i];
		dm_ctr_image img;
		dm_error ge = {0};
		char note[200];
		int r;

		if (e->kind != DM_JOURNAL_IMAGE || strcmp(e->ns, o->ns))
			continue;
		if (dm_ctr_image_get(o->c, e->a, &img, &ge) < 0) {
			if (ge.code == ENOENT)
				continue;
			*err = ge;
			return -1;
		}
		r = strcmp(img.digest.s, e->b);
		if (r)
			snprintf(note, sizeof note, "points to %.80s now, not the migrated %.80s", img.digest.s, e->b);
		dm_ctr_image_free(&img);
		/* Between Get and Delete another client could re-point it: containerd 1.6 has no
		 * conditional Delete.  The window is the length of one call. */
		if (r == 0 && !o->rq->dry_run && dm_ctr_image_delete(o->c, e->a, false, &ge) < 0 && ge.code != ENOENT) {
			*err = ge;
			return -1;
		}
		if (dm_rollback_report_add(o->rep, DM_RB_IMAGE, r ? DM_RB_KEPT : DM_RB_REMOVED, o->ns, e->a,
					   r ? note : NULL, err) < 0)
			return -1;
	}
	return 0;
}

static bool container_ours(const struct on *o, const char *id, const dm_labels *labels)
{
	const char *cid = dm_labels_get(labels, DM_ROLLBACK_LABEL_CONTAINER);

	if (!cid || strcmp(o->ns, o->rq->container_ns))
		return false;
	for (size_t c = 0; c < o->rq->n_containers; c++)
		if (!strcmp(cid, o->rq->containers[c]) && (!id || !strcmp(id, cid)))
			return true;
	return false;
}

static int leases(struct on *o, dm_error *err)
{
	dm_ctr_lease *ls;
	size_t n;
	int rc = 0;

	if (dm_ctr_lease_list(o->c, NULL, &ls, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		dm_error de = {0};

		if (!dm_labels_get(&ls[i].labels, DM_LEASE_LABEL_TOOL) && !container_ours(o, ls[i].id, &ls[i].labels))
			continue;
		if (!o->rq->dry_run && dm_ctr_lease_delete(o->c, ls[i].id, false, &de) < 0 && de.code != ENOENT) {
			*err = de;
			rc = -1;
			break;
		}
		rc = dm_rollback_report_add(o->rep, DM_RB_LEASE, DM_RB_REMOVED, o->ns, ls[i].id, NULL, err);
	}
	dm_ctr_leases_free(ls, n);
	return rc;
}

/* A migrated container's snapshots, <ID> then its parent <ID>-init, each only if labelled ours. */
static int container_snapshots(struct on *o, dm_error *err)
{
	static const char *const sns[] = {"overlayfs", "native"};

	if (strcmp(o->ns, o->rq->container_ns))
		return 0;
	for (size_t c = 0; c < o->rq->n_containers; c++)
		for (size_t s = 0; s < 2; s++)
			for (int init = 0; init < 2; init++) {
				struct cand k = {{0}, {0}, false};
				dm_labels labels = DM_LABELS_INIT;
				dm_error re = {0};
				bool ours;
				int r;

				snprintf(k.sn, sizeof k.sn, "%s", sns[s]);
				snprintf(k.what, sizeof k.what, "%s%s", o->rq->containers[c], init ? "-init" : "");
				if ((r = cand_exists(o, &k, &labels, &re)) < 0) {
					/* A snapshotter this containerd lacks has nothing of ours. */
					if (re.code == ENOSYS || re.code == EINVAL || re.code == EIO)
						continue;
					*err = re;
					return -1;
				}
				ours = r == 1 && container_ours(o, NULL, &labels);
				dm_labels_free(&labels);
				if (!ours)
					continue;
				if (!o->rq->dry_run && dm_ctr_snapshot_remove(o->c, k.sn, k.what, &re) < 0 &&
				    re.code != ENOENT) {
					*err = re;
					return -1;
				}
				snprintf(k.what, sizeof k.what, "%s/%s%s", sns[s], o->rq->containers[c], init ? "-init" : "");
				if (dm_rollback_report_add(o->rep, DM_RB_SNAPSHOT, DM_RB_REMOVED, o->ns, k.what, NULL, err) < 0)
					return -1;
			}
	return 0;
}

/* The journal's blobs and snapshots of this namespace, and the layer blobs its snapshots name. */
static int candidates(struct on *o, dm_error *err)
{
	const dm_journal_entries *j = o->rq->journal;

	for (size_t i = 0; i < j->n; i++) {
		const dm_journal_entry *e = &j->v[i];

		if (strcmp(e->ns, o->ns))
			continue;
		if (e->kind == DM_JOURNAL_BLOB && cand_add(o, "", e->a, err) < 0)
			return -1;
		if (e->kind == DM_JOURNAL_SNAPSHOT && cand_add(o, e->a, e->b, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < o->n; i++) {
		dm_labels labels = DM_LABELS_INIT;
		const char *d;
		int r;

		if ((r = cand_exists(o, &o->v[i], *o->v[i].sn ? &labels : NULL, err)) < 0)
			return -1;
		o->v[i].existed = r == 1;
		d = dm_labels_get(&labels, DM_LABEL_LAYER_DIGEST);
		r = d && dm_digest_valid(d) ? cand_add(o, "", d, err) : 0;
		dm_labels_free(&labels);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* containerd's GC, now and to its end: a lease made and deleted with sync. */
static int collect(struct on *o, dm_error *err)
{
	char id[64];

	snprintf(id, sizeof id, "dockerd-migrate-rollback-%ld-%ld", (long)getpid(), (long)time(NULL));
	if (dm_ctr_lease_create(o->c, id, NULL, err) < 0)
		return -1;
	return dm_ctr_lease_delete(o->c, id, true, err);
}

static int one_ns(struct on *o, dm_error *err)
{
	if (candidates(o, err) < 0 || images(o, err) < 0 || leases(o, err) < 0 || container_snapshots(o, err) < 0)
		return -1;
	if (!o->rq->dry_run && collect(o, err) < 0)
		return -1;
	/* What existed before the GC and is still there is referenced by something else. */
	for (size_t i = 0; i < o->n; i++) {
		char what[400];
		int r = 0;

		if (!o->v[i].existed)
			continue;
		if (!o->rq->dry_run && (r = cand_exists(o, &o->v[i], NULL, err)) < 0)
			return -1;
		snprintf(what, sizeof what, "%s%s%s", o->v[i].sn, *o->v[i].sn ? "/" : "", o->v[i].what);
		if (dm_rollback_report_add(o->rep, *o->v[i].sn ? DM_RB_SNAPSHOT : DM_RB_BLOB,
					   r == 1 ? DM_RB_KEPT : DM_RB_REMOVED, o->ns, what,
					   r == 1 ? "still referenced" :
					   o->rq->dry_run ? "unless still referenced (containerd's GC decides)" : NULL,
					   err) < 0)
			return -1;
	}
	return 0;
}

int dm_rollback_online(const char *socket, const dm_rollback_request *rq, dm_rollback_report *rep,
		       dm_error *err)
{
	const char **nss = calloc(rq->journal->n + 2, sizeof *nss);
	size_t n = 0;
	int rc = 0;

	rep->dry_run = rq->dry_run;
	if (!nss)
		return dm_err_nomem(err);
	/* The namespaces the journal names, and the containers'; leases of ours elsewhere are
	 * not looked for (containerd's API lists namespaces only through a service not used here). */
	for (size_t i = 0; i <= rq->journal->n; i++) {
		const char *ns = i < rq->journal->n ? rq->journal->v[i].ns : rq->n_containers ? rq->container_ns : NULL;
		bool seen = false;

		for (size_t k = 0; ns && k < n; k++)
			seen = seen || !strcmp(nss[k], ns);
		if (ns && !seen)
			nss[n++] = ns;
	}
	for (size_t k = 0; k < n && rc == 0; k++) {
		struct on o = {rq, rep, NULL, nss[k], NULL, 0};

		if (!(o.c = dm_grpc_connect(socket, nss[k], err)))
			rc = -1;
		else
			rc = one_ns(&o, err);
		dm_grpc_close(o.c);
		free(o.v);
	}
	free(nss);
	return rc;
}
