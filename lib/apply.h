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

/* Where a regular file's data comes from (--copy-mode).  The applier is given auto resolved:
 *  - reflink: the file is cloned (FICLONE) from the legacy file, and the stream read from the
 *    clone, so the snapshot shares blocks, not inodes, and holds exactly the bytes hashed;
 *  - hardlink: the snapshot name is a hard link to the legacy inode when that inode's type,
 *    mode, owner, size, mtime and xattrs equal the header (else the data is written);
 *  - copy: the data is written from the stream.
 * A file that cannot be shared (another filesystem, no reflink) is written and counted. */
enum dm_copy_mode {
	DM_COPY_AUTO,
	DM_COPY_REFLINK,
	DM_COPY_HARDLINK,
	DM_COPY_COPY,
};

/* "auto", "reflink", "hardlink", "copy" to the mode; EINVAL naming the choices otherwise. */
int dm_copy_mode_parse(const char *name, enum dm_copy_mode *out, dm_error *err);
const char *dm_copy_mode_name(enum dm_copy_mode mode);

/* The stream, pulled piece by piece: 1 with *buf and *len, 0 at its end, -1 with err set (the error
 * is returned unchanged).  dm_tarsplit_read has this shape. */
typedef int (*dm_source_fn)(void *opaque, const void **buf, size_t *len, dm_error *err);

typedef struct dm_apply_options {
	enum dm_apply_form form;
	const char *dir;                /* the directory to fill (an existing directory) */
	const char *const *lowerdirs;   /* overlay: the parents' trees, immediate parent first */
	size_t nlowerdirs;
	bool userxattr;                 /* overlay: mark opaque dirs with user.overlay.opaque */
	enum dm_copy_mode mode;         /* reflink, hardlink or copy (AUTO counts as copy) */
} dm_apply_options;

typedef struct dm_apply_stats {
	uint64_t entries;       /* tar entries */
	uint64_t files;         /* regular files written */
	uint64_t bytes;         /* their data */
	uint64_t bytes_shared;  /* of that, data shared with the legacy file rather than written */
	uint64_t dirs, symlinks, hardlinks, specials;
	uint64_t whiteouts;     /* ".wh.NAME" entries */
	uint64_t opaques;       /* ".wh..wh..opq" entries */
	uint64_t copied_up;     /* entries copied from a lower layer (overlay) */
	uint64_t xattrs_skipped; /* xattrs the filesystem refused (EPERM, ENOTSUP), as Docker skips them */
	uint64_t files_shared;  /* regular files reflinked or hard-linked instead of written */
	uint64_t files_copied;  /* regular files with data written (not shared) */
} dm_apply_stats;

typedef struct dm_applier dm_applier;

/* An applier for one layer with options o (which must outlive it). */
dm_applier *dm_apply_new(const dm_apply_options *o, dm_error *err);

/* For the stream's producer (dm_tarsplit_file_fn shape, ap is the dm_applier): the legacy file
 * whose content comes next was opened as fd; returns the descriptor to read that content from
 * (a clone, in reflink mode).  Never fails: what cannot be shared is written. */
int dm_apply_take_file(void *ap, int fd, dm_error *err);

/* Reads the whole stream from src (also the bytes after the end-of-archive blocks, so that a
 * caller hashing it in src sees all of them) and applies it to o->dir; once per applier.  st
 * may be NULL. */
int dm_apply_run(dm_applier *ap, dm_source_fn src, void *opaque, dm_apply_stats *st, dm_error *err);

/* Frees ap (NULL is fine). */
void dm_apply_free(dm_applier *ap);


/* 1 when rel ("a/b") is in the tree o describes once applied (overlay: in o->dir or, not hidden
 * by a whiteout, in a lower), 0 when not, -1. */
int dm_apply_has(const dm_apply_options *o, const char *rel, dm_error *err);

#endif
