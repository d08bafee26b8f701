/* Unit tests for the JSON reader (lib/json) and the image config parser built on it
 * (lib/layerstore's dm_image_config_parse): good input and hostile input. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "layerstore.h"
#include "testutil.h"

#define EMPTY_TAR "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* Shaped like a config written by dockerd 20.10 for a pulled busybox. */
static const char good_config[] =
	"{\"architecture\":\"arm\",\"config\":{\"Hostname\":\"\",\"Env\":[\"PATH=/bin\"],"
	"\"Cmd\":[\"sh\"],\"Image\":\"sha256:aa\",\"Labels\":null},\"container\":\"x\","
	"\"created\":\"2023-07-18T23:19:33.655005962Z\",\"docker_version\":\"20.10.23\","
	"\"history\":[{\"created\":\"2023-07-18T23:19:33Z\",\"created_by\":\"ADD file\"},"
	"{\"created\":\"2023-07-18T23:19:33Z\",\"created_by\":\"CMD\",\"empty_layer\":true}],"
	"\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" EMPTY_TAR "\",\"" ABC
	"\"]},\"variant\":\"v7\"}\n";

START_TEST(json_values)
{
	static const struct {
		const char *in;
		json_type type;
	} good[] = {
		{"null", json_type_null}, {" 7 ", json_type_int}, {"true\n", json_type_boolean},
		{"\"s\"", json_type_string}, {"[\"'N.I\\\"\", 1.5e-3]", json_type_array}, {"[1,{}]", json_type_array}, {"\t{\"a\":[]}\r\n", json_type_object},
	};
	json_object *o;
	dm_error err = {0};

	/* Bare literals and numbers end where the bytes end: no NUL terminator is needed. */
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		char *copy = malloc(strlen(good[i].in));

		memcpy(copy, good[i].in, strlen(good[i].in));
		ck_assert_msg(dm_json_parse(copy, strlen(good[i].in), "v", &o, &err) == 0, "%s: %s", good[i].in,
			      err.msg);
		ck_assert_int_eq(json_object_get_type(o), good[i].type);
		json_object_put(o);
		free(copy);
	}
}
END_TEST

START_TEST(json_bad)
{
	static const struct {
		const char *in, *want;
	} bad[] = {
		{"", "f: unexpected end of JSON (empty or truncated file)"},
		{"   ", "f: unexpected end of JSON"},
		{"{\"a\":", "f: unexpected end of JSON"},
		{"nul", "f: "},
		{"{} {}", "f: malformed JSON near byte 3"},
		{"{}x", "f: malformed JSON near byte 2"},
		{"1 2", "f: malformed JSON near byte 2"},
		{"{\"a\":1,}", "f: malformed JSON near byte"},
		{"{'a':1}", "f: malformed JSON near byte"},
		{"{\"x\":01}", "f: malformed JSON near byte"},
		{"/* c */ {}", "f: malformed JSON near byte 0"},
		{"{\"a\":NaN}", "f: malformed JSON near byte 5: not JSON as Go reads it"},
		{"[-Infinity]", "f: malformed JSON near byte 2: not JSON"},
		{"[1.]", "f: malformed JSON near byte 2: not JSON"},
		{"1.", "f: malformed JSON near byte 1: not JSON"},
		{"[\"a\tb\"]", "f: malformed JSON near byte 3: not JSON"},
	};
	json_object *o;
	dm_error err = {0};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dm_err_clear(&err);
		ck_assert_msg(dm_json_parse(bad[i].in, strlen(bad[i].in), "f", &o, &err) == -1, "accepted %s",
			      bad[i].in);
		ck_assert_ptr_null(o);
		ck_assert_int_eq(err.code, EINVAL);
		ck_assert_msg(strstr(err.msg, bad[i].want), "%s: got \"%s\", want \"%s\"", bad[i].in, err.msg,
			      bad[i].want);
	}
	/* A NUL byte inside the length is data after the value, as Go sees it. */
	ck_assert_int_eq(dm_json_parse("{}\0{}", 5, "f", &o, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "trailing data at byte 2"));
	/* Nesting deeper than DM_JSON_MAX_DEPTH is refused, not recursed into. */
	{
		char deep[2 * (DM_JSON_MAX_DEPTH + 1)];

		memset(deep, '[', DM_JSON_MAX_DEPTH + 1);
		memset(deep + DM_JSON_MAX_DEPTH + 1, ']', DM_JSON_MAX_DEPTH + 1);
		ck_assert_int_eq(dm_json_parse(deep, sizeof deep, "f", &o, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "malformed JSON"));
		ck_assert_int_eq(dm_json_parse(deep + 1, sizeof deep - 2, "f", &o, &err), 0);
		json_object_put(o);
	}
}
END_TEST

