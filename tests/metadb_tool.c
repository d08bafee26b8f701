/* metadb_tool: writes and reads containerd roots through lib/metadb, for
 * tests/metadb-containerd.sh, which checks the result with a real containerd.
 *
 *   metadb_tool seed ROOT NS SN        writes a small world (below) and prints
 *                                      its names as shell assignments
 *   metadb_tool delete-lease ROOT NS ID
 *   metadb_tool open ROOT              exit 2 when meta.db is locked
 *   metadb_tool show ROOT NS           bolt-checks meta.db, lists leases and images
 *   metadb_tool snapshot ROOT NS SN KEY  bolt-checks metadata.db, says whether
 *                                      KEY is a committed snapshot
 *
 * The world of seed: blob LEASED held only by lease LEASE (valid 24 h); blob
 * EXPIRED held only by lease EXPIRED_LEASE (expired an hour ago); image
 * docker.io/library/dmtest:1 whose manifest MANIFEST references config CONFIG
 * through its GC label; committed snapshots "base" and "child" (on base), in
 * both bolt files and as directories, child held by LEASE. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bolt.h"
#include "content.h"
#include "image.h"
#include "lease.h"
#include "lease_db.h"
#include "metadb.h"

#define IMAGE_NAME "docker.io/library/dmtest:1"

static dm_error err;

static void die(const char *what)
{
	fprintf(stderr, "metadb_tool: %s: %s\n", what, err.msg);
	exit(1);
}

#define TRY(expr)                     \
	do {                          \
		if ((expr) < 0)       \
			die(#expr);   \
	} while (0)

static dm_blob_info blob(dm_content_store *cs, const char *ref, const char *data)
{
	dm_blob_info info;

	TRY(dm_content_write_buffer(cs, ref, data, strlen(data), 0, &info, &err));
	return info;
}

/* Makes the directory of backend snapshot id with one file in its root. */
static void snapshot_dir(const char *root, const char *sn, uint64_t id, const char *file)
{
	char dir[4096], fs[4200], path[4300];
	bool overlay = !strcmp(sn, "overlayfs");
	int fd;

	snprintf(dir, sizeof dir, "%s/" DM_SNAPDB_DIR_PREFIX "%s/snapshots/%llu", root, sn,
		 (unsigned long long)id);
	snprintf(fs, sizeof fs, "%s%s", dir, overlay ? "/fs" : "");
	if (mkdir(dir, overlay ? 0700 : 0755) < 0 || (overlay && mkdir(fs, 0755) < 0)) {
		perror(dir);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s", fs, file);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 || write(fd, "x\n", 2) != 2 ||
	    close(fd) < 0) {
		perror(path);
		exit(1);
	}
}

