/*
 * write_batch.c - the batch: every write is queued in the accumulating
 * batch, which a zero-delay timer (lws runs it at the start of the next
 * service pass) seals and hands to the writer thread. The writer commits
 * it in one LMDB transaction (one fsync) while the service thread goes
 * on reading and applying the next batch; lws_cancel_service() then
 * brings the service thread to srv_write_callback(), which publishes the
 * batch's deltas and answers its requesters, in request order, and hands
 * over the batch that accumulated meanwhile. A failed commit reloads what
 * both batches touched from LMDB and fails every write in them: nothing
 * is half-applied.
 *
 * Threads: everything here runs on the service thread. The commit
 * itself, and the hand-over to and from the writer thread, are in
 * write_commit.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "write_priv.h"
#include "learn.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "record.h"
#include "util.h"

static void kick(struct srv_write *wp);

void srv_write__flush_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_write *wp = lws_container_of(sul, struct srv_write,
						 flush_sul);

	srv_lock();
	wp->flush_scheduled = 0;
	kick(wp);
	srv_unlock();
}

static void arm_flush(struct srv_write *wp)
{
	if (wp->ctx && !wp->flush_scheduled) {
		wp->flush_scheduled = 1;
		srv_post_sul(&wp->flush_post, wp->ctx, &wp->flush_sul,
			     srv_write__flush_cb, 1);
	}
}

/* Puts rq on the list of requesters owed an answer the write path could not
 * queue (see pay_owed). */
static void owe(struct srv_write *wp, struct srv_requester *rq, int wait)
{
	if (wait) {
		rq->owed_wait = 1;
		wp->acc->sync = 1; /* so that a moment with nothing
				      * uncommitted comes (see kick) */
	} else {
		rq->owed++;
	}
	if (!rq->owed_listed) {
		rq->owed_listed = 1;
		rq->owed_next = wp->oom;
		wp->oom = rq;
	}
	arm_flush(wp);
}

/* Takes a new entry at the end of the accumulating batch and arms the
 * flush. NULL on allocation failure, with the 503 owed to rq. */
static struct batch_entry *queue(struct srv_write *wp,
				 struct srv_requester *rq, int wait)
{
	struct srv_batch *b = wp->acc;
	struct batch_entry *e;

	/* Once rq is owed a 503, its later requests queue behind it. */
	if (rq && rq->owed && !wait) {
		owe(wp, rq, 0);
		return NULL;
	}
	if (b->n_entries == b->cap_entries) {
		size_t cap = b->cap_entries ? b->cap_entries * 2 : 64;
		void *p = realloc(b->entries, cap * sizeof(*e));

		if (!p) {
			if (rq)
				owe(wp, rq, wait);
			return NULL;
		}
		b->entries = p;
		b->cap_entries = cap;
	}
	e = &b->entries[b->n_entries++];
	memset(e, 0, sizeof(*e));
	e->rq = rq;
	e->wait = wait;
	b->sync |= wait;
	if (rq)
		rq->queued++;
	arm_flush(wp);
	return e;
}

struct batch_entry *srv_write__queue(struct srv_write *wp,
				    struct srv_requester *rq)
{
	return queue(wp, rq, 0);
}

void srv_error_set(struct srv_error *err, const char *code,
		   const char *field, const char *message)
{
	err->code = code;
	err->field = field;
	snprintf(err->message, sizeof(err->message), "%s", message);
}

/* Puts an error into a result: the error itself and, for REST, its body.
 * An allocation failure leaves buf NULL, which HTTP answers as a bare
 * status. */
static void result_error(struct srv_result *res, int status,
			 const char *code, const char *field,
			 const char *message)
{
	res->status = status;
	srv_error_set(&res->err, code, field, message);
	res->buf = srv_error_json(code, field, message, LWS_PRE, &res->len);
}

void srv_write__set_error(struct batch_entry *e, int status, const char *code,
			 const char *field, const char *message)
{
	result_error(&e->res, status, code, field, message);
}

/* Records that the accumulating batch writes race `id`, once per race. */
int srv_write__touch(struct srv_write *wp, const char *id)
{
	struct srv_batch *b = wp->acc;
	struct srv_table_entry *te = srv_table_get(&wp->table, id);
	char *copy;

	if (te && te->batch_gen == b->gen)
		return 0;
	if (b->n_touched == b->cap_touched) {
		size_t cap = b->cap_touched ? b->cap_touched * 2 : 64;
		void *p = realloc(b->touched, cap * sizeof(char *));

		if (!p)
			return -1;
		b->touched = p;
		b->cap_touched = cap;
	}
	copy = strdup(id);
	if (!copy)
		return -1;
	b->touched[b->n_touched++] = copy;
	if (te)
		te->batch_gen = b->gen;
	return 0;
}

