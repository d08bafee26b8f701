/* What the libFuzzer targets tests/fuzz_<target>.c share.  Each defines its
 * entry point with FUZZ_ENTRY, built two ways: with clang's
 * -fsanitize=fuzzer (`make fuzz`, `make fuzz-run`) and, in `make check`,
 * linked with tests/fuzz_replay.c, which feeds it every file of
 * tests/fuzz-corpus/<target>/.  A target aborts when the code under test
 * breaks a promise (libFuzzer reports that like a crash) and sets
 * fuzz_accepted to whether the parser took the input, so that the replay
 * can insist that seeds named valid-* are accepted and bad-* refused. */
#ifndef DM_TESTS_FUZZ_H
#define DM_TESTS_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point of target name: LLVMFuzzerTestOneInput in the libFuzzer
 * build (DM_LIBFUZZER), fuzz_<name> in the replay programs, which link
 * several targets. */
#ifdef DM_LIBFUZZER
#define FUZZ_ENTRY(name) int LLVMFuzzerTestOneInput
#else
#define FUZZ_ENTRY(name) int fuzz_##name(const uint8_t *data, size_t size); int fuzz_##name
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by every call of LLVMFuzzerTestOneInput. */
extern int fuzz_accepted;

/* A promise broken: says which, and aborts. */
__attribute__((noreturn, format(printf, 1, 2), unused)) static void fuzz_broken(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: broken promise: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A private scratch directory for this process, made on first use (in
 * /dev/shm when it exists: targets that write files run many times a
 * second), removed at exit. */
const char *fuzz_scratch(void);

/* Empties directory dir (not following symlinks); aborts on failure. */
void fuzz_empty_dir(const char *dir);

/* data[0..size) as a NUL-terminated string in a static buffer of cap bytes
 * (cut there; NUL bytes inside end it early). */
char *fuzz_string(const uint8_t *data, size_t size, size_t cap);

#endif
