/* Unit tests for treecopy.  Without arguments: what any user can check (files, sparse files,
 * symlinks, hard links, modes, times, fifos, sockets, user.* xattrs, hostile sources and
 * destinations, removal).  With --root (tests/treecopy-root.sh; exit 77 unless root): owners,
 * whiteouts, trusted.overlay.opaque, setuid and capabilities kept across chown, devices, and an
 * overlay mounted from the copy that must hide what the whiteout and the opaque dir hide. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mounts.h"
#include "treecopy.h"
#include "testutil.h"

static char base[256];

/* A path under base; the eight most recent results stay valid. */
#define P(...) tu_path(base, __VA_ARGS__)

static void setup(void)
{
	tu_mkdtemp(base, sizeof base, "dm-treecopy-XXXXXX");
	ck_assert_int_eq(mkdir(P("src"), 0755), 0);
}

static void teardown(void)
{
	dm_error err = {0};

	ck_assert_msg(dm_tree_remove(base, &err) == 0, "%s", err.msg);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* Distinct times per entry, set children first, so a mix-up or a late write shows. */
static long stamp_n;
static int stamp_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct timespec ts[2] = { { 1000000000 + stamp_n, 111111111 }, { 1200000000 + stamp_n, 999999999 - stamp_n } };

	(void)st, (void)flag, (void)ftw;
	stamp_n++;
	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void stamp_tree(const char *root)
{
	ck_assert_int_eq(nftw(root, stamp_one, 32, FTW_DEPTH | FTW_PHYS), 0);
}

static void copy_ok(const char *src, const char *dst, unsigned flags, dm_treecopy_stats *st)
{
	dm_error err = {0};

	ck_assert_msg(dm_treecopy(src, dst, flags, st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(err.code, 0);
}

static void copy_fails(const char *src, const char *dst, unsigned flags, int code, const char *msg)
{
	dm_error err = {0};

	ck_assert_int_eq(dm_treecopy(src, dst, flags, NULL, &err), -1);
	ck_assert_msg(err.code == code, "code %d, want %d: %s", err.code, code, err.msg);
	ck_assert_msg(strstr(err.msg, msg) != NULL, "\"%s\" lacks \"%s\"", err.msg, msg);
}

/* O_NOATIME: hard-linked names are compared one after the other, on one inode. */
static void read_all(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOATIME);
	struct stat st;

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	*buf = malloc((size_t)st.st_size + 1);
	*len = 0;
	while (*len < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + *len, (size_t)st.st_size - *len);

		ck_assert_int_gt(n, 0);
		*len += (size_t)n;
	}
	close(fd);
}

static void compare_xattrs(const char *a, const char *b)
{
	char la[4096], lb[4096], va[8192], vb[8192];
	ssize_t na = llistxattr(a, la, sizeof la), nb = llistxattr(b, lb, sizeof lb);

	if (na < 0 && errno == ENOTSUP)
		return;
	ck_assert_msg(na == nb, "%s: xattr lists differ", b);
	for (char *n = la; n < la + na; n += strlen(n) + 1) {
		ssize_t sa = lgetxattr(a, n, va, sizeof va), sb = lgetxattr(b, n, vb, sizeof vb);

		ck_assert_msg(sa >= 0 && sa == sb && memcmp(va, vb, (size_t)sa) == 0, "%s: xattr %s differs", b, n);
	}
}

/* Everything the copy promises, entry by entry; a's stat is compared before a is read so that
 * the comparison itself cannot disturb the times it checks. */
static void compare_tree(const char *a, const char *b)
{
	struct stat sa, sb;
	DIR *d;
	struct dirent *e;
	size_t na = 0, nb = 0;

	ck_assert_int_eq(lstat(a, &sa), 0);
	ck_assert_msg(lstat(b, &sb) == 0, "%s missing", b);
	ck_assert_msg(sa.st_mode == sb.st_mode, "%s: mode %o, want %o", b, sb.st_mode, sa.st_mode);
	ck_assert_msg(sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid, "%s: owner", b);
	ck_assert_msg(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec,
	              "%s: mtime", b);
	/* Reading a symlink updates its atime, and O_NOATIME cannot prevent that: the source's link
	 * atimes have moved since the copy (symlinks_are_copied_not_followed checks them). */
	if (!S_ISLNK(sa.st_mode))
		ck_assert_msg(sa.st_atim.tv_sec == sb.st_atim.tv_sec && sa.st_atim.tv_nsec == sb.st_atim.tv_nsec,
		              "%s: atime", b);
	compare_xattrs(a, b);
	if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode))
		ck_assert_msg(sa.st_rdev == sb.st_rdev, "%s: rdev", b);
	if (S_ISLNK(sa.st_mode)) {
		char ta[4096], tb[4096];
		ssize_t la = readlink(a, ta, sizeof ta), lb = readlink(b, tb, sizeof tb);

		ck_assert_msg(la == lb && la >= 0 && memcmp(ta, tb, (size_t)la) == 0, "%s: target", b);
	}
	if (S_ISREG(sa.st_mode)) {
		char *ca, *cb;
		size_t la, lb;

		ck_assert_int_eq(sa.st_size, sb.st_size);
		read_all(a, &ca, &la);
		read_all(b, &cb, &lb);
		ck_assert_msg(la == lb && memcmp(ca, cb, la) == 0, "%s: content", b);
		free(ca);
		free(cb);
	}
	if (!S_ISDIR(sa.st_mode))
		return;
	ck_assert_ptr_nonnull(d = opendir(a));
	while ((e = readdir(d))) {
		char ca[1024], cb[1024];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat se;

		snprintf(ca, sizeof ca, "%s/%s", a, e->d_name);
		snprintf(cb, sizeof cb, "%s/%s", b, e->d_name);
		ck_assert_int_eq(lstat(ca, &se), 0);
		if (S_ISSOCK(se.st_mode)) /* skipped by design */
			continue;
		compare_tree(ca, cb);
		na++;
	}
	closedir(d);
	ck_assert_ptr_nonnull(d = opendir(b));
	while ((e = readdir(d)))
		nb += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	ck_assert_msg(na == nb, "%s: %zu entries, want %zu", b, nb, na);
}

