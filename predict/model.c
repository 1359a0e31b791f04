/*
 * model.c - every key's history in memory, plus the indexes that keep a
 * prediction cheap and the fallback order of pred_model_predict().
 *
 * Structures (all owned by struct pred_model):
 *   - keys: open-addressing hash (string -> entry index) over a dense
 *     entry array; each entry holds its key, its source index, its token
 *     count and its struct pred_history.
 *   - tokens: hash from "<source>\x1f<token>" to a posting list of entry
 *     indices, capped at max_postings (the first keys keep their place).
 *     Keying postings by source makes every candidate a same-source key.
 *   - sources: hash from source to a ring of its last 64 passed durations.
 *   - contexts: a ring of the last max_contexts build contexts, each with
 *     up to 64 log ratios (actual / base prediction) of finished races.
 * Costs: record and exact predict are O(1) hash work plus the estimator's
 * bounded O(H * W); the similar-key fallback is O(T * P) with T <= 32
 * tokens and P <= max_postings, using a generation-stamped counter per
 * entry so nothing is cleared per request; a context lookup is
 * O(max_contexts) string compares. Memory: O(keys * sizeof history).
 *
 * Pure: no I/O, no clock; server/ persists histories with
 * pred_history_encode() and reloads them with pred_model_load().
 */
#include "predict.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_RING 64
#define CTX_RATIOS 64
#define SIMILAR_CONF_SCALE 0.6   /* a similar key is weaker evidence */
#define SOURCE_CONF_MAX 0.3      /* a source default is a weak guess */

struct entry {
	char *key;      /* borrowed from the key map's slot */
	uint32_t source;
	uint32_t n_tokens;
	struct pred_history hist;
};

struct posting {
	uint32_t *ids;
	uint32_t n;
	uint32_t cap;
};

#ifndef PRED_CTX_MIN_RUNS
#define PRED_CTX_MIN_RUNS 50   /* runs of a source before it may drop the
				  build-context factor */
#endif

#ifndef PRED_POL_MIN_RUNS
#define PRED_POL_MIN_RUNS 50   /* runs of a source before its record may
				  choose another estimation policy */
#endif
#ifndef PRED_POL_MARGIN
#define PRED_POL_MARGIN 0.01   /* and only when it beats the per-key
				  selection by this share of its loss */
#endif

struct source {
	double recent[SOURCE_RING];
	size_t n;       /* total pushed */
	/* What the build-context factor did for this source's runs: the
	 * summed relative error without it minus with it, over ctx_n runs
	 * that had a factor to apply. */
	double ctx_gain;
	size_t ctx_n;
	/* Each estimation policy's online error on this source's runs:
	 * the sum of its keys' policy records (pred_history_add_scored:
	 * before a passed run joins its key's history, what every policy
	 * would have predicted from that history is scored against it, the
	 * absolute error in ms). The records are stored with the histories,
	 * so a reloaded model (a restart, another cluster node) has the
	 * same sums and picks the same policy. pol_n runs. */
	uint64_t pol_loss[PRED_POLICIES];
	uint64_t pol_n;
};

struct context {
	char *name;     /* owned; NULL: free slot */
	double ratios[CTX_RATIOS];
	size_t n;       /* total pushed */
};

struct pred_model {
	struct pred_model_limits lim;
	struct strmap keys;
	struct entry *entries;
	size_t n_entries, cap_entries;
	struct strmap tokens;
	struct posting *postings;
	size_t n_postings, cap_postings;
	struct strmap sources;
	struct source *srcs;
	size_t n_srcs, cap_srcs;
	struct context *contexts;
	size_t ctx_next;
	/* Scratch for the similar-key search (see the header comment). */
	uint32_t *seen_gen;
	uint16_t *seen_count;
	uint32_t gen;
	uint32_t *touched;
};

/* Grows a dense array to hold one more element. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return PRED_OK;
	size_t nc = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, nc * elem);
	if (!p)
		return PRED_ENOMEM;
	*arr = p;
	*cap = nc;
	return PRED_OK;
}

struct pred_model *pred_model_new(const struct pred_model_limits *lim)
{
	struct pred_model *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	if (lim)
		m->lim = *lim;
	if (!m->lim.max_keys)
		m->lim.max_keys = 100000;
	if (!m->lim.max_postings)
		m->lim.max_postings = 256;
	if (m->lim.max_postings > 65535)
		m->lim.max_postings = 65535;  /* seen_count is 16-bit */
	if (!m->lim.max_contexts)
		m->lim.max_contexts = 256;
	if (!(m->lim.min_similarity > 0))
		m->lim.min_similarity = 0.5;
	m->contexts = calloc(m->lim.max_contexts, sizeof *m->contexts);
	m->touched = malloc(PRED_TOKENS_MAX * m->lim.max_postings *
			    sizeof *m->touched);
	if (!m->contexts || !m->touched)
		goto fail;
	return m;