int srv_write_busy(const struct srv_write *wp)
{
	return wp->acc->n_entries > 0 || wp->inflight;
}

void srv_write_wait(struct srv_write *wp, struct srv_requester *rq)
{
	queue(wp, rq, 1);
}

static void forget_in(struct srv_batch *b, struct srv_requester *rq)
{
	for (size_t i = 0; rq->queued && i < b->n_entries; i++)
		if (b->entries[i].rq == rq) {
			b->entries[i].rq = NULL;
			rq->queued--;
		}
}

void srv_write_forget(struct srv_write *wp, struct srv_requester *rq)
{
	if (wp->sequencer.forget)
		wp->sequencer.forget(wp->sequencer.ctx, rq);
	/* The writer reads only a batch's ops, never entries[].rq. */
	if (wp->inflight)
		forget_in(wp->inflight, rq);
	forget_in(wp->acc, rq);
	if (rq->owed_listed) {
		struct srv_requester **pp = &wp->oom;

		while (*pp != rq)
			pp = &(*pp)->owed_next;
		*pp = rq->owed_next;
	}
	rq->owed = 0;
	rq->owed_wait = 0;
	rq->owed_listed = 0;
	rq->owed_next = NULL;
}

void srv_write__batch_fini(struct srv_batch *b)
{
	for (size_t i = 0; i < b->n_touched; i++)
		free(b->touched[i]);
	free(b->touched);
	for (size_t i = 0; i < b->n_records; i++)
		free(b->records[i]);
	free(b->records);
	free(b->ops);
	free(b->entries);
	memset(b, 0, sizeof(*b));
}

/*
 * Seals batch b for the commit: checks it (an entry that failed to encode
 * fails the whole batch) and builds its store ops from buffers it owns,
 * encoding each touched race's record now, since the table keeps
 * changing. Returns STORE_OK (b->n_ops may be 0: nothing to write) or the
 * error the batch fails with.
 */
static int seal(struct srv_write *wp, struct srv_batch *b)
{
	size_t n_puts, n = 0;
	const struct srv_learn_put *puts = srv_learn_seal(wp->learn, &n_puts);
	size_t cap = b->n_touched + b->n_entries + n_puts + 1;

	b->seq = wp->seq;
	for (size_t i = 0; i < b->n_entries; i++)
		if (b->entries[i].res.status >= 500 && b->entries[i].res.seq)
			return STORE_ENOMEM;
	if (b->n_touched == 0)
		return STORE_OK;
	b->ops = calloc(cap, sizeof(*b->ops));
	b->records = calloc(b->n_touched, sizeof(*b->records));
	if (!b->ops || !b->records)
		return STORE_ENOMEM;
	for (size_t i = 0; i < b->n_touched; i++) {
		struct srv_table_entry *te =
			srv_table_get(&wp->table, b->touched[i]);
		struct store_op *op = &b->ops[n++];
		char **rec = &b->records[b->n_records];

		op->id = b->touched[i];
		if (!te) {
			op->kind = STORE_OP_DEL_RACE;
			continue;
		}
		if (proto_record_encode(te->race, rec, &op->len) != PROTO_OK)
			return STORE_ENOMEM;
		b->n_records++;
		op->kind = STORE_OP_PUT_RECORD;
		op->data = *rec;
	}
	for (size_t i = 0; i < b->n_entries; i++) {
		struct batch_entry *e = &b->entries[i];

		if (!e->delta)
			continue;
		b->ops[n].kind = STORE_OP_PUT_DELTA;
		b->ops[n].seq = e->res.seq;
		b->ops[n].data = e->delta + LWS_PRE;
		b->ops[n++].len = e->delta_len;
	}
	for (size_t i = 0; i < n_puts; i++) {
		b->ops[n].kind = STORE_OP_PUT_HISTORY;
		b->ops[n].id = puts[i].key;
		b->ops[n].data = (const char *)puts[i].data;
		b->ops[n++].len = puts[i].len;
	}
	if (b->seq > wp->cfg->delta_log_max)
		b->keep_from = b->seq - wp->cfg->delta_log_max + 1;
	if (b->keep_from > wp->first_delta) {
		b->ops[n].kind = STORE_OP_TRIM_DELTAS;
		b->ops[n++].seq = b->keep_from;
	}
	b->n_ops = n;
	return STORE_OK;
}

/* After a failed commit: LMDB holds the truth, so reload what the batch
 * touched, with the expiry hint of a finished race (expiry may have
 * popped it to delete the race). */
