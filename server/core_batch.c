/*
 * core_batch.c - the batch: every write of one event-loop turn is queued
 * here and committed by a zero-delay timer that lws runs at the start of
 * the next service pass, so all the requests read in one pass share one
 * LMDB transaction (and one fsync). Only after that commit are deltas
 * published and requesters answered, in request order. A failed commit
 * reloads what the batch touched from LMDB and fails every write in it:
 * nothing is half-applied. Service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_priv.h"
#include "learn.h"
#include "metrics.h"
#include "util.h"

void srv_core__flush_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_core *core = lws_container_of(sul, struct srv_core,
						 flush_sul);

	core->flush_scheduled = 0;
	srv_core_flush(core);
}

/* Takes a new entry at the end of the batch and arms the flush. Returns
 * NULL on allocation failure. */
struct batch_entry *srv_core__queue(struct srv_core *core,
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
		lws_sul_schedule(core->ctx, 0, &core->flush_sul, srv_core__flush_cb, 1);
	}
	return e;
}

/* Puts an error into an entry. An allocation failure leaves buf NULL,
 * which the requester answers as a bare status. */
void srv_core__set_error(struct batch_entry *e, int status, const char *code,
		      const char *field, const char *message)
{
	e->res.status = status;
	e->res.buf = srv_error_json(code, field, message, LWS_PRE,
				    &e->res.len);
}

void srv_core_fail(struct srv_core *core, struct srv_requester *rq, int status,
		   const char *code, const char *field, const char *message)
{
	struct batch_entry *e = srv_core__queue(core, rq);

	if (e)
		srv_core__set_error(e, status, code, field, message);
}

/* Records that the batch writes race `id`, once per batch per race. */
int srv_core__touch(struct srv_core *core, const char *id)
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

int srv_core_busy(const struct srv_core *core)
{
	return core->n_entries > 0;
}

void srv_core_wait(struct srv_core *core, struct srv_requester *rq)
{
	struct batch_entry *e = srv_core__queue(core, rq);

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
		} else if (rc == STORE_ENOTFOUND) {
			srv_table_remove(&core->table, core->touched[i]);
		}
		/* Any other error keeps the in-memory race: guessing it away
		 * would hide a race LMDB still holds. */
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
		srv_core__set_error(e, 507, "store_full", NULL,
			  "the data store is full; the change was not saved");
	else
		srv_core__set_error(e, 503, "store_unavailable", NULL,
			  "the change could not be saved; it was not applied");
}

/* Hands one committed change to the hub. */
static void publish(struct srv_core *core, const struct batch_entry *e)
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
			: srv_core_get(core, e->id),
	};
	core->publish(core->publish_ctx, &ch);
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
	/* Publish the whole batch before answering anyone: a reader resumed
	 * below (a snapshot) must see the hub at the batch's last seq, or
	 * the rest of the batch would reach it twice. */
	for (size_t i = 0; rc == STORE_OK && core->publish && i < n; i++)
		publish(core, &entries[i]);
	for (size_t i = 0; i < n; i++) {
		struct batch_entry *e = &entries[i];

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
		free(e->res.buf);   /* NULL unless the requester was gone */
		free(e->delta);
		free(e->full);
		free(e->id);
		free(e->source);
		free(e->prev_source);
	}
	free(entries);
}

