/*
 * learn.h - what the server learns from races (issue 5), wired into the
 * write path: ETAs for races created without one, server revisions of
 * its own ETAs as a race advances, the update cadence a race really has,
 * and the read-time progress_prediction.
 *
 * The model itself is predict/ (pure); this file decides when to consult
 * and feed it and persists its histories through the write path's batch, so a
 * learned duration is durable with the finish that taught it, and the
 * model learns a finish only once it is durable. Service thread only.
 */
#ifndef RACEBOARD_SERVER_LEARN_H
#define RACEBOARD_SERVER_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "predict.h"
#include "race.h"
#include "store.h"

struct srv_learn;

/*
 * A finish waiting for its batch's commit: the key's history as it will
 * be stored (data, len: written with the batch) and what the model will
 * record once the batch is durable. Owned by the learner.
 */
struct srv_learn_put {
	char *key;
	uint8_t data[PRED_HIST_ENCODED_MAX];
	size_t len;
	char *context;              /* NULL: none */
	enum pred_outcome outcome;
	double duration_sec;
	int64_t end_ms;
	uint16_t shape[PRED_SHAPE_MARKS]; /* pred_track_shape(); zeroes: none */
	struct pred_history hist;   /* the key's history with this finish */
};

/* Creates the learner and loads every stored history. NULL on failure,
 * with *err a STORE_E* code. */
struct srv_learn *srv_learn_new(const struct srv_cfg *cfg, struct store *st,
				int *err);

void srv_learn_free(struct srv_learn *l);

/*
 * For a create request without eta_sec: fills *u (a shallow copy the
 * caller does not fini) with the predicted ETA, its eta_source (3 or 4)
 * and confidence. Leaves *u alone when there is no prediction.
 */
void srv_learn_predict(struct srv_learn *l, struct proto_race_update *u);

/*
 * After a change to `race` at `now` (`changed` from proto_race_apply;
 * `track` is the race's progress tracker, may be NULL): queues a finish
 * for the model with the current batch (the model learns it only once
 * the batch is committed, srv_learn_settle), learns the cadence and
 * revises a server-owned ETA. Server-derived changes are applied to the
 * race and OR-ed into *changed.
 */
void srv_learn_after_change(struct srv_learn *l, struct proto_race *race,
			    struct pred_track **track, uint32_t *changed,
			    int64_t now);

/*
 * The finishes of a batch go through three steps, in batch order:
 * queued (by srv_learn_after_change, for the batch that accumulates),
 * sealed (srv_learn_seal: the batch was handed to the commit; at most
 * one batch is sealed at a time), settled (srv_learn_settle: recorded in
 * the model when the commit succeeded, dropped when it failed).
 * srv_learn_clear_puts() drops the queued ones (their batch failed).
 */

/* Finishes queued for the accumulating batch; borrowed. */
const struct srv_learn_put *srv_learn_puts(const struct srv_learn *l,
					   size_t *n);
void srv_learn_clear_puts(struct srv_learn *l);

/* Seals the queued finishes (none may be sealed already) and returns
 * them, borrowed and unchanged until srv_learn_settle(). */
const struct srv_learn_put *srv_learn_seal(struct srv_learn *l, size_t *n);

/* Records the sealed finishes in the model (committed != 0) or drops
 * them (their batch failed). */
void srv_learn_settle(struct srv_learn *l, int committed);

/*
 * Writes what snprintf("%.6g") prints for x rounded to a multiple of
 * 10^-decimals (0..4) the way progress_prediction rounds it, into buf
 * (at least 24 bytes), and returns its length; returns 0 (buf
 * unspecified) when the rounded value has more than 6 digits or is not
 * finite, where the caller must use printf. Exposed for the tests.
 */
size_t srv_learn_format_rounded(double x, int decimals, char *buf);

/* Largest progress_prediction object srv_learn_progress_write() makes. */
#define SRV_LEARN_PROGRESS_MAX 192

/*
 * Writes the progress_prediction object of a running race at `now` as
 * JSON text into buf (SRV_LEARN_PROGRESS_MAX bytes) and returns its
 * length, or returns 0 when the race has none (not running).
 */
size_t srv_learn_progress_write(const struct proto_race *race,
				const struct pred_track *track, int64_t now,
				char *buf);

#endif
