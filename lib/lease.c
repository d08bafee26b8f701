#include "config.h"
#include "lease.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* RFC 3339 in UTC without fraction, the form Go's time.RFC3339 parses. */
static int rfc3339(time_t t, char buf[32], dm_error *err)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return dm_err_set(err, EOVERFLOW, "time %lld cannot be written as RFC 3339",
				  (long long)t);
	return 0;
}

int dm_lease_init(dm_lease *l, const char *ns, time_t now, long ttl, dm_error *err)
{
	char stamp[32], expire[32];
	uint8_t rnd[4];
	struct tm tm;

	memset(l, 0, sizeof *l);
	if (!dm_identifier_valid(ns))
		return dm_err_set(err, EINVAL, "invalid namespace \"%.100s\"", ns);
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return dm_err_sys(err, "lease id: getrandom");
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm))
		return dm_err_set(err, EOVERFLOW, "lease id: time %lld out of range", (long long)now);
	snprintf(l->ns, sizeof l->ns, "%s", ns);
	snprintf(l->id, sizeof l->id, DM_LEASE_ID_PREFIX "%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1],
		 rnd[2], rnd[3]);
	if (rfc3339(now + ttl, expire, err) < 0 ||
	    dm_labels_set(&l->labels, DM_LEASE_LABEL_EXPIRE, expire, err) < 0 ||
	    dm_labels_set(&l->labels, DM_LEASE_LABEL_TOOL, PACKAGE_STRING, err) < 0) {
		dm_labels_free(&l->labels);
		return -1;
	}
	return 0;
}

void dm_lease_free(dm_lease *l)
{
	dm_labels_free(&l->labels);
}
