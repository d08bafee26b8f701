/* bolt-crash: crash safety of lib/bolt's commits.  A child process keeps
 * committing numbered transactions to FILE and is stopped at random points;
 * after each stop the file must open, pass dm_bolt_check and hold exactly the
 * state after the last commit the child finished, or the one it was in the
 * middle of.  The content after commit n is a pure function of (SEED, n): a
 * model here replays it, and the file itself records n under state/n.
 *
 *   bolt-crash kill FILE ITERATIONS SEED MAXDELAY_US
 *     SIGKILL after a random delay: what reached the page cache survives, so
 *     this catches writes that overwrite live pages before the meta switch.
 *   bolt-crash powercut FILE ITERATIONS SEED
 *     A power cut simulated at a random write or sync of a commit: pwrite,
 *     pwritev, fdatasync and fsync are wrapped (ld --wrap), and the cut keeps a
 *     random subset of the 512-byte sectors written since the last sync and
 *     undoes the others, as a disk may after power loss.
 *
 * Prints what it saw (how many stops hit a commit, and how many of those
 * found the new state) and exits non-zero on the first bad file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bolt.h"
#include "boltwalk.h"

#define NTOP 4
#define NNEST 6
#define NBUCKETS (NTOP + NNEST)
#define NKEYS 300
#define ABSENT UINT32_MAX
#define MAXVAL 16384
#define EXIT_CUT 42
#define SECTOR 512
#define NAME_MAX_LEN 16

/* ---- the model: the content after commit n, recomputed from the seed ---- */

struct model {
	uint64_t n; /* last transaction applied */
	bool nested[NNEST];
	uint32_t len[NBUCKETS][NKEYS];
	uint32_t gen[NBUCKETS][NKEYS];
};

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void fill(uint8_t *buf, uint32_t gen, uint32_t len)
{
	uint64_t s = gen;

	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t r = splitmix(&s);

		memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
	}
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof *m);
	for (int b = 0; b < NBUCKETS; b++)
		for (int k = 0; k < NKEYS; k++)
			m->len[b][k] = ABSENT;
}

static void key_name(char *buf, int k) { snprintf(buf, NAME_MAX_LEN, "k%04d", k); }
static void top_name(char *buf, int b) { snprintf(buf, NAME_MAX_LEN, "t%d", b); }
static void nest_name(char *buf, int j) { snprintf(buf, NAME_MAX_LEN, "n%d", j); }

/* Bucket bi of the tx: t0..t3, or n0..n5 inside t0. */
static dm_bolt_bucket *db_bucket(dm_bolt_tx *tx, int bi, dm_error *err)
{
	char name[NAME_MAX_LEN];
	dm_bolt_bucket *b;

	top_name(name, bi < NTOP ? bi : 0);
	b = dm_bolt_bucket_get(dm_bolt_root(tx), name, strlen(name), err);
	if (b && bi >= NTOP) {
		nest_name(name, bi - NTOP);
		b = dm_bolt_bucket_get(b, name, strlen(name), err);
	}
	return b;
}

