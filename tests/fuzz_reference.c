/* fuzz_reference: libFuzzer target for lib/reference on any string (cut at
 * 1 KiB).  Whatever the input, parsing must not crash or overrun; what it
 * accepts must come back: the fully qualified form and the familiar form
 * both parse again to the same reference (as in distribution, the familiar
 * form of a Docker Hub name whose path starts like a domain, or that is 64
 * hex digits, excepted), and dm_ref_normalize agrees. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "reference.h"

/* The first path component of s would be read as a registry domain. */
static bool domain_like(const char *s)
{
	size_t n = strcspn(s, "/");

	if (!s[n])
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return n == 9 && !strncmp(s, "localhost", 9);
}

static void same(const dm_reference *a, const char *how, const char *s)
{
	dm_reference b;
	dm_error err = {0};
	char x[DM_REF_STR_MAX + 1], y[DM_REF_STR_MAX + 1];

	if (dm_ref_parse(s, &b, &err) < 0) {
		/* As distribution: "docker.io/library/<64 hex>" is a name, its familiar form
		 * "<64 hex>" is refused (it would be an image ID). */
		if (!strcmp(how, "familiar") && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64)
			return;
		fuzz_broken("%s form \"%s\" does not parse again: %s", how, s, err.msg);
	}
	if (strcmp(dm_ref_string(a, x), dm_ref_string(&b, y)) || a->domain_len != b.domain_len) {
		/* As distribution's FamiliarString: "docker.io/a.b/c" becomes "a.b/c", which names
		 * registry a.b.  Ambiguous, but what Docker writes; dm_ref_familiar follows it. */
		if (!strcmp(how, "familiar") && !strncmp(x, "docker.io/", 10) && domain_like(s))
			return;
		fuzz_broken("%s form \"%s\" parses to \"%s\", not \"%s\"", how, s, y, x);
	}
}

FUZZ_ENTRY(reference)(const uint8_t *data, size_t size)
{
	const char *s = fuzz_string(data, size, 1024);
	char full[DM_REF_STR_MAX + 1], fam[DM_REF_STR_MAX + 1], norm[DM_REF_STR_MAX + 1];
	dm_reference r;
	dm_error err = {0};

	fuzz_accepted = dm_ref_parse(s, &r, &err) == 0;
	if (!fuzz_accepted) {
		if (!err.code || !err.msg[0])
			fuzz_broken("\"%s\" refused without an error", s);
		if (dm_ref_normalize(s, norm, &err) == 0)
			fuzz_broken("\"%s\" refused by dm_ref_parse but normalised to \"%s\"", s, norm);
		return 0;
	}
	if (strlen(r.name) > DM_REF_NAME_MAX || r.domain_len > strlen(r.name))
		fuzz_broken("\"%s\": name \"%s\" (domain %zu bytes)", s, r.name, r.domain_len);
	same(&r, "fully qualified", dm_ref_string(&r, full));
	same(&r, "familiar", dm_ref_familiar(&r, fam));
	if (dm_ref_normalize(s, norm, &err) < 0)
		fuzz_broken("\"%s\" parses but does not normalise: %s", s, err.msg);
	if (strncmp(norm, full, strlen(r.name)))
		fuzz_broken("\"%s\" normalises to \"%s\", parses to \"%s\"", s, norm, full);
	return 0;
}
