#include "config.h"
#include "apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "resolve.h"
#include "treecopy.h"

#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define QUOTE_MAX 400
/* Holes: a block of zeros this large is skipped, not written. */
#define HOLE_BLOCK 4096
#define MAX_DEPTH DM_TREECOPY_MAX_DEPTH

/* A directory whose times are set once everything in it is written. */
struct dirtime {
	char *rel;
	struct timespec ts[2];
};

/* Inodes this layer wrote (native form): what an opaque directory keeps. 0 marks a free slot. */
struct inoset {
	uint64_t *v;
	size_t n, cap;
};

struct dm_applier {
	const dm_apply_options *o;
	dm_source_fn src;
	void *opaque;
	dm_error *err;
	dm_error src_err;
	bool src_failed;
	struct archive *a;
	int root;
	int *lowers;
	size_t nlowers;
	/* the parent directory of the last entry, kept open: tar entries come grouped */
	char *cache_rel;
	int cache_fd;
	bool cache_stale;   /* a directory was removed: the cached one may be gone at the next entry */
	struct dirtime *dt;
	size_t ndt, capdt;
	struct inoset made;
	dm_apply_stats st;
	char q[QUOTE_MAX];  /* the current entry's name, quoted */
	char zero[HOLE_BLOCK];
	char *xbuf;         /* XATTR_SIZE_MAX + XATTR_LIST_MAX, for comparing a legacy inode's xattrs */
	/* the regular file whose data comes next, for dm_apply_take_file */
	struct {
		bool active;
		struct archive_entry *e;
		int dirfd;
		const char *name;
		bool linked;    /* hardlink: the name is the legacy inode now */
		int clone;      /* reflink: the clone the stream is read from, not yet linked; -1 */
	} pend;
};

static int fail(struct dm_applier *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "tar entry <n> "<name>": <what>[: strerror]" with code, or errno when code is 0. */
static int fail(struct dm_applier *c, int code, const char *fmt, ...)
{
	char what[512];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (code)
		return dm_err_set(c->err, code, "tar entry %" PRIu64 " %s: %s", c->st.entries, c->q, what);
	errno = saved;
	return dm_err_sys(c->err, "tar entry %" PRIu64 " %s: %s", c->st.entries, c->q, what);
}

/* Out of memory while applying the current entry. */
static int nomem(struct dm_applier *c)
{
	dm_err_nomem(c->err);
	return dm_err_prefix(c->err, "tar entry %" PRIu64 " %s: ", c->st.entries, c->q);
}

/* ---- the inode set ---- */

static size_t ino_slot(const struct inoset *s, uint64_t ino)
{
	size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) & (s->cap - 1);

	while (s->v[i] && s->v[i] != ino)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static bool ino_has(const struct inoset *s, uint64_t ino)
{
	return s->cap && s->v[ino_slot(s, ino)] == ino;
}

static int ino_add(struct dm_applier *c, uint64_t ino)
{
	struct inoset *s = &c->made;

	if (ino == 0 || ino_has(s, ino))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		struct inoset bigger = { calloc(s->cap ? s->cap * 2 : 1024, sizeof(uint64_t)), s->n,
		                         s->cap ? s->cap * 2 : 1024 };

		if (!bigger.v)
			return nomem(c);
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				bigger.v[ino_slot(&bigger, s->v[i])] = s->v[i];
		free(s->v);
		*s = bigger;
	}
	s->v[ino_slot(s, ino)] = ino;
	s->n++;
	return 0;
}

/* Remembers what dirfd/name now is, for the native form's opaque directories. */
static int mark_made(struct dm_applier *c, int dirfd, const char *name)
{
	struct stat st;

	if (c->o->form != DM_APPLY_NATIVE)
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, 0, "stat after writing");
	return ino_add(c, (uint64_t)st.st_ino);
}

/* ---- names ---- */

/* Cleans a tar name into "a/b/c" (no "." or empty components, no trailing "/"); refuses
 * absolute names and any ".." component.  Returns the length, 0 for the root itself, -1. */
static long clean_name(struct dm_applier *c, const char *what, const char *name, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = name;

	if (*p == '/')
		return fail(c, EXDEV, "absolute %s refused", what);
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(c, EXDEV, "%s with a \"..\" component refused", what);
		if (n && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > outsz)
				return fail(c, ENAMETOOLONG, "%s too long", what);
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return (long)o;
}

/* Opens the directory rel ("" for the root) beneath root, never following a symlink: -1 with
 * errno (ELOOP or ENOTDIR where a component is a symlink or no directory). */
