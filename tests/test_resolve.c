/* Unit tests for resolve: lexical cleaning, and opening names beneath a root
 * through openat2 and through the fallback walk, including every way a name
 * or a symlink inside the root could try to reach the host. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resolve.h"
#include "testutil.h"

typedef int (*open_fn)(int, const char *, size_t, int, dm_error *);

/* Loop index 0 tests dm_open_beneath (openat2 on this kernel), 1 the walk. */
static const open_fn openers[] = { dm_open_beneath, dm_open_beneath_walk };

static char base[256];   /* holds root/ and host/ side by side */
static char host_secret[512];
static int root_fd = -1;
static int first_free_fd;   /* error paths must not leak descriptors */

/* A path under base. */
#define P(...) tu_path(base, __VA_ARGS__)

static void setup(void)
{
	char t[512];

	tu_mkdtemp(base, sizeof base, "dm-resolve-XXXXXX");
	tu_mkdir(P("root"));
	tu_mkdir(P("host"));
	tu_put(P("host/secret"), "HOST");
	snprintf(host_secret, sizeof host_secret, "%s/host/secret", base);
	tu_mkdir(P("root/etc"));
	tu_put(P("root/etc/passwd"), "ROOT");
	tu_mkdir(P("root/a"));
	tu_mkdir(P("root/a/b"));
	tu_put(P("root/a/b/f"), "F");
	tu_put(P("root/file"), "FILE");
	tu_mkdir(P("root/host"));
	tu_symlink("/etc", P("root/etcl"));
	snprintf(t, sizeof t, "%s/host", base);
	tu_symlink(t, P("root/hostl"));                 /* absolute, at the real host dir */
	tu_symlink("..", P("root/up"));                 /* naive resolution reaches base/ */
	tu_symlink("../../..", P("root/up3"));
	tu_symlink("/", P("root/slash"));
	tu_symlink("a/b", P("root/rel"));
	tu_symlink("../../file", P("root/a/b/back"));
	tu_symlink("../../../../../../etc", P("root/a/b/deep"));
	tu_symlink("loop2", P("root/loop1"));
	tu_symlink("loop1", P("root/loop2"));
	tu_symlink("self", P("root/self"));
	tu_symlink("nowhere", P("root/dangling"));
	tu_symlink("/proc/self/root/etc/passwd", P("root/magic"));
	snprintf(t, sizeof t, "%s/root", base);
	first_free_fd = dup(0);
	close(first_free_fd);
	root_fd = open(t, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root_fd, 0);
}

static void teardown(void)
{
	int probe = dup(0);

	close(probe);
	ck_assert_int_eq(probe, first_free_fd + 1);
	close(root_fd);
	tu_rmtree(base);
}

/* Opens path with opener i and returns its content (static buffer), or NULL with *err set. */
static const char *read_via(int i, const char *path, size_t len, dm_error *err)
{
	static char buf[256];
	ssize_t n;
	int fd = openers[i](root_fd, path, len, O_RDONLY, err);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static const char *read_s(int i, const char *path, dm_error *err)
{
	return read_via(i, path, strlen(path), err);
}

static void expect_fail(int i, const char *path, size_t len, int code, const char *text)
{
	dm_error err = { 0 };

	ck_assert_msg(read_via(i, path, len, &err) == NULL, "opener %d opened %s", i, path);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, text) != NULL, "message \"%s\" lacks \"%s\"", err.msg, text);
}

