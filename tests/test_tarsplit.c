/* Unit tests for tarsplit: CRC-64 vectors, byte-exact re-assembly of a real
 * tar (written by libarchive, split as tar-split does), and every kind of
 * hostile or broken input, each checked for its own error. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tarsplit.h"
#include "tarsplit_helpers.h"
#include "testutil.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_TAR "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

static char base[256], ts[300], host_secret[300];
static int root_fd = -1;
static int first_free_fd;   /* error paths must not leak descriptors */
static th_jsonl jl;

struct mem {
	unsigned char *p;
	size_t len;
};

static int mem_sink(void *opaque, const void *buf, size_t len, dm_error *err)
{
	struct mem *m = opaque;
	unsigned char *p = realloc(m->p, m->len + len + 1);

	if (!p)
		return dm_err_set(err, ENOMEM, "test sink: out of memory");
	memcpy(p + m->len, buf, len);
	m->p = p;
	m->len += len;
	return 0;
}

/* A path under base. */
#define P(...) tu_path(base, __VA_ARGS__)

/* Starts a new set of entries, dropping any not yet written. */
static void fresh(void)
{
	if (jl.f) {
		fclose(jl.f);
		free(jl.buf);
	}
	th_jl_open(&jl);
}

static void setup(void)
{
	char p[300];

	tu_mkdtemp(base, sizeof base, "dm-tarsplit-XXXXXX");
	snprintf(ts, sizeof ts, "%s/tar-split.json.gz", base);
	snprintf(host_secret, sizeof host_secret, "%s/host/secret", base);
	tu_mkdir(P("root"));
	tu_mkdir(P("host"));
	tu_put(P("host/secret"), "HOST");
	tu_mkdir(P("root/etc"));
	tu_put(P("root/etc/passwd"), "ROOT");
	tu_put(P("root/hello"), "hello\n");
	snprintf(p, sizeof p, "%s/root", base);
	first_free_fd = dup(0);
	close(first_free_fd);
	root_fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root_fd, 0);
	fresh();
}

static void teardown(void)
{
	int probe = dup(0);

	close(probe);
	ck_assert_int_eq(probe, first_free_fd + 1);
	if (jl.f) {
		fclose(jl.f);
		free(jl.buf);
		jl.f = NULL; /* with CK_FORK=no the next setup sees it */
	}
	close(root_fd);
	tu_rmtree(base);
}

static uint64_t crc_of(const char *s)
{
	return dm_crc64_iso(0, s, strlen(s));
}

/* A file entry whose CRC is that of content. */
static void jfile(const char *name, const char *content)
{
	th_jl_file(&jl, name, strlen(name), strlen(content), crc_of(content));
}

static void jseg(const char *s)
{
	th_jl_seg(&jl, s, strlen(s));
}

/* Runs the assembler on the collected lines (gzipped) and expects failure with code and text. */
static void expect_err(const dm_digest *want, int code, const char *text)
{
	dm_error err = { 0 };
	struct mem m = { 0 };

	if (jl.f)
		th_jl_gz(&jl, ts, "wb");
	ck_assert_int_eq(th_assemble(ts, root_fd, want, mem_sink, &m, NULL, &err), -1);
	ck_assert_msg(strstr(err.msg, text) != NULL, "message \"%s\" lacks \"%s\"", err.msg, text);
	ck_assert_msg(strstr(err.msg, ts) != NULL, "message \"%s\" does not name the file", err.msg);
	ck_assert_int_eq(err.code, code);
	free(m.p);
}

/* Runs the assembler and expects success; returns the stream (caller frees m->p). */
static void expect_ok(const dm_digest *want, struct mem *m, dm_tarsplit_stats *st)
{
	dm_error err = { 0 };

	if (jl.f)
		th_jl_gz(&jl, ts, "wb");
	ck_assert_msg(th_assemble(ts, root_fd, want, mem_sink, m, st, &err) == 0, "%s",
	              err.msg);
}

