/* fuzz_config: libFuzzer target for dm_image_config_parse (lib/layerstore, on
 * lib/json) on any bytes, as Docker's imagedb/content files hold them.
 * Nothing may crash; a config it accepts has sha256 DiffIDs, and yields the
 * config blob's GC label. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "image.h"
#include "layerstore.h"

FUZZ_ENTRY(config)(const uint8_t *data, size_t size)
{
	dm_image_config c;
	dm_labels labels = DM_LABELS_INIT;
	dm_error err = {0};

	fuzz_accepted = dm_image_config_parse((const char *)data, size, "sha256:fuzz", &c, &err) == 0;
	if (!fuzz_accepted) {
		if ((err.code != EINVAL && err.code != ENOMEM) || strncmp(err.msg, "sha256:fuzz: ", 13))
			fuzz_broken("refused with code %d: \"%s\"", err.code, err.msg);
		return 0;
	}
	if (c.n_diff_ids > DM_MAX_LAYER_DEPTH)
		fuzz_broken("%zu diff_ids accepted", c.n_diff_ids);
	for (size_t i = 0; i < c.n_diff_ids; i++)
		if (strncmp(c.diff_ids[i].s, "sha256:", 7) || strlen(c.diff_ids[i].s) != 71)
			fuzz_broken("diff_ids[%zu] is \"%s\"", i, c.diff_ids[i].s);
	if (dm_config_labels(c.diff_ids, c.n_diff_ids, "overlayfs", &labels, &err) < 0)
		fuzz_broken("no GC label for an accepted config: %s", err.msg);
	dm_labels_free(&labels);
	dm_image_config_free(&c);
	return 0;
}
