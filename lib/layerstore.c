#include "config.h"
#include "layerstore.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "pool.h"
#include "reference.h"
#include "resolve.h"
#include "sizes.h"

/* Caps on what is read into memory, far above anything dockerd writes. */
#define MAX_SMALL_FILE 4096                   /* diff, size, cache-id, parent, mount-id */
#define MAX_CONFIG_FILE (16u << 20)           /* image config, container config.v2.json */
#define MAX_REPOSITORIES_FILE (64u << 20)

#define NONE SIZE_MAX

/* A repositories.json entry, normalised. */
typedef struct ref_entry {
	char *name;       /* fully qualified */
	bool is_digest;
	dm_digest image;
} ref_entry;

/* State of one dm_store_open call.  Allocation failures only set oom, so the many small
 * allocations need no individual unwinding; the open fails at the end if it is set. */
typedef struct loader {
	dm_store *st;
	int image_fd;            /* <root>/image/<driver> */
	bool oom;
	ref_entry *refs;
	size_t n_refs, cap_refs;
	dm_problem *problems;    /* sorted into store->problems at the end */
	size_t n_problems, cap_problems;
	bool *layer_read_ok;     /* diff, size, cache-id and parent parsed */
	bool *image_valid;       /* what moby would restore: config ok, linux, layer chain loadable */
	size_t *image_parent;    /* index of the parent image, or NONE */
} loader;

/* Each driver's layer directories: home/<cache-id>[/sub], home below the data-root (moby's
 * daemon/graphdriver/<driver>: d.home, and vfs's dir/, btrfs's subvolumes/). */
static const struct driver_info {
	const char *name;
	const char *home;
	const char *sub;        /* NULL: the layer directory is home/<cache-id> itself */
	bool dev_whiteouts;     /* deletions may be 0:0 character devices (overlay form) */
	bool aufs_whiteouts;    /* deletions may be empty .wh.<name> files (AUFS form) */
} drivers[] = {
	[DM_DRIVER_OVERLAY2] = { "overlay2", "overlay2", "diff", true, false },
	[DM_DRIVER_VFS] = { "vfs", "vfs/dir", NULL, false, false },
	[DM_DRIVER_BTRFS] = { "btrfs", "btrfs/subvolumes", NULL, false, false },
	/* ApplyDiff untars with archive.AUFSWhiteoutFormat; a layer fuse-overlayfs itself wrote
	 * (naiveDiff, a container's) has its 0:0 devices. */
	[DM_DRIVER_FUSE_OVERLAYFS] = { "fuse-overlayfs", "fuse-overlayfs", "diff", true, true },
};

const char *dm_driver_name(dm_driver driver)
{
	return drivers[driver].name;
}

int dm_driver_lookup(const char *name, dm_driver *out)
{
	for (size_t i = 0; i < sizeof drivers / sizeof *drivers; i++)
		if (strcmp(name, drivers[i].name) == 0) {
			*out = (dm_driver)i;
			return 0;
		}
	return -1;
}

static char *vxasprintf(loader *ld, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static char *vxasprintf(loader *ld, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		ld->oom = true;
		return NULL;
	}
	return s;
}

/* Reasons and problem IDs quote the store's bytes (a cache-id, a repositories.json
 * key): control characters become spaces there (as dm_err_set does with line
 * breaks), so that each stays the one line that plan and run print, and no
 * terminal control sequence gets through.  s may be NULL. */