/* Applies transaction n to m and, when tx is not NULL, to the file. */
static int apply(struct model *m, uint64_t seed, uint64_t n, dm_bolt_tx *tx, dm_error *err)
{
	uint64_t s = seed ^ (n * 0xD6E8FEB86659FD93ull), r = splitmix(&s), seq;
	int nops = r % 10 == 0 ? 150 + (int)(r >> 8) % 200 : 1 + (int)(r >> 8) % 30;
	static uint8_t val[MAXVAL];
	char name[NAME_MAX_LEN];
	uint8_t nbuf[8];

	static const char *const tops[] = { "state", "t0", "t1", "t2", "t3" };
	dm_bolt_bucket *b = NULL;

	for (size_t i = 0; n == 1 && tx && i < sizeof tops / sizeof *tops; i++)
		if (!dm_bolt_bucket_create(dm_bolt_root(tx), tops[i], strlen(tops[i]), err))
			return -1;
	for (int o = 0; o < nops; o++) {
		int bi, k, act;

		r = splitmix(&s);
		bi = (int)(r % NBUCKETS);
		k = (int)((r >> 8) % NKEYS);
		act = (int)((r >> 20) % 20);
		if (bi >= NTOP && !m->nested[bi - NTOP]) {
			m->nested[bi - NTOP] = true;
			for (int i = 0; i < NKEYS; i++)
				m->len[bi][i] = ABSENT;
			nest_name(name, bi - NTOP);
			if (tx && !((b = db_bucket(tx, 0, err)) &&
				    dm_bolt_bucket_create(b, name, strlen(name), err)))
				return -1;
		} else if (bi >= NTOP && act == 19) {
			m->nested[bi - NTOP] = false;
			nest_name(name, bi - NTOP);
			if (tx && !((b = db_bucket(tx, 0, err)) &&
				    dm_bolt_bucket_delete(b, name, strlen(name), err) == 0))
				return -1;
			continue;
		}
		if (tx && !(b = db_bucket(tx, bi, err)))
			return -1;
		key_name(name, k);
		if (act < 12) {
			uint32_t len = (r >> 32) % 100 < 4 ? 1000 + (uint32_t)(r >> 40) % (MAXVAL - 1000)
							   : (uint32_t)(r >> 40) % 90;
			uint32_t gen = (uint32_t)(r >> 48) ^ (uint32_t)n;

			m->len[bi][k] = len;
			m->gen[bi][k] = gen;
			if (tx) {
				fill(val, gen, len);
				if (dm_bolt_put(b, name, strlen(name), val, len, err) < 0)
					return -1;
			}
		} else {
			m->len[bi][k] = ABSENT;
			if (tx && dm_bolt_del(b, name, strlen(name), err) < 0)
				return -1;
		}
	}
	m->n = n;
	if (!tx)
		return 0;
	/* t1's sequence advances once per commit, so it must always equal n. */
	if (!(b = db_bucket(tx, 1, err)) || dm_bolt_next_sequence(b, &seq, err) < 0)
		return -1;
	if (seq != n)
		return dm_err_set(err, EPROTO, "NextSequence gave %" PRIu64 " in commit %" PRIu64, seq, n);
	for (int i = 0; i < 8; i++)
		nbuf[i] = (uint8_t)(n >> (8 * i));
	return dm_bolt_put(dm_bolt_bucket_get(dm_bolt_root(tx), "state", 5, err), "n", 1, nbuf, 8,
			   err);
}

static void advance(struct model *m, uint64_t seed, uint64_t n)
{
	while (m->n < n)
		apply(m, seed, m->n + 1, NULL, NULL);
}

/* ---- comparing a file with the model ---- */

static int expect_key(dm_bolt_cursor *c, int first, const char *key, const uint8_t *val,
		      size_t vlen, bool bucket, const char *where, dm_error *err)
{
	dm_bolt_kv kv;
	int r = first ? dm_bolt_cursor_first(c, &kv, err) : dm_bolt_cursor_next(c, &kv, err);

	if (r < 0)
		return -1;
	if (r == 0 || !key)
		return (r == 0) == !key ? 0
					: dm_err_set(err, EPROTO, "%s: %s", where,
						     key ? "ends early" : "has extra keys");
	if (kv.klen != strlen(key) || memcmp(kv.key, key, kv.klen) || kv.is_bucket != bucket)
		return dm_err_set(err, EPROTO, "%s: found key %.*s, expected %s%s", where,
				  (int)kv.klen, (const char *)kv.key, key, bucket ? "/" : "");
	if (!bucket && (kv.vlen != vlen || memcmp(kv.val, val, vlen)))
		return dm_err_set(err, EPROTO, "%s/%s: wrong value (%zu bytes, expected %zu)", where,
				  key, kv.vlen, vlen);
	return 0;
}

