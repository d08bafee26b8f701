/* Measures the tar-split reader (lib/tarsplit, through th_assemble) on one
 * large file layer: peak RSS (which must stay far below the layer size: the
 * reader streams) and throughput.
 * Usage: bench_tarsplit [DIR [MIB]]  (defaults: $TMPDIR or /var/tmp, 1024).
 * The file is sparse with a 64 KiB block of data every 64 MiB, so the run
 * costs little disk.  Not part of TESTS: timing depends on the machine. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tarsplit.h"
#include "tarsplit_helpers.h"

#define CHUNK (256u << 10)

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void ustar_header(unsigned char h[512], const char *name, uint64_t size)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf((char *)h + 124, 12, "%011" PRIo64, size);
	memcpy(h + 136, "14540000000", 12);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* Writes root/big, the tar-split and the expected DiffID (to fd out); runs in a
 * child so that its buffers do not count in the parent's peak RSS. */
static void make_layer(const char *dir, uint64_t size, int out)
{
	char p[600];
	unsigned char hdr[512], *buf = calloc(1, CHUNK), tail[512 + 1024] = { 0 };
	uint64_t crc = 0;
	dm_sha256 sha;
	dm_digest d;
	th_jsonl jl;
	int fd;

	snprintf(p, sizeof p, "%s/root/big", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf || ftruncate(fd, (off_t)size) < 0)
		die("create layer file");
	for (uint64_t off = 0; off < size; off += 64u << 20) {
		size_t n = size - off < (64u << 10) ? (size_t)(size - off) : 64u << 10;
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)(off / 4096 + i * 31);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			die("write layer file");
	}
	ustar_header(hdr, "big", size);
	dm_sha256_init(&sha);
	dm_sha256_update(&sha, hdr, sizeof hdr);
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0)
			die("read layer file");
		crc = dm_crc64_iso(crc, buf, (size_t)n);
		dm_sha256_update(&sha, buf, (size_t)n);
		off += (uint64_t)n;
	}
	close(fd);
	size_t pad = (size_t)((512 - size % 512) % 512);
	dm_sha256_update(&sha, tail, pad + 1024);
	dm_sha256_final(&sha, &d);

	th_jl_open(&jl);
	th_jl_seg(&jl, hdr, sizeof hdr);
	th_jl_file(&jl, "big", 3, size, crc);
	th_jl_seg(&jl, tail, pad + 1024);
	snprintf(p, sizeof p, "%s/tar-split.json.gz", dir);
	th_jl_gz(&jl, p, "wb");
	if (write(out, d.s, sizeof d.s) != (ssize_t)sizeof d.s)
		die("pipe");
	free(buf);
}

static int count_sink(void *opaque, const void *buf, size_t len, dm_error *err)
{
	(void)buf, (void)err;
	*(uint64_t *)opaque += len;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

int main(int argc, char **argv)
{
	const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024, sunk = 0;
	char dir[512], p[600];
	dm_tarsplit_stats st;
	dm_error err = { 0 };
	struct timespec t0, t1;
	struct rusage ru;
	dm_digest want;
	int pfd[2], status, root, rc;
	pid_t pid;

	snprintf(dir, sizeof dir, "%s/dm-bench-XXXXXX", parent);
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(p, sizeof p, "%s/root", dir);
	if (mkdir(p, 0755) < 0 || pipe(pfd) < 0)
		die("setup");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(pfd[0]);
		make_layer(dir, mib << 20, pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], want.s, sizeof want.s) != (ssize_t)sizeof want.s ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("layer setup failed");
	root = open(p, O_PATH | O_DIRECTORY);
	snprintf(p, sizeof p, "%s/tar-split.json.gz", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = th_assemble(p, root, &want, count_sink, &sunk, &st, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	close(root);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc < 0) {
		fprintf(stderr, "bench_tarsplit: %s\n", err.msg);
		return 1;
	}
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("layer %" PRIu64 " MiB: stream %" PRIu64 " bytes (sink saw %" PRIu64 "), %s\n", mib,
	       st.bytes, sunk, st.digest.s);
	printf("peak RSS %ld KiB; %.2f s, %.0f MiB/s\n", ru.ru_maxrss, secs,
	       (double)st.bytes / 1048576.0 / secs);
	return 0;
}
