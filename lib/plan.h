/* plan: the figures `plan` shows, computed once from a store: how many images
 * and layers a run would migrate, their total size, the layers several images
 * share, the problems found, and the free space a run needs in each copy mode
 * (dm_migrate_space_estimate).  The front end only prints them. */
#ifndef DM_PLAN_H
#define DM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "layerstore.h"
#include "target.h"

typedef struct dm_plan_totals {
	size_t images;             /* in the store */
	size_t images_to_migrate;
	size_t layers_to_migrate;  /* distinct layers of the images to migrate */
	size_t layers_shared;      /* of those, layers used by more than one of them */
	uint64_t layers_size;      /* their recorded sizes; DM_SIZE_MAX when the sum saturates */
	size_t containers;
	size_t not_migrated;       /* problems that keep an item out (st->problems, !warning) */
	size_t warnings;           /* problems reported only (warning) */
	/* Free space a run needs with the snapshotter asked for, by copy mode
	 * (index mode - DM_COPY_REFLINK: reflink, hardlink, copy). */
	uint64_t space_needed[DM_COPY_COPY - DM_COPY_REFLINK + 1];
} dm_plan_totals;

/* Fills t for store st and snapshotter ("overlayfs" or "native"). */
void dm_plan_totals_of(const dm_store *st, const char *snapshotter, dm_plan_totals *t);

/* What `switch` asks before it turns Docker over: has a run completed into
 * target t?  Every tag of every image a run would migrate must name an image
 * record in t's namespace (the names run gives them, lib/image).  Images
 * with no tag (dangling, digest references only) have record names that
 * depend on the manifest a run builds, so they are counted in *unchecked,
 * not looked up.  *missing (malloc'd array of malloc'd names, free with
 * dm_plan_names_free) lists the tags with no record; *checked counts those
 * found.  Reads only. */
int dm_plan_check_migrated(const dm_store *st, dm_target *t, char ***missing, size_t *n_missing,
			   size_t *checked, size_t *unchecked, dm_error *err);
void dm_plan_names_free(char **v, size_t n);

#endif
