/*
 * eval_eta.c - predict-eval --eta: replays the progress-trace corpus
 * (tests/data/traces/<job>.txt, recorded by tools/record-trace.py) through
 * the code the server uses for a running race, and scores its remaining-
 * time estimate against the true remaining time at every report.
 *
 * Per job, run k is predicted from runs 1..k-1 of the same job only
 * (pred_model_predict on a model that recorded just those), then replayed
 * in time order: pred_track_begin with that prior, and at each report
 * pred_track_observe, pred_live and pred_live_should_revise, exactly as
 * server/learn.c calls them. Progress is whole percent, as on the wire,
 * and a report that does not change it is skipped, as the server skips it.
 * Scored per report with 0 < p <= 100, bucketed by p:
 *   live     pred_live's remaining time (what a revision would carry)
 *   served   the ETA a client reads then: the last recorded revision
 *            (whole seconds, as on the wire) minus the time since it
 *   history  prior total - elapsed, floored at 0
 *   linear   elapsed * (100 - p) / p
 *   smooth   tqdm-style: EMAs (0.3) of progress and time steps, bias-
 *            corrected; remaining = (100 - p) * ema_dt / ema_dp
 * Runs without history (k = 1) are scored apart. By default each run
 * weighs the same in each bucket (--per-report: each report does); "all"
 * weighs the four buckets the same.
 *
 * A tool: reads files, prints to stdout.
 */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eval_eta(int argc, char **argv);

#define MAX_RUNS 64
#define DEFAULT_HINT 5   /* the cmd source's update_interval_hint */
#define ES_ALPHA 0.3

enum { M_LIVE, M_SERVED, M_HIST, M_LIN, M_ES, N_METHODS };
static const char *method_name[N_METHODS] = {
	"server live", "server served", "history only", "linear", "smoothed 0.3"
};
#define N_BUCKETS 4
#define N_BANDS 8
static const double band_lo[N_BANDS] = { 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7,
					 0.85 };

struct run {
	int64_t *t_ms;
	int *pct;
	size_t n;
	int64_t end_ms;
};

struct job {
	char name[64];
	struct run runs[MAX_RUNS];
	size_t n_runs;
};

struct cell {
	double n, abs_sec, abs_pct, within;
};

struct score {
	struct cell c[N_METHODS][N_BUCKETS + 1];  /* last: all buckets */
	struct cell band[N_BANDS];
	double band_conf[N_BANDS];
	double brier, brier_n;  /* of the stated confidence, per report */
	double revisions, runs, reports;
};

static int push(struct run *r, size_t *cap, double s, double p)
{
	if (r->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 128;
		int64_t *t = realloc(r->t_ms, nc * sizeof *t);
		if (!t)
			return -1;
		r->t_ms = t;
		int *q = realloc(r->pct, nc * sizeof *q);
		if (!q)
			return -1;
		r->pct = q;
		*cap = nc;
	}
	r->t_ms[r->n] = (int64_t)llround(s * 1000.0);
	r->pct[r->n] = (int)floor(p + 1e-9);  /* whole percent, as sent */
	r->n++;
	return 0;
}

static int load_job(const char *path, struct job *j)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	memset(j, 0, sizeof *j);
	const char *base = strrchr(path, '/');
	snprintf(j->name, sizeof j->name, "%s", base ? base + 1 : path);
	char *dot = strrchr(j->name, '.');
	if (dot)
		*dot = 0;
	char line[512];
	size_t cap = 0;
	struct run *r = NULL;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		double s, p;
		if (!strncmp(line, "run ", 4)) {
			if (j->n_runs == MAX_RUNS) {
				rc = -1;
				break;
			}
			r = &j->runs[j->n_runs++];
			cap = 0;
		} else if (r && sscanf(line, "end %lf", &s) == 1) {
			r->end_ms = (int64_t)llround(s * 1000.0);
		} else if (r && line[0] != '#' &&
			   sscanf(line, "%lf %lf", &s, &p) == 2) {
			if (push(r, &cap, s, p)) {
				rc = -1;
				break;
			}
		}
	}
	fclose(f);
	for (size_t i = 0; i < j->n_runs; i++)
		if (j->runs[i].end_ms <= 0)
			rc = -1;  /* a run without its "end" line */
	if (rc)
		fprintf(stderr, "%s: malformed trace file\n", path);
	return rc;
}

