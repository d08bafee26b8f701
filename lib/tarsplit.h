/* tarsplit: rebuilds a Docker layer's exact uncompressed tar stream from its
 * tar-split.json.gz (the tar's headers and padding) and its graphdriver
 * directory (the files' contents), verifying every file's size and CRC-64 and
 * the stream's sha256 against the DiffID.  Memory use is constant whatever
 * the layer size. */
#ifndef DM_TARSPLIT_H
#define DM_TARSPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "sink.h"

typedef struct dm_tarsplit_stats {
	uint64_t bytes;     /* bytes of tar stream emitted */
	uint64_t files;     /* FileType entries (tar headers of every kind) */
	dm_digest digest;   /* sha256 of the emitted stream */
} dm_tarsplit_stats;

/* Go hash/crc64 with the ISO table: crc = dm_crc64_iso(0, ...) then feed further pieces. */
uint64_t dm_crc64_iso(uint64_t crc, const void *buf, size_t len);

typedef struct dm_tarsplit dm_tarsplit;

/* Starts reading the tar described by tarsplit_fd, a regular file the caller opened (beneath its
 * store, following no symlink, never blocking: see dm_open_regular; anything else is refused),
 * which is the reader's from now on, closed by dm_tarsplit_close or on failure.  tarsplit_path
 * names it in messages.  File contents come from beneath layer_root_fd, which must stay open
 * until dm_tarsplit_close.  NULL with err set on failure. */
dm_tarsplit *dm_tarsplit_open(int tarsplit_fd, const char *tarsplit_path, int layer_root_fd,
                              dm_error *err);

/* Bounds the file contents the entries may ask for (default: none), e.g. to the layer's
 * recorded size: the entry that would go past it fails with EFBIG before its file is opened.
 * The tar's own bytes are bounded anyway: 1 MiB, plus 64 KiB per file entry, plus four times the
 * tar-split file's size. */
void dm_tarsplit_limit(dm_tarsplit *ts, uint64_t max_content);

/* Called when the file whose content comes next has been opened (fd: read-only, a regular
 * file beneath the layer root; only files with content are opened): returns the descriptor to
 * read that content from, fd itself or another one (then fd is closed and the other one is read
 * and closed at the end: e.g. a reflinked copy, so that the bytes checked are the copy's), or -1
 * with err set. */
typedef int (*dm_tarsplit_file_fn)(void *opaque, int fd, dm_error *err);

/* Sets the hook above (NULL: none). */
void dm_tarsplit_on_file(dm_tarsplit *ts, dm_tarsplit_file_fn fn, void *opaque);

/* The next piece of the stream: 1 with *buf and *len (valid until the next call), 0 at the end,
 * -1 with err set.  Pieces are at most 256 KiB; each is part of one segment or of one file's
 * content, never both.  The bytes are not verified yet: see dm_tarsplit_finish. */
int dm_tarsplit_read(dm_tarsplit *ts, const void **buf, size_t *len, dm_error *err);

/* After dm_tarsplit_read returned 0: fills stats (may be NULL) and, when expected_diff_id is not
 * NULL, checks the stream's sha256 against it (EBADMSG when it differs; stats are filled then
 * too). */
int dm_tarsplit_finish(dm_tarsplit *ts, const dm_digest *expected_diff_id, dm_tarsplit_stats *stats,
                       dm_error *err);

/* Releases ts and every descriptor it opened (NULL is fine). */
void dm_tarsplit_close(dm_tarsplit *ts);

#endif
