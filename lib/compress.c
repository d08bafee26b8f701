#include "config.h"
#include "compress.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define ZSTD_DEFAULT_LEVEL 3
/* Levels 20..22 need windows of up to 128 MiB per thread: too much for
 * --jobs parallel layers on a small host, for little gain on layer tars. */
#define ZSTD_MAX_LEVEL 19
#define GZIP_DEFAULT_LEVEL 6
#define GZIP_OS_UNKNOWN 255

struct dm_compressor {
	dm_compression kind;
	dm_sink_fn out;
	void *out_ctx;
	int finished;
	int failed;  /* output already lost: the stream cannot be completed */
	ZSTD_CCtx *zc;
	z_stream zs;
	gz_header gzh;  /* deflate reads it during the first call, so it lives here */
	unsigned char *buf;
	size_t bufsz;
};

static const struct {
	const char *name;
	const char *media_type;
} kinds[] = {
	[DM_COMPRESS_NONE] = {"none", DM_MEDIA_LAYER_TAR},
	[DM_COMPRESS_GZIP] = {"gzip", DM_MEDIA_LAYER_GZIP},
	[DM_COMPRESS_ZSTD] = {"zstd", DM_MEDIA_LAYER_ZSTD},
};

int dm_compression_parse(const char *name, dm_compression *out, dm_error *err)
{
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (strcmp(name, kinds[i].name) == 0) {
			*out = (dm_compression)i;
			return 0;
		}
	return dm_err_set(err, EINVAL, "compression \"%.100s\": unknown (want zstd, gzip or none)",
			  name);
}

const char *dm_compression_name(dm_compression c)
{
	return kinds[c].name;
}

const char *dm_compression_media_type(dm_compression c)
{
	return kinds[c].media_type;
}

static int emit(dm_compressor *z, size_t len, dm_error *err)
{
	if (!len)
		return 0;
	if (z->out(z->out_ctx, z->buf, len, err) < 0) {
		z->failed = 1;
		return -1;
	}
	return 0;
}

static int zstd_setup(dm_compressor *z, int level, dm_error *err)
{
	size_t r;

	if (!(z->zc = ZSTD_createCCtx())) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "zstd: compression context: ");
	}
	/* Every parameter that changes the bytes is pinned, so that the digest of a
	 * layer blob depends only on the tar.  Data is always fed with
	 * ZSTD_e_continue and ended by an empty ZSTD_e_end: a ZSTD_e_end call
	 * carrying data would let zstd size its tables to that input, so the
	 * bytes would depend on how the caller split its writes. */
	if (ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_contentSizeFlag, 0)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, 0)))
		return dm_err_set(err, EINVAL, "zstd: %s", ZSTD_getErrorName(r));
	z->bufsz = ZSTD_CStreamOutSize();
	return 0;
}

