#!/bin/sh
# Sets up a fresh Debian 12 machine to build dockerd-migrate: installs the
# build dependencies with apt (needs root), then configures and builds.
# Extra arguments go to ./configure (e.g. --enable-werror).
set -e
cd "$(dirname "$0")"

BUILD_DEPS="build-essential autoconf automake libtool pkg-config
  libzstd-dev nettle-dev libjson-c-dev libarchive-dev zlib1g-dev check
  libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  zstd xz-utils bash-completion"

if [ "$(id -u)" -eq 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $BUILD_DEPS
else
	echo "bootstrap.sh: not root, skipping apt-get install of: $(echo $BUILD_DEPS)" >&2
fi

autoreconf -fi
./configure "$@"
make -j"$(nproc)"
