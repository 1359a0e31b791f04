/*
 * conn.c - a minimal non-blocking HTTP/1.1 and WebSocket client on epoll.
 *
 * Just enough of each protocol for the bench: HTTP responses framed by
 * Content-Length (one request in flight per connection), and RFC 6455
 * text messages (fragments joined; pings answered). Client frames use an
 * all-zero masking key: legal, and the XOR then costs nothing. The
 * server's Sec-WebSocket-Accept is not checked (we talk to our own
 * server; a 101 is enough).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define IN_MIN 16384
#define READ_MAX (1u << 20)

static int reserve(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : IN_MIN;
	char *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

static void set_out(struct bn_conn *c, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
				 .data.ptr = c};

	if (c->want_out == on)
		return;
	c->want_out = on;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void bn_conn_close(struct bn_conn *c)
{
	if (c->state == BN_CLOSED)
		return;
	if (c->fd >= 0) {
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = BN_CLOSED;
	free(c->in);
	free(c->out);
	free(c->msg);
	c->in = c->out = c->msg = NULL;
	c->in_len = c->in_cap = c->out_len = c->out_off = c->out_cap = 0;
	c->msg_len = c->msg_cap = 0;
}

/* Writes what is queued; arms EPOLLOUT when the socket pushes back. */
static int flush_out(struct bn_conn *c)
{
	while (c->out_off < c->out_len && c->state != BN_CONNECTING) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	set_out(c, c->out_len > 0 || c->state == BN_CONNECTING);
	return 0;
}

int bn_conn_send(struct bn_conn *c, const void *data, size_t len)
{
	if (c->state == BN_CLOSED)
		return -1;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (reserve(&c->out, &c->out_cap, c->out_len + len))
		return -1;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return flush_out(c);
}

int bn_ws_send_text(struct bn_conn *c, const char *data, size_t len)
{
	unsigned char h[14];
	size_t hn;

	h[0] = 0x81;
	if (len < 126) {
		h[1] = 0x80 | (unsigned char)len;
		hn = 2;
	} else if (len < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hn = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hn = 10;
	}
	memset(h + hn, 0, 4); /* the masking key: zero, see the header */
	hn += 4;
	if (c->state == BN_CLOSED ||
	    reserve(&c->out, &c->out_cap, c->out_len + hn + len))
		return -1;
	memcpy(c->out + c->out_len, h, hn);
	memcpy(c->out + c->out_len + hn, data, len);
	c->out_len += hn + len;
	return flush_out(c);
}

int bn_http_request(struct bn_conn *c, const char *method, const char *path,
		    const char *body, size_t body_len)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, body ? body_len : 0);

	if (n <= 0 || (size_t)n >= sizeof(head))
		return -1;
	if (c->state == BN_CLOSED ||
	    reserve(&c->out, &c->out_cap, c->out_len + (size_t)n + body_len))
		return -1;
	memcpy(c->out + c->out_len, head, (size_t)n);
	c->out_len += (size_t)n;
	if (body) {
		memcpy(c->out + c->out_len, body, body_len);
		c->out_len += body_len;
	}
	return flush_out(c);
}

int bn_conn_open(struct bn_conn *c, int epfd, int port, enum bn_kind kind,
		 bn_msg_fn on_msg, void *user)
{
	return bn_conn_open_rcvbuf(c, epfd, port, kind, on_msg, user, 0);
}

int bn_conn_open_rcvbuf(struct bn_conn *c, int epfd, int port,
			enum bn_kind kind, bn_msg_fn on_msg, void *user,
			int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	struct epoll_event ev;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->epfd = epfd;
	c->kind = kind;
	c->on_msg = on_msg;
	c->user = user;
	c->state = BN_CONNECTING;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->state = BN_CLOSED;
		return -1;
	}
	/* Requests are written whole; Nagle would only delay them. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Before connect(), so the window is sized by it (and the kernel
	 * does not grow the buffer on its own). */
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		c->state = BN_CLOSED;
		return -1;
	}
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	c->want_out = 1;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		close(c->fd);
		c->fd = -1;
		c->state = BN_CLOSED;
		return -1;
	}
	if (kind != BN_HTTP) {
		static const char hs[] =
			" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			"Upgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Key: cmFjZWJvYXJkLWJlbmNoLQ==\r\n"
			"Sec-WebSocket-Version: 13\r\n"
			"Sec-WebSocket-Protocol: raceboard.v1\r\n\r\n";
		const char *line = kind == BN_WS_PRODUCER ?
				   "GET /ws?role=producer" : "GET /ws";
		size_t n = strlen(line);

		if (reserve(&c->out, &c->out_cap, n + sizeof(hs)))
			return -1;
		memcpy(c->out, line, n);
		memcpy(c->out + n, hs, sizeof(hs) - 1);
		c->out_len = n + sizeof(hs) - 1;
	}
	return 0;
}

/* The end of an HTTP head ("\r\n\r\n") in p[0..n), or NULL. */
static char *head_end(char *p, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return p + i;
	return NULL;
}

/* Parses one HTTP response at the front of c->in; returns bytes used,
 * 0 when incomplete, -1 on garbage. */
static ssize_t http_parse(struct bn_conn *c, char *in, size_t in_len,
			  int64_t now)
{
	char *end = head_end(in, in_len), *p;
	size_t head, clen = 0;
	int status;

	if (!end)
		return 0;
	head = (size_t)(end - in) + 4;
	if (in_len < 12 || strncmp(in, "HTTP/1.1 ", 9))
		return -1;
	status = atoi(in + 9);
	for (p = in; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		if (*p == '\n')
			p++;
		if (!strncasecmp(p, "content-length:", 15)) {
			clen = strtoul(p + 15, NULL, 10);
			break;
		}
	}
	if (in_len < head + clen)
		return 0;
	{
		char save = in[head + clen];

		in[head + clen] = '\0'; /* in_cap > in_len: see on_read */
		if (c->on_msg(c, status, in + head, clen, now))
			return -1;
		if (c->state != BN_CLOSED)
			in[head + clen] = save;
	}
	return (ssize_t)(head + clen);
}

