/* boltwalk: walks every bucket of a bolt file through lib/bolt's public API,
 * for the test programs (bolttool, the fuzz target, the crash test).  Each
 * walk also cross-checks the reader against itself: keys come in strictly
 * ascending order, and looking a key up (get, bucket_get, cursor seek) finds
 * what the cursor showed.  A disagreement is reported as DM_BOLT_ECORRUPT. */
#ifndef DM_TESTS_BOLTWALK_H
#define DM_TESTS_BOLTWALK_H

#include <stdio.h>

#include "bolt.h"

/* Called for every key; sub is the opened sub-bucket when kv is one, else NULL.
 * A non-zero return stops the walk and is returned by bw_walk. */
typedef int (*bw_visit_fn)(void *ctx, int depth, const dm_bolt_kv *kv, dm_bolt_bucket *sub,
			   dm_error *err);

/* Visits b's keys in order, descending into each sub-bucket right after visiting
 * its key; depth is 0 for b's own keys.  visit may be NULL (checks only). */
int bw_walk(dm_bolt_bucket *b, int depth, bw_visit_fn visit, void *ctx, dm_error *err);

/* Prints bytes like bbolt's boltcheck: "quoted" when they are valid UTF-8
 * without control characters (" and \ escaped), else 0x and lowercase hex. */
void bw_print_bytes(FILE *f, const void *p, size_t n);

/* Prints every bucket, key and value of tx exactly as `boltcheck -dump` does. */
int bw_dump(dm_bolt_tx *tx, FILE *f, dm_error *err);

#endif
