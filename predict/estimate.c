/*
 * estimate.c - the duration estimate of one key and its confidence.
 *
 * Method (chosen by replaying real CI data, see docs/PREDICTION.md):
 * a small family of robust and recent-weighted estimators is backtested
 * on the key's own passed runs (each one predicting run i from runs
 * 0..i-1, over the last PRED_BACKTEST positions) and the one with the
 * lowest loss wins: absolute error, plus PRED_MISS_COST x the run's
 * duration when it misses by more than 20 %. Jobs whose durations drift
 * favour short windows; noisy jobs favour long windows and medians;
 * short bimodal jobs favour the +/-20 % mode; no single estimator is best
 * for all of them. That per-key choice is one of the estimation
 * policies (internal.h) a source may use; model.c picks a source's
 * policy from each policy's online error on its runs (issue 17). An
 * optional build-context factor then scales the estimate. PRED_BACKTEST and PRED_MISS_COST are the only tuned knobs
 * (global; chosen on the first half of the CI replay).
 * Cost: O(W * (H + 20^2)) per estimate, about 40 us.
 *
 * Pure and allocation-free: every buffer is on the stack and bounded by
 * PRED_HIST_PASSED_MAX.
 */
#include "predict.h"
#include "internal.h"

#include <math.h>
#include <string.h>

#ifndef PRED_BACKTEST
#define PRED_BACKTEST 50       /* positions scored per candidate (all) */
#endif
#ifndef PRED_MISS_COST
#define PRED_MISS_COST 0.5     /* backtest: a miss of +/-20 % costs this x d */
#endif
#define PRED_MIN_SELECT 8      /* runs before candidates compete */
#define PRED_DISP_WINDOW 20    /* runs used for the dispersion */
#define PRED_PRIOR_CV 0.25     /* dispersion assumed with one run */
#ifndef PRED_CTX_SHRINK
#define PRED_CTX_SHRINK 8.0    /* pseudo-entries pulling the factor to 1 */
#endif
#define PRED_CTX_CLAMP 0.3
#define PRED_SPIKE_RATIO 2.0   /* x median: a last run this far off is ignored */

enum cand {
	C_MEAN3,
	C_MEAN5,
	C_MEAN13,
	C_MED9,
	C_MED_ALL,
	C_EWMA3,
	C_TRIM9,
	C_MODE9,
	C_MODE20,
	C_LAST,       /* not a per-key choice: a source policy only */
	C_COUNT,
};

/* The candidates a per-key selection chooses from (all but C_LAST, as
 * chosen on the CI data). */
#define C_SELECTABLE C_LAST

