/*
 * report.h - the reporter behind `raceboard run`: a thread that owns every
 * network call, so the command's output never waits on the server.
 *
 * The main thread only posts the latest progress, the output's lines and,
 * at the end, the final state; the reporter creates the race, paces updates (at most one
 * per interval), derives remaining time from the progress rate, and
 * retries quietly after the first warning. Over a WebSocket producer
 * connection it waits for acks and, after a drop, reconnects and resends
 * the latest state; when the server has no WebSocket it uses REST.
 */
#ifndef RACEBOARD_CLI_REPORT_H
#define RACEBOARD_CLI_REPORT_H

#include <json-c/json.h>

#include "api.h"

struct cli_report;

struct cli_report_cfg {
	struct cli_api api;       /* copied; api.token is borrowed */
	int use_ws;               /* try the WebSocket first */
	const char *id;           /* borrowed race id (always client-chosen) */
	json_object *create_body; /* taken: source, title, metadata, ... */
	int interval_ms;          /* pacing between two updates */
	int fixed_eta;            /* --eta given: never derive an ETA */
};

/*
 * Starts the reporter thread, which creates the race at once. Returns the
 * reporter (owned), or NULL when the thread could not start (then the
 * command simply runs unreported); cfg->create_body is taken either way.
 * Main thread.
 */
struct cli_report *cli_report_start(struct cli_report_cfg *cfg);

/* Posts the latest progress (0-100; ignored unless it is higher). Cheap;
 * never blocks on the network. Main thread. NULL is a no-op. */
void cli_report_progress(struct cli_report *r, int progress);

/*
 * Posts one line of the command's output (NUL-terminated, already made
 * safe: cli_outline_clean()). The reporter sends the newest lines that
 * fit in one write with its next update, no sooner than one interval
 * after the last, and whatever is left with the final state. Main
 * thread. NULL is a no-op.
 */
void cli_report_output(struct cli_report *r, const char *line);

/*
 * Posts the final state ("passed", "failed", "canceled"), the progress to
 * report (-1 for the last one seen) and metadata to merge (taken), then
 * waits at most wait_ms (1 s when the server never answered) for the
 * server to have it. Returns CLI_OK when it
 * was delivered, else CLI_ETIMEOUT. Main thread. NULL is a no-op.
 */
int cli_report_finish(struct cli_report *r, const char *state, int progress,
		      json_object *metadata, int wait_ms);

/* Stops the thread if it is done, and frees; a reporter still stuck on
 * the network is abandoned to process exit. NULL is a no-op. */
void cli_report_free(struct cli_report *r);

#endif