static void free_job(struct job *j)
{
	for (size_t i = 0; i < j->n_runs; i++) {
		free(j->runs[i].t_ms);
		free(j->runs[i].pct);
	}
}

/* Set by --per-report: every report weighs 1. By default each run weighs
 * 1 in each bucket it reaches (its reports there share that weight), so a
 * program that prints 200 lines a second does not drown one that prints
 * one every few seconds. */
static int per_report;

static void add(struct cell *c, double est, double truth, double total,
		double w)
{
	double e = fabs(est - truth);
	c->n += w;
	c->abs_sec += w * e;
	c->abs_pct += w * 100.0 * e / total;
	c->within += w * (e <= 0.2 * truth);
}

static int bucket_of(int p)
{
	return p >= 75 ? 3 : p / 25;
}

/* How the served ETA is put on the wire (--served-rounding): "round"
 * is what server/learn.c does (eta_sec is an integer in JSON); "none"
 * (sub-second), "floor" and "ceil" are what-ifs for the evaluation. */
static enum { R_ROUND, R_NONE, R_FLOOR, R_CEIL } served_rounding;
/* --whole-baselines: round the baselines to whole seconds at each
 * report, as a client reading them off the same wire would see them. */
static int whole_baselines;

static double to_wire(double remaining_sec)
{
	switch (served_rounding) {
	case R_NONE: return remaining_sec;
	case R_FLOOR: return floor(remaining_sec);
	case R_CEIL: return ceil(remaining_sec);
	default: return (double)llround(remaining_sec);
	}
}

/* The ETA state of one race as the server keeps it. */
struct served {
	int has;
	double eta_sec;   /* whole seconds */
	int64_t at_ms;
};

