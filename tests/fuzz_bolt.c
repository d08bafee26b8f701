/* fuzz_bolt: libFuzzer target for lib/bolt on arbitrary files (`make fuzz`,
 * tests/fuzz-bolt.sh).  The input is written to a memfd and opened read-only;
 * dm_bolt_check runs, then every bucket is walked, with boltwalk's cursor /
 * get / seek cross-checks.  Whatever the input, nothing may crash or read out
 * of bounds, not even when writing to a file the checker rejected.  When
 * the checker accepts a file, more must hold: the walk succeeds, and a write
 * transaction that deletes the first key of every bucket and adds one
 * commits to a file the checker accepts again.  A broken promise aborts,
 * which libFuzzer reports like a crash.  tests/test_bolt_corpus
 * replays the corpus through this same function in `make check`. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bolt.h"
#include "boltwalk.h"

/* Enough to reach every bucket of any sane file, small enough to stay fast. */
#define MAX_BUCKETS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bucket_list {
	dm_bolt_bucket *b[MAX_BUCKETS];
	size_t n;
};

static int collect(void *ctx, int depth, const dm_bolt_kv *kv, dm_bolt_bucket *sub, dm_error *err)
{
	struct bucket_list *l = ctx;

	(void)depth, (void)kv, (void)err;
	if (sub && l->n < MAX_BUCKETS)
		l->b[l->n++] = sub;
	return 0;
}

static void broken(const char *what, const dm_error *err)
{
	fprintf(stderr, "fuzz_bolt: %s: %s\n", what, err->msg);
	abort();
}

/* Reads everything; returns 0 when the checker accepted the file, 1 when
 * it rejected it, -1 when the file did not even open. */
static int read_all(const char *path)
{
	dm_error err = {0};
	dm_bolt *db = dm_bolt_open(path, DM_BOLT_RDONLY, &err);
	dm_bolt_tx *tx;
	int checked, walked = -1;

	if (!db)
		return -1;
	checked = dm_bolt_check(db, &err);
	tx = dm_bolt_begin(db, false, &err);
	if (tx)
		walked = bw_walk(dm_bolt_root(tx), 0, NULL, NULL, &err);
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
	if (checked == 0 && walked != 0)
		broken("the checker accepted a file that cannot be walked", &err);
	return checked == 0 ? 0 : 1;
}

/* Changes every bucket it can reach.  For a file the checker accepted
 * (valid), every step must succeed up to the commit, and what a commit
 * wrote must pass the checker; for others, only crashes are errors. */
static void write_all(const char *path, bool valid)
{
	static const uint8_t key[] = "\xff" "fuzz";
	static uint8_t val[300];
	struct bucket_list *l = calloc(1, sizeof *l);
	dm_error err = {0};
	dm_bolt *db = dm_bolt_open(path, 0, &err);
	dm_bolt_tx *tx = db ? dm_bolt_begin(db, true, &err) : NULL;
	int rc = -1;

	if (!l || !tx) {
		if (valid)
			broken("a file the checker accepted does not open for writing", &err);
		goto out;
	}
	if (bw_walk(dm_bolt_root(tx), 0, collect, l, &err) != 0) {
		if (valid)
			broken("walk in a write transaction", &err);
		goto out;
	}
	for (size_t i = 0; i < l->n; i++) {
		dm_bolt_cursor *c = dm_bolt_cursor_open(l->b[i], &err);
		dm_bolt_kv kv;
		int r = c ? dm_bolt_cursor_first(c, &kv, &err) : -1;

		dm_bolt_cursor_close(c);
		if (r < 0) {
			if (valid)
				broken("cursor in a write transaction", &err);
			goto out;
		}
		if (r == 1 && !kv.is_bucket && dm_bolt_del(l->b[i], kv.key, kv.klen, &err) < 0)
			goto out;
		if (dm_bolt_put(l->b[i], key, sizeof key - 1, val, sizeof val, &err) < 0)
			goto out;
	}
	if (!dm_bolt_bucket_create_if_missing(dm_bolt_root(tx), key, sizeof key - 1, &err))
		goto out;
	rc = dm_bolt_commit(tx, &err);
	tx = NULL;
	if (valid && rc == 0 && dm_bolt_check(db, &err) < 0)
		broken("the checker rejects what a commit wrote", &err);
out:
	/* Refusing a change is allowed (limits, damage found late); corrupting is not. */
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
	free(l);
	if (valid && rc == 0 && read_all(path) != 0)
		broken("a committed file fails the checker after reopening", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];

	if (fd < 0) {
		fd = memfd_create("fuzz_bolt", 0);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_bolt: memfd");
		abort();
	}
	switch (read_all(path)) {
	case 0:
		write_all(path, true);
		break;
	case 1:
		write_all(path, false);
		break;
	}
	return 0;
}
