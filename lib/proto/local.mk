# proto: the project's own subset of containerd's API (.proto files in this
# directory), compiled by protoc-c at build time into lib/proto/*.pb-c.[ch]
# of the build tree.  lib/ctrapi.c is their only user.
dm_protos = lib/proto/wkt.proto lib/proto/types.proto lib/proto/version.proto \
	lib/proto/introspection.proto lib/proto/leases.proto lib/proto/content.proto \
	lib/proto/snapshots.proto lib/proto/images.proto
dm_proto_gen = $(dm_protos:.proto=.pb-c.c) $(dm_protos:.proto=.pb-c.h)
nodist_lib_libdm_la_SOURCES = $(dm_proto_gen)
BUILT_SOURCES += $(dm_proto_gen)
CLEANFILES += $(dm_proto_gen)
EXTRA_DIST += $(dm_protos)
lib_libdm_la_CFLAGS += $(NGHTTP2_CFLAGS) $(PROTOBUFC_CFLAGS)
lib_libdm_la_LIBADD += $(NGHTTP2_LIBS) $(PROTOBUFC_LIBS)

# A pattern rule with two targets runs once for both (GNU make).  Every
# .pb-c.h includes the headers of the files it imports, so all are made
# before anything compiles (BUILT_SOURCES).
lib/proto/%.pb-c.c lib/proto/%.pb-c.h: lib/proto/%.proto
	$(AM_V_GEN)$(MKDIR_P) lib/proto && \
	$(PROTOC_C) --c_out=lib/proto -I$(srcdir)/lib/proto $<
