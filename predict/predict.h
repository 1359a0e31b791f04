/*
 * predict.h - duration prediction, learned update cadence and progress
 * prediction for races (issue 5, phase 1).
 *
 * This library is pure: no I/O, no clock, no randomness, no LMDB, no lws.
 * Time comes in as milliseconds since the Unix epoch ("ms"), durations as
 * seconds. It depends on libc and libm only; the numeric eta_source values
 * it returns equal protocol/race.h's PROTO_ETA_HISTORY (3) and
 * PROTO_ETA_DEFAULT (4) (tests/test_predict.c checks that).
 *
 * Pieces, each in its own file:
 *   key.c       pred_key(): the history key of a race (normalized title).
 *   history.c   struct pred_history: bounded per-key durations + codec.
 *   estimate.c  pred_estimate(): robust estimate + confidence of one key.
 *   model.c     struct pred_model: all keys in memory, the token index for
 *               the similar-key fallback, per-source typical durations and
 *               the build-context table; pred_model_predict() applies the
 *               fallback order. strmap.c holds its hash maps.
 *   progress.c  pred_live(), struct pred_track (cadence, rate) and
 *               pred_progress().
 * See docs/PREDICTION.md for the method and the measured accuracy.
 *
 * Threads: nothing here locks. A pred_model or pred_track belongs to one
 * thread (the server's service thread); pure functions may run anywhere.
 */
#ifndef RACEBOARD_PREDICT_PREDICT_H
#define RACEBOARD_PREDICT_PREDICT_H

#include <stddef.h>
#include <stdint.h>

/* Error codes: 0 on success, negative on failure. */
enum pred_err {
	PRED_OK = 0,
	PRED_EINVAL = -1,    /* malformed or out-of-range input */
	PRED_ENOMEM = -2,    /* allocation failed; nothing was changed */
	PRED_ELIMIT = -3,    /* a size limit would be exceeded */
	PRED_EVERSION = -4,  /* encoded history of an unknown version */
	PRED_ENODATA = -5,   /* not enough data to answer */
};

/* Returns a static description of a pred_err code; never NULL. */
const char *pred_strerror(int err);

/* ------------------------------------------------------------------ */
/* Keys (key.c)                                                        */
/* ------------------------------------------------------------------ */

/* Metadata key whose value lists identity keys: "job,shard". */
#define PRED_IDENTITY_META "raceboard.identity"
#define PRED_KEY_MAX 1536          /* bytes, including the NUL */
#define PRED_KEY_SEP '\x1f'        /* between source, title, identity */

/* A borrowed metadata entry (server/ fills these from struct proto_kv). */
struct pred_kv {
	const char *key;
	const char *value;
};

/*
 * Writes the history key of a race into dst (cap bytes, NUL-terminated):
 * "<source>\x1f<normalized title>[\x1f<k>=<v>...]".
 * Normalization (docs/PREDICTION.md has the full rules): ASCII lowercase,
 * control characters to spaces, whitespace collapsed and trimmed; then,
 * at word boundaries, UUIDs -> "<uuid>", dates (with an optional time)
 * -> "<date>", times -> "<time>", hex runs of >= 7 characters with a
 * digit and a letter -> "<hex>", whole numbers -> "<n>". Dotted versions
 * (1.10, 2.0.1) and digits inside words (x86_64, i686, aarch64) are kept,
 * so distinct jobs stay apart. The identity keys named in the metadata
 * value of PRED_IDENTITY_META (comma-separated, trimmed, sorted, deduped)
 * are appended with their values lowercased and whitespace-collapsed but
 * not stripped of numbers: a producer marked them as identity.
 * meta (borrowed, may be NULL when n_meta is 0) is the race's metadata.
 * Returns PRED_OK, PRED_EINVAL (NULL source/title/dst) or PRED_ELIMIT
 * (the key does not fit; dst then holds an empty string).
 */
int pred_key(const char *source, const char *title,
	     const struct pred_kv *meta, size_t n_meta, char *dst, size_t cap);

