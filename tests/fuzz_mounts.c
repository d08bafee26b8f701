/* fuzz_mounts: libFuzzer target for dm_mount_target_parse (lib/mounts) on
 * the mounts of a snapshot reply.  The input is text, one mount a line (at
 * most 4), its fields separated by tabs: type, source, target, then one
 * option a field.  Nothing may crash; what is accepted names a clean
 * absolute directory, and rendering the same directories the way containerd
 * would (dm_mount_render) gives mounts that parse back to the same target. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "mounts.h"

#define MAX_MOUNTS 4
#define MAX_FIELDS 64

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void round_trip(const dm_mount_target *t)
{
	dm_snapshot_dirs d = {
		.dir = t->dir, .workdir = t->workdir, .parents = (const char *const *)t->lowerdirs,
		.nparents = t->nlowerdirs, .userxattr = t->userxattr,
	};
	dm_mount m;
	dm_mount_target back;
	dm_error err = {0};

	if (dm_mount_render(t->kind == DM_MOUNT_OVERLAY ? DM_SNAPSHOTTER_OVERLAYFS : DM_SNAPSHOTTER_NATIVE,
			    &d, &m, &err) < 0)
		fuzz_broken("an accepted target does not render: %s", err.msg);
	if (dm_mount_target_parse(&m, 1, &back, &err) < 0)
		fuzz_broken("a rendered mount does not parse: %s", err.msg);
	if (back.kind != t->kind || !same_str(back.dir, t->dir) || !same_str(back.workdir, t->workdir) ||
	    back.nlowerdirs != t->nlowerdirs || back.userxattr != t->userxattr)
		fuzz_broken("a rendered mount parses to another target (dir %s, not %s)", back.dir, t->dir);
	for (size_t i = 0; i < t->nlowerdirs; i++)
		if (strcmp(back.lowerdirs[i], t->lowerdirs[i]))
			fuzz_broken("lowerdir %zu comes back as %s, not %s", i, back.lowerdirs[i], t->lowerdirs[i]);
	dm_mount_target_free(&back);
	dm_mount_free(&m);
}

FUZZ_ENTRY(mounts)(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size, 8192), *line, *save = NULL;
	char *fields[MAX_MOUNTS][MAX_FIELDS];
	dm_mount mounts[MAX_MOUNTS];
	dm_mount_target t;
	dm_error err = {0};
	size_t n = 0;

	memset(mounts, 0, sizeof mounts);
	for (line = strtok_r(text, "\n", &save); line && n < MAX_MOUNTS; line = strtok_r(NULL, "\n", &save)) {
		size_t k = 0;

		/* Tabs separate fields; empty fields stay (an empty target or option). */
		for (char *f = line; k < MAX_FIELDS; f++) {
			char *tab = strchr(f, '\t');

			fields[n][k++] = f;
			if (!tab)
				break;
			*tab = '\0';
			f = tab;
		}
		mounts[n].type = fields[n][0];
		mounts[n].source = k > 1 ? fields[n][1] : NULL;
		mounts[n].target = k > 2 ? fields[n][2] : NULL;
		mounts[n].options = k > 3 ? &fields[n][3] : NULL;
		mounts[n].noptions = k > 3 ? k - 3 : 0;
		n++;
	}
	fuzz_accepted = dm_mount_target_parse(mounts, n, &t, &err) == 0;
	if (!fuzz_accepted) {
		if (!err.code || !err.msg[0] || t.dir)
			fuzz_broken("refused without an error, or with a target left");
		return 0;
	}
	if (!t.dir || t.dir[0] != '/' || (t.kind == DM_MOUNT_OVERLAY) != (t.workdir != NULL))
		fuzz_broken("accepted target: dir %s, workdir %s", t.dir ? t.dir : "(null)",
			    t.workdir ? t.workdir : "(null)");
	round_trip(&t);
	dm_mount_target_free(&t);
	return 0;
}
