/* journal: the record of what runs of this tool created in a containerd store, so that
 * `rollback` removes exactly that and nothing containerd or Docker made (issue 12).
 *
 * Why a journal and not labels alone: a run merges its labels into records that existed
 * before (a blob an image pulled earlier shares), so a label does not say who created the
 * record; and an image record has no place that says "made by a run" that Docker would not
 * copy.  The journal is written by the run *before* it creates each thing (an image record,
 * a snapshot, a config or manifest blob; a layer blob, whose digest is known only once
 * written, right after its commit: the snapshot's labels name it too), one line at a time,
 * made durable (fdatasync) before the creation, so that a run killed at any point leaves a
 * journal that names everything it may have made.  A line names a candidate, never an
 * order: rollback removes an image record only if it still points where the line says, and a
 * blob or snapshot only if nothing left in the store references it.
 *
 * Where: <containerd root>/dockerd-migrate/journal (DM_JOURNAL_DIR, DM_JOURNAL_FILE): it
 * belongs to that store (copied, moved and deleted with it; containerd ignores the
 * directory), offline and online alike (online, the root the daemon reports).
 *
 * Format (text, one record a line, fields separated by one space, no field empty or with
 * whitespace or control characters, lines at most DM_JOURNAL_LINE_MAX bytes):
 *     dockerd-migrate journal 1            the first line
 *     image <ns> <name> <manifest digest>  an image record this run created
 *     blob <ns> <digest>                   a blob record this run created
 *     snapshot <ns> <snapshotter> <key>    a committed snapshot this run created
 * A last line without its newline is a write cut short: ignored (its creation had not
 * started).  Anything else is refused (EINVAL, naming the line). */
#ifndef DM_JOURNAL_H
#define DM_JOURNAL_H

#include <stddef.h>

#include "error.h"

#define DM_JOURNAL_DIR "dockerd-migrate"
#define DM_JOURNAL_FILE "journal"
#define DM_JOURNAL_HEADER "dockerd-migrate journal 1"
#define DM_JOURNAL_LINE_MAX 1024
/* A journal larger than this is not one of ours (a run writes a few lines a layer). */
#define DM_JOURNAL_SIZE_MAX (64u << 20)

typedef enum dm_journal_kind { DM_JOURNAL_IMAGE, DM_JOURNAL_BLOB, DM_JOURNAL_SNAPSHOT } dm_journal_kind;

typedef struct dm_journal_entry {
	dm_journal_kind kind;
	char *ns;
	char *a; /* image: name; blob: digest; snapshot: snapshotter */
	char *b; /* image: manifest digest; snapshot: key; blob: NULL */
} dm_journal_entry;

typedef struct dm_journal_entries {
	dm_journal_entry *v;
	size_t n;
} dm_journal_entries;

typedef struct dm_journal dm_journal;

/* The journal of containerd root `root`, for appending.  The file is made (0700 directory,
 * 0600 file, no symlink followed, the header line) at the first record, so that a run that
 * creates nothing leaves none.  Thread-safe appends. */
dm_journal *dm_journal_open(const char *root, dm_error *err);
/* Appends one record and makes it durable; b is NULL for a blob. */
int dm_journal_add(dm_journal *j, dm_journal_kind kind, const char *ns, const char *a, const char *b,
		   dm_error *err);
void dm_journal_close(dm_journal *j);

/* Parses a journal's bytes (see the format above). */
int dm_journal_parse(const char *buf, size_t len, dm_journal_entries *out, dm_error *err);
/* Reads the journal of root: 1 and *out when it exists, 0 (out empty) when not. */
int dm_journal_read(const char *root, dm_journal_entries *out, dm_error *err);
void dm_journal_entries_free(dm_journal_entries *e);
/* Removes the journal and its directory (when empty): what a finished rollback does. */
int dm_journal_remove(const char *root, dm_error *err);
/* The journal's path under root (malloc'd), for messages. */
char *dm_journal_path(const char *root);

#endif
