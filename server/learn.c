/*
 * learn.c - feeding predict/ from the write path and reading it back.
 *
 * Costs per write: a key normalization and O(1) hash lookups (plus the
 * bounded similar-key search of pred_model_predict for a create without
 * an ETA); never a scan over all history. See docs/PREDICTION.md.
 */
#include "learn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A list of finishes (see learn.h: queued, then sealed). */
struct put_list {
	struct srv_learn_put *v;
	size_t n, cap;
};

struct srv_learn {
	const struct srv_cfg *cfg;
	struct pred_model *model;
	struct put_list queued;     /* the accumulating batch's finishes */
	struct put_list sealed;     /* the committing batch's finishes */
};

static void put_list_clear(struct put_list *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->v[i].key);
		free(pl->v[i].context);
	}
	pl->n = 0;
}

static void put_list_fini(struct put_list *pl)
{
	put_list_clear(pl);
	free(pl->v);
	memset(pl, 0, sizeof(*pl));
}

static int load_one(void *ctx, const char *key, const void *data, size_t len)
{
	struct srv_learn *l = ctx;
	struct pred_history h;

	/* A history this version cannot read is skipped, not fatal: it
	 * only costs predictions for one kind of race. */
	if (pred_history_decode(data, len, &h) == PRED_OK)
		pred_model_load(l->model, key, &h);
	return 0;
}

struct srv_learn *srv_learn_new(const struct srv_cfg *cfg, struct store *st,
				int *err)
{
	struct pred_model_limits lim = {.use_context = 1};
	struct srv_learn *l = calloc(1, sizeof(*l));
	int rc;

	*err = STORE_ENOMEM;
	if (!l)
		return NULL;
	l->cfg = cfg;
	l->model = pred_model_new(&lim);
	if (!l->model) {
		free(l);
		return NULL;
	}
	rc = store_load_history(st, load_one, l);
	if (rc) {
		*err = rc;
		srv_learn_free(l);
		return NULL;
	}
	return l;
}

void srv_learn_free(struct srv_learn *l)
{
	if (!l)
		return;
	put_list_fini(&l->queued);
	put_list_fini(&l->sealed);
	pred_model_free(l->model);
	free(l);
}

/* The history key of a race; 0 on success. */
static int race_key(const char *source, const char *title,
		    const struct proto_kv *meta, size_t n_meta, char *key)
{
	struct pred_kv kv[PROTO_META_KEYS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < n_meta && n < PROTO_META_KEYS_MAX; i++)
		if (meta[i].value) {
			kv[n].key = meta[i].key;
			kv[n++].value = meta[i].value;
		}
	return pred_key(source, title, kv, n, key, PRED_KEY_MAX);
}

/* The value of the configured build-context metadata key, or NULL. */
static const char *context_of(const struct srv_learn *l,
			      const struct proto_kv *meta, size_t n_meta)
{
	for (size_t i = 0; i < n_meta; i++)
		if (meta[i].value && !strcmp(meta[i].key, l->cfg->predict_context_key))
			return meta[i].value;
	return NULL;
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

void srv_learn_predict(struct srv_learn *l, struct proto_race_update *u)
{
	char key[PRED_KEY_MAX];
	struct pred_estimate est;

	if (u->set & PROTO_F_ETA_SEC || !u->source || !u->title ||
	    race_key(u->source, u->title, u->metadata, u->n_metadata, key) ||
	    pred_model_predict(l->model, key,
			       context_of(l, u->metadata, u->n_metadata),
			       &est) != PRED_OK)
		return;
	u->set |= PROTO_F_ETA_SEC | PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE;
	u->eta_sec = llround(est.total_sec);
	u->eta_source = est.source;
	u->eta_confidence = round_to(est.confidence, 0.01);
}

/* The latest history of `key` from a finish not yet in the model, or
 * NULL: a later finish of the same key builds on it. */
static const struct pred_history *pending_history(const struct srv_learn *l,
						  const char *key)
{
	for (size_t i = l->queued.n; i > 0; i--)
		if (!strcmp(l->queued.v[i - 1].key, key))
			return &l->queued.v[i - 1].hist;
	for (size_t i = l->sealed.n; i > 0; i--)
		if (!strcmp(l->sealed.v[i - 1].key, key))
			return &l->sealed.v[i - 1].hist;
	return NULL;
}

/*
 * Queues a finish for the batch: the key's history with the run added,
 * encoded for the store, and what pred_model_record() needs once the
 * batch is durable. Lost on allocation failure (the model then never
 * learns this run; the race itself is unaffected).
 */
static void queue_finish(struct srv_learn *l, const char *key,
			 const char *context, enum pred_outcome outcome,
			 double duration, int64_t end_ms,
			 const uint16_t shape[PRED_SHAPE_MARKS])
{
	const struct pred_history *h = pending_history(l, key);
	struct put_list *pl = &l->queued;
	struct srv_learn_put *p;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 8;
		void *np = realloc(pl->v, cap * sizeof(*pl->v));

		if (!np)
			return;
		pl->v = np;
		pl->cap = cap;
	}
	p = &pl->v[pl->n];
	if (!h)
		h = pred_model_history(l->model, key);
	if (h)
		p->hist = *h;
	else
		pred_history_init(&p->hist);
	p->key = strdup(key);
	p->context = context ? strdup(context) : NULL;
	p->outcome = outcome;
	p->duration_sec = duration;
	p->end_ms = end_ms;
	memcpy(p->shape, shape, sizeof(p->shape));
	if (!p->key || (context && !p->context) ||
	    pred_history_add_scored(&p->hist, outcome, duration, end_ms,
				    shape) != PRED_OK ||
	    pred_history_encode(&p->hist, p->data, sizeof(p->data),
				&p->len) != PRED_OK) {
		free(p->key);
		free(p->context);
		return;
	}
	pl->n++;
}