static void rollback(struct srv_write *wp, const struct srv_batch *b)
{
	for (size_t i = 0; i < b->n_touched; i++) {
		struct proto_race *race = NULL;
		int rc = store_get_race(wp->store, b->touched[i], &race);

		if (rc == STORE_OK) {
			int finished = race->has & PROTO_F_COMPLETED_AT &&
				       proto_state_is_terminal(race->state);
			int64_t completed_at = race->completed_at;

			if (srv_table_replace(&wp->table, race)) {
				proto_race_free(race);
			} else if (finished) {
				srv_expiry_push(&wp->expiry, b->touched[i],
						completed_at,
						wp->cfg->finished_ttl_sec);
			}
		} else if (rc == STORE_ENOTFOUND) {
			srv_table_remove(&wp->table, b->touched[i]);
		}
		/* Any other error keeps the in-memory race: guessing it away
		 * would hide a race LMDB still holds. */
	}
}

/* Turns a write's success into the batch's failure. */
static void fail_write(struct batch_entry *e, int rc)
{
	free(e->res.buf);
	e->res.buf = NULL;
	e->res.seq = 0;
	if (rc == STORE_EFULL)
		srv_write__set_error(e, 507, "store_full", NULL,
			  "the data store is full; the change was not saved");
	else
		srv_write__set_error(e, 503, "store_unavailable", NULL,
			  "the change could not be saved; it was not applied");
}

/* Hands one committed change to the hub. */
static void publish(struct srv_write *wp, const struct batch_entry *e)
{
	struct srv_change ch;

	if (!e->delta)
		return; /* an error, a no-op or a wait: nothing changed */
	ch = (struct srv_change){
		.seq = e->res.seq,
		.id = e->id,
		.source = e->source,
		.state = e->state,
		.prev_source = e->prev_source ? e->prev_source : e->source,
		.prev_state = e->prev_state,
		.op = (int)e->op,
		.delta = e->delta + LWS_PRE,
		.delta_len = e->delta_len,
		.full = e->full ? e->full + LWS_PRE : NULL,
		.full_len = e->full_len,
		.race = e->op == PROTO_DELTA_DELETE ? NULL
			: srv_write_get(wp, e->id),
	};
	wp->publish(wp->publish_ctx, &ch);
}

/* Answers entry e: a write's result, or a waiting reader's resume. */
static void answer_one(struct batch_entry *e, int rc)
{
	if (rc != STORE_OK && !e->wait &&
	    (e->res.status < 400 || e->res.seq))
		fail_write(e, rc);
	if (e->rq) {
		e->rq->queued--;
		if (e->wait)
			e->rq->resume(e->rq);
		else
			e->rq->complete(e->rq, &e->res);
	}
}

/*
 * Answers a finished batch's entries in request order, publishing its
 * deltas (when committed); frees it. b is detached from the write path:
 * callbacks may queue new work.
 *
 * The producers come first: the writes before the batch's first waiting
 * reader are answered before anything is published, so a producer's
 * reply is queued on its connection before the hub queues the
 * subscribers (which it wakes in the next service pass, hub.h), and
 * never waits for them. Both happen only now that the commit is durable,
 * and answering a write never reads the hub. A reader resumed here (a
 * snapshot) must see the hub at the batch's last seq, or the rest of the
 * batch would reach it twice: so the whole batch is published before the
 * first resume, and the entries after it are answered in order after
 * that, keeping every requester's answers in request order.
 */
static void answer(struct srv_write *wp, struct srv_batch *b, int rc)
{
	size_t i = 0;

	for (; i < b->n_entries && !b->entries[i].wait; i++)
		answer_one(&b->entries[i], rc);
	for (size_t k = 0; rc == STORE_OK && wp->publish && k < b->n_entries;
	     k++)
		publish(wp, &b->entries[k]);
	for (; i < b->n_entries; i++)
		answer_one(&b->entries[i], rc);
	for (i = 0; i < b->n_entries; i++) {
		struct batch_entry *e = &b->entries[i];

		free(e->res.buf);   /* NULL unless the requester was gone */
		free(e->delta);
		free(e->full);
		free(e->id);
		free(e->source);
		free(e->prev_source);
	}
	srv_write__batch_fini(b);
}

/* 1 when rq's owed answers can go out now: a 503 after its queued
 * requests, a resume once nothing uncommitted is left. */
static int owed_due(const struct srv_write *wp,
		    const struct srv_requester *rq)
{
	return (rq->owed && !rq->queued) ||
	       (rq->owed_wait && !srv_write_busy(wp));
}