static int open_dir_in(int root, const char *rel)
{
	char comp[NAME_MAX + 1];
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && *rel) {
		const char *e = strchr(rel, '/');
		size_t n = e ? (size_t)(e - rel) : strlen(rel);
		int next;

		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, rel, n);
		comp[n] = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		rel += n + (e != NULL);
	}
	return fd;
}

/* ---- removal ---- */

static void cache_drop(struct dm_applier *c)
{
	if (c->cache_fd >= 0)
		close(c->cache_fd);
	c->cache_fd = -1;
	free(c->cache_rel);
	c->cache_rel = NULL;
}

/* Removes dirfd/name whatever it is (a tree never followed through symlinks); ENOENT is fine. */
static int remove_at(struct dm_applier *c, int dirfd, const char *name)
{
	struct stat st;
	char p[64 + NAME_MAX];

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(c, 0, "stat %s", name);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? fail(c, 0, "unlink %s", name) : 0;
	/* The cached directory may lie below it; it stays open for the current entry. */
	c->cache_stale = true;
	snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dirfd, name);
	return dm_tree_remove(p, c->err) < 0 ? dm_err_prefix(c->err, "tar entry %" PRIu64 " %s: ",
	                                                     c->st.entries, c->q) : 0;
}

/* Makes room for a new entry: whatever is at dirfd/name goes, except a directory when the new
 * entry is one too (its contents stay, as in every layer applier).  1 when a directory was kept. */
static int clear_slot(struct dm_applier *c, int dirfd, const char *name, bool want_dir)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(c, 0, "stat");
	if (want_dir && S_ISDIR(st.st_mode))
		return 1;
	return remove_at(c, dirfd, name);
}

/* ---- overlay copy-up ---- */

/* Finds rel's parent directory and base in the lower layers, top first, the way overlayfs looks
 * down: a whiteout hides everything below it.  Returns the lower's parent fd (base exists
 * there), or -1 with errno ENOENT. */
