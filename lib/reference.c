#include "config.h"
#include "reference.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < len && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return false;
		if (i == len)
			return true;
		if (s[i] == '_' && i + 1 < len && s[i + 1] == '_')
			i += 2;
		else if (s[i] == '.' || s[i] == '_')
			i++;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			return false;
	}
}

/* component ('/' component)* */
static bool path_ok(const char *s, size_t len)
{
	const char *end = s + len;

	for (;;) {
		const char *slash = memchr(s, '/', (size_t)(end - s));
		const char *stop = slash ? slash : end;

		if (!path_component_ok(s, (size_t)(stop - s)))
			return false;
		if (!slash)
			return true;
		s = slash + 1;
	}
}

/* [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_ok(const char *s, size_t len)
{
	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* (domain-name | '[' ipv6 ']') (':' port)? */
static bool domain_ok(const char *s, size_t len)
{
	size_t host_len = len;
	const char *colon;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!is_hex(*p) && *p != ':')
				return false;
		host_len = (size_t)(close - s) + 1;
	} else {
		colon = memchr(s, ':', len);
		if (colon)
			host_len = (size_t)(colon - s);
		for (size_t i = 0, start = 0; i <= host_len; i++) {
			if (i < host_len && s[i] != '.')
				continue;
			if (!domain_component_ok(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	if (host_len == len)
		return true;
	if (s[host_len] != ':' || host_len + 1 == len)
		return false;
	for (size_t i = host_len + 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* [\w][\w.-]{0,127} */
static bool tag_ok(const char *s, size_t len)
{
	if (len == 0 || len > DM_REF_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* go-digest accepts only the algorithms it can compute, each with its exact lowercase hex length. */
static bool digest_ok(const char *s, size_t len)
{
	static const struct { const char *alg; size_t hexlen; } algs[] = {
		{ "sha256:", 64 }, { "sha384:", 96 }, { "sha512:", 128 },
	};

	for (size_t a = 0; a < sizeof algs / sizeof *algs; a++) {
		size_t n = strlen(algs[a].alg);

		if (len != n + algs[a].hexlen || strncmp(s, algs[a].alg, n) != 0)
			continue;
		for (size_t i = n; i < len; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
				return false;
		return true;
	}
	return false;
}

static bool is_hex64_id(const char *s)
{
	size_t n = strlen(s);

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Parses "<domain>/<remainder>" as distribution's Parse does, after splitDockerDomain. */
static int parse_full(const char *orig, const char *full, size_t len, dm_reference *ref, dm_error *err)
{
	const char *at = memchr(full, '@', len);
	size_t head_len = at ? (size_t)(at - full) : len;
	const char *colon = NULL, *slash;
	size_t name_len;

	memset(ref, 0, sizeof *ref);
	if (at) {
		size_t dlen = len - head_len - 1;

		if (!digest_ok(at + 1, dlen))
			return dm_err_set(err, EINVAL,
					  "reference \"%s\": invalid digest (want sha256:<64 lowercase hex>)",
					  orig);
		memcpy(ref->digest, at + 1, dlen);
	}
	for (size_t i = head_len; i-- > 0;) {
		if (full[i] == '/')
			break;
		if (full[i] == ':') {
			colon = full + i;
			break;
		}
	}
	name_len = colon ? (size_t)(colon - full) : head_len;
	if (colon) {
		size_t tlen = head_len - name_len - 1;

		if (!tag_ok(colon + 1, tlen))
			return dm_err_set(err, EINVAL, "reference \"%s\": invalid tag", orig);
		memcpy(ref->tag, colon + 1, tlen);
	}
	if (name_len > DM_REF_NAME_MAX)
		return dm_err_set(err, EINVAL,
				  "reference \"%s\": repository name must not be more than %d characters",
				  orig, DM_REF_NAME_MAX);
	slash = memchr(full, '/', name_len);
	if (slash && domain_ok(full, (size_t)(slash - full)) &&
	    path_ok(slash + 1, name_len - (size_t)(slash - full) - 1))
		ref->domain_len = (size_t)(slash - full);
	else if (!path_ok(full, name_len))
		return dm_err_set(err, EINVAL, "reference \"%s\": invalid reference format", orig);
	memcpy(ref->name, full, name_len);
	return 0;
}

int dm_ref_parse(const char *s, dm_reference *ref, dm_error *err)
{
	char full[DM_REF_STR_MAX + sizeof DEFAULT_DOMAIN + sizeof OFFICIAL_PREFIX + 2];
	const char *slash = strchr(s, '/');
	const char *remainder = s, *domain = DEFAULT_DOMAIN;
	size_t domain_len = strlen(DEFAULT_DOMAIN), n;
	bool official;

	if (*s == '\0')
		return dm_err_set(err, EINVAL, "reference \"\": repository name must have at least one component");
	if (strlen(s) > DM_REF_STR_MAX)
		return dm_err_set(err, EINVAL, "reference \"%.64s…\": too long", s);
	if (is_hex64_id(s))
		return dm_err_set(err, EINVAL,
				  "reference \"%s\": a repository name cannot be a 64-byte hexadecimal string", s);
	if (slash) {
		size_t first = (size_t)(slash - s);
		bool upper = false;

		for (size_t i = 0; i < first; i++)
			upper |= s[i] >= 'A' && s[i] <= 'Z';
		if (memchr(s, '.', first) || memchr(s, ':', first) ||
		    (first == 9 && strncmp(s, "localhost", 9) == 0) || upper) {
			domain = s;
			domain_len = first;
			remainder = slash + 1;
		}
	}
	if (domain_len == strlen(LEGACY_DEFAULT_DOMAIN) &&
	    strncmp(domain, LEGACY_DEFAULT_DOMAIN, domain_len) == 0) {
		domain = DEFAULT_DOMAIN;
		domain_len = strlen(DEFAULT_DOMAIN);
	}
	official = domain_len == strlen(DEFAULT_DOMAIN) && strncmp(domain, DEFAULT_DOMAIN, domain_len) == 0 &&
		   !strchr(remainder, '/');
	for (const char *p = remainder; *p && *p != ':'; p++)
		if (*p >= 'A' && *p <= 'Z')
			return dm_err_set(err, EINVAL, "reference \"%s\": repository name must be lowercase", s);
	n = (size_t)snprintf(full, sizeof full, "%.*s/%s%s", (int)domain_len, domain,
			     official ? OFFICIAL_PREFIX : "", remainder);
	return parse_full(s, full, n, ref, err);
}

char *dm_ref_string(const dm_reference *ref, char *out)
{
	snprintf(out, DM_REF_STR_MAX + 1, "%s%s%s%s%s", ref->name, ref->tag[0] ? ":" : "", ref->tag,
		 ref->digest[0] ? "@" : "", ref->digest);
	return out;
}

char *dm_ref_familiar(const dm_reference *ref, char *out)
{
	const char *name = ref->name;
	size_t dlen = strlen(DEFAULT_DOMAIN), plen = strlen(OFFICIAL_PREFIX);

	if (ref->domain_len == dlen && strncmp(name, DEFAULT_DOMAIN, dlen) == 0) {
		name += dlen + 1;
		if (strncmp(name, OFFICIAL_PREFIX, plen) == 0 && !strchr(name + plen, '/'))
			name += plen;
	}
	snprintf(out, DM_REF_STR_MAX + 1, "%s%s%s%s%s", name, ref->tag[0] ? ":" : "", ref->tag,
		 ref->digest[0] ? "@" : "", ref->digest);
	return out;
}

int dm_ref_normalize(const char *s, char *out, dm_error *err)
{
	dm_reference ref;

	if (dm_ref_parse(s, &ref, err) < 0)
		return -1;
	if (!ref.tag[0] && !ref.digest[0])
		strcpy(ref.tag, "latest");
	dm_ref_string(&ref, out);
	return 0;
}
