#include "config.h"
#include "content.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "resolve.h"

#define DIR_MODE 0755
#define FILE_MODE 0644
#define BLOB_MODE 0444
#define TMP_PREFIX ".dm-"
#define WRITE_BUF (128 * 1024)

struct dm_content_store {
	char *path;  /* content directory, for messages */
	int dirfd;
	int ingestfd;
	int shafd;  /* blobs/sha256, opened on first use; -1 until then */
	pthread_mutex_t lock;  /* guards active and shafd */
	dm_content_writer *active;
};

struct dm_content_writer {
	dm_content_store *s;
	dm_content_writer *next;  /* in s->active */
	char *ref;  /* full ref as written to the ref file */
	char name[DM_DIGEST_HEXLEN + 1];  /* ingest directory: hex sha256 of ref */
	int dirfd;
	int fd;  /* data */
	int failed;
	dm_sha256 h;
	uint64_t size;
	int64_t total;
	size_t used;
	unsigned char buf[WRITE_BUF];
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens directory name under dirfd without following a symlink, creating it
 * with exactly DIR_MODE (umask aside) when create is set.  New directory
 * entries are fsynced so that a blob renamed into them survives a crash. */
static int open_dir(int dirfd, const char *name, bool create, const char *path, dm_error *err)
{
	int fd;

	if (create) {
		if (mkdirat(dirfd, name, DIR_MODE) == 0) {
			if (fchmodat(dirfd, name, DIR_MODE, 0) < 0 || fsync(dirfd) < 0)
				return dm_err_sys(err, "%s/%s", path, name);
		} else if (errno != EEXIST) {
			return dm_err_sys(err, "mkdir %s/%s", path, name);
		}
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		struct stat st;

		/* Linux says ELOOP or ENOTDIR for a symlink here: name the real problem. */
		if ((errno == ELOOP || errno == ENOTDIR) &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return dm_err_set(err, ELOOP, "%s/%s: is a symlink, want a directory", path, name);
		return dm_err_sys(err, "%s/%s", path, name);
	}
	return fd;
}

dm_content_store *dm_content_store_open(const char *root, dm_error *err)
{
	dm_content_store *s;
	int rootfd;

	if (!(s = calloc(1, sizeof *s))) {
		dm_err_nomem(err);
		dm_err_prefix(err, "content store: ");
		return NULL;
	}
	s->dirfd = s->ingestfd = s->shafd = -1;
	if (!(s->path = dm_path_join(root, DM_CONTENT_PLUGIN, err))) {
		dm_err_prefix(err, "content store: ");
		goto fail;
	}
	/* The root itself may be a symlink (a moved /var/lib/containerd); nothing below it may. */
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		dm_err_sys(err, "containerd root %s", root);
		goto fail;
	}
	s->dirfd = open_dir(rootfd, DM_CONTENT_PLUGIN, true, root, err);
	close(rootfd);
	if (s->dirfd < 0 || (s->ingestfd = open_dir(s->dirfd, "ingest", true, s->path, err)) < 0)
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	return s;
fail:
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->path);
	free(s);
	return NULL;
}

