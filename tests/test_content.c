/* Unit tests for compress and content: round trips and byte-for-byte
 * determinism of the compressors, and the content store's ingest, commit,
 * abort, idempotence, corruption detection, modes and leftover cleanup. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"
#include "content.h"
#include "digest.h"
#include "testutil.h"

/* ---- helpers ---- */

typedef struct membuf {
	unsigned char *p;
	size_t len, cap;
	int fail_after;  /* > 0: the n-th call fails */
	int calls;
} membuf;

static int mem_sink(void *opaque, const void *buf, size_t len, dm_error *err)
{
	membuf *m = opaque;

	if (m->fail_after && ++m->calls >= m->fail_after)
		return dm_err_set(err, ENOSPC, "downstream full");
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* A deterministic layer-like input: compressible text runs and noise. */
/* dm_content_write as a dm_sink_fn (opaque is the writer): a compressor straight into a blob. */
static int content_sink(void *w, const void *buf, size_t len, dm_error *err)
{
	return dm_content_write(w, buf, len, err);
}

static unsigned char *make_input(size_t len)
{
	unsigned char *p = malloc(len);
	uint32_t x = 12345;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i / 4096) % 3 == 0 ? (unsigned char)(x >> 16) : (unsigned char)("tar data "[i % 9]);
	}
	return p;
}

/* Compresses in with chunks of the given size (0: one call) and returns the output's digest. */
static void compress_digest(dm_compression c, const unsigned char *in, size_t len, size_t chunk,
			    membuf *out, dm_digest *d)
{
	dm_error err = {0};
	dm_compressor *z = dm_compressor_new(c, 0, mem_sink, out, &err);

	ck_assert_msg(z != NULL, "%s", err.msg);
	for (size_t off = 0; off < len;) {
		size_t n = chunk && len - off > chunk ? chunk : len - off;

		ck_assert_int_eq(dm_compressor_write(z, in + off, n, &err), 0);
		off += n;
	}
	ck_assert_msg(dm_compressor_finish(z, &err) == 0, "%s", err.msg);
	dm_compressor_free(z);
	dm_sha256_buf(out->p, out->len, d);
}

static unsigned char *decompress(dm_compression c, const membuf *in, size_t *outlen)
{
	size_t cap = 1 << 20, len = 0;
	unsigned char *out = malloc(cap);

	ck_assert_ptr_nonnull(out);
	if (c == DM_COMPRESS_ZSTD) {
		ZSTD_DStream *ds = ZSTD_createDStream();
		ZSTD_inBuffer ib = {in->p, in->len, 0};
		size_t r = 1;

		while (ib.pos < ib.size) {
			ZSTD_outBuffer ob;

			if (cap - len < ZSTD_DStreamOutSize())
				out = realloc(out, cap *= 2);
			ob = (ZSTD_outBuffer){out + len, cap - len, 0};
			r = ZSTD_decompressStream(ds, &ob, &ib);
			ck_assert_msg(!ZSTD_isError(r), "%s", ZSTD_getErrorName(r));
			len += ob.pos;
		}
		ck_assert_int_eq(r, 0);  /* frame complete */
		ZSTD_freeDStream(ds);
	} else if (c == DM_COMPRESS_GZIP) {
		z_stream zs = {0};
		int r;

		ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
		zs.next_in = in->p;
		zs.avail_in = (uInt)in->len;
		do {
			if (cap - len < 65536)
				out = realloc(out, cap *= 2);
			zs.next_out = out + len;
			zs.avail_out = (uInt)(cap - len);
			r = inflate(&zs, Z_NO_FLUSH);
			ck_assert(r == Z_OK || r == Z_STREAM_END);
			len = cap - zs.avail_out;
		} while (r != Z_STREAM_END);
		ck_assert_int_eq(zs.avail_in, 0);
		inflateEnd(&zs);
	} else {
		out = realloc(out, in->len + 1);
		memcpy(out, in->p, in->len);
		len = in->len;
	}
	*outlen = len;
	return out;
}

/* Short enough for every path the tests build from it to fit PATH_MAX. */
static char root[1024];

static void make_root(void)
{
	tu_mkdtemp(root, sizeof root, "dm-test-content-XXXXXX");
}

