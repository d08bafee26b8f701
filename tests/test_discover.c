/* Unit tests for target discovery: daemon.json (dockercfg, switch and its
 * backup), config.toml (ctrcfg), and the decision (discover) with sockets
 * that answer or not, given by a fake probe. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrcfg.h"
#include "discover.h"
#include "dockercfg.h"
#include "testutil.h"

static char dir[256];

static void setup(void)
{
	tu_mkdtemp(dir, sizeof dir, "dm-discover-XXXXXX");
}

static void teardown(void)
{
	tu_rmtree(dir);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- daemon.json ---- */

START_TEST(reads_daemon_json)
{
	const char *p = tu_path(dir, "daemon.json");
	dm_docker_config c;
	dm_error err = {0};

	tu_put(p, "\xef\xbb\xbf{\"data-root\": \"/srv/docker\", \"exec-root\": \"/run/d\", \"debug\": true,\n"
		  " \"containerd\": \"unix:///run/c.sock\", \"containerd-namespace\": \"other\",\n"
		  " \"storage-driver\": \"overlay2\", \"features\": {\"buildkit\": true, "
		  "\"containerd-snapshotter\": false}, \"log-opts\": {\"max-size\": \"1m\"}}\n");
	OK(dm_docker_config_read(p, &c, &err));
	ck_assert(c.present);
	ck_assert_str_eq(c.data_root, "/srv/docker");
	ck_assert_str_eq(c.exec_root, "/run/d");
	ck_assert_str_eq(c.containerd, "/run/c.sock");
	ck_assert_str_eq(c.containerd_namespace, "other");
	ck_assert_str_eq(c.storage_driver, "overlay2");
	ck_assert_int_eq(c.snapshotter, 0);
	dm_docker_config_free(&c);

	tu_put(p, "{}");
	OK(dm_docker_config_read(p, &c, &err));
	ck_assert(c.present && !c.data_root && !c.containerd && c.snapshotter == -1);
	dm_docker_config_free(&c);

	OK(dm_docker_config_read(tu_path(dir, "absent.json"), &c, &err));
	ck_assert(!c.present && !c.data_root);
	dm_docker_config_free(&c);
}
END_TEST

static const struct {
	const char *text, *msg;
} bad_json[] = {
	{"", "not valid JSON: the file is empty"},
	{"{", "not valid JSON: unexpected end of input"},
	{"{\"a\": 1,}", "not valid JSON"},
	{"{'a': 1}", "not valid JSON"},
	{"{\"a\": 1} {}", "not valid JSON"},
	{"{\"a\": 1} x", "not valid JSON"},
	{"{\"a\": \"it's\", 'b': 1}", "a single quote at byte 14"},
	{"/* c */ {}", "not valid JSON"},
	{"[]", "not a JSON object"},
	{"\"x\"", "not a JSON object"},
	{"{\"data-root\": 1}", "\"data-root\" must be a string"},
	{"{\"data-root\": \"rel/dir\"}", "\"data-root\" must be an absolute path"},
	{"{\"exec-root\": null}", "\"exec-root\" must be a string"},
	{"{\"containerd\": [\"/x\"]}", "\"containerd\" must be a string"},
	{"{\"containerd\": \"tcp://h:1\"}", "\"containerd\" must be a unix socket's absolute path"},
	{"{\"containerd-namespace\": \"bad ns\"}", "\"containerd-namespace\": "},
	{"{\"storage-driver\": false}", "\"storage-driver\" must be a string"},
	{"{\"features\": true}", "\"features\" must be an object"},
	{"{\"features\": {\"containerd-snapshotter\": \"true\"}}", "features.\"containerd-snapshotter\" must be true or false"},
	{"{\"features\": {\"buildkit\": 1}}", "features.\"buildkit\" must be true or false"},
	{"{\"a\": \"\xff\"}", "not valid JSON"},
	{"\xff\xfe{\0}\0", "UTF-16"},
};