/*
 * Splits a normalized title into similarity tokens: maximal runs of
 * [a-z0-9] not inside a placeholder, deduplicated, at most max_tokens,
 * each truncated to PRED_TOKEN_MAX - 1 bytes. Returns the count.
 */
#define PRED_TOKEN_MAX 48
#define PRED_TOKENS_MAX 32
size_t pred_tokens(const char *normalized_title,
		   char out[][PRED_TOKEN_MAX], size_t max_tokens);

/* ------------------------------------------------------------------ */
/* History (history.c)                                                 */
/* ------------------------------------------------------------------ */

enum pred_outcome {
	PRED_PASSED = 0,
	PRED_FAILED = 1,
	PRED_CANCELED = 2,
};

#define PRED_HIST_PASSED_MAX 50    /* passed runs kept per key */
#define PRED_HIST_OTHER_MAX 10     /* failed/canceled runs kept per key */
#define PRED_HIST_VERSION 3         /* written with a policy record; 2 with
					shapes only; 1 else */
/* Estimation policies whose online errors a history records (see
 * pred_history_add_scored; model.c picks a source's policy by them). */
#define PRED_HIST_POLICIES 5
/*
 * Progress shapes: for the last PRED_SHAPE_RUNS passed runs that reported
 * progress, the share of the run's duration at which progress first
 * reached each of PRED_SHAPE_MARKS marks (pred_shape_marks: 1, 2, 5, 10,
 * 20, ... 100 %), as u16 (share x 65535; 0: mark never reached).
 */
#define PRED_SHAPE_MARKS 13
#define PRED_SHAPE_RUNS 10
extern const int pred_shape_marks[PRED_SHAPE_MARKS];
/* Largest encoding: header + both rings at 13 bytes per run + shapes +
 * the policy record (u32 count, u64 per policy). */
#define PRED_HIST_ENCODED_MAX (4 + 13 * (PRED_HIST_PASSED_MAX + \
	PRED_HIST_OTHER_MAX) + 2 * PRED_SHAPE_MARKS * PRED_SHAPE_RUNS + \
	4 + 8 * PRED_HIST_POLICIES)

struct pred_run {
	int64_t end_ms;       /* when the run finished */
	double duration_sec;  /* >= 0; stored with millisecond precision */
};

/*
 * Per-key history: passed runs and failed/canceled runs in separate
 * rings, so early-ending failures never displace or skew the passed
 * durations the estimator uses. Embedded; no heap. Oldest first.
 */
struct pred_history {
	struct pred_run passed[PRED_HIST_PASSED_MAX];
	size_t n_passed;
	struct pred_run other[PRED_HIST_OTHER_MAX];
	uint8_t other_outcome[PRED_HIST_OTHER_MAX];
	size_t n_other;
	uint16_t shape[PRED_SHAPE_RUNS][PRED_SHAPE_MARKS];  /* oldest first */
	size_t n_shape;
	/* The policy record (pred_history_add_scored): passed runs scored,
	 * and each policy's summed absolute error on them, in ms. Stored
	 * with the history, so a reload (a restart, another cluster node)
	 * chooses the same policies as the model that recorded it. */
	uint64_t pol_n;
	uint64_t pol_loss_ms[PRED_HIST_POLICIES];
};

/* Zeroes a history. */
void pred_history_init(struct pred_history *h);

/*
 * Appends a finished run, dropping the oldest one of its ring when full.
 * Returns PRED_OK, or PRED_EINVAL (negative or non-finite duration,
 * unknown outcome) with h unchanged.
 */
int pred_history_add(struct pred_history *h, enum pred_outcome outcome,
		     double duration_sec, int64_t end_ms);

/*
 * The same, with the run's progress shape (borrowed, PRED_SHAPE_MARKS
 * values from pred_track_shape(); NULL or all zero: none). A passed run's
 * shape joins the shape ring (oldest dropped when full); other outcomes
 * ignore it. Returns as pred_history_add, h unchanged on failure.
 */
int pred_history_add_shaped(struct pred_history *h, enum pred_outcome outcome,
			    double duration_sec, int64_t end_ms,
			    const uint16_t *shape);

