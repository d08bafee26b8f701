/* json: the one strict JSON reader.  Every JSON file the tool reads (Docker's
 * image configs, repositories.json, container configs, daemon.json) goes
 * through it, so that all of them are judged by the same rules as Go's
 * encoding/json judges them: exactly one value, nothing but whitespace after
 * it, nesting bounded. */
#ifndef DM_JSON_H
#define DM_JSON_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

/* Deeper than any file Docker writes (a few levels); bounds json-c's recursion. */
#define DM_JSON_MAX_DEPTH 64

/* Parses the len bytes at buf (need not be NUL-terminated) as one JSON value;
 * *out is the value (NULL for a JSON null; release with json_object_put).
 * A NUL byte inside len, trailing data, truncation and nesting deeper than
 * DM_JSON_MAX_DEPTH are EINVAL, each message starting "what: ". */
int dm_json_parse(const char *buf, size_t len, const char *what, json_object **out, dm_error *err);

#endif
