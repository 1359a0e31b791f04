/*
 * write.h - the one write path: validation against current state, group
 * commit to LMDB, sequence numbers, fan-out hook, expiry of finished races.
 *
 * REST and WebSocket producers both call these functions, so they share
 * the same rules, the same batching and the same publish step. A write is
 * applied to the in-memory table at once, queued, and committed together
 * with every other write queued meanwhile; only then are its delta
 * published and its requester answered ("durable before visible").
 *
 * The commit (and its fsync) runs on a writer thread: while batch N
 * commits, the service thread keeps reading requests and applying them
 * into batch N+1, which is handed over as soon as N is done (at most one
 * batch commits, one accumulates). The writer gets everything it writes
 * encoded into buffers the batch owns and never touches the table, lws or
 * json-c; it wakes the service thread with lws_cancel_service(), and
 * srv_write_callback() finishes the batch there: publish, then answer, in
 * request order. A batch a reader waits on (srv_write_wait) commits on
 * the service thread instead, so that the reader resumes with nothing
 * uncommitted in the table. If commit N fails, the races N and N+1
 * touched are reloaded from LMDB and every write of both is answered
 * with an error: nothing is half-applied.
 *
 * Service thread only (the writer thread is internal).
 */
#ifndef RACEBOARD_SERVER_WRITE_H
#define RACEBOARD_SERVER_WRITE_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "race.h"
#include "store.h"
#include "table.h"

struct srv_write;

/*
 * Why a request failed, as both edges name it: REST's error body
 * {"error":code,"message":...,"field":...} and the WebSocket error frame.
 */
#define SRV_ERROR_MESSAGE_MAX (PROTO_ID_MAX + 64)
struct srv_error {
	const char *code;   /* static, e.g. "not_found"; NULL: no error */
	const char *field;  /* static: the field at fault; NULL: none */
	char message[SRV_ERROR_MESSAGE_MAX];
};

/* Fills *err (code and field must be static; message is copied,
 * truncated to fit). */
void srv_error_set(struct srv_error *err, const char *code,
		   const char *field, const char *message);

/* The outcome of one queued request. */
struct srv_result {
	int status;      /* HTTP status: 200, 201, 4xx, 5xx */
	uint64_t seq;    /* the change's sequence number; 0 for no change */
	char *buf;       /* owned reply buffer: LWS_PRE headroom, then JSON
	                  * (for an error, the REST error body of `err`) */
	size_t len;      /* bytes of JSON at buf + LWS_PRE */
	const char *content_type; /* static; NULL: application/json */
	struct srv_error err; /* status >= 400 from the write path: why */
};

/*
 * Whoever waits for a queued request (an HTTP transaction, a WebSocket
 * producer). Embedded in the requester's own session data.
 */
struct srv_requester {
	/* Called with the result, in request order; takes res->buf. */
	void (*complete)(struct srv_requester *rq, struct srv_result *res);
	/* Called for a srv_write_wait() once the writes before it are
	 * durable; the requester now produces its read reply. */
	void (*resume)(struct srv_requester *rq);
	/* Kept by the write path: */
	unsigned queued; /* its entries in the batches not yet answered */
	unsigned owed;   /* 503s owed: requests that could not be queued */
	int owed_wait;   /* a srv_write_wait() that could not be queued */
	struct srv_requester *owed_next; /* in the write path's list of debtors */
	int owed_listed;
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
	const struct proto_race *race; /* as the table holds it now, which
	                               * may include later writes not yet
	                               * committed; NULL for delete */
};

typedef void (*srv_publish_fn)(void *ctx, const struct srv_change *change);

/*
 * Creates the write path over an open store (borrowed) and loads every stored
 * race. Returns NULL on failure, with *err set to a STORE_E* code (or
 * STORE_ENOMEM).
 */
struct srv_write *srv_write_new(struct store *st, const struct srv_cfg *cfg,
			      int *err);

/* Frees the write path and its table; pending writes must have been flushed. */
void srv_write_free(struct srv_write *wp);

/*
 * Gives the write path its lws context, for timers; starts the expiry timer and
 * the writer thread (without which batches commit on the service thread).
 */
void srv_write_attach(struct srv_write *wp, struct lws_context *ctx);

/* Stops the write path's timers and its writer thread, after finishing the
 * batch in flight (before lws_context_destroy). */
void srv_write_detach(struct srv_write *wp);

/*
 * The callback of a protocol entry main() adds to the context's list with
 * .user = the write path: on LWS_CALLBACK_EVENT_WAIT_CANCELLED it finishes a
 * batch the writer thread has committed. Returns 0 for every reason.
 */
int srv_write_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len);

/* Where commit latencies are counted (borrowed; NULL: nowhere). */
struct srv_metrics;
void srv_write_set_metrics(struct srv_write *wp, struct srv_metrics *m);

/* Where committed changes go (the hub); fn may be NULL. */
void srv_write_set_publisher(struct srv_write *wp, srv_publish_fn fn,
			    void *ctx);

/*
 * Writes. Each queues exactly one result for `rq` (which may be NULL for
 * internal writes) and never calls rq back before returning; when even
 * the queueing fails (out of memory), rq still gets one answer, a 503,
 * in its turn. The update and id are borrowed; the event is taken.
 */