static int gzip_setup(dm_compressor *z, int level, dm_error *err)
{
	/* windowBits 15 + 16 selects the gzip wrapper. */
	if (deflateInit2(&z->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		dm_err_nomem(err);  /* the level is checked: only memory is left to fail */
		return dm_err_prefix(err, "gzip: deflate: ");
	}
	z->gzh.os = GZIP_OS_UNKNOWN;
	if (deflateSetHeader(&z->zs, &z->gzh) != Z_OK) {
		deflateEnd(&z->zs);
		return dm_err_set(err, EINVAL, "gzip: cannot set header");
	}
	z->bufsz = 128 * 1024;
	return 0;
}

dm_compressor *dm_compressor_new(dm_compression c, int level, dm_sink_fn out, void *out_ctx,
				 dm_error *err)
{
	dm_compressor *z;
	int rc = 0;

	if (c == DM_COMPRESS_ZSTD && (level < 0 || level > ZSTD_MAX_LEVEL)) {
		dm_err_set(err, EINVAL, "zstd level %d: out of range 1..%d", level, ZSTD_MAX_LEVEL);
		return NULL;
	}
	if (c == DM_COMPRESS_GZIP && (level < 0 || level > 9)) {
		dm_err_set(err, EINVAL, "gzip level %d: out of range 1..9", level);
		return NULL;
	}
	if (!(z = calloc(1, sizeof *z))) {
		dm_err_nomem(err);
		dm_err_prefix(err, "compressor: ");
		return NULL;
	}
	z->kind = c;
	z->out = out;
	z->out_ctx = out_ctx;
	if (c == DM_COMPRESS_ZSTD)
		rc = zstd_setup(z, level ? level : ZSTD_DEFAULT_LEVEL, err);
	else if (c == DM_COMPRESS_GZIP)
		rc = gzip_setup(z, level ? level : GZIP_DEFAULT_LEVEL, err);
	if (rc == 0 && z->bufsz && !(z->buf = malloc(z->bufsz))) {
		dm_err_nomem(err);
		rc = dm_err_prefix(err, "compressor buffer: ");
	}
	if (rc < 0) {
		dm_compressor_free(z);
		return NULL;
	}
	return z;
}

static int zstd_run(dm_compressor *z, const void *buf, size_t len, ZSTD_EndDirective mode,
		    dm_error *err)
{
	ZSTD_inBuffer in = {buf, len, 0};
	size_t left;

	do {
		ZSTD_outBuffer o = {z->buf, z->bufsz, 0};

		left = ZSTD_compressStream2(z->zc, &o, &in, mode);
		if (ZSTD_isError(left)) {
			z->failed = 1;
			return dm_err_set(err, EIO, "zstd: %s", ZSTD_getErrorName(left));
		}
		if (emit(z, o.pos, err) < 0)
			return -1;
	} while (in.pos < in.size || (mode == ZSTD_e_end && left != 0));
	return 0;
}

static int gzip_run(dm_compressor *z, const void *buf, size_t len, int flush, dm_error *err)
{
	const unsigned char *p = buf;
	int r;

	/* avail_in is a uInt: feed oversized buffers in slices. */
	do {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

		z->zs.next_in = (unsigned char *)p;
		z->zs.avail_in = n;
		p += n;
		len -= n;
		do {
			z->zs.next_out = z->buf;
			z->zs.avail_out = (uInt)z->bufsz;
			r = deflate(&z->zs, len ? Z_NO_FLUSH : flush);
			if (r == Z_STREAM_ERROR) {
				z->failed = 1;
				return dm_err_set(err, EIO, "gzip: deflate failed");
			}
			if (emit(z, z->bufsz - z->zs.avail_out, err) < 0)
				return -1;
		} while (z->zs.avail_in > 0 || z->zs.avail_out == 0 ||
			 (flush == Z_FINISH && !len && r != Z_STREAM_END));
	} while (len);
	return 0;
}

static int usable(const dm_compressor *z, dm_error *err)
{
	if (z->failed)
		return dm_err_set(err, EIO, "%s compressor: an earlier write failed",
				  kinds[z->kind].name);
	if (z->finished)
		return dm_err_set(err, EINVAL, "%s compressor: write after finish", kinds[z->kind].name);
	return 0;
}

int dm_compressor_write(dm_compressor *z, const void *buf, size_t len, dm_error *err)
{
	if (usable(z, err) < 0)
		return -1;
	/* An empty write must not start a zstd frame differently from no write. */
	if (!len)
		return 0;
	switch (z->kind) {
	case DM_COMPRESS_ZSTD:
		return zstd_run(z, buf, len, ZSTD_e_continue, err);
	case DM_COMPRESS_GZIP:
		return gzip_run(z, buf, len, Z_NO_FLUSH, err);
	case DM_COMPRESS_NONE:
		break;
	}
	if (z->out(z->out_ctx, buf, len, err) < 0) {
		z->failed = 1;
		return -1;
	}
	return 0;
}

int dm_compressor_finish(dm_compressor *z, dm_error *err)
{
	int rc = 0;

	if (usable(z, err) < 0)
		return -1;
	if (z->kind == DM_COMPRESS_ZSTD)
		rc = zstd_run(z, NULL, 0, ZSTD_e_end, err);
	else if (z->kind == DM_COMPRESS_GZIP)
		rc = gzip_run(z, NULL, 0, Z_FINISH, err);
	z->finished = 1;
	return rc;
}

void dm_compressor_free(dm_compressor *z)
{
	if (!z)
		return;
	if (z->kind == DM_COMPRESS_ZSTD)
		ZSTD_freeCCtx(z->zc);
	else if (z->kind == DM_COMPRESS_GZIP)
		deflateEnd(&z->zs);  /* safe on a stream whose init failed or never ran */
	free(z->buf);
	free(z);
}
