#include "config.h"
#include "ctrapi.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identifier.h"
#include "lib/proto/content.pb-c.h"
#include "lib/proto/images.pb-c.h"
#include "lib/proto/introspection.pb-c.h"
#include "lib/proto/leases.pb-c.h"
#include "lib/proto/snapshots.pb-c.h"
#include "lib/proto/version.pb-c.h"

#define SVC_VERSION containerd__services__version__v1__version__descriptor
#define SVC_INTROSPECTION containerd__services__introspection__v1__introspection__descriptor
#define SVC_LEASES containerd__services__leases__v1__leases__descriptor
#define SVC_CONTENT containerd__services__content__v1__content__descriptor
#define SVC_SNAPSHOTS containerd__services__snapshots__v1__snapshots__descriptor
#define SVC_IMAGES containerd__services__images__v1__images__descriptor

typedef Google__Protobuf__Empty Empty;
typedef Google__Protobuf__Timestamp Timestamp;
typedef Google__Protobuf__FieldMask FieldMask;
typedef Containerd__Types__Mount Mount;
typedef Containerd__Types__Descriptor Descriptor;

/* "/<package>.<Service>/<Method>"; the message form drops the leading '/'. */
static void method_path(const ProtobufCServiceDescriptor *svc, const char *method, char *buf,
			size_t cap)
{
	snprintf(buf, cap, "/%s/%s", svc->name, method);
}

static int pack(const ProtobufCMessage *m, uint8_t **buf, size_t *cap, size_t *len, dm_error *err)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n + 1 > *cap) {
		uint8_t *p = realloc(*buf, n + 1);
		if (!p) {
			dm_err_nomem(err);
			return dm_err_prefix(err, "a %zu-byte request: ", n);
		}
		*buf = p;
		*cap = n + 1;
	}
	*len = protobuf_c_message_pack(m, *buf);
	return 0;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const char *path,
				const void *data, size_t len, dm_error *err)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);

	if (!m)
		dm_err_set(err, EPROTO, "%s: reply does not decode as %s", path + 1, d->name);
	return m;
}

/* One unary call: req must be of the method's input type; returns its unpacked output
 * (protobuf_c_message_free_unpacked) or NULL. */
static ProtobufCMessage *call(dm_grpc *c, const ProtobufCServiceDescriptor *svc, const char *name,
			      const ProtobufCMessage *req, dm_error *err)
{
	const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(svc, name);
	char path[256];
	uint8_t *buf = NULL;
	size_t cap = 0, len, rlen;
	void *resp;
	ProtobufCMessage *out;

	method_path(svc, name, path, sizeof path);
	if (!m || m->input != req->descriptor) {
		dm_err_set(err, EINVAL, "%s: no such method for %s", path + 1, req->descriptor->name);
		return NULL;
	}
	if (pack(req, &buf, &cap, &len, err) < 0)
		return NULL;
	int rv = dm_grpc_unary(c, path, buf, len, &resp, &rlen, err);
	free(buf);
	if (rv < 0)
		return NULL;
	out = unpack(m->output, path, resp, rlen, err);
	free(resp);
	return out;
}

static void done(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* Protobuf-c renders map<string,string> as repeated entry messages {key=1, value=2}, one entry
 * type per map field; these two reach any of them through the descriptors. */
static const ProtobufCFieldDescriptor *map_field(const ProtobufCMessageDescriptor *d,
						 const char *field)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, field);

	return f && f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE ? f
												  : NULL;
}

/* Points map field `field` of msg at the labels l (no copies); free *keep after the call. */
static int set_map(ProtobufCMessage *msg, const char *field, const dm_labels *l, void **keep,
		   dm_error *err)
{
	const ProtobufCFieldDescriptor *f = map_field(msg->descriptor, field);
	const ProtobufCMessageDescriptor *ed;
	size_t n = l ? l->n : 0, psz;
	char *block;

	*keep = NULL;
	if (!f)
		return dm_err_set(err, EINVAL, "%s has no map %s", msg->descriptor->name, field);
	if (n == 0)
		return 0;
	ed = f->descriptor;
	psz = (n * sizeof(void *) + alignof(max_align_t) - 1) / alignof(max_align_t) *
	      alignof(max_align_t);
	block = calloc(1, psz + n * ed->sizeof_message);
	if (!block) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%zu labels: ", n);
	}
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *e = (ProtobufCMessage *)(block + psz + i * ed->sizeof_message);
		protobuf_c_message_init(ed, e);
		*(const char **)((char *)e + ed->fields[0].offset) = l->v[i].key;
		*(const char **)((char *)e + ed->fields[1].offset) = l->v[i].value;
		((ProtobufCMessage **)(void *)block)[i] = e;
	}
	*(size_t *)((char *)msg + f->quantifier_offset) = n;
	*(void **)((char *)msg + f->offset) = block;
	*keep = block;
	return 0;
}