static void remove_root(void)
{
	if (tu_rmtree(root) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

static char *cpath(const char *rel)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s/" DM_CONTENT_PLUGIN "/%s", root, rel);
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Number of entries in dir, "." and ".." aside. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void ingest_dir_of(const char *ref, char *out, size_t size)
{
	char full[1024];
	dm_digest d;

	snprintf(full, sizeof full, DM_CONTENT_REF_PREFIX "%s", ref);
	dm_sha256_buf(full, strlen(full), &d);
	snprintf(out, size, "%s", cpath("ingest/"));
	strncat(out, dm_digest_hex(&d), size - strlen(out) - 1);
}

static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_msg(f != NULL, "%s", path);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static dm_content_store *open_store(void)
{
	dm_error err = {0};
	dm_content_store *s = dm_content_store_open(root, &err);

	ck_assert_msg(s != NULL, "%s", err.msg);
	return s;
}

/* ---- compress ---- */

START_TEST(compress_round_trip)
{
	static const dm_compression kinds[] = {DM_COMPRESS_ZSTD, DM_COMPRESS_GZIP, DM_COMPRESS_NONE};
	size_t len = 3 << 20, outlen;
	unsigned char *in = make_input(len), *back;

	for (size_t k = 0; k < 3; k++) {
		membuf out = {0};
		dm_digest d;

		compress_digest(kinds[k], in, len, 10000, &out, &d);
		if (kinds[k] != DM_COMPRESS_NONE)
			ck_assert_uint_lt(out.len, len / 2);
		back = decompress(kinds[k], &out, &outlen);
		ck_assert_uint_eq(outlen, len);
		ck_assert(memcmp(back, in, len) == 0);
		free(back);
		free(out.p);
	}
	free(in);
}
END_TEST

/* Same bytes in, same bytes out, however the caller splits its writes. */
START_TEST(compress_deterministic)
{
	static const dm_compression kinds[] = {DM_COMPRESS_ZSTD, DM_COMPRESS_GZIP, DM_COMPRESS_NONE};
	static const size_t chunks[] = {0, 1, 7, 512, 4096, 131072, 1 << 20};
	size_t len = 1 << 21;
	unsigned char *in = make_input(len);

	for (size_t k = 0; k < 3; k++) {
		dm_digest first, d;

		for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
			membuf out = {0};

			/* One-byte writes of 2 MiB are slow under sanitizers: use a prefix. */
			compress_digest(kinds[k], in, chunks[c] == 1 ? 300000 : len, chunks[c], &out, &d);
			free(out.p);
			if (chunks[c] == 1) {
				membuf again = {0};
				dm_digest whole;

				compress_digest(kinds[k], in, 300000, 0, &again, &whole);
				free(again.p);
				ck_assert_str_eq(d.s, whole.s);
				continue;
			}
			if (c == 0)
				first = d;
			ck_assert_msg(strcmp(first.s, d.s) == 0, "%s chunk %zu: %s != %s",
				      dm_compression_name(kinds[k]), chunks[c], d.s, first.s);
		}
	}
	free(in);
}
END_TEST

START_TEST(compress_headers_fixed)
{
	unsigned char in[100] = "hello";
	membuf out = {0};
	dm_digest d;

	/* gzip: magic, deflate, no flags, mtime 0, xfl, OS 255. */
	compress_digest(DM_COMPRESS_GZIP, in, sizeof in, 0, &out, &d);
	ck_assert_uint_ge(out.len, 18);
	ck_assert(memcmp(out.p, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) == 0);
	ck_assert_uint_eq(out.p[9], 255);
	free(out.p);
	/* zstd: magic, then a frame header descriptor with no content size
	 * (bits 7-6 and single-segment bit 5 clear), no checksum (bit 2), no dict id. */
	memset(&out, 0, sizeof out);
	compress_digest(DM_COMPRESS_ZSTD, in, sizeof in, 0, &out, &d);
	ck_assert(memcmp(out.p, "\x28\xb5\x2f\xfd", 4) == 0);
	ck_assert_uint_eq(out.p[4] & 0xe7, 0);
	free(out.p);
	/* Empty input still gives a complete, valid stream. */
	for (int k = DM_COMPRESS_GZIP; k <= DM_COMPRESS_ZSTD; k++) {
		size_t n;
		unsigned char *back;

		memset(&out, 0, sizeof out);
		compress_digest((dm_compression)k, in, 0, 0, &out, &d);
		ck_assert_uint_gt(out.len, 0);
		back = decompress((dm_compression)k, &out, &n);
		ck_assert_uint_eq(n, 0);
		free(back);
		free(out.p);
	}
}
END_TEST

START_TEST(compress_names_and_errors)
{
	dm_compression c;
	dm_error err = {0};
	membuf out = {.fail_after = 1};
	dm_compressor *z;
	unsigned char *in = make_input(1 << 20);

	ck_assert_int_eq(dm_compression_parse("zstd", &c, &err), 0);
	ck_assert_int_eq(c, DM_COMPRESS_ZSTD);
	ck_assert_str_eq(dm_compression_media_type(c), "application/vnd.oci.image.layer.v1.tar+zstd");
	ck_assert_int_eq(dm_compression_parse("gzip", &c, &err), 0);
	ck_assert_str_eq(dm_compression_media_type(c), "application/vnd.oci.image.layer.v1.tar+gzip");
	ck_assert_int_eq(dm_compression_parse("none", &c, &err), 0);
	ck_assert_str_eq(dm_compression_media_type(c), "application/vnd.oci.image.layer.v1.tar");
	ck_assert_str_eq(dm_compression_name(c), "none");
	ck_assert_int_eq(dm_compression_parse("xz", &c, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "\"xz\""));
	ck_assert_ptr_null(dm_compressor_new(DM_COMPRESS_ZSTD, 20, mem_sink, &out, &err));
	ck_assert_ptr_null(dm_compressor_new(DM_COMPRESS_GZIP, 10, mem_sink, &out, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "gzip level 10"));

	/* A failing downstream writer: its error comes back, and the stream is dead. */
	for (int k = DM_COMPRESS_NONE; k <= DM_COMPRESS_ZSTD; k++) {
		int rc = 0;

		out.calls = 0;
		z = dm_compressor_new((dm_compression)k, 0, mem_sink, &out, &err);
		for (int i = 0; i < 8 && rc == 0; i++)
			rc = dm_compressor_write(z, in, 1 << 20, &err);
		if (rc == 0)
			rc = dm_compressor_finish(z, &err);
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, ENOSPC);
		ck_assert_int_eq(dm_compressor_write(z, "x", 1, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "earlier write failed"));
		dm_compressor_free(z);
	}
	/* No writes after finish. */
	memset(&out, 0, sizeof out);
	z = dm_compressor_new(DM_COMPRESS_ZSTD, 0, mem_sink, &out, &err);
	ck_assert_int_eq(dm_compressor_finish(z, &err), 0);
	ck_assert_int_eq(dm_compressor_write(z, "x", 1, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	dm_compressor_free(z);
	free(out.p);
	free(in);
}
END_TEST

/* ---- content ---- */

START_TEST(content_open_layout)
{
	dm_error err = {0};
	dm_content_store *s;
	char missing[PATH_MAX];

	snprintf(missing, sizeof missing, "%s/nope", root);
	ck_assert_ptr_null(dm_content_store_open(missing, &err));
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, missing));
	/* Modes are containerd's whatever the umask. */
	umask(077);
	s = open_store();
	ck_assert_uint_eq(mode_of(cpath("")), 0755);
	ck_assert_uint_eq(mode_of(cpath("ingest")), 0755);
	ck_assert(!exists(cpath("blobs")));
	dm_content_store_close(s);
	/* Reopening an existing layout is fine. */
	dm_content_store_close(open_store());
}
END_TEST

