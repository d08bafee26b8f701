/* Unit tests for lib/apply: snapshots written from hand-made tar streams (libarchive's pax
 * writer, the way Go's archive/tar lays out Docker layers), in both forms, and hostile entries.
 * Owners, devices, trusted.* and security.capability need root: those checks run only as root. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "testutil.h"

#define TAR_MAX (8u << 20)

static char scratch[256], *tarbuf;
static size_t tarlen;
static struct archive *w;
static bool root;
static size_t piece;  /* the stream comes in pieces of this many bytes */

static void setup(void)
{
	tu_mkdtemp(scratch, sizeof scratch, "dm-apply-XXXXXX");
	tu_mkdir(tu_path(scratch, "up"));
	tu_mkdir(tu_path(scratch, "low"));
	root = geteuid() == 0;
	piece = 777;
	tarbuf = malloc(TAR_MAX);
	ck_assert_ptr_nonnull(tarbuf);
	w = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_memory(w, tarbuf, TAR_MAX, &tarlen), ARCHIVE_OK);
}

static void teardown(void)
{
	if (w)
		archive_write_free(w);
	w = NULL;
	free(tarbuf);
	tu_rmtree(scratch);
}

/* Adds one entry; data is the content (regular files), the link target (symlinks, hard links). */
static struct archive_entry *entry(const char *name, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, root ? 1000 : geteuid());
	archive_entry_set_gid(e, root ? 1001 : getegid());
	archive_entry_set_mtime(e, 1700000000, 5);
	return e;
}

