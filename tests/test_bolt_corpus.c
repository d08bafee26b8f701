/* Replays the bolt fuzz corpus (tests/fuzz-corpus/bolt: seeds and any crash
 * reproducers) and the files real containerd wrote (fixtures/containerd)
 * through the fuzz target, so every input that once mattered keeps passing
 * in `make check`, under the sanitizers in CI. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_msg(fread(buf, 1, (size_t)n, f) == (size_t)n, "short read of %s", path);
		*len = (size_t)n;
	}
	fclose(f);
	ck_assert_msg(buf != NULL, "cannot read %s", path);
	return buf;
}

/* Files whose name says they are valid must also pass the checker: they are
 * what lets the fuzzer reach the walk and the write paths at all. */
static void assert_valid(const char *path)
{
	dm_error err = {0};
	dm_bolt *db = dm_bolt_open(path, DM_BOLT_RDONLY, &err);

	ck_assert_msg(db != NULL, "%s: %s", path, err.msg);
	ck_assert_msg(dm_bolt_check(db, &err) == 0, "%s: %s", path, err.msg);
	dm_bolt_close(db);
}

/* Replays every regular file of dir whose name ends in suffix; returns how many. */
static int replay_dir(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_msg(d != NULL, "cannot open directory %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name), sl = strlen(suffix);
		char path[4096];
		uint8_t *data;
		size_t len;

		if (e->d_name[0] == '.' || nl < sl || strcmp(e->d_name + nl - sl, suffix))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		/* Named before running, so that a crash in the log points at its input. */
		fprintf(stderr, "replaying %s\n", path);
		data = slurp(path, &len);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		if (!strncmp(e->d_name, "valid-", 6) || !strcmp(suffix, ".db"))
			assert_valid(path);
		n++;
	}
	closedir(d);
	return n;
}

START_TEST(corpus_replays)
{
	const char *src = getenv("top_srcdir");
	char dir[4096];

	ck_assert_msg(src != NULL, "top_srcdir is not set");
	snprintf(dir, sizeof dir, "%s/tests/fuzz-corpus/bolt", src);
	ck_assert_int_ge(replay_dir(dir, ""), 4);
	snprintf(dir, sizeof dir, "%s/fixtures/containerd", src);
	ck_assert_int_eq(replay_dir(dir, ".db"), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bolt_corpus");
	TCase *tc = tcase_create("replay");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, corpus_replays);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
