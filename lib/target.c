#include "config.h"
#include "target.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void dm_target_choose(const dm_target_request *r, dm_target_choice *c)
{
	dm_error err = {0};

	memset(c, 0, sizeof *c);
	c->root = r->root;
	if (r->address) {
		c->online = true;
		c->address = r->address;
		snprintf(c->why, sizeof c->why, "--containerd-address %s was given", r->address);
	} else if (r->root) {
		snprintf(c->why, sizeof c->why, "--containerd-root was given without --containerd-address");
	} else if (dm_target_online_probe(DM_CONTAINERD_ADDRESS, r->ns, &err) == 0) {
		c->online = true;
		c->address = DM_CONTAINERD_ADDRESS;
		snprintf(c->why, sizeof c->why, "containerd answers on %s", DM_CONTAINERD_ADDRESS);
	} else {
		c->root = DM_CONTAINERD_ROOT;
		snprintf(c->why, sizeof c->why, "nothing answers on %s (%s)", DM_CONTAINERD_ADDRESS,
			 strerror(err.code));
	}
	c->mode = c->online ? "online" : "offline";
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
	if (dm_target_online_root(c->address, r->ns, &c->root_buf, err) < 0)
		return NULL;
	if (r->root && !same_dir(r->root, c->root_buf)) {
		dm_err_set(err, EINVAL, "containerd at %s serves root %s, not --containerd-root %s", c->address,
			   c->root_buf, r->root);
		return NULL;
	}
	c->root = c->root_buf;
	return dm_target_online_open(c->address, r->ns, r->snapshotter, err);
}

dm_target *dm_target_choose_open(const dm_target_request *r, dm_target_choice *c, dm_error *err)
{
	dm_target *t;
	size_t n;

	dm_target_choose(r, c);
	if (c->online)
		return open_online(r, c, err);
	t = dm_target_offline_open(c->root, r->ns, r->snapshotter, err);
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
