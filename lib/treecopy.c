#include "config.h"
#include "treecopy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_BUF_SIZE (256 * 1024)

/* Where an inode with several names was first copied, relative to the destination root. */
struct link {
	dev_t dev;
	ino_t ino;
	char *rel;   /* NULL: free slot */
};

struct ctx {
	const char *what;          /* "treecopy" or "remove": first word of every message */
	const char *src, *dst;     /* roots as the caller named them, for messages */
	int dst_root;
	dev_t dst_dev;
	ino_t dst_ino;
	bool reflink, cfr, noatime; /* still worth trying */
	bool copy_up;              /* overlayfs copy-up: its own xattrs (*.overlay.*) stay behind */
	char *rel;                 /* path of the current entry below the roots, "" at the root */
	size_t rel_len, rel_cap;
	struct link *links;        /* open addressing, capacity a power of two */
	size_t nlinks, links_cap;
	char *buf;                 /* file data, symlink targets */
	char *xnames;              /* XATTR_LIST_MAX + 1: always NUL-terminated */
	char *xvalue;              /* XATTR_SIZE_MAX */
	dm_treecopy_stats st;
	dm_error *err;
};

enum side { SRC, DST };

/* Message: "<what>: <root>/<rel>: <op>[: strerror]".  errno survives formatting of op. */
static int vfail(struct ctx *c, enum side side, int code, const char *fmt, va_list ap)
{
	char op[512];
	int saved = errno;

	vsnprintf(op, sizeof op, fmt, ap);
	if (code)
		return dm_err_set(c->err, code, "%s: %s%s%s: %s", c->what, side == DST ? c->dst : c->src,
		                  c->rel_len ? "/" : "", c->rel, op);
	errno = saved;
	return dm_err_sys(c->err, "%s: %s%s%s: %s", c->what, side == DST ? c->dst : c->src,
	                  c->rel_len ? "/" : "", c->rel, op);
}

static int fail(struct ctx *c, enum side side, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, enum side side, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, side, 0, fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_code(struct ctx *c, enum side side, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_code(struct ctx *c, enum side side, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, side, code, fmt, ap);
	va_end(ap);
	return -1;
}

static int push(struct ctx *c, const char *name, size_t *saved)
{
	size_t n = strlen(name), need = c->rel_len + n + 2;

	if (need > c->rel_cap) {
		char *p = realloc(c->rel, need * 2);

		if (!p)
			return fail(c, SRC, "%s", name);
		c->rel = p;
		c->rel_cap = need * 2;
	}
	*saved = c->rel_len;
	if (c->rel_len)
		c->rel[c->rel_len++] = '/';
	memcpy(c->rel + c->rel_len, name, n + 1);
	c->rel_len += n;
	return 0;
}

static void pop(struct ctx *c, size_t saved)
{
	c->rel_len = saved;
	c->rel[saved] = '\0';
}

static struct link *link_slot(struct link *tab, size_t cap, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32 | (uint64_t)dev >> 32)) * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 17) & (cap - 1);

	while (tab[i].rel && (tab[i].dev != dev || tab[i].ino != ino))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static const char *link_find(const struct ctx *c, dev_t dev, ino_t ino)
{
	return c->links_cap ? link_slot(c->links, c->links_cap, dev, ino)->rel : NULL;
}

/* Remembers the current entry as the first copy of (dev, ino). */
static int link_add(struct ctx *c, dev_t dev, ino_t ino)
{
	struct link *l;

	if ((c->nlinks + 1) * 2 > c->links_cap) {
		size_t cap = c->links_cap ? c->links_cap * 2 : 64;
		struct link *tab = calloc(cap, sizeof *tab);

		if (!tab)
			return fail(c, SRC, "hard link table");
		for (size_t i = 0; i < c->links_cap; i++)
			if (c->links[i].rel)
				*link_slot(tab, cap, c->links[i].dev, c->links[i].ino) = c->links[i];
		free(c->links);
		c->links = tab;
		c->links_cap = cap;
	}
	l = link_slot(c->links, c->links_cap, dev, ino);
	l->rel = strdup(c->rel);
	if (!l->rel)
		return fail(c, SRC, "hard link table");
	l->dev = dev;
	l->ino = ino;
	c->nlinks++;
	return 0;
}

