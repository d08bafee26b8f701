/* Unit tests for mounts: parsing what containerd returns for a snapshot, rendering what
 * containerd 1.6.20 would return, and refusing every shape that cannot be filled. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <string.h>

#include "mounts.h"
#include "testutil.h"

#define MAXOPT 8

/* A mount written as literals; opts ends at the first NULL. */
struct spec {
	const char *type, *source, *target;
	const char *opts[MAXOPT];
};

static dm_mount make(const struct spec *s, char **optbuf)
{
	dm_mount m = { (char *)s->type, (char *)s->source, (char *)s->target, optbuf, 0 };

	while (m.noptions < MAXOPT && s->opts[m.noptions]) {
		optbuf[m.noptions] = (char *)s->opts[m.noptions];
		m.noptions++;
	}
	return m;
}

static void parse_ok(const struct spec *s, dm_mount_target *t)
{
	char *opts[MAXOPT];
	dm_mount m = make(s, opts);
	dm_error err = {0};

	ck_assert_msg(dm_mount_target_parse(&m, 1, t, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(err.code, 0);
}

START_TEST(parses_containerd_replies)
{
	/* Verbatim shapes of containerd 1.6.20 replies (spec §6.4, §7). */
	const struct spec overlay = { "overlay", "overlay", NULL,
		{ "index=off", "workdir=/c/snapshots/3/work", "upperdir=/c/snapshots/3/fs",
		  "lowerdir=/c/snapshots/2/fs:/c/snapshots/1/fs" } };
	const struct spec overlay_userxattr = { "overlay", "overlay", "",
		{ "userxattr", "workdir=/c/3/work", "upperdir=/c/3/fs", "lowerdir=/c/2/fs", "volatile" } };
	const struct spec base = { "bind", "/c/snapshots/1/fs", NULL, { "rw", "rbind" } };
	const struct spec native = { "bind", "/c/native/snapshots/7", NULL, { "rw", "rbind" } };
	const struct spec none_rbind = { "none", "/x/y", NULL, { "rbind", "rw" } };
	const struct spec bare_bind = { "bind", "/x/y", NULL, { NULL } };
	dm_mount_target t;

	parse_ok(&overlay, &t);
	ck_assert_int_eq(t.kind, DM_MOUNT_OVERLAY);
	ck_assert_str_eq(t.dir, "/c/snapshots/3/fs");
	ck_assert_str_eq(t.workdir, "/c/snapshots/3/work");
	ck_assert_uint_eq(t.nlowerdirs, 2);
	ck_assert_str_eq(t.lowerdirs[0], "/c/snapshots/2/fs");
	ck_assert_str_eq(t.lowerdirs[1], "/c/snapshots/1/fs");
	ck_assert(!t.userxattr);
	dm_mount_target_free(&t);
	ck_assert_ptr_null(t.dir);
	dm_mount_target_free(&t);

	parse_ok(&overlay_userxattr, &t);
	ck_assert(t.userxattr);
	ck_assert_uint_eq(t.nlowerdirs, 1);
	dm_mount_target_free(&t);

	parse_ok(&base, &t);
	ck_assert_int_eq(t.kind, DM_MOUNT_BIND);
	ck_assert_str_eq(t.dir, "/c/snapshots/1/fs");
	ck_assert_ptr_null(t.workdir);
	ck_assert_ptr_null(t.lowerdirs);
	dm_mount_target_free(&t);

	parse_ok(&native, &t);
	ck_assert_str_eq(t.dir, "/c/native/snapshots/7");
	dm_mount_target_free(&t);

	parse_ok(&none_rbind, &t);
	ck_assert_int_eq(t.kind, DM_MOUNT_BIND);
	ck_assert_str_eq(t.dir, "/x/y");
	dm_mount_target_free(&t);

	parse_ok(&bare_bind, &t);
	ck_assert_str_eq(t.dir, "/x/y");
	dm_mount_target_free(&t);
}
END_TEST

struct bad {
	struct spec m;
	int code;
	const char *msg;
};

#define W "workdir=/s/3/work"
#define U "upperdir=/s/3/fs"
#define L "lowerdir=/s/2/fs"

static const struct bad bad[] = {
	{ { "", "/a", NULL, { "rbind" } }, EINVAL, "empty mount type" },
	{ { NULL, "/a", NULL, { "rbind" } }, EINVAL, "empty mount type" },
	{ { "ext4", "/dev/vda", NULL, { "rw" } }, ENOTSUP, "unsupported mount type \"ext4\"" },
	{ { "format/mkdir/overlay", "overlay", NULL, { W, U, L } }, ENOTSUP, "unsupported mount type" },
	{ { "fuse-overlayfs", "overlay", NULL, { W, U, L } }, ENOTSUP, "unsupported mount type" },
	{ { "bind", "/a", "/rootfs", { "rbind" } }, EINVAL, "has a target" },
	{ { "overlay", "overlay", NULL, { L } }, EROFS, "read-only view" },
	{ { "overlay", "overlay", NULL, { "lowerdir=/s/2/fs:/s/1/fs" } }, EROFS, "without upperdir=" },
	{ { "overlay", "overlay", NULL, { "ro", W, U, L } }, EROFS, "read-only" },
	{ { "overlay", "overlay", NULL, { W, U, "upperdir=/s/4/fs", L } }, EINVAL, "upperdir= given twice" },
	{ { "overlay", "overlay", NULL, { W, U, U, L } }, EINVAL, "upperdir= given twice" },
	{ { "overlay", "overlay", NULL, { W, W, U, L } }, EINVAL, "workdir= given twice" },
	{ { "overlay", "overlay", NULL, { W, U, L, "lowerdir=/s/1/fs" } }, EINVAL, "lowerdir= given twice" },
	{ { "overlay", "overlay", NULL, { W, U } }, EINVAL, "without lowerdir=" },
	{ { "overlay", "overlay", NULL, { U, L } }, EINVAL, "without workdir=" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=s/3/fs", L } }, EINVAL, "not an absolute path" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs:s/1/fs" } }, EINVAL, "\"s/1/fs\" is not an absolute path" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs::/s/1/fs" } }, EINVAL, "lowerdir entry is empty" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs:" } }, EINVAL, "lowerdir entry is empty" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=" } }, EINVAL, "lowerdir entry is empty" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=", L } }, EINVAL, "upperdir is empty" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/a:b/fs", L } }, EINVAL, "contains ':'" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/a\\,b", L } }, EINVAL, "contains ','" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/a\\:b", L } }, EINVAL, "contains '\\'" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/a\\:b" } }, EINVAL, "contains '\\'" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/../3/fs", L } }, EINVAL, "not a clean path" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s//3/fs", L } }, EINVAL, "not a clean path" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/3/fs/", L } }, EINVAL, "not a clean path" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/s/./fs", L } }, EINVAL, "not a clean path" },
	{ { "overlay", "overlay", NULL, { W, "upperdir=/", L } }, EINVAL, "root directory" },
	{ { "overlay", "overlay", NULL, { W, U, L, "" } }, EINVAL, "option 3 is empty" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs,upperdir=/x" } }, EINVAL, "contains ','" },
	{ { "overlay", "overlay", NULL, { W, U, L, "nosuid" } }, ENOTSUP, "unsupported overlay option \"nosuid\"" },
	{ { "overlay", "overlay", NULL, { W, U, L, "index=" } }, ENOTSUP, "unsupported overlay option \"index=\"" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir+=/s/2/fs" } }, ENOTSUP, "unsupported overlay option" },
	{ { "overlay", "overlay", NULL, { "uidmap=0:1000:65536", W, U, L } }, ENOTSUP, "id-mapped" },
	{ { "overlay", "overlay", NULL, { W, U, L, "gidmap=0:1000:65536" } }, ENOTSUP, "id-mapped" },
	{ { "overlay", "overlay", NULL, { "workdir=/s/3/fs", U, L } }, EINVAL, "overlap" },
	{ { "overlay", "overlay", NULL, { "workdir=/s/3/fs/work", U, L } }, EINVAL, "overlap" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs:/s/3/fs" } }, EINVAL, "overlaps lowerdir entry /s/3/fs" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s" } }, EINVAL, "overlaps lowerdir entry /s" },
	{ { "overlay", "overlay", NULL, { W, U, "lowerdir=/s/2/fs:/s/2/fs" } }, EINVAL, "given twice" },
	{ { "overlay", "overlay", NULL, { W, U, L, "rbind" } }, EINVAL, "overlay mount with a bind option" },
	{ { "overlay", "", NULL, { W, U, L } }, EINVAL, "overlay without source" },
	{ { "overlay", NULL, NULL, { W, U, L } }, EINVAL, "overlay without source" },
	{ { "bind", "/s/1/fs", NULL, { "ro", "rbind" } }, EROFS, "bind of /s/1/fs is read-only" },
	{ { "bind", "s/1/fs", NULL, { "rw", "rbind" } }, EINVAL, "bind source \"s/1/fs\" is not an absolute path" },
	{ { "bind", "", NULL, { "rw", "rbind" } }, EINVAL, "bind source is empty" },
	{ { "bind", NULL, NULL, { "rw", "rbind" } }, EINVAL, "bind without source" },
	{ { "bind", "/s/1/fs", NULL, { "rw", "rbind", "nosuid" } }, ENOTSUP, "unsupported bind option \"nosuid\"" },
	{ { "none", "/s/1/fs", NULL, { "rbind", "upperdir=/x" } }, ENOTSUP, "unsupported bind option" },
	{ { "bind", "/s/1,2/fs", NULL, { "rbind" } }, EINVAL, "contains ','" },
};

