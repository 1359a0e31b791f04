/*
 * eval_trace.c - predict-eval --trace: replays recorded progress traces
 * (tests/data/progress-*.txt: "<seconds> <percent>" per line, '#' starts
 * a comment) through struct pred_track and pred_progress(), and reports
 * how far the prediction made just before each report is from that
 * report, next to the naive "hold the last value" baseline.
 *
 * For each report i >= 1, the tracker holds reports 0..i-1 and "now" is
 * 1 ms before report i. --every N keeps only every N-th report, which
 * simulates a producer that reports N times less often. The trust window is the learned cadence
 * (pred_track_cadence) once it exists, else 5 s (the cmd source default).
 * Three values are scored: progress_prediction.current as the server
 * would serve it, the hold baseline, and pure interpolation (last +
 * rate * age, clamped like current), which is what current becomes once
 * a race is past its trust window.
 *
 * A tool: reads files, prints to stdout.
 */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eval_traces(int argc, char **argv);

#define DEFAULT_HINT 5

struct trace {
	int64_t *t_ms;
	double *pct;
	size_t n;
};

static int load_trace(const char *path, struct trace *tr)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	char line[256];
	size_t cap = 0;
	memset(tr, 0, sizeof *tr);
	while (fgets(line, sizeof line, f)) {
		double s, p;
		if (line[0] == '#' || sscanf(line, "%lf %lf", &s, &p) != 2)
			continue;
		if (tr->n == cap) {
			cap = cap ? cap * 2 : 256;
			int64_t *t = realloc(tr->t_ms, cap * sizeof *t);
			double *q = realloc(tr->pct, cap * sizeof *q);
			if (t)
				tr->t_ms = t;
			if (q)
				tr->pct = q;
			if (!t || !q) {
				fclose(f);
				return -1;
			}
		}
		tr->t_ms[tr->n] = (int64_t)llround(s * 1000.0);
		tr->pct[tr->n] = p;
		tr->n++;
	}
	fclose(f);
	return 0;
}

struct err {
	double sum;
	double max;
};

static void err_add(struct err *e, double v)
{
	v = fabs(v);
	e->sum += v;
	if (v > e->max)
		e->max = v;
}

static void eval_one(const char *path, const struct trace *tr, size_t every)
{
	struct pred_track track;
	pred_track_init(&track);
	struct err cur = { 0, 0 }, hold = { 0, 0 }, interp = { 0, 0 };
	size_t n = 0, by_source[3] = { 0, 0, 0 };
	int last_hint = DEFAULT_HINT;

	size_t prev = 0;
	for (size_t i = 0; i < tr->n; i += every) {
		/* The tracker stores whole percents, as the race model does. */
		int pct = (int)floor(tr->pct[i]);
		if (i > 0) {
			int hint = DEFAULT_HINT;
			pred_track_cadence(&track, &hint);
			last_hint = hint;
			struct pred_progress_in in = {
				.now_ms = tr->t_ms[i] - 1,
				.started_ms = 0,
				.hint_sec = hint,
				.track = &track,
			};
			struct pred_progress out;
			if (pred_progress(&in, &out) != PRED_OK)
				continue;
			double last = floor(tr->pct[prev]);
			double rate = 0;
			pred_track_rate(&track, 0, &rate);
			double age = (double)(in.now_ms - tr->t_ms[prev]) / 1000.0;
			double lo = last < 99 ? last : 99;
			double ip = last + rate * (age > 0 ? age : 0);
			ip = ip < lo ? lo : (ip > 99 ? 99 : ip);
			err_add(&cur, out.current - pct);
			err_add(&hold, last - pct);
			err_add(&interp, ip - pct);
			by_source[out.source]++;
			n++;
		}
		pred_track_observe(&track, tr->t_ms[i], pct);
		prev = i;
	}
	if (n == 0) {
		printf("%s: fewer than two reports\n", path);
		return;
	}
	printf("%s (every %zu. report): %zu scored over %.1f s; learned hint "
	       "%d s; served as reported %zu, interpolated %zu\n", path, every, n,
	       (double)tr->t_ms[tr->n - 1] / 1000.0, last_hint,
	       by_source[PRED_PROGRESS_REPORTED],
	       by_source[PRED_PROGRESS_INTERPOLATED]);
	printf("  %-32s %8s %8s\n", "|prediction - next report|", "mean", "max");
	printf("  %-32s %8.2f %8.2f\n", "hold last value (baseline)",
	       hold.sum / (double)n, hold.max);
	printf("  %-32s %8.2f %8.2f\n", "progress_prediction.current",
	       cur.sum / (double)n, cur.max);
	printf("  %-32s %8.2f %8.2f\n", "interpolation (past the window)",
	       interp.sum / (double)n, interp.max);
}

int eval_traces(int argc, char **argv)
{
	size_t every = 1;
	if (argc >= 2 && strcmp(argv[0], "--every") == 0) {
		every = (size_t)strtoul(argv[1], NULL, 10);
		argc -= 2;
		argv += 2;
	}
	if (argc < 1 || every == 0) {
		fprintf(stderr, "usage: predict-eval --trace [--every N] FILE...\n");
		return 2;
	}
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		struct trace tr;
		if (load_trace(argv[i], &tr) != 0) {
			rc = 2;
			continue;
		}
		eval_one(argv[i], &tr, every);
		free(tr.t_ms);
		free(tr.pct);
	}
	return rc;
}