static void put(struct archive_entry *e, const void *data, size_t len)
{
	if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
		archive_entry_set_size(e, (la_int64_t)len);
	/* ARCHIVE_WARN: a name that is not UTF-8 is written as bytes (hdrcharset=BINARY). */
	ck_assert_int_ge(archive_write_header(w, e), ARCHIVE_WARN);
	if (len && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
		ck_assert_int_eq(archive_write_data(w, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void file(const char *name, mode_t perm, const char *text)
{
	put(entry(name, AE_IFREG, perm), text, strlen(text));
}

static void dir(const char *name, mode_t perm)
{
	put(entry(name, AE_IFDIR, perm), NULL, 0);
}

static void symlink_e(const char *name, const char *target)
{
	struct archive_entry *e = entry(name, AE_IFLNK, 0777);

	archive_entry_set_symlink(e, target);
	put(e, NULL, 0);
}

static void hardlink_e(const char *name, const char *target)
{
	struct archive_entry *e = entry(name, AE_IFREG, 0644);

	archive_entry_set_hardlink(e, target);
	put(e, NULL, 0);
}

/* The stream in pieces of `piece` bytes (777 unless a test says otherwise), so that entries
 * straddle reads. */
struct mem {
	size_t off;
};

static int mem_read(void *opaque, const void **buf, size_t *len, dm_error *err)
{
	struct mem *m = opaque;
	size_t n = tarlen - m->off < piece ? tarlen - m->off : piece;

	(void)err;
	if (!n)
		return 0;
	*buf = tarbuf + m->off;
	*len = n;
	m->off += n;
	return 1;
}

/* dm_apply_new, _run and _free in one, as the tests need no hook. */
static int apply_once(const dm_apply_options *o, dm_source_fn src, void *opaque, dm_apply_stats *st,
                      dm_error *err)
{
	dm_applier *ap = dm_apply_new(o, err);
	int rc = ap ? dm_apply_run(ap, src, opaque, st, err) : -1;

	dm_apply_free(ap);
	return rc;
}

/* Closes the stream and applies it to scratch/up; returns dm_apply's result, the error in err. */
static int apply_form(enum dm_apply_form form, dm_apply_stats *st, dm_error *err)
{
	const char *lowers[] = { tu_path(scratch, "low") };
	dm_apply_options o = { .form = form, .dir = tu_path(scratch, "up"), .lowerdirs = lowers, .nlowerdirs = 1 };
	struct mem m = { 0 };

	ck_assert_int_eq(archive_write_close(w), ARCHIVE_OK);
	archive_write_free(w);
	w = NULL;
	return apply_once(&o, mem_read, &m, st, err);
}

static void apply_ok(enum dm_apply_form form, dm_apply_stats *st)
{
	dm_error err = { 0 };

	OK(apply_form(form, st, &err));
}

static void expect_refused(enum dm_apply_form form, int code, const char *text, const char *name)
{
	dm_error err = { 0 };

	ck_assert_int_eq(apply_form(form, NULL, &err), -1);
	ck_assert_msg(strstr(err.msg, text), "\"%s\" lacks \"%s\"", err.msg, text);
	ck_assert_msg(strstr(err.msg, name), "\"%s\" does not name the entry %s", err.msg, name);
	ck_assert_int_eq(err.code, code);
}

static struct stat lst(const char *rel)
{
	struct stat st;

	ck_assert_msg(lstat(tu_path(scratch, "up/%s", rel), &st) == 0, "%s: %s", rel, strerror(errno));
	return st;
}

static bool exists(const char *rel)
{
	struct stat st;

	return lstat(tu_path(scratch, "up/%s", rel), &st) == 0;
}

static char *slurp(const char *rel)
{
	static char buf[4096];
	int fd = open(tu_path(scratch, "up/%s", rel), O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

START_TEST(files_dirs_links)
{
	char longname[300];
	struct stat st;
	dm_apply_stats as;

	memset(longname, 'n', sizeof longname);
	memcpy(longname, "d/", 2);
	longname[2 + 200] = '\0';
	dir("d/", 0750);
	file("d/a.txt", 0644, "hello");
	hardlink_e("d/a-hard.txt", "d/a.txt");
	symlink_e("d/abs", "/etc/passwd");
	symlink_e("d/rel", "../nowhere");
	file(longname, 0600, "long");
	file("d/caf\xe9", 0644, "latin-1");
	file("d/setuid", 04755, "su");
	file("d/setgid", 02755, "sg");
	dir("d/sticky/", 01777);
	put(entry("d/fifo", AE_IFIFO, 0640), NULL, 0);
	apply_ok(DM_APPLY_OVERLAY, &as);
	ck_assert_str_eq(slurp("d/a.txt"), "hello");
	ck_assert_uint_eq(lst("d/a.txt").st_ino, lst("d/a-hard.txt").st_ino);
	ck_assert_uint_eq(lst("d/a.txt").st_nlink, 2);
	ck_assert(S_ISLNK(lst("d/abs").st_mode));
	ck_assert_str_eq(slurp(longname), "long");
	ck_assert_str_eq(slurp("d/caf\xe9"), "latin-1");
	ck_assert_uint_eq(lst("d/setuid").st_mode & 07777, 04755);
	ck_assert_uint_eq(lst("d/setgid").st_mode & 07777, 02755);
	ck_assert_uint_eq(lst("d/sticky").st_mode & 07777, 01777);
	ck_assert(S_ISFIFO(lst("d/fifo").st_mode));
	st = lst("d");
	ck_assert_uint_eq(st.st_mode & 07777, 0750);
	/* Directory times are set after their contents were written. */
	ck_assert_int_eq(st.st_mtim.tv_sec, 1700000000);
	ck_assert_int_eq(lst("d/a.txt").st_mtim.tv_sec, 1700000000);
	ck_assert_uint_eq(as.files, 5);
	ck_assert_uint_eq(as.specials, 1);
	ck_assert_uint_eq(as.hardlinks, 1);
	ck_assert_uint_eq(as.symlinks, 2);
	if (root) {
		ck_assert_uint_eq(lst("d/a.txt").st_uid, 1000);
		ck_assert_uint_eq(lst("d/abs").st_gid, 1001);
	}
}
END_TEST

START_TEST(xattrs_and_devices)
{
	struct archive_entry *e = entry("f", AE_IFREG, 0755);
	static const char cap[] = "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
	char v[64];

	archive_entry_xattr_add_entry(e, "user.comment", "set", 3);
	archive_entry_xattr_add_entry(e, "user.empty", "", 0);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/x", 2);
	if (root) {
		archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof cap - 1);
		archive_entry_xattr_add_entry(e, "trusted.note", "t", 1);
	}
	put(e, "x", 1);
	if (root) {
		e = entry("tty", AE_IFCHR, 0620);
		archive_entry_set_rdevmajor(e, 4);
		archive_entry_set_rdevminor(e, 1);
		put(e, NULL, 0);
		e = entry("blk", AE_IFBLK, 0660);
		archive_entry_set_rdevmajor(e, 7);
		archive_entry_set_rdevminor(e, 0);
		put(e, NULL, 0);
	}
	apply_ok(DM_APPLY_OVERLAY, NULL);
	ck_assert_int_eq(getxattr(tu_path(scratch, "up/f"), "user.comment", v, sizeof v), 3);
	/* An empty pax value deletes the key, as Go reads it; overlayfs' own xattrs never come in. */
	ck_assert_int_lt(getxattr(tu_path(scratch, "up/f"), "user.empty", v, sizeof v), 0);
	if (!root)
		return;
	ck_assert_int_lt(getxattr(tu_path(scratch, "up/f"), "trusted.overlay.redirect", v, sizeof v), 0);
	/* Set after chown, which would have cleared it. */
	ck_assert_int_eq(getxattr(tu_path(scratch, "up/f"), "security.capability", v, sizeof v),
	                 (ssize_t)sizeof cap - 1);
	ck_assert_int_eq(getxattr(tu_path(scratch, "up/f"), "trusted.note", v, sizeof v), 1);
	ck_assert(S_ISCHR(lst("tty").st_mode));
	ck_assert_uint_eq(lst("tty").st_rdev, makedev(4, 1));
	ck_assert_uint_eq(lst("tty").st_mode & 07777, 0620);
	ck_assert(S_ISBLK(lst("blk").st_mode));
}
END_TEST

START_TEST(sparse_and_zeros)
{
	struct archive_entry *e = entry("sparse", AE_IFREG, 0644);
	static char block[1 << 16];
	struct stat st;

	/* A GNU sparse map: 64 KiB of data at 1 MiB in a 4 MiB file. */
	archive_entry_set_size(e, 4 << 20);
	archive_entry_sparse_add_entry(e, 1 << 20, sizeof block);
	memset(block, 'x', sizeof block);
	ck_assert_int_eq(archive_write_header(w, e), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(w, block, sizeof block), (la_ssize_t)sizeof block);
	archive_entry_free(e);
	/* Whole blocks of zeros become holes where a piece of the stream covers them. */
	piece = 1 << 16;
	e = entry("zeros", AE_IFREG, 0644);
	memset(block, 0, sizeof block);
	put(e, block, sizeof block);
	apply_ok(DM_APPLY_OVERLAY, NULL);
	st = lst("sparse");
	ck_assert_int_eq(st.st_size, 4 << 20);
	ck_assert_int_le(st.st_blocks * 512, 256 << 10);
	st = lst("zeros");
	ck_assert_int_eq(st.st_size, sizeof block);
	ck_assert_int_lt(st.st_blocks * 512, (long)sizeof block);
}
END_TEST

START_TEST(overlay_whiteouts)
{
	char v[4];

	tu_mkdir(tu_path(scratch, "low/opq"));
	tu_put(tu_path(scratch, "low/opq/old"), "old");
	dir("opq/", 0755);
	put(entry("opq/.wh..wh..opq", AE_IFREG, 0600), NULL, 0);
	file("opq/new", 0644, "new");
	put(entry(".wh.gone", AE_IFREG, 0600), NULL, 0);
	put(entry(".wh..wh.plnk", AE_IFREG, 0600), NULL, 0);
	if (apply_form(DM_APPLY_OVERLAY, NULL, &(dm_error){ 0 }) < 0 && !root)
		return;   /* an unprivileged mknod of 0:0 needs Linux 5.8 */
	ck_assert(S_ISCHR(lst("gone").st_mode));
	ck_assert_uint_eq(lst("gone").st_rdev, makedev(0, 0));
	ck_assert(!exists(".wh.gone") && !exists(".wh..wh.plnk") && !exists("opq/.wh..wh..opq"));
	if (root) {
		ck_assert_int_eq(getxattr(tu_path(scratch, "up/opq"), "trusted.overlay.opaque", v, sizeof v), 1);
		ck_assert_int_eq(v[0], 'y');
	}
	ck_assert_str_eq(slurp("opq/new"), "new");
}
END_TEST

START_TEST(native_deletions)
{
	/* The parent snapshot's tree, as native Prepare leaves it. */
	tu_mkdir(tu_path(scratch, "up/keep"));
	tu_put(tu_path(scratch, "up/keep/old1"), "1");
	tu_mkdir(tu_path(scratch, "up/keep/olddir"));
	tu_put(tu_path(scratch, "up/keep/olddir/x"), "x");
	tu_mkdir(tu_path(scratch, "up/early"));
	tu_put(tu_path(scratch, "up/early/old"), "o");
	tu_mkdir(tu_path(scratch, "up/tree"));
	tu_put(tu_path(scratch, "up/tree/leaf"), "l");
	tu_put(tu_path(scratch, "up/file"), "f");
	dir("keep/", 0755);
	put(entry("keep/.wh..wh..opq", AE_IFREG, 0600), NULL, 0);
	file("keep/new", 0644, "n");
	/* Written before its directory's opaque marker: kept all the same. */
	dir("early/", 0755);
	file("early/mine", 0644, "m");
	put(entry("early/.wh..wh..opq", AE_IFREG, 0600), NULL, 0);
	put(entry(".wh.tree", AE_IFREG, 0600), NULL, 0);
	put(entry(".wh.file", AE_IFREG, 0600), NULL, 0);
	put(entry(".wh.never-there", AE_IFREG, 0600), NULL, 0);
	apply_ok(DM_APPLY_NATIVE, NULL);
	ck_assert(!exists("keep/old1") && !exists("keep/olddir"));
	ck_assert_str_eq(slurp("keep/new"), "n");
	ck_assert(!exists("early/old"));
	ck_assert_str_eq(slurp("early/mine"), "m");
	ck_assert(!exists("tree") && !exists("file") && !exists("never-there"));
	ck_assert(!exists(".wh.tree") && !exists("keep/.wh..wh..opq"));
}
END_TEST

START_TEST(native_replaces)
{
	tu_mkdir(tu_path(scratch, "up/was-dir"));
	tu_put(tu_path(scratch, "up/was-dir/x"), "x");
	tu_put(tu_path(scratch, "up/was-file"), "f");
	tu_put(tu_path(scratch, "up/lower.txt"), "lower");
	file("was-dir", 0644, "now a file");
	dir("was-file/", 0755);
	hardlink_e("link-to-lower", "lower.txt");
	apply_ok(DM_APPLY_NATIVE, NULL);
	ck_assert_str_eq(slurp("was-dir"), "now a file");
	ck_assert(S_ISDIR(lst("was-file").st_mode));
	ck_assert_uint_eq(lst("link-to-lower").st_ino, lst("lower.txt").st_ino);
}
END_TEST

START_TEST(overlay_copy_up)
{
	struct stat st;

	tu_mkdir(tu_path(scratch, "low/d"));
	ck_assert_int_eq(chmod(tu_path(scratch, "low/d"), 0710), 0);
	tu_put(tu_path(scratch, "low/d/f"), "from below");
	tu_mkdir(tu_path(scratch, "low/p"));
	ck_assert_int_eq(chmod(tu_path(scratch, "low/p"), 0701), 0);
	/* A hard link to a file only a lower layer has, and an entry whose parent only it has. */
	hardlink_e("d/g", "d/f");
	file("p/q/r", 0644, "r");
	apply_ok(DM_APPLY_OVERLAY, NULL);
	ck_assert_str_eq(slurp("d/g"), "from below");
	ck_assert_uint_eq(lst("d/g").st_ino, lst("d/f").st_ino);
	ck_assert_uint_eq(lst("d").st_mode & 07777, 0710);
	ck_assert_uint_eq(lst("p").st_mode & 07777, 0701);
	st = lst("p/q");
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_str_eq(slurp("p/q/r"), "r");
}
END_TEST

START_TEST(hostile_dotdot)
{
	file("a/../../escape", 0644, "x");
	expect_refused(DM_APPLY_OVERLAY, EXDEV, "\"..\" component refused", "escape");
	ck_assert(access(tu_path(scratch, "escape"), F_OK) < 0);
}
END_TEST

START_TEST(hostile_absolute)
{
	file("/etc/evil", 0644, "x");
	expect_refused(DM_APPLY_NATIVE, EXDEV, "absolute name refused", "/etc/evil");
}
END_TEST

START_TEST(hostile_symlink_then_through)
{
	symlink_e("sub", "..");
	file("sub/planted", 0644, "x");
	expect_refused(DM_APPLY_OVERLAY, ELOOP, "is a symlink, which is not followed", "sub/planted");
	ck_assert(access(tu_path(scratch, "planted"), F_OK) < 0);
}
END_TEST

START_TEST(hostile_hardlink_outside)
{
	tu_put(tu_path(scratch, "secret"), "s");
	hardlink_e("h", "../secret");
	expect_refused(DM_APPLY_NATIVE, EXDEV, "hard link target with a \"..\" component", "\"h\"");
}
END_TEST

START_TEST(hostile_hardlink_absolute)
{
	hardlink_e("h", "/etc/passwd");
	expect_refused(DM_APPLY_OVERLAY, EXDEV, "absolute hard link target refused", "\"h\"");
}
END_TEST

START_TEST(hostile_hardlink_through_symlink)
{
	tu_put(tu_path(scratch, "secret"), "s");
	symlink_e("out", "..");
	hardlink_e("h", "out/secret");
	expect_refused(DM_APPLY_NATIVE, ELOOP, "is a symlink, which is not followed", "\"h\"");
}
END_TEST

START_TEST(not_a_tar)
{
	dm_error err = { 0 };
	const char *lowers[] = { NULL };
	dm_apply_options o = { .form = DM_APPLY_NATIVE, .dir = tu_path(scratch, "up"), .lowerdirs = lowers };
	struct mem m = { 0 };

	memset(tarbuf, 'j', 4096);
	tarlen = 4096;
	ck_assert_int_eq(apply_once(&o, mem_read, &m, NULL, &err), -1);
	ck_assert_int_eq(err.code, EBADMSG);
	ck_assert_msg(strstr(err.msg, "tar"), "%s", err.msg);
}
END_TEST

static int failing_read(void *opaque, const void **buf, size_t *len, dm_error *err)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return dm_err_set(err, EIO, "the source broke");
}

START_TEST(source_error_passes_through)
{
	dm_error err = { 0 };
	dm_apply_options o = { .form = DM_APPLY_NATIVE, .dir = tu_path(scratch, "up") };

	ck_assert_int_eq(apply_once(&o, failing_read, NULL, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "the source broke");
	ck_assert_int_eq(err.code, EIO);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("apply");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, files_dirs_links);
	tcase_add_test(tc, xattrs_and_devices);
	tcase_add_test(tc, sparse_and_zeros);
	tcase_add_test(tc, overlay_whiteouts);
	tcase_add_test(tc, native_deletions);
	tcase_add_test(tc, native_replaces);
	tcase_add_test(tc, overlay_copy_up);
	tcase_add_test(tc, hostile_dotdot);
	tcase_add_test(tc, hostile_absolute);
	tcase_add_test(tc, hostile_symlink_then_through);
	tcase_add_test(tc, hostile_hardlink_outside);
	tcase_add_test(tc, hostile_hardlink_absolute);
	tcase_add_test(tc, hostile_hardlink_through_symlink);
	tcase_add_test(tc, not_a_tar);
	tcase_add_test(tc, source_error_passes_through);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
