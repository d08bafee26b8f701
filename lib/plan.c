#include "config.h"
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "image.h"
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

void dm_plan_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int dm_plan_check_migrated(const dm_store *st, dm_target *t, char ***missing, size_t *n_missing,
			   size_t *checked, size_t *unchecked, dm_error *err)
{
	/* Tag names do not depend on the manifest; any digest fills its place. */
	static const dm_digest none = {{0}};
	char **miss = NULL;
	size_t n = 0;
	int rc = 0;

	*missing = NULL, *n_missing = 0, *checked = 0, *unchecked = 0;
	for (size_t i = 0; rc == 0 && i < st->n_images; i++) {
		const dm_image *im = &st->images[i];
		dm_image_names names = {0};
		dm_labels labels = DM_LABELS_INIT;

		if (!im->migrate)
			continue;
		if (!im->n_tags) {
			(*unchecked)++;
			continue;
		}
		if (dm_image_names_plan((const char *const *)im->tags, im->n_tags, &none, &names, &labels,
					err) < 0) {
			rc = -1;
			break;
		}
		for (size_t j = 0; rc == 0 && j < names.n; j++) {
			char *digest = NULL, **grown;
			int got = t->ops->image_get(t, names.v[j], &digest, err);

			free(digest);
			if (got < 0) {
				rc = -1;
			} else if (got == 1) {
				(*checked)++;
			} else if (!(grown = realloc(miss, (n + 1) * sizeof *miss)) ||
				   !(grown[n] = strdup(names.v[j]))) {
				if (grown)
					miss = grown;
				rc = dm_err_nomem(err);
			} else {
				miss = grown;
				n++;
			}
		}
		dm_image_names_free(&names);
		dm_labels_free(&labels);
	}
	if (rc < 0) {
		dm_plan_names_free(miss, n);
		return -1;
	}
	*missing = miss, *n_missing = n;
	return 0;
}