START_TEST(rejects_bad_mounts)
{
	const struct bad *b = &bad[_i];
	char *opts[MAXOPT];
	dm_mount m = make(&b->m, opts);
	dm_mount_target t;
	dm_error err = {0};

	ck_assert_int_eq(dm_mount_target_parse(&m, 1, &t, &err), -1);
	ck_assert_msg(err.code == b->code, "case %d: code %d, want %d (%s)", _i, err.code, b->code, err.msg);
	ck_assert_msg(strstr(err.msg, b->msg) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err.msg, b->msg);
	ck_assert_msg(strncmp(err.msg, "mount: ", 7) == 0, "case %d: %s", _i, err.msg);
	/* Nothing half-parsed is handed back. */
	ck_assert_ptr_null(t.dir);
	ck_assert_ptr_null(t.workdir);
	ck_assert_ptr_null(t.lowerdirs);
}
END_TEST

START_TEST(rejects_bad_mount_lists)
{
	char *opts_a[] = { "rw", "rbind" }, *opts_null[] = { "rw", NULL };
	dm_mount two[2] = {
		{ "bind", "/a", NULL, opts_a, 2 },
		{ "bind", "/b", NULL, opts_a, 2 },
	};
	dm_mount null_opt = { "bind", "/a", NULL, opts_null, 2 };
	dm_mount no_list = { "bind", "/a", NULL, NULL, 1 };
	dm_mount_target t;
	dm_error err = {0};

	ck_assert_int_eq(dm_mount_target_parse(two, 2, &t, &err), -1);
	ck_assert_str_eq(err.msg, "mount: expected exactly one mount for a snapshot, got 2");
	ck_assert_int_eq(dm_mount_target_parse(two, 0, &t, &err), -1);
	ck_assert_str_eq(err.msg, "mount: expected exactly one mount for a snapshot, got 0");
	ck_assert_int_eq(dm_mount_target_parse(NULL, 1, &t, &err), -1);
	ck_assert_int_eq(dm_mount_target_parse(&null_opt, 1, &t, &err), -1);
	ck_assert_str_eq(err.msg, "mount: option 1 is empty");
	ck_assert_int_eq(dm_mount_target_parse(&no_list, 1, &t, &err), -1);
	ck_assert_str_eq(err.msg, "mount: 1 options but no option list");
}
END_TEST