/* Records a finished race with its progress shape (track borrowed; NULL:
 * it reported no progress since the server started). */
static void record_finish(struct srv_learn *l, const struct proto_race *race,
			  const struct pred_track *track)
{
	uint16_t shape[PRED_SHAPE_MARKS] = {0};
	char key[PRED_KEY_MAX];
	enum pred_outcome outcome = race->state == PROTO_STATE_PASSED
		? PRED_PASSED : race->state == PROTO_STATE_FAILED
		? PRED_FAILED : PRED_CANCELED;
	double duration = (double)(race->completed_at - race->started_at) /
			  1000.0;

	if (duration < 0 ||
	    race_key(race->source, race->title, race->metadata,
		     race->n_metadata, key))
		return;
	if (track)
		(void)pred_track_shape(track, race->completed_at, shape);
	queue_finish(l, key, context_of(l, race->metadata, race->n_metadata),
		     outcome, duration, race->completed_at, shape);
}

/* Whether the race's ETA is the server's own to revise: none at all, or
 * one the server set (history, default, progress). A producer's ETA
 * (exact, adapter) is never overridden nor blended. */
static int eta_is_servers(const struct proto_race *race)
{
	return !(race->has & PROTO_F_ETA_SEC) ||
	       race->eta_source == PROTO_ETA_HISTORY ||
	       race->eta_source == PROTO_ETA_DEFAULT ||
	       race->eta_source == PROTO_ETA_PROGRESS;
}

/* The prediction a race is judged against while it runs: the model's
 * prediction for its key, as at creation (and again after a restart,
 * from the same stored histories). */
static void prior_of(struct srv_learn *l, const struct proto_race *race,
		     struct pred_prior *prior)
{
	char key[PRED_KEY_MAX];
	struct pred_estimate est;

	memset(prior, 0, sizeof(*prior));
	if (race_key(race->source, race->title, race->metadata,
		     race->n_metadata, key) ||
	    pred_model_predict(l->model, key,
			       context_of(l, race->metadata, race->n_metadata),
			       &est) != PRED_OK)
		return;
	prior->has = 1;
	prior->total_sec = est.total_sec;
	prior->confidence = est.confidence;
	prior->source = est.source;
	/* Only the key's own runs tell this race's progress shape. */
	if (est.basis == PRED_BASIS_EXACT)
		pred_prior_shape(prior, pred_model_history(l->model, key));
}

/* Records the live estimate (pred_live) as an ETA revision when it
 * matters (pred_live_should_revise), labelled with its provenance. */
