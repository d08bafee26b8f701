/* sizes: sums of byte counts that cannot wrap.  The sizes a store records
 * (a layer's `size` file holds up to INT64_MAX) are the data's word, not
 * facts: added with plain `+`, a few large ones wrap to a small total, which
 * plan prints as a negative size and a free-space check lets through.
 * dm_size_add saturates at DM_SIZE_MAX instead, so a total is never smaller
 * than any of its parts and a check against it refuses. */
#ifndef DM_SIZES_H
#define DM_SIZES_H

#include <stdint.h>

/* A saturated total: more bytes than any disk holds. */
#define DM_SIZE_MAX UINT64_MAX

/* a + b, or DM_SIZE_MAX when that does not fit. */
static inline uint64_t dm_size_add(uint64_t a, uint64_t b)
{
	uint64_t sum;

	return __builtin_add_overflow(a, b, &sum) ? DM_SIZE_MAX : sum;
}

/* A recorded int64 size as a byte count: negative (unknown) counts as 0. */
static inline uint64_t dm_size_of(int64_t size)
{
	return size > 0 ? (uint64_t)size : 0;
}

#endif
