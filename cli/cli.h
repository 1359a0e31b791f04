/*
 * cli.h - shared definitions of the `raceboard` command-line producer:
 * error codes, exit statuses and the connection settings every subcommand
 * uses.
 *
 * The CLI never includes libwebsockets (STYLE.md R1: only server/ does):
 * REST goes through libcurl (http.c), and it speaks RFC 6455 itself over
 * a plain socket (ws.c).
 */
#ifndef RACEBOARD_CLI_H
#define RACEBOARD_CLI_H

#include <stdint.h>

/* Error codes: 0 is success, failures are negative (STYLE.md R3). */
enum cli_err {
	CLI_OK = 0,
	CLI_EINVAL = -1,   /* bad argument or URL */
	CLI_ENOMEM = -2,
	CLI_ECONNECT = -3, /* could not resolve or connect */
	CLI_ETIMEOUT = -4, /* the peer did not answer in time */
	CLI_EPROTO = -5,   /* the peer broke HTTP or WebSocket framing */
	CLI_EIO = -6,      /* send or recv failed, or the peer closed */
	CLI_ESERVER = -7,  /* the server answered with an error */
	CLI_ECLOSED = -8,  /* the WebSocket peer closed the connection */
	CLI_ERESOLVE = -9, /* the server's host name does not resolve */
	CLI_ETLS = -10,    /* the TLS handshake or certificate check failed */
	CLI_EREFUSED = -11, /* nothing listens at the server's address */
};

/* Exit statuses of the scripting subcommands (documented in --help). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_SERVER = 1,  /* the server refused the request */
	CLI_EXIT_USAGE = 2,   /* bad command line */
	CLI_EXIT_NETWORK = 3, /* the server could not be reached */
};

#define CLI_DEFAULT_SERVER "http://127.0.0.1:7777"

/* Returns a static English description of a cli_err code. */
const char *cli_strerror(int err);

/* Returns the current wall-clock time in milliseconds since the epoch. */
int64_t cli_now_ms(void);

/* Returns a monotonic clock reading in milliseconds. */
int64_t cli_mono_ms(void);

#endif