START_TEST(clean_like_filepath_join)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "", "" }, { ".", "" }, { "/", "" }, { "./x", "x" }, { "x/", "x" }, { "a//b", "a/b" },
		{ "/a/../b", "b" }, { "a/..", "" }, { "a/b/../../c/./d/", "c/d" }, { "///etc/passwd", "etc/passwd" },
		{ "...", "..." }, { "..a/b..", "..a/b.." },
	};
	static const char *escape[] = { "..", "../x", "a/../../x", "/../etc", "a/b/../../../etc/passwd" };
	char out[64];
	dm_error err = { 0 };

	for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
		long n = dm_path_clean(ok[k].in, strlen(ok[k].in), out, sizeof out, &err);
		ck_assert_int_eq(n, (long)strlen(ok[k].out));
		ck_assert_str_eq(out, ok[k].out);
	}
	for (size_t k = 0; k < sizeof escape / sizeof *escape; k++) {
		dm_err_clear(&err);
		ck_assert_int_eq(dm_path_clean(escape[k], strlen(escape[k]), out, sizeof out, &err), -1);
		ck_assert_int_eq(err.code, EXDEV);
		ck_assert_ptr_nonnull(strstr(err.msg, escape[k]));
	}
	ck_assert_int_eq(dm_path_clean("a\0b", 3, out, sizeof out, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_eq(dm_path_clean("abcdef", 6, out, 4, &err), -1);
	ck_assert_int_eq(err.code, ENAMETOOLONG);
}
END_TEST

START_TEST(quote_is_printable)
{
	char q[64];

	ck_assert_str_eq(dm_quote_name("caf\xe9\"\\\n", 7, q, sizeof q), "\"caf\\xe9\\\"\\\\\\x0a\"");
	dm_quote_name("0123456789012345678901234567890123456789", 40, q, 16);
	ck_assert_uint_lt(strlen(q), 16);
	ck_assert_ptr_nonnull(strstr(q, "..."));
}
END_TEST

START_TEST(plain_names)
{
	dm_error err = { 0 };
	struct stat a, b;
	int fd;

	ck_assert_str_eq(read_s(_i, "etc/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "./etc//passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "etc/passwd/", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "a/b/../../etc/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "a/b/f", &err), "F");
	/* The empty name and "." are the root itself. */
	fd = openers[_i](root_fd, "", 0, O_RDONLY | O_DIRECTORY, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(fstat(root_fd, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fd);
	expect_fail(_i, "nope", 4, ENOENT, "\"nope\"");
	expect_fail(_i, "file/x", 6, ENOTDIR, "\"file/x\"");
}
END_TEST

START_TEST(escaping_names_refused)
{
	expect_fail(_i, "../../etc/passwd", 16, EXDEV, "\"../../etc/passwd\" escapes");
	expect_fail(_i, "a/../../x", 9, EXDEV, "escapes");
	expect_fail(_i, "etc\0passwd", 10, EINVAL, "NUL");
}
END_TEST

START_TEST(absolute_names_stay_inside)
{
	dm_error err = { 0 };

	ck_assert_str_eq(read_s(_i, "/etc/passwd", &err), "ROOT");
	/* The absolute path of a real host file must not reach it. */
	expect_fail(_i, host_secret, strlen(host_secret), ENOENT, host_secret);
}
END_TEST

START_TEST(symlinks_resolve_as_if_chrooted)
{
	dm_error err = { 0 };
	char p[1024];

	ck_assert_str_eq(read_s(_i, "etcl/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "slash/etc/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "up/etc/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "up3/etc/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "rel/f", &err), "F");
	ck_assert_str_eq(read_s(_i, "a/b/back", &err), "FILE");
	ck_assert_str_eq(read_s(_i, "a/b/deep/passwd", &err), "ROOT");
	ck_assert_str_eq(read_s(_i, "rel/../rel/../etc/passwd", &err), "ROOT");
	/* Each of these reads base/host/secret when resolved naively. */
	expect_fail(_i, "hostl/secret", 12, ENOENT, "\"hostl/secret\"");
	expect_fail(_i, "up/host/secret", 14, ENOENT, "\"up/host/secret\"");
	snprintf(p, sizeof p, "up3%s", host_secret);
	expect_fail(_i, p, strlen(p), ENOENT, "up3");
	/* /proc magic links are plain paths inside the root, where there is no proc. */
	expect_fail(_i, "magic", 5, ENOENT, "\"magic\"");
	expect_fail(_i, "dangling", 8, ENOENT, "\"dangling\"");
}
END_TEST

START_TEST(symlink_loops)
{
	expect_fail(_i, "loop1", 5, ELOOP, "\"loop1\"");
	expect_fail(_i, "self/x", 6, ELOOP, "\"self/x\"");
}
END_TEST

START_TEST(flags_respected)
{
	dm_error err = { 0 };
	int fd;

	/* O_NOFOLLOW refuses a final symlink but still follows intermediate ones. */
	ck_assert_int_eq(openers[_i](root_fd, "rel", 3, O_RDONLY | O_NOFOLLOW, &err), -1);
	ck_assert_int_eq(err.code, ELOOP);
	fd = openers[_i](root_fd, "rel/f", 5, O_RDONLY | O_NOFOLLOW, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);
	fd = openers[_i](root_fd, "etc", 3, O_RDONLY | O_DIRECTORY, &err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(openers[_i](root_fd, "file", 4, O_RDONLY | O_DIRECTORY, &err), -1);
	ck_assert_int_eq(err.code, ENOTDIR);
	ck_assert_int_eq(openers[_i](root_fd, "new", 3, O_RDWR | O_CREAT, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
}
END_TEST

/* Tar names may exceed PATH_MAX; dm_open_beneath must not fail where the walk succeeds. */
START_TEST(longer_than_path_max)
{
	char comp[201], path[24 * 202 + 8];
	size_t o = 0;
	dm_error err = { 0 };
	int dirs[25], fd;

	memset(comp, 'd', 200);
	comp[200] = '\0';
	dirs[0] = root_fd;
	for (int k = 0; k < 24; k++) {
		ck_assert_int_eq(mkdirat(dirs[k], comp, 0755), 0);
		dirs[k + 1] = openat(dirs[k], comp, O_PATH | O_DIRECTORY);
		ck_assert_int_ge(dirs[k + 1], 0);
		o += (size_t)sprintf(path + o, "%s/", comp);
	}
	ck_assert_uint_gt(o, PATH_MAX);
	path[o - 1] = '\0';
	fd = openers[_i](root_fd, path, o - 1, O_RDONLY | O_DIRECTORY, &err);
	ck_assert_msg(fd >= 0, "%s", err.msg);
	close(fd);
	/* nftw in teardown cannot remove paths longer than PATH_MAX. */
	for (int k = 24; k > 0; k--) {
		close(dirs[k]);
		ck_assert_int_eq(unlinkat(dirs[k - 1], comp, AT_REMOVEDIR), 0);
	}
}
END_TEST

#ifdef SYS_openat2
/* Old kernels and some container seccomp profiles answer openat2 with ENOSYS:
 * dm_open_beneath must then fall back to the walk, with the same confinement. */
START_TEST(fallback_when_openat2_is_missing)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof *f, .filter = f };
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dm_error err = { 0 };
		const char *s;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(2);
		if (syscall(SYS_openat2, root_fd, "etc", NULL, 0) >= 0 || errno != ENOSYS)
			_exit(3);
		s = read_via(0, "up3/etcl/passwd", 15, &err);
		if (!s || strcmp(s, "ROOT") != 0)
			_exit(4);
		if (read_via(0, "hostl/secret", 12, &err) || err.code != ENOENT)
			_exit(5);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, clean_like_filepath_join);
	tcase_add_test(tc, quote_is_printable);
	tcase_add_loop_test(tc, plain_names, 0, 2);
	tcase_add_loop_test(tc, escaping_names_refused, 0, 2);
	tcase_add_loop_test(tc, absolute_names_stay_inside, 0, 2);
	tcase_add_loop_test(tc, symlinks_resolve_as_if_chrooted, 0, 2);
	tcase_add_loop_test(tc, symlink_loops, 0, 2);
	tcase_add_loop_test(tc, flags_respected, 0, 2);
	tcase_add_loop_test(tc, longer_than_path_max, 0, 2);
#ifdef SYS_openat2
	tcase_add_test(tc, fallback_when_openat2_is_missing);
#endif
	suite_add_tcase(s, tc);
	return tu_run(s);
}
