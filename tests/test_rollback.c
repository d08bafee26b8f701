/* Unit tests for journal (the record rollback reads: round trip, every kind of bad input) and
 * for rollback's Docker side (daemon.json and container config restores). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "rollback.h"
#include "testutil.h"

#define D1 "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#define D2 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HDR DM_JOURNAL_HEADER "\n"

START_TEST(journal_round_trip)
{
	char dir[256];
	dm_error err = {0};
	dm_journal_entries e;
	dm_journal *j;

	tu_mkdtemp(dir, sizeof dir, "dm-journal-XXXXXX");
	j = NN(dm_journal_open(dir, &err));
	/* Nothing written yet: no file, so a run with nothing to do leaves none. */
	ck_assert_int_eq(dm_journal_read(dir, &e, &err), 0);
	ck_assert_uint_eq(e.n, 0);
	OK(dm_journal_add(j, DM_JOURNAL_SNAPSHOT, "moby", "overlayfs", D1, &err));
	OK(dm_journal_add(j, DM_JOURNAL_BLOB, "moby", D2, NULL, &err));
	OK(dm_journal_add(j, DM_JOURNAL_IMAGE, "other", "docker.io/library/a:1", D2, &err));
	/* A bad record is refused before anything is written. */
	ck_assert_int_lt(dm_journal_add(j, DM_JOURNAL_IMAGE, "moby", "with space", D2, &err), 0);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_int_lt(dm_journal_add(j, DM_JOURNAL_BLOB, "bad ns!", D2, NULL, &err), 0);
	dm_journal_close(j);
	ck_assert_int_eq(dm_journal_read(dir, &e, &err), 1);
	ck_assert_uint_eq(e.n, 3);
	ck_assert_int_eq(e.v[0].kind, DM_JOURNAL_SNAPSHOT);
	ck_assert_str_eq(e.v[0].a, "overlayfs");
	ck_assert_str_eq(e.v[0].b, D1);
	ck_assert_int_eq(e.v[1].kind, DM_JOURNAL_BLOB);
	ck_assert_ptr_null(e.v[1].b);
	ck_assert_str_eq(e.v[2].ns, "other");
	ck_assert_str_eq(e.v[2].a, "docker.io/library/a:1");
	dm_journal_entries_free(&e);
	/* Appending again keeps what is there (one header). */
	j = NN(dm_journal_open(dir, &err));
	OK(dm_journal_add(j, DM_JOURNAL_BLOB, "moby", D1, NULL, &err));
	dm_journal_close(j);
	ck_assert_int_eq(dm_journal_read(dir, &e, &err), 1);
	ck_assert_uint_eq(e.n, 4);
	dm_journal_entries_free(&e);
	OK(dm_journal_remove(dir, &err));
	ck_assert_int_eq(dm_journal_read(dir, &e, &err), 0);
	ck_assert_int_eq(access(tu_path(dir, DM_JOURNAL_DIR), F_OK), -1);
	OK(dm_journal_remove(dir, &err)); /* nothing there: fine */
	tu_rmtree(dir);
}
END_TEST

static void parse_fails(const char *text, const char *want)
{
	dm_journal_entries e;
	dm_error err = {0};

	ck_assert_msg(dm_journal_parse(text, strlen(text), &e, &err) < 0, "accepted: %s", text);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_msg(strstr(err.msg, want), "'%s': message '%s' lacks '%s'", text, err.msg, want);
	ck_assert_uint_eq(e.n, 0);
}

START_TEST(journal_bad_input)
{
	char big[DM_JOURNAL_LINE_MAX + 64];

	parse_fails("not a journal\n", "line 1");
	parse_fails("dockerd-migrate journal 2\n", "line 1");
	parse_fails("x", "line 1"); /* bytes but no header line */
	parse_fails(HDR "frob moby " D1 "\n", "line 2: unknown record");
	parse_fails(HDR "blob moby\n", "fields");
	parse_fails(HDR "blob moby " D1 " extra\n", "fields");
	parse_fails(HDR "image moby name\n", "fields");
	parse_fails(HDR "blob moby  " D1 "\n", "empty field");
	parse_fails(HDR "blob moby " D1 " \n", "empty field");
	parse_fails(HDR "blob moby sha256:abc\n", "sha256");
	parse_fails(HDR "blob Bad/NS " D1 "\n", "namespace");
	parse_fails(HDR "image moby name md5:00\n", "sha256");
	parse_fails(HDR "snapshot moby over/lay " D1 "\n", "snapshotter");
	parse_fails(HDR "snapshot moby overlayfs key\tx\n", "snapshotter");
	parse_fails(HDR "blob moby " D1 "\n" "image moby n\x01 " D1 "\n", "line 3");
	{
		static const char nul[] = HDR "blob moby \0x\n";

		dm_journal_entries e;
		dm_error err = {0};

		ck_assert_int_lt(dm_journal_parse(nul, sizeof nul - 1, &e, &err), 0);
		ck_assert_ptr_nonnull(strstr(err.msg, "not text"));
	}
	memset(big, 'a', sizeof big);
	memcpy(big, HDR "image moby ", strlen(HDR "image moby "));
	big[sizeof big - 2] = '\n';
	big[sizeof big - 1] = '\0';
	parse_fails(big, "too long");
}
END_TEST

