# Shell function (POSIX sh, sourced after tests/lib-test.sh) for tests that
# build images with a real dockerd during the test (tests/fresh-store.sh,
# tests/real-driver-store.sh).
#
#   fresh_context DIR   writes DIR/base.tar (the project's own fixtool, static:
#                       the images' only program; import it as fresh/base:1)
#                       and DIR/ctx/Dockerfile, a build on fresh/base:1 whose
#                       layers hold a deletion (whiteout), an opaque directory
#                       (removed and made again), a symlink, a hard link and
#                       a setuid file
fresh_context() {
	mkdir -p "$1/ctx/base" || return 1
	gcc -static -Os -s -o "$1/ctx/base/fixtool" "$top_srcdir/fixtures/fixtool.c" || fail "static fixtool"
	tar -C "$1/ctx/base" -cf "$1/base.tar" fixtool || fail "base.tar"
	cat > "$1/ctx/Dockerfile" <<'EOF_DOCKERFILE'
FROM fresh/base:1
RUN ["/fixtool", "mkdir", "/data", ";", "write", "/data/a.txt", "alpha", ";", "write", "/data/b.txt", "beta"]
RUN ["/fixtool", "rm", "/data/a.txt", ";", "symlink", "b.txt", "/data/link", ";", "chmod", "4755", "/data/b.txt"]
RUN ["/fixtool", "mkdir", "/opq", ";", "write", "/opq/x", "x"]
RUN ["/fixtool", "rm", "/opq", ";", "mkdir", "/opq", ";", "write", "/opq/y", "y", ";", "link", "/opq/y", "/opq/y2"]
EOF_DOCKERFILE
}
