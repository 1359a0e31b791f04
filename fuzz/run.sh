#!/bin/sh
# fuzz/run.sh - builds the libFuzzer targets against protocol/ with
# clang (-fsanitize=fuzzer,address,undefined) and runs each for a bounded
# time on a copy of its seed corpus.
#
#   fuzz/run.sh [SECONDS] [TARGET...]   default 60 s each, every target
#   FUZZ_OUT=dir fuzz/run.sh 20         where builds, corpora and crash
#                                       artifacts go (default build-fuzz)
#
# Exits 1 when a target finds a crash (the input is saved as
# $FUZZ_OUT/artifacts/<target>/crash-*; turn it into a regression test in
# tests/test_proto_regress.c), 77 when clang is missing (meson: skipped).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"update client_msg delta_apply record update_scan hooks"}
out=${FUZZ_OUT:-build-fuzz}
cc=${CLANG:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz/run.sh: $cc not found (apt-get install clang); skipped" >&2
	exit 77
fi
mkdir -p "$out"
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-g -O1 -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iprotocol -Ihooks
	$(pkg-config --cflags json-c)"
libs="$(pkg-config --libs json-c) -lm"
status=0
for t in $targets; do
	bin="$out/fuzz_$t"
	srcs="protocol/*.c"
	[ "$t" = hooks ] && srcs="$srcs hooks/*.c"
	# shellcheck disable=SC2086
	$cc $flags -o "$bin" "fuzz/fuzz_$t.c" $srcs $libs
	mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
	cp fuzz/corpus/"$t"/* "$out/corpus/$t/"
	echo "fuzz/run.sh: $t for ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	     "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
		"$out/corpus/$t" >"$out/$t.log" 2>&1; then
		echo "fuzz/run.sh: $t FAILED; see $out/$t.log and" \
		     "$out/artifacts/$t/" >&2
		tail -n 40 "$out/$t.log" >&2
		status=1
	fi
	grep -E "^Done|stat::number_of_executed_units|cov:" "$out/$t.log" |
		tail -n 2 | sed "s/^/fuzz\/run.sh: $t: /"
done
exit $status
