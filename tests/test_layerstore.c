/* Unit tests for layerstore: the model of the hand-made good stores (fixtures/make-broken.sh),
 * repositories.json parsing, each broken store giving its own error, and layer streams. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "layerstore.h"
#include "migrate.h"
#include "reference.h"
#include "sizes.h"
#include "testutil.h"

/* Digests fixed by fixtures/make-broken.sh. */
#define D1 "sha256:6dbf7a13e5349e897050986a4698edcf92ae69c7b36c10dd48a7b30e56c77ab6"
#define D2 "sha256:c83ee70e1f1adc808686e638f065606e7855b700aee3be70c4c470019247dcd5"
#define DE "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#define C1 D1
#define C2_HEX "5d5b782d8a9bd8471ee4dc6a412a17d3e31034cf71db0ba6a6c7099cac6173ed"
#define C2 "sha256:" C2_HEX
#define C3_HEX "fcf499bd1297318f4b1f70bc894ce6a8051b55753cfaf2ca1a0269f208c3f6e4"
#define C3 "sha256:" C3_HEX
#define C3_HEX_SIZE_FILE "/layerdb/sha256/" C3_HEX "/size"
#define IMG_A_HEX "fb6c04db1c3c4cd5b9b41ba1f41e34c45db921414ede37d089cfebb6dc777547"
#define IMG_A "sha256:" IMG_A_HEX
#define IMG_B "sha256:65c50b686172ec7a5b9693d717115dee0426b918498287fb7c27d581201ea230"
#define IMG_C "sha256:ee62e4d8e18f44fe9137d6f9507f4ebffa510a150aaa8c8ac34d0f32d7e6ff21"
#define IMG_D "sha256:d57f243ec14635a945f8373f8e40fac6a0f5f99334a68dd54d30f1d7d0bbfffd"
#define IMG_F "sha256:808e3ccc8203e211ce09fbba1739270acb75b78870700ef2defe2e3d3c05294c"
#define IMG_G "sha256:c3bbba72ff2b57090da985ec4945dae7b4a6e426fbe70e1aeb39d9614f604e7e"
#define IMG_H "sha256:d7f68b64ed8c7d9bdbe99de463f03f92dd121f4f8b1f8c671f9ea63c1e655c6d"
#define CID2 "x8k2m4n6p8q0r2s4t6v8w0y2z"
#define CTR1 "454e61a0dab08cf26fc86a9ce002c9f1addd82259abc4191bd0debdce5afb163"

static char fixtures[1024];

static char *fx(const char *name)
{
	static char path[2048];

	snprintf(path, sizeof path, "%s/%s", fixtures, name);
	return path;
}

static dm_store *open_ok(const char *name, const char *driver)
{
	dm_store *st = NULL;
	dm_error err = { 0 };

	ck_assert_msg(dm_store_open(fx(name), driver, &st, &err) == 0, "%s: %s", name, err.msg);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void open_fails(const char *name, const char *driver, int code, const char *want)
{
	dm_store *st = (dm_store *)1;
	dm_error err = { 0 };

	ck_assert_int_eq(dm_store_open(fx(name), driver, &st, &err), -1);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, want), "%s: got \"%s\", want \"%s\"", name, err.msg, want);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
}

static const dm_image *image(const dm_store *st, const char *id)
{
	const dm_image *img = dm_store_image(st, id);

	ck_assert_msg(img != NULL, "no image %s", id);
	return img;
}

static const dm_layer *layer(const dm_store *st, const char *id)
{
	const dm_layer *l = dm_store_layer(st, id);

	ck_assert_msg(l != NULL, "no layer %s", id);
	return l;
}

static void assert_contains(const char *what, const char *s, const char *want)
{
	ck_assert_msg(s && strstr(s, want), "%s: got \"%s\", want \"%s\"", what, s ? s : "(null)", want);
}

static size_t count_problems(const dm_store *st, dm_item_kind kind, bool warning, const char *substr)
{
	size_t n = 0;

	for (size_t i = 0; i < st->n_problems; i++)
		n += st->problems[i].kind == kind && st->problems[i].warning == warning &&
		     strstr(st->problems[i].reason, substr);
	return n;
}

/* ---- the good stores ---- */

static void check_good_model(const dm_store *st)
{
	const dm_image *a = image(st, IMG_A), *b = image(st, IMG_B), *c = image(st, IMG_C),
		       *d = image(st, IMG_D), *f = image(st, IMG_F), *g = image(st, IMG_G), *h = image(st, IMG_H);
	const dm_layer *l1 = layer(st, C1), *l2 = layer(st, C2), *l3 = layer(st, C3);

	/* Leftovers (.tmp-*, *-removing, tmp/) are not items. */
	ck_assert_uint_eq(st->n_images, 7);
	ck_assert_uint_eq(st->n_layers, 3);
	ck_assert_str_eq(st->layers[0].chain_id.s, C2);
	ck_assert_str_eq(st->layers[1].chain_id.s, C1);
	ck_assert_str_eq(st->layers[2].chain_id.s, C3);
	for (size_t i = 1; i < st->n_images; i++)
		ck_assert_int_lt(strcmp(st->images[i - 1].id.s, st->images[i].id.s), 0);

	/* Layers: chain, parents, cache IDs (BuildKit's base36 included), sharing. */
	ck_assert_str_eq(l1->diff_id.s, D1);
	ck_assert_str_eq(l2->diff_id.s, D2);
	ck_assert_str_eq(l3->diff_id.s, DE);
	ck_assert_ptr_null(l1->parent);
	ck_assert_str_eq(l1->parent_id.s, "");
	ck_assert_ptr_eq(l2->parent, l1);
	ck_assert_ptr_eq(l3->parent, l2);
	ck_assert_uint_eq(l1->depth, 1);
	ck_assert_uint_eq(l3->depth, 3);
	ck_assert_str_eq(l2->cache_id, CID2);
	ck_assert_int_eq(l1->size, 6);
	ck_assert_int_eq(l3->size, 0);
	for (size_t i = 0; i < st->n_layers; i++) {
		ck_assert_msg(st->layers[i].usable, "%s: %s", st->layers[i].chain_id.s, st->layers[i].reason);
		ck_assert_ptr_null(st->layers[i].reason);
	}
	ck_assert_uint_eq(l1->refcount, 5);  /* A B C D F */
	ck_assert_uint_eq(l1->migrate_refs, 4);
	ck_assert_uint_eq(l2->refcount, 3);  /* B C D */
	ck_assert_uint_eq(l2->migrate_refs, 2);
	ck_assert_uint_eq(l3->refcount, 1);
	assert_contains("tar-split path", l1->tarsplit_path,
			"/layerdb/sha256/6dbf7a13e5349e897050986a4698edcf92ae69c7b36c10dd48a7b30e56c77ab6/tar-split.json.gz");

	/* A: tagged twice and by digest, the parent of B, still migrated. */
	ck_assert_uint_eq(a->n_tags, 2);
	ck_assert_str_eq(a->tags[0], "docker.io/library/busybox:1.36");
	ck_assert_str_eq(a->tags[1], "docker.io/library/busybox:latest");
	ck_assert_uint_eq(a->n_digests, 1);
	ck_assert_str_eq(a->digests[0],
			 "docker.io/library/busybox@sha256:a7f22b79550fe1c26315f4285551aaaa98d0571f1a0c8b0f0439f2c1b8d0b3f3");
	ck_assert_uint_eq(a->n_children, 1);
	ck_assert(!a->head);
	ck_assert(a->migrate);
	ck_assert_int_eq(a->state, DM_IMAGE_MIGRATE);
	ck_assert_ptr_null(a->reason);
	ck_assert_uint_eq(a->n_layers, 1);
	ck_assert_ptr_eq(a->layers[0], l1);
	ck_assert_str_eq(a->os, "linux");
	ck_assert_str_eq(a->arch, "amd64");
	ck_assert_ptr_null(a->variant);
	ck_assert_uint_eq(a->size, 6);
	assert_contains("config path", a->config_path, "/imagedb/content/sha256/" IMG_A_HEX);
	ck_assert_uint_eq(a->config_size, 212);

	/* B: a tagged image with a tagged parent and an untagged child. */
	ck_assert_uint_eq(b->n_tags, 1);
	ck_assert_str_eq(b->tags[0], "docker.io/myuser/web:dev");
	ck_assert_str_eq(b->parent.s, IMG_A);
	ck_assert_str_eq(b->arch, "arm64");
	ck_assert_str_eq(b->variant, "v8");
	ck_assert(b->migrate);
	ck_assert_ptr_eq(b->layers[1], l2);

	/* C: untagged with a child: legacy build cache. */
	ck_assert(c->dangling);
	ck_assert(!c->head);
	ck_assert(!c->migrate);
	ck_assert_int_eq(c->state, DM_IMAGE_BUILD_CACHE);
	assert_contains("C", c->reason, "build cache");

	/* D: the untagged head of the chain: dangling, migrated by ID. */
	ck_assert(d->dangling);
	ck_assert(d->head);
	ck_assert(d->migrate);
	ck_assert_uint_eq(d->n_layers, 3);
	ck_assert_ptr_eq(d->layers[2], l3);
	ck_assert_uint_eq(d->size, 12);
	ck_assert_str_eq(d->parent.s, IMG_C);

	/* F: digest references only: not dangling, migrated with its names. */
	ck_assert_uint_eq(f->n_tags, 0);
	ck_assert_uint_eq(f->n_digests, 2);
	ck_assert_str_eq(f->digests[0],
			 "ghcr.io/acme/tool@sha256:b19ea75556823e623c651f8fd87e69ee3d370727abf5ea2bac7d20655abbbec6");
	ck_assert_str_eq(f->digests[1],
			 "localhost:5000/app@sha256:b19ea75556823e623c651f8fd87e69ee3d370727abf5ea2bac7d20655abbbec6");
	ck_assert(!f->dangling);
	ck_assert(f->head);
	ck_assert(f->migrate);

	/* G: a Windows config; H: an image with no layers. */
	ck_assert_int_eq(g->state, DM_IMAGE_UNSUPPORTED);
	ck_assert(!g->migrate);
	assert_contains("G", g->reason, "os \"windows\" is not linux");
	ck_assert(h->migrate);
	ck_assert_uint_eq(h->n_layers, 0);
	ck_assert_str_eq(h->tags[0], "docker.io/library/scratchy:v1");

	/* Exactly the two images that are not migrated, no warnings. */
	ck_assert_uint_eq(st->n_problems, 2);
	ck_assert_int_eq(st->problems[0].kind, DM_ITEM_IMAGE);
	ck_assert_str_eq(st->problems[0].id, IMG_G);
	ck_assert_str_eq(st->problems[1].id, IMG_C);
	ck_assert(!st->problems[0].warning);

	/* Containers: one on B, one whose config.v2.json is gone (tolerated). */
	ck_assert_uint_eq(st->n_containers, 2);
	for (size_t i = 0; i < st->n_containers; i++) {
		const dm_container *ct = &st->containers[i];

		ck_assert_ptr_null(ct->reason);
		if (strcmp(ct->id, CTR1) == 0) {
			ck_assert_str_eq(ct->image.s, IMG_B);
			ck_assert_ptr_eq(ct->parent, l2);
			ck_assert_ptr_nonnull(ct->init_id);
			ck_assert_uint_eq(strlen(ct->mount_id), 64);
		} else {
			ck_assert_str_eq(ct->image.s, "");
			ck_assert_ptr_eq(ct->parent, l1);
			ck_assert_ptr_null(ct->init_id);
		}
	}
}

