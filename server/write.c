/*
 * write.c - the write operations (create, patch, event, delete, expiry):
 * each applies the update rules to the in-memory table, encodes its reply
 * and its delta once, and queues them in the batch (write_batch.c), which
 * commits, publishes and answers. Also start-up (loading races and
 * histories) and read access. Service thread only.
 */
#include "write_priv.h"

#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "intent.h"
#include "learn.h"
#include "util.h"

#define EXPIRY_PERIOD_US (1000 * LWS_US_PER_MS)

static void expiry_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_write *wp = lws_container_of(sul, struct srv_write,
						 expiry_sul);

	srv_lock();
	srv_write_expire(wp, srv_now_ms());
	srv_unlock();
	lws_sul_schedule(wp->ctx, 0, &wp->expiry_sul, expiry_cb,
			 EXPIRY_PERIOD_US);
}

/* The time a write takes: the log entry's while one is applied, else the
 * clock. */
static int64_t now_of(const struct srv_write *wp)
{
	return wp->at_set ? wp->at_now : srv_now_ms();
}

/* The seq of the change a write makes: the log entry's while one is
 * applied (an entry makes at most one change), else the next local one. */
static uint64_t next_seq(struct srv_write *wp)
{
	if (wp->at_set)
		wp->seq = wp->at_seq;
	else
		wp->seq++;
	return wp->seq;
}

/* 1 when writes become intents for the sequencer (cluster mode, and not
 * applying a log entry right now). */
static int sequenced(const struct srv_write *wp)
{
	return wp->sequencer.submit && !wp->at_set;
}

/* Hands one intent to the sequencer, with the time it was made. */
static void submit(struct srv_write *wp, struct srv_requester *rq,
		   struct proto_intent *in)
{
	in->now = srv_now_ms();
	wp->sequencer.submit(wp->sequencer.ctx, rq, in);
}

static int finished(const void *ctx, const struct proto_race *race)
{
	(void)ctx;
	return race->has & PROTO_F_COMPLETED_AT &&
	       proto_state_is_terminal(race->state);
}

/*
 * Schedules a finished race's expiry. Heap entries are hints checked
 * when due, so a race that keeps finishing and restarting leaves stale
 * ones; when they outnumber the races, the heap is rebuilt from the
 * table (O(n), amortized over as many pushes), which keeps it bounded.
 */
static void schedule_expiry(struct srv_write *wp,
			    const struct proto_race *race)
{
	struct proto_race **all;
	size_t n;

	srv_expiry_push(&wp->expiry, race->id, race->completed_at,
			wp->cfg->finished_ttl_sec);
	if (wp->expiry.n <= 2 * wp->table.count + 1024)
		return;
	all = srv_table_newest_first(&wp->table, finished, NULL, &n);
	if (!all)
		return;
	srv_expiry_fini(&wp->expiry);
	for (size_t i = 0; i < n; i++)
		srv_expiry_push(&wp->expiry, all[i]->id, all[i]->completed_at,
				wp->cfg->finished_ttl_sec);
	free(all);
}

/* Encodes a delta into a new LWS_PRE-headroom buffer; NULL on failure. */
static char *encode_delta(uint64_t seq, int64_t now, enum proto_delta_op op,
			  const char *id, const struct proto_race *race,
			  uint32_t changed, size_t *len)
{
	struct proto_buf b;
	int rc;

	proto_buf_init(&b, LWS_PRE);
	rc = proto_delta_write(&b, seq, now, op, id, race, changed);
	return proto_buf_finish(&b, rc, len);
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
	int rc;

	if (changed & PROTO_F_PROGRESS)
		extra.len = srv_learn_progress_write(race, track, now, pp);
	proto_buf_init(&b, LWS_PRE);
	rc = proto_delta_write_ex(&b, seq, now, PROTO_DELTA_UPDATE, race->id,
				  race, changed, extra.len ? &extra : NULL);
	return proto_buf_finish(&b, rc, len);
}

/*
 * Fills a successful entry: the race as the reply and, when something
 * changed, the next seq and the encoded delta. `prev_state` and
 * `prev_source` (taken; NULL when the source did not change) describe the
 * race before the change, for subscriber filters.
 */
