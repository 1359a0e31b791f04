/*
 * write_priv.h - what write.c (the write operations), write_batch.c (the
 * batch: queueing, sealing, rollback, publish, answers) and
 * write_commit.c (the commit, on the writer thread) share. Not part of
 * the server's API: only those three files include it. Service thread
 * only, except where a field says otherwise.
 */
#ifndef RACEBOARD_SERVER_WRITE_PRIV_H
#define RACEBOARD_SERVER_WRITE_PRIV_H

#include <libwebsockets.h>
#include <pthread.h>

#include "loop.h"
#include "write.h"
#include "delta.h"
#include "expiry.h"

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
	uint32_t changed;           /* PROTO_F_* the delta carries */
};

/*
 * One group commit: the writes of one or more loop turns. A batch
 * accumulates on the service thread (wp->acc), is sealed (its store
 * ops encoded into buffers it owns, so the writer never reads the table)
 * and handed to the writer thread (wp->inflight), and is finished on
 * the service thread once its commit returned: publish, then answer.
 */
struct srv_batch {
	struct batch_entry *entries;
	size_t n_entries, cap_entries;
	char **touched;             /* ids written by the batch (owned) */
	size_t n_touched, cap_touched;
	uint64_t gen;               /* table entries it touched carry it */
	int sync;                   /* a reader waits on it: see kick() */

	/* Set when sealed; the writer reads them, nobody writes them. */
	struct store_op *ops;       /* owned array */
	size_t n_ops;
	char **records;             /* the PUT_RECORD buffers (owned) */
	size_t n_records;
	uint64_t seq;               /* the store's last seq after the batch */
	uint64_t keep_from;         /* the delta log is trimmed below it */

	/* Set by whoever commits (the writer thread, under wp->lock). */
	int rc;                     /* STORE_OK or STORE_E* */
	double commit_sec;
	int growths;                /* map growths for this batch so far */
};

/*
 * The commit stage's state (write_commit.c): the writer thread and its
 * hand-over. `lock` guards job, done and stop; the batch a job points to
 * is the writer's from the post until `done` is set.
 */
struct srv_write_commit {
	pthread_t thread;
	int running;                /* the thread runs: commits are posted */
	int inited;                 /* lock and cond are initialized */
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* a job, its end, or stop */
	struct srv_batch *job;      /* posted, not yet taken */
	int done;                   /* the inflight batch's commit returned */
	int stop;
};

struct srv_write {
	struct store *store;
	const struct srv_cfg *cfg;
	struct srv_table table;
	struct srv_expiry expiry;
	uint64_t seq;               /* last assigned (committed or pending) */
	uint64_t first_delta;       /* lowest seq still in the delta log */
	uint64_t batch_gen;

	/* At most one batch commits while the next one accumulates. */
	struct srv_batch slots[2];
	struct srv_batch *acc;      /* where new writes go */
	struct srv_batch *inflight; /* sealed, committing; NULL: none */

	/* Requesters owed a 503 because their request could not be queued
	 * (out of memory): answered in order, once their queued ones are. */
	struct srv_requester *oom;

	struct lws_context *ctx;
	lws_sorted_usec_list_t flush_sul;
	struct srv_post flush_post;   /* flush_sul, from the fan-out thread */
	lws_sorted_usec_list_t expiry_sul;
	int flush_scheduled;

	struct srv_write_commit commit; /* write_commit.c */

	/* Cluster mode: where intents go (submit NULL: single node), and
	 * the seq and time of the log entry being applied (at_set). */
	struct srv_sequencer sequencer;
	int at_set;
	uint64_t at_seq;
	int64_t at_now;

	srv_publish_fn publish;
	void *publish_ctx;
	struct srv_learn *learn;    /* ETA prediction and cadence */
	struct srv_metrics *metrics; /* borrowed; NULL: not counted */
};

/*
 * Takes a new entry at the end of the accumulating batch (its result is
 * answered to rq, which may be NULL) and arms the flush for this loop
 * turn. NULL on allocation failure: rq is then owed a 503, which the
 * write path answers in order by itself; the caller only gives up.
 */
struct batch_entry *srv_write__queue(struct srv_write *wp,
				    struct srv_requester *rq);

/* Makes an entry an error reply. */
void srv_write__set_error(struct batch_entry *e, int status, const char *code,
			 const char *field, const char *message);

/* Records that the accumulating batch writes race `id` (once per batch).
 * -1 on allocation failure. */
int srv_write__touch(struct srv_write *wp, const char *id);

/* The zero-delay timer that hands the batch to the commit. */
void srv_write__flush_cb(lws_sorted_usec_list_t *sul);

/* Frees what a batch owns (not its entries' contents) and empties it. */
void srv_write__batch_fini(struct srv_batch *b);

/* Finishes the batch in flight and stops the writer thread; later
 * batches commit on the service thread (write_batch.c). */
void srv_write__drain(struct srv_write *wp);

/*
 * The commit stage (write_commit.c). It gets a sealed batch in
 * wp->inflight and sets its rc (STORE_OK or STORE_E*) and commit_sec.
 * Service thread, except the writer thread the stage runs itself.
 */

/* Sets up and tears down its lock (init: -1 on failure, nothing set up;
 * fini: the thread must be stopped; a no-op when not set up). */
int srv_write__commit_init(struct srv_write *wp);
void srv_write__commit_fini(struct srv_write *wp);

/* Starts the writer thread (needs wp->ctx; a failure only logs: batches
 * then commit here), and stops it (no batch may be in flight). */
void srv_write__commit_start(struct srv_write *wp);
void srv_write__commit_stop(struct srv_write *wp);

/* Hands wp->inflight to the writer thread (wp->commit.running). */
void srv_write__commit_post(struct srv_write *wp);

/* Commits wp->inflight on this thread, blocking it. */
void srv_write__commit_here(struct srv_write *wp);

/*
 * Takes the writer's result for wp->inflight, waiting for it if `block`.
 * Returns 1 when its commit has returned for good (b->rc is final), 0
 * when not yet (or after a map growth that posted it again).
 */
int srv_write__commit_reap(struct srv_write *wp, int block);

#endif