START_TEST(copies_files_and_keeps_holes)
{
	static char big[600 * 1024];
	dm_treecopy_stats st;
	struct stat s;
	int fd;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + i / 4096);
	write_file(P("src/big"), big, sizeof big, 0640);
	write_file(P("src/empty"), "", 0, 0444);
	/* Data at 0 and at 10 MiB, holes between and after, 20 MiB in all. */
	fd = open(P("src/sparse"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, big, 4096, 0), 4096);
	ck_assert_int_eq(pwrite(fd, big, 4096, 10 << 20), 4096);
	ck_assert_int_eq(ftruncate(fd, 20 << 20), 0);
	close(fd);
	stamp_tree(P("src"));

	copy_ok(P("src"), P("dst"), 0, &st);
	compare_tree(P("src"), P("dst"));
	ck_assert_int_eq(stat(P("dst/sparse"), &s), 0);
	ck_assert_int_eq(s.st_size, 20 << 20);
	ck_assert_msg(s.st_blocks * 512 <= 64 * 1024, "sparse copy allocates %lld bytes", (long long)s.st_blocks * 512);
	ck_assert_uint_eq(st.files, 3);
	ck_assert_uint_eq(st.dirs, 0);
	ck_assert_uint_eq(st.bytes, sizeof big + (20 << 20));
	ck_assert_uint_eq(st.inodes, 4);

	/* With reflinks asked for, the result is the same whether or not the fs can clone. */
	copy_ok(P("src"), P("dst2"), DM_TREECOPY_REFLINK, &st);
	compare_tree(P("src"), P("dst2"));
	ck_assert_int_eq(stat(P("dst2/sparse"), &s), 0);
	ck_assert_msg(s.st_blocks * 512 <= 64 * 1024, "sparse clone allocates %lld bytes", (long long)s.st_blocks * 512);
}
END_TEST

