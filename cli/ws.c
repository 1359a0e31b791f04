/*
 * ws.c - RFC 6455 client side over a blocking socket (see ws.h).
 *
 * Frames we send are masked with a fresh random key (section 5.3); frames
 * from the server must not be masked. Control frames may arrive between
 * the fragments of a message; pings are answered at once with the same
 * payload. Messages are capped at WS_MAX_MESSAGE (a full snapshot of a
 * busy server fits comfortably).
 *
 * ws:// or wss:// (the stream is conn.c's: plain TCP, or TLS through
 * libssl for https:// URLs). The handshake digest comes from libcrypto.
 */
#include "ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "cli.h"
#include "conn.h"

#define WS_MAX_MESSAGE (64u * 1024 * 1024)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum {
	OP_CONT = 0x0,
	OP_TEXT = 0x1,
	OP_BINARY = 0x2,
	OP_CLOSE = 0x8,
	OP_PING = 0x9,
	OP_PONG = 0xa,
};

struct cli_ws {
	struct cli_conn *conn;
	int close_sent;
	uint8_t *rbuf;  /* bytes received, not yet parsed */
	size_t rlen, rcap;
	char *msg;      /* the message being reassembled / returned */
	size_t mlen, mcap;
	int in_message; /* a fragmented message is open */
	int msg_done;   /* msg holds a returned message; reset next call */
};

static void random_bytes(uint8_t *p, size_t n)
{
	if (getentropy(p, n)) {
		for (size_t i = 0; i < n; i++) /* fallback: not security */
			p[i] = (uint8_t)(rand() >> 7);
	}
}

