#!/bin/sh
# tests/tsan-server.sh - integration suites against a server built with
# ThreadSanitizer: the service thread, the writer thread
# (server/write_commit.c) and, in cluster mode, the NATS library's
# threads calling into cluster/clog.c. Any TSan report fails the step.
#
#   tests/tsan-server.sh [TSAN_BUILD [TEST_BUILD [TEST...]]]
#
# TSAN_BUILD (default build-tsan) holds only the server, built with
# -Db_sanitize=thread; the script sets it up when it does not exist.
# The test programs themselves come from TEST_BUILD (default build-test,
# the ASan+UBSan build of `make test`): Criterion cannot run under TSan
# (its inheritable arena is mapped at a random fixed address in a range
# TSan's shadow memory takes, so it aborts with "Could not initialize
# inheritable arena"), and races among the test's own client code are
# not what this is for. meson test's --wrapper points RACEBOARD_SERVER_BIN
# at the TSan server, since a test's own env: in meson.build would win
# over ours.
#
# Each server process writes what TSan has to say to $tmp/tsan/log.<pid>
# (log_path; verbosity=1 makes every TSan process write at least its
# banner, which proves the TSan server ran). halt_on_error=0: a race does
# not kill the server, so one run lists every race; the step fails if any
# log holds a report, whatever the tests said (most tests SIGKILL their
# server, so its exit status, exitcode=66 on a report, is seldom read).
# On a failure it prints each distinct report's SUMMARY line with a count,
# then the first report in full; RACEBOARD_KEEP_TEST_DIRS=1 keeps the
# logs. Suppressions: tests/tsan.supp (uninstrumented libraries only).
set -eu
cd "$(dirname "$0")/.."
tsan_build=${1:-build-tsan}
test_build=${2:-build-test}
if [ $# -gt 2 ]; then
	shift 2
else
	set --
fi
[ $# -gt 0 ] || set -- test_server_rest test_server_ws test_server_acks \
	test_server_pipeline test_server_ws_slow test_server_route test_cluster_nodes

if [ ! -f "$test_build/build.ninja" ]; then
	echo "tsan-server.sh: no $test_build (make test sets it up)" >&2
	exit 1
fi
[ -f "$tsan_build/build.ninja" ] || meson setup "$tsan_build" \
	-Db_sanitize=thread -Db_lundef=false -Dtests=disabled >/dev/null
meson compile -C "$tsan_build" server/raceboard-server >/dev/null
targets=
for t in "$@"; do
	targets="$targets tests/$t"
done
# shellcheck disable=SC2086 # one word per target
meson compile -C "$test_build" $targets >/dev/null

tmp=$(mktemp -d /tmp/raceboard-tsan-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tsan"
server=$(pwd)/$tsan_build/server/raceboard-server
rc=0
TSAN_OPTIONS="log_path=$tmp/tsan/log verbosity=1 halt_on_error=0 \
exitcode=66 second_deadlock_stack=1 history_size=7 \
suppressions=$(pwd)/tests/tsan.supp" \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$test_build" --no-rebuild --print-errorlogs \
	--wrapper "env RACEBOARD_SERVER_BIN=$server RACEBOARD_RSS_UNRELIABLE=1" "$@" || rc=$?

ran=$(grep -l 'Running under ThreadSanitizer' "$tmp"/tsan/log.* \
	2>/dev/null | wc -l)
bad=$(grep -l -E '(WARNING|ERROR|FATAL): ThreadSanitizer|CHECK failed' \
	"$tmp"/tsan/log.* 2>/dev/null || true)
if [ -n "$bad" ]; then
	# shellcheck disable=SC2086 # one word per file
	{
		echo "tsan-server.sh: the reports, by SUMMARY line:"
		cat $bad | grep -E '^SUMMARY|(ERROR|FATAL): Thread|CHECK failed' |
			sort | uniq -c | sort -rn
		echo "tsan-server.sh: the first one in full:"
		cat $bad | sed -n '/^WARNING: ThreadSanitizer/,/^SUMMARY/p' |
			sed '/^SUMMARY/q'
		echo "tsan-server.sh: FAILED: ThreadSanitizer reports from" \
			"$(echo "$bad" | wc -l) of $ran server processes"
	} >&2
	if [ -n "${RACEBOARD_KEEP_TEST_DIRS:-}" ]; then
		trap - EXIT
		echo "tsan-server.sh: every log is in $tmp/tsan" >&2
	fi
	exit 1
fi
if [ "$ran" -eq 0 ]; then
	echo "tsan-server.sh: FAILED: no server ran under ThreadSanitizer" >&2
	exit 1
fi
if [ $rc -ne 0 ]; then
	echo "tsan-server.sh: FAILED: meson test exit $rc" >&2
	exit $rc
fi
echo "tsan-server.sh: $ran server processes under ThreadSanitizer, no reports"
