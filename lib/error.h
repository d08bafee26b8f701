/* error: the one error convention of libdm.
 *
 * Every fallible library function returns -1 (or NULL) on failure and fills
 * the caller's struct dm_error; on success it returns 0 (or a non-negative
 * result) and leaves the error untouched.  The code is an errno value; the
 * message is one line that names the file or object and what is wrong.  The
 * library never prints and never exits: only src/ reports.
 *
 * err is never NULL.  Callers decide on errors by their code (ENOENT: absent,
 * EAGAIN: try again, ...), so every function may read what it was given; a
 * caller that has no use for an error passes a local dm_error and ignores it,
 * which is the one way to discard one.  The dm_err_* functions below take a
 * non-NULL err (checked at compile time where the compiler can see it).
 *
 * Out of memory is reported one way: dm_err_nomem (ENOMEM, "out of memory"),
 * with the caller's context in front, as for any error, where it has some. */
#ifndef DM_ERROR_H
#define DM_ERROR_H

#include <stddef.h>

#define DM_ERR_MSG_MAX 1024

typedef struct dm_error {
	int code;                  /* errno value; 0 when no error is set */
	char msg[DM_ERR_MSG_MAX];  /* one line, no trailing newline */
} dm_error;

/* Sets code and a printf-style message; returns -1 so callers can `return dm_err_set(...)`. */
int dm_err_set(dm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), nonnull(1)));

/* Like dm_err_set with code = errno, appending ": strerror(errno)". */
int dm_err_sys(dm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3), nonnull(1)));

/* An allocation failed: ENOMEM, "out of memory"; returns -1. */
int dm_err_nomem(dm_error *err) __attribute__((nonnull(1)));

/* Prepends context ("layer sha256:…: ") to an error already set; returns -1. */
int dm_err_prefix(dm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3), nonnull(1)));

/* Resets err to "no error". */
void dm_err_clear(dm_error *err) __attribute__((nonnull(1)));

#endif
