#!/bin/sh
# tests/valgrind-server.sh - the server's start / serve / stop path under
# valgrind memcheck: zero errors and zero definite or indirect leaks.
#
#   tests/valgrind-server.sh [BUILD_DIR]     (default build-valgrind)
#
# The build must be without sanitizers (valgrind and ASan do not mix);
# the script sets it up when BUILD_DIR does not exist. A short client
# session (tests/valgrind/poke.c: REST, refusals, /metrics, WebSocket)
# runs against it, then SIGTERM; the exit code must be 0. `make test`
# runs it. Exits 77 (skipped) when valgrind is missing.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind-server.sh: valgrind not found; skipped" >&2
	exit 77
fi
[ -f "$build/build.ninja" ] || meson setup "$build" -Dtests=disabled >/dev/null
meson compile -C "$build" server/raceboard-server >/dev/null
tmp=$(mktemp -d /tmp/raceboard-valgrind-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cc -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -o "$tmp/poke" \
	tests/valgrind/poke.c tests/support/http_client.c \
	tests/support/ws_client.c

valgrind --quiet --leak-check=full --error-exitcode=1 \
	--errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --log-file="$tmp/valgrind.log" \
	"$build/server/raceboard-server" --port 0 --port-file "$tmp/port" \
	--data-dir "$tmp/data" --log-level warn 2>"$tmp/server.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
		echo "valgrind-server.sh: the server did not start" >&2
		cat "$tmp/server.log" "$tmp/valgrind.log" >&2
		exit 1
	fi
	sleep 0.1
done
poke=0
"$tmp/poke" "$(cat "$tmp/port")" || poke=$?
kill -TERM $pid
rc=0
wait $pid || rc=$?
if [ $poke -ne 0 ] || [ $rc -ne 0 ]; then
	echo "valgrind-server.sh: FAILED (client $poke, server exit $rc)" >&2
	cat "$tmp/valgrind.log" >&2
	tail -n 20 "$tmp/server.log" >&2
	exit 1
fi
echo "valgrind-server.sh: no memory errors, no leaks (server exit 0)"
