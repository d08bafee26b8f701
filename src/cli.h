/* cli: what the command files of src/ share (crun's layout: one file a command,
 * cmd_<command>.c, over one library): the options, the exit codes and the output
 * helpers.  dockerd-migrate.c holds main and the usage text.  Nothing here decides
 * what to migrate or how: that is lib/'s. */
#ifndef DM_CLI_H
#define DM_CLI_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "dockercfg.h"
#include "layerstore.h"
#include "migrate.h"
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
	char root_buf[2][PATH_MAX];  /* --docker-root, --containerd-root made absolute */
};

/* The program's name in every message ("dockerd-migrate: ..."). */
extern const char *const prog;

enum {
	OPT_ROOT = 256, OPT_DRIVER, OPT_JSON, OPT_JOBS,
	OPT_CTR_ROOT, OPT_NAMESPACE, OPT_SNAPSHOTTER, OPT_COMPRESSION, OPT_FORCE, OPT_CTR_ADDRESS,
	OPT_COPY_MODE, OPT_CONTAINERS, OPT_DOCKER_CONFIG, OPT_CTR_CONFIG, OPT_DRY_RUN,
};
#define ALLOW(opt) (1u << ((opt) - OPT_ROOT))

/* The usage text (--help, and after a usage error). */
void usage(FILE *out);
/* One grep-able line per error on stderr: "dockerd-migrate: error: <message>". */
void report_error(const dm_error *err);
/* Flushes stdout, keeping the errno of its first failure for close_stdout. */
void flush_stdout(void);
/* Prints doc (pretty) on stdout and frees it. */
void put_json(json_object *doc);
/* Closes stdout: rc, or EXIT_SOME_FAILED in place of a success when what it carried was lost. */
int close_stdout(int rc);
/* Prints a usage error and the --help hint; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses the options of subcommand cmd; allowed is the ALLOW() set it takes.  EXIT_OK or an exit code. */
int parse_options(int argc, char **argv, const char *cmd, unsigned allowed, struct options *o);
/* n bytes in binary units ("1.5 MiB") into buf. */
const char *human_size(uint64_t n, char *buf, size_t len);
/* The name of an item kind in listings ("image", "layer", ...). */
const char *item_kind(dm_item_kind k);
/* A JSON array of the n strings v. */
json_object *json_strings(char **v, size_t n);
/* A JSON string, or null for NULL. */
json_object *json_str_or_null(const char *s);
/* Reads daemon.json (--docker-config) into o->dcfg and takes its defaults (data-root, driver). */
int load_docker_config(struct options *o);
/* load_docker_config, then the legacy store.  EXIT_OK or an exit code (the error printed). */
int open_store(struct options *o, dm_store **st);
/* The root the user asked for and the one c writes to (the daemon's when online). */
void choice_root(const struct options *o, const dm_target_choice *c, char **asked, const char **root);
/* c as plan and run report it. */
json_object *choice_json(const dm_target_choice *c, const char *root);
/* The exit code for a failed run or target open: by err's code (busy, no space, target). */
int run_exit_code(const dm_error *err);
/* The name of a migration status in reports. */
const char *status_name(dm_migrate_status s);

int cmd_plan(int argc, char **argv);
int cmd_verify_source(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_switch(int argc, char **argv);
int cmd_rollback(int argc, char **argv);

#endif