static int open_src(struct ctx *c, int dirfd, const char *name, int flags)
{
	int fd;

	flags |= O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
	if (c->noatime) {
		fd = openat(dirfd, name, flags | O_NOATIME);
		/* EPERM: neither owner nor CAP_FOWNER; reading then updates atime, nothing worse. */
		if (fd >= 0 || errno != EPERM)
			return fd;
		c->noatime = false;
	}
	return openat(dirfd, name, flags);
}

/* The entry opened is the one that was stat'ed: a swap in between would make us copy (or
 * descend into) something else. */
static int check_same(struct ctx *c, int fd, const struct stat *st)
{
	struct stat now;

	if (fstat(fd, &now) < 0)
		return fail(c, SRC, "fstat");
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
	    (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT))
		return fail_code(c, SRC, EAGAIN, "changed while copying");
	return 0;
}

/* An inode whose xattrs, owner, mode and times are read or set: through an fd when we hold one,
 * otherwise (symlinks, devices: opening those is impossible or has side effects) by its name in
 * an open directory, reached through /proc/self/fd so the lookup stays fd-relative. */
struct node {
	int fd;
	int dirfd;
	const char *name;
};

static void proc_path(const struct node *n, char *p, size_t size)
{
	snprintf(p, size, "/proc/self/fd/%d/%s", n->dirfd, n->name);
}

static ssize_t x_list(const struct node *n, char *buf, size_t size)
{
	char p[300];

	if (n->fd >= 0)
		return flistxattr(n->fd, buf, size);
	proc_path(n, p, sizeof p);
	return llistxattr(p, buf, size);
}

static ssize_t x_get(const struct node *n, const char *name, void *buf, size_t size)
{
	char p[300];

	if (n->fd >= 0)
		return fgetxattr(n->fd, name, buf, size);
	proc_path(n, p, sizeof p);
	return lgetxattr(p, name, buf, size);
}

static int x_set(const struct node *n, const char *name, const void *buf, size_t size)
{
	char p[300];

	if (n->fd >= 0)
		return fsetxattr(n->fd, name, buf, size, 0);
	proc_path(n, p, sizeof p);
	return lsetxattr(p, name, buf, size, 0);
}

static int copy_xattrs(struct ctx *c, const struct node *s, const struct node *d)
{
	ssize_t len = x_list(s, c->xnames, XATTR_LIST_MAX);

	if (len < 0)
		return errno == ENOTSUP ? 0 : fail(c, SRC, "listxattr");
	c->xnames[len] = '\0';
	for (const char *name = c->xnames; name < c->xnames + len; name += strlen(name) + 1) {
		ssize_t vlen;

		if (c->copy_up && (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13)))
			continue;
		vlen = x_get(s, name, c->xvalue, XATTR_SIZE_MAX);
		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			return fail(c, SRC, "getxattr %s", name);
		}
		if (x_set(d, name, c->xvalue, (size_t)vlen) < 0)
			return fail(c, DST, "setxattr %s", name);
	}
	return 0;
}

/* Owner first (chown clears setuid/setgid and security.capability), then xattrs (ACLs touch the
 * group bits), then the exact mode, then times (every step before changes ctime/mtime). */