static void assert_mount(const dm_mount *m, const char *type, const char *source, const char *const *opts)
{
	size_t n = 0;

	ck_assert_str_eq(m->type, type);
	ck_assert_str_eq(m->source, source);
	ck_assert_ptr_null(m->target);
	for (; opts[n]; n++) {
		ck_assert_uint_lt(n, m->noptions);
		ck_assert_str_eq(m->options[n], opts[n]);
	}
	ck_assert_uint_eq(m->noptions, n);
}

START_TEST(renders_like_containerd_1_6)
{
	const char *const two[] = { "/c/2/fs", "/c/1/fs" };
	dm_snapshot_dirs d = { "/c/3/fs", "/c/3/work", two, 2, false, true, false };
	dm_mount m;
	dm_error err = {0};

	/* Active on two parents: the verified 1.6.20 order. */
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "overlay", "overlay", (const char *const[]){
		"index=off", "workdir=/c/3/work", "upperdir=/c/3/fs", "lowerdir=/c/2/fs:/c/1/fs", NULL });
	dm_mount_free(&m);
	ck_assert_ptr_null(m.options);

	d.userxattr = true;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "overlay", "overlay", (const char *const[]){
		"index=off", "userxattr", "workdir=/c/3/work", "upperdir=/c/3/fs", "lowerdir=/c/2/fs:/c/1/fs", NULL });
	dm_mount_free(&m);

	d.index_off = false;
	d.nparents = 1;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "overlay", "overlay", (const char *const[]){
		"userxattr", "workdir=/c/3/work", "upperdir=/c/3/fs", "lowerdir=/c/2/fs", NULL });
	dm_mount_free(&m);

	/* A View of one parent is a read-only bind of that parent, of two an overlay without upper. */
	d.view = true;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "bind", "/c/2/fs", (const char *const[]){ "ro", "rbind", NULL });
	dm_mount_free(&m);
	d.nparents = 2;
	d.userxattr = false;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "overlay", "overlay", (const char *const[]){ "lowerdir=/c/2/fs:/c/1/fs", NULL });
	dm_mount_free(&m);

	/* No parent: bind of the snapshot's own fs, for Active and View alike. */
	d.nparents = 0;
	d.parents = NULL;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "bind", "/c/3/fs", (const char *const[]){ "ro", "rbind", NULL });
	dm_mount_free(&m);
	d.view = false;
	d.workdir = NULL;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	assert_mount(&m, "bind", "/c/3/fs", (const char *const[]){ "rw", "rbind", NULL });
	dm_mount_free(&m);
}
END_TEST

