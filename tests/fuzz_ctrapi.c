/* fuzz_ctrapi: libFuzzer target for lib/ctrapi's handling of containerd's
 * protobuf replies.  It links ctrapi with a fake transport (the dm_grpc_*
 * functions below, in place of lib/grpc.c) that answers each unary call and
 * each stream receive with the next reply taken from the input, so every
 * reply decoder and check of ctrapi sees hostile bytes exactly as a real
 * call would hand them over.  Input: one byte choosing the call (see
 * run_call), then replies, each a 2-byte big-endian length and that many
 * bytes; length 0xffff is a failed call (gRPC NOT_FOUND) instead.  Nothing
 * may crash or leak; a call that succeeds returns what its reply said
 * (checked where the API promises a shape), and snapshot mounts go on to
 * dm_mount_target_parse as the online target does. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "ctrapi.h"
#include "fuzz.h"
#include "grpc.h"

/* ---- the fake transport ---- */

struct dm_grpc {
	const uint8_t *p, *end;
};

struct dm_grpc_stream {
	dm_grpc *c;
};

/* The next reply: 1 with a malloc'd copy, 0 when there is none left, -1 for a failed call. */
static int next_reply(dm_grpc *c, const char *method, void **msg, size_t *len, dm_error *err)
{
	size_t n;

	if (c->end - c->p < 2)
		return 0;
	n = (size_t)c->p[0] << 8 | c->p[1];
	c->p += 2;
	if (n == 0xffff)
		return dm_err_set(err, ENOENT, "%s: not found (fuzz)", method + 1);
	if (n > (size_t)(c->end - c->p))
		n = (size_t)(c->end - c->p);
	if (!(*msg = malloc(n ? n : 1)))
		fuzz_broken("out of memory");
	memcpy(*msg, c->p, n);
	*len = n;
	c->p += n;
	return 1;
}

int dm_grpc_unary(dm_grpc *c, const char *method, const void *req, size_t req_len, void **resp,
		  size_t *resp_len, dm_error *err)
{
	int rv;

	(void)req, (void)req_len;
	rv = next_reply(c, method, resp, resp_len, err);
	if (rv == 0)
		return dm_err_set(err, EAGAIN, "%s: connection lost (fuzz: no reply left)", method + 1);
	return rv < 0 ? -1 : 0;
}

dm_grpc_stream *dm_grpc_stream_open(dm_grpc *c, const char *method, dm_error *err)
{
	dm_grpc_stream *s = calloc(1, sizeof *s);

	if (!s) {
		dm_err_set(err, ENOMEM, "%s: out of memory", method);
		return NULL;
	}
	s->c = c;
	return s;
}

int dm_grpc_stream_send(dm_grpc_stream *s, const void *msg, size_t len, dm_error *err)
{
	(void)s, (void)msg, (void)err;
	if (len > DM_GRPC_MAX_SEND)
		fuzz_broken("a %zu-byte message sent, over DM_GRPC_MAX_SEND", len);
	return 0;
}

int dm_grpc_stream_close_send(dm_grpc_stream *s, dm_error *err)
{
	(void)s, (void)err;
	return 0;
}

int dm_grpc_stream_recv(dm_grpc_stream *s, void **msg, size_t *len, dm_error *err)
{
	return next_reply(s->c, "/fuzz.Stream/Recv", msg, len, err);
}

void dm_grpc_stream_free(dm_grpc_stream *s)
{
	free(s);
}

/* ---- the calls ---- */

static const dm_digest digest = {"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"};

static int sink(void *arg, const void *data, size_t len, dm_error *err)
{
	(void)arg, (void)data, (void)len, (void)err;
	return 0;
}

static int mounts_checked(int rv, dm_mount *m, size_t n)
{
	dm_mount_target t;
	dm_error err = {0};

	if (rv == 0) {
		if (!n || !m)
			fuzz_broken("mounts accepted: %zu of them", n);
		for (size_t i = 0; i < n; i++)
			if (!m[i].type || !m[i].type[0] || (m[i].noptions && !m[i].options))
				fuzz_broken("mount %zu accepted without a type or options", i);
		if (dm_mount_target_parse(m, n, &t, &err) == 0)
			dm_mount_target_free(&t);
		dm_ctr_mounts_free(m, n);
	}
	return rv;
}