static int lower_lookup(struct dm_applier *c, const char *parent, const char *base, struct stat *st)
{
	for (size_t i = 0; i < c->nlowers; i++) {
		int fd = open_dir_in(c->lowers[i], parent);

		if (fd < 0)
			continue;
		if (fstatat(fd, base, st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
				break;
			return fd;
		}
		close(fd);
	}
	errno = ENOENT;
	return -1;
}

static int defer_times(struct dm_applier *c, const char *rel, const struct timespec ts[2])
{
	if (c->ndt == c->capdt) {
		size_t cap = c->capdt ? c->capdt * 2 : 64;
		struct dirtime *v = realloc(c->dt, cap * sizeof *v);

		if (!v)
			return nomem(c);
		c->dt = v;
		c->capdt = cap;
	}
	if (!(c->dt[c->ndt].rel = strdup(rel)))
		return nomem(c);
	c->dt[c->ndt].ts[0] = ts[0];
	c->dt[c->ndt].ts[1] = ts[1];
	c->ndt++;
	return 0;
}

/* Creates the missing directory dirfd/name (rel is its path): copied up from the lowers in the
 * overlay form, so that the merged view keeps its owner, mode and times; else 0755 root, as
 * Docker's applier makes missing parents. */
static int make_missing_dir(struct dm_applier *c, int dirfd, const char *name, const char *parent_rel,
                            const char *rel)
{
	struct stat st;
	int lfd = c->o->form == DM_APPLY_OVERLAY ? lower_lookup(c, parent_rel, name, &st) : -1;

	if (lfd >= 0 && S_ISDIR(st.st_mode)) {
		int rc = dm_treecopy_up(lfd, dirfd, name, rel, c->err);
		const struct timespec ts[2] = { st.st_atim, st.st_mtim };

		close(lfd);
		if (rc < 0)
			return dm_err_prefix(c->err, "tar entry %" PRIu64 " %s: ", c->st.entries, c->q);
		c->st.copied_up++;
		return defer_times(c, rel, ts);
	}
	if (lfd >= 0)
		close(lfd);
	if (mkdirat(dirfd, name, 0755) < 0)
		return fail(c, 0, "mkdir %s", rel);
	return mark_made(c, dirfd, name);
}

/* The directory rel beneath the root, opened; missing ones are made when create is set.  A
 * symlink or non-directory on the way is refused: nothing is written through a link. */
static int open_parent(struct dm_applier *c, const char *rel, bool create)
{
	char comp[NAME_MAX + 1];
	size_t done = 0;
	int fd;

	fd = openat(c->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, 0, "open the layer root");
	while (rel[done]) {
		const char *p = rel + done, *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		struct stat st;
		int next;

		if (n > NAME_MAX) {
			close(fd);
			return fail(c, ENAMETOOLONG, "name component too long");
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			char *prefix = strndup(rel, done + n);
			char *parent = strndup(rel, done ? done - 1 : 0);
			int rc = prefix && parent ? make_missing_dir(c, fd, comp, parent, prefix)
			                          : nomem(c);

			free(prefix);
			free(parent);
			if (rc < 0) {
				close(fd);
				return -1;
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int saved = errno;

			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				saved = ELOOP;
			close(fd);
			errno = saved;
			if (saved == ELOOP)
				return fail(c, ELOOP, "parent \"%.*s\" is a symlink, which is not followed",
				            (int)(done + n), rel);
			if (saved == ENOTDIR)
				return fail(c, ENOTDIR, "parent \"%.*s\" is not a directory", (int)(done + n), rel);
			return fail(c, 0, "open parent \"%.*s\"", (int)(done + n), rel);
		}
		close(fd);
		fd = next;
		done += n + (e != NULL);
	}
	return fd;
}

/* The parent of the current entry, through the one-entry cache. */
static int cached_parent(struct dm_applier *c, const char *rel)
{
	int fd;

	if (c->cache_rel && !c->cache_stale && !strcmp(c->cache_rel, rel))
		return c->cache_fd;
	c->cache_stale = false;
	cache_drop(c);
	fd = open_parent(c, rel, true);
	if (fd < 0)
		return -1;
	if (!(c->cache_rel = strdup(rel))) {
		close(fd);
		return nomem(c);
	}
	c->cache_fd = fd;
	return fd;
}

/* ---- metadata from the header ---- */

static bool is_overlay_xattr(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

/* Sets the entry's xattrs on fd, or (fd < 0) on dirfd/name without following it.  overlayfs'
 * own xattrs are never taken from a layer: they would change what the kernel shows. */
static int set_xattrs(struct dm_applier *c, struct archive_entry *e, int fd, int dirfd, const char *name)
{
	const char *xn;
	const void *v;
	size_t len;
	char p[64 + NAME_MAX];

	if (fd < 0)
		snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dirfd, name);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xn, &v, &len) == ARCHIVE_OK) {
		int rc;

		/* A pax record with an empty value deletes the key (POSIX); Go's archive/tar, and so
		 * Docker and containerd, never set such an xattr, so neither does this. */
		if (is_overlay_xattr(xn) || len == 0) {
			c->st.xattrs_skipped++;
			continue;
		}
		rc = fd >= 0 ? fsetxattr(fd, xn, v, len, 0) : lsetxattr(p, xn, v, len, 0);
		if (rc < 0 && (errno == EPERM || errno == ENOTSUP)) {
			c->st.xattrs_skipped++;
			continue;
		}
		if (rc < 0)
			return fail(c, 0, "setxattr %s", xn);
	}
	return 0;
}

/* Docker's applier: atime is the header's when set and not before mtime, else mtime. */
static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	ts[0] = ts[1];
	if (archive_entry_atime_is_set(e) &&
	    (archive_entry_atime(e) > ts[1].tv_sec ||
	     (archive_entry_atime(e) == ts[1].tv_sec && archive_entry_atime_nsec(e) > ts[1].tv_nsec))) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	}
}

/* Owner, then xattrs (chown clears security.capability), then mode (chown clears setuid), then
 * times, on fd or on dirfd/name without following it. */
static int set_meta(struct dm_applier *c, struct archive_entry *e, int fd, int dirfd, const char *name,
                    bool times)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
	uid_t uid = (uid_t)u;
	gid_t gid = (gid_t)g;
	mode_t mode = archive_entry_perm(e) & 07777;
	bool link = archive_entry_filetype(e) == AE_IFLNK;
	struct timespec ts[2];
	int rc;

	/* (uid_t)-1 would mean "leave unchanged" to chown. */
	if (u < 0 || g < 0 || u >= UINT32_MAX || g >= UINT32_MAX)
		return fail(c, EBADMSG, "owner %" PRId64 ":%" PRId64 " out of range", (int64_t)u, (int64_t)g);
	rc = fd >= 0 ? fchown(fd, uid, gid) : fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return fail(c, 0, "chown %u:%u", (unsigned)uid, (unsigned)gid);
	if (set_xattrs(c, e, fd, dirfd, name) < 0)
		return -1;
	if (!link) {
		rc = fd >= 0 ? fchmod(fd, mode) : fchmodat(dirfd, name, mode, 0);
		if (rc < 0)
			return fail(c, 0, "chmod %04o", (unsigned)mode);
	}
	if (!times)
		return 0;
	entry_times(e, ts);
	rc = fd >= 0 ? futimens(fd, ts) : utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	return rc < 0 ? fail(c, 0, "set times") : 0;
}