START_TEST(crc64_vectors)
{
	const char *s = "The quick brown fox jumps over the lazy dog, twice over the lazy dog";
	uint64_t c = 0;

	ck_assert_uint_eq(dm_crc64_iso(0, "123456789", 9), UINT64_C(0xB90956C775A41001));
	ck_assert_uint_eq(dm_crc64_iso(0, "hello\n", 6), UINT64_C(0x614C3EEEE2D81000));
	ck_assert_uint_eq(dm_crc64_iso(0, "", 0), 0);
	/* Uneven pieces cross the 8-byte fast path in every alignment. */
	for (size_t i = 0, step = 1, len = strlen(s); i < len; i += step, step = step % 11 + 1)
		c = dm_crc64_iso(c, s + i, len - i < step ? len - i : step);
	ck_assert_uint_eq(c, dm_crc64_iso(0, s, strlen(s)));
	ck_assert_uint_eq(dm_crc64_iso(dm_crc64_iso(0, "1234", 4), "56789", 5),
	                  UINT64_C(0xB90956C775A41001));
}
END_TEST

/* ---- a real tar, split the way tar-split's disassembler does ---- */

static uint64_t octal(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (p[i] - '0');
	return v;
}

static bool zero_block(const unsigned char *p)
{
	for (int i = 0; i < 512; i++)
		if (p[i])
			return false;
	return true;
}

/* The value of PAX record key in data, or NULL. */
static const unsigned char *pax_find(const unsigned char *d, size_t n, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);

	for (size_t off = 0; off < n;) {
		uint64_t rl = 0;
		size_t i = off;
		while (i < n && d[i] >= '0' && d[i] <= '9')
			rl = rl * 10 + (d[i++] - '0');
		ck_assert(rl > 0 && off + rl <= n && d[i] == ' ');
		i++;
		if ((size_t)(off + rl - i) > klen && memcmp(d + i, key, klen) == 0 && d[i + klen] == '=') {
			*vlen = off + rl - 1 - (i + klen + 1);
			return d + i + klen + 1;
		}
		off += rl;
	}
	return NULL;
}

/* Splits tar into tar-split entries: one segment per run of header blocks
 * (with the previous content's padding in front), a file entry per header,
 * then the end blocks and whatever follows them in chunks of chunk bytes. */
static void split_tar(const unsigned char *tar, size_t len, size_t chunk, bool old_empty)
{
	size_t off = 0, seg = 0, pax_len = 0;
	const unsigned char *pax = NULL;

	while (off + 512 <= len && !zero_block(tar + off)) {
		const unsigned char *h = tar + off;
		uint64_t size = octal(h + 124, 12);
		char name[1024];
		size_t nlen;
		const unsigned char *v;

		off += 512;
		if (h[156] == 'x') {
			pax = tar + off;
			pax_len = size;
			off += (size + 511) / 512 * 512;
			continue;
		}
		th_jl_seg(&jl, tar + seg, off - seg);
		if (pax && (v = pax_find(pax, pax_len, "path", &nlen))) {
			memcpy(name, v, nlen);
		} else if (h[345]) {
			nlen = (size_t)snprintf(name, sizeof name, "%.155s/%.100s", h + 345, h);
		} else {
			nlen = strnlen((const char *)h, 100);
			memcpy(name, h, nlen);
		}
		th_jl_file(&jl, name, nlen, size, dm_crc64_iso(0, tar + off, size));
		seg = off + size;
		off += (size + 511) / 512 * 512;
		pax = NULL;
	}
	off = off + 1024 <= len ? off + 1024 : len;
	th_jl_seg(&jl, tar + seg, off - seg);
	for (; off < len; off += chunk)
		th_jl_seg(&jl, tar + off, len - off < chunk ? len - off : chunk);
	if (old_empty)
		jseg("");
}