fail:
	pred_model_free(m);
	return NULL;
}

void pred_model_free(struct pred_model *m)
{
	if (!m)
		return;
	pred__strmap_fini(&m->keys);
	pred__strmap_fini(&m->tokens);
	pred__strmap_fini(&m->sources);
	free(m->entries);
	for (size_t i = 0; i < m->n_postings; i++)
		free(m->postings[i].ids);
	free(m->postings);
	free(m->srcs);
	if (m->contexts)
		for (size_t i = 0; i < m->lim.max_contexts; i++)
			free(m->contexts[i].name);
	free(m->contexts);
	free(m->seen_gen);
	free(m->seen_count);
	free(m->touched);
	free(m);
}

size_t pred_model_count(const struct pred_model *m)
{
	return m ? m->n_entries : 0;
}

/* Splits a key into its source (copied into src) and its title part. */
static const char *split_key(const char *key, char src[PRED_KEY_MAX])
{
	const char *sep = strchr(key, PRED_KEY_SEP);
	if (!sep || (size_t)(sep - key) >= PRED_KEY_MAX)
		return NULL;
	memcpy(src, key, (size_t)(sep - key));
	src[sep - key] = '\0';
	return sep + 1;
}

/* Token-map key "<source>\x1f<token>". */
static void token_key(char out[PRED_KEY_MAX + PRED_TOKEN_MAX],
		      const char *src, const char *tok)
{
	size_t a = strlen(src), b = strlen(tok);
	memcpy(out, src, a);
	out[a] = PRED_KEY_SEP;
	memcpy(out + a + 1, tok, b + 1);
}

/*
 * Creates the entry for a key: source, tokens, postings and scratch, all
 * reserved before anything is linked, so a failure leaves m unchanged
 * (apart from reserved capacity). Returns PRED_OK and *idx.
 */
