/* plan: what would be migrated and what not, with sizes and the target chosen. */
#include "config.h"


#include "cli.h"
#include "plan.h"

static json_object *plan_json(const dm_store *st, const dm_plan_totals *t)
{
	json_object *doc = json_object_new_object(), *imgs = json_object_new_array(),
		    *layers = json_object_new_array(), *ctrs = json_object_new_array(),
		    *skipped = json_object_new_array(), *warnings = json_object_new_array(),
		    *summary = json_object_new_object();

	json_object_object_add(doc, "docker_root", json_object_new_string(st->root));
	json_object_object_add(doc, "storage_driver", json_object_new_string(dm_driver_name(st->driver)));
	for (size_t i = 0; i < st->n_images; i++) {
		const dm_image *im = &st->images[i];
		json_object *o = json_object_new_object(), *ids = json_object_new_array();

		json_object_object_add(o, "id", json_object_new_string(im->id.s));
		json_object_object_add(o, "tags", json_strings(im->tags, im->n_tags));
		json_object_object_add(o, "digest_references", json_strings(im->digests, im->n_digests));
		json_object_object_add(o, "dangling", json_object_new_boolean(im->dangling));
		json_object_object_add(o, "head", json_object_new_boolean(im->head));
		json_object_object_add(o, "parent", json_str_or_null(im->parent.s));
		json_object_object_add(o, "os", json_str_or_null(im->os));
		json_object_object_add(o, "architecture", json_str_or_null(im->arch));
		json_object_object_add(o, "variant", json_str_or_null(im->variant));
		for (size_t j = 0; j < im->n_layers; j++)
			json_object_array_add(ids, json_object_new_string(
				im->layers[j] ? im->layers[j]->chain_id.s : ""));
		json_object_object_add(o, "layers", ids);
		json_object_object_add(o, "size", json_object_new_uint64(im->size));
		json_object_object_add(o, "migrate", json_object_new_boolean(im->migrate));
		json_object_object_add(o, "reason", json_str_or_null(im->reason));
		json_object_array_add(imgs, o);
	}
	for (size_t i = 0; i < st->n_layers; i++) {
		const dm_layer *l = &st->layers[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "chain_id", json_object_new_string(l->chain_id.s));
		json_object_object_add(o, "diff_id", json_str_or_null(l->diff_id.s));
		json_object_object_add(o, "parent", json_str_or_null(l->parent_id.s));
		json_object_object_add(o, "cache_id", json_str_or_null(l->cache_id));
		json_object_object_add(o, "size", json_object_new_int64(l->size));
		json_object_object_add(o, "images", json_object_new_int64(l->refcount));
		json_object_object_add(o, "migrate", json_object_new_boolean(l->migrate_refs > 0));
		json_object_object_add(o, "usable", json_object_new_boolean(l->usable));
		json_object_object_add(o, "reason", json_str_or_null(l->reason));
		json_object_array_add(layers, o);
	}
	for (size_t i = 0; i < st->n_containers; i++) {
		const dm_container *c = &st->containers[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(c->id));
		json_object_object_add(o, "image", json_str_or_null(c->image.s));
		json_object_object_add(o, "name", json_str_or_null(c->name));
		json_object_object_add(o, "mount_id", json_str_or_null(c->mount_id));
		json_object_object_add(o, "running", json_object_new_boolean(c->running || c->paused || c->restarting));
		json_object_object_add(o, "reason", json_str_or_null(c->reason));
		json_object_array_add(ctrs, o);
	}
	for (size_t i = 0; i < st->n_problems; i++) {
		const dm_problem *p = &st->problems[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(item_kind(p->kind)));
		json_object_object_add(o, "id", json_object_new_string(p->id));
		json_object_object_add(o, "reason", json_object_new_string(p->reason));
		json_object_array_add(p->warning ? warnings : skipped, o);
	}
	json_object_object_add(summary, "images", json_object_new_int64((int64_t)t->images));
	json_object_object_add(summary, "images_to_migrate", json_object_new_int64((int64_t)t->images_to_migrate));
	json_object_object_add(summary, "layers_to_migrate", json_object_new_int64((int64_t)t->layers_to_migrate));
	json_object_object_add(summary, "layers_size", json_object_new_uint64(t->layers_size));
	json_object_object_add(summary, "shared_layers", json_object_new_int64((int64_t)t->layers_shared));
	json_object_object_add(summary, "containers", json_object_new_int64((int64_t)t->containers));
	json_object_object_add(doc, "summary", summary);
	json_object_object_add(doc, "images", imgs);
	json_object_object_add(doc, "layers", layers);
	json_object_object_add(doc, "containers", ctrs);
	json_object_object_add(doc, "not_migrated", skipped);
	json_object_object_add(doc, "warnings", warnings);
	return doc;
}