START_TEST(journal_cut_short)
{
	dm_journal_entries e;
	dm_error err = {0};
	const char *t = HDR "blob moby " D1 "\nimage moby docker.io/x:1 sha2";

	/* A last line without its newline is a write cut short: ignored, the rest read. */
	OK(dm_journal_parse(t, strlen(t), &e, &err));
	ck_assert_uint_eq(e.n, 1);
	dm_journal_entries_free(&e);
	OK(dm_journal_parse("", 0, &e, &err));
	ck_assert_uint_eq(e.n, 0);
	OK(dm_journal_parse("dockerd-mig", 11, &e, &err));
	ck_assert_uint_eq(e.n, 0);
}
END_TEST

START_TEST(journal_symlink_refused)
{
	char dir[256];
	dm_error err = {0};
	dm_journal_entries e;
	dm_journal *j;

	tu_mkdtemp(dir, sizeof dir, "dm-journal-XXXXXX");
	tu_mkdir(tu_path(dir, "elsewhere"));
	tu_put(tu_path(dir, "elsewhere/journal"), HDR);
	tu_symlink("elsewhere", tu_path(dir, DM_JOURNAL_DIR));
	ck_assert_int_lt(dm_journal_read(dir, &e, &err), 0);
	j = NN(dm_journal_open(dir, &err));
	ck_assert_int_lt(dm_journal_add(j, DM_JOURNAL_BLOB, "moby", D1, NULL, &err), 0);
	dm_journal_close(j);
	/* Nothing was written through the link. */
	{
		struct stat st;

		ck_assert_int_eq(stat(tu_path(dir, "elsewhere/journal"), &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)strlen(HDR));
	}
	tu_rmtree(dir);
}
END_TEST

static char *slurp(const char *path)
{
	static char buf[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(daemon_json_restore)
{
	char dir[256], path[300];
	dm_error err = {0};
	dm_rollback_report rep = {0};

	tu_mkdtemp(dir, sizeof dir, "dm-rbdj-XXXXXX");
	snprintf(path, sizeof path, "%s/daemon.json", dir);
	/* No backup: nothing to do, the file is left. */
	tu_put(path, "{\"a\":1}");
	OK(dm_rollback_restore_daemon_json(path, false, &rep, &err));
	ck_assert_uint_eq(rep.n, 0);
	ck_assert_str_eq(slurp(path), "{\"a\":1}");
	/* A backup: restored (a dry run only says so). */
	tu_put(tu_path(dir, "daemon.json.dockerd-migrate"), "{\"old\":true}");
	OK(dm_rollback_restore_daemon_json(path, true, &rep, &err));
	ck_assert_uint_eq(rep.removed, 1);
	ck_assert_str_eq(slurp(path), "{\"a\":1}");
	OK(dm_rollback_restore_daemon_json(path, false, &rep, &err));
	ck_assert_str_eq(slurp(path), "{\"old\":true}");
	ck_assert_int_eq(access(tu_path(dir, "daemon.json.dockerd-migrate"), F_OK), -1);
	/* An empty backup: there was none before switch. */
	tu_put(tu_path(dir, "daemon.json.dockerd-migrate"), "");
	OK(dm_rollback_restore_daemon_json(path, false, &rep, &err));
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(access(tu_path(dir, "daemon.json.dockerd-migrate"), F_OK), -1);
	/* A backup that is not a regular file is refused. */
	tu_symlink("/etc/passwd", tu_path(dir, "daemon.json.dockerd-migrate"));
	ck_assert_int_lt(dm_rollback_restore_daemon_json(path, false, &rep, &err), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	dm_rollback_report_free(&rep);
	tu_rmtree(dir);
}
END_TEST

START_TEST(container_restore)
{
	static const char id[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char dir[256], **ids;
	size_t n;
	dm_error err = {0};
	dm_rollback_report rep = {0};

	tu_mkdtemp(dir, sizeof dir, "dm-rbct-XXXXXX");
	ck_assert_int_eq(dm_rollback_find_containers(dir, &ids, &n, &err), 0); /* no containers/ */
	ck_assert_uint_eq(n, 0);
	tu_mkdir(tu_path(dir, "containers"));
	tu_mkdir(tu_path(dir, "containers/%s", id));
	tu_put(tu_path(dir, "containers/%s/config.v2.json", id), "new");
	tu_put(tu_path(dir, "containers/%s/config.v2.json.dockerd-migrate", id), "old");
	/* Not a container ID, or no backup: not one of ours. */
	tu_mkdir(tu_path(dir, "containers/NOTANID"));
	tu_put(tu_path(dir, "containers/NOTANID/config.v2.json.dockerd-migrate"), "x");
	tu_mkdir(tu_path(dir, "containers/%.63sf", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"));
	OK(dm_rollback_find_containers(dir, &ids, &n, &err));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], id);
	OK(dm_rollback_restore_containers(dir, ids, n, false, &rep, &err));
	ck_assert_str_eq(slurp(tu_path(dir, "containers/%s/config.v2.json", id)), "old");
	dm_rollback_ids_free(ids, n);
	OK(dm_rollback_find_containers(dir, &ids, &n, &err));
	ck_assert_uint_eq(n, 0);
	dm_rollback_ids_free(ids, n);
	dm_rollback_report_free(&rep);
	tu_rmtree(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rollback");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, journal_round_trip);
	tcase_add_test(tc, journal_bad_input);
	tcase_add_test(tc, journal_cut_short);
	tcase_add_test(tc, journal_symlink_refused);
	tcase_add_test(tc, daemon_json_restore);
	tcase_add_test(tc, container_restore);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
