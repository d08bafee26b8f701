/* resolve: opening paths taken from hostile data (tar entry names, symlink
 * targets inside a layer) beneath a directory so that they can never reach
 * outside it.  Names are joined lexically as Go's filepath.Join does, then
 * every symlink met on the way is resolved as if the directory were the
 * filesystem root (openat2 RESOLVE_IN_ROOT, or an equivalent walk when the
 * kernel lacks openat2). */
#ifndef DM_RESOLVE_H
#define DM_RESOLVE_H

#include <stddef.h>

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

/* Cleans the len bytes at path as filepath.Join("/", path) relative to "/": writes at most
 * outsz bytes (NUL included) of the relative result ("" for the root itself) to out.
 * Returns the result length, or -1 (EXDEV) when ".." climbs above the root, EINVAL on a
 * NUL byte, ENAMETOOLONG when out is too small. */
long dm_path_clean(const char *path, size_t len, char *out, size_t outsz, dm_error *err);

/* Writes a printable, quoted form of len bytes of name into buf (truncated to bufsz) for error
 * messages: bytes outside printable ASCII become \xNN.  Returns buf. */
const char *dm_quote_name(const char *name, size_t len, char *buf, size_t bufsz);

#endif
