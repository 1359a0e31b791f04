/*
 * http.c - blocking HTTP/1.1 client for the CLI: URL parsing, deadline-
 * bounded connect/send/recv shared with ws.c, and one-shot requests.
 *
 * Responses are read with Content-Length framing, chunked transfer
 * encoding, or until the server closes (we always send Connection: close).
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_HEADER_BYTES 16384
#define MAX_BODY_BYTES (64u * 1024 * 1024)

const char *cli_strerror(int err)
{
	switch (err) {
	case CLI_OK: return "success";
	case CLI_EINVAL: return "invalid argument";
	case CLI_ENOMEM: return "out of memory";
	case CLI_ECONNECT: return "could not connect";
	case CLI_ETIMEOUT: return "timed out";
	case CLI_EPROTO: return "protocol error";
	case CLI_EIO: return "connection lost";
	case CLI_ESERVER: return "server error";
	case CLI_ECLOSED: return "connection closed by the server";
	default: return "unknown error";
	}
}

int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_url_parse(const char *url, struct cli_url *out)
{
	struct cli_url u;
	const char *p, *host_end, *path;
	size_t hl;

	memset(&u, 0, sizeof(u));
	if (strncasecmp(url, "http://", 7))
		return CLI_EINVAL;
	p = url + 7;
	path = strchr(p, '/');
	if (!path)
		path = p + strlen(p);
	if (*p == '[') { /* [v6addr]:port */
		host_end = memchr(p, ']', (size_t)(path - p));
		if (!host_end)
			return CLI_EINVAL;
		hl = (size_t)(host_end - p - 1);
		p++;
		host_end++;
	} else {
		host_end = memchr(p, ':', (size_t)(path - p));
		if (!host_end)
			host_end = path;
		hl = (size_t)(host_end - p);
	}
	if (!hl || hl >= sizeof(u.host))
		return CLI_EINVAL;
	memcpy(u.host, p, hl);
	if (*host_end == ':') {
		size_t pl = (size_t)(path - host_end - 1);

		if (!pl || pl >= sizeof(u.port) ||
		    strspn(host_end + 1, "0123456789") < pl)
			return CLI_EINVAL;
		memcpy(u.port, host_end + 1, pl);
	} else if (host_end != path) {
		return CLI_EINVAL;
	} else {
		strcpy(u.port, "80");
	}
	hl = strlen(path);
	while (hl && path[hl - 1] == '/')
		hl--;
	if (hl >= sizeof(u.base))
		return CLI_EINVAL;
	memcpy(u.base, path, hl);
	*out = u;
	return CLI_OK;
}

int cli_url_escape(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(dst);

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || strchr("._~:-", c);

		if (n + (plain ? 1 : 3) >= cap)
			return CLI_EINVAL;
		if (plain) {
			dst[n++] = (char)c;
		} else {
			dst[n++] = '%';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
		dst[n] = '\0';
	}
	return CLI_OK;
}

static int remaining_ms(int64_t deadline_ms)
{
	int64_t left = deadline_ms - cli_mono_ms();

	return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* Waits for `events` on fd until the deadline. Returns CLI_OK or
 * CLI_ETIMEOUT / CLI_EIO. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, remaining_ms(deadline_ms));

		if (r > 0)
			return CLI_OK;
		if (r == 0)
			return CLI_ETIMEOUT;
		if (errno != EINTR)
			return CLI_EIO;
	}
}

/* Non-blocking connect to one address, bounded by the deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			ai->ai_protocol);
	int flags, err = 0, rc;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return CLI_ECONNECT;
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		close(fd);
		return CLI_ECONNECT;
	}
	rc = wait_fd(fd, POLLOUT, deadline_ms);
	if (rc == CLI_OK &&
	    (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err))
		rc = CLI_ECONNECT;
	if (rc != CLI_OK) {
		close(fd);
		return rc;
	}
	fcntl(fd, F_SETFL, flags);
	return fd;
}

int cli_net_connect(const struct cli_url *u, int64_t deadline_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int fd = CLI_ECONNECT;

	if (getaddrinfo(u->host, u->port, &hints, &res))
		return CLI_ECONNECT;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline_ms);
		if (fd >= 0 || fd == CLI_ETIMEOUT)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

int cli_net_send(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
	const char *p = buf;

	while (n) {
		ssize_t w;
		int rc = wait_fd(fd, POLLOUT, deadline_ms);

		if (rc)
			return rc;
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return CLI_EIO;
		p += w;
		n -= (size_t)w;
	}
	return CLI_OK;
}

long cli_net_recv(int fd, void *buf, size_t cap, int64_t deadline_ms)
{
	for (;;) {
		ssize_t r;
		int rc = wait_fd(fd, POLLIN, deadline_ms);

		if (rc)
			return rc;
		r = recv(fd, buf, cap, MSG_DONTWAIT);
		if (r >= 0)
			return (long)r;
		if (errno != EINTR && errno != EAGAIN)
			return CLI_EIO;
	}
}

/* A growable byte buffer for the response. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;
	char *np;

	if (want <= b->cap)
		return CLI_OK;
	if (want > MAX_BODY_BYTES + MAX_HEADER_BYTES)
		return CLI_EPROTO;
	if (want < 2 * b->cap)
		want = 2 * b->cap;
	np = realloc(b->p, want);
	if (!np)
		return CLI_ENOMEM;
	b->p = np;
	b->cap = want;
	return CLI_OK;
}

const char *cli_http_header(const char *head, const char *name)
{
	size_t n = strlen(name);
	const char *p = head;

	while ((p = strstr(p, "\r\n"))) {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

static int is_chunked(const char *head)
{
	const char *te = cli_http_header(head, "transfer-encoding");

	return te && !strncasecmp(te, "chunked", 7);
}

/* Reads until the peer closes (we sent Connection: close) or, when the
 * headers give a Content-Length, until that many body bytes arrived. */