static int set_meta(struct ctx *c, const struct node *s, const struct node *d, const struct stat *st)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };
	struct stat now;
	int rc;

	rc = d->fd >= 0 ? fchown(d->fd, st->st_uid, st->st_gid)
	                : fchownat(d->dirfd, d->name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return fail(c, DST, "chown %u:%u", (unsigned)st->st_uid, (unsigned)st->st_gid);
	if (copy_xattrs(c, s, d) < 0)
		return -1;
	if (!S_ISLNK(st->st_mode)) {
		rc = d->fd >= 0 ? fchmod(d->fd, st->st_mode & 07777)
		                : fchmodat(d->dirfd, d->name, st->st_mode & 07777, 0);
		if (rc < 0)
			return fail(c, DST, "chmod %04o", (unsigned)(st->st_mode & 07777));
	}
	rc = d->fd >= 0 ? futimens(d->fd, times) : utimensat(d->dirfd, d->name, times, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return fail(c, DST, "set times");
	rc = d->fd >= 0 ? fstat(d->fd, &now) : fstatat(d->dirfd, d->name, &now, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return fail(c, DST, "stat");
	c->st.inodes++;
	c->st.usage += (uint64_t)now.st_blocks * 512;
	return 0;
}

static int copy_range(struct ctx *c, int in, int out, off_t off, off_t len)
{
	while (len > 0) {
		size_t chunk = len > COPY_BUF_SIZE ? COPY_BUF_SIZE : (size_t)len;
		ssize_t n, w;

#ifdef HAVE_COPY_FILE_RANGE
		if (c->cfr) {
			off_t ioff = off, ooff = off;

			n = copy_file_range(in, &ioff, out, &ooff, (size_t)len, 0);
			if (n > 0) {
				off += n;
				len -= n;
				continue;
			}
			if (n == 0)
				return fail_code(c, SRC, EAGAIN, "shrank while copying");
			if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
				return fail(c, DST, "copy_file_range");
			c->cfr = false;
		}
#endif
		n = pread(in, c->buf, chunk, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, SRC, "read");
		}
		if (n == 0)
			return fail_code(c, SRC, EAGAIN, "shrank while copying");
		for (ssize_t done = 0; done < n; done += w) {
			w = pwrite(out, c->buf + done, (size_t)(n - done), off + done);
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				return fail(c, DST, "write");
			}
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Copies the data extents only, so holes stay holes; ftruncate restores a trailing hole. */
static int copy_data(struct ctx *c, int in, int out, const struct stat *st)
{
	struct stat after;
	off_t off = 0;

	if (c->reflink) {
		if (ioctl(out, FICLONE, in) == 0) {
			c->st.reflinked++;
			goto check;
		}
		if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV && errno != EINVAL)
			return fail(c, DST, "clone");
		c->reflink = false;
	}
	while (off < st->st_size) {
		off_t data = lseek(in, off, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break;
			return fail(c, SRC, "seek data");
		}
		if (data >= st->st_size)
			break;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return fail(c, SRC, "seek hole");
		if (hole > st->st_size)
			hole = st->st_size;
		if (copy_range(c, in, out, data, hole - data) < 0)
			return -1;
		off = hole;
	}
	if (ftruncate(out, st->st_size) < 0)
		return fail(c, DST, "truncate");
check:
	if (fstat(in, &after) < 0)
		return fail(c, SRC, "fstat");
	if (after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
		return fail_code(c, SRC, EAGAIN, "changed while copying");
	return 0;
}

static int copy_file(struct ctx *c, int sfd, int dfd, const char *name, const struct stat *st)
{
	int in, out, rc = -1;

	in = open_src(c, sfd, name, O_RDONLY | O_NONBLOCK);
	if (in < 0)
		return fail(c, SRC, "open");
	if (check_same(c, in, st) < 0)
		goto close_in;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		fail(c, DST, "create");
		goto close_in;
	}
	if (copy_data(c, in, out, st) == 0 &&
	    set_meta(c, &(struct node){ in, sfd, name }, &(struct node){ out, dfd, name }, st) == 0) {
		c->st.files++;
		c->st.bytes += (uint64_t)st->st_size;
		rc = 0;
	}
	close(out);
close_in:
	close(in);
	return rc;
}

static int copy_symlink(struct ctx *c, int sfd, int dfd, const char *name, const struct stat *st)
{
	ssize_t n = readlinkat(sfd, name, c->buf, PATH_MAX);

	if (n < 0)
		return fail(c, SRC, "readlink");
	if (n >= PATH_MAX)
		return fail_code(c, SRC, ENAMETOOLONG, "symlink target longer than %d bytes", PATH_MAX - 1);
	c->buf[n] = '\0';
	if (symlinkat(c->buf, dfd, name) < 0)
		return fail(c, DST, "symlink");
	if (set_meta(c, &(struct node){ -1, sfd, name }, &(struct node){ -1, dfd, name }, st) < 0)
		return -1;
	c->st.symlinks++;
	return 0;
}

static int copy_special(struct ctx *c, int sfd, int dfd, const char *name, const struct stat *st)
{
	/* No permission bits yet: set_meta sets the exact mode after the owner. */
	if (mknodat(dfd, name, st->st_mode & S_IFMT, st->st_rdev) < 0)
		return fail(c, DST, "mknod");
	if (set_meta(c, &(struct node){ -1, sfd, name }, &(struct node){ -1, dfd, name }, st) < 0)
		return -1;
	c->st.specials++;
	return 0;
}

static int copy_entries(struct ctx *c, DIR *dir, int dfd, int depth);

static int copy_dir(struct ctx *c, int sfd, int dfd, const char *name, const struct stat *st, int depth)
{
	DIR *dir;
	int s, d, rc = -1;

	if (depth > DM_TREECOPY_MAX_DEPTH)
		return fail_code(c, SRC, ELOOP, "more than %d directory levels", DM_TREECOPY_MAX_DEPTH);
	if (st->st_dev == c->dst_dev && st->st_ino == c->dst_ino)
		return fail_code(c, SRC, EINVAL, "is the destination, which must not be inside the source");
	s = open_src(c, sfd, name, O_RDONLY | O_DIRECTORY);
	if (s < 0)
		return fail(c, SRC, "open");
	if (check_same(c, s, st) < 0) {
		close(s);
		return -1;
	}
	dir = fdopendir(s);
	if (!dir) {
		fail(c, SRC, "opendir");
		close(s);
		return -1;
	}
	/* Owner-only until set_meta: nobody else can look into a half-copied directory. */
	if (mkdirat(dfd, name, 0700) < 0) {
		fail(c, DST, "mkdir");
		goto close_dir;
	}
	d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0) {
		fail(c, DST, "open");
		goto close_dir;
	}
	if (copy_entries(c, dir, d, depth) == 0 &&
	    set_meta(c, &(struct node){ dirfd(dir), -1, NULL }, &(struct node){ d, -1, NULL }, st) == 0) {
		c->st.dirs++;
		rc = 0;
	}
	close(d);
close_dir:
	closedir(dir);
	return rc;
}

static int copy_entry(struct ctx *c, int sfd, int dfd, const char *name, int depth)
{
	struct stat st;
	bool shared;
	int rc;

	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, SRC, "lstat");
	shared = !S_ISDIR(st.st_mode) && !S_ISSOCK(st.st_mode) && st.st_nlink > 1;
	if (shared) {
		const char *first = link_find(c, st.st_dev, st.st_ino);

		if (first) {
			if (linkat(c->dst_root, first, dfd, name, 0) < 0)
				return fail(c, DST, "link to %s", first);
			c->st.hardlinks++;
			return 0;
		}
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		rc = copy_file(c, sfd, dfd, name, &st);
		break;
	case S_IFDIR:
		rc = copy_dir(c, sfd, dfd, name, &st, depth + 1);
		break;
	case S_IFLNK:
		rc = copy_symlink(c, sfd, dfd, name, &st);
		break;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		rc = copy_special(c, sfd, dfd, name, &st);
		break;
	case S_IFSOCK:
		c->st.sockets_skipped++;
		return 0;
	default:
		return fail_code(c, SRC, EINVAL, "unknown file type %#o", (unsigned)(st.st_mode & S_IFMT));
	}
	if (rc == 0 && shared)
		rc = link_add(c, st.st_dev, st.st_ino);
	return rc;
}

