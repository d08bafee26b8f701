/* cli: options, exit codes and output shared by the commands (cli.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "resolve.h"
#include "sizes.h"

const char *const prog = "dockerd-migrate";

/* One grep-able line per error: "dockerd-migrate: error: <message>". */
void report_error(const dm_error *err)
{
	fprintf(stderr, "%s: error: %s\n", prog, err->msg);
}

/* The first error of a flush of stdout before close_stdout: stdio keeps the
 * error flag but not its errno. */
static int stdout_errno;

void flush_stdout(void)
{
	if (fflush(stdout) != 0 && !stdout_errno)
		stdout_errno = errno;
}

/* Prints doc and frees it.  A document larger than stdio's buffer is written
 * straight through: its error's errno is only known here. */
void put_json(json_object *doc)
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
int close_stdout(int rc)
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

int usage_error(const char *fmt, ...)
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

/* DIR as an absolute, lexically clean path, as Go's filepath.Abs makes one (dockerd and
 * containerd do so with theirs): the library records and compares roots, and refuses a
 * relative one.  Symlinks are kept (a moved /var/lib/containerd is named as configured).
 * Returns dir itself when it cannot be made absolute; the library then says why. */
static const char *absolute_dir(const char *dir, char *buf)
{
	char cwd[PATH_MAX], joined[2 * PATH_MAX + 2];
	dm_error err = {0};

	if (dir[0] != '/') {
		if (!getcwd(cwd, sizeof cwd))
			return dir;
		snprintf(joined, sizeof joined, "%s/%s", cwd, dir);
	} else {
		snprintf(joined, sizeof joined, "%s", dir);
	}
	buf[0] = '/';
	if (dm_path_clean(joined, strlen(joined), buf + 1, PATH_MAX - 1, &err) < 0)
		return dir;
	return buf;
}

/* Parses the options of one subcommand; `allowed` is the ALLOW() set it accepts. */
int parse_options(int argc, char **argv, const char *cmd, unsigned allowed,
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
			o->docker_root = absolute_dir(optarg, o->root_buf[0]);
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
			o->target.root = absolute_dir(optarg, o->root_buf[1]);
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

const char *human_size(uint64_t n, char *buf, size_t len)
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

const char *item_kind(dm_item_kind k)
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

json_object *json_strings(char **v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

json_object *json_str_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

/* daemon.json, once per command: it says where the store is (data-root) and,
 * for the target choice, which containerd Docker uses.  A file dockerd would
 * refuse is refused here too (exit 3: Docker's side cannot be read). */
int load_docker_config(struct options *o)
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

int open_store(struct options *o, dm_store **st)
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
void choice_root(const struct options *o, const dm_target_choice *c, char **asked, const char **root)
{
	dm_error err = {0};

	*asked = NULL;
	*root = c->root;
	if (c->online && !c->root && dm_target_online_root(c->address, c->ns, asked, &err) == 0)
		*root = *asked;
	(void)o;
}

json_object *choice_json(const dm_target_choice *c, const char *root)
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

const char *status_name(dm_migrate_status s)
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

int run_exit_code(const dm_error *err)
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