static void revise_eta(struct proto_race *race, const struct pred_track *t,
		       uint32_t *changed, int64_t now)
{
	struct pred_live lv;
	struct proto_race_update u = {0};
	uint32_t more = 0;
	int has = race->has & PROTO_F_ETA_SEC &&
		  race->has & PROTO_F_LAST_ETA_UPDATE;

	if (pred_live(t, now, &lv) != PRED_OK ||
	    !pred_live_should_revise(has, has ? (double)race->eta_sec : 0,
				     race->last_eta_update, lv.remaining_sec,
				     now, race->update_interval_hint))
		return;
	/* The same whole seconds is no revision on the wire (the race
	 * keeps its last_eta_update), so its source and confidence stay
	 * those of the revision that set them. */
	if (has && llround(lv.remaining_sec) == race->eta_sec)
		return;
	u.set = PROTO_F_ETA_SEC | PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE;
	u.eta_sec = llround(lv.remaining_sec);
	u.eta_source = lv.source;
	u.eta_confidence = round_to(lv.confidence, 0.01);
	if (proto_race_apply(race, &u, now, &more) == PROTO_OK)
		*changed |= more;
}

void srv_learn_after_change(struct srv_learn *l, struct proto_race *race,
			    struct pred_track **track, uint32_t *changed,
			    int64_t now)
{
	int hint;

	if (*changed & PROTO_F_COMPLETED_AT &&
	    race->has & PROTO_F_COMPLETED_AT) {
		/* A last report that came with the finish still counts
		 * towards the run's shape (its 100 % mark). */
		if (*track && *changed & PROTO_F_PROGRESS)
			(void)pred_track_observe(*track, now, race->progress);
		record_finish(l, race, *track);
		free(*track);
		*track = NULL;
		return;
	}
	if (race->state != PROTO_STATE_RUNNING ||
	    !(*changed & PROTO_F_PROGRESS))
		return;
	if (!*track && (*track = calloc(1, sizeof(**track)))) {
		struct pred_prior prior;

		prior_of(l, race, &prior);
		pred_track_begin(*track, race->started_at, &prior);
	}
	if (!*track)
		return;
	pred_track_observe(*track, now, race->progress);
	if (!race->hint_explicit &&
	    pred_track_cadence(*track, &hint) == PRED_OK &&
	    hint != race->update_interval_hint) {
		/* Learned, not producer-set: hint_explicit stays 0. */
		race->update_interval_hint = hint;
		*changed |= PROTO_F_UPDATE_INTERVAL_HINT;
	}
	if (!(*changed & PROTO_F_ETA_SEC) && eta_is_servers(race))
		revise_eta(race, *track, changed, now);
}

const struct srv_learn_put *srv_learn_puts(const struct srv_learn *l,
					   size_t *n)
{
	*n = l->queued.n;
	return l->queued.v;
}

void srv_learn_clear_puts(struct srv_learn *l)
{
	put_list_clear(&l->queued);
}

const struct srv_learn_put *srv_learn_seal(struct srv_learn *l, size_t *n)
{
	struct put_list t = l->sealed;

	put_list_clear(&t); /* normally empty: settled before the next seal */
	l->sealed = l->queued;
	l->queued = t;
	*n = l->sealed.n;
	return l->sealed.v;
}

void srv_learn_settle(struct srv_learn *l, int committed)
{
	for (size_t i = 0; committed && i < l->sealed.n; i++) {
		const struct srv_learn_put *p = &l->sealed.v[i];

		/* A key the model cannot hold (its limit) only costs the
		 * predictions for it; the history is stored either way. */
		(void)pred_model_record_shaped(l->model, p->key, p->context,
					       p->outcome, p->duration_sec,
					       p->end_ms, p->shape);
	}
	put_list_clear(&l->sealed);
}

size_t srv_learn_format_rounded(double x, int decimals, char *buf)
{
	static const double units[] = {1, 0.1, 0.01, 0.001, 0.0001};
	char digits[8];
	double v, n;
	size_t len = 0, k = 0;
	int64_t m;

	if (decimals < 0 || decimals > 4)
		return 0;
	v = round_to(x, units[decimals]);
	n = round(x / units[decimals]);
	/* What %.6g prints for v when v is the multiple n of 10^-decimals
	 * with |n| < 10^6: n has at most 6 digits, so %.6g rounds v (within
	 * an ulp of n * 10^-decimals) to exactly that decimal, in fixed
	 * notation (its exponent is in -4..5), trailing zeros dropped. */
	if (!(fabs(n) < 1e6))
		return 0;
	if (v == 0 && signbit(v)) {
		memcpy(buf, "-0", 3);
		return 2;
	}
	if (v == 0) {
		memcpy(buf, "0", 2);
		return 1;
	}
	m = (int64_t)n;
	if (m < 0) {
		buf[len++] = '-';
		m = -m;
	}
	for (; m || k <= (size_t)decimals; m /= 10)
		digits[k++] = (char)('0' + m % 10);   /* reversed */
	/* Integer part: the digits above `decimals`. */
	for (size_t i = k; i-- > (size_t)decimals;)
		buf[len++] = digits[i];
	{
		size_t last = 0;  /* lowest non-zero fraction digit + 1 */

		for (size_t i = 0; i < (size_t)decimals; i++)
			if (digits[i] != '0') {
				last = i + 1;
				break;
			}
		if (last) {
			buf[len++] = '.';
			for (size_t i = (size_t)decimals; i-- > last - 1;)
				buf[len++] = digits[i];
		}
	}
	buf[len] = '\0';
	return len;
}

