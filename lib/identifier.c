#include "config.h"
#include "identifier.h"

#include <errno.h>
#include <string.h>

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool dm_identifier_valid(const char *name)
{
	size_t n = strlen(name);
	bool after_sep = true; /* a name starts like a component after a separator */

	if (!n || n > DM_IDENTIFIER_MAX || !strcmp(name, "version"))
		return false;
	for (const char *c = name; *c; c++) {
		if (alnum(*c))
			after_sep = false;
		else if ((*c == '.' || *c == '_' || *c == '-') && !after_sep)
			after_sep = true;
		else
			return false;
	}
	return !after_sep;
}

int dm_namespace_check(const char *ns, dm_error *err)
{
	if (dm_identifier_valid(ns))
		return 0;
	return dm_err_set(err, EINVAL, "'%s' is not a valid containerd namespace", ns);
}
