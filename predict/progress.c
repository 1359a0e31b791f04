/*
 * progress.c - what the server says about a race while it runs: revised
 * remaining time, the learned update cadence and the progress prediction.
 *
 * Pure: "now" and every report time come in as arguments; the per-race
 * struct pred_track is embedded in the caller's race state.
 */
#include "predict.h"

#include <math.h>
#include <string.h>

#define OVERDUE_FLOOR 0.05   /* remaining >= 5 % of the total once overdue */
#define CADENCE_PCTL 0.9
#define CONF_REPORTED 0.9
#define CONF_INTERPOLATED 0.7
#define CONF_ESTIMATED_SCALE 0.5

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

int pred_revise(double total_sec, double total_conf, double elapsed_sec,
		int progress, double rate_per_sec, struct pred_revision *out)
{
	if (!out || !(elapsed_sec >= 0) || progress > 100)
		return PRED_EINVAL;
	int have_progress = progress > 0 && progress < 100;
	if (!(total_sec > 0) && !have_progress)
		return PRED_EINVAL;

	double hist = 0, conf_hist = 0;
	if (total_sec > 0) {
		hist = total_sec - elapsed_sec;
		double floor_sec = OVERDUE_FLOOR * total_sec;
		if (hist < floor_sec)
			hist = floor_sec;
		/* Running past the prediction erodes trust in it. */
		double over = elapsed_sec > total_sec ?
			(elapsed_sec - total_sec) / total_sec : 0;
		conf_hist = clampd(total_conf, 0, 1) / (1.0 + 4.0 * over);
	}
	if (!have_progress) {
		out->remaining_sec = hist;
		out->confidence = conf_hist;
		return PRED_OK;
	}
	double rate = rate_per_sec > 0 ? rate_per_sec :
		(elapsed_sec > 0 ? progress / elapsed_sec : 0);
	if (!(rate > 0)) {
		out->remaining_sec = hist;
		out->confidence = conf_hist;
		return PRED_OK;
	}
	double by_rate = (100 - progress) / rate;
	/* Progress earns trust as it advances: weight p / 100. */
	double w = total_sec > 0 ? progress / 100.0 : 1.0;
	out->remaining_sec = (1 - w) * hist + w * by_rate;
	/* Rate-based remaining is about as good as the progress is far. */
	out->confidence = clampd((1 - w) * conf_hist + w * (0.4 + 0.5 * w), 0, 1);
	return PRED_OK;
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