/* Copies map field `field` of a reply into out (which must be empty). */
static int get_map(const ProtobufCMessage *msg, const char *field, dm_labels *out,
		   const char *what, dm_error *err)
{
	const ProtobufCFieldDescriptor *f = map_field(msg->descriptor, field);
	size_t n;
	ProtobufCMessage *const *v;

	if (!f)
		return dm_err_set(err, EINVAL, "%s has no map %s", msg->descriptor->name, field);
	n = *(const size_t *)((const char *)msg + f->quantifier_offset);
	v = *(ProtobufCMessage *const *const *)((const char *)msg + f->offset);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessageDescriptor *ed = v[i]->descriptor;
		const char *k = *(char *const *)((const char *)v[i] + ed->fields[0].offset);
		const char *val = *(char *const *)((const char *)v[i] + ed->fields[1].offset);
		if (dm_labels_set(out, k, val, err) < 0) {
			dm_labels_free(out);
			err->code = EPROTO;
			return dm_err_prefix(err, "%s: ", what);
		}
	}
	return 0;
}

static struct timespec ts_from(const Timestamp *t)
{
	struct timespec ts = {0, 0};

	if (t) {
		ts.tv_sec = (time_t)t->seconds;
		ts.tv_nsec = t->nanos >= 0 && t->nanos < 1000000000 ? t->nanos : 0;
	}
	return ts;
}

static int parse_digest(const char *s, dm_digest *out, const char *what, dm_error *err)
{
	if (dm_digest_parse(s, strlen(s), out, what, err) < 0) {
		err->code = EPROTO;
		return -1;
	}
	return 0;
}

static char *dup_or_fail(const char *s, bool *ok)
{
	char *d = strdup(s);

	if (!d)
		*ok = false;
	return d;
}

/* ---- Version, Introspection ---- */

int dm_ctr_version_get(dm_grpc *c, dm_ctr_version *out, dm_error *err)
{
	Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
	Containerd__Services__Version__V1__VersionResponse *r =
		(void *)call(c, &SVC_VERSION, "Version", &req.base, err);
	int rv = 0;

	if (!r)
		return -1;
	if (!r->version[0] || strlen(r->version) >= sizeof out->version ||
	    strlen(r->revision) >= sizeof out->revision)
		rv = dm_err_set(err, EPROTO, "%s/Version: bad version \"%.64s\" / \"%.64s\" in reply",
				SVC_VERSION.name, r->version, r->revision);
	else {
		strcpy(out->version, r->version);
		strcpy(out->revision, r->revision);
	}
	done(r);
	return rv;
}

static bool filter_value_ok(const char *s)
{
	return s[0] && !strpbrk(s, "\"\\");
}

int dm_ctr_plugin_export(dm_grpc *c, const char *type, const char *id, const char *key,
			 char **value, dm_error *err)
{
	Containerd__Services__Introspection__V1__PluginsRequest req =
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_REQUEST__INIT;
	Containerd__Services__Introspection__V1__PluginsResponse *r;
	char filter[512];
	char *filters[] = {filter};
	int rv = -1;

	if (!filter_value_ok(type) || !filter_value_ok(id) ||
	    (size_t)snprintf(filter, sizeof filter, "type==\"%s\",id==\"%s\"", type, id) >= sizeof filter)
		return dm_err_set(err, EINVAL, "bad plugin name %s.%s", type, id);
	req.n_filters = 1;
	req.filters = filters;
	r = (void *)call(c, &SVC_INTROSPECTION, "Plugins", &req.base, err);
	if (!r)
		return -1;
	rv = dm_err_set(err, ENOENT, "containerd has no plugin %s.%s", type, id);
	for (size_t i = 0; i < r->n_plugins; i++) {
		const Containerd__Services__Introspection__V1__Plugin *p = r->plugins[i];
		if (strcmp(p->type, type) != 0 || strcmp(p->id, id) != 0)
			continue;
		rv = dm_err_set(err, ENOENT, "plugin %s.%s exports no %s", type, id, key);
		for (size_t j = 0; j < p->n_exports; j++) {
			if (strcmp(p->exports[j]->key, key) != 0)
				continue;
			*value = strdup(p->exports[j]->value);
			rv = *value ? 0 : dm_err_nomem(err);
			break;
		}
		break;
	}
	done(r);
	return rv;
}

int dm_ctr_root(dm_grpc *c, char **root, dm_error *err)
{
	static const char suffix[] = "/" DM_CONTENT_PLUGIN;
	char *v;
	size_t n;

	if (dm_ctr_plugin_export(c, "io.containerd.content.v1", "content", "root", &v, err) < 0)
		return -1;
	n = strlen(v);
	if (n <= sizeof suffix - 1 || v[0] != '/' || strcmp(v + n - (sizeof suffix - 1), suffix) != 0) {
		dm_err_set(err, EPROTO, "containerd's content store %s is not <root>%s", v, suffix);
		free(v);
		return -1;
	}
	v[n - (sizeof suffix - 1)] = '\0';
	*root = v;
	return 0;
}