static int entry_create(struct pred_model *m, const char *key, uint32_t *idx)
{
	char src[PRED_KEY_MAX];
	const char *title = split_key(key, src);
	if (!title)
		return PRED_EINVAL;
	if (m->n_entries >= m->lim.max_keys)
		return PRED_ELIMIT;

	char toks[PRED_TOKENS_MAX][PRED_TOKEN_MAX];
	size_t nt = pred_tokens(title, toks, PRED_TOKENS_MAX);

	/* Reserve every array this insert may touch. */
	size_t ncap = m->cap_entries;
	if (grow((void **)&m->entries, &m->cap_entries, m->n_entries,
		 sizeof *m->entries))
		return PRED_ENOMEM;
	if (m->cap_entries != ncap || !m->seen_gen) {
		uint32_t *g = realloc(m->seen_gen, m->cap_entries * sizeof *g);
		if (g)
			m->seen_gen = g;
		uint16_t *c = realloc(m->seen_count, m->cap_entries * sizeof *c);
		if (c)
			m->seen_count = c;
		if (!g || !c)
			return PRED_ENOMEM;
		for (size_t i = ncap; i < m->cap_entries; i++)
			m->seen_gen[i] = 0;
	}
	if (grow((void **)&m->srcs, &m->cap_srcs, m->n_srcs, sizeof *m->srcs))
		return PRED_ENOMEM;
	while (m->cap_postings < m->n_postings + nt)
		if (grow((void **)&m->postings, &m->cap_postings,
			 m->cap_postings, sizeof *m->postings))
			return PRED_ENOMEM;

	uint32_t e = (uint32_t)m->n_entries;
	uint32_t s;
	int new_source = 0;
	if (!pred__strmap_get(&m->sources, src, &s)) {
		s = (uint32_t)m->n_srcs;
		if (pred__strmap_put(&m->sources, src, s, NULL))
			return PRED_ENOMEM;
		memset(&m->srcs[s], 0, sizeof m->srcs[s]);
		m->n_srcs++;
		new_source = 1;
	}
	char *stored;
	if (pred__strmap_put(&m->keys, key, e, &stored))
		goto fail_source;

	/* Postings: append e to each token's list (bounded). */
	size_t linked = 0;
	for (; linked < nt; linked++) {
		char tk[PRED_KEY_MAX + PRED_TOKEN_MAX];
		token_key(tk, src, toks[linked]);
		uint32_t p;
		if (!pred__strmap_get(&m->tokens, tk, &p)) {
			p = (uint32_t)m->n_postings;
			if (pred__strmap_put(&m->tokens, tk, p, NULL))
				goto fail_postings;
			memset(&m->postings[p], 0, sizeof m->postings[p]);
			m->n_postings++;
		}
		struct posting *po = &m->postings[p];
		if (po->n >= m->lim.max_postings)
			continue;
		if (po->n == po->cap) {
			uint32_t nc = po->cap ? po->cap * 2 : 4;
			uint32_t *ids = realloc(po->ids, nc * sizeof *ids);
			if (!ids)
				goto fail_postings;
			po->ids = ids;
			po->cap = nc;
		}
		po->ids[po->n++] = e;
	}

	struct entry *en = &m->entries[e];
	en->key = stored;
	en->source = s;
	en->n_tokens = (uint32_t)nt;
	pred_history_init(&en->hist);
	m->seen_gen[e] = 0;
	m->n_entries++;
	*idx = e;
	return PRED_OK;

fail_postings:
	/* Unlink e from the lists it joined; empty new lists stay (harmless). */
	for (size_t i = 0; i < linked; i++) {
		char tk[PRED_KEY_MAX + PRED_TOKEN_MAX];
		uint32_t p;
		token_key(tk, src, toks[i]);
		if (pred__strmap_get(&m->tokens, tk, &p) && m->postings[p].n &&
		    m->postings[p].ids[m->postings[p].n - 1] == e)
			m->postings[p].n--;
	}
	pred__strmap_del(&m->keys, key);
fail_source:
	if (new_source) {
		pred__strmap_del(&m->sources, src);
		m->n_srcs--;
	}
	return PRED_ENOMEM;
}

static struct context *context_find(struct pred_model *m, const char *name)
{
	if (!name || !*name)
		return NULL;
	for (size_t i = 0; i < m->lim.max_contexts; i++)
		if (m->contexts[i].name && strcmp(m->contexts[i].name, name) == 0)
			return &m->contexts[i];
	return NULL;
}

/* Appends a ratio to a context, taking the oldest slot for a new one. */
static int context_push(struct pred_model *m, const char *name, double r)
{
	struct context *c = context_find(m, name);
	if (!c) {
		char *copy = strdup(name);
		if (!copy)
			return PRED_ENOMEM;
		c = &m->contexts[m->ctx_next];
		m->ctx_next = (m->ctx_next + 1) % m->lim.max_contexts;
		free(c->name);
		memset(c, 0, sizeof *c);
		c->name = copy;
	}
	c->ratios[c->n % CTX_RATIOS] = r;
	c->n++;
	return PRED_OK;
}

/* A context's ratios in order, oldest first, into buf; returns the count. */
static size_t context_ratios(const struct context *c, double buf[CTX_RATIOS])
{
	if (!c)
		return 0;
	size_t n = c->n < CTX_RATIOS ? c->n : CTX_RATIOS;
	for (size_t i = 0; i < n; i++)
		buf[i] = c->ratios[(c->n - n + i) % CTX_RATIOS];
	return n;
}

static void source_push(struct source *s, double d)
{
	s->recent[s->n % SOURCE_RING] = d;
	s->n++;
}

/*
 * The estimation policy of a source's keys: the per-key selection until
 * the source has PRED_POL_MIN_RUNS scored runs; then the policy with the
 * lowest online error on them, if it beats the per-key selection's by
 * more than PRED_POL_MARGIN (a near tie keeps the selection, which the
 * CI data was tuned with). NULL (a key not seen yet): the selection.
 */
static int source_policy(const struct source *so)
{
	if (!so || so->pol_n < PRED_POL_MIN_RUNS)
		return PRED_POL_SELECT;
	int best = PRED_POL_SELECT;
	for (int p = 0; p < PRED_POLICIES; p++)
		if (so->pol_loss[p] < so->pol_loss[best])
			best = p;
	if ((double)so->pol_loss[best] >
	    (1.0 - PRED_POL_MARGIN) * (double)so->pol_loss[PRED_POL_SELECT])
		return PRED_POL_SELECT;
	return best;
}