START_TEST(renders_native)
{
	const char *const parents[] = { "/n/snapshots/4", "/n/snapshots/2" };
	dm_snapshot_dirs d = { "/n/snapshots/5", NULL, parents, 2, false, true, true };
	dm_mount m;
	dm_error err = {0};

	/* Active: its own full copy, whatever the parents; overlay-only flags have no effect. */
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_NATIVE, &d, &m, &err), 0);
	assert_mount(&m, "bind", "/n/snapshots/5", (const char *const[]){ "rw", "rbind", NULL });
	dm_mount_free(&m);
	d.view = true;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_NATIVE, &d, &m, &err), 0);
	assert_mount(&m, "bind", "/n/snapshots/4", (const char *const[]){ "ro", "rbind", NULL });
	dm_mount_free(&m);
}
END_TEST

START_TEST(render_then_parse_round_trips)
{
	const char *const parents[] = { "/c/snapshots/9/fs", "/c/snapshots/8/fs", "/c/snapshots/1/fs" };
	dm_snapshot_dirs d = { "/c/snapshots/10/fs", "/c/snapshots/10/work", parents, 3, false, true, false };
	dm_mount m;
	dm_mount_target t;
	dm_error err = {0};

	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	ck_assert_int_eq(dm_mount_target_parse(&m, 1, &t, &err), 0);
	ck_assert_str_eq(t.dir, d.dir);
	ck_assert_str_eq(t.workdir, d.workdir);
	ck_assert_uint_eq(t.nlowerdirs, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(t.lowerdirs[i], parents[i]);
	dm_mount_target_free(&t);
	dm_mount_free(&m);

	/* A View cannot be filled: what containerd would hand out for it is refused. */
	d.view = true;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), 0);
	ck_assert_int_eq(dm_mount_target_parse(&m, 1, &t, &err), -1);
	ck_assert_int_eq(err.code, EROFS);
	dm_mount_free(&m);
}
END_TEST

START_TEST(render_rejects_bad_dirs)
{
	const char *const bad_parent[] = { "/c/2/fs", "/c/a:b/fs" };
	const char *const ok_parent[] = { "/c/2/fs" };
	dm_snapshot_dirs d = { "c/3/fs", "/c/3/work", NULL, 0, false, false, false };
	dm_mount m;
	dm_error err = {0};

	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), -1);
	ck_assert_str_eq(err.msg, "mount: snapshot dir \"c/3/fs\" is not an absolute path");
	d.dir = NULL;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), -1);
	ck_assert_str_eq(err.msg, "mount: snapshot dir missing");
	d.dir = "/c/3/fs";
	d.parents = bad_parent;
	d.nparents = 2;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "parent dir \"/c/a:b/fs\" contains ':'"));
	d.parents = NULL;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_NATIVE, &d, &m, &err), -1);
	ck_assert_str_eq(err.msg, "mount: 2 parents but no parent list");
	d.parents = ok_parent;
	d.nparents = 1;
	d.workdir = NULL;
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), -1);
	ck_assert_str_eq(err.msg, "mount: workdir missing");
	ck_assert_ptr_null(m.options);
	d.workdir = "/c/3/w,x";
	ck_assert_int_eq(dm_mount_render(DM_SNAPSHOTTER_OVERLAYFS, &d, &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "contains ','"));
	ck_assert_int_eq(dm_mount_render((enum dm_snapshotter)7, &d, &m, &err), -1);
	ck_assert_str_eq(err.msg, "mount: unknown snapshotter 7");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mounts");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parses_containerd_replies);
	tcase_add_loop_test(tc, rejects_bad_mounts, 0, (int)(sizeof bad / sizeof *bad));
	tcase_add_test(tc, rejects_bad_mount_lists);
	tcase_add_test(tc, renders_like_containerd_1_6);
	tcase_add_test(tc, renders_native);
	tcase_add_test(tc, render_then_parse_round_trips);
	tcase_add_test(tc, render_rejects_bad_dirs);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
