sbin_PROGRAMS += src/dockerd-migrate
src_dockerd_migrate_SOURCES = src/dockerd-migrate.c
src_dockerd_migrate_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
src_dockerd_migrate_LDADD = lib/libdm.la