START_TEST(content_commit)
{
	dm_content_store *s;
	dm_content_writer *w;
	dm_error err = {0};
	dm_blob_info info;
	dm_digest want;
	char dir[PATH_MAX], path[2 * PATH_MAX], text[256];
	unsigned char *in = make_input(300000);

	umask(077);
	s = open_store();
	dm_sha256_buf(in, 300000, &want);
	w = dm_content_writer_open(s, "layer-1", 300000, &err);
	ck_assert_msg(w != NULL, "%s", err.msg);
	/* The ingest looks like containerd's: ingest/<sha256(ref)>/{ref,startedat,updatedat,total,data}. */
	ingest_dir_of("layer-1", dir, sizeof dir);
	ck_assert_uint_eq(mode_of(dir), 0755);
	snprintf(path, sizeof path, "%s/ref", dir);
	read_file(path, text, sizeof text);
	ck_assert_str_eq(text, DM_CONTENT_REF_PREFIX "layer-1");
	snprintf(path, sizeof path, "%s/total", dir);
	read_file(path, text, sizeof text);
	ck_assert_str_eq(text, "300000");
	snprintf(path, sizeof path, "%s/startedat", dir);
	read_file(path, text, sizeof text);
	/* RFC 3339: 2006-01-02T15:04:05[.frac](Z|±hh:mm) */
	ck_assert_msg(strlen(text) >= 20 && text[4] == '-' && text[10] == 'T' && text[19] != 0,
		      "startedat %s", text);
	snprintf(path, sizeof path, "%s/updatedat", dir);
	ck_assert(exists(path));
	snprintf(path, sizeof path, "%s/data", dir);
	ck_assert(exists(path));
	ck_assert_int_eq(count_entries(cpath("ingest")), 1);  /* no temp dir left */

	for (size_t off = 0; off < 300000; off += 1000)
		ck_assert_int_eq(dm_content_write(w, in + off, 1000, &err), 0);
	ck_assert_msg(dm_content_commit(w, &want, 0, &info, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(info.digest.s, want.s);
	ck_assert_uint_eq(info.size, 300000);
	ck_assert(!info.existed);
	snprintf(text, sizeof text, "blobs/sha256/%s", dm_digest_hex(&want));
	ck_assert_uint_eq(mode_of(cpath(text)), 0444);
	ck_assert_uint_eq(mode_of(cpath("blobs")), 0755);
	ck_assert_uint_eq(mode_of(cpath("blobs/sha256")), 0755);
	ck_assert(!exists(dir));
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	ck_assert_int_eq(dm_content_verify_blob(s, &want, 300000, &err), 0);
	ck_assert_int_eq(dm_content_verify_blob(s, &want, -1, &err), 0);
	dm_content_store_close(s);
	free(in);
}
END_TEST

START_TEST(content_abort_and_mismatch)
{
	dm_content_store *s = open_store();
	dm_content_writer *w;
	dm_error err = {0};
	dm_blob_info info;
	dm_digest other;
	char dir[PATH_MAX];

	dm_sha256_buf("other", 5, &other);
	w = dm_content_writer_open(s, "a", -1, &err);
	ck_assert_int_eq(dm_content_write(w, "hello", 5, &err), 0);
	ingest_dir_of("a", dir, sizeof dir);
	ck_assert(exists(dir));
	ck_assert_int_eq(dm_content_abort(w, &err), 0);
	ck_assert(!exists(dir));

	/* Expected digest mismatch: error, no blob, no ingest. */
	w = dm_content_writer_open(s, "a", -1, &err);
	ck_assert_int_eq(dm_content_write(w, "hello", 5, &err), 0);
	ck_assert_int_eq(dm_content_commit(w, &other, 0, &info, &err), -1);
	ck_assert_int_eq(err.code, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "expected " ));
	ck_assert_ptr_nonnull(strstr(err.msg, other.s));
	ck_assert_ptr_nonnull(strstr(err.msg, "ingest " DM_CONTENT_REF_PREFIX "a: "));
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	ck_assert(!exists(cpath("blobs/sha256")) || count_entries(cpath("blobs/sha256")) == 0);

	/* Size mismatch against the announced total. */
	w = dm_content_writer_open(s, "a", 6, &err);
	ck_assert_int_eq(dm_content_write(w, "hello", 5, &err), 0);
	ck_assert_int_eq(dm_content_commit(w, NULL, 0, &info, &err), -1);
	ck_assert_int_eq(err.code, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "got 5 bytes, expected 6"));
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);

	/* Bad refs. */
	ck_assert_ptr_null(dm_content_writer_open(s, "", -1, &err));
	ck_assert_int_eq(err.code, EINVAL);
	dm_content_store_close(s);
}
END_TEST

