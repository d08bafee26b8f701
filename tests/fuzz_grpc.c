/* fuzz_grpc: libFuzzer target for the reply side of lib/grpc's framing: the
 * deframer (dm_grpc_deframe) that splits a reply's DATA bytes into gRPC's
 * length-prefixed messages, and the grpc-message decoder.  The first byte
 * of the input is a chunk size (0: all at once), the rest the DATA bytes.
 * Nothing may crash; fed in chunks of that size and fed byte by byte, the
 * bytes give the same messages and end the same way (the same error, or the
 * same partial message left); the decoded grpc-message is one line within
 * its buffer. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "grpc.h"

#define MAX_MSGS 64

struct outcome {
	size_t n;
	uint8_t *msg[MAX_MSGS];
	size_t len[MAX_MSGS];
	int code;      /* error code, 0 if none */
	bool partial;
};

static void run(const uint8_t *p, size_t n, size_t chunk, struct outcome *o)
{
	dm_grpc_deframer d = {0};
	dm_error err = {0};

	memset(o, 0, sizeof *o);
	while (n > 0 && !o->code) {
		size_t k = chunk && chunk < n ? chunk : n, left = k;
		const uint8_t *q = p;
		int rc;

		while (left > 0) {
			uint8_t *msg;
			size_t len;

			rc = dm_grpc_deframe(&d, &q, &left, &msg, &len, &err);
			if (rc < 0) {
				if (!err.code || !err.msg[0])
					fuzz_broken("a framing error without a message");
				o->code = err.code;
				break;
			}
			if (rc == 0)
				break;
			if (o->n < MAX_MSGS) {
				o->msg[o->n] = msg;
				o->len[o->n] = len;
			} else {
				free(msg);
			}
			o->n++;
		}
		if (!o->code && left)
			fuzz_broken("the deframer stopped with %zu bytes left", left);
		p += k;
		n -= k;
	}
	o->partial = dm_grpc_deframer_partial(&d);
	dm_grpc_deframer_free(&d);
}

static void outcome_free(struct outcome *o)
{
	for (size_t i = 0; i < o->n && i < MAX_MSGS; i++)
		free(o->msg[i]);
}

FUZZ_ENTRY(grpc)(const uint8_t *data, size_t size)
{
	struct outcome a, b;
	char text[64];

	if (size == 0)
		return 0;
	run(data + 1, size - 1, data[0], &a);
	run(data + 1, size - 1, 1, &b);
	if (a.n != b.n || a.code != b.code || a.partial != b.partial)
		fuzz_broken("chunks of %u: %zu messages, error %d, partial %d; bytewise: %zu, %d, %d", data[0],
			    a.n, a.code, a.partial, b.n, b.code, b.partial);
	for (size_t i = 0; i < a.n && i < MAX_MSGS; i++)
		if (a.len[i] != b.len[i] || memcmp(a.msg[i], b.msg[i], a.len[i]))
			fuzz_broken("message %zu differs between splits", i);
	fuzz_accepted = !a.code && !a.partial && a.n > 0;
	outcome_free(&a);
	outcome_free(&b);

	dm_grpc_percent_decode(text, sizeof text, data, size);
	if (strlen(text) >= sizeof text)
		fuzz_broken("grpc-message overran its buffer");
	for (const char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			fuzz_broken("grpc-message keeps control character 0x%02x", (unsigned char)*c);
	return 0;
}
