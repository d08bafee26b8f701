/* dockerd-migrate: the front end.  Parses options, calls libdm, reports.
 * Everything that decides what to migrate or how lives in lib/. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dockercfg.h"
#include "identifier.h"
#include "layerstore.h"
#include "migrate.h"
#include "plan.h"
#include "rollback.h"
#include "sizes.h"
#include "target.h"

/* Exit codes are part of the interface (postinst scripts test them): see the man page. */
enum {
	EXIT_OK = 0,           /* everything asked for was done */
	EXIT_SOME_FAILED = 1,  /* some items failed; the rest was done */
	EXIT_USAGE = 2,        /* bad command line */
	EXIT_SOURCE = 3,       /* the Docker store cannot be read at all */
	EXIT_BUSY = 4,         /* containerd (or another run) holds containerd's database */
	EXIT_NOSPACE = 5,      /* not enough free space for the migration */
	EXIT_TARGET = 6,       /* containerd's root cannot be written */
	EXIT_NOTHING = 7,      /* run: everything was already migrated; rollback: nothing to undo */
	EXIT_REFUSED = 8,      /* switch: Docker would not find its images there; rollback: a dockerd
				* runs on the containerd image store.  Nothing written either way */
};

#define DEFAULT_DOCKER_ROOT DM_DOCKER_DATA_ROOT
#define DEFAULT_NAMESPACE DM_DOCKER_NAMESPACE

struct options {
	const char *docker_root;     /* --docker-root; NULL until load_docker_config */
	const char *docker_config;   /* daemon.json */
	dm_docker_config dcfg;       /* daemon.json as read (load_docker_config) */
	bool dry_run;
	const char *driver;
	bool json;
	unsigned jobs;
	dm_target_request target; /* address, root: NULL unless given; snapshotter: NULL for the driver's default */
	dm_migrate_options mig;
};

static const char *prog = "dockerd-migrate";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--help] [--version] COMMAND [OPTIONS]\n"
		"Convert Docker's legacy graphdriver image store into containerd's image store.\n"
		"\n"
		"Commands:\n"
		"  plan           show what would be migrated (images, layers, sizes) and what not\n"
		"  verify-source  rebuild every layer's tar stream and check it against its DiffID\n"
		"  run            migrate into containerd: through its API while it runs (online),\n"
		"                 or into its root while it is stopped (offline)\n"
		"  switch         after a run, turn on Docker's containerd image store in daemon.json\n"
		"  rollback       undo what runs added to containerd (and switch to daemon.json)\n"
		"\n"
		"Options:\n"
		"  --docker-config FILE   Docker's daemon.json (default %s): data-root, exec-root,\n"
		"                         containerd, containerd-namespace, storage-driver, features\n"
		"  --containerd-config FILE\n"
		"                         plan, run, switch: the system containerd's config (default\n"
		"                         %s): root, [grpc] address\n"
		"  --docker-root DIR      Docker data-root (default: daemon.json's, else %s)\n"
		"  --storage-driver NAME  graphdriver to read (overlay2, vfs, btrfs or fuse-overlayfs;\n"
		"                         default: detected)\n"
		"  --json                 plan, run: print one JSON document\n"
		"  --jobs N               verify-source, run: layers in parallel (default: CPUs)\n"
		"  --containerd-address SOCK\n"
		"                         plan, run, switch: migrate online through the containerd on\n"
		"                         SOCK (default: the containerd Docker uses, found from\n"
		"                         daemon.json, the containerd config and the sockets that answer)\n"
		"  --containerd-root DIR  plan, run, switch: containerd's root (default: as found);\n"
		"                         without --containerd-address: offline (containerd stopped)\n"
		"  --namespace NS         run, switch: containerd namespace (default: daemon.json's\n"
		"                         containerd-namespace, else %s)\n"
		"  --snapshotter NAME     plan, run: overlayfs or native (default: native for vfs,\n"
		"                         overlayfs for overlay2, btrfs and fuse-overlayfs)\n"
		"  --compression ALGO     run: layer blobs as zstd, gzip or none (default zstd)\n"
		"  --force                run: replace image names that point to other images\n"
		"  --copy-mode MODE       plan, run: snapshot file data by reflink, hardlink or copy\n"
		"                         (default auto: reflink where the filesystem can, else copy)\n"
		"  --containers           plan, run: also migrate stopped containers (writable layer,\n"
		"                         init layer, config)\n"
		"  --dry-run              switch: print the new daemon.json; rollback: list what would\n"
		"                         be removed.  Nothing is written\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n"
		"\n"
		"Exit status: 0 ok, 1 some items failed, 2 usage error, 3 source store unreadable,\n"
		"4 containerd is running (offline), 5 not enough space, 6 target error, 7 nothing to do,\n"
		"8 refused (switch, rollback), nothing written.  See dockerd-migrate(8).\n",
		prog, DM_DOCKER_CONFIG, DM_CONTAINERD_CONFIG, DEFAULT_DOCKER_ROOT, DEFAULT_NAMESPACE);
}