typedef struct verify_log {
	size_t calls, failed;
	const dm_layer *seen[8];
	uint64_t bytes[8];
	char errors[8][DM_ERR_MSG_MAX];
} verify_log;

static void on_verified(void *opaque, const dm_layer *l, bool ok, const dm_error *err,
			const dm_tarsplit_stats *stats)
{
	verify_log *log = opaque;

	ck_assert_uint_lt(log->calls, 8);
	log->seen[log->calls] = l;
	log->bytes[log->calls] = ok ? stats->bytes : 0;
	if (ok)
		ck_assert_str_eq(stats->digest.s, l->diff_id.s);
	else
		snprintf(log->errors[log->calls], DM_ERR_MSG_MAX, "%s", err->msg);
	log->failed += !ok;
	log->calls++;
}

static void check_good_streams(const dm_store *st, unsigned jobs)
{
	verify_log log = { 0 };

	ck_assert_uint_eq(dm_store_verify(st, jobs, on_verified, &log), 0);
	ck_assert_uint_eq(log.calls, 3);
	/* In store order whatever the threads did. */
	for (size_t i = 0; i < 3; i++)
		ck_assert_ptr_eq(log.seen[i], &st->layers[i]);
	ck_assert_uint_eq(log.bytes[0], 2048);
	ck_assert_uint_eq(log.bytes[1], 2048);
	ck_assert_uint_eq(log.bytes[2], 1024);
}

START_TEST(good_overlay2)
{
	dm_store *st = open_ok("good", NULL);

	ck_assert_int_eq(st->driver, DM_DRIVER_OVERLAY2);
	ck_assert_str_eq(dm_driver_name(st->driver), "overlay2");
	assert_contains("image dir", st->image_dir, "/good/image/overlay2");
	assert_contains("layer dir", layer(st, C2)->dir, "/good/overlay2/" CID2 "/diff");
	check_good_model(st);
	check_good_streams(st, 1);
	check_good_streams(st, 3);
	dm_store_close(st);
}
END_TEST

START_TEST(good_vfs)
{
	dm_store *st = open_ok("good-vfs", "vfs");

	ck_assert_int_eq(st->driver, DM_DRIVER_VFS);
	assert_contains("layer dir", layer(st, C2)->dir, "/good-vfs/vfs/dir/" CID2);
	check_good_model(st);
	check_good_streams(st, 2);
	dm_store_close(st);
}
END_TEST

typedef struct collected {
	dm_sha256 h;
	size_t len;
	int fail_after;  /* return an error once this many bytes were seen; -1 never */
} collected;

static int collect(void *opaque, const void *buf, size_t len, dm_error *err)
{
	collected *c = opaque;

	dm_sha256_update(&c->h, buf, len);
	c->len += len;
	if (c->fail_after >= 0 && c->len > (size_t)c->fail_after)
		return dm_err_set(err, ENOSPC, "sink full");
	return 0;
}

START_TEST(stream_to_sink)
{
	dm_store *st = open_ok("good", "overlay2");
	collected c = { .fail_after = -1 };
	dm_tarsplit_stats stats;
	dm_error err = { 0 };
	dm_digest d;

	dm_sha256_init(&c.h);
	ck_assert_int_eq(dm_layer_stream(st, layer(st, C2), collect, &c, &stats, &err), 0);
	dm_sha256_final(&c.h, &d);
	ck_assert_str_eq(d.s, D2);
	ck_assert_uint_eq(c.len, 2048);
	ck_assert_uint_eq(stats.bytes, 2048);
	ck_assert_uint_eq(stats.files, 1);
	/* A sink error comes back prefixed with the layer. */
	c = (collected){ .fail_after = 100 };
	dm_sha256_init(&c.h);
	ck_assert_int_eq(dm_layer_stream(st, layer(st, C2), collect, &c, NULL, &err), -1);
	ck_assert_int_eq(err.code, ENOSPC);
	ck_assert_str_eq(err.msg, "layer " C2 ": sink full");
	dm_store_close(st);
}
END_TEST

/* ---- stores that cannot be opened ---- */

START_TEST(fatal_stores)
{
	open_fails("repos-truncated", NULL, EINVAL, "repositories.json: unexpected end of JSON");
	open_fails("repos-malformed", NULL, EINVAL, "repositories.json: malformed JSON");
	open_fails("repos-wrong-type", NULL, EINVAL, "\"busybox:latest\": image ID is not a string");
	open_fails("two-drivers", NULL, EINVAL, "several graphdriver image stores (overlay2, vfs)");
	open_fails("unsupported-driver", NULL, ENOTSUP, "storage driver \"aufs\" is not supported");
	open_fails("good", "aufs", ENOTSUP, "storage driver \"aufs\" is not supported");
	open_fails("good", "btrfs", ENOENT, "/good/image/btrfs");
	open_fails("btrfs-no-subvolumes", NULL, ENOENT, "/btrfs-no-subvolumes/btrfs/subvolumes: graphdriver directory");
	open_fails("good", "vfs", ENOENT, "/good/image/vfs");
	open_fails("no-such-root", NULL, ENOENT, "no-such-root");
	open_fails("good/image", NULL, ENOENT, "/good/image/image: no Docker image store here");
}
END_TEST

START_TEST(two_drivers_by_name)
{
	dm_store *st = open_ok("two-drivers", "overlay2");

	ck_assert_uint_eq(st->n_images, 7);
	dm_store_close(st);
	st = open_ok("two-drivers", "vfs");
	ck_assert_uint_eq(st->n_images, 0);
	ck_assert_uint_eq(st->n_layers, 0);
	ck_assert_uint_eq(st->n_problems, 0);
	dm_store_close(st);
}
END_TEST

/* ---- stores with one damaged item ---- */