static int compare_bucket(dm_bolt_tx *tx, const struct model *m, int bi, dm_error *err)
{
	static uint8_t val[MAXVAL];
	char where[32], key[NAME_MAX_LEN];
	dm_bolt_bucket *b = db_bucket(tx, bi, err);
	dm_bolt_cursor *c = b ? dm_bolt_cursor_open(b, err) : NULL;
	int first = 1, rc = 0;

	if (!c)
		return -1;
	if (bi < NTOP)
		top_name(where, bi);
	else
		snprintf(where, sizeof where, "t0/n%d", bi - NTOP);
	for (int k = 0; rc == 0 && k < NKEYS; k++) {
		if (m->len[bi][k] == ABSENT)
			continue;
		key_name(key, k);
		fill(val, m->gen[bi][k], m->len[bi][k]);
		rc = expect_key(c, first, key, val, m->len[bi][k], false, where, err);
		first = 0;
	}
	for (int j = 0; rc == 0 && bi == 0 && j < NNEST; j++) {
		if (!m->nested[j])
			continue;
		nest_name(key, j);
		rc = expect_key(c, first, key, NULL, 0, true, where, err);
		first = 0;
	}
	if (rc == 0)
		rc = expect_key(c, first, NULL, NULL, 0, false, where, err);
	dm_bolt_cursor_close(c);
	return rc;
}

/* Opens FILE read-only, checks it and reads the commit number it holds. */
static int verify(const char *path, struct model *m, uint64_t seed, uint64_t lo, uint64_t hi,
		  uint64_t *found, dm_error *err)
{
	dm_bolt *db = dm_bolt_open(path, DM_BOLT_RDONLY, err);
	dm_bolt_tx *tx = NULL;
	dm_bolt_bucket *st;
	dm_error absent;
	const void *v;
	size_t vlen;
	uint64_t n = 0;
	int rc = -1;

	if (!db || dm_bolt_check(db, err) < 0 || !(tx = dm_bolt_begin(db, false, err)))
		goto out;
	if (bw_walk(dm_bolt_root(tx), 0, NULL, NULL, err) < 0)
		goto out;
	st = dm_bolt_bucket_get(dm_bolt_root(tx), "state", 5, &absent);  /* none yet: n stays 0 */
	if (st && dm_bolt_get(st, "n", 1, &v, &vlen, err) == 1 && vlen == 8)
		for (int i = 0; i < 8; i++)
			n |= (uint64_t)((const uint8_t *)v)[i] << (8 * i);
	*found = n;
	if (n < lo || n > hi || n < m->n) {
		dm_err_set(err, EPROTO, "holds commit %" PRIu64 ", expected %" PRIu64 "..%" PRIu64, n,
			   lo, hi);
		goto out;
	}
	advance(m, seed, n);
	if (n == 0) {
		dm_bolt_cursor *c = dm_bolt_cursor_open(dm_bolt_root(tx), err);
		rc = c ? expect_key(c, 1, NULL, NULL, 0, false, "top level", err) : -1;
		dm_bolt_cursor_close(c);
		goto out;
	}
	if ((st = db_bucket(tx, 1, err)) == NULL)
		goto out;
	if (dm_bolt_sequence(st) != n) {
		dm_err_set(err, EPROTO, "t1's sequence is %" PRIu64 ", expected %" PRIu64,
			   dm_bolt_sequence(st), n);
		goto out;
	}
	for (int bi = 0; bi < NBUCKETS; bi++)
		if ((bi < NTOP || m->nested[bi - NTOP]) && compare_bucket(tx, m, bi, err) < 0)
			goto out;
	rc = 0;
out:
	dm_bolt_rollback(tx);
	dm_bolt_close(db);
	return rc;
}

/* ---- the power-cut shim: ld --wrap of the calls lib/bolt makes ---- */

struct pending_write {
	off_t off;
	size_t len;
	uint8_t *old; /* the bytes before this write (zeros past the old end) */
};

