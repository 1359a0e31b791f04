/*
 * core.c - the write path: apply, queue, group-commit, publish, answer.
 *
 * Every write of one event-loop turn lands in one batch. The batch is
 * committed by a zero-delay timer that lws runs at the start of the next
 * service pass, so all the requests read in one pass share one LMDB
 * transaction (and one fsync). Replies and deltas leave only after that
 * commit. Service thread only.
 */
#include "core.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta.h"
#include "encode.h"
#include "expiry.h"
#include "json.h"
#include "learn.h"
#include "metrics.h"
#include "util.h"

#define EXPIRY_PERIOD_US (1000 * LWS_US_PER_MS)

struct batch_entry {
	struct srv_requester *rq;   /* NULL: internal, or requester gone */
	int wait;                   /* a reader waiting for this flush */
	struct srv_result res;
	char *delta;                /* LWS_PRE headroom; NULL: no change */
	size_t delta_len;
	char *full;                 /* "create" form, for filter transitions */
	size_t full_len;
	char *id;                   /* owned copies, for the publish step */
	char *source;
	char *prev_source;          /* NULL: unchanged */
	enum proto_state state;
	enum proto_state prev_state;
	enum proto_delta_op op;
};

struct srv_core {
	struct store *store;
	const struct srv_cfg *cfg;
	struct srv_table table;
	struct srv_expiry expiry;
	uint64_t seq;               /* last assigned (committed or pending) */
	uint64_t first_delta;       /* lowest seq still in the delta log */
	uint64_t batch_gen;

	struct batch_entry *entries;
	size_t n_entries, cap_entries;
	char **touched;             /* ids written by the pending batch */
	size_t n_touched, cap_touched;

	struct lws_context *ctx;
	lws_sorted_usec_list_t flush_sul;
	lws_sorted_usec_list_t expiry_sul;
	int flush_scheduled;

	srv_publish_fn publish;
	void *publish_ctx;
	struct srv_learn *learn;    /* ETA prediction and cadence */
	struct srv_metrics *metrics; /* borrowed; NULL: not counted */
};

static void flush_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_core *core = lws_container_of(sul, struct srv_core,
						 flush_sul);

	core->flush_scheduled = 0;
	srv_core_flush(core);
}

static void expiry_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_core *core = lws_container_of(sul, struct srv_core,
						 expiry_sul);

	srv_core_expire(core, srv_now_ms());
	lws_sul_schedule(core->ctx, 0, &core->expiry_sul, expiry_cb,
			 EXPIRY_PERIOD_US);
}

/* Takes a new entry at the end of the batch and arms the flush. Returns
 * NULL on allocation failure. */
static struct batch_entry *queue(struct srv_core *core,
				 struct srv_requester *rq)
{
	struct batch_entry *e;

	if (core->n_entries == core->cap_entries) {
		size_t cap = core->cap_entries ? core->cap_entries * 2 : 64;
		void *p = realloc(core->entries, cap * sizeof(*e));

		if (!p)
			return NULL;
		core->entries = p;
		core->cap_entries = cap;
	}
	e = &core->entries[core->n_entries++];
	memset(e, 0, sizeof(*e));
	e->rq = rq;
	if (rq)
		rq->queued++;
	if (core->ctx && !core->flush_scheduled) {
		core->flush_scheduled = 1;
		lws_sul_schedule(core->ctx, 0, &core->flush_sul, flush_cb, 1);
	}
	return e;
}

/* Puts an error into an entry. An allocation failure leaves buf NULL,
 * which the requester answers as a bare status. */
static void set_error(struct batch_entry *e, int status, const char *code,
		      const char *field, const char *message)
{
	e->res.status = status;
	e->res.buf = srv_error_json(code, field, message, LWS_PRE,
				    &e->res.len);
}

void srv_core_fail(struct srv_core *core, struct srv_requester *rq, int status,
		   const char *code, const char *field, const char *message)
{
	struct batch_entry *e = queue(core, rq);

	if (e)
		set_error(e, status, code, field, message);
}