START_TEST(config_truncated)
{
	dm_store *st = open_ok("config-truncated", NULL);
	char id[128] = "";
	FILE *f = fopen(fx("config-truncated.id"), "r");
	const dm_image *img;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(id, sizeof id, f));
	fclose(f);
	img = image(st, id);
	ck_assert_int_eq(img->state, DM_IMAGE_BROKEN);
	assert_contains("reason", img->reason, "unexpected end of JSON");
	assert_contains("reason", img->reason, "/imagedb/content/sha256/");
	ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, false, "unexpected end of JSON"), 1);
	/* The rest of the store is untouched. */
	ck_assert(image(st, IMG_A)->migrate);
	dm_store_close(st);
}
END_TEST

START_TEST(config_digest)
{
	dm_store *st = open_ok("config-digest", NULL);
	const dm_image *a = image(st, IMG_A), *b = image(st, IMG_B);

	ck_assert_int_eq(a->state, DM_IMAGE_BROKEN);
	ck_assert(!a->migrate);
	assert_contains("A", a->reason, "content does not match its digest");
	/* Its tags are still shown, so the user sees what is lost. */
	ck_assert_uint_eq(a->n_tags, 2);
	/* moby drops A, so B no longer counts as its child; B itself is fine. */
	ck_assert(b->migrate);
	ck_assert_uint_eq(layer(st, C1)->migrate_refs, 3);
	dm_store_close(st);
}
END_TEST

static void check_layer_broken(const char *store, const char *chain, const char *want, size_t images_broken)
{
	dm_store *st = open_ok(store, NULL);
	const dm_layer *l = layer(st, chain);
	size_t broken = 0;

	ck_assert(!l->usable);
	assert_contains(store, l->reason, want);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_LAYER, false, want), 1);
	for (size_t i = 0; i < st->n_images; i++)
		if (st->images[i].state == DM_IMAGE_BROKEN) {
			assert_contains("image reason", st->images[i].reason, "layer sha256:");
			broken++;
		}
	ck_assert_uint_eq(broken, images_broken);
	dm_store_close(st);
}

START_TEST(layer_dir_missing)
{
	dm_store *st;
	verify_log log = { 0 };

	check_layer_broken("layer-dir-missing", C2, "/layer-dir-missing/overlay2/" CID2 "/diff: No such file or directory", 3);
	st = open_ok("layer-dir-missing", NULL);
	/* The chain still loads, so the layer above stays usable on its own. */
	ck_assert(layer(st, C3)->usable);
	ck_assert_uint_eq(layer(st, C3)->depth, 3);
	ck_assert(image(st, IMG_A)->migrate);
	ck_assert_uint_eq(dm_store_verify(st, 2, on_verified, &log), 1);
	ck_assert_uint_eq(log.failed, 1);
	/* The callback has the layer: the message does not name it again. */
	ck_assert_msg(!strstr(log.errors[0], C2), "%s", log.errors[0]);
	assert_contains("verify", log.errors[0], "/diff");
	dm_store_close(st);
}
END_TEST

START_TEST(diff_missing)
{
	dm_store *st;

	check_layer_broken("diff-missing", C2, "/layerdb/sha256/" C2_HEX "/diff: No such file or directory", 3);
	st = open_ok("diff-missing", NULL);
	assert_contains("L3", layer(st, C3)->reason, "parent layer " C2 " is broken");
	ck_assert_uint_eq(layer(st, C3)->depth, 0);
	dm_store_close(st);
}
END_TEST

/* btrfs keeps a layer's full tree in btrfs/subvolumes/<cache-id> (like vfs), fuse-overlayfs its
 * changes in fuse-overlayfs/<cache-id>/diff (like overlay2); both found from image/<driver>. */
START_TEST(good_btrfs)
{
	dm_store *st = open_ok("good-btrfs", NULL);

	ck_assert_int_eq(st->driver, DM_DRIVER_BTRFS);
	ck_assert_str_eq(dm_driver_name(st->driver), "btrfs");
	assert_contains("image dir", st->image_dir, "/good-btrfs/image/btrfs");
	assert_contains("layer dir", layer(st, C2)->dir, "/good-btrfs/btrfs/subvolumes/" CID2);
	check_good_model(st);
	check_good_streams(st, 2);
	dm_store_close(st);
}
END_TEST

START_TEST(good_fuse_overlayfs)
{
	dm_store *st = open_ok("good-fuse-overlayfs", "fuse-overlayfs");
	dm_driver d;

	ck_assert_int_eq(st->driver, DM_DRIVER_FUSE_OVERLAYFS);
	ck_assert_int_eq(dm_driver_lookup("fuse-overlayfs", &d), 0);
	ck_assert_int_eq(d, DM_DRIVER_FUSE_OVERLAYFS);
	ck_assert_int_eq(dm_driver_lookup("fuse", &d), -1);
	ck_assert_int_eq(dm_driver_lookup("", &d), -1);
	assert_contains("layer dir", layer(st, C2)->dir, "/good-fuse-overlayfs/fuse-overlayfs/" CID2 "/diff");
	check_good_model(st);
	check_good_streams(st, 1);
	dm_store_close(st);
}
END_TEST

/* A subvolume or diff/ missing, or a symlink where it should be: that layer only is unusable. */
static const struct {
	const char *store, *chain, *want;
	size_t images_broken;
} driver_dir_cases[] = {
	{ "btrfs-subvolume-missing", C2, "/btrfs-subvolume-missing/btrfs/subvolumes/" CID2 ": No such file or directory", 3 },
	{ "btrfs-subvolume-symlink", C1, "/btrfs/subvolumes/", 5 },
	{ "btrfs-subvolume-symlink", C1, "not a directory (or a symbolic link)", 5 },
	{ "fuse-overlayfs-diff-missing", C2, "/fuse-overlayfs/" CID2 "/diff: No such file or directory", 3 },
	{ "fuse-overlayfs-diff-symlink", C1, "/diff: not a directory (or a symbolic link)", 5 },
};

START_TEST(driver_dirs_broken)
{
	check_layer_broken(driver_dir_cases[_i].store, driver_dir_cases[_i].chain, driver_dir_cases[_i].want,
			   driver_dir_cases[_i].images_broken);
}
END_TEST

typedef struct walked {
	char names[8][64];
	size_t n;
} walked;

static int walk_collect(void *opaque, const char *rel, const struct stat *st, dm_error *err)
{
	walked *w = opaque;

	(void)st;
	(void)err;
	ck_assert_uint_lt(w->n, 8);
	snprintf(w->names[w->n++], sizeof w->names[0], "%s", rel);
	return 0;
}

static bool walked_has(const walked *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->names[i], name))
			return true;
	return false;
}

/* fuse-overlayfs's AUFS-form deletions are no names of the layer's tree: the walk leaves them out
 * (the stream has them as .wh. entries of its own), but not a .wh. file with content, and not in
 * a store whose driver keeps no AUFS form. */
START_TEST(aufs_whiteouts_walk)
{
	dm_store *st = open_ok("fuse-overlayfs-aufs-whiteouts", NULL);
	dm_error err = { 0 };
	dm_layer_reader *rd = dm_layer_reader_open(st, layer(st, C2), &err);
	walked w = { .n = 0 };

	ck_assert_msg(rd != NULL, "%s", err.msg);
	ck_assert_int_eq(dm_layer_reader_walk(rd, walk_collect, &w, &err), 0);
	ck_assert_uint_eq(w.n, 3);
	ck_assert(walked_has(&w, "world"));
	ck_assert(walked_has(&w, "opq"));
	ck_assert(walked_has(&w, ".wh.full"));
	dm_layer_reader_close(rd);
	/* The stream is what the tar-split says: still the DiffID. */
	ck_assert_int_eq(dm_layer_stream(st, layer(st, C2), NULL, NULL, NULL, &err), 0);
	dm_store_close(st);
}
END_TEST

/* L1 is the bottom of every image with layers: all five of them are lost with it. */
static const struct {
	const char *store, *want;
} l1_cases[] = {
	{ "cache-id-missing", "/cache-id: No such file or directory" },
	{ "cache-id-unsafe", "cache-id: \"../../etc\" is not a single path component" },
	{ "tarsplit-missing", "tar-split.json.gz: missing" },
};

START_TEST(l1_broken)
{
	check_layer_broken(l1_cases[_i].store, C1, l1_cases[_i].want, 5);
}
END_TEST

START_TEST(layer_cycle)
{
	dm_store *st = open_ok("layer-cycle", NULL);

	assert_contains("L1", layer(st, C1)->reason, "layer parent cycle");
	assert_contains("L2", layer(st, C2)->reason, "layer parent cycle");
	assert_contains("L3", layer(st, C3)->reason, "is broken");
	ck_assert_uint_eq(count_problems(st, DM_ITEM_LAYER, false, "layer parent cycle"), 2);
	ck_assert(!image(st, IMG_A)->migrate);
	ck_assert(image(st, IMG_H)->migrate);
	dm_store_close(st);
}
END_TEST

