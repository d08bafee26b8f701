/* LD_PRELOAD shim for tests/symlink-swap.sh: wins the race an attacker with
 * write access to a Docker store would have to win, deterministically.
 *
 * The first time the process opens a regular file beneath DM_SWAP_TRIGGER
 * (a layer's root; the path is taken from /proc/self/fd of the descriptor the
 * real call returned, so relative and *at names count too), and only then,
 * DM_SWAP_DIR is renamed to DM_SWAP_DIR.swapped-away and a symlink to
 * DM_SWAP_TO put in its place.  The open that triggered it, and every
 * descriptor already open, keep the real tree; any later lookup by path
 * through DM_SWAP_DIR lands in DM_SWAP_TO.  One line saying what was swapped
 * is appended to DM_SWAP_LOG, so that the test knows the swap happened.
 *
 * Intercepted: open, open64, openat, openat64 and syscall(SYS_openat2,
 * SYS_openat, SYS_open).  glibc's internal opens (opendir, fopen) are not
 * seen; the tool reads file data through openat2 or openat. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int swapped;

static void note(const char *what, const char *a, const char *b)
{
	const char *log = getenv("DM_SWAP_LOG");
	FILE *f = log ? fopen(log, "a") : NULL;

	if (!f)
		return;
	fprintf(f, "%s %s: %s\n", what, a, b);
	fclose(f);
}

static void maybe_swap(long fd)
{
	const char *trig = getenv("DM_SWAP_TRIGGER"), *dir = getenv("DM_SWAP_DIR"), *to = getenv("DM_SWAP_TO");
	char link[64], path[PATH_MAX], away[PATH_MAX];
	struct stat st;
	ssize_t n;
	size_t tl;
	int expect = 0, saved = errno;

	if (fd < 0 || !trig || !dir || !to || atomic_load(&swapped))
		return;
	if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	snprintf(link, sizeof link, "/proc/self/fd/%ld", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		goto out;
	path[n] = '\0';
	tl = strlen(trig);
	if (strncmp(path, trig, tl) != 0 || path[tl] != '/')
		goto out;
	if (!atomic_compare_exchange_strong(&swapped, &expect, 1))
		goto out;
	snprintf(away, sizeof away, "%s.swapped-away", dir);
	if (rename(dir, away) < 0 || symlink(to, dir) < 0) {
		note("swapshim: failed to swap", dir, strerror(errno));
		goto out;
	}
	note("swapped for a symlink:", dir, path);
out:
	errno = saved;
}

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *p, int flags, ...)
{
	va_list ap;
	mode_t m;
	int fd;
	REAL(open);

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	fd = real_open(p, flags, m);
	maybe_swap(fd);
	return fd;
}

int openat(int dirfd, const char *p, int flags, ...)
{
	va_list ap;
	mode_t m;
	int fd;
	REAL(openat);

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	fd = real_openat(dirfd, p, flags, m);
	maybe_swap(fd);
	return fd;
}

/* The same calls on every 64-bit ABI (off_t is 64 bits there). */
extern __typeof__(open) open64 __attribute__((alias("open")));
extern __typeof__(openat) openat64 __attribute__((alias("openat")));

long syscall(long nr, ...)
{
	va_list ap;
	long a[6], r;
	REAL(syscall);

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	r = real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	switch (nr) {
#ifdef SYS_openat2
	case SYS_openat2:
#endif
	case SYS_openat:
#ifdef SYS_open
	case SYS_open:
#endif
		maybe_swap(r);
		break;
	default:
		break;
	}
	return r;
}