static int ws_control(struct bn_conn *c, int op, const char *p, size_t n)
{
	unsigned char h[6] = {0x8a, 0x80, 0, 0, 0, 0};

	if (op == 8)
		return -1; /* the server closes: so do we */
	if (op != 9 || n > 125)
		return 0;
	h[1] |= (unsigned char)n;
	if (reserve(&c->out, &c->out_cap, c->out_len + 6 + n))
		return -1;
	memcpy(c->out + c->out_len, h, 6);
	memcpy(c->out + c->out_len + 6, p, n);
	c->out_len += 6 + n;
	return flush_out(c);
}

/* Parses one WebSocket frame at the front of c->in; returns bytes used,
 * 0 when incomplete, -1 to close. */
static ssize_t ws_parse(struct bn_conn *c, char *in, size_t in_len,
			int64_t now)
{
	unsigned char *b = (unsigned char *)in;
	size_t hn = 2, n;
	int fin, op, rc = 0;

	if (in_len < 2)
		return 0;
	fin = b[0] & 0x80;
	op = b[0] & 0x0f;
	n = b[1] & 0x7f;
	if (b[1] & 0x80)
		return -1; /* servers never mask */
	if (n == 126) {
		if (in_len < 4)
			return 0;
		n = (size_t)b[2] << 8 | b[3];
		hn = 4;
	} else if (n == 127) {
		if (in_len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | b[2 + i];
		hn = 10;
	}
	if (in_len < hn + n)
		return 0;
	if (op >= 8) {
		if (ws_control(c, op, in + hn, n))
			return -1;
		return (ssize_t)(hn + n);
	}
	if (fin && op != 0 && !c->msg_len) {
		char save = in[hn + n];

		in[hn + n] = '\0';
		rc = c->on_msg(c, 0, in + hn, n, now);
		if (!rc && c->state != BN_CLOSED)
			in[hn + n] = save;
	} else {
		if (reserve(&c->msg, &c->msg_cap, c->msg_len + n + 1))
			return -1;
		memcpy(c->msg + c->msg_len, in + hn, n);
		c->msg_len += n;
		if (fin) {
			c->msg[c->msg_len] = '\0';
			rc = c->on_msg(c, 0, c->msg, c->msg_len, now);
			c->msg_len = 0;
		}
	}
	return rc ? -1 : (ssize_t)(hn + n);
}

/* Reads what the socket has and hands out complete messages. */
static int on_read(struct bn_conn *c, int64_t now)
{
	for (int round = 0; round < 16; round++) {
		ssize_t n;
		size_t off = 0;

		if (reserve(&c->in, &c->in_cap, c->in_len + IN_MIN + 1) ||
		    !c->in)
			return -1;
		n = recv(c->fd, c->in + c->in_len,
			 c->in_cap - c->in_len - 1 > READ_MAX
				 ? READ_MAX : c->in_cap - c->in_len - 1, 0);
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			       errno == EINTR ? 0 : -1;
		c->in_len += (size_t)n;
		c->rx_bytes += (uint64_t)n;
		c->last_rx = now;
		while (c->state != BN_CLOSED && off < c->in_len) {
			char *base = c->in, *p;
			size_t left = c->in_len - off;
			ssize_t used;

			if (!base)
				return -1;
			p = base + off;

			if (c->state == BN_HANDSHAKE) {
				char *e = head_end(p, left);

				if (!e) {
					used = 0;
				} else if (strncmp(p, "HTTP/1.1 101", 12)) {
					used = -1;
				} else {
					used = e - p + 4;
					c->state = BN_OPEN;
					if (c->on_open)
						c->on_open(c);
				}
			} else if (c->kind == BN_HTTP) {
				used = http_parse(c, p, left, now);
			} else {
				used = ws_parse(c, p, left, now);
			}
			if (used < 0 || c->state == BN_CLOSED)
				return -1;
			if (used == 0)
				break;
			off += (size_t)used;
		}
		if (c->state == BN_CLOSED)
			return -1;
		if (off) {
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
		}
		if ((size_t)n < IN_MIN)
			break; /* drained, most likely */
	}
	return 0;
}

int bn_conn_event(struct bn_conn *c, uint32_t events, int64_t now)
{
	if (c->state == BN_CLOSED)
		return -1;
	if (c->state == BN_CONNECTING && events & (EPOLLOUT | EPOLLERR)) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			bn_conn_close(c);
			return -1;
		}
		c->state = c->kind != BN_HTTP ? BN_HANDSHAKE : BN_OPEN;
	}
	if (events & EPOLLOUT && flush_out(c)) {
		bn_conn_close(c);
		return -1;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && on_read(c, now)) {
		bn_conn_close(c);
		return -1;
	}
	return 0;
}

int bn_loop_until(int epfd, int (*done)(void *), void *arg,
		  int64_t deadline_us)
{
	struct epoll_event evs[256];

	while (!done(arg)) {
		int64_t now = bn_now_us();
		int n;

		if (now >= deadline_us)
			return -1;
		n = epoll_wait(epfd, evs, 256,
			       (int)((deadline_us - now) / 1000 > 50
					     ? 50 : (deadline_us - now) / 1000 + 1));
		now = bn_now_us();
		for (int i = 0; i < n; i++)
			bn_conn_event(evs[i].data.ptr, evs[i].events, now);
	}
	return 0;
}
