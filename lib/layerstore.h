/* layerstore: read-only model of Docker's legacy image store (<root>/image/<driver>, graphdrivers
 * overlay2, vfs, btrfs and fuse-overlayfs): images, tags, layers and containers, which images must be migrated and why
 * the others are not, and each layer's exact tar stream (via tarsplit).  The on-disk format:
 * doc/legacy-store.md (§1-§6, which images are migrated: §8).
 *
 * dm_store_open fails only when the store as a whole cannot be trusted: no image/<driver> tree,
 * an ambiguous or unsupported driver, an unreadable directory, or a repositories.json that exists
 * but is not valid JSON of the right shape (dockerd itself refuses to start then, and going on
 * would silently drop every tag).  Any other damage (a bad config, a broken layer chain, a missing
 * driver directory or tar-split) marks that image or layer as not migratable with a one-line
 * reason naming the file, and is also listed in store->problems.
 *
 * Every struct below is filled by dm_store_open and read-only for callers; arrays are sorted
 * (images by id, layers by chain ID, containers by id, names lexically) so output is stable.
 * A store may be read from several threads at once. */
#ifndef DM_LAYERSTORE_H
#define DM_LAYERSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "digest.h"
#include "error.h"
#include "sink.h"
#include "tarsplit.h"

/* moby's maxLayerDepth: deeper chains are refused. */
#define DM_MAX_LAYER_DEPTH 125

/* Where a layer's files live (doc/legacy-store.md §1): overlay2/<cache-id>/diff and
 * fuse-overlayfs/<cache-id>/diff hold only the layer's changes (deletions as whiteouts, in overlay
 * form for overlay2 and in AUFS form, empty .wh.<name> files, for fuse-overlayfs), vfs/dir/<cache-id>
 * and btrfs/subvolumes/<cache-id> the full tree.  Either way tar-split reads the layer's files
 * from that one directory; the stream does not depend on the form. */
typedef enum dm_driver { DM_DRIVER_OVERLAY2, DM_DRIVER_VFS, DM_DRIVER_BTRFS, DM_DRIVER_FUSE_OVERLAYFS } dm_driver;

typedef struct dm_layer dm_layer;

/* One layerdb/sha256/<chain> entry.  Digests are "" (s[0] == '\0') when absent or unreadable. */
struct dm_layer {
	dm_digest chain_id;
	dm_digest diff_id;
	dm_digest parent_id;     /* "" for a bottom layer */
	const dm_layer *parent;  /* NULL at the bottom or when parent_id is not in the store */
	char *cache_id;          /* NULL when unreadable or unsafe */
	char *dir;               /* the layer's directory (see dm_driver); may be NULL */
	char *tarsplit_path;     /* <layerdb>/sha256/<hex>/tar-split.json.gz */
	int64_t size;            /* the `size` file: informational only */
	unsigned depth;          /* 1 at the bottom; 0 when the chain is broken */
	unsigned refcount;       /* images (in any state) whose layer chain includes it */
	unsigned migrate_refs;   /* of those, images that will be migrated */
	bool usable;             /* its stream can be rebuilt: files, chain and driver dir present */
	char *reason;            /* why not usable (one line naming the file); NULL when usable */
};

/* What the migration needs from a Docker image config. */
typedef struct dm_image_config {
	char *os, *arch, *variant; /* NULL when absent or null */
	dm_digest *diff_ids;       /* rootfs.diff_ids, bottom first; NULL when none */
	size_t n_diff_ids;
} dm_image_config;

/* Parses the exact bytes of an image config (buf[0..len)) as moby's image.NewFromJSON takes
 * them: one JSON object (lib/json's rules) with a rootfs object whose type, if present, is
 * "layers" and whose diff_ids are at most DM_MAX_LAYER_DEPTH sha256 digests in exact form;
 * os, architecture and variant are strings without NUL bytes when present.  The store judges
 * every image by it.  Errors are EINVAL (ENOMEM) and start "what: "; out is then empty. */
int dm_image_config_parse(const char *buf, size_t len, const char *what, dm_image_config *out,
			  dm_error *err);
