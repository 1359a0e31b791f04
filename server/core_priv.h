/*
 * core_priv.h - what core.c (the write operations) and core_batch.c (the
 * batch: queueing, group commit, rollback, publish, answers) share. Not
 * part of the server's API: only those two files include it.
 * Service thread only.
 */
#ifndef RACEBOARD_SERVER_CORE_PRIV_H
#define RACEBOARD_SERVER_CORE_PRIV_H

#include <libwebsockets.h>

#include "core.h"
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

/*
 * Takes a new entry at the end of the batch (its result is answered to rq,
 * which may be NULL) and arms the flush for this loop turn. NULL on
 * allocation failure.
 */
struct batch_entry *srv_core__queue(struct srv_core *core,
				    struct srv_requester *rq);

/* Makes an entry an error reply. */
void srv_core__set_error(struct batch_entry *e, int status, const char *code,
			 const char *field, const char *message);

/* Records that the batch writes race `id` (once per batch). -1 on
 * allocation failure. */
int srv_core__touch(struct srv_core *core, const char *id);

/* The zero-delay timer that commits the batch. */
void srv_core__flush_cb(lws_sorted_usec_list_t *sul);

#endif
