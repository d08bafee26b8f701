#!/bin/sh
# The postinst snippet in README.md ("In a Docker package's postinst"), run
# as a postinst would run it (sh -e, "configure") against a stand-in
# dockerd-migrate for every exit status: the installation never fails, each
# outcome gives its own line on stderr and in syslog, only "containerd's
# database is in use" (4) sets the flag for the unit, the run's own lines
# reach syslog (or stderr when there is no syslog), and no temporary file is
# left.
set -u
. "$top_srcdir/tests/lib-test.sh"

sed -n '/^### In a Docker package.s postinst/,/^### /{/^```sh$/,/^```$/p}' "$top_srcdir/README.md" |
	sed '1d;$d' > "$tmp/snippet.orig"
grep -q 'dockerd-migrate run' "$tmp/snippet.orig" || fail "no snippet found in README.md"
sed -e "s|/usr/sbin/dockerd-migrate|$tmp/bin/dockerd-migrate|g" \
	-e "s|/var/lib/docker|$tmp/docker|g" "$tmp/snippet.orig" > "$tmp/postinst"
grep -q '/usr/sbin\|/var/lib' "$tmp/postinst" && fail "snippet has paths this test does not replace"

mkdir -p "$tmp/bin" "$tmp/docker/image" "$tmp/t"
cat > "$tmp/bin/dockerd-migrate" <<'STUB'
#!/bin/sh
[ "$*" = run ] || exit 2
echo "dockerd-migrate: layer sha256:aa: migrated" >&2
exit "$STUB_RC"
STUB
# logger: appends what it would log to $tmp/syslog, or fails as util-linux
# logger --socket-errors=on does without a syslog socket (STUB_NOSYSLOG=1).
cat > "$tmp/bin/logger" <<'STUB'
#!/bin/sh
[ "${STUB_NOSYSLOG:-0}" = 1 ] && case "$*" in *--socket-errors=on*) exit 1 ;; *) exit 0 ;; esac
file=
while [ $# -gt 1 ]; do
	case $1 in -f) file=$2; shift ;; esac
	shift
done
if [ -n "$file" ]; then sed 's/^/syslog: /' "$file"; else echo "syslog: $1"; fi >> "$STUB_SYSLOG"
STUB
chmod +x "$tmp/bin/dockerd-migrate" "$tmp/bin/logger"

# outcome RC WANT: the snippet, with dockerd-migrate exiting RC, exits 0 and
# its last stderr line is "dockerd-migrate: postinst: WANT...".
outcome() {
	rm -f "$tmp/docker/.migrate-to-containerd" "$tmp/syslog"
	PATH="$tmp/bin:$PATH" TMPDIR="$tmp/t" STUB_RC=$1 STUB_SYSLOG="$tmp/syslog" \
		expect_rc 0 sh -e "$tmp/postinst" configure
	tail -n 1 "$tmp/err" | grep -q "^dockerd-migrate: postinst: $2" || fail "exit $1: stderr lacks '$2'"
	grep -q "^syslog: postinst: $2" "$tmp/syslog" || fail "exit $1: syslog lacks the outcome"
	grep -q '^syslog: dockerd-migrate: layer sha256:aa: migrated$' "$tmp/syslog" ||
		fail "exit $1: the run's lines are not in syslog"
	[ -z "$(ls "$tmp/t")" ] || fail "exit $1: temporary file left"
}
outcome 0 'migrated'
outcome 7 'nothing to do'
outcome 4 'skipped: '
[ -e "$tmp/docker/.migrate-to-containerd" ] || fail "exit 4 did not set the flag"
for rc in 1 2 3 5 6 139; do
	outcome "$rc" "failed (exit status $rc)"
	[ ! -e "$tmp/docker/.migrate-to-containerd" ] || fail "exit $rc set the flag"
done

# Without syslog the run's lines go to stderr.
PATH="$tmp/bin:$PATH" TMPDIR="$tmp/t" STUB_RC=0 STUB_NOSYSLOG=1 \
	expect_rc 0 sh -e "$tmp/postinst" configure
grep -q '^dockerd-migrate: layer sha256:aa: migrated$' "$tmp/err" || fail "no syslog: the run's lines are lost"

# Not on configure, or without a legacy store: dockerd-migrate is not run.
PATH="$tmp/bin:$PATH" STUB_RC=99 expect_rc 0 sh -e "$tmp/postinst" abort-upgrade
[ ! -s "$tmp/err" ] || fail "ran on abort-upgrade"
rmdir "$tmp/docker/image"
PATH="$tmp/bin:$PATH" STUB_RC=99 expect_rc 0 sh -e "$tmp/postinst" configure
[ ! -s "$tmp/err" ] || fail "ran without a legacy store"
exit 0