/* ---- Leases ---- */

int dm_ctr_lease_create(dm_grpc *c, const char *id, const dm_labels *labels, dm_error *err)
{
	Containerd__Services__Leases__V1__CreateRequest req =
		CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
	Containerd__Services__Leases__V1__CreateResponse *r;
	void *keep;
	int rv = 0;

	req.id = (char *)id;
	if (set_map(&req.base, "labels", labels, &keep, err) < 0)
		return -1;
	r = (void *)call(c, &SVC_LEASES, "Create", &req.base, err);
	free(keep);
	if (!r)
		return -1;
	if (!r->lease || strcmp(r->lease->id, id) != 0)
		rv = dm_err_set(err, EPROTO, "%s/Create: reply is not lease %s", SVC_LEASES.name, id);
	done(r);
	return rv;
}

int dm_ctr_lease_delete(dm_grpc *c, const char *id, bool sync, dm_error *err)
{
	Containerd__Services__Leases__V1__DeleteRequest req =
		CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
	void *r;

	req.id = (char *)id;
	req.sync = sync;
	r = call(c, &SVC_LEASES, "Delete", &req.base, err);
	done(r);
	return r ? 0 : -1;
}

void dm_ctr_leases_free(dm_ctr_lease *leases, size_t n)
{
	for (size_t i = 0; leases && i < n; i++) {
		free(leases[i].id);
		dm_labels_free(&leases[i].labels);
	}
	free(leases);
}

int dm_ctr_lease_list(dm_grpc *c, const char *filter, dm_ctr_lease **leases, size_t *n,
		      dm_error *err)
{
	Containerd__Services__Leases__V1__ListRequest req =
		CONTAINERD__SERVICES__LEASES__V1__LIST_REQUEST__INIT;
	Containerd__Services__Leases__V1__ListResponse *r;
	char *filters[] = {(char *)filter};
	dm_ctr_lease *out;
	size_t i;

	if (filter) {
		req.n_filters = 1;
		req.filters = filters;
	}
	r = (void *)call(c, &SVC_LEASES, "List", &req.base, err);
	if (!r)
		return -1;
	out = calloc(r->n_leases ? r->n_leases : 1, sizeof *out);
	if (!out) {
		done(r);
		dm_err_nomem(err);
		return dm_err_prefix(err, "%zu leases: ", r->n_leases);
	}
	for (i = 0; i < r->n_leases; i++) {
		const Containerd__Services__Leases__V1__Lease *l = r->leases[i];
		out[i].id = strdup(l->id);
		if (!out[i].id) {
			dm_err_nomem(err);
			break;
		}
		out[i].created = ts_from(l->created_at);
		if (get_map(&l->base, "labels", &out[i].labels, "lease labels", err) < 0)
			break;
	}
	if (i < r->n_leases) {
		dm_ctr_leases_free(out, i + 1);
		done(r);
		return -1;
	}
	*leases = out;
	*n = r->n_leases;
	done(r);
	return 0;
}

int dm_ctr_lease_add_resource(dm_grpc *c, const char *lease, const char *type, const char *id,
			      dm_error *err)
{
	Containerd__Services__Leases__V1__AddResourceRequest req =
		CONTAINERD__SERVICES__LEASES__V1__ADD_RESOURCE_REQUEST__INIT;
	Containerd__Services__Leases__V1__Resource res =
		CONTAINERD__SERVICES__LEASES__V1__RESOURCE__INIT;
	void *r;

	req.id = (char *)lease;
	res.id = (char *)id;
	res.type = (char *)type;
	req.resource = &res;
	r = call(c, &SVC_LEASES, "AddResource", &req.base, err);
	done(r);
	return r ? 0 : -1;
}

/* ---- Content ---- */

static int content_info_from(const Containerd__Services__Content__V1__Info *in,
			     const dm_digest *want, const char *method, dm_ctr_content_info *out,
			     dm_error *err)
{
	dm_ctr_content_info i = {.labels = DM_LABELS_INIT};

	if (!in)
		return dm_err_set(err, EPROTO, "%s: reply without info", method);
	if (parse_digest(in->digest, &i.digest, "Content info reply", err) < 0)
		return -1;
	if (strcmp(i.digest.s, want->s) != 0 || in->size < 0)
		return dm_err_set(err, EPROTO, "%s: reply for %s is about %s (size %lld)", method,
				  want->s, i.digest.s, (long long)in->size);
	i.size = in->size;
	i.created = ts_from(in->created_at);
	i.updated = ts_from(in->updated_at);
	if (get_map(&in->base, "labels", &i.labels, "content labels", err) < 0)
		return -1;
	*out = i;
	return 0;
}

