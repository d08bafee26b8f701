#include "config.h"
#include "tarsplit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "resolve.h"

/* Segments are at most 1 MiB raw (about 1.4 MiB of base64); anything far
 * larger is not a tar-split and must not make us buffer without bound. */
#define ENTRY_MAX (4u << 20)
#define GZ_IN_SIZE (64u << 10)
#define GZ_OUT_SIZE (64u << 10)
#define IO_SIZE (256u << 10)
#define QUOTE_MAX 400

enum { ENTRY_FILE = 1, ENTRY_SEGMENT = 2 };

/* What a stream may hold besides file contents, so that a small tar-split cannot make a layer
 * of unbounded length: the end-of-archive blocks and global headers, plus per file entry its
 * ustar header, pax records (long names, xattrs) and padding (Go's tar writer needs a few KiB
 * at most, 64 KiB leaves room for large xattrs), plus four times the tar-split file's own size:
 * bytes after the end of the archive (an imported tar with junk appended) are kept too, and
 * base64 in gzip stores incompressible junk in about its own size, while a run of zeros that
 * gzip shrinks a thousandfold gets no further than that. */
#define SEGMENT_BASE (1u << 20)
#define SEGMENT_ALLOWANCE (64u << 10)

/* ---- CRC-64 (Go hash/crc64, ISO table), slicing by 8 ---- */

#define CRC64_ISO_POLY UINT64_C(0xD800000000000000)

static uint64_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = i;
		for (int j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ CRC64_ISO_POLY : c >> 1;
		crc_tab[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = crc_tab[0][i];
		for (int k = 1; k < 8; k++) {
			c = crc_tab[0][c & 0xff] ^ (c >> 8);
			crc_tab[k][i] = c;
		}
	}
}

uint64_t dm_crc64_iso(uint64_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; len >= 8; p += 8, len -= 8) {
		crc ^= (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
		       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
		crc = crc_tab[7][crc & 0xff] ^ crc_tab[6][(crc >> 8) & 0xff] ^
		      crc_tab[5][(crc >> 16) & 0xff] ^ crc_tab[4][(crc >> 24) & 0xff] ^
		      crc_tab[3][(crc >> 32) & 0xff] ^ crc_tab[2][(crc >> 40) & 0xff] ^
		      crc_tab[1][(crc >> 48) & 0xff] ^ crc_tab[0][crc >> 56];
	}
	for (; len; p++, len--)
		crc = crc_tab[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- base64 as Go's encoding/json decodes []byte: StdEncoding, padding
 * required, CR and LF ignored, nothing after the padding ---- */

struct b64 {
	uint32_t acc;
	unsigned n;      /* sextets in acc */
	unsigned pad;    /* '=' seen in the current quantum */
	bool done;       /* a padded quantum ended the data */
};

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes len chars into out (room for len / 4 * 3 + 3 bytes); returns the byte count or -1
 * with *bad = offset of the offending char within this call. */
static long b64_feed(struct b64 *b, const char *in, size_t len, unsigned char *out, size_t *bad)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == '\r' || c == '\n')
			continue;
		if (b->done)
			goto fail;
		if (c == '=') {
			if (b->n + b->pad < 2)
				goto fail;
			b->pad++;
		} else {
			v = b64_value(c);
			if (v < 0 || b->pad)
				goto fail;
			b->acc = b->acc << 6 | (uint32_t)v;
			b->n++;
		}
		if (b->n + b->pad == 4) {
			uint32_t a = b->acc << (6 * b->pad);
			out[o++] = (unsigned char)(a >> 16);
			if (b->n >= 3)
				out[o++] = (unsigned char)(a >> 8);
			if (b->n == 4)
				out[o++] = (unsigned char)a;
			b->done = b->pad > 0;
			b->acc = 0;
			b->n = 0;
			b->pad = 0;
		}
		continue;
fail:
		*bad = i;
		return -1;
	}
	return (long)o;
}

static bool b64_complete(const struct b64 *b)
{
	return b->n == 0 && b->pad == 0;
}

/* ---- the reader: a state machine that hands out the stream piece by piece ---- */

enum phase { P_ENTRY, P_SEGMENT, P_FILE, P_END };