static void replay(const struct job *j, struct pred_model *m, const char *key,
		   size_t k, struct score *sc, FILE *dump,
		   uint16_t shape[PRED_SHAPE_MARKS])
{
	const struct run *r = &j->runs[k];
	struct pred_prior prior = { 0 };
	struct pred_estimate est;
	if (pred_model_predict(m, key, NULL, &est) == PRED_OK) {
		prior.has = 1;
		prior.total_sec = est.total_sec;
		prior.confidence = est.confidence;
		prior.source = est.source;
		if (est.basis == PRED_BASIS_EXACT)  /* as server/learn.c */
			pred_prior_shape(&prior, pred_model_history(m, key));
	}
	struct pred_track t;
	pred_track_begin(&t, 0, &prior);
	struct served sv = { 0 };
	if (prior.has) {  /* the create's ETA (server/learn.c) */
		sv.has = 1;
		sv.eta_sec = to_wire(prior.total_sec);
		sv.at_ms = 0;
	}
	double ema_dp = 0, ema_dt = 0, ema_w = 0;
	int64_t prev_t = 0;
	int prev_p = 0, last_sent = -1;
	double total = (double)r->end_ms / 1000.0;
	double per_bucket[N_BUCKETS] = { 0 };
	int seen = -1;
	for (size_t i = 0; i < r->n; i++) {  /* the reports the server sees */
		if (r->pct[i] != seen && r->pct[i] > 0 && r->t_ms[i] <= r->end_ms)
			per_bucket[bucket_of(r->pct[i])] += 1;
		if (r->pct[i] != seen)
			seen = r->pct[i];
	}
	sc->runs += 1;
	for (size_t i = 0; i < r->n; i++) {
		int64_t now = r->t_ms[i];
		int p = r->pct[i];
		/* A producer sends whole percents; an unchanged value is no
		 * change to the race, and the server sees nothing. */
		if (p == last_sent || pred_track_observe(&t, now, p) != PRED_OK)
			continue;
		last_sent = p;
		double el = (double)now / 1000.0, truth = total - el;
		/* tqdm's smoothed rate over this step */
		ema_dp = ES_ALPHA * (p - prev_p) + (1 - ES_ALPHA) * ema_dp;
		ema_dt = ES_ALPHA * ((double)(now - prev_t) / 1000.0) +
			(1 - ES_ALPHA) * ema_dt;
		ema_w = ES_ALPHA + (1 - ES_ALPHA) * ema_w;
		prev_t = now;
		prev_p = p;

		struct pred_live lv;
		int have_live = pred_live(&t, now, &lv) == PRED_OK;
		int hint = DEFAULT_HINT;
		pred_track_cadence(&t, &hint);
		/* As server/learn.c: the same whole seconds is no revision. */
		double wire = have_live ? to_wire(lv.remaining_sec) : 0;
		if (have_live && pred_live_should_revise(sv.has, sv.eta_sec,
							 sv.at_ms, lv.remaining_sec,
							 now, hint) &&
		    !(sv.has && wire == sv.eta_sec)) {
			sv.has = 1;
			sv.eta_sec = wire;
			sv.at_ms = now;
			sc->revisions += 1;
		}
		if (p <= 0 || !(truth >= 0))
			continue;
		sc->reports += 1;
		int b = bucket_of(p);
		double v[N_METHODS];
		int ok[N_METHODS] = { 0 };
		if (have_live) {
			v[M_LIVE] = lv.remaining_sec;
			ok[M_LIVE] = 1;
		}
		if (sv.has) {
			v[M_SERVED] = fmax(sv.eta_sec -
					   (double)(now - sv.at_ms) / 1000.0, 0);
			ok[M_SERVED] = 1;
		}
		if (prior.has) {
			v[M_HIST] = fmax(prior.total_sec - el, 0);
			ok[M_HIST] = 1;
		}
		v[M_LIN] = el * (100 - p) / p;
		ok[M_LIN] = 1;
		if (ema_dp > 0) {
			v[M_ES] = (100 - p) * ema_dt / ema_dp;
			ok[M_ES] = 1;
		} else {
			v[M_ES] = v[M_LIN];  /* no step yet: the average */
			ok[M_ES] = 1;
		}
		if (whole_baselines)  /* as if served in whole seconds too */
			for (int q = M_HIST; q < N_METHODS; q++)
				v[q] = (double)llround(v[q]);
		double w = per_report ? 1 : 1 / per_bucket[b];
		for (int q = 0; q < N_METHODS; q++) {
			if (!ok[q])
				continue;
			add(&sc->c[q][b], v[q], truth, total, w);
			add(&sc->c[q][N_BUCKETS], v[q], truth, total, w / 4);
		}
		if (have_live) {
			int band = N_BANDS - 1;
			while (band > 0 && lv.confidence < band_lo[band])
				band--;
			/* calibration counts reports: it is about each statement */
			add(&sc->band[band], v[M_LIVE], truth, total, 1);
			sc->band_conf[band] += lv.confidence;
			double hit = fabs(v[M_LIVE] - truth) <= 0.2 * truth;
			sc->brier += (lv.confidence - hit) * (lv.confidence - hit);
			sc->brier_n += 1;
		}
		if (dump)
			fprintf(dump, "%s,%zu,%.3f,%d,%.3f,%.3f,%.3f,%.3f,%d,"
				"%.4f,%.3f\n",
				j->name, k + 1, el, p, truth,
				have_live ? lv.remaining_sec : -1,
				sv.has ? v[M_SERVED] : -1,
				have_live ? lv.confidence : -1,
				have_live ? lv.source : 0,
				have_live ? lv.sigma : -1,
				have_live ? lv.w_progress : -1);
	}
	/* What the server keeps of this run once it finishes. */
	pred_track_shape(&t, r->end_ms, shape);
}