static void tar_add(struct archive *a, const char *name, mode_t type, const char *target,
                    const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (type == AE_IFLNK)
		archive_entry_copy_symlink(e, target);
	if (type == AE_IFREG && target)
		archive_entry_copy_hardlink(e, target);
	archive_entry_set_size(e, (la_int64_t)len);
	ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
	if (len)
		ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

START_TEST(real_tar_byte_exact)
{
	/* Loop 0: small trailing chunks and the old final empty segment (tar-split < 0.11.5).
	 * Loop 1: 1 MiB trailing chunks of random bytes, as after a tar with junk appended. */
	size_t chunk = _i == 0 ? 3000 : 1u << 20, junk = _i == 0 ? 0 : (5u << 20) / 2;
	size_t cap = 8u << 20, used = 0;
	unsigned char *tar = malloc(cap), exact[1024], lng[1000];
	char longname[200];
	struct archive *a = archive_write_new();
	struct mem m = { 0 };
	dm_tarsplit_stats st;
	dm_digest want;
	int fd;

	for (size_t i = 0; i < sizeof exact; i++)
		exact[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < sizeof lng; i++)
		lng[i] = (unsigned char)(i ^ 0x5a);
	snprintf(longname, sizeof longname, "d/%0150d", 7);
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_memory(a, tar, cap, &used), ARCHIVE_OK);
	tar_add(a, "d/", AE_IFDIR, NULL, NULL, 0);
	tar_add(a, "d/hello", AE_IFREG, NULL, "hello\n", 6);
	tar_add(a, longname, AE_IFREG, NULL, lng, sizeof lng);
	tar_add(a, "d/empty", AE_IFREG, NULL, NULL, 0);
	tar_add(a, "d/exact", AE_IFREG, NULL, exact, sizeof exact);
	tar_add(a, "d/caf\xe9", AE_IFREG, NULL, "latin1\n", 7);
	tar_add(a, "d/sl", AE_IFLNK, "hello", NULL, 0);
	tar_add(a, "d/hl", AE_IFREG, "d/hello", NULL, 0);
	tar_add(a, "d/a<b&c\"\\", AE_IFREG, NULL, "esc\n", 4);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	ck_assert_uint_gt(used, 4096);
	for (size_t i = 0; i < junk; i++)
		tar[used + i] = (unsigned char)(random() >> 7);
	used += junk;

	/* Only files with content exist on disk: size-0 entries must never be opened. */
	tu_mkdir(P("root/d"));
	tu_put(P("root/d/hello"), "hello\n");
	tu_write(P("root/%s", longname), lng, sizeof lng);
	tu_write(P("root/d/exact"), exact, sizeof exact);
	tu_put(P("root/d/caf\xe9"), "latin1\n");
	tu_put(P("root/d/a<b&c\"\\"), "esc\n");

	split_tar(tar, used, chunk, _i == 0);
	/* The tar really exercises PAX headers and the raw-name path. */
	fflush(jl.f);
	ck_assert_ptr_nonnull(memmem(tar, used, "PaxHeader", 9));
	ck_assert_ptr_nonnull(strstr(jl.buf, "\"name_raw\":\"ZC9jYWbp\""));
	dm_sha256_buf(tar, used, &want);
	expect_ok(&want, &m, &st);
	ck_assert_uint_eq(m.len, used);
	ck_assert(memcmp(m.p, tar, used) == 0);
	ck_assert_uint_eq(st.bytes, used);
	ck_assert_uint_eq(st.files, 9);
	ck_assert_str_eq(st.digest.s, want.s);
	/* The same tar-split verifies without a sink. */
	{
		dm_error err = { 0 };
		ck_assert_int_eq(th_assemble(ts, root_fd, &want, NULL, NULL, NULL, &err), 0);
	}
	/* A changed byte in a file is caught by its CRC, before the final digest. */
	fd = openat(root_fd, "d/exact", O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "X", 1, 100), 1);
	close(fd);
	expect_err(&want, EBADMSG, "\"d/exact\": CRC-64 mismatch");
	free(m.p);
	free(tar);
}
END_TEST

START_TEST(go_escapes_name_raw_and_whitespace)
{
	struct mem m = { 0 };
	char *raw = th_b64("hello", 5);
	char line[256];

	jseg("H1");
	/* Go writes < > & as \u003c \u003e \u0026; json-c writes / as \/. */
	tu_put(P("root/a<b>&c"), "esc\n");
	th_jl_raw(&jl, "{\"type\":1,\"name\":\"a\\u003cb\\u003e\\u0026c\",\"size\":4,"
	               "\"payload\":\"YUdscuAAAAA=\",\"position\":1}");
	/* name_raw wins over name. */
	snprintf(line, sizeof line,
	         "\r\n\t {\"type\":1,\"name\":\"wrong\",\"name_raw\":\"%s\",\"size\":6,"
	         "\"payload\":\"YUw+7uLYEAA=\",\"position\":2}{\"type\":2,\"payload\":\"SDI=\"}",
	         raw);
	th_jl_raw(&jl, line);
	/* Unknown types are skipped, as moby does; null fields are absent fields. */
	th_jl_raw(&jl, "{\"type\":7,\"payload\":\"QUJD\",\"position\":4,\"extra\":[1,{}]}");
	th_jl_raw(&jl, "{\"type\":1,\"name\":\"dir\\/\",\"size\":null,\"payload\":null,\"position\":null}");
	th_jl_raw(&jl, "{\"type\":2,\"payload\":\"\",\"position\":6}   ");
	expect_ok(NULL, &m, NULL);
	ck_assert_uint_eq(m.len, 2 + 4 + 6 + 2);
	ck_assert(memcmp(m.p, "H1esc\nhello\nH2", m.len) == 0);
	free(m.p);
	free(raw);
}
END_TEST

