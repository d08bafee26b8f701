/* apply: writes one layer's snapshot from the layer's tar stream itself, in one pass, so that a
 * snapshot holds exactly what the hashed bytes say: names, types, modes, owners, times, xattrs
 * and link targets from the tar headers (parsed by libarchive), file data from the stream.
 *
 * Two forms from the same entries:
 *  - overlay (an overlayfs upperdir): ".wh.NAME" becomes a 0:0 character device NAME,
 *    ".wh..wh..opq" the opaque xattr on its directory; an entry whose parent directories or hard
 *    link target live only in a lower layer gets them copied up first, as the kernel would;
 *  - native (a full tree that already holds the parent snapshot's tree): ".wh.NAME" removes NAME,
 *    ".wh..wh..opq" removes whatever of its directory this layer did not write.
 *
 * Layer data is hostile: names with a ".." component or a leading "/" are refused, nothing is
 * created through a symlink (every directory on the way is opened O_NOFOLLOW beneath the root),
 * hard links must name an entry beneath the root, and the entry count is bounded.  An error names
 * the entry; the tree is then partial and the caller must discard it.  Directory times are set
 * once all entries are written.  No global state: layers may be applied in parallel threads. */
#ifndef DM_APPLY_H
#define DM_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Entries of one layer at the most; Docker's largest layers hold a few hundred thousand. */
#define DM_APPLY_MAX_ENTRIES 10000000

enum dm_apply_form {
	DM_APPLY_OVERLAY = 1,
	DM_APPLY_NATIVE = 2,
};

/* The stream, pulled piece by piece: 1 with *buf and *len, 0 at its end, -1 with err set (the error
 * is returned unchanged).  dm_tarsplit_read has this shape. */
typedef int (*dm_source_fn)(void *opaque, const void **buf, size_t *len, dm_error *err);

typedef struct dm_apply_options {
	enum dm_apply_form form;
	const char *dir;                /* the directory to fill (an existing directory) */
	const char *const *lowerdirs;   /* overlay: the parents' trees, immediate parent first */
	size_t nlowerdirs;
	bool userxattr;                 /* overlay: mark opaque dirs with user.overlay.opaque */
} dm_apply_options;

typedef struct dm_apply_stats {
	uint64_t entries;       /* tar entries */
	uint64_t files;         /* regular files written */
	uint64_t bytes;         /* their data */
	uint64_t dirs, symlinks, hardlinks, specials;
	uint64_t whiteouts;     /* ".wh.NAME" entries */
	uint64_t opaques;       /* ".wh..wh..opq" entries */
	uint64_t copied_up;     /* entries copied from a lower layer (overlay) */
	uint64_t xattrs_skipped; /* xattrs the filesystem refused (EPERM, ENOTSUP), as Docker skips them */
} dm_apply_stats;

/* Reads the whole stream from src (also the bytes after the end-of-archive blocks, so that a
 * caller hashing it in src sees all of them) and applies it to o->dir.  st may be NULL. */
int dm_apply(const dm_apply_options *o, dm_source_fn src, void *opaque, dm_apply_stats *st,
             dm_error *err);

/* 1 when rel ("a/b") is in the tree o describes once applied (overlay: in o->dir or, not hidden
 * by a whiteout, in a lower), 0 when not, -1. */
int dm_apply_has(const dm_apply_options *o, const char *rel, dm_error *err);

#endif
