/* verify-source: every layer's tar stream rebuilt and checked against its DiffID. */
#include "config.h"


#include "cli.h"

struct verify_report {
	size_t ok, failed;
};

static void verify_line(void *opaque, const dm_layer *layer, bool ok, const dm_error *err,
			const dm_tarsplit_stats *stats)
{
	struct verify_report *r = opaque;

	if (ok) {
		r->ok++;
		printf("ok   %s %" PRIu64 " bytes, %" PRIu64 " entries\n", layer->chain_id.s, stats->bytes,
		       stats->files);
	} else {
		r->failed++;
		printf("FAIL %s: %s\n", layer->chain_id.s, err->msg);
	}
	flush_stdout();
}

int cmd_verify_source(int argc, char **argv)
{
	struct options o;
	struct verify_report r = {0, 0};
	dm_store *st;
	int rc = parse_options(argc, argv, "verify-source",
				ALLOW(OPT_ROOT) | ALLOW(OPT_DRIVER) | ALLOW(OPT_JOBS) | ALLOW(OPT_DOCKER_CONFIG), &o);

	rc = rc == EXIT_OK ? open_store(&o, &st) : rc;
	dm_docker_config_free(&o.dcfg);
	if (rc != EXIT_OK)
		return rc;
	dm_store_verify(st, o.jobs, verify_line, &r);
	printf("verify-source: %zu layers, %zu ok, %zu failed\n", r.ok + r.failed, r.ok, r.failed);
	dm_store_close(st);
	return r.failed ? EXIT_SOME_FAILED : EXIT_OK;
}