struct dm_tarsplit {
	char *path;
	int fd;              /* the tar-split.json.gz */
	int root;            /* the layer directory (the caller's) */
	dm_sha256 sha;
	uint64_t bytes, files, entry;
	uint64_t content, content_max; /* file content bytes the entries asked for, and the bound */
	uint64_t segments, segments_max; /* the same for the tar's own bytes (headers, padding) */
	unsigned char *io;   /* IO_SIZE bytes: file reads and decoded segments */
	unsigned char *gz_in, *gz_out;
	z_stream zs;
	bool zs_ready, in_member, first;
	size_t out_pos, out_len; /* inflated bytes in gz_out not yet fed to the tokener */
	json_tokener *tok;
	size_t obj_bytes;    /* bytes fed to the tokener for the entry being parsed */
	bool pending;        /* non-whitespace fed since the last complete entry */
	enum phase phase;
	/* P_SEGMENT: the payload being decoded (owned by obj) */
	json_object *obj;
	const char *seg;
	size_t seg_len, seg_off;
	struct b64 seg_b64;
	/* P_FILE: the file whose content is being streamed */
	int file_fd;
	char file_q[QUOTE_MAX];
	uint64_t file_size, file_total, file_crc, file_want;
	off_t file_st_size;
	dm_tarsplit_file_fn on_file;
	void *on_file_opaque;
	dm_error *err;       /* of the call in progress */
};

typedef struct dm_tarsplit asm_ctx;

/* Field of one entry, already type-checked. */
struct field {
	const char *s;
	size_t len;
	int64_t i;
	bool set;            /* present and not null */
};

