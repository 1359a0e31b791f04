/*
 * conn.h - one client byte stream for the WebSocket client (ws.c): plain
 * TCP for http:// URLs, TLS through OpenSSL's libssl for https:// ones,
 * with the same trust as the REST calls (the URL's --cacert file, else
 * the system's CA store) and the server's name or address checked
 * against its certificate.
 *
 * Every call is bounded by a deadline (a cli_mono_ms() reading). Never
 * includes libwebsockets.
 */
#ifndef RACEBOARD_CLI_CONN_H
#define RACEBOARD_CLI_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct cli_conn;

/*
 * Connects to the URL's server (and completes the TLS handshake for
 * https://) before the deadline. Returns CLI_OK with *out set (owned;
 * free with cli_conn_close), or CLI_ERESOLVE, CLI_EREFUSED, CLI_ECONNECT,
 * CLI_ETIMEOUT, CLI_ENOMEM, or CLI_ETLS with `why` (cap bytes) saying
 * what the TLS check refused.
 */
int cli_conn_open(const struct cli_url *u, int64_t deadline_ms,
		  struct cli_conn **out, char *why, size_t cap);

/* Sends all `n` bytes before the deadline. Returns CLI_OK or CLI_EIO /
 * CLI_ETIMEOUT (the stream is then unusable). */
int cli_conn_send(struct cli_conn *c, const void *buf, size_t n,
		  int64_t deadline_ms);

/*
 * Reads at most `cap` bytes, waiting until the deadline for some.
 * Returns the count (0 when the peer closed), or CLI_ETIMEOUT, CLI_EIO.
 * Bytes TLS already decrypted are returned without waiting, so a caller
 * that reads until CLI_ETIMEOUT may then poll cli_conn_fd() for more.
 */
long cli_conn_recv(struct cli_conn *c, void *buf, size_t cap,
		   int64_t deadline_ms);

/* The socket, for poll(). */
int cli_conn_fd(const struct cli_conn *c);

/* Closes (TLS close_notify, best effort) and frees. NULL is a no-op. */
void cli_conn_close(struct cli_conn *c);

#endif
