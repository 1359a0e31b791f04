#!/usr/bin/env python3
"""Synthetic CI-duration datasets for predict-eval's robustness check.

Writes CSVs in the column layout of ../shared/data/ci-durations/
(job,build,date,duration_sec,commit) so `predict-eval FILE.csv` replays
them exactly as it replays the real Julia data. They stand in for data
shapes the real file does not cover; they are not evidence about real
CI, only a guard that the new-race estimator does not lose to the
simplest baselines (median of history, last value, mean of the last 3)
on a shape it was not tuned on. Fixed seeds: the output is reproducible.

  stable   20 jobs of 1-4 h, 100 builds; 3 % log-normal noise, 3 % of
           runs 1.5x or 0.6x (the issue's "long, stable jobs").
  drift    20 jobs of 5-60 min, 100 builds; each job's level follows a
           slow random walk (1.5 % a build) plus 4 % noise.
  shifts   20 jobs of 2-30 min, 100 builds; 8 % noise, and each build
           a 4 % chance that a job's level jumps by 0.6x-1.6x for good.
  bimodal  20 jobs of 10-60 s, 100 builds; each run is fast or slow
           (2-4x) at random with a per-job share, plus 10 % noise.

Usage: tools/gen-ci-synthetic.py [--seed N] OUTDIR
  writes OUTDIR/<name>.csv. Without --seed the seeds are 17..20 (the
  files the first round measured); --seed N uses N*100 + 0..3, so other
  seeds give held-out datasets of the same shapes.
"""
import csv
import math
import os
import random
import sys
from datetime import datetime, timedelta


def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["job", "build", "date", "duration_sec", "commit"])
        w.writerows(rows)


# Job names without digits: pred_key() would fold "job 01" and "job 02"
# into one key, as it folds run numbers.
NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
         "hotel", "india", "juliet", "kilo", "lima", "mike", "november",
         "oscar", "papa", "quebec", "romeo", "sierra", "tango"]


def builds(rng, n_jobs, n_builds, level0, step):
    """Rows for n_builds builds of n_jobs jobs; step(rng, job, level,
    build) returns (new level, duration) for one run."""
    rows = []
    t = datetime(2025, 1, 1, 8, 0)
    levels = [level0(rng) for _ in range(n_jobs)]
    for b in range(n_builds):
        t += timedelta(hours=rng.uniform(2, 30))
        commit = "%08x" % rng.getrandbits(32)
        for j in range(n_jobs):
            levels[j], d = step(rng, j, levels[j], b)
            rows.append(("test " + NAMES[j], 1000 + b, t.strftime("%Y-%m-%d %H:%M"),
                         max(1, int(round(d))), commit))
    return rows


def stable(rng):
    def step(rng, j, lv, b):
        d = lv * math.exp(rng.gauss(0, 0.03))
        u = rng.random()
        if u < 0.015:
            d *= 1.5
        elif u < 0.03:
            d *= 0.6
        return lv, d
    return builds(rng, 20, 100, lambda r: r.uniform(3600, 14400), step)


def drift(rng):
    def step(rng, j, lv, b):
        lv *= math.exp(rng.gauss(0, 0.015))
        return lv, lv * math.exp(rng.gauss(0, 0.04))
    return builds(rng, 20, 100, lambda r: r.uniform(300, 3600), step)


def shifts(rng):
    def step(rng, j, lv, b):
        if rng.random() < 0.04:
            lv *= rng.uniform(0.6, 1.6)
        return lv, lv * math.exp(rng.gauss(0, 0.08))
    return builds(rng, 20, 100, lambda r: r.uniform(120, 1800), step)


def bimodal(rng):
    share = [rng.uniform(0.2, 0.8) for _ in range(20)]
    slow = [rng.uniform(2, 4) for _ in range(20)]

    def step(rng, j, lv, b):
        d = lv * (slow[j] if rng.random() < share[j] else 1)
        return lv, d * math.exp(rng.gauss(0, 0.1))
    return builds(rng, 20, 100, lambda r: r.uniform(10, 60), step)


def main():
    args = sys.argv[1:]
    base = 17
    if len(args) == 3 and args[0] == "--seed":
        base = int(args[1]) * 100
        args = args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    os.makedirs(out, exist_ok=True)
    for seed, (name, fn) in enumerate([("stable", stable), ("drift", drift),
                                       ("shifts", shifts),
                                       ("bimodal", bimodal)]):
        write(os.path.join(out, name + ".csv"), fn(random.Random(base + seed)))


if __name__ == "__main__":
    main()
