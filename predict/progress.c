/*
 * progress.c - what the server says about a race while it runs: the live
 * remaining-time estimate (pred_live), the learned update cadence and the
 * progress prediction.
 *
 * Pure: "now" and every report time come in as arguments; the per-race
 * struct pred_track is embedded in the caller's race state.
 */
#include "predict.h"

#include <math.h>
#include <string.h>

#define CADENCE_PCTL 0.9
#define CONF_REPORTED 0.9
#define CONF_INTERPOLATED 0.7
#define CONF_ESTIMATED_SCALE 0.5

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

void pred_track_init(struct pred_track *t)
{
	memset(t, 0, sizeof *t);
}

/* The k-th most recent report (k = 0 is the last one); k < kept. */
static size_t point_at(const struct pred_track *t, size_t k)
{
	return (t->n_points - 1 - k) % PRED_TRACK_POINTS;
}

/*
 * How well the key's own shapes predicted each other: for every mark and
 * every run with a share u there, the others' geometric mean share ū
 * predicts its total as (time at the mark) / ū, which is within +-20 % of
 * the time left when |u / ū - 1| <= 0.2 (1 - u). Counts hits and pairs.
 */
static void shape_backtest(const struct pred_prior *pr, double *hits,
			   size_t *n)
{
	*hits = 0;
	*n = 0;
	for (size_t i = 0; i < PRED_SHAPE_MARKS; i++) {
		double sum = 0;
		size_t m = 0;
		for (size_t j = 0; j < pr->n_shape; j++)
			if (pr->shape[j][i]) {
				sum += log(pr->shape[j][i] / 65535.0);
				m++;
			}
		for (size_t j = 0; m >= 2 && j < pr->n_shape; j++) {
			if (!pr->shape[j][i])
				continue;
			double u = pr->shape[j][i] / 65535.0;
			double ub = exp((sum - log(u)) / (double)(m - 1));
			*hits += fabs(u / ub - 1) <= 0.2 * (1 - u);
			(*n)++;
		}
	}
}

void pred_track_begin(struct pred_track *t, int64_t started_ms,
		      const struct pred_prior *prior)
{
	pred_track_init(t);
	t->begun = 1;
	t->started_ms = started_ms;
	if (prior && prior->has && prior->total_sec > 0) {
		t->prior = *prior;
		shape_backtest(&t->prior, &t->shape_bt_hits, &t->shape_bt_n);
	}
}

/* The evidence at a report: the total that the average rate since the
 * anchor implies, as log, and g = (1 - f) / f. 0 when there is none yet:
 * no progress since the anchor, or the anchor itself is the report. */
static int evidence_at(const struct pred_track *t, int64_t at_ms, int progress,
		       double *log_total, double *g, double *q)
{
	double ta = (double)(t->anchor_ms - t->started_ms) / 1000.0;
	double el = (double)(at_ms - t->started_ms) / 1000.0;
	int pa = t->anchor_pct;

	if (progress <= pa || at_ms <= t->anchor_ms || pa >= 100) {
		/* Only the start to go by: the average rate since then. */
		if (progress <= 0 || !(el > 0))
			return 0;
		ta = 0;
		pa = 0;
	}
	double f = (double)(progress - pa) / (100.0 - pa);
	*log_total = log(ta + (el - ta) / f);
	*g = (1 - f) / f;
	*q = 0.5 / (progress - pa);  /* whole-percent rounding */
	return 1;
}

/* Steadiness: how far the implied log total moved since the last report,
 * against how much of g was used up (see struct pred_track). */
static void track_steadiness(struct pred_track *t, int64_t now_ms,
			     int progress)
{
	double lt, g, q;

	if (!t->begun)
		return;
	if (t->n_points == 0) {
		t->anchor_ms = now_ms;
		t->anchor_pct = progress;
		return;
	}
	if (progress >= 100 || !evidence_at(t, now_ms, progress, &lt, &g, &q))
		return;
	if (t->have_last && t->last_g > g) {
		double d = lt - t->last_log_total;
		t->sum_sq_step += d * d;
		t->sum_g_span += t->last_g - g;
	}
	if (!t->have_last || t->last_g > g) {
		t->last_log_total = lt;
		t->last_g = g;
		t->have_last = 1;
	}
}

