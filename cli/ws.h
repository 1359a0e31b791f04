/*
 * ws.h - a minimal blocking RFC 6455 WebSocket client: the opening
 * handshake (with Sec-WebSocket-Accept checked), masked text frames,
 * fragmented messages, ping/pong and the closing handshake.
 *
 * One thread per connection. Never includes libwebsockets.
 */
#ifndef RACEBOARD_CLI_WS_H
#define RACEBOARD_CLI_WS_H

#include <stddef.h>

#include "http.h"

struct cli_ws;

/*
 * Connects to base + `path` on the URL's server (ws://, or wss:// for an
 * https:// URL, trusted as the REST calls are), asking for `subprotocol`
 * (may be NULL) with a Bearer `token` (may be NULL), within timeout_ms.
 * Returns CLI_OK with *out set (owned; free with cli_ws_close), or
 * CLI_ESERVER when the server took the connection but refused or broke
 * the upgrade (no WebSocket there: fall back to REST), or CLI_ECONNECT,
 * CLI_EREFUSED, CLI_ERESOLVE, CLI_ETIMEOUT, or CLI_ETLS with `why` (cap
 * bytes) saying what the certificate check refused. *out is NULL on
 * failure.
 */
int cli_ws_connect(const struct cli_url *u, const char *path,
		   const char *subprotocol, const char *token, int timeout_ms,
		   struct cli_ws **out, char *why, size_t cap);

/* Sends one masked text frame within timeout_ms. Returns CLI_OK or a
 * network error (the connection is then unusable). */
int cli_ws_send_text(struct cli_ws *ws, const char *data, size_t len,
		     int timeout_ms);

/*
 * Waits up to timeout_ms (0: do not wait) for one whole data message,
 * answering pings and skipping pongs meanwhile. Returns CLI_OK with *msg
 * pointing at the NUL-terminated message (borrowed: valid until the next
 * call), CLI_ETIMEOUT when none is complete yet, CLI_ECLOSED when the peer
 * closed, or CLI_EIO / CLI_EPROTO (the connection is then unusable).
 */
int cli_ws_recv(struct cli_ws *ws, int timeout_ms, const char **msg,
		size_t *len);

/* The socket, for poll(), once cli_ws_recv said CLI_ETIMEOUT: readable
 * then means it has work. */
int cli_ws_fd(const struct cli_ws *ws);

/* Sends a close frame (1000, best effort) and frees ws. NULL is a no-op. */
void cli_ws_close(struct cli_ws *ws);

#endif