static int send_frame(struct cli_ws *ws, int op, const void *data,
		      size_t len, int timeout_ms)
{
	uint8_t *f = malloc(len + 14), key[4];
	const uint8_t *d = data;
	size_t h = 0;
	int rc;

	if (!f)
		return CLI_ENOMEM;
	f[h++] = (uint8_t)(0x80 | op);
	if (len < 126) {
		f[h++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		f[h++] = 0x80 | 126;
		f[h++] = (uint8_t)(len >> 8);
		f[h++] = (uint8_t)len;
	} else {
		f[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	random_bytes(key, 4);
	memcpy(f + h, key, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		f[h + i] = d[i] ^ key[i & 3];
	rc = cli_conn_send(ws->conn, f, h + len, cli_mono_ms() + timeout_ms);
	free(f);
	return rc;
}

int cli_ws_send_text(struct cli_ws *ws, const char *data, size_t len,
		     int timeout_ms)
{
	return send_frame(ws, OP_TEXT, data, len, timeout_ms);
}

static int rbuf_reserve(struct cli_ws *ws, size_t extra)
{
	uint8_t *p;
	size_t want = ws->rlen + extra;

	if (want <= ws->rcap)
		return CLI_OK;
	want = want < 2 * ws->rcap ? 2 * ws->rcap : want;
	p = realloc(ws->rbuf, want);
	if (!p)
		return CLI_ENOMEM;
	ws->rbuf = p;
	ws->rcap = want;
	return CLI_OK;
}

static int msg_append(struct cli_ws *ws, const uint8_t *p, size_t n)
{
	char *m;
	size_t want = ws->mlen + n + 1;

	if (ws->mlen + n > WS_MAX_MESSAGE)
		return CLI_EPROTO;
	if (want > ws->mcap) {
		want = want < 2 * ws->mcap ? 2 * ws->mcap : want;
		m = realloc(ws->msg, want);
		if (!m)
			return CLI_ENOMEM;
		ws->msg = m;
		ws->mcap = want;
	}
	memcpy(ws->msg + ws->mlen, p, n);
	ws->mlen += n;
	ws->msg[ws->mlen] = '\0';
	return CLI_OK;
}

/*
 * Parses one frame from rbuf if a whole one is there. Returns 1 when a
 * data message completed, 2 when a frame was consumed without completing
 * one (a control frame, a fragment), 0 when more bytes are needed, or a
 * negative cli_err.
 */
static int parse_frame(struct cli_ws *ws)
{
	uint8_t *b = ws->rbuf;
	size_t h = 2, len;
	int fin, op, masked, rc = 2;

	if (ws->rlen < 2)
		return 0;
	fin = b[0] & 0x80;
	op = b[0] & 0x0f;
	masked = b[1] & 0x80;
	len = b[1] & 0x7f;
	if (len == 126) {
		if (ws->rlen < 4)
			return 0;
		len = (size_t)b[2] << 8 | b[3];
		h = 4;
	} else if (len == 127) {
		uint64_t v = 0;

		if (ws->rlen < 10)
			return 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | b[2 + i];
		if (v > WS_MAX_MESSAGE)
			return CLI_EPROTO;
		len = (size_t)v;
		h = 10;
	}
	if (masked)
		h += 4;
	if (len > WS_MAX_MESSAGE)
		return CLI_EPROTO;
	if (ws->rlen < h + len)
		return 0;
	if (masked)
		for (size_t i = 0; i < len; i++)
			b[h + i] ^= b[h - 4 + (i & 3)];
	switch (op) {
	case OP_PING:
		rc = send_frame(ws, OP_PONG, b + h, len, 2000);
		rc = rc ? rc : 2;
		break;
	case OP_PONG:
		break;
	case OP_CLOSE:
		if (!ws->close_sent) {
			ws->close_sent = 1;
			send_frame(ws, OP_CLOSE, b + h, len < 2 ? len : 2, 1000);
		}
		rc = CLI_ECLOSED;
		break;
	case OP_TEXT:
	case OP_BINARY:
	case OP_CONT:
		if ((op == OP_CONT) != ws->in_message)
			return CLI_EPROTO;
		if (op != OP_CONT)
			ws->mlen = 0;
		rc = msg_append(ws, b + h, len);
		ws->in_message = !fin;
		if (!rc)
			rc = fin ? 1 : 2;
		break;
	default:
		return CLI_EPROTO;
	}
	memmove(b, b + h + len, ws->rlen - h - len);
	ws->rlen -= h + len;
	return rc;
}

int cli_ws_recv(struct cli_ws *ws, int timeout_ms, const char **msg,
		size_t *len)
{
	int64_t deadline = cli_mono_ms() + timeout_ms;

	for (;;) {
		long r;
		int rc = parse_frame(ws);

		if (rc == 1) {
			*msg = ws->msg;
			*len = ws->mlen;
			return CLI_OK;
		}
		if (rc < 0)
			return rc;
		if (rc == 2)
			continue;
		rc = rbuf_reserve(ws, 16384);
		if (rc)
			return rc;
		r = cli_conn_recv(ws->conn, ws->rbuf + ws->rlen, 16384, deadline);
		if (r == 0)
			return CLI_ECLOSED;
		if (r < 0)
			return (int)r;
		ws->rlen += (size_t)r;
	}
}

int cli_ws_fd(const struct cli_ws *ws)
{
	return cli_conn_fd(ws->conn);
}

/* Returns the "\r\n\r\n" ending the headers in p[0..n), or NULL. */
static char *find_blank_line(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(p + i, "\r\n\r\n", 4))
			return (char *)p + i;
	return NULL;
}

/* Reads the handshake response; leftover frame bytes stay in rbuf. */
static int handshake(struct cli_ws *ws, const char *key, int64_t deadline)
{
	char expect[32], *end, head[8192];
	uint8_t digest[SHA_DIGEST_LENGTH];
	char cat[96];
	const char *accept;
	size_t hl;
	int status = 0;

	for (;;) {
		long r;
		int rc = rbuf_reserve(ws, 4096);

		if (rc)
			return rc;
		r = cli_conn_recv(ws->conn, ws->rbuf + ws->rlen, 4096, deadline);
		if (r <= 0)
			return r ? (int)r : CLI_EIO;
		ws->rlen += (size_t)r;
		end = find_blank_line(ws->rbuf, ws->rlen);
		if (end)
			break;
		if (ws->rlen > sizeof(head) - 1)
			return CLI_EPROTO;
	}
	hl = (size_t)(end - (char *)ws->rbuf) + 4;
	if (hl > sizeof(head) - 1)
		return CLI_EPROTO;
	memcpy(head, ws->rbuf, hl);
	head[hl] = '\0';
	memmove(ws->rbuf, ws->rbuf + hl, ws->rlen - hl);
	ws->rlen -= hl;
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
		return CLI_EPROTO;
	if (status != 101)
		return CLI_ESERVER;
	snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)cat, strlen(cat), digest);
	EVP_EncodeBlock((unsigned char *)expect, digest, 20);
	accept = cli_http_header(head, "sec-websocket-accept");
	if (!accept || strncmp(accept, expect, strlen(expect)))
		return CLI_EPROTO;
	return CLI_OK;
}

int cli_ws_connect(const struct cli_url *u, const char *path,
		   const char *subprotocol, const char *token, int timeout_ms,
		   struct cli_ws **out, char *why, size_t cap)
{
	int64_t deadline = cli_mono_ms() + timeout_ms;
	struct cli_ws *ws = calloc(1, sizeof(*ws));
	uint8_t nonce[16];
	char key[32], req[2048];
	int n, rc;

	*out = NULL;
	if (cap)
		why[0] = '\0';
	if (!ws)
		return CLI_ENOMEM;
	random_bytes(nonce, sizeof(nonce));
	EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
	n = snprintf(req, sizeof(req),
		     "GET %s%s HTTP/1.1\r\nHost: %s:%s\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "%s%s%s%s%s%s\r\n",
		     u->base, path, u->host, u->port, key,
		     subprotocol ? "Sec-WebSocket-Protocol: " : "",
		     subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "",
		     token ? "Authorization: Bearer " : "", token ? token : "",
		     token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		free(ws);
		return CLI_EINVAL;
	}
	rc = cli_conn_open(u, deadline, &ws->conn, why, cap);
	if (rc) {
		free(ws);
		return rc;
	}
	rc = cli_conn_send(ws->conn, req, (size_t)n, deadline);
	if (!rc)
		rc = handshake(ws, key, deadline);
	if (rc == CLI_EIO || rc == CLI_EPROTO)
		rc = CLI_ESERVER; /* a server that hangs up on an upgrade */
	if (rc) {
		ws->close_sent = 1;
		cli_ws_close(ws);
		return rc;
	}
	*out = ws;
	return CLI_OK;
}

void cli_ws_close(struct cli_ws *ws)
{
	static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */

	if (!ws)
		return;
	if (!ws->close_sent)
		send_frame(ws, OP_CLOSE, normal, 2, 200);
	cli_conn_close(ws->conn);
	free(ws->rbuf);
	free(ws->msg);
	free(ws);
}