START_TEST(image_cycle)
{
	dm_store *st = open_ok("image-cycle", NULL);

	/* A -> D -> C -> B -> A: reported, links ignored, nothing lost. */
	ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, true, "image parent cycle"), 4);
	assert_contains("warning", st->problems[0].reason, "imagedb/metadata/sha256/");
	ck_assert(image(st, IMG_C)->migrate);
	ck_assert(image(st, IMG_C)->head);
	ck_assert_uint_eq(image(st, IMG_A)->n_children, 0);
	dm_store_close(st);
}
END_TEST

static void check_stream_fails(const char *store, int code, const char *want)
{
	dm_store *st = open_ok(store, NULL);
	const dm_layer *l = layer(st, C1);
	dm_error err = { 0 };

	ck_assert_msg(l->usable, "%s", l->reason);
	ck_assert_int_eq(dm_layer_stream(st, l, NULL, NULL, NULL, &err), -1);
	ck_assert_msg(strncmp(err.msg, "layer " C1 ": ", strlen("layer " C1 ": ")) == 0, "%s", err.msg);
	assert_contains(store, err.msg, want);
	ck_assert_int_eq(err.code, code);
	ck_assert(dm_layer_stream(st, layer(st, C2), NULL, NULL, NULL, &err) == 0);
	dm_store_close(st);
}

/* The next four open cleanly and fail only when L1's stream is rebuilt (see make-broken.sh). */
static const struct {
	const char *store;
	int code;
	const char *want;
} stream_cases[] = {
	{ "escape-dotdot", EXDEV, "escapes its root directory" },
	{ "escape-symlink", ENOENT, "sub/hello" },
	{ "crc-mismatch", EBADMSG, "\"hello\": CRC-64 mismatch" },
	{ "size-mismatch", EBADMSG, "\"hello\": size mismatch: expected 6 bytes, got 12" },
};

START_TEST(stream_fails)
{
	check_stream_fails(stream_cases[_i].store, stream_cases[_i].code, stream_cases[_i].want);
}
END_TEST

/* ---- repositories.json, through a scratch copy of the vfs store ---- */

static char *scratch(const char *name)
{
	char cmd[16384];

	snprintf(cmd, sizeof cmd, "rm -rf '%s/%s' && cp -a '%s/good-vfs' '%s/%s'", fixtures, name, fixtures,
		 fixtures, name);
	ck_assert_int_eq(system(cmd), 0);
	return fx(name);
}

static dm_store *open_with_repos(const char *json, dm_error *err)
{
	char path[8192];
	dm_store *st = NULL;

	snprintf(path, sizeof path, "%s/image/vfs/repositories.json", scratch("repos"));
	tu_put(path, json);
	dm_err_clear(err);
	if (dm_store_open(fx("repos"), NULL, &st, err) < 0)
		return NULL;
	return st;
}

static const struct {
	const char *json, *want;
} bad_repos[] = {
	{ "", "unexpected end of JSON (empty or truncated file)" },
	{ "{\"Repositories\":{\"busybox\":{\"busybox:latest\":\"sha256:", "unexpected end of JSON" },
	{ "{\"Repositories\":{\"busybox\":{\"busybox:latest\" \"x\"}}}", "malformed JSON near byte" },
	{ "{\"Repositories\":{}} {}", "malformed JSON near byte 20" },
	{ "{\"Repositories\":{},}", "malformed JSON" },
	{ "[]", "not a JSON object" },
	{ "null", "not a JSON object" },
	{ "{\"Repositories\":[]}", "\"Repositories\" is not an object" },
	{ "{\"Repositories\":\"x\"}", "\"Repositories\" is not an object" },
	{ "{\"Repositories\":{\"busybox\":[]}}", "repository \"busybox\" is not an object" },
	{ "{\"Repositories\":{\"busybox\":{\"busybox:latest\":null}}}", "image ID is not a string" },
	{ "{\"Repositories\":{\"busybox\":{\"busybox:latest\":[\"sha256:\"]}}}", "image ID is not a string" },
	{ "{\"repositories\":{}}", "unexpected key \"repositories\"" },
	{ "{\"Repositories\":{},\"Extra\":1}", "unexpected key \"Extra\"" },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  "malformed JSON" },
};

START_TEST(repositories_bad)
{
	dm_error err;
	dm_store *st = open_with_repos(bad_repos[_i].json, &err);

	ck_assert_msg(st == NULL, "accepted %s", bad_repos[_i].json);
	ck_assert_int_eq(err.code, EINVAL);
	assert_contains(bad_repos[_i].json, err.msg, "/image/vfs/repositories.json: ");
	assert_contains(bad_repos[_i].json, err.msg, bad_repos[_i].want);
}
END_TEST

static size_t total_names(const dm_store *st)
{
	size_t n = 0;

	for (size_t i = 0; i < st->n_images; i++)
		n += st->images[i].n_tags + st->images[i].n_digests;
	return n;
}

START_TEST(repositories_empty_shapes)
{
	static const char *const empty[] = { "{}", "{\"Repositories\":{}}", "{\"Repositories\":null}",
					     "{\"Repositories\":{\"busybox\":null}}", " {\"Repositories\":{}}\n" };
	dm_error err;

	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		dm_store *st = open_with_repos(empty[i], &err);

		ck_assert_msg(st != NULL, "%s: %s", empty[i], err.msg);
		ck_assert_uint_eq(total_names(st), 0);
		/* Without names, the heads are dangling and C is build cache as before. */
		ck_assert(image(st, IMG_A)->dangling);
		ck_assert(!image(st, IMG_A)->migrate);
		ck_assert(image(st, IMG_D)->migrate);
		dm_store_close(st);
	}
}
END_TEST

START_TEST(repositories_missing_file)
{
	char path[8192];
	dm_store *st = NULL;
	dm_error err = { 0 };

	snprintf(path, sizeof path, "%s/image/vfs/repositories.json", scratch("repos-missing"));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(dm_store_open(fx("repos-missing"), NULL, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(total_names(st), 0);
	dm_store_close(st);
	/* Too large to be real: refused before anything is allocated for it. */
	tu_put(path, "{}");
	ck_assert_int_eq(truncate(path, (off_t)65 << 20), 0);
	ck_assert_int_eq(dm_store_open(fx("repos-missing"), NULL, &st, &err), -1);
	ck_assert_int_eq(err.code, EFBIG);
	assert_contains("big repositories.json", err.msg, "repositories.json: 68157440 bytes, more than the 67108864-byte limit");
}
END_TEST

START_TEST(repositories_bad_entries)
{
	dm_error err;
	dm_store *st = open_with_repos(
		"{\"Repositories\":{"
		"\"busybox\":{\"busybox\":\"" IMG_A "\",\"busybox:x\":\"1234\",\"busybox:y\":\"sha256:XYZ\"},"
		"\"Bad Name\":{\"Bad Name:1\":\"" IMG_A "\"},"
		"\"gone\":{\"gone:1\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"},"
		"\"dup\":{\"dup:1\":\"" IMG_A "\",\"docker.io/library/dup:1\":\"" IMG_B "\"},"
		"\"same\":{\"same:1\":\"" IMG_B "\",\"docker.io/library/same:1\":\"" IMG_B "\"}}}",
		&err);
	const dm_image *a, *b;

	ck_assert_msg(st != NULL, "%s", err.msg);
	a = image(st, IMG_A);
	b = image(st, IMG_B);
	/* A name-only key gets :latest; bad entries are dropped one by one, each reported. */
	ck_assert_uint_eq(a->n_tags, 1);
	ck_assert_str_eq(a->tags[0], "docker.io/library/busybox:latest");
	ck_assert_uint_eq(b->n_tags, 1);
	ck_assert_str_eq(b->tags[0], "docker.io/library/same:1");
	ck_assert_uint_eq(count_problems(st, DM_ITEM_REFERENCE, false, "image ID: not a sha256 digest"), 2);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_REFERENCE, false, "must be lowercase; entry ignored"), 1);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_REFERENCE, false, "which is not in imagedb"), 1);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_REFERENCE, false, "docker.io/library/dup:1 names 2 different images"), 1);
	dm_store_close(st);
}
END_TEST

/* ---- single damaged items made in a scratch copy of the vfs store ---- */

static void put(const char *dir, const char *name, const char *data)
{
	tu_put(tu_path(dir, "%s", name), data);
}