/* Adds (sign 1) or takes out (-1) a key's policy record from its
 * source's sums. */
static void source_record(struct source *so, const struct pred_history *h,
			  int sign)
{
	for (int p = 0; p < PRED_POLICIES; p++)
		so->pol_loss[p] = sign > 0 ? so->pol_loss[p] + h->pol_loss_ms[p]
					   : so->pol_loss[p] - h->pol_loss_ms[p];
	so->pol_n = sign > 0 ? so->pol_n + h->pol_n : so->pol_n - h->pol_n;
}

int pred_model_record(struct pred_model *m, const char *key,
		      const char *context, enum pred_outcome outcome,
		      double duration_sec, int64_t end_ms)
{
	return pred_model_record_shaped(m, key, context, outcome,
					duration_sec, end_ms, NULL);
}

int pred_model_record_shaped(struct pred_model *m, const char *key,
			     const char *context, enum pred_outcome outcome,
			     double duration_sec, int64_t end_ms,
			     const uint16_t *shape)
{
	if (!m || !key || !(duration_sec >= 0) ||
	    (outcome != PRED_PASSED && outcome != PRED_FAILED &&
	     outcome != PRED_CANCELED))
		return PRED_EINVAL;
	uint32_t e;
	if (!pred__strmap_get(&m->keys, key, &e)) {
		int rc = entry_create(m, key, &e);
		if (rc)
			return rc;
	}
	struct entry *en = &m->entries[e];
	if (outcome == PRED_PASSED && context && *context &&
	    en->hist.n_passed > 0) {
		struct pred_estimate est;
		double buf[CTX_RATIOS];
		struct pred_context cx = { buf, 0 };
		cx.n = context_ratios(context_find(m, context), buf);
		if (pred_estimate(&en->hist, &cx, &est) == PRED_OK) {
			double r = pred_context_ratio(duration_sec, est.base_sec);
			if (cx.n > 0 && duration_sec > 0) {
				struct source *so = &m->srcs[en->source];
				so->ctx_gain += (fabs(est.base_sec - duration_sec) -
						 fabs(est.total_sec - duration_sec)) /
						duration_sec;
				so->ctx_n++;
			}
			if (context_push(m, context, r))
				return PRED_ENOMEM;  /* the new entry stays, empty */
		}
	}
	source_record(&m->srcs[en->source], &en->hist, -1);
	int rc = pred_history_add_scored(&en->hist, outcome, duration_sec,
					 end_ms, shape);
	source_record(&m->srcs[en->source], &en->hist, 1);
	if (rc == PRED_OK && outcome == PRED_PASSED)
		source_push(&m->srcs[en->source], duration_sec);
	return rc;
}

int pred_model_load(struct pred_model *m, const char *key,
		    const struct pred_history *h)
{
	if (!m || !key || !h)
		return PRED_EINVAL;
	uint32_t e;
	if (!pred__strmap_get(&m->keys, key, &e)) {
		int rc = entry_create(m, key, &e);
		if (rc)
			return rc;
	}
	source_record(&m->srcs[m->entries[e].source], &m->entries[e].hist, -1);
	m->entries[e].hist = *h;
	source_record(&m->srcs[m->entries[e].source], h, 1);
	for (size_t i = 0; i < h->n_passed; i++)
		source_push(&m->srcs[m->entries[e].source],
			    h->passed[i].duration_sec);
	return PRED_OK;
}

const struct pred_history *pred_model_history(const struct pred_model *m,
					      const char *key)
{
	uint32_t e;
	if (!m || !key || !pred__strmap_get(&m->keys, key, &e))
		return NULL;
	return &m->entries[e].hist;
}

/*
 * The most similar other key of the same source by Jaccard similarity of
 * title tokens, among keys with passed runs. Returns the entry index or
 * -1; *sim gets the similarity.
 */