START_TEST(content_idempotent_and_corrupt)
{
	dm_content_store *s = open_store();
	dm_error err = {0};
	dm_blob_info info;
	char path[2 * PATH_MAX];
	struct stat st1, st2;
	const char *data = "config bytes";
	int fd;

	ck_assert_int_eq(dm_content_write_buffer(s, "config-1", data, strlen(data), 0, &info, &err), 0);
	ck_assert(!info.existed);
	snprintf(path, sizeof path, "%s", cpath("blobs/sha256/"));
	strcat(path, dm_digest_hex(&info.digest));
	ck_assert_int_eq(stat(path, &st1), 0);

	/* Second write of the same bytes, by buffer and by stream: nothing changes. */
	ck_assert_int_eq(dm_content_write_buffer(s, "config-1", data, strlen(data),
						 DM_CONTENT_REHASH_EXISTING, &info, &err), 0);
	ck_assert(info.existed);
	{
		dm_content_writer *w = dm_content_writer_open(s, "config-2", -1, &err);
		dm_blob_info again;

		ck_assert_int_eq(dm_content_write(w, data, strlen(data), &err), 0);
		ck_assert_int_eq(dm_content_commit(w, NULL, DM_CONTENT_REHASH_EXISTING, &again, &err), 0);
		ck_assert(again.existed);
		ck_assert_str_eq(again.digest.s, info.digest.s);
	}
	ck_assert_int_eq(stat(path, &st2), 0);
	ck_assert_uint_eq(st1.st_ino, st2.st_ino);
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	ck_assert_int_eq(dm_content_stat_blob(s, &info.digest, &(uint64_t){0}, &err), 1);

	/* Same size, other bytes: only a re-hash sees it. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	fd = open(path, O_WRONLY);
	ck_assert_int_eq(write(fd, "C", 1), 1);
	close(fd);
	ck_assert_int_eq(dm_content_write_buffer(s, "config-1", data, strlen(data), 0, &info, &err), 0);
	ck_assert_int_eq(dm_content_write_buffer(s, "config-1", data, strlen(data),
						 DM_CONTENT_REHASH_EXISTING, &info, &err), -1);
	ck_assert_int_eq(err.code, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupt blob: content hashes to sha256:"));
	ck_assert_int_eq(dm_content_verify_blob(s, &info.digest, -1, &err), -1);
	ck_assert_int_eq(err.code, EBADMSG);
	/* Other size: the cheap check sees it, also through a streamed commit. */
	ck_assert_int_eq(truncate(path, 3), 0);
	{
		dm_content_writer *w = dm_content_writer_open(s, "config-2", -1, &err);

		ck_assert_int_eq(dm_content_write(w, data, strlen(data), &err), 0);
		ck_assert_int_eq(dm_content_commit(w, NULL, 0, &info, &err), -1);
		ck_assert_int_eq(err.code, EBADMSG);
		ck_assert_ptr_nonnull(strstr(err.msg, "corrupt blob: 3 bytes, expected 12"));
	}
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	ck_assert_int_eq(dm_content_verify_blob(s, &info.digest, 12, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "3 bytes, expected 12"));
	/* Not a regular file. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_int_eq(dm_content_stat_blob(s, &info.digest, NULL, &err), -1);
	ck_assert_int_eq(dm_content_verify_blob(s, &info.digest, -1, &err), -1);
	ck_assert_int_eq(unlink(path), 0);
	/* Absent. */
	ck_assert_int_eq(dm_content_stat_blob(s, &info.digest, NULL, &err), 0);
	ck_assert_int_eq(dm_content_verify_blob(s, &info.digest, -1, &err), -1);
	ck_assert_int_eq(err.code, ENOENT);
	dm_content_store_close(s);
}
END_TEST

