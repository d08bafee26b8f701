# Unit tests use check; shell tests exit 77 to skip (e.g. when not root).
# Each module appends its own block of tests below.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
# SHELL too: the tests run helper scripts with "$$SHELL", and a build
# environment need not have it (CI's has none; runuser then sets none).
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; top_builddir='$(abs_top_builddir)'; \
	DM='$(abs_top_builddir)/src/dockerd-migrate'; SHELL='$(SHELL)'; \
	export top_srcdir top_builddir DM SHELL;

TEST_UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS) $(NETTLE_CFLAGS) $(ZLIB_CFLAGS)
TEST_UNIT_LIBS = lib/libdm.la $(CHECK_LIBS)

check_PROGRAMS += tests/test_digest
tests_test_digest_SOURCES = tests/test_digest.c tests/testutil.c tests/testutil.h
tests_test_digest_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_digest_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_digest

# bolt: files written by real containerd 1.6.20 (fixtures/containerd/make.sh)
# and the helper that runs a private containerd for shell tests.
EXTRA_DIST += tests/lib-containerd.sh \
	fixtures/containerd/make.sh \
	fixtures/containerd/meta.db fixtures/containerd/meta.db.dump \
	fixtures/containerd/overlayfs-metadata.db fixtures/containerd/overlayfs-metadata.db.dump

check_PROGRAMS += tests/test_resolve
tests_test_resolve_SOURCES = tests/test_resolve.c tests/testutil.c tests/testutil.h
tests_test_resolve_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_resolve_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_resolve

check_PROGRAMS += tests/test_tarsplit
tests_test_tarsplit_SOURCES = tests/test_tarsplit.c tests/tarsplit_helpers.c tests/tarsplit_helpers.h \
	tests/testutil.c tests/testutil.h
