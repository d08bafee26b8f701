/* Unit tests for grpc and ctrapi against a scripted gRPC server in this process (an nghttp2
 * server on a unix socket in a thread): framing in any split, status mapping, percent-decoding,
 * trailers-only errors, HTTP-level failures, oversize messages, flow control, timeouts, lost and
 * garbled connections, bad arguments, and ctrapi's checks of malformed replies.
 *
 * Method /t.T/Echo echoes every request message; /t.T/Do runs the command in its request message
 * (see do_command); any /containerd.* method answers every request message with the canned
 * reply the test set. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctrapi.h"
#include "grpc.h"
#include "lib/proto/content.pb-c.h"
#include "lib/proto/images.pb-c.h"
#include "lib/proto/introspection.pb-c.h"
#include "lib/proto/leases.pb-c.h"
#include "lib/proto/snapshots.pb-c.h"
#include "lib/proto/version.pb-c.h"
#include "testutil.h"

/* ---- the scripted server ---- */

struct sstream {
	struct sstream *next; /* all streams of the connection, freed with it */
	char path[256], ns[300], lease[300], te[64], ctype[128], auth[128], method[16];
	uint8_t *in;
	size_t inlen, inoff;
	uint8_t *out;
	size_t outlen, outoff;
	bool out_end, bytewise, nostatus, deferred;
	int status;
};

struct sconn {
	int fd;
	struct sstream *streams;
};

enum { ACT_NONE, ACT_CLOSE, ACT_GARBAGE };
static int conn_action;

static pthread_mutex_t canned_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *canned;
static size_t canned_len;

static void set_canned(const ProtobufCMessage *m)
{
	pthread_mutex_lock(&canned_lock);
	free(canned);
	canned_len = m ? protobuf_c_message_get_packed_size(m) : 0;
	canned = malloc(canned_len + 1);
	if (m)
		protobuf_c_message_pack(m, canned);
	pthread_mutex_unlock(&canned_lock);
}

static void set_canned_bytes(const void *p, size_t n)
{
	pthread_mutex_lock(&canned_lock);
	free(canned);
	canned = malloc(n + 1);
	memcpy(canned, p, n);
	canned_len = n;
	pthread_mutex_unlock(&canned_lock);
}

/* Buffers grow by doubling (exact-size growth is quadratic under ASan, whose realloc always
 * copies); the capacity follows from the length alone. */
static size_t cap_for(size_t len)
{
	size_t c = 64;

	while (c < len + 1)
		c *= 2;
	return c;
}

static void append(uint8_t **buf, size_t *len, const void *p, size_t n)
{
	if (!*buf || cap_for(*len + n) > cap_for(*len)) {
		*buf = realloc(*buf, cap_for(*len + n));
		ck_assert_ptr_nonnull(*buf);
	}
	if (n)
		memcpy(*buf + *len, p, n);
	*len += n;
}

static void append_msg(struct sstream *s, const void *p, size_t n)
{
	uint8_t h[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

	append(&s->out, &s->outlen, h, 5);
	append(&s->out, &s->outlen, p, n);
}

static ssize_t srv_send(nghttp2_session *sess, const uint8_t *d, size_t n, int fl, void *ud)
{
	int fd = ((struct sconn *)ud)->fd;
	size_t done = 0;

	(void)sess;
	(void)fl;
	while (done < n) {
		ssize_t k = send(fd, d + done, n - done, MSG_NOSIGNAL);
		if (k <= 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		done += (size_t)k;
	}
	return (ssize_t)n;
}

static void resume(nghttp2_session *sess, int32_t id, struct sstream *s)
{
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(sess, id);
	}
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

static ssize_t srv_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct sstream *s = src->ptr;
	size_t n = s->outlen - s->outoff;

	(void)ud;
	if (n > len)
		n = len;
	if (s->bytewise && n > 1)
		n = 1;
	if (n)
		memcpy(buf, s->out + s->outoff, n);
	s->outoff += n;
	if (s->outoff < s->outlen || n > 0)
		return (ssize_t)n;
	if (!s->out_end) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (!s->nostatus) {
		char st[16];
		snprintf(st, sizeof st, "%d", s->status);
		nghttp2_nv tr[] = {NV("grpc-status", st)};
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(sess, id, tr, 1);
	}
	return 0;
}

static void respond(nghttp2_session *sess, int32_t id, struct sstream *s, const char *ctype)
{
	nghttp2_nv h[] = {NV(":status", "200"), NV("content-type", ctype)};
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = srv_read};

	nghttp2_submit_response(sess, id, h, 2, &prd);
}

static void trailers_only(nghttp2_session *sess, int32_t id, const char *http, const char *status,
			  const char *msg)
{
	nghttp2_nv h[] = {NV(":status", http), NV("content-type", "application/grpc"),
			  NV("grpc-status", status ? status : ""), NV("grpc-message", msg ? msg : "")};

	nghttp2_submit_response(sess, id, h, status ? (msg ? 4 : 3) : 1, NULL);
}

