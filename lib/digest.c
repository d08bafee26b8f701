#include "config.h"
#include "digest.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

void dm_sha256_init(dm_sha256 *h)
{
	sha256_init(&h->ctx);
}

void dm_sha256_update(dm_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->ctx, len, data);
}

void dm_sha256_final(dm_sha256 *h, dm_digest *out)
{
	uint8_t raw[SHA256_DIGEST_SIZE];

	sha256_digest(&h->ctx, sizeof raw, raw);
	memcpy(out->s, DM_DIGEST_PREFIX, 7);
	for (size_t i = 0; i < sizeof raw; i++) {
		out->s[7 + 2 * i] = hexdig[raw[i] >> 4];
		out->s[8 + 2 * i] = hexdig[raw[i] & 15];
	}
	out->s[DM_DIGEST_STRLEN] = '\0';
}

void dm_sha256_buf(const void *data, size_t len, dm_digest *out)
{
	dm_sha256 h;

	dm_sha256_init(&h);
	dm_sha256_update(&h, data, len);
	dm_sha256_final(&h, out);
}

bool dm_digest_hex_valid(const char *s, size_t len)
{
	if (len != DM_DIGEST_HEXLEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool dm_digest_valid(const char *s)
{
	return strncmp(s, DM_DIGEST_PREFIX, 7) == 0 && strlen(s) == DM_DIGEST_STRLEN &&
	       dm_digest_hex_valid(s + 7, DM_DIGEST_HEXLEN);
}

int dm_digest_parse(const char *s, size_t len, dm_digest *out, const char *what, dm_error *err)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (len != DM_DIGEST_STRLEN || strncmp(s, DM_DIGEST_PREFIX, 7) != 0 ||
	    !dm_digest_hex_valid(s + 7, DM_DIGEST_HEXLEN))
		return dm_err_set(err, EINVAL, "%s: not a sha256 digest (want sha256:<64 lowercase hex>)",
				  what);
	memcpy(out->s, s, DM_DIGEST_STRLEN);
	out->s[DM_DIGEST_STRLEN] = '\0';
	return 0;
}

void dm_chain_id(const dm_digest *parent, const dm_digest *diff, dm_digest *out)
{
	dm_sha256 h;

	if (!parent) {
		*out = *diff;
		return;
	}
	dm_sha256_init(&h);
	dm_sha256_update(&h, parent->s, DM_DIGEST_STRLEN);
	dm_sha256_update(&h, " ", 1);
	dm_sha256_update(&h, diff->s, DM_DIGEST_STRLEN);
	dm_sha256_final(&h, out);
}