/* Stores a config under its own digest, as dockerd would; returns its ID. */
static dm_digest put_config(const char *root, const char *json)
{
	char dir[4096];
	dm_digest id;

	dm_sha256_buf(json, strlen(json), &id);
	snprintf(dir, sizeof dir, "%s/image/vfs/imagedb/content/sha256", root);
	put(dir, dm_digest_hex(&id), json);
	return id;
}

START_TEST(bad_configs)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "[]", "not a JSON object" },
		{ "null", "not a JSON object" },
		{ "{\"os\":\"linux\"}", "no \"rootfs\" object: not an image config" },
		{ "{\"rootfs\":null}", "no \"rootfs\" object" },
		{ "{\"os\":5,\"rootfs\":{}}", "\"os\" is not a string" },
		{ "{\"architecture\":[],\"rootfs\":{}}", "\"architecture\" is not a string" },
		{ "{\"rootfs\":{\"diff_ids\":{}}}", "\"rootfs.diff_ids\" is not an array" },
		{ "{\"rootfs\":{\"diff_ids\":[\"" D1 "\",\"sha256:XY\"]}}", "rootfs.diff_ids[1] is not a sha256 digest" },
		{ "{\"rootfs\":{\"diff_ids\":[7]}}", "rootfs.diff_ids[0] is not a sha256 digest" },
		{ "{\"rootfs\":{\"diff_ids\":[\"" D2 "\"]}}",
		  "layer " D2 " (rootfs.diff_ids[0]) is not in the layer store" },
	};
	char *root = scratch("configs");
	dm_digest ids[sizeof cases / sizeof *cases], ok_id;
	dm_store *st;
	dm_error err = { 0 };

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		ids[i] = put_config(root, cases[i].json);
	/* Accepted: os in any case, absent diff_ids (no layers), unknown keys. */
	ok_id = put_config(root, "{\"os\":\"Linux\",\"rootfs\":{\"type\":\"layers\"},\"x\":{}}");
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const dm_image *img = image(st, ids[i].s);

		ck_assert_int_eq(img->state, DM_IMAGE_BROKEN);
		assert_contains(cases[i].json, img->reason, cases[i].want);
	}
	ck_assert(image(st, ok_id.s)->migrate);
	ck_assert_uint_eq(image(st, ok_id.s)->n_layers, 0);
	ck_assert(image(st, IMG_A)->migrate);
	dm_store_close(st);
}
END_TEST

/* Issue 13: the store is the one reader of Docker's config, so that plan and run judge the
 * same bytes by the same rules: a rootfs.type other than "layers" (which run used to refuse
 * after plan listed the image) is broken here already, and the bytes run writes as the config
 * blob are those read and hashed. */
START_TEST(config_read_once_for_plan_and_run)
{
	static const char *const odd[] = {
		"{\"rootfs\":{\"type\":\"zfs\",\"diff_ids\":[]}}",
		"{\"rootfs\":{\"type\":7}}",
		"{\"os\":\"lin\\u0000ux\",\"rootfs\":{}}",
	};
	static const char good[] = "{\"rootfs\":{\"type\":\"layers\"}, \"x\" : 1}\n";
	char *root = scratch("configs-once");
	dm_digest ids[3], ok;
	dm_store *st;
	dm_error err = { 0 };

	for (size_t i = 0; i < 3; i++)
		ids[i] = put_config(root, odd[i]);
	ok = put_config(root, good);
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(image(st, ids[0].s)->state, DM_IMAGE_BROKEN);
	assert_contains("zfs", image(st, ids[0].s)->reason, "rootfs.type is \"zfs\", want \"layers\"");
	ck_assert_int_eq(image(st, ids[1].s)->state, DM_IMAGE_BROKEN);
	ck_assert_int_eq(image(st, ids[2].s)->state, DM_IMAGE_BROKEN);
	assert_contains("NUL", image(st, ids[2].s)->reason, "contains a NUL byte");
	ck_assert(image(st, ok.s)->migrate);
	ck_assert_uint_eq(image(st, ok.s)->config_size, strlen(good));
	ck_assert_mem_eq(image(st, ok.s)->config, good, strlen(good));
	dm_store_close(st);
}
END_TEST

START_TEST(bad_metadata_files)
{
	char *root = scratch("metadata"), dir[4096], path[8192];
	dm_store *st;
	dm_error err = { 0 };

	/* A parent file that is not a digest: the link is ignored, with a warning. */
	snprintf(dir, sizeof dir, "%s/image/vfs/imagedb/metadata/sha256/%s", root, IMG_B + 7);
	put(dir, "parent", "not-a-digest");
	/* A layer whose diff does not match its chain ID. */
	snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/sha256/%s", root, C2 + 7);
	put(dir, "diff", DE);
	/* A layer whose size is not a number, one whose parent is missing. */
	snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/sha256/%s", root, C3 + 7);
	put(dir, "size", "12x");
	/* A config that is a symlink, and a FIFO where repositories.json would be read last. */
	snprintf(path, sizeof path, "%s/image/vfs/imagedb/content/sha256/%s", root, IMG_H + 7);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, true, "/parent: not a sha256 digest"), 1);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, true, "parent link ignored"), 1);
	ck_assert_str_eq(image(st, IMG_B)->parent.s, "");
	assert_contains("L2", layer(st, C2)->reason, "chain ID does not match diff and parent");
	assert_contains("B", image(st, IMG_B)->reason, "layer " C2 ": ");
	assert_contains("L3", layer(st, C3)->reason, "/size: \"12x\" is not a size in bytes");
	assert_contains("H", image(st, IMG_H)->reason, IMG_H + 7);
	assert_contains("H", image(st, IMG_H)->reason, ": is a symbolic link");
	dm_store_close(st);

	snprintf(path, sizeof path, "%s/image/vfs/repositories.json", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(dm_store_open(root, NULL, &st, &err), -1);
	assert_contains("fifo", err.msg, "repositories.json: not a regular file");
}
END_TEST

#define C1_HEX "6dbf7a13e5349e897050986a4698edcf92ae69c7b36c10dd48a7b30e56c77ab6"
#define IMG_B_HEX "65c50b686172ec7a5b9693d717115dee0426b918498287fb7c27d581201ea230"

/* Issue 13: a piece of the store replaced by a symlink to a copy of itself outside the store is
 * never followed, whichever directory or file it is: the store (or the one layer, image or link)
 * is refused, rather than read from wherever the link points. */
static const struct {
	const char *rel;   /* below the store, moved out and linked back */
	int code;          /* dm_store_open fails with it; 0: opens, the item says why */
	const char *want;  /* in the error, or in the item's reason */
} linked[] = {
	{ "image/vfs/layerdb/sha256/" C1_HEX "/tar-split.json.gz", 0, "tar-split.json.gz: is a symbolic link" },
	{ "image/vfs/layerdb", ELOOP, "/layerdb/sha256" },
	{ "image/vfs/imagedb", ELOOP, "/imagedb/content/sha256" },
	{ "image/vfs/imagedb/content", ELOOP, "/imagedb/content/sha256" },
	{ "image/vfs/layerdb/sha256/" C1_HEX, 0, "/layerdb/sha256/" C1_HEX },
	{ "image/vfs/imagedb/metadata/sha256/" IMG_B_HEX, 0, IMG_B_HEX "/parent" },
	{ "vfs", ELOOP, "/vfs/dir: graphdriver directory" },
	{ "image", ELOOP, "/image/vfs" },
};

START_TEST(store_symlinks_not_followed)
{
	char name[32], cmd[16384], *root;
	dm_store *st = NULL;
	dm_error err = { 0 };

	snprintf(name, sizeof name, "linked-%d", _i);
	root = scratch(name);
	/* The copy outside is intact: only following the link would find it. */
	snprintf(cmd, sizeof cmd, "cd '%s' && rm -rf '../%s.outside' && mv '%s' '../%s.outside' && "
		 "ln -s \"$(cd .. && pwd)/%s.outside\" '%s'", root, name, linked[_i].rel, name, name,
		 linked[_i].rel);
	ck_assert_int_eq(system(cmd), 0);
	if (linked[_i].code) {
		ck_assert_int_eq(dm_store_open(root, "vfs", &st, &err), -1);
		ck_assert_int_eq(err.code, linked[_i].code);
		assert_contains(linked[_i].rel, err.msg, linked[_i].want);
		return;
	}
	ck_assert_msg(dm_store_open(root, "vfs", &st, &err) == 0, "%s", err.msg);
	if (_i == 0 || _i == 4) {
		assert_contains(linked[_i].rel, layer(st, C1)->reason, linked[_i].want);
		ck_assert(!layer(st, C1)->usable);
		ck_assert(!image(st, IMG_A)->migrate);
	} else {
		ck_assert_str_eq(image(st, IMG_B)->parent.s, "");
		ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, true, linked[_i].want), 1);
	}
	dm_store_close(st);
}
END_TEST

