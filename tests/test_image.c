/* Unit tests for image and labels: manifest bytes and digest against a reference produced by Go's
 * encoding/json, GC labels, record names and digest references. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "labels.h"
#include "testutil.h"

#define EMPTY_TAR "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define CFG "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
#define CHAIN3 "sha256:7800f80a93336d416612f372faa5f69eb67b353ce6ae9535fa0848f8784c74b1"

static dm_descriptor desc(const char *media_type, const char *digest, uint64_t size)
{
	dm_descriptor d = {media_type, {{0}}, size};

	strcpy(d.digest.s, digest);
	return d;
}

/* Reference bytes: Go encoding/json of a struct mirroring ocispec.Manifest
 * (fields schemaVersion, mediaType, config, layers, annotations,omitempty),
 * digest checked with sha256sum. */
START_TEST(manifest_bytes)
{
	static const char want[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"" CFG "\",\"size\":1469},"
		"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
		"\"digest\":\"" ABC "\",\"size\":3370123},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
		"\"digest\":\"" EMPTY_TAR "\",\"size\":1024}]}";
	static const char want_empty[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"" CFG "\",\"size\":1469},\"layers\":[]}";
	dm_descriptor config = desc(DM_MEDIA_OCI_CONFIG, CFG, 1469);
	dm_descriptor layers[2] = {
		desc("application/vnd.oci.image.layer.v1.tar+zstd", ABC, 3370123),
		desc("application/vnd.oci.image.layer.v1.tar", EMPTY_TAR, 1024),
	};
	dm_manifest m, again;
	dm_error err = {0};

	ck_assert_int_eq(dm_manifest_build(&config, layers, 2, &m, &err), 0);
	ck_assert_str_eq(m.json, want);
	ck_assert_uint_eq(m.len, strlen(want));
	ck_assert_str_eq(m.digest.s,
			 "sha256:7024773646b19c9bcee81a2239ac0a406ca2c13a33e7e341c96f97f7522ba3f2");
	ck_assert_int_eq(dm_manifest_build(&config, layers, 2, &again, &err), 0);
	ck_assert_str_eq(again.digest.s, m.digest.s);
	dm_manifest_free(&again);
	dm_manifest_free(&m);
	ck_assert_int_eq(dm_manifest_build(&config, NULL, 0, &m, &err), 0);
	ck_assert_str_eq(m.json, want_empty);
	ck_assert_str_eq(m.digest.s,
			 "sha256:b412e4c6de44006d57d2741fccc11af318d25ef0b87768280a990d2298c6bb15");
	dm_manifest_free(&m);

	/* Strings the manifest would have to escape, and broken digests. */
	layers[1].media_type = "application/x\"y";
	ck_assert_int_eq(dm_manifest_build(&config, layers, 2, &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "manifest layer 1: media type"));
	ck_assert_ptr_null(m.json);
	layers[1].media_type = "";
	ck_assert_int_eq(dm_manifest_build(&config, layers, 2, &m, &err), -1);
	layers[1] = desc("application/vnd.oci.image.layer.v1.tar", EMPTY_TAR, 1024);
	layers[1].digest.s[10] = 'X';
	ck_assert_int_eq(dm_manifest_build(&config, layers, 2, &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "manifest layer 1: invalid digest"));
	config.size = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(dm_manifest_build(&config, NULL, 0, &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "manifest config: size"));
}
END_TEST

START_TEST(gc_labels)
{
	dm_descriptor config = desc(DM_MEDIA_OCI_CONFIG, CFG, 1469);
	dm_descriptor layers[2] = {
		desc("application/vnd.oci.image.layer.v1.tar+zstd", ABC, 3),
		desc("application/vnd.oci.image.layer.v1.tar", EMPTY_TAR, 1024),
	};
	dm_digest ids[3];
	size_t n = 3;
	dm_labels l = DM_LABELS_INIT;
	dm_error err = {0};

	ck_assert_int_eq(dm_manifest_labels(&config, layers, 2, &l, &err), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[0].key, "containerd.io/gc.ref.content.config");
	ck_assert_str_eq(l.v[0].value, CFG);
	ck_assert_str_eq(l.v[1].key, "containerd.io/gc.ref.content.l.0");
	ck_assert_str_eq(l.v[1].value, ABC);
	ck_assert_str_eq(l.v[2].key, "containerd.io/gc.ref.content.l.1");
	ck_assert_str_eq(l.v[2].value, EMPTY_TAR);
	dm_labels_free(&l);

	for (int i = 0; i < 3; i++)
		strcpy(ids[i].s, EMPTY_TAR);
	ck_assert_int_eq(dm_config_labels(ids, n, "overlayfs", &l, &err), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(dm_labels_get(&l, "containerd.io/gc.ref.snapshot.overlayfs"), CHAIN3);
	n = 1;
	ck_assert_int_eq(dm_config_labels(ids, n, "native", &l, &err), 0);
	ck_assert_str_eq(dm_labels_get(&l, "containerd.io/gc.ref.snapshot.native"), EMPTY_TAR);
	dm_labels_free(&l);
	n = 0;
	ck_assert_int_eq(dm_config_labels(ids, n, "overlayfs", &l, &err), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(dm_config_labels(ids, n, "overlay/fs", &l, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_eq(dm_config_labels(ids, n, "", &l, &err), -1);

	ck_assert_int_eq(dm_layer_labels(&ids[0], &l, &err), 0);
	ck_assert_str_eq(dm_labels_get(&l, "containerd.io/uncompressed"), EMPTY_TAR);
	dm_labels_free(&l);
}
END_TEST

START_TEST(labels_list)
{
	dm_labels l = DM_LABELS_INIT;
	dm_error err = {0};
	char *big = malloc(DM_LABEL_MAX + 2);

	ck_assert_int_eq(dm_labels_set(&l, "b", "2", &err), 0);
	ck_assert_int_eq(dm_labels_set(&l, "a", "1", &err), 0);
	ck_assert_int_eq(dm_labels_set(&l, "c.10", "x", &err), 0);
	ck_assert_int_eq(dm_labels_set(&l, "c.9", "y", &err), 0);
	ck_assert_int_eq(dm_labels_set(&l, "\xc3\xa9", "high byte sorts last", &err), 0);
	ck_assert_int_eq(dm_labels_set(&l, "b", "3", &err), 0);
	ck_assert_uint_eq(l.n, 5);
	/* Bytewise order, as bolt keeps keys. */
	ck_assert_str_eq(l.v[0].key, "a");
	ck_assert_str_eq(l.v[1].key, "b");
	ck_assert_str_eq(l.v[1].value, "3");
	ck_assert_str_eq(l.v[2].key, "c.10");
	ck_assert_str_eq(l.v[3].key, "c.9");
	ck_assert_str_eq(l.v[4].key, "\xc3\xa9");
	ck_assert_ptr_null(dm_labels_get(&l, "c"));
	ck_assert_int_eq(dm_labels_set(&l, "", "v", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty key"));
	ck_assert_int_eq(dm_labels_set(&l, "k", "", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty value"));
	memset(big, 'v', DM_LABEL_MAX + 1);
	big[DM_LABEL_MAX - 1] = '\0';  /* "k" + 4095 bytes: exactly the limit */
	ck_assert_int_eq(dm_labels_set(&l, "k", big, &err), 0);
	big[DM_LABEL_MAX - 1] = 'v';
	big[DM_LABEL_MAX] = '\0';
	ck_assert_int_eq(dm_labels_set(&l, "k", big, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "4097 bytes (max 4096)"));
	ck_assert_uint_eq(strlen(dm_labels_get(&l, "k")), DM_LABEL_MAX - 1);
	dm_labels_free(&l);
	ck_assert_uint_eq(l.n, 0);
	free(big);
}
END_TEST

START_TEST(record_names)
{
	dm_digest manifest;
	dm_image_names names;
	dm_labels l = DM_LABELS_INIT;
	dm_error err = {0};
	const char *refs[] = {
		"docker.io/library/busybox:latest",
		"docker.io/library/busybox@" ABC,
		"localhost:5000/app:v1",
		"docker.io/library/busybox:latest",
		"ghcr.io/acme/tool@" EMPTY_TAR,
	};

	strcpy(manifest.s, CFG);
	ck_assert_int_eq(dm_image_names_plan(refs, 5, &manifest, &names, &l, &err), 0);
	ck_assert_uint_eq(names.n, 2);
	ck_assert_str_eq(names.v[0], "docker.io/library/busybox:latest");
	ck_assert_str_eq(names.v[1], "localhost:5000/app:v1");
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(dm_labels_get(&l, "io.dockerd-migrate.source-digest-ref.0"),
			 "docker.io/library/busybox@" ABC);
	ck_assert_str_eq(dm_labels_get(&l, "io.dockerd-migrate.source-digest-ref.1"),
			 "ghcr.io/acme/tool@" EMPTY_TAR);
	dm_image_names_free(&names);
	dm_labels_free(&l);

	/* Only a digest reference, or nothing: a dangling record plus the label. */
	ck_assert_int_eq(dm_image_names_plan(refs + 1, 1, &manifest, &names, &l, &err), 0);
	ck_assert_uint_eq(names.n, 1);
	ck_assert_str_eq(names.v[0], "moby-dangling@" CFG);
	ck_assert_uint_eq(l.n, 1);
	dm_image_names_free(&names);
	dm_labels_free(&l);
	ck_assert_int_eq(dm_image_names_plan(NULL, 0, &manifest, &names, &l, &err), 0);
	ck_assert_str_eq(names.v[0], "moby-dangling@" CFG);
	ck_assert_uint_eq(l.n, 0);
	dm_image_names_free(&names);

	ck_assert(dm_image_ref_is_digest(refs[1]));
	ck_assert(!dm_image_ref_is_digest(refs[2]));

	static const struct {
		const char *ref;
		const char *msg;
	} bad[] = {
		{"busybox:latest", "not fully qualified"},
		{"myuser/web:dev", "not fully qualified"},
		{"/busybox:latest", "invalid reference format"},
		{"docker.io/library/busybox", "no tag"},
		{"docker.io/library/busybox:", "invalid"},
		{"localhost:5000/app", "no tag"},
		{"docker.io/library/busybox@sha256:abc", "invalid digest"},
		{"docker.io/x@" EMPTY_TAR "/y:1", "invalid digest"},
		{"docker.io/library/busy box:1", "invalid"},
		{"docker.io/library/busybox:\n", "invalid"},
		{"", "at least one component"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *two[2] = {refs[0], bad[i].ref};

		/* The bad one fails alone; the good one is still planned. */
		ck_assert_int_eq(dm_image_names_plan(two, 2, &manifest, &names, &l, &err), 0);
		ck_assert_uint_eq(names.n, 1);
		ck_assert_str_eq(names.v[0], refs[0]);
		ck_assert_uint_eq(names.n_bad, 1);
		ck_assert_str_eq(names.bad[0], bad[i].ref);
		ck_assert_msg(strstr(names.bad_reason[0], bad[i].msg), "%s: %s", bad[i].ref,
			      names.bad_reason[0]);
		dm_image_names_free(&names);
		dm_labels_free(&l);
	}
}
END_TEST

/* Issue 13: plan and run share lib/reference, so that a valid but unusual reference the store
 * listed (an upper-case first component is a domain; a sha512 digest) is recorded, and one that
 * cannot be fails alone, leaving the image's other names planned. */
START_TEST(unusual_references_recorded_bad_ones_alone)
{
	dm_digest manifest;
	dm_image_names names;
	dm_labels l = DM_LABELS_INIT;
	dm_error err = {0};
	char sha512[sizeof "docker.io/library/busybox@sha512:" + 128];
	const char *refs[4];

	snprintf(sha512, sizeof sha512, "docker.io/library/busybox@sha512:%0128d", 0);
	refs[0] = "Registry/app:v1";
	refs[1] = sha512;
	refs[2] = "busybox:latest";
	refs[3] = "docker.io/library/busybox:1";
	strcpy(manifest.s, CFG);
	ck_assert_msg(dm_image_names_plan(refs, 4, &manifest, &names, &l, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(names.n, 2);
	ck_assert_str_eq(names.v[0], "Registry/app:v1");
	ck_assert_str_eq(names.v[1], "docker.io/library/busybox:1");
	ck_assert_str_eq(dm_labels_get(&l, "io.dockerd-migrate.source-digest-ref.0"), sha512);
	ck_assert_uint_eq(names.n_bad, 1);
	ck_assert_str_eq(names.bad[0], "busybox:latest");
	ck_assert_ptr_nonnull(strstr(names.bad_reason[0], "not fully qualified"));
	dm_image_names_free(&names);
	dm_labels_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, manifest_bytes);
	tcase_add_test(tc, gc_labels);
	tcase_add_test(tc, labels_list);
	tcase_add_test(tc, record_names);
	tcase_add_test(tc, unusual_references_recorded_bad_ones_alone);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
