/*
 * ws_client.c - RFC 6455 client side, just enough for the tests.
 */
#include "ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes, waiting at most timeout_ms for the first one. */
static int read_exact(int fd, void *buf, size_t n, int timeout_ms)
{
	char *p = buf;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	while (n) {
		ssize_t r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return p == buf ? 0 : -1;
		r = recv(fd, p, n, 0);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		timeout_ms = 10000; /* the rest of a started frame */
	}
	return 1;
}

static int connect_loopback(int port, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

int ws_open_ex(struct ws_client *c, int port, const char *path,
	       const char *headers, int rcvbuf)
{
	char req[1024], resp[2048];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->fd = connect_loopback(port, rcvbuf);
	if (c->fd < 0)
		return -1;
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: raceboard.v1\r\n"
		 "%s\r\n", path, port, headers ? headers : "");
	if (send_all(c->fd, req, strlen(req)))
		goto fail;
	while (n < sizeof(resp) - 1) {
		if (read_exact(c->fd, resp + n, 1, 10000) != 1)
			goto fail;
		n++;
		resp[n] = '\0';
		if (n >= 4 && !strcmp(resp + n - 4, "\r\n\r\n"))
			break;
	}
	if (strncmp(resp, "HTTP/1.1 101", 12))
		goto fail;
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

int ws_open_headers(struct ws_client *c, int port, const char *path,
		    const char *headers)
{
	return ws_open_ex(c, port, path, headers, 0);
}

int ws_open(struct ws_client *c, int port, const char *path)
{
	return ws_open_ex(c, port, path, NULL, 0);
}

size_t ws_encode_frame(const char *text, unsigned char *f, size_t cap)
{
	static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
	size_t len = strlen(text), h = 2;

	if (cap < len + 14)
		return 0;
	f[0] = 0x81;
	if (len < 126) {
		f[1] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(len >> 8);
		f[3] = (unsigned char)len;
		h = 4;
	} else {
		f[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			f[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(f + h, mask, 4);
	for (size_t i = 0; i < len; i++)
		f[h + 4 + i] = (unsigned char)text[i] ^ mask[i & 3];
	return h + 4 + len;
}

int ws_send(struct ws_client *c, const char *text)
{
	size_t cap = strlen(text) + 14;
	unsigned char *f = malloc(cap);
	int rc;

	if (!f)
		return -1;
	rc = send_all(c->fd, f, ws_encode_frame(text, f, cap));
	free(f);
	return rc;
}

int ws_send_raw(struct ws_client *c, const void *buf, size_t len)
{
	return send_all(c->fd, buf, len);
}

/* Answers a ping so lws's idle checks never close a test client. */
static void pong(struct ws_client *c, const unsigned char *data, size_t n)
{
	unsigned char f[2 + 4 + 125] = {0x8a, (unsigned char)(0x80 | n)};

	memset(f + 2, 0, 4);
	memcpy(f + 6, data, n);
	send_all(c->fd, f, 6 + n);
}

int ws_recv(struct ws_client *c, int timeout_ms)
{
	size_t cap = 0;

	free(c->msg);
	c->msg = NULL;
	c->msg_len = 0;
	for (;;) {
		unsigned char h[2], ext[8];
		uint64_t len;
		int op, fin, r = read_exact(c->fd, h, 2, timeout_ms);
		unsigned char *payload;

		if (r <= 0)
			return r;
		fin = h[0] & 0x80;
		op = h[0] & 0x0f;
		len = h[1] & 0x7f;
		if (len == 126) {
			if (read_exact(c->fd, ext, 2, 10000) != 1)
				return -1;
			len = (uint64_t)ext[0] << 8 | ext[1];
		} else if (len == 127) {
			if (read_exact(c->fd, ext, 8, 10000) != 1)
				return -1;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | ext[i];
		}
		payload = malloc(len + 1);
		if (!payload || (len && read_exact(c->fd, payload, len,
						   10000) != 1)) {
			free(payload);
			return -1;
		}
		if (op == 0x8) {
			c->close_code = len >= 2 ? payload[0] << 8 | payload[1]
						 : 1005;
			free(payload);
			return -1;
		}
		if (op == 0x9) {
			pong(c, payload, len > 125 ? 125 : len);
		} else if (op == 0x1 || op == 0x2 || op == 0x0) {
			/* Doubling: a message of many fragments (a snapshot of
			 * megabytes) must not cost a copy per fragment. */
			size_t want = cap ? cap : 4096;
			char *m = c->msg;

			while (want < c->msg_len + len + 1)
				want *= 2;
			if (want != cap)
				m = realloc(c->msg, want);
			if (!m) {
				free(payload);
				return -1;
			}
			c->msg = m;
			cap = want;
			memcpy(c->msg + c->msg_len, payload, len);
			c->msg_len += len;
			c->msg[c->msg_len] = '\0';
			if (fin) {
				free(payload);
				return 1;
			}
		}
		free(payload);
		timeout_ms = 10000;
	}
}

void ws_close(struct ws_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->msg);
	c->msg = NULL;
}
