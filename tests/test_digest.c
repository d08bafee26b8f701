/* Unit tests for digest: sha256 text form, parsing of bad input, ChainID vectors. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <string.h>

#include "digest.h"
#include "testutil.h"

#define EMPTY_TAR "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

START_TEST(sha256_known_vectors)
{
	dm_digest d;
	dm_sha256 h;

	dm_sha256_buf("", 0, &d);
	ck_assert_str_eq(d.s, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* Fed in pieces, the incremental hash must equal the one-shot one. */
	dm_sha256_init(&h);
	dm_sha256_update(&h, "ab", 2);
	dm_sha256_update(&h, "c", 1);
	dm_sha256_final(&h, &d);
	ck_assert_str_eq(d.s, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* 1024 zero bytes: the empty-layer DiffID. */
	char zeros[1024] = {0};
	dm_sha256_buf(zeros, sizeof zeros, &d);
	ck_assert_str_eq(d.s, EMPTY_TAR);
}
END_TEST

START_TEST(chain_id_vectors)
{
	dm_digest e, c1, c2, c3;
	dm_error err = {0};

	ck_assert_int_eq(dm_digest_parse(EMPTY_TAR, strlen(EMPTY_TAR), &e, "t", &err), 0);
	dm_chain_id(NULL, &e, &c1);
	ck_assert_str_eq(c1.s, EMPTY_TAR);
	dm_chain_id(&c1, &e, &c2);
	ck_assert_str_eq(c2.s, "sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548");
	dm_chain_id(&c2, &e, &c3);
	ck_assert_str_eq(c3.s, "sha256:7800f80a93336d416612f372faa5f69eb67b353ce6ae9535fa0848f8784c74b1");
}
END_TEST

START_TEST(parse_trims_and_rejects)
{
	dm_digest d;
	dm_error err = {0};
	const char *padded = "  " EMPTY_TAR "\n";
	static const char *bad[] = {
		"",
		"sha256:",
		"sha512:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
		"sha256:5F70BF18A086007016E948B04AED3B82103A36BEA41755B6CDDFAF10ACE3C6EF",
		"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6e",
		"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6eff",
		"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6eg",
		"5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
	};

	ck_assert_int_eq(dm_digest_parse(padded, strlen(padded), &d, "t", &err), 0);
	ck_assert_str_eq(d.s, EMPTY_TAR);
	ck_assert(dm_digest_valid(d.s));
	ck_assert_str_eq(dm_digest_hex(&d), EMPTY_TAR + 7);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dm_err_clear(&err);
		ck_assert_int_eq(dm_digest_parse(bad[i], strlen(bad[i]), &d, "/x/diff", &err), -1);
		ck_assert_int_eq(err.code, EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "/x/diff"));
		ck_assert(!dm_digest_valid(bad[i]));
	}
}
END_TEST

START_TEST(error_messages_are_one_line)
{
	dm_error err = {0};

	errno = ENOENT;
	ck_assert_int_eq(dm_err_sys(&err, "open %s", "a\nb"), -1);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_str_eq(err.msg, "open a b: No such file or directory");
	dm_err_prefix(&err, "layer %d: ", 3);
	ck_assert_str_eq(err.msg, "layer 3: open a b: No such file or directory");
	/* err is never NULL (error.h): out of memory is one code and one message, context in front. */
	ck_assert_int_eq(dm_err_nomem(&err), -1);
	ck_assert_int_eq(err.code, ENOMEM);
	ck_assert_str_eq(err.msg, "out of memory");
	dm_err_prefix(&err, "%s: ", "meta.db");
	ck_assert_str_eq(err.msg, "meta.db: out of memory");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("digest");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sha256_known_vectors);
	tcase_add_test(tc, chain_id_vectors);
	tcase_add_test(tc, parse_trims_and_rejects);
	tcase_add_test(tc, error_messages_are_one_line);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
