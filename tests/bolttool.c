/* bolttool: a command-line front end to lib/bolt for the shell tests.  Each
 * command is one transaction on FILE; BUCKET... is the path of buckets from
 * the top level down.  Values given as hex:0a0b are bytes, others literal.
 *   bolttool dump FILE                        like `boltcheck -dump` (bbolt)
 *   bolttool check FILE                       dm_bolt_check, then a full walk
 *   bolttool get FILE BUCKET... KEY           prints the value as dump does
 *   bolttool has FILE BUCKET... KEY           exit 0 if KEY (value or bucket) exists
 *   bolttool seq FILE BUCKET...               prints the bucket's sequence
 *   bolttool put FILE BUCKET... KEY VALUE     creates missing buckets
 *   bolttool mkbucket FILE BUCKET...          creates missing buckets
 *   bolttool setseq FILE BUCKET... N          creates missing buckets
 *   bolttool del FILE BUCKET... KEY           deletes a value or a bucket; must exist
 *   bolttool gen FILE SEED PAGESIZE COMMITS   random buckets, keys, deletes, big values
 * Exit status: 0 done, 1 key or bucket missing, 2 usage, 3 error. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt.h"
#include "boltwalk.h"

#define EXIT_MISSING 1
#define EXIT_USAGE 2
#define EXIT_ERR 3

static int fail(const dm_error *err)
{
	fprintf(stderr, "bolttool: %s\n", err->msg);
	return err->code == ENOENT ? EXIT_MISSING : EXIT_ERR;
}

static int usage(void)
{
	fputs("usage: bolttool dump|check|get|has|seq|put|mkbucket|setseq|del|gen FILE ARGS...\n",
	      stderr);
	return EXIT_USAGE;
}

static uint8_t *parse_value(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *out;

	if (strncmp(s, "hex:", 4) != 0) {
		*len = n;
		return (uint8_t *)strdup(s);
	}
	s += 4, n -= 4;
	if (n % 2)
		return NULL;
	out = malloc(n / 2 + 1);
	for (size_t i = 0; out && i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return out;
}

/* Follows path[0..n) from the top level; creates missing buckets when asked. */
static dm_bolt_bucket *walk_path(dm_bolt_tx *tx, char **path, int n, int create, dm_error *err)
{
	dm_bolt_bucket *b = dm_bolt_root(tx);

	for (int i = 0; b && i < n; i++)
		b = create ? dm_bolt_bucket_create_if_missing(b, path[i], strlen(path[i]), err)
			   : dm_bolt_bucket_get(b, path[i], strlen(path[i]), err);
	return b;
}

/* A small deterministic generator, so that files can be made again from a seed. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

/* Many commits of random changes: inline and paged buckets, nested buckets,
 * values up to a few pages (overflow), deletes that merge pages, sequences. */
static int gen(dm_bolt *db, uint64_t seed, int commits, dm_error *err)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	static uint8_t val[20000];

	for (size_t i = 0; i < sizeof val; i++)
		val[i] = (uint8_t)(i * 7 + seed);
	for (int t = 0; t < commits; t++) {
		dm_bolt_tx *tx = dm_bolt_begin(db, true, err);
		int ops = 1 + (int)(rnd(&s) % 200);

		if (!tx)
			return -1;
		for (int o = 0; o < ops; o++) {
			char top[16], sub[16], key[32];
			dm_bolt_bucket *b;
			uint64_t r = rnd(&s), seq;
			size_t vlen = r % 100 < 3 ? r % sizeof val : r % 60;
			int rc = 0;

			snprintf(top, sizeof top, "b%u", (unsigned)(r >> 8) % 4);
			snprintf(sub, sizeof sub, "n%u", (unsigned)(r >> 12) % 6);
			snprintf(key, sizeof key, "key-%05u", (unsigned)(r >> 16) % 3000);
			b = dm_bolt_bucket_create_if_missing(dm_bolt_root(tx), top, strlen(top), err);
			if (b && (r >> 40) % 3 == 0)
				b = dm_bolt_bucket_create_if_missing(b, sub, strlen(sub), err);
			if (!b)
				goto fail;
			switch ((r >> 48) % 16) {
			case 0: case 1: case 2: case 3:
				rc = dm_bolt_del(b, key, strlen(key), err);
				break;
			case 4:
				rc = dm_bolt_next_sequence(b, &seq, err);
				break;
			case 5:
				if ((r >> 56) % 8 == 0)
					rc = dm_bolt_bucket_delete(dm_bolt_root(tx), top, strlen(top), err);
				break;
			default:
				rc = dm_bolt_put(b, key, strlen(key), val + (r >> 20) % 100, vlen, err);
			}
			if (rc < 0)
				goto fail;
		}
		if (dm_bolt_commit(tx, err) < 0)
			return -1;
		continue;
fail:
		dm_bolt_rollback(tx);
		return -1;
	}
	return 0;
}

