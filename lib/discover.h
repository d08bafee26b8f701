/* discover: which containerd Docker will use on this host, decided as
 * dockerd decides (doc/target-discovery.md has the facts and the sources),
 * for the target choice (lib/target.c) when neither --containerd-address
 * nor --containerd-root is given.
 *
 * In this order:
 *   1. daemon.json sets `containerd`: dockerd uses that socket.  Its root is
 *      asked from the daemon when it answers; when it does not, it is the
 *      system containerd's root (config.toml) if the socket is the system
 *      one's, else unknown (an error that asks for --containerd-root).
 *   2. A containerd answers on the system socket (config.toml's
 *      [grpc] address, default /run/containerd/containerd.sock): dockerd
 *      finds its socket and uses it.
 *   3. A containerd answers on the supervised socket
 *      (<exec-root>/containerd/containerd.sock): dockerd runs, supervising it.
 *   4. Nothing answers.  The system containerd is plausible when its socket
 *      file exists (left by a stop) or it is configured (config.toml exists)
 *      and enabled (containerd.service linked in a *.wants directory under
 *      the systemd directory); the supervised one when
 *      <data-root>/containerd/daemon exists (a dockerd supervised it there).
 *      Exactly one plausible: that one, offline.  Both: an error naming both
 *      roots and the option that picks one.  Neither: the supervised one (a
 *      dockerd with no system containerd starts its own).
 * The namespace is daemon.json's containerd-namespace, default moby. */
#ifndef DM_DISCOVER_H
#define DM_DISCOVER_H

#include <limits.h>
#include <stdbool.h>

#include "ctrcfg.h"
#include "dockercfg.h"
#include "error.h"

#define DM_SYSTEMD_DIR "/etc/systemd/system"

typedef enum dm_containerd_kind {
	DM_CONTAINERD_DOCKER_CONFIG, /* the socket daemon.json names */
	DM_CONTAINERD_SYSTEM,        /* the system's own (config.toml) */
	DM_CONTAINERD_SUPERVISED,    /* the one dockerd starts under its data-root */
} dm_containerd_kind;

/* 0 when a containerd answers on sock; -1 with err (ECONNREFUSED, ENOENT, ...) when not. */
typedef int (*dm_probe_fn)(void *opaque, const char *sock, dm_error *err);

typedef struct dm_discover_input {
	const dm_docker_config *docker;     /* daemon.json as read (present or not) */
	const dm_containerd_config *ctr;    /* config.toml as read (present or not) */
	const char *systemd_dir;            /* NULL: DM_SYSTEMD_DIR */
	const char *data_root;              /* Docker's data-root when given (--docker-root); NULL: daemon.json's */
	dm_probe_fn probe;
	void *opaque;
} dm_discover_input;

typedef struct dm_discovery {
	dm_containerd_kind kind;
	const char *kind_name;     /* "daemon.json's containerd", "system", "supervised" */
	bool running;              /* a containerd answers on address */
	char address[PATH_MAX];    /* its socket */
	char root[PATH_MAX];       /* its root; "" when only the daemon can say (running) */
	char ns[256];              /* the namespace Docker uses */
	char why[1024];            /* one line */
} dm_discovery;

/* Decides; -1 with a complete line for the user when it cannot (both
 * plausible: ENOTUNIQ; a daemon.json socket whose root is unknown: ENOENT). */
int dm_discover(const dm_discover_input *in, dm_discovery *d, dm_error *err);

#endif