static struct {
	bool armed;
	dev_t dev;
	ino_t ino;
	long events, cut_at;
	uint64_t rng;
	struct pending_write *w;
	size_t nw;
} shim;

ssize_t __real_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __real_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off);
int __real_fdatasync(int fd);
int __real_fsync(int fd);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off);
int __wrap_fdatasync(int fd);
int __wrap_fsync(int fd);

static bool tracked(int fd)
{
	struct stat st;

	return shim.armed && fstat(fd, &st) == 0 && st.st_dev == shim.dev && st.st_ino == shim.ino;
}

/* The power goes: every sector written since the last sync independently
 * keeps its new content or gets the old one back, newest write first, so
 * that a sector written twice ends as one of its versions. */
static void power_cut(int fd)
{
	for (size_t i = shim.nw; i-- > 0;) {
		struct pending_write *w = &shim.w[i];

		for (size_t s = 0; s < w->len; s += SECTOR) {
			size_t n = w->len - s < SECTOR ? w->len - s : SECTOR;

			if (splitmix(&shim.rng) & 1)
				__real_pwrite(fd, w->old + s, n, w->off + (off_t)s);
		}
	}
	_exit(EXIT_CUT);
}

/* Counts the event and cuts the power when its turn has come. */
static void event(int fd)
{
	if (++shim.events == shim.cut_at)
		power_cut(fd);
}

static void remember(int fd, off_t off, size_t len)
{
	struct pending_write *w;
	ssize_t got;

	shim.w = realloc(shim.w, (shim.nw + 1) * sizeof *shim.w);
	if (!shim.w)
		abort();
	w = &shim.w[shim.nw++];
	w->off = off;
	w->len = len;
	w->old = calloc(1, len ? len : 1);
	if (!w->old)
		abort();
	got = pread(fd, w->old, len, off);
	if (got < 0)
		abort();
}

static void forget_pending(void)
{
	for (size_t i = 0; i < shim.nw; i++)
		free(shim.w[i].old);
	shim.nw = 0;
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (tracked(fd)) {
		event(fd);
		remember(fd, off, len);
	}
	return __real_pwrite(fd, buf, len, off);
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	if (tracked(fd)) {
		size_t len = 0;

		event(fd);
		for (int i = 0; i < iovcnt; i++)
			len += iov[i].iov_len;
		remember(fd, off, len);
	}
	return __real_pwritev(fd, iov, iovcnt, off);
}

/* A sync that returns makes everything written before it durable. */
static int sync_with(int fd, int (*real)(int))
{
	int rc;

	if (tracked(fd))
		event(fd);
	rc = real(fd);
	if (rc == 0 && tracked(fd))
		forget_pending();
	return rc;
}

int __wrap_fdatasync(int fd)
{
	return sync_with(fd, __real_fdatasync);
}

int __wrap_fsync(int fd)
{
	return sync_with(fd, __real_fsync);
}

/* ---- the writer (child) and the driver (parent) ---- */

/* Messages on the pipe: 2n = "commit n is durable", 2n+1 = "committing n". */
static void say(int fd, uint64_t msg)
{
	if (write(fd, &msg, sizeof msg) != (ssize_t)sizeof msg)
		_exit(3);
}

/* A message tagged so carries the number of shim events instead of a state. */
#define EVENTS_TAG (1ull << 63)

/* Commits transactions after the file's current one, up to `count` of them
 * (0 = until killed).  cut_at > 0 cuts the power at that shim event; < 0 only
 * counts the events and reports the count after each commit. */
