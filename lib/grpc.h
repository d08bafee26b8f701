/* grpc: gRPC over plain HTTP/2 on a unix socket (nghttp2), the transport to a running
 * containerd.  Owns the socket, the one HTTP/2 session on it, the 5-byte message framing, flow
 * control, timeouts and the mapping of gRPC status codes to dm_error codes.  Messages are opaque
 * bytes here; ctrapi packs and unpacks them.
 *
 * Every call carries `containerd-namespace: <ns>` and, while one is set, `containerd-lease: <id>`.
 *
 * Error codes (dm_error.code), messages always naming the method:
 *   gRPC status ALREADY_EXISTS → EEXIST, NOT_FOUND → ENOENT, UNAVAILABLE → EAGAIN (retry a
 *   bounded number of times), RESOURCE_EXHAUSTED → EMSGSIZE, INVALID_ARGUMENT → EINVAL,
 *   UNIMPLEMENTED → ENOSYS, every other status → EIO (message: the server's grpc-message);
 *   connection lost (containerd stopped or restarted) → EAGAIN, and the next call reconnects;
 *   no progress for the timeout → ETIMEDOUT (the call is cancelled, the connection stays usable);
 *   malformed HTTP/2 or gRPC framing from the server → EPROTO, and a message over the limits
 *   below → EMSGSIZE (that call fails, the connection stays usable).
 *
 * Thread safety: a connection and its streams must be used by one thread at a time; give each
 * worker thread its own connection.  Connections share no state. */
#ifndef DM_GRPC_H
#define DM_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Largest message accepted from the server: containerd's own limit (16 MiB). */
#define DM_GRPC_MAX_RECV (16u << 20)
/* Largest message sent: containerd refuses more than 16 MiB, so stay well below. */
#define DM_GRPC_MAX_SEND (4u << 20)
/* Default for dm_grpc_set_timeout. */
#define DM_GRPC_TIMEOUT_MS 60000
/* Longest namespace or lease id accepted in the metadata headers. */
#define DM_GRPC_META_MAX 255

typedef struct dm_grpc dm_grpc;
typedef struct dm_grpc_stream dm_grpc_stream;

/* Connects to the unix socket at path and opens the HTTP/2 session (namespace ns on every call).
 * ECONNREFUSED/ENOENT when nothing listens there. */
dm_grpc *dm_grpc_connect(const char *path, const char *ns, dm_error *err);
/* Closes the connection; streams still open on it become unusable (free them as usual). */
void dm_grpc_close(dm_grpc *c);
/* Sets the lease later calls are attached to (containerd-lease header); NULL clears it. */
int dm_grpc_set_lease(dm_grpc *c, const char *lease, dm_error *err);
/* Sets how long a call may wait without any byte moving before it fails with ETIMEDOUT
 * (0 or less: no limit). */
void dm_grpc_set_timeout(dm_grpc *c, int timeout_ms);

/* One request, one reply.  method is the full path "/<package>.<Service>/<Method>".  On success
 * *resp (free() it) holds the reply message of *resp_len bytes. */
int dm_grpc_unary(dm_grpc *c, const char *method, const void *req, size_t req_len, void **resp,
                  size_t *resp_len, dm_error *err);

/* Starts a streaming call (client, server or bidirectional streaming). */
dm_grpc_stream *dm_grpc_stream_open(dm_grpc *c, const char *method, dm_error *err);
/* Sends one message (at most DM_GRPC_MAX_SEND bytes); returns once the message has been handed
 * to the socket, or with the call's final error if the server has ended the call. */
int dm_grpc_stream_send(dm_grpc_stream *s, const void *msg, size_t len, dm_error *err);
/* Half-closes: tells the server no more messages follow. */
int dm_grpc_stream_close_send(dm_grpc_stream *s, dm_error *err);
/* Waits for the next message: 1 with *msg (free() it) of *len bytes, 0 when the call ended with
 * status OK, -1 on error (the call's status error once the messages before it are read). */
int dm_grpc_stream_recv(dm_grpc_stream *s, void **msg, size_t *len, dm_error *err);
/* Frees s, cancelling the call (RST_STREAM) if it has not ended. */
void dm_grpc_stream_free(dm_grpc_stream *s);

/* The pure parts of reading a reply, used by the streams above and exposed for the fuzz target
 * (tests/fuzz_grpc.c).  A deframer splits the DATA bytes of a reply, in any split, into gRPC's
 * length-prefixed messages (flag byte 0, 4-byte big-endian length, the message); start it
 * zeroed. */
typedef struct dm_grpc_deframer {
	uint8_t hdr[5];
	size_t hdrfill;
	uint8_t *body;      /* the message being assembled, NULL between messages */
	size_t bodylen, bodyfill;
} dm_grpc_deframer;

/* Takes bytes from *p (*n of them left) up to the end of the next message: 1 when one is
 * complete (*msg, free() it, of *len bytes), 0 when every byte was taken and none is complete,
 * -1 on a framing error (EPROTO: compressed or bad flag; EMSGSIZE: over DM_GRPC_MAX_RECV;
 * ENOMEM); after an error the deframer is only good for dm_grpc_deframer_free. */
int dm_grpc_deframe(dm_grpc_deframer *d, const uint8_t **p, size_t *n, uint8_t **msg, size_t *len,
                    dm_error *err);
/* True when the deframer holds part of a message (the reply must not end there). */
bool dm_grpc_deframer_partial(const dm_grpc_deframer *d);
/* Frees what the deframer holds and zeroes it. */
void dm_grpc_deframer_free(dm_grpc_deframer *d);

/* Decodes a grpc-message header value (percent-encoded; a '%' not followed by two hex digits
 * stands for itself) into dst, at most cap - 1 bytes and NUL-terminated, with control
 * characters turned into spaces so that the message stays one line. */
void dm_grpc_percent_decode(char *dst, size_t cap, const uint8_t *src, size_t n);

#endif