static void sort_small(double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

#define MEDIAN_MAX 128          /* values a median looks at, at most */

/* Median of the last w of d[0..n-1] (all when w >= n), at most MEDIAN_MAX. */
static double median_last(const double *d, size_t n, size_t w)
{
	double tmp[MEDIAN_MAX];
	size_t k = w < n ? w : n;
	if (k > MEDIAN_MAX)
		k = MEDIAN_MAX;
	memcpy(tmp, d + n - k, k * sizeof *tmp);
	sort_small(tmp, k);
	return k % 2 ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
}

static double mean_last(const double *d, size_t n, size_t w)
{
	size_t k = w < n ? w : n;
	double s = 0;
	for (size_t i = n - k; i < n; i++)
		s += d[i];
	return s / (double)k;
}

static double ewma(const double *d, size_t n, double alpha)
{
	double m = d[0];
	for (size_t i = 1; i < n; i++)
		m = alpha * d[i] + (1 - alpha) * m;
	return m;
}

/* Mean of the last w runs without their smallest and largest (w >= 5). */
static double trimmed_mean_last(const double *d, size_t n, size_t w)
{
	double tmp[MEDIAN_MAX];
	size_t k = w < n ? w : n;
	memcpy(tmp, d + n - k, k * sizeof *tmp);
	sort_small(tmp, k);
	size_t lo = k >= 5 ? 1 : 0, hi = k >= 5 ? k - 1 : k;
	double s = 0;
	for (size_t i = lo; i < hi; i++)
		s += tmp[i];
	return s / (double)(hi - lo);
}

/* 1 when p is within +/-20 % of the actual duration x. */
static int within20(double p, double x)
{
	return fabs(p - x) <= 0.2 * x;
}

/*
 * The mode of the last w runs in the sense of the +/-20 % score: the run
 * value p that would have been within 20 % of the most of them (ties: the
 * smaller p), refined to the median of the runs it covers. For bimodal
 * jobs (an upload that takes 14 s or 40 s) it predicts the mode the
 * recent runs favour, where a mean lands between the modes and misses
 * both. O(w^2).
 */
static double mode_last(const double *d, size_t n, size_t w)
{
	size_t k = w < n ? w : n;
	const double *v = d + n - k;
	double best = v[k - 1];
	size_t best_hits = 0;
	for (size_t i = 0; i < k; i++) {
		size_t hits = 0;
		for (size_t j = 0; j < k; j++)
			hits += (size_t)within20(v[i], v[j]);
		if (hits > best_hits || (hits == best_hits && v[i] < best)) {
			best_hits = hits;
			best = v[i];
		}
	}
	double cover[MEDIAN_MAX];
	size_t nc = 0;
	for (size_t j = 0; j < k; j++)
		if (within20(best, v[j]))
			cover[nc++] = v[j];
	return median_last(cover, nc, nc);
}

/* Inserts x into the sorted array v[0..n-1]. */
static void insert_sorted(double *v, size_t n, double x)
{
	size_t j = n;
	while (j > 0 && v[j - 1] > x) {
		v[j] = v[j - 1];
		j--;
	}
	v[j] = x;
}

/*
 * Candidate c's prediction from d[0..n-1], n > 0; sorted holds the same
 * n values in order, so the median of all of them costs O(1).
 */
static double candidate(int c, const double *d, const double *sorted,
			size_t n)
{
	switch (c) {
	case C_MEAN3: return mean_last(d, n, 3);
	case C_MEAN5: return mean_last(d, n, 5);
	case C_MEAN13: return mean_last(d, n, 13);
	case C_MED9: return median_last(d, n, 9);
	case C_MED_ALL:
		return n % 2 ? sorted[n / 2] :
			0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
	case C_TRIM9: return trimmed_mean_last(d, n, 9);
	case C_MODE9: return mode_last(d, n, 9);
	case C_MODE20: return mode_last(d, n, 20);
	case C_LAST: return d[n - 1];
	default: return ewma(d, n, 0.3);
	}
}

double pred__median(const double *v, size_t n)
{
	return median_last(v, n, n);
}

/*
 * Robust dispersion: 1.4826 * MAD / median (a robust coefficient of
 * variation), or the prior with fewer than 3 values.
 */
double pred__robust_cv(const double *v, size_t n, double prior)
{
	if (n < 3)
		return prior;
	if (n > MEDIAN_MAX)
		n = MEDIAN_MAX;
	double med = median_last(v, n, n);
	if (med <= 0)
		return 1.0;
	double dev[MEDIAN_MAX];
	for (size_t i = 0; i < n; i++)
		dev[i] = fabs(v[i] - med);
	double cv = 1.4826 * median_last(dev, n, n) / med;
	/* Floor: even a perfectly stable job has second-level jitter. */
	return cv < 0.01 ? 0.01 : cv;
}

double pred__p_within20(double cv)
{
	return erf(0.2 / (M_SQRT2 * cv));
}

/* 1 when x is more than PRED_SPIKE_RATIO times off ref either way. */
static int is_spike(double x, double ref)
{
	return x > ref * PRED_SPIKE_RATIO || x * PRED_SPIKE_RATIO < ref;
}

/*
 * A single freak last run (a hung job, a run that did nothing) is left
 * out of the estimate: the last run is dropped when it is more than
 * PRED_SPIKE_RATIO times off the median of the 9 runs before it, unless
 * the run before it was off the same way (two in a row is a level shift,
 * which the estimate must follow). Needs 5 runs. Returns the runs to use.
 * Clipping every outlier was measured too and cost 1.5-3 s of MAE on the
 * CI data, where runs far from the median often start a new regime.
 */
static size_t drop_spike(const double *d, size_t n)
{
	if (n < 5)
		return n;
	double ref = median_last(d, n - 1, 9);
	if (!is_spike(d[n - 1], ref))
		return n;
	int same_way = (d[n - 1] > ref) == (d[n - 2] > ref);
	if (is_spike(d[n - 2], median_last(d, n - 2, 9)) && same_way)
		return n;
	return n - 1;
}

double pred_context_ratio(double actual_sec, double base_sec)
{
	if (!(actual_sec > 0) || !(base_sec > 0))
		return 0;
	double r = log(actual_sec / base_sec);
	return r > 1 ? 1 : (r < -1 ? -1 : r);
}

/* The context factor: a shrunk median of the build's log ratios. */
static double context_factor(const struct pred_context *ctx)
{
	if (!ctx || ctx->n == 0 || !ctx->log_ratios)
		return 1.0;
	double tmp[PRED_HIST_PASSED_MAX];
	size_t n = ctx->n < PRED_HIST_PASSED_MAX ? ctx->n : PRED_HIST_PASSED_MAX;
	/* The most recent entries are the most relevant ones. */
	memcpy(tmp, ctx->log_ratios + ctx->n - n, n * sizeof *tmp);
	double m = median_last(tmp, n, n);
	m *= (double)n / ((double)n + PRED_CTX_SHRINK);
	if (m > PRED_CTX_CLAMP)
		m = PRED_CTX_CLAMP;
	if (m < -PRED_CTX_CLAMP)
		m = -PRED_CTX_CLAMP;
	return exp(m);
}

/* One backtest of every candidate on a key's passed runs. */
struct backtest {
	double d[PRED_HIST_PASSED_MAX];
	double sorted[PRED_HIST_PASSED_MAX];
	size_t n;                 /* runs used (after the spike guard) */
	size_t positions;         /* positions scored */
	double loss[C_COUNT];     /* |error| + PRED_MISS_COST x d on a miss */
	size_t hits[C_COUNT];     /* within +/-20 % */
};

/* The runs into bt->d (without a spiked last run when guard is set);
 * with sorted_too, also bt->sorted (all of them, in order). */
static int load_runs(const struct pred_history *h, struct backtest *bt,
		     int guard, int sorted_too)
{
	if (!h || h->n_passed == 0)
		return PRED_ENODATA;
	size_t n = h->n_passed;
	for (size_t i = 0; i < n; i++)
		bt->d[i] = h->passed[i].duration_sec;
	if (guard)
		n = drop_spike(bt->d, n);
	bt->n = n;
	for (size_t i = 0; sorted_too && i < n; i++)
		insert_sorted(bt->sorted, i, bt->d[i]);
	return PRED_OK;
}

static int backtest_run(const struct pred_history *h, struct backtest *bt,
			int guard)
{
	int rc = load_runs(h, bt, guard, 0);
	if (rc)
		return rc;
	size_t n = bt->n;

	/*
	 * Backtest each candidate over the last positions of the history,
	 * keeping a sorted copy of the prefix so each position costs O(H).
	 */
	size_t first = n > PRED_BACKTEST + 1 ? n - PRED_BACKTEST : 1;
	memset(bt->loss, 0, sizeof bt->loss);
	memset(bt->hits, 0, sizeof bt->hits);
	bt->positions = n > first ? n - first : 0;
	for (size_t i = 0; i < first; i++)
		insert_sorted(bt->sorted, i, bt->d[i]);
	for (size_t i = first; i < n; i++) {
		for (int c = 0; c < C_COUNT; c++) {
			double p = candidate(c, bt->d, bt->sorted, i);
			double e = fabs(p - bt->d[i]);
			bt->loss[c] += e;
			if (e <= 0.2 * bt->d[i])
				bt->hits[c]++;
			else
				bt->loss[c] += PRED_MISS_COST * bt->d[i];
		}
		insert_sorted(bt->sorted, i, bt->d[i]);
	}
	return PRED_OK;
}

/* The candidate a policy uses on this backtest. */
static int policy_candidate(const struct backtest *bt, int policy)
{
	static const int fixed[PRED_POLICIES] = {
		[PRED_POL_MEAN3] = C_MEAN3, [PRED_POL_MEDIAN] = C_MED_ALL,
		[PRED_POL_EWMA] = C_EWMA3, [PRED_POL_LAST] = C_LAST,
	};
	int best = C_MEAN3;
	if (policy != PRED_POL_SELECT)
		return fixed[policy];
	if (bt->n >= PRED_MIN_SELECT)
		for (int c = 0; c < C_SELECTABLE; c++)
			if (bt->loss[c] < bt->loss[best])
				best = c;
	return best;
}

int pred__policy_bases(const struct pred_history *h,
		       double base[PRED_POLICIES])
{
	struct backtest bt, raw;
	int rc = backtest_run(h, &bt, 1);
	if (rc)
		return rc;
	load_runs(h, &raw, 0, 1);  /* the simple estimators need no backtest */
	for (int p = 0; p < PRED_POLICIES; p++) {
		const struct backtest *b = p == PRED_POL_SELECT ? &bt : &raw;
		base[p] = candidate(policy_candidate(b, p), b->d, b->sorted,
				    b->n);
	}
	return PRED_OK;
}

int pred__estimate_policy(const struct pred_history *h,
			  const struct pred_context *ctx, int policy,
			  struct pred_estimate *out)
{
	memset(out, 0, sizeof *out);
	struct backtest bt;
	if (policy < 0 || policy >= PRED_POLICIES)
		return PRED_EINVAL;
	int rc = backtest_run(h, &bt, policy == PRED_POL_SELECT);
	if (rc)
		return rc;
	size_t n = bt.n;
	int best = policy_candidate(&bt, policy);
	double base = candidate(best, bt.d, bt.sorted, n);

	/*
	 * Confidence: the chance that the next run lands within +/-20 % of
	 * the estimate. Two views of it are averaged: a normal model with the
	 * robust CV (inflated for a small sample), and the chosen estimator's
	 * own backtest hit rate (shrunk towards the model with 2 pseudo
	 * counts). A count factor n / (n + 1) then keeps thin histories low.
	 */
	size_t k = n < PRED_DISP_WINDOW ? n : PRED_DISP_WINDOW;
	double cv = pred__robust_cv(bt.d + n - k, k, PRED_PRIOR_CV);
	double p_model = pred__p_within20(cv * sqrt(1.0 + 1.0 / (double)n));
	double p = p_model;
	if (bt.positions > 0)
		p = ((double)bt.hits[best] + 2.0 * p_model) /
			((double)bt.positions + 2.0);
	p = 0.5 * (p + p_model);
	double conf = p * (double)n / ((double)n + 1.0);

	double f = context_factor(ctx);
	out->source = PRED_SRC_HISTORY;
	out->basis = PRED_BASIS_EXACT;
	out->base_sec = base;
	out->total_sec = base * f;
	out->context_factor = f;
	out->confidence = conf < 0 ? 0 : (conf > 1 ? 1 : conf);
	out->n_history = n;
	out->similarity = 1.0;
	return PRED_OK;
}

int pred_estimate(const struct pred_history *h, const struct pred_context *ctx,
		  struct pred_estimate *out)
{
	return pred__estimate_policy(h, ctx, PRED_POL_SELECT, out);
}