static int copy_entries(struct ctx *c, DIR *dir, int dfd, int depth)
{
	for (;;) {
		struct dirent *e;
		size_t saved;
		int rc;

		errno = 0;
		e = readdir(dir);
		if (!e)
			return errno ? fail(c, SRC, "readdir") : 0;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (push(c, e->d_name, &saved) < 0)
			return -1;
		rc = copy_entry(c, dirfd(dir), dfd, e->d_name, depth);
		pop(c, saved);
		if (rc < 0)
			return -1;
	}
}

static int init_ctx(struct ctx *c, const char *what, const char *src, const char *dst, dm_error *err)
{
	memset(c, 0, sizeof *c);
	c->what = what;
	c->src = src;
	c->dst = dst;
	c->dst_root = -1;
	c->noatime = true;
	c->err = err;
	c->rel_cap = 256;
	c->rel = calloc(1, c->rel_cap);
	if (!c->rel) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: %s: ", what, src);
	}
	return 0;
}

static void free_ctx(struct ctx *c)
{
	for (size_t i = 0; i < c->links_cap; i++)
		free(c->links[i].rel);
	free(c->links);
	free(c->rel);
	free(c->buf);
	free(c->xnames);
	free(c->xvalue);
	if (c->dst_root >= 0)
		close(c->dst_root);
}