static int read_all(int fd, struct buf *b, int64_t deadline_ms)
{
	size_t body_at = 0, want = (size_t)-1;

	for (;;) {
		long r;
		int rc = buf_reserve(b, 16384);

		if (rc)
			return rc;
		r = cli_net_recv(fd, b->p + b->len, 16384, deadline_ms);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return CLI_OK;
		b->len += (size_t)r;
		b->p[b->len] = '\0';
		if (!body_at) {
			char *e = strstr(b->p, "\r\n\r\n");
			const char *cl;

			if (!e && b->len > MAX_HEADER_BYTES)
				return CLI_EPROTO;
			if (!e)
				continue;
			body_at = (size_t)(e - b->p) + 4;
			*e = '\0';
			cl = cli_http_header(b->p, "content-length");
			if (cl && !is_chunked(b->p))
				want = strtoul(cl, NULL, 10);
			*e = '\r';
		}
		if (want != (size_t)-1 && b->len - body_at >= want)
			return CLI_OK;
	}
}

/* Decodes a chunked body in place. Returns its length, or -1. */
static long dechunk(char *p, size_t len)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long n = strtoul(p + in, &end, 16);

		if (end == p + in)
			return -1;
		end = strstr(end, "\r\n");
		if (!end)
			return -1;
		in = (size_t)(end - p) + 2;
		if (n == 0)
			return (long)out;
		if (n > len - in)
			return -1;
		memmove(p + out, p + in, n);
		out += n;
		in += n + 2;
		if (in > len)
			return -1;
	}
}

static int parse_response(struct buf *b, struct cli_http_response *out)
{
	char *e = b->p ? strstr(b->p, "\r\n\r\n") : NULL;
	size_t hl, bl;

	if (!e || sscanf(b->p, "HTTP/1.%*d %d", &out->status) != 1)
		return CLI_EPROTO;
	*e = '\0';
	hl = (size_t)(e - b->p) + 4;
	bl = b->len - hl;
	if (is_chunked(b->p)) {
		long n = dechunk(e + 4, bl);

		if (n < 0)
			return CLI_EPROTO;
		bl = (size_t)n;
	} else if (cli_http_header(b->p, "content-length")) {
		size_t cl = strtoul(cli_http_header(b->p, "content-length"),
				    NULL, 10);

		if (cl > bl)
			return CLI_EPROTO;
		bl = cl;
	}
	memmove(b->p, e + 4, bl);
	b->p[bl] = '\0';
	out->body = b->p;
	out->body_len = bl;
	b->p = NULL;
	return CLI_OK;
}

int cli_http_request(const struct cli_url *u, const char *token,
		     const char *method, const char *path, const char *body,
		     int timeout_ms, struct cli_http_response *out)
{
	int64_t deadline = cli_mono_ms() + timeout_ms;
	size_t blen = body ? strlen(body) : 0;
	struct buf b = {0};
	char head[2048];
	int fd, rc, n;

	memset(out, 0, sizeof(*out));
	n = snprintf(head, sizeof(head),
		     "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\n"
		     "User-Agent: raceboard-cli/" RACEBOARD_VERSION "\r\n"
		     "Accept: application/json\r\nConnection: close\r\n",
		     method, u->base, path, u->host, u->port);
	if (token && *token && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Authorization: Bearer %s\r\n", token);
	if (body && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Type: application/json\r\n"
			      "Content-Length: %zu\r\n", blen);
	else if (n > 0 && (size_t)n < sizeof(head) &&
		 (!strcmp(method, "POST") || !strcmp(method, "PATCH")))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Length: 0\r\n");
	if (n < 0 || (size_t)n + 3 > sizeof(head))
		return CLI_EINVAL;
	memcpy(head + n, "\r\n", 3);
	n += 2;
	fd = cli_net_connect(u, deadline);
	if (fd < 0)
		return fd;
	rc = cli_net_send(fd, head, (size_t)n, deadline);
	if (!rc && blen)
		rc = cli_net_send(fd, body, blen, deadline);
	if (!rc)
		rc = read_all(fd, &b, deadline);
	close(fd);
	if (!rc)
		rc = parse_response(&b, out);
	free(b.p);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

void cli_http_response_fini(struct cli_http_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