/* One grep-able line per error: "dockerd-migrate: error: <message>". */
static void report_error(const dm_error *err)
{
	fprintf(stderr, "%s: error: %s\n", prog, err->msg);
}

/* The first error of a flush of stdout before close_stdout: stdio keeps the
 * error flag but not its errno. */
static int stdout_errno;

static void flush_stdout(void)
{
	if (fflush(stdout) != 0 && !stdout_errno)
		stdout_errno = errno;
}

/* Prints doc and frees it.  A document larger than stdio's buffer is written
 * straight through: its error's errno is only known here. */
static void put_json(json_object *doc)
{
	if (puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE)) == EOF &&
	    !stdout_errno)
		stdout_errno = errno;
	json_object_put(doc);
}

/* What stdout carries is the result (plan's listing and JSON, verify-source's
 * verdicts, run's JSON report): a write that failed, into a full disk or a
 * closed file, must fail the command instead of vanishing in stdio's buffer.
 * Closes stdout; returns rc, or EXIT_SOME_FAILED in place of a success. */
static int close_stdout(int rc)
{
	bool pending = __fpending(stdout) != 0, failed = ferror(stdout) != 0;
	int e;

	errno = 0;
	if (fclose(stdout) == 0 && !failed)
		return rc;
	e = stdout_errno ? stdout_errno : errno;
	/* Started with stdout closed and wrote nothing to it: nothing was lost. */
	if (!failed && !pending && e == EBADF)
		return rc;
	fprintf(stderr, "%s: error: cannot write to standard output%s%s\n", prog, e ? ": " : "",
		e ? strerror(e) : "");
	return rc == EXIT_OK || rc == EXIT_NOTHING ? EXIT_SOME_FAILED : rc;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

enum {
	OPT_ROOT = 256, OPT_DRIVER, OPT_JSON, OPT_JOBS,
	OPT_CTR_ROOT, OPT_NAMESPACE, OPT_SNAPSHOTTER, OPT_COMPRESSION, OPT_FORCE, OPT_CTR_ADDRESS,
	OPT_COPY_MODE, OPT_CONTAINERS, OPT_DOCKER_CONFIG, OPT_CTR_CONFIG, OPT_DRY_RUN,
};
#define ALLOW(opt) (1u << ((opt) - OPT_ROOT))

/* Parses the options of one subcommand; `allowed` is the ALLOW() set it accepts. */
static int parse_options(int argc, char **argv, const char *cmd, unsigned allowed,
			 struct options *o)
{
	static const struct option longopts[] = {
		{"docker-root", required_argument, NULL, OPT_ROOT},
		{"storage-driver", required_argument, NULL, OPT_DRIVER},
		{"json", no_argument, NULL, OPT_JSON},
		{"jobs", required_argument, NULL, OPT_JOBS},
		{"containerd-root", required_argument, NULL, OPT_CTR_ROOT},
		{"containerd-address", required_argument, NULL, OPT_CTR_ADDRESS},
		{"namespace", required_argument, NULL, OPT_NAMESPACE},
		{"snapshotter", required_argument, NULL, OPT_SNAPSHOTTER},
		{"compression", required_argument, NULL, OPT_COMPRESSION},
		{"force", no_argument, NULL, OPT_FORCE},
		{"copy-mode", required_argument, NULL, OPT_COPY_MODE},
		{"containers", no_argument, NULL, OPT_CONTAINERS},
		{"docker-config", required_argument, NULL, OPT_DOCKER_CONFIG},
		{"containerd-config", required_argument, NULL, OPT_CTR_CONFIG},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, idx;

	o->docker_root = NULL;
	o->docker_config = DM_DOCKER_CONFIG;
	memset(&o->dcfg, 0, sizeof o->dcfg);
	o->dry_run = false;
	o->driver = NULL;
	o->json = false;
	o->jobs = default_jobs();
	memset(&o->mig, 0, sizeof o->mig);
	o->mig.compression = DM_COMPRESS_ZSTD;
	memset(&o->target, 0, sizeof o->target);
	/* A test hook, not an option: where enabled units are linked (lib/discover.h). */
	o->target.systemd_dir = getenv("DM_SYSTEMD_DIR");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
		if (c == '?')
			return usage_error("unknown option or missing argument: %s", argv[optind - 1]);
		if (c == 'h') {
			usage(stdout);
			exit(close_stdout(EXIT_OK));
		}
		if (!(allowed & ALLOW(c)))
			return usage_error("this command has no option --%s", longopts[idx].name);
		switch (c) {
		case OPT_ROOT:
			o->docker_root = optarg;
			break;
		case OPT_DRIVER:
			if (dm_driver_lookup(optarg, &(dm_driver){0}) < 0)
				return usage_error("--storage-driver must be overlay2, vfs, btrfs or fuse-overlayfs, "
						   "not '%s'", optarg);
			o->driver = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_JOBS: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 1024)
				return usage_error("--jobs takes a number from 1 to 1024, not '%s'", optarg);
			o->jobs = (unsigned)v;
			break;
		}
		case OPT_CTR_ROOT:
			o->target.root = optarg;
			break;
		case OPT_CTR_ADDRESS:
			o->target.address = optarg;
			break;
		case OPT_NAMESPACE: {
			dm_error err = {0};

			if (dm_namespace_check(optarg, &err) < 0)
				return usage_error("--namespace %s", err.msg);
			o->target.ns = optarg;
			break;
		}
		case OPT_SNAPSHOTTER:
			if (strcmp(optarg, "overlayfs") && strcmp(optarg, "native"))
				return usage_error("--snapshotter must be overlayfs or native, not '%s'", optarg);
			o->target.snapshotter = optarg;
			break;
		case OPT_COMPRESSION: {
			dm_error err = {0};

			if (dm_compression_parse(optarg, &o->mig.compression, &err) < 0)
				return usage_error("--compression must be zstd, gzip or none, not '%s'", optarg);
			break;
		}
		case OPT_FORCE:
			o->mig.force = true;
			break;
		case OPT_CONTAINERS:
			o->mig.containers = true;
			break;
		case OPT_DOCKER_CONFIG:
			o->docker_config = optarg;
			break;
		case OPT_CTR_CONFIG:
			o->target.containerd_config = optarg;
			break;
		case OPT_DRY_RUN:
			o->dry_run = true;
			break;
		case OPT_COPY_MODE: {
			dm_error err = {0};

			if (dm_copy_mode_parse(optarg, &o->mig.copy_mode, &err) < 0)
				return usage_error("--copy-mode must be auto, reflink, hardlink or copy, not '%s'",
						   optarg);
			break;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s %s: unexpected argument '%s'\n", prog, cmd, argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static const char *human_size(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	size_t u = 0;

	if (n == DM_SIZE_MAX)  /* a saturated sum: the sizes recorded are not all true */
		return snprintf(buf, len, "over 16 EiB"), buf;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units)
		v /= 1024, u++;
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static const char *item_kind(dm_item_kind k)
{
	switch (k) {
	case DM_ITEM_IMAGE:
		return "image";
	case DM_ITEM_LAYER:
		return "layer";
	case DM_ITEM_CONTAINER:
		return "container";
	case DM_ITEM_REFERENCE:
		return "reference";
	}
	return "item";
}

static json_object *json_strings(char **v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *json_str_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

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
		what = status == DM_MIG_DONE ? "migrate" : status == DM_MIG_EXISTED ? "on the containerd store already"
											: "refused";
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(c->id));
			json_object_object_add(o, "name", json_str_or_null(c->name));
			json_object_object_add(o, "action", json_object_new_string(
				status == DM_MIG_DONE ? "migrate" : status == DM_MIG_EXISTED ? "existed" : "refused"));
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

/* daemon.json, once per command: it says where the store is (data-root) and,
 * for the target choice, which containerd Docker uses.  A file dockerd would
 * refuse is refused here too (exit 3: Docker's side cannot be read). */
static int load_docker_config(struct options *o)
{
	dm_error err = {0};

	if (dm_docker_config_read(o->docker_config, &o->dcfg, &err) < 0) {
		report_error(&err);
		return EXIT_SOURCE;
	}
	o->target.docker = &o->dcfg;
	/* The graphdriver dockerd runs (another name there is not one this tool reads). */
	if (!o->driver && o->dcfg.storage_driver && dm_driver_lookup(o->dcfg.storage_driver, &(dm_driver){0}) == 0)
		o->driver = o->dcfg.storage_driver;
	if (o->docker_root)
		o->target.data_root = o->docker_root;
	else
		o->docker_root = o->dcfg.data_root ? o->dcfg.data_root : DEFAULT_DOCKER_ROOT;
	return EXIT_OK;
}

static int open_store(struct options *o, dm_store **st)
{
	dm_error err = {0};
	int rc;

	if ((rc = load_docker_config(o)) != EXIT_OK)
		return rc;
	if (dm_store_open(o->docker_root, o->driver, st, &err) < 0) {
		report_error(&err);
		return EXIT_SOURCE;
	}
	return EXIT_OK;
}

/* The containerd chosen, for plan: which one, root, socket, namespace and why.
 * Online, the root is asked from the daemon (reads only). */
static void choice_root(const struct options *o, const dm_target_choice *c, char **asked, const char **root)
{
	dm_error err = {0};

	*asked = NULL;
	*root = c->root;
	if (c->online && !c->root && dm_target_online_root(c->address, c->ns, asked, &err) == 0)
		*root = *asked;
	(void)o;
}

static json_object *choice_json(const dm_target_choice *c, const char *root)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "which", json_object_new_string(c->which));
	json_object_object_add(o, "mode", json_object_new_string(c->mode));
	json_object_object_add(o, "root", json_str_or_null(root));
	json_object_object_add(o, "socket", json_str_or_null(c->socket));
	json_object_object_add(o, "namespace", json_object_new_string(c->ns));
	json_object_object_add(o, "why", json_object_new_string(c->why));
	return o;
}

