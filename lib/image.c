#include "config.h"
#include "image.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

/* The manifest is printed without escaping, so its strings are restricted to
 * characters JSON (and Go's encoder, which escapes & < >) leaves alone. */
static int check_descriptor(const dm_descriptor *d, const char *what, dm_error *err)
{
	const char *m = d->media_type;

	if (!m || !*m || strlen(m) > 255 ||
	    strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_/") !=
		    strlen(m))
		return dm_err_set(err, EINVAL, "%s: media type \"%.100s\" is not a plain token", what,
				  m ? m : "");
	if (!dm_digest_valid(d->digest.s))
		return dm_err_set(err, EINVAL, "%s: invalid digest", what);
	if (d->size > INT64_MAX)
		return dm_err_set(err, EINVAL, "%s: size %" PRIu64 " out of range", what, d->size);
	return 0;
}

static void print_descriptor(FILE *f, const dm_descriptor *d)
{
	fprintf(f, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%" PRIu64 "}", d->media_type,
		d->digest.s, d->size);
}

int dm_manifest_build(const dm_descriptor *config, const dm_descriptor *layers, size_t n,
		      dm_manifest *out, dm_error *err)
{
	char what[64];
	size_t len;
	FILE *f;

	memset(out, 0, sizeof *out);
	if (check_descriptor(config, "manifest config", err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof what, "manifest layer %zu", i);
		if (check_descriptor(&layers[i], what, err) < 0)
			return -1;
	}
	if (!(f = open_memstream(&out->json, &len)))
		return dm_err_sys(err, "manifest");
	fputs("{\"schemaVersion\":2,\"mediaType\":\"" DM_MEDIA_OCI_MANIFEST "\",\"config\":", f);
	print_descriptor(f, config);
	fputs(",\"layers\":[", f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		print_descriptor(f, &layers[i]);
	}
	fputs("]}", f);
	if (ferror(f) | fclose(f)) {
		dm_err_sys(err, "manifest");
		free(out->json);
		out->json = NULL;
		return -1;
	}
	out->len = len;
	dm_sha256_buf(out->json, out->len, &out->digest);
	return 0;
}

void dm_manifest_free(dm_manifest *m)
{
	free(m->json);
	memset(m, 0, sizeof *m);
}

int dm_manifest_labels(const dm_descriptor *config, const dm_descriptor *layers, size_t n,
		       dm_labels *out, dm_error *err)
{
	char key[sizeof DM_LABEL_GC_LAYER + 24];

	if (dm_labels_set(out, DM_LABEL_GC_CONFIG, config->digest.s, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof key, DM_LABEL_GC_LAYER "%zu", i);
		if (dm_labels_set(out, key, layers[i].digest.s, err) < 0)
			return -1;
	}
	return 0;
}

int dm_config_labels(const dm_digest *diff_ids, size_t n, const char *snapshotter, dm_labels *out,
		     dm_error *err)
{
	char key[sizeof DM_LABEL_GC_SNAPSHOT + 64];
	dm_digest chain, next;

	if (!*snapshotter || strlen(snapshotter) > 63 || strchr(snapshotter, '/'))
		return dm_err_set(err, EINVAL, "snapshotter name \"%.100s\": want 1..63 bytes, no '/'",
				  snapshotter);
	if (!n)
		return 0;
	dm_chain_id(NULL, &diff_ids[0], &chain);
	for (size_t i = 1; i < n; i++) {
		dm_chain_id(&chain, &diff_ids[i], &next);
		chain = next;
	}
	snprintf(key, sizeof key, DM_LABEL_GC_SNAPSHOT "%s", snapshotter);
	return dm_labels_set(out, key, chain.s, err);
}

int dm_layer_labels(const dm_digest *diff_id, dm_labels *out, dm_error *err)
{
	return dm_labels_set(out, DM_LABEL_UNCOMPRESSED, diff_id->s, err);
}