void dm_image_config_free(dm_image_config *c);

typedef enum dm_image_state {
	DM_IMAGE_MIGRATE,      /* tagged, digest-referenced, or a dangling head */
	DM_IMAGE_BUILD_CACHE,  /* no reference and has children: a legacy-builder intermediate */
	DM_IMAGE_UNSUPPORTED,  /* config os is not linux */
	DM_IMAGE_BROKEN,       /* config or layer chain unusable (see reason) */
} dm_image_state;

typedef struct dm_image {
	dm_digest id;              /* sha256 of the config bytes */
	char *config_path;         /* imagedb/content/sha256/<hex>: copy these bytes, never re-serialise */
	char *config;              /* those bytes as read and checked against id (config_size of them);
				    * NULL when unreadable: what run writes as the config blob */
	uint64_t config_size;
	dm_digest *diff_ids;       /* rootfs.diff_ids, bottom first */
	dm_layer **layers;         /* the layer for each diff_id; an entry is NULL when missing */
	size_t n_layers;
	char **tags;               /* normalised "docker.io/library/busybox:latest", sorted */
	size_t n_tags;
	char **digests;            /* normalised "docker.io/library/busybox@sha256:…", sorted */
	size_t n_digests;
	dm_digest parent;          /* imagedb/metadata parent; "" when none */
	unsigned n_children;       /* valid images whose parent is this one */
	bool head;                 /* valid and no children (moby's Heads()) */
	bool dangling;             /* no tag and no digest reference */
	char *os, *arch, *variant; /* from the config; NULL when absent */
	uint64_t size;             /* sum of the layers' `size`, saturating at DM_SIZE_MAX (sizes.h) */
	dm_image_state state;
	bool migrate;              /* state == DM_IMAGE_MIGRATE */
	char *reason;              /* why not migrated; NULL when migrate */
} dm_image;

/* A container's RW layer (layerdb/mounts/<id>) and what its config says; run --containers
 * migrates it (lib/container). */
typedef struct dm_container {
	char *id;
	dm_digest image;         /* containers/<id>/config.v2.json "Image"; "" when unknown */
	char *name;              /* its "Name" ("/web"); NULL when unknown */
	char *driver;            /* its "Driver" ("overlay2"; a snapshotter once migrated); NULL when unknown */
	bool has_config;         /* config.v2.json was read and parsed */
	bool running, paused, restarting; /* its "State" flags */
	char *mount_id;          /* NULL when unreadable */
	char *init_id;           /* NULL when absent */
	dm_digest parent_id;     /* chain ID of the image's top layer; "" when none */
	const dm_layer *parent;  /* NULL when none or not in the store */
	char *reason;            /* what is inconsistent about it; NULL when nothing */
} dm_container;

typedef enum dm_item_kind {
	DM_ITEM_IMAGE,
	DM_ITEM_LAYER,
	DM_ITEM_CONTAINER,
	DM_ITEM_REFERENCE,  /* a repositories.json entry that could not be used */
} dm_item_kind;

/* Something that will not be migrated, or a store inconsistency, with a one-line reason. */
typedef struct dm_problem {
	dm_item_kind kind;
	char *id;      /* image ID, chain ID, container ID or reference string */
	char *reason;
	bool warning;  /* the item is still migrated: this only reports an inconsistency */
} dm_problem;

typedef struct dm_store {
	char *root;               /* the docker data-root as given */
	dm_driver driver;
	char *image_dir;          /* <root>/image/<driver> */
	dm_image *images;
	size_t n_images;
	dm_layer *layers;
	size_t n_layers;
	dm_container *containers;
	size_t n_containers;
	dm_problem *problems;     /* images, then layers, containers, references; each sorted by id */
	size_t n_problems;
	int home_fd;              /* private: O_PATH fd of the driver's layer directories' parent */
	int image_fd;             /* private: fd of image/<driver>, what the tar-splits are opened beneath */
} dm_store;

