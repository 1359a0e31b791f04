/*
 * opts.h - command-line helpers shared by the subcommands: the global
 * options (--server, --token, --timeout, --cacert), typed value parsing, -m pairs,
 * JSON output and usage errors.
 */
#ifndef RACEBOARD_CLI_OPTS_H
#define RACEBOARD_CLI_OPTS_H

#include <json-c/json.h>
#include <stdint.h>

#include "api.h"

/* getopt_long ids of the long-only options shared by every subcommand. */
enum cli_opt_id {
	CLI_OPT_SERVER = 256,
	CLI_OPT_TOKEN,
	CLI_OPT_TIMEOUT,
	CLI_OPT_HELP,
	CLI_OPT_ID,
	CLI_OPT_SOURCE,
	CLI_OPT_TITLE,
	CLI_OPT_STATE,
	CLI_OPT_PROGRESS,
	CLI_OPT_ETA,
	CLI_OPT_ETA_SOURCE,
	CLI_OPT_ETA_CONFIDENCE,
	CLI_OPT_INTERVAL,
	CLI_OPT_DEEPLINK,
	CLI_OPT_STARTED_AT,
	CLI_OPT_JSON,
	CLI_OPT_PRINT,
	CLI_OPT_TYPE,
	CLI_OPT_DATA,
	CLI_OPT_TIMESTAMP,
	CLI_OPT_HTTP,
	CLI_OPT_PLAIN,
	CLI_OPT_CACERT,
	CLI_OPT_EXIT_STATUS,
};

/* Where and how to reach the server; strings are borrowed from argv or
 * the environment. */
struct cli_global {
	const char *server;
	const char *token;
	const char *cacert; /* CA file trusted for https://, NULL: system's */
	int timeout_ms;
	int server_given, cacert_given; /* set by an option, not the env */
};

/* Fills *g from RACEBOARD_SERVER, RACEBOARD_TOKEN and RACEBOARD_CACERT,
 * else defaults. */
void cli_global_init(struct cli_global *g);

/*
 * Applies a global option (CLI_OPT_SERVER, CLI_OPT_TOKEN, CLI_OPT_TIMEOUT,
 * CLI_OPT_CACERT) parsed by getopt_long. Returns 1 when `opt` was one, 0 when it is not a
 * global option, or CLI_EINVAL (message printed) for a bad value.
 */
int cli_global_option(struct cli_global *g, const char *cmd, int opt,
		      const char *arg);

/* Sets *api from *g. Returns CLI_OK, or CLI_EINVAL after printing why. */
int cli_global_api(const struct cli_global *g, const char *cmd,
		   struct cli_api *api);

/* Parses a whole decimal integer. Returns CLI_OK or CLI_EINVAL with *out
 * unchanged. */
int cli_parse_int(const char *s, int64_t *out);

/* Parses a whole decimal number. Returns CLI_OK or CLI_EINVAL. */
int cli_parse_double(const char *s, double *out);

/*
 * Adds a -m pair to the metadata object `meta` (borrowed): "key=value"
 * sets a string, "key" alone sets null (which removes the key on an
 * update). Returns CLI_OK, or CLI_EINVAL for an empty key.
 */
int cli_meta_add(json_object *meta, const char *pair);

/* Prints o (borrowed) on stdout: indented when stdout is a terminal,
 * one line otherwise. */
void cli_print_json(json_object *o);

/* Prints "raceboard CMD: MESSAGE" and a pointer to --help on stderr, and
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints the help text of `cmd` ("raceboard" for the overview) on stdout.
 * Returns 0, or -1 when cmd is unknown. */
int cli_help_print(const char *cmd);

#endif
