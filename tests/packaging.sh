#!/bin/sh
# Builds and checks the distribution packages from a `make dist` tarball, as
# a distribution would: root for apt and dpkg, an unprivileged user for the
# builds (so the root-only tests skip, as on a buildd or in mock).
#     tests/packaging.sh [TARBALL]      (default: `make dist` in the current build tree)
# Debian: dpkg-buildpackage -us -uc -b (runs make check), lintian with no
# error or warning, dpkg -i, the installed binary and manual page, the DEP-8
# tests with autopkgtest (null runner, on this machine), then apt-get remove
# and purge, leaving nothing behind.  RPM: rpmbuild -bb --nodeps, rpmlint
# with no error, and the package's file list.
# Installs what it needs with apt-get.  DM_PACKAGING_KEEP=1 keeps the work
# directory (packages, logs); DM_PACKAGING_AUTOPKGTEST=0 skips autopkgtest.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "packaging.sh: needs root (apt-get, dpkg -i)" >&2; exit 1; }
. /etc/os-release
[ "$ID" = debian ] || { echo "packaging.sh: runs on Debian, not $ID" >&2; exit 1; }

step() { printf '\n--- packaging: %s\n' "$*"; }
fail() { echo "packaging.sh: FAIL: $*" >&2; exit 1; }
user=nobody
as_user() { runuser -u "$user" -- env HOME="$work/home" TMPDIR="$work/tmp" "$@"; }

