/* dockerd-migrate: the front end's entry point: the command table and the usage
 * text.  Each command is a file of its own (cmd_<command>.c, on cli.h); everything
 * that decides what to migrate or how lives in lib/. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

void usage(FILE *out)
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
