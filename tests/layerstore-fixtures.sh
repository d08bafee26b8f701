#!/bin/sh
# Every layer of the real fixture stores (fixtures/*-store.tar.xz, made by dockerd 20.10) must
# rebuild to its DiffID, and the store model must match what that dockerd reported
# (fixtures/expected/).  Extracting a store exactly needs root: others skip.
o= v=
trap 'rm -rf "$o" "$v"' EXIT
o=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/overlay2-store.tar.xz") || exit $?
v=$($SHELL "$top_srcdir/tests/fixtures-extract.sh" "$top_srcdir/fixtures/vfs-store.tar.xz") || exit $?
DM_STORE_OVERLAY2=$o DM_STORE_VFS=$v "$top_builddir/tests/test_layerstore" real