START_TEST(symlinks_are_copied_not_followed)
{
	struct stat s, before;

	ck_assert_int_eq(mkdir(P("outside"), 0755), 0);
	write_file(P("outside/secret"), "secret", 6, 0644);
	ck_assert_int_eq(mkdir(P("src/d"), 0755), 0);
	write_file(P("src/d/f"), "f", 1, 0644);
	ck_assert_int_eq(symlink("d/f", P("src/rel")), 0);
	ck_assert_int_eq(symlink("/etc/passwd", P("src/abs")), 0);
	ck_assert_int_eq(symlink("no/such/thing", P("src/dangling")), 0);
	ck_assert_int_eq(symlink("../../..", P("src/d/up")), 0);
	/* A directory symlink out of the source: copying through it would leak outside/secret. */
	ck_assert_int_eq(symlink(P("outside"), P("src/escape")), 0);
	ck_assert_int_eq(symlink("d", P("src/dirlink")), 0);
	stamp_tree(P("src"));
	ck_assert_int_eq(lstat(P("src/abs"), &before), 0);

	copy_ok(P("src"), P("dst"), 0, NULL);
	ck_assert_int_eq(lstat(P("dst/abs"), &s), 0);
	ck_assert(s.st_atim.tv_sec == before.st_atim.tv_sec && s.st_atim.tv_nsec == before.st_atim.tv_nsec);
	compare_tree(P("src"), P("dst"));
	ck_assert_int_eq(lstat(P("dst/escape"), &s), 0);
	ck_assert(S_ISLNK(s.st_mode));
	ck_assert_int_eq(lstat(P("dst/dirlink"), &s), 0);
	ck_assert(S_ISLNK(s.st_mode));
	ck_assert_int_eq(lstat(P("dst/escape/secret"), &s), 0); /* through the link, to outside */
	ck_assert_int_eq(lstat(P("outside/secret"), &s), 0);
	ck_assert_uint_eq(s.st_nlink, 1);

	/* A source root that is itself a symlink is refused, not followed. */
	ck_assert_int_eq(symlink(P("src"), P("srclink")), 0);
	copy_fails(P("srclink"), P("dst3"), 0, ELOOP, "srclink: is a symlink, which is not followed");
}
END_TEST

START_TEST(hard_links_stay_linked)
{
	dm_treecopy_stats st;
	struct stat a, b, c, l1, l2;

	write_file(P("src/a"), "shared", 6, 0644);
	ck_assert_int_eq(link(P("src/a"), P("src/b")), 0);
	ck_assert_int_eq(mkdir(P("src/sub"), 0755), 0);
	ck_assert_int_eq(link(P("src/a"), P("src/sub/c")), 0);
	ck_assert_int_eq(symlink("a", P("src/l1")), 0);
	ck_assert_int_eq(linkat(AT_FDCWD, P("src/l1"), AT_FDCWD, P("src/sub/l2"), 0), 0);
	write_file(P("src/single"), "x", 1, 0644);
	stamp_tree(P("src"));

	copy_ok(P("src"), P("dst"), 0, &st);
	compare_tree(P("src"), P("dst"));
	ck_assert_int_eq(lstat(P("dst/a"), &a), 0);
	ck_assert_int_eq(lstat(P("dst/b"), &b), 0);
	ck_assert_int_eq(lstat(P("dst/sub/c"), &c), 0);
	ck_assert_int_eq(lstat(P("dst/l1"), &l1), 0);
	ck_assert_int_eq(lstat(P("dst/sub/l2"), &l2), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_ino == c.st_ino);
	ck_assert_uint_eq(a.st_nlink, 3);
	ck_assert(S_ISLNK(l2.st_mode) && l1.st_ino == l2.st_ino);
	ck_assert_uint_eq(st.files, 2);
	ck_assert_uint_eq(st.symlinks, 1);
	ck_assert_uint_eq(st.hardlinks, 3);
	ck_assert_uint_eq(st.bytes, 7);
	ck_assert_uint_eq(st.inodes, 5); /* root, sub, a, single, l1 */
}
END_TEST

