#include "config.h"
#include "lease_db.h"

#include <stdbool.h>
#include <string.h>

int dm_lease_create(dm_metadb_tx *tx, const dm_lease *l, dm_error *err)
{
	return dm_metadb_lease_create(tx, l->ns, l->id, &l->labels, err);
}

int dm_lease_add_content(dm_metadb_tx *tx, const dm_lease *l, const dm_digest *d, dm_error *err)
{
	return dm_metadb_lease_add_content(tx, l->ns, l->id, d, err);
}

int dm_lease_add_snapshot(dm_metadb_tx *tx, const dm_lease *l, const char *sn, const char *key,
			  dm_error *err)
{
	return dm_metadb_lease_add_snapshot(tx, l->ns, l->id, sn, key, err);
}

int dm_lease_delete(dm_metadb_tx *tx, const dm_lease *l, dm_error *err)
{
	return dm_metadb_lease_delete(tx, l->ns, l->id, err) < 0 ? -1 : 0;
}

int dm_lease_remove_stale(dm_metadb_tx *tx, const char *ns, const char *keep, unsigned *removed,
			  dm_error *err)
{
	dm_metadb_names ids;
	unsigned n = 0;
	int rc = -1;

	if (dm_metadb_lease_list(tx, ns, &ids, err) < 0)
		return -1;
	for (size_t i = 0; i < ids.n; i++) {
		dm_metadb_lease lease;
		bool stale;

		if (dm_metadb_lease_get(tx, ns, ids.v[i], &lease, err) < 0)
			goto out;
		stale = dm_lease_is_stale(ids.v[i], &lease.labels, keep);
		dm_metadb_lease_free(&lease);
		if (!stale)
			continue;
		if (dm_metadb_lease_delete(tx, ns, ids.v[i], err) < 0)
			goto out;
		n++;
	}
	rc = 0;
out:
	if (removed)
		*removed = n;
	dm_metadb_names_free(&ids);
	return rc;
}