/*
 * pred_history_add_shaped(), and for a passed run first scores what each
 * estimation policy predicts from h's passed runs against it, into the
 * policy record (pol_n, pol_loss_ms). The model and server/learn.c add
 * runs this way, so the record stored with a history is the one the
 * model chose by. Returns as pred_history_add, h unchanged on failure.
 */
int pred_history_add_scored(struct pred_history *h, enum pred_outcome outcome,
			    double duration_sec, int64_t end_ms,
			    const uint16_t *shape);

/*
 * Encodes h into dst (cap bytes; PRED_HIST_ENCODED_MAX always suffices):
 * a version byte, then both rings (see history.c for the layout). Stores
 * the byte count in *len. Returns PRED_OK or PRED_ELIMIT (cap too small;
 * *len unchanged).
 */
int pred_history_encode(const struct pred_history *h, uint8_t *dst,
			size_t cap, size_t *len);

/*
 * Decodes an encoding made by pred_history_encode into *h. Returns
 * PRED_OK, PRED_EVERSION (unknown version byte) or PRED_EINVAL
 * (truncated or inconsistent); on failure *h is unchanged.
 */
int pred_history_decode(const uint8_t *src, size_t len,
			struct pred_history *h);

/* ------------------------------------------------------------------ */
/* Estimation (estimate.c)                                             */
/* ------------------------------------------------------------------ */

/* Where a prediction came from; values 3 and 4 are eta_source values. */
enum pred_source {
	PRED_SRC_NONE = 0,
	PRED_SRC_HISTORY = 3,  /* this key's history, or a similar key's */
	PRED_SRC_DEFAULT = 4,  /* the source's typical duration */
	PRED_SRC_PROGRESS = 5, /* a running race's own progress (pred_live) */
};

/* Which data a history prediction used (finer than eta_source). */
enum pred_basis {
	PRED_BASIS_NONE = 0,
	PRED_BASIS_EXACT,    /* the key's own history */
	PRED_BASIS_SIMILAR,  /* the most similar key of the same source */
	PRED_BASIS_SOURCE,   /* the source's recent durations */
};

/*
 * Optional context: how the races that share this race's build (or
 * pipeline, or commit) and already finished ran against their own
 * predictions, as log(actual / base prediction). Borrowed.
 */
struct pred_context {
	const double *log_ratios;
	size_t n;
};

struct pred_estimate {
	int source;            /* enum pred_source */
	int basis;             /* enum pred_basis */
	double total_sec;      /* predicted total duration */
	double base_sec;       /* the same before the context factor */
	double confidence;     /* 0..1; see docs/PREDICTION.md */
	double context_factor; /* multiplier applied from the context (1: none) */
	size_t n_history;      /* passed runs the estimate rests on */
	double similarity;     /* Jaccard of the key used (1 for exact) */
};

/*
 * Estimates the total duration of the next run from the passed runs of
 * one history, and applies the context factor when ctx (borrowed, may be
 * NULL) has entries. Cost: O(H * W) with H <= PRED_HIST_PASSED_MAX runs
 * and a backtest window of W <= 30 positions: bounded, no allocation.
 * Returns PRED_OK with *out filled (source HISTORY, basis EXACT), or
 * PRED_ENODATA when h has no passed run (*out zeroed).
 */
int pred_estimate(const struct pred_history *h, const struct pred_context *ctx,
		  struct pred_estimate *out);

/*
 * Builds the context entry of one finished run: log(actual / base), both
 * in seconds, clamped to [-1, 1]. Returns 0 when either is not positive.
 */
double pred_context_ratio(double actual_sec, double base_sec);

/* ------------------------------------------------------------------ */
/* The in-memory model (model.c)                                       */
/* ------------------------------------------------------------------ */

struct pred_model;  /* opaque */