/* O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR, which would hide the reason. */
static int fail_root(struct ctx *c, enum side side, const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return fail_code(c, side, ELOOP, "is a symlink, which is not followed");
	return fail(c, side, "open");
}

/* The destination root: made here, or (a prepared upperdir) an empty directory. */
static int open_dst_root(struct ctx *c, unsigned flags)
{
	struct stat st;

	if (!(flags & DM_TREECOPY_INTO_EXISTING) && mkdir(c->dst, 0700) < 0)
		return fail(c, DST, "mkdir");
	c->dst_root = open(c->dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->dst_root < 0)
		return fail_root(c, DST, c->dst);
	if (fstat(c->dst_root, &st) < 0)
		return fail(c, DST, "fstat");
	c->dst_dev = st.st_dev;
	c->dst_ino = st.st_ino;
	if (flags & DM_TREECOPY_INTO_EXISTING) {
		int fd = dup(c->dst_root);
		DIR *dir = fd < 0 ? NULL : fdopendir(fd);
		struct dirent *e;

		if (!dir) {
			if (fd >= 0)
				close(fd);
			return fail(c, DST, "opendir");
		}
		while ((e = readdir(dir)) && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0))
			;
		closedir(dir);
		if (e)
			return fail_code(c, DST, ENOTEMPTY, "destination is not empty");
	}
	return 0;
}

/* What copying files needs: data and xattr buffers of the kernel's maximum sizes. */
static int copy_buffers(struct ctx *c)
{
	c->cfr = true;
	c->buf = malloc(COPY_BUF_SIZE);
	c->xnames = malloc(XATTR_LIST_MAX + 1);
	c->xvalue = malloc(XATTR_SIZE_MAX);
	return c->buf && c->xnames && c->xvalue ? 0 : fail(c, SRC, "buffers");
}

/* The copy from the source root s (consumed). */
static int treecopy_from(struct ctx *c, int s, unsigned flags, dm_treecopy_stats *st)
{
	struct stat sst;
	DIR *dir = NULL;
	int rc = -1;

	c->reflink = flags & DM_TREECOPY_REFLINK;
	if (copy_buffers(c) < 0) {
		close(s);
		return -1;
	}
	dir = fdopendir(s);
	if (!dir) {
		fail(c, SRC, "opendir");
		close(s);
		return -1;
	}
	if (fstat(s, &sst) < 0) {
		fail(c, SRC, "fstat");
		goto out;
	}
	if (open_dst_root(c, flags) < 0 || copy_entries(c, dir, c->dst_root, 0) < 0)
		goto out;
	if (set_meta(c, &(struct node){ s, -1, NULL }, &(struct node){ c->dst_root, -1, NULL }, &sst) < 0)
		goto out;
	if (st)
		*st = c->st;
	rc = 0;
out:
	closedir(dir);
	return rc;
}