if [ $# -ge 1 ]; then
	tarball=$(realpath "$1")
else
	step "make dist"
	make -s dist >/dev/null
	tarball=$(realpath "$(ls -t dockerd-migrate-*.tar.gz | head -n 1)")
fi
base=$(basename "$tarball" .tar.gz)       # dockerd-migrate-VERSION
version=${base#dockerd-migrate-}

step "tools"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends dpkg-dev debhelper dh-autoreconf fakeroot \
	lintian autopkgtest rpm rpmlint man-db >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/dm-packaging.XXXXXX")
[ "${DM_PACKAGING_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
mkdir "$work/home" "$work/tmp" "$work/deb" "$work/rpm"
cp "$tarball" "$work/deb/dockerd-migrate_$version.orig.tar.gz"
cp "$tarball" "$work/rpm/"
tar -C "$work/deb" -xzf "$tarball"
src=$work/deb/$base
chown -R "$user" "$work"

step "Debian: build dependencies (apt-get build-dep)"
apt-get build-dep -y -qq "$src" >/dev/null
# The source package too, for lintian (before the build dirties the tree).
(cd "$work/deb" && as_user dpkg-source --build "$base" >/dev/null) || fail "dpkg-source --build"

step "Debian: dpkg-buildpackage -us -uc -b, as $user"
start=$(date +%s)
(cd "$src" && as_user dpkg-buildpackage -us -uc -b) > "$work/deb/build.log" 2>&1 || {
	tail -n 40 "$work/deb/build.log"
	# The tail shows only the summary: name the failed tests and show their logs.
	for t in $(sed -n 's/^\(FAIL\|ERROR\): \([^ ]*\).*/\2/p' "$work/deb/build.log" | sort -u); do
		echo "--- $t (as $user, in the package build)"
		tail -n 60 "$src/${t%.*}.log" 2>/dev/null || echo "(no log)"
	done
	fail "dpkg-buildpackage"
}
echo "built in $(($(date +%s) - start)) s"
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$work/deb/build.log" | tr '\n' ' '; echo
grep -E '^SKIP: ' "$work/deb/build.log" || true
deb=$(ls "$work"/deb/dockerd-migrate_"$version"-*_*.deb)
ls -l "$deb"
dpkg-deb --contents "$deb" | awk '{print $6}'

step "Debian: lintian"
# From a directory the build user may enter: the checkout's may be root's alone.
(cd "$work" && as_user lintian --fail-on error,warning --display-info "$deb" "$work"/deb/*.dsc) ||
	fail "lintian"
echo "lintian: no errors, no warnings"

step "Debian: dpkg -i, the installed tool"
dpkg -i "$deb"
[ "$(/usr/sbin/dockerd-migrate --version)" = "dockerd-migrate $version" ] || fail "--version"
/usr/sbin/dockerd-migrate --version
man -w dockerd-migrate
[ -n "$(man dockerd-migrate 2>/dev/null | grep -c 'EXIT STATUS')" ] || fail "man dockerd-migrate"
man dockerd-migrate 2>/dev/null | head -n 4

if [ "${DM_PACKAGING_AUTOPKGTEST:-1}" = 1 ]; then
	step "Debian: autopkgtest (null runner)"
	autopkgtest --output-dir "$work/deb/autopkgtest" "$deb" "$src" -- null || {
		rc=$?
		# 2: at least one test skipped, none failed.
		[ "$rc" -eq 2 ] || fail "autopkgtest exited $rc"
	}
	cat "$work/deb/autopkgtest/summary"
fi

step "Debian: apt-get remove, then purge"
files=$(dpkg -L dockerd-migrate | while read -r f; do [ -d "$f" ] || echo "$f"; done)
apt-get remove -y -qq dockerd-migrate >/dev/null
for f in $files; do [ ! -e "$f" ] || fail "$f is left after apt-get remove"; done
dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' dockerd-migrate 2>/dev/null || true
apt-get purge -y -qq dockerd-migrate >/dev/null
left=$(find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled -name 'dockerd-migrate*' 2>/dev/null)
[ -z "$left" ] || fail "left after purge: $left"
status=$(dpkg-query -W -f '${db:Status-Status}' dockerd-migrate 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "dpkg says dockerd-migrate is $status"
echo "removed: every installed file gone; purged: no unit links left"

step "RPM: rpmbuild -bb --nodeps, as $user"
tar -C "$work/rpm" -xzf "$tarball" "$base/rpm"
spec=$work/rpm/$base/rpm/dockerd-migrate.spec
chown -R "$user" "$work/rpm"
# Debian's rpm lacks Fedora's systemd-rpm-macros: stand-ins for its paths and
# scriptlets.  Its brp-compress (manual pages) needs bash, Fedora's /bin/sh.
start=$(date +%s)
cd "$work"
as_user rpmbuild -bb --nodeps \
	--define "_topdir $work/rpm/top" --define "_sourcedir $work/rpm" \
	--define "__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress %{?_prefix}" \
	--define "_unitdir /usr/lib/systemd/system" \
	--define "bash_completions_dir /usr/share/bash-completion/completions" \
	--define 'systemd_post() if [ $1 -eq 1 ]; then systemctl --no-reload preset %{?*} >/dev/null 2>&1 || :; fi' \
	--define 'systemd_preun() if [ $1 -eq 0 ]; then systemctl --no-reload disable --now %{?*} >/dev/null 2>&1 || :; fi' \
	--define 'systemd_postun() if [ $1 -ge 1 ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi' \
	"$spec" > "$work/rpm/build.log" 2>&1 || { tail -n 80 "$work/rpm/build.log"; fail "rpmbuild"; }
echo "built in $(($(date +%s) - start)) s"
rpm=$(ls "$work"/rpm/top/RPMS/*/dockerd-migrate-"$version"-*.rpm)
ls -l "$rpm"
rpm -qlp "$rpm"
for f in /usr/sbin/dockerd-migrate /usr/share/man/man8/dockerd-migrate.8.gz \
	/usr/lib/systemd/system/dockerd-migrate.service /usr/share/bash-completion/completions/dockerd-migrate; do
	rpm -qlp "$rpm" | grep -qx "$f" || fail "the rpm lacks $f"
done

step "RPM: rpmlint"
rpmlint -r "$work/rpm/$base/rpm/dockerd-migrate.rpmlintrc" "$spec" "$rpm" || fail "rpmlint reports errors"

step "done"