/* ---- entries ---- */

static int write_all(struct dm_applier *c, int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(c, 0, "write");
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Writes a block of data, leaving whole aligned blocks of zeros as holes; the runs between
 * them go out in one write each. */
static int write_block(struct dm_applier *c, int fd, const char *p, size_t n, off_t off)
{
	size_t run = 0;   /* bytes of p[0..] not yet written */

	while (run < n) {
		off_t at = off + (off_t)run;
		size_t in_block = HOLE_BLOCK - (size_t)(at % HOLE_BLOCK), step = n - run < in_block ? n - run : in_block;

		if (step == HOLE_BLOCK && !memcmp(p + run, c->zero, HOLE_BLOCK)) {
			if (run && write_all(c, fd, p, run, off) < 0)
				return -1;
			p += run + step;
			off = at + (off_t)step;
			n -= run + step;
			run = 0;
			continue;
		}
		run += step;
	}
	return run ? write_all(c, fd, p, run, off) : 0;
}

static int create_file(struct dm_applier *c, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	return fd < 0 ? fail(c, 0, "create") : fd;
}

/* Puts the finished unnamed clone in place under name. */
static int link_clone(struct dm_applier *c, int fd, int dirfd, const char *name)
{
	char p[64];

	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, p, dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? fail(c, 0, "link the clone") : 0;
}

static int apply_file(struct dm_applier *c, struct archive_entry *e, int dirfd, const char *name)
{
	int64_t size = archive_entry_size(e);
	const void *buf;
	size_t len;
	la_int64_t off;
	int fd = -1, r, rc = -1;
	bool cloned = false;

	if (clear_slot(c, dirfd, name, false) < 0)
		return -1;
	/* The stream's producer opens the file while libarchive reads its first data block: then
	 * dm_apply_take_file may share it instead of its bytes being written here. */
	c->pend.active = true;
	c->pend.e = e;
	c->pend.dirfd = dirfd;
	c->pend.name = name;
	c->pend.linked = false;
	c->pend.clone = -1;
	while ((r = archive_read_data_block(c->a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (int64_t)len > size || off > size - (int64_t)len) {
			fail(c, EBADMSG, "data beyond the entry's size");
			goto out;
		}
		c->st.bytes += len;
		if (c->pend.linked || c->pend.clone >= 0) {
			c->st.bytes_shared += len;
			continue;   /* the bytes are only hashed: the file already holds them */
		}
		if (fd < 0 && (fd = create_file(c, dirfd, name)) < 0)
			goto out;
		if (write_block(c, fd, buf, len, (off_t)off) < 0)
			goto out;
	}
	c->pend.active = false;
	if (r != ARCHIVE_EOF) {
		if (c->src_failed)
			*c->err = c->src_err;
		else
			fail(c, EBADMSG, "reading data: %s", archive_error_string(c->a));
		goto out;
	}
	if (c->pend.linked) {
		/* Owner, mode, times and xattrs were found equal: nothing of the shared inode changes. */
		rc = mark_made(c, dirfd, name);
		c->st.files++;
		c->st.files_shared++;
		goto out;
	}
	if (c->pend.clone >= 0) {
		fd = c->pend.clone;
		c->pend.clone = -1;
		cloned = true;
		c->st.files_shared++;
	} else {
		if (fd < 0 && (fd = create_file(c, dirfd, name)) < 0)
			goto out;
		if (ftruncate(fd, (off_t)size) < 0) {
			fail(c, 0, "truncate to %" PRId64 " bytes", size);
			goto out;
		}
		c->st.files_copied += size > 0;
	}
	if (set_meta(c, e, fd, dirfd, name, true) < 0)
		goto out;
	if (cloned && link_clone(c, fd, dirfd, name) < 0)
		goto out;
	if (mark_made(c, dirfd, name) < 0)
		goto out;
	c->st.files++;
	rc = 0;
out:
	c->pend.active = false;
	if (c->pend.clone >= 0)
		close(c->pend.clone);
	c->pend.clone = -1;
	/* The file is new and ours: a failing close would be a write error of its data. */
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = fail(c, 0, "close");
	return rc;
}

static int apply_dir(struct dm_applier *c, struct archive_entry *e, int dirfd, const char *name,
                     const char *rel)
{
	struct timespec ts[2];
	int kept, fd, rc;

	if ((kept = clear_slot(c, dirfd, name, true)) < 0)
		return -1;
	if (!kept && mkdirat(dirfd, name, 0700) < 0)
		return fail(c, 0, "mkdir");
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(c, 0, "open directory");
	rc = set_meta(c, e, fd, dirfd, name, false);
	close(fd);
	if (rc < 0 || mark_made(c, dirfd, name) < 0)
		return -1;
	entry_times(e, ts);
	c->st.dirs++;
	return defer_times(c, rel, ts);
}

static int apply_symlink(struct dm_applier *c, struct archive_entry *e, int dirfd, const char *name)
{
	const char *target = archive_entry_symlink(e);

	if (!target || !*target)
		return fail(c, EBADMSG, "symlink without a target");
	if (clear_slot(c, dirfd, name, false) < 0)
		return -1;
	if (symlinkat(target, dirfd, name) < 0)
		return fail(c, 0, "symlink");
	if (set_meta(c, e, -1, dirfd, name, true) < 0 || mark_made(c, dirfd, name) < 0)
		return -1;
	c->st.symlinks++;
	return 0;
}

static int apply_special(struct dm_applier *c, struct archive_entry *e, int dirfd, const char *name)
{
	mode_t type = archive_entry_filetype(e);
	dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));

	if (clear_slot(c, dirfd, name, false) < 0)
		return -1;
	/* No permission bits yet: set_meta sets the exact mode after the owner. */
	if (mknodat(dirfd, name, type, dev) < 0)
		return fail(c, 0, "mknod");
	if (set_meta(c, e, -1, dirfd, name, true) < 0 || mark_made(c, dirfd, name) < 0)
		return -1;
	c->st.specials++;
	return 0;
}

