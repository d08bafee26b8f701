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

/* ---- assembler ---- */

struct asm_ctx {
	const char *path;
	int root;
	dm_sink_fn sink;
	void *opaque;
	dm_error *err;
	dm_sha256 sha;
	uint64_t bytes, files, entry;
	unsigned char *io;   /* IO_SIZE bytes: file reads and decoded segments */
	json_tokener *tok;
	size_t obj_bytes;    /* bytes fed to the tokener for the entry being parsed */
	bool pending;        /* non-whitespace fed since the last complete entry */
};

/* Field of one entry, already type-checked. */
struct field {
	const char *s;
	size_t len;
	int64_t i;
	bool set;            /* present and not null */
};

static int bad(struct asm_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fails the current entry: "tar-split <path>: entry <n>: <what>". */
static int bad(struct asm_ctx *c, int code, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dm_err_set(c->err, code, "tar-split %s: entry %" PRIu64 ": %s", c->path, c->entry, what);
}

static int emit(struct asm_ctx *c, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	dm_sha256_update(&c->sha, buf, len);
	c->bytes += len;
	if (c->sink && c->sink(c->opaque, buf, len, c->err) < 0)
		return -1;
	return 0;
}

static int get_field(struct asm_ctx *c, json_object *obj, const char *key, bool want_string,
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

/* Decodes a base64 field in IO_SIZE pieces; with emit_out the bytes go to the
 * stream, otherwise the first keep_max of them land in keep.  Returns the
 * decoded length or -1. */
static long decode_field(struct asm_ctx *c, const struct field *f, const char *key, bool emit_out,
                         unsigned char *keep, size_t keep_max)
{
	struct b64 b = { 0 };
	size_t step = IO_SIZE / 3 * 4 - 4, total = 0;

	for (size_t off = 0; off < f->len; off += step) {
		size_t n = f->len - off < step ? f->len - off : step, at;
		long got = b64_feed(&b, f->s + off, n, c->io, &at);

		if (got < 0)
			return bad(c, EBADMSG, "field \"%s\" is not valid base64 (at character %zu)", key,
			           off + at);
		if (emit_out && emit(c, c->io, (size_t)got) < 0)
			return -1;
		if (!emit_out && total < keep_max)
			memcpy(keep + total, c->io, (size_t)got < keep_max - total ? (size_t)got
			                                                            : keep_max - total);
		total += (size_t)got;
	}
	if (!b64_complete(&b))
		return bad(c, EBADMSG, "field \"%s\" is not valid base64 (truncated)", key);
	return (long)total;
}

static int file_error(struct asm_ctx *c, const char *q, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int file_error(struct asm_ctx *c, const char *q, int code, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dm_err_set(c->err, code, "tar-split %s: entry %" PRIu64 " %s: %s", c->path, c->entry,
	                  q, what);
}

/* Streams the content of one file entry, checking it against size and crc. */
static int copy_file(struct asm_ctx *c, const char *name, size_t nlen, uint64_t size,
                     uint64_t want_crc)
{
	char q[QUOTE_MAX];
	uint64_t total = 0, crc = 0;
	struct stat st;
	int fd, rc = -1;

	dm_quote_name(name, nlen, q, sizeof q);
	/* O_NONBLOCK: a FIFO planted at this name must not hang the migration. */
	fd = dm_open_beneath(c->root, name, nlen, O_RDONLY | O_NONBLOCK | O_NOCTTY, c->err);
	if (fd < 0)
		return dm_err_prefix(c->err, "tar-split %s: entry %" PRIu64 ": ", c->path, c->entry);
	if (fstat(fd, &st) < 0) {
		dm_err_sys(c->err, "tar-split %s: entry %" PRIu64 " %s: fstat", c->path, c->entry, q);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		file_error(c, q, EBADMSG, "not a regular file in the layer directory");
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = read(fd, c->io, IO_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dm_err_sys(c->err, "tar-split %s: entry %" PRIu64 " %s: read", c->path, c->entry, q);
			goto out;
		}
		if (n == 0)
			break;
		/* moby copies to EOF, so a longer file is as wrong as a shorter one. */
		if ((uint64_t)n > size - total) {
			uint64_t got = total + (uint64_t)n;
			if (st.st_size > 0 && (uint64_t)st.st_size > got)
				got = (uint64_t)st.st_size;
			file_error(c, q, EBADMSG, "size mismatch: expected %" PRIu64 " bytes, got %" PRIu64,
			           size, got);
			goto out;
		}
		crc = dm_crc64_iso(crc, c->io, (size_t)n);
		total += (uint64_t)n;
		if (emit(c, c->io, (size_t)n) < 0)
			goto out;
	}
	if (total != size) {
		file_error(c, q, EBADMSG, "size mismatch: expected %" PRIu64 " bytes, got %" PRIu64, size,
		           total);
		goto out;
	}
	if (crc != want_crc) {
		file_error(c, q, EBADMSG,
		           "CRC-64 mismatch: tar-split records %016" PRIx64 ", file has %016" PRIx64,
		           want_crc, crc);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

static int file_entry(struct asm_ctx *c, const struct field *name, const struct field *name_raw,
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
	got = decode_field(c, payload, "payload", false, crc, sizeof crc);
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
		if (!raw)
			return bad(c, ENOMEM, "out of memory decoding name_raw");
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
	rc = copy_file(c, n, nlen, (uint64_t)size->i, want);
	free(raw);
	return rc;
}

static int handle_entry(struct asm_ctx *c, json_object *obj)
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
		return decode_field(c, &payload, "payload", true, NULL, 0) < 0 ? -1 : 0;
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

/* Feeds decompressed bytes to the tokener, handling each entry as it completes. */
static int feed_json(struct asm_ctx *c, const char *p, size_t n)
{
	while (n > 0) {
		json_object *obj = json_tokener_parse_ex(c->tok, p, (int)n);
		enum json_tokener_error jerr = json_tokener_get_error(c->tok);
		size_t used;
		int rc;

		if (jerr == json_tokener_continue) {
			c->pending = c->pending || !only_space(p, n);
			c->obj_bytes += n;
			if (c->obj_bytes > ENTRY_MAX)
				return dm_err_set(c->err, EMSGSIZE,
				                  "tar-split %s: entry %" PRIu64 " is longer than %u bytes",
				                  c->path, c->entry, ENTRY_MAX);
			return 0;
		}
		if (jerr != json_tokener_success)
			return bad(c, EBADMSG, "malformed JSON: %s", json_tokener_error_desc(jerr));
		used = (size_t)c->tok->char_offset;
		if (c->obj_bytes + used > ENTRY_MAX) {
			json_object_put(obj);
			return dm_err_set(c->err, EMSGSIZE,
			                  "tar-split %s: entry %" PRIu64 " is longer than %u bytes", c->path,
			                  c->entry, ENTRY_MAX);
		}
		rc = handle_entry(c, obj);
		json_object_put(obj);
		if (rc < 0)
			return -1;
		c->entry++;
		c->obj_bytes = 0;
		c->pending = false;
		p += used;
		n -= used;
	}
	return 0;
}

/* Reads the gzip file (one or more members, as Go's gzip.Reader accepts) and feeds the JSON. */
static int inflate_all(struct asm_ctx *c, int fd, unsigned char *in, unsigned char *out)
{
	z_stream zs;
	bool in_member = false, first = true;
	int rc = -1, zr;

	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return dm_err_set(c->err, ENOMEM, "tar-split %s: cannot initialise zlib", c->path);
	for (;;) {
		if (zs.avail_in == 0) {
			ssize_t n = read(fd, in, GZ_IN_SIZE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				dm_err_sys(c->err, "tar-split %s: read", c->path);
				goto out;
			}
			if (n == 0) {
				if (first)
					dm_err_set(c->err, EBADMSG, "tar-split %s: empty file, not gzip", c->path);
				else if (in_member)
					dm_err_set(c->err, EBADMSG, "tar-split %s: truncated gzip stream", c->path);
				else
					break;
				goto out;
			}
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		if (!in_member) {
			/* A clearer message than zlib's "incorrect header check". */
			if (zs.next_in[0] != 0x1f || (zs.avail_in > 1 && zs.next_in[1] != 0x8b)) {
				dm_err_set(c->err, EBADMSG, "tar-split %s: %s", c->path,
				           first ? "not a gzip file" : "garbage after the gzip stream");
				goto out;
			}
			inflateReset(&zs);
			in_member = true;
			first = false;
		}
		zs.next_out = out;
		zs.avail_out = GZ_OUT_SIZE;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			dm_err_set(c->err, zr == Z_MEM_ERROR ? ENOMEM : EBADMSG,
			           "tar-split %s: corrupt gzip data: %s", c->path,
			           zs.msg ? zs.msg : zError(zr));
			goto out;
		}
		if (feed_json(c, (const char *)out, GZ_OUT_SIZE - zs.avail_out) < 0)
			goto out;
		if (zr == Z_STREAM_END)
			in_member = false;
	}
	if (c->pending) {
		dm_err_set(c->err, EBADMSG, "tar-split %s: entry %" PRIu64 ": truncated JSON at end of file",
		           c->path, c->entry);
		goto out;
	}
	rc = 0;
out:
	inflateEnd(&zs);
	return rc;
}

int dm_tarsplit_assemble(const char *tarsplit_path, int layer_root_fd,
                         const dm_digest *expected_diff_id, dm_sink_fn sink, void *opaque,
                         dm_tarsplit_stats *stats, dm_error *err)
{
	struct asm_ctx c = {
		.path = tarsplit_path, .root = layer_root_fd, .sink = sink, .opaque = opaque, .err = err,
	};
	unsigned char *mem = NULL;
	dm_digest got;
	int fd, rc = -1;

	fd = open(tarsplit_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dm_err_sys(err, "open tar-split %s", tarsplit_path);
	mem = malloc(IO_SIZE + GZ_IN_SIZE + GZ_OUT_SIZE);
	c.tok = json_tokener_new();
	if (!mem || !c.tok) {
		dm_err_set(err, ENOMEM, "tar-split %s: out of memory", tarsplit_path);
		goto out;
	}
	/* Strict JSON as Go reads it; several entries may share one buffer.  Without
	 * the trailing-chars flag (json-c < 0.16) strict mode would refuse that. */
#ifdef JSON_TOKENER_ALLOW_TRAILING_CHARS
	json_tokener_set_flags(c.tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
#endif
	c.io = mem;
	dm_sha256_init(&c.sha);
	if (inflate_all(&c, fd, mem + IO_SIZE, mem + IO_SIZE + GZ_IN_SIZE) < 0)
		goto out;
	dm_sha256_final(&c.sha, &got);
	if (stats) {
		stats->bytes = c.bytes;
		stats->files = c.files;
		stats->digest = got;
	}
	if (expected_diff_id && strcmp(got.s, expected_diff_id->s) != 0) {
		dm_err_set(err, EBADMSG, "tar-split %s: stream %s does not match DiffID %s", tarsplit_path,
		           got.s, expected_diff_id->s);
		goto out;
	}
	rc = 0;
out:
	if (c.tok)
		json_tokener_free(c.tok);
	free(mem);
	close(fd);
	return rc;
}