static void print_table(const char *title, const struct score *sc)
{
	static const char *bn[N_BUCKETS + 1] = {
		"0-25 %", "25-50 %", "50-75 %", "75-100 %", "all"
	};
	printf("\n%s: %.0f runs, %.0f scored reports, %.0f revisions "
	       "(%.1f per run)\n", title, sc->runs, sc->reports, sc->revisions,
	       sc->runs > 0 ? sc->revisions / sc->runs : 0);
	printf("| bucket | method | n | MAE (s) | MAE (%% of total) | within +-20 %% |\n");
	printf("|---|---|---:|---:|---:|---:|\n");
	for (int b = 0; b <= N_BUCKETS; b++) {
		double best = INFINITY;
		for (int q = M_HIST; q < N_METHODS; q++)
			if (sc->c[q][b].n > 0 && sc->c[q][b].abs_pct / sc->c[q][b].n < best)
				best = sc->c[q][b].abs_pct / sc->c[q][b].n;
		for (int q = 0; q < N_METHODS; q++) {
			const struct cell *c = &sc->c[q][b];
			if (c->n == 0)
				continue;
			printf("| %s | %s | %.1f | %.2f | %.2f", bn[b],
			       method_name[q], c->n, c->abs_sec / c->n,
			       c->abs_pct / c->n);
			if (q <= M_SERVED && isfinite(best) && best > 0)
				printf(" (%.2fx best)", c->abs_pct / c->n / best);
			printf(" | %.1f %% |\n", 100.0 * c->within / c->n);
		}
	}
}

static void print_bands(const struct score *sc)
{
	printf("\nserver live estimate by stated confidence:\n");
	printf("| confidence | n | mean confidence | within +-20 %% | MAE (%% of total) |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (int b = 0; b < N_BANDS; b++) {
		const struct cell *c = &sc->band[b];
		if (c->n == 0)
			continue;
		printf("| [%.2f, %.2f) | %.0f | %.2f | %.1f %% | %.2f |\n",
		       band_lo[b], b + 1 < N_BANDS ? band_lo[b + 1] : 1.0, c->n,
		       sc->band_conf[b] / c->n, 100.0 * c->within / c->n,
		       c->abs_pct / c->n);
	}
	if (sc->brier_n > 0)
		printf("Brier score of the stated confidence: %.4f over %.0f "
		       "reports\n", sc->brier / sc->brier_n, sc->brier_n);
}

/* Method q's error (M_LIVE or M_SERVED) over the best baseline's in
 * bucket b. */
static double ratio(const struct score *sc, int q, int b)
{
	double best = INFINITY;
	for (int q = M_HIST; q < N_METHODS; q++)
		if (sc->c[q][b].n > 0)
			best = fmin(best, sc->c[q][b].abs_pct / sc->c[q][b].n);
	const struct cell *c = &sc->c[q][b];
	return c->n > 0 && best > 0 ? c->abs_pct / c->n / best : INFINITY;
}