static char *one_line(char *s)
{
	for (char *p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return s;
}

static char *xasprintf(loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *xasprintf(loader *ld, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vxasprintf(ld, fmt, ap);
	va_end(ap);
	return s;
}

static char *xstrdup(loader *ld, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		ld->oom = true;
	return d;
}

/* calloc that never asks for 0 bytes, so NULL always means out of memory. */
static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* Makes room for one more element in *arr (of *cap elements, n used). */
static bool grow(loader *ld, void *arr, size_t *cap, size_t n, size_t elem)
{
	void **p = arr;
	size_t ncap;
	void *q;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	q = reallocarray(*p, ncap, elem);
	if (!q) {
		ld->oom = true;
		return false;
	}
	memset((char *)q + *cap * elem, 0, (ncap - *cap) * elem);
	*p = q;
	*cap = ncap;
	return true;
}

/* A directory metadata files are read from: the fd for access, the path for messages. */
typedef struct dirref {
	int fd;
	const char *path;
} dirref;

#define PATH_FMT "%s/%s"

/* Reads d/name (following no symlink on the way, refusing anything but a regular file of at most
 * cap bytes) into a NUL-terminated buffer.  A missing file fails with code ENOENT. */
static int slurp_at(dirref d, const char *name, size_t cap, char **out, size_t *len, dm_error *err)
{
	char path[PATH_MAX];
	int fd, rc;

	snprintf(path, sizeof path, PATH_FMT, d.path, name);
	/* Beneath d without following any symlink; a FIFO or device is never opened. */
	if ((fd = dm_open_regular(d.fd, name, path, NULL, err)) < 0)
		return -1;
	rc = dm_read_fd(fd, path, cap, out, len, err);
	close(fd);
	return rc;
}

/* Reads a small metadata file and trims surrounding whitespace, as moby does. */
static int read_small(dirref d, const char *name, char **out, dm_error *err)
{
	char *buf, *s, *e;
	size_t len;

	if (slurp_at(d, name, MAX_SMALL_FILE, &buf, &len, err) < 0)
		return -1;
	if (strlen(buf) != len) {
		free(buf);
		return dm_err_set(err, EINVAL, PATH_FMT ": contains a NUL byte", d.path, name);
	}
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	memmove(buf, s, (size_t)(e - s) + 1);
	*out = buf;
	return 0;
}

/* Reads a file holding one digest.  Returns 1 when it is absent and optional. */
static int read_digest(dirref d, const char *name, bool optional, dm_digest *out, dm_error *err)
{
	char path[PATH_MAX], *s;
	int r;

	if (read_small(d, name, &s, err) < 0) {
		if (!optional || err->code != ENOENT)
			return -1;
		dm_err_clear(err);
		return 1;
	}
	snprintf(path, sizeof path, PATH_FMT, d.path, name);
	r = dm_digest_parse(s, strlen(s), out, path, err);
	free(s);
	return r;
}

/* Reads and parses a JSON file (lib/json's rules). */
static int load_json_file(dirref d, const char *name, size_t cap, json_object **out, dm_error *err)
{
	char path[PATH_MAX], *buf;
	size_t len;
	int r;

	*out = NULL;
	if (slurp_at(d, name, cap, &buf, &len, err) < 0)
		return -1;
	snprintf(path, sizeof path, PATH_FMT, d.path, name);
	r = dm_json_parse(buf, len, path, out, err);
	free(buf);
	return r;
}

static void problem(loader *ld, dm_item_kind kind, const char *id, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem(loader *ld, dm_item_kind kind, const char *id, bool warning, const char *fmt, ...)
{
	dm_problem *p;
	va_list ap;

	if (!grow(ld, &ld->problems, &ld->cap_problems, ld->n_problems, sizeof *ld->problems))
		return;
	p = &ld->problems[ld->n_problems++];
	*p = (dm_problem){ kind, one_line(xstrdup(ld, id)), NULL, warning };
	va_start(ap, fmt);
	p->reason = one_line(vxasprintf(ld, fmt, ap));
	va_end(ap);
}

/* ---- driver detection ---------------------------------------------------------------------- */

/* Every directory of the store is opened beneath its parent following no symlink. */
static int open_dir_at(int dirfd, const char *name, const char *path, dm_error *err)
{
	int fd = dm_openat_nosym(dirfd, name, O_RDONLY | O_DIRECTORY, 0);

	if (fd < 0)
		dm_err_sys(err, "%s", path);
	return fd;
}

static int unsupported(const char *name, dm_error *err)
{
	return dm_err_set(err, ENOTSUP, "storage driver \"%s\" is not supported (only overlay2, vfs, btrfs and fuse-overlayfs)", name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Picks the driver from the directory names in <root>/image when none is given. */
static int detect_driver(int root_fd, const char *root, const char *want, dm_driver *out, dm_error *err)
{
	char *names[16], found[512] = "";
	size_t n = 0, used = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = -1;

	if (want)
		return dm_driver_lookup(want, out) < 0 ? unsupported(want, err) : 0;
	fd = dm_openat_nosym(root_fd, "image", O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return dm_err_sys(err, "%s/image: no Docker image store here", root);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return dm_err_sys(err, "%s/image", root);
	}
	while (n < sizeof names / sizeof *names && (de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			dm_err_sys(err, "%s/image", root);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		dm_err_set(err, ENOENT, "%s/image: no graphdriver image store in it", root);
		goto out;
	}
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && used < sizeof found; i++)
		used += (size_t)snprintf(found + used, sizeof found - used, "%s%s", i ? ", " : "", names[i]);
	if (n > 1)
		dm_err_set(err, EINVAL,
			   "%s/image: several graphdriver image stores (%s); name the storage driver dockerd uses",
			   root, found);
	else if (dm_driver_lookup(names[0], out) < 0)
		unsupported(names[0], err);
	else
		r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return r;
}

/* ---- repositories.json --------------------------------------------------------------------- */

static void add_reference(loader *ld, const char *path, const char *key, json_object *val)
{
	char norm[DM_REF_STR_MAX + 1];
	const char *id = json_object_get_string(val);
	dm_reference ref;
	dm_digest image;
	dm_error e = { 0 };

	if (dm_ref_parse(key, &ref, &e) < 0) {
		problem(ld, DM_ITEM_REFERENCE, key, false, "%s: %s; entry ignored", path, e.msg);
		return;
	}
	if (dm_digest_parse(id, (size_t)json_object_get_string_len(val), &image, "image ID", &e) < 0) {
		problem(ld, DM_ITEM_REFERENCE, key, false, "%s: \"%s\": %s; entry ignored", path, key, e.msg);
		return;
	}
	if (!ref.tag[0] && !ref.digest[0])
		strcpy(ref.tag, "latest");
	dm_ref_string(&ref, norm);
	if (!grow(ld, &ld->refs, &ld->cap_refs, ld->n_refs, sizeof *ld->refs))
		return;
	ld->refs[ld->n_refs] = (ref_entry){ xstrdup(ld, norm), ref.digest[0] != '\0', image };
	ld->n_refs += ld->refs[ld->n_refs].name != NULL;
}

/* Fatal on any deviation from the shape dockerd writes: guessing would lose tags silently. */
static int load_repositories(loader *ld, dm_error *err)
{
	dirref d = { ld->image_fd, ld->st->image_dir };
	json_object *top = NULL, *repos = NULL;
	char path[PATH_MAX];
	int r = -1;

	snprintf(path, sizeof path, PATH_FMT, d.path, "repositories.json");
	if (load_json_file(d, "repositories.json", MAX_REPOSITORIES_FILE, &top, err) < 0) {
		/* dockerd starts with no tags when the file does not exist yet. */
		if (err->code == ENOENT) {
			dm_err_clear(err);
			r = 0;
		}
		goto out;
	}
	if (!json_object_is_type(top, json_type_object)) {
		dm_err_set(err, EINVAL, "%s: not a JSON object", path);
		goto out;
	}
	json_object_object_foreach(top, k, v) {
		if (strcmp(k, "Repositories") != 0) {
			dm_err_set(err, EINVAL, "%s: unexpected key \"%s\" (want only \"Repositories\")", path, k);
			goto out;
		}
		repos = v;
	}
	if (repos && !json_object_is_type(repos, json_type_object) && !json_object_is_type(repos, json_type_null)) {
		dm_err_set(err, EINVAL, "%s: \"Repositories\" is not an object", path);
		goto out;
	}
	if (json_object_is_type(repos, json_type_object)) {
		json_object_object_foreach(repos, repo, refs) {
			if (json_object_is_type(refs, json_type_null))
				continue;
			if (!json_object_is_type(refs, json_type_object)) {
				dm_err_set(err, EINVAL, "%s: repository \"%s\" is not an object", path, repo);
				goto out;
			}
			json_object_object_foreach(refs, key, val) {
				if (!json_object_is_type(val, json_type_string)) {
					dm_err_set(err, EINVAL, "%s: \"%s\": image ID is not a string", path, key);
					goto out;
				}
				add_reference(ld, path, key, val);
			}
		}
	}
	r = 0;
out:
	json_object_put(top);
	return r;
}

static int cmp_ref(const void *a, const void *b)
{
	const ref_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->image.s, y->image.s);
}

/* Two keys can normalise to one name ("busybox:latest", "docker.io/library/busybox:latest"). */
static void dedupe_refs(loader *ld)
{
	size_t out = 0;

	if (ld->n_refs)
		qsort(ld->refs, ld->n_refs, sizeof *ld->refs, cmp_ref);
	for (size_t i = 0; i < ld->n_refs;) {
		ref_entry keep = ld->refs[i];
		size_t j = i + 1;
		bool conflict = false;

		while (j < ld->n_refs && strcmp(ld->refs[j].name, keep.name) == 0) {
			conflict |= strcmp(ld->refs[j].image.s, keep.image.s) != 0;
			j++;
		}
		ld->refs[i].name = NULL;
		for (size_t k = i; k < j; k++)
			free(ld->refs[k].name);
		if (conflict) {
			problem(ld, DM_ITEM_REFERENCE, keep.name, false,
				"%s/repositories.json: %s names %zu different images; all ignored",
				ld->st->image_dir, keep.name, j - i);
			free(keep.name);
		} else {
			ld->refs[out++] = keep;
		}
		i = j;
	}
	ld->n_refs = out;
}

/* ---- layers -------------------------------------------------------------------------------- */

static bool cache_id_safe(const char *s)
{
	return s[0] && strlen(s) <= 255 && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void layer_fail(loader *ld, dm_layer *l, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keeps the first reason: it is the root cause. */
static void layer_fail(loader *ld, dm_layer *l, const char *fmt, ...)
{
	va_list ap;

	l->usable = false;
	if (l->reason)
		return;
	va_start(ap, fmt);
	l->reason = one_line(vxasprintf(ld, fmt, ap));
	va_end(ap);
}

/* Opens the layer's root (home/<cache-id>[/sub], see drivers[]) without following any symlink,
 * as an O_PATH directory fd for the tar-split reader to resolve names beneath. */
static int open_layer_root(const dm_store *st, const dm_layer *l, dm_error *err)
{
	int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(st->home_fd, l->cache_id, flags), diff;

	if (fd < 0 || !drivers[st->driver].sub)
		goto done;
	diff = openat(fd, drivers[st->driver].sub, flags);
	close(fd);
	fd = diff;
done:
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return dm_err_set(err, errno, "%s: not a directory (or a symbolic link)", l->dir);
		return dm_err_sys(err, "%s", l->dir);
	}
	return fd;
}

/* Opens the layer's tar-split beneath image/<driver> following no symlink: a regular file only. */
static int open_tarsplit(int image_fd, const dm_layer *l, dm_error *err)
{
	char rel[sizeof "layerdb/sha256/" + DM_DIGEST_HEXLEN + sizeof "/tar-split.json.gz"];

	snprintf(rel, sizeof rel, "layerdb/sha256/%s/tar-split.json.gz", dm_digest_hex(&l->chain_id));
	return dm_open_regular(image_fd, rel, l->tarsplit_path, NULL, err);
}

/* Reads the files of layerdb/sha256/<hex>; failures here mean moby could not load the layer. */
static void read_layer(loader *ld, int sha_fd, const char *hex, dm_layer *l, bool *read_ok)
{
	char *dir = xasprintf(ld, "%s/layerdb/sha256/%s", ld->st->image_dir, hex), *size = NULL, *end;
	dm_error e = { 0 };
	dirref d = { -1, dir };

	memcpy(l->chain_id.s, DM_DIGEST_PREFIX, 7);
	memcpy(l->chain_id.s + 7, hex, DM_DIGEST_HEXLEN + 1);
	l->usable = true;
	if (!dir)
		return;
	l->tarsplit_path = xasprintf(ld, "%s/tar-split.json.gz", dir);
	d.fd = open_dir_at(sha_fd, hex, dir, &e);
	if (d.fd < 0 || read_digest(d, "diff", false, &l->diff_id, &e) < 0 ||
	    read_small(d, "size", &size, &e) < 0)
		goto bad;
	errno = 0;
	l->size = strtoll(size, &end, 10);
	if (!*size || *end || errno || l->size < 0) {
		dm_err_set(&e, EINVAL, "%s/size: \"%s\" is not a size in bytes", dir, size);
		goto bad;
	}
	if (read_small(d, "cache-id", &l->cache_id, &e) < 0)
		goto bad;
	if (!l->cache_id[0]) {
		dm_err_set(&e, EINVAL, "%s/cache-id: empty", dir);
		goto bad;
	}
	if (read_digest(d, "parent", true, &l->parent_id, &e) < 0)
		goto bad;
	*read_ok = true;
	goto out;
bad:
	layer_fail(ld, l, "%s", e.msg);
out:
	if (d.fd >= 0)
		close(d.fd);
	free(size);
	free(dir);
}

/* Things needed to rebuild the stream but not to load the chain: checked once the chain is known,
 * so that a broken chain is reported as the cause. */
static void check_layer_streamable(loader *ld, dm_layer *l)
{
	const dm_store *st = ld->st;
	dm_error e = { 0 };
	int fd;

	if (!cache_id_safe(l->cache_id)) {
		layer_fail(ld, l, "%s/layerdb/sha256/%s/cache-id: \"%s\" is not a single path component",
			   st->image_dir, dm_digest_hex(&l->chain_id), l->cache_id);
		return;
	}
	l->dir = drivers[st->driver].sub ? xasprintf(ld, "%s/%s/%s/%s", st->root, drivers[st->driver].home,
						      l->cache_id, drivers[st->driver].sub)
					 : xasprintf(ld, "%s/%s/%s", st->root, drivers[st->driver].home, l->cache_id);
	if (!l->dir)
		return;
	fd = open_layer_root(st, l, &e);
	if (fd < 0) {
		layer_fail(ld, l, "%s", e.msg);
		return;
	}
	close(fd);
	if (!l->tarsplit_path)
		return;
	fd = open_tarsplit(ld->image_fd, l, &e);
	if (fd >= 0)
		close(fd);
	else if (e.code == ENOENT)
		layer_fail(ld, l, "%s: missing; the layer's exact bytes cannot be rebuilt", l->tarsplit_path);
	else
		layer_fail(ld, l, "%s; the layer's exact bytes cannot be rebuilt", e.msg);
}

static int cmp_layer_key(const void *key, const void *b)
{
	return strcmp(key, ((const dm_layer *)b)->chain_id.s);
}

const dm_layer *dm_store_layer(const dm_store *st, const char *chain_id)
{
	return st->n_layers ? bsearch(chain_id, st->layers, st->n_layers, sizeof *st->layers, cmp_layer_key)
			    : NULL;
}

/* Opens <image dir>/rel into d->fd (-1 when it does not exist: no entries) and lists, sorted, the
 * entries named by 64 lowercase hex digits; others are crash leftovers such as .tmp-* files or
 * *-removing directories. */
static int list_hex_dir(loader *ld, const char *rel, dirref *d, char (**out)[65], size_t *n, dm_error *err)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	*out = NULL;
	*n = 0;
	d->fd = dm_openat_nosym(ld->image_fd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (d->fd < 0)
		return errno == ENOENT ? 0 : dm_err_sys(err, "%s", d->path);
	/* A second open file description: readdir moves its offset, d->fd stays for openat. */
	fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return dm_err_sys(err, "%s", d->path);
	}
	while ((errno = 0, de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (!dm_digest_hex_valid(de->d_name, len) || !grow(ld, out, &cap, *n, sizeof **out))
			continue;
		memcpy((*out)[(*n)++], de->d_name, len + 1);
	}
	if (errno) {
		dm_err_sys(err, "%s", d->path);
		closedir(dir);
		return -1;
	}
	closedir(dir);
	if (*n)
		qsort(*out, *n, sizeof **out, (int (*)(const void *, const void *))strcmp);
	return 0;
}

/* Marks in cyc[] every node on a cycle of parent[] (NONE: no parent) and fills order[] with all
 * nodes, each after its parent.  Linear time: each node is walked once. */
static bool find_cycles(loader *ld, const size_t *parent, size_t n, bool *cyc, size_t *order)
{
	unsigned char *state = zalloc(n, 1); /* 0 unseen, 1 on the current walk, 2 done */
	size_t *stack = zalloc(n, sizeof *stack);
	size_t k = 0;

	if (!state || !stack) {
		free(state);
		free(stack);
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		size_t top = 0, j = i;

		while (j != NONE && state[j] == 0) {
			state[j] = 1;
			stack[top++] = j;
			j = parent[j];
		}
		if (j != NONE && state[j] == 1)
			for (size_t m = top; m-- > 0;) {
				cyc[stack[m]] = true;
				if (stack[m] == j)
					break;
			}
		while (top-- > 0) {
			state[stack[top]] = 2;
			order[k++] = stack[top];
		}
	}
	free(state);
	free(stack);
	return true;
}

/* Links parents and computes depths; a layer whose chain moby could not load gets depth 0. */
static void link_layers(loader *ld)
{
	dm_store *st = ld->st;
	size_t n = st->n_layers;
	size_t *parent = zalloc(n, sizeof *parent), *order = zalloc(n, sizeof *order);
	bool *cyc = zalloc(n, sizeof *cyc);

	if (!parent || !order || !cyc) {
		ld->oom = true;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const dm_layer *p = ld->layer_read_ok[i] && st->layers[i].parent_id.s[0]
					    ? dm_store_layer(st, st->layers[i].parent_id.s)
					    : NULL;

		parent[i] = p ? (size_t)(p - st->layers) : NONE;
		st->layers[i].parent = p;
	}
	if (!find_cycles(ld, parent, n, cyc, order))
		goto out;
	for (size_t k = 0; k < n; k++) {
		dm_layer *l = &st->layers[order[k]];
		char why[256] = "";
		dm_digest want;

		if (!ld->layer_read_ok[order[k]])
			continue;
		if (cyc[order[k]])
			snprintf(why, sizeof why, "parent: layer parent cycle (its chain of parents leads back to it)");
		else if (l->parent_id.s[0] && !l->parent)
			snprintf(why, sizeof why, "parent: parent layer %s is not in the layer store", l->parent_id.s);
		else if (l->parent && !l->parent->depth)
			snprintf(why, sizeof why, "parent: parent layer %s is broken", l->parent_id.s);
		else if (l->parent && l->parent->depth >= DM_MAX_LAYER_DEPTH)
			snprintf(why, sizeof why, "parent: chain deeper than %d layers", DM_MAX_LAYER_DEPTH);
		if (!why[0]) {
			dm_chain_id(l->parent ? &l->parent_id : NULL, &l->diff_id, &want);
			if (strcmp(want.s, l->chain_id.s) != 0)
				snprintf(why, sizeof why, "diff: chain ID does not match diff and parent (they give %s)",
					 want.s);
		}
		if (why[0])
			layer_fail(ld, l, "%s/layerdb/sha256/%s/%s", st->image_dir, dm_digest_hex(&l->chain_id), why);
		else
			l->depth = l->parent ? l->parent->depth + 1 : 1;
	}
	for (size_t i = 0; i < n; i++)
		if (ld->layer_read_ok[i])
			check_layer_streamable(ld, &st->layers[i]);
out:
	free(parent);
	free(order);
	free(cyc);
}

static int load_layers(loader *ld, dm_error *err)
{
	dm_store *st = ld->st;
	char (*names)[65] = NULL, *path = xasprintf(ld, "%s/layerdb/sha256", st->image_dir);
	dirref d = { -1, path };
	int r = -1;

	if (!path)
		return dm_err_nomem(err);
	if (list_hex_dir(ld, "layerdb/sha256", &d, &names, &st->n_layers, err) < 0)
		goto out;
	st->layers = zalloc(st->n_layers, sizeof *st->layers);
	ld->layer_read_ok = zalloc(st->n_layers, sizeof *ld->layer_read_ok);
	if (!st->layers || !ld->layer_read_ok) {
		st->n_layers = 0;
		dm_err_nomem(err);
		goto out;
	}
	/* names are sorted, so layers are in chain-ID order as read. */
	for (size_t i = 0; i < st->n_layers; i++)
		read_layer(ld, d.fd, names[i], &st->layers[i], &ld->layer_read_ok[i]);
	link_layers(ld);
	r = 0;
out:
	if (d.fd >= 0)
		close(d.fd);
	free(names);
	free(path);
	return r;
}

/* ---- images -------------------------------------------------------------------------------- */

static void image_fail(loader *ld, dm_image *img, dm_image_state state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void image_fail(loader *ld, dm_image *img, dm_image_state state, const char *fmt, ...)
{
	va_list ap;

	if (img->reason)
		return;
	img->state = state;
	va_start(ap, fmt);
	img->reason = one_line(vxasprintf(ld, fmt, ap));
	va_end(ap);
}

/* An optional string field: absent and null are allowed (NULL), another type is not. */
static int config_string(json_object *cfg, const char *key, char **out, const char *what, dm_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return dm_err_set(err, EINVAL, "%s: \"%s\" is not a string", what, key);
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return dm_err_set(err, EINVAL, "%s: \"%s\" contains a NUL byte", what, key);
	if (!(*out = strdup(json_object_get_string(v))))
		return dm_err_nomem(err);
	return 0;
}

static int parse_config(json_object *cfg, const char *what, dm_image_config *out, dm_error *err)
{
	json_object *rootfs, *ids = NULL, *type = NULL;
	size_t n;

	if (!json_object_is_type(cfg, json_type_object))
		return dm_err_set(err, EINVAL, "%s: not a JSON object", what);
	if (!json_object_object_get_ex(cfg, "rootfs", &rootfs) || !json_object_is_type(rootfs, json_type_object))
		return dm_err_set(err, EINVAL, "%s: no \"rootfs\" object: not an image config", what);
	if (config_string(cfg, "os", &out->os, what, err) < 0 ||
	    config_string(cfg, "architecture", &out->arch, what, err) < 0 ||
	    config_string(cfg, "variant", &out->variant, what, err) < 0)
		return -1;
	/* doc/legacy-store.md §3: rootfs.type, when present, is "layers"; moby refuses others. */
	if (json_object_object_get_ex(rootfs, "type", &type) && type &&
	    (!json_object_is_type(type, json_type_string) || strcmp(json_object_get_string(type), "layers") != 0))
		return dm_err_set(err, EINVAL, "%s: rootfs.type is %.100s, want \"layers\"", what,
				  json_object_to_json_string_ext(type, JSON_C_TO_STRING_PLAIN));
	/* Docker omits diff_ids for an image without layers (omitempty). */
	json_object_object_get_ex(rootfs, "diff_ids", &ids);
	if (ids && !json_object_is_type(ids, json_type_null) && !json_object_is_type(ids, json_type_array))
		return dm_err_set(err, EINVAL, "%s: \"rootfs.diff_ids\" is not an array", what);
	n = json_object_is_type(ids, json_type_array) ? json_object_array_length(ids) : 0;
	if (n > DM_MAX_LAYER_DEPTH)
		return dm_err_set(err, EINVAL, "%s: %zu layers, more than %d", what, n, DM_MAX_LAYER_DEPTH);
	if (n && !(out->diff_ids = calloc(n, sizeof *out->diff_ids)))
		return dm_err_nomem(err);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(ids, i);
		const char *s = json_object_get_string(v);

		/* Exact form only: moby's digest.Parse takes no surrounding space or upper case. */
		if (!json_object_is_type(v, json_type_string) || !dm_digest_valid(s) ||
		    json_object_get_string_len(v) != DM_DIGEST_STRLEN)
			return dm_err_set(err, EINVAL, "%s: rootfs.diff_ids[%zu] is not a sha256 digest", what, i);
		memcpy(out->diff_ids[i].s, s, DM_DIGEST_STRLEN + 1);
		out->n_diff_ids = i + 1;
	}
	return 0;
}

int dm_image_config_parse(const char *buf, size_t len, const char *what, dm_image_config *out,
			  dm_error *err)
{
	json_object *cfg;
	int r;

	memset(out, 0, sizeof *out);
	if (dm_json_parse(buf, len, what, &cfg, err) < 0)
		return -1;
	r = parse_config(cfg, what, out, err);
	json_object_put(cfg);
	if (r < 0)
		dm_image_config_free(out);
	return r;
}

void dm_image_config_free(dm_image_config *c)
{
	free(c->os);
	free(c->arch);
	free(c->variant);
	free(c->diff_ids);
	memset(c, 0, sizeof *c);
}

/* Finds each layer of the image by its chain ID.  A usable layer's chain ID was checked against
 * its own diff and parent, so finding it by the chain computed from diff_ids proves both match. */
static void resolve_image_layers(loader *ld, dm_image *img, bool *valid)
{
	dm_digest chain, prev;

	for (size_t i = 0; i < img->n_layers; i++) {
		dm_layer *l;

		dm_chain_id(i ? &prev : NULL, &img->diff_ids[i], &chain);
		l = (dm_layer *)dm_store_layer(ld->st, chain.s);
		img->layers[i] = l;
		prev = chain;
		if (!l)
			image_fail(ld, img, DM_IMAGE_BROKEN,
				   "layer %s (rootfs.diff_ids[%zu]) is not in the layer store", chain.s, i);
		else if (!l->usable)
			image_fail(ld, img, DM_IMAGE_BROKEN, "layer %s: %s", chain.s, l->reason ? l->reason : "unusable");
		else
			img->size = dm_size_add(img->size, dm_size_of(l->size));
	}
	/* moby restores an image whose top layer loads, even when the layer cannot be streamed. */
	*valid = img->n_layers == 0 || (img->layers[img->n_layers - 1] && img->layers[img->n_layers - 1]->depth);
}

static void read_image(loader *ld, dirref content, const char *hex, dm_image *img, bool *valid)
{
	dm_store *st = ld->st;
	dm_image_config cfg;
	dm_digest actual;
	dm_error e = { 0 };
	size_t len;

	memcpy(img->id.s, DM_DIGEST_PREFIX, 7);
	memcpy(img->id.s + 7, hex, DM_DIGEST_HEXLEN + 1);
	img->config_path = xasprintf(ld, "%s/imagedb/content/sha256/%s", st->image_dir, hex);
	if (!img->config_path)
		return;
	if (slurp_at(content, hex, MAX_CONFIG_FILE, &img->config, &len, &e) < 0) {
		image_fail(ld, img, DM_IMAGE_BROKEN, "%s", e.msg);
		return;
	}
	img->config_size = len;
	/* A digest mismatch explains a parse error, so it is checked first. */
	dm_sha256_buf(img->config, len, &actual);
	if (strcmp(actual.s, img->id.s) != 0) {
		image_fail(ld, img, DM_IMAGE_BROKEN, "%s: content does not match its digest (its sha256 is %s)",
			   img->config_path, actual.s);
		return;
	}
	if (dm_image_config_parse(img->config, len, img->config_path, &cfg, &e) < 0) {
		ld->oom |= e.code == ENOMEM;
		image_fail(ld, img, DM_IMAGE_BROKEN, "%s", e.msg);
		return;
	}
	img->os = cfg.os;
	img->arch = cfg.arch;
	img->variant = cfg.variant;
	img->diff_ids = cfg.diff_ids;
	img->n_layers = cfg.n_diff_ids;
	if (!(img->layers = zalloc(img->n_layers, sizeof *img->layers))) {
		ld->oom = true;
		return;
	}
	if (img->os && img->os[0] && strcasecmp(img->os, "linux") != 0)
		image_fail(ld, img, DM_IMAGE_UNSUPPORTED, "%s: os \"%s\" is not linux", img->config_path, img->os);
	else
		resolve_image_layers(ld, img, valid);
}

static int cmp_image_key(const void *key, const void *b)
{
	return strcmp(key, ((const dm_image *)b)->id.s);
}

const dm_image *dm_store_image(const dm_store *st, const char *id)
{
	return st->n_images ? bsearch(id, st->images, st->n_images, sizeof *st->images, cmp_image_key) : NULL;
}

/* imagedb/metadata parents, as moby's children map sees them: only between valid images.  A
 * cycle cannot come from dockerd; its links are dropped so every member stays visible. */
static void link_images(loader *ld, dirref meta)
{
	dm_store *st = ld->st;
	size_t n = st->n_images, *order = zalloc(n, sizeof *order);
	bool *cyc = zalloc(n, sizeof *cyc);

	ld->image_parent = zalloc(n, sizeof *ld->image_parent);
	if (!order || !cyc || !ld->image_parent) {
		ld->oom = true;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		dm_image *img = &st->images[i];
		const char *hex = dm_digest_hex(&img->id);
		char rel[DM_DIGEST_HEXLEN + sizeof "/parent"];
		const dm_image *p = NULL;
		dm_error e = { 0 };

		ld->image_parent[i] = NONE;
		if (meta.fd < 0)
			continue;
		snprintf(rel, sizeof rel, "%s/parent", hex);
		if (read_digest(meta, rel, true, &img->parent, &e) < 0)
			problem(ld, DM_ITEM_IMAGE, img->id.s, true, "%s; parent link ignored", e.msg);
		if (img->parent.s[0] && ld->image_valid[i])
			p = dm_store_image(st, img->parent.s);
		if (p && ld->image_valid[p - st->images])
			ld->image_parent[i] = (size_t)(p - st->images);
	}
	if (!find_cycles(ld, ld->image_parent, n, cyc, order))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (cyc[i]) {
			problem(ld, DM_ITEM_IMAGE, st->images[i].id.s, true,
				"%s/imagedb/metadata/sha256/%s/parent: image parent cycle; parent link ignored",
				st->image_dir, dm_digest_hex(&st->images[i].id));
			ld->image_parent[i] = NONE;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (ld->image_parent[i] != NONE)
			st->images[ld->image_parent[i]].n_children++;
out:
	free(order);
	free(cyc);
}

static int load_images(loader *ld, dm_error *err)
{
	dm_store *st = ld->st;
	char (*names)[65] = NULL, *path = xasprintf(ld, "%s/imagedb/content/sha256", st->image_dir);
	char *meta_path = xasprintf(ld, "%s/imagedb/metadata/sha256", st->image_dir);
	dirref d = { -1, path }, meta = { -1, meta_path };
	int r = -1;

	if (!path || !meta_path) {
		dm_err_nomem(err);
		goto out;
	}
	if (list_hex_dir(ld, "imagedb/content/sha256", &d, &names, &st->n_images, err) < 0)
		goto out;
	st->images = zalloc(st->n_images, sizeof *st->images);
	ld->image_valid = zalloc(st->n_images, sizeof *ld->image_valid);
	if (!st->images || !ld->image_valid) {
		st->n_images = 0;
		dm_err_nomem(err);
		goto out;
	}
	for (size_t i = 0; i < st->n_images; i++)
		read_image(ld, d, names[i], &st->images[i], &ld->image_valid[i]);
	/* Parents are optional: a store made only by pulls may have no metadata at all. */
	meta.fd = dm_openat_nosym(ld->image_fd, "imagedb/metadata/sha256", O_RDONLY | O_DIRECTORY, 0);
	link_images(ld, meta);
	r = 0;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (meta.fd >= 0)
		close(meta.fd);
	free(names);
	free(path);
	free(meta_path);
	return r;
}

static void push_name(loader *ld, char ***arr, size_t *n, const char *name)
{
	char **p = reallocarray(*arr, *n + 1, sizeof **arr);

	if (!p) {
		ld->oom = true;
		return;
	}
	*arr = p;
	p[*n] = xstrdup(ld, name);
	(*n)++;
}

/* Attaches names (already sorted), then decides which images are migrated. */
static void classify_images(loader *ld)
{
	dm_store *st = ld->st;

	for (size_t i = 0; i < ld->n_refs; i++) {
		const ref_entry *r = &ld->refs[i];
		dm_image *img = (dm_image *)dm_store_image(st, r->image.s);

		if (!img)
			problem(ld, DM_ITEM_REFERENCE, r->name, false,
				"%s/repositories.json: %s points to image %s, which is not in imagedb", st->image_dir,
				r->name, r->image.s);
		else if (r->is_digest)
			push_name(ld, &img->digests, &img->n_digests, r->name);
		else
			push_name(ld, &img->tags, &img->n_tags, r->name);
	}
	for (size_t i = 0; i < st->n_images; i++) {
		dm_image *img = &st->images[i];

		img->dangling = !img->n_tags && !img->n_digests;
		img->head = ld->image_valid[i] && !img->n_children;
		if (img->dangling && img->n_children)
			image_fail(ld, img, DM_IMAGE_BUILD_CACHE,
				   "untagged intermediate image with %u child image(s): legacy build cache",
				   img->n_children);
		img->migrate = img->state == DM_IMAGE_MIGRATE;
		for (size_t k = 0; k < img->n_layers; k++) {
			if (!img->layers[k])
				continue;
			img->layers[k]->refcount++;
			img->layers[k]->migrate_refs += img->migrate;
		}
	}
}

/* ---- containers ---------------------------------------------------------------------------- */

static bool mount_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == DM_DIGEST_HEXLEN + 5 && strcmp(s + DM_DIGEST_HEXLEN, "-init") == 0)
		n = DM_DIGEST_HEXLEN;
	return dm_digest_hex_valid(s, n);
}

/* A string member of o: 0 with *out (NULL when absent or null), -1 when another type. */
static int json_str_member(json_object *o, const char *key, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	return 0;
}

/* A boolean member of o (false when absent): -1 when another type. */
static int json_bool_member(json_object *o, const char *key, bool *out)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}

/* What a container's containers/<id>/config.v2.json says (doc/legacy-store.md §3.2): the image,
 * name, driver and state.  The file may be absent (only run --containers needs it). */
static void container_config(loader *ld, dirref containers, dm_container *c, dm_error *err)
{
	char rel[DM_DIGEST_HEXLEN + sizeof "/config.v2.json"];
	json_object *cfg = NULL, *state;
	const char *img, *name, *driver;

	if (containers.fd < 0)
		return;
	snprintf(rel, sizeof rel, "%s/config.v2.json", c->id);
	if (load_json_file(containers, rel, MAX_CONFIG_FILE, &cfg, err) < 0) {
		if (err->code == ENOENT)
			dm_err_clear(err);
		goto out;
	}
	if (!json_object_is_type(cfg, json_type_object)) {
		dm_err_set(err, EINVAL, PATH_FMT ": not a JSON object", containers.path, rel);
		goto out;
	}
	if (json_str_member(cfg, "Image", &img) < 0 || (img && !dm_digest_valid(img))) {
		dm_err_set(err, EINVAL, PATH_FMT ": \"Image\" is not a sha256 digest", containers.path, rel);
		goto out;
	}
	if (img)
		memcpy(c->image.s, img, DM_DIGEST_STRLEN + 1);
	if (json_str_member(cfg, "Name", &name) < 0 || json_str_member(cfg, "Driver", &driver) < 0) {
		dm_err_set(err, EINVAL, PATH_FMT ": \"Name\" or \"Driver\" is not a string", containers.path, rel);
		goto out;
	}
	state = NULL;
	if (json_object_object_get_ex(cfg, "State", &state) && !json_object_is_type(state, json_type_null) &&
	    !json_object_is_type(state, json_type_object)) {
		dm_err_set(err, EINVAL, PATH_FMT ": \"State\" is not an object", containers.path, rel);
		goto out;
	}
	if (state && (json_bool_member(state, "Running", &c->running) < 0 ||
		      json_bool_member(state, "Paused", &c->paused) < 0 ||
		      json_bool_member(state, "Restarting", &c->restarting) < 0)) {
		dm_err_set(err, EINVAL, PATH_FMT ": \"State\" holds a flag that is not a boolean", containers.path,
			   rel);
		goto out;
	}
	c->name = one_line(xstrdup(ld, name));
	c->driver = one_line(xstrdup(ld, driver));
	c->has_config = true;
out:
	json_object_put(cfg);
}

static void read_container(loader *ld, int mounts_fd, dirref containers, const char *id, dm_container *c)
{
	char *dir = xasprintf(ld, "%s/layerdb/mounts/%s", ld->st->image_dir, id);
	dm_error e = { 0 };
	dirref d = { -1, dir };

	c->id = xstrdup(ld, id);
	if (!dir || !c->id)
		goto out;
	d.fd = open_dir_at(mounts_fd, id, dir, &e);
	if (d.fd < 0 || read_small(d, "mount-id", &c->mount_id, &e) < 0)
		goto out;
	if (!mount_id_valid(c->mount_id)) {
		dm_err_set(&e, EINVAL, "%s/mount-id: \"%s\" is not a mount ID", dir, c->mount_id);
		goto out;
	}
	if (read_small(d, "init-id", &c->init_id, &e) < 0) {
		if (e.code != ENOENT)
			goto out;
		dm_err_clear(&e);
	} else if (!mount_id_valid(c->init_id)) {
		dm_err_set(&e, EINVAL, "%s/init-id: \"%s\" is not a mount ID", dir, one_line(c->init_id));
		goto out;
	}
	if (read_digest(d, "parent", true, &c->parent_id, &e) < 0)
		goto out;
	c->parent = c->parent_id.s[0] ? dm_store_layer(ld->st, c->parent_id.s) : NULL;
	if (c->parent_id.s[0] && !c->parent) {
		dm_err_set(&e, ENOENT, "%s/parent: layer %s is not in the layer store", dir, c->parent_id.s);
		goto out;
	}
	container_config(ld, containers, c, &e);
out:
	if (e.msg[0])
		c->reason = one_line(xstrdup(ld, e.msg));
	if (d.fd >= 0)
		close(d.fd);
	free(dir);
}

static int load_containers(loader *ld, int root_fd, dm_error *err)
{
	dm_store *st = ld->st;
	char (*names)[65] = NULL, *path = xasprintf(ld, "%s/layerdb/mounts", st->image_dir);
	char *containers_path = xasprintf(ld, "%s/containers", st->root);
	dirref d = { -1, path }, containers = { -1, containers_path };
	int r = -1;

	if (!path || !containers_path) {
		dm_err_nomem(err);
		goto out;
	}
	if (list_hex_dir(ld, "layerdb/mounts", &d, &names, &st->n_containers, err) < 0)
		goto out;
	st->containers = zalloc(st->n_containers, sizeof *st->containers);
	if (!st->containers) {
		st->n_containers = 0;
		dm_err_nomem(err);
		goto out;
	}
	containers.fd = dm_openat_nosym(root_fd, "containers", O_RDONLY | O_DIRECTORY, 0);
	for (size_t i = 0; i < st->n_containers; i++)
		read_container(ld, d.fd, containers, names[i], &st->containers[i]);
	r = 0;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (containers.fd >= 0)
		close(containers.fd);
	free(names);
	free(path);
	free(containers_path);
	return r;
}

/* ---- the store ----------------------------------------------------------------------------- */

static int cmp_problem(const void *a, const void *b)
{
	const dm_problem *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	c = strcmp(x->id ? x->id : "", y->id ? y->id : "");
	return c ? c : strcmp(x->reason ? x->reason : "", y->reason ? y->reason : "");
}

/* Every item that is not migrated, with the warnings gathered while loading, in a stable order. */
static void collect_problems(loader *ld)
{
	dm_store *st = ld->st;

	for (size_t i = 0; i < st->n_images; i++)
		if (!st->images[i].migrate)
			problem(ld, DM_ITEM_IMAGE, st->images[i].id.s, false, "%s",
				st->images[i].reason ? st->images[i].reason : "");
	for (size_t i = 0; i < st->n_layers; i++)
		if (!st->layers[i].usable)
			problem(ld, DM_ITEM_LAYER, st->layers[i].chain_id.s, false, "%s",
				st->layers[i].reason ? st->layers[i].reason : "");
	for (size_t i = 0; i < st->n_containers; i++)
		if (st->containers[i].reason)
			problem(ld, DM_ITEM_CONTAINER, st->containers[i].id, false, "%s", st->containers[i].reason);
	if (ld->n_problems)
		qsort(ld->problems, ld->n_problems, sizeof *ld->problems, cmp_problem);
	st->problems = ld->problems;
	st->n_problems = ld->n_problems;
	ld->problems = NULL;
	ld->n_problems = 0;
}

static int open_home(dm_store *st, int root_fd, dm_error *err)
{
	const char *rel = drivers[st->driver].home;

	st->home_fd = dm_openat_nosym(root_fd, rel, O_PATH | O_DIRECTORY, 0);
	if (st->home_fd < 0)
		return dm_err_sys(err, "%s/%s: graphdriver directory", st->root, rel);
	return 0;
}

int dm_store_open(const char *docker_root, const char *driver, dm_store **out, dm_error *err)
{
	dm_store *st = calloc(1, sizeof *st);
	loader ld = { .st = st, .image_fd = -1 };
	int root_fd = -1, r = -1;

	*out = NULL;
	if (!st)
		return dm_err_sys(err, "out of memory");
	st->home_fd = st->image_fd = -1;
	st->root = xstrdup(&ld, docker_root);
	if (!st->root)
		goto oom;
	root_fd = open(docker_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		dm_err_sys(err, "docker root %s", docker_root);
		goto out;
	}
	if (detect_driver(root_fd, docker_root, driver, &st->driver, err) < 0)
		goto out;
	st->image_dir = xasprintf(&ld, "%s/image/%s", docker_root, dm_driver_name(st->driver));
	if (!st->image_dir)
		goto oom;
	ld.image_fd = dm_openat_nosym(root_fd, st->image_dir + strlen(docker_root) + 1,
				      O_RDONLY | O_DIRECTORY, 0);
	if (ld.image_fd < 0) {
		dm_err_sys(err, "%s", st->image_dir);
		goto out;
	}
	if (open_home(st, root_fd, err) < 0 || load_repositories(&ld, err) < 0)
		goto out;
	dedupe_refs(&ld);
	if (load_layers(&ld, err) < 0 || load_images(&ld, err) < 0)
		goto out;
	classify_images(&ld);
	if (load_containers(&ld, root_fd, err) < 0)
		goto out;
	collect_problems(&ld);
	if (ld.oom)
		goto oom;
	st->image_fd = ld.image_fd;
	ld.image_fd = -1;
	*out = st;
	st = NULL;
	r = 0;
	goto out;
oom:
	dm_err_nomem(err);
	dm_err_prefix(err, "%s: while reading the store: ", docker_root);
out:
	for (size_t i = 0; i < ld.n_refs; i++)
		free(ld.refs[i].name);
	free(ld.refs);
	for (size_t i = 0; i < ld.n_problems; i++) {
		free(ld.problems[i].id);
		free(ld.problems[i].reason);
	}
	free(ld.problems);
	free(ld.layer_read_ok);
	free(ld.image_valid);
	free(ld.image_parent);
	if (ld.image_fd >= 0)
		close(ld.image_fd);
	if (root_fd >= 0)
		close(root_fd);
	dm_store_close(st);
	return r;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void dm_store_close(dm_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_images; i++) {
		dm_image *img = &st->images[i];

		free(img->config_path);
		free(img->config);
		free(img->diff_ids);
		free(img->layers);
		free_names(img->tags, img->n_tags);
		free_names(img->digests, img->n_digests);
		free(img->os);
		free(img->arch);
		free(img->variant);
		free(img->reason);
	}
	for (size_t i = 0; i < st->n_layers; i++) {
		free(st->layers[i].cache_id);
		free(st->layers[i].dir);
		free(st->layers[i].tarsplit_path);
		free(st->layers[i].reason);
	}
	for (size_t i = 0; i < st->n_containers; i++) {
		free(st->containers[i].id);
		free(st->containers[i].mount_id);
		free(st->containers[i].init_id);
		free(st->containers[i].name);
		free(st->containers[i].driver);
		free(st->containers[i].reason);
	}
	for (size_t i = 0; i < st->n_problems; i++) {
		free(st->problems[i].id);
		free(st->problems[i].reason);
	}
	free(st->images);
	free(st->layers);
	free(st->containers);
	free(st->problems);
	free(st->root);
	free(st->image_dir);
	if (st->home_fd >= 0)
		close(st->home_fd);
	if (st->image_fd >= 0)
		close(st->image_fd);
	free(st);
}

/* ---- streams ------------------------------------------------------------------------------- */

/* Depth of a layer directory the walk goes down at the most (moby's maxDepth for changes). */
#define WALK_MAX_DEPTH 256

/* The driver's own form of a deletion (see drivers[]): the stream has it as a .wh. entry. */
static bool is_whiteout(const struct driver_info *drv, const char *name, const struct stat *st)
{
	if (drv->dev_whiteouts && S_ISCHR(st->st_mode) && st->st_rdev == 0)
		return true;
	return drv->aufs_whiteouts && S_ISREG(st->st_mode) && st->st_size == 0 &&
	       strncmp(name, ".wh.", 4) == 0;
}

static int walk_dir(const struct driver_info *drv, const dm_layer *l, int fd, char *rel, size_t len,
		    int depth, dm_layer_walk_fn cb, void *opaque, dm_error *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		close(fd);
		return dm_err_sys(err, "%s/%s: opendir", l->dir, rel);
	}
	if (depth > WALK_MAX_DEPTH) {
		closedir(d);
		return dm_err_set(err, ELOOP, "%s/%s: deeper than %d levels", l->dir, rel, WALK_MAX_DEPTH);
	}
	while (rc == 0 && (errno = 0, e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (len + n + 2 > PATH_MAX) {
			rc = dm_err_set(err, ENAMETOOLONG, "%s/%s: name too long", l->dir, rel);
			break;
		}
		if (len)
			rel[len] = '/';
		memcpy(rel + len + !!len, e->d_name, n + 1);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = dm_err_sys(err, "%s/%s: lstat", l->dir, rel);
		else if (is_whiteout(drv, e->d_name, &st))
			;
		else if ((rc = cb(opaque, rel, &st, err)) == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = sub < 0 ? dm_err_sys(err, "%s/%s: open", l->dir, rel)
			             : walk_dir(drv, l, sub, rel, len + !!len + n, depth + 1, cb, opaque, err);
		}
		rel[len] = '\0';
	}
	if (rc == 0 && errno)
		rc = dm_err_sys(err, "%s/%s: readdir", l->dir, rel);
	closedir(d);
	return rc;
}


struct dm_layer_reader {
	const dm_layer *l;
	dm_driver driver;
	int root;
	dm_tarsplit *ts;
};

dm_layer_reader *dm_layer_reader_open(const dm_store *st, const dm_layer *l, dm_error *err)
{
	dm_layer_reader *r;
	int fd;

	if (!l->usable) {
		dm_err_set(err, EINVAL, "%s", l->reason ? l->reason : "unusable");
		return NULL;
	}
	if (!(r = calloc(1, sizeof *r))) {
		dm_err_nomem(err);
		return NULL;
	}
	r->l = l;
	r->driver = st->driver;
	/* The layer directory is opened once: every file of the stream is read beneath this fd,
	 * so swapping the directory for a symlink later changes nothing. */
	if ((r->root = open_layer_root(st, l, err)) < 0 || (fd = open_tarsplit(st->image_fd, l, err)) < 0 ||
	    !(r->ts = dm_tarsplit_open(fd, l->tarsplit_path, r->root, err))) {
		dm_layer_reader_close(r);
		return NULL;
	}
	/* moby records as a layer's size the sum of its entries' sizes: more is not this layer. */
	if (l->size >= 0)
		dm_tarsplit_limit(r->ts, (uint64_t)l->size);
	return r;
}

int dm_layer_reader_read(void *r, const void **buf, size_t *len, dm_error *err)
{
	return dm_tarsplit_read(((dm_layer_reader *)r)->ts, buf, len, err);
}

int dm_layer_reader_walk(dm_layer_reader *r, dm_layer_walk_fn cb, void *opaque, dm_error *err)
{
	char rel[PATH_MAX] = "";
	int fd = openat(r->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return dm_err_sys(err, "%s: open", r->l->dir);
	return walk_dir(&drivers[r->driver], r->l, fd, rel, 0, 0, cb, opaque, err);
}

void dm_layer_reader_on_file(dm_layer_reader *r, dm_tarsplit_file_fn fn, void *opaque)
{
	dm_tarsplit_on_file(r->ts, fn, opaque);
}

int dm_layer_reader_finish(dm_layer_reader *r, dm_tarsplit_stats *stats, dm_error *err)
{
	return dm_tarsplit_finish(r->ts, &r->l->diff_id, stats, err);
}

void dm_layer_reader_close(dm_layer_reader *r)
{
	if (!r)
		return;
	dm_tarsplit_close(r->ts);
	if (r->root >= 0)
		close(r->root);
	free(r);
}

/* The layer's stream into sink; errors do not name the layer (the caller does, once). */
static int stream(const dm_store *st, const dm_layer *l, dm_sink_fn sink, void *opaque,
		  dm_tarsplit_stats *stats, dm_error *err)
{
	dm_layer_reader *r = dm_layer_reader_open(st, l, err);
	const void *buf;
	size_t len;
	int rc = -1;

	if (r) {
		while ((rc = dm_layer_reader_read(r, &buf, &len, err)) > 0)
			if (sink && sink(opaque, buf, len, err) < 0)
				break;
		rc = rc == 0 ? dm_layer_reader_finish(r, stats, err) : -1;
		dm_layer_reader_close(r);
	}
	return rc;
}

int dm_layer_stream(const dm_store *st, const dm_layer *l, dm_sink_fn sink, void *opaque,
		    dm_tarsplit_stats *stats, dm_error *err)
{
	return stream(st, l, sink, opaque, stats, err) < 0 ? dm_err_prefix(err, "layer %s: ", l->chain_id.s) : 0;
}

typedef struct verify_result {
	bool done, ok;
	dm_error err;
	dm_tarsplit_stats stats;
} verify_result;

typedef struct verify_ctx {
	const dm_store *st;
	dm_verify_fn cb;
	void *opaque;
	pthread_mutex_t mu;
	size_t reported;    /* layers handed to cb so far, in order */
	size_t failed;
	verify_result *res; /* one per layer; NULL when it could not be allocated (then one thread) */
} verify_ctx;

static void report(verify_ctx *ctx, size_t i, const verify_result *r)
{
	const dm_layer *l = &ctx->st->layers[i];

	if (ctx->cb)
		ctx->cb(ctx->opaque, l, r->ok, r->ok ? NULL : &r->err, l->usable ? &r->stats : NULL);
}

static void verify_item(void *arg, size_t i)
{
	verify_ctx *ctx = arg;
	const dm_store *st = ctx->st;
	verify_result local, *r = ctx->res ? &ctx->res[i] : &local;

	memset(r, 0, sizeof *r);
	r->ok = stream(st, &st->layers[i], NULL, NULL, &r->stats, &r->err) == 0;
	pthread_mutex_lock(&ctx->mu);
	ctx->failed += !r->ok;
	if (!ctx->res) {
		report(ctx, i, r);
	} else {
		r->done = true;
		while (ctx->reported < st->n_layers && ctx->res[ctx->reported].done) {
			report(ctx, ctx->reported, &ctx->res[ctx->reported]);
			ctx->reported++;
		}
	}
	pthread_mutex_unlock(&ctx->mu);
}

size_t dm_store_verify(const dm_store *st, unsigned jobs, dm_verify_fn cb, void *opaque)
{
	verify_ctx ctx = { .st = st, .cb = cb, .opaque = opaque };

	pthread_mutex_init(&ctx.mu, NULL);
	/* Without room for the results (kept until their turn to be reported), one thread. */
	ctx.res = zalloc(st->n_layers, sizeof *ctx.res);
	dm_pool_run(st->n_layers, ctx.res ? jobs : 1, verify_item, &ctx);
	free(ctx.res);
	pthread_mutex_destroy(&ctx.mu);
	return ctx.failed;
}