static int cmd_plan(int argc, char **argv)
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

struct verify_report {
	size_t ok, failed;
};

static void verify_line(void *opaque, const dm_layer *layer, bool ok, const dm_error *err,
			const dm_tarsplit_stats *stats)
{
	struct verify_report *r = opaque;

	if (ok) {
		r->ok++;
		printf("ok   %s %" PRIu64 " bytes, %" PRIu64 " entries\n", layer->chain_id.s, stats->bytes,
		       stats->files);
	} else {
		r->failed++;
		printf("FAIL %s: %s\n", layer->chain_id.s, err->msg);
	}
	flush_stdout();
}

static int cmd_verify_source(int argc, char **argv)
{
	struct options o;
	struct verify_report r = {0, 0};
	dm_store *st;
	int rc = parse_options(argc, argv, "verify-source",
				ALLOW(OPT_ROOT) | ALLOW(OPT_DRIVER) | ALLOW(OPT_JOBS) | ALLOW(OPT_DOCKER_CONFIG), &o);

	rc = rc == EXIT_OK ? open_store(&o, &st) : rc;
	dm_docker_config_free(&o.dcfg);
	if (rc != EXIT_OK)
		return rc;
	dm_store_verify(st, o.jobs, verify_line, &r);
	printf("verify-source: %zu layers, %zu ok, %zu failed\n", r.ok + r.failed, r.ok, r.failed);
	dm_store_close(st);
	return r.failed ? EXIT_SOME_FAILED : EXIT_OK;
}

