/* The helpers of tests/fuzz.h. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

int fuzz_accepted;
static char scratch[256];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb, (void)type;
	if (ftw->level == 0)
		return 0;
	if (remove(path) < 0) {
		chmod(path, 0700);
		return remove(path) < 0 && rmdir(path) < 0 ? -1 : 0;
	}
	return 0;
}

void fuzz_empty_dir(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fuzz_broken("cannot empty %s", dir);
}

static void remove_scratch(void)
{
	fuzz_empty_dir(scratch);
	rmdir(scratch);
}

const char *fuzz_scratch(void)
{
	const char *tmp = getenv("TMPDIR");

	if (scratch[0])
		return scratch;
	if (access("/dev/shm", W_OK) == 0)
		tmp = "/dev/shm";
	snprintf(scratch, sizeof scratch, "%s/dm-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch))
		fuzz_broken("mkdtemp %s", scratch);
	atexit(remove_scratch);
	return scratch;
}

char *fuzz_string(const uint8_t *data, size_t size, size_t cap)
{
	static char buf[8192];

	if (cap > sizeof buf)
		cap = sizeof buf;
	if (size > cap - 1)
		size = cap - 1;
	memcpy(buf, data, size);
	buf[size] = '\0';
	return buf;
}
