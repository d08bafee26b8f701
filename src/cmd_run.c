/* run: the migration, its progress on a terminal, its report. */
#include "config.h"

#include <unistd.h>

#include "cli.h"

struct progress {
	bool tty;         /* redraw one status line on stderr */
	bool shown;
	struct timespec start;
};

static double elapsed(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* On a terminal: one redrawn line (layers, bytes, rate, ETA).  Otherwise one
 * grep-able log line per event, "dockerd-migrate: <kind> <id>: <status>". */
static void run_event(void *opaque, const dm_migrate_event *ev)
{
	static const char *kinds[] = {"layer", "image", "name", "progress", "container"};
	struct progress *p = opaque;
	char done[32], total[32], rate[32];
	double secs = elapsed(&p->start), bps = secs > 0 ? (double)ev->bytes_done / secs : 0;

	if (ev->kind != DM_MIG_PROGRESS && (ev->status == DM_MIG_FAILED || ev->status == DM_MIG_SKIPPED ||
					    !p->tty)) {
		if (p->shown)
			fputc('\n', stderr), p->shown = false;
		fprintf(stderr, "%s: %s %s: %s%s%s\n", prog, kinds[ev->kind], ev->id, status_name(ev->status),
			ev->detail ? ": " : "", ev->detail ? ev->detail : "");
	}
	if (p->tty && (ev->kind == DM_MIG_LAYER || ev->kind == DM_MIG_PROGRESS) && ev->layers_total) {
		double left = bps > 0 ? (double)(ev->bytes_total - ev->bytes_done) / bps : 0;

		fprintf(stderr, "\r\033[Klayers %zu/%zu  %s/%s  %s/s  ETA %d:%02d", ev->layers_done,
			ev->layers_total, human_size(ev->bytes_done, done, sizeof done),
			human_size(ev->bytes_total, total, sizeof total),
			human_size((uint64_t)bps, rate, sizeof rate), (int)left / 60, (int)left % 60);
		p->shown = true;
	}
}

static json_object *run_json(const dm_migrate_report *rep, const struct options *o, const char *ns, double secs)
{
	json_object *doc = json_object_new_object(), *imgs = json_object_new_array(),
		    *sum = json_object_new_object();

	json_object_object_add(doc, "containerd_root", json_object_new_string(o->mig.containerd_root));
	json_object_object_add(doc, "namespace", json_object_new_string(ns));
	json_object_object_add(doc, "mode", json_object_new_string(rep->mode));
	json_object_object_add(doc, "snapshotter", json_object_new_string(rep->snapshotter));
	json_object_object_add(doc, "compression",
			       json_object_new_string(dm_compression_name(o->mig.compression)));
	json_object_object_add(doc, "nothing_to_do", json_object_new_boolean(rep->nothing_to_do));
	for (size_t i = 0; i < rep->n_images; i++) {
		const dm_migrate_image *im = &rep->images[i];
		json_object *o1 = json_object_new_object(), *names = json_object_new_array();

		json_object_object_add(o1, "id", json_object_new_string(im->id.s));
		json_object_object_add(o1, "status", json_object_new_string(status_name(im->status)));
		json_object_object_add(o1, "reason", json_str_or_null(im->reason));
		json_object_object_add(o1, "manifest", json_str_or_null(im->manifest.s));
		for (size_t j = 0; j < im->n_names; j++) {
			json_object *n = json_object_new_object();

			json_object_object_add(n, "name", json_object_new_string(im->names[j].name));
			json_object_object_add(n, "status", json_object_new_string(status_name(im->names[j].status)));
			json_object_object_add(n, "reason", json_str_or_null(im->names[j].reason));
			json_object_array_add(names, n);
		}
		json_object_object_add(o1, "names", names);
		json_object_object_add(o1, "digest_references_kept_as_labels",
				       json_strings(im->digest_refs, im->n_digest_refs));
		json_object_array_add(imgs, o1);
	}
	json_object_object_add(sum, "images_migrated", json_object_new_int64((int64_t)rep->images_done));
	json_object_object_add(sum, "images_existed", json_object_new_int64((int64_t)rep->images_existed));
	json_object_object_add(sum, "images_skipped", json_object_new_int64((int64_t)rep->images_skipped));
	json_object_object_add(sum, "images_failed", json_object_new_int64((int64_t)rep->images_failed));
	json_object_object_add(sum, "layers_migrated", json_object_new_int64((int64_t)rep->layers_done));
	json_object_object_add(sum, "layers_existed", json_object_new_int64((int64_t)rep->layers_existed));
	json_object_object_add(sum, "layers_failed", json_object_new_int64((int64_t)rep->layers_failed));
	json_object_object_add(sum, "bytes_read", json_object_new_int64((int64_t)rep->bytes_read));
	json_object_object_add(sum, "bytes_written", json_object_new_int64((int64_t)rep->bytes_written));
	json_object_object_add(sum, "copy_mode", json_str_or_null(rep->copy_mode));
	json_object_object_add(sum, "files_shared", json_object_new_int64((int64_t)rep->files_shared));
	json_object_object_add(sum, "files_copied", json_object_new_int64((int64_t)rep->files_copied));
	json_object_object_add(sum, "seconds", json_object_new_double(secs));
	json_object_object_add(doc, "summary", sum);
	json_object_object_add(doc, "images", imgs);
	if (o->mig.containers) {
		json_object *ctrs = json_object_new_array();

		for (size_t i = 0; i < rep->n_containers; i++) {
			const dm_migrate_container *mc = &rep->containers[i];
			json_object *c1 = json_object_new_object();

			json_object_object_add(c1, "id", json_object_new_string(mc->id));
			json_object_object_add(c1, "name", json_str_or_null(mc->name));
			json_object_object_add(c1, "status", json_object_new_string(status_name(mc->status)));
			json_object_object_add(c1, "reason", json_str_or_null(mc->reason));
			json_object_object_add(c1, "size", json_object_new_uint64(mc->size));
			json_object_array_add(ctrs, c1);
		}
		json_object_object_add(doc, "containers", ctrs);
		json_object_object_add(sum, "containers_migrated", json_object_new_int64((int64_t)rep->containers_done));
		json_object_object_add(sum, "containers_existed", json_object_new_int64((int64_t)rep->containers_existed));
		json_object_object_add(sum, "containers_skipped", json_object_new_int64((int64_t)rep->containers_skipped));
		json_object_object_add(sum, "containers_failed", json_object_new_int64((int64_t)rep->containers_failed));
	}
	json_object_object_add(doc, "warnings", json_strings(rep->warnings, rep->n_warnings));
	return doc;
}


int cmd_run(int argc, char **argv)
{
	struct options o;
	struct progress p = {isatty(STDERR_FILENO) == 1, false, {0, 0}};
	dm_migrate_report rep;
	dm_error err = {0};
	dm_target *t;
	dm_store *st;
	dm_target_choice c;
	double secs;
	int rc = parse_options(argc, argv, "run",
			       ALLOW(OPT_ROOT) | ALLOW(OPT_DRIVER) | ALLOW(OPT_JSON) | ALLOW(OPT_JOBS) |
				       ALLOW(OPT_CTR_ROOT) | ALLOW(OPT_NAMESPACE) | ALLOW(OPT_SNAPSHOTTER) |
				       ALLOW(OPT_COMPRESSION) | ALLOW(OPT_FORCE) | ALLOW(OPT_CTR_ADDRESS) |
				       ALLOW(OPT_COPY_MODE) | ALLOW(OPT_CONTAINERS) | ALLOW(OPT_DOCKER_CONFIG) |
				       ALLOW(OPT_CTR_CONFIG),
			       &o);

	if (rc != EXIT_OK || (rc = open_store(&o, &st)) != EXIT_OK) {
		dm_docker_config_free(&o.dcfg);
		return rc;
	}
	o.mig.jobs = o.jobs;
	if (!o.target.snapshotter)
		o.target.snapshotter = dm_migrate_default_snapshotter(st->driver);
	if (!(t = dm_target_choose_open(&o.target, &c, &err))) {
		report_error(&err);
		dm_target_choice_free(&c);
		dm_store_close(st);
		dm_docker_config_free(&o.dcfg);
		return run_exit_code(&err);
	}
	o.mig.containerd_root = c.root;
	if (!(o.mig.journal = dm_journal_open(c.root, &err))) {
		report_error(&err);
		dm_target_close(t);
		dm_target_choice_free(&c);
		dm_store_close(st);
		return EXIT_TARGET;
	}
	clock_gettime(CLOCK_MONOTONIC, &p.start);
	rc = dm_migrate_run(st, t, &o.mig, run_event, &p, &rep, &err);
	dm_journal_close(o.mig.journal);
	secs = elapsed(&p.start);
	if (p.shown)
		fputc('\n', stderr);
	if (rc < 0) {
		report_error(&err);
		rc = run_exit_code(&err);
	} else if (rep.images_failed || rep.containers_failed) {
		/* Also when nothing else is left to do: an image that cannot be migrated is lost. */
		rc = EXIT_SOME_FAILED;
	} else if (rep.nothing_to_do) {
		rc = EXIT_NOTHING;
	} else {
		rc = rep.layers_failed ? EXIT_SOME_FAILED : EXIT_OK;
	}
	if (o.json) {
		json_object *doc = run_json(&rep, &o, c.ns, secs);

		put_json(doc);
	}
	/* Refused before writing (4, 5: see the man page): no image has a label to speak of.  A
	 * run stopped by a full disk (5 too) made no image record after it filled up. */
	for (size_t i = 0; rc != EXIT_BUSY && rc != EXIT_NOSPACE && i < rep.n_images; i++)
		for (size_t j = 0; j < rep.images[i].n_digest_refs; j++)
			fprintf(stderr, "%s: digest reference %s kept as a label of image %s: "
				"the migrated manifest has a new digest\n",
				prog, rep.images[i].digest_refs[j], rep.images[i].id.s);
	for (size_t i = 0; i < rep.n_warnings; i++)
		fprintf(stderr, "%s: warning: %s\n", prog, rep.warnings[i]);
	if (rep.nothing_to_do)
		fprintf(stderr, "%s: nothing to do: all %zu images are already in %s (namespace %s)\n",
			prog, rep.images_existed, o.mig.containerd_root, c.ns);
	else if (rc != EXIT_BUSY && rc != EXIT_NOSPACE && rc != EXIT_TARGET)
		fprintf(stderr,
			"%s: images: %zu migrated, %zu existed, %zu skipped, %zu failed; layers: %zu migrated, "
			"%zu existed, %zu failed; %" PRIu64 " bytes written in %.1f s\n",
			prog, rep.images_done, rep.images_existed, rep.images_skipped, rep.images_failed,
			rep.layers_done, rep.layers_existed, rep.layers_failed, rep.bytes_written, secs);
	if (o.mig.containers && rc != EXIT_BUSY && rc != EXIT_TARGET)
		fprintf(stderr, "%s: containers: %zu migrated, %zu existed, %zu skipped, %zu failed\n", prog,
			rep.containers_done, rep.containers_existed, rep.containers_skipped, rep.containers_failed);
	dm_migrate_report_free(&rep);
	/* Only now: the report points into the target, and its locks must last the whole run. */
	dm_target_close(t);
	dm_store_close(st);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	return rc;
}
