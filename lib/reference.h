/* reference: Docker image references ("busybox:latest", "localhost:5000/app@sha256:…") parsed
 * and normalised exactly as distribution/reference's ParseNormalizedNamed does (the grammar of
 * moby v20.10 … v28), and turned back into the familiar form repositories.json stores
 * (doc/legacy-store.md §4).
 *
 * Normalising: a first path component with '.' or ':', equal to "localhost", or with an
 * uppercase letter is a registry domain, otherwise the domain is docker.io; index.docker.io
 * becomes docker.io; a docker.io name with one component gets "library/". */
#ifndef DM_REFERENCE_H
#define DM_REFERENCE_H

#include <stddef.h>

#include "error.h"

#define DM_REF_NAME_MAX 255                 /* distribution's NameTotalLengthMax */
#define DM_REF_TAG_MAX 128
#define DM_REF_DIGEST_MAX (7 + 128)         /* "sha512:" + 128 hex */
#define DM_REF_STR_MAX (DM_REF_NAME_MAX + 1 + DM_REF_TAG_MAX + 1 + DM_REF_DIGEST_MAX)

typedef struct dm_reference {
	char name[DM_REF_NAME_MAX + 1];     /* "docker.io/library/busybox" */
	size_t domain_len;                  /* length of the domain at the start of name; 0 if none */
	char tag[DM_REF_TAG_MAX + 1];       /* "" when none */
	char digest[DM_REF_DIGEST_MAX + 1]; /* "sha256:…" or "" when none */
} dm_reference;

/* Parses s (familiar or fully qualified) into ref, normalising the name; no default tag is added.
 * Rejects anything outside the reference grammar with EINVAL and a message quoting s. */
int dm_ref_parse(const char *s, dm_reference *ref, dm_error *err);

/* The fully qualified form: name[:tag][@digest]; out holds DM_REF_STR_MAX + 1 bytes. */
char *dm_ref_string(const dm_reference *ref, char *out);

/* The familiar form ("busybox:latest", "myuser/web:dev"); out holds DM_REF_STR_MAX + 1 bytes. */
char *dm_ref_familiar(const dm_reference *ref, char *out);

/* Parses s and writes its fully qualified form, adding ":latest" when s has neither tag nor
 * digest (moby's TagNameOnly): "busybox" -> "docker.io/library/busybox:latest". */
int dm_ref_normalize(const char *s, char *out, dm_error *err);

#endif
