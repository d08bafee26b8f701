#include "config.h"
#include "target.h"

int dm_target_blob_sink(void *blob, const void *buf, size_t len, dm_error *err)
{
	dm_target_blob *b = blob;

	return b->t->ops->blob_write(b, buf, len, err);
}

void dm_target_close(dm_target *t)
{
	if (t)
		t->ops->close(t);
}