START_TEST(empty_streams)
{
	struct mem m = { 0 };
	dm_tarsplit_stats st;
	dm_digest d;
	unsigned char zeros[1024] = { 0 };
	dm_error err = { 0 };

	/* A gzip holding nothing is the zero-byte stream. */
	th_jl_gz(&jl, ts, "wb");
	dm_digest_parse(EMPTY_SHA, strlen(EMPTY_SHA), &d, "t", &err);
	expect_ok(&d, &m, &st);
	ck_assert_uint_eq(st.bytes, 0);
	ck_assert_str_eq(st.digest.s, EMPTY_SHA);
	/* The empty layer: 1024 zero bytes, with the old trailing empty segment, in two gzip members. */
	fresh();
	th_jl_seg(&jl, zeros, 600);
	th_jl_gz(&jl, ts, "wb");
	fresh();
	th_jl_seg(&jl, zeros, 424);
	jseg("");
	th_jl_gz(&jl, ts, "ab");
	dm_digest_parse(EMPTY_TAR, strlen(EMPTY_TAR), &d, "t", &err);
	expect_ok(&d, &m, &st);
	ck_assert_uint_eq(st.bytes, 1024);
	free(m.p);
}
END_TEST

static int full_sink(void *opaque, const void *buf, size_t len, dm_error *err)
{
	(void)opaque, (void)buf, (void)len;
	return dm_err_set(err, ENOSPC, "blob writer: disk full");
}

