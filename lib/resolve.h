/* resolve: opening paths taken from hostile data (tar entry names, symlink
 * targets inside a layer) beneath a directory so that they can never reach
 * outside it.  Names are joined lexically as Go's filepath.Join does, then
 * every symlink met on the way is resolved as if the directory were the
 * filesystem root (openat2 RESOLVE_IN_ROOT, or an equivalent walk when the
 * kernel lacks openat2). */
#ifndef DM_RESOLVE_H
#define DM_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* Symlinks followed in one resolution before giving up with ELOOP (the kernel's own limit). */
#define DM_RESOLVE_MAX_SYMLINKS 40

/* Opens the len bytes at path (no NUL inside; "./x", "x/", "a//b", "/x" all allowed) beneath
 * root_fd with open(2) flags (O_CREAT/O_TMPFILE refused); returns an O_CLOEXEC fd or -1.
 * Names whose cleaned form climbs above the root fail with EXDEV; the message quotes the name. */
int dm_open_beneath(int root_fd, const char *path, size_t len, int flags, dm_error *err);

/* The same contract as dm_open_beneath, always using the portable component-by-component walk
 * (O_NOFOLLOW + readlinkat); dm_open_beneath uses it when openat2 is unavailable. */
int dm_open_beneath_walk(int root_fd, const char *path, size_t len, int flags, dm_error *err);

/* Opens rel beneath dir_fd following no symlink at all, neither on the way nor at the end
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a walk opening each component with
 * O_NOFOLLOW): for the files of Docker's store and of containerd's root, where a symlink is
 * never expected.  rel is relative ("" and "." components are skipped); an absolute rel or a ".."
 * component fails with EXDEV.  flags are open(2)'s, O_CREAT included (mode then applies to the
 * last component); O_NOFOLLOW and O_CLOEXEC are added.  A symlink anywhere fails with ELOOP,
 * with O_PATH too.  Returns the fd, or -1 with errno set (no message: callers name the file). */
int dm_openat_nosym(int dir_fd, const char *rel, int flags, mode_t mode);

/* Opens the regular file rel beneath dir_fd (resolved as dm_openat_nosym) read-only, with
 * O_NONBLOCK and O_NOCTTY: it is looked at through an O_PATH descriptor first and reopened
 * only when it is a regular file, so that a FIFO or a device node in its place is never opened.
 * path names it in messages: "<path>: is a symbolic link" (ELOOP), "<path>: not a regular file"
 * (EINVAL), or the errno (ENOENT when missing).  st (may be NULL) gets its fstat.  Returns the fd
 * or -1 with err set. */
int dm_open_regular(int dir_fd, const char *rel, const char *path, struct stat *st, dm_error *err);

/* Cleans the len bytes at path as filepath.Join("/", path) relative to "/": writes at most
 * outsz bytes (NUL included) of the relative result ("" for the root itself) to out.
 * Returns the result length, or -1 (EXDEV) when ".." climbs above the root, EINVAL on a
 * NUL byte, ENAMETOOLONG when out is too small. */
long dm_path_clean(const char *path, size_t len, char *out, size_t outsz, dm_error *err);

/* Reads the regular file open as fd (path names it in messages) whole into *out (malloc'd,
 * NUL-terminated, *len bytes before the NUL); fd stays open.  Larger than cap: EFBIG ("<path>: N
 * bytes, more than the C-byte limit"), refused before any allocation; grown while read: EAGAIN. */
int dm_read_fd(int fd, const char *path, size_t cap, char **out, size_t *len, dm_error *err);

/* A configuration file named by path read whole as dm_read_fd does, *mode (may be NULL) its
 * permission bits; a missing file is *present = false and no error.  Not a regular file:
 * EINVAL. */
int dm_read_small_file(const char *path, size_t cap, char **out, size_t *len, bool *present, mode_t *mode,
		       dm_error *err);

/* A malloc'd "a/b" for messages and path-based calls; NULL with ENOMEM in err. */
char *dm_path_join(const char *a, const char *b, dm_error *err);

/* Writes a printable, quoted form of len bytes of name into buf (truncated to bufsz) for error
 * messages: bytes outside printable ASCII become \xNN.  Returns buf. */
const char *dm_quote_name(const char *name, size_t len, char *buf, size_t bufsz);

#endif
