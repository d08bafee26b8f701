/* descriptor: the plain description of a content blob that both sides of the
 * target share: what a manifest lists and an image record points at
 * (dm_descriptor), and what writing a blob produced (dm_blob_info).  Data
 * only, no functions: image, content, metadb and every target backend use it
 * without depending on one another. */
#ifndef DM_DESCRIPTOR_H
#define DM_DESCRIPTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"

/* A content descriptor: media_type must be a plain token (letters, digits, . + - _ /). */
typedef struct dm_descriptor {
	const char *media_type;
	dm_digest digest;
	uint64_t size;
} dm_descriptor;

/* What a blob commit produced: the values the blob's record needs. */
typedef struct dm_blob_info {
	dm_digest digest;
	uint64_t size;
	bool existed;  /* the store already held it (checked); the new bytes were discarded */
} dm_blob_info;

#endif