static bool next_msg(struct sstream *s, uint8_t **p, size_t *n)
{
	size_t left = s->inlen - s->inoff;
	uint32_t len;

	if (left < 5)
		return false;
	len = (uint32_t)s->in[s->inoff + 1] << 24 | (uint32_t)s->in[s->inoff + 2] << 16 |
	      (uint32_t)s->in[s->inoff + 3] << 8 | s->in[s->inoff + 4];
	if (left < 5 + (size_t)len)
		return false;
	*p = s->in + s->inoff + 5;
	*n = len;
	s->inoff += 5 + len;
	return true;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Commands of /t.T/Do (space-separated words in the request message). */
static void do_command(nghttp2_session *sess, int32_t id, struct sstream *s, char *cmd)
{
	char *save = NULL, *w = strtok_r(cmd, " ", &save);
	char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);

	if (!w)
		return;
	if (strcmp(w, "status") == 0) {
		trailers_only(sess, id, "200", a1, a2);
	} else if (strcmp(w, "badstatus") == 0) {
		trailers_only(sess, id, "200", "abc", NULL);
	} else if (strcmp(w, "http") == 0) {
		trailers_only(sess, id, a1, NULL, NULL);
	} else if (strcmp(w, "ctype") == 0) {
		s->out_end = true;
		respond(sess, id, s, "text/html");
	} else if (strcmp(w, "raw") == 0) {
		for (size_t i = 0; a1 && a1[i] && a1[i + 1]; i += 2) {
			uint8_t b = (uint8_t)(unhex(a1[i]) << 4 | unhex(a1[i + 1]));
			append(&s->out, &s->outlen, &b, 1);
		}
		for (char *o = a2; o; o = strtok_r(NULL, " ", &save)) {
			if (strncmp(o, "status=", 7) == 0)
				s->status = atoi(o + 7);
			s->bytewise |= strcmp(o, "bytewise") == 0;
			s->nostatus |= strcmp(o, "nostatus") == 0;
		}
		s->out_end = true;
		respond(sess, id, s, "application/grpc");
	} else if (strcmp(w, "big") == 0) {
		size_t n = strtoul(a1, NULL, 10);
		uint8_t *p = malloc(n + 1);
		memset(p, 'x', n);
		append_msg(s, p, n);
		free(p);
		s->out_end = true;
		respond(sess, id, s, "application/grpc");
	} else if (strcmp(w, "stream") == 0) {
		size_t k = strtoul(a1, NULL, 10), n = strtoul(a2, NULL, 10);
		uint8_t *p = malloc(n + 1);
		for (size_t i = 0; i < k; i++) {
			for (size_t j = 0; j < n; j++)
				p[j] = (uint8_t)(i + j);
			append_msg(s, p, n);
		}
		free(p);
		s->out_end = true;
		respond(sess, id, s, "application/grpc");
	} else if (strcmp(w, "meta") == 0) {
		char m[1200];
		snprintf(m, sizeof m, "method=%s auth=%s te=%s ct=%s ns=%s lease=%s", s->method,
			 s->auth, s->te, s->ctype, s->ns, s->lease[0] ? s->lease : "-");
		append_msg(s, m, strlen(m));
		s->out_end = true;
		respond(sess, id, s, "application/grpc");
	} else if (strcmp(w, "rst") == 0) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, (uint32_t)atoi(a1));
	} else if (strcmp(w, "close") == 0) {
		conn_action = ACT_CLOSE;
	} else if (strcmp(w, "garbage") == 0) {
		conn_action = ACT_GARBAGE;
	} else if (strcmp(w, "goaway") == 0) {
		/* GOAWAY ahead of the reply, as a server that shuts down sends it: frames
		 * arrive in order, so the client has seen it when the call ends and the
		 * next call goes to a new connection (sent after the reply, it could still
		 * be on its way when the next call starts, and that call would fail). */
		nghttp2_submit_goaway(sess, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, NULL, 0);
		append_msg(s, "bye", 3);
		s->out_end = true;
		respond(sess, id, s, "application/grpc");
	}
	/* "silent": no answer at all */
}

/* Echo and canned methods answer each complete request message as it arrives. */
static void answer_messages(nghttp2_session *sess, int32_t id, struct sstream *s)
{
	uint8_t *p;
	size_t n;

	while (next_msg(s, &p, &n)) {
		if (strcmp(s->path, "/t.T/Echo") == 0) {
			append_msg(s, p, n);
		} else {
			pthread_mutex_lock(&canned_lock);
			append_msg(s, canned, canned_len);
			pthread_mutex_unlock(&canned_lock);
		}
	}
	resume(sess, id, s);
}

static int srv_begin(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		struct sstream **all = &((struct sconn *)ud)->streams, *s = calloc(1, sizeof *s);
		ck_assert_ptr_nonnull(s);
		s->next = *all;
		*all = s;
		nghttp2_session_set_stream_user_data(sess, f->hd.stream_id, s);
	}
	return 0;
}

static int srv_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		      size_t nl, const uint8_t *value, size_t vl, uint8_t fl, void *ud)
{
	struct sstream *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	char n[64];
	char *dst = NULL;
	size_t cap = 0;

	(void)fl;
	(void)ud;
	if (!s || nl >= sizeof n)
		return 0;
	memcpy(n, name, nl);
	n[nl] = '\0';
#define KEEP(key, field)                       \
	if (strcmp(n, key) == 0) {             \
		dst = s->field;                \
		cap = sizeof s->field;         \
	}
	KEEP(":path", path) KEEP("containerd-namespace", ns) KEEP("containerd-lease", lease)
	KEEP("te", te) KEEP("content-type", ctype) KEEP(":authority", auth) KEEP(":method", method)
#undef KEEP
	if (dst && vl < cap) {
		memcpy(dst, value, vl);
		dst[vl] = '\0';
	}
	return 0;
}

static int srv_data(nghttp2_session *sess, uint8_t fl, int32_t id, const uint8_t *d, size_t n,
		    void *ud)
{
	struct sstream *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)fl;
	(void)ud;
	if (s)
		append(&s->in, &s->inlen, d, n);
	return 0;
}

