#include "config.h"
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* RFC 3339 in UTC without fraction, the form Go's time.RFC3339 parses. */
static int rfc3339(time_t t, char buf[32], dm_error *err)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return dm_err_set(err, EOVERFLOW, "time %lld cannot be written as RFC 3339",
				  (long long)t);
	return 0;
}

/* *tag: pid's "<pid>:<start time>" from /proc (a pid alone may be reused); 0 when there is no
 * such process. */
static int process_tag(long pid, char *tag, size_t len)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold anything: fields resume after its last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	/* starttime is field 22; each step moves to the blank before the next field, from 3 on. */
	for (int field = 3; field <= 22; field++)
		if (!(p = strchr(p + 1, ' ')))
			return 0;
	if (sscanf(p, " %llu", &start) != 1)
		return 0;
	snprintf(tag, len, "%ld:%llu", pid, start);
	return 1;
}

/* A lease of this tool whose run is still alive (another run going on now). */
static bool live_run(const dm_labels *labels)
{
	const char *v = dm_labels_get(labels, DM_LEASE_LABEL_PROCESS);
	char tag[64];
	long pid;

	if (!v || sscanf(v, "%ld:", &pid) != 1 || pid <= 0)
		return false;
	return process_tag(pid, tag, sizeof tag) && !strcmp(tag, v);
}

bool dm_lease_is_stale(const char *id, const dm_labels *labels, const char *current)
{
	return dm_labels_get(labels, DM_LEASE_LABEL_TOOL) && !(current && !strcmp(id, current)) &&
	       !live_run(labels);
}

int dm_lease_init(dm_lease *l, const char *ns, time_t now, long ttl, dm_error *err)
{
	char stamp[32], expire[32], tag[64];
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
	    dm_labels_set(&l->labels, DM_LEASE_LABEL_TOOL, PACKAGE_STRING, err) < 0 ||
	    (process_tag((long)getpid(), tag, sizeof tag) &&
	     dm_labels_set(&l->labels, DM_LEASE_LABEL_PROCESS, tag, err) < 0)) {
		dm_labels_free(&l->labels);
		return -1;
	}
	return 0;
}

void dm_lease_free(dm_lease *l)
{
	dm_labels_free(&l->labels);
}
