#include "config.h"
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "identifier.h"
#include "resolve.h"

struct dm_journal {
	int fd;
	char *path, *root;
	pthread_mutex_t mu; /* blob commits run in parallel threads */
};

static const char *const KIND_NAMES[] = {"image", "blob", "snapshot"};

char *dm_journal_path(const char *root)
{
	char *p;

	return asprintf(&p, "%s/%s/%s", root, DM_JOURNAL_DIR, DM_JOURNAL_FILE) < 0 ? NULL : p;
}

/* A field: printable ASCII without spaces, not empty. */
static bool field_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0 && n <= max;
}

static int check_entry(dm_journal_kind kind, const char *ns, const char *a, const char *b, dm_error *err)
{
	if (!ns || !dm_identifier_valid(ns))
		return dm_err_set(err, EINVAL, "invalid namespace");
	switch (kind) {
	case DM_JOURNAL_IMAGE:
		if (!a || !field_ok(a, 512) || !b || !dm_digest_valid(b))
			return dm_err_set(err, EINVAL, "an image record needs a name and a sha256 digest");
		return 0;
	case DM_JOURNAL_BLOB:
		if (!a || !dm_digest_valid(a) || b)
			return dm_err_set(err, EINVAL, "a blob record needs one sha256 digest");
		return 0;
	case DM_JOURNAL_SNAPSHOT:
		if (!a || !dm_identifier_valid(a) || strchr(a, '/') || !b || !field_ok(b, 256))
			return dm_err_set(err, EINVAL, "a snapshot record needs a snapshotter and a key");
		return 0;
	}
	return dm_err_set(err, EINVAL, "unknown record kind");
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Creates or opens the file, at the first record: a run that writes nothing leaves no journal. */
static int journal_file(dm_journal *j, dm_error *err)
{
	int rfd = -1, dfd = -1, rc = -1;
	struct stat st;

	if ((rfd = open(j->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		dm_err_sys(err, "%s", j->root);
		goto out;
	}
	if (mkdirat(rfd, DM_JOURNAL_DIR, 0700) < 0 && errno != EEXIST) {
		dm_err_sys(err, "%s/%s: mkdir", j->root, DM_JOURNAL_DIR);
		goto out;
	}
	if ((dfd = dm_openat_nosym(rfd, DM_JOURNAL_DIR, O_RDONLY | O_DIRECTORY, 0)) < 0) {
		dm_err_sys(err, "%s/%s", j->root, DM_JOURNAL_DIR);
		goto out;
	}
	if ((j->fd = dm_openat_nosym(dfd, DM_JOURNAL_FILE, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0) {
		dm_err_sys(err, "%s", j->path);
		goto out;
	}
	if (fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		dm_err_set(err, EINVAL, "%s: not a regular file", j->path);
		goto out;
	}
	/* The header and the directory entries durable before the first record counts on them. */
	if (st.st_size == 0 && (write_all(j->fd, DM_JOURNAL_HEADER "\n", strlen(DM_JOURNAL_HEADER) + 1) < 0 ||
				fsync(j->fd) < 0 || fsync(dfd) < 0 || fsync(rfd) < 0)) {
		dm_err_sys(err, "%s", j->path);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	if (dfd >= 0)
		close(dfd);
	if (rfd >= 0)
		close(rfd);
	return rc;
}

dm_journal *dm_journal_open(const char *root, dm_error *err)
{
	dm_journal *j = calloc(1, sizeof *j);

	if (!j) {
		dm_err_nomem(err);
		return NULL;
	}
	j->fd = -1;
	pthread_mutex_init(&j->mu, NULL);
	if (!(j->path = dm_journal_path(root)) || !(j->root = strdup(root))) {
		dm_err_nomem(err);
		dm_journal_close(j);
		return NULL;
	}
	return j;
}

int dm_journal_add(dm_journal *j, dm_journal_kind kind, const char *ns, const char *a, const char *b,
		   dm_error *err)
{
	char line[DM_JOURNAL_LINE_MAX + 1];
	int n, rc = 0;

	if (check_entry(kind, ns, a, b, err) < 0)
		return dm_err_prefix(err, "%s: ", j->path);
	n = snprintf(line, sizeof line, "%s %s %s%s%s\n", KIND_NAMES[kind], ns, a, b ? " " : "", b ? b : "");
	if (n < 0 || (size_t)n > DM_JOURNAL_LINE_MAX)
		return dm_err_set(err, EINVAL, "%s: record too long", j->path);
	pthread_mutex_lock(&j->mu);
	if (j->fd < 0)
		rc = journal_file(j, err);
	if (rc == 0 && (write_all(j->fd, line, (size_t)n) < 0 || fdatasync(j->fd) < 0))
		rc = dm_err_sys(err, "%s", j->path);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void dm_journal_close(dm_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->mu);
	free(j->path);
	free(j->root);
	free(j);
}

void dm_journal_entries_free(dm_journal_entries *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].ns);
		free(e->v[i].a);
		free(e->v[i].b);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* One record line (NUL-terminated, without its newline). */
static int parse_line(char *line, size_t lineno, dm_journal_entries *out, dm_error *err)
{
	char *f[5] = {NULL};
	size_t nf = 0;
	dm_journal_entry *e;
	int kind = -1;

	for (char *p = line; *p && nf < 5;) {
		f[nf++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p) {
			*p++ = '\0';
			if (!*p || *p == ' ')
				return dm_err_set(err, EINVAL, "line %zu: empty field", lineno);
		}
	}
	for (int k = 0; k < 3 && nf; k++)
		if (!strcmp(f[0], KIND_NAMES[k]))
			kind = k;
	if (kind < 0)
		return dm_err_set(err, EINVAL, "line %zu: unknown record \"%.40s\"", lineno, nf ? f[0] : "");
	if (nf != (kind == DM_JOURNAL_BLOB ? 3u : 4u))
		return dm_err_set(err, EINVAL, "line %zu: %s record with %zu fields", lineno, f[0], nf);
	if (check_entry(kind, f[1], f[2], nf == 4 ? f[3] : NULL, err) < 0)
		return dm_err_prefix(err, "line %zu: ", lineno);
	if (!(e = realloc(out->v, (out->n + 1) * sizeof *e)))
		return dm_err_nomem(err);
	out->v = e;
	e = &out->v[out->n];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	if (!(e->ns = strdup(f[1])) || !(e->a = strdup(f[2])) || (nf == 4 && !(e->b = strdup(f[3])))) {
		free(e->ns);
		free(e->a);
		return dm_err_nomem(err);
	}
	out->n++;
	return 0;
}

int dm_journal_parse(const char *buf, size_t len, dm_journal_entries *out, dm_error *err)
{
	char line[DM_JOURNAL_LINE_MAX + 1];
	size_t pos = 0, lineno = 0;

	memset(out, 0, sizeof *out);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n;

		if (!nl)
			break; /* a write cut short: its creation had not started */
		n = (size_t)(nl - (buf + pos));
		lineno++;
		if (n > DM_JOURNAL_LINE_MAX || memchr(buf + pos, '\0', n)) {
			dm_err_set(err, EINVAL, "line %zu: too long or not text", lineno);
			goto fail;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (lineno == 1) {
			if (strcmp(line, DM_JOURNAL_HEADER)) {
				dm_err_set(err, EINVAL, "line 1: not \"%s\"", DM_JOURNAL_HEADER);
				goto fail;
			}
			continue;
		}
		if (parse_line(line, lineno, out, err) < 0)
			goto fail;
	}
	/* A header cut short is a journal that never got a record. */
	if (lineno == 0 && len && (len > strlen(DM_JOURNAL_HEADER) || memcmp(buf, DM_JOURNAL_HEADER, len))) {
		dm_err_set(err, EINVAL, "line 1: not \"%s\"", DM_JOURNAL_HEADER);
		goto fail;
	}
	return 0;
fail:
	dm_journal_entries_free(out);
	return -1;
}

int dm_journal_read(const char *root, dm_journal_entries *out, dm_error *err)
{
	char *path = dm_journal_path(root), *buf = NULL;
	int rfd = -1, fd = -1, rc = -1;
	size_t got = 0;

	memset(out, 0, sizeof *out);
	if (!path)
		return dm_err_nomem(err);
	if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			dm_err_sys(err, "%s", root);
		goto out;
	}
	if ((fd = dm_open_regular(rfd, DM_JOURNAL_DIR "/" DM_JOURNAL_FILE, path, NULL, err)) < 0) {
		if (err->code == ENOENT) {
			dm_err_clear(err);
			rc = 0;
		}
		goto out;
	}
	if (dm_read_fd(fd, path, DM_JOURNAL_SIZE_MAX, &buf, &got, err) < 0)
		goto out;
	if (dm_journal_parse(buf, got, out, err) < 0) {
		dm_err_prefix(err, "%s: ", path);
		goto out;
	}
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	if (rfd >= 0)
		close(rfd);
	free(buf);
	free(path);
	return rc;
}

int dm_journal_remove(const char *root, dm_error *err)
{
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dfd;

	if (rfd < 0)
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s", root);
	if ((dfd = dm_openat_nosym(rfd, DM_JOURNAL_DIR, O_RDONLY | O_DIRECTORY, 0)) < 0) {
		close(rfd);
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s/%s", root, DM_JOURNAL_DIR);
	}
	if (unlinkat(dfd, DM_JOURNAL_FILE, 0) < 0 && errno != ENOENT) {
		dm_err_sys(err, "%s/%s/%s", root, DM_JOURNAL_DIR, DM_JOURNAL_FILE);
		close(dfd);
		close(rfd);
		return -1;
	}
	close(dfd);
	/* Only when empty: anything else there is not ours to remove. */
	if (unlinkat(rfd, DM_JOURNAL_DIR, AT_REMOVEDIR) < 0 && errno != ENOENT && errno != ENOTEMPTY &&
	    errno != EEXIST) {
		dm_err_sys(err, "%s/%s", root, DM_JOURNAL_DIR);
		close(rfd);
		return -1;
	}
	fsync(rfd);
	close(rfd);
	return 0;
}