struct pred_model_limits {
	size_t max_keys;            /* keys kept; 0: 100000 */
	size_t max_postings;        /* keys per (source, token); 0: 256 */
	size_t max_contexts;        /* build contexts remembered; 0: 256 */
	double min_similarity;      /* Jaccard for the fallback; 0: 0.5 */
	int use_context;            /* 1: apply the build-context factor */
};

/* Returns a new empty model (owned; free with pred_model_free), or NULL. */
struct pred_model *pred_model_new(const struct pred_model_limits *lim);

/* Frees a model and everything it owns. NULL is a no-op. */
void pred_model_free(struct pred_model *m);

/*
 * Records a finished race. key (borrowed) comes from pred_key(); context
 * (borrowed, may be NULL or "") names its build, e.g. the value of the
 * metadata key the server is configured to use ("build"). Before adding
 * the run, the key's base prediction is compared with the actual duration
 * and the ratio is appended to the context, so later races of the same
 * build are adjusted. Passed runs also feed the source's typical duration.
 * Returns PRED_OK, PRED_EINVAL (bad key or duration), PRED_ELIMIT (a new
 * key while max_keys are held) or PRED_ENOMEM; on failure the run is not
 * recorded (a key seen for the first time may stay, with no runs).
 */
int pred_model_record(struct pred_model *m, const char *key,
		      const char *context, enum pred_outcome outcome,
		      double duration_sec, int64_t end_ms);

/* The same, with the run's progress shape (borrowed; NULL: none), as for
 * pred_history_add_shaped(). */
int pred_model_record_shaped(struct pred_model *m, const char *key,
			     const char *context, enum pred_outcome outcome,
			     double duration_sec, int64_t end_ms,
			     const uint16_t *shape);

/*
 * Loads a stored history for key (borrowed) at startup, replacing any it
 * had. Returns PRED_OK, PRED_EINVAL, PRED_ELIMIT or PRED_ENOMEM.
 */
int pred_model_load(struct pred_model *m, const char *key,
		    const struct pred_history *h);

/* The history of key, borrowed until the next model call, or NULL. */
const struct pred_history *pred_model_history(const struct pred_model *m,
					      const char *key);

/*
 * Predicts the total duration of a new race with this key, in fallback
 * order: the key's own history (source 3, basis EXACT); else the most
 * similar key of the same source with Jaccard >= min_similarity (source 3,
 * basis SIMILAR, confidence scaled down); else the median of the source's
 * recent passed durations (source 4, basis SOURCE, confidence <= 0.3);
 * else nothing. context (borrowed, may be NULL) is as for record; its
 * factor applies only while it has made this source's predictions
 * better on balance (judged once the source has 50
 * finished runs with a factor to apply; the record is in memory only).
 * Cost: O(1) hash lookups plus, for the fallback, O(T * P) with
 * T <= PRED_TOKENS_MAX tokens and P <= max_postings keys per token: never
 * a scan over all keys. The model's scratch space is written, so calls on
 * one model must not overlap.
 * Returns PRED_OK with *out filled, or PRED_ENODATA (no ETA; *out zeroed,
 * source NONE) or PRED_EINVAL.
 */
int pred_model_predict(struct pred_model *m, const char *key,
		       const char *context, struct pred_estimate *out);

/* Number of keys held. */
size_t pred_model_count(const struct pred_model *m);

/* ------------------------------------------------------------------ */
/* Running races (progress.c)                                          */
/* ------------------------------------------------------------------ */

#define PRED_TRACK_GAPS 20       /* gaps kept for the cadence */
#define PRED_TRACK_POINTS 8      /* progress reports kept for the rate */
#define PRED_CADENCE_MIN_GAPS 3
#define PRED_CADENCE_MIN_SEC 1
#define PRED_CADENCE_MAX_SEC 300

/*
 * What was known about a race's total duration before it ran: the
 * prediction it was created with (pred_model_predict), or nothing.
 */
struct pred_prior {
	int has;               /* 0: no prediction (no ETA when created) */
	double total_sec;      /* > 0 */
	double confidence;     /* 0..1: P(the run lands within +-20 %) */
	int source;            /* PRED_SRC_HISTORY or PRED_SRC_DEFAULT */
	/* The progress shapes of the key's recent runs (pred_prior_shape;
	 * n_shape 0: none), copied from its history. */
	uint16_t shape[PRED_SHAPE_RUNS][PRED_SHAPE_MARKS];
	size_t n_shape;
};

