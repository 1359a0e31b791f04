/*
 * internal.h - helpers shared by the files of predict/; not part of the
 * API server/ uses. Pure functions, no allocation.
 */
#ifndef RACEBOARD_PREDICT_INTERNAL_H
#define RACEBOARD_PREDICT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "predict.h"

/* Median of v[0..n-1] (n > 0; only the last 128 count); v is not changed. */
double pred__median(const double *v, size_t n);

/*
 * Robust coefficient of variation of v[0..n-1]: 1.4826 * MAD / median,
 * floored at 0.01; `prior` when n < 3.
 */
double pred__robust_cv(const double *v, size_t n, double prior);

/* P(|error| <= 20 %) for a normal error with this relative spread. */
double pred__p_within20(double cv);

/*
 * Estimation policies (estimate.c): how a key's estimate is made from its
 * own passed runs. PRED_POL_SELECT is the per-key choice among the
 * backtested candidates (pred_estimate, with the spike guard); the others
 * are one simple estimator each, on all the kept runs: the mean of the
 * last 3, the median, an EWMA (0.3) and the last value. model.c picks one
 * per source by the policies' own online errors on that source's runs.
 */
enum pred_policy {
	PRED_POL_SELECT,
	PRED_POL_MEAN3,
	PRED_POL_MEDIAN,
	PRED_POL_EWMA,
	PRED_POL_LAST,
	PRED_POLICIES
};
_Static_assert(PRED_POLICIES == PRED_HIST_POLICIES,
	       "a history records every policy");

struct pred_history;
struct pred_context;
struct pred_estimate;

/* Each policy's estimate (before any context factor) from h's passed
 * runs into base[]. PRED_OK, or PRED_ENODATA without passed runs. */
int pred__policy_bases(const struct pred_history *h,
		       double base[PRED_POLICIES]);

/* pred_estimate() with the given policy; PRED_EINVAL for an unknown
 * one. */
int pred__estimate_policy(const struct pred_history *h,
			  const struct pred_context *ctx, int policy,
			  struct pred_estimate *out);

/* String -> u32 map (strmap.c). Zero-initialize; strings are copied. */
struct strmap_slot {
	char *s;        /* owned; NULL: empty */
	uint64_t hash;
	uint32_t val;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;     /* power of two */
	size_t n;
};

/* 1 and *val when s is present, else 0. */
int pred__strmap_get(const struct strmap *m, const char *s, uint32_t *val);

/*
 * Inserts s (copied) -> val; s must be absent. *stored (may be NULL) gets
 * the map's copy, valid until it is deleted. PRED_OK or PRED_ENOMEM (the
 * map is unchanged apart from capacity).
 */
int pred__strmap_put(struct strmap *m, const char *s, uint32_t val,
		     char **stored);

/* Removes s if present. */
void pred__strmap_del(struct strmap *m, const char *s);

/* Frees the table and its strings; the map is zeroed. */
void pred__strmap_fini(struct strmap *m);

#endif
