#include "config.h"
#include "grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Flow control: the server may have this much unread data in flight per stream and per
 * connection.  Larger than HTTP/2's 64 KiB default so that 1 MiB reads do not stall on window
 * updates; the window is only reopened once a reader has taken its messages (QUEUE_MAX), so a
 * stream nobody reads cannot make the client buffer without bound. */
#define STREAM_WINDOW (4 << 20)
#define CONN_WINDOW (16 << 20)
#define QUEUE_MAX (4u << 20)
#define GRPC_MESSAGE_MAX 512
#define METHOD_MAX 200

struct msg {
	struct msg *next;
	uint8_t *data;
	size_t len;
};

struct dm_grpc_stream {
	dm_grpc *c;                 /* NULL once the connection is closed */
	dm_grpc_stream *prev, *next;
	int32_t id;                 /* 0 once detached from the session */
	char method[METHOD_MAX + 1]; /* without the leading '/', for messages */

	/* Sending: one framed message at a time, handed to nghttp2 by read_cb. */
	uint8_t *out;
	size_t outcap, outlen, outoff;
	bool eof_queued, eof_sent, deferred;

	/* Receiving: the message being assembled and the complete ones not yet read. */
	dm_grpc_deframer in;
	struct msg *head, *tail;
	size_t queued;      /* bytes of complete messages waiting */
	size_t unconsumed;  /* received bytes not yet returned to the flow-control window */

	/* Outcome. */
	int http_status;
	int grpc_status;    /* -1: none seen; -2: malformed */
	char grpc_message[GRPC_MESSAGE_MAX];
	bool bad_ctype;
	bool end_remote;    /* the server sent END_STREAM */
	bool closed;        /* nghttp2 closed the stream */
	uint32_t close_code;
	dm_error fail;      /* a local failure (timeout, framing, connection); code 0 if none */
};

struct dm_grpc {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char ns[DM_GRPC_META_MAX + 1];
	char lease[DM_GRPC_META_MAX + 1];
	int timeout_ms;
	int fd;
	nghttp2_session *sess;  /* NULL while disconnected */
	bool goaway;            /* the server announced it will take no new streams */
	uint32_t goaway_sent;   /* error code of a GOAWAY nghttp2 sent (a protocol error), 0 if none */
	unsigned long moved;    /* bumped whenever bytes go out: progress for the timeout */
	int send_errno;         /* why the last send() failed */
	dm_grpc_stream *streams;
	uint8_t rbuf[64 * 1024];
};

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static int status_errno(int status)
{
	switch (status) {
	case 3: return EINVAL;
	case 5: return ENOENT;
	case 6: return EEXIST;
	case 8: return EMSGSIZE;
	case 12: return ENOSYS;
	case 14: return EAGAIN;
	default: return EIO;
	}
}

/* containerd passes a full disk on as UNKNOWN with Go's text of the errno at
 * the end of the message ("write PATH: no space left on device"): the errno
 * it names, so that a full disk is told apart from a failed call. */
static int message_errno(int status, const char *msg)
{
	static const struct {
		const char *text;
		int code;
	} tail[] = {{"no space left on device", ENOSPC}, {"disk quota exceeded", EDQUOT}};
	size_t n = strlen(msg);

	for (size_t i = 0; status == 2 && i < sizeof tail / sizeof tail[0]; i++) {
		size_t m = strlen(tail[i].text);

		if (n >= m && !strcmp(msg + n - m, tail[i].text))
			return tail[i].code;
	}
	return status_errno(status);
}

/* gRPC's mapping for a reply that has an HTTP status but no grpc-status. */
static int http_to_grpc_status(int http)
{
	switch (http) {
	case 400: return 13;
	case 401: return 16;
	case 403: return 7;
	case 404: return 12;
	case 429: case 502: case 503: case 504: return 14;
	default: return 2;
	}
}

static bool finished(const dm_grpc_stream *s)
{
	return s->fail.code || s->end_remote || s->closed;
}

