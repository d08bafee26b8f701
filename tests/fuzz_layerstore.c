/* fuzz_layerstore: libFuzzer target for dm_store_open (lib/layerstore: the
 * repositories.json, image configs, imagedb metadata and layerdb files,
 * containers) on a Docker root built from the input in a scratch directory.
 * The input is a list of files, each "=== <path>\n" then its bytes up to the
 * next "\n=== " (a path ending in '/' is a directory); paths are relative
 * and made beneath the root without "..", so nothing is written outside.
 * Nothing may crash; an opened store must be consistent (every image's
 * layers in the store, reasons exactly on what is not migrated, one-line
 * problems), and its usable layers must stream or fail cleanly. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "layerstore.h"

#define MAX_STREAMED 4

static char root[512];

static int sink(void *opaque, const void *buf, size_t len, dm_error *err)
{
	uint64_t *n = opaque;

	(void)buf;
	*n += len;
	return *n > (16u << 20) ? dm_err_set(err, EFBIG, "fuzz: stream over 16 MiB") : 0;
}

/* Makes the file (or directory) rel under root with the given bytes; a bad
 * path is skipped. */
static void make(const char *rel, size_t rlen, const uint8_t *data, size_t len)
{
	char path[1024];
	size_t n = (size_t)snprintf(path, sizeof path, "%s/", root), start = n;
	int fd;

	if (rlen == 0 || rlen >= sizeof path - n - 1 || rel[0] == '/' || memchr(rel, '\0', rlen))
		return;
	memcpy(path + n, rel, rlen);
	path[n + rlen] = '\0';
	if (strstr(path + start, "..") || strstr(path + start, "//"))
		return;
	for (char *p = path + start; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return;
		*p = '/';
	}
	if (path[n + rlen - 1] == '/')
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (len && write(fd, data, len) != (ssize_t)len)
		fuzz_broken("%s: %s", path, strerror(errno));
	close(fd);
}

static void build(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n=== ";
	const uint8_t *p = data, *end = data + size;

	if (size < 4 || memcmp(p, "=== ", 4))
		return;
	p += 4;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p)), *body, *next;

		if (!nl)
			break;
		body = nl + 1;
		next = body;
		while (next < end && !(end - next >= 5 && !memcmp(next, sep, 5)))
			next++;
		make((const char *)p, (size_t)(nl - p), body, (size_t)(next - body));
		p = next + 5;
	}
}

/* s is NULL or one line: what plan prints of it cannot start another. */
static bool one_line(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check(const dm_store *st)
{
	size_t streamed = 0;

	for (size_t i = 0; i < st->n_images; i++) {
		const dm_image *im = &st->images[i];

		if (im->migrate != (im->state == DM_IMAGE_MIGRATE) || im->migrate != !im->reason ||
		    !one_line(im->reason))
			fuzz_broken("image %s: migrate %d, state %d, reason %s", im->id.s, im->migrate, im->state,
				    im->reason ? im->reason : "(none)");
		for (size_t j = 0; j < im->n_layers; j++)
			if (im->layers[j] && dm_store_layer(st, im->layers[j]->chain_id.s) != im->layers[j])
				fuzz_broken("image %s: layer %zu is not the store's", im->id.s, j);
		if (i && strcmp(st->images[i - 1].id.s, im->id.s) >= 0)
			fuzz_broken("images out of order at %s", im->id.s);
	}
	for (size_t i = 0; i < st->n_problems; i++)
		if (!st->problems[i].reason[0] || !one_line(st->problems[i].reason) ||
		    !one_line(st->problems[i].id))
			fuzz_broken("problem %s: reason \"%s\" is not one line", st->problems[i].id,
				    st->problems[i].reason);
	for (size_t i = 0; i < st->n_containers; i++)
		if (!one_line(st->containers[i].reason))
			fuzz_broken("container %s: reason \"%s\" is not one line", st->containers[i].id,
				    st->containers[i].reason);
	for (size_t i = 0; i < st->n_layers; i++) {
		const dm_layer *l = &st->layers[i];
		dm_error err = {0};
		uint64_t n = 0;

		if (l->usable != !l->reason || !one_line(l->reason))
			fuzz_broken("layer %s: usable %d, reason %s", l->chain_id.s, l->usable,
				    l->reason ? l->reason : "(none)");
		if (!l->usable || streamed++ >= MAX_STREAMED)
			continue;
		if (dm_layer_stream(st, l, sink, &n, NULL, &err) < 0 && (!err.code || !err.msg[0]))
			fuzz_broken("layer %s failed to stream without an error", l->chain_id.s);
	}
}

FUZZ_ENTRY(layerstore)(const uint8_t *data, size_t size)
{
	dm_store *st = NULL;
	dm_error err = {0};

	if (!root[0])
		snprintf(root, sizeof root, "%s/docker-root", fuzz_scratch());
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		fuzz_broken("%s: %s", root, strerror(errno));
	build(data, size);
	fuzz_accepted = dm_store_open(root, NULL, &st, &err) == 0;
	if (fuzz_accepted)
		check(st);
	else if (!err.code || !err.msg[0] || st)
		fuzz_broken("refused without an error, or with a store");
	dm_store_close(st);
	fuzz_empty_dir(root);
	return 0;
}
