#!/bin/sh
# New-race ETA robustness (issue 17; docs/PREDICTION.md): replays the real
# CI data and the synthetic shapes of tools/gen-ci-synthetic.py, seeds 0
# (the default files) to 6, through predict-eval, and prints one
# Markdown row per dataset: the MAE (s) of the three simple per-job
# baselines, of pred_model_predict, and its ratio to the best baseline.
# Seeds 0-3 were looked at while the method was chosen; 4-6 were not.
#
# usage: tools/eval-new-race.sh PREDICT-EVAL [EXTRA-ARGS...]
#   e.g. tools/eval-new-race.sh build-rel/predict/predict-eval
#        tools/eval-new-race.sh build-rel/predict/predict-eval --strict
set -eu
bin=$1
shift
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/gen-ci-synthetic.py" "$tmp/seed0" >/dev/null
for s in 1 2 3 4 5 6; do
	python3 "$here/gen-ci-synthetic.py" --seed "$s" "$tmp/seed$s" >/dev/null
done
# The real data: ../shared/data/ci-durations/ from the main checkout, or
# JULIA_CSV.
julia=${JULIA_CSV:-}
for c in "$here/../../shared/data/ci-durations/julia-buildkite.csv" \
	 /work/shared/data/ci-durations/julia-buildkite.csv; do
	if [ -z "$julia" ] && [ -f "$c" ]; then julia=$c; fi
done
echo "| dataset | last value | mean of last 3 | median of all | pred_model_predict | ratio to best |"
echo "|---|---:|---:|---:|---:|---:|"
for f in "$julia" "$tmp"/seed*/*.csv; do
	name=$(basename "$(dirname "$f")")/$(basename "$f" .csv)
	"$bin" "$@" "$f" | awk -v name="$name" '
	/^\(a\) last value/ { a = $(NF - 2) }
	/^\(b\) mean of last 3/ { b = $(NF - 2) }
	/^\(c\) median of all/ { c = $(NF - 2) }
	/^pred_model_predict/ { m = $(NF - 2) }
	END {
		best = a; if (b < best) best = b; if (c < best) best = c
		printf "| %s | %.1f | %.1f | %.1f | %.1f | %.3f |\n", name, a, b, c, m, m / best
	}'
done
