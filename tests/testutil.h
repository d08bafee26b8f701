/* Helpers shared by the check unit tests (tests/test_*.c): running a suite,
 * scratch directories and the files made in them, and assertions on the
 * dm_error of a call.  Every helper that can fail fails the current test. */
#ifndef DM_TESTUTIL_H
#define DM_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Runs every test of s, frees it, and returns the exit status: 0 if all passed, else 1. */
int tu_run(Suite *s);

/* Makes a fresh directory from template name ("dm-x-XXXXXX") in $TMPDIR or /tmp, into dir. */
void tu_mkdtemp(char *dir, size_t size, const char *name);

/* Removes dir and everything below it (read-only directories too), following no symlinks;
 * returns 0, or -1 at the first failure. */
int tu_rmtree(const char *dir);

/* "dir/" and the printf-style rest, in a static ring: the eight most recent results stay valid. */
const char *tu_path(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes len bytes of data to path, created (mode 0644 less the umask) or truncated. */
void tu_write(const char *path, const void *data, size_t len);

/* Writes the string text to path, as tu_write. */
void tu_put(const char *path, const char *text);

/* Makes the directory path with mode 0755 (less the umask). */
void tu_mkdir(const char *path);

/* Makes path a symlink to target. */
void tu_symlink(const char *target, const char *path);

/* expr (a call filling the dm_error named err in scope) must not return a negative number. */
#define OK(expr)                                                                           \
	do {                                                                               \
		if ((expr) < 0)                                                            \
			ck_abort_msg("%s failed: %s (code %d)", #expr, err.msg, err.code); \
	} while (0)

/* expr (a call filling the dm_error named err in scope) must not return NULL; yields its value. */
#define NN(expr)                                                                           \
	({                                                                                 \
		__typeof__(expr) v_ = (expr);                                              \
		if (!v_)                                                                   \
			ck_abort_msg("%s failed: %s (code %d)", #expr, err.msg, err.code); \
		v_;                                                                        \
	})

#endif