static int writer(const char *path, uint64_t seed, int out, unsigned count, long cut_at,
		  uint64_t cut_rng)
{
	dm_error err = {0};
	dm_bolt *db = dm_bolt_open(path, 0, &err);
	dm_bolt_tx *tx;
	static struct model m;
	uint64_t n = 0;
	dm_bolt_bucket *st;
	dm_error absent;
	const void *v;
	size_t vlen;

	if (!db)
		goto fail;
	if (!(tx = dm_bolt_begin(db, false, &err)))
		goto fail;
	st = dm_bolt_bucket_get(dm_bolt_root(tx), "state", 5, &absent);  /* none yet: n stays 0 */
	if (st && dm_bolt_get(st, "n", 1, &v, &vlen, &err) == 1 && vlen == 8)
		for (int i = 0; i < 8; i++)
			n |= (uint64_t)((const uint8_t *)v)[i] << (8 * i);
	dm_bolt_rollback(tx);
	model_init(&m);
	advance(&m, seed, n);
	say(out, 2 * n);
	if (cut_at) {
		struct stat stb;

		if (stat(path, &stb) < 0)
			goto fail;
		shim.dev = stb.st_dev, shim.ino = stb.st_ino;
		shim.cut_at = cut_at;
		shim.rng = cut_rng;
		shim.armed = true;
	}
	for (unsigned i = 0; count == 0 || i < count; i++) {
		n++;
		if (!(tx = dm_bolt_begin(db, true, &err)))
			goto fail;
		if (apply(&m, seed, n, tx, &err) < 0) {
			dm_bolt_rollback(tx);
			goto fail;
		}
		say(out, 2 * n + 1);
		if (dm_bolt_commit(tx, &err) < 0)
			goto fail;
		say(out, 2 * n);
		if (cut_at < 0)
			say(out, EVENTS_TAG | (uint64_t)shim.events);
	}
	dm_bolt_close(db);
	return 0;
fail:
	fprintf(stderr, "bolt-crash: writer: %s\n", err.msg);
	return 3;
}

/* How a writer ended: its last state message and, when it counted, its
 * events before and after its last commit. */
struct outcome {
	uint64_t last;
	long events_before, events;
	int status;
};

/* Runs a writer in a child; with a delay (µs, >= 0) kills it that long after
 * it is ready.  Returns -1 if it did not end the way it should have. */
