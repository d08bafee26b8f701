/* labels: a small key → value list, the shape containerd gives the labels of
 * content blobs, images, snapshots and leases.  image builds the GC labels
 * with it; the meta.db writer stores them.  Kept sorted by key (bytewise), the
 * order bolt needs, so iterating gives the bucket order directly. */
#ifndef DM_LABELS_H
#define DM_LABELS_H

#include <stddef.h>

#include "error.h"

/* containerd's API rejects a label whose key and value together exceed this
 * (labels/validate.go); a record holding one could not be updated later. */
#define DM_LABEL_MAX 4096

typedef struct dm_label {
	char *key;
	char *value;
} dm_label;

typedef struct dm_labels {
	dm_label *v;  /* sorted by key, unique keys */
	size_t n;
	size_t cap;
} dm_labels;

/* An empty list; needs no dm_labels_free while empty. */
#define DM_LABELS_INIT {NULL, 0, 0}

/* Sets key to value, replacing an existing value.  Empty keys or values and
 * pairs over DM_LABEL_MAX bytes are refused (EINVAL): containerd never stores
 * empty values and refuses long ones. */
int dm_labels_set(dm_labels *l, const char *key, const char *value, dm_error *err);
/* The value of key, or NULL. */
const char *dm_labels_get(const dm_labels *l, const char *key);
/* Frees all entries and leaves l empty and reusable. */
void dm_labels_free(dm_labels *l);

#endif