static void print_names(const char *label, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%-33s%s%s\n", "", label, v[i]);
}

/* What run --containers would do with each container (plan --containers). */
static json_object *plan_containers(const dm_store *st, const char *sn, bool json)
{
	json_object *a = json ? json_object_new_array() : NULL;

	if (!json)
		printf("\n%-14s %-24s %9s  %s\n", "CONTAINER ID", "NAME", "SIZE", "RUN --CONTAINERS");
	for (size_t i = 0; i < st->n_containers; i++) {
		const dm_container *c = &st->containers[i];
		dm_migrate_status status;
		uint64_t size;
		char *reason, sz[32];
		const char *what;

		if (dm_migrate_container_verdict(st, c, sn, &status, &size, &reason) < 0)
			reason = NULL;
		what = status == DM_MIG_DONE      ? "migrate"
		       : status == DM_MIG_EXISTED ? "on the containerd store already"
		       : status == DM_MIG_SKIPPED ? "skipped"
						  : "refused";
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(c->id));
			json_object_object_add(o, "name", json_str_or_null(c->name));
			json_object_object_add(o, "action", json_object_new_string(
				status == DM_MIG_DONE      ? "migrate"
				: status == DM_MIG_EXISTED ? "existed"
				: status == DM_MIG_SKIPPED ? "skipped"
							   : "refused"));
			json_object_object_add(o, "size", json_object_new_uint64(size));
			json_object_object_add(o, "reason", json_str_or_null(reason));
			json_object_array_add(a, o);
		} else {
			printf("%.12s   %-24s %9s  %s%s%s\n", c->id, c->name ? c->name : "-",
			       status == DM_MIG_DONE ? human_size(size, sz, sizeof sz) : "-", what,
			       reason ? ": " : "", reason ? reason : "");
		}
		free(reason);
	}
	return a;
}

static void plan_text(const dm_store *st, const dm_plan_totals *t, bool containers)
{
	char sz[32];

	printf("Docker root %s, storage driver %s\n\n", st->root, dm_driver_name(st->driver));
	printf("%-14s %6s %9s  %s\n", "IMAGE ID", "LAYERS", "SIZE", "NAMES");
	for (size_t i = 0; i < st->n_images; i++) {
		const dm_image *im = &st->images[i];

		if (!im->migrate)
			continue;
		printf("%.12s   %6zu %9s  %s\n", dm_digest_hex(&im->id), im->n_layers,
		       human_size(im->size, sz, sizeof sz),
		       im->n_tags ? im->tags[0] : im->n_digests ? "(digest reference only)" : "(dangling)");
		if (im->n_tags > 1)
			print_names("", im->tags + 1, im->n_tags - 1);
		print_names("digest: ", im->digests, im->n_digests);
	}
	printf("\n%zu of %zu images will be migrated; %zu distinct layers, %s in all, %zu shared by several images.\n",
	       t->images_to_migrate, t->images, t->layers_to_migrate, human_size(t->layers_size, sz, sizeof sz),
	       t->layers_shared);
	if (containers)
		printf("%zu containers found (run --containers migrates the stopped ones; see below).\n",
		       t->containers);
	else
		printf("%zu containers found (containers are migrated only by run --containers).\n",
		       t->containers);
	if (t->not_migrated) {
		printf("\nNot migrated:\n");
		for (size_t i = 0; i < st->n_problems; i++)
			if (!st->problems[i].warning)
				printf("  %s %s: %s\n", item_kind(st->problems[i].kind), st->problems[i].id,
				       st->problems[i].reason);
	}
	if (t->warnings) {
		printf("\nWarnings:\n");
		for (size_t i = 0; i < st->n_problems; i++)
			if (st->problems[i].warning)
				printf("  %s %s: %s\n", item_kind(st->problems[i].kind), st->problems[i].id,
				       st->problems[i].reason);
	}
}