static int srv_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	int32_t id = f->hd.stream_id;
	struct sstream *s = nghttp2_session_get_stream_user_data(sess, id);
	bool answers = s && strncmp(s->path, "/t.T/Do", 7) != 0;

	(void)ud;
	if (!s || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST && answers)
		respond(sess, id, s, "application/grpc");
	if (answers)
		answer_messages(sess, id, s);
	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	if (answers) {
		s->out_end = true;
		resume(sess, id, s);
	} else {
		uint8_t *p;
		size_t n;
		char cmd[256] = "";
		if (next_msg(s, &p, &n) && n < sizeof cmd) {
			memcpy(cmd, p, n);
			cmd[n] = '\0';
		}
		do_command(sess, id, s, cmd);
	}
	return 0;
}

static int srv_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	struct sstream *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)code;
	(void)ud;
	if (s) {
		free(s->in);
		free(s->out);
		s->in = s->out = NULL;
	}
	return 0;
}

static void serve(int fd)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *sess;
	static uint8_t buf[65536];
	struct sconn conn = {fd, NULL};

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, srv_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_close);
	nghttp2_session_server_new(&sess, cb, &conn);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(sess, NGHTTP2_FLAG_NONE, NULL, 0);
	conn_action = ACT_NONE;
	for (;;) {
		if (nghttp2_session_send(sess) != 0)
			break;
		if (conn_action == ACT_GARBAGE) {
			/* Stays open until the client gives up, so that it reads the garbage
			 * rather than failing to write. */
			static const char g[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
			if (send(fd, g, sizeof g - 1, MSG_NOSIGNAL) == sizeof g - 1)
				while (recv(fd, buf, sizeof buf, 0) > 0)
					;
		}
		if (conn_action != ACT_NONE)
			break;
		if (!nghttp2_session_want_read(sess) && !nghttp2_session_want_write(sess))
			break;
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0 || nghttp2_session_mem_recv(sess, buf, (size_t)n) < 0)
			break;
	}
	nghttp2_session_del(sess);
	while (conn.streams) {
		struct sstream *s = conn.streams;
		conn.streams = s->next;
		free(s->in);
		free(s->out);
		free(s);
	}
}

static void *srv_main(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;

	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		serve(fd);
		close(fd);
	}
	return NULL;
}

static char sock_path[108];
static char sock_dir[32];