START_TEST(bad_containers)
{
	char *root = scratch("containers"), dir[4096];
	static const char *const ids[] = {
		"1111111111111111111111111111111111111111111111111111111111111111",
		"2222222222222222222222222222222222222222222222222222222222222222",
		"3333333333333333333333333333333333333333333333333333333333333333",
		"4444444444444444444444444444444444444444444444444444444444444444",
	};
	dm_store *st;
	dm_error err = { 0 };
	size_t found = 0;

	for (size_t i = 0; i < 4; i++) {
		snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/mounts/%s", root, ids[i]);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		put(dir, "mount-id", i == 0 ? "../../x" : ids[i]);
		if (i == 1)
			put(dir, "parent", C2 "\n");
		if (i == 2)
			put(dir, "parent", "sha256:0000000000000000000000000000000000000000000000000000000000000000");
		snprintf(dir, sizeof dir, "%s/containers/%s", root, ids[i]);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		put(dir, "config.v2.json", i == 3 ? "{\"Image\":42}" : i == 1 ? "{\"Image\":\"" IMG_B "\"}" : "{");
	}
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < st->n_containers; i++) {
		const dm_container *c = &st->containers[i];

		if (strcmp(c->id, ids[0]) == 0)
			assert_contains("bad mount-id", c->reason, "/mount-id: \"../../x\" is not a mount ID");
		else if (strcmp(c->id, ids[1]) == 0)
			ck_assert(!c->reason && c->parent == layer(st, C2) && strcmp(c->image.s, IMG_B) == 0);
		else if (strcmp(c->id, ids[2]) == 0)
			assert_contains("missing parent", c->reason, "/parent: layer sha256:0000");
		else if (strcmp(c->id, ids[3]) == 0)
			assert_contains("bad Image", c->reason, "config.v2.json: \"Image\" is not a sha256 digest");
		else
			continue;
		found++;
	}
	ck_assert_uint_eq(found, 4);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_CONTAINER, false, ""), 3);
	dm_store_close(st);
}
END_TEST


/* ---- containers: config.v2.json and layerdb/mounts, bad input (issue 11) ---- */

static char *slurp_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(bad_container_configs)
{
	static const struct {
		const char *mount_id, *init_id, *parent, *config, *want;
	} cases[] = {
		{NULL, NULL, NULL, "{}", "/mount-id: "},
		{"zzz", NULL, NULL, "{}", "/mount-id: \"zzz\" is not a mount ID"},
		{"M", "garbage-init", NULL, "{}", "/init-id: \"garbage-init\" is not a mount ID"},
		{"M", NULL, "not-a-chain-id", "{}", "/parent: "},
		{"M", NULL, NULL, "{", "config.v2.json: unexpected end of JSON"},
		{"M", NULL, NULL, "[1]", "config.v2.json: not a JSON object"},
		{"M", NULL, NULL, "{} {}", "config.v2.json: malformed JSON"},
		{"M", NULL, NULL, "{\"Name\":1}", "\"Name\" or \"Driver\" is not a string"},
		{"M", NULL, NULL, "{\"Driver\":[]}", "\"Name\" or \"Driver\" is not a string"},
		{"M", NULL, NULL, "{\"State\":\"running\"}", "\"State\" is not an object"},
		{"M", NULL, NULL, "{\"State\":{\"Running\":\"yes\"}}", "holds a flag that is not a boolean"},
		{"M", NULL, NULL, "{\"State\":{\"Paused\":1}}", "holds a flag that is not a boolean"},
		{"M", NULL, NULL, "{\"Image\":\"sha256:xyz\"}", "\"Image\" is not a sha256 digest"},
		/* good: every field read */
		{"M", "I", NULL, "{\"Name\":\"/web\",\"Driver\":\"vfs\",\"State\":{\"Running\":true,\"Paused\":false}}", NULL},
	};
	size_t n = sizeof cases / sizeof *cases;
	char *root = scratch("ctrcfg"), dir[4096], id[65];
	dm_store *st;
	dm_error err = {0};

	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%064zx", i + 0xc0);
		snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/mounts/%s", root, id);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		if (cases[i].mount_id)
			put(dir, "mount-id", strcmp(cases[i].mount_id, "M") ? cases[i].mount_id : id);
		if (cases[i].init_id) {
			char init[80];

			snprintf(init, sizeof init, "%s-init", id);
			put(dir, "init-id", strcmp(cases[i].init_id, "I") ? cases[i].init_id : init);
		}
		if (cases[i].parent)
			put(dir, "parent", cases[i].parent);
		snprintf(dir, sizeof dir, "%s/containers/%s", root, id);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		put(dir, "config.v2.json", cases[i].config);
	}
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		const dm_container *c = NULL;

		snprintf(id, sizeof id, "%064zx", i + 0xc0);
		for (size_t k = 0; k < st->n_containers; k++)
			if (!strcmp(st->containers[k].id, id))
				c = &st->containers[k];
		ck_assert_msg(c != NULL, "case %zu", i);
		if (cases[i].want) {
			ck_assert_msg(c->reason != NULL, "case %zu: no reason", i);
			assert_contains("container reason", c->reason, cases[i].want);
		} else {
			ck_assert_msg(!c->reason, "case %zu: %s", i, c->reason);
			ck_assert(c->has_config && c->running && !c->paused);
			ck_assert_str_eq(c->name, "/web");
			ck_assert_str_eq(c->driver, "vfs");
		}
	}
	dm_store_close(st);
}
END_TEST

static const dm_container *container_of(const dm_store *st, const char *id)
{
	for (size_t i = 0; i < st->n_containers; i++)
		if (!strcmp(st->containers[i].id, id))
			return &st->containers[i];
	ck_abort_msg("no container %s", id);
	return NULL;
}

START_TEST(container_layers_and_rewrite)
{
	char *root = strdup(scratch("ctrlayers")), dir[4096], path[4096], *mount_id;
	const dm_container *c;
	dm_migrate_status status;
	dm_descriptor m = {"application/vnd.oci.image.manifest.v1+json",
			   {"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}, 404};
	uint64_t size;
	char *reason, *orig, *now;
	dm_store *st;
	dm_error err = {0};
	int fd;

	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	c = container_of(st, CTR1);
	mount_id = strdup(c->mount_id);
	/* The writable layer is there, the init layer is not: refused, the file named. */
	fd = dm_container_open_layer(st, c, false, NULL, &err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_lt(dm_container_open_layer(st, c, true, NULL, &err), 0);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_int_eq(dm_migrate_container_verdict(st, c, "native", &status, &size, &reason), 0);
	ck_assert_int_eq(status, DM_MIG_FAILED);
	assert_contains("verdict", reason, "-init: No such file");
	free(reason);
	dm_store_close(st);

	snprintf(dir, sizeof dir, "%s/vfs/dir/%s-init", root, mount_id);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	put(dir, "etc-hosts", "127.0.0.1 localhost\n");
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	c = container_of(st, CTR1);
	ck_assert_int_eq(dm_migrate_container_verdict(st, c, "native", &status, &size, &reason), 0);
	ck_assert_msg(status == DM_MIG_DONE, "%s", reason ? reason : "");
	ck_assert_uint_gt(size, 0);
	/* Only the snapshotter that keeps the driver's form takes the layers. */
	ck_assert_int_eq(dm_migrate_container_verdict(st, c, "overlayfs", &status, &size, &reason), 0);
	ck_assert_int_eq(status, DM_MIG_FAILED);
	assert_contains("crossed", reason, "go to snapshotter native only");
	free(reason);

	/* The config rewrite: the original kept, the three members set, the rest as it was. */
	snprintf(path, sizeof path, "%s/containers/%s/config.v2.json", root, CTR1);
	orig = slurp_text(path);
	ck_assert_msg(dm_container_rewrite_config(st, c, "native", &m, &err) == 0, "%s", err.msg);
	now = slurp_text(path);
	assert_contains("Driver", now, "\"Driver\":\"native\"");
	assert_contains("Image", now, "\"Image\":\"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"");
	assert_contains("ImageManifest", now, "\"ImageManifest\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:0011");
	assert_contains("ID kept", now, "\"ID\":\"" CTR1 "\"");
	free(now);
	snprintf(path, sizeof path, "%s/containers/%s/" DM_CONTAINER_CONFIG_BACKUP, root, CTR1);
	now = slurp_text(path);
	ck_assert_str_eq(now, orig);
	free(now);
	free(orig);
	dm_store_close(st);

	/* Rewritten: on the containerd store, never touched again. */
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	c = container_of(st, CTR1);
	ck_assert(dm_container_on_containerd(c));
	ck_assert_int_eq(dm_migrate_container_verdict(st, c, "native", &status, &size, &reason), 0);
	ck_assert_int_eq(status, DM_MIG_EXISTED);
	dm_store_close(st);

	/* A running container is refused; a layer reached through a symlink is never opened. */
	snprintf(path, sizeof path, "%s/containers/%s/config.v2.json", root, CTR1);
	tu_put(path, "{\"ID\":\"" CTR1 "\",\"Image\":\"" IMG_B "\",\"Driver\":\"vfs\",\"Name\":\"/busy\","
		     "\"State\":{\"Running\":true}}");
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	c = container_of(st, CTR1);
	ck_assert_int_eq(dm_migrate_container_verdict(st, c, "native", &status, &size, &reason), 0);
	ck_assert_int_eq(status, DM_MIG_FAILED);
	assert_contains("running", reason, "running: its writable layer is changing");
	free(reason);
	snprintf(dir, sizeof dir, "%s/vfs/dir/%s", root, mount_id);
	snprintf(path, sizeof path, "rm -rf '%.2000s' && ln -s /etc '%.2000s'", dir, dir);
	ck_assert_int_eq(system(path), 0);
	ck_assert_int_lt(dm_container_open_layer(st, c, false, NULL, &err), 0);
	ck_assert_int_eq(err.code, ELOOP);
	assert_contains("symlink", err.msg, "not a directory (or a symbolic link)");
	dm_store_close(st);
	free(mount_id);
	free(root);
}
END_TEST

/* ---- limits ---- */

START_TEST(layer_depth_capped)
{
	char *root = scratch("deep"), dir[4096], base[3072];
	dm_digest chain, parent, e;
	dm_store *st;
	dm_error err = { 0 };

	snprintf(base, sizeof base, "%s/image/vfs/layerdb/sha256", root);
	ck_assert_int_eq(dm_digest_parse(DE, strlen(DE), &e, "t", &err), 0);
	/* 126 empty layers stacked on L1 (which is 1 deep) reach depth 127. */
	parent = (dm_digest){ C1 };
	for (int i = 0; i < 126; i++) {
		dm_chain_id(&parent, &e, &chain);
		snprintf(dir, sizeof dir, "%s/%s", base, dm_digest_hex(&chain));
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		put(dir, "diff", DE);
		put(dir, "size", "0");
		put(dir, "cache-id", "796a42f5779e586c154980905215a5f1a3fbe5cbbf69c18a9f9dcbbdb927058b");
		put(dir, "parent", parent.s);
		parent = chain;
	}
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st->n_layers, 3 + 126);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_LAYER, false, "chain deeper than 125 layers"), 1);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_LAYER, false, "is broken"), 1);
	ck_assert_uint_eq(layer(st, parent.s)->depth, 0);
	dm_store_close(st);
}
END_TEST

