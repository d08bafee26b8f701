/* Replays the corpora of fuzz targets without libFuzzer, in `make check`
 * (under the sanitizers in CI): every file of tests/fuzz-corpus/<target>
 * goes through the target's entry point, which aborts on a broken promise.
 * Seeds named valid-* must be accepted, bad-* refused (crash-* reproducers
 * may be either), and each corpus needs both.  `PROGRAM TARGET FILE...`
 * replays those files instead (to retry what `make fuzz-run` found).
 * FUZZ_TARGETS, set per program in tests/local.mk, lists the targets linked
 * in as X(name) X(name)...; ctrapi's fake transport needs a program of its
 * own. */
#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#define X(name) int fuzz_##name(const uint8_t *data, size_t size);
FUZZ_TARGETS
#undef X

static const struct target {
	const char *name;
	int (*fn)(const uint8_t *data, size_t size);
} targets[] = {
#define X(name) {#name, fuzz_##name},
	FUZZ_TARGETS
#undef X
};

static int replay(const struct target *t, const char *path, const char *name)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536)))
			fuzz_broken("out of memory for %s", path);
		r = fread(buf + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	fclose(f);
	/* Named before running, so that a crash in the log points at its input. */
	fprintf(stderr, "replaying %s\n", path);
	t->fn(buf, len);
	free(buf);
	if (!strncmp(name, "valid-", 6) && !fuzz_accepted) {
		fprintf(stderr, "FAIL: %s is not accepted\n", path);
		return -1;
	}
	if (!strncmp(name, "bad-", 4) && fuzz_accepted) {
		fprintf(stderr, "FAIL: %s is accepted\n", path);
		return -1;
	}
	return 0;
}

static int replay_corpus(const struct target *t, const char *src)
{
	char dir[4096], path[8192];
	int n = 0, valid = 0, bad = 0, failed = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/tests/fuzz-corpus/%s", src, t->name);
	if (!(d = opendir(dir))) {
		perror(dir);
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		failed |= replay(t, path, e->d_name) < 0;
		n++;
		valid += !strncmp(e->d_name, "valid-", 6);
		bad += !strncmp(e->d_name, "bad-", 4);
	}
	closedir(d);
	printf("%s: %d inputs replayed (%d valid, %d bad)%s\n", t->name, n, valid, bad,
	       failed ? ", some FAILED" : "");
	/* A corpus without both kinds proves too little. */
	if (!valid || !bad) {
		fprintf(stderr, "FAIL: %s needs valid-* and bad-* seeds\n", dir);
		return 1;
	}
	return failed;
}

int main(int argc, char **argv)
{
	const char *src = getenv("top_srcdir");
	size_t nt = sizeof targets / sizeof *targets;
	int failed = 0;

	if (argc > 2) {
		for (size_t i = 0; i < nt; i++)
			if (!strcmp(targets[i].name, argv[1]))
				for (int j = 2; j < argc; j++)
					failed |= replay(&targets[i], argv[j], "") < 0;
		return failed;
	}
	for (size_t i = 0; i < nt; i++)
		failed |= replay_corpus(&targets[i], src ? src : ".");
	return failed;
}