int pred_track_observe(struct pred_track *t, int64_t now_ms, int progress)
{
	if (!t || progress < 0 || progress > 100)
		return PRED_EINVAL;
	if (t->n_points > 0) {
		int64_t last = t->t_ms[point_at(t, 0)];
		if (now_ms < last)
			return PRED_EINVAL;
		t->gaps[t->n_gaps % PRED_TRACK_GAPS] = (double)(now_ms - last) / 1000.0;
		t->n_gaps++;
	}
	track_steadiness(t, now_ms, progress);
	while (t->n_marks < PRED_SHAPE_MARKS &&
	       progress >= pred_shape_marks[t->n_marks])
		t->mark_ms[t->n_marks++] = now_ms;
	size_t i = t->n_points % PRED_TRACK_POINTS;
	t->t_ms[i] = now_ms;
	t->pct[i] = progress;
	t->n_points++;
	return PRED_OK;
}

int pred_track_cadence(const struct pred_track *t, int *hint_sec)
{
	if (!t || !hint_sec)
		return PRED_EINVAL;
	if (t->n_gaps < PRED_CADENCE_MIN_GAPS)
		return PRED_ENODATA;
	size_t n = t->n_gaps < PRED_TRACK_GAPS ? t->n_gaps : PRED_TRACK_GAPS;
	double g[PRED_TRACK_GAPS];
	memcpy(g, t->gaps, n * sizeof *g);
	for (size_t i = 1; i < n; i++) {  /* insertion sort: n <= 20 */
		double x = g[i];
		size_t j = i;
		while (j > 0 && g[j - 1] > x) {
			g[j] = g[j - 1];
			j--;
		}
		g[j] = x;
	}
	/* Nearest-rank percentile: ceil(0.9 n)-th smallest. */
	size_t rank = (size_t)ceil(CADENCE_PCTL * (double)n);
	double v = ceil(g[rank - 1]);
	*hint_sec = (int)clampd(v, PRED_CADENCE_MIN_SEC, PRED_CADENCE_MAX_SEC);
	return PRED_OK;
}

int pred_track_shape(const struct pred_track *t, int64_t end_ms,
		     uint16_t shape[PRED_SHAPE_MARKS])
{
	if (!t || !shape || (t->begun && end_ms <= t->started_ms))
		return PRED_EINVAL;
	memset(shape, 0, PRED_SHAPE_MARKS * sizeof *shape);
	if (!t->begun || t->n_marks == 0)
		return PRED_ENODATA;
	double dur = (double)(end_ms - t->started_ms);
	for (size_t i = 0; i < t->n_marks; i++) {
		double u = (double)(t->mark_ms[i] - t->started_ms) / dur;
		shape[i] = (uint16_t)clampd(floor(u * 65535.0 + 0.5), 1, 65535);
	}
	return PRED_OK;
}

void pred_prior_shape(struct pred_prior *prior, const struct pred_history *h)
{
	if (!prior)
		return;
	prior->n_shape = h ? h->n_shape : 0;
	if (prior->n_shape)
		memcpy(prior->shape, h->shape,
		       prior->n_shape * sizeof prior->shape[0]);
}

int pred_track_rate(const struct pred_track *t, int64_t started_ms,
		    double *rate_per_sec)
{
	if (!t || !rate_per_sec)
		return PRED_EINVAL;
	if (t->n_points == 0)
		return PRED_ENODATA;
	size_t kept = t->n_points < PRED_TRACK_POINTS ? t->n_points :
		PRED_TRACK_POINTS;
	size_t a = point_at(t, kept - 1), b = point_at(t, 0);
	double dt = (double)(t->t_ms[b] - t->t_ms[a]) / 1000.0;
	double dp = t->pct[b] - t->pct[a];
	if (kept < 2 || dt <= 0) {
		/* One report: the average rate since the start. */
		dt = (double)(t->t_ms[b] - started_ms) / 1000.0;
		dp = t->pct[b];
		if (dt <= 0)
			return PRED_ENODATA;
	}
	*rate_per_sec = dp > 0 ? dp / dt : 0;
	return PRED_OK;
}

