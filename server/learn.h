/*
 * learn.h - what the server learns from races (issue 5), wired into the
 * write path: ETAs for races created without one, server revisions of
 * its own ETAs as a race advances, the update cadence a race really has,
 * and the read-time progress_prediction.
 *
 * The model itself is predict/ (pure); this file decides when to consult
 * and feed it and persists its histories through the core's batch, so a
 * learned duration is durable with the finish that taught it.
 * Service thread only.
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

/* A history to persist with the current batch (owned by the learner). */
struct srv_learn_put {
	char *key;
	uint8_t data[PRED_HIST_ENCODED_MAX];
	size_t len;
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
 * `track` is the race's progress tracker, may be NULL): records a finish
 * in the model (queuing its history for the batch), learns the cadence
 * and revises a server-owned ETA. Server-derived changes are applied to
 * the race and OR-ed into *changed.
 */
void srv_learn_after_change(struct srv_learn *l, struct proto_race *race,
			    struct pred_track **track, uint32_t *changed,
			    int64_t now);

/* Histories queued since the last srv_learn_clear_puts(); borrowed. */
const struct srv_learn_put *srv_learn_puts(const struct srv_learn *l,
					   size_t *n);
void srv_learn_clear_puts(struct srv_learn *l);

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