START_TEST(sink_error_is_returned_unchanged)
{
	dm_error err = { 0 };

	jseg("abc");
	th_jl_gz(&jl, ts, "wb");
	ck_assert_int_eq(th_assemble(ts, root_fd, NULL, full_sink, NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, ENOSPC);
	ck_assert_str_eq(err.msg, "blob writer: disk full");
}
END_TEST

/* ---- names that try to leave the layer root ---- */

START_TEST(escaping_name)
{
	jseg("H");
	jfile("../../etc/passwd", "ROOT");
	expect_err(NULL, EXDEV, "\"../../etc/passwd\" escapes");
}
END_TEST

START_TEST(absolute_name_resolves_inside)
{
	struct mem m = { 0 };

	jfile("/etc/passwd", "ROOT");
	expect_ok(NULL, &m, NULL);
	ck_assert_uint_eq(m.len, 4);
	ck_assert(memcmp(m.p, "ROOT", 4) == 0);
	free(m.p);
	/* The absolute path of a real host file, with its CRC: reading it would succeed. */
	fresh();
	jfile(host_secret, "HOST");
	expect_err(NULL, ENOENT, host_secret);
}
END_TEST

START_TEST(symlinked_component_outside)
{
	char target[400];

	snprintf(target, sizeof target, "%s/host", base);
	tu_symlink(target, P("root/abs"));
	tu_symlink("..", P("root/up"));
	tu_symlink("../../../../../../../..", P("root/up8"));
	jfile("abs/secret", "HOST");
	expect_err(NULL, ENOENT, "\"abs/secret\"");
	fresh();
	jfile("up/host/secret", "HOST");
	expect_err(NULL, ENOENT, "\"up/host/secret\"");
	fresh();
	snprintf(target, sizeof target, "up8%s", host_secret);
	jfile(target, "HOST");
	expect_err(NULL, ENOENT, "up8");
}
END_TEST

START_TEST(symlink_loop)
{
	tu_symlink("l2", P("root/l1"));
	tu_symlink("l1", P("root/l2"));
	jfile("l1", "x");
	expect_err(NULL, ELOOP, "\"l1\": Too many levels of symbolic links");
}
END_TEST

START_TEST(not_a_regular_file)
{
	char p[300];

	snprintf(p, sizeof p, "%s/root/fifo", base);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	/* Opening a FIFO for reading would block forever without O_NONBLOCK. */
	jfile("fifo", "x");
	expect_err(NULL, EBADMSG, "\"fifo\": not a regular file");
	fresh();
	jfile("etc", "x");
	expect_err(NULL, EBADMSG, "\"etc\": not a regular file");
}
END_TEST

START_TEST(device_never_opened)
{
	char p[300];

	if (geteuid() != 0)
		return;   /* mknod of a device needs root */
	/* Major 240 is for local use and has no driver here: an open(2) fails with ENXIO, so a
	 * message about anything but the type shows that the node was opened. */
	snprintf(p, sizeof p, "%s/root/dev", base);
	ck_assert_int_eq(mknod(p, S_IFCHR | 0644, makedev(240, 0)), 0);
	jfile("dev", "x");
	expect_err(NULL, EBADMSG, "\"dev\": not a regular file");
}
END_TEST

/* Reads the collected tar-split through the reader with a content bound; returns the result. */
static int read_limited(uint64_t limit, dm_error *err)
{
	dm_tarsplit *r;
	const void *buf;
	size_t len;
	int rc;

	th_jl_gz(&jl, ts, "wb");
	r = dm_tarsplit_open(open(ts, O_RDONLY | O_CLOEXEC), ts, root_fd, err);
	ck_assert_ptr_nonnull(r);
	dm_tarsplit_limit(r, limit);
	while ((rc = dm_tarsplit_read(r, &buf, &len, err)) > 0)
		;
	if (rc == 0)
		rc = dm_tarsplit_finish(r, NULL, NULL, err);
	dm_tarsplit_close(r);
	return rc;
}

START_TEST(content_bound)
{
	dm_error err = { 0 };

	/* The same file named again and again: each entry is honest, the sum is not. */
	jfile("hello", "hello\n");
	jfile("hello", "hello\n");
	ck_assert_int_eq(read_limited(12, &err), 0);
	fresh();
	jfile("hello", "hello\n");
	jfile("hello", "hello\n");
	jfile("hello", "hello\n");
	ck_assert_int_eq(read_limited(12, &err), -1);
	ck_assert_int_eq(err.code, EFBIG);
	ck_assert_msg(strstr(err.msg, "entry 2 \"hello\": file contents exceed the 12 bytes"), "%s", err.msg);
}
END_TEST

START_TEST(segment_bound)
{
	char *zeros = calloc(1, 700000);

	/* 28 MB of zeros from a tar-split of a few KB: no file entry needs that much header. */
	ck_assert_ptr_nonnull(zeros);
	for (int k = 0; k < 40; k++)
		th_jl_seg(&jl, zeros, 700000);
	expect_err(NULL, EFBIG, "more tar header and padding bytes than 0 file entries");
	free(zeros);
}
END_TEST

/* ---- content that does not match ---- */

START_TEST(crc_mismatch)
{
	th_jl_file(&jl, "hello", 5, 6, crc_of("hellO\n"));
	expect_err(NULL, EBADMSG, "entry 0 \"hello\": CRC-64 mismatch: tar-split records");
}
END_TEST

START_TEST(file_shorter_and_longer)
{
	th_jl_file(&jl, "hello", 5, 10, crc_of("hello\n"));
	expect_err(NULL, EBADMSG, "\"hello\": size mismatch: expected 10 bytes, got 6");
	fresh();
	th_jl_file(&jl, "hello", 5, 3, crc_of("hel"));
	expect_err(NULL, EBADMSG, "\"hello\": size mismatch: expected 3 bytes, got 6");
}
END_TEST

START_TEST(missing_file)
{
	jseg("H");
	jseg("H");
	jfile("etc/shadow", "x");
	expect_err(NULL, ENOENT, "entry 2: open \"etc/shadow\": No such file or directory");
}
END_TEST

START_TEST(wrong_digest)
{
	dm_digest d;
	dm_error err = { 0 };
	dm_tarsplit_stats st;

	jseg("abc");
	dm_digest_parse(EMPTY_TAR, strlen(EMPTY_TAR), &d, "t", &err);
	expect_err(&d, EBADMSG,
	           "stream sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad "
	           "does not match DiffID " EMPTY_TAR);
	/* stats still describe what was rebuilt. */
	ck_assert_int_eq(th_assemble(ts, root_fd, &d, NULL, NULL, &st, &err), -1);
	ck_assert_uint_eq(st.bytes, 3);
}
END_TEST

/* ---- broken containers and entries ---- */

START_TEST(missing_tarsplit)
{
	dm_error err = { 0 };

	ck_assert_int_eq(th_assemble(ts, root_fd, NULL, NULL, NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, ts));
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
}
END_TEST

START_TEST(gzip_damage)
{
	struct stat sb;
	int fd;

	for (int k = 0; k < 200; k++)
		jfile("hello", "hello\n");
	th_jl_gz(&jl, ts, "wb");
	ck_assert_int_eq(stat(ts, &sb), 0);
	ck_assert_int_eq(truncate(ts, sb.st_size / 2), 0);
	expect_err(NULL, EBADMSG, "truncated gzip stream");

	/* The trailer's CRC-32 no longer matches. */
	fresh();
	jseg("abc");
	th_jl_gz(&jl, ts, "wb");
	ck_assert_int_eq(stat(ts, &sb), 0);
	fd = open(ts, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "\xff\xff", 2, sb.st_size - 8), 2);
	close(fd);
	expect_err(NULL, EBADMSG, "corrupt gzip data: incorrect data check");

	fresh();
	jseg("abc");
	th_jl_gz(&jl, ts, "wb");
	fd = open(ts, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "junk", 4), 4);
	close(fd);
	expect_err(NULL, EBADMSG, "garbage after the gzip stream");

	tu_write(ts, "{\"type\":2}\n", 11);
	expect_err(NULL, EBADMSG, "not a gzip file");
	tu_write(ts, "", 0);
	expect_err(NULL, EBADMSG, "empty file, not gzip");
}
END_TEST