/* "overlay2", "vfs", "btrfs" or "fuse-overlayfs": Docker's own name, also image/<name>. */
const char *dm_driver_name(dm_driver driver);

/* 0 and *out for a driver name dm_driver_name gives, -1 for any other. */
int dm_driver_lookup(const char *name, dm_driver *out);

/* Reads the store under docker_root.  driver (a dm_driver_name) may be NULL to detect it from
 * docker_root/image/<driver>.  Returns 0 and *out (free with dm_store_close), or -1. */
int dm_store_open(const char *docker_root, const char *driver, dm_store **out, dm_error *err);

/* Frees everything dm_store_open allocated; NULL is allowed. */
void dm_store_close(dm_store *store);

/* The image whose id is "sha256:<hex>", or NULL. */
const dm_image *dm_store_image(const dm_store *store, const char *id);

/* The layer with that chain ID, or NULL. */
const dm_layer *dm_store_layer(const dm_store *store, const char *chain_id);

/* Called for every entry below a layer directory, parents before their children: rel is the
 * path below the layer root ("a/b"), st its lstat.  0 goes on, -1 (with err set) stops. */
typedef int (*dm_layer_walk_fn)(void *opaque, const char *rel, const struct stat *st, dm_error *err);

/* A layer's tar stream being read (through lib/tarsplit), pulled piece by piece. */
typedef struct dm_layer_reader dm_layer_reader;

/* Opens layer's directory and tar-split; NULL with err set (no chain ID prefix: the caller
 * names the layer once). */
dm_layer_reader *dm_layer_reader_open(const dm_store *store, const dm_layer *layer, dm_error *err);
/* The next piece: 1 with *buf and *len, 0 at the end, -1.  reader is a dm_layer_reader (void * so
 * that this can serve as a pull source, see apply.h's dm_source_fn). */
int dm_layer_reader_read(void *reader, const void **buf, size_t *len, dm_error *err);
/* Walks the layer directory the reader reads from (the very one it opened, following no
 * symlink), for callers that compare it with what the stream wrote.  The driver's own form of a
 * deletion, which the stream carries as a .wh. entry, is not passed to cb: 0:0 character devices
 * (overlay2, fuse-overlayfs) and empty regular .wh.* files (fuse-overlayfs, AUFS form). */
int dm_layer_reader_walk(dm_layer_reader *reader, dm_layer_walk_fn cb, void *opaque, dm_error *err);
/* dm_tarsplit_on_file for the layer's stream. */
void dm_layer_reader_on_file(dm_layer_reader *reader, dm_tarsplit_file_fn fn, void *opaque);
/* After read returned 0: the stream's stats (may be NULL), and EBADMSG unless it matched the
 * layer's DiffID.  Until then no byte read may be trusted. */
int dm_layer_reader_finish(dm_layer_reader *reader, dm_tarsplit_stats *stats, dm_error *err);
/* Releases reader (NULL is fine). */
void dm_layer_reader_close(dm_layer_reader *reader);



/* Rebuilds layer's tar stream into sink (NULL: verify only) and checks it against its DiffID;
 * stats may be NULL.  Errors are prefixed with the layer's chain ID.  Thread-safe. */
int dm_layer_stream(const dm_store *store, const dm_layer *layer, dm_sink_fn sink, void *opaque,
                    dm_tarsplit_stats *stats, dm_error *err);

/* Called once per layer by dm_store_verify, never concurrently: ok is true when the stream
 * matched; otherwise err says why, without naming the layer, which is the callback's argument
 * (stats is NULL when the layer was not usable at all). */
typedef void (*dm_verify_fn)(void *opaque, const dm_layer *layer, bool ok, const dm_error *err,
                             const dm_tarsplit_stats *stats);

/* Rebuilds every layer of the store with up to jobs threads (0 means 1).  cb is called in
 * store->layers order whatever order the threads finish in, so output is stable; unusable layers
 * are reported as failures without being read.  Returns the number of layers that failed. */
size_t dm_store_verify(const dm_store *store, unsigned jobs, dm_verify_fn cb, void *opaque);

#endif