/* Answers what requesters are owed, where due (see queue()). */
static void pay_owed(struct srv_write *wp)
{
	struct srv_requester **pp = &wp->oom;

	while (*pp) {
		struct srv_requester *rq = *pp;
		unsigned owed;
		int wait;

		if (!owed_due(wp, rq)) {
			if (rq->owed_wait)
				wp->acc->sync = 1;
			pp = &rq->owed_next;
			continue;
		}
		owed = rq->queued ? 0 : rq->owed;
		wait = rq->owed_wait && !srv_write_busy(wp);
		rq->owed -= owed;
		rq->owed_wait = wait ? 0 : rq->owed_wait;
		if (!rq->owed && !rq->owed_wait) {
			*pp = rq->owed_next;
			rq->owed_listed = 0;
			rq->owed_next = NULL;
		}
		/* The callbacks may change the list: start over after. */
		while (owed--) {
			struct srv_result res = {0};

			result_error(&res, 503, "out_of_memory", NULL,
				     "the server is out of memory");
			rq->complete(rq, &res);
			free(res.buf);
		}
		if (wait)
			rq->resume(rq);
		pp = &wp->oom;
	}
}

/*
 * Ends the inflight batch, whose commit returned b->rc: on failure the
 * accumulating batch (computed on top of it) fails too. Then publishes
 * and answers, and pays what is owed. Service thread.
 */
static void finish_inflight(struct srv_write *wp)
{
	struct srv_batch done = *wp->inflight, next = {0};
	int rc = done.rc;

	memset(wp->inflight, 0, sizeof(*wp->inflight));
	wp->inflight = NULL;
	if (done.n_ops && wp->metrics)
		srv_metrics_commit(wp->metrics, done.commit_sec,
				   rc == STORE_OK);
	if (rc == STORE_OK) {
		if (done.n_ops && done.keep_from > wp->first_delta)
			wp->first_delta = done.keep_from;
		if (done.n_ops && !wp->first_delta && done.seq)
			wp->first_delta = 1;
		srv_learn_settle(wp->learn, 1);
	} else {
		srv_log_err("commit of %zu writes failed: %s\n", done.n_entries,
			    store_strerror(rc));
		if (wp->acc->n_entries) {
			next = *wp->acc;
			memset(wp->acc, 0, sizeof(*wp->acc));
			wp->acc->gen = ++wp->batch_gen;
		}
		rollback(wp, &done);
		rollback(wp, &next);
		srv_learn_settle(wp->learn, 0);
		srv_learn_clear_puts(wp->learn);
		wp->seq = store_seq(wp->store);
		/* Cluster mode: the entries of both batches are in the log;
		 * the sequencer delivers them again. */
		if (wp->sequencer.rewind)
			wp->sequencer.rewind(wp->sequencer.ctx, wp->seq);
	}
	answer(wp, &done, rc);
	if (next.n_entries)
		answer(wp, &next, rc);
	pay_owed(wp);
}

/*
 * When no batch is in flight, seals the accumulating one and hands it to
 * the writer. It commits here instead, blocking this thread, without a
 * writer thread, and for a batch a reader waits on (sync): the table
 * holds the writes of the batch that accumulates during a commit, so a
 * reader resumed then would see uncommitted state, and under steady
 * writes that batch is never empty. Committed here, nothing newer is
 * applied before the reader resumes; it costs the pipelining only while
 * readers wait. Loops while batches finish at once, since their
 * callbacks may queue more.
 */
static void kick(struct srv_write *wp)
{
	while (!wp->inflight && wp->acc->n_entries) {
		struct srv_batch *b = wp->acc;
		int rc;

		wp->acc = b == &wp->slots[0] ? &wp->slots[1] : &wp->slots[0];
		wp->acc->gen = ++wp->batch_gen;
		wp->inflight = b;
		rc = seal(wp, b);
		if (rc == STORE_OK && b->n_ops && wp->commit.running &&
		    !b->sync) {
			srv_write__commit_post(wp);
			return;
		}
		if (rc != STORE_OK)
			b->rc = rc;
		else if (b->n_ops)
			srv_write__commit_here(wp);
		finish_inflight(wp);
	}
	if (!wp->inflight)
		pay_owed(wp);
}

/* Finishes the inflight batch once its commit has returned for good.
 * `block`: wait for it. */
static void reap(struct srv_write *wp, int block)
{
	if (srv_write__commit_reap(wp, block))
		finish_inflight(wp);
}

int srv_write_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);
	struct srv_write *wp = p ? p->user : NULL;

	(void)user, (void)in, (void)len;
	/* Wake-ups coalesce, and arrive for every vhost: reap is a no-op
	 * when there is nothing new. */
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && wp) {
		reap(wp, 0);
		kick(wp);
	}
	return 0;
}

void srv_write_flush(struct srv_write *wp)
{
	/* Bounded: a callback could keep queueing, not forever. */
	for (int i = 0; i < 64 && srv_write_busy(wp); i++) {
		if (wp->inflight)
			reap(wp, 1);
		kick(wp);
	}
}

void srv_write__drain(struct srv_write *wp)
{
	if (!wp->commit.running)
		return;
	while (wp->inflight)
		reap(wp, 1);
	srv_write__commit_stop(wp);
	/* Later batches (none, normally) commit on this thread. */
	kick(wp);
}