static int seed(const char *root, const char *ns, const char *sn)
{
	dm_metadb *md = dm_metadb_open(root, 0, &err);
	dm_snapdb *sd;
	dm_content_store *cs;
	dm_metadb_tx *tx;
	dm_snapdb_tx *stx;
	dm_lease lease, expired;
	dm_labels held = DM_LABELS_INIT, mlabels = DM_LABELS_INIT;
	dm_blob_info leased, gone, config;
	dm_descriptor cdesc, mdesc;
	dm_manifest manifest;
	uint64_t base_id, child_id, base_seq, child_seq;
	char *base_name, *child_name;

	if (!md || !(sd = dm_snapdb_open(root, sn, 0, &err)) || !(cs = dm_content_store_open(root, &err)))
		die("open");
	leased = blob(cs, "leased", "dockerd-migrate metadb test: a blob held by a lease\n");
	gone = blob(cs, "expired", "dockerd-migrate metadb test: a blob held by an expired lease\n");
	config = blob(cs, "config",
		      "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
	cdesc = (dm_descriptor){DM_MEDIA_OCI_CONFIG, config.digest, config.size};
	TRY(dm_manifest_build(&cdesc, NULL, 0, &manifest, &err));
	TRY(dm_content_write_buffer(cs, "manifest", manifest.json, manifest.len, 0,
				    &(dm_blob_info){0}, &err));
	mdesc = (dm_descriptor){DM_MEDIA_OCI_MANIFEST, manifest.digest, manifest.len};
	TRY(dm_manifest_labels(&cdesc, NULL, 0, &mlabels, &err));
	TRY(dm_labels_set(&held, "dm.test/held", "lease", &err));
	TRY(dm_lease_init(&lease, ns, time(NULL), DM_LEASE_TTL, &err));
	TRY(dm_lease_init(&expired, ns, time(NULL), -3600, &err));

	/* Names first (meta.db sequence), then the backend, then meta.db's records. */
	if (!(tx = dm_metadb_begin(md, true, &err)))
		die("begin");
	TRY(dm_metadb_snapshot_next_seq(tx, ns, sn, &base_seq, &err));
	TRY(dm_metadb_snapshot_next_seq(tx, ns, sn, &child_seq, &err));
	if (!(base_name = dm_snapshot_backend_name(ns, base_seq, "base", &err)) ||
	    !(child_name = dm_snapshot_backend_name(ns, child_seq, "child", &err)) ||
	    !(stx = dm_snapdb_begin(sd, true, &err)))
		die("snapshot names");
	TRY(dm_snapdb_next_id(stx, &base_id, &err));
	TRY(dm_snapdb_next_id(stx, &child_id, &err));
	snapshot_dir(root, sn, base_id, "base.txt");
	snapshot_dir(root, sn, child_id, "child.txt");
	TRY(dm_snapdb_put_committed(stx, base_name, base_id, NULL, 2, 8192, NULL, &err));
	TRY(dm_snapdb_put_committed(stx, child_name, child_id, base_name, 2, 8192, NULL, &err));
	TRY(dm_snapdb_commit(stx, &err));

	TRY(dm_metadb_namespace_create(tx, ns, &err));
	TRY(dm_lease_create(tx, &lease, &err));
	TRY(dm_lease_create(tx, &expired, &err));
	TRY(dm_metadb_blob_put(tx, ns, &leased.digest, leased.size, &held, &err));
	TRY(dm_lease_add_content(tx, &lease, &leased.digest, &err));
	TRY(dm_metadb_blob_put(tx, ns, &gone.digest, gone.size, NULL, &err));
	TRY(dm_lease_add_content(tx, &expired, &gone.digest, &err));
	TRY(dm_metadb_snapshot_put(tx, ns, sn, "base", base_seq, NULL, NULL, &err));
	TRY(dm_metadb_snapshot_put(tx, ns, sn, "child", child_seq, "base", NULL, &err));
	TRY(dm_lease_add_snapshot(tx, &lease, sn, "child", &err));
	TRY(dm_metadb_blob_put(tx, ns, &config.digest, config.size, NULL, &err));
	TRY(dm_metadb_blob_put(tx, ns, &manifest.digest, manifest.len, &mlabels, &err));
	TRY(dm_metadb_image_put(tx, ns, IMAGE_NAME, &mdesc, NULL, &err));
	TRY(dm_metadb_commit(tx, &err));

	printf("LEASE=%s\nEXPIRED_LEASE=%s\nLEASED=%s\nEXPIRED=%s\nCONFIG=%s\nMANIFEST=%s\n"
	       "IMAGE=%s\nBASE_ID=%llu\nCHILD_ID=%llu\n",
	       lease.id, expired.id, leased.digest.s, gone.digest.s, config.digest.s,
	       manifest.digest.s, IMAGE_NAME, (unsigned long long)base_id,
	       (unsigned long long)child_id);
	free(base_name);
	free(child_name);
	dm_manifest_free(&manifest);
	dm_labels_free(&held);
	dm_labels_free(&mlabels);
	dm_lease_free(&lease);
	dm_lease_free(&expired);
	dm_content_store_close(cs);
	dm_snapdb_close(sd);
	dm_metadb_close(md);
	return 0;
}

static int delete_lease(const char *root, const char *ns, const char *id)
{
	dm_metadb *md = dm_metadb_open(root, 0, &err);
	dm_metadb_tx *tx;
	int r;

	if (!md || !(tx = dm_metadb_begin(md, true, &err)))
		die("open");
	if ((r = dm_metadb_lease_delete(tx, ns, id, &err)) < 0)
		die("delete");
	TRY(dm_metadb_commit(tx, &err));
	dm_metadb_close(md);
	if (!r)
		fprintf(stderr, "metadb_tool: no lease %s\n", id);
	return r ? 0 : 1;
}

static int open_only(const char *root)
{
	dm_metadb *md = dm_metadb_open(root, 0, &err);

	if (!md) {
		fprintf(stderr, "metadb_tool: %s\n", err.msg);
		return err.code == DM_METADB_ELOCKED ? 2 : 1;
	}
	dm_metadb_close(md);
	return 0;
}

/* bbolt's rules on a file containerd may have rewritten. */
static void bolt_check(const char *path)
{
	dm_bolt *db = dm_bolt_open(path, DM_BOLT_RDONLY, &err);

	if (!db || dm_bolt_check(db, &err) < 0)
		die(path);
	dm_bolt_close(db);
}

static void print_labels(const dm_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf(" %s=%s", l->v[i].key, l->v[i].value);
}

static int show(const char *root, const char *ns)
{
	dm_metadb *md = dm_metadb_open(root, DM_METADB_RDONLY, &err);
	dm_metadb_tx *tx;
	dm_metadb_names names;

	if (!md)
		die("open");
	bolt_check(dm_metadb_path(md));
	if (!(tx = dm_metadb_begin(md, false, &err)))
		die("begin");
	printf("version %lld\n", (long long)dm_metadb_version(md));
	TRY(dm_metadb_lease_list(tx, ns, &names, &err));
	for (size_t i = 0; i < names.n; i++) {
		dm_metadb_lease l;

		TRY(dm_metadb_lease_get(tx, ns, names.v[i], &l, &err));
		printf("lease %s", names.v[i]);
		print_labels(&l.labels);
		for (size_t j = 0; j < l.content.n; j++)
			printf(" content=%s", l.content.v[j]);
		for (size_t j = 0; j < l.snapshots.n; j++)
			printf(" snapshot=%s", l.snapshots.v[j]);
		printf("\n");
		dm_metadb_lease_free(&l);
	}
	dm_metadb_names_free(&names);
	TRY(dm_metadb_image_list(tx, ns, &names, &err));
	for (size_t i = 0; i < names.n; i++) {
		dm_metadb_image img;

		TRY(dm_metadb_image_get(tx, ns, names.v[i], &img, &err));
		printf("image %s %s %s %llu\n", names.v[i], img.digest, img.media_type,
		       (unsigned long long)img.size);
		dm_metadb_image_free(&img);
	}
	dm_metadb_names_free(&names);
	dm_metadb_rollback(tx);
	dm_metadb_close(md);
	return 0;
}

static int snapshot(const char *root, const char *ns, const char *sn, const char *key)
{
	dm_metadb *md = dm_metadb_open(root, DM_METADB_RDONLY, &err);
	dm_snapdb *sd;
	dm_metadb_tx *tx;
	dm_snapdb_tx *stx;
	uint64_t id;
	int r;

	if (!md || !(sd = dm_snapdb_open(root, sn, DM_METADB_RDONLY, &err)))
		die("open");
	bolt_check(dm_snapdb_path(sd));
	if (!(tx = dm_metadb_begin(md, false, &err)) || !(stx = dm_snapdb_begin(sd, false, &err)))
		die("begin");
	if ((r = dm_snapshot_committed(tx, stx, ns, sn, key, &id, &err)) < 0)
		die(key);
	if (r)
		printf("committed %s id=%llu\n", key, (unsigned long long)id);
	else
		printf("absent %s\n", key);
	dm_snapdb_rollback(stx);
	dm_metadb_rollback(tx);
	dm_snapdb_close(sd);
	dm_metadb_close(md);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "seed") && argc == 5)
		return seed(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "delete-lease") && argc == 5)
		return delete_lease(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "open") && argc == 3)
		return open_only(argv[2]);
	if (!strcmp(cmd, "show") && argc == 4)
		return show(argv[2], argv[3]);
	if (!strcmp(cmd, "snapshot") && argc == 6)
		return snapshot(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: metadb_tool seed|delete-lease|open|show|snapshot ... (see the source)\n");
	return 64;
}