/* Copies rel (a non-directory only a lower layer holds) up into the upper tree. */
static int copy_up(struct dm_applier *c, const char *parent, const char *base, const char *rel)
{
	struct stat st;
	int ufd, lfd, rc;

	lfd = lower_lookup(c, parent, base, &st);
	if (lfd < 0)
		return fail(c, ENOENT, "hard link target \"%s\" does not exist", rel);
	ufd = open_parent(c, parent, true);
	if (ufd < 0) {
		close(lfd);
		return -1;
	}
	rc = dm_treecopy_up(lfd, ufd, base, rel, c->err);
	close(lfd);
	close(ufd);
	if (rc < 0)
		return dm_err_prefix(c->err, "tar entry %" PRIu64 " %s: ", c->st.entries, c->q);
	c->st.copied_up++;
	return 0;
}

static int apply_hardlink(struct dm_applier *c, const char *target, int dirfd, const char *name)
{
	char rel[PATH_MAX], whole[PATH_MAX], *slash;
	const char *tparent = "", *tbase = rel;
	struct stat ts, ns;
	long n = clean_name(c, "hard link target", target, rel, sizeof rel);
	int tfd, rc = -1;

	if (n < 0)
		return -1;
	if (n == 0)
		return fail(c, EBADMSG, "hard link to the root");
	memcpy(whole, rel, (size_t)n + 1);
	if ((slash = strrchr(rel, '/'))) {
		*slash = '\0';
		tparent = rel;
		tbase = slash + 1;
	}
	tfd = open_parent(c, tparent, false);
	if (tfd < 0 && c->o->form != DM_APPLY_OVERLAY)
		return -1;
	if (tfd >= 0 && fstatat(tfd, tbase, &ts, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT || c->o->form != DM_APPLY_OVERLAY) {
			close(tfd);
			return fail(c, 0, "hard link target \"%s/%s\"", tparent, tbase);
		}
		close(tfd);
		tfd = -1;
	}
	if (tfd < 0) {
		dm_err_clear(c->err);
		if (copy_up(c, tparent, tbase, whole) < 0 || (tfd = open_parent(c, tparent, false)) < 0 ||
		    fstatat(tfd, tbase, &ts, AT_SYMLINK_NOFOLLOW) < 0)
			goto out_fail;
	}
	if (S_ISDIR(ts.st_mode)) {
		fail(c, EPERM, "hard link to a directory");
		goto out;
	}
	/* A name that is already this inode (a rerun of the same link) needs nothing. */
	if (fstatat(dirfd, name, &ns, AT_SYMLINK_NOFOLLOW) == 0 && ns.st_ino == ts.st_ino &&
	    ns.st_dev == ts.st_dev) {
		rc = 0;
		goto out;
	}
	if (clear_slot(c, dirfd, name, false) < 0)
		goto out;
	if (linkat(tfd, tbase, dirfd, name, 0) < 0) {
		fail(c, 0, "link to \"%s\"", target);
		goto out;
	}
	c->st.hardlinks++;
	rc = 0;
out:
	if (tfd >= 0)
		close(tfd);
	return rc;
out_fail:
	if (!c->err->code)
		fail(c, 0, "hard link target \"%s\"", target);
	goto out;
}

