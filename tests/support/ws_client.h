/*
 * ws_client.h - a small blocking WebSocket client for the integration
 * tests: handshake with a subprotocol, masked text frames, reassembly of
 * fragmented messages, and the peer's close code.
 */
#ifndef RACEBOARD_TESTS_WS_CLIENT_H
#define RACEBOARD_TESTS_WS_CLIENT_H

#include <stddef.h>

struct ws_client {
	int fd;
	char *msg;          /* last message received, NUL-terminated */
	size_t msg_len;
	int close_code;     /* set once the server closed (0: none sent) */
};

/* Connects to ws://127.0.0.1:port<path> asking for "raceboard.v1".
 * Returns 0, or -1 when the upgrade is refused. */
int ws_open(struct ws_client *c, int port, const char *path);

/* Same, with extra request header lines ("Origin: x\r\n"). */
int ws_open_headers(struct ws_client *c, int port, const char *path,
		    const char *headers);

/* Same, with a receive buffer of `rcvbuf` bytes (0: the default), so a
 * test can make a client that stops reading push back quickly. */
int ws_open_ex(struct ws_client *c, int port, const char *path,
	       const char *headers, int rcvbuf);

/* Sends one text message (masked, as a client must). */
int ws_send(struct ws_client *c, const char *text);

/* Encodes one masked text frame for `text` into out (cap bytes; len+14
 * is always enough) and returns its length, so a test can put several
 * messages into one write. */
size_t ws_encode_frame(const char *text, unsigned char *out, size_t cap);

/* Sends raw frame bytes (for malformed-frame tests). */
int ws_send_raw(struct ws_client *c, const void *buf, size_t len);

/*
 * Receives the next data message within timeout_ms into c->msg.
 * Returns 1 for a message, 0 on timeout, -1 when closed (close_code set)
 * or on error.
 */
int ws_recv(struct ws_client *c, int timeout_ms);

void ws_close(struct ws_client *c);

#endif