static void stream_vfail(dm_grpc_stream *s, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void stream_vfail(dm_grpc_stream *s, int code, const char *fmt, va_list ap)
{
	char what[DM_ERR_MSG_MAX];

	if (s->fail.code)
		return;
	vsnprintf(what, sizeof what, fmt, ap);
	dm_err_set(&s->fail, code, "%s: %s", s->method, what);
}

static void stream_fail(dm_grpc_stream *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void stream_fail(dm_grpc_stream *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stream_vfail(s, code, fmt, ap);
	va_end(ap);
}

static void consume(dm_grpc *c, int32_t id, size_t n)
{
	/* Counts for the connection window even once the stream is gone. */
	if (n && c->sess)
		nghttp2_session_consume(c->sess, id, n);
}

/* Takes s off the session: cancels the call if the server has not ended it, returns what s held
 * back to the connection window, and stops callbacks from reaching s. */
static void stream_detach(dm_grpc_stream *s)
{
	dm_grpc *c = s->c;

	if (!s->id)
		return;
	if (c && c->sess) {
		consume(c, s->id, s->unconsumed);
		s->unconsumed = 0;
		if (!s->closed) {
			nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
			nghttp2_session_set_stream_user_data(c->sess, s->id, NULL);
		}
	}
	s->id = 0;
}

/* Fails s and cancels its call, leaving the connection as it is. */
static void stream_cancel(dm_grpc_stream *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void stream_cancel(dm_grpc_stream *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stream_vfail(s, code, fmt, ap);
	va_end(ap);
	stream_detach(s);
}

/* Ends the session: every call still waiting on it fails with code and reason; the next
 * dm_grpc_stream_open reconnects. */
static void conn_drop(dm_grpc *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_drop(dm_grpc *c, int code, const char *fmt, ...)
{
	char why[DM_ERR_MSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	for (dm_grpc_stream *s = c->streams; s; s = s->next) {
		if (!s->end_remote && !s->closed)
			stream_fail(s, code, "%s", why);
		s->id = 0;
		s->unconsumed = 0;
	}
	if (c->sess)
		nghttp2_session_del(c->sess);
	c->sess = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->goaway = false;
	c->goaway_sent = 0;
}

static void enqueue(dm_grpc_stream *s, uint8_t *data, size_t len)
{
	struct msg *m = malloc(sizeof *m);

	if (!m) {
		free(data);
		stream_cancel(s, ENOMEM, "out of memory for a reply message");
		return;
	}
	m->next = NULL;
	m->data = data;
	m->len = len;
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->queued += m->len;
}

/* Moves up to want bytes from *p (n left) to dst; returns how many. */
static size_t take(uint8_t *dst, size_t want, const uint8_t **p, size_t *n)
{
	size_t k = want < *n ? want : *n;

	if (k)
		memcpy(dst, *p, k);
	*p += k;
	*n -= k;
	return k;
}

int dm_grpc_deframe(dm_grpc_deframer *d, const uint8_t **p, size_t *n, uint8_t **msg, size_t *len,
		    dm_error *err)
{
	while (*n > 0) {
		if (!d->body) {
			uint32_t blen;

			d->hdrfill += take(d->hdr + d->hdrfill, 5 - d->hdrfill, p, n);
			if (d->hdrfill < 5)
				return 0;
			blen = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
			       (uint32_t)d->hdr[3] << 8 | d->hdr[4];
			if (d->hdr[0] == 1)
				return dm_err_set(err, EPROTO, "compressed reply message (not supported)");
			if (d->hdr[0] != 0)
				return dm_err_set(err, EPROTO, "bad message flag 0x%02x in reply", d->hdr[0]);
			if (blen > DM_GRPC_MAX_RECV)
				return dm_err_set(err, EMSGSIZE, "reply message of %" PRIu32
						  " bytes is over the %u-byte limit", blen, DM_GRPC_MAX_RECV);
			d->body = malloc(blen ? blen : 1);
			if (!d->body) {
				dm_err_nomem(err);
				return dm_err_prefix(err, "a reply of %" PRIu32 " bytes: ", blen);
			}
			d->bodylen = blen;
			d->bodyfill = 0;
		}
		d->bodyfill += take(d->body + d->bodyfill, d->bodylen - d->bodyfill, p, n);
		if (d->bodyfill < d->bodylen)
			return 0;
		*msg = d->body;
		*len = d->bodylen;
		d->body = NULL;
		d->hdrfill = 0;
		return 1;
	}
	return 0;
}

bool dm_grpc_deframer_partial(const dm_grpc_deframer *d)
{
	return d->body || d->hdrfill;
}

void dm_grpc_deframer_free(dm_grpc_deframer *d)
{
	free(d->body);
	memset(d, 0, sizeof *d);
}

/* Splits the DATA bytes of a stream into length-prefixed messages. */
static void deframe(dm_grpc_stream *s, const uint8_t *p, size_t n)
{
	dm_error e = {0};
	uint8_t *msg;
	size_t len;
	int rc;

	while (!s->fail.code && (rc = dm_grpc_deframe(&s->in, &p, &n, &msg, &len, &e)) != 0) {
		if (rc < 0) {
			stream_cancel(s, e.code, "%s", e.msg);
			return;
		}
		enqueue(s, msg, len);
	}
}

static ssize_t send_cb(nghttp2_session *sess, const uint8_t *data, size_t len, int flags, void *ud)
{
	dm_grpc *c = ud;
	ssize_t n;

	(void)sess;
	(void)flags;
	do
		n = send(c->fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return NGHTTP2_ERR_WOULDBLOCK;
	if (n < 0) {
		c->send_errno = errno;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	c->moved++;
	return n;
}

static ssize_t read_cb(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *ud)
{
	dm_grpc_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	size_t n;

	(void)src;
	(void)ud;
	if (!s)
		return NGHTTP2_ERR_DEFERRED; /* cancelled: the RST_STREAM ends it */
	n = s->outlen - s->outoff;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, s->out + s->outoff, n);
	s->outoff += n;
	if (s->outoff == s->outlen) {
		s->outoff = s->outlen = 0;
		if (s->eof_queued) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			s->eof_sent = true;
		} else if (n == 0) {
			s->deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

static int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* grpc-message is percent-encoded (a '%' not followed by two hex digits stands for itself);
 * control characters would break one-line messages. */
void dm_grpc_percent_decode(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned v = src[i];
		if (v == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
			v = (unsigned)(hexval(src[i + 1]) << 4 | hexval(src[i + 2]));
			i += 2;
		}
		dst[o++] = v < 0x20 || v == 0x7f ? ' ' : (char)v;
	}
	dst[o] = '\0';
}

static int header_cb(nghttp2_session *sess, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	dm_grpc_stream *s;

	(void)flags;
	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (!s)
		return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
	if (IS(":status") || IS("grpc-status")) {
		int v = 0;
		bool ok = valuelen > 0 && valuelen <= 3;
		for (size_t i = 0; ok && i < valuelen; i++) {
			ok = value[i] >= '0' && value[i] <= '9';
			v = v * 10 + (value[i] - '0');
		}
		if (IS(":status"))
			s->http_status = ok ? v : 0;
		else
			s->grpc_status = ok ? v : -2;
	} else if (IS("grpc-message")) {
		dm_grpc_percent_decode(s->grpc_message, sizeof s->grpc_message, value, valuelen);
	} else if (IS("content-type")) {
		s->bad_ctype = valuelen < 16 || memcmp(value, "application/grpc", 16) != 0 ||
			       (valuelen > 16 && value[16] != '+' && value[16] != ';');
	}
#undef IS
	return 0;
}

static int data_cb(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	dm_grpc *c = ud;
	dm_grpc_stream *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)flags;
	if (!s || s->fail.code) {
		consume(c, id, len);
		return 0;
	}
	deframe(s, data, len);
	if (s->fail.code || s->queued < QUEUE_MAX)
		consume(c, id, len);
	else
		s->unconsumed += len;
	return 0;
}

static int frame_recv_cb(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	dm_grpc *c = ud;
	dm_grpc_stream *s;

	if (frame->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		return 0;
	}
	if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
		if (s)
			s->end_remote = true;
	}
	return 0;
}

static int frame_send_cb(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	dm_grpc *c = ud;

	(void)sess;
	if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
		c->goaway_sent = frame->goaway.error_code;
	return 0;
}

static int close_cb(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	dm_grpc_stream *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)ud;
	if (s) {
		s->closed = true;
		s->close_code = code;
	}
	return 0;
}

static int conn_open(dm_grpc *c, dm_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry settings[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
	};
	int rv;

	memcpy(sa.sun_path, c->path, sizeof sa.sun_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return dm_err_sys(err, "socket for %s", c->path);
	do
		rv = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
	while (rv < 0 && errno == EINTR);
	if (rv < 0 || fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) {
		dm_err_sys(err, "connect to containerd at %s", c->path);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (nghttp2_session_callbacks_new(&cb) || nghttp2_option_new(&opt)) {
		rv = NGHTTP2_ERR_NOMEM;
		goto fail;
	}
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, data_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_recv_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, frame_send_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, close_cb);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = nghttp2_session_client_new2(&c->sess, cb, c, opt);
	if (rv == 0)
		rv = nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, settings,
					     sizeof settings / sizeof settings[0]);
	if (rv == 0)
		rv = nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
fail:
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rv != 0) {
		conn_drop(c, EIO, "HTTP/2 setup failed");
		return dm_err_set(err, rv == NGHTTP2_ERR_NOMEM ? ENOMEM : EIO,
				  "HTTP/2 session to containerd at %s: %s", c->path, nghttp2_strerror(rv));
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves bytes both ways until ready(s) holds.  Failures land in s (and, for the connection, in
 * every stream on it), so callers only look at s afterwards. */
static void pump(dm_grpc_stream *s, bool (*ready)(const dm_grpc_stream *))
{
	dm_grpc *c = s->c;
	long long deadline = c && c->timeout_ms > 0 ? now_ms() + c->timeout_ms : 0;

	while (!ready(s) && c && c->sess && s->id) {
		unsigned long before = c->moved;
		struct pollfd p;
		int rv, wait_ms = -1;
		ssize_t n;

		rv = nghttp2_session_send(c->sess);
		if (rv != 0) {
			conn_drop(c, EAGAIN, "connection to containerd at %s lost: %s", c->path,
				  rv == NGHTTP2_ERR_CALLBACK_FAILURE ? strerror(c->send_errno)
								     : nghttp2_strerror(rv));
			break;
		}
		if (ready(s) || !s->id)
			break;
		if (!nghttp2_session_want_read(c->sess) && !nghttp2_session_want_write(c->sess)) {
			if (c->goaway_sent)
				conn_drop(c, EPROTO, "HTTP/2 protocol error from containerd at %s (%s)",
					  c->path, nghttp2_http2_strerror(c->goaway_sent));
			else
				conn_drop(c, EAGAIN, "connection to containerd at %s closed", c->path);
			break;
		}
		if (deadline) {
			if (c->moved != before)
				deadline = now_ms() + c->timeout_ms;
			long long left = deadline - now_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		p.fd = c->fd;
		p.events = POLLIN | (nghttp2_session_want_write(c->sess) ? POLLOUT : 0);
		p.revents = 0;
		rv = poll(&p, 1, wait_ms);
		if (rv < 0 && errno == EINTR)
			continue;
		if (rv < 0) {
			conn_drop(c, errno, "poll on %s: %s", c->path, strerror(errno));
			break;
		}
		if (rv == 0) {
			stream_cancel(s, ETIMEDOUT, "no progress from containerd at %s for %d ms",
				      c->path, c->timeout_ms);
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			conn_drop(c, EAGAIN, "connection to containerd at %s lost: %s", c->path,
				  n == 0 ? "closed by the server" : strerror(errno));
			break;
		}
		c->moved++;
		if (deadline)
			deadline = now_ms() + c->timeout_ms;
		n = nghttp2_session_mem_recv(c->sess, c->rbuf, (size_t)n);
		if (n < 0) {
			conn_drop(c, EPROTO, "HTTP/2 error on the connection to %s: %s", c->path,
				  nghttp2_strerror((int)n));
			break;
		}
	}
}

static bool recv_ready(const dm_grpc_stream *s)
{
	return s->head || finished(s);
}

static bool send_ready(const dm_grpc_stream *s)
{
	return (s->outlen == 0 && (!s->eof_queued || s->eof_sent)) || finished(s);
}

/* The call's outcome once the server has ended it: 0 for status OK. */
static int final_status(const dm_grpc_stream *s, dm_error *err)
{
	int st = s->grpc_status;

	if (s->fail.code) {
		*err = s->fail;
		return -1;
	}
	if (!s->end_remote && !s->closed)
		return dm_err_set(err, EPROTO, "%s: the call has not ended", s->method);
	if (st == -1 && !s->end_remote && s->close_code == NGHTTP2_REFUSED_STREAM)
		return dm_err_set(err, EAGAIN, "%s: containerd refused the stream", s->method);
	if (st == -1 && !s->end_remote)
		return dm_err_set(err, s->close_code == NGHTTP2_CANCEL ? EIO : EPROTO,
				  "%s: stream reset by containerd (%s)", s->method,
				  nghttp2_http2_strerror(s->close_code));
	if (st == -1 && s->http_status != 200) {
		st = http_to_grpc_status(s->http_status);
		return dm_err_set(err, status_errno(st), "%s: HTTP status %d without grpc-status (%s)",
				  s->method, s->http_status, status_names[st]);
	}
	if (s->bad_ctype)
		return dm_err_set(err, EPROTO, "%s: reply is not application/grpc", s->method);
	if (st == -1)
		return dm_err_set(err, EPROTO, "%s: reply without grpc-status", s->method);
	if (st == -2)
		return dm_err_set(err, EPROTO, "%s: malformed grpc-status in reply", s->method);
	if (st == 0) {
		if (dm_grpc_deframer_partial(&s->in))
			return dm_err_set(err, EPROTO, "%s: reply ends inside a message", s->method);
		return 0;
	}
	return dm_err_set(err, message_errno(st, s->grpc_message), "%s: %s (gRPC status %d %s)", s->method,
			  s->grpc_message[0] ? s->grpc_message : "no message", st,
			  st < (int)(sizeof status_names / sizeof status_names[0]) ? status_names[st]
										     : "unknown");
}

static bool meta_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > DM_GRPC_META_MAX)
		return false;
	for (; *v; v++)
		if (*v < 0x21 || *v > 0x7e)
			return false;
	return true;
}

dm_grpc *dm_grpc_connect(const char *path, const char *ns, dm_error *err)
{
	dm_grpc *c;

	if (strlen(path) >= sizeof c->path) {
		dm_err_set(err, ENAMETOOLONG, "containerd socket path %s is too long", path);
		return NULL;
	}
	if (!meta_valid(ns)) {
		dm_err_set(err, EINVAL, "bad containerd namespace \"%s\"", ns);
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		dm_err_nomem(err);
		return NULL;
	}
	strcpy(c->path, path);
	strcpy(c->ns, ns);
	c->timeout_ms = DM_GRPC_TIMEOUT_MS;
	c->fd = -1;
	if (conn_open(c, err) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

void dm_grpc_close(dm_grpc *c)
{
	if (!c)
		return;
	conn_drop(c, EPIPE, "connection closed by the client");
	for (dm_grpc_stream *s = c->streams, *next; s; s = next) {
		next = s->next;
		s->c = NULL;
		s->prev = s->next = NULL;
	}
	free(c);
}

int dm_grpc_set_lease(dm_grpc *c, const char *lease, dm_error *err)
{
	if (!lease) {
		c->lease[0] = '\0';
		return 0;
	}
	if (!meta_valid(lease))
		return dm_err_set(err, EINVAL, "bad lease id \"%s\"", lease);
	strcpy(c->lease, lease);
	return 0;
}

void dm_grpc_set_timeout(dm_grpc *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

dm_grpc_stream *dm_grpc_stream_open(dm_grpc *c, const char *method, dm_error *err)
{
	dm_grpc_stream *s;
	size_t n = strlen(method);
	nghttp2_data_provider prd = {.read_callback = read_cb};

	if (n < 2 || n > METHOD_MAX || method[0] != '/' || !meta_valid(method)) {
		dm_err_set(err, EINVAL, "bad gRPC method \"%s\"", method);
		return NULL;
	}
	if (c->sess && c->goaway)
		conn_drop(c, EAGAIN, "containerd at %s is going away", c->path);
	if (!c->sess && conn_open(c, err) < 0)
		return NULL;
	s = calloc(1, sizeof *s);
	if (!s) {
		dm_err_nomem(err);
		return NULL;
	}
	strcpy(s->method, method + 1);
	s->grpc_status = -1;
	s->c = c;

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
	nghttp2_nv nva[] = {
		NV(":method", "POST"), NV(":scheme", "http"), NV(":authority", "localhost"),
		NV(":path", method), NV("content-type", "application/grpc"), NV("te", "trailers"),
		NV("user-agent", PACKAGE_NAME "/" PACKAGE_VERSION),
		NV("containerd-namespace", c->ns), NV("containerd-lease", c->lease),
	};
#undef NV
	size_t nnv = sizeof nva / sizeof nva[0] - (c->lease[0] ? 0 : 1);
	prd.source.ptr = s;
	int32_t id = nghttp2_submit_request(c->sess, NULL, nva, nnv, &prd, s);
	if (id < 0) {
		dm_err_set(err, id == NGHTTP2_ERR_NOMEM ? ENOMEM : EAGAIN, "%s: %s", s->method,
			   nghttp2_strerror(id));
		free(s);
		return NULL;
	}
	s->id = id;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	return s;
}

static int stream_ended_early(const dm_grpc_stream *s, dm_error *err)
{
	if (final_status(s, err) == 0)
		dm_err_set(err, EPROTO, "%s: containerd ended the call before the request was sent",
			   s->method);
	return -1;
}

int dm_grpc_stream_send(dm_grpc_stream *s, const void *msg, size_t len, dm_error *err)
{
	if (len > DM_GRPC_MAX_SEND)
		return dm_err_set(err, EMSGSIZE, "%s: request message of %zu bytes is over the %u-byte limit",
				  s->method, len, DM_GRPC_MAX_SEND);
	if (s->eof_queued)
		return dm_err_set(err, EINVAL, "%s: send after the end of the request", s->method);
	if (finished(s) || !s->c)
		return stream_ended_early(s, err);
	if (s->outcap < len + 5) {
		uint8_t *p = realloc(s->out, len + 5);
		if (!p) {
			dm_err_nomem(err);
			return dm_err_prefix(err, "%s: %zu bytes: ", s->method, len);
		}
		s->out = p;
		s->outcap = len + 5;
	}
	s->out[0] = 0;
	s->out[1] = (uint8_t)(len >> 24);
	s->out[2] = (uint8_t)(len >> 16);
	s->out[3] = (uint8_t)(len >> 8);
	s->out[4] = (uint8_t)len;
	if (len)
		memcpy(s->out + 5, msg, len);
	s->outlen = len + 5;
	s->outoff = 0;
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(s->c->sess, s->id);
	}
	pump(s, send_ready);
	if (s->outlen)
		return stream_ended_early(s, err);
	return 0;
}

int dm_grpc_stream_close_send(dm_grpc_stream *s, dm_error *err)
{
	if (!s->eof_queued && !finished(s) && s->c) {
		s->eof_queued = true;
		if (s->deferred) {
			s->deferred = false;
			nghttp2_session_resume_data(s->c->sess, s->id);
		}
		pump(s, send_ready);
	}
	if (s->fail.code) {
		*err = s->fail;
		return -1;
	}
	return 0;
}

int dm_grpc_stream_recv(dm_grpc_stream *s, void **msg, size_t *len, dm_error *err)
{
	struct msg *m;

	if (!recv_ready(s) && s->c)
		pump(s, recv_ready);
	if (s->fail.code) {
		*err = s->fail;
		return -1;
	}
	m = s->head;
	if (!m)
		return final_status(s, err) < 0 ? -1 : 0;
	s->head = m->next;
	if (!s->head)
		s->tail = NULL;
	s->queued -= m->len;
	if (s->unconsumed && s->queued < QUEUE_MAX && s->c) {
		consume(s->c, s->id, s->unconsumed);
		s->unconsumed = 0;
	}
	*msg = m->data;
	*len = m->len;
	free(m);
	return 1;
}

void dm_grpc_stream_free(dm_grpc_stream *s)
{
	if (!s)
		return;
	if (s->c) {
		stream_detach(s);
		/* Best effort: a failure here shows at the next call on the connection. */
		if (s->c->sess)
			nghttp2_session_send(s->c->sess);
		if (s->prev)
			s->prev->next = s->next;
		else
			s->c->streams = s->next;
		if (s->next)
			s->next->prev = s->prev;
	}
	while (s->head) {
		struct msg *m = s->head;
		s->head = m->next;
		free(m->data);
		free(m);
	}
	dm_grpc_deframer_free(&s->in);
	free(s->out);
	free(s);
}

static int unary_once(dm_grpc *c, const char *method, const void *req, size_t req_len, void **resp,
		      size_t *resp_len, bool *refused, dm_error *err)
{
	dm_grpc_stream *s = dm_grpc_stream_open(c, method, err);
	void *m = NULL, *extra;
	size_t n, extra_len;
	int rv = -1;

	if (!s)
		return -1;
	if (dm_grpc_stream_send(s, req, req_len, err) < 0 || dm_grpc_stream_close_send(s, err) < 0)
		goto fail;
	rv = dm_grpc_stream_recv(s, &m, &n, err);
	if (rv == 0)
		dm_err_set(err, EPROTO, "%s: the call ended without a reply", s->method);
	if (rv <= 0)
		goto fail;
	rv = dm_grpc_stream_recv(s, &extra, &extra_len, err);
	if (rv == 1) {
		free(extra);
		dm_err_set(err, EPROTO, "%s: more than one reply to a unary call", s->method);
	}
	if (rv != 0)
		goto fail;
	*resp = m;
	*resp_len = n;
	dm_grpc_stream_free(s);
	return 0;
fail:
	*refused = s->closed && !s->end_remote && s->close_code == NGHTTP2_REFUSED_STREAM &&
		   !s->fail.code;
	free(m);
	dm_grpc_stream_free(s);
	return -1;
}

int dm_grpc_unary(dm_grpc *c, const char *method, const void *req, size_t req_len, void **resp,
		  size_t *resp_len, dm_error *err)
{
	bool refused = false;

	/* A stream refused by a server going away (GOAWAY) was never processed, so one more
	 * try, which opens a new connection, is always safe. */
	if (unary_once(c, method, req, req_len, resp, resp_len, &refused, err) == 0)
		return 0;
	if (!refused)
		return -1;
	refused = false;
	return unary_once(c, method, req, req_len, resp, resp_len, &refused, err);
}