/*
 * Copies the progress shapes of h (borrowed; NULL: none) into the prior.
 * Only the race's own key's history describes its shape: call it for an
 * EXACT-basis prediction only.
 */
void pred_prior_shape(struct pred_prior *prior, const struct pred_history *h);

/* Per running race: recent progress reports. Embedded; init with zeroes. */
struct pred_track {
	int64_t t_ms[PRED_TRACK_POINTS];   /* ring of report times */
	int pct[PRED_TRACK_POINTS];        /* and values */
	size_t n_points;                   /* total reports seen */
	double gaps[PRED_TRACK_GAPS];      /* ring of gaps, seconds */
	size_t n_gaps;                     /* total gaps seen */
	/* Set by pred_track_begin(); without it pred_live() has no start. */
	int begun;
	int64_t started_ms;
	struct pred_prior prior;
	/* The first report seen (pred_live's anchor: the time before it is
	 * start-up, not work, so rates are measured from it). */
	int64_t anchor_ms;
	int anchor_pct;
	/* How steady this race's rate has been (pred_live): the log of the
	 * total that the average rate since the anchor implies at the last
	 * report, its g = (1 - f) / f with f the share of the work left at
	 * the anchor that is done, and the sums of squared steps of that log
	 * and of the spans of g between reports. */
	int have_last;
	double last_log_total, last_g;
	double sum_sq_step, sum_g_span;
	/* When progress first reached each of pred_shape_marks. */
	int64_t mark_ms[PRED_SHAPE_MARKS];
	size_t n_marks;
	/* The prior's shapes backtested against each other (leave one run
	 * out, every mark): the share of hits within +-20 % of the time
	 * left, over shape_bt_n scored (run, mark) pairs. */
	double shape_bt_hits;
	size_t shape_bt_n;
};

/* Zeroes a tracker. */
void pred_track_init(struct pred_track *t);

/*
 * Records a progress report (0..100) at now_ms. Reports that go back in
 * time are ignored (returns PRED_EINVAL, t unchanged). A report with the
 * same value as the last one still counts for the cadence.
 */
int pred_track_observe(struct pred_track *t, int64_t now_ms, int progress);

/*
 * Starts a tracker for a race that started at started_ms with the given
 * prior (borrowed; NULL: none). Call before the first pred_track_observe:
 * reports observed before it do not count towards the steadiness.
 */
void pred_track_begin(struct pred_track *t, int64_t started_ms,
		      const struct pred_prior *prior);

/*
 * Learned update cadence: the 90th percentile of the last (up to 20)
 * gaps between reports, rounded up and clamped to [1, 300] seconds. The
 * floor is eta_sec's resolution; the hint is also the shortest interval
 * between ETA revisions (pred_live_should_revise), so a 2 s floor would
 * leave a race of a few seconds with the ETA it was created with.
 * Returns PRED_OK with *hint_sec, or PRED_ENODATA before 3 gaps.
 */
int pred_track_cadence(const struct pred_track *t, int *hint_sec);

/*
 * This race's progress shape for its history, once it ended at end_ms:
 * per mark of pred_shape_marks, the share of the duration at which
 * progress first reached it (x 65535, at least 1), 0 for marks never
 * reached. Returns PRED_OK, PRED_ENODATA (no mark reached, or not begun)
 * with shape zeroed, or PRED_EINVAL (NULL, end not after the start).
 */
int pred_track_shape(const struct pred_track *t, int64_t end_ms,
		     uint16_t shape[PRED_SHAPE_MARKS]);

/*
 * Observed progress rate in percent per second over the kept reports
 * (needs two reports with different times and started_ms for one).
 * Returns PRED_OK or PRED_ENODATA.
 */
int pred_track_rate(const struct pred_track *t, int64_t started_ms,
		    double *rate_per_sec);