START_TEST(config_parse_good)
{
	dm_image_config c;
	dm_error err = {0};

	ck_assert_msg(dm_image_config_parse(good_config, strlen(good_config), "sha256:1", &c, &err) == 0,
		      "%s", err.msg);
	ck_assert_str_eq(c.os, "linux");
	ck_assert_str_eq(c.arch, "arm");
	ck_assert_str_eq(c.variant, "v7");
	ck_assert_uint_eq(c.n_diff_ids, 2);
	ck_assert_str_eq(c.diff_ids[0].s, EMPTY_TAR);
	ck_assert_str_eq(c.diff_ids[1].s, ABC);
	dm_image_config_free(&c);

	/* No layers, in the three spellings; absent and null strings are NULL. */
	static const char *empty[] = {
		"{\"rootfs\":{\"type\":\"layers\"}}",
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":null},\"os\":null}",
		" {\"rootfs\":{\"diff_ids\":[]},\"architecture\":\"amd64\"}\r\n",
	};
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		ck_assert_msg(dm_image_config_parse(empty[i], strlen(empty[i]), "e", &c, &err) == 0,
			      "%s: %s", empty[i], err.msg);
		ck_assert_uint_eq(c.n_diff_ids, 0);
		ck_assert_ptr_null(c.os);
		ck_assert_ptr_null(c.variant);
		dm_image_config_free(&c);
	}
}
END_TEST

START_TEST(config_parse_bad)
{
	static const struct {
		const char *json;
		const char *msg;
	} bad[] = {
		{"", "unexpected end of JSON"},
		{"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:", "unexpected end of JSON"},
		{"{\"os\":\"linux\"}", "no \"rootfs\" object"},
		{"{\"rootfs\":null}", "no \"rootfs\" object"},
		{"{\"rootfs\":\"layers\"}", "no \"rootfs\" object"},
		{"{\"rootfs\":{\"type\":\"layers+base\"}}", "rootfs.type is \"layers+base\", want \"layers\""},
		{"{\"rootfs\":{\"type\":1}}", "rootfs.type is 1, want"},
		{"{\"rootfs\":{\"diff_ids\":\"" EMPTY_TAR "\"}}", "\"rootfs.diff_ids\" is not an array"},
		{"{\"rootfs\":{\"diff_ids\":[\"" EMPTY_TAR "\",7]}}", "rootfs.diff_ids[1] is not a sha256 digest"},
		{"{\"rootfs\":{\"diff_ids\":[\"sha256:5F70BF18A086007016E948B04AED3B82103A36BEA41755B6CDDFAF10ACE3C6EF\"]}}",
		 "rootfs.diff_ids[0] is not a sha256 digest"},
		{"{\"rootfs\":{\"diff_ids\":[\" " EMPTY_TAR "\"]}}", "rootfs.diff_ids[0] is not a sha256 digest"},
		{"{\"rootfs\":{\"diff_ids\":[\"" EMPTY_TAR "\\u0000\"]}}", "rootfs.diff_ids[0] is not a sha256 digest"},
		{"{\"rootfs\":{},\"os\":5}", "\"os\" is not a string"},
		{"{\"rootfs\":{},\"architecture\":{}}", "\"architecture\" is not a string"},
		{"{\"rootfs\":{},\"variant\":[\"v8\"]}", "\"variant\" is not a string"},
		{"{\"rootfs\":{},\"os\":\"li\\u0000nux\"}", "\"os\" contains a NUL byte"},
		{"[{\"rootfs\":{}}]", "not a JSON object"},
		{"\"rootfs\"", "not a JSON object"},
		{"null", "not a JSON object"},
		{"{\"rootfs\":{}} {}", "malformed JSON near byte 14"},
		{"{\"rootfs\":{}}x", "malformed JSON near byte 13"},
		{"{\"rootfs\":{},}", "malformed JSON near byte"},
		{"{\"rootfs\":{},\"x\":01}", "malformed JSON near byte"},
		{"{\"rootfs\":{}\"a\":1}", "malformed JSON near byte"},
	};
	dm_image_config c;
	dm_error err = {0};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dm_err_clear(&err);
		ck_assert_msg(dm_image_config_parse(bad[i].json, strlen(bad[i].json), "config sha256:cafe", &c,
						    &err) == -1, "accepted %s", bad[i].json);
		ck_assert_int_eq(err.code, EINVAL);
		ck_assert_msg(strstr(err.msg, bad[i].msg) && !strncmp(err.msg, "config sha256:cafe: ", 20),
			      "%s: got \"%s\", want \"%s\"", bad[i].json, err.msg, bad[i].msg);
		ck_assert_ptr_null(c.diff_ids);
		ck_assert_ptr_null(c.os);
	}
	/* Every truncation of a good config. */
	for (size_t len = 0; len < strlen(good_config) - 1; len++) {
		ck_assert_msg(dm_image_config_parse(good_config, len, "t", &c, &err) == -1, "len %zu", len);
		ck_assert_int_eq(err.code, EINVAL);
	}
	/* One layer more than moby's limit. */
	{
		size_t cap = 64 + (DM_MAX_LAYER_DEPTH + 1) * (sizeof EMPTY_TAR + 3), n;
		char *big = malloc(cap);

		n = (size_t)sprintf(big, "{\"rootfs\":{\"diff_ids\":[");
		for (int i = 0; i <= DM_MAX_LAYER_DEPTH; i++)
			n += (size_t)sprintf(big + n, "%s\"" EMPTY_TAR "\"", i ? "," : "");
		n += (size_t)sprintf(big + n, "]}}");
		ck_assert_int_eq(dm_image_config_parse(big, n, "b", &c, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "126 layers, more than 125"));
		free(big);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, json_values);
	tcase_add_test(tc, json_bad);
	tcase_add_test(tc, config_parse_good);
	tcase_add_test(tc, config_parse_bad);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
