# libdm: the internal convenience library that does all the work.
# Each module appends its own sources below (one block per module).
noinst_LTLIBRARIES += lib/libdm.la
lib_libdm_la_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS) $(NETTLE_CFLAGS) $(JSONC_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(ZLIB_CFLAGS)
lib_libdm_la_LIBADD = $(ZSTD_LIBS) $(NETTLE_LIBS) $(JSONC_LIBS) $(LIBARCHIVE_LIBS) $(ZLIB_LIBS)
lib_libdm_la_SOURCES = \
	lib/error.c lib/error.h \
	lib/digest.c lib/digest.h

# leaf headers of plain types shared across layers, and containerd's identifiers
lib_libdm_la_SOURCES += lib/descriptor.h lib/sink.h lib/identifier.c lib/identifier.h

# sizes (a header only); pool: the one worker pool
lib_libdm_la_SOURCES += lib/sizes.h lib/pool.c lib/pool.h

# resolve
lib_libdm_la_SOURCES += lib/resolve.c lib/resolve.h

# tarsplit
lib_libdm_la_SOURCES += lib/tarsplit.c lib/tarsplit.h

# labels
lib_libdm_la_SOURCES += lib/labels.c lib/labels.h

# compress
lib_libdm_la_SOURCES += lib/compress.c lib/compress.h

# content
lib_libdm_la_SOURCES += lib/content.c lib/content.h

# image
lib_libdm_la_SOURCES += lib/image.c lib/image.h

# json: the one strict JSON reader
lib_libdm_la_SOURCES += lib/json.c lib/json.h

# reference
lib_libdm_la_SOURCES += lib/reference.c lib/reference.h

# layerstore
lib_libdm_la_SOURCES += lib/layerstore.c lib/layerstore.h
# container: a legacy container's layers and config (run --containers, issue 11)
lib_libdm_la_SOURCES += lib/container.c lib/container.h

# mounts
lib_libdm_la_SOURCES += lib/mounts.c lib/mounts.h

# treecopy; apply: a layer's snapshot written from its tar stream (libarchive)
lib_libdm_la_SOURCES += lib/treecopy.c lib/treecopy.h lib/apply.c lib/apply.h

# bolt
lib_libdm_la_SOURCES += lib/bolt.c lib/bolt.h lib/bolt_int.h lib/bolt_tree.c lib/bolt_check.c

# metadb: containerd's schema in meta.db and the snapshotter metadata.db; lease: the run's lease
# (plain data); lease_db: that lease as a meta.db record (offline side)
lib_libdm_la_SOURCES += lib/metadb.c lib/metadb.h lib/lease.c lib/lease.h lib/lease_db.c lib/lease_db.h

# snapshot: the offline snapshotter; migrate: the offline migration
lib_libdm_la_SOURCES += lib/snapshot.c lib/snapshot.h lib/migrate.c lib/migrate.h \
	lib/target.c lib/target.h lib/target_offline.c

# plan: the figures plan shows, computed from the store
lib_libdm_la_SOURCES += lib/plan.c lib/plan.h

# grpc: gRPC over HTTP/2 (nghttp2) on containerd's socket; ctrapi: typed containerd API calls
# (the generated lib/proto code is added by lib/proto/local.mk)
lib_libdm_la_SOURCES += lib/grpc.c lib/grpc.h lib/ctrapi.c lib/ctrapi.h

# target_online: the online backend of lib/target, over lib/ctrapi
lib_libdm_la_SOURCES += lib/target_online.c

# dockercfg: daemon.json read and switched; ctrcfg: config.toml's root and [grpc] address;
# discover: which containerd Docker uses
lib_libdm_la_SOURCES += lib/dockercfg.c lib/dockercfg.h lib/ctrcfg.c lib/ctrcfg.h lib/discover.c lib/discover.h
# journal: what runs created, recorded before they create it; rollback: undoing it (issue 12)
lib_libdm_la_SOURCES += lib/journal.c lib/journal.h lib/rollback.c lib/rollback.h lib/rollback_offline.c \
	lib/rollback_online.c
