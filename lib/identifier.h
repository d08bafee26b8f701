/* identifier: the names containerd accepts as identifiers (identifiers/validate.go), which
 * namespaces must be and which we also require of snapshotter names.  A leaf of its own so that
 * the front end, the lease and the meta.db schema check names the same way
 * (doc/containerd-store.md §0). */
#ifndef DM_IDENTIFIER_H
#define DM_IDENTIFIER_H

#include <stdbool.h>

#include "error.h"

/* Longest namespace containerd accepts (identifiers/validate.go). */
#define DM_IDENTIFIER_MAX 76

/* True for [A-Za-z0-9]+ joined by single [._-], at most DM_IDENTIFIER_MAX
 * bytes, and not "version" (a key of meta.db's v1). */
bool dm_identifier_valid(const char *name);

/* 0 when ns is a namespace containerd accepts (dm_identifier_valid); -1 with
 * EINVAL and "'NS' is not a valid containerd namespace" otherwise. */
int dm_namespace_check(const char *ns, dm_error *err);

/* The content store plugin's ID, which is also its directory under containerd's root. */
#define DM_CONTENT_PLUGIN "io.containerd.content.v1.content"

#endif