static int print_value(dm_bolt_tx *tx, char **path, int n, int only_test, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, path, n - 1, 0, err);
	const void *val;
	size_t vlen;
	int r;

	if (!b)
		return -1;
	r = dm_bolt_get(b, path[n - 1], strlen(path[n - 1]), &val, &vlen, err);
	if (r < 0)
		return -1;
	if (r == 0 && (!only_test || !dm_bolt_bucket_get(b, path[n - 1], strlen(path[n - 1]), err)))
		return dm_err_set(err, ENOENT, "%s: no such %s", path[n - 1],
				  only_test ? "key or bucket" : "value");
	if (!only_test) {
		bw_print_bytes(stdout, val, vlen);
		putchar('\n');
	}
	return 0;
}

static int run(dm_bolt *db, const char *cmd, char **a, int n, dm_error *err)
{
	dm_bolt_tx *tx;
	dm_bolt_bucket *b;
	uint8_t *v;
	size_t vlen;
	int rc = -1;

	if (!strcmp(cmd, "check")) {
		if (dm_bolt_check(db, err) < 0)
			return -1;
	} else if (!strcmp(cmd, "gen")) {
		return n == 3 ? gen(db, strtoull(a[0], NULL, 0), atoi(a[2]), err)
			      : dm_err_set(err, EINVAL, "gen: needs SEED PAGESIZE COMMITS");
	}
	tx = dm_bolt_begin(db, strcmp(cmd, "dump") && strcmp(cmd, "check") && strcmp(cmd, "get") &&
				       strcmp(cmd, "has") && strcmp(cmd, "seq"),
			   err);
	if (!tx)
		return -1;
	if (!strcmp(cmd, "dump")) {
		rc = bw_dump(tx, stdout, err);
	} else if (!strcmp(cmd, "check")) {
		rc = bw_walk(dm_bolt_root(tx), 0, NULL, NULL, err);
	} else if (!strcmp(cmd, "get") || !strcmp(cmd, "has")) {
		rc = n < 2 ? dm_err_set(err, EINVAL, "%s: needs BUCKET... KEY", cmd)
			   : print_value(tx, a, n, !strcmp(cmd, "has"), err);
	} else if (!strcmp(cmd, "seq")) {
		b = n < 1 ? NULL : walk_path(tx, a, n, 0, err);
		if (b)
			printf("%" PRIu64 "\n", dm_bolt_sequence(b));
		rc = b ? 0 : n < 1 ? dm_err_set(err, EINVAL, "seq: needs BUCKET...") : -1;
	} else if (!strcmp(cmd, "mkbucket")) {
		rc = walk_path(tx, a, n, 1, err) ? 0 : -1;
	} else if (!strcmp(cmd, "setseq")) {
		b = n < 2 ? NULL : walk_path(tx, a, n - 1, 1, err);
		rc = b ? dm_bolt_set_sequence(b, strtoull(a[n - 1], NULL, 0), err)
		       : n < 2 ? dm_err_set(err, EINVAL, "setseq: needs BUCKET... N") : -1;
	} else if (!strcmp(cmd, "put")) {
		b = n < 3 ? NULL : walk_path(tx, a, n - 2, 1, err);
		v = b ? parse_value(a[n - 1], &vlen) : NULL;
		if (b && !v)
			dm_err_set(err, EINVAL, "put: bad value %s", a[n - 1]);
		else if (v)
			rc = dm_bolt_put(b, a[n - 2], strlen(a[n - 2]), v, vlen, err);
		else if (n < 3)
			dm_err_set(err, EINVAL, "put: needs BUCKET... KEY VALUE");
		free(v);
	} else if (!strcmp(cmd, "del")) {
		b = n < 2 ? NULL : walk_path(tx, a, n - 1, 0, err);
		if (b && (rc = print_value(tx, a, n, 1, err)) == 0)
			rc = dm_bolt_bucket_get(b, a[n - 1], strlen(a[n - 1]), NULL)
				     ? dm_bolt_bucket_delete(b, a[n - 1], strlen(a[n - 1]), err)
				     : dm_bolt_del(b, a[n - 1], strlen(a[n - 1]), err);
		else if (n < 2)
			dm_err_set(err, EINVAL, "del: needs BUCKET... KEY");
	} else {
		dm_err_set(err, EINVAL, "%s: unknown command", cmd);
	}
	if (rc < 0) {
		dm_bolt_rollback(tx);
		return -1;
	}
	return dm_bolt_commit(tx, err);
}

int main(int argc, char **argv)
{
	dm_error err = {0};
	dm_bolt_options opt = {0};
	dm_bolt *db;
	int flags, rc;

	if (argc < 3)
		return usage();
	flags = !strcmp(argv[1], "dump") || !strcmp(argv[1], "check") || !strcmp(argv[1], "get") ||
			!strcmp(argv[1], "has") || !strcmp(argv[1], "seq")
		? DM_BOLT_RDONLY
		: DM_BOLT_CREATE;
	if (!strcmp(argv[1], "gen") && argc == 6)
		opt.page_size = (uint32_t)strtoul(argv[4], NULL, 0);
	db = dm_bolt_open_opts(argv[2], flags, &opt, &err);
	if (!db)
		return fail(&err);
	rc = run(db, argv[1], argv + 3, argc - 3, &err);
	dm_bolt_close(db);
	return rc < 0 ? fail(&err) : 0;
}