START_TEST(malformed_json)
{
	static const struct { const char *line, *text; } cases[] = {
		{ "{\"type\":2,\"payload\":\"QUJD\"", "entry 1: truncated JSON at end of file" },
		{ "{\"type\":2,\"payload\":\"QUJD\" x}", "entry 1: malformed JSON" },
		{ "{\"type\":2,\"payload\":\"QUJD\",}", "entry 1: malformed JSON: unexpected character" },
		{ "{type:2}", "entry 1: malformed JSON: quoted object property name expected" },
		{ "{\"type\":2,\"payload\":\"\\x41\"}", "entry 1: malformed JSON: invalid string sequence" },
		{ "[1,2]", "entry 1: not a JSON object" },
		{ "null", "entry 1: not a JSON object" },
		{ "{\"type\":\"2\",\"payload\":\"QUJD\"}", "entry 1: field \"type\" is not an integer" },
		{ "{\"type\":2,\"payload\":5}", "entry 1: field \"payload\" is not a string" },
		{ "{\"type\":1,\"name\":5,\"size\":1,\"payload\":\"YUw+7uLYEAA=\"}",
		  "entry 1: field \"name\" is not a string" },
		{ "{\"type\":1,\"name\":\"hello\",\"size\":1.5,\"payload\":\"YUw+7uLYEAA=\"}",
		  "entry 1: field \"size\" is not an integer" },
		{ "{\"type\":2,\"payload\":\"QUJD\",\"position\":\"1\"}",
		  "entry 1: field \"position\" is not an integer" },
		{ "{\"type\":1,\"name\":\"hello\",\"size\":-6,\"payload\":\"YUw+7uLYEAA=\"}",
		  "entry 1: negative size" },
		{ "{\"type\":1,\"name\":\"hello\",\"size\":6,\"payload\":null}",
		  "entry 1: CRC-64 payload is 0 bytes, expected 8" },
		{ "{\"type\":1,\"name\":\"hello\",\"size\":6,\"payload\":\"QUJD\"}",
		  "entry 1: CRC-64 payload is 3 bytes, expected 8" },
		{ "{\"type\":1,\"size\":6,\"payload\":\"YUw+7uLYEAA=\"}",
		  "entry 1: file entry with content has no name" },
	};

	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		fresh();
		jseg("ok");
		th_jl_raw(&jl, cases[k].line);
		expect_err(NULL, EBADMSG, cases[k].text);
	}
}
END_TEST

