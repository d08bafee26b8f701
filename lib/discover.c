#include "config.h"
#include "discover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target.h"

/* containerd.service linked into any *.wants directory under dir: what
 * `systemctl enable` does (multi-user.target.wants on Debian). */
static bool unit_enabled(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char p[PATH_MAX];
		struct stat sb;

		if (n < 6 || strcmp(e->d_name + n - 6, ".wants"))
			continue;
		if ((size_t)snprintf(p, sizeof p, "%s/%s/containerd.service", dir, e->d_name) >= sizeof p)
			continue;
		found = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
	}
	closedir(d);
	return found;
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* One line into d->why; a long path is cut rather than refused (it is only shown). */
static void why(dm_discovery *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(dm_discovery *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
}

static void set(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int dm_discover(const dm_discover_input *in, dm_discovery *d, dm_error *err)
{
	const dm_docker_config *dc = in->docker;
	const dm_containerd_config *cc = in->ctr;
	const char *data_root = in->data_root ? in->data_root : dc->data_root ? dc->data_root : DM_DOCKER_DATA_ROOT;
	const char *exec_root = dc->exec_root ? dc->exec_root : DM_DOCKER_EXEC_ROOT;
	const char *sys_sock = cc->address ? cc->address : DM_CONTAINERD_ADDRESS;
	const char *sys_root = cc->root ? cc->root : DM_CONTAINERD_ROOT;
	const char *sysd = in->systemd_dir ? in->systemd_dir : DM_SYSTEMD_DIR;
	char sup_sock[PATH_MAX], sup_root[PATH_MAX];
	dm_error perr = {0}, serr = {0};
	bool sys_plausible, sup_plausible, sys_enabled;

	memset(d, 0, sizeof *d);
	set(d->ns, sizeof d->ns, dc->containerd_namespace ? dc->containerd_namespace : DM_DOCKER_NAMESPACE);
	if ((size_t)snprintf(sup_sock, sizeof sup_sock, "%s/containerd/containerd.sock", exec_root) >= sizeof sup_sock ||
	    (size_t)snprintf(sup_root, sizeof sup_root, "%s/containerd/daemon", data_root) >= sizeof sup_root)
		return dm_err_set(err, ENAMETOOLONG, "%s: data-root or exec-root too long", dc->path);

	if (dc->containerd) {
		d->kind = DM_CONTAINERD_DOCKER_CONFIG;
		d->kind_name = "daemon.json's containerd";
		set(d->address, sizeof d->address, dc->containerd);
		if (in->probe(in->opaque, dc->containerd, &perr) == 0) {
			d->running = true;
			why(d, "%s sets containerd %s, which answers", dc->path,
				 dc->containerd);
			return 0;
		}
		if (strcmp(dc->containerd, sys_sock))
			return dm_err_set(err, ENOENT,
					  "%s sets containerd %s, which does not answer (%s), and is not the socket of "
					  "the system containerd (%s in %s): its root is unknown; give "
					  "--containerd-root DIR (offline) or start it",
					  dc->path, dc->containerd, strerror(perr.code), sys_sock, cc->path);
		set(d->root, sizeof d->root, sys_root);
		why(d, "%s sets containerd %s, which does not answer (%s): the system containerd, root %s%s%s",
			 dc->path, dc->containerd, strerror(perr.code), sys_root, cc->root ? " from " : "",
			 cc->root ? cc->path : "");
		return 0;
	}

	if (in->probe(in->opaque, sys_sock, &perr) == 0) {
		d->kind = DM_CONTAINERD_SYSTEM;
		d->kind_name = "system";
		d->running = true;
		set(d->address, sizeof d->address, sys_sock);
		why(d, "containerd answers on %s, where dockerd looks first (%s sets no "
			 "containerd)", sys_sock, dc->path);
		return 0;
	}
	if (in->probe(in->opaque, sup_sock, &serr) == 0) {
		d->kind = DM_CONTAINERD_SUPERVISED;
		d->kind_name = "supervised";
		d->running = true;
		set(d->address, sizeof d->address, sup_sock);
		why(d, "nothing answers on %s; dockerd's supervised containerd answers on %s", sys_sock, sup_sock);
		return 0;
	}

	sys_enabled = cc->present && unit_enabled(sysd);
	sys_plausible = exists(sys_sock) || sys_enabled;
	sup_plausible = exists(sup_root);
	if (sys_plausible && sup_plausible)
		return dm_err_set(err, ENOTUNIQ,
				  "nothing answers on %s (%s) or %s, and both containerds are plausible: the system "
				  "one (root %s, %s) and dockerd's supervised one (root %s exists); pick one with "
				  "--containerd-root %s or --containerd-root %s (or set \"containerd\" in %s)",
				  sys_sock, strerror(perr.code), sup_sock, sys_root,
				  exists(sys_sock) ? "its socket file exists" : "configured and enabled", sup_root,
				  sys_root, sup_root, dc->path);
	if (sys_plausible) {
		d->kind = DM_CONTAINERD_SYSTEM;
		d->kind_name = "system";
		set(d->address, sizeof d->address, sys_sock);
		set(d->root, sizeof d->root, sys_root);
		why(d, "nothing answers on %s (%s); the system containerd is %s, and "
			 "%s does not exist", sys_sock, strerror(perr.code),
			 sys_enabled ? "configured and enabled" : "stopped (its socket file is left)", sup_root);
		return 0;
	}
	d->kind = DM_CONTAINERD_SUPERVISED;
	d->kind_name = "supervised";
	set(d->address, sizeof d->address, sup_sock);
	set(d->root, sizeof d->root, sup_root);
	why(d, "nothing answers on %s (%s) or %s, and no system containerd is %s: dockerd starts its own, "
		 "root %s%s", sys_sock, strerror(perr.code), sup_sock,
		 cc->present ? "enabled" : "configured", sup_root, sup_plausible ? " (it exists)" : "");
	return 0;
}