tests_test_tarsplit_CFLAGS = $(TEST_UNIT_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_test_tarsplit_LDADD = $(TEST_UNIT_LIBS) $(LIBARCHIVE_LIBS) $(JSONC_LIBS) $(ZLIB_LIBS)
TESTS += tests/test_tarsplit

# Peak-RSS and throughput measurement for tarsplit; built by `make check`, not run.
check_PROGRAMS += tests/bench_tarsplit
tests_bench_tarsplit_SOURCES = tests/bench_tarsplit.c tests/tarsplit_helpers.c tests/tarsplit_helpers.h
tests_bench_tarsplit_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_bench_tarsplit_LDADD = lib/libdm.la $(JSONC_LIBS) $(ZLIB_LIBS)

# mounts
check_PROGRAMS += tests/test_mounts
tests_test_mounts_SOURCES = tests/test_mounts.c tests/testutil.c tests/testutil.h
tests_test_mounts_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_mounts_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_mounts

# treecopy: the unit tests, and their root-only half (owners, whiteouts, overlay mount)
check_PROGRAMS += tests/test_treecopy
tests_test_treecopy_SOURCES = tests/test_treecopy.c tests/testutil.c tests/testutil.h
tests_test_treecopy_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_treecopy_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_treecopy tests/treecopy-root.sh
EXTRA_DIST += tests/treecopy-root.sh

# apply: snapshots from hand-made tar streams (libarchive writes them)
check_PROGRAMS += tests/test_apply
tests_test_apply_SOURCES = tests/test_apply.c tests/testutil.c tests/testutil.h
tests_test_apply_CFLAGS = $(TEST_UNIT_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_test_apply_LDADD = $(TEST_UNIT_LIBS) $(LIBARCHIVE_LIBS)
TESTS += tests/test_apply

check_PROGRAMS += tests/test_content
tests_test_content_SOURCES = tests/test_content.c tests/testutil.c tests/testutil.h
tests_test_content_CFLAGS = $(TEST_UNIT_CFLAGS) $(ZSTD_CFLAGS)
tests_test_content_LDADD = $(TEST_UNIT_LIBS) $(ZSTD_LIBS) $(ZLIB_LIBS)
TESTS += tests/test_content

check_PROGRAMS += tests/test_image
tests_test_image_SOURCES = tests/test_image.c tests/testutil.c tests/testutil.h
tests_test_image_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_image_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_image

check_PROGRAMS += tests/test_config
tests_test_config_SOURCES = tests/test_config.c tests/testutil.c tests/testutil.h
tests_test_config_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_config_LDADD = $(TEST_UNIT_LIBS) $(JSONC_LIBS)
TESTS += tests/test_config

check_PROGRAMS += tests/test_reference
tests_test_reference_SOURCES = tests/test_reference.c tests/testutil.c tests/testutil.h
tests_test_reference_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_reference_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_reference

check_PROGRAMS += tests/test_layerstore
tests_test_layerstore_SOURCES = tests/test_layerstore.c tests/testutil.c tests/testutil.h
tests_test_layerstore_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_layerstore_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_layerstore
EXTRA_DIST += fixtures/make-broken.sh

# bolt: model-checked random sequences, bbolt shapes, damaged files, locking
check_PROGRAMS += tests/test_bolt
tests_test_bolt_SOURCES = tests/test_bolt.c tests/testutil.c tests/testutil.h
tests_test_bolt_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_bolt_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_bolt

# bolt, beyond the unit tests: bolttool (a CLI for the shell tests), crash
# safety, replay of the fuzz corpus, what real containerd wrote, containerd
# modifying our files, and bbolt's own checker on everything the bolt tests
# keep in tests/bolt-keep (boltcheck.sh runs last and empties it).
AM_TESTS_ENVIRONMENT += DM_BOLT_KEEP_DIR='$(abs_top_builddir)/tests/bolt-keep'; export DM_BOLT_KEEP_DIR;
check_PROGRAMS += tests/bolttool tests/bolt-crash tests/test_bolt_corpus tests/bench_bolt
tests_bolttool_SOURCES = tests/bolttool.c tests/boltwalk.c tests/boltwalk.h
tests_bolttool_LDADD = lib/libdm.la
tests_bolt_crash_SOURCES = tests/bolt-crash.c tests/boltwalk.c tests/boltwalk.h
tests_bolt_crash_LDADD = lib/libdm.la
tests_bolt_crash_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=pwrite -Wl,--wrap=pwritev \
	-Wl,--wrap=fdatasync -Wl,--wrap=fsync
tests_test_bolt_corpus_SOURCES = tests/test_bolt_corpus.c tests/fuzz_bolt.c \
	tests/boltwalk.c tests/boltwalk.h tests/testutil.c tests/testutil.h
tests_test_bolt_corpus_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_bolt_corpus_LDADD = $(TEST_UNIT_LIBS)
tests_bench_bolt_SOURCES = tests/bench_bolt.c
tests_bench_bolt_LDADD = lib/libdm.la
TESTS += tests/test_bolt_corpus tests/bolt-crash.sh tests/bolt-fixture.sh \
	tests/containerd-bolt.sh tests/boltcheck.sh
tests/boltcheck.log: tests/test_bolt.log tests/bolt-crash.log tests/containerd-bolt.log
EXTRA_DIST += tests/bolt-crash.sh tests/bolt-fixture.sh tests/containerd-bolt.sh \
	tests/boltcheck.sh tests/boltcheck.go tests/fuzz-corpus/bolt
CLEANFILES += tests/boltcheck

# Fuzz targets for the parsers (tests/fuzz_<target>.c, tests/fuzz.h): their
# corpora (tests/fuzz-corpus/<target>/, seeds and reproducers) replayed
# without libFuzzer in make check; ctrapi links a fake transport in place of
# lib/grpc.c, so it has a program of its own.
check_PROGRAMS += tests/test_fuzz_corpora tests/test_fuzz_ctrapi_corpus
fuzz_parser_sources = tests/fuzz_reference.c tests/fuzz_mounts.c tests/fuzz_config.c \
	tests/fuzz_layerstore.c tests/fuzz_tarsplit.c tests/fuzz_grpc.c
tests_test_fuzz_corpora_SOURCES = tests/fuzz_replay.c tests/fuzz_util.c tests/fuzz.h \
	$(fuzz_parser_sources)
tests_test_fuzz_corpora_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_TARGETS='X(reference) X(mounts) X(config) X(layerstore) X(tarsplit) X(grpc)'
tests_test_fuzz_corpora_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_fuzz_corpora_LDADD = lib/libdm.la $(ZLIB_LIBS)
tests_test_fuzz_ctrapi_corpus_SOURCES = tests/fuzz_replay.c tests/fuzz_util.c tests/fuzz.h \
	tests/fuzz_ctrapi.c
tests_test_fuzz_ctrapi_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGETS='X(ctrapi)'
tests_test_fuzz_ctrapi_corpus_CFLAGS = $(TEST_UNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_fuzz_ctrapi_corpus_LDADD = lib/libdm.la
TESTS += tests/test_fuzz_corpora tests/test_fuzz_ctrapi_corpus
fuzz_targets = reference mounts config layerstore tarsplit ctrapi grpc
EXTRA_DIST += tests/fuzz-run.sh tests/fuzz-seeds.py tests/fuzz-corpus/README $(fuzz_targets:%=tests/fuzz-corpus/%)
CLEANFILES += tests/fuzz_bolt $(fuzz_targets:%=tests/fuzz_%) tests/fuzz-lib.a

# `make fuzz`: the libFuzzer builds of every fuzz target (clang; not part of
# the default build).  `make fuzz-run FUZZ_RUNS=1000000` runs each for that
# many executions (FUZZ_SECONDS=600 each when FUZZ_RUNS is empty or 0),
# `make fuzz-run FUZZ_TARGETS="grpc mounts"` only those.
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS = 600
FUZZ_RUNS =
FUZZ_TARGETS = bolt $(fuzz_targets)
fuzz_bolt_sources = tests/fuzz_bolt.c tests/boltwalk.c lib/bolt.c lib/bolt_tree.c \
	lib/bolt_check.c lib/error.c
tests/fuzz_bolt: $(fuzz_bolt_sources:%=$(top_srcdir)/%) lib/bolt_int.h lib/bolt.h config.h
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(top_builddir) -I$(top_srcdir)/lib \
		-I$(top_srcdir)/tests -o $@ $(fuzz_bolt_sources:%=$(top_srcdir)/%)
# The others link libdm built again with clang and the sanitizers: the
# library's sources, its generated protobuf code, then the archive.
FUZZ_LIB_CFLAGS = -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-I$(top_builddir) -I$(top_srcdir)/lib $(ZSTD_CFLAGS) $(NETTLE_CFLAGS) $(JSONC_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(ZLIB_CFLAGS) $(NGHTTP2_CFLAGS) $(PROTOBUFC_CFLAGS) -pthread
FUZZ_LIBS = $(ZSTD_LIBS) $(NETTLE_LIBS) $(JSONC_LIBS) $(LIBARCHIVE_LIBS) $(ZLIB_LIBS) \
	$(NGHTTP2_LIBS) $(PROTOBUFC_LIBS) -pthread
fuzz_lib_objects = $(patsubst lib/%.c,tests/fuzz-obj/%.o,$(filter %.c,$(lib_libdm_la_SOURCES))) \
	$(patsubst lib/proto/%.c,tests/fuzz-obj/proto/%.o,$(filter %.c,$(dm_proto_gen)))
tests/fuzz-obj/proto/%.o: lib/proto/%.c $(dm_proto_gen)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -c -o $@ $<
tests/fuzz-obj/%.o: $(top_srcdir)/lib/%.c config.h $(dm_proto_gen)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -c -o $@ $<
tests/fuzz-lib.a: $(fuzz_lib_objects)
	$(AM_V_AR)rm -f $@ && $(AR) rcs $@ $(fuzz_lib_objects)
$(fuzz_targets:%=tests/fuzz_%): tests/fuzz_%: $(top_srcdir)/tests/fuzz_%.c $(top_srcdir)/tests/fuzz_util.c \
		$(top_srcdir)/tests/fuzz.h tests/fuzz-lib.a
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIB_CFLAGS) -DDM_LIBFUZZER -I$(top_srcdir)/tests \
		-o $@ $(top_srcdir)/tests/fuzz_$*.c $(top_srcdir)/tests/fuzz_util.c tests/fuzz-lib.a $(FUZZ_LIBS)
fuzz: $(FUZZ_TARGETS:%=tests/fuzz_%)
# One target at a time (the fuzzers are nice'd: the machine may be shared).
fuzz-run: fuzz
	@rc=0; for t in $(FUZZ_TARGETS); do \
		nice $(SHELL) $(top_srcdir)/tests/fuzz-run.sh tests/fuzz_$$t $$t $(top_srcdir) \
			'$(FUZZ_RUNS)' $(FUZZ_SECONDS) || rc=1; \
	done; exit $$rc
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz-obj tests/fuzz-artifacts
.PHONY: clean-fuzz

# `make bench`: what one small commit costs in a 1 MB and a 50 MB database,
# by lib/bolt's count and by the kernel's (and by strace's, when installed).
bench: tests/bench_bolt
	tests/bench_bolt
	@if command -v strace >/dev/null; then \
		tests/bench_bolt fill tests/bench-50mb.db 50 && \
		strace -c -e trace=pwrite64,pwritev,fdatasync,fsync tests/bench_bolt one tests/bench-50mb.db; \
		rm -f tests/bench-50mb.db; fi
# `make bench-migrate` (root): an online run's time against an offline run's.
bench-migrate: all
	top_srcdir='$(abs_top_srcdir)' DM='$(abs_top_builddir)/src/dockerd-migrate' \
		$(SHELL) $(top_srcdir)/tests/bench-migrate.sh
EXTRA_DIST += tests/bench-migrate.sh tests/lib-bench.sh
# `make bench-onepass BEFORE=OLD-BINARY` (root): issue 9's before/after
# figures (time, bytes read and written, peak RSS) of the two-pass binary
# BEFORE against this build, offline and online.
bench-onepass: all
	top_srcdir='$(abs_top_srcdir)' DM='$(abs_top_builddir)/src/dockerd-migrate' BEFORE='$(BEFORE)' \
		$(SHELL) $(top_srcdir)/tests/bench-onepass.sh
EXTRA_DIST += tests/bench-onepass.sh
# `make bench-compare [SIZE=MiB] [ROUNDS=N]` (root, the sid chroot): issue
# 10's table of dockerd-migrate in each copy mode against docker save/load
# (dockerd 20.10 to Docker 28.5.2) and against cp -a + tar|zstd of the layers.
bench-compare: all
	top_srcdir='$(abs_top_srcdir)' DM='$(abs_top_builddir)/src/dockerd-migrate' \
		SIZE='$(SIZE)' ROUNDS='$(ROUNDS)' $(SHELL) $(top_srcdir)/tests/bench-compare.sh
EXTRA_DIST += tests/bench-compare.sh
.PHONY: fuzz fuzz-run bench bench-migrate bench-onepass bench-compare
TESTS += tests/layerstore-fixtures.sh
EXTRA_DIST += tests/layerstore-fixtures.sh

# The front end: exit codes, plan, verify-source on the fixture stores.
TESTS += tests/cli.sh
EXTRA_DIST += tests/cli.sh tests/lib-test.sh
# Output lost to a write error (a full disk) fails the command.
TESTS += tests/stdout-write-error-fails.sh
EXTRA_DIST += tests/stdout-write-error-fails.sh
# Layer sizes near 2^63 saturate instead of wrapping: plan's sizes, run's space check.
# run-space-check-saturates.sh fails until lib/migrate.c's space_needed uses dm_size_add.
TESTS += tests/plan-sizes-saturate.sh tests/run-space-check-saturates.sh
EXTRA_DIST += tests/plan-sizes-saturate.sh tests/run-space-check-saturates.sh
# A run refused for space prints its error line alone.
TESTS += tests/run-nospace-one-line.sh
EXTRA_DIST += tests/run-nospace-one-line.sh

# metadb, lease: records in a fresh root and in containerd's own files, and
# the same against a real containerd (metadb_tool writes, ctr reads)
check_PROGRAMS += tests/test_metadb tests/metadb_tool
tests_test_metadb_SOURCES = tests/test_metadb.c tests/testutil.c tests/testutil.h
tests_test_metadb_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_metadb_LDADD = $(TEST_UNIT_LIBS)
tests_metadb_tool_SOURCES = tests/metadb_tool.c
tests_metadb_tool_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_metadb_tool_LDADD = lib/libdm.la
TESTS += tests/test_metadb tests/metadb-containerd.sh
EXTRA_DIST += tests/metadb-containerd.sh

# Docker 28 with the containerd image store, from a Debian sid chroot (made
# once and cached by sid-chroot-setup.sh), judging migrated fixture stores.
TESTS += tests/docker28-check.sh
EXTRA_DIST += tests/docker28-check.sh tests/lib-sid.sh tests/sid-chroot-setup.sh
# Issue 9: the crossed pairs (vfs store to overlayfs, overlay2 store to native), judged the same way.
TESTS += tests/docker28-crossed.sh
EXTRA_DIST += tests/docker28-crossed.sh
# The same with Docker 26 and containerd 1.7, from a Debian trixie chroot.
TESTS += tests/docker26-check.sh
EXTRA_DIST += tests/docker26-check.sh

# Offline migration judged by real containerd 1.6.20 (root; skips without the daemons).
TESTS += tests/migrate-containerd.sh
EXTRA_DIST += tests/migrate-containerd.sh

check_PROGRAMS += tests/test_rollback
tests_test_rollback_SOURCES = tests/test_rollback.c tests/testutil.c tests/testutil.h
tests_test_rollback_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_rollback_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_rollback

# rollback (issue 12): offline and online, against a root that held images before the run
TESTS += tests/rollback.sh tests/rollback-docker28.sh tests/rollback-kill.sh
EXTRA_DIST += tests/rollback.sh tests/rollback-docker28.sh tests/rollback-kill.sh

# run: refusal while containerd runs, free space, name conflicts, progress line.
TESTS += tests/migrate-behaviour.sh
EXTRA_DIST += tests/migrate-behaviour.sh

# verify-source and plan on stores real dockerd 20.10 makes during the test.
TESTS += tests/fresh-store.sh
EXTRA_DIST += tests/fresh-store.sh tests/lib-fresh.sh
# run --containers judged by Docker 28 on a store dockerd 20.10 made (issue 11)
TESTS += tests/containers-offline.sh tests/containers-docker28.sh tests/containers-kill.sh
EXTRA_DIST += tests/containers-offline.sh tests/containers-docker28.sh tests/containers-kill.sh tests/tree-listing.py

# Issue 12: btrfs (loop-mounted) and fuse-overlayfs stores made by dockerd 20.10
# during the test, migrated with both snapshotters and judged by Docker 28.5.2.
TESTS += tests/btrfs-store.sh tests/fuse-overlayfs-store.sh
EXTRA_DIST += tests/btrfs-store.sh tests/fuse-overlayfs-store.sh tests/real-driver-store.sh
# plan and run on the hand-made stores of each driver (no daemon).
TESTS += tests/plan-drivers.sh
EXTRA_DIST += tests/plan-drivers.sh

# Packaging: the bash completion (data/bash-completion/dockerd-migrate), the
# postinst snippet in README.md, and debian/ and rpm/ kept in step with
# configure.ac (version, build dependencies).
TESTS += tests/completion.sh tests/postinst-snippet.sh tests/packaging-sync.sh
EXTRA_DIST += tests/completion.sh tests/postinst-snippet.sh tests/packaging-sync.sh

# grpc, ctrapi: against a scripted in-process HTTP/2 server (test_grpc), and
# every call against a private containerd 1.6.20 (ctrapi_tool drives them)
check_PROGRAMS += tests/test_grpc tests/ctrapi_tool
tests_test_grpc_SOURCES = tests/test_grpc.c tests/testutil.c tests/testutil.h
tests_test_grpc_CFLAGS = $(TEST_UNIT_CFLAGS) $(NGHTTP2_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_grpc_LDADD = $(TEST_UNIT_LIBS) $(NGHTTP2_LIBS) $(PROTOBUFC_LIBS)
tests_ctrapi_tool_SOURCES = tests/ctrapi_tool.c
tests_ctrapi_tool_LDADD = lib/libdm.la
TESTS += tests/test_grpc tests/ctrapi-containerd.sh
EXTRA_DIST += tests/ctrapi-containerd.sh

# online migration through a running containerd (issue 6); lib-migrate-check: the result checks shared with migrate-containerd
TESTS += tests/migrate-online.sh
EXTRA_DIST += tests/migrate-online.sh tests/lib-migrate-check.sh
# the mode chosen without --containerd-address/--containerd-root (default socket and root)
TESTS += tests/default-mode.sh
EXTRA_DIST += tests/default-mode.sh
TESTS += tests/migrate-online-sid.sh tests/migrate-online-trixie.sh
EXTRA_DIST += tests/migrate-online-sid.sh tests/migrate-online-trixie.sh

# Issue 13's SIGKILL matrix: runs killed at points spread over the bytes they
# write, offline and online, then rerun; make check kills at 5 points on the
# fixture store, `make check-kill` (root; about 10 minutes) at 20 on a 208 MiB
# store of 14 layers that dockerd 20.10 makes.
TESTS += tests/kill-matrix.sh
EXTRA_DIST += tests/kill-matrix.sh tests/kill-at.py tests/lib-boltcheck.sh
check-kill: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		DM='$(abs_top_builddir)/src/dockerd-migrate' SHELL='$(SHELL)' \
		DM_KILL_STORE=fresh DM_KILL_POINTS=20 $(SHELL) $(top_srcdir)/tests/kill-matrix.sh
.PHONY: check-kill

# Issue 13: the disk fills during a run the free-space check let start (root;
# a loop-mounted ext4 filesystem): exit 5 with the figures, nothing partial
# recorded, and a rerun completes once the filesystem is grown.
TESTS += tests/full-disk.sh
EXTRA_DIST += tests/full-disk.sh

# Issue 9: what reaches a snapshot is what the DiffID vouches for (root, no daemon):
# a file the tar-split does not list, a layer directory swapped during the run.
TESTS += tests/extra-file.sh tests/lost-image.sh
EXTRA_DIST += tests/lost-image.sh
EXTRA_DIST += tests/extra-file.sh tests/lib-store.sh
# symlink-swap.sh's LD_PRELOAD shim: a plain shared object (LT_INIT has
# disable-shared, and an ASan build must not instrument it).
check_DATA = tests/swapshim.so
tests/swapshim.so: $(top_srcdir)/tests/swapshim.c
	@$(MKDIR_P) tests
	$(AM_V_CCLD)$(CC) $(WARN_CFLAGS) $(CFLAGS) -fPIC -shared -o $@ $(top_srcdir)/tests/swapshim.c -ldl
TESTS += tests/symlink-swap.sh
EXTRA_DIST += tests/symlink-swap.sh tests/swapshim.c
CLEANFILES += tests/swapshim.so
# Issue 9, durability: an strace of offline runs shows every snapshot entry
# synced before the record that may name it (root and strace; no daemon).
TESTS += tests/sync-order.sh
EXTRA_DIST += tests/sync-order.sh tests/sync-order.py
# Issue 10: run --copy-mode reflink on loop xfs and btrfs, hardlink with its
# metadata-mismatch fallback, auto across filesystems (root; skips until run
# has --copy-mode).
TESTS += tests/copy-modes.sh
EXTRA_DIST += tests/copy-modes.sh
# The include graph follows the layering written in lib/README (the rules are read from there).
TESTS += tests/include-graph.sh
EXTRA_DIST += tests/include-graph.sh lib/README

# discovery: daemon.json, switch and its backup, config.toml, the decision
check_PROGRAMS += tests/test_discover
tests_test_discover_SOURCES = tests/test_discover.c tests/testutil.c tests/testutil.h
tests_test_discover_CFLAGS = $(TEST_UNIT_CFLAGS)
tests_test_discover_LDADD = $(TEST_UNIT_LIBS)
TESTS += tests/test_discover

# discovery and switch without daemons: every kind of daemon.json and config.toml
TESTS += tests/switch.sh
EXTRA_DIST += tests/switch.sh

# Docker's supervised containerd: dockerd 20.10 without --containerd, plan/run/switch, Docker 28
TESTS += tests/supervised.sh
EXTRA_DIST += tests/supervised.sh