/* ---- the live estimate ---------------------------------------------- */

/* Global steadiness k^2 that a race's own steps are shrunk towards, with
 * the weight of PRED_LIVE_W0 units of (1 - f) / f; chosen on the trace
 * corpus (docs/PREDICTION.md). */
#ifndef PRED_LIVE_K0
#define PRED_LIVE_K0 0.3
#endif
#ifndef PRED_LIVE_W0
#define PRED_LIVE_W0 1.0
#endif
#ifndef PRED_LIVE_RECENT
#define PRED_LIVE_RECENT 0.5
#endif
#ifndef PRED_LIVE_CONF_SCALE
#define PRED_LIVE_CONF_SCALE 3.0
#endif
#ifndef PRED_LIVE_NU
#define PRED_LIVE_NU 2.0
#endif
/* The spread of log(share of the duration) at a progress mark that the
 * key's own runs are shrunk towards, with the weight of PRED_LIVE_SHAPE_W
 * runs (pred_live's shape evidence). */
#ifndef PRED_LIVE_SHAPE_S
#define PRED_LIVE_SHAPE_S 0.1
#endif
#ifndef PRED_LIVE_SHAPE_W
#define PRED_LIVE_SHAPE_W 1.0
#endif
#ifndef PRED_LIVE_CONF_K
#define PRED_LIVE_CONF_K 3.0
#endif
#ifndef PRED_LIVE_RATE_FLOOR
#define PRED_LIVE_RATE_FLOOR 0.2
#endif
/* Without a prior, an ETA from progress alone needs sd(log total) below
 * this: "no ETA" beats a confident-looking wrong one. */
#define LIVE_MAX_SIGMA 0.5
#define SIGMA_MIN 0.01

/* The sd of log(total) that makes P(|error| < 20 %) = conf, for a normal
 * error in log space: conf = erf(0.2 / (sqrt 2 sigma)). Bisection. */
