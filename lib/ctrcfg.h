/* ctrcfg: the two keys of containerd's config.toml that say where the
 * system containerd keeps its store and where it listens: top-level `root`
 * and `[grpc] address` (also written `grpc.address = ...`).
 *
 * Debian 12 packages no C TOML library (only C++ ones: toml11, tomlplusplus,
 * cpptoml), so this is a small strict reader of TOML's syntax: every line
 * must be a comment, a table header ([a.b], [[a]]) or `key = value`, values
 * of any TOML type are skipped by their syntax (strings of the four kinds,
 * arrays and inline tables across lines, bare scalars), and the two keys
 * must be strings (basic or literal) given once.  A file that breaks that is
 * a one-line error "PATH:LINE: ..." rather than a guess: containerd would
 * refuse it too.  A missing file is not an error: containerd's defaults
 * apply (DM_CONTAINERD_ROOT, DM_CONTAINERD_ADDRESS in target.h). */
#ifndef DM_CTRCFG_H
#define DM_CTRCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define DM_CONTAINERD_CONFIG "/etc/containerd/config.toml"
#define DM_CONTAINERD_CONFIG_MAX (1u << 20)

typedef struct dm_containerd_config {
	char *path;       /* the file read */
	bool present;     /* false: no such file */
	char *root;       /* `root`; NULL when not set */
	char *address;    /* `[grpc] address`; NULL when not set */
} dm_containerd_config;

/* Reads path (NULL-safe free with dm_containerd_config_free, also on error). */
int dm_containerd_config_read(const char *path, dm_containerd_config *c, dm_error *err);
/* Parses text (len bytes, no NUL needed) as if read from name (for messages). */
int dm_containerd_config_parse(const char *name, const char *text, size_t len, dm_containerd_config *c,
			       dm_error *err);
void dm_containerd_config_free(dm_containerd_config *c);

#endif