START_TEST(refuses_bad_daemon_json)
{
	const char *p = tu_path(dir, "daemon.json");
	dm_docker_config c;
	dm_error err = {0};
	size_t len = strlen(bad_json[_i].text);

	if (!strncmp(bad_json[_i].text, "\xff\xfe", 2))
		len = 6;
	tu_write(p, bad_json[_i].text, len);
	ck_assert_int_eq(dm_docker_config_read(p, &c, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_msg(!strncmp(err.msg, p, strlen(p)), "the error names no file: %s", err.msg);
	ck_assert_msg(strstr(err.msg, bad_json[_i].msg), "'%s': got '%s'", bad_json[_i].text, err.msg);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	dm_docker_config_free(&c);
}
END_TEST

/* ---- switch ---- */

START_TEST(switch_absent_file)
{
	const char *p = tu_path(dir, "daemon.json"), *b = tu_path(dir, "daemon.json.dockerd-migrate");
	dm_docker_switch s;
	dm_error err = {0};
	struct stat sb;
	char *t;

	OK(dm_docker_config_switch(p, true, &s, &err));
	ck_assert_str_eq(s.text, "{\n  \"features\": {\n    \"containerd-snapshotter\": true\n  }\n}\n");
	ck_assert(access(p, F_OK) < 0 && access(b, F_OK) < 0);  /* dry run: nothing written */
	dm_docker_switch_free(&s);

	OK(dm_docker_config_switch(p, false, &s, &err));
	ck_assert(!s.was_present && s.backup_made && !s.already);
	ck_assert_str_eq(s.backup, b);
	dm_docker_switch_free(&s);
	t = slurp(p);
	ck_assert_str_eq(t, "{\n  \"features\": {\n    \"containerd-snapshotter\": true\n  }\n}\n");
	free(t);
	/* No daemon.json before: the backup is empty. */
	ck_assert_int_eq(stat(b, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	/* Again: already on, nothing written. */
	OK(dm_docker_config_switch(p, false, &s, &err));
	ck_assert(s.already && !s.backup_made && !s.text);
	dm_docker_switch_free(&s);
}
END_TEST

START_TEST(switch_keeps_other_keys)
{
	const char *p = tu_path(dir, "daemon.json"), *b = tu_path(dir, "daemon.json.dockerd-migrate");
	const char *old = "{\"debug\":true,\"features\":{\"buildkit\":false,\"containerd-snapshotter\":false,"
			  "\"cdi\":true},\"log-opts\":{\"max-size\":\"10m\",\"max-file\":\"3\"},\"mtu\":1400,"
			  "\"x\":1.50,\"url\":\"http://a/b\",\"u\":\"\xc3\xa9\"}";
	dm_docker_switch s;
	dm_error err = {0};
	char *t;

	tu_put(p, old);
	chmod(p, 0600);
	OK(dm_docker_config_switch(p, false, &s, &err));
	ck_assert(s.was_present && s.backup_made);
	dm_docker_switch_free(&s);
	t = slurp(p);
	ck_assert_str_eq(t, "{\n  \"debug\": true,\n  \"features\": {\n    \"buildkit\": false,\n"
			    "    \"containerd-snapshotter\": true,\n    \"cdi\": true\n  },\n"
			    "  \"log-opts\": {\n    \"max-size\": \"10m\",\n    \"max-file\": \"3\"\n  },\n"
			    "  \"mtu\": 1400,\n  \"x\": 1.50,\n  \"url\": \"http://a/b\",\n  \"u\": \"\xc3\xa9\"\n}\n");
	free(t);
	t = slurp(b);
	ck_assert_str_eq(t, old);  /* the previous bytes, exactly */
	free(t);
	{
		struct stat sb;

		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 07777, 0600);  /* its mode kept */
	}
	/* A later switch (after someone turned it off) keeps the first backup. */
	tu_put(p, "{\"features\":{\"containerd-snapshotter\":false}}");
	OK(dm_docker_config_switch(p, false, &s, &err));
	ck_assert(!s.backup_made);
	dm_docker_switch_free(&s);
	t = slurp(b);
	ck_assert_str_eq(t, old);
	free(t);
}
END_TEST

START_TEST(switch_features_without_flag)
{
	const char *p = tu_path(dir, "daemon.json");
	dm_docker_switch s;
	dm_error err = {0};

	tu_put(p, "{\"features\": {\"buildkit\": true}}");
	OK(dm_docker_config_switch(p, true, &s, &err));
	ck_assert_str_eq(s.text, "{\n  \"features\": {\n    \"buildkit\": true,\n    \"containerd-snapshotter\": true\n  }\n}\n");
	dm_docker_switch_free(&s);
}
END_TEST

START_TEST(switch_refuses)
{
	const char *p = tu_path(dir, "daemon.json"), *b = tu_path(dir, "daemon.json.dockerd-migrate");
	static const char *const texts[] = {"{\"debug\": true", "{\"storage-driver\": \"overlay2\"}",
					    "{\"storage-driver\": \"vfs\"}", "", "{\"features\": []}"};
	static const char *const msgs[] = {"not valid JSON", "\"overlay2\" is a graphdriver, not a containerd "
					   "snapshotter", "(native)", "not valid JSON", "\"features\" must be"};
	dm_docker_switch s;
	dm_error err = {0};

	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		char *t;

		tu_put(p, texts[i]);
		dm_err_clear(&err);
		ck_assert_int_eq(dm_docker_config_switch(p, false, &s, &err), -1);
		ck_assert_msg(strstr(err.msg, msgs[i]), "%s: %s", texts[i], err.msg);
		dm_docker_switch_free(&s);
		t = slurp(p);
		ck_assert_str_eq(t, texts[i]);  /* nothing written */
		free(t);
		ck_assert(access(b, F_OK) < 0);
	}
	/* btrfs and zfs name snapshotters too. */
	tu_put(p, "{\"storage-driver\": \"btrfs\"}");
	OK(dm_docker_config_switch(p, true, &s, &err));
	dm_docker_switch_free(&s);
	/* A symlink is not replaced by a file. */
	unlink(p);
	tu_put(tu_path(dir, "real.json"), "{}");
	tu_symlink("real.json", p);
	ck_assert_int_eq(dm_docker_config_switch(p, false, &s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	dm_docker_switch_free(&s);
}
END_TEST

/* ---- config.toml ---- */

static int parse_toml(const char *text, dm_containerd_config *c, dm_error *err)
{
	memset(c, 0, sizeof *c);
	return dm_containerd_config_parse("config.toml", text, strlen(text), c, err);
}

START_TEST(reads_config_toml)
{
	dm_containerd_config c;
	dm_error err = {0};

	/* Debian 12's shipped file (comments and tables only): defaults apply. */
	OK(parse_toml("version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
		      "    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n      bin_dir = \"/usr/lib/cni\"\n"
		      "      conf_dir = \"/etc/cni/net.d\"\n  [plugins.\"io.containerd.internal.v1.opt\"]\n"
		      "    path = \"/var/lib/containerd/opt\"\n", &c, &err));
	ck_assert(!c.root && !c.address);
	dm_containerd_config_free(&c);

	OK(parse_toml("# a comment\nversion = 3\nroot = \"/srv/ctr\" # trailing\nstate = '/run/x'\n"
		      "disabled_plugins = [\n  \"a\", # c\n  'b',\n]\noom_score = -999\nimports = []\n"
		      "x = { a = 1, b = [1, 2], c = { d = \"]\" } }\nt = 1979-05-27T07:32:00Z\nf = +1.5e3\n"
		      "m = \"\"\"\nroot = \"/not\"\n\"\"\"\nl = '''\n[grpc]\naddress = \"/no\"\n'''\n"
		      "[grpc]\n  address = \"/run/c/\\u0063.sock\"\n  uid = 0\n[[proxy_plugins]]\nroot = \"/nope\"\n"
		      "[plugins.\"root\"]\nroot = \"/nope2\"\n", &c, &err));
	ck_assert_str_eq(c.root, "/srv/ctr");
	ck_assert_str_eq(c.address, "/run/c/c.sock");
	dm_containerd_config_free(&c);

	OK(parse_toml("grpc.address = '/run/lit\\eral.sock'\r\n\"root\" = \"/r\"\r\n", &c, &err));
	ck_assert_str_eq(c.address, "/run/lit\\eral.sock");
	ck_assert_str_eq(c.root, "/r");
	dm_containerd_config_free(&c);
}
END_TEST

static const struct {
	const char *text, *msg;
} bad_toml[] = {
	{"root = 5\n", "config.toml:1: root must be a string"},
	{"root = [\"/a\"]\n", "root must be a string"},
	{"root = \"/a\"\nroot = \"/b\"\n", "config.toml:2: root is given twice"},
	{"root = \"rel\"\n", "root must be an absolute path"},
	{"root = \"\"\n", "root must not be empty"},
	{"root = \"\"\"/a\"\"\"\n", "one-line string"},
	{"[grpc]\naddress = true\n", "config.toml:2: [grpc] address must be a string"},
	{"grpc = { address = \"/x\" }\n", "inline table"},
	{"root = \"/a\n", "unterminated string"},
	{"root = \"/a\" x\n", "unexpected 'x' after the value"},
	{"root \"/a\"\n", "'=' expected"},
	{"= 1\n", "where a key was expected"},
	{"[grpc\n", "']' expected"},
	{"[[a]\n", "']]' expected"},
	{"a = [1, 2\n", "unterminated array"},
	{"a = [1 2]\n", "',' or ']' expected"},
	{"a = { b = 1\n", "',' or '}' expected"},
	{"a = \"\"\"never\n", "unterminated multi-line string"},
	{"a =\n", "a value expected"},
	{"a = \"\\q\"\n", "invalid escape"},
	{"a = \"\\u00zz\"\n", "invalid \\u escape"},
	{"a = \"\\ud800\"\n", "invalid code point"},
	{"a = \"\x01\"\n", "control character"},
	{"x = 1\nroot = \"/a\" ]\n", "config.toml:2:"},
};

START_TEST(refuses_bad_config_toml)
{
	dm_containerd_config c;
	dm_error err = {0};

	ck_assert_int_eq(parse_toml(bad_toml[_i].text, &c, &err), -1);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_msg(strstr(err.msg, bad_toml[_i].msg), "'%s': got '%s'", bad_toml[_i].text, err.msg);
	ck_assert_msg(!strncmp(err.msg, "config.toml:", 12), "%s", err.msg);
	dm_containerd_config_free(&c);
}
END_TEST

START_TEST(config_toml_file)
{
	dm_containerd_config c;
	dm_error err = {0};
	const char *p = tu_path(dir, "config.toml");

	OK(dm_containerd_config_read(tu_path(dir, "none.toml"), &c, &err));
	ck_assert(!c.present && !c.root);
	dm_containerd_config_free(&c);
	tu_write(p, "root = \"/a\"\0", 12);
	ck_assert_int_eq(dm_containerd_config_read(p, &c, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
	dm_containerd_config_free(&c);
	tu_put(p, "root = '/x'\n");
	OK(dm_containerd_config_read(p, &c, &err));
	ck_assert(c.present);
	ck_assert_str_eq(c.root, "/x");
	dm_containerd_config_free(&c);
}
END_TEST

/* ---- the decision ---- */

/* The sockets that answer, ':'-separated. */
static int fake_probe(void *opaque, const char *sock, dm_error *err)
{
	const char *up = opaque;
	size_t n = strlen(sock);

	for (const char *p = up; p && *p;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncmp(p, sock, n))
			return 0;
		p = e ? e + 1 : NULL;
	}
	return dm_err_set(err, ECONNREFUSED, "refused");
}

struct world {
	dm_docker_config dc;
	dm_containerd_config cc;
	char systemd[512], data[512];
};

static void world_init(struct world *w)
{
	memset(w, 0, sizeof *w);
	w->dc.path = (char *)"daemon.json";
	w->dc.snapshotter = -1;
	w->cc.path = (char *)"config.toml";
	snprintf(w->systemd, sizeof w->systemd, "%s/systemd", dir);
	snprintf(w->data, sizeof w->data, "%s/docker", dir);
	tu_mkdir(w->systemd);
	tu_mkdir(w->data);
	w->dc.data_root = w->data;
	w->dc.exec_root = (char *)"/nonexistent/exec";
}

static int decide(struct world *w, const char *up, dm_discovery *d, dm_error *err)
{
	dm_discover_input in = {&w->dc, &w->cc, w->systemd, NULL, fake_probe, (void *)up};

	return dm_discover(&in, d, err);
}

static void enable_unit(struct world *w)
{
	char p[600];

	snprintf(p, sizeof p, "%s/multi-user.target.wants", w->systemd);
	tu_mkdir(p);
	snprintf(p, sizeof p, "%s/multi-user.target.wants/containerd.service", w->systemd);
	tu_put(p, "[Unit]\n");
}

START_TEST(decides_explicit_containerd)
{
	struct world w;
	dm_discovery d;
	dm_error err = {0};

	world_init(&w);
	w.dc.containerd = (char *)"/run/other.sock";
	/* Answers: online, whatever else answers too. */
	OK(decide(&w, "/run/other.sock:/run/containerd/containerd.sock", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_DOCKER_CONFIG && d.running);
	ck_assert_str_eq(d.address, "/run/other.sock");
	ck_assert_str_eq(d.ns, "moby");
	/* Does not answer and is not the system socket: its root is unknown. */
	ck_assert_int_eq(decide(&w, "", &d, &err), -1);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "--containerd-root"));
	/* Is the system socket (config.toml's): the system root. */
	w.cc.address = (char *)"/run/other.sock";
	w.cc.root = (char *)"/srv/ctr";
	w.dc.containerd_namespace = (char *)"ns2";
	OK(decide(&w, "", &d, &err));
	ck_assert(!d.running);
	ck_assert_str_eq(d.root, "/srv/ctr");
	ck_assert_str_eq(d.ns, "ns2");
}
END_TEST

START_TEST(decides_running)
{
	struct world w;
	dm_discovery d;
	dm_error err = {0};
	char sup[600];

	world_init(&w);
	snprintf(sup, sizeof sup, "%s/containerd/daemon", w.data);
	tu_mkdir(tu_path(w.data, "containerd"));
	tu_mkdir(sup);
	/* The system socket answers: dockerd finds it first. */
	OK(decide(&w, "/run/containerd/containerd.sock:/nonexistent/exec/containerd/containerd.sock", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SYSTEM && d.running);
	ck_assert_str_eq(d.address, "/run/containerd/containerd.sock");
	/* config.toml moves the system socket. */
	w.cc.address = (char *)"/run/c2.sock";
	OK(decide(&w, "/run/c2.sock", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SYSTEM && d.running);
	ck_assert_str_eq(d.address, "/run/c2.sock");
	/* Only the supervised one answers: dockerd runs on it. */
	OK(decide(&w, "/nonexistent/exec/containerd/containerd.sock", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SUPERVISED && d.running);
	ck_assert_str_eq(d.address, "/nonexistent/exec/containerd/containerd.sock");
}
END_TEST

START_TEST(decides_stopped)
{
	struct world w;
	dm_discovery d;
	dm_error err = {0};
	char sup[600];

	world_init(&w);
	snprintf(sup, sizeof sup, "%s/containerd/daemon", w.data);
	/* The host's own socket stays out of it. */
	w.cc.address = (char *)tu_path(dir, "none.sock");
	/* Nothing configured, nothing there: dockerd would start its own. */
	OK(decide(&w, "", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SUPERVISED && !d.running);
	ck_assert_str_eq(d.root, sup);
	ck_assert_ptr_nonnull(strstr(d.why, "dockerd starts its own"));
	/* Configured but not enabled: still the supervised one. */
	w.cc.present = true;
	OK(decide(&w, "", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SUPERVISED);
	/* Configured and enabled: the system one, on its root. */
	enable_unit(&w);
	w.cc.root = (char *)"/srv/ctr";
	OK(decide(&w, "", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SYSTEM && !d.running);
	ck_assert_str_eq(d.root, "/srv/ctr");
	ck_assert_ptr_nonnull(strstr(d.why, "configured and enabled"));
	/* And the supervised root exists too: ambiguous, both named, and the option. */
	tu_mkdir(tu_path(w.data, "containerd"));
	tu_mkdir(sup);
	ck_assert_int_eq(decide(&w, "", &d, &err), -1);
	ck_assert_int_eq(err.code, ENOTUNIQ);
	ck_assert_ptr_nonnull(strstr(err.msg, "/srv/ctr"));
	ck_assert_ptr_nonnull(strstr(err.msg, sup));
	ck_assert_ptr_nonnull(strstr(err.msg, "--containerd-root"));
	/* Not enabled any more: the supervised one, because it has been used. */
	w.cc.present = false;
	OK(decide(&w, "", &d, &err));
	ck_assert(d.kind == DM_CONTAINERD_SUPERVISED);
	ck_assert_ptr_nonnull(strstr(d.why, "(it exists)"));
	/* The data-root given overrides daemon.json's. */
	{
		dm_discover_input in = {&w.dc, &w.cc, w.systemd, "/elsewhere", fake_probe, (void *)""};

		OK(dm_discover(&in, &d, &err));
		ck_assert_str_eq(d.root, "/elsewhere/containerd/daemon");
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("discover");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reads_daemon_json);
	tcase_add_loop_test(tc, refuses_bad_daemon_json, 0, (int)(sizeof bad_json / sizeof *bad_json));
	tcase_add_test(tc, switch_absent_file);
	tcase_add_test(tc, switch_keeps_other_keys);
	tcase_add_test(tc, switch_features_without_flag);
	tcase_add_test(tc, switch_refuses);
	tcase_add_test(tc, reads_config_toml);
	tcase_add_loop_test(tc, refuses_bad_config_toml, 0, (int)(sizeof bad_toml / sizeof *bad_toml));
	tcase_add_test(tc, config_toml_file);
	tcase_add_test(tc, decides_explicit_containerd);
	tcase_add_test(tc, decides_running);
	tcase_add_test(tc, decides_stopped);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
