# Shell functions (POSIX sh, sourced) for the tests that have bbolt judge a
# bolt file (tests/boltcheck.go, built from Debian's Go toolchain and bbolt):
#
#   dm_boltcheck_have          true when golang-go and golang-github-coreos-bbolt-dev
#                              are installed
#   dm_boltcheck_build SCRATCH builds $top_builddir/tests/boltcheck unless it is
#                              newer than its source (SCRATCH: an empty directory
#                              for GOPATH and the cache); sets DM_BOLTCHECK to it
#   dm_need_boltcheck SCRATCH  for tests: skips (exit 77) without the packages,
#                              else builds it (exit 1 when that fails)
#
# Then "$DM_BOLTCHECK" [-dump] [-mutate] FILE...: exit 0 when every file passes.

dm_boltcheck_have() {
	command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/go.etcd.io/bbolt ]
}

dm_boltcheck_build() {
	DM_BOLTCHECK=$top_builddir/tests/boltcheck
	if [ ! -x "$DM_BOLTCHECK" ] || [ "$top_srcdir/tests/boltcheck.go" -nt "$DM_BOLTCHECK" ]; then
		mkdir -p "$1/go/src/boltcheck" &&
			cp "$top_srcdir/tests/boltcheck.go" "$1/go/src/boltcheck/main.go" &&
			(cd "$1/go/src/boltcheck" &&
				GOPATH="$1/go:/usr/share/gocode" GO111MODULE=off GOCACHE="$1/cache" GOFLAGS= \
					go build -o "$DM_BOLTCHECK.new.$$" .) &&
			mv "$DM_BOLTCHECK.new.$$" "$DM_BOLTCHECK"
	fi
}

dm_need_boltcheck() {
	dm_boltcheck_have || { echo "skip: needs golang-go and golang-github-coreos-bbolt-dev"; exit 77; }
	dm_boltcheck_build "$1" || { echo "FAIL: boltcheck did not build" >&2; exit 1; }
}