int cmd_plan(int argc, char **argv)
{
	struct options o;
	dm_store *st;
	dm_target_choice c;
	dm_plan_totals t;
	dm_error err = {0};
	char *asked;
	const char *root;
	int rc = parse_options(argc, argv, "plan",
				ALLOW(OPT_ROOT) | ALLOW(OPT_DRIVER) | ALLOW(OPT_JSON) | ALLOW(OPT_CTR_ROOT) |
					ALLOW(OPT_CTR_ADDRESS) | ALLOW(OPT_SNAPSHOTTER) | ALLOW(OPT_COPY_MODE) |
					ALLOW(OPT_CONTAINERS) | ALLOW(OPT_DOCKER_CONFIG) | ALLOW(OPT_CTR_CONFIG) |
					ALLOW(OPT_NAMESPACE),
				&o);
	const char *sn;

	if (rc != EXIT_OK || (rc = open_store(&o, &st)) != EXIT_OK) {
		dm_docker_config_free(&o.dcfg);
		return rc;
	}
	if (dm_target_choose(&o.target, &c, &err) < 0) {
		report_error(&err);
		dm_target_choice_free(&c);
		dm_store_close(st);
		dm_docker_config_free(&o.dcfg);
		return EXIT_TARGET;
	}
	choice_root(&o, &c, &asked, &root);
	sn = o.target.snapshotter ? o.target.snapshotter : dm_migrate_default_snapshotter(st->driver);
	dm_plan_totals_of(st, sn, &t);
	if (o.json) {
		json_object *doc = plan_json(st, &t), *space = json_object_new_object();

		for (enum dm_copy_mode cm = DM_COPY_REFLINK; cm <= DM_COPY_COPY; cm++)
			json_object_object_add(space, dm_copy_mode_name(cm),
					       json_object_new_uint64(t.space_needed[cm - DM_COPY_REFLINK]));
		json_object_object_add(doc, "snapshotter", json_object_new_string(sn));
		json_object_object_add(doc, "snapshotter_reason",
				       json_object_new_string(o.target.snapshotter ? "--snapshotter"
								   : dm_migrate_default_snapshotter_why(st->driver)));
		json_object_object_add(doc, "copy_mode", json_object_new_string(dm_copy_mode_name(o.mig.copy_mode)));
		json_object_object_add(doc, "space_needed", space);
		if (o.mig.containers)
			json_object_object_add(doc, "container_plan", plan_containers(st, sn, true));

		json_object_object_add(doc, "mode", json_object_new_string(c.mode));
		json_object_object_add(doc, "mode_reason", json_object_new_string(c.why));
		json_object_object_add(doc, c.online ? "containerd_address" : "containerd_root",
				       json_object_new_string(c.online ? c.address : c.root));
		json_object_object_add(doc, "namespace", json_object_new_string(c.ns));
		json_object_object_add(doc, "containerd", choice_json(&c, root));

		put_json(doc);
	} else {
		char need[3][32];

		plan_text(st, &t, o.mig.containers);
		if (o.mig.containers)
			plan_containers(st, sn, false);
		printf("\nrun would migrate %s into %s %s: %s.\n", c.mode,
		       c.online ? "the containerd on" : "containerd's root", c.online ? c.address : c.root, c.why);
		printf("containerd: %s, root %s, socket %s, namespace %s\n", c.which, root ? root : "(unknown)",
		       c.socket ? c.socket : "(none)", c.ns);
		for (size_t i = 0; i < 3; i++)
			human_size(t.space_needed[i], need[i], sizeof need[i]);
		if (o.target.snapshotter)
			printf("Snapshotter %s (--snapshotter).\n", sn);
		else
			printf("Snapshotter %s, the default for %s: %s.\n", sn, dm_driver_name(st->driver),
			       dm_migrate_default_snapshotter_why(st->driver));
		printf("Free space needed with the %s snapshotter: up to %s copying file data, %s with "
		       "reflink, %s with hardlink (--copy-mode %s).\n",
		       sn, need[2], need[0], need[1], dm_copy_mode_name(o.mig.copy_mode));
	}
	free(asked);
	dm_target_choice_free(&c);
	dm_store_close(st);
	dm_docker_config_free(&o.dcfg);
	return EXIT_OK;
}
