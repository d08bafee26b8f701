/* compress: streaming layer compression (zstd, gzip or none) with constant
 * memory.  A compressor sits in a write chain: the uncompressed layer tar goes
 * in through dm_compressor_write, and compressed bytes come out through a
 * downstream dm_sink_fn, on the data path dm_target_blob_sink (target.h).
 * dm_sink_fn is the project's one byte-sink type (sink.h).
 *
 * Output is deterministic for a given library version, level and input bytes,
 * however the input is split into calls: zstd runs single-threaded with no
 * checksum, no dictionary and no content size in the frame; gzip has a fixed
 * header (mtime 0, no name, OS byte 255 "unknown", as Go's gzip writes it).
 * A different libzstd or zlib version may produce other bytes, hence another
 * blob digest: a resumed run must not recompress a layer it already recorded. */
#ifndef DM_COMPRESS_H
#define DM_COMPRESS_H

#include <stddef.h>

#include "error.h"
#include "sink.h"

typedef enum dm_compression {
	DM_COMPRESS_NONE,
	DM_COMPRESS_GZIP,
	DM_COMPRESS_ZSTD,
} dm_compression;

#define DM_MEDIA_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define DM_MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define DM_MEDIA_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* Parses a --compression argument: "zstd", "gzip" or "none". */
int dm_compression_parse(const char *name, dm_compression *out, dm_error *err);
/* "zstd", "gzip" or "none". */
const char *dm_compression_name(dm_compression c);
/* The OCI layer media type of a blob compressed with c. */
const char *dm_compression_media_type(dm_compression c);

typedef struct dm_compressor dm_compressor;

/* A compressor writing to out(out_ctx, …).  level 0 selects the default
 * (zstd 3, gzip 6); otherwise zstd takes 1..19 and gzip 1..9; none ignores it. */
dm_compressor *dm_compressor_new(dm_compression c, int level, dm_sink_fn out, void *out_ctx,
				 dm_error *err);
/* Compresses len bytes; errors from the downstream writer are passed on. */
int dm_compressor_write(dm_compressor *z, const void *buf, size_t len, dm_error *err);
/* Flushes the end of the stream downstream; no writes are accepted afterwards. */
int dm_compressor_finish(dm_compressor *z, dm_error *err);
/* Releases z; a compressor freed before finish just drops its pending output. */
void dm_compressor_free(dm_compressor *z);

#endif
