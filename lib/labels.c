#include "config.h"
#include "labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Index of key if present, else the insertion point, with *found set. */
static size_t find(const dm_labels *l, const char *key, int *found)
{
	size_t lo = 0, hi = l->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].key, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int dm_labels_set(dm_labels *l, const char *key, const char *value, dm_error *err)
{
	size_t klen = strlen(key), vlen = strlen(value), at;
	char *k, *v;
	int found;

	if (!klen || !vlen)
		return dm_err_set(err, EINVAL, "label \"%.200s\": empty %s", key,
				  klen ? "value" : "key");
	if (klen + vlen > DM_LABEL_MAX)
		return dm_err_set(err, EINVAL, "label \"%.200s\": key and value are %zu bytes (max %d)",
				  key, klen + vlen, DM_LABEL_MAX);
	at = find(l, key, &found);
	if (!(v = strdup(value))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "label \"%.200s\": ", key);
	}
	if (found) {
		free(l->v[at].value);
		l->v[at].value = v;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		dm_label *nv = realloc(l->v, cap * sizeof *nv);

		if (!nv) {
			free(v);
			dm_err_nomem(err);
			return dm_err_prefix(err, "label \"%.200s\": ", key);
		}
		l->v = nv;
		l->cap = cap;
	}
	if (!(k = strdup(key))) {
		free(v);
		dm_err_nomem(err);
		return dm_err_prefix(err, "label \"%.200s\": ", key);
	}
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
	l->v[at].key = k;
	l->v[at].value = v;
	l->n++;
	return 0;
}

const char *dm_labels_get(const dm_labels *l, const char *key)
{
	int found;
	size_t at = find(l, key, &found);

	return found ? l->v[at].value : NULL;
}

void dm_labels_free(dm_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
