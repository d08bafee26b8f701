#include "config.h"
#include "json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* What json-c's strict mode still takes and Go's encoding/json refuses: a
 * single-quoted key, NaN and Infinity, "1." and raw control characters in a
 * string.  Run on bytes json-c accepted, so strings are well formed.  Returns
 * the offset of the first such byte, or len. */
static size_t go_refuses(const char *buf, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (in_string) {
			if (c < 0x20)
				return i;
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '\'' || c == 'N' || c == 'I' ||
			   (c == '.' && (i + 1 == len || buf[i + 1] < '0' || buf[i + 1] > '9'))) {
			return i;
		}
	}
	return len;
}

int dm_json_parse(const char *buf, size_t len, const char *what, json_object **out, dm_error *err)
{
	json_tokener *tok;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > INT32_MAX - 1)
		return dm_err_set(err, EINVAL, "%s: %zu bytes of JSON is too large", what, len);
	if (!(tok = json_tokener_new_ex(DM_JSON_MAX_DEPTH))) {
		dm_err_nomem(err);
		return dm_err_prefix(err, "%s: ", what);
	}
	/* Strict: no comments, single quotes, leading zeros or trailing commas, as Go. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*out = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A bare number or literal ends only at a delimiter: the NUL says the input ended. */
	if (jerr == json_tokener_continue && end == len) {
		*out = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)
		return dm_err_set(err, EINVAL, "%s: unexpected end of JSON (empty or truncated file)", what);
	if (jerr != json_tokener_success)
		return dm_err_set(err, EINVAL, "%s: malformed JSON near byte %zu: %s", what, end,
				  json_tokener_error_desc(jerr));
	/* json-c stops at a NUL byte; Go calls whatever follows the value trailing data. */
	while (end < len && (buf[end] == ' ' || buf[end] == '\t' || buf[end] == '\r' || buf[end] == '\n'))
		end++;
	if (end < len) {
		json_object_put(*out);
		*out = NULL;
		return dm_err_set(err, EINVAL, "%s: malformed JSON: trailing data at byte %zu", what, end);
	}
	if ((end = go_refuses(buf, len)) < len) {
		json_object_put(*out);
		*out = NULL;
		return dm_err_set(err, EINVAL, "%s: malformed JSON near byte %zu: not JSON as Go reads it", what,
				  end);
	}
	return 0;
}