/* Native form: removes everything below dirfd that this layer did not write. */
static int prune(struct dm_applier *c, int dirfd, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (depth > MAX_DEPTH)
		return fail(c, ELOOP, "opaque directory deeper than %d levels", MAX_DEPTH);
	if ((fd = dup(dirfd)) < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return fail(c, 0, "opendir for the opaque directory");
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = fail(c, 0, "stat %s", de->d_name);
			break;
		}
		if (!ino_has(&c->made, (uint64_t)st.st_ino)) {
			rc = remove_at(c, dirfd, de->d_name);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = fail(c, 0, "open %s", de->d_name);
			break;
		}
		rc = prune(c, sub, depth + 1);
		close(sub);
	}
	closedir(d);
	return rc;
}

static int apply_whiteout(struct dm_applier *c, struct archive_entry *e, int dirfd, const char *base)
{
	const char *victim = base + strlen(WH_PREFIX);
	struct timespec ts[2];

	if (!strcmp(base, WH_OPAQUE)) {
		c->st.opaques++;
		if (c->o->form == DM_APPLY_NATIVE)
			return prune(c, dirfd, 0);
		if (fsetxattr(dirfd, c->o->userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque",
		              "y", 1, 0) < 0)
			return fail(c, 0, "mark the directory opaque");
		return 0;
	}
	if (!strncmp(base, WH_META, strlen(WH_META)))
		return 0;   /* aufs' own bookkeeping (.wh..wh.plnk, …), as Docker skips it */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return fail(c, EBADMSG, "whiteout names nothing");
	c->st.whiteouts++;
	if (remove_at(c, dirfd, victim) < 0)
		return -1;
	if (c->o->form == DM_APPLY_NATIVE)
		return 0;
	if (mknodat(dirfd, victim, S_IFCHR, makedev(0, 0)) < 0)
		return fail(c, 0, "mknod whiteout");
	if (fchownat(dirfd, victim, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
	             AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, 0, "chown whiteout");
	/* The header's times, not the run's: two runs of one layer give the same tree. */
	entry_times(e, ts);
	if (utimensat(dirfd, victim, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, 0, "set whiteout times");
	return 0;
}

static int apply_entry(struct dm_applier *c, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *hl = archive_entry_hardlink(e);
	char rel[PATH_MAX];
	const char *base, *parent = "";
	char *slash;
	long n;
	int dirfd;

	if (!name)
		return fail(c, EBADMSG, "entry without a name");
	dm_quote_name(name, strlen(name), c->q, sizeof c->q);
	if ((n = clean_name(c, "name", name, rel, sizeof rel)) < 0)
		return -1;
	if (n == 0)
		return 0;   /* the root itself: the snapshot's root is the caller's */
	base = rel;
	if ((slash = strrchr(rel, '/'))) {
		*slash = '\0';
		parent = rel;
		base = slash + 1;
	}
	if ((dirfd = cached_parent(c, parent)) < 0)
		return -1;
	if (slash)
		*slash = '/';
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(c, e, dirfd, base);
	if (hl)
		return apply_hardlink(c, hl, dirfd, base);
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return apply_file(c, e, dirfd, base);
	case AE_IFDIR:
		return apply_dir(c, e, dirfd, base, rel);
	case AE_IFLNK:
		return apply_symlink(c, e, dirfd, base);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return apply_special(c, e, dirfd, base);
	default:
		return fail(c, EBADMSG, "entry of type %04o cannot be applied",
		            (unsigned)archive_entry_filetype(e));
	}
}

/* Whether the legacy inode fd is what the header describes, to the letter (type, mode, owner,
 * size, mtime, and the same xattrs with the same values): only then may the snapshot share it. */
static bool same_as_header(struct dm_applier *c, int fd, struct archive_entry *e)
{
	struct stat st;
	const char *xn;
	const void *v;
	size_t len, nheader = 0, nfile = 0;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != archive_entry_perm(e) ||
	    (int64_t)st.st_uid != archive_entry_uid(e) || (int64_t)st.st_gid != archive_entry_gid(e) ||
	    st.st_size != archive_entry_size(e) || st.st_mtim.tv_sec != archive_entry_mtime(e) ||
	    st.st_mtim.tv_nsec != archive_entry_mtime_nsec(e))
		return false;
	if (!c->xbuf && !(c->xbuf = malloc(XATTR_SIZE_MAX + XATTR_LIST_MAX)))
		return false;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xn, &v, &len) == ARCHIVE_OK) {
		if (fgetxattr(fd, xn, c->xbuf, XATTR_SIZE_MAX) != (ssize_t)len || memcmp(c->xbuf, v, len))
			return false;
		nheader++;
	}
	n = flistxattr(fd, c->xbuf + XATTR_SIZE_MAX, XATTR_LIST_MAX);
	if (n < 0)
		return errno == ENOTSUP && nheader == 0;
	for (const char *p = c->xbuf + XATTR_SIZE_MAX; p < c->xbuf + XATTR_SIZE_MAX + n; p += strlen(p) + 1)
		nfile++;
	return nfile == nheader;
}