static int run_call(dm_grpc *c, unsigned op, dm_error *err)
{
	dm_labels labels = DM_LABELS_INIT;
	int rv;

	switch (op % 20) {
	case 0: {
		dm_ctr_version v;

		rv = dm_ctr_version_get(c, &v, err);
		if (rv == 0 && !v.version[0])
			fuzz_broken("empty version accepted");
		return rv;
	}
	case 1: {
		char *v = NULL;

		rv = dm_ctr_plugin_export(c, "io.containerd.content.v1", "content", "root", &v, err);
		free(v);
		return rv;
	}
	case 2: {
		char *root = NULL;

		rv = dm_ctr_root(c, &root, err);
		if (rv == 0 && root[0] != '/')
			fuzz_broken("root \"%s\" accepted", root);
		free(root);
		return rv;
	}
	case 3:
		if (dm_labels_set(&labels, "containerd.io/gc.expire", "2030-01-01T00:00:00Z", err) < 0)
			fuzz_broken("labels: %s", err->msg);
		rv = dm_ctr_lease_create(c, "dockerd-migrate-fuzz", &labels, err);
		dm_labels_free(&labels);
		return rv;
	case 4:
		return dm_ctr_lease_delete(c, "dockerd-migrate-fuzz", true, err);
	case 5: {
		dm_ctr_lease *l = NULL;
		size_t n = 0;

		rv = dm_ctr_lease_list(c, "id~=^dockerd-migrate", &l, &n, err);
		if (rv == 0)
			for (size_t i = 0; i < n; i++)
				if (!l[i].id)
					fuzz_broken("lease %zu without an id", i);
		if (rv == 0)
			dm_ctr_leases_free(l, n);
		return rv;
	}
	case 6:
		return dm_ctr_lease_add_resource(c, "dockerd-migrate-fuzz", "content", digest.s, err);
	case 7:
	case 8: {
		dm_ctr_content_info info;

		if (op % 20 == 7) {
			rv = dm_ctr_content_get(c, &digest, &info, err);
		} else {
			if (dm_labels_set(&labels, "containerd.io/uncompressed", digest.s, err) < 0)
				fuzz_broken("labels: %s", err->msg);
			rv = dm_ctr_content_set_labels(c, &digest, &labels, &info, err);
			dm_labels_free(&labels);
		}
		if (rv == 0 && (strcmp(info.digest.s, digest.s) || info.size < 0))
			fuzz_broken("content info for %s accepted: %s, %lld bytes", digest.s, info.digest.s,
				    (long long)info.size);
		if (rv == 0)
			dm_ctr_content_info_free(&info);
		return rv;
	}
	case 9:
		/* Call 29 (9 + 20) reads 110 bytes, call 9 to the end. */
		return dm_ctr_content_read(c, &digest, 0, op / 20 % 2 ? 110 : 0, sink, NULL, err);
	case 10:
		return dm_ctr_content_abort(c, "fuzz-ref", err);
	case 11: {
		int64_t offset = 0;
		dm_ctr_writer *w = dm_ctr_writer_open(c, "fuzz-ref", &digest, 16, &offset, err);

		if (!w)
			return -1;
		if (offset < 0 || offset > 16)
			fuzz_broken("writer resumes at %lld of 16", (long long)offset);
		rv = dm_ctr_writer_write(w, "0123456789abcdef", 16, err);
		if (rv == 0)
			rv = dm_ctr_writer_commit(w, NULL, err);
		dm_ctr_writer_free(w);
		return rv;
	}
	case 12:
	case 13: {
		dm_mount *m = NULL;
		size_t n = 0;

		if (op % 20 == 12)
			rv = dm_ctr_snapshot_prepare(c, "overlayfs", "fuzz-key", "parent", NULL, &m, &n, err);
		else
			rv = dm_ctr_snapshot_mounts(c, "overlayfs", "fuzz-key", &m, &n, err);
		return mounts_checked(rv, m, n);
	}
	case 14:
		return dm_ctr_snapshot_commit(c, "overlayfs", "sha256:fuzz", "fuzz-key", NULL, err);
	case 15: {
		dm_ctr_snapshot_info info;

		rv = dm_ctr_snapshot_stat(c, "overlayfs", "fuzz-key", &info, err);
		if (rv == 0 && (!info.name || !info.parent))
			fuzz_broken("snapshot info without name or parent");
		if (rv == 0)
			dm_ctr_snapshot_info_free(&info);
		return rv;
	}
	case 16:
		return dm_ctr_snapshot_remove(c, "overlayfs", "fuzz-key", err);
	case 17:
	case 18: {
		dm_ctr_image img = {.name = "docker.io/library/fuzz:latest", .labels = DM_LABELS_INIT,
				    .media_type = "application/vnd.oci.image.manifest.v1+json",
				    .digest = digest, .size = 1234};

		return op % 20 == 17 ? dm_ctr_image_create(c, &img, err) : dm_ctr_image_update(c, &img, err);
	}
	default: {
		dm_ctr_image img;

		rv = dm_ctr_image_get(c, "docker.io/library/fuzz:latest", &img, err);
		if (rv == 0 && (!img.name || !img.media_type || img.size < 0))
			fuzz_broken("image accepted without name or media type, or size %lld", (long long)img.size);
		if (rv == 0)
			dm_ctr_image_free(&img);
		return rv;
	}
	}
}

FUZZ_ENTRY(ctrapi)(const uint8_t *data, size_t size)
{
	dm_grpc c = {data + (size ? 1 : 0), data + size};
	dm_error err = {0};

	fuzz_accepted = run_call(&c, size ? data[0] : 0, &err) == 0;
	if (!fuzz_accepted && (!err.code || !err.msg[0]))
		fuzz_broken("call %u failed without an error", size ? data[0] % 20 : 0);
	return 0;
}