/* Layer sizes near 2^63 (fixture size-huge: all three at INT64_MAX): an image's size saturates at
 * DM_SIZE_MAX, never wrapping below the size of any of its layers; a size that does not fit an
 * int64, or is not a plain decimal number, makes its layer unusable with a reason naming the file. */
START_TEST(image_size_saturates)
{
	static const char *const bad[] = { "9223372036854775808", "18446744073709551616", "-1", "1e18",
					   "0x10", "" };
	dm_store *st = open_ok("size-huge", NULL);
	const dm_image *b = image(st, IMG_B), *d = image(st, IMG_D);
	char *root, dir[4096];
	dm_error err = { 0 };

	ck_assert_int_eq(layer(st, C1)->size, INT64_MAX);
	ck_assert(layer(st, C3)->usable);
	ck_assert_uint_eq(b->size, 2 * (uint64_t)INT64_MAX);
	ck_assert_uint_eq(d->size, DM_SIZE_MAX);
	ck_assert(d->migrate);
	dm_store_close(st);
	ck_assert_uint_eq(dm_size_add(DM_SIZE_MAX - 1, 1), DM_SIZE_MAX);
	ck_assert_uint_eq(dm_size_add(DM_SIZE_MAX, DM_SIZE_MAX), DM_SIZE_MAX);
	ck_assert_uint_eq(dm_size_add((uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 2), DM_SIZE_MAX);
	ck_assert_uint_eq(dm_size_add(0, 0), 0);
	ck_assert_uint_eq(dm_size_of(-5), 0);

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		root = scratch("size-bad");
		snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/sha256/%s", root, C3 + 7);
		put(dir, "size", bad[i]);
		ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
		ck_assert_msg(!layer(st, C3)->usable, "size \"%s\" accepted", bad[i]);
		assert_contains(bad[i], layer(st, C3)->reason, C3_HEX_SIZE_FILE);
		assert_contains(bad[i], layer(st, C3)->reason, "is not a size in bytes");
		ck_assert_ptr_null(strchr(layer(st, C3)->reason, '\n'));
		ck_assert(!image(st, IMG_D)->migrate);
		ck_assert_uint_eq(image(st, IMG_B)->size, 12);
		dm_store_close(st);
	}
}
END_TEST

/* What a reason or a problem ID quotes from the store stays one line, without control characters:
 * a size file with an escape inside, a cache-id and a repositories.json key with a line break
 * (found by tests/fuzz_layerstore). */
START_TEST(reasons_one_line)
{
	char *root = scratch("one-line"), dir[4096], path[8192];
	dm_store *st;
	dm_error err = { 0 };
	size_t n = 0;

	snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/sha256/%s", root, C3 + 7);
	put(dir, "size", "1\0332");
	snprintf(dir, sizeof dir, "%s/image/vfs/layerdb/sha256/%s", root, C2 + 7);
	put(dir, "cache-id", "a\nb/c");
	snprintf(path, sizeof path, "%s/image/vfs/repositories.json", root);
	tu_put(path, "{\"Repositories\":{\"busybox\":{\"busybox:la\\ntest\":\"" IMG_A "\"}}}");
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s", err.msg);
	assert_contains("L3", layer(st, C3)->reason, "/size: \"1 2\" is not a size in bytes");
	assert_contains("L2", layer(st, C2)->reason, "/cache-id: \"a b/c\" is not a single path component");
	for (size_t i = 0; i < st->n_problems; i++) {
		ck_assert_msg(!strpbrk(st->problems[i].reason, "\n\r\033"), "reason \"%s\"", st->problems[i].reason);
		ck_assert_msg(!strpbrk(st->problems[i].id, "\n\r\033"), "id \"%s\"", st->problems[i].id);
		n += !strcmp(st->problems[i].id, "busybox:la test");
	}
	ck_assert_uint_eq(n, 1);
	for (size_t i = 0; i < st->n_images; i++)
		ck_assert_msg(!st->images[i].reason || !strchr(st->images[i].reason, '\n'), "image reason \"%s\"",
			      st->images[i].reason);
	dm_store_close(st);
}
END_TEST

START_TEST(config_too_large)
{
	char *root = scratch("big"), path[8192];
	int fd;

	snprintf(path, sizeof path, "%s/image/vfs/imagedb/content/sha256/%s", root, IMG_H + 7);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)64 << 20), 0);
	close(fd);
	{
		dm_store *st = open_ok("big", NULL);

		assert_contains("H", image(st, IMG_H)->reason, "more than the 16777216-byte limit");
		dm_store_close(st);
	}
}
END_TEST

/* ---- the real stores in fixtures/, extracted as root by layerstore-fixtures.sh ---- */

static const char *const real_drivers[] = { "overlay2", "vfs" };