int dm_apply_take_file(void *ap, int fd, dm_error *err)
{
	struct dm_applier *c = ap;
	char p[64];
	int tmp;

	(void)err;
	if (!c->pend.active || c->o->mode == DM_COPY_COPY)
		return fd;
	c->pend.active = false;
	if (c->o->mode == DM_COPY_HARDLINK) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		/* EXDEV, EMLINK, EPERM (protected_hardlinks): the bytes are written instead. */
		c->pend.linked = same_as_header(c, fd, c->pend.e) &&
		                 linkat(AT_FDCWD, p, c->pend.dirfd, c->pend.name, AT_SYMLINK_FOLLOW) == 0;
		return fd;
	}
	/* Reflink: the clone is made first and the stream is read from it, so the snapshot file
	 * holds exactly the bytes that are hashed, whatever happens to the legacy file meanwhile. */
	tmp = openat(c->pend.dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
		return fd;
	if (ioctl(tmp, FICLONE, fd) < 0 || (c->pend.clone = dup(tmp)) < 0) {
		close(tmp);
		return fd;
	}
	return tmp;
}

static la_ssize_t read_cb(struct archive *a, void *opaque, const void **buf)
{
	struct dm_applier *c = opaque;
	size_t len;
	int rc = c->src(c->opaque, buf, &len, &c->src_err);

	if (rc < 0) {
		c->src_failed = true;
		archive_set_error(a, EIO, "the layer stream failed");
		return -1;
	}
	return rc == 0 ? 0 : (la_ssize_t)len;
}

/* libarchive warns when a name cannot be shown in this locale; the bytes are kept, and names
 * are bytes to the kernel.  Any other warning is damage. */
static bool charset_warning(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s && strstr(s, "can't be converted");
}