/*
 * The server's live estimate of a running race (pred_live): the prior
 * total, truncated at the elapsed time, and the total that the average
 * rate since the first report implies (t_a + (t - t_a) / f, f the share
 * of the work left at the first report that is now done), combined in
 * log space by inverse variance. The
 * evidence's variance is k^2 (1 - f) / f plus whole-percent rounding, with
 * k^2 learned from how much t / f moved between this race's own reports
 * (shrunk towards a global value), so a steady race trusts its progress
 * early and an erratic one leans on its history longer.
 * docs/PREDICTION.md has the derivation and the measured errors.
 */
struct pred_live {
	double remaining_sec;  /* as of now_ms, >= 0 */
	double total_sec;      /* elapsed + remaining */
	double sigma;          /* sd of log(total) */
	double confidence;     /* P(remaining within +-20 %), calibrated */
	double w_progress;     /* share of the evidence in the estimate */
	int source;            /* PRED_SRC_PROGRESS when w_progress >= 0.5,
				  else the prior's source */
};

/*
 * The live estimate at now_ms (>= the last report) from a tracker that
 * pred_track_begin() started. Without reports it is the prior alone,
 * truncated at the elapsed time. Returns PRED_OK, PRED_ENODATA when
 * nothing trustworthy is known (no prior and too little progress), or
 * PRED_EINVAL (NULL, not begun, now before the start); *out zeroed on
 * failure.
 */
int pred_live(const struct pred_track *t, int64_t now_ms,
	      struct pred_live *out);

/*
 * Whether a new live estimate should be recorded as an ETA revision:
 * only when it differs from what the current ETA (cur_eta_sec as of
 * cur_at_ms; has_cur 0: none) implies at now_ms by more than
 * max(PRED_REVISE_MIN_SEC, PRED_REVISE_SHARE of it), and no sooner than
 * hint_sec after the last revision. Returns 1 or 0.
 */
#define PRED_REVISE_SHARE 0.10
#define PRED_REVISE_MIN_SEC 1.0
int pred_live_should_revise(int has_cur, double cur_eta_sec,
			    int64_t cur_at_ms, double new_remaining_sec,
			    int64_t now_ms, int hint_sec);

enum pred_progress_source {
	PRED_PROGRESS_REPORTED,
	PRED_PROGRESS_INTERPOLATED,
	PRED_PROGRESS_ESTIMATED,
};

/* "reported", "interpolated", "estimated". */
const char *pred_progress_source_name(int source);

struct pred_progress_in {
	int64_t now_ms;
	int64_t started_ms;
	int hint_sec;              /* update_interval_hint: the trust window */
	const struct pred_track *track;  /* borrowed; NULL or empty: no reports */
	int has_eta;               /* 1 when eta_sec/eta_at_ms are set */
	double eta_sec;            /* remaining, as of eta_at_ms */
	int64_t eta_at_ms;
	double eta_confidence;
	/* 1 when the ETA is the server's own live estimate (eta_source 3, 4
	 * or 5): the rate is then the one that ETA implies, so the progress
	 * prediction and the revised ETA tell the same story. */
	int eta_is_server;
};

struct pred_progress {
	double current;         /* 0..99, >= the last reported value */
	double rate_per_sec;    /* percent per second, >= 0 */
	double predicted_next;  /* at now + hint; current..99 */
	double confidence;      /* 0..1 */
	int source;             /* enum pred_progress_source */
};

/*
 * Progress prediction for a running race at in->now_ms.
 * reported: the last report is at most hint_sec old; current is that
 * value. interpolated: past the trust window, current = last + rate *
 * age. estimated: no report at all; current = 100 * elapsed / (elapsed +
 * remaining ETA), or 0 with confidence 0 without an ETA. Always
 * last reported <= current <= predicted_next <= 99.
 * Returns PRED_OK, or PRED_EINVAL (NULL, hint_sec <= 0) with *out zeroed.
 */
int pred_progress(const struct pred_progress_in *in, struct pred_progress *out);

#endif