START_TEST(modes_times_and_special_files)
{
	dm_treecopy_stats st;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat s;
	int sock;

	ck_assert_int_eq(mkdir(P("src/ro"), 0755), 0);
	write_file(P("src/ro/inside"), "in", 2, 0600);
	ck_assert_int_eq(chmod(P("src/ro"), 0555), 0);    /* filled before it became read-only */
	ck_assert_int_eq(mkdir(P("src/tmp"), 0755), 0);
	ck_assert_int_eq(chmod(P("src/tmp"), 01777), 0);
	ck_assert_int_eq(mkdir(P("src/sgid"), 0755), 0);
	ck_assert_int_eq(chmod(P("src/sgid"), 02750), 0);
	write_file(P("src/setuid"), "#!", 2, 04755);
	write_file(P("src/setgid"), "#!", 2, 02711);
	write_file(P("src/odd"), "o", 1, 0421);
	if (geteuid() == 0)
		write_file(P("src/unreadable"), "u", 1, 0);
	ck_assert_int_eq(mkfifo(P("src/fifo"), 0620), 0);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", P("src/sock"));
	ck_assert_int_ge(sock = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&sun, sizeof sun), 0);
	close(sock);
	stamp_tree(P("src"));

	copy_ok(P("src"), P("dst"), 0, &st);
	compare_tree(P("src"), P("dst"));
	ck_assert_int_eq(lstat(P("dst/setuid"), &s), 0);
	ck_assert_uint_eq(s.st_mode & 07777, 04755);
	ck_assert_int_eq(lstat(P("dst/fifo"), &s), 0);
	ck_assert(S_ISFIFO(s.st_mode));
	ck_assert_int_eq(lstat(P("dst/sock"), &s), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_uint_eq(st.sockets_skipped, 1);
	ck_assert_uint_eq(st.specials, 1);
	ck_assert_uint_eq(st.dirs, 3);
	/* Removal copes with the read-only directory it has to empty. */
	{
		dm_error err = {0};

		ck_assert_msg(dm_tree_remove(P("dst"), &err) == 0, "%s", err.msg);
		ck_assert_int_eq(lstat(P("dst"), &s), -1);
	}
}
END_TEST

START_TEST(user_xattrs_are_copied)
{
	static char value[3000];

	memset(value, 'v', sizeof value);
	ck_assert_int_eq(mkdir(P("src/d"), 0755), 0);
	write_file(P("src/d/f"), "f", 1, 0644);
	if (setxattr(P("src/d/f"), "user.small", "1", 1, 0) < 0 && errno == ENOTSUP)
		return; /* the test filesystem has no user xattrs: nothing to check */
	ck_assert_int_eq(setxattr(P("src/d/f"), "user.big", value, sizeof value, 0), 0);
	ck_assert_int_eq(setxattr(P("src/d/f"), "user.empty", "", 0, 0), 0);
	ck_assert_int_eq(setxattr(P("src/d"), "user.dir", "on a dir", 8, 0), 0);
	ck_assert_int_eq(setxattr(P("src"), "user.root", "r", 1, 0), 0);
	stamp_tree(P("src"));

	copy_ok(P("src"), P("dst"), 0, NULL);
	compare_tree(P("src"), P("dst"));
	ck_assert_int_eq(getxattr(P("dst/d/f"), "user.big", NULL, 0), (ssize_t)sizeof value);
	ck_assert_int_eq(getxattr(P("dst/d/f"), "user.empty", NULL, 0), 0);
	ck_assert_int_eq(getxattr(P("dst"), "user.root", NULL, 0), 1);
}
END_TEST

/* What continuity's DiskUsage computes for a snapshot: distinct inodes, root included. */
static uint64_t du_inodes, du_bytes;
static struct { dev_t dev; ino_t ino; } du_seen[64];
static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)flag, (void)ftw;
	for (uint64_t i = 0; i < du_inodes; i++)
		if (du_seen[i].dev == st->st_dev && du_seen[i].ino == st->st_ino)
			return 0;
	ck_assert_uint_lt(du_inodes, 64);
	du_seen[du_inodes].dev = st->st_dev;
	du_seen[du_inodes].ino = st->st_ino;
	du_inodes++;
	du_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