/* Records that the batch writes race `id`, once per batch per race. */
static int touch(struct srv_core *core, const char *id)
{
	struct srv_table_entry *te = srv_table_get(&core->table, id);
	char *copy;

	if (te && te->batch_gen == core->batch_gen)
		return 0;
	if (core->n_touched == core->cap_touched) {
		size_t cap = core->cap_touched ? core->cap_touched * 2 : 64;
		void *p = realloc(core->touched, cap * sizeof(char *));

		if (!p)
			return -1;
		core->touched = p;
		core->cap_touched = cap;
	}
	copy = strdup(id);
	if (!copy)
		return -1;
	core->touched[core->n_touched++] = copy;
	if (te)
		te->batch_gen = core->batch_gen;
	return 0;
}

/* Takes the text of b as a new LWS_PRE-headroom buffer, or frees b and
 * returns NULL when rc says the encoding failed. */
static char *take(struct proto_buf *b, int rc, size_t *len)
{
	char *buf = rc == PROTO_OK ? proto_buf_steal(b, len) : NULL;

	proto_buf_fini(b);
	return buf;
}

/* Encodes a delta into a new LWS_PRE-headroom buffer; NULL on failure. */
static char *encode_delta(uint64_t seq, int64_t now, enum proto_delta_op op,
			  const char *id, const struct proto_race *race,
			  uint32_t changed, size_t *len)
{
	struct proto_buf b;

	proto_buf_init(&b, LWS_PRE);
	return take(&b, proto_delta_write(&b, seq, now, op, id, race, changed),
		    len);
}

/* An update delta that carries the progress prediction too: sent when
 * progress changed, the moment the prediction changes materially. */
static char *encode_update(uint64_t seq, int64_t now,
			   const struct proto_race *race, uint32_t changed,
			   const struct pred_track *track, size_t *len)
{
	char pp[SRV_LEARN_PROGRESS_MAX];
	struct proto_json_extra extra = {"progress_prediction", pp, 0};
	struct proto_buf b;

	if (changed & PROTO_F_PROGRESS)
		extra.len = srv_learn_progress_write(race, track, now, pp);
	proto_buf_init(&b, LWS_PRE);
	return take(&b, proto_delta_write_ex(&b, seq, now, PROTO_DELTA_UPDATE,
					     race->id, race, changed,
					     extra.len ? &extra : NULL),
		    len);
}

/*
 * Fills a successful entry: the race as the reply and, when something
 * changed, the next seq and the encoded delta. `prev_state` and
 * `prev_source` (taken; NULL when the source did not change) describe the
 * race before the change, for subscriber filters.
 */
static void set_change(struct srv_core *core, struct batch_entry *e,
		       enum proto_delta_op op, const struct proto_race *race,
		       const struct pred_track *track, uint32_t changed,
		       int64_t now, int status, enum proto_state prev_state,
		       char *prev_source)
{
	struct proto_buf b;

	e->res.status = status;
	e->prev_source = prev_source;
	e->prev_state = prev_state;
	e->op = op;
	if (op == PROTO_DELTA_CREATE || changed) {
		e->res.seq = ++core->seq;
		e->delta = op == PROTO_DELTA_UPDATE
			? encode_update(e->res.seq, now, race, changed, track,
					&e->delta_len)
			: encode_delta(e->res.seq, now, op, race->id, race,
				       changed, &e->delta_len);
		if (op == PROTO_DELTA_UPDATE &&
		    changed & (PROTO_F_STATE | PROTO_F_SOURCE))
			e->full = encode_delta(e->res.seq, now,
					       PROTO_DELTA_CREATE, race->id,
					       race, 0, &e->full_len);
		e->id = strdup(race->id);
		e->source = strdup(race->source);
		e->state = race->state;
		if (!e->delta || !e->id || !e->source ||
		    (changed & (PROTO_F_STATE | PROTO_F_SOURCE) &&
		     op == PROTO_DELTA_UPDATE && !e->full))
			e->res.status = 500; /* fails the whole batch */
	}
	proto_buf_init(&b, LWS_PRE);
	e->res.buf = take(&b, srv_core_race_write(core, race, now, &b),
			  &e->res.len);
}