START_TEST(bad_base64)
{
	static const struct { const char *payload, *text; } cases[] = {
		{ "QU$D", "field \"payload\" is not valid base64 (at character 2)" },
		{ "QUJD=", "(at character 4)" },
		{ "QQ", "not valid base64 (truncated)" },
		{ "QQ=", "not valid base64 (truncated)" },
		{ "Q===", "(at character 1)" },
		{ "QQ==QUJD", "(at character 4)" },
		{ "QUJD-_==", "(at character 4)" },
	};
	char line[128];
	struct mem m = { 0 };

	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		fresh();
		snprintf(line, sizeof line, "{\"type\":2,\"payload\":\"%s\"}", cases[k].payload);
		th_jl_raw(&jl, line);
		expect_err(NULL, EBADMSG, cases[k].text);
	}
	/* Go ignores CR and LF inside base64; the FileType payload is checked even when size is 0. */
	fresh();
	th_jl_raw(&jl, "{\"type\":2,\"payload\":\"QU\\r\\nJD\\nQQ==\"}");
	expect_ok(NULL, &m, NULL);
	ck_assert_uint_eq(m.len, 4);
	ck_assert(memcmp(m.p, "ABCA", 4) == 0);
	fresh();
	th_jl_raw(&jl, "{\"type\":1,\"name\":\"d\",\"payload\":\"!!\"}");
	expect_err(NULL, EBADMSG, "entry 0: field \"payload\" is not valid base64");
	fresh();
	th_jl_raw(&jl, "{\"type\":1,\"name_raw\":\"aGVsbG8\",\"size\":6,\"payload\":\"YUw+7uLYEAA=\"}");
	expect_err(NULL, EBADMSG, "entry 0: field \"name_raw\" is not valid base64");
	free(m.p);
}
END_TEST

START_TEST(oversize_entry)
{
	size_t n = 5u << 20;
	char *line = malloc(n + 64);

	/* 5 MiB of base64 in one entry: far beyond a 1 MiB segment. */
	strcpy(line, "{\"type\":2,\"payload\":\"");
	memset(line + strlen(line), 'A', n);
	strcpy(line + 21 + n, "\"}");
	th_jl_raw(&jl, line);
	expect_err(NULL, EMSGSIZE, "entry 0 is longer than 4194304 bytes");
	/* The limit is on one entry, not on the file (random bytes: gzip cannot shrink them, so
	 * the bound on all segments, which follows the tar-split's size, stays out of the way). */
	fresh();
	for (size_t i = 0; i < 700000; i++)
		line[i] = (char)(random() >> 7);
	for (int k = 0; k < 8; k++)
		th_jl_seg(&jl, line, 700000);
	{
		struct mem m = { 0 };
		expect_ok(NULL, &m, NULL);
		ck_assert_uint_eq(m.len, 8 * 700000);
		free(m.p);
	}
	free(line);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tarsplit");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, crc64_vectors);
	tcase_add_loop_test(tc, real_tar_byte_exact, 0, 2);
	tcase_add_test(tc, go_escapes_name_raw_and_whitespace);
	tcase_add_test(tc, empty_streams);
	tcase_add_test(tc, sink_error_is_returned_unchanged);
	tcase_add_test(tc, escaping_name);
	tcase_add_test(tc, absolute_name_resolves_inside);
	tcase_add_test(tc, symlinked_component_outside);
	tcase_add_test(tc, symlink_loop);
	tcase_add_test(tc, not_a_regular_file);
	tcase_add_test(tc, crc_mismatch);
	tcase_add_test(tc, file_shorter_and_longer);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, wrong_digest);
	tcase_add_test(tc, missing_tarsplit);
	tcase_add_test(tc, gzip_damage);
	tcase_add_test(tc, malformed_json);
	tcase_add_test(tc, bad_base64);
	tcase_add_test(tc, oversize_entry);
	tcase_add_test(tc, device_never_opened);
	tcase_add_test(tc, content_bound);
	tcase_add_test(tc, segment_bound);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