/* Appends n bytes of s at *p (room is checked by the caller). */
static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* The progress_prediction text without printf (four %.6g were a fifth
 * of the server's instructions per ingested update: issue 15), the same
 * bytes as the snprintf below; 0 when a value is out of the range the
 * shortcut covers (the caller prints it then). */
static int progress_json(const struct pred_progress *out, char *buf)
{
	char num[4][24];
	size_t n[4], total;
	const char *src = pred_progress_source_name(out->source);
	char *p = buf;

	n[0] = srv_learn_format_rounded(out->current, 2, num[0]);
	n[1] = srv_learn_format_rounded(out->rate_per_sec, 4, num[1]);
	n[2] = srv_learn_format_rounded(out->predicted_next, 2, num[2]);
	n[3] = srv_learn_format_rounded(out->confidence, 2, num[3]);
	if (!n[0] || !n[1] || !n[2] || !n[3])
		return 0;
	total = n[0] + n[1] + n[2] + n[3] + strlen(src) + 80;
	if (total >= SRV_LEARN_PROGRESS_MAX)
		return 0;
	p = put(p, "{\"current\":", 11);
	p = put(p, num[0], n[0]);
	p = put(p, ",\"rate_per_sec\":", 16);
	p = put(p, num[1], n[1]);
	p = put(p, ",\"predicted_next\":", 18);
	p = put(p, num[2], n[2]);
	p = put(p, ",\"confidence\":", 14);
	p = put(p, num[3], n[3]);
	p = put(p, ",\"source\":\"", 11);
	p = put(p, src, strlen(src));
	p = put(p, "\"}", 2);
	*p = '\0';
	return (int)(p - buf);
}


size_t srv_learn_progress_write(const struct proto_race *race,
				const struct pred_track *track, int64_t now,
				char *buf)
{
	struct pred_track one;
	struct pred_progress_in in = {
		.now_ms = now,
		.started_ms = race->started_at,
		.hint_sec = race->update_interval_hint > 0
			? race->update_interval_hint : 10,
		.track = track,
	};
	struct pred_progress out;
	int n;

	if (race->state != PROTO_STATE_RUNNING)
		return 0;
	if (!track && race->has & PROTO_F_PROGRESS &&
	    race->has & PROTO_F_LAST_PROGRESS_UPDATE) {
		/* After a restart: the last report is all we know. */
		pred_track_init(&one);
		pred_track_observe(&one, race->last_progress_update,
				   race->progress);
		in.track = &one;
	}
	if (race->has & PROTO_F_ETA_SEC && race->has & PROTO_F_LAST_ETA_UPDATE) {
		in.has_eta = 1;
		in.eta_sec = (double)race->eta_sec;
		in.eta_at_ms = race->last_eta_update;
		in.eta_confidence = race->has & PROTO_F_ETA_CONFIDENCE
			? race->eta_confidence : 0.5;
		in.eta_is_server = eta_is_servers(race);
	}
	if (pred_progress(&in, &out) != PRED_OK)
		return 0;
	n = progress_json(&out, buf);
	if (n)
		return (size_t)n;
	/* %.6g of values rounded to a few decimals: short, valid JSON. */
	n = snprintf(buf, SRV_LEARN_PROGRESS_MAX,
		     "{\"current\":%.6g,\"rate_per_sec\":%.6g,"
		     "\"predicted_next\":%.6g,\"confidence\":%.6g,"
		     "\"source\":\"%s\"}",
		     round_to(out.current, 0.01),
		     round_to(out.rate_per_sec, 0.0001),
		     round_to(out.predicted_next, 0.01),
		     round_to(out.confidence, 0.01),
		     pred_progress_source_name(out.source));
	return n > 0 && n < SRV_LEARN_PROGRESS_MAX ? (size_t)n : 0;
}
