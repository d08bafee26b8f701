/* ctrapi_tool: every lib/ctrapi call from the command line, for tests/ctrapi-containerd.sh,
 * which checks the results against a real containerd with ctr.
 *
 *   ctrapi_tool SOCK NS [-l LEASE] CMD ARGS...   one call
 *   ctrapi_tool SOCK NS [-l LEASE] -             one call per line of stdin, all on one
 *                                                connection (a failed call does not stop it)
 *
 * Commands (labels are k=v words; "-" stands for an empty parent):
 *   version | root | export TYPE ID KEY
 *   lease-create ID [LABELS] | lease-delete ID [sync] | lease-list [FILTER]
 *   lease-add ID TYPE RESOURCE
 *   write REF FILE [LABELS]        Content.Write of FILE; prints "offset N" (resumed from) and
 *                                  "committed DIGEST SIZE MB/s"
 *   write-part REF FILE BYTES      writes the first BYTES of FILE and stops without committing
 *   write-twice REF FILE           opens a second writer on REF while a first one holds it
 *                                  (the second's error is the command's)
 *   info DIGEST | label DIGEST LABELS | read DIGEST [OFFSET SIZE] (data to stdout) | abort REF
 *   prepare SN KEY PARENT [LABELS] | mounts SN KEY   print the mounts and the parsed target
 *   commit SN NAME KEY [LABELS] | stat SN KEY | remove SN KEY
 *   image-create NAME MEDIATYPE DIGEST SIZE [LABELS] | image-update (same) | image-get NAME
 *   raw METHOD                     a unary call with an empty request
 *   pause                          waits for a line on stdin (lets the test restart containerd)
 *
 * A failed call prints "ERR <errno name>: <message>" on stderr; the exit status is 1 if any
 * call failed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctrapi.h"
#include "digest.h"
#include "mounts.h"

#define MAXARGS 64

static int parse_labels(char **words, int n, dm_labels *l, dm_error *err)
{
	for (int i = 0; i < n; i++) {
		char *eq = strchr(words[i], '=');
		if (!eq)
			return dm_err_set(err, EINVAL, "label %s is not k=v", words[i]);
		*eq = '\0';
		int rv = dm_labels_set(l, words[i], eq + 1, err);
		*eq = '=';
		if (rv < 0)
			return -1;
	}
	return 0;
}

static void print_labels(const dm_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf(" %s=%s", l->v[i].key, l->v[i].value);
	printf("\n");
}

static int load_file(const char *path, char **data, size_t *len, dm_error *err)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return dm_err_sys(err, "open %s", path);
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return dm_err_sys(err, "seek %s", path);
	}
	*data = malloc((size_t)n + 1);
	if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*data);
		return dm_err_set(err, EIO, "read %s", path);
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* write / write-part: stop < 0 commits the whole file. */
static int do_write(dm_grpc *c, const char *ref, const char *file, long long stop, char **lw,
		    int nl, dm_error *err)
{
	dm_labels labels = DM_LABELS_INIT;
	dm_ctr_writer *w = NULL;
	dm_digest d;
	char *data = NULL;
	size_t len = 0;
	int64_t off;
	int rv = -1;
	double t0;

	if (load_file(file, &data, &len, err) < 0 || parse_labels(lw, nl, &labels, err) < 0)
		goto out;
	dm_sha256_buf(data, len, &d);
	t0 = now();
	w = dm_ctr_writer_open(c, ref, &d, (int64_t)len, &off, err);
	if (!w)
		goto out;
	printf("offset %lld\n", (long long)off);
	if (stop >= 0) {
		if (stop < off || (size_t)stop > len) {
			dm_err_set(err, EINVAL, "cannot stop at %lld", stop);
			goto out;
		}
		rv = dm_ctr_writer_write(w, data + off, (size_t)stop - (size_t)off, err);
		goto out;
	}
	/* Odd-sized pieces so that chunk boundaries fall inside them. */
	for (size_t pos = (size_t)off; pos < len;) {
		size_t k = len - pos < 300007 ? len - pos : 300007;
		if (dm_ctr_writer_write(w, data + pos, k, err) < 0)
			goto out;
		pos += k;
	}
	if (dm_ctr_writer_commit(w, &labels, err) < 0)
		goto out;
	double dt = now() - t0;
	printf("committed %s %zu %.0f MB/s\n", d.s, len, dt > 0 ? (double)(len - (size_t)off) / dt / 1e6 : 0.0);
	rv = 0;
out:
	dm_ctr_writer_free(w);
	dm_labels_free(&labels);
	free(data);
	return rv;
}

static int sink_stdout(void *arg, const void *data, size_t len, dm_error *err)
{
	(void)arg;
	if (fwrite(data, 1, len, stdout) != len)
		return dm_err_sys(err, "write to stdout");
	return 0;
}