void dm_content_store_close(dm_content_store *s)
{
	if (!s)
		return;
	close(s->dirfd);
	close(s->ingestfd);
	if (s->shafd >= 0)
		close(s->shafd);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

/* blobs/sha256, created only when a blob is about to be committed (as containerd does). */
static int sha_dir(dm_content_store *s, bool create, dm_error *err)
{
	char path[4096];
	int fd = -1, blobs;

	snprintf(path, sizeof path, "%s/blobs", s->path);
	pthread_mutex_lock(&s->lock);
	if (s->shafd >= 0) {
		fd = s->shafd;
	} else if ((blobs = open_dir(s->dirfd, "blobs", create, s->path, err)) >= 0) {
		fd = s->shafd = open_dir(blobs, "sha256", create, path, err);
		close(blobs);
	}
	pthread_mutex_unlock(&s->lock);
	return fd;
}

/* blobs/sha256 when it exists: 1 and *fd; 0 when it does not (so neither does any blob); -1. */
static int sha_dir_existing(dm_content_store *s, int *fd, dm_error *err)
{
	dm_error sub = {0};

	if ((*fd = sha_dir(s, false, &sub)) >= 0)
		return 1;
	if (sub.code == ENOENT)
		return 0;
	*err = sub;
	return -1;
}

/* Removes one ingest directory.  data goes first: containerd skips an ingest
 * without data, so a removal cut short leaves nothing it would trip over. */
static int remove_ingest(dm_content_store *s, const char *name, dm_error *err)
{
	int fd = openat(s->ingestfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s/ingest/%s", s->path, name);
	if (unlinkat(fd, "data", 0) < 0 && errno != ENOENT) {
		close(fd);
		return dm_err_sys(err, "%s/ingest/%s/data", s->path, name);
	}
	if (!(d = fdopendir(fd))) {
		close(fd);
		return dm_err_sys(err, "%s/ingest/%s", s->path, name);
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0)
			rc = dm_err_sys(err, "%s/ingest/%s/%s", s->path, name, de->d_name);
	}
	if (rc == 0 && errno)
		rc = dm_err_sys(err, "%s/ingest/%s", s->path, name);
	closedir(d);
	if (rc == 0 && unlinkat(s->ingestfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = dm_err_sys(err, "%s/ingest/%s", s->path, name);
	return rc;
}

/* Reads the ref file of ingest directory name into buf (NUL-terminated).
 * Returns the length, or -1 with errno set (ENOENT when there is none). */
static ssize_t read_ref(dm_content_store *s, const char *name, char *buf, size_t size)
{
	char path[DM_DIGEST_HEXLEN + 16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/ref", name);
	if ((fd = openat(s->ingestfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static bool is_active(dm_content_store *s, const char *name)
{
	for (dm_content_writer *w = s->active; w; w = w->next)
		if (strcmp(w->name, name) == 0)
			return true;
	return false;
}

int dm_content_clean_ingests(dm_content_store *s, unsigned *removed, dm_error *err)
{
	char ref[sizeof DM_CONTENT_REF_PREFIX + DM_CONTENT_REF_MAX];
	unsigned count = 0;
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	/* A DIR stream on a dup: the store keeps its own descriptor. */
	if ((fd = openat(s->ingestfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return dm_err_sys(err, "%s/ingest", s->path);
	}
	pthread_mutex_lock(&s->lock);
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		bool tmp = strncmp(n, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
		const char *name = tmp ? n + strlen(TMP_PREFIX) : n;

		if (is_active(s, name))
			continue;
		if (!tmp && (!dm_digest_hex_valid(n, strlen(n)) ||
			     read_ref(s, n, ref, sizeof ref) < 0 ||
			     strncmp(ref, DM_CONTENT_REF_PREFIX, strlen(DM_CONTENT_REF_PREFIX)) != 0))
			continue;
		if ((rc = remove_ingest(s, n, err)) == 0)
			count++;
	}
	if (rc == 0 && errno)
		rc = dm_err_sys(err, "%s/ingest", s->path);
	pthread_mutex_unlock(&s->lock);
	closedir(d);
	if (removed)
		*removed = count;
	return rc;
}

static int write_small(int dirfd, const char *name, const char *text, const char *what,
		       dm_error *err)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			FILE_MODE);

	if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
		dm_err_sys(err, "%s/%s", what, name);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return dm_err_sys(err, "%s/%s", what, name);
	return 0;
}

/* Go's time.Time.MarshalText in the local zone (RFC 3339, nanoseconds with
 * trailing zeros trimmed), which containerd parses back from startedat. */
static void go_time_text(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char frac[11] = "";
	long off;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	if (ts.tv_nsec) {
		snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
		for (n = strlen(frac); frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
	}
	n = (size_t)snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%s", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	off = tm.tm_gmtoff / 60;
	if (off == 0)
		snprintf(out + n, size - n, "Z");
	else
		snprintf(out + n, size - n, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60,
			 labs(off) % 60);
}

static void unregister(dm_content_writer *w)
{
	dm_content_store *s = w->s;

	pthread_mutex_lock(&s->lock);
	for (dm_content_writer **p = &s->active; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

static void writer_free(dm_content_writer *w)
{
	unregister(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->ref);
	free(w);
}

/* Makes ingest/<name> from a complete ingest/.dm-<name>: see content.h. */
static int make_ingest(dm_content_writer *w, dm_error *err)
{
	dm_content_store *s = w->s;
	char tmp[sizeof TMP_PREFIX + DM_DIGEST_HEXLEN], what[4096], text[64];
	char old[sizeof DM_CONTENT_REF_PREFIX + DM_CONTENT_REF_MAX];
	dm_error ignored;
	int fd;

	snprintf(tmp, sizeof tmp, TMP_PREFIX "%s", w->name);
	snprintf(what, sizeof what, "%s/ingest/%s", s->path, tmp);
	if (remove_ingest(s, tmp, err) < 0)
		return -1;
	if ((fd = open_dir(s->ingestfd, tmp, true, s->path, err)) < 0)
		return -1;
	go_time_text(text, sizeof text);
	if (write_small(fd, "ref", w->ref, what, err) < 0 ||
	    write_small(fd, "startedat", text, what, err) < 0 ||
	    write_small(fd, "updatedat", text, what, err) < 0)
		goto fail;
	if (w->total > 0) {
		snprintf(text, sizeof text, "%" PRId64, w->total);
		if (write_small(fd, "total", text, what, err) < 0)
			goto fail;
	}
	w->fd = openat(fd, "data", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
	if (w->fd < 0) {
		dm_err_sys(err, "%s/data", what);
		goto fail;
	}
	/* A same-named ingest is a leftover of a dead run (open writers are
	 * unique per ref), unless its ref says it is someone else's. */
	if (read_ref(s, w->name, old, sizeof old) >= 0 && strcmp(old, w->ref) != 0) {
		dm_err_set(err, EEXIST, "%s/ingest/%s: holds ref \"%.200s\", not \"%.200s\"", s->path,
			   w->name, old, w->ref);
		goto fail;
	}
	if (remove_ingest(s, w->name, err) < 0)
		goto fail;
	if (renameat(s->ingestfd, tmp, s->ingestfd, w->name) < 0) {
		dm_err_sys(err, "rename %s to %s", what, w->name);
		goto fail;
	}
	w->dirfd = fd;
	return 0;
fail:
	close(fd);
	remove_ingest(s, tmp, &ignored);  /* err says what went wrong first */
	return -1;
}

dm_content_writer *dm_content_writer_open(dm_content_store *s, const char *ref, int64_t total,
					  dm_error *err)
{
	size_t len = strlen(ref);
	dm_content_writer *w;
	dm_digest d;
	bool busy;

	if (!len || len > DM_CONTENT_REF_MAX) {
		dm_err_set(err, EINVAL, "ingest ref \"%.200s\": length %zu not in 1..%d", ref, len,
			   DM_CONTENT_REF_MAX);
		return NULL;
	}
	if (!(w = calloc(1, sizeof *w)) || asprintf(&w->ref, DM_CONTENT_REF_PREFIX "%s", ref) < 0) {
		dm_err_nomem(err);
		dm_err_prefix(err, "ingest %s: ", ref);
		free(w);
		return NULL;
	}
	w->s = s;
	w->fd = w->dirfd = -1;
	w->total = total;
	dm_sha256_init(&w->h);
	/* Same name rule as containerd's ingestRoot, so its Abort(ref) finds it. */
	dm_sha256_buf(w->ref, strlen(w->ref), &d);
	memcpy(w->name, dm_digest_hex(&d), sizeof w->name);
	pthread_mutex_lock(&s->lock);
	busy = is_active(s, w->name);
	if (!busy) {
		w->next = s->active;
		s->active = w;
	}
	pthread_mutex_unlock(&s->lock);
	if (busy) {
		dm_err_set(err, EBUSY, "ingest %s: already being written", w->ref);
		free(w->ref);
		free(w);
		return NULL;
	}
	if (make_ingest(w, err) < 0) {
		dm_err_prefix(err, "ingest %s: ", w->ref);
		writer_free(w);
		return NULL;
	}
	return w;
}

static int flush(dm_content_writer *w, dm_error *err)
{
	if (w->used && write_all(w->fd, w->buf, w->used) < 0) {
		w->failed = 1;
		return dm_err_sys(err, "%s/ingest/%s/data (ref %s)", w->s->path, w->name, w->ref);
	}
	w->used = 0;
	return 0;
}

int dm_content_write(dm_content_writer *w, const void *buf, size_t len, dm_error *err)
{
	if (w->failed)
		return dm_err_set(err, EIO, "ingest %s: an earlier write failed", w->ref);
	dm_sha256_update(&w->h, buf, len);
	w->size += len;
	if (w->used + len <= sizeof w->buf) {
		memcpy(w->buf + w->used, buf, len);
		w->used += len;
		return 0;
	}
	if (flush(w, err) < 0)
		return -1;
	if (len < sizeof w->buf) {
		memcpy(w->buf, buf, len);
		w->used = len;
		return 0;
	}
	if (write_all(w->fd, buf, len) < 0) {
		w->failed = 1;
		return dm_err_sys(err, "%s/ingest/%s/data (ref %s)", w->s->path, w->name, w->ref);
	}
	return 0;
}

int dm_content_abort(dm_content_writer *w, dm_error *err)
{
	int rc;

	if (!w)
		return 0;
	rc = remove_ingest(w->s, w->name, err);
	writer_free(w);
	return rc;
}

/* Checks blob hex in dirfd shafd: a regular file of the right size and, with
 * rehash, the right content. */
static int check_blob(dm_content_store *s, int shafd, const dm_digest *d, int64_t size,
		      bool rehash, dm_error *err)
{
	int fd = openat(shafd, dm_digest_hex(d), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	unsigned char buf[64 * 1024];
	dm_sha256 h;
	dm_digest got;
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return dm_err_sys(err, "%s/blobs/sha256/%s", s->path, dm_digest_hex(d));
	if (fstat(fd, &st) < 0) {
		dm_err_sys(err, "%s/blobs/sha256/%s", s->path, dm_digest_hex(d));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		dm_err_set(err, EBADMSG, "%s/blobs/sha256/%s: not a regular file", s->path,
			   dm_digest_hex(d));
		goto fail;
	}
	if (size >= 0 && st.st_size != size) {
		dm_err_set(err, EBADMSG,
			   "%s/blobs/sha256/%s: corrupt blob: %jd bytes, expected %" PRId64
			   "; remove it and rerun", s->path, dm_digest_hex(d), (intmax_t)st.st_size,
			   size);
		goto fail;
	}
	if (!rehash) {
		close(fd);
		return 0;
	}
	dm_sha256_init(&h);
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dm_err_sys(err, "read %s/blobs/sha256/%s", s->path, dm_digest_hex(d));
			goto fail;
		}
		dm_sha256_update(&h, buf, (size_t)n);
	}
	close(fd);
	dm_sha256_final(&h, &got);
	if (strcmp(got.s, d->s) != 0)
		return dm_err_set(err, EBADMSG,
				  "%s/blobs/sha256/%s: corrupt blob: content hashes to %s; "
				  "remove it and rerun", s->path, dm_digest_hex(d), got.s);
	return 0;
fail:
	close(fd);
	return -1;
}

/* Whether blob d is already in shafd: 1 (and checked against size, see
 * DM_CONTENT_REHASH_EXISTING) or 0; -1 on error or when it is corrupt. */
static int existing(dm_content_store *s, int shafd, const dm_digest *d, uint64_t size,
		    unsigned flags, dm_error *err)
{
	struct stat st;

	if (fstatat(shafd, dm_digest_hex(d), &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return dm_err_sys(err, "%s/blobs/sha256/%s", s->path, dm_digest_hex(d));
	}
	if (check_blob(s, shafd, d, (int64_t)size, flags & DM_CONTENT_REHASH_EXISTING, err) < 0)
		return -1;
	return 1;
}

int dm_content_stat_blob(dm_content_store *s, const dm_digest *d, uint64_t *size, dm_error *err)
{
	struct stat st;
	int shafd, r;

	if ((r = sha_dir_existing(s, &shafd, err)) <= 0)
		return r;
	if (fstatat(shafd, dm_digest_hex(d), &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return dm_err_sys(err, "%s/blobs/sha256/%s", s->path, dm_digest_hex(d));
	}
	if (!S_ISREG(st.st_mode))
		return dm_err_set(err, EBADMSG, "%s/blobs/sha256/%s: not a regular file", s->path,
				  dm_digest_hex(d));
	if (size)
		*size = (uint64_t)st.st_size;
	return 1;
}

int dm_content_verify_blob(dm_content_store *s, const dm_digest *d, int64_t size, dm_error *err)
{
	int shafd = sha_dir(s, false, err);

	if (shafd < 0)
		return -1;
	return check_blob(s, shafd, d, size, true, err);
}

static int commit(dm_content_writer *w, const dm_digest *expected, unsigned flags,
		  dm_blob_info *out, dm_error *err)
{
	dm_content_store *s = w->s;
	int shafd, found;

	if (w->failed)
		return dm_err_set(err, EIO, "an earlier write failed");
	if (flush(w, err) < 0)
		return -1;
	if (fsync(w->fd) < 0)
		return dm_err_sys(err, "fsync %s/ingest/%s/data", s->path, w->name);
	dm_sha256_final(&w->h, &out->digest);
	out->size = w->size;
	out->existed = false;
	if (w->total >= 0 && (uint64_t)w->total != w->size)
		return dm_err_set(err, EBADMSG, "got %" PRIu64 " bytes, expected %" PRId64, w->size,
				  w->total);
	if (expected && strcmp(expected->s, out->digest.s) != 0)
		return dm_err_set(err, EBADMSG, "content is %s, expected %s", out->digest.s,
				  expected->s);
	if ((shafd = sha_dir(s, true, err)) < 0 ||
	    (found = existing(s, shafd, &out->digest, w->size, flags, err)) < 0)
		return -1;
	if ((out->existed = found))
		return 0;
	/* Mode before the rename: the blob never appears writable. */
	if (fchmod(w->fd, BLOB_MODE) < 0 ||
	    renameat(w->dirfd, "data", shafd, dm_digest_hex(&out->digest)) < 0 || fsync(shafd) < 0)
		return dm_err_sys(err, "commit %s/ingest/%s/data as blobs/sha256/%s", s->path,
				  w->name, dm_digest_hex(&out->digest));
	return 0;
}

int dm_content_commit(dm_content_writer *w, const dm_digest *expected, unsigned flags,
		      dm_blob_info *out, dm_error *err)
{
	int rc = commit(w, expected, flags, out, err);
	dm_error ignored;

	if (rc < 0)
		dm_err_prefix(err, "ingest %s: ", w->ref);
	/* After a failure the ingest is worthless: its error is the one to report. */
	if (remove_ingest(w->s, w->name, rc < 0 ? &ignored : err) < 0)
		rc = -1;
	writer_free(w);
	return rc;
}

int dm_content_write_buffer(dm_content_store *s, const char *ref, const void *buf, size_t len,
			    unsigned flags, dm_blob_info *out, dm_error *err)
{
	dm_content_writer *w;
	dm_digest d;
	int shafd, found;

	dm_sha256_buf(buf, len, &d);
	if ((shafd = sha_dir(s, true, err)) < 0 || (found = existing(s, shafd, &d, len, flags, err)) < 0)
		return -1;
	if (found) {
		out->digest = d;
		out->size = len;
		out->existed = true;
		return 0;
	}
	if (!(w = dm_content_writer_open(s, ref, (int64_t)len, err)))
		return -1;
	if (dm_content_write(w, buf, len, err) < 0) {
		dm_error ignored;  /* the write's error is the one to report */

		dm_content_abort(w, &ignored);
		return -1;
	}
	return dm_content_commit(w, &d, flags, out, err);
}

int dm_content_remove_blob(dm_content_store *s, const dm_digest *d, dm_error *err)
{
	int shafd, r;

	if ((r = sha_dir_existing(s, &shafd, err)) <= 0)
		return r;
	if (unlinkat(shafd, dm_digest_hex(d), 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return dm_err_sys(err, "%s/blobs/sha256/%s", s->path, dm_digest_hex(d));
	}
	if (fsync(shafd) < 0)
		return dm_err_sys(err, "%s/blobs/sha256", s->path);
	return 1;
}