static const char *status_name(dm_migrate_status s)
{
	switch (s) {
	case DM_MIG_DONE:
		return "migrated";
	case DM_MIG_EXISTED:
		return "existed";
	case DM_MIG_SKIPPED:
		return "skipped";
	case DM_MIG_FAILED:
		return "failed";
	}
	return "unknown";
}

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
		json_object_object_add(sum, "containers_failed", json_object_new_int64((int64_t)rep->containers_failed));
	}
	json_object_object_add(doc, "warnings", json_strings(rep->warnings, rep->n_warnings));
	return doc;
}

static int run_exit_code(const dm_error *err)
{
	switch (err->code) {
	case EWOULDBLOCK:
		return EXIT_BUSY;
	case ENOSPC:
		return EXIT_NOSPACE;
	default:
		return EXIT_TARGET;
	}
}

static int cmd_run(int argc, char **argv)
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
		fprintf(stderr, "%s: containers: %zu migrated, %zu existed, %zu failed\n", prog,
			rep.containers_done, rep.containers_existed, rep.containers_failed);
	dm_migrate_report_free(&rep);
	/* Only now: the report points into the target, and its locks must last the whole run. */
	dm_target_close(t);
	dm_store_close(st);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	return rc;
}

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

static int cmd_switch(int argc, char **argv)
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
	if (dm_docker_config_switch(o.docker_config, true, &sw, &err) < 0) {
		report_error(&err);
		dm_docker_switch_free(&sw);
		return err.code == EINVAL && strstr(err.msg, "storage-driver") ? EXIT_REFUSED : EXIT_SOURCE;
	}
	if (sw.already) {
		printf("%s already has features.containerd-snapshotter = true: nothing to do.\n", o.docker_config);
		dm_docker_switch_free(&sw);
		return EXIT_OK;
	}
	rc = switch_check(&o, &c);
	if (o.dry_run) {
		fputs(sw.text, stdout);
	} else if (rc == EXIT_OK) {
		dm_docker_switch_free(&sw);
		if (dm_docker_config_switch(o.docker_config, false, &sw, &err) < 0) {
			report_error(&err);
			rc = EXIT_SOURCE;
		} else {
			printf("%s: features.containerd-snapshotter = true (%s).\n", o.docker_config,
			       sw.backup_made ? (sw.was_present ? "the previous file is kept as the backup"
								  : "there was none: the backup is empty")
					      : "the backup of the first switch is kept");
			printf("Backup: %s\n", sw.backup);
			print_restart(&c);
		}
	}
	dm_docker_switch_free(&sw);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	return rc;
}

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

