#include "config.h"
#include "plan.h"

#include <string.h>

#include "migrate.h"
#include "sizes.h"

void dm_plan_totals_of(const dm_store *st, const char *snapshotter, dm_plan_totals *t)
{
	memset(t, 0, sizeof *t);
	t->images = st->n_images;
	for (size_t i = 0; i < st->n_images; i++)
		t->images_to_migrate += st->images[i].migrate;
	for (size_t i = 0; i < st->n_layers; i++) {
		const dm_layer *l = &st->layers[i];

		if (!l->migrate_refs)
			continue;
		t->layers_to_migrate++;
		t->layers_size = dm_size_add(t->layers_size, dm_size_of(l->size));
		if (l->migrate_refs > 1)
			t->layers_shared++;
	}
	t->containers = st->n_containers;
	for (size_t i = 0; i < st->n_problems; i++) {
		if (st->problems[i].warning)
			t->warnings++;
		else
			t->not_migrated++;
	}
	for (enum dm_copy_mode m = DM_COPY_REFLINK; m <= DM_COPY_COPY; m++)
		t->space_needed[m - DM_COPY_REFLINK] = dm_migrate_space_estimate(st, snapshotter, m);
}