int dm_ctr_content_get(dm_grpc *c, const dm_digest *d, dm_ctr_content_info *out, dm_error *err)
{
	Containerd__Services__Content__V1__InfoRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
	Containerd__Services__Content__V1__InfoResponse *r;
	int rv;

	req.digest = (char *)d->s;
	r = (void *)call(c, &SVC_CONTENT, "Info", &req.base, err);
	if (!r)
		return -1;
	rv = content_info_from(r->info, d, "containerd.services.content.v1.Content/Info", out, err);
	done(r);
	return rv;
}

int dm_ctr_content_set_labels(dm_grpc *c, const dm_digest *d, const dm_labels *labels,
			      dm_ctr_content_info *out, dm_error *err)
{
	Containerd__Services__Content__V1__UpdateRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
	Containerd__Services__Content__V1__Info info = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
	FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	Containerd__Services__Content__V1__UpdateResponse *r = NULL;
	char **paths;
	void *keep = NULL;
	size_t i;
	int rv = -1;

	/* An empty mask would mean "replace everything": every label would go. */
	if (!labels || labels->n == 0)
		return dm_err_set(err, EINVAL, "content %s: no labels to set", d->s);
	paths = calloc(labels->n, sizeof *paths);
	if (!paths)
		return dm_err_nomem(err);
	for (i = 0; i < labels->n; i++) {
		size_t n = strlen(labels->v[i].key) + sizeof "labels.";
		paths[i] = malloc(n);
		if (!paths[i]) {
			dm_err_nomem(err);
			goto out;
		}
		snprintf(paths[i], n, "labels.%s", labels->v[i].key);
	}
	info.digest = (char *)d->s;
	if (set_map(&info.base, "labels", labels, &keep, err) < 0)
		goto out;
	mask.n_paths = labels->n;
	mask.paths = paths;
	req.info = &info;
	req.update_mask = &mask;
	r = (void *)call(c, &SVC_CONTENT, "Update", &req.base, err);
	if (!r)
		goto out;
	if (out)
		rv = content_info_from(r->info, d, "containerd.services.content.v1.Content/Update", out,
				       err);
	else
		rv = 0;
out:
	done(r);
	free(keep);
	for (size_t j = 0; j < labels->n; j++)
		free(paths[j]);
	free(paths);
	return rv;
}

void dm_ctr_content_info_free(dm_ctr_content_info *info)
{
	if (info)
		dm_labels_free(&info->labels);
}

int dm_ctr_content_abort(dm_grpc *c, const char *ref, dm_error *err)
{
	Containerd__Services__Content__V1__AbortRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;
	void *r;

	req.ref = (char *)ref;
	r = call(c, &SVC_CONTENT, "Abort", &req.base, err);
	done(r);
	return r ? 0 : -1;
}

/* Sends one message on a stream, packing into *buf (grown as needed, kept for reuse). */
static int stream_send_pb(dm_grpc_stream *s, const ProtobufCMessage *m, uint8_t **buf,
			  size_t *cap, dm_error *err)
{
	size_t len;

	if (pack(m, buf, cap, &len, err) < 0)
		return -1;
	return dm_grpc_stream_send(s, *buf, len, err);
}

/* Next message of a stream: 1 with *out, 0 at the end of the call, -1 on error. */
static int stream_recv_pb(dm_grpc_stream *s, const ProtobufCMessageDescriptor *d,
			  const char *path, ProtobufCMessage **out, dm_error *err)
{
	void *data;
	size_t len;
	int rv = dm_grpc_stream_recv(s, &data, &len, err);

	if (rv <= 0)
		return rv;
	*out = unpack(d, path, data, len, err);
	free(data);
	return *out ? 1 : -1;
}