void srv_write_create(struct srv_write *wp, struct srv_requester *rq,
		     const struct proto_race_update *u);
void srv_write_patch(struct srv_write *wp, struct srv_requester *rq,
		    const char *id, const struct proto_race_update *u);
void srv_write_event(struct srv_write *wp, struct srv_requester *rq,
		    const char *id, struct proto_event *ev);
void srv_write_delete(struct srv_write *wp, struct srv_requester *rq,
		     const char *id);

/*
 * A create (or upsert) of u->id (which must be set) and then its event,
 * as a webhook delivery maps to: one result for rq, the create's (its
 * body is the race before the event). Single node: the two writes in
 * one loop turn, so one commit, as two changes. Cluster mode: one
 * intent, so one log entry, applied as one change carrying both (one
 * seq), so a node never holds the create without its event.
 */
void srv_write_create_event(struct srv_write *wp, struct srv_requester *rq,
			    const struct proto_race_update *u,
			    struct proto_event *ev);

/*
 * 1 when writes are waiting to be committed or committing. A reader that
 * must not see uncommitted state calls srv_write_wait() and reads in
 * rq->resume, which comes once every write queued before it is committed
 * and nothing uncommitted is left in the table.
 */
int srv_write_busy(const struct srv_write *wp);
void srv_write_wait(struct srv_write *wp, struct srv_requester *rq);

/* Forgets `rq`: its queued results are dropped (its connection closed). */
void srv_write_forget(struct srv_write *wp, struct srv_requester *rq);

/* Commits everything pending now and answers it, waiting for the batch in
 * flight (at shutdown; batches otherwise commit by themselves). */
void srv_write_flush(struct srv_write *wp);

/* Read access to committed state (borrowed, valid until the next write). */
const struct proto_race *srv_write_get(const struct srv_write *wp,
				      const char *id);
const struct srv_table *srv_write_table(const struct srv_write *wp);
uint64_t srv_write_seq(const struct srv_write *wp);
struct store *srv_write_store(const struct srv_write *wp);

/*
 * Appends the race as readers see it at `now` to b: the stored fields
 * plus the derived progress_prediction of a running race. Returns
 * PROTO_OK, or PROTO_ENOMEM with b unchanged.
 */
int srv_write_race_json(const struct srv_write *wp,
			const struct proto_race *race, int64_t now,
			struct proto_buf *b);

/* Drops finished races listed longer than the TTL; returns how many. */
size_t srv_write_expire(struct srv_write *wp, int64_t now);

/*
 * Cluster mode (docs/CLUSTER.md): a sequencer in front of the write path.
 *
 * With a sequencer set, srv_write_create/patch/event/delete and expiry
 * stop at the intent: the decoded request and the time, handed to
 * submit() instead of being applied. The sequencer appends it to the
 * shared log, and every node applies the log's entries in log order
 * with srv_write_apply(), the origin node with the requester it was
 * given, so a write is answered by its own application, and checks that
 * need the current race (404, invalid changes, the race limit) are made
 * then, identically on every node. Without a sequencer (single-node
 * mode) none of this runs: writes apply at once, as they always did.
 */
struct proto_intent;
struct srv_sequencer {
	/*
	 * Takes one intent (borrowed for the call). rq (may be NULL) gets
	 * exactly one answer later, through the write path: the
	 * sequencer either applies the intent's log entry with rq
	 * (srv_write_apply) or refuses it (srv_write_refuse), and keeps
	 * rq->queued counting the intents it holds for rq meanwhile.
	 */
	void (*submit)(void *ctx, struct srv_requester *rq,
		       const struct proto_intent *in);
	/* Drops every intent it holds for rq (its connection closed),
	 * decrementing rq->queued for each. */
	void (*forget)(void *ctx, struct srv_requester *rq);
	/*
	 * A commit failed: the write path reloaded the touched races from
	 * LMDB and dropped every entry applied after `seq` (the store's
	 * last seq; their requesters got the failure). The sequencer must
	 * deliver the log's entries after `seq` again, or this node's
	 * state would lack them while it applies later ones. May be NULL.
	 */
	void (*rewind)(void *ctx, uint64_t seq);
	void *ctx;
};

/* Installs the sequencer (copied), or removes it (NULL). */
void srv_write_set_sequencer(struct srv_write *wp,
			     const struct srv_sequencer *sq);

/*
 * Applies one log entry: the intent `in` (its event is taken; the rest
 * borrowed) with `seq` as the sequence number of the change it makes
 * and in->now as the time, instead of the next local number and the
 * clock, answering rq (may be NULL) in its turn as any write. Returns 0,
 * or -1 with nothing done when seq is not above srv_write_seq() (an
 * entry applied already).
 */
int srv_write_apply(struct srv_write *wp, struct srv_requester *rq,
		    struct proto_intent *in, uint64_t seq);

/* Answers rq, in its turn, with an error (code static, message copied),
 * without applying anything: a write the sequencer could not order. */
void srv_write_refuse(struct srv_write *wp, struct srv_requester *rq,
		      int status, const char *code, const char *message);

#endif
