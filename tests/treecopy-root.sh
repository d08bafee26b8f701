#!/bin/sh
# Root-only treecopy checks (owners, whiteouts, trusted.overlay.opaque, setuid and capabilities,
# devices, and an overlay mounted from the copy); see tests/test_treecopy.c.
[ "$(id -u)" -eq 0 ] || exit 77
exec "$top_builddir/tests/test_treecopy" --root
