/* fuzz_tarsplit: libFuzzer target for the tar-split reader (lib/tarsplit, through th_assemble) on
 * a layer's tar-split.json.gz.  Input that starts with gzip's magic is the
 * file itself; anything else is the JSON lines, gzipped here first so that
 * mutations reach the parser behind the decompressor.  The layer root is a
 * scratch directory holding the files "hello" and "world" ("hello\n", as in
 * fixtures/make-broken.sh) and nothing else.  Nothing may crash or read
 * outside it; on success the sink saw exactly stats.bytes bytes.  A stream
 * past 64 MiB is cut by the sink (the bound on it is the library's
 * business; here it would only make runs slow). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "tarsplit_helpers.h"

#define SINK_MAX (64u << 20)

static char path[512];
static int root_fd = -1;

static void setup(void)
{
	char dir[512];
	int fd;

	snprintf(dir, sizeof dir, "%s/tarsplit-root", fuzz_scratch());
	snprintf(path, sizeof path, "%s/tar-split.json.gz", fuzz_scratch());
	if (mkdir(dir, 0755) < 0 || (root_fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		fuzz_broken("layer root %s", dir);
	for (int i = 0; i < 2; i++) {
		fd = openat(root_fd, i ? "world" : "hello", O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, "hello\n", 6) != 6 || close(fd) < 0)
			fuzz_broken("file in %s", dir);
	}
}

/* Writes data to path, gzipped unless it already is. */
static void put(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	gzFile gz;

	if (fd < 0)
		fuzz_broken("%s: %s", path, strerror(errno));
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		if (write(fd, data, size) != (ssize_t)size || close(fd) < 0)
			fuzz_broken("%s: %s", path, strerror(errno));
		return;
	}
	if (!(gz = gzdopen(fd, "wb1")) || (size && gzwrite(gz, data, (unsigned)size) != (int)size) ||
	    gzclose(gz) != Z_OK)
		fuzz_broken("%s: gzip failed", path);
}

static int count(void *opaque, const void *buf, size_t len, dm_error *err)
{
	uint64_t *n = opaque;

	(void)buf;
	*n += len;
	if (*n > SINK_MAX)
		return dm_err_set(err, EFBIG, "fuzz: stream over %u bytes", SINK_MAX);
	return 0;
}

FUZZ_ENTRY(tarsplit)(const uint8_t *data, size_t size)
{
	dm_tarsplit_stats stats;
	dm_error err = {0};
	uint64_t n = 0;

	if (root_fd < 0)
		setup();
	put(data, size);
	fuzz_accepted = th_assemble(path, root_fd, NULL, count, &n, &stats, &err) == 0;
	if (!fuzz_accepted) {
		if (!err.code || !err.msg[0])
			fuzz_broken("refused without an error");
		return 0;
	}
	if (stats.bytes != n)
		fuzz_broken("stats say %llu bytes, the sink got %llu", (unsigned long long)stats.bytes,
			    (unsigned long long)n);
	return 0;
}
