/*
 * board.h - the state behind `raceboard watch`: races kept up to date
 * from raceboard.v1 frames (snapshot, delta, batch, heartbeat), the
 * server clock estimated from `server_time`, and the dual-rail rules of
 * the web page (issue 4) computed for one race.
 *
 * Pure: no I/O and no clock; "now" comes in as an argument.
 */
#ifndef RACEBOARD_CLI_BOARD_H
#define RACEBOARD_CLI_BOARD_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_BOARD_OVERLAY_CAP 20  /* predicted points above the solid rail */
#define CLI_BOARD_OVERLAY_MIN 5   /* no overlay below this reported progress */

struct cli_board {
	json_object *races;   /* owned: id -> race object */
	int64_t seq;          /* last seq applied, 0 before any */
	int64_t offset_ms;    /* server clock minus ours */
	int have_offset;
	/* Subscription filter (borrowed lists, may be NULL): a race that
	 * leaves it is dropped after its last update. */
	const char *const *states, *const *sources, *const *ids;
};

/* What one race shows at server time `now_ms`. */
struct cli_rail {
	int solid;            /* reported progress, -1 unknown */
	int predicted;        /* >= solid when an overlay shows, else -1 */
	int64_t eta_left;     /* seconds left, -1 when there is no ETA */
	int eta_approx;       /* show "≈": stale or predicted */
	int finishing;        /* the ETA ran out: "Finishing soon" */
};

/* Starts an empty board. Returns CLI_OK or CLI_ENOMEM. */
int cli_board_init(struct cli_board *b);

/* Frees the races; safe twice. */
void cli_board_fini(struct cli_board *b);

/*
 * Applies one frame (borrowed) received at local time local_ms. Returns
 * 1 when the races changed, 0 when not (hello, heartbeat, acks), or -1
 * for a frame that is not a raceboard.v1 object.
 */
int cli_board_apply(struct cli_board *b, json_object *frame,
		    int64_t local_ms);

/* The server's clock at local time local_ms (our best estimate). */
int64_t cli_board_server_now(const struct cli_board *b, int64_t local_ms);

/*
 * Fills *out for race (borrowed) at server time now_ms, with the trust
 * window: the overlay appears only once now - last_progress_update
 * exceeds update_interval_hint, never for eta_source 1, never below
 * CLI_BOARD_OVERLAY_MIN, at most CLI_BOARD_OVERLAY_CAP points above the
 * solid rail and never at 100.
 */
void cli_board_rail(json_object *race, int64_t now_ms, struct cli_rail *out);

/* Formats seconds as "45s", "2m 30s", "1h 05m". */
void cli_board_duration(int64_t sec, char *buf, size_t cap);

/*
 * Fills out[0..cap) with the races (borrowed), newest started_at first.
 * Returns how many there are (may exceed cap; only cap are written).
 */
size_t cli_board_sorted(const struct cli_board *b, json_object **out,
			size_t cap);

#endif
