#include "config.h"
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

/* Room for quoted names in messages, leaving the rest of the line for context. */
#define QUOTE_MAX 480

const char *dm_quote_name(const char *name, size_t len, char *buf, size_t bufsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (bufsz < 8) {
		if (bufsz)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* Keep room for the longest escape, the "..." marker and the closing quote. */
		if (o + 4 + 4 + 1 >= bufsz) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

long dm_path_clean(const char *path, size_t len, char *out, size_t outsz, dm_error *err)
{
	char q[QUOTE_MAX];
	size_t o = 0, i = 0;

	if (memchr(path, '\0', len))
		return dm_err_set(err, EINVAL, "path %s contains a NUL byte",
		                  dm_quote_name(path, len, q, sizeof q));
	while (i < len) {
		size_t start, clen;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		clen = i - start;
		if (clen == 0 || (clen == 1 && path[start] == '.'))
			continue;
		if (clen == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (o == 0)
				return dm_err_set(err, EXDEV, "path %s escapes its root directory",
				                  dm_quote_name(path, len, q, sizeof q));
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o + (o > 0) + clen + 1 > outsz)
			return dm_err_set(err, ENAMETOOLONG, "path %s is too long",
			                  dm_quote_name(path, len, q, sizeof q));
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, path + start, clen);
		o += clen;
	}
	if (outsz == 0)
		return dm_err_set(err, ENAMETOOLONG, "path %s is too long",
		                  dm_quote_name(path, len, q, sizeof q));
	out[o] = '\0';
	return (long)o;
}

/* Cleans path into a fresh heap string; NULL with err set on failure. */
static char *clean_dup(const char *path, size_t len, int flags, dm_error *err)
{
	char q[QUOTE_MAX];
	char *clean;

	/* O_TMPFILE includes the O_DIRECTORY bit, so test it as a whole. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		dm_err_set(err, EINVAL, "open %s: creating files beneath a root is not supported",
		           dm_quote_name(path, len, q, sizeof q));
		return NULL;
	}
	clean = malloc(len + 1);
	if (!clean) {
		dm_err_nomem(err);
		dm_err_prefix(err, "open %s: ", dm_quote_name(path, len, q, sizeof q));
		return NULL;
	}
	if (dm_path_clean(path, len, clean, len + 1, err) < 0) {
		free(clean);
		return NULL;
	}
	return clean;
}

/* The walk keeps the resolved prefix as text so that ".." can be honoured by
 * re-walking from the root rather than by opening "..", which could leave the
 * root if a directory were moved meanwhile. */
struct walk {
	int root;
	int cur;        /* fd of the directory reached so far, or root */
	char *done;     /* components resolved so far, "a/b", symlink-free */
	size_t done_len;
	char *todo;     /* what is left to resolve */
	size_t pos;
};

static void walk_set_cur(struct walk *w, int fd)
{
	if (w->cur != w->root)
		close(w->cur);
	w->cur = fd;
}

/* Re-opens w->done from the root after a ".." dropped its last component. */
static int walk_reopen(struct walk *w)
{
	size_t i = 0;

	walk_set_cur(w, w->root);
	while (i < w->done_len) {
		size_t start = i;
		int fd;

		while (i < w->done_len && w->done[i] != '/')
			i++;
		w->done[i] = '\0';
		fd = openat(w->cur, w->done + start, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (i < w->done_len)
			w->done[i++] = '/';
		if (fd < 0)
			return -1;
		walk_set_cur(w, fd);
	}
	return 0;
}

/* Replaces the component just read with the symlink target of fd: the rest of
 * todo is appended to the target, and an absolute target restarts at the root. */
static int walk_follow(struct walk *w, int fd, int *links)
{
	char target[PATH_MAX];
	ssize_t n;
	size_t rest;
	char *todo;

	if (++*links > DM_RESOLVE_MAX_SYMLINKS) {
		errno = ELOOP;
		return -1;
	}
	n = readlinkat(fd, "", target, sizeof target);
	if (n < 0)
		return -1;
	if (n == 0 || (size_t)n >= sizeof target) {
		errno = n == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	rest = strlen(w->todo + w->pos);
	todo = malloc((size_t)n + 1 + rest + 1);
	if (!todo)
		return -1;
	memcpy(todo, target, (size_t)n);
	todo[n] = '/';
	memcpy(todo + n + 1, w->todo + w->pos, rest + 1);
	free(w->todo);
	w->todo = todo;
	w->pos = 0;
	if (target[0] == '/') {
		walk_set_cur(w, w->root);
		w->done_len = 0;
	}
	return 0;
}

static int walk_push(struct walk *w, const char *name, size_t len)
{
	char *done = realloc(w->done, w->done_len + 1 + len + 1);

	if (!done)
		return -1;
	w->done = done;
	if (w->done_len)
		w->done[w->done_len++] = '/';
	memcpy(w->done + w->done_len, name, len);
	w->done_len += len;
	w->done[w->done_len] = '\0';
	return 0;
}

/* Resolves w->todo; returns the opened fd or -1 with errno set. */
static int walk_run(struct walk *w, int flags)
{
	int links = 0;

	for (;;) {
		char *name, *end;
		size_t nlen;
		bool last;
		struct stat st;
		int fd;

		while (w->todo[w->pos] == '/')
			w->pos++;
		if (w->todo[w->pos] == '\0')
			return openat(w->cur, ".", flags | O_CLOEXEC);
		name = w->todo + w->pos;
		end = strchr(name, '/');
		nlen = end ? (size_t)(end - name) : strlen(name);
		w->pos += nlen;
		last = name[nlen + strspn(name + nlen, "/")] == '\0';
		if (nlen == 1 && name[0] == '.')
			continue;
		if (nlen == 2 && name[0] == '.' && name[1] == '.') {
			/* Like chroot, ".." at the root stays at the root. */
			if (w->done_len == 0)
				continue;
			while (w->done_len > 0 && w->done[w->done_len - 1] != '/')
				w->done_len--;
			if (w->done_len > 0)
				w->done_len--;
			w->done[w->done_len] = '\0';
			if (walk_reopen(w) < 0)
				return -1;
			continue;
		}
		if (nlen > NAME_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		char comp[NAME_MAX + 1];
		memcpy(comp, name, nlen);
		comp[nlen] = '\0';
		if (last && (flags & O_NOFOLLOW))
			return openat(w->cur, comp, flags | O_CLOEXEC);
		fd = openat(w->cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return -1;
		}
		if (S_ISLNK(st.st_mode)) {
			int r = walk_follow(w, fd, &links);
			close(fd);
			if (r < 0)
				return -1;
			continue;
		}
		if (last) {
			close(fd);
			/* O_NOFOLLOW: a symlink swapped in since the probe fails rather than being followed. */
			return openat(w->cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			return -1;
		}
		if (walk_push(w, comp, nlen) < 0) {
			close(fd);
			return -1;
		}
		walk_set_cur(w, fd);
	}
}

static int walk_clean(int root_fd, char *clean, int flags, const char *path, size_t len,
                      dm_error *err)
{
	char q[QUOTE_MAX];
	struct walk w = { .root = root_fd, .cur = root_fd, .todo = clean };
	int fd = walk_run(&w, flags);
	int saved = errno;

	walk_set_cur(&w, root_fd);
	free(w.done);
	free(w.todo);
	if (fd < 0) {
		errno = saved;
		return dm_err_sys(err, "open %s", dm_quote_name(path, len, q, sizeof q));
	}
	return fd;
}

int dm_open_beneath_walk(int root_fd, const char *path, size_t len, int flags, dm_error *err)
{
	char *clean = clean_dup(path, len, flags, err);

	if (!clean)
		return -1;
	return walk_clean(root_fd, clean, flags, path, len, err);
}

int dm_open_beneath(int root_fd, const char *path, size_t len, int flags, dm_error *err)
{
	char *clean = clean_dup(path, len, flags, err);

	if (!clean)
		return -1;
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	{
		char q[QUOTE_MAX];
		struct open_how how = {
			.flags = (unsigned)(flags | O_CLOEXEC),
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		long fd = -1;

		/* EAGAIN means a concurrent rename raced the lookup; the kernel asks for a retry. */
		for (int tries = 0; tries < 8; tries++) {
			fd = syscall(SYS_openat2, root_fd, clean[0] ? clean : ".", &how, sizeof how);
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0) {
			free(clean);
			return (int)fd;
		}
		/* Paths over PATH_MAX are legal in tar; the walk opens them one component at a time. */
		if (errno != ENOSYS && errno != EAGAIN && errno != ENAMETOOLONG) {
			free(clean);
			return dm_err_sys(err, "open %s", dm_quote_name(path, len, q, sizeof q));
		}
	}
#endif
	return walk_clean(root_fd, clean, flags, path, len, err);
}

/* The ".." and absolute names dm_openat_nosym refuses, before anything is opened. */
static bool nosym_name_ok(const char *rel)
{
	if (rel[0] == '/')
		return false;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += strspn(p, "/");
	}
	return true;
}

/* Closes fd and fails with code, or with fstat's errno when that is what failed. */
static int nosym_fail(int fd, int code)
{
	int saved = errno;
	struct stat st;

	if (fstat(fd, &st) == 0)
		saved = code;
	close(fd);
	errno = saved;
	return -1;
}

/* An O_PATH open with O_NOFOLLOW gives the symlink itself, and O_DIRECTORY makes Linux say
 * ENOTDIR for one: refuse it with ELOOP as for any other symlink. */
static int nosym_checked(int dir_fd, const char *rel, int fd, int flags)
{
	struct stat st;

	if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY) &&
	    fstatat(dir_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		errno = ELOOP;
	if (fd < 0 || !(flags & O_PATH))
		return fd;
	if (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode))
		return fd;
	return nosym_fail(fd, ELOOP);
}

/* The walk: every component but the last opened O_PATH | O_NOFOLLOW and checked to be a
 * directory, the last one with the caller's flags and O_NOFOLLOW. */
static int nosym_walk(int dir_fd, const char *rel, int flags, mode_t mode)
{
	const char *p = rel;
	int cur = dir_fd, fd;

	for (;;) {
		char comp[NAME_MAX + 1];
		struct stat st = { 0 };
		const char *next;
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		next = p + n + strspn(p + n, "/");
		if (n == 1 && p[0] == '.' && *next) {
			p = next;
			continue;
		}
		if (n > NAME_MAX) {
			fd = -1;
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(comp, n ? p : ".", n ? n : 1);
		comp[n ? n : 1] = '\0';
		if (!*next) {
			fd = nosym_checked(cur, comp, openat(cur, comp, flags, mode), flags);
			break;
		}
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)))
			fd = nosym_fail(fd, S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR);
		if (fd < 0)
			break;
		if (cur != dir_fd)
			close(cur);
		cur = fd;
		p = next;
	}
	if (cur != dir_fd) {
		int saved = errno;

		close(cur);
		errno = saved;
	}
	return fd;
}

int dm_openat_nosym(int dir_fd, const char *rel, int flags, mode_t mode)
{
	if (!nosym_name_ok(rel)) {
		errno = EXDEV;
		return -1;
	}
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE)
		mode = 0;
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	{
		struct open_how how = {
			.flags = (unsigned)flags,
			.mode = mode,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = -1;

		for (int tries = 0; tries < 8; tries++) {
			fd = syscall(SYS_openat2, dir_fd, rel[0] ? rel : ".", &how, sizeof how);
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0 || (errno != ENOSYS && errno != EAGAIN && errno != ENAMETOOLONG))
			return nosym_checked(dir_fd, rel, (int)fd, flags);
	}
#endif
	return nosym_walk(dir_fd, rel, flags, mode);
}

int dm_open_regular(int dir_fd, const char *rel, const char *path, struct stat *st, dm_error *err)
{
	struct stat sb;
	char proc[64];
	int p = dm_openat_nosym(dir_fd, rel, O_PATH, 0), fd;

	if (p < 0) {
		if (errno == ELOOP)
			return dm_err_set(err, ELOOP, "%s: is a symbolic link", path);
		return dm_err_sys(err, "%s", path);
	}
	if (fstat(p, &sb) < 0) {
		dm_err_sys(err, "%s", path);
		close(p);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(p);
		return dm_err_set(err, EINVAL, "%s: not a regular file", path);
	}
	/* Reopened through the O_PATH descriptor: the very inode that was checked. */
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", p);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(p);
	if (fd < 0)
		return dm_err_sys(err, "%s", path);
	if (st)
		*st = sb;
	return fd;
}

char *dm_path_join(const char *a, const char *b, dm_error *err)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0) {
		dm_err_nomem(err);
		return NULL;
	}
	return p;
}

int dm_read_fd(int fd, const char *path, size_t cap, char **out, size_t *len, dm_error *err)
{
	struct stat sb;
	size_t n = 0;
	char *buf;

	if (fstat(fd, &sb) < 0)
		return dm_err_sys(err, "%s", path);
	if ((uint64_t)sb.st_size > cap)
		return dm_err_set(err, EFBIG, "%s: %jd bytes, more than the %zu-byte limit", path,
				  (intmax_t)sb.st_size, cap);
	if (!(buf = malloc((size_t)sb.st_size + 1)))
		return dm_err_nomem(err);
	/* One byte of slack detects a file that grew while being read. */
	for (;;) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			dm_err_sys(err, "%s", path);
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > (size_t)sb.st_size) {
			free(buf);
			return dm_err_set(err, EAGAIN, "%s: changed while being read", path);
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int dm_read_small_file(const char *path, size_t cap, char **out, size_t *len, bool *present, mode_t *mode,
		       dm_error *err)
{
	struct stat sb;
	int fd, rc;

	*out = NULL, *len = 0, *present = false;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT)
			return 0;
		return dm_err_sys(err, "%s", path);
	}
	if (fstat(fd, &sb) < 0) {
		rc = dm_err_sys(err, "%s", path);
	} else if (!S_ISREG(sb.st_mode)) {
		rc = dm_err_set(err, EINVAL, "%s: not a regular file", path);
	} else if ((rc = dm_read_fd(fd, path, cap, out, len, err)) == 0) {
		*present = true;
		if (mode)
			*mode = sb.st_mode & 07777;
	}
	close(fd);
	return rc;
}