static int set_dir_times(struct dm_applier *c)
{
	for (size_t i = c->ndt; i-- > 0;) {
		int fd = open_dir_in(c->root, c->dt[i].rel);

		/* Gone again (a later whiteout, a replacement): nothing to set. */
		if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
			continue;
		if (fd < 0 || futimens(fd, c->dt[i].ts) < 0) {
			dm_err_sys(c->err, "%s/%s: set times", c->o->dir, c->dt[i].rel);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int run(struct dm_applier *c)
{
	struct archive_entry *e;
	const void *buf;
	size_t len;
	int r;

	c->root = open(c->o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->root < 0)
		return dm_err_sys(c->err, "%s: open", c->o->dir);
	if (c->o->form == DM_APPLY_OVERLAY && c->o->nlowerdirs) {
		if (!(c->lowers = calloc(c->o->nlowerdirs, sizeof *c->lowers)))
			return dm_err_nomem(c->err);
		for (; c->nlowers < c->o->nlowerdirs; c->nlowers++) {
			c->lowers[c->nlowers] = open(c->o->lowerdirs[c->nlowers],
			                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c->lowers[c->nlowers] < 0)
				return dm_err_sys(c->err, "%s: open", c->o->lowerdirs[c->nlowers]);
		}
	}
	if (!(c->a = archive_read_new()) || archive_read_support_format_tar(c->a) != ARCHIVE_OK ||
	    archive_read_open(c->a, c, NULL, read_cb, NULL) != ARCHIVE_OK) {
		if (c->src_failed) {
			*c->err = c->src_err;
			return -1;
		}
		return dm_err_set(c->err, c->a ? EBADMSG : ENOMEM, "not a tar stream: %s",
		                  c->a ? archive_error_string(c->a) : "out of memory");
	}
	for (;;) {
		r = archive_read_next_header(c->a, &e);
		if (r == ARCHIVE_EOF)
			break;
		c->st.entries++;
		if (c->src_failed) {
			*c->err = c->src_err;
			return -1;
		}
		if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && !charset_warning(c->a))) {
			dm_quote_name("(header)", 8, c->q, sizeof c->q);
			return fail(c, EBADMSG, "bad tar header: %s", archive_error_string(c->a));
		}
		if (c->st.entries > DM_APPLY_MAX_ENTRIES)
			return fail(c, E2BIG, "more than %d entries in one layer", DM_APPLY_MAX_ENTRIES);
		if (apply_entry(c, e) < 0)
			return -1;
	}
	/* The bytes after the end-of-archive blocks belong to the stream too. */
	while ((r = c->src(c->opaque, &buf, &len, c->err)) > 0)
		;
	if (r < 0)
		return -1;
	return set_dir_times(c);
}

dm_applier *dm_apply_new(const dm_apply_options *o, dm_error *err)
{
	struct dm_applier *c = calloc(1, sizeof *c);

	if (!c) {
		dm_err_nomem(err);
		return NULL;
	}
	c->o = o;
	c->root = -1;
	c->cache_fd = -1;
	c->pend.clone = -1;
	return c;
}

int dm_apply_run(dm_applier *c, dm_source_fn src, void *opaque, dm_apply_stats *st, dm_error *err)
{
	int rc;

	c->src = src;
	c->opaque = opaque;
	c->err = err;
	rc = run(c);
	if (rc == 0 && st)
		*st = c->st;
	return rc;
}

void dm_apply_free(dm_applier *c)
{
	if (!c)
		return;
	if (c->a)
		archive_read_free(c->a);
	cache_drop(c);
	for (size_t i = 0; i < c->nlowers; i++)
		close(c->lowers[i]);
	free(c->lowers);
	for (size_t i = 0; i < c->ndt; i++)
		free(c->dt[i].rel);
	free(c->dt);
	free(c->made.v);
	free(c->xbuf);
	if (c->pend.clone >= 0)
		close(c->pend.clone);
	if (c->root >= 0)
		close(c->root);
	free(c);
}

static const char *const copy_modes[] = {
	[DM_COPY_AUTO] = "auto", [DM_COPY_REFLINK] = "reflink", [DM_COPY_HARDLINK] = "hardlink",
	[DM_COPY_COPY] = "copy",
};

int dm_copy_mode_parse(const char *name, enum dm_copy_mode *out, dm_error *err)
{
	for (size_t i = 0; i < sizeof copy_modes / sizeof *copy_modes; i++)
		if (!strcmp(name, copy_modes[i])) {
			*out = (enum dm_copy_mode)i;
			return 0;
		}
	return dm_err_set(err, EINVAL, "unknown copy mode \"%s\" (auto, reflink, hardlink or copy)", name);
}

const char *dm_copy_mode_name(enum dm_copy_mode m)
{
	return copy_modes[m];
}

int dm_apply_has(const dm_apply_options *o, const char *rel, dm_error *err)
{
	const char *slash = strrchr(rel, '/'), *base = slash ? slash + 1 : rel;
	char *parent = strndup(rel, slash ? (size_t)(slash - rel) : 0);
	size_t ntrees = 1 + (o->form == DM_APPLY_OVERLAY ? o->nlowerdirs : 0);
	int rc = 0;

	if (!parent)
		return dm_err_nomem(err);
	/* The tree itself, then (overlay) the lowers as the kernel looks down: a whiteout hides. */
	for (size_t i = 0; i < ntrees && rc == 0; i++) {
		const char *tree = i == 0 ? o->dir : o->lowerdirs[i - 1];
		int root = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd;
		struct stat st;

		if (root < 0) {
			rc = dm_err_sys(err, "%s: open", tree);
			break;
		}
		fd = open_dir_in(root, parent);
		close(root);
		if (fd < 0)
			continue;
		if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
			rc = o->form == DM_APPLY_OVERLAY && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0) ? 2 : 1;
		close(fd);
	}
	free(parent);
	return rc < 0 ? -1 : rc == 1;
}
