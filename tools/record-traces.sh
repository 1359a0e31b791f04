#!/bin/sh
# Records the progress-trace corpus of issue 17 into tests/data/traces/
# (one file per job, runs appended; see tests/data/traces/README.md).
# Runs are interleaved, job after job, so each job's runs see different
# load from whatever else shares the machine. Scratch space: $WORK.
# Usage: tools/record-traces.sh [FROM [TO]]   (from the repository root)
#   rounds FROM..TO (default 1..6); JOBS="xz zstd" records only those jobs.
set -eu
FROM=${1:-1}
RUNS=${2:-6}
JOBS=${JOBS:-"ninja-j1 meson-test ninja-j2 xz zstd dd-sync git-clone git-repack"}
want() { case " $JOBS " in *" $1 "*) return 0;; esac; return 1; }
ROOT=$(pwd)
OUT=$ROOT/tests/data/traces
REC="python3 $ROOT/tools/record-trace.py"
WORK=${WORK:-/tmp/raceboard-traces}
mkdir -p "$OUT" "$WORK"

# Inputs, made once: a snapshot of this repository to compile and test,
# a tar of shared libraries to cut compression inputs from, a local git
# repository (3 commits of system headers) to clone and repack.
if [ ! -d "$WORK/src" ]; then
	mkdir -p "$WORK/src"
	git archive HEAD | tar -x -C "$WORK/src"
	meson setup "$WORK/build" "$WORK/src" -Db_sanitize=none >/dev/null
fi
[ -f "$WORK/libs.tar" ] ||
	tar -cf "$WORK/libs.tar" /usr/lib/x86_64-linux-gnu 2>/dev/null || true
if [ ! -d "$WORK/repo" ]; then
	mkdir -p "$WORK/repo"
	cd "$WORK/repo"
	git init -q
	for d in linux asm-generic x86_64-linux-gnu; do
		cp -r /usr/include/$d .
		git add -A && git -c user.name=t -c user.email=t@t commit -qm "$d"
	done
	cd "$ROOT"
fi

# The libraries and predict-eval, not the whole tree: a run of about a
# minute on a shared machine. meson test runs in a build of its own,
# built once.
TARGETS="protocol/libprotocol.a predict/libpredict.a store/libstore.a predict/predict-eval"
[ -d "$WORK/build-t" ] || meson setup "$WORK/build-t" "$WORK/src" -Db_sanitize=none >/dev/null
ninja -C "$WORK/build-t" >/dev/null

k=$FROM
while [ "$k" -le "$RUNS" ]; do
	# Different inputs per run: sizes and offsets vary with k.
	mb=$((6 + 2 * k))
	tail -c +$((k * 40000000)) "$WORK/libs.tar" | head -c $((mb * 1000000)) > "$WORK/in.bin"
	tail -c +$((k * 30000000 + 7)) "$WORK/libs.tar" | head -c $(((6 + 2 * k) * 1000000)) > "$WORK/in2.bin"

	want ninja-j1 && ninja -C "$WORK/build" -t clean >/dev/null &&
	$REC --out "$OUT/ninja-j1.txt" --parse nm --note "$TARGETS, -j1" -- ninja -C "$WORK/build" -j1 $TARGETS
	want meson-test && $REC --out "$OUT/meson-test.txt" --parse nm --note "suites protocol+predict+lint, 1 process" -- \
		meson test -C "$WORK/build-t" --no-rebuild --num-processes 1 --suite protocol --suite predict --suite lint
	want ninja-j2 && ninja -C "$WORK/build" -t clean >/dev/null &&
	$REC --out "$OUT/ninja-j2.txt" --parse nm --note "$TARGETS, -j2" -- ninja -C "$WORK/build" -j2 $TARGETS
	want xz && $REC --out "$OUT/xz.txt" --parse pct --note "input ${mb} MB of libs.tar" -- \
		sh -c "xz -v -3 -T1 -c '$WORK/in.bin' > /dev/null"
	want zstd && $REC --out "$OUT/zstd.txt" --parse zstd --note "input $((6 + 2 * k)) MB of libs.tar" -- \
		zstd --progress -12 -T1 -f "$WORK/in2.bin" -o /dev/null
	want dd-sync && $REC --out "$OUT/dd-sync.txt" --parse bytes:$((400 * 1048576)) --note "400 MiB urandom, oflag=dsync" -- \
		dd if=/dev/urandom of="$WORK/dd.bin" bs=1M count=400 oflag=dsync status=progress
	rm -f "$WORK/dd.bin"
	want git-clone && rm -rf "$WORK/clone" &&
	$REC --out "$OUT/git-clone.txt" --parse "git:Receiving objects,Resolving deltas" --note "3 commits of headers" -- \
		git clone --progress --no-local "$WORK/repo" "$WORK/clone"
	want git-repack && $REC --out "$OUT/git-repack.txt" --parse "git:Compressing objects,Writing objects" --note "repack -adf of the clone (a terminal: progress shown)" -- \
		git -C "$WORK/clone" repack -adf
	k=$((k + 1))
done
