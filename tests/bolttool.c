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
#include <stdbool.h>
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

/* get and has: BUCKET... KEY. */
static int lookup(dm_bolt_tx *tx, char **a, int n, bool print, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, a, n - 1, 0, err);
	const char *key = a[n - 1];
	const void *val;
	size_t vlen;
	int r;

	if (!b || (r = dm_bolt_get(b, key, strlen(key), &val, &vlen, err)) < 0)
		return -1;
	if (r == 0 && (print || !dm_bolt_bucket_get(b, key, strlen(key), err)))
		return dm_err_set(err, ENOENT, "%s: no such %s", key, print ? "value" : "key or bucket");
	if (print) {
		bw_print_bytes(stdout, val, vlen);
		putchar('\n');
	}
	return 0;
}

static int cmd_get(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	return lookup(tx, a, n, true, err);
}

static int cmd_has(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	return lookup(tx, a, n, false, err);
}

static int cmd_dump(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	(void)a, (void)n;
	return bw_dump(tx, stdout, err);
}

static int cmd_walk(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	(void)a, (void)n;
	return bw_walk(dm_bolt_root(tx), 0, NULL, NULL, err);
}

static int cmd_seq(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, a, n, 0, err);

	if (!b)
		return -1;
	printf("%" PRIu64 "\n", dm_bolt_sequence(b));
	return 0;
}

static int cmd_mkbucket(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	return walk_path(tx, a, n, 1, err) ? 0 : -1;
}

static int cmd_setseq(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, a, n - 1, 1, err);

	return b ? dm_bolt_set_sequence(b, strtoull(a[n - 1], NULL, 0), err) : -1;
}

static int cmd_put(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, a, n - 2, 1, err);
	size_t vlen;
	uint8_t *v;
	int rc;

	if (!b)
		return -1;
	v = parse_value(a[n - 1], &vlen);
	if (!v)
		return dm_err_set(err, EINVAL, "put: bad value %s", a[n - 1]);
	rc = dm_bolt_put(b, a[n - 2], strlen(a[n - 2]), v, vlen, err);
	free(v);
	return rc;
}

static int cmd_del(dm_bolt_tx *tx, char **a, int n, dm_error *err)
{
	dm_bolt_bucket *b = walk_path(tx, a, n - 1, 0, err);
	const char *key = a[n - 1];
	dm_error absent;

	if (!b || lookup(tx, a, n, false, err) < 0)
		return -1;
	if (dm_bolt_bucket_get(b, key, strlen(key), &absent))  /* not a bucket: a value */
		return dm_bolt_bucket_delete(b, key, strlen(key), err);
	return dm_bolt_del(b, key, strlen(key), err);
}

static int db_check(dm_bolt *db, char **a, int n, dm_error *err)
{
	(void)a, (void)n;
	return dm_bolt_check(db, err);
}

static int db_gen(dm_bolt *db, char **a, int n, dm_error *err)
{
	(void)n;
	return gen(db, strtoull(a[0], NULL, 0), atoi(a[2]), err);
}

static const struct command {
	const char *name, *args;
	int min_args; /* after FILE */
	bool writes;
	int (*on_db)(dm_bolt *db, char **a, int n, dm_error *err);    /* first, if set */
	int (*on_tx)(dm_bolt_tx *tx, char **a, int n, dm_error *err); /* then in one tx */
} commands[] = {
	{ "dump", "", 0, false, NULL, cmd_dump },
	{ "check", "", 0, false, db_check, cmd_walk },
	{ "get", "BUCKET... KEY", 2, false, NULL, cmd_get },
	{ "has", "BUCKET... KEY", 2, false, NULL, cmd_has },
	{ "seq", "BUCKET...", 1, false, NULL, cmd_seq },
	{ "put", "BUCKET... KEY VALUE", 3, true, NULL, cmd_put },
	{ "mkbucket", "BUCKET...", 1, true, NULL, cmd_mkbucket },
	{ "setseq", "BUCKET... N", 2, true, NULL, cmd_setseq },
	{ "del", "BUCKET... KEY", 2, true, NULL, cmd_del },
	{ "gen", "SEED PAGESIZE COMMITS", 3, true, db_gen, NULL },
};

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	dm_error err = {0};
	dm_bolt_options opt = {0};
	dm_bolt_tx *tx;
	dm_bolt *db;
	int rc = 0;

	for (size_t i = 0; argc >= 3 && i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name))
			c = &commands[i];
	if (!c || argc - 3 < c->min_args) {
		for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
			fprintf(stderr, "%s bolttool %s FILE %s\n", i ? "      " : "usage:",
				commands[i].name, commands[i].args);
		return EXIT_USAGE;
	}
	if (c->on_db == db_gen)
		opt.page_size = (uint32_t)strtoul(argv[4], NULL, 0);
	db = dm_bolt_open_opts(argv[2], c->writes ? DM_BOLT_CREATE : DM_BOLT_RDONLY, &opt, &err);
	if (!db)
		return fail(&err);
	if (c->on_db)
		rc = c->on_db(db, argv + 3, argc - 3, &err);
	if (rc == 0 && c->on_tx) {
		tx = dm_bolt_begin(db, c->writes, &err);
		if (!tx || c->on_tx(tx, argv + 3, argc - 3, &err) < 0) {
			dm_bolt_rollback(tx);
			rc = -1;
		} else {
			rc = dm_bolt_commit(tx, &err);
		}
	}
	dm_bolt_close(db);
	return rc < 0 ? fail(&err) : 0;
}
