/* sink: the project's one byte-sink type.  A stream is pushed through a chain
 * of sinks: a layer's tar (tarsplit, layerstore) into a compressor (compress),
 * into a blob writer (content, a target's blob), or blob data read back from
 * containerd (ctrapi).  A leaf header so that none of them depends on another
 * for the type. */
#ifndef DM_SINK_H
#define DM_SINK_H

#include <stddef.h>

#include "error.h"

/* Receives len bytes of a stream, in order.  Returns 0, or -1 with err set; that error is
 * returned unchanged by the caller of the sink. */
typedef int (*dm_sink_fn)(void *opaque, const void *buf, size_t len, dm_error *err);

#endif