int dm_ctr_content_read(dm_grpc *c, const dm_digest *d, int64_t offset, int64_t size,
			dm_sink_fn sink, void *arg, dm_error *err)
{
	Containerd__Services__Content__V1__ReadContentRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
	Containerd__Services__Content__V1__ReadContentResponse *r;
	char path[128];
	uint8_t *buf = NULL;
	size_t cap = 0;
	int64_t pos = offset;
	dm_grpc_stream *s;
	int rv;

	if (offset < 0 || size < 0)
		return dm_err_set(err, EINVAL, "content %s: bad range %lld+%lld", d->s,
				  (long long)offset, (long long)size);
	method_path(&SVC_CONTENT, "Read", path, sizeof path);
	s = dm_grpc_stream_open(c, path, err);
	if (!s)
		return -1;
	req.digest = (char *)d->s;
	req.offset = offset;
	req.size = size;
	rv = stream_send_pb(s, &req.base, &buf, &cap, err);
	free(buf);
	if (rv == 0)
		rv = dm_grpc_stream_close_send(s, err);
	while (rv == 0) {
		rv = stream_recv_pb(s, &containerd__services__content__v1__read_content_response__descriptor,
				    path, (ProtobufCMessage **)&r, err);
		if (rv <= 0)
			break;
		/* containerd 1.6.20 counts reply offsets from the requested offset; accept the
		 * absolute form too. */
		if ((r->offset != pos - offset && r->offset != pos) ||
		    (size && (int64_t)r->data.len > offset + size - pos)) {
			rv = dm_err_set(err, EPROTO, "%s: content %s: %zu bytes at %lld, expected %lld",
					path + 1, d->s, r->data.len, (long long)r->offset,
					(long long)(pos - offset));
		} else {
			pos += (int64_t)r->data.len;
			rv = r->data.len ? sink(arg, r->data.data, r->data.len, err) : 0;
			if (rv != 0)
				rv = -1;
		}
		done(r);
	}
	dm_grpc_stream_free(s);
	if (rv == 0 && size && pos != offset + size)
		rv = dm_err_set(err, EPROTO, "%s: content %s ends at %lld, before %lld", path + 1, d->s,
				(long long)pos, (long long)(offset + size));
	return rv;
}

struct dm_ctr_writer {
	dm_grpc_stream *s;
	char path[128];
	char *ref;
	dm_digest expected;
	int64_t total;
	int64_t offset;       /* bytes containerd has confirmed */
	uint8_t *chunk;       /* DM_CTR_WRITE_CHUNK bytes not yet sent */
	size_t fill;
	uint8_t *pack;
	size_t packcap;
	bool broken;          /* a call failed: the stream's state is unknown */
};

/* One request and its reply (containerd answers every Write message). */
static int writer_exchange(dm_ctr_writer *w, Containerd__Services__Content__V1__WriteContentRequest *req,
			   int64_t want_offset, dm_error *err)
{
	Containerd__Services__Content__V1__WriteContentResponse *r;
	int rv;

	req->ref = w->ref;
	if (stream_send_pb(w->s, &req->base, &w->pack, &w->packcap, err) < 0)
		goto fail;
	rv = stream_recv_pb(w->s, &containerd__services__content__v1__write_content_response__descriptor,
			    w->path, (ProtobufCMessage **)&r, err);
	if (rv == 0)
		dm_err_set(err, EPROTO, "%s: the call ended without a reply", w->path + 1);
	if (rv <= 0)
		goto fail;
	if (r->action != req->action || (want_offset >= 0 && r->offset != want_offset) ||
	    r->offset < 0 || r->offset > w->total) {
		dm_err_set(err, EPROTO, "%s: reply to action %d at %lld says action %d at %lld",
			   w->path + 1, req->action, (long long)want_offset, r->action,
			   (long long)r->offset);
		done(r);
		goto fail;
	}
	if (req->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT &&
	    strcmp(r->digest, w->expected.s) != 0) {
		dm_err_set(err, EPROTO, "%s: committed %.80s, not %s", w->path + 1, r->digest,
			   w->expected.s);
		done(r);
		goto fail;
	}
	w->offset = r->offset;
	done(r);
	return 0;
fail:
	w->broken = true;
	return dm_err_prefix(err, "ingest %s: ", w->ref);
}

void dm_ctr_writer_free(dm_ctr_writer *w)
{
	if (!w)
		return;
	dm_grpc_stream_free(w->s);
	free(w->ref);
	free(w->chunk);
	free(w->pack);
	free(w);
}

dm_ctr_writer *dm_ctr_writer_open(dm_grpc *c, const char *ref, const dm_digest *expected,
				  int64_t total, int64_t *offset, dm_error *err)
{
	Containerd__Services__Content__V1__WriteContentRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
	dm_ctr_writer *w;

	if (total < 0 || !ref[0]) {
		dm_err_set(err, EINVAL, "ingest \"%s\": bad size %lld", ref, (long long)total);
		return NULL;
	}
	w = calloc(1, sizeof *w);
	if (!w || !(w->ref = strdup(ref)) || !(w->chunk = malloc(DM_CTR_WRITE_CHUNK))) {
		dm_err_nomem(err);
		dm_ctr_writer_free(w);
		return NULL;
	}
	w->expected = *expected;
	w->total = total;
	method_path(&SVC_CONTENT, "Write", w->path, sizeof w->path);
	w->s = dm_grpc_stream_open(c, w->path, err);
	if (!w->s) {
		dm_ctr_writer_free(w);
		return NULL;
	}
	req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT;
	req.total = total;
	req.expected = w->expected.s;
	if (writer_exchange(w, &req, -1, err) < 0) {
		dm_ctr_writer_free(w);
		return NULL;
	}
	*offset = w->offset;
	return w;
}