static void set_change(struct srv_write *wp, struct batch_entry *e,
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
	e->changed = changed;
	if (op == PROTO_DELTA_CREATE || changed) {
		e->res.seq = next_seq(wp);
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
	e->res.buf = proto_buf_finish(&b, srv_write_race_json(wp, race, now, &b),
				      &e->res.len);
	if (!e->res.buf && e->res.status < 400)
		e->res.status = 500; /* fails the whole batch: never an empty ack */
}

int srv_write_race_json(const struct srv_write *wp,
			const struct proto_race *race, int64_t now,
			struct proto_buf *b)
{
	char pp[SRV_LEARN_PROGRESS_MAX];
	struct proto_json_extra extra = {"progress_prediction", pp, 0};
	struct srv_table_entry *te;

	if (race->state == PROTO_STATE_RUNNING) {
		te = srv_table_get(&wp->table, race->id);
		extra.len = srv_learn_progress_write(race, te ? te->track : NULL,
						     now, pp);
	}
	return proto_race_write_ex(b, race, extra.len ? &extra : NULL);
}

static void reply_apply_error(struct batch_entry *e, int rc)
{
	if (rc == PROTO_ELIMIT)
		srv_write__set_error(e, 400, "too_many", "metadata",
			  "metadata may hold at most 64 keys");
	else if (rc == PROTO_ENOMEM)
		srv_write__set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
	else
		srv_write__set_error(e, 400, "invalid_value", NULL,
			  "the update is not valid for this race");
}

static void not_found(struct batch_entry *e, const char *id)
{
	char msg[PROTO_ID_MAX + 64];

	snprintf(msg, sizeof(msg), "no race with id '%.*s'", PROTO_ID_MAX,
		 id);
	srv_write__set_error(e, 404, "not_found", "id", msg);
}

/* Applies an update to an existing race and fills the entry. */
static void update_race(struct srv_write *wp, struct batch_entry *e,
			struct srv_table_entry *te,
			const struct proto_race_update *u, int64_t now)
{
	struct proto_race *race = te->race;
	uint32_t changed = 0;
	enum proto_state prev_state = race->state;
	char *prev_source;
	int rc;

	/* Touch first: once the race changes it must be in the batch, or a
	 * refused write would still have changed memory. */
	if (srv_write__touch(wp, race->id)) {
		srv_write__set_error(e, 503, "out_of_memory", NULL,
				    "the server is out of memory");
		return;
	}
	prev_source = u->set & PROTO_F_SOURCE ? strdup(race->source) : NULL;
	rc = proto_race_apply(race, u, now, &changed);
	if (rc) {
		free(prev_source);
		reply_apply_error(e, rc);
		return;
	}
	if (prev_source && !strcmp(prev_source, race->source)) {
		free(prev_source);
		prev_source = NULL;
	}
	srv_learn_after_change(wp->learn, race, &te->track, &changed, now);
	if (changed & PROTO_F_COMPLETED_AT && race->has & PROTO_F_COMPLETED_AT)
		schedule_expiry(wp, race);
	set_change(wp, e, PROTO_DELTA_UPDATE, race, te->track, changed, now,
		   200, prev_state, prev_source);
}

void srv_write_create(struct srv_write *wp, struct srv_requester *rq,
		     const struct proto_race_update *u)
{
	struct batch_entry *e;
	int64_t now = now_of(wp);
	struct srv_table_entry *te;
	struct proto_race *race;
	struct proto_race_update with_eta;
	uint32_t learned;
	char uuid[37];
	const char *id = u->id;
	int err = 0;

	if (!(u->set & PROTO_F_ID)) {
		srv_uuid4(uuid);
		id = uuid;
	}
	if (sequenced(wp)) {
		/* The id is chosen here, once: every node applies it. */
		struct proto_intent in = {.op = PROTO_INTENT_CREATE,
					  .id = (char *)id, .u = *u};

		in.u.id = (char *)id;
		in.u.set |= PROTO_F_ID;
		submit(wp, rq, &in);
		return;
	}
	e = srv_write__queue(wp, rq);
	if (!e)
		return;
	te = srv_table_get(&wp->table, id);
	if (te) {
		update_race(wp, e, te, u, now);
		return;
	}
	if (wp->table.count >= wp->cfg->max_races) {
		srv_write__set_error(e, 409, "race_limit", NULL,
			  "the server holds its maximum number of races; "
			  "dismiss finished ones or raise --max-races");
		return;
	}
	/* A race without an ETA gets the server's prediction (a shallow
	 * copy: the strings stay the request's). */
	with_eta = *u;
	srv_learn_predict(wp->learn, &with_eta);
	race = proto_race_create(&with_eta, id, now, &err);
	if (!race) {
		reply_apply_error(e, err);
		return;
	}
	te = srv_table_insert(&wp->table, race);
	if (!te) {
		proto_race_free(race);
		srv_write__set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	if (srv_write__touch(wp, id)) {
		srv_table_remove(&wp->table, id);
		srv_write__set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	learned = race->has & (PROTO_F_PROGRESS | PROTO_F_ETA_SEC |
			       PROTO_F_COMPLETED_AT);
	srv_learn_after_change(wp->learn, race, &te->track, &learned, now);
	if (race->has & PROTO_F_COMPLETED_AT)
		schedule_expiry(wp, race);
	set_change(wp, e, PROTO_DELTA_CREATE, race, te->track, 0, now, 201,
		   race->state, NULL);
}

void srv_write_patch(struct srv_write *wp, struct srv_requester *rq,
		    const char *id, const struct proto_race_update *u)
{
	struct batch_entry *e;
	struct srv_table_entry *te;

	if (sequenced(wp)) {
		struct proto_intent in = {.op = PROTO_INTENT_PATCH,
					  .id = (char *)id, .u = *u};

		submit(wp, rq, &in);
		return;
	}
	e = srv_write__queue(wp, rq);
	if (!e)
		return;
	te = srv_table_get(&wp->table, id);
	if (!te)
		not_found(e, id);
	else
		update_race(wp, e, te, u, now_of(wp));
}

void srv_write_event(struct srv_write *wp, struct srv_requester *rq,
		    const char *id, struct proto_event *ev)
{
	struct batch_entry *e;
	struct srv_table_entry *te;
	uint32_t changed = 0;

	if (sequenced(wp)) {
		struct proto_intent in = {.op = PROTO_INTENT_EVENT,
					  .id = (char *)id, .ev = *ev};

		submit(wp, rq, &in);
		proto_event_fini(ev);
		return;
	}
	e = srv_write__queue(wp, rq);
	te = srv_table_get(&wp->table, id);
	if (!e || !te) {
		if (e)
			not_found(e, id);
		proto_event_fini(ev);
		return;
	}
	if (srv_write__touch(wp, id) ||
	    proto_race_add_event(te->race, ev, &changed)) {
		proto_event_fini(ev);
		srv_write__set_error(e, 503, "out_of_memory", NULL,
			  "the server is out of memory");
		return;
	}
	set_change(wp, e, PROTO_DELTA_UPDATE, te->race, te->track, changed,
		   now_of(wp), 200, te->race->state, NULL);
}

void srv_write_delete(struct srv_write *wp, struct srv_requester *rq,
		     const char *id)
{
	static const char deleted_head[] = "{\"message\":\"race deleted\",\"id\":\"";
	struct batch_entry *e;
	struct srv_table_entry *te;
	struct proto_buf b;
	int64_t now = now_of(wp);
	int rc;

	if (sequenced(wp)) {
		struct proto_intent in = {.op = PROTO_INTENT_DELETE,
					  .id = (char *)id};

		submit(wp, rq, &in);
		return;
	}
	e = srv_write__queue(wp, rq);
	te = srv_table_get(&wp->table, id);
	if (!e)
		return;
	if (!te) {
		not_found(e, id);
		return;
	}
	e->res.status = 200;
	e->res.seq = next_seq(wp);
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
	e->res.buf = proto_buf_finish(&b, rc, &e->res.len);
	srv_table_remove(&wp->table, id);
	if (srv_write__touch(wp, id) || !e->delta || !e->id || !e->source)
		e->res.status = 500; /* fails the batch, which reloads `id` */
}

/*
 * Deletes race `id` if it is still the finished race that completed at
 * `completed_at` (a later restart or re-finish keeps it); otherwise rq
 * is told there is no such race. In cluster mode, outside an apply, the
 * decision goes to the log as an intent, so every node expires the same
 * race at the same place in the order.
 */
static void expire_one(struct srv_write *wp, struct srv_requester *rq,
		       const char *id, int64_t completed_at)
{
	const struct proto_race *race = srv_write_get(wp, id);

	if (sequenced(wp)) {
		struct proto_intent in = {.op = PROTO_INTENT_EXPIRE,
					  .id = (char *)id,
					  .completed_at = completed_at};

		submit(wp, rq, &in);
	} else if (race && race->has & PROTO_F_COMPLETED_AT &&
		   race->completed_at == completed_at &&
		   proto_state_is_terminal(race->state)) {
		srv_write_delete(wp, rq, id);
	} else if (rq) {
		struct batch_entry *e = srv_write__queue(wp, rq);

		if (e)
			not_found(e, id);
	}
}

size_t srv_write_expire(struct srv_write *wp, int64_t now)
{
	size_t n = 0;
	char *id;
	int64_t completed_at;

	while ((id = srv_expiry_pop_due(&wp->expiry, now, &completed_at))) {
		const struct proto_race *race = srv_write_get(wp, id);

		if (race && race->has & PROTO_F_COMPLETED_AT &&
		    race->completed_at == completed_at &&
		    proto_state_is_terminal(race->state)) {
			expire_one(wp, NULL, id, completed_at);
			n++;
		}
		free(id);
	}
	return n;
}

void srv_write_set_sequencer(struct srv_write *wp,
			     const struct srv_sequencer *sq)
{
	if (sq)
		wp->sequencer = *sq;
	else
		memset(&wp->sequencer, 0, sizeof(wp->sequencer));
}

void srv_write_create_event(struct srv_write *wp, struct srv_requester *rq,
			    const struct proto_race_update *u,
			    struct proto_event *ev)
{
	if (sequenced(wp)) {
		struct proto_intent in = {.op = PROTO_INTENT_CREATE_EVENT,
					  .id = u->id, .u = *u, .ev = *ev};

		submit(wp, rq, &in);
		proto_event_fini(ev);
		return;
	}
	srv_write_create(wp, rq, u);
	srv_write_event(wp, NULL, u->id, ev);
}

/*
 * Applies a CREATE_EVENT entry: the create, then the event folded into
 * the create's change (same seq, one delta with both), since a log
 * entry makes at most one change. When the create changed nothing or
 * failed, the event is a change of its own (or a 404) at that seq.
 */
static void apply_create_event(struct srv_write *wp, struct srv_requester *rq,
			       struct proto_intent *in)
{
	size_t n = wp->acc->n_entries;
	struct batch_entry *e;
	struct srv_table_entry *te;
	uint32_t changed = 0;
	int64_t now = now_of(wp);

	srv_write_create(wp, rq, &in->u);
	e = wp->acc->n_entries == n + 1 ? &wp->acc->entries[n] : NULL;
	te = srv_table_get(&wp->table, in->id);
	if (!e || !e->delta || e->res.status >= 400 || !te) {
		srv_write_event(wp, NULL, in->id, &in->ev);
		return;
	}
	if (proto_race_add_event(te->race, &in->ev, &changed)) {
		proto_event_fini(&in->ev);
		e->res.status = 500; /* fails the whole batch */
		return;
	}
	free(e->delta);
	free(e->full);
	e->full = NULL;
	e->changed |= changed;
	if (e->op == PROTO_DELTA_UPDATE) {
		e->delta = encode_update(e->res.seq, now, te->race, e->changed,
					 te->track, &e->delta_len);
		if (e->changed & (PROTO_F_STATE | PROTO_F_SOURCE))
			e->full = encode_delta(e->res.seq, now,
					       PROTO_DELTA_CREATE, te->race->id,
					       te->race, 0, &e->full_len);
	} else {
		e->delta = encode_delta(e->res.seq, now, e->op, te->race->id,
					te->race, 0, &e->delta_len);
	}
	if (!e->delta || (e->changed & (PROTO_F_STATE | PROTO_F_SOURCE) &&
			  e->op == PROTO_DELTA_UPDATE && !e->full))
		e->res.status = 500; /* fails the whole batch */
}

int srv_write_apply(struct srv_write *wp, struct srv_requester *rq,
		    struct proto_intent *in, uint64_t seq)
{
	if (seq <= wp->seq) {
		proto_event_fini(&in->ev);
		return -1;
	}
	wp->at_set = 1;
	wp->at_seq = seq;
	wp->at_now = in->now;
	switch (in->op) {
	case PROTO_INTENT_CREATE:
		srv_write_create(wp, rq, &in->u);
		break;
	case PROTO_INTENT_PATCH:
		srv_write_patch(wp, rq, in->id, &in->u);
		break;
	case PROTO_INTENT_EVENT:
		srv_write_event(wp, rq, in->id, &in->ev);
		break;
	case PROTO_INTENT_DELETE:
		srv_write_delete(wp, rq, in->id);
		break;
	case PROTO_INTENT_EXPIRE:
		expire_one(wp, rq, in->id, in->completed_at);
		break;
	case PROTO_INTENT_CREATE_EVENT:
		apply_create_event(wp, rq, in);
		break;
	}
	wp->at_set = 0;
	return 0;
}

void srv_write_refuse(struct srv_write *wp, struct srv_requester *rq,
		      int status, const char *code, const char *message)
{
	struct batch_entry *e = srv_write__queue(wp, rq);

	if (e)
		srv_write__set_error(e, status, code, NULL, message);
}

static int load_one(void *ctx, struct proto_race *race)
{
	struct srv_write *wp = ctx;

	if (!srv_table_insert(&wp->table, race)) {
		proto_race_free(race);
		return STORE_ENOMEM;
	}
	if (race->has & PROTO_F_COMPLETED_AT &&
	    proto_state_is_terminal(race->state))
		srv_expiry_push(&wp->expiry, race->id, race->completed_at,
				wp->cfg->finished_ttl_sec);
	return 0;
}

static int no_delta(void *ctx, uint64_t seq, const char *data, size_t len)
{
	(void)ctx, (void)seq, (void)data, (void)len;
	return 1; /* only the first seq was wanted */
}

struct srv_write *srv_write_new(struct store *st, const struct srv_cfg *cfg,
			      int *err)
{
	struct srv_write *wp = calloc(1, sizeof(*wp));
	int rc = STORE_ENOMEM;

	if (!wp)
		goto fail;
	wp->store = st;
	wp->cfg = cfg;
	wp->acc = &wp->slots[0];
	wp->batch_gen = 1; /* new table entries carry 0: never "touched" */
	wp->acc->gen = wp->batch_gen;
	if (srv_write__commit_init(wp))
		goto fail;
	if (srv_table_init(&wp->table))
		goto fail;
	rc = store_load_races(st, load_one, wp);
	if (rc)
		goto fail;
	wp->learn = srv_learn_new(cfg, st, &rc);
	if (!wp->learn)
		goto fail;
	wp->seq = store_seq(st);
	rc = store_deltas_since(st, 0, &wp->first_delta, no_delta, NULL);
	if (rc < 0)
		goto fail;
	return wp;
fail:
	*err = rc;
	srv_write_free(wp);
	return NULL;
}

void srv_write_free(struct srv_write *wp)
{
	if (!wp)
		return;
	srv_write_flush(wp);
	srv_write__drain(wp);
	srv_write__batch_fini(&wp->slots[0]);
	srv_write__batch_fini(&wp->slots[1]);
	srv_write__commit_fini(wp);
	srv_table_fini(&wp->table);
	srv_expiry_fini(&wp->expiry);
	srv_learn_free(wp->learn);
	free(wp);
}

void srv_write_attach(struct srv_write *wp, struct lws_context *ctx)
{
	wp->ctx = ctx;
	lws_sul_schedule(ctx, 0, &wp->expiry_sul, expiry_cb, 1);
	srv_write__commit_start(wp);
}

void srv_write_detach(struct srv_write *wp)
{
	if (!wp->ctx)
		return;
	srv_write__drain(wp);
	lws_sul_cancel(&wp->flush_sul);
	srv_post_drop(&wp->flush_post);
	lws_sul_cancel(&wp->expiry_sul);
	wp->flush_scheduled = 0;
	wp->ctx = NULL;
}

void srv_write_set_metrics(struct srv_write *wp, struct srv_metrics *m)
{
	wp->metrics = m;
}

void srv_write_set_publisher(struct srv_write *wp, srv_publish_fn fn,
			    void *ctx)
{
	wp->publish = fn;
	wp->publish_ctx = ctx;
}

const struct proto_race *srv_write_get(const struct srv_write *wp,
				      const char *id)
{
	struct srv_table_entry *te = srv_table_get(&wp->table, id);

	return te ? te->race : NULL;
}

const struct srv_table *srv_write_table(const struct srv_write *wp)
{
	return &wp->table;
}

uint64_t srv_write_seq(const struct srv_write *wp)
{
	return wp->seq;
}

struct store *srv_write_store(const struct srv_write *wp)
{
	return wp->store;
}
