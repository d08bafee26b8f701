sbin_PROGRAMS += src/dockerd-migrate
src_dockerd_migrate_SOURCES = src/dockerd-migrate.c src/cli.c src/cli.h src/cmd_plan.c src/cmd_verify.c \
	src/cmd_run.c src/cmd_switch.c src/cmd_rollback.c
src_dockerd_migrate_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
src_dockerd_migrate_LDADD = lib/libdm.la