static long most_similar(struct pred_model *m, const char *key, double *sim)
{
	char src[PRED_KEY_MAX];
	const char *title = split_key(key, src);
	if (!title)
		return -1;
	char toks[PRED_TOKENS_MAX][PRED_TOKEN_MAX];
	size_t nt = pred_tokens(title, toks, PRED_TOKENS_MAX);
	uint32_t self = UINT32_MAX;
	pred__strmap_get(&m->keys, key, &self);

	if (++m->gen == 0) {  /* wrapped: reset the stamps once */
		memset(m->seen_gen, 0, m->cap_entries * sizeof *m->seen_gen);
		m->gen = 1;
	}
	size_t n_touched = 0;
	for (size_t t = 0; t < nt; t++) {
		char tk[PRED_KEY_MAX + PRED_TOKEN_MAX];
		uint32_t p;
		token_key(tk, src, toks[t]);
		if (!pred__strmap_get(&m->tokens, tk, &p))
			continue;
		const struct posting *po = &m->postings[p];
		for (uint32_t i = 0; i < po->n; i++) {
			uint32_t e = po->ids[i];
			if (m->seen_gen[e] != m->gen) {
				m->seen_gen[e] = m->gen;
				m->seen_count[e] = 0;
				m->touched[n_touched++] = e;
			}
			m->seen_count[e]++;
		}
	}
	long best = -1;
	double best_sim = 0;
	for (size_t i = 0; i < n_touched; i++) {
		uint32_t e = m->touched[i];
		const struct entry *en = &m->entries[e];
		if (e == self || en->hist.n_passed == 0)
			continue;
		double inter = m->seen_count[e];
		double s = inter / ((double)nt + en->n_tokens - inter);
		if (s > best_sim || (s == best_sim && best >= 0 &&
				     en->hist.n_passed >
					     m->entries[best].hist.n_passed)) {
			best = e;
			best_sim = s;
		}
	}
	*sim = best_sim;
	return best;
}

/* The source's typical duration: median of its recent passed runs. */
static int source_estimate(const struct pred_model *m, const char *key,
			   struct pred_estimate *out)
{
	char src[PRED_KEY_MAX];
	uint32_t s;
	if (!split_key(key, src) || !pred__strmap_get(&m->sources, src, &s))
		return PRED_ENODATA;
	const struct source *so = &m->srcs[s];
	size_t n = so->n < SOURCE_RING ? so->n : SOURCE_RING;
	if (n == 0)
		return PRED_ENODATA;
	double cv = pred__robust_cv(so->recent, n, 1.0);
	double conf = pred__p_within20(cv) * (double)n / ((double)n + 1.0);
	out->source = PRED_SRC_DEFAULT;
	out->basis = PRED_BASIS_SOURCE;
	out->total_sec = out->base_sec = pred__median(so->recent, n);
	out->context_factor = 1.0;
	out->confidence = conf < SOURCE_CONF_MAX ? conf : SOURCE_CONF_MAX;
	out->n_history = n;
	out->similarity = 0;
	return PRED_OK;
}

int pred_model_predict(struct pred_model *m, const char *key,
		       const char *context, struct pred_estimate *out)
{
	if (!out)
		return PRED_EINVAL;
	memset(out, 0, sizeof *out);
	if (!m || !key)
		return PRED_EINVAL;

	double buf[CTX_RATIOS];
	struct pred_context ctx = { buf, 0 };
	uint32_t e;
	int have = pred__strmap_get(&m->keys, key, &e);
	/* The factor only where it has paid on this source's own runs. */
	const struct source *so = have ? &m->srcs[m->entries[e].source] : NULL;
	if (m->lim.use_context &&
	    (!so || so->ctx_n < PRED_CTX_MIN_RUNS || so->ctx_gain > 0))
		ctx.n = context_ratios(context_find(m, context), buf);

	if (have && pred__estimate_policy(&m->entries[e].hist, &ctx,
					  source_policy(so), out) == PRED_OK)
		return PRED_OK;

	double sim = 0;
	long s = m->n_entries ? most_similar(m, key, &sim) : -1;
	if (s >= 0 && sim >= m->lim.min_similarity &&
	    pred__estimate_policy(&m->entries[s].hist, &ctx,
				  source_policy(&m->srcs[m->entries[s].source]),
				  out) == PRED_OK) {
		out->basis = PRED_BASIS_SIMILAR;
		out->similarity = sim;
		out->confidence *= SIMILAR_CONF_SCALE * sim;
		return PRED_OK;
	}
	if (source_estimate(m, key, out) == PRED_OK)
		return PRED_OK;
	memset(out, 0, sizeof *out);
	return PRED_ENODATA;
}
