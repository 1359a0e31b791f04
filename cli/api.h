/*
 * api.h - the Raceboard REST API as the CLI uses it: one call per request,
 * JSON replies decoded with json-c, server errors turned into a message
 * fit for a terminal ("message (field: x)").
 */
#ifndef RACEBOARD_CLI_API_H
#define RACEBOARD_CLI_API_H

#include <json-c/json.h>
#include <stddef.h>

#include "http.h"

struct cli_api {
	struct cli_url url;
	const char *token;  /* borrowed; NULL for none */
	int timeout_ms;
};

/*
 * Sends `method path` with an optional JSON text body (borrowed, may be
 * NULL; sent as is, so a raw --json body reaches the server unchanged).
 * Returns CLI_OK on a 2xx reply, with *reply (may be NULL) set to the
 * owned decoded body (NULL when it is not JSON). On failure returns
 * CLI_ESERVER (the server answered with an error status) or a network
 * error, *reply stays NULL, and `err` (capacity errcap) holds a one-line
 * explanation, e.g. "progress must be 0-100 (field: progress, HTTP 400
 * out_of_range)". *status, when non-NULL, gets the HTTP status or 0.
 */
int cli_api_call(const struct cli_api *api, const char *method,
		 const char *path, const char *body, int *status,
		 json_object **reply, char *err, size_t errcap);

/* Builds "/race/<escaped id>[suffix]" into buf. Returns CLI_OK or
 * CLI_EINVAL when it does not fit. */
int cli_api_race_path(char *buf, size_t cap, const char *id,
		      const char *suffix);

/*
 * Sets *out from the server's JSON error body `body` (borrowed) for the
 * HTTP status: "message (field: f, HTTP 400 code)". Falls back to the
 * status line when the body is not the documented error object.
 */
void cli_api_format_error(const char *body, int status, char *out,
			  size_t cap);

#endif
