/* Unit tests for reference: normalisation vectors (distribution/reference's own test cases and
 * the forms found in repositories.json), the familiar form back, and rejected input. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "reference.h"
#include "testutil.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
	const char *in, *normalized, *familiar;
} good[] = {
	{ "busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:latest", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36.1-musl", "docker.io/library/busybox:1.36.1-musl", "busybox:1.36.1-musl" },
	{ "library/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x" },
	{ "myuser/web:dev", "docker.io/myuser/web:dev", "myuser/web:dev" },
	{ "docker.io/myuser/web", "docker.io/myuser/web:latest", "myuser/web:latest" },
	/* Three components under library/ keep the prefix in the familiar form. */
	{ "library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest" },
	{ "ghcr.io/acme/tool:v1", "ghcr.io/acme/tool:v1", "ghcr.io/acme/tool:v1" },
	{ "localhost/app", "localhost/app:latest", "localhost/app:latest" },
	{ "localhost:5000/app@sha256:" H64, "localhost:5000/app@sha256:" H64, "localhost:5000/app@sha256:" H64 },
	{ "busybox@sha256:" H64, "docker.io/library/busybox@sha256:" H64, "busybox@sha256:" H64 },
	{ "busybox:1@sha256:" H64, "docker.io/library/busybox:1@sha256:" H64, "busybox:1@sha256:" H64 },
	/* Without a '/', "host:5000" is a name and a tag. */
	{ "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000" },
	{ "registry.example.com:8443/a/b/c:T_1", "registry.example.com:8443/a/b/c:T_1",
	  "registry.example.com:8443/a/b/c:T_1" },
	{ "[::1]:5000/app:v2", "[::1]:5000/app:v2", "[::1]:5000/app:v2" },
	/* An uppercase first component is a domain (distribution/reference >= v0.6, moby >= 25). */
	{ "Example/app", "Example/app:latest", "Example/app:latest" },
	{ "a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest", "a__b/c--d/e.f_g:latest" },
	/* A first component that looks like a domain but is not one is part of the path. */
	{ "a_b.c/foo", "a_b.c/foo:latest", "a_b.c/foo:latest" },
	{ "foo/" H64, "docker.io/foo/" H64 ":latest", "foo/" H64 ":latest" },
	{ "busybox@sha512:" H64 H64, "docker.io/library/busybox@sha512:" H64 H64, "busybox@sha512:" H64 H64 },
};

static const struct {
	const char *in, *why;
} bad[] = {
	{ "", "at least one component" },
	{ H64, "64-byte hexadecimal" },
	{ "Busybox", "must be lowercase" },
	{ "myuser/Web", "must be lowercase" },
	{ "busybox:", "invalid tag" },
	{ "busybox:-x", "invalid tag" },
	{ "busybox:a/b", "invalid reference format" },
	{ "busybox@sha256:abc", "invalid digest" },
	{ "busybox@sha256:" H64 "0", "invalid digest" },
	{ "busybox@md5:0123456789abcdef0123456789abcdef", "invalid digest" },
	{ "busybox@SHA256:" H64, "must be lowercase" },
	{ "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "invalid digest" },
	{ "busybox@", "invalid digest" },
	{ "a@b@sha256:" H64, "invalid digest" },
	{ "a b", "invalid reference format" },
	{ "a//b", "invalid reference format" },
	{ "a/", "invalid reference format" },
	{ "/a", "invalid reference format" },
	{ "a..b", "invalid reference format" },
	{ "a___b", "invalid reference format" },
	{ "-a", "invalid reference format" },
	{ "a-", "invalid reference format" },
	{ "docker.io/", "invalid reference format" },
	{ "localhost:5000/", "invalid reference format" },
	{ "localhost:port/app", "invalid reference format" },
	{ "-bad.example.com/app", "invalid reference format" },
	{ "[zz]:5000/app", "invalid reference format" },
	{ "a\nb", "invalid reference format" },
};

START_TEST(normalizes)
{
	char out[DM_REF_STR_MAX + 1], fam[DM_REF_STR_MAX + 1];
	dm_reference ref;
	dm_error err = { 0 };

	ck_assert_msg(dm_ref_normalize(good[_i].in, out, &err) == 0, "%s: %s", good[_i].in, err.msg);
	ck_assert_str_eq(out, good[_i].normalized);
	/* The normalised form is a fixed point, and familiar(normalised) is the expected short form. */
	ck_assert_int_eq(dm_ref_parse(out, &ref, &err), 0);
	ck_assert_str_eq(dm_ref_string(&ref, fam), good[_i].normalized);
	ck_assert_str_eq(dm_ref_familiar(&ref, fam), good[_i].familiar);
}
END_TEST

START_TEST(rejects)
{
	char out[DM_REF_STR_MAX + 1] = "untouched";
	dm_error err = { 0 };

	ck_assert_msg(dm_ref_normalize(bad[_i].in, out, &err) == -1, "accepted %s as %s", bad[_i].in, out);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_msg(strstr(err.msg, bad[_i].why), "%s: got \"%s\", want \"%s\"", bad[_i].in, err.msg,
		      bad[_i].why);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
}
END_TEST

/* Lengths at and just past the limits: a 128-character tag, a 255-character name. */
START_TEST(limits)
{
	char in[600], out[DM_REF_STR_MAX + 1];
	dm_error err = { 0 };

	snprintf(in, sizeof in, "busybox:%.*s", 128, H64 H64);
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), 0);
	snprintf(in, sizeof in, "busybox:%.*s", 129, H64 H64 H64);
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid tag"));
	/* "ghcr.io/" is 8 characters of the 255. */
	snprintf(in, sizeof in, "ghcr.io/%.*s:v1", 247, H64 H64 H64 H64);
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), 0);
	ck_assert_uint_eq(strlen(out), 255 + 3);
	snprintf(in, sizeof in, "ghcr.io/%.*s:v1", 248, H64 H64 H64 H64);
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "must not be more than 255 characters"));
	/* The implicit "docker.io/library/" counts too. */
	snprintf(in, sizeof in, "%.*s", 240, H64 H64 H64 H64);
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "must not be more than 255 characters"));
	memset(in, 'a', sizeof in - 1);
	in[sizeof in - 1] = '\0';
	ck_assert_int_eq(dm_ref_normalize(in, out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
}
END_TEST

START_TEST(parts)
{
	dm_reference ref;
	dm_error err = { 0 };

	ck_assert_int_eq(dm_ref_parse("localhost:5000/team/app:v1@sha256:" H64, &ref, &err), 0);
	ck_assert_str_eq(ref.name, "localhost:5000/team/app");
	ck_assert_uint_eq(ref.domain_len, strlen("localhost:5000"));
	ck_assert_str_eq(ref.tag, "v1");
	ck_assert_str_eq(ref.digest, "sha256:" H64);
	/* No default tag from dm_ref_parse: that is dm_ref_normalize's job. */
	ck_assert_int_eq(dm_ref_parse("busybox", &ref, &err), 0);
	ck_assert_str_eq(ref.name, "docker.io/library/busybox");
	ck_assert_uint_eq(ref.domain_len, strlen("docker.io"));
	ck_assert_str_eq(ref.tag, "");
	ck_assert_str_eq(ref.digest, "");
	ck_assert_int_eq(dm_ref_parse("a_b.c/foo", &ref, &err), 0);
	ck_assert_uint_eq(ref.domain_len, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reference");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, normalizes, 0, sizeof good / sizeof *good);
	tcase_add_loop_test(tc, rejects, 0, sizeof bad / sizeof *bad);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, parts);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