static int cmd_rollback(int argc, char **argv)
{
	struct options o;
	dm_rollback_report rep = {0};
	dm_rollback_request rq = {0};
	dm_journal_entries j = {0};
	dm_target_choice c;
	dm_error err = {0};
	char *root = NULL, **ids = NULL;
	size_t n_ids = 0;
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
	if (dm_journal_read(root, &j, &err) < 0 || dm_rollback_find_containers(o.docker_root, &ids, &n_ids, &err) < 0) {
		report_error(&err);
		goto out;
	}
	rq.journal = &j;
	rq.container_ns = c.ns;
	rq.containers = ids;
	rq.n_containers = n_ids;
	rq.dry_run = o.dry_run;
	if ((c.online ? dm_rollback_online(c.address, &rq, &rep, &err) : dm_rollback_offline(root, &rq, &rep, &err)) < 0) {
		report_error(&err);
		if (err.code == EWOULDBLOCK) {
			fprintf(stderr, "%s: containerd runs on %s: roll back online with --containerd-address SOCK\n",
				prog, root);
			rc = EXIT_BUSY;
		}
		goto out;
	}
	/* Docker's side only once containerd's is undone: a failure above leaves both as they were
	 * for a second rollback. */
	if (dm_rollback_restore_containers(o.docker_root, ids, n_ids, o.dry_run, &rep, &err) < 0 ||
	    dm_rollback_restore_daemon_json(o.docker_config, o.dry_run, &rep, &err) < 0 ||
	    (!o.dry_run && dm_journal_remove(root, &err) < 0)) {
		report_error(&err);
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
	dm_journal_entries_free(&j);
	dm_rollback_ids_free(ids, n_ids);
	dm_target_choice_free(&c);
	dm_docker_config_free(&o.dcfg);
	free(root);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"plan", cmd_plan},
		{"verify-source", cmd_verify_source},
		{"run", cmd_run},
		{"switch", cmd_switch},
		{"rollback", cmd_rollback},
	};
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return close_stdout(EXIT_OK);
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return close_stdout(EXIT_OK);
	}
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(cmd, cmds[i].name))
			return close_stdout(cmds[i].fn(argc - 1, argv + 1));
	return usage_error("unknown command '%s'", cmd);
}