static int print_mounts(dm_mount *m, size_t n, dm_error *err)
{
	dm_mount_target t;

	for (size_t i = 0; i < n; i++) {
		printf("mount %s %s", m[i].type, m[i].source);
		for (size_t j = 0; j < m[i].noptions; j++)
			printf("%c%s", j ? ',' : ' ', m[i].options[j]);
		printf("\n");
	}
	int rv = dm_mount_target_parse(m, n, &t, err);
	if (rv == 0) {
		printf("target %s %s\n", t.kind == DM_MOUNT_OVERLAY ? "overlay" : "bind", t.dir);
		dm_mount_target_free(&t);
	}
	dm_ctr_mounts_free(m, n);
	return rv;
}

static int digest_arg(const char *s, dm_digest *d, dm_error *err)
{
	return dm_digest_parse(s, strlen(s), d, "digest argument", err);
}

static int run(dm_grpc *c, char **av, int ac, dm_error *err)
{
	const char *cmd = av[0];
	dm_labels labels = DM_LABELS_INIT;
	dm_digest d;
	int rv = -1;

#define NEED(n)                                                                  \
	do {                                                                     \
		if (ac < (n) + 1)                                                \
			return dm_err_set(err, EINVAL, "%s needs %d arguments", cmd, n); \
	} while (0)
	if (strcmp(cmd, "version") == 0) {
		dm_ctr_version v;
		if ((rv = dm_ctr_version_get(c, &v, err)) == 0)
			printf("%s %s\n", v.version, v.revision);
	} else if (strcmp(cmd, "root") == 0) {
		char *root;
		if ((rv = dm_ctr_root(c, &root, err)) == 0) {
			printf("%s\n", root);
			free(root);
		}
	} else if (strcmp(cmd, "export") == 0) {
		char *v;
		NEED(3);
		if ((rv = dm_ctr_plugin_export(c, av[1], av[2], av[3], &v, err)) == 0) {
			printf("%s\n", v);
			free(v);
		}
	} else if (strcmp(cmd, "lease-create") == 0) {
		NEED(1);
		if (parse_labels(av + 2, ac - 2, &labels, err) == 0)
			rv = dm_ctr_lease_create(c, av[1], &labels, err);
	} else if (strcmp(cmd, "lease-delete") == 0) {
		NEED(1);
		rv = dm_ctr_lease_delete(c, av[1], ac > 2 && strcmp(av[2], "sync") == 0, err);
	} else if (strcmp(cmd, "lease-list") == 0) {
		dm_ctr_lease *l;
		size_t n;
		if ((rv = dm_ctr_lease_list(c, ac > 1 ? av[1] : NULL, &l, &n, err)) == 0) {
			for (size_t i = 0; i < n; i++) {
				printf("lease %s %lld", l[i].id, (long long)l[i].created.tv_sec);
				print_labels(&l[i].labels);
			}
			dm_ctr_leases_free(l, n);
		}
	} else if (strcmp(cmd, "lease-add") == 0) {
		NEED(3);
		rv = dm_ctr_lease_add_resource(c, av[1], av[2], av[3], err);
	} else if (strcmp(cmd, "write") == 0) {
		NEED(2);
		rv = do_write(c, av[1], av[2], -1, av + 3, ac - 3, err);
	} else if (strcmp(cmd, "write-part") == 0) {
		NEED(3);
		rv = do_write(c, av[1], av[2], atoll(av[3]), NULL, 0, err);
	} else if (strcmp(cmd, "write-twice") == 0) {
		dm_ctr_writer *w1, *w2;
		char *data;
		size_t len;
		int64_t off;
		NEED(2);
		if (load_file(av[2], &data, &len, err) < 0)
			return -1;
		dm_sha256_buf(data, len, &d);
		free(data);
		w1 = dm_ctr_writer_open(c, av[1], &d, (int64_t)len, &off, err);
		if (w1) {
			w2 = dm_ctr_writer_open(c, av[1], &d, (int64_t)len, &off, err);
			rv = w2 ? 0 : -1;
			dm_ctr_writer_free(w2);
			dm_ctr_writer_free(w1);
		}
	} else if (strcmp(cmd, "info") == 0 || strcmp(cmd, "label") == 0) {
		dm_ctr_content_info i;
		NEED(1);
		if (digest_arg(av[1], &d, err) < 0)
			return -1;
		if (cmd[0] == 'i')
			rv = dm_ctr_content_get(c, &d, &i, err);
		else if (parse_labels(av + 2, ac - 2, &labels, err) == 0)
			rv = dm_ctr_content_set_labels(c, &d, &labels, &i, err);
		if (rv == 0) {
			printf("content %s %lld", i.digest.s, (long long)i.size);
			print_labels(&i.labels);
			dm_ctr_content_info_free(&i);
		}
	} else if (strcmp(cmd, "read") == 0) {
		NEED(1);
		if (digest_arg(av[1], &d, err) < 0)
			return -1;
		rv = dm_ctr_content_read(c, &d, ac > 3 ? atoll(av[2]) : 0, ac > 3 ? atoll(av[3]) : 0,
					 sink_stdout, NULL, err);
	} else if (strcmp(cmd, "abort") == 0) {
		NEED(1);
		rv = dm_ctr_content_abort(c, av[1], err);
	} else if (strcmp(cmd, "prepare") == 0 || strcmp(cmd, "mounts") == 0) {
		dm_mount *m;
		size_t n;
		NEED(2);
		if (cmd[0] == 'm')
			rv = dm_ctr_snapshot_mounts(c, av[1], av[2], &m, &n, err);
		else if (ac < 4)
			return dm_err_set(err, EINVAL, "prepare needs a parent or -");
		else if (parse_labels(av + 4, ac - 4, &labels, err) == 0)
			rv = dm_ctr_snapshot_prepare(c, av[1], av[2], strcmp(av[3], "-") ? av[3] : NULL,
						     &labels, &m, &n, err);
		if (rv == 0)
			rv = print_mounts(m, n, err);
	} else if (strcmp(cmd, "commit") == 0) {
		NEED(3);
		if (parse_labels(av + 4, ac - 4, &labels, err) == 0)
			rv = dm_ctr_snapshot_commit(c, av[1], av[2], av[3], &labels, err);
	} else if (strcmp(cmd, "stat") == 0) {
		static const char *const kinds[] = {"", "view", "active", "committed"};
		dm_ctr_snapshot_info i;
		NEED(2);
		if ((rv = dm_ctr_snapshot_stat(c, av[1], av[2], &i, err)) == 0) {
			printf("snapshot %s parent=%s kind=%s", i.name, i.parent[0] ? i.parent : "-",
			       kinds[i.kind]);
			print_labels(&i.labels);
			dm_ctr_snapshot_info_free(&i);
		}
	} else if (strcmp(cmd, "remove") == 0) {
		NEED(2);
		rv = dm_ctr_snapshot_remove(c, av[1], av[2], err);
	} else if (strcmp(cmd, "image-create") == 0 || strcmp(cmd, "image-update") == 0) {
		dm_ctr_image img = {.labels = DM_LABELS_INIT};
		NEED(4);
		if (digest_arg(av[3], &img.digest, err) < 0 ||
		    parse_labels(av + 5, ac - 5, &img.labels, err) < 0) {
			dm_labels_free(&img.labels);
			return -1;
		}
		img.name = av[1];
		img.media_type = av[2];
		img.size = atoll(av[4]);
		rv = strcmp(cmd, "image-create") == 0 ? dm_ctr_image_create(c, &img, err)
						      : dm_ctr_image_update(c, &img, err);
		dm_labels_free(&img.labels);
	} else if (strcmp(cmd, "image-get") == 0) {
		dm_ctr_image img;
		NEED(1);
		if ((rv = dm_ctr_image_get(c, av[1], &img, err)) == 0) {
			printf("image %s %s %s %lld", img.name, img.media_type, img.digest.s,
			       (long long)img.size);
			print_labels(&img.labels);
			dm_ctr_image_free(&img);
		}
	} else if (strcmp(cmd, "raw") == 0) {
		void *resp;
		size_t n;
		NEED(1);
		if ((rv = dm_grpc_unary(c, av[1], "", 0, &resp, &n, err)) == 0) {
			printf("reply %zu bytes\n", n);
			free(resp);
		}
	} else if (strcmp(cmd, "pause") == 0) {
		char line[16];
		printf("paused\n");
		fflush(stdout);
		rv = fgets(line, sizeof line, stdin) ? 0 : dm_err_set(err, EIO, "no line on stdin");
	} else {
		return dm_err_set(err, EINVAL, "unknown command %s", cmd);
	}
#undef NEED
	dm_labels_free(&labels);
	return rv;
}