/* Removes the socket directory (with every socket in it) when the test process exits. */
static void remove_sock_dir(void)
{
	DIR *d = opendir(sock_dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(sock_dir);
}

static void make_sock_dir(void)
{
	if (sock_dir[0])
		return;
	strcpy(sock_dir, "/tmp/dm-grpc-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sock_dir));
	atexit(remove_sock_dir);
}

/* Starts the server on a fresh socket; sets sock_path. */
static void srv_start(void)
{
	static int count;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	pthread_t t;
	int lfd;

	make_sock_dir();
	snprintf(sock_path, sizeof sock_path, "%s/s%d", sock_dir, count++);
	strcpy(sa.sun_path, sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, srv_main, (void *)(intptr_t)lfd), 0);
	pthread_detach(t);
}

static dm_grpc *client(void)
{
	dm_error err = {0};
	dm_grpc *c;

	srv_start();
	c = dm_grpc_connect(sock_path, "moby", &err);
	ck_assert_msg(c != NULL, "%s", err.msg);
	return c;
}

/* Runs "/t.T/Do" with cmd: the call's return value; the reply (if any) into *out. */
static int run_do(dm_grpc *c, const char *cmd, char **out, size_t *n, dm_error *err)
{
	void *r = NULL;
	size_t len = 0;
	int rv = dm_grpc_unary(c, "/t.T/Do", cmd, strlen(cmd), &r, &len, err);

	if (out) {
		*out = r;
		*n = len;
	} else {
		free(r);
	}
	return rv;
}

static void assert_echo(dm_grpc *c, const char *text)
{
	dm_error err = {0};
	void *r;
	size_t n;

	ck_assert_msg(dm_grpc_unary(c, "/t.T/Echo", text, strlen(text), &r, &n, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(n, strlen(text));
	ck_assert(memcmp(r, text, n) == 0);
	free(r);
}

/* ---- grpc ---- */

/* The reply of a Do call that must succeed, as a string (free() it). */
static char *text_do(dm_grpc *c, const char *cmd)
{
	dm_error err = {0};
	char *r, *t;
	size_t n;

	ck_assert_msg(run_do(c, cmd, &r, &n, &err) == 0, "%s", err.msg);
	t = strndup(r, n);
	free(r);
	return t;
}

START_TEST(unary_echo_and_headers)
{
	dm_grpc *c = client();
	dm_error err = {0};
	char *r;

	assert_echo(c, "hello");
	assert_echo(c, ""); /* a zero-length message is a message */
	r = text_do(c, "meta");
	ck_assert_str_eq(r, "method=POST auth=localhost te=trailers ct=application/grpc ns=moby lease=-");
	free(r);
	ck_assert_int_eq(dm_grpc_set_lease(c, "lease-1", &err), 0);
	r = text_do(c, "meta");
	ck_assert_ptr_nonnull(strstr(r, "lease=lease-1"));
	free(r);
	ck_assert_int_eq(dm_grpc_set_lease(c, NULL, &err), 0);
	r = text_do(c, "meta");
	ck_assert_ptr_nonnull(strstr(r, "lease=-"));
	free(r);
	dm_grpc_close(c);
}
END_TEST

START_TEST(status_codes_map_to_errno)
{
	static const struct {
		int status, code;
		const char *name;
	} map[] = {
		{1, EIO, "CANCELLED"}, {2, EIO, "UNKNOWN"}, {3, EINVAL, "INVALID_ARGUMENT"},
		{4, EIO, "DEADLINE_EXCEEDED"}, {5, ENOENT, "NOT_FOUND"}, {6, EEXIST, "ALREADY_EXISTS"},
		{7, EIO, "PERMISSION_DENIED"}, {8, EMSGSIZE, "RESOURCE_EXHAUSTED"},
		{9, EIO, "FAILED_PRECONDITION"}, {10, EIO, "ABORTED"}, {11, EIO, "OUT_OF_RANGE"},
		{12, ENOSYS, "UNIMPLEMENTED"}, {13, EIO, "INTERNAL"}, {14, EAGAIN, "UNAVAILABLE"},
		{15, EIO, "DATA_LOSS"}, {16, EIO, "UNAUTHENTICATED"}, {17, EIO, "unknown"},
	};
	dm_grpc *c = client();
	dm_error err = {0};
	char cmd[64], want[128];

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		snprintf(cmd, sizeof cmd, "status %d thing%%20%d", map[i].status, map[i].status);
		ck_assert_int_eq(run_do(c, cmd, NULL, NULL, &err), -1);
		ck_assert_int_eq(err.code, map[i].code);
		snprintf(want, sizeof want, "t.T/Do: thing %d (gRPC status %d %s)", map[i].status,
			 map[i].status, map[i].name);
		ck_assert_str_eq(err.msg, want);
	}
	/* Bad escapes stay as they are; control characters do not break the line. */
	ck_assert_int_eq(run_do(c, "status 6 a%0Ab%zz%4", NULL, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "t.T/Do: a b%zz%4 (gRPC status 6 ALREADY_EXISTS)");
	ck_assert_int_eq(run_do(c, "status 5", NULL, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "t.T/Do: no message (gRPC status 5 NOT_FOUND)");
	/* containerd's full disk: UNKNOWN, Go's errno text at the end. */
	ck_assert_int_eq(run_do(c, "status 2 write%20/r/ingest/x/data:%20no%20space%20left%20on%20device",
				NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, ENOSPC);
	ck_assert_int_eq(run_do(c, "status 2 write%20x:%20disk%20quota%20exceeded", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EDQUOT);
	ck_assert_int_eq(run_do(c, "status 13 no%20space%20left%20on%20device", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EIO);
	ck_assert_int_eq(run_do(c, "status 2 no%20space%20left%20on%20device%20or%20so", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EIO);
	/* Status OK without a message is not a unary reply. */
	ck_assert_int_eq(run_do(c, "status 0", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_int_eq(run_do(c, "badstatus", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "malformed grpc-status"));
	assert_echo(c, "still usable");
	dm_grpc_close(c);
}
END_TEST

START_TEST(http_level_failures)
{
	static const struct {
		const char *cmd;
		int code;
		const char *part;
	} cases[] = {
		{"http 503", EAGAIN, "HTTP status 503"},
		{"http 404", ENOSYS, "HTTP status 404"},
		{"http 500", EIO, "HTTP status 500"},
		{"ctype", EPROTO, "not application/grpc"},
		{"raw 0000000001aa nostatus", EPROTO, "without grpc-status"},
		{"rst 2", EPROTO, "stream reset"},
		{"rst 8", EIO, "stream reset"},
		{"rst 7", EAGAIN, "refused"},
	};
	dm_grpc *c = client();
	dm_error err = {0};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(run_do(c, cases[i].cmd, NULL, NULL, &err), -1);
		ck_assert_msg(err.code == cases[i].code && strstr(err.msg, cases[i].part),
			      "%s: %d %s", cases[i].cmd, err.code, err.msg);
		assert_echo(c, "after");
	}
	dm_grpc_close(c);
}
END_TEST

/* Reads every message of a server-streaming Do call into one buffer (messages separated by '|'). */
static int stream_do(dm_grpc *c, const char *cmd, char *out, size_t cap, dm_error *err)
{
	dm_grpc_stream *s = dm_grpc_stream_open(c, "/t.T/Do", err);
	size_t used = 0;
	int rv;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(dm_grpc_stream_send(s, cmd, strlen(cmd), err), 0);
	ck_assert_int_eq(dm_grpc_stream_close_send(s, err), 0);
	out[0] = '\0';
	for (;;) {
		void *m;
		size_t n;
		rv = dm_grpc_stream_recv(s, &m, &n, err);
		if (rv <= 0)
			break;
		ck_assert_uint_lt(used + n + 1, cap);
		memcpy(out + used, m, n);
		used += n;
		out[used++] = '|';
		out[used] = '\0';
		free(m);
	}
	dm_grpc_stream_free(s);
	return rv;
}

START_TEST(framing_in_any_split)
{
	dm_grpc *c = client();
	dm_error err = {0};
	char out[256];

	/* "ab", "" and "cde" as three messages, in one DATA frame and one byte per frame. */
	ck_assert_int_eq(stream_do(c, "raw 0000000002616200000000000000000003636465", out,
				   sizeof out, &err), 0);
	ck_assert_str_eq(out, "ab||cde|");
	ck_assert_int_eq(stream_do(c, "raw 0000000002616200000000000000000003636465 bytewise", out,
				   sizeof out, &err), 0);
	ck_assert_str_eq(out, "ab||cde|");
	/* Messages first, then the error status. */
	ck_assert_int_eq(stream_do(c, "raw 000000000261620000000000 status=6", out, sizeof out, &err),
			 -1);
	ck_assert_str_eq(out, "ab||");
	ck_assert_int_eq(err.code, EEXIST);
	/* A unary call must get exactly one message. */
	ck_assert_int_eq(run_do(c, "raw 00000000026162000000000163", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than one reply"));
	dm_grpc_close(c);
}
END_TEST

START_TEST(malformed_frames)
{
	static const struct {
		const char *cmd;
		const char *part;
	} cases[] = {
		{"raw 010000000161", "compressed"},
		{"raw 020000000161", "bad message flag"},
		{"raw 000000000a616263", "ends inside a message"},
		{"raw 000000000a616263 bytewise", "ends inside a message"},
		{"raw 000000", "ends inside a message"},
		{"raw 00ffffffff", "over the 16777216-byte limit"},
	};
	dm_grpc *c = client();
	dm_error err = {0};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(run_do(c, cases[i].cmd, NULL, NULL, &err), -1);
		ck_assert_msg(strstr(err.msg, cases[i].part), "%s: %s", cases[i].cmd, err.msg);
		ck_assert_int_eq(err.code, strstr(cases[i].part, "limit") ? EMSGSIZE : EPROTO);
		assert_echo(c, "after");
	}
	dm_grpc_close(c);
}
END_TEST

START_TEST(message_size_limits)
{
	dm_grpc *c = client();
	dm_error err = {0};
	char cmd[64], *r;
	size_t n;
	uint8_t *big = malloc(DM_GRPC_MAX_SEND + 1);

	snprintf(cmd, sizeof cmd, "big %u", DM_GRPC_MAX_RECV);
	ck_assert_int_eq(run_do(c, cmd, &r, &n, &err), 0);
	ck_assert_uint_eq(n, DM_GRPC_MAX_RECV);
	ck_assert(r[0] == 'x' && r[n - 1] == 'x');
	free(r);
	snprintf(cmd, sizeof cmd, "big %u", DM_GRPC_MAX_RECV + 1);
	ck_assert_int_eq(run_do(c, cmd, NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EMSGSIZE);
	assert_echo(c, "after a refused reply");

	memset(big, 'y', DM_GRPC_MAX_SEND + 1);
	ck_assert_int_eq(dm_grpc_unary(c, "/t.T/Echo", big, DM_GRPC_MAX_SEND + 1, (void **)&r, &n,
				       &err), -1);
	ck_assert_int_eq(err.code, EMSGSIZE);
	ck_assert_int_eq(dm_grpc_unary(c, "/t.T/Echo", big, DM_GRPC_MAX_SEND, (void **)&r, &n, &err),
			 0);
	ck_assert_uint_eq(n, DM_GRPC_MAX_SEND);
	ck_assert(memcmp(r, big, n) == 0);
	free(r);
	free(big);
	dm_grpc_close(c);
}
END_TEST

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

START_TEST(bidi_flow_control)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_grpc_stream *s;
	uint8_t *want = malloc(DM_GRPC_MAX_SEND);
	void *m;
	size_t n;
	const unsigned k = 8;

	/* All requests before any reply: 32 MiB each way, more than every window. */
	s = dm_grpc_stream_open(c, "/t.T/Echo", &err);
	ck_assert_ptr_nonnull(s);
	for (unsigned i = 0; i < k; i++) {
		fill(want, DM_GRPC_MAX_SEND, i);
		ck_assert_msg(dm_grpc_stream_send(s, want, DM_GRPC_MAX_SEND, &err) == 0, "%s", err.msg);
	}
	ck_assert_int_eq(dm_grpc_stream_close_send(s, &err), 0);
	for (unsigned i = 0; i < k; i++) {
		ck_assert_msg(dm_grpc_stream_recv(s, &m, &n, &err) == 1, "%s", err.msg);
		fill(want, DM_GRPC_MAX_SEND, i);
		ck_assert_uint_eq(n, DM_GRPC_MAX_SEND);
		ck_assert(memcmp(m, want, n) == 0);
		free(m);
	}
	ck_assert_int_eq(dm_grpc_stream_recv(s, &m, &n, &err), 0);
	dm_grpc_stream_free(s);

	/* Lock-step, as Content.Write does. */
	s = dm_grpc_stream_open(c, "/t.T/Echo", &err);
	for (unsigned i = 0; i < 20; i++) {
		fill(want, 100000 + i, i);
		ck_assert_int_eq(dm_grpc_stream_send(s, want, 100000 + i, &err), 0);
		ck_assert_int_eq(dm_grpc_stream_recv(s, &m, &n, &err), 1);
		ck_assert_uint_eq(n, 100000 + i);
		ck_assert(memcmp(m, want, n) == 0);
		free(m);
	}
	/* Freed mid-call: cancelled, and the connection goes on. */
	dm_grpc_stream_free(s);
	assert_echo(c, "after a cancelled stream");
	free(want);
	dm_grpc_close(c);
}
END_TEST

START_TEST(server_streaming_40_mib)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_grpc_stream *s = dm_grpc_stream_open(c, "/t.T/Do", &err);
	const char *cmd = "stream 40 1048576";
	void *m;
	size_t n;
	unsigned i = 0;
	int rv;

	ck_assert_int_eq(dm_grpc_stream_send(s, cmd, strlen(cmd), &err), 0);
	ck_assert_int_eq(dm_grpc_stream_close_send(s, &err), 0);
	while ((rv = dm_grpc_stream_recv(s, &m, &n, &err)) == 1) {
		const uint8_t *p = m;
		ck_assert_uint_eq(n, 1048576);
		ck_assert(p[0] == (uint8_t)i && p[n - 1] == (uint8_t)(i + n - 1));
		free(m);
		i++;
	}
	ck_assert_int_eq(rv, 0);
	ck_assert_uint_eq(i, 40);
	dm_grpc_stream_free(s);
	dm_grpc_close(c);
}
END_TEST

START_TEST(timeout_then_usable)
{
	dm_grpc *c = client();
	dm_error err = {0};
	struct timespec a, b;

	dm_grpc_set_timeout(c, 200);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(run_do(c, "silent", NULL, NULL, &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_eq(err.code, ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(err.msg, "t.T/Do: no progress"));
	double dt = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	ck_assert(dt >= 0.19 && dt < 5);
	assert_echo(c, "after a timeout");
	dm_grpc_close(c);
}
END_TEST

START_TEST(lost_connection_reconnects)
{
	dm_grpc *c = client();
	dm_error err = {0};
	char *r;
	size_t n;

	ck_assert_int_eq(run_do(c, "close", NULL, NULL, &err), -1);
	ck_assert_int_eq(err.code, EAGAIN);
	ck_assert_ptr_nonnull(strstr(err.msg, "lost"));
	assert_echo(c, "reconnected");
	ck_assert_int_eq(run_do(c, "garbage", NULL, NULL, &err), -1);
	ck_assert_msg(err.code == EPROTO, "%d %s", err.code, err.msg);
	assert_echo(c, "reconnected after garbage");
	/* GOAWAY after a reply: the reply counts, the next call opens a new connection. */
	ck_assert_int_eq(run_do(c, "goaway", &r, &n, &err), 0);
	ck_assert(n == 3 && memcmp(r, "bye", 3) == 0);
	free(r);
	assert_echo(c, "after goaway");
	dm_grpc_close(c);
}
END_TEST

START_TEST(bad_arguments)
{
	dm_error err = {0};
	dm_grpc *c;
	dm_grpc_stream *s;
	char longpath[200], longns[300];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	ck_assert_ptr_null(dm_grpc_connect("/nonexistent/containerd.sock", "moby", &err));
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/containerd.sock"));
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_ptr_null(dm_grpc_connect(longpath, "moby", &err));
	ck_assert_int_eq(err.code, ENAMETOOLONG);
	/* A socket file nothing listens on (a containerd that died). */
	make_sock_dir();
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/dead", sock_dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	ck_assert_ptr_null(dm_grpc_connect(sa.sun_path, "moby", &err));
	ck_assert_int_eq(err.code, ECONNREFUSED);

	c = client();
	memset(longns, 'n', sizeof longns - 1);
	longns[sizeof longns - 1] = '\0';
	const char *bad_ns[] = {"", "a b", "a\nb", longns};
	for (size_t i = 0; i < sizeof bad_ns / sizeof bad_ns[0]; i++) {
		ck_assert_ptr_null(dm_grpc_connect(sock_path, bad_ns[i], &err));
		ck_assert_int_eq(err.code, EINVAL);
	}
	ck_assert_int_eq(dm_grpc_set_lease(c, "x\r\ny: z", &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_eq(dm_grpc_set_lease(c, "", &err), -1);
	ck_assert_ptr_null(dm_grpc_stream_open(c, "t.T/Echo", &err));
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_ptr_null(dm_grpc_stream_open(c, "/t.T/Echo two", &err));
	s = dm_grpc_stream_open(c, "/t.T/Echo", &err);
	ck_assert_int_eq(dm_grpc_stream_close_send(s, &err), 0);
	ck_assert_int_eq(dm_grpc_stream_send(s, "x", 1, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	dm_grpc_stream_free(s);
	assert_echo(c, "fine");
	dm_grpc_close(c);
}
END_TEST

/* A stream may outlive its connection: it then fails instead of touching freed memory. */
START_TEST(stream_outlives_connection)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_grpc_stream *s = dm_grpc_stream_open(c, "/t.T/Echo", &err);
	void *m;
	size_t n;

	ck_assert_int_eq(dm_grpc_stream_send(s, "a", 1, &err), 0);
	dm_grpc_close(c);
	ck_assert_int_eq(dm_grpc_stream_recv(s, &m, &n, &err), -1);
	ck_assert_int_eq(dm_grpc_stream_send(s, "b", 1, &err), -1);
	dm_grpc_stream_free(s);
}
END_TEST

/* ---- ctrapi: replies that must be refused ---- */

START_TEST(ctrapi_version_and_root)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_ctr_version v;
	char *root;
	Containerd__Services__Version__V1__VersionResponse vr =
		CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
	Containerd__Services__Introspection__V1__PluginsResponse pr =
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_RESPONSE__INIT;
	Containerd__Services__Introspection__V1__Plugin p[2] = {
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGIN__INIT,
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGIN__INIT};
	Containerd__Services__Introspection__V1__Plugin *pp[] = {&p[0], &p[1]};
	Containerd__Services__Introspection__V1__Plugin__ExportsEntry e =
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGIN__EXPORTS_ENTRY__INIT;
	Containerd__Services__Introspection__V1__Plugin__ExportsEntry *ep[] = {&e};

	set_canned_bytes("\xff\xff\xff", 3);
	ck_assert_int_eq(dm_ctr_version_get(c, &v, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not decode"));
	set_canned(&vr.base);
	ck_assert_int_eq(dm_ctr_version_get(c, &v, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	vr.version = "1.6.20";
	vr.revision = "abc";
	set_canned(&vr.base);
	ck_assert_int_eq(dm_ctr_version_get(c, &v, &err), 0);
	ck_assert_str_eq(v.version, "1.6.20");

	/* The wrong plugin first, then the content plugin. */
	p[0].type = "io.containerd.snapshotter.v1";
	p[0].id = "content";
	p[1].type = "io.containerd.content.v1";
	p[1].id = "content";
	e.key = "root";
	e.value = "/var/lib/x/io.containerd.content.v1.content";
	p[1].n_exports = 1;
	p[1].exports = ep;
	pr.n_plugins = 2;
	pr.plugins = pp;
	set_canned(&pr.base);
	ck_assert_msg(dm_ctr_root(c, &root, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(root, "/var/lib/x");
	free(root);
	const char *bad[] = {"relative/io.containerd.content.v1.content",
			     "/io.containerd.content.v1.content", "/var/lib/x/content"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		e.value = (char *)bad[i];
		set_canned(&pr.base);
		ck_assert_int_eq(dm_ctr_root(c, &root, &err), -1);
		ck_assert_int_eq(err.code, EPROTO);
	}
	e.key = "path";
	set_canned(&pr.base);
	ck_assert_int_eq(dm_ctr_root(c, &root, &err), -1);
	ck_assert_int_eq(err.code, ENOENT);
	pr.n_plugins = 1;
	set_canned(&pr.base);
	ck_assert_int_eq(dm_ctr_root(c, &root, &err), -1);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_int_eq(dm_ctr_plugin_export(c, "a\"b", "c", "root", &root, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	dm_grpc_close(c);
}
END_TEST

#define DIG "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

START_TEST(ctrapi_content_replies)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_digest d;
	dm_ctr_content_info info;
	Containerd__Services__Content__V1__InfoResponse ir =
		CONTAINERD__SERVICES__CONTENT__V1__INFO_RESPONSE__INIT;
	Containerd__Services__Content__V1__Info i = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
	Containerd__Services__Content__V1__Info__LabelsEntry l =
		CONTAINERD__SERVICES__CONTENT__V1__INFO__LABELS_ENTRY__INIT;
	Containerd__Services__Content__V1__Info__LabelsEntry *lp[] = {&l};

	ck_assert_int_eq(dm_digest_parse(DIG, strlen(DIG), &d, "t", &err), 0);
	set_canned(&ir.base); /* no info */
	ck_assert_int_eq(dm_ctr_content_get(c, &d, &info, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ir.info = &i;
	i.digest = "sha256:bad";
	set_canned(&ir.base);
	ck_assert_int_eq(dm_ctr_content_get(c, &d, &info, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	i.digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	set_canned(&ir.base);
	ck_assert_int_eq(dm_ctr_content_get(c, &d, &info, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	i.digest = DIG;
	i.size = 1024;
	i.n_labels = 1;
	i.labels = lp;
	l.key = "a";
	l.value = ""; /* containerd never stores empty values */
	set_canned(&ir.base);
	ck_assert_int_eq(dm_ctr_content_get(c, &d, &info, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	l.value = "b";
	set_canned(&ir.base);
	ck_assert_int_eq(dm_ctr_content_get(c, &d, &info, &err), 0);
	ck_assert_int_eq(info.size, 1024);
	ck_assert_str_eq(dm_labels_get(&info.labels, "a"), "b");
	dm_ctr_content_info_free(&info);
	/* Setting no labels would clear them all: refused before any call. */
	dm_labels none = DM_LABELS_INIT;
	ck_assert_int_eq(dm_ctr_content_set_labels(c, &d, &none, NULL, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	dm_grpc_close(c);
}
END_TEST

static int count_sink(void *arg, const void *data, size_t len, dm_error *err)
{
	(void)data;
	(void)err;
	*(size_t *)arg += len;
	return 0;
}

START_TEST(ctrapi_read_and_write_replies)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_digest d;
	size_t got = 0;
	int64_t off;
	Containerd__Services__Content__V1__ReadContentResponse rr =
		CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_RESPONSE__INIT;
	Containerd__Services__Content__V1__WriteContentResponse wr =
		CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_RESPONSE__INIT;

	ck_assert_int_eq(dm_digest_parse(DIG, strlen(DIG), &d, "t", &err), 0);
	/* The canned server answers the one Read request with one message. */
	rr.offset = 0;
	rr.data.data = (uint8_t *)"abcd";
	rr.data.len = 4;
	set_canned(&rr.base);
	ck_assert_int_eq(dm_ctr_content_read(c, &d, 0, 0, count_sink, &got, &err), 0);
	ck_assert_uint_eq(got, 4);
	ck_assert_int_eq(dm_ctr_content_read(c, &d, 0, 8, count_sink, &got, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "ends at 4"));
	rr.offset = 9;
	set_canned(&rr.base);
	ck_assert_int_eq(dm_ctr_content_read(c, &d, 0, 0, count_sink, &got, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_int_eq(dm_ctr_content_read(c, &d, -1, 0, count_sink, &got, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);

	/* Write: a stat reply claiming more than the blob holds. */
	wr.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT;
	wr.offset = 2000;
	set_canned(&wr.base);
	ck_assert_ptr_null(dm_ctr_writer_open(c, "ref", &d, 1024, &off, &err));
	ck_assert_int_eq(err.code, EPROTO);
	/* A reply to a different action. */
	wr.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
	wr.offset = 0;
	set_canned(&wr.base);
	ck_assert_ptr_null(dm_ctr_writer_open(c, "ref", &d, 1024, &off, &err));
	ck_assert_int_eq(err.code, EPROTO);
	/* A stat that fits, then a write whose reply does not move the offset. */
	wr.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT;
	wr.offset = 0;
	set_canned(&wr.base);
	dm_ctr_writer *w = dm_ctr_writer_open(c, "ref", &d, DM_CTR_WRITE_CHUNK + 10, &off, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(off, 0);
	uint8_t *chunk = calloc(1, DM_CTR_WRITE_CHUNK + 11);
	ck_assert_int_eq(dm_ctr_writer_write(w, chunk, DM_CTR_WRITE_CHUNK + 11, &err), -1);
	ck_assert_int_eq(err.code, EINVAL); /* more than announced */
	ck_assert_int_eq(dm_ctr_writer_write(w, chunk, DM_CTR_WRITE_CHUNK, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	ck_assert_int_eq(dm_ctr_writer_commit(w, NULL, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	dm_ctr_writer_free(w);
	free(chunk);
	dm_grpc_close(c);
}
END_TEST

START_TEST(ctrapi_snapshot_and_image_replies)
{
	dm_grpc *c = client();
	dm_error err = {0};
	dm_mount *m;
	dm_mount_target target;
	size_t n;
	dm_ctr_snapshot_info si;
	dm_ctr_image img;
	Containerd__Services__Snapshots__V1__PrepareSnapshotResponse pr =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
	Containerd__Types__Mount mt = CONTAINERD__TYPES__MOUNT__INIT;
	Containerd__Types__Mount *mp[] = {&mt};
	char *opts[] = {"rw", "rbind"};
	Containerd__Services__Snapshots__V1__StatSnapshotResponse sr =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
	Containerd__Services__Snapshots__V1__Info sinfo = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
	Containerd__Services__Images__V1__GetImageResponse gr =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_RESPONSE__INIT;
	Containerd__Services__Images__V1__Image im = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
	Containerd__Types__Descriptor t = CONTAINERD__TYPES__DESCRIPTOR__INIT;

	set_canned(&pr.base);
	ck_assert_int_eq(dm_ctr_snapshot_prepare(c, "overlayfs", "k", NULL, NULL, &m, &n, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "without mounts"));
	pr.n_mounts = 1;
	pr.mounts = mp;
	set_canned(&pr.base);
	ck_assert_int_eq(dm_ctr_snapshot_prepare(c, "overlayfs", "k", NULL, NULL, &m, &n, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "without a type"));
	mt.type = "bind";
	mt.source = "/r/snapshots/1/fs";
	mt.n_options = 2;
	mt.options = opts;
	set_canned(&pr.base);
	ck_assert_int_eq(dm_ctr_snapshot_prepare(c, "overlayfs", "k", NULL, NULL, &m, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(m[0].type, "bind");
	ck_assert_str_eq(m[0].target, "");
	ck_assert_uint_eq(m[0].noptions, 2);
	ck_assert_int_eq(dm_mount_target_parse(m, n, &target, &err), 0);
	ck_assert_str_eq(target.dir, "/r/snapshots/1/fs");
	dm_mount_target_free(&target);
	dm_ctr_mounts_free(m, n);

	sr.info = &sinfo;
	sinfo.name = "k";
	sinfo.kind = 7;
	set_canned(&sr.base);
	ck_assert_int_eq(dm_ctr_snapshot_stat(c, "overlayfs", "k", &si, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	sinfo.kind = CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED;
	sinfo.name = "other";
	set_canned(&sr.base);
	ck_assert_int_eq(dm_ctr_snapshot_stat(c, "overlayfs", "k", &si, &err), -1);
	sinfo.name = "k";
	sinfo.parent = "p";
	set_canned(&sr.base);
	ck_assert_int_eq(dm_ctr_snapshot_stat(c, "overlayfs", "k", &si, &err), 0);
	ck_assert_str_eq(si.parent, "p");
	ck_assert_int_eq(si.kind, DM_CTR_SNAPSHOT_COMMITTED);
	dm_ctr_snapshot_info_free(&si);

	set_canned(&gr.base);
	ck_assert_int_eq(dm_ctr_image_get(c, "i:1", &img, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	gr.image = &im;
	im.name = "i:1";
	set_canned(&gr.base);
	ck_assert_int_eq(dm_ctr_image_get(c, "i:1", &img, &err), -1); /* no target */
	im.target = &t;
	t.media_type = "application/vnd.oci.image.manifest.v1+json";
	t.digest = "sha256:nothex";
	set_canned(&gr.base);
	ck_assert_int_eq(dm_ctr_image_get(c, "i:1", &img, &err), -1);
	ck_assert_int_eq(err.code, EPROTO);
	t.digest = DIG;
	t.size = 42;
	set_canned(&gr.base);
	ck_assert_int_eq(dm_ctr_image_get(c, "i:1", &img, &err), 0);
	ck_assert_int_eq(img.size, 42);
	dm_ctr_image_free(&img);
	dm_grpc_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("grpc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, unary_echo_and_headers);
	tcase_add_test(tc, status_codes_map_to_errno);
	tcase_add_test(tc, http_level_failures);
	tcase_add_test(tc, framing_in_any_split);
	tcase_add_test(tc, malformed_frames);
	tcase_add_test(tc, message_size_limits);
	tcase_add_test(tc, bidi_flow_control);
	tcase_add_test(tc, server_streaming_40_mib);
	tcase_add_test(tc, timeout_then_usable);
	tcase_add_test(tc, lost_connection_reconnects);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, stream_outlives_connection);
	tcase_add_test(tc, ctrapi_version_and_root);
	tcase_add_test(tc, ctrapi_content_replies);
	tcase_add_test(tc, ctrapi_read_and_write_replies);
	tcase_add_test(tc, ctrapi_snapshot_and_image_replies);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