static int writer_send(dm_ctr_writer *w, bool commit, const dm_labels *labels, dm_error *err)
{
	Containerd__Services__Content__V1__WriteContentRequest req =
		CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
	int64_t want = w->offset + (int64_t)w->fill;
	void *keep = NULL;
	int rv;

	if (commit && want != w->total) {
		w->broken = true;
		return dm_err_set(err, EINVAL, "ingest %s: commit at %lld of a %lld-byte blob", w->ref,
				  (long long)want, (long long)w->total);
	}
	req.action = commit ? CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT
			    : CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE;
	req.offset = w->offset;
	req.data.data = w->chunk;
	req.data.len = w->fill;
	if (commit) {
		req.total = w->total;
		req.expected = w->expected.s;
		if (set_map(&req.base, "labels", labels, &keep, err) < 0)
			return -1;
	}
	rv = writer_exchange(w, &req, want, err);
	free(keep);
	if (rv == 0)
		w->fill = 0;
	return rv;
}

int dm_ctr_writer_write(dm_ctr_writer *w, const void *data, size_t len, dm_error *err)
{
	const uint8_t *p = data;

	if (w->broken)
		return dm_err_set(err, EINVAL, "ingest %s: write after a failed call", w->ref);
	if ((uint64_t)(w->offset + (int64_t)w->fill) + len > (uint64_t)w->total)
		return dm_err_set(err, EINVAL, "ingest %s: more than the %lld bytes announced", w->ref,
				  (long long)w->total);
	while (len > 0) {
		size_t k = DM_CTR_WRITE_CHUNK - w->fill;
		if (k > len)
			k = len;
		memcpy(w->chunk + w->fill, p, k);
		w->fill += k;
		p += k;
		len -= k;
		if (w->fill == DM_CTR_WRITE_CHUNK && writer_send(w, false, NULL, err) < 0)
			return -1;
	}
	return 0;
}

int dm_ctr_writer_commit(dm_ctr_writer *w, const dm_labels *labels, dm_error *err)
{
	Containerd__Services__Content__V1__WriteContentResponse *r;
	int rv;

	if (w->broken)
		return dm_err_set(err, EINVAL, "ingest %s: commit after a failed call", w->ref);
	if (writer_send(w, true, labels, err) < 0)
		return -1;
	w->broken = true; /* the stream is over either way */
	if (dm_grpc_stream_close_send(w->s, err) < 0)
		return dm_err_prefix(err, "ingest %s: ", w->ref);
	/* containerd 1.6.20 sends the commit reply once more when the stream ends
	 * (services/content/contentserver: the deferred "pump through the last message"). */
	for (int extra = 0;; extra++) {
		rv = stream_recv_pb(w->s, &containerd__services__content__v1__write_content_response__descriptor,
				    w->path, (ProtobufCMessage **)&r, err);
		if (rv <= 0)
			break;
		bool same = r->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT &&
			    strcmp(r->digest, w->expected.s) == 0;
		done(r);
		if (!same || extra > 0) {
			dm_err_set(err, EPROTO, "%s: unexpected reply after the commit", w->path + 1);
			rv = -1;
			break;
		}
	}
	return rv < 0 ? dm_err_prefix(err, "ingest %s: ", w->ref) : 0;
}

/* ---- Snapshots ---- */

void dm_ctr_mounts_free(dm_mount *mounts, size_t n)
{
	for (size_t i = 0; mounts && i < n; i++)
		dm_mount_free(&mounts[i]);
	free(mounts);
}

/* Prepare and Mounts replies are both {repeated Mount mounts = 1}. */
static int mounts_call(dm_grpc *c, const char *method, const ProtobufCMessage *req,
		       const char *key, dm_mount **mounts, size_t *nmounts, dm_error *err)
{
	ProtobufCMessage *r = call(c, &SVC_SNAPSHOTS, method, req, err);
	const ProtobufCFieldDescriptor *f;
	Mount *const *in;
	dm_mount *out;
	size_t n;
	bool ok = true;

	if (!r)
		return dm_err_prefix(err, "snapshot %s: ", key);
	f = protobuf_c_message_descriptor_get_field_by_name(r->descriptor, "mounts");
	n = *(const size_t *)((const char *)r + f->quantifier_offset);
	in = *(Mount *const *const *)((const char *)r + f->offset);
	if (n == 0) {
		done(r);
		return dm_err_set(err, EPROTO, "%s/%s: snapshot %s: reply without mounts",
				  SVC_SNAPSHOTS.name, method, key);
	}
	out = calloc(n, sizeof *out);
	for (size_t i = 0; out && i < n && ok; i++) {
		if (!in[i]->type[0]) {
			dm_ctr_mounts_free(out, n);
			done(r);
			return dm_err_set(err, EPROTO, "%s/%s: snapshot %s: mount without a type in reply",
					  SVC_SNAPSHOTS.name, method, key);
		}
		out[i].type = dup_or_fail(in[i]->type, &ok);
		out[i].source = dup_or_fail(in[i]->source, &ok);
		out[i].target = dup_or_fail(in[i]->target, &ok);
		out[i].options = calloc(in[i]->n_options ? in[i]->n_options : 1, sizeof(char *));
		ok = ok && out[i].options;
		for (size_t j = 0; ok && j < in[i]->n_options; j++) {
			out[i].options[j] = dup_or_fail(in[i]->options[j], &ok);
			out[i].noptions = j + 1;
		}
	}
	done(r);
	if (!out || !ok) {
		dm_ctr_mounts_free(out, n);
		return dm_err_nomem(err);
	}
	*mounts = out;
	*nmounts = n;
	return 0;
}