START_TEST(content_busy_and_leftovers)
{
	dm_content_store *s = open_store();
	dm_content_writer *w1, *w2;
	dm_error err = {0};
	dm_blob_info info;
	unsigned removed = 9;
	char dir[PATH_MAX], path[2 * PATH_MAX];

	w1 = dm_content_writer_open(s, "same", -1, &err);
	ck_assert_ptr_nonnull(w1);
	ck_assert_ptr_null(dm_content_writer_open(s, "same", -1, &err));
	ck_assert_int_eq(err.code, EBUSY);
	/* An open writer is not a leftover. */
	ck_assert_int_eq(dm_content_clean_ingests(s, &removed, &err), 0);
	ck_assert_uint_eq(removed, 0);
	w2 = dm_content_writer_open(s, "other", -1, &err);
	ck_assert_ptr_nonnull(w2);
	ck_assert_int_eq(dm_content_abort(w1, &err), 0);
	ck_assert_int_eq(dm_content_abort(w2, &err), 0);

	/* Leftovers of a killed run: a temp dir, a complete ingest of ours, and
	 * one of containerd's, which must survive. */
	snprintf(path, sizeof path, "%s", cpath("ingest/.dm-0123"));
	ck_assert_int_eq(mkdir(path, 0755), 0);
	strcat(path, "/ref");
	tu_put(path, DM_CONTENT_REF_PREFIX "x");
	ingest_dir_of("dead", dir, sizeof dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/ref", dir);
	tu_put(path, DM_CONTENT_REF_PREFIX "dead");
	snprintf(path, sizeof path, "%s/data", dir);
	tu_put(path, "partial");
	snprintf(path, sizeof path, "%s", cpath("ingest/"));
	strcat(path, "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	strcat(path, "/ref");
	tu_put(path, "moby/1/pull-layer");
	ck_assert_int_eq(dm_content_clean_ingests(s, &removed, &err), 0);
	ck_assert_uint_eq(removed, 2);
	ck_assert_int_eq(count_entries(cpath("ingest")), 1);
	ck_assert(exists(path));

	/* A leftover with the same ref as a new writer is replaced by it. */
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/ref", dir);
	tu_put(path, DM_CONTENT_REF_PREFIX "dead");
	snprintf(path, sizeof path, "%s/data", dir);
	tu_put(path, "stale bytes");
	w1 = dm_content_writer_open(s, "dead", -1, &err);
	ck_assert_msg(w1 != NULL, "%s", err.msg);
	ck_assert_int_eq(dm_content_write(w1, "fresh", 5, &err), 0);
	ck_assert_int_eq(dm_content_commit(w1, NULL, 0, &info, &err), 0);
	ck_assert_int_eq(dm_content_verify_blob(s, &info.digest, 5, &err), 0);

	/* A directory of that name whose ref is not ours is left alone. */
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/ref", dir);
	tu_put(path, "moby/3/dead");
	ck_assert_ptr_null(dm_content_writer_open(s, "dead", -1, &err));
	ck_assert_int_eq(err.code, EEXIST);
	ck_assert_ptr_nonnull(strstr(err.msg, "moby/3/dead"));
	ck_assert(exists(path));
	ck_assert_int_eq(count_entries(cpath("ingest")), 2);
	dm_content_store_close(s);
}
END_TEST

START_TEST(content_symlinks_refused)
{
	dm_content_store *s;
	dm_error err = {0};
	dm_blob_info info;
	char target[PATH_MAX];

	snprintf(target, sizeof target, "%s/elsewhere", root);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_eq(mkdir(cpath(""), 0755), 0);
	ck_assert_int_eq(symlink(target, cpath("blobs")), 0);
	s = open_store();
	ck_assert_int_eq(dm_content_write_buffer(s, "c", "x", 1, 0, &info, &err), -1);
	ck_assert_int_eq(err.code, ELOOP);
	ck_assert_ptr_nonnull(strstr(err.msg, "blobs: is a symlink"));
	ck_assert_int_eq(count_entries(target), 0);
	dm_content_store_close(s);
	ck_assert_int_eq(unlink(cpath("blobs")), 0);
	ck_assert_int_eq(rmdir(cpath("ingest")), 0);
	ck_assert_int_eq(symlink(target, cpath("ingest")), 0);
	ck_assert_ptr_null(dm_content_store_open(root, &err));
	ck_assert_int_eq(err.code, ELOOP);
}
END_TEST

/* A write error (here EFBIG from a file size limit) is reported with the
 * file, sticks, and abort still cleans up. */
START_TEST(content_write_error)
{
	dm_content_store *s = open_store();
	dm_content_writer *w;
	dm_error err = {0};
	struct rlimit rl, old;
	unsigned char *in = make_input(1 << 20);
	int rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	w = dm_content_writer_open(s, "big", -1, &err);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = (struct rlimit){100000, old.rlim_max};
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = dm_content_write(w, in, 1 << 18, &err);
	/* Only the soft limit went down, so it can go back up unprivileged: with
	 * CK_FORK=no the tests after this one run on. */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err.code, EFBIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "/data (ref " DM_CONTENT_REF_PREFIX "big)"));
	ck_assert_int_eq(dm_content_write(w, "x", 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "earlier write failed"));
	ck_assert_int_eq(dm_content_abort(w, &err), 0);
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	dm_content_store_close(s);
	free(in);
}
END_TEST

