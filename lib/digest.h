/* digest: sha256 content digests in Docker/OCI text form ("sha256:<64 hex>")
 * and the ChainID rule shared by Docker's layer store and containerd's
 * snapshots.  Wraps nettle so no other module touches the hash API. */
#ifndef DM_DIGEST_H
#define DM_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <nettle/sha2.h>

#include "error.h"

#define DM_DIGEST_PREFIX "sha256:"
#define DM_DIGEST_HEXLEN 64
#define DM_DIGEST_STRLEN (7 + DM_DIGEST_HEXLEN)

/* A digest as text, always "sha256:" followed by 64 lowercase hex digits. */
typedef struct dm_digest {
	char s[DM_DIGEST_STRLEN + 1];
} dm_digest;

/* Incremental sha256 over a byte stream. */
typedef struct dm_sha256 {
	struct sha256_ctx ctx;
} dm_sha256;

void dm_sha256_init(dm_sha256 *h);
void dm_sha256_update(dm_sha256 *h, const void *data, size_t len);
/* Finishes the hash into out; h must be re-initialised before reuse. */
void dm_sha256_final(dm_sha256 *h, dm_digest *out);
/* One-shot digest of a buffer. */
void dm_sha256_buf(const void *data, size_t len, dm_digest *out);

/* True when s is exactly "sha256:" + 64 lowercase hex digits. */
bool dm_digest_valid(const char *s);
/* True when the len bytes at s are 64 lowercase hex digits (a bare digest, as in directory names). */
bool dm_digest_hex_valid(const char *s, size_t len);
/* Parses len bytes (surrounding whitespace trimmed, as moby does) into out; what names the source
 * (a file path) for the error message. */
int dm_digest_parse(const char *s, size_t len, dm_digest *out, const char *what, dm_error *err);
/* The 64 hex digits of d. */
static inline const char *dm_digest_hex(const dm_digest *d) { return d->s + 7; }

/* ChainID of a layer: diff itself at the bottom (parent == NULL), otherwise
 * sha256 of the text "<parent chain> <diff>". out may alias neither input. */
void dm_chain_id(const dm_digest *parent, const dm_digest *diff, dm_digest *out);

#endif
