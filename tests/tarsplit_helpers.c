#include "config.h"
#include "tarsplit_helpers.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

char *th_b64(const void *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		abort();
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
		             (i + 2 < n ? s[i + 2] : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

void th_jl_open(th_jsonl *jl)
{
	memset(jl, 0, sizeof *jl);
	jl->f = open_memstream(&jl->buf, &jl->len);
	if (!jl->f)
		abort();
}

void th_jl_seg(th_jsonl *jl, const void *p, size_t n)
{
	char *b = th_b64(p, n);

	fprintf(jl->f, "{\"type\":2,\"payload\":\"%s\",\"position\":%d}\n", b, jl->pos++);
	free(b);
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = s[i] < 0x80 ? 0 : (s[i] & 0xe0) == 0xc0 ? 1 : (s[i] & 0xf0) == 0xe0 ? 2
		         : (s[i] & 0xf8) == 0xf0 ? 3 : 9;
		if (k == 9 || i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

void th_jl_file(th_jsonl *jl, const char *name, size_t nlen, uint64_t size, uint64_t crc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_int(1));
	if (utf8_valid((const unsigned char *)name, nlen)) {
		json_object_object_add(o, "name", json_object_new_string_len(name, (int)nlen));
	} else {
		char *b = th_b64(name, nlen);
		json_object_object_add(o, "name_raw", json_object_new_string(b));
		free(b);
	}
	if (size > 0) {
		unsigned char be[8];
		char *b;
		for (int i = 0; i < 8; i++)
			be[i] = (unsigned char)(crc >> (56 - 8 * i));
		b = th_b64(be, sizeof be);
		json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
		json_object_object_add(o, "payload", json_object_new_string(b));
		free(b);
	} else {
		json_object_object_add(o, "payload", NULL);
	}
	json_object_object_add(o, "position", json_object_new_int(jl->pos++));
	fprintf(jl->f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

void th_jl_raw(th_jsonl *jl, const char *line)
{
	fprintf(jl->f, "%s\n", line);
	jl->pos++;
}

void th_jl_gz(th_jsonl *jl, const char *path, const char *mode)
{
	gzFile gz;

	fclose(jl->f);
	gz = gzopen(path, mode);
	if (!gz || (jl->len && gzwrite(gz, jl->buf, (unsigned)jl->len) != (int)jl->len) ||
	    gzclose(gz) != Z_OK)
		abort();
	free(jl->buf);
	memset(jl, 0, sizeof *jl);
}