int eval_eta(int argc, char **argv)
{
	FILE *dump = NULL;
	double check = 0;
	double check_served = 0;
	if (argc >= 2 && !strcmp(argv[0], "--check")) {
		check = atof(argv[1]);
		argc -= 2;
		argv += 2;
	}
	if (argc >= 2 && !strcmp(argv[0], "--check-served")) {
		check_served = atof(argv[1]);
		argc -= 2;
		argv += 2;
	}
	if (argc >= 1 && !strcmp(argv[0], "--per-report")) {
		per_report = 1;
		argc--;
		argv++;
	}
	for (;;) {
		if (argc >= 2 && !strcmp(argv[0], "--served-rounding")) {
			const char *r = argv[1];
			if (!strcmp(r, "round"))
				served_rounding = R_ROUND;
			else if (!strcmp(r, "none"))
				served_rounding = R_NONE;
			else if (!strcmp(r, "floor"))
				served_rounding = R_FLOOR;
			else if (!strcmp(r, "ceil"))
				served_rounding = R_CEIL;
			else
				argc = 0;  /* usage */
			argc -= 2;
			argv += 2;
		} else if (argc >= 1 && !strcmp(argv[0], "--whole-baselines")) {
			whole_baselines = 1;
			argc--;
			argv++;
		} else {
			break;
		}
	}
	if (argc >= 2 && !strcmp(argv[0], "--dump")) {
		dump = fopen(argv[1], "w");
		if (!dump) {
			perror(argv[1]);
			return 2;
		}
		fprintf(dump, "job,run,elapsed,progress,true_remaining,live,"
			"served,confidence,source,sigma,w_progress\n");
		argc -= 2;
		argv += 2;
	}
	if (argc < 1) {
		fprintf(stderr, "usage: predict-eval --eta [--check RATIO] "
			"[--check-served RATIO] "
			"[--per-report] [--served-rounding round|none|floor|"
			"ceil] [--whole-baselines] [--dump OUT.csv] "
			"tests/data/traces/*.txt\n");
		return 2;
	}
	static struct score with_hist, first, per_job;
	int rc = 0;
	printf("| job | runs | scored runs | live MAE %% | best baseline MAE %% (which) |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (int a = 0; a < argc; a++) {
		static struct job j;
		if (load_job(argv[a], &j)) {
			rc = 2;
			continue;
		}
		struct pred_model_limits lim = { 0 };
		struct pred_model *m = pred_model_new(&lim);
		char key[PRED_KEY_MAX];
		if (!m || pred_key("trace", j.name, NULL, 0, key, sizeof key)) {
			pred_model_free(m);
			free_job(&j);
			return 2;
		}
		memset(&per_job, 0, sizeof per_job);
		for (size_t k = 0; k < j.n_runs; k++) {
			uint16_t shape[PRED_SHAPE_MARKS];
			replay(&j, m, key, k, k == 0 ? &first : &per_job, dump,
			       shape);
			pred_model_record_shaped(m, key, NULL, PRED_PASSED,
						 (double)j.runs[k].end_ms / 1000.0,
						 (int64_t)(k + 1) * 86400000,
						 shape);
		}
		const struct cell *all = per_job.c[0] + N_BUCKETS;
		int bq = M_HIST;
		for (int q = M_HIST; q < N_METHODS; q++)
			if (per_job.c[q][N_BUCKETS].abs_pct / per_job.c[q][N_BUCKETS].n <
			    per_job.c[bq][N_BUCKETS].abs_pct / per_job.c[bq][N_BUCKETS].n)
				bq = q;
		if (all->n > 0)
			printf("| %s | %zu | %.0f | %.2f | %.2f (%s) |\n", j.name,
			       j.n_runs, all->n, all->abs_pct / all->n,
			       per_job.c[bq][N_BUCKETS].abs_pct / per_job.c[bq][N_BUCKETS].n,
			       method_name[bq]);
		for (int q = 0; q < N_METHODS; q++)
			for (int b = 0; b <= N_BUCKETS; b++) {
				struct cell *d = &with_hist.c[q][b];
				const struct cell *s = &per_job.c[q][b];
				d->n += s->n;
				d->abs_sec += s->abs_sec;
				d->abs_pct += s->abs_pct;
				d->within += s->within;
			}
		for (int b = 0; b < N_BANDS; b++) {
			with_hist.band[b].n += per_job.band[b].n;
			with_hist.band[b].abs_sec += per_job.band[b].abs_sec;
			with_hist.band[b].abs_pct += per_job.band[b].abs_pct;
			with_hist.band[b].within += per_job.band[b].within;
			with_hist.band_conf[b] += per_job.band_conf[b];
		}
		with_hist.brier += per_job.brier;
		with_hist.brier_n += per_job.brier_n;
		with_hist.revisions += per_job.revisions;
		with_hist.runs += per_job.runs;
		with_hist.reports += per_job.reports;
		pred_model_free(m);
		free_job(&j);
	}
	print_table("Runs 2.. of each job (history of the earlier runs)", &with_hist);
	print_bands(&with_hist);
	print_table("First run of each job (no history: the server gives an "
		    "ETA only once progress makes one trustworthy)", &first);
	if (dump)
		fclose(dump);
	/* --check: every progress bucket of the runs with history must be
	 * at most RATIO x its best baseline (a test's property, computed
	 * here from the data, not a stored number). */
	for (int b = 0; check > 0 && b < N_BUCKETS; b++) {
		double r = ratio(&with_hist, M_LIVE, b);
		if (!(r <= check)) {
			fprintf(stderr, "check: bucket %d: live %.2fx the best "
				"baseline, over %.2fx\n", b, r, check);
			rc = rc ? rc : 1;
		}
	}
	/* --check-served: the same for the ETA a client reads (whole
	 * seconds, revised only when pred_live_should_revise allows). */
	for (int b = 0; check_served > 0 && b < N_BUCKETS; b++) {
		double r = ratio(&with_hist, M_SERVED, b);
		if (!(r <= check_served)) {
			fprintf(stderr, "check: bucket %d: served %.2fx the best "
				"baseline, over %.2fx\n", b, r, check_served);
			rc = rc ? rc : 1;
		}
	}
	return rc;
}