int main(int argc, char **argv)
{
	dm_error err = {0};
	dm_grpc *c;
	int first = 3, failed = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: ctrapi_tool SOCK NS [-l LEASE] CMD ARGS... | -\n");
		return 2;
	}
	c = dm_grpc_connect(argv[1], argv[2], &err);
	if (!c) {
		fprintf(stderr, "ERR %s: %s\n", strerrorname_np(err.code), err.msg);
		return 1;
	}
	if (strcmp(argv[3], "-l") == 0 && argc > 5) {
		if (dm_grpc_set_lease(c, argv[4], &err) < 0) {
			fprintf(stderr, "ERR %s: %s\n", strerrorname_np(err.code), err.msg);
			return 1;
		}
		first = 5;
	}
	if (strcmp(argv[first], "-") != 0) {
		if (run(c, argv + first, argc - first, &err) < 0) {
			fprintf(stderr, "ERR %s: %s\n", strerrorname_np(err.code), err.msg);
			failed = 1;
		}
	} else {
		char line[8192];
		while (fgets(line, sizeof line, stdin)) {
			char *words[MAXARGS], *save = NULL;
			int n = 0;
			for (char *w = strtok_r(line, " \t\n", &save); w && n < MAXARGS;
			     w = strtok_r(NULL, " \t\n", &save))
				words[n++] = w;
			if (n == 0)
				continue;
			dm_err_clear(&err);
			if (run(c, words, n, &err) < 0) {
				fprintf(stderr, "ERR %s: %s\n", strerrorname_np(err.code), err.msg);
				failed = 1;
			}
			fflush(stdout);
			fflush(stderr);
		}
	}
	dm_grpc_close(c);
	return failed;
}
