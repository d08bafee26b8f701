/* dockerd-migrate: the front end.  Parses options, calls libdm, reports. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum {
	EXIT_OK = 0,
	EXIT_SOME_FAILED = 1,
	EXIT_USAGE = 2,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: dockerd-migrate [--help] [--version] COMMAND [OPTIONS]\n"
		"Convert Docker's legacy image store into containerd's image store.\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	usage(stderr);
	return EXIT_USAGE;
}
