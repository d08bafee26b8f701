#include "config.h"
#include "boltwalk.h"

#include <stdint.h>
#include <string.h>

static int mismatch(dm_error *err, const char *what, const dm_bolt_kv *kv)
{
	return dm_err_set(err, DM_BOLT_ECORRUPT, "key of %zu bytes (0x%02x…): %s", kv->klen,
			  kv->klen ? *(const uint8_t *)kv->key : 0, what);
}

/* The lookups must agree with the cursor on what kv is. */
static int cross_check(dm_bolt_bucket *b, const dm_bolt_kv *kv, dm_bolt_bucket **sub,
		       dm_error *err)
{
	const void *val;
	size_t vlen;
	dm_bolt_kv seen;
	dm_bolt_cursor *c;
	int r;

	r = dm_bolt_get(b, kv->key, kv->klen, &val, &vlen, err);
	if (r < 0)
		return -1;
	if (kv->is_bucket) {
		if (r != 0)
			return mismatch(err, "get returns a value for a sub-bucket", kv);
		*sub = dm_bolt_bucket_get(b, kv->key, kv->klen, err);
		if (!*sub)
			return -1;
	} else if (r != 1 || vlen != kv->vlen || (vlen && memcmp(val, kv->val, vlen))) {
		return mismatch(err, "get disagrees with the cursor", kv);
	}
	c = dm_bolt_cursor_open(b, err);
	if (!c)
		return -1;
	r = dm_bolt_cursor_seek(c, kv->key, kv->klen, &seen, err);
	dm_bolt_cursor_close(c);
	if (r < 0)
		return -1;
	if (r == 0 || seen.klen != kv->klen || memcmp(seen.key, kv->key, kv->klen) ||
	    seen.is_bucket != kv->is_bucket)
		return mismatch(err, "seek does not land on it", kv);
	return 0;
}

int bw_walk(dm_bolt_bucket *b, int depth, bw_visit_fn visit, void *ctx, dm_error *err)
{
	dm_bolt_cursor *c;
	dm_bolt_kv kv, prev = {0};
	int r, rc = 0;

	c = dm_bolt_cursor_open(b, err);
	if (!c)
		return -1;
	for (r = dm_bolt_cursor_first(c, &kv, err); r == 1; r = dm_bolt_cursor_next(c, &kv, err)) {
		dm_bolt_bucket *sub = NULL;
		size_t common = prev.klen < kv.klen ? prev.klen : kv.klen;
		int cmp = common ? memcmp(prev.key, kv.key, common) : 0;

		if (kv.klen == 0) {
			rc = mismatch(err, "empty key", &kv);
			break;
		}
		if (prev.key && (cmp > 0 || (cmp == 0 && prev.klen >= kv.klen))) {
			rc = mismatch(err, "not above the key before it", &kv);
			break;
		}
		prev = kv;
		if (cross_check(b, &kv, &sub, err) < 0 ||
		    (visit && (rc = visit(ctx, depth, &kv, sub, err)) != 0) ||
		    (sub && bw_walk(sub, depth + 1, visit, ctx, err) < 0)) {
			rc = rc ? rc : -1;
			break;
		}
	}
	if (r < 0)
		rc = -1;
	dm_bolt_cursor_close(c);
	return rc;
}

/* Go's utf8.Valid: no overlong forms, surrogates or code points past U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t j = 1; j < len; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* Go's strconv.Quote also escapes non-ASCII runes that are not printable
 * (e.g. U+00A0); those are printed raw here, the one known difference. */
void bw_print_bytes(FILE *f, const void *p, size_t n)
{
	const uint8_t *s = p;
	int text = utf8_valid(s, n);

	for (size_t i = 0; text && i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			text = 0;
	if (text) {
		fputc('"', f);
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '"' || s[i] == '\\')
				fputc('\\', f);
			fputc(s[i], f);
		}
		fputc('"', f);
	} else {
		fputs("0x", f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%02x", s[i]);
	}
}

static int dump_visit(void *ctx, int depth, const dm_bolt_kv *kv, dm_bolt_bucket *sub,
		      dm_error *err)
{
	FILE *f = ctx;

	(void)err;
	fprintf(f, "%*s", 2 * (depth + 1), "");
	bw_print_bytes(f, kv->key, kv->klen);
	if (sub) {
		fprintf(f, "/ (seq %llu)\n", (unsigned long long)dm_bolt_sequence(sub));
	} else {
		fputs(" = ", f);
		bw_print_bytes(f, kv->val, kv->vlen);
		fputc('\n', f);
	}
	return 0;
}

/* The top level is printed without indentation, so it is walked here and
 * each top-level bucket's contents by bw_walk. */
int bw_dump(dm_bolt_tx *tx, FILE *f, dm_error *err)
{
	dm_bolt_bucket *root = dm_bolt_root(tx);
	dm_bolt_cursor *c = dm_bolt_cursor_open(root, err);
	dm_bolt_kv kv;
	int r;

	if (!c)
		return -1;
	for (r = dm_bolt_cursor_first(c, &kv, err); r == 1; r = dm_bolt_cursor_next(c, &kv, err)) {
		dm_bolt_bucket *b;

		if (!kv.is_bucket)
			continue; /* bbolt's Tx.ForEach hands these out as nil buckets */
		b = dm_bolt_bucket_get(root, kv.key, kv.klen, err);
		if (!b) {
			r = -1;
			break;
		}
		bw_print_bytes(f, kv.key, kv.klen);
		fprintf(f, "/ (seq %llu)\n", (unsigned long long)dm_bolt_sequence(b));
		if (bw_walk(b, 0, dump_visit, f, err) != 0) {
			r = -1;
			break;
		}
	}
	dm_bolt_cursor_close(c);
	return r < 0 ? -1 : 0;
}