int dm_ctr_snapshot_prepare(dm_grpc *c, const char *snapshotter, const char *key,
			    const char *parent, const dm_labels *labels, dm_mount **mounts,
			    size_t *nmounts, dm_error *err)
{
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	void *keep;
	int rv;

	req.snapshotter = (char *)snapshotter;
	req.key = (char *)key;
	req.parent = (char *)(parent ? parent : "");
	if (set_map(&req.base, "labels", labels, &keep, err) < 0)
		return -1;
	rv = mounts_call(c, "Prepare", &req.base, key, mounts, nmounts, err);
	free(keep);
	return rv;
}

int dm_ctr_snapshot_mounts(dm_grpc *c, const char *snapshotter, const char *key,
			   dm_mount **mounts, size_t *nmounts, dm_error *err)
{
	Containerd__Services__Snapshots__V1__MountsRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;

	req.snapshotter = (char *)snapshotter;
	req.key = (char *)key;
	return mounts_call(c, "Mounts", &req.base, key, mounts, nmounts, err);
}

int dm_ctr_snapshot_commit(dm_grpc *c, const char *snapshotter, const char *name,
			   const char *key, const dm_labels *labels, dm_error *err)
{
	Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
	void *keep, *r;

	req.snapshotter = (char *)snapshotter;
	req.name = (char *)name;
	req.key = (char *)key;
	if (set_map(&req.base, "labels", labels, &keep, err) < 0)
		return -1;
	r = call(c, &SVC_SNAPSHOTS, "Commit", &req.base, err);
	free(keep);
	done(r);
	return r ? 0 : dm_err_prefix(err, "snapshot %s: ", key);
}

int dm_ctr_snapshot_remove(dm_grpc *c, const char *snapshotter, const char *key, dm_error *err)
{
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
	void *r;

	req.snapshotter = (char *)snapshotter;
	req.key = (char *)key;
	r = call(c, &SVC_SNAPSHOTS, "Remove", &req.base, err);
	done(r);
	return r ? 0 : dm_err_prefix(err, "snapshot %s: ", key);
}

void dm_ctr_snapshot_info_free(dm_ctr_snapshot_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->parent);
	dm_labels_free(&info->labels);
	memset(info, 0, sizeof *info);
}

int dm_ctr_snapshot_stat(dm_grpc *c, const char *snapshotter, const char *key,
			 dm_ctr_snapshot_info *out, dm_error *err)
{
	Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__StatSnapshotResponse *r;
	const Containerd__Services__Snapshots__V1__Info *in;
	dm_ctr_snapshot_info i = {.labels = DM_LABELS_INIT};
	bool ok = true;
	int rv = -1;

	req.snapshotter = (char *)snapshotter;
	req.key = (char *)key;
	r = (void *)call(c, &SVC_SNAPSHOTS, "Stat", &req.base, err);
	if (!r)
		return dm_err_prefix(err, "snapshot %s: ", key);
	in = r->info;
	if (!in || strcmp(in->name, key) != 0 || (int)in->kind < DM_CTR_SNAPSHOT_VIEW ||
	    (int)in->kind > DM_CTR_SNAPSHOT_COMMITTED) {
		dm_err_set(err, EPROTO, "%s/Stat: reply for snapshot %s is not about it or has kind %d",
			   SVC_SNAPSHOTS.name, key, in ? (int)in->kind : -1);
		goto out;
	}
	i.name = dup_or_fail(in->name, &ok);
	i.parent = dup_or_fail(in->parent, &ok);
	i.kind = (enum dm_ctr_snapshot_kind)in->kind;
	i.created = ts_from(in->created_at);
	i.updated = ts_from(in->updated_at);
	if (!ok) {
		dm_err_nomem(err);
		goto out;
	}
	if (get_map(&in->base, "labels", &i.labels, "snapshot labels", err) < 0)
		goto out;
	*out = i;
	rv = 0;
out:
	if (rv < 0)
		dm_ctr_snapshot_info_free(&i);
	done(r);
	return rv;
}

