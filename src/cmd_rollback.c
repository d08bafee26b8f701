/* rollback: what runs added to containerd and switch changed, undone. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cli.h"
#include "rollback.h"

static json_object *rollback_json(const dm_rollback_report *rep, const char *mode, const char *root)
{
	json_object *doc = json_object_new_object(), *items = json_object_new_array();

	json_object_object_add(doc, "mode", json_object_new_string(mode));
	json_object_object_add(doc, "containerd_root", json_str_or_null(root));
	json_object_object_add(doc, "dry_run", json_object_new_boolean(rep->dry_run));
	for (size_t i = 0; i < rep->n; i++) {
		const dm_rollback_item *it = &rep->v[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(dm_rollback_kind_name(it->kind)));
		json_object_object_add(o, "status", json_object_new_string(it->status == DM_RB_REMOVED ?
									    (rep->dry_run ? "would_remove" : "removed") : "kept"));
		json_object_object_add(o, "namespace", json_str_or_null(it->ns));
		json_object_object_add(o, "name", json_object_new_string(it->what));
		json_object_object_add(o, "note", json_str_or_null(it->note));
		json_object_array_add(items, o);
	}
	json_object_object_add(doc, "items", items);
	json_object_object_add(doc, "removed", json_object_new_int64((int64_t)rep->removed));
	json_object_object_add(doc, "kept", json_object_new_int64((int64_t)rep->kept));
	return doc;
}

int cmd_rollback(int argc, char **argv)
{
	struct options o;
	dm_rollback_report rep = {0};
	dm_target_choice c;
	dm_error err = {0};
	char *root = NULL;
	int pid, rc = parse_options(argc, argv, "rollback",
				    ALLOW(OPT_ROOT) | ALLOW(OPT_JSON) | ALLOW(OPT_CTR_ROOT) | ALLOW(OPT_CTR_ADDRESS) |
					    ALLOW(OPT_NAMESPACE) | ALLOW(OPT_DOCKER_CONFIG) | ALLOW(OPT_CTR_CONFIG) |
					    ALLOW(OPT_DRY_RUN),
				    &o);

	/* The containerd to undo is the one run found (daemon.json, config.toml, sockets). */
	if (rc != EXIT_OK || (rc = load_docker_config(&o)) != EXIT_OK) {
		dm_docker_config_free(&o.dcfg);
		return rc;
	}
	/* A dockerd on the containerd store holds those images: removing them under it would
	 * break its containers and images.  A dry run writes nothing, so it may look. */
	if ((rc = dm_rollback_dockerd_on_containerd(&pid, &err)) < 0) {
		report_error(&err);
		dm_docker_config_free(&o.dcfg);
		return EXIT_TARGET;
	}
	if (rc == 1 && !o.dry_run) {
		fprintf(stderr, "%s: error: dockerd (pid %d) runs on the containerd image store "
			"(features.containerd-snapshotter): stop it first, rollback would remove images it uses\n",
			prog, pid);
		dm_docker_config_free(&o.dcfg);
		return EXIT_REFUSED;
	}
	if (rc == 1)
		fprintf(stderr, "%s: warning: dockerd (pid %d) runs on the containerd image store: "
			"a rollback (not this dry run) would refuse\n", prog, pid);
	if (dm_target_choose(&o.target, &c, &err) < 0) {
		report_error(&err);
		dm_target_choice_free(&c);
		dm_docker_config_free(&o.dcfg);
		return EXIT_TARGET;
	}
	if (c.online) {
		if (dm_target_online_root(c.address, c.ns, &root, &err) < 0) {
			report_error(&err);
			dm_target_choice_free(&c);
			dm_docker_config_free(&o.dcfg);
			return EXIT_TARGET;
		}
	} else if (!(root = strdup(c.root))) {
		dm_target_choice_free(&c);
		dm_docker_config_free(&o.dcfg);
		return EXIT_TARGET;
	}
	rc = EXIT_TARGET;
	if (dm_rollback_run(c.online ? c.address : NULL, root, c.ns, o.docker_root, o.docker_config, o.dry_run, &rep,
			    &err) < 0) {
		report_error(&err);
		if (err.code == EWOULDBLOCK) {
			fprintf(stderr, "%s: containerd runs on %s: roll back online with --containerd-address SOCK\n",
				prog, root);
			rc = EXIT_BUSY;
		}
		goto out;
	}
	for (size_t i = 0; i < rep.n; i++) {
		const dm_rollback_item *it = &rep.v[i];

		fprintf(stderr, "%s: %s %s %s%s%s%s%s%s\n", prog,
			it->status == DM_RB_KEPT ? "kept" : o.dry_run ? "would remove" : "removed",
			dm_rollback_kind_name(it->kind), it->what, it->ns ? " (namespace " : "", it->ns ? it->ns : "",
			it->ns ? ")" : "", it->note ? ": " : "", it->note ? it->note : "");
	}
	if (o.json)
		put_json(rollback_json(&rep, c.mode, root));
	if (!rep.removed)
		fprintf(stderr, "%s: nothing to roll back in %s%s\n", prog, root, rep.kept ? " (all kept)" : "");
	else
		fprintf(stderr, "%s: rollback%s: %zu %sremoved or restored, %zu kept (%s, %s)\n", prog,
			o.dry_run ? " (dry run)" : "", rep.removed, o.dry_run ? "would be " : "", rep.kept, c.mode, root);
	rc = rep.removed ? EXIT_OK : EXIT_NOTHING;
out:
	dm_rollback_report_free(&rep);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	free(root);
	return rc;
}
