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

#endif
