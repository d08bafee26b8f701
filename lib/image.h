/* image: what a migrated image consists of on containerd's side, apart from
 * the layer blobs themselves: the platform and DiffIDs read from the Docker
 * config, the OCI manifest (deterministic bytes and digest), the labels each
 * blob record must carry so that containerd's GC keeps the image whole
 * (doc/containerd-store.md §4.3, §8), and the names of the image records
 * (tags, moby-dangling@<manifest digest>, digest references kept as labels).
 * Pure computation: writes nothing. */
#ifndef DM_IMAGE_H
#define DM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "descriptor.h"
#include "digest.h"
#include "error.h"
#include "labels.h"

#define DM_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DM_MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

#define DM_LABEL_GC_CONFIG "containerd.io/gc.ref.content.config"
#define DM_LABEL_GC_LAYER "containerd.io/gc.ref.content.l."   /* + layer index from 0 */
#define DM_LABEL_GC_SNAPSHOT "containerd.io/gc.ref.snapshot." /* + snapshotter name */
#define DM_LABEL_UNCOMPRESSED "containerd.io/uncompressed"
/* + index from 0; value: a digest reference of the source image
 * ("docker.io/library/busybox@sha256:…").  Such a reference cannot name a
 * record, because the manifest written here has another digest than the one
 * the reference promises; the label keeps it on the image's records. */
#define DM_LABEL_DIGEST_REF "io.dockerd-migrate.source-digest-ref."
/* Labels on a migrated snapshot's namespace view: the layer blob made from it,
 * so that a later run can rebuild the manifest without reading the layer. */
#define DM_LABEL_LAYER_DIGEST "io.dockerd-migrate.layer.digest"
#define DM_LABEL_LAYER_SIZE "io.dockerd-migrate.layer.size"
#define DM_LABEL_LAYER_MEDIA "io.dockerd-migrate.layer.mediatype"
#define DM_IMAGE_DANGLING_PREFIX "moby-dangling@"
/* Longest image reference accepted (Docker: 255-byte name + tag or digest). */
#define DM_IMAGE_REF_MAX 512

typedef struct dm_manifest {
	char *json;  /* the blob bytes, NUL-terminated for convenience */
	size_t len;  /* blob size, without the NUL */
	dm_digest digest;
} dm_manifest;

/* Builds the OCI image manifest for config and layers[0..n): compact JSON
 * with Go's field order (schemaVersion, mediaType, config, layers; descriptor
 * mediaType, digest, size) and no annotations, as containerd's tools write it. */
int dm_manifest_build(const dm_descriptor *config, const dm_descriptor *layers, size_t n,
		      dm_manifest *out, dm_error *err);
void dm_manifest_free(dm_manifest *m);

/* Adds the manifest blob's GC labels: DM_LABEL_GC_CONFIG = config digest and
 * DM_LABEL_GC_LAYER<i> = layer i's digest. */
int dm_manifest_labels(const dm_descriptor *config, const dm_descriptor *layers, size_t n,
		       dm_labels *out, dm_error *err);
/* Adds the config blob's GC label DM_LABEL_GC_SNAPSHOT<snapshotter> = ChainID
 * of diff_ids[0..n) (the unpacked top snapshot); nothing for an image without
 * layers.  snapshotter must not contain '/' (GC ignores what follows one). */
int dm_config_labels(const dm_digest *diff_ids, size_t n, const char *snapshotter, dm_labels *out,
		     dm_error *err);
/* Adds a layer blob's DM_LABEL_UNCOMPRESSED = its DiffID (set on every
 * layer, compressed or not, so the record always says what it unpacks to). */
int dm_layer_labels(const dm_digest *diff_id, dm_labels *out, dm_error *err);

/* Record names of one migrated image, and the references that cannot be recorded. */
typedef struct dm_image_names {
	char **v;
	size_t n;
	char **bad;        /* references refused, each failing alone */
	char **bad_reason; /* why, one line each */
	size_t n_bad;
} dm_image_names;

/* True when ref is a digest reference (name@sha256:…), which cannot name a record. */
bool dm_image_ref_is_digest(const char *ref);
/* From all references of one Docker image, fully qualified as moby's
 * ParseNormalizedNamed gives them ("docker.io/library/alpine:3.19"), judged by
 * lib/reference (the parser the store's repositories.json went through): the
 * record names are its tags (duplicates dropped), or moby-dangling@<manifest>
 * when it has no valid tag; each digest reference (any digest the grammar
 * takes: sha256, sha384, sha512) becomes DM_LABEL_DIGEST_REF<i> in labels, in
 * the order given, for every record of the image.  A familiar or malformed
 * reference fails alone: it goes to names->bad with its reason, the others
 * are planned.  -1 only when out of memory. */
int dm_image_names_plan(const char *const *refs, size_t n, const dm_digest *manifest,
			dm_image_names *names, dm_labels *labels, dm_error *err);
void dm_image_names_free(dm_image_names *names);

#endif
