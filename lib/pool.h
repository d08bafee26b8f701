/* pool: the one worker pool of libdm.  Runs a function on items 0..n-1 with up to `jobs`
 * threads in all (the caller's among them), each item once, and returns when every item is
 * done.  Threads that cannot be created only make it slower: the caller then does the rest.
 * The function cannot fail: it records its own results (under its own lock, if it shares
 * any). */
#ifndef DM_POOL_H
#define DM_POOL_H

#include <stddef.h>

typedef void (*dm_pool_fn)(void *opaque, size_t item);

/* Calls fn(opaque, i) for every i below n on up to jobs threads (0 means 1). */
void dm_pool_run(size_t n, unsigned jobs, dm_pool_fn fn, void *opaque);

#endif