int dm_treecopy(const char *src, const char *dst, unsigned flags, dm_treecopy_stats *st,
                dm_error *err)
{
	struct ctx c;
	int s, rc = -1;

	if (init_ctx(&c, "treecopy", src, dst, err) < 0)
		return -1;
	s = open_src(&c, AT_FDCWD, src, O_RDONLY | O_DIRECTORY);
	if (s < 0)
		fail_root(&c, SRC, src);
	else
		rc = treecopy_from(&c, s, flags, st);
	free_ctx(&c);
	return rc;
}

int dm_treecopy_fd(int src_fd, const char *src, const char *dst, unsigned flags, dm_treecopy_stats *st,
                   dm_error *err)
{
	struct ctx c;
	int s, rc = -1;

	if (init_ctx(&c, "treecopy", src, dst, err) < 0)
		return -1;
	/* A directory fd of its own: the walk reads (and closes) it; O_PATH fds cannot be read. */
	s = openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s < 0)
		fail(&c, SRC, "open");
	else
		rc = treecopy_from(&c, s, flags, st);
	free_ctx(&c);
	return rc;
}

int dm_treecopy_up(int src_dirfd, int dst_dirfd, const char *name, const char *what, dm_error *err)
{
	struct ctx c;
	struct stat st;
	int rc = -1;

	if (init_ctx(&c, "copy-up", what, what, err) < 0)
		return -1;
	c.copy_up = true;
	if (copy_buffers(&c) < 0)
		goto out;
	if (fstatat(src_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fail(&c, SRC, "lstat");
		goto out;
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		rc = copy_file(&c, src_dirfd, dst_dirfd, name, &st);
		break;
	case S_IFLNK:
		rc = copy_symlink(&c, src_dirfd, dst_dirfd, name, &st);
		break;
	case S_IFDIR:
		if (mkdirat(dst_dirfd, name, 0700) < 0) {
			fail(&c, DST, "mkdir");
			break;
		}
		rc = set_meta(&c, &(struct node){ -1, src_dirfd, name }, &(struct node){ -1, dst_dirfd, name },
		              &st);
		break;
	case S_IFSOCK:
		rc = fail_code(&c, SRC, EOPNOTSUPP, "a socket cannot be copied up");
		break;
	default:
		rc = copy_special(&c, src_dirfd, dst_dirfd, name, &st);
	}
out:
	free_ctx(&c);
	return rc;
}

/* Adds the inodes below directory fd to c->st.inodes/usage, each inode once. */
static int usage_entries(struct ctx *c, int fd, int depth)
{
	DIR *dir = fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!dir) {
		close(fd);
		return fail(c, SRC, "opendir");
	}
	if (depth >= DM_TREECOPY_MAX_DEPTH) {
		closedir(dir);
		return fail_code(c, SRC, ELOOP, "deeper than %d levels", DM_TREECOPY_MAX_DEPTH);
	}
	while (rc == 0 && (errno = 0, e = readdir(dir))) {
		struct stat st;
		size_t saved;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (push(c, e->d_name, &saved) < 0) {
			rc = -1;
			break;
		}
		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = fail(c, SRC, "lstat");
		} else if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && link_find(c, st.st_dev, st.st_ino)) {
			/* counted under its first name */
		} else if ((rc = st.st_nlink > 1 && !S_ISDIR(st.st_mode) ? link_add(c, st.st_dev, st.st_ino) : 0) == 0) {
			c->st.inodes++;
			c->st.usage += (uint64_t)st.st_blocks * 512;
			if (S_ISDIR(st.st_mode)) {
				int sub = openat(dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				rc = sub < 0 ? fail(c, SRC, "open") : usage_entries(c, sub, depth + 1);
			}
		}
		pop(c, saved);
	}
	if (rc == 0 && errno)
		rc = fail(c, SRC, "readdir");
	closedir(dir);
	return rc;
}

/* The usage of the tree whose root fd is open (consumed). */
static int usage_from(struct ctx *c, int fd, uint64_t *inodes, uint64_t *bytes)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail(c, SRC, "fstat");
	}
	c->st.inodes = 1;
	c->st.usage = (uint64_t)st.st_blocks * 512;
	rc = usage_entries(c, fd, 0);
	if (rc == 0) {
		*inodes = c->st.inodes;
		*bytes = c->st.usage;
	}
	return rc;
}