/* ---- Images ---- */

void dm_ctr_image_free(dm_ctr_image *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->media_type);
	dm_labels_free(&img->labels);
	memset(img, 0, sizeof *img);
}

static int image_from(const Containerd__Services__Images__V1__Image *in, const char *name,
		      const char *method, dm_ctr_image *out, dm_error *err)
{
	dm_ctr_image i = {.labels = DM_LABELS_INIT};
	bool ok = true;

	if (!in || strcmp(in->name, name) != 0 || !in->target || !in->target->media_type[0] ||
	    in->target->size < 0)
		return dm_err_set(err, EPROTO, "%s: reply for image %s lacks the image or its target",
				  method, name);
	if (parse_digest(in->target->digest, &i.digest, "image target in reply", err) < 0)
		return dm_err_prefix(err, "%s: image %s: ", method, name);
	i.size = in->target->size;
	i.created = ts_from(in->created_at);
	i.updated = ts_from(in->updated_at);
	i.name = dup_or_fail(in->name, &ok);
	i.media_type = dup_or_fail(in->target->media_type, &ok);
	if (!ok) {
		dm_ctr_image_free(&i);
		return dm_err_nomem(err);
	}
	if (get_map(&in->base, "labels", &i.labels, "image labels", err) < 0) {
		dm_ctr_image_free(&i);
		return -1;
	}
	*out = i;
	return 0;
}

/* Create and Update share the request shape: image=1 (Update adds update_mask=2, left empty
 * so that target and labels are replaced). */
static int image_put(dm_grpc *c, const char *method, const dm_ctr_image *img, dm_error *err)
{
	Containerd__Services__Images__V1__Image im = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
	Descriptor target = CONTAINERD__TYPES__DESCRIPTOR__INIT;
	Containerd__Services__Images__V1__CreateImageRequest creq =
		CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
	Containerd__Services__Images__V1__UpdateImageRequest ureq =
		CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
	bool create = strcmp(method, "Create") == 0;
	char path[128];
	ProtobufCMessage *r;
	/* Both replies are {image=1}. */
	Containerd__Services__Images__V1__Image *const *got;
	dm_ctr_image check;
	void *keep;
	int rv;

	im.name = img->name;
	target.media_type = img->media_type;
	target.digest = (char *)img->digest.s;
	target.size = img->size;
	im.target = &target;
	if (set_map(&im.base, "labels", &img->labels, &keep, err) < 0)
		return -1;
	creq.image = &im;
	ureq.image = &im;
	r = call(c, &SVC_IMAGES, method, create ? &creq.base : &ureq.base, err);
	free(keep);
	if (!r)
		return dm_err_prefix(err, "image %s: ", img->name);
	got = create ? &((Containerd__Services__Images__V1__CreateImageResponse *)r)->image
		     : &((Containerd__Services__Images__V1__UpdateImageResponse *)r)->image;
	method_path(&SVC_IMAGES, method, path, sizeof path);
	rv = image_from(*got, img->name, path + 1, &check, err);
	done(r);
	if (rv < 0)
		return -1;
	if (strcmp(check.digest.s, img->digest.s) != 0 || check.size != img->size)
		rv = dm_err_set(err, EPROTO, "%s: image %s got target %s, not %s", path + 1, img->name,
				check.digest.s, img->digest.s);
	dm_ctr_image_free(&check);
	return rv;
}

int dm_ctr_image_create(dm_grpc *c, const dm_ctr_image *img, dm_error *err)
{
	return image_put(c, "Create", img, err);
}

int dm_ctr_image_update(dm_grpc *c, const dm_ctr_image *img, dm_error *err)
{
	return image_put(c, "Update", img, err);
}

int dm_ctr_image_get(dm_grpc *c, const char *name, dm_ctr_image *out, dm_error *err)
{
	Containerd__Services__Images__V1__GetImageRequest req =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
	Containerd__Services__Images__V1__GetImageResponse *r;
	int rv;

	req.name = (char *)name;
	r = (void *)call(c, &SVC_IMAGES, "Get", &req.base, err);
	if (!r)
		return dm_err_prefix(err, "image %s: ", name);
	rv = image_from(r->image, name, "containerd.services.images.v1.Images/Get", out, err);
	done(r);
	return rv;
}

int dm_ctr_image_delete(dm_grpc *c, const char *name, bool sync, dm_error *err)
{
	Containerd__Services__Images__V1__DeleteImageRequest req =
		CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
	void *r;

	req.name = (char *)name;
	req.sync = sync;
	r = call(c, &SVC_IMAGES, "Delete", &req.base, err);
	done(r);
	return r ? 0 : dm_err_prefix(err, "image %s: ", name);
}