bool dm_image_ref_is_digest(const char *ref)
{
	return strchr(ref, '@') != NULL;
}

/* Fully qualified, as moby's normalisation leaves it (what lib/reference's parse gives back
 * unchanged), with a tag or a digest. */
static int check_ref(const char *ref, dm_error *err)
{
	char norm[DM_REF_STR_MAX + 1];
	dm_reference r;

	if (strlen(ref) > DM_IMAGE_REF_MAX)
		return dm_err_set(err, EINVAL, "image reference \"%.100s\": longer than %d bytes", ref,
				  DM_IMAGE_REF_MAX);
	if (dm_ref_parse(ref, &r, err) < 0)
		return -1;
	if (!r.tag[0] && !r.digest[0])
		return dm_err_set(err, EINVAL, "image reference \"%.100s\": no tag", ref);
	if (strcmp(dm_ref_string(&r, norm), ref) != 0)
		return dm_err_set(err, EINVAL, "image reference \"%.100s\": not fully qualified (want %.200s)",
				  ref, norm);
	return 0;
}

/* Appends a copy of s to *v (of *n); -1 when out of memory. */
static int push_str(char ***v, size_t *n, const char *s, dm_error *err)
{
	char **p;

	if (!(p = realloc(*v, (*n + 1) * sizeof *p)))
		goto nomem;
	*v = p;
	if (!(p[*n] = strdup(s)))
		goto nomem;
	(*n)++;
	return 0;
nomem:
	dm_err_nomem(err);
	return dm_err_prefix(err, "image name %s: ", s);
}

static int add_name(dm_image_names *names, const char *name, dm_error *err)
{
	return push_str(&names->v, &names->n, name, err);
}

/* A reference that cannot be recorded: it fails alone, with its reason. */
static int add_bad(dm_image_names *names, const char *ref, const char *why, dm_error *err)
{
	size_t n = names->n_bad;

	if (push_str(&names->bad, &n, ref, err) < 0)
		return -1;
	n = names->n_bad;
	if (push_str(&names->bad_reason, &n, why, err) < 0) {
		free(names->bad[names->n_bad]);
		return -1;
	}
	names->n_bad++;
	return 0;
}

int dm_image_names_plan(const char *const *refs, size_t n, const dm_digest *manifest,
			dm_image_names *names, dm_labels *labels, dm_error *err)
{
	char key[sizeof DM_LABEL_DIGEST_REF + 24];
	char dangling[sizeof DM_IMAGE_DANGLING_PREFIX + DM_DIGEST_STRLEN];
	size_t ndigest = 0;

	memset(names, 0, sizeof *names);
	for (size_t i = 0; i < n; i++) {
		dm_error why = {0};
		bool seen = false;

		if (check_ref(refs[i], &why) < 0) {
			if (add_bad(names, refs[i], why.msg, err) < 0)
				goto fail;
			continue;
		}
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(refs[j], refs[i]) == 0;
		if (seen)
			continue;
		if (!dm_image_ref_is_digest(refs[i])) {
			if (add_name(names, refs[i], err) < 0)
				goto fail;
			continue;
		}
		snprintf(key, sizeof key, DM_LABEL_DIGEST_REF "%zu", ndigest++);
		if (dm_labels_set(labels, key, refs[i], err) < 0)
			goto fail;
	}
	if (names->n)
		return 0;
	snprintf(dangling, sizeof dangling, DM_IMAGE_DANGLING_PREFIX "%s", manifest->s);
	if (add_name(names, dangling, err) == 0)
		return 0;
fail:
	dm_image_names_free(names);
	return -1;
}

void dm_image_names_free(dm_image_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
	for (size_t i = 0; i < names->n_bad; i++) {
		free(names->bad[i]);
		free(names->bad_reason[i]);
	}
	free(names->v);
	free(names->bad);
	free(names->bad_reason);
	memset(names, 0, sizeof *names);
}
