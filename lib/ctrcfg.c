#include "config.h"
#include "ctrcfg.h"
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keys deeper than this are skipped by syntax all the same; only the first
 * two segments are kept to match `root` and `grpc.address`. */
#define SEG_MAX 64

struct parser {
	const char *name;
	const char *p, *end;
	unsigned line;
	dm_containerd_config *c;
	dm_error *err;
	/* The current table: its first two segments and how many there are. */
	char table[2][SEG_MAX];
	size_t n_table;
	bool array_table;
};

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *ps, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dm_err_set(ps->err, EINVAL, "%s:%u: %s", ps->name, ps->line, what);
}

static bool at_end(struct parser *ps)
{
	return ps->p >= ps->end;
}

static void skip_blank(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static void skip_comment(struct parser *ps)
{
	if (!at_end(ps) && *ps->p == '#')
		while (!at_end(ps) && *ps->p != '\n')
			ps->p++;
}

static void newline(struct parser *ps)
{
	ps->p++;
	ps->line++;
}

/* Blanks, comments and newlines (inside arrays and between statements). */
static void skip_space(struct parser *ps)
{
	for (;;) {
		skip_blank(ps);
		skip_comment(ps);
		if (!at_end(ps) && *ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
			ps->p++;
		if (at_end(ps) || *ps->p != '\n')
			return;
		newline(ps);
	}
}

/* After a statement: blanks, a comment, then the end of the line or file. */
static int end_of_line(struct parser *ps)
{
	skip_blank(ps);
	skip_comment(ps);
	if (!at_end(ps) && *ps->p == '\r')
		ps->p++;
	if (at_end(ps))
		return 0;
	if (*ps->p != '\n')
		return perr(ps, "unexpected '%.1s' after the value", ps->p);
	newline(ps);
	return 0;
}

static void put_utf8(char **o, uint32_t cp)
{
	unsigned char *u = (unsigned char *)*o;

	if (cp < 0x80) {
		*u++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*u++ = (unsigned char)(0xc0 | cp >> 6);
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*u++ = (unsigned char)(0xe0 | cp >> 12);
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*u++ = (unsigned char)(0xf0 | cp >> 18);
		*u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)u;
}

/* A one-line basic ("...") or literal ('...') string at ps->p; *out (may be
 * NULL: only skipped) gets its value, malloc'd.  Multi-line strings are
 * skipped by skip_multiline. */
static int string1(struct parser *ps, char **out)
{
	char q = *ps->p++, *buf = NULL, *o = NULL;
	/* A decoded string is never longer than its source (\u escapes included). */
	size_t cap = (size_t)(ps->end - ps->p) + 1;

	if (out) {
		if (!(buf = malloc(cap)))
			return dm_err_nomem(ps->err);
		o = buf;
	}
	for (;;) {
		unsigned char ch;

		if (at_end(ps) || *ps->p == '\n') {
			free(buf);
			return perr(ps, "%s", "unterminated string");
		}
		ch = (unsigned char)*ps->p++;
		if (ch == (unsigned char)q)
			break;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			free(buf);
			return perr(ps, "%s", "a control character in a string");
		}
		if (ch == '\\' && q == '"') {
			uint32_t cp = 0;
			int n = 0;

			if (at_end(ps)) {
				free(buf);
				return perr(ps, "%s", "unterminated string");
			}
			switch (*ps->p++) {
			case 'b': ch = '\b'; break;
			case 't': ch = '\t'; break;
			case 'n': ch = '\n'; break;
			case 'f': ch = '\f'; break;
			case 'r': ch = '\r'; break;
			case 'e': ch = 0x1b; break;
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case 'u': n = 4; break;
			case 'U': n = 8; break;
			default:
				free(buf);
				return perr(ps, "%s", "an invalid escape in a string");
			}
			if (n) {
				for (int i = 0; i < n; i++, ps->p++) {
					char h = at_end(ps) ? 0 : *ps->p;
					int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 :
						h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;

					if (d < 0) {
						free(buf);
						return perr(ps, "%s", "an invalid \\u escape in a string");
					}
					cp = cp << 4 | (uint32_t)d;
				}
				if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0) {
					free(buf);
					return perr(ps, "%s", "an invalid code point in a string");
				}
				if (o)
					put_utf8(&o, cp);
				continue;
			}
		}
		if (o)
			*o++ = (char)ch;
	}
	if (out) {
		*o = '\0';
		*out = buf;
	}
	return 0;
}