int srv_core_race_write(const struct srv_core *core,
			const struct proto_race *race, int64_t now,
			struct proto_buf *b)
{
	char pp[SRV_LEARN_PROGRESS_MAX];
	struct proto_json_extra extra = {"progress_prediction", pp, 0};
	struct srv_table_entry *te;

	if (race->state == PROTO_STATE_RUNNING) {
		te = srv_table_get(&core->table, race->id);
		extra.len = srv_learn_progress_write(race, te ? te->track : NULL,
						     now, pp);
	}
	return proto_race_write_ex(b, race, extra.len ? &extra : NULL);
}

static void reply_apply_error(struct batch_entry *e, int rc)
{
	if (rc == PROTO_ELIMIT)
		set_error(e, 400, "too_many", "metadata",
			  "metadata may hold at most 64 keys");
	else if (rc == PROTO_ENOMEM)
		set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
	else
		set_error(e, 400, "invalid_value", NULL,
			  "the update is not valid for this race");
}

static void not_found(struct batch_entry *e, const char *id)
{
	char msg[PROTO_ID_MAX + 64];

	snprintf(msg, sizeof(msg), "no race with id '%.*s'", PROTO_ID_MAX,
		 id);
	set_error(e, 404, "not_found", "id", msg);
}

/* Applies an update to an existing race and fills the entry. */
static void update_race(struct srv_core *core, struct batch_entry *e,
			struct srv_table_entry *te,
			const struct proto_race_update *u, int64_t now)
{
	struct proto_race *race = te->race;
	uint32_t changed = 0;
	enum proto_state prev_state = race->state;
	char *prev_source = u->set & PROTO_F_SOURCE ? strdup(race->source)
						   : NULL;
	int rc = proto_race_apply(race, u, now, &changed);

	if (rc) {
		free(prev_source);
		reply_apply_error(e, rc);
		return;
	}
	if (prev_source && !strcmp(prev_source, race->source)) {
		free(prev_source);
		prev_source = NULL;
	}
	srv_learn_after_change(core->learn, race, &te->track, &changed, now);
	if (changed && touch(core, race->id)) {
		free(prev_source);
		set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	if (changed & PROTO_F_COMPLETED_AT && race->has & PROTO_F_COMPLETED_AT)
		srv_expiry_push(&core->expiry, race->id, race->completed_at,
				core->cfg->finished_ttl_sec);
	set_change(core, e, PROTO_DELTA_UPDATE, race, te->track, changed, now,
		   200, prev_state, prev_source);
}

void srv_core_create(struct srv_core *core, struct srv_requester *rq,
		     const struct proto_race_update *u)
{
	struct batch_entry *e = queue(core, rq);
	int64_t now = srv_now_ms();
	struct srv_table_entry *te;
	struct proto_race *race;
	struct proto_race_update with_eta;
	uint32_t learned;
	char uuid[37];
	const char *id = u->id;
	int err = 0;

	if (!e)
		return;
	if (!(u->set & PROTO_F_ID)) {
		srv_uuid4(uuid);
		id = uuid;
	}
	te = srv_table_get(&core->table, id);
	if (te) {
		update_race(core, e, te, u, now);
		return;
	}
	if (core->table.count >= core->cfg->max_races) {
		set_error(e, 409, "race_limit", NULL,
			  "the server holds its maximum number of races; "
			  "dismiss finished ones or raise --max-races");
		return;
	}
	/* A race without an ETA gets the server's prediction (a shallow
	 * copy: the strings stay the request's). */
	with_eta = *u;
	srv_learn_predict(core->learn, &with_eta);
	race = proto_race_create(&with_eta, id, now, &err);
	if (!race) {
		reply_apply_error(e, err);
		return;
	}
	te = srv_table_insert(&core->table, race);
	if (!te) {
		proto_race_free(race);
		set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	if (touch(core, id)) {
		srv_table_remove(&core->table, id);
		set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	learned = race->has & (PROTO_F_PROGRESS | PROTO_F_ETA_SEC |
			       PROTO_F_COMPLETED_AT);
	srv_learn_after_change(core->learn, race, &te->track, &learned, now);
	if (race->has & PROTO_F_COMPLETED_AT)
		srv_expiry_push(&core->expiry, race->id, race->completed_at,
				core->cfg->finished_ttl_sec);
	set_change(core, e, PROTO_DELTA_CREATE, race, te->track, 0, now, 201,
		   race->state, NULL);
}

void srv_core_patch(struct srv_core *core, struct srv_requester *rq,
		    const char *id, const struct proto_race_update *u)
{
	struct batch_entry *e = queue(core, rq);
	struct srv_table_entry *te;

	if (!e)
		return;
	te = srv_table_get(&core->table, id);
	if (!te)
		not_found(e, id);
	else
		update_race(core, e, te, u, srv_now_ms());
}

void srv_core_event(struct srv_core *core, struct srv_requester *rq,
		    const char *id, struct proto_event *ev)
{
	struct batch_entry *e = queue(core, rq);
	struct srv_table_entry *te = srv_table_get(&core->table, id);
	uint32_t changed = 0;

	if (!e || !te) {
		if (e)
			not_found(e, id);
		proto_event_fini(ev);
		return;
	}
	if (touch(core, id) ||
	    proto_race_add_event(te->race, ev, &changed)) {
		proto_event_fini(ev);
		set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	set_change(core, e, PROTO_DELTA_UPDATE, te->race, te->track, changed,
		   srv_now_ms(), 200, te->race->state, NULL);
}

void srv_core_delete(struct srv_core *core, struct srv_requester *rq,
		     const char *id)
{
	static const char deleted_head[] = "{\"message\":\"race deleted\",\"id\":\"";
	struct batch_entry *e = queue(core, rq);
	struct srv_table_entry *te = srv_table_get(&core->table, id);
	struct proto_buf b;
	int64_t now = srv_now_ms();
	int rc;

	if (!e)
		return;
	if (!te) {
		not_found(e, id);
		return;
	}
	e->res.status = 200;
	e->res.seq = ++core->seq;
	e->op = PROTO_DELTA_DELETE;
	e->id = strdup(id);
	e->source = strdup(te->race->source);
	e->state = e->prev_state = te->race->state;
	e->delta = encode_delta(e->res.seq, now, PROTO_DELTA_DELETE, id, NULL,
				0, &e->delta_len);
	/* ids are [A-Za-z0-9._:-]: nothing to escape */
	proto_buf_init(&b, LWS_PRE);
	rc = proto_buf_append(&b, deleted_head, sizeof(deleted_head) - 1);
	if (rc == PROTO_OK)
		rc = proto_buf_append(&b, id, strlen(id));
	if (rc == PROTO_OK)
		rc = proto_buf_append(&b, "\"}", 2);
	e->res.buf = take(&b, rc, &e->res.len);
	srv_table_remove(&core->table, id);
	if (touch(core, id) || !e->delta || !e->id || !e->source)
		e->res.status = 500; /* fails the batch, which reloads `id` */
}

int srv_core_busy(const struct srv_core *core)
{
	return core->n_entries > 0;
}

void srv_core_wait(struct srv_core *core, struct srv_requester *rq)
{
	struct batch_entry *e = queue(core, rq);

	if (e)
		e->wait = 1;
}

void srv_core_forget(struct srv_core *core, struct srv_requester *rq)
{
	for (size_t i = 0; rq->queued && i < core->n_entries; i++)
		if (core->entries[i].rq == rq) {
			core->entries[i].rq = NULL;
			rq->queued--;
		}
}

/* After a failed commit: LMDB holds the truth, so reload what the batch
 * touched and forget the sequence numbers it took. */
static void rollback(struct srv_core *core)
{
	for (size_t i = 0; i < core->n_touched; i++) {
		struct proto_race *race = NULL;
		int rc = store_get_race(core->store, core->touched[i], &race);

		if (rc == STORE_OK) {
			if (srv_table_replace(&core->table, race))
				proto_race_free(race);
		} else {
			srv_table_remove(&core->table, core->touched[i]);
		}
	}
	core->seq = store_seq(core->store);
}

/* Builds the batch's store operations and commits them. */
static int commit(struct srv_core *core)
{
	size_t n_puts, n = 0;
	const struct srv_learn_put *puts = srv_learn_puts(core->learn, &n_puts);
	size_t cap = core->n_touched + core->n_entries + n_puts + 1;
	struct store_op *ops;
	uint64_t keep_from = 0;
	struct timespec t0, t1;
	int rc;

	for (size_t i = 0; i < core->n_entries; i++)
		if (core->entries[i].res.status >= 500 &&
		    core->entries[i].res.seq)
			return STORE_ENOMEM;
	if (core->n_touched == 0)
		return STORE_OK;
	ops = calloc(cap, sizeof(*ops));
	if (!ops)
		return STORE_ENOMEM;
	for (size_t i = 0; i < core->n_touched; i++) {
		struct srv_table_entry *te =
			srv_table_get(&core->table, core->touched[i]);

		ops[n].kind = te ? STORE_OP_PUT_RACE : STORE_OP_DEL_RACE;
		ops[n].id = core->touched[i];
		ops[n++].race = te ? te->race : NULL;
	}
	for (size_t i = 0; i < core->n_entries; i++) {
		struct batch_entry *e = &core->entries[i];

		if (!e->delta)
			continue;
		ops[n].kind = STORE_OP_PUT_DELTA;
		ops[n].seq = e->res.seq;
		ops[n].data = e->delta + LWS_PRE;
		ops[n++].len = e->delta_len;
	}
	for (size_t i = 0; i < n_puts; i++) {
		ops[n].kind = STORE_OP_PUT_HISTORY;
		ops[n].id = puts[i].key;
		ops[n].data = (const char *)puts[i].data;
		ops[n++].len = puts[i].len;
	}
	if (core->seq > core->cfg->delta_log_max)
		keep_from = core->seq - core->cfg->delta_log_max + 1;
	if (keep_from > core->first_delta) {
		ops[n].kind = STORE_OP_TRIM_DELTAS;
		ops[n++].seq = keep_from;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = store_commit(core->store, ops, n, core->seq);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (core->metrics)
		srv_metrics_commit(core->metrics,
				   (double)(t1.tv_sec - t0.tv_sec) +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
				   rc == STORE_OK);
	free(ops);
	if (rc == STORE_OK && keep_from > core->first_delta)
		core->first_delta = keep_from;
	if (rc == STORE_OK && !core->first_delta && core->seq)
		core->first_delta = 1;
	return rc;
}

/* Turns a write's success into the batch's failure. */
static void fail_write(struct batch_entry *e, int rc)
{
	free(e->res.buf);
	e->res.buf = NULL;
	e->res.seq = 0;
	if (rc == STORE_EFULL)
		set_error(e, 507, "store_full", NULL,
			  "the data store is full; the change was not saved");
	else
		set_error(e, 503, "store_unavailable", NULL,
			  "the change could not be saved; it was not applied");
}

void srv_core_flush(struct srv_core *core)
{
	struct batch_entry *entries = core->entries;
	size_t n = core->n_entries;
	int rc;

	if (!n)
		return;
	rc = commit(core);
	if (rc != STORE_OK) {
		lwsl_err("commit of %zu writes failed: %s\n", n,
			 store_strerror(rc));
		rollback(core);
	}
	for (size_t i = 0; i < core->n_touched; i++)
		free(core->touched[i]);
	core->n_touched = 0;
	core->batch_gen++;
	srv_learn_clear_puts(core->learn);

	/* Detach the batch first: callbacks below may queue new work. */
	core->entries = NULL;
	core->n_entries = core->cap_entries = 0;
	for (size_t i = 0; i < n; i++) {
		struct batch_entry *e = &entries[i];

		if (rc != STORE_OK && !e->wait &&
		    (e->res.status < 400 || e->res.seq))
			fail_write(e, rc);
		if (rc == STORE_OK && e->delta && core->publish) {
			struct srv_change ch = {
				.seq = e->res.seq,
				.id = e->id,
				.source = e->source,
				.state = e->state,
				.prev_source = e->prev_source ? e->prev_source
							      : e->source,
				.prev_state = e->prev_state,
				.op = (int)e->op,
				.delta = e->delta + LWS_PRE,
				.delta_len = e->delta_len,
				.full = e->full ? e->full + LWS_PRE : NULL,
				.full_len = e->full_len,
				.race = e->op == PROTO_DELTA_DELETE ? NULL
					: srv_core_get(core, e->id),
			};

			core->publish(core->publish_ctx, &ch);
		}
		if (e->rq) {
			e->rq->queued--;
			if (e->wait)
				e->rq->resume(e->rq);
			else
				e->rq->complete(e->rq, &e->res);
		}
		free(e->res.buf);   /* NULL unless the requester was gone */
		free(e->delta);
		free(e->full);
		free(e->id);
		free(e->source);
		free(e->prev_source);
	}
	free(entries);
}

size_t srv_core_expire(struct srv_core *core, int64_t now)
{
	size_t n = 0;
	char *id;
	int64_t completed_at;

	while ((id = srv_expiry_pop_due(&core->expiry, now, &completed_at))) {
		const struct proto_race *race = srv_core_get(core, id);

		if (race && race->has & PROTO_F_COMPLETED_AT &&
		    race->completed_at == completed_at &&
		    proto_state_is_terminal(race->state)) {
			srv_core_delete(core, NULL, id);
			n++;
		}
		free(id);
	}
	return n;
}

static int load_one(void *ctx, struct proto_race *race)
{
	struct srv_core *core = ctx;

	if (!srv_table_insert(&core->table, race)) {
		proto_race_free(race);
		return STORE_ENOMEM;
	}
	if (race->has & PROTO_F_COMPLETED_AT &&
	    proto_state_is_terminal(race->state))
		srv_expiry_push(&core->expiry, race->id, race->completed_at,
				core->cfg->finished_ttl_sec);
	return 0;
}

static int no_delta(void *ctx, uint64_t seq, const char *data, size_t len)
{
	(void)ctx, (void)seq, (void)data, (void)len;
	return 1; /* only the first seq was wanted */
}

struct srv_core *srv_core_new(struct store *st, const struct srv_cfg *cfg,
			      int *err)
{
	struct srv_core *core = calloc(1, sizeof(*core));
	int rc = STORE_ENOMEM;

	if (!core)
		goto fail;
	core->store = st;
	core->cfg = cfg;
	core->batch_gen = 1; /* new table entries carry 0: never "touched" */
	if (srv_table_init(&core->table))
		goto fail;
	rc = store_load_races(st, load_one, core);
	if (rc)
		goto fail;
	core->learn = srv_learn_new(cfg, st, &rc);
	if (!core->learn)
		goto fail;
	core->seq = store_seq(st);
	rc = store_deltas_since(st, 0, &core->first_delta, no_delta, NULL);
	if (rc < 0)
		goto fail;
	return core;
fail:
	*err = rc;
	srv_core_free(core);
	return NULL;
}

void srv_core_free(struct srv_core *core)
{
	if (!core)
		return;
	srv_core_flush(core);
	srv_table_fini(&core->table);
	srv_expiry_fini(&core->expiry);
	srv_learn_free(core->learn);
	free(core->touched);
	free(core);
}

void srv_core_attach(struct srv_core *core, struct lws_context *ctx)
{
	core->ctx = ctx;
	lws_sul_schedule(ctx, 0, &core->expiry_sul, expiry_cb, 1);
}

void srv_core_detach_context(struct srv_core *core)
{
	if (!core->ctx)
		return;
	lws_sul_cancel(&core->flush_sul);
	lws_sul_cancel(&core->expiry_sul);
	core->flush_scheduled = 0;
	core->ctx = NULL;
}

void srv_core_set_metrics(struct srv_core *core, struct srv_metrics *m)
{
	core->metrics = m;
}

void srv_core_set_publisher(struct srv_core *core, srv_publish_fn fn,
			    void *ctx)
{
	core->publish = fn;
	core->publish_ctx = ctx;
}

const struct proto_race *srv_core_get(const struct srv_core *core,
				      const char *id)
{
	struct srv_table_entry *te = srv_table_get(&core->table, id);

	return te ? te->race : NULL;
}

const struct srv_table *srv_core_table(const struct srv_core *core)
{
	return &core->table;
}

uint64_t srv_core_seq(const struct srv_core *core)
{
	return core->seq;
}

struct store *srv_core_store(const struct srv_core *core)
{
	return core->store;
}
