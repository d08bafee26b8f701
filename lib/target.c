#include "config.h"
#include "target.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dm_target_blob_sink(void *blob, const void *buf, size_t len, dm_error *err)
{
	dm_target_blob *b = blob;

	return b->t->ops->blob_write(b, buf, len, err);
}

void dm_target_close(dm_target *t)
{
	if (t)
		t->ops->close(t);
}

static int probe(void *opaque, const char *sock, dm_error *err)
{
	return dm_target_online_probe(sock, opaque, err);
}

int dm_target_choose(const dm_target_request *r, dm_target_choice *c, dm_error *err)
{
	static const dm_docker_config none = {.path = DM_DOCKER_CONFIG, .snapshotter = -1};
	const dm_docker_config *dc = r->docker ? r->docker : &none;
	dm_containerd_config cc;
	dm_discover_input in;
	int rc;

	memset(c, 0, sizeof *c);
	c->mode = "offline";
	c->root = r->root;
	c->which = "given";
	c->ns = r->ns ? r->ns : dc->containerd_namespace ? dc->containerd_namespace : DM_DOCKER_NAMESPACE;
	if (r->address) {
		c->online = true;
		c->mode = "online";
		c->address = c->socket = r->address;
		snprintf(c->why, sizeof c->why, "--containerd-address %s was given", r->address);
		return 0;
	}
	if (r->root) {
		snprintf(c->why, sizeof c->why, "--containerd-root was given without --containerd-address");
		return 0;
	}
	if (dm_containerd_config_read(r->containerd_config ? r->containerd_config : DM_CONTAINERD_CONFIG, &cc,
				      err) < 0) {
		dm_containerd_config_free(&cc);
		return -1;
	}
	in = (dm_discover_input){.docker = dc, .ctr = &cc, .systemd_dir = r->systemd_dir, .data_root = r->data_root, .probe = probe,
				 .opaque = (void *)c->ns};
	rc = dm_discover(&in, &c->disc, err);
	dm_containerd_config_free(&cc);
	if (rc < 0)
		return -1;
	c->which = c->disc.kind_name;
	c->socket = c->disc.address;
	snprintf(c->why, sizeof c->why, "%s", c->disc.why);
	if (c->disc.running) {
		c->online = true;
		c->mode = "online";
		c->address = c->disc.address;
	} else {
		c->root = c->disc.root;
	}
	return 0;
}

/* Whether a and b name the same directory (as they are, where one does not resolve). */
static bool same_dir(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!realpath(a, ra))
		snprintf(ra, sizeof ra, "%s", a);
	if (!realpath(b, rb))
		snprintf(rb, sizeof rb, "%s", b);
	return strcmp(ra, rb) == 0;
}

/* Online: the root the daemon serves must be the one the user named, and it is
 * where the free-space check looks. */
static dm_target *open_online(const dm_target_request *r, dm_target_choice *c, dm_error *err)
{
	if (dm_target_online_root(c->address, c->ns, &c->root_buf, err) < 0)
		return NULL;
	if (r->root && !same_dir(r->root, c->root_buf)) {
		dm_err_set(err, EINVAL, "containerd at %s serves root %s, not --containerd-root %s", c->address,
			   c->root_buf, r->root);
		return NULL;
	}
	c->root = c->root_buf;
	return dm_target_online_open(c->address, c->ns, r->snapshotter, err);
}

dm_target *dm_target_choose_open(const dm_target_request *r, dm_target_choice *c, dm_error *err)
{
	dm_target *t;
	size_t n;

	if (dm_target_choose(r, c, err) < 0)
		return NULL;
	if (c->online)
		return open_online(r, c, err);
	/* The supervised root's parent, <data-root>/containerd, is made as dockerd would make it
	 * (the root itself the backend makes); any other root's parent must exist. */
	if (c->disc.kind_name && c->disc.kind == DM_CONTAINERD_SUPERVISED) {
		char parent[PATH_MAX];
		char *slash;

		snprintf(parent, sizeof parent, "%s", c->root);
		if ((slash = strrchr(parent, '/')) && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0711) < 0 && errno != EEXIST)
				return dm_err_sys(err, "%s", parent), NULL;
		}
	}
	t = dm_target_offline_open(c->root, c->ns, r->snapshotter, err);
	if (!t && err->code == EWOULDBLOCK && (n = strlen(err->msg)) < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n,
			 "; to migrate while containerd runs, use --containerd-address SOCK (online mode)");
	return t;
}

void dm_target_choice_free(dm_target_choice *c)
{
	if (!c)
		return;
	free(c->root_buf);
	c->root_buf = NULL;
}