static int run_writer(const char *path, uint64_t seed, unsigned count, long cut_at,
		      uint64_t cut_rng, long delay, struct outcome *o)
{
	int p[2];
	pid_t pid;
	uint64_t msg;
	bool ready = false, ok;

	if (pipe(p) < 0)
		return perror("pipe"), -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return perror("fork"), -1;
	if (pid == 0) {
		close(p[0]);
		_exit(writer(path, seed, p[1], count, cut_at, cut_rng));
	}
	close(p[1]);
	memset(o, 0, sizeof *o);
	while (read(p[0], &msg, sizeof msg) == (ssize_t)sizeof msg) {
		if (msg & EVENTS_TAG) {
			o->events_before = o->events;
			o->events = (long)(msg & ~EVENTS_TAG);
			continue;
		}
		o->last = msg;
		/* The first message says the writer is ready; the delay starts there. */
		if (!ready && delay >= 0) {
			struct timespec ts = { delay / 1000000, delay % 1000000 * 1000 };

			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		ready = true;
	}
	close(p[0]);
	if (waitpid(pid, &o->status, 0) < 0)
		return perror("waitpid"), -1;
	ok = delay >= 0 ? WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGKILL
			: WIFEXITED(o->status) &&
				  WEXITSTATUS(o->status) == (cut_at > 0 ? EXIT_CUT : 0);
	if (!ready || !ok) {
		fprintf(stderr, "bolt-crash: writer ended with status 0x%x, not as planned\n",
			o->status);
		return -1;
	}
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	static uint8_t buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n = 0;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		n = -1;
	if (in < 0 || out < 0 || n < 0) {
		perror(to);
		return -1;
	}
	return 0;
}

struct tally {
	unsigned stops, in_commit, new_state;
	long events;
};

/* Checks the file after a stop whose last message was o->last. */
static int judge(const char *path, uint64_t seed, const struct outcome *o, struct model *m,
		 struct tally *t)
{
	uint64_t lo = o->last / 2, hi = o->last / 2, found;
	dm_error err = {0};

	t->stops++;
	if (o->last & 1) {
		lo--;
		t->in_commit++;
	}
	if (verify(path, m, seed, lo, hi, &found, &err) < 0) {
		fprintf(stderr, "bolt-crash: %s after stop %u (last message: %s %" PRIu64 "): %s\n",
			path, t->stops, o->last & 1 ? "committing" : "committed", o->last / 2, err.msg);
		return -1;
	}
	if ((o->last & 1) && found == hi)
		t->new_state++;
	return 0;
}

/* One to three commits, the power failing in the last one.  They are first
 * run on a copy to count the writes and syncs of that commit (it is
 * deterministic); then the cut falls on one of them, half the time on one of
 * the last three (the meta page and the syncs around it), where the old/new
 * decision happens. */
static int round_powercut(const char *path, const char *copy, uint64_t seed, uint64_t *rng,
			  struct model *m, struct tally *t)
{
	struct outcome o;
	uint64_t r = splitmix(rng), cut_rng = splitmix(rng);
	unsigned count = 1 + (unsigned)(r % 3);
	long span, cut_at;

	if (copy_file(path, copy) < 0 || run_writer(path, seed, count, -1, 0, -1, &o) < 0 ||
	    copy_file(copy, path) < 0)
		return -1;
	span = o.events - o.events_before;
	if (span < 1) {
		fprintf(stderr, "bolt-crash: a commit made no writes the shim saw\n");
		return -1;
	}
	t->events += span;
	r >>= 8;
	cut_at = o.events_before + (r % 2 ? 1 + (long)((r >> 1) % (uint64_t)span)
					  : span - (long)((r >> 1) % 3));
	if (cut_at <= o.events_before)
		cut_at = o.events_before + 1;
	if (run_writer(path, seed, count, cut_at, cut_rng, -1, &o) < 0)
		return -1;
	return judge(path, seed, &o, m, t);
}

int main(int argc, char **argv)
{
	static struct model m;
	struct tally t = {0};
	dm_error err = {0};
	bool powercut;
	long iterations, maxdelay = 0;
	uint64_t seed, rng;
	char copy[4096];
	dm_bolt *db;

	if (argc < 5 || (strcmp(argv[1], "kill") && strcmp(argv[1], "powercut")) ||
	    (!strcmp(argv[1], "kill") && argc != 6)) {
		fputs("usage: bolt-crash kill FILE ITERATIONS SEED MAXDELAY_US\n"
		      "       bolt-crash powercut FILE ITERATIONS SEED\n",
		      stderr);
		return 2;
	}
	powercut = !strcmp(argv[1], "powercut");
	iterations = atol(argv[3]);
	seed = rng = strtoull(argv[4], NULL, 0);
	if (!powercut)
		maxdelay = atol(argv[5]);
	snprintf(copy, sizeof copy, "%s.before", argv[2]);
	/* The file is created up front: bbolt's initialisation is not crash-safe either. */
	unlink(argv[2]);
	db = dm_bolt_open(argv[2], DM_BOLT_CREATE, &err);
	if (!db) {
		fprintf(stderr, "bolt-crash: %s\n", err.msg);
		return 1;
	}
	dm_bolt_close(db);
	model_init(&m);
	for (long i = 0; i < iterations; i++) {
		struct outcome o;
		long delay = (long)(splitmix(&rng) % (uint64_t)(maxdelay + 1));

		if (powercut ? round_powercut(argv[2], copy, seed, &rng, &m, &t) < 0
			     : run_writer(argv[2], seed, 0, 0, 0, delay, &o) < 0 ||
				       judge(argv[2], seed, &o, &m, &t) < 0)
			return 1;
	}
	unlink(copy);
	printf("bolt-crash %s: %u stops, %u inside a commit (%u of them found the new state)",
	       argv[1], t.stops, t.in_commit, t.new_state);
	if (powercut)
		printf(", %.1f writes and syncs per commit", (double)t.events / (double)t.stops);
	printf("; file at commit %" PRIu64 "\n", m.n);
	return 0;
}
