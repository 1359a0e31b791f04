#!/bin/sh
# tests/fault/run.sh - the crash and fault tests, short or long.
#
#   tests/fault/run.sh [BUILD_DIR] [--rounds N] [kill|map|disk]...
#
# BUILD_DIR (default build-test) must hold server/raceboard-server and
# tests/fault (meson builds both). CI runs the short form through
# meson (fault_short: 10 kill -9 rounds, map full, disk full); run it
# long with e.g. `tests/fault/run.sh build-test --rounds 100`. The disk
# test mounts a tmpfs and needs root; it is skipped with a message
# otherwise.
set -eu
cd "$(dirname "$0")/../.."
build=build-test
case "${1:-}" in -*|kill|map|disk|"") ;; *) build=$1; shift ;; esac
RACEBOARD_SERVER_BIN=${RACEBOARD_SERVER_BIN:-$build/server/raceboard-server}
export RACEBOARD_SERVER_BIN
exec "$build/tests/fault" "$@"
