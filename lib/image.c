#include "config.h"
#include "image.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

/* Deep enough for any real config (a few levels); bounds json-c's recursion. */
#define CONFIG_MAX_DEPTH 64

/* Copies optional string member key of obj into *out ("" when absent or null). */
static int opt_string(json_object *obj, const char *key, char **out, const char *what,
		      dm_error *err)
{
	json_object *v = NULL;
	const char *s = "";

	if (json_object_object_get_ex(obj, key, &v) && v) {
		if (!json_object_is_type(v, json_type_string))
			return dm_err_set(err, EINVAL, "config %s: %s is not a string", what, key);
		s = json_object_get_string(v);
		if (strlen(s) != (size_t)json_object_get_string_len(v))
			return dm_err_set(err, EINVAL, "config %s: %s contains a NUL byte", what, key);
	}
	if (!(*out = strdup(s))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "config %s: ", what);
	}
	return 0;
}

static int parse_rootfs(json_object *root, const char *what, dm_image_config *out, dm_error *err)
{
	json_object *rootfs = NULL, *type = NULL, *ids = NULL;
	size_t n;

	/* moby's rule (image.NewFromJSON): no rootfs, or a null one, is an invalid image. */
	if (!json_object_object_get_ex(root, "rootfs", &rootfs) || !rootfs)
		return dm_err_set(err, EINVAL, "config %s: no rootfs", what);
	if (!json_object_is_type(rootfs, json_type_object))
		return dm_err_set(err, EINVAL, "config %s: rootfs is not an object", what);
	if (json_object_object_get_ex(rootfs, "type", &type) && type &&
	    (!json_object_is_type(type, json_type_string) ||
	     strcmp(json_object_get_string(type), "layers") != 0))
		return dm_err_set(err, EINVAL, "config %s: rootfs.type is %.100s, want \"layers\"",
				  what, json_object_to_json_string_ext(type, JSON_C_TO_STRING_PLAIN));
	/* Docker omits diff_ids for an image without layers (omitempty). */
	if (!json_object_object_get_ex(rootfs, "diff_ids", &ids) || !ids)
		return 0;
	if (!json_object_is_type(ids, json_type_array))
		return dm_err_set(err, EINVAL, "config %s: rootfs.diff_ids is not an array", what);
	n = json_object_array_length(ids);
	if (n && !(out->diff_ids = calloc(n, sizeof *out->diff_ids))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "config %s: ", what);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(ids, i);
		char pos[160];

		snprintf(pos, sizeof pos, "config %.100s: rootfs.diff_ids[%zu]", what, i);
		if (!json_object_is_type(e, json_type_string))
			return dm_err_set(err, EINVAL, "%s: not a string", pos);
		/* Exact form only: moby's digest.Parse takes no surrounding space. */
		if (!dm_digest_valid(json_object_get_string(e)) ||
		    json_object_get_string_len(e) != DM_DIGEST_STRLEN)
			return dm_err_set(err, EINVAL, "%s: not a sha256 digest", pos);
		memcpy(out->diff_ids[i].s, json_object_get_string(e), DM_DIGEST_STRLEN + 1);
		out->n_diff_ids = i + 1;
	}
	return 0;
}

int dm_image_config_parse(const void *buf, size_t len, const char *what, dm_image_config *out,
			  dm_error *err)
{
	json_tokener *tok;
	json_object *root;
	enum json_tokener_error jerr;
	size_t end;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (len > INT32_MAX)
		return dm_err_set(err, EINVAL, "config %s: %zu bytes is too large", what, len);
	if (!(tok = json_tokener_new_ex(CONFIG_MAX_DEPTH))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "config %s: ", what);
	}
	/* Strict also refuses anything but whitespace after the value, as Go does. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root) {
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			dm_err_set(err, EINVAL, "config %s: truncated JSON (%zu bytes)", what, len);
		else
			dm_err_set(err, EINVAL, "config %s: invalid JSON at byte %zu: %s", what, end,
				   json_tokener_error_desc(jerr));
		return -1;
	}
	/* json-c stops at a NUL byte; Go would call it data after the value. */
	for (const char *p = (const char *)buf + end; p < (const char *)buf + len; p++)
		if (!*p || !strchr(" \t\r\n", *p)) {
			dm_err_set(err, EINVAL, "config %s: data after the JSON value at byte %zu",
				   what, (size_t)(p - (const char *)buf));
			goto out;
		}
	if (!json_object_is_type(root, json_type_object)) {
		dm_err_set(err, EINVAL, "config %s: not a JSON object", what);
		goto out;
	}
	if (opt_string(root, "os", &out->os, what, err) < 0 ||
	    opt_string(root, "architecture", &out->architecture, what, err) < 0 ||
	    opt_string(root, "variant", &out->variant, what, err) < 0 ||
	    parse_rootfs(root, what, out, err) < 0)
		goto out;
	rc = 0;
out:
	json_object_put(root);
	if (rc < 0)
		dm_image_config_free(out);
	return rc;
}

void dm_image_config_free(dm_image_config *c)
{
	free(c->os);
	free(c->architecture);
	free(c->variant);
	free(c->diff_ids);
	memset(c, 0, sizeof *c);
}

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

int dm_config_labels(const dm_image_config *c, const char *snapshotter, dm_labels *out,
		     dm_error *err)
{
	char key[sizeof DM_LABEL_GC_SNAPSHOT + 64];
	dm_digest chain, next;

	if (!*snapshotter || strlen(snapshotter) > 63 || strchr(snapshotter, '/'))
		return dm_err_set(err, EINVAL, "snapshotter name \"%.100s\": want 1..63 bytes, no '/'",
				  snapshotter);
	if (!c->n_diff_ids)
		return 0;
	dm_chain_id(NULL, &c->diff_ids[0], &chain);
	for (size_t i = 1; i < c->n_diff_ids; i++) {
		dm_chain_id(&chain, &c->diff_ids[i], &next);
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