/* A multi-line string ("""...""" or '''...''') at ps->p, skipped. */
static int skip_multiline(struct parser *ps)
{
	char q = *ps->p;

	ps->p += 3;
	for (;;) {
		if (at_end(ps))
			return perr(ps, "%s", "unterminated multi-line string");
		if (*ps->p == '\n') {
			newline(ps);
			continue;
		}
		if (q == '"' && *ps->p == '\\') {
			ps->p += ps->p + 1 < ps->end && ps->p[1] != '\n' ? 2 : 1;
			continue;
		}
		if (*ps->p == q && ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q) {
			ps->p += 3;
			/* Up to two more quotes belong to the string. */
			for (int i = 0; i < 2 && !at_end(ps) && *ps->p == q; i++)
				ps->p++;
			return 0;
		}
		ps->p++;
	}
}

static bool is_multiline(const struct parser *ps)
{
	return ps->end - ps->p >= 3 && ps->p[1] == ps->p[0] && ps->p[2] == ps->p[0];
}

static bool bare_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       ch == '-';
}

/* A dotted key (bare or quoted segments) ending before `stop`; the first two
 * segments go to seg (truncated names never match), their count to *n. */
static int key(struct parser *ps, char seg[2][SEG_MAX], size_t *n)
{
	*n = 0;
	for (;;) {
		char *s = NULL;
		const char *b = ps->p;

		skip_blank(ps);
		if (at_end(ps))
			return perr(ps, "%s", "a key expected");
		if (*ps->p == '"' || *ps->p == '\'') {
			if (is_multiline(ps))
				return perr(ps, "%s", "a multi-line string cannot be a key");
			if (string1(ps, &s) < 0)
				return -1;
		} else {
			b = ps->p;
			while (!at_end(ps) && bare_char(*ps->p))
				ps->p++;
			if (ps->p == b)
				return perr(ps, "unexpected '%.1s' where a key was expected", at_end(ps) ? "" : ps->p);
			if (!(s = strndup(b, (size_t)(ps->p - b))))
				return dm_err_nomem(ps->err);
		}
		if (*n < 2)
			snprintf(seg[*n], SEG_MAX, "%s", strlen(s) < SEG_MAX ? s : "\x01(long)");
		(*n)++;
		free(s);
		skip_blank(ps);
		if (at_end(ps) || *ps->p != '.')
			return 0;
		ps->p++;
	}
}

static int skip_value(struct parser *ps, int depth);

