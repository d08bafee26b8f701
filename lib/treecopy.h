/* treecopy: copies a layer directory into a snapshot directory with everything overlayfs and
 * containers depend on, and removes such trees again.
 *
 * One copy serves both snapshotters: a Docker overlay2 diff/ already holds overlay-form whiteouts
 * (char 0:0) and opaque markers (trusted.overlay.opaque=y), which is what containerd's overlayfs
 * snapshot fs/ holds; a vfs layer directory is a full tree, which is what a native snapshot holds.
 * So entries are copied as they are: regular files (sparse holes kept, copy_file_range, optionally
 * FICLONE), directories, symlinks (never followed), hard links within the tree, devices and fifos,
 * owners, modes including setuid/setgid/sticky, every xattr (trusted.*, security.capability, ACLs),
 * atime/mtime.  Sockets are skipped and counted: a layer tar cannot carry them either.
 *
 * The source is hostile: it is walked relative to directory fds with AT_SYMLINK_NOFOLLOW/O_NOFOLLOW,
 * every opened entry is checked against what was stat'ed, depth is bounded, xattrs are read into
 * fixed buffers of the kernel's maximum sizes.  The source is only read (O_NOATIME when permitted).
 * Each directory level holds two descriptors, so a copy needs up to 2 * DM_TREECOPY_MAX_DEPTH + 8.
 * Symlink and device xattrs go through /proc/self/fd, so /proc must be mounted.
 *
 * Resumability is the caller's: copy into a temporary name next to the final one (e.g.
 * snapshots/new-<n>), rename it into place only after dm_treecopy succeeded, and on failure or
 * after a crash remove the temporary tree with dm_tree_remove.  A failed copy leaves a partial
 * destination behind.  No global state: copies may run in parallel threads. */
#ifndef DM_TREECOPY_H
#define DM_TREECOPY_H

#include <stdint.h>

#include "error.h"

#define DM_TREECOPY_MAX_DEPTH 256

enum {
	DM_TREECOPY_REFLINK = 1 << 0,       /* clone regular files with FICLONE where the fs can */
	DM_TREECOPY_INTO_EXISTING = 1 << 1, /* dst is an existing empty directory (a prepared upperdir) */
};

typedef struct dm_treecopy_stats {
	uint64_t files;           /* regular files (inodes, not names) */
	uint64_t dirs;            /* directories below the root */
	uint64_t symlinks;
	uint64_t specials;        /* devices (whiteouts included) and fifos */
	uint64_t hardlinks;       /* extra names linked to an inode already copied */
	uint64_t sockets_skipped;
	uint64_t reflinked;       /* regular files cloned rather than copied */
	uint64_t bytes;           /* apparent size of the regular files */
	uint64_t inodes;          /* distinct inodes written, root included: the snapshot's "inodes" */
	uint64_t usage;           /* st_blocks * 512 once per written inode: the snapshot's "size" */
} dm_treecopy_stats;

/* Copies the tree at src (its root's owner, mode, xattrs and times included) to dst, which is
 * created and must not exist, or with DM_TREECOPY_INTO_EXISTING must be an empty directory.
 * Neither final component may be a symlink.  st may be NULL.  Errors name the path and step. */
int dm_treecopy(const char *src, const char *dst, unsigned flags, dm_treecopy_stats *st,
                dm_error *err);

/* dm_treecopy from the directory src_fd (any fd of it, O_PATH too; not closed), which the
 * caller opened beneath its root following no symlink; src names it in messages. */
int dm_treecopy_fd(int src_fd, const char *src, const char *dst, unsigned flags, dm_treecopy_stats *st,
                   dm_error *err);

/* Copies the entry name of src_dirfd into dst_dirfd under the same name, as overlayfs copy-up
 * does: a file with its data, a symlink, a device or fifo, or a directory without its contents;
 * owner, mode, xattrs (trusted.overlay.* and user.overlay.* stay behind) and times.  what names
 * the place in messages.  name must not exist in dst_dirfd. */
int dm_treecopy_up(int src_dirfd, int dst_dirfd, const char *name, const char *what, dm_error *err);

/* The usage of the tree at path as containerd records a snapshot's: inodes (the root included,
 * each hard-linked inode once) and bytes (st_blocks * 512 per inode).  Nothing is followed. */
int dm_tree_usage(const char *path, uint64_t *inodes, uint64_t *bytes, dm_error *err);

/* dm_tree_usage of the directory dir_fd (any fd of it, not closed); path names it in messages. */
int dm_tree_usage_fd(int dir_fd, const char *path, uint64_t *inodes, uint64_t *bytes, dm_error *err);

/* Writes out everything of the filesystem holding the directory path (syncfs(2)): one call
 * makes a whole snapshot's files durable before the record that names it. */
int dm_sync_fs(const char *path, dm_error *err);

/* 1 when a file of dst_dir's filesystem can be a clone (FICLONE) of the regular file src: one
 * unnamed file is made and dropped in dst_dir to find out; 0 when not, -1 when src cannot be
 * opened.  Nothing is written to src. */
int dm_reflink_probe(const char *src, const char *dst_dir);

/* Removes path and, if it is a directory, everything below it, never following symlinks.
 * A path that does not exist is not an error. */
int dm_tree_remove(const char *path, dm_error *err);

/* Removes everything below the directory path, keeping path itself (a snapshot directory that
 * is filled again from the start), never following symlinks. */
int dm_tree_clear(const char *path, dm_error *err);

#endif
