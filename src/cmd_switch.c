/* switch: Docker turned over to the containerd image store (daemon.json). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cli.h"
#include "plan.h"

/* What to restart after a switch, for the containerd Docker uses. */
static void print_restart(const dm_target_choice *c)
{
	if (!strcmp(c->which, "supervised"))
		printf("Restart dockerd (systemctl restart docker): it starts its own containerd again on %s.\n",
		       c->root ? c->root : "its root");
	else if (c->online)
		printf("Restart dockerd (systemctl restart docker); the containerd on %s keeps running.\n",
		       c->address);
	else
		printf("Start containerd (systemctl start containerd), then restart dockerd "
		       "(systemctl restart docker).\n");
}

/* Whether a run completed into the target Docker uses: every tag of the
 * store has its image record there (dm_plan_check_migrated).  Prints the
 * verdict; EXIT_OK or the exit code of the refusal. */
static int switch_check(struct options *o, dm_target_choice *c)
{
	dm_error err = {0};
	dm_store *st;
	dm_target *t;
	char **missing;
	size_t n_missing, checked, unchecked;
	struct stat sb;
	int rc;

	if ((rc = open_store(o, &st)) != EXIT_OK)
		return rc;
	if (!o->target.snapshotter)
		o->target.snapshotter = dm_migrate_default_snapshotter(st->driver);
	if (dm_target_choose(&o->target, c, &err) < 0) {
		report_error(&err);
		dm_store_close(st);
		return EXIT_TARGET;
	}
	/* Offline, opening would make the root: a root that is not there holds no run. */
	if (!c->online && stat(c->root, &sb) < 0) {
		fprintf(stderr, "%s: error: no run has written into %s (%s): run 'dockerd-migrate run' first "
			"(containerd: %s: %s)\n", prog, c->root, strerror(errno), c->which, c->why);
		dm_store_close(st);
		return EXIT_REFUSED;
	}
	dm_target_choice_free(c);
	if (!(t = dm_target_choose_open(&o->target, c, &err))) {
		report_error(&err);
		dm_store_close(st);
		return run_exit_code(&err);
	}
	rc = dm_plan_check_migrated(st, t, &missing, &n_missing, &checked, &unchecked, &err);
	dm_target_close(t);
	dm_store_close(st);
	if (rc < 0) {
		report_error(&err);
		return EXIT_TARGET;
	}
	if (n_missing) {
		fprintf(stderr, "%s: error: %zu of %zu image names are not in %s (namespace %s), e.g. %s: run "
			"'dockerd-migrate run' into that containerd first (%s containerd: %s)\n",
			prog, n_missing, n_missing + checked, c->root ? c->root : c->address, c->ns, missing[0],
			c->which, c->why);
		dm_plan_names_free(missing, n_missing);
		return EXIT_REFUSED;
	}
	fprintf(stderr, "%s: all %zu image names are in %s (namespace %s)%s\n", prog, checked,
		c->root ? c->root : c->address, c->ns,
		unchecked ? "; images without a tag are not checked" : "");
	return EXIT_OK;
}

int cmd_switch(int argc, char **argv)
{
	struct options o;
	dm_docker_switch sw;
	dm_target_choice c;
	dm_error err = {0};
	int rc = parse_options(argc, argv, "switch",
			       ALLOW(OPT_DOCKER_CONFIG) | ALLOW(OPT_DRY_RUN) | ALLOW(OPT_ROOT) | ALLOW(OPT_DRIVER) |
				       ALLOW(OPT_CTR_ROOT) | ALLOW(OPT_CTR_ADDRESS) | ALLOW(OPT_CTR_CONFIG) |
				       ALLOW(OPT_NAMESPACE),
			       &o);

	if (rc != EXIT_OK)
		return rc;
	memset(&c, 0, sizeof c);
	/* First what the file allows (nothing written), then the target, then the write. */
	if (dm_docker_config_switch(o.docker_config, NULL, true, &sw, &err) < 0) {
		report_error(&err);
		dm_docker_switch_free(&sw);
		return err.code == EINVAL && strstr(err.msg, "storage-driver") ? EXIT_REFUSED : EXIT_SOURCE;
	}
	if (sw.already) {
		printf("%s already has features.containerd-snapshotter = true: nothing to do.\n", o.docker_config);
		dm_docker_switch_free(&sw);
		return EXIT_OK;
	}
	/* Again, now that the snapshotter the images went into is known; a dry run shows the file
	 * whatever the run check found. */
	rc = switch_check(&o, &c);
	dm_docker_switch_free(&sw);
	memset(&sw, 0, sizeof sw);
	if (rc != EXIT_OK && !o.dry_run) {
		/* nothing written */
	} else if (dm_docker_config_switch(o.docker_config, o.target.snapshotter, o.dry_run, &sw, &err) < 0) {
		report_error(&err);
		rc = err.code == EINVAL && strstr(err.msg, "storage-driver") ? EXIT_REFUSED : EXIT_SOURCE;
	} else if (o.dry_run) {
		fputs(sw.text, stdout);
	} else {
		printf("%s: features.containerd-snapshotter = true (%s).\n", o.docker_config,
		       sw.backup_made ? (sw.was_present ? "the previous file is kept as the backup"
							  : "there was none: the backup is empty")
				      : "the backup of the first switch is kept");
		printf("Backup: %s\n", sw.backup);
		print_restart(&c);
	}
	dm_docker_switch_free(&sw);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	return rc;
}