static int skip_array(struct parser *ps, int depth)
{
	ps->p++;
	for (;;) {
		skip_space(ps);
		if (at_end(ps))
			return perr(ps, "%s", "unterminated array");
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (skip_value(ps, depth + 1) < 0)
			return -1;
		skip_space(ps);
		if (!at_end(ps) && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (at_end(ps))
			return perr(ps, "%s", "unterminated array");
		if (*ps->p != ']')
			return perr(ps, "%s", "',' or ']' expected in an array");
	}
}

static int skip_inline_table(struct parser *ps, int depth)
{
	char seg[2][SEG_MAX];
	size_t n;

	ps->p++;
	skip_blank(ps);
	if (!at_end(ps) && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (key(ps, seg, &n) < 0)
			return -1;
		if (at_end(ps) || *ps->p != '=')
			return perr(ps, "%s", "'=' expected after a key");
		ps->p++;
		skip_blank(ps);
		if (skip_value(ps, depth + 1) < 0)
			return -1;
		skip_blank(ps);
		if (!at_end(ps) && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (at_end(ps) || *ps->p != '}')
			return perr(ps, "%s", "',' or '}' expected in an inline table");
		ps->p++;
		return 0;
	}
}

static int skip_value(struct parser *ps, int depth)
{
	const char *b;

	if (depth > 64)
		return perr(ps, "%s", "values nested too deeply");
	if (at_end(ps) || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '#')
		return perr(ps, "%s", "a value expected");
	if (*ps->p == '"' || *ps->p == '\'')
		return is_multiline(ps) ? skip_multiline(ps) : string1(ps, NULL);
	if (*ps->p == '[')
		return skip_array(ps, depth);
	if (*ps->p == '{')
		return skip_inline_table(ps, depth);
	/* Numbers, booleans, dates: one token of these characters. */
	b = ps->p;
	while (!at_end(ps) && (bare_char(*ps->p) || strchr("+.:", *ps->p)))
		ps->p++;
	if (ps->p == b)
		return perr(ps, "unexpected '%.1s' where a value was expected", ps->p);
	return 0;
}

static int table_header(struct parser *ps)
{
	bool array = ps->end - ps->p >= 2 && ps->p[1] == '[';

	ps->p += array ? 2 : 1;
	if (key(ps, ps->table, &ps->n_table) < 0)
		return -1;
	if (at_end(ps) || *ps->p != ']' || (array && (ps->end - ps->p < 2 || ps->p[1] != ']')))
		return perr(ps, "%s", array ? "']]' expected after the table name" : "']' expected after the table name");
	ps->p += array ? 2 : 1;
	ps->array_table = array;
	return end_of_line(ps);
}

/* The string value of one of our keys into *slot, once. */
static int wanted(struct parser *ps, const char *what, char **slot)
{
	if (*slot)
		return perr(ps, "%s is given twice", what);
	if (at_end(ps) || (*ps->p != '"' && *ps->p != '\''))
		return perr(ps, "%s must be a string", what);
	if (is_multiline(ps))
		return perr(ps, "%s must be a one-line string", what);
	if (string1(ps, slot) < 0)
		return -1;
	if (!**slot)
		return perr(ps, "%s must not be empty", what);
	if ((*slot)[0] != '/')
		return perr(ps, "%s must be an absolute path", what);
	return 0;
}

static int statement(struct parser *ps)
{
	char seg[2][SEG_MAX], full[4][SEG_MAX];
	size_t n, nf = 0;

	if (key(ps, seg, &n) < 0)
		return -1;
	if (at_end(ps) || *ps->p != '=')
		return perr(ps, "%s", "'=' expected after a key");
	ps->p++;
	skip_blank(ps);
	/* The full key's first two segments: the table's, then the key's. */
	for (size_t i = 0; i < ps->n_table && i < 2; i++)
		memcpy(full[nf++], ps->table[i], SEG_MAX);
	for (size_t i = 0; i < n && i < 2; i++)
		memcpy(full[nf++], seg[i], SEG_MAX);
	n += ps->n_table;
	if (!ps->array_table && n == 1 && !strcmp(full[0], "root"))
		return wanted(ps, "root", &ps->c->root);
	if (!ps->array_table && n == 2 && !strcmp(full[0], "grpc") && !strcmp(full[1], "address"))
		return wanted(ps, "[grpc] address", &ps->c->address);
	if (!ps->array_table && n == 1 && !strcmp(full[0], "grpc"))
		return perr(ps, "%s", "grpc as an inline table is not supported: write a [grpc] table");
	return skip_value(ps, 0);
}

int dm_containerd_config_parse(const char *name, const char *text, size_t len, dm_containerd_config *c,
			       dm_error *err)
{
	struct parser ps = {.name = name, .p = text, .end = text + len, .line = 1, .c = c, .err = err};

	if (!c->path && !(c->path = strdup(name)))
		return dm_err_nomem(err);
	if (memchr(text, '\0', len))
		return dm_err_set(err, EINVAL, "%s: a NUL byte: not a TOML file", name);
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;
	for (;;) {
		skip_space(&ps);
		if (at_end(&ps))
			return 0;
		if (*ps.p == '[') {
			if (table_header(&ps) < 0)
				return -1;
			continue;
		}
		if (statement(&ps) < 0 || end_of_line(&ps) < 0)
			return -1;
	}
}

void dm_containerd_config_free(dm_containerd_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->root);
	free(c->address);
	memset(c, 0, sizeof *c);
}

int dm_containerd_config_read(const char *path, dm_containerd_config *c, dm_error *err)
{
	char *buf;
	size_t len;
	int rc;

	memset(c, 0, sizeof *c);
	if (!(c->path = strdup(path)))
		return dm_err_nomem(err);
	if (dm_read_small_file(path, DM_CONTAINERD_CONFIG_MAX, &buf, &len, &c->present, NULL, err) < 0)
		return -1;
	if (!c->present)
		return 0;
	rc = dm_containerd_config_parse(path, buf, len, c, err);
	free(buf);
	return rc;
}
