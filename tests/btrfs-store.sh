#!/bin/sh
# Issue 12: a btrfs store made by dockerd 20.10, migrated and judged by Docker
# 28.5.2; see tests/real-driver-store.sh.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_srcdir
exec "${SHELL:-/bin/sh}" "$top_srcdir/tests/real-driver-store.sh" btrfs