/* compress → content in one pass, as a layer is written. */
START_TEST(content_compressed_chain)
{
	dm_content_store *s = open_store();
	dm_content_writer *w;
	dm_compressor *z;
	dm_error err = {0};
	dm_blob_info info;
	membuf ref = {0};
	dm_digest want;
	size_t len = 1 << 21;
	unsigned char *in = make_input(len);

	compress_digest(DM_COMPRESS_ZSTD, in, len, 0, &ref, &want);
	w = dm_content_writer_open(s, "layer-sha256:x", -1, &err);
	z = dm_compressor_new(DM_COMPRESS_ZSTD, 0, content_sink, w, &err);
	for (size_t off = 0; off < len; off += 512)
		ck_assert_int_eq(dm_compressor_write(z, in + off, 512, &err), 0);
	ck_assert_int_eq(dm_compressor_finish(z, &err), 0);
	dm_compressor_free(z);
	ck_assert_msg(dm_content_commit(w, &want, 0, &info, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(info.size, ref.len);
	ck_assert_int_eq(dm_content_verify_blob(s, &want, (int64_t)ref.len, &err), 0);
	free(ref.p);
	free(in);
	dm_content_store_close(s);
}
END_TEST

typedef struct job {
	dm_content_store *s;
	int id;
	int failures;
} job;

static void *writer_thread(void *arg)
{
	job *j = arg;
	dm_error err = {0};

	for (int i = 0; i < 30; i++) {
		char ref[64], text[64];
		dm_blob_info info;

		/* Half the blobs are shared between threads, under distinct refs. */
		snprintf(ref, sizeof ref, "t%d-%d", j->id, i);
		snprintf(text, sizeof text, "blob %d", i % 2 ? i : 1000 * j->id + i);
		if (dm_content_write_buffer(j->s, ref, text, strlen(text), 0, &info, &err) < 0)
			j->failures++;
	}
	return NULL;
}

START_TEST(content_threads)
{
	dm_content_store *s = open_store();
	pthread_t t[4];
	job jobs[4];

	for (int i = 0; i < 4; i++) {
		jobs[i] = (job){s, i, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(jobs[i].failures, 0);
	}
	ck_assert_int_eq(count_entries(cpath("blobs/sha256")), 15 + 4 * 15);
	ck_assert_int_eq(count_entries(cpath("ingest")), 0);
	dm_content_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("content");
	TCase *tc = tcase_create("compress");
	TCase *ts = tcase_create("store");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, compress_round_trip);
	tcase_add_test(tc, compress_deterministic);
	tcase_add_test(tc, compress_headers_fixed);
	tcase_add_test(tc, compress_names_and_errors);
	suite_add_tcase(s, tc);
	tcase_set_timeout(ts, 120);
	tcase_add_checked_fixture(ts, make_root, remove_root);
	tcase_add_test(ts, content_open_layout);
	tcase_add_test(ts, content_commit);
	tcase_add_test(ts, content_abort_and_mismatch);
	tcase_add_test(ts, content_idempotent_and_corrupt);
	tcase_add_test(ts, content_busy_and_leftovers);
	tcase_add_test(ts, content_symlinks_refused);
	tcase_add_test(ts, content_write_error);
	tcase_add_test(ts, content_compressed_chain);
	tcase_add_test(ts, content_threads);
	suite_add_tcase(s, ts);
	return tu_run(s);
}
