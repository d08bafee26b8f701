/* bench_bolt: what one small commit costs as a bolt file grows (issue 3 asks
 * for a cost that follows the change, not the file size).  Builds a ~1 MB and
 * a ~50 MB database of random 16-byte keys with 100-byte values, then commits
 * one new key into each a few times and prints, per commit, the pages lib/bolt
 * says it wrote and, measured independently by the kernel, the bytes and
 * write calls of the process (/proc/self/io wchar and syscw).  Not a test: it
 * asserts nothing about time; `make bench` runs it.
 *   bench_bolt [DIR]        both sizes, files in DIR (default $TMPDIR or /tmp)
 *   bench_bolt fill FILE MB builds FILE up to MB megabytes
 *   bench_bolt one FILE     commits one key (run it under strace -c) */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bolt.h"

#define BATCH 20000
#define SAMPLES 5

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int die(const char *what, const dm_error *err)
{
	fprintf(stderr, "bench_bolt: %s: %s\n", what, err->msg);
	exit(1);
}

/* Puts one random key into one of four buckets. */
static void put_random(dm_bolt_tx *tx, uint64_t *rng)
{
	static const char *const names[] = { "b0", "b1", "b2", "b3" };
	uint8_t val[100];
	char key[17];
	dm_error err = {0};
	uint64_t r = splitmix(rng);
	dm_bolt_bucket *b =
		dm_bolt_bucket_create_if_missing(dm_bolt_root(tx), names[r % 4], 2, &err);

	snprintf(key, sizeof key, "%016" PRIx64, r);
	memset(val, (int)(r >> 56), sizeof val);
	if (!b || dm_bolt_put(b, key, 16, val, sizeof val, &err) < 0)
		die("put", &err);
}

static void fill(const char *path, uint64_t bytes)
{
	dm_error err = {0};
	dm_bolt *db;
	dm_bolt_stats st;
	uint64_t rng = bytes;

	unlink(path);
	db = dm_bolt_open(path, DM_BOLT_CREATE, &err);
	if (!db)
		die(path, &err);
	do {
		dm_bolt_tx *tx = dm_bolt_begin(db, true, &err);

		if (!tx)
			die("begin", &err);
		for (int i = 0; i < (bytes > (8u << 20) ? BATCH : BATCH / 100); i++)
			put_random(tx, &rng);
		if (dm_bolt_commit(tx, &err) < 0)
			die("commit", &err);
		dm_bolt_stats_get(db, &st);
	} while (st.high_water * st.page_size < bytes);
	dm_bolt_close(db);
}

static void proc_io(uint64_t *wchar, uint64_t *syscw)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];

	*wchar = *syscw = 0;
	while (f && fgets(line, sizeof line, f)) {
		sscanf(line, "wchar: %" SCNu64, wchar);
		sscanf(line, "syscw: %" SCNu64, syscw);
	}
	if (f)
		fclose(f);
}

/* Commits one key; fills st with lib/bolt's figures and returns the kernel's. */
static void one_commit(dm_bolt *db, uint64_t *rng, dm_bolt_stats *st, uint64_t *bytes,
		       uint64_t *calls)
{
	dm_error err = {0};
	uint64_t w0, c0, w1, c1;
	dm_bolt_tx *tx;

	proc_io(&w0, &c0);
	tx = dm_bolt_begin(db, true, &err);
	if (!tx)
		die("begin", &err);
	put_random(tx, rng);
	if (dm_bolt_commit(tx, &err) < 0)
		die("commit", &err);
	proc_io(&w1, &c1);
	dm_bolt_stats_get(db, st);
	*bytes = w1 - w0;
	*calls = c1 - c0;
}

static void measure(const char *path, const char *label)
{
	dm_error err = {0};
	dm_bolt *db = dm_bolt_open(path, 0, &err);
	dm_bolt_stats st;
	uint64_t rng = 42, bytes, calls, sum = 0;

	if (!db)
		die(path, &err);
	dm_bolt_stats_get(db, &st);
	printf("%s: %.1f MB file, %" PRIu64 " pages of %u bytes in use, %" PRIu64 " of them free\n",
	       label, st.file_size / 1e6, st.high_water, st.page_size, st.free_pages);
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t fl;

		one_commit(db, &rng, &st, &bytes, &calls);
		sum += st.commit_pages;
		/* bbolt's format rewrites the whole freelist in every commit, so
		 * that part follows the number of free pages, the rest the tree depth. */
		fl = (16 + 8 * (st.free_pages + (st.free_pages >= 0xFFFF))) / st.page_size + 1;
		printf("  commit of 1 key: %" PRIu64 " pages = %" PRIu64 " freelist + %" PRIu64
		       " tree and meta (%" PRIu64 " bytes in %" PRIu64 " writes, %" PRIu64
		       " syncs) by lib/bolt's count; kernel: %" PRIu64 " bytes in %" PRIu64
		       " write calls\n",
		       st.commit_pages, fl, st.commit_pages - fl, st.commit_bytes, st.commit_writes,
		       st.commit_syncs, bytes, calls);
	}
	printf("  mean: %.1f pages per one-key commit\n", (double)sum / SAMPLES);
	dm_bolt_close(db);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char small[4096], large[4096];

	if (argc == 4 && !strcmp(argv[1], "fill")) {
		fill(argv[2], strtoull(argv[3], NULL, 0) << 20);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "one")) {
		measure(argv[2], argv[2]);
		return 0;
	}
	if (argc > 2) {
		fputs("usage: bench_bolt [DIR] | fill FILE MB | one FILE\n", stderr);
		return 2;
	}
	if (argc == 2)
		dir = argv[1];
	snprintf(small, sizeof small, "%s/bench-bolt-1mb.db", dir);
	snprintf(large, sizeof large, "%s/bench-bolt-50mb.db", dir);
	fill(small, 1u << 20);
	fill(large, 50u << 20);
	measure(small, "1 MB database");
	measure(large, "50 MB database");
	unlink(small);
	unlink(large);
	return 0;
}
