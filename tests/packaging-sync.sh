#!/bin/sh
# The packaging follows configure.ac: the version in debian/changelog and
# rpm/dockerd-migrate.spec is AC_INIT's, every Debian package configure.ac
# tells the user to install is in debian/control's Build-Depends, and every
# pkg-config module it requires is a BuildRequires: pkgconfig(...) of the spec.
set -u
. "$top_srcdir/tests/lib-test.sh"
ac=$top_srcdir/configure.ac
control=$top_srcdir/debian/control
spec=$top_srcdir/rpm/dockerd-migrate.spec

version=$(sed -n 's/^AC_INIT(\[dockerd-migrate\], \[\([^]]*\)\].*/\1/p' "$ac")
[ -n "$version" ] || fail "no version in AC_INIT"
deb=$(sed -n '1s/^dockerd-migrate (\([^)]*\)-[^-)]*).*/\1/p' "$top_srcdir/debian/changelog")
[ "$deb" = "$version" ] || fail "debian/changelog is at '$deb', configure.ac at $version"
rpm=$(sed -n 's/^Version: *//p' "$spec")
[ "$rpm" = "$version" ] || fail "$spec is at '$rpm', configure.ac at $version"

# Build-Depends, one package name per line.
sed -n '/^Build-Depends:/,/^[A-Z]/p' "$control" | sed '$d' | sed 's/^Build-Depends://' |
	tr ',' '\n' | sed 's/^ *//; s/[ (<].*//' | grep . > "$tmp/build-depends"
{
	sed -n 's/^DM_REQUIRE(.*, \[\([^]]*\)\])$/\1/p' "$ac"
	grep -o 'install the Debian package [a-z0-9][a-z0-9.+-]*' "$ac" | cut -d' ' -f5
} | sort -u > "$tmp/wanted"
[ -s "$tmp/wanted" ] || fail "no 'Debian package NAME' in configure.ac"
missing=$(grep -vxF -f "$tmp/build-depends" "$tmp/wanted")
[ -z "$missing" ] || fail "debian/control Build-Depends lacks: $missing"

sed -n 's/^DM_REQUIRE(\[[A-Z0-9_]*\], \[\([^] ]*\).*/\1/p' "$ac" | sort -u > "$tmp/modules"
[ -s "$tmp/modules" ] || fail "no DM_REQUIRE in configure.ac"
while read -r m; do
	grep -q "^BuildRequires: *pkgconfig($m)\$" "$spec" || fail "$spec lacks BuildRequires: pkgconfig($m)"
done < "$tmp/modules"
exit 0