START_TEST(stats_match_disk_usage)
{
	static char data[100000];
	dm_treecopy_stats st;

	ck_assert_int_eq(mkdir(P("src/a"), 0755), 0);
	ck_assert_int_eq(mkdir(P("src/a/b"), 0755), 0);
	write_file(P("src/a/b/f"), data, sizeof data, 0644);
	ck_assert_int_eq(link(P("src/a/b/f"), P("src/g")), 0);
	write_file(P("src/h"), data, 5000, 0644);
	ck_assert_int_eq(symlink("h", P("src/s")), 0);

	copy_ok(P("src"), P("dst"), 0, &st);
	ck_assert_int_eq(nftw(P("dst"), du_one, 16, FTW_PHYS), 0);
	ck_assert_uint_eq(st.inodes, du_inodes);
	ck_assert_uint_eq(st.usage, du_bytes);
	ck_assert_uint_eq(st.inodes, 6);
	ck_assert_uint_gt(st.usage, sizeof data);
}
END_TEST

START_TEST(refuses_bad_destinations)
{
	dm_error err = {0};
	struct stat s;

	write_file(P("src/f"), "f", 1, 0644);
	ck_assert_int_eq(mkdir(P("exists"), 0755), 0);
	copy_fails(P("src"), P("exists"), 0, EEXIST, "exists: mkdir: File exists");
	/* A planted symlink at the destination is not followed into its target. */
	ck_assert_int_eq(mkdir(P("victim"), 0755), 0);
	ck_assert_int_eq(symlink(P("victim"), P("planted")), 0);
	copy_fails(P("src"), P("planted"), 0, EEXIST, "planted: mkdir");
	copy_fails(P("src"), P("planted"), DM_TREECOPY_INTO_EXISTING, ELOOP, "planted: is a symlink");
	ck_assert_int_eq(lstat(P("victim/f"), &s), -1);
	/* Into an existing directory: only if empty. */
	write_file(P("exists/x"), "x", 1, 0644);
	copy_fails(P("src"), P("exists"), DM_TREECOPY_INTO_EXISTING, ENOTEMPTY, "exists: destination is not empty");
	ck_assert_int_eq(mkdir(P("upper"), 0700), 0);
	copy_ok(P("src"), P("upper"), DM_TREECOPY_INTO_EXISTING, NULL);
	compare_tree(P("src"), P("upper"));
	/* A destination inside the source would be copied into itself. */
	copy_fails(P("src"), P("src/inner"), 0, EINVAL, "src/inner: is the destination");
	ck_assert_int_eq(dm_tree_remove(P("src/inner"), &err), 0);
	copy_fails(P("nonexistent"), P("dst"), 0, ENOENT, "nonexistent: open");
	/* A missing source leaves no destination behind. */
	ck_assert_int_eq(lstat(P("dst"), &s), -1);
}
END_TEST

START_TEST(depth_is_bounded)
{
	char rel[4096] = "src";
	size_t len = 3;

	for (int i = 0; i <= DM_TREECOPY_MAX_DEPTH; i++) {
		len += (size_t)snprintf(rel + len, sizeof rel - len, "/d");
		ck_assert_int_eq(mkdir(P("%s", rel), 0755), 0);
	}
	copy_fails(P("src"), P("dst"), 0, ELOOP, "more than 256 directory levels");
	/* One level less is fine. */
	ck_assert_int_eq(rmdir(P("%s", rel)), 0);
	{
		dm_error err = {0};

		ck_assert_int_eq(dm_tree_remove(P("dst"), &err), 0);
	}
	copy_ok(P("src"), P("dst"), 0, NULL);
	/* Deeper than the fixture's removal of base allows: remove both trees from their roots. */
	{
		dm_error err = {0};

		ck_assert_msg(dm_tree_remove(P("dst"), &err) == 0, "%s", err.msg);
		ck_assert_msg(dm_tree_remove(P("src"), &err) == 0, "%s", err.msg);
	}
}
END_TEST

START_TEST(remove_does_not_follow_links)
{
	dm_error err = {0};
	struct stat s;

	ck_assert_int_eq(mkdir(P("keep"), 0755), 0);
	write_file(P("keep/f"), "f", 1, 0644);
	ck_assert_int_eq(mkdir(P("src/d"), 0755), 0);
	ck_assert_int_eq(symlink(P("keep"), P("src/d/link")), 0);
	ck_assert_int_eq(symlink(P("keep"), P("toplink")), 0);
	ck_assert_int_eq(dm_tree_remove(P("src"), &err), 0);
	ck_assert_int_eq(dm_tree_remove(P("toplink"), &err), 0);
	ck_assert_int_eq(lstat(P("src"), &s), -1);
	ck_assert_int_eq(lstat(P("toplink"), &s), -1);
	ck_assert_int_eq(lstat(P("keep/f"), &s), 0);
	ck_assert_int_eq(dm_tree_remove(P("no-such"), &err), 0);
	ck_assert_int_eq(dm_tree_remove(P("keep/f"), &err), 0);
	ck_assert_int_eq(lstat(P("keep/f"), &s), -1);
}
END_TEST