static int bad(asm_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fails the current entry: "tar-split <path>: entry <n>: <what>". */
static int bad(asm_ctx *c, int code, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dm_err_set(c->err, code, "tar-split %s: entry %" PRIu64 ": %s", c->path, c->entry, what);
}

/* Hands len bytes of c->io out as the next piece of the stream. */
static int emit(asm_ctx *c, size_t len, const void **buf, size_t *out_len)
{
	dm_sha256_update(&c->sha, c->io, len);
	c->bytes += len;
	*buf = c->io;
	*out_len = len;
	return 1;
}

static int get_field(asm_ctx *c, json_object *obj, const char *key, bool want_string,
                     struct field *f)
{
	json_object *v;

	memset(f, 0, sizeof *f);
	/* Go leaves a field at its zero value for a missing key and for null. */
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (want_string ? !json_object_is_type(v, json_type_string)
	                : !json_object_is_type(v, json_type_int))
		return bad(c, EBADMSG, "field \"%s\" is not %s", key,
		           want_string ? "a string" : "an integer");
	f->set = true;
	if (want_string) {
		f->s = json_object_get_string(v);
		f->len = (size_t)json_object_get_string_len(v);
	} else {
		f->i = json_object_get_int64(v);
	}
	return 0;
}

/* The base64 chars decoded per step: IO_SIZE bytes out at the most. */
#define B64_STEP (IO_SIZE / 3 * 4 - 4)

/* Decodes the next step of the segment payload into c->io: the byte count, 0 when the payload
 * is exhausted (and was complete), or -1. */
static long segment_step(asm_ctx *c)
{
	for (;;) {
		size_t n = c->seg_len - c->seg_off < B64_STEP ? c->seg_len - c->seg_off : B64_STEP, at;
		long got;

		if (n == 0) {
			if (!b64_complete(&c->seg_b64))
				return bad(c, EBADMSG, "field \"payload\" is not valid base64 (truncated)");
			return 0;
		}
		got = b64_feed(&c->seg_b64, c->seg + c->seg_off, n, c->io, &at);
		if (got < 0)
			return bad(c, EBADMSG, "field \"payload\" is not valid base64 (at character %zu)",
			           c->seg_off + at);
		c->seg_off += n;
		c->segments += (uint64_t)got;
		if (c->segments > c->segments_max + SEGMENT_ALLOWANCE * c->files)
			return bad(c, EFBIG, "more tar header and padding bytes than %" PRIu64 " file entries "
			           "and a tar-split of this size can hold", c->files);
		/* A step of line breaks or an unfinished quantum decodes to nothing: go on. */
		if (got > 0)
			return got;
	}
}

/* Decodes a small base64 field whole: its first keep_max bytes land in keep. */
static long decode_small(asm_ctx *c, const struct field *f, const char *key, unsigned char *keep,
                         size_t keep_max)
{
	struct b64 b = { 0 };
	size_t total = 0;

	for (size_t off = 0; off < f->len; off += B64_STEP) {
		size_t n = f->len - off < B64_STEP ? f->len - off : B64_STEP, at;
		long got = b64_feed(&b, f->s + off, n, c->io, &at);

		if (got < 0)
			return bad(c, EBADMSG, "field \"%s\" is not valid base64 (at character %zu)", key,
			           off + at);
		if (total < keep_max)
			memcpy(keep + total, c->io, (size_t)got < keep_max - total ? (size_t)got
			                                                            : keep_max - total);
		total += (size_t)got;
	}
	if (!b64_complete(&b))
		return bad(c, EBADMSG, "field \"%s\" is not valid base64 (truncated)", key);
	return (long)total;
}

static int file_error(asm_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int file_error(asm_ctx *c, int code, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dm_err_set(c->err, code, "tar-split %s: entry %" PRIu64 " %s: %s", c->path, c->entry,
	                  c->file_q, what);
}

/* Opens the file of an entry with content beneath the layer root and starts streaming it. */
static int open_file(asm_ctx *c, const char *name, size_t nlen, uint64_t size, uint64_t want_crc)
{
	char proc[64];
	struct stat st;
	int path, fd;

	dm_quote_name(name, nlen, c->file_q, sizeof c->file_q);
	if (size > c->content_max - c->content) {
		return file_error(c, EFBIG,
		                  "file contents exceed the %" PRIu64 " bytes the layer records as its size",
		                  c->content_max);
	}
	c->content += size;
	/* O_PATH first: a device or FIFO planted at this name is never opened, only looked at. */
	path = dm_open_beneath(c->root, name, nlen, O_PATH, c->err);
	if (path < 0)
		return dm_err_prefix(c->err, "tar-split %s: entry %" PRIu64 ": ", c->path, c->entry);
	if (fstat(path, &st) < 0) {
		dm_err_sys(c->err, "tar-split %s: entry %" PRIu64 " %s: fstat", c->path, c->entry,
		           c->file_q);
		close(path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(path);
		return file_error(c, EBADMSG, "not a regular file in the layer directory");
	}
	/* Reopened through the O_PATH descriptor: the very inode that was checked. */
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", path);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(path);
	if (fd < 0)
		return dm_err_sys(c->err, "tar-split %s: entry %" PRIu64 " %s: open", c->path, c->entry,
		                  c->file_q);
	if (c->on_file) {
		int use = c->on_file(c->on_file_opaque, fd, c->err);

		if (use < 0) {
			close(fd);
			return dm_err_prefix(c->err, "tar-split %s: entry %" PRIu64 " %s: ", c->path, c->entry,
			                     c->file_q);
		}
		if (use != fd) {
			close(fd);
			fd = use;
		}
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	c->file_fd = fd;
	c->file_size = size;
	c->file_want = want_crc;
	c->file_total = c->file_crc = 0;
	c->file_st_size = st.st_size;
	c->phase = P_FILE;
	return 0;
}

/* The next piece of the current file: 1 with data, 0 at its end (checked and closed), -1. */
static int file_step(asm_ctx *c, const void **buf, size_t *len)
{
	ssize_t n;

	do
		n = read(c->file_fd, c->io, IO_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return dm_err_sys(c->err, "tar-split %s: entry %" PRIu64 " %s: read", c->path, c->entry,
		                  c->file_q);
	if (n > 0) {
		/* moby copies to EOF, so a longer file is as wrong as a shorter one. */
		if ((uint64_t)n > c->file_size - c->file_total) {
			uint64_t got = c->file_total + (uint64_t)n;
			if (c->file_st_size > 0 && (uint64_t)c->file_st_size > got)
				got = (uint64_t)c->file_st_size;
			return file_error(c, EBADMSG, "size mismatch: expected %" PRIu64 " bytes, got %" PRIu64,
			                  c->file_size, got);
		}
		c->file_crc = dm_crc64_iso(c->file_crc, c->io, (size_t)n);
		c->file_total += (uint64_t)n;
		return emit(c, (size_t)n, buf, len);
	}
	if (c->file_total != c->file_size)
		return file_error(c, EBADMSG, "size mismatch: expected %" PRIu64 " bytes, got %" PRIu64,
		                  c->file_size, c->file_total);
	if (c->file_crc != c->file_want)
		return file_error(c, EBADMSG,
		                  "CRC-64 mismatch: tar-split records %016" PRIx64 ", file has %016" PRIx64,
		                  c->file_want, c->file_crc);
	close(c->file_fd);
	c->file_fd = -1;
	return 0;
}

static int file_entry(asm_ctx *c, const struct field *name, const struct field *name_raw,
                      const struct field *size, const struct field *payload)
{
	unsigned char crc[8];
	char *raw = NULL;
	const char *n;
	size_t nlen;
	uint64_t want = 0;
	long got;
	int rc;

	c->files++;
	if (size->i < 0)
		return bad(c, EBADMSG, "negative size");
	/* Go decodes every payload, so bad base64 fails even where it is unused. */
	got = decode_small(c, payload, "payload", crc, sizeof crc);
	if (got < 0)
		return -1;
	if (size->i == 0)
		return 0;
	if (got != 8)
		return bad(c, EBADMSG, "CRC-64 payload is %ld bytes, expected 8", got);
	for (int i = 0; i < 8; i++)
		want = want << 8 | crc[i];
	if (name_raw->set) {
		/* name_raw is a single base64 string of at most ENTRY_MAX chars. */
		raw = malloc(name_raw->len / 4 * 3 + 3);
		if (!raw) {
			dm_err_nomem(c->err);
			return dm_err_prefix(c->err, "tar-split %s: entry %" PRIu64 ": name_raw: ", c->path, c->entry);
		}
		struct b64 b = { 0 };
		size_t at;
		got = b64_feed(&b, name_raw->s, name_raw->len, (unsigned char *)raw, &at);
		if (got < 0 || !b64_complete(&b)) {
			free(raw);
			return bad(c, EBADMSG, "field \"name_raw\" is not valid base64");
		}
		n = raw;
		nlen = (size_t)got;
	} else if (name->set) {
		n = name->s;
		nlen = name->len;
	} else {
		return bad(c, EBADMSG, "file entry with content has no name");
	}
	rc = open_file(c, n, nlen, (uint64_t)size->i, want);
	free(raw);
	return rc;
}

/* Starts one entry: a segment or a file with content sets the phase; others are done here. */
static int handle_entry(asm_ctx *c, json_object *obj)
{
	struct field type, name, name_raw, size, payload, position;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return bad(c, EBADMSG, "not a JSON object");
	if (get_field(c, obj, "type", false, &type) < 0 || get_field(c, obj, "name", true, &name) < 0 ||
	    get_field(c, obj, "name_raw", true, &name_raw) < 0 ||
	    get_field(c, obj, "size", false, &size) < 0 ||
	    get_field(c, obj, "payload", true, &payload) < 0 ||
	    get_field(c, obj, "position", false, &position) < 0)
		return -1;
	switch (type.i) {
	case ENTRY_SEGMENT:
		c->obj = json_object_get(obj);
		c->seg = payload.s;
		c->seg_len = payload.set ? payload.len : 0;
		c->seg_off = 0;
		memset(&c->seg_b64, 0, sizeof c->seg_b64);
		c->phase = P_SEGMENT;
		return 0;
	case ENTRY_FILE:
		return file_entry(c, &name, &name_raw, &size, &payload);
	default:
		/* moby's assembler skips unknown types; so do we. */
		return 0;
	}
}

static bool only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

static int too_long(asm_ctx *c)
{
	return dm_err_set(c->err, EMSGSIZE, "tar-split %s: entry %" PRIu64 " is longer than %u bytes",
	                  c->path, c->entry, ENTRY_MAX);
}

/* Feeds inflated bytes to the tokener until one entry completes: 1 when it did (handled),
 * 0 when the buffer is used up, -1. */
static int feed_json(asm_ctx *c)
{
	const char *p = (const char *)c->gz_out + c->out_pos;
	size_t n = c->out_len - c->out_pos, used;
	json_object *obj;
	enum json_tokener_error jerr;
	int rc;

	if (n == 0)
		return 0;
	obj = json_tokener_parse_ex(c->tok, p, (int)n);
	jerr = json_tokener_get_error(c->tok);
	if (jerr == json_tokener_continue) {
		c->pending = c->pending || !only_space(p, n);
		c->obj_bytes += n;
		c->out_pos = c->out_len;
		return c->obj_bytes > ENTRY_MAX ? too_long(c) : 0;
	}
	if (jerr != json_tokener_success)
		return bad(c, EBADMSG, "malformed JSON: %s", json_tokener_error_desc(jerr));
	used = (size_t)json_tokener_get_parse_end(c->tok);
	if (c->obj_bytes + used > ENTRY_MAX) {
		json_object_put(obj);
		return too_long(c);
	}
	rc = handle_entry(c, obj);
	json_object_put(obj);
	if (rc < 0)
		return -1;
	c->obj_bytes = 0;
	c->pending = false;
	c->out_pos += used;
	return 1;
}

/* Inflates the next piece of the gzip file (one or more members, as Go's gzip.Reader accepts)
 * into gz_out: 1 with bytes (possibly none), 0 at a clean end of file, -1. */
static int inflate_step(asm_ctx *c)
{
	int zr;

	if (c->zs.avail_in == 0) {
		ssize_t n;

		do
			n = read(c->fd, c->gz_in, GZ_IN_SIZE);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return dm_err_sys(c->err, "tar-split %s: read", c->path);
		if (n == 0) {
			if (c->first)
				return dm_err_set(c->err, EBADMSG, "tar-split %s: empty file, not gzip", c->path);
			if (c->in_member)
				return dm_err_set(c->err, EBADMSG, "tar-split %s: truncated gzip stream", c->path);
			if (c->pending)
				return dm_err_set(c->err, EBADMSG,
				                  "tar-split %s: entry %" PRIu64 ": truncated JSON at end of file",
				                  c->path, c->entry);
			return 0;
		}
		c->zs.next_in = c->gz_in;
		c->zs.avail_in = (uInt)n;
	}
	if (!c->in_member) {
		/* A clearer message than zlib's "incorrect header check". */
		if (c->zs.next_in[0] != 0x1f || (c->zs.avail_in > 1 && c->zs.next_in[1] != 0x8b))
			return dm_err_set(c->err, EBADMSG, "tar-split %s: %s", c->path,
			                  c->first ? "not a gzip file" : "garbage after the gzip stream");
		inflateReset(&c->zs);
		c->in_member = true;
		c->first = false;
	}
	c->zs.next_out = c->gz_out;
	c->zs.avail_out = GZ_OUT_SIZE;
	zr = inflate(&c->zs, Z_NO_FLUSH);
	if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
		return dm_err_set(c->err, zr == Z_MEM_ERROR ? ENOMEM : EBADMSG,
		                  "tar-split %s: corrupt gzip data: %s", c->path,
		                  c->zs.msg ? c->zs.msg : zError(zr));
	c->out_pos = 0;
	c->out_len = GZ_OUT_SIZE - c->zs.avail_out;
	if (zr == Z_STREAM_END)
		c->in_member = false;
	return 1;
}

/* Moves to the next entry that has bytes to give: 1, or 0 at the end of the tar-split. */
static int next_entry(asm_ctx *c)
{
	for (;;) {
		int rc = feed_json(c);

		if (rc < 0)
			return -1;
		if (rc == 1) {
			if (c->phase != P_ENTRY)
				return 1;
			c->entry++;
			continue;
		}
		rc = inflate_step(c);
		if (rc <= 0)
			return rc;
	}
}

dm_tarsplit *dm_tarsplit_open(int tarsplit_fd, const char *tarsplit_path, int layer_root_fd,
                              dm_error *err)
{
	asm_ctx *c = calloc(1, sizeof *c);
	struct stat st;

	if (!c || !(c->path = strdup(tarsplit_path))) {
		free(c);
		close(tarsplit_fd);
		dm_err_nomem(err);
		dm_err_prefix(err, "tar-split %s: ", tarsplit_path);
		return NULL;
	}
	c->root = layer_root_fd;
	c->file_fd = -1;
	c->content_max = UINT64_MAX;
	c->first = true;
	c->fd = tarsplit_fd;
	/* The caller opened it without blocking; a FIFO or device given anyway is not read. */
	if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		dm_err_set(err, EBADMSG, "tar-split %s: not a regular file", tarsplit_path);
		goto fail;
	}
	c->segments_max = SEGMENT_BASE + 4 * (uint64_t)st.st_size;
	c->io = malloc(IO_SIZE + GZ_IN_SIZE + GZ_OUT_SIZE);
	c->tok = json_tokener_new();
	if (!c->io || !c->tok || inflateInit2(&c->zs, 16 + MAX_WBITS) != Z_OK) {
		dm_err_nomem(err);
		dm_err_prefix(err, "tar-split %s: ", tarsplit_path);
		goto fail;
	}
	c->zs_ready = true;
	c->gz_in = c->io + IO_SIZE;
	c->gz_out = c->gz_in + GZ_IN_SIZE;
	/* Strict JSON as Go reads it; several entries may share one buffer.  Without
	 * the trailing-chars flag (json-c < 0.16) strict mode would refuse that. */
#ifdef JSON_TOKENER_ALLOW_TRAILING_CHARS
	json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
#endif
	dm_sha256_init(&c->sha);
	return c;
fail:
	dm_tarsplit_close(c);
	return NULL;
}

void dm_tarsplit_limit(dm_tarsplit *c, uint64_t max_content)
{
	c->content_max = max_content;
}

void dm_tarsplit_on_file(dm_tarsplit *c, dm_tarsplit_file_fn fn, void *opaque)
{
	c->on_file = fn;
	c->on_file_opaque = opaque;
}

int dm_tarsplit_read(dm_tarsplit *c, const void **buf, size_t *len, dm_error *err)
{
	c->err = err;
	for (;;) {
		long got;
		int rc;

		switch (c->phase) {
		case P_SEGMENT:
			got = segment_step(c);
			if (got > 0)
				return emit(c, (size_t)got, buf, len);
			if (got < 0)
				return -1;
			json_object_put(c->obj);
			c->obj = NULL;
			c->phase = P_ENTRY;
			c->entry++;
			break;
		case P_FILE:
			rc = file_step(c, buf, len);
			if (rc != 0)
				return rc;
			c->phase = P_ENTRY;
			c->entry++;
			break;
		case P_ENTRY:
			rc = next_entry(c);
			if (rc < 0)
				return -1;
			if (rc == 0)
				c->phase = P_END;
			break;
		case P_END:
			return 0;
		}
	}
}

int dm_tarsplit_finish(dm_tarsplit *c, const dm_digest *expected_diff_id, dm_tarsplit_stats *stats,
                       dm_error *err)
{
	dm_digest got;

	if (c->phase != P_END)
		return dm_err_set(err, EINVAL, "tar-split %s: stream not read to its end", c->path);
	dm_sha256_final(&c->sha, &got);
	if (stats) {
		stats->bytes = c->bytes;
		stats->files = c->files;
		stats->digest = got;
	}
	if (expected_diff_id && strcmp(got.s, expected_diff_id->s) != 0)
		return dm_err_set(err, EBADMSG, "tar-split %s: stream %s does not match DiffID %s", c->path,
		                  got.s, expected_diff_id->s);
	return 0;
}

void dm_tarsplit_close(dm_tarsplit *c)
{
	if (!c)
		return;
	if (c->obj)
		json_object_put(c->obj);
	if (c->file_fd >= 0)
		close(c->file_fd);
	if (c->tok)
		json_tokener_free(c->tok);
	if (c->zs_ready)
		inflateEnd(&c->zs);
	if (c->fd >= 0)
		close(c->fd);
	free(c->io);
	free(c->path);
	free(c);
}
