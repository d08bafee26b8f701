#include "config.h"
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Newlines inside a message would break the one-line-per-error contract that
 * log scrapers and postinst scripts rely on. */
static void flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int dm_err_set(dm_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code ? code : EIO;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	flatten(err->msg);
	return -1;
}

int dm_err_sys(dm_error *err, const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	err->code = saved ? saved : EIO;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(saved));
	flatten(err->msg);
	errno = saved;
	return -1;
}

int dm_err_nomem(dm_error *err)
{
	return dm_err_set(err, ENOMEM, "out of memory");
}

int dm_err_prefix(dm_error *err, const char *fmt, ...)
{
	char old[DM_ERR_MSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, err->msg, sizeof old);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	/* Truncation keeps the head: the context is what makes the line useful. */
	memcpy(err->msg + n, old, strnlen(old, sizeof err->msg - 1 - n));
	err->msg[n + strnlen(old, sizeof err->msg - 1 - n)] = '\0';
	flatten(err->msg);
	if (!err->code)
		err->code = EIO;
	return -1;
}

void dm_err_clear(dm_error *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}
