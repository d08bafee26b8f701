/* Test helpers shared by test_tarsplit, bench_tarsplit and fuzz_tarsplit:
 * writing tar-split.json.gz files the way Go's tar-split packer does, and
 * reading one whole stream by path. */
#ifndef DM_TARSPLIT_HELPERS_H
#define DM_TARSPLIT_HELPERS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>

#include "tarsplit.h"

/* Standard base64 with padding, as Go's encoding/json writes []byte; malloc'd. */
char *th_b64(const void *p, size_t n);

/* Newline-delimited tar-split entries collected in memory. */
typedef struct th_jsonl {
	FILE *f;
	char *buf;
	size_t len;
	int pos;
} th_jsonl;

void th_jl_open(th_jsonl *jl);
/* A SegmentType entry holding n raw bytes. */
void th_jl_seg(th_jsonl *jl, const void *p, size_t n);
/* A FileType entry; name goes to name_raw when it is not valid UTF-8; crc is used when size > 0. */
void th_jl_file(th_jsonl *jl, const char *name, size_t nlen, uint64_t size, uint64_t crc);
/* A line written verbatim (a newline is appended). */
void th_jl_raw(th_jsonl *jl, const char *line);
/* Closes the collection and writes it gzip-compressed to path (mode "wb", or "ab" to add a member). */
void th_jl_gz(th_jsonl *jl, const char *path, const char *mode);

/* Streams the tar described by tarsplit_path (opened by path with O_NOFOLLOW | O_NONBLOCK: the
 * store's are read through dm_tarsplit_open by lib/layerstore), reading
 * file contents beneath layer_root_fd, to sink (NULL: verify only).  When expected_diff_id is
 * not NULL the stream's sha256 must equal it.
 * The sink sees bytes before they are verified: on -1 the caller must discard what it got.
 * stats (may be NULL) is filled on success and on a final digest mismatch.  err->code tells
 * why: ENOENT (tar-split or file missing), EBADMSG (corrupt or mismatching data), EXDEV (name
 * escapes the root), ELOOP, EMSGSIZE (entry over 4 MiB), other errno from I/O or the sink. */
static inline int th_assemble(const char *tarsplit_path, int layer_root_fd, const dm_digest *expected_diff_id,
			      dm_sink_fn sink, void *opaque, dm_tarsplit_stats *stats, dm_error *err)
{
	/* Not a FIFO or a device put in its place: never block, never follow a symlink. */
	int fd = open(tarsplit_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	dm_tarsplit *ts;
	const void *buf;
	size_t len;
	int rc;

	if (fd < 0)
		return dm_err_sys(err, "open tar-split %s", tarsplit_path);
	if (!(ts = dm_tarsplit_open(fd, tarsplit_path, layer_root_fd, err)))
		return -1;
	while ((rc = dm_tarsplit_read(ts, &buf, &len, err)) > 0)
		if (sink && sink(opaque, buf, len, err) < 0)
			break;
	if (rc == 0)
		rc = dm_tarsplit_finish(ts, expected_diff_id, stats, err);
	else
		rc = -1;
	dm_tarsplit_close(ts);
	return rc;
}

#endif