int dm_tree_usage(const char *path, uint64_t *inodes, uint64_t *bytes, dm_error *err)
{
	struct ctx c;
	int fd, rc = -1;

	if (init_ctx(&c, "usage", path, path, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail_root(&c, SRC, path);
	else
		rc = usage_from(&c, fd, inodes, bytes);
	free_ctx(&c);
	return rc;
}

int dm_tree_usage_fd(int dir_fd, const char *path, uint64_t *inodes, uint64_t *bytes, dm_error *err)
{
	struct ctx c;
	int fd, rc = -1;

	if (init_ctx(&c, "usage", path, path, err) < 0)
		return -1;
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(&c, SRC, "open");
	else
		rc = usage_from(&c, fd, inodes, bytes);
	free_ctx(&c);
	return rc;
}

int dm_sync_fs(const char *path, dm_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return dm_err_sys(err, "%s: open", path);
	if (syncfs(fd) < 0) {
		dm_err_sys(err, "%s: syncfs", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int dm_reflink_probe(const char *src, const char *dst_dir)
{
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), out, rc = 0;

	if (in < 0)
		return -1;
	out = open(dst_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out >= 0) {
		rc = ioctl(out, FICLONE, in) == 0;
		close(out);
	}
	close(in);
	return rc;
}

static int remove_entries(struct ctx *c, int fd, int depth)
{
	DIR *dir = fdopendir(fd);
	int rc = 0;

	if (!dir) {
		fail(c, SRC, "opendir");
		close(fd);
		return -1;
	}
	/* Only the owner bits matter to an unprivileged caller; root ignores them anyway. */
	(void)fchmod(fd, S_IRWXU);
	for (;;) {
		struct dirent *e;
		struct stat st;
		size_t saved;

		errno = 0;
		e = readdir(dir);
		if (!e) {
			if (errno)
				rc = fail(c, SRC, "readdir");
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (push(c, e->d_name, &saved) < 0) {
			rc = -1;
			break;
		}
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = fail(c, SRC, "lstat");
		} else if (S_ISDIR(st.st_mode)) {
			int sub;

			if (depth + 1 > DM_TREECOPY_MAX_DEPTH)
				rc = fail_code(c, SRC, ELOOP, "more than %d directory levels", DM_TREECOPY_MAX_DEPTH);
			else if ((sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				rc = fail(c, SRC, "open");
			else if (remove_entries(c, sub, depth + 1) < 0)
				rc = -1;
			else if (unlinkat(fd, e->d_name, AT_REMOVEDIR) < 0)
				rc = fail(c, SRC, "rmdir");
		} else if (unlinkat(fd, e->d_name, 0) < 0) {
			rc = fail(c, SRC, "unlink");
		}
		pop(c, saved);
		if (rc < 0)
			break;
	}
	closedir(dir);
	return rc;
}

int dm_tree_remove(const char *path, dm_error *err)
{
	struct ctx c;
	struct stat st;
	int rc = -1, fd;

	if (init_ctx(&c, "remove", path, path, err) < 0)
		return -1;
	if (lstat(path, &st) < 0) {
		rc = errno == ENOENT ? 0 : fail(&c, SRC, "lstat");
	} else if (!S_ISDIR(st.st_mode)) {
		rc = unlink(path) < 0 ? fail(&c, SRC, "unlink") : 0;
	} else if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fail(&c, SRC, "open");
	} else if (remove_entries(&c, fd, 0) == 0) {
		rc = rmdir(path) < 0 ? fail(&c, SRC, "rmdir") : 0;
	}
	free_ctx(&c);
	return rc;
}

int dm_tree_clear(const char *path, dm_error *err)
{
	struct ctx c;
	int rc = -1, fd;

	if (init_ctx(&c, "clear", path, path, err) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		fail_root(&c, SRC, path);
	else
		rc = remove_entries(&c, fd, 0);
	free_ctx(&c);
	return rc;
}
