/*
 * core.h - the one write path: validation against current state, group
 * commit to LMDB, sequence numbers, fan-out hook, expiry of finished races.
 *
 * REST and WebSocket producers both call these functions, so they share
 * the same rules, the same batching and the same publish step. A write is
 * applied to the in-memory table at once, queued, and committed together
 * with every other write of the same event-loop turn; only then are its
 * delta published and its requester answered ("durable before visible").
 * If the commit fails, the touched races are reloaded from LMDB and every
 * write of the batch is answered with an error: nothing is half-applied.
 *
 * Service thread only.
 */
#ifndef RACEBOARD_SERVER_CORE_H
#define RACEBOARD_SERVER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "race.h"
#include "store.h"
#include "table.h"

struct lws_context;
struct srv_core;

/* The outcome of one queued request. */
struct srv_result {
	int status;      /* HTTP status: 200, 201, 4xx, 5xx */
	uint64_t seq;    /* the change's sequence number; 0 for no change */
	char *buf;       /* owned reply buffer: LWS_PRE headroom, then JSON */
	size_t len;      /* bytes of JSON at buf + LWS_PRE */
	const char *content_type; /* static; NULL: application/json */
};

/*
 * Whoever waits for a queued request (an HTTP transaction, a WebSocket
 * producer). Embedded in the requester's own session data.
 */
struct srv_requester {
	/* Called with the result, in request order; takes res->buf. */
	void (*complete)(struct srv_requester *rq, struct srv_result *res);
	/* Called for a srv_core_wait() once the writes before it are
	 * durable; the requester now produces its read reply. */
	void (*resume)(struct srv_requester *rq);
	unsigned queued; /* entries in the current batch; kept by the core */
};

/* What a subscriber filter needs to know about a published change. */
struct srv_change {
	uint64_t seq;
	const char *id;
	const char *source;
	enum proto_state state;       /* after the change (before, for delete) */
	const char *prev_source;      /* before the change (= source if same) */
	enum proto_state prev_state;
	int op;                       /* enum proto_delta_op */
	const char *delta;            /* the encoded delta */
	size_t delta_len;
	const char *full;             /* when state or source changed: the
	                               * race after it as a "create" delta of
	                               * the same seq, else NULL */
	size_t full_len;
	const struct proto_race *race; /* after the change; NULL for delete */
};

typedef void (*srv_publish_fn)(void *ctx, const struct srv_change *change);

/*
 * Creates the core over an open store (borrowed) and loads every stored
 * race. Returns NULL on failure, with *err set to a STORE_E* code (or
 * STORE_ENOMEM).
 */
struct srv_core *srv_core_new(struct store *st, const struct srv_cfg *cfg,
			      int *err);

/* Frees the core and its table; pending writes must have been flushed. */
void srv_core_free(struct srv_core *core);

/* Gives the core its lws context, for timers; starts the expiry timer. */
void srv_core_attach(struct srv_core *core, struct lws_context *ctx);

/* Stops the core's timers (before lws_context_destroy). */
void srv_core_detach_context(struct srv_core *core);

/* Where commit latencies are counted (borrowed; NULL: nowhere). */
struct srv_metrics;
void srv_core_set_metrics(struct srv_core *core, struct srv_metrics *m);

/* Where committed changes go (the hub); fn may be NULL. */
void srv_core_set_publisher(struct srv_core *core, srv_publish_fn fn,
			    void *ctx);

/*
 * Writes. Each queues exactly one result for `rq` (which may be NULL for
 * internal writes) and never calls rq back before returning. The update
 * and id are borrowed; the event is taken.
 */
void srv_core_create(struct srv_core *core, struct srv_requester *rq,
		     const struct proto_race_update *u);
void srv_core_patch(struct srv_core *core, struct srv_requester *rq,
		    const char *id, const struct proto_race_update *u);
void srv_core_event(struct srv_core *core, struct srv_requester *rq,
		    const char *id, struct proto_event *ev);
void srv_core_delete(struct srv_core *core, struct srv_requester *rq,
		     const char *id);

/* Queues a ready-made error reply, keeping request order (WebSocket). */
void srv_core_fail(struct srv_core *core, struct srv_requester *rq, int status,
		   const char *code, const char *field, const char *message);

/*
 * 1 when writes are waiting to be committed. A reader that must not see
 * uncommitted state calls srv_core_wait() and reads in rq->resume.
 */
int srv_core_busy(const struct srv_core *core);
void srv_core_wait(struct srv_core *core, struct srv_requester *rq);

/* Forgets `rq`: its queued results are dropped (its connection closed). */
void srv_core_forget(struct srv_core *core, struct srv_requester *rq);

/* Commits the pending batch now (also runs by itself each loop turn). */
void srv_core_flush(struct srv_core *core);

/* Read access to committed state (borrowed, valid until the next write). */
const struct proto_race *srv_core_get(const struct srv_core *core,
				      const char *id);
const struct srv_table *srv_core_table(const struct srv_core *core);
uint64_t srv_core_seq(const struct srv_core *core);
struct store *srv_core_store(const struct srv_core *core);

/*
 * Appends the race as readers see it at `now` to b: the stored fields
 * plus the derived progress_prediction of a running race. Returns
 * PROTO_OK, or PROTO_ENOMEM with b unchanged.
 */
int srv_core_race_write(const struct srv_core *core,
			const struct proto_race *race, int64_t now,
			struct proto_buf *b);

/* Drops finished races listed longer than the TTL; returns how many. */
size_t srv_core_expire(struct srv_core *core, int64_t now);

#endif