static double sigma_of_conf(double conf)
{
	double c = clampd(conf, 0.02, 0.98), lo = 0.005, hi = 20;

	for (int i = 0; i < 60; i++) {
		double mid = 0.5 * (lo + hi);
		if (erf(0.2 / (M_SQRT2 * mid)) > c)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

/* The prior N(m, s^2) of log(total) once the race has run `a` (log
 * seconds): it cannot end before, so the mean becomes that of the normal
 * conditioned on x > a. */
static void truncate_normal(double *m, double *s, double a)
{
	double z = (a - *m) / *s;
	if (z < -8)
		return;
	double tail = 0.5 * erfc(z / M_SQRT2);
	double phi = exp(-0.5 * z * z) / sqrt(2 * M_PI);
	double lambda = tail > 1e-300 ? phi / tail : z;
	*m = fmax(*m + *s * lambda, a);
	/* Not the truncated normal's narrower sd: a run that outlives its
	 * prediction says the prediction was off, and real durations have
	 * heavier tails than a normal. Trust falls as the overrun grows. */
	if (z > 0)
		*s *= 1 + z;
}

/* Share of the duration at which run j of the prior's shapes first
 * reached progress p (1..100), interpolated between its marks; 0 when
 * unknown (a mark it never reached). */
static double shape_share(const struct pred_prior *pr, size_t j, int p)
{
	size_t i = 0;
	while (i + 1 < PRED_SHAPE_MARKS && pred_shape_marks[i] < p)
		i++;
	double hi = pr->shape[j][i] / 65535.0;
	if (pred_shape_marks[i] == p || i == 0)
		return hi * (i == 0 ? (double)p / pred_shape_marks[0] : 1);
	double lo = pr->shape[j][i - 1] / 65535.0;
	if (!(lo > 0) || !(hi > 0))
		return 0;
	int a = pred_shape_marks[i - 1], b = pred_shape_marks[i];
	return lo + (hi - lo) * (p - a) / (b - a);
}

/* The shape evidence: the total that the key's earlier runs imply for a
 * run that reached progress p at el seconds, log(el / u) with u the mean
 * log share of the duration at which they reached p, and its variance:
 * their spread, shrunk towards PRED_LIVE_SHAPE_S, plus the uncertainty
 * of their mean and of whole-percent rounding. 0 when none applies. */
static int shape_evidence(const struct pred_prior *pr, double el, int p,
			  double *m, double *var)
{
	double lu[PRED_SHAPE_RUNS], sum = 0, ss = 0;
	size_t n = 0;

	if (p <= 0 || p > 100 || !(el > 0))
		return 0;
	for (size_t j = 0; j < pr->n_shape; j++) {
		double u = shape_share(pr, j, p);
		if (u > 0) {
			lu[n] = log(u);
			sum += lu[n++];
		}
	}
	if (n == 0)
		return 0;
	double mean = sum / n;
	for (size_t j = 0; j < n; j++)
		ss += (lu[j] - mean) * (lu[j] - mean);
	double s0 = PRED_LIVE_SHAPE_S;
	*var = (ss + s0 * s0 * PRED_LIVE_SHAPE_W) /
		((double)n - 1 + PRED_LIVE_SHAPE_W) * (1 + 1.0 / n) +
		(0.5 / p) * (0.5 / p);
	*m = log(el) - mean;
	return 1;
}

int pred_live(const struct pred_track *t, int64_t now_ms,
	      struct pred_live *out)
{
	if (!out)
		return PRED_EINVAL;
	memset(out, 0, sizeof *out);
	if (!t || !t->begun || now_ms < t->started_ms)
		return PRED_EINVAL;
	double now = (double)(now_ms - t->started_ms) / 1000.0;
	double lnow = log(fmax(now, 1e-3));
	double w_prior = 0, m_prior = 0, s_prior = 0;
	if (t->prior.has) {
		m_prior = log(t->prior.total_sec);
		s_prior = sigma_of_conf(t->prior.confidence);
		truncate_normal(&m_prior, &s_prior, lnow);
		w_prior = 1 / (s_prior * s_prior);
	}

	/* The evidence: the total the last report implies. */
	double w_ev = 0, m_ev = 0;
	double lt, g, q;
	if (t->n_points > 0 &&
	    evidence_at(t, t->t_ms[point_at(t, 0)], t->pct[point_at(t, 0)],
			&lt, &g, &q)) {
		double k2 = (t->sum_sq_step + PRED_LIVE_K0 * PRED_LIVE_K0 *
			     PRED_LIVE_W0) / (t->sum_g_span + PRED_LIVE_W0);
		/* k^2 g: the rate's own noise, shrinking as the work is
		 * done; q^2: whole-percent rounding. (A constant term for
		 * what no rate model sees did not help on the corpus.) */
		double var = k2 * g + q * q;
		m_ev = fmax(lt, lnow);
		w_ev = 1 / fmax(var, SIGMA_MIN * SIGMA_MIN);
		/* The rate over the last reports, for a race that changed
		 * pace (a build's link step, git's phases): blended into the
		 * evidence's log total by a fixed share. */
		double rate, el = (double)(t->t_ms[point_at(t, 0)] -
					   t->started_ms) / 1000.0;
		int p = t->pct[point_at(t, 0)];
		if (p < 100 && t->n_points > 2 &&
		    pred_track_rate(t, t->started_ms, &rate) == PRED_OK &&
		    rate > 0) {
			double lr = log(el + (100 - p) / rate);
			m_ev = fmax((1 - PRED_LIVE_RECENT) * m_ev +
				    PRED_LIVE_RECENT * lr, lnow);
		}
	}
	double m_sh, v_sh;
	if (t->n_points > 0 &&
	    shape_evidence(&t->prior, (double)(t->t_ms[point_at(t, 0)] -
					       t->started_ms) / 1000.0,
			   t->pct[point_at(t, 0)], &m_sh, &v_sh)) {
		/* The key's earlier runs measured what the rate cannot see:
		 * start-up, phases that run at other paces, the time after
		 * the bar's end. The rate's evidence keeps a floor of
		 * PRED_LIVE_RATE_FLOOR for that, and the two are pooled by
		 * inverse variance. */
		double w_sh = 1 / fmax(v_sh, SIGMA_MIN * SIGMA_MIN);
		if (w_ev > 0)
			w_ev = 1 / (1 / w_ev + PRED_LIVE_RATE_FLOOR *
				    PRED_LIVE_RATE_FLOOR);
		m_ev = (w_ev * m_ev + w_sh * fmax(m_sh, lnow)) / (w_ev + w_sh);
		w_ev += w_sh;
	}
	if (w_prior > 0 && w_ev > 0) {
		/* Prior and evidence that disagree far beyond their spreads:
		 * one of them is wrong, and the race's own progress is about
		 * this run. Student-t weighting (PRED_LIVE_NU degrees of
		 * freedom) discounts the prior instead of averaging the two
		 * into a value neither supports. */
		double z2 = (m_prior - m_ev) * (m_prior - m_ev) *
			    w_prior * w_ev / (w_prior + w_ev);
		w_prior *= fmin(1, (PRED_LIVE_NU + 1) / (PRED_LIVE_NU + z2));
	}
	if (w_prior + w_ev <= 0)
		return PRED_ENODATA;
	double sigma = 1 / sqrt(w_prior + w_ev);
	if (!t->prior.has && sigma > LIVE_MAX_SIGMA)
		return PRED_ENODATA;
	double m = (w_prior * m_prior + w_ev * m_ev) / (w_prior + w_ev);
	double total = fmax(exp(m), now);
	out->total_sec = total;
	out->remaining_sec = total - now;
	out->sigma = sigma;
	out->w_progress = w_ev / (w_prior + w_ev);
	out->source = out->w_progress >= 0.5 || !t->prior.has ?
		PRED_SRC_PROGRESS : t->prior.source;
	/* Within +-20 % of the remaining time: |log error| below
	 * 0.2 remaining / total. sigma is the model's; real errors on the
	 * trace corpus are about PRED_LIVE_CONF_SCALE times wider (shapes
	 * and tails no rate model sees), and with it the stated confidence
	 * matches the hit rate on average (docs/PREDICTION.md). */
	double tol = 0.2 * fmax(out->remaining_sec, 1e-3) / total;
	double conf = erf(tol / (M_SQRT2 * sigma * PRED_LIVE_CONF_SCALE));
	/* The model's spread ranks reports poorly on the corpus; what does
	 * tell the jobs apart is how well the key's own earlier shapes
	 * predicted each other. With two or more shapes, that backtest's
	 * hit rate is shrunk towards the model with PRED_LIVE_CONF_K runs'
	 * weight (docs/PREDICTION.md, calibration). */
	if (t->prior.n_shape >= 2 && t->shape_bt_n > 0) {
		double k = PRED_LIVE_CONF_K, n = (double)t->prior.n_shape;
		conf = (t->shape_bt_hits / (double)t->shape_bt_n * n +
			k * conf) / (n + k);
	}
	out->confidence = clampd(conf, 0, 0.99);
	return PRED_OK;
}

int pred_live_should_revise(int has_cur, double cur_eta_sec,
			    int64_t cur_at_ms, double new_remaining_sec,
			    int64_t now_ms, int hint_sec)
{
	if (!has_cur)
		return 1;
	double since = (double)(now_ms - cur_at_ms) / 1000.0;
	if (since < (hint_sec > 0 ? hint_sec : PRED_CADENCE_MIN_SEC))
		return 0;
	double implied = fmax(cur_eta_sec - since, 0);
	return fabs(new_remaining_sec - implied) >
		fmax(PRED_REVISE_MIN_SEC, PRED_REVISE_SHARE * implied);
}

const char *pred_progress_source_name(int source)
{
	switch (source) {
	case PRED_PROGRESS_REPORTED: return "reported";
	case PRED_PROGRESS_INTERPOLATED: return "interpolated";
	case PRED_PROGRESS_ESTIMATED: return "estimated";
	}
	return "unknown";
}

/* No progress report: derive progress from elapsed time and the ETA. */
static void estimate_from_eta(const struct pred_progress_in *in,
			      struct pred_progress *out)
{
	out->source = PRED_PROGRESS_ESTIMATED;
	if (!in->has_eta)
		return;  /* current 0, rate 0, confidence 0 */
	double elapsed = (double)(in->now_ms - in->started_ms) / 1000.0;
	double remaining = in->eta_sec -
		(double)(in->now_ms - in->eta_at_ms) / 1000.0;
	if (elapsed < 0)
		elapsed = 0;
	if (remaining < 1)
		remaining = 1;  /* overdue: creep towards 99, never reach 100 */
	double total = elapsed + remaining;
	out->current = clampd(100.0 * elapsed / total, 0, 99);
	out->rate_per_sec = 100.0 / total;
	double next = 100.0 * (elapsed + in->hint_sec) /
		(elapsed + in->hint_sec + (remaining > in->hint_sec ?
					   remaining - in->hint_sec : 1));
	out->predicted_next = clampd(next, out->current, 99);
	out->confidence = clampd(in->eta_confidence, 0, 1) * CONF_ESTIMATED_SCALE;
}

int pred_progress(const struct pred_progress_in *in, struct pred_progress *out)
{
	if (!out)
		return PRED_EINVAL;
	memset(out, 0, sizeof *out);
	if (!in || in->hint_sec <= 0)
		return PRED_EINVAL;
	const struct pred_track *t = in->track;
	if (!t || t->n_points == 0) {
		estimate_from_eta(in, out);
		return PRED_OK;
	}

	size_t b = point_at(t, 0);
	double last = t->pct[b];
	double lo = last < 99 ? last : 99;  /* "never above 99" wins at 100 */
	double age = (double)(in->now_ms - t->t_ms[b]) / 1000.0;
	if (age < 0)
		age = 0;
	double rate = 0;
	int have_rate = pred_track_rate(t, in->started_ms, &rate) == PRED_OK;
	if (in->has_eta && in->eta_is_server && last < 100) {
		/* The server's ETA as of the last report: the same rate model
		 * as the revision (pred_live), also after a restart. */
		double rem = in->eta_sec -
			(double)(t->t_ms[b] - in->eta_at_ms) / 1000.0;
		if (rem >= 1) {
			rate = (100 - last) / rem;
			have_rate = 1;
		}
	}

	if (age <= in->hint_sec) {
		out->source = PRED_PROGRESS_REPORTED;
		out->current = lo;
		out->confidence = CONF_REPORTED;
	} else {
		out->source = PRED_PROGRESS_INTERPOLATED;
		/* Extrapolate at most one window past the last report: a silent
		 * producer may be stalled (a long ninja step), and overshooting
		 * costs more than lagging (measured on tests/data traces). */
		double span = age < in->hint_sec ? age : in->hint_sec;
		out->current = clampd(last + rate * span, lo, 99);
		/* Trust fades as the race stays silent past its window. */
		double over = (age - in->hint_sec) / (4.0 * in->hint_sec);
		out->confidence = (have_rate ? CONF_INTERPOLATED : 0.3) /
			(1.0 + over);
	}
	out->rate_per_sec = rate;
	/* The next update is due at the end of the trust window, or now + hint
	 * once that has passed. */
	double due = age < in->hint_sec ? in->hint_sec : age + in->hint_sec;
	out->predicted_next = clampd(last + rate * due, out->current, 99);
	return PRED_OK;
}
