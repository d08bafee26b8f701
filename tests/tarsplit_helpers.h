/* Test helpers shared by test_tarsplit and bench_tarsplit: writing
 * tar-split.json.gz files the way Go's tar-split packer does. */
#ifndef DM_TARSPLIT_HELPERS_H
#define DM_TARSPLIT_HELPERS_H

#include <stdint.h>
#include <stdio.h>

/* Standard base64 with padding, as Go's encoding/json writes []byte; malloc'd. */
char *th_b64(const void *p, size_t n);

/* Newline-delimited tar-split entries collected in memory. */
typedef struct th_jsonl {
	FILE *f;
	char *buf;
	size_t len;
	int pos;
} th_jsonl;

void th_jl_open(th_jsonl *jl);
/* A SegmentType entry holding n raw bytes. */
void th_jl_seg(th_jsonl *jl, const void *p, size_t n);
/* A FileType entry; name goes to name_raw when it is not valid UTF-8; crc is used when size > 0. */
void th_jl_file(th_jsonl *jl, const char *name, size_t nlen, uint64_t size, uint64_t crc);
/* A line written verbatim (a newline is appended). */
void th_jl_raw(th_jsonl *jl, const char *line);
/* Closes the collection and writes it gzip-compressed to path (mode "wb", or "ab" to add a member). */
void th_jl_gz(th_jsonl *jl, const char *path, const char *mode);

#endif