/* Splits `["a","b"]` into normalised names, sorted as the store sorts them. */
static size_t expected_names(char *list, char names[][DM_REF_STR_MAX + 1], size_t max)
{
	size_t n = 0;
	size_t len = strlen(list);

	ck_assert_msg(len >= 2 && list[0] == '[' && list[len - 1] == ']', "bad list %s", list);
	list[len - 1] = '\0';
	for (char *save = NULL, *tok = strtok_r(list + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		dm_error err = { 0 };
		size_t tl = strlen(tok);

		ck_assert_uint_lt(n, max);
		ck_assert(tl >= 2 && tok[0] == '"' && tok[tl - 1] == '"');
		tok[tl - 1] = '\0';
		ck_assert_msg(dm_ref_normalize(tok + 1, names[n], &err) == 0, "%s", err.msg);
		n++;
	}
	qsort(names, n, sizeof *names, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void check_names(const char *id, char **got, size_t n_got, char *list)
{
	char want[8][DM_REF_STR_MAX + 1];
	size_t n = expected_names(list, want, 8);

	ck_assert_msg(n_got == n, "%s: %zu names, dockerd showed %zu", id, n_got, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(got[i], want[i]);
}

static FILE *open_expected(const char *driver, const char *name)
{
	const char *srcdir = getenv("top_srcdir");
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/fixtures/expected/%s/%s", srcdir ? srcdir : ".", driver, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s", path);
	return f;
}

/* `docker image inspect` as recorded by make-fixtures.sh: ID parent= tags=[…] digests=[…] layers=[…] size= */
static void check_against_inspect(const dm_store *st, const char *driver)
{
	FILE *f = open_expected(driver, "inspect.txt");
	char line[16384];
	size_t lines = 0;

	while (fgets(line, sizeof line, f)) {
		char *save = NULL, *id = strtok_r(line, " \n", &save), *field;
		const dm_image *img = image(st, id);

		lines++;
		while ((field = strtok_r(NULL, " \n", &save))) {
			char *v = strchr(field, '=') + 1;

			if (strncmp(field, "parent=", 7) == 0) {
				ck_assert_str_eq(img->parent.s, v);
			} else if (strncmp(field, "tags=", 5) == 0) {
				check_names(id, img->tags, img->n_tags, v);
			} else if (strncmp(field, "digests=", 8) == 0) {
				check_names(id, img->digests, img->n_digests, v);
			} else if (strncmp(field, "size=", 5) == 0) {
				ck_assert_uint_eq(img->size, strtoull(v, NULL, 10));
			} else if (strncmp(field, "layers=", 7) == 0) {
				size_t k = 0;

				for (char *s2 = NULL, *t = strtok_r(v, "[\",]", &s2); t; t = strtok_r(NULL, "[\",]", &s2), k++) {
					ck_assert_uint_lt(k, img->n_layers);
					ck_assert_str_eq(img->diff_ids[k].s, t);
					ck_assert_msg(img->layers[k] && img->layers[k]->usable, "%s layer %zu", id, k);
				}
				ck_assert_uint_eq(k, img->n_layers);
			}
		}
	}
	fclose(f);
	ck_assert_uint_eq(lines, st->n_images);
}

/* `docker images`: exactly the images that are migrated (tagged, digest-only, dangling heads). */
static void check_against_images(const dm_store *st, const char *driver)
{
	FILE *f = open_expected(driver, "images.txt");
	char line[4096], repo[1024], tag[256], digest[256], id[128];
	size_t listed = 0, migrated = 0;

	while (fgets(line, sizeof line, f)) {
		ck_assert_int_eq(sscanf(line, "%1023s %255s %255s %127s", repo, tag, digest, id), 4);
		ck_assert_msg(image(st, id)->migrate, "%s: %s", id, image(st, id)->reason);
	}
	fclose(f);
	f = open_expected(driver, "images.txt");
	for (size_t i = 0; i < st->n_images; i++) {
		bool seen = false;

		rewind(f);
		while (!seen && fgets(line, sizeof line, f))
			seen = strstr(line, st->images[i].id.s) != NULL;
		listed += seen;
		migrated += st->images[i].migrate;
	}
	fclose(f);
	ck_assert_uint_eq(listed, migrated);
	ck_assert_uint_gt(migrated, 0);
}

static void check_against_containers(const dm_store *st, const char *driver)
{
	FILE *f = open_expected(driver, "containers.txt");
	char line[4096], id[128], name[256], img[128];
	size_t n = 0;

	while (fgets(line, sizeof line, f)) {
		bool found = false;

		ck_assert_int_eq(sscanf(line, "%127s name=%255s image=%127s", id, name, img), 3);
		for (size_t i = 0; i < st->n_containers; i++) {
			const dm_container *c = &st->containers[i];

			if (strcmp(c->id, id) != 0)
				continue;
			found = true;
			ck_assert_str_eq(c->image.s, img);
			ck_assert_ptr_nonnull(c->parent);
			ck_assert_ptr_null(c->reason);
		}
		ck_assert_msg(found, "container %s", id);
		n++;
	}
	fclose(f);
	ck_assert_uint_eq(n, st->n_containers);
}

static void on_real_verified(void *opaque, const dm_layer *l, bool ok, const dm_error *err,
			     const dm_tarsplit_stats *stats)
{
	size_t *n = opaque;

	ck_assert_msg(ok, "%s", err ? err->msg : "");
	ck_assert_str_eq(stats->digest.s, l->diff_id.s);
	(*n)++;
}

START_TEST(real_store)
{
	const char *driver = real_drivers[_i];
	char var[64];
	const char *root;
	dm_store *st = NULL;
	dm_error err = { 0 };
	size_t verified = 0;

	snprintf(var, sizeof var, "DM_STORE_%s", _i == 0 ? "OVERLAY2" : "VFS");
	root = getenv(var);
	ck_assert_msg(root != NULL, "%s is not set", var);
	ck_assert_msg(dm_store_open(root, NULL, &st, &err) == 0, "%s: %s", root, err.msg);
	ck_assert_str_eq(dm_driver_name(st->driver), driver);
	check_against_inspect(st, driver);
	check_against_images(st, driver);
	check_against_containers(st, driver);
	/* The only items not migrated are the legacy builder's intermediates. */
	ck_assert_uint_gt(st->n_problems, 0);
	ck_assert_uint_eq(count_problems(st, DM_ITEM_IMAGE, false, "legacy build cache"), st->n_problems);
	/* Every layer rebuilds to its DiffID. */
	ck_assert_uint_eq(dm_store_verify(st, 2, on_real_verified, &verified), 0);
	ck_assert_uint_eq(verified, st->n_layers);
	ck_assert_uint_ge(st->n_layers, 13);
	dm_store_close(st);
}
END_TEST

/* With the argument "real", only the real stores named by $DM_STORE_OVERLAY2 and $DM_STORE_VFS. */
int main(int argc, char **argv)
{
	const char *srcdir = getenv("top_srcdir");
	const char *tmp = getenv("TMPDIR");
	char cmd[16384];
	Suite *s = suite_create("layerstore");
	TCase *tc;
	int failed;

	if (argc > 1 && strcmp(argv[1], "real") == 0) {
		tc = tcase_create("real");
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, real_store, 0, sizeof real_drivers / sizeof *real_drivers);
		suite_add_tcase(s, tc);
		return tu_run(s);
	}
	snprintf(fixtures, sizeof fixtures, "%s/dm-layerstore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fixtures)) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(cmd, sizeof cmd, "sh '%s/fixtures/make-broken.sh' '%s'", srcdir ? srcdir : ".", fixtures);
	if (system(cmd) != 0) {
		fprintf(stderr, "%s failed\n", cmd);
		return 99;
	}
	tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, good_overlay2);
	tcase_add_test(tc, good_vfs);
	tcase_add_test(tc, good_btrfs);
	tcase_add_test(tc, good_fuse_overlayfs);
	tcase_add_loop_test(tc, driver_dirs_broken, 0, sizeof driver_dir_cases / sizeof *driver_dir_cases);
	tcase_add_test(tc, aufs_whiteouts_walk);
	tcase_add_test(tc, stream_to_sink);
	tcase_add_test(tc, fatal_stores);
	tcase_add_test(tc, two_drivers_by_name);
	tcase_add_test(tc, config_truncated);
	tcase_add_test(tc, config_digest);
	tcase_add_test(tc, layer_dir_missing);
	tcase_add_test(tc, diff_missing);
	tcase_add_loop_test(tc, l1_broken, 0, sizeof l1_cases / sizeof *l1_cases);
	tcase_add_test(tc, layer_cycle);
	tcase_add_test(tc, image_cycle);
	tcase_add_loop_test(tc, stream_fails, 0, sizeof stream_cases / sizeof *stream_cases);
	tcase_add_loop_test(tc, repositories_bad, 0, sizeof bad_repos / sizeof *bad_repos);
	tcase_add_test(tc, repositories_empty_shapes);
	tcase_add_test(tc, repositories_missing_file);
	tcase_add_test(tc, repositories_bad_entries);
	tcase_add_test(tc, bad_configs);
	tcase_add_test(tc, config_read_once_for_plan_and_run);
	tcase_add_test(tc, bad_metadata_files);
	tcase_add_test(tc, bad_containers);
	tcase_add_test(tc, bad_container_configs);
	tcase_add_test(tc, container_layers_and_rewrite);
	tcase_add_loop_test(tc, store_symlinks_not_followed, 0, sizeof linked / sizeof *linked);
	tcase_add_test(tc, layer_depth_capped);
	tcase_add_test(tc, config_too_large);
	tcase_add_test(tc, image_size_saturates);
	tcase_add_test(tc, reasons_one_line);
	suite_add_tcase(s, tc);
	failed = tu_run(s);
	if (tu_rmtree(fixtures) != 0)
		fprintf(stderr, "could not remove %s\n", fixtures);
	return failed;
}