/* --- root only --- */

static void xset(const char *path, const char *name, const void *v, size_t n)
{
	ck_assert_msg(lsetxattr(path, name, v, n, 0) == 0, "%s %s: %s", path, name, strerror(errno));
}

START_TEST(overlay_layer_as_overlayfs_needs_it)
{
	struct vfs_cap_data cap = { .magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
	                            .data = { { 1u << CAP_NET_BIND_SERVICE, 0 }, { 0, 0 } } };
	/* P() results are recycled: keep copies of what outlives the next few calls. */
	char *lowers[2] = { strdup(P("snap/2/fs")), strdup(P("snap/1/fs")) };
	char *upper = strdup(P("snap/3/fs")), *work = strdup(P("snap/3/work"));
	dm_snapshot_dirs dirs = { upper, work, (const char *const *)lowers, 2, false, false, false };
	dm_treecopy_stats st;
	dm_mount m;
	dm_mount_target t;
	dm_error err = {0};
	char opts[4096] = "", *merged;
	struct stat s;
	char v[32];

	/* The lower layer, as an earlier snapshot. */
	ck_assert_int_eq(mkdir(P("snap"), 0700), 0);
	ck_assert_int_eq(mkdir(P("snap/1"), 0700), 0);
	ck_assert_int_eq(mkdir(P("snap/1/fs"), 0755), 0);
	write_file(P("snap/1/fs/gone"), "lower", 5, 0644);
	write_file(P("snap/1/fs/kept"), "lower", 5, 0644);
	ck_assert_int_eq(mkdir(P("snap/1/fs/opq"), 0755), 0);
	write_file(P("snap/1/fs/opq/old"), "lower", 5, 0644);

	/* An overlay2 diff/ as Docker leaves it: whiteout, opaque dir, owners, setuid, caps. */
	ck_assert_int_eq(mknod(P("src/gone"), S_IFCHR, makedev(0, 0)), 0);
	ck_assert_int_eq(lchown(P("src/gone"), 1234, 5678), 0);
	ck_assert_int_eq(mkdir(P("src/opq"), 0750), 0);
	xset(P("src/opq"), "trusted.overlay.opaque", "y", 1);
	write_file(P("src/opq/new"), "upper", 5, 0644);
	ck_assert_int_eq(chown(P("src/opq"), 1000, 1000), 0);
	write_file(P("src/suid"), "#!", 2, 0644);
	ck_assert_int_eq(chown(P("src/suid"), 1000, 1001), 0);
	ck_assert_int_eq(chmod(P("src/suid"), 06755), 0);
	write_file(P("src/ping"), "#!", 2, 0755);
	xset(P("src/ping"), "security.capability", &cap, XATTR_CAPS_SZ_2);
	ck_assert_int_eq(symlink("suid", P("src/link")), 0);
	ck_assert_int_eq(lchown(P("src/link"), 42, 43), 0);
	xset(P("src/link"), "trusted.note", "on a link", 9);
	ck_assert_int_eq(mknod(P("src/loop7"), S_IFBLK | 0660, makedev(7, 7)), 0);
	ck_assert_int_eq(chown(P("src/loop7"), 0, 6), 0);
	ck_assert_int_eq(mknod(P("src/tty"), S_IFCHR | 0620, makedev(4, 1)), 0);
	xset(P("src"), "trusted.overlay.opaque", "y", 1); /* a layer that starts from scratch */
	ck_assert_int_eq(chown(P("src"), 7, 8), 0);
	stamp_tree(P("src"));

	ck_assert_int_eq(mkdir(P("snap/2"), 0700), 0);
	copy_ok(P("src"), P("snap/2/fs"), 0, &st);
	compare_tree(P("src"), P("snap/2/fs"));
	ck_assert_int_eq(lstat(P("snap/2/fs/gone"), &s), 0);
	ck_assert(S_ISCHR(s.st_mode) && s.st_rdev == makedev(0, 0) && (s.st_mode & 07777) == 0);
	ck_assert(s.st_uid == 1234 && s.st_gid == 5678);
	ck_assert_int_eq(lstat(P("snap/2/fs/suid"), &s), 0);
	ck_assert_uint_eq(s.st_mode & 07777, 06755);
	ck_assert_int_eq(lgetxattr(P("snap/2/fs/ping"), "security.capability", v, sizeof v), XATTR_CAPS_SZ_2);
	ck_assert_int_eq(lgetxattr(P("snap/2/fs/opq"), "trusted.overlay.opaque", v, sizeof v), 1);
	ck_assert_int_eq(v[0], 'y');
	ck_assert_uint_eq(st.specials, 3);

	/* The root-level opaque marker would hide all of snapshot 1: drop it for the mount check. */
	ck_assert_int_eq(lremovexattr(P("snap/2/fs"), "trusted.overlay.opaque"), 0);

	/* Mount the chain as containerd would for the next snapshot, via the mounts module. */
	ck_assert_int_eq(mkdir(P("snap/3"), 0700), 0);
	ck_assert_int_eq(mkdir(P("snap/3/fs"), 0755), 0);
	ck_assert_int_eq(mkdir(P("snap/3/work"), 0711), 0);
	ck_assert_int_eq(mkdir(P("merged"), 0755), 0);
	merged = strdup(P("merged"));
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &dirs, &m, &err), 0);
	ck_assert_msg(dm_mount_target_parse(&m, 1, &t, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(t.dir, upper);
	for (size_t i = 0; i < m.noptions; i++) {
		if (i)
			strcat(opts, ",");
		strcat(opts, m.options[i]);
	}
	/* A private mount namespace: the mount goes away with this forked test process. */
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_msg(mount(m.source, merged, m.type, 0, opts) == 0, "mount %s: %s", opts, strerror(errno));

	ck_assert_int_eq(lstat(P("merged/gone"), &s), -1);       /* whiteout hides the lower file */
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(lstat(P("merged/kept"), &s), 0);        /* other lower files show */
	ck_assert_int_eq(lstat(P("merged/opq/new"), &s), 0);
	ck_assert_int_eq(lstat(P("merged/opq/old"), &s), -1);    /* opaque dir hides lower contents */
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(lstat(P("merged/suid"), &s), 0);
	ck_assert(s.st_uid == 1000 && s.st_gid == 1001 && (s.st_mode & 07777) == 06755);
	/* A write lands in the snapshot's own fs, the directory the parser named. */
	write_file(P("merged/written"), "w", 1, 0644);
	ck_assert_int_eq(lstat(P("snap/3/fs/written"), &s), 0);
	ck_assert_int_eq(umount(merged), 0);
	free(merged);
	free(upper);
	free(work);
	free(lowers[0]);
	free(lowers[1]);
	dm_mount_target_free(&t);
	dm_mount_free(&m);
}
END_TEST

int main(int argc, char **argv)
{
	bool root = argc > 1 && strcmp(argv[1], "--root") == 0;
	Suite *s = suite_create("treecopy");
	TCase *tc = tcase_create(root ? "root" : "core");

	if (root && geteuid() != 0)
		return 77;
	tcase_add_checked_fixture(tc, setup, teardown);
	if (root) {
		tcase_add_test(tc, overlay_layer_as_overlayfs_needs_it);
	} else {
		tcase_add_test(tc, copies_files_and_keeps_holes);
		tcase_add_test(tc, symlinks_are_copied_not_followed);
		tcase_add_test(tc, hard_links_stay_linked);
		tcase_add_test(tc, modes_times_and_special_files);
		tcase_add_test(tc, user_xattrs_are_copied);
		tcase_add_test(tc, stats_match_disk_usage);
		tcase_add_test(tc, refuses_bad_destinations);
		tcase_add_test(tc, depth_is_bounded);
		tcase_add_test(tc, remove_does_not_follow_links);
	}
	suite_add_tcase(s, tc);
	return tu_run(s);
}
