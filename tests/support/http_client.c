/*
 * http_client.c - blocking HTTP/1.1 client used by the integration tests.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int http_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)port)};
	struct timeval tv = {30, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

int http_send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int http_header(const struct http_response *r, const char *name, char *buf,
		size_t cap)
{
	size_t nl = strlen(name);
	const char *p = r->headers;

	while ((p = strchr(p, '\n'))) {
		p++;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *e;
			size_t n;

			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			n = e ? (size_t)(e - v) : strlen(v);
			if (n >= cap)
				n = cap - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return 0;
		}
	}
	return -1;
}

int http_read_response(int fd, struct http_response *out)
{
	size_t hl = 0, want;
	char *end = NULL, cl[32];

	memset(out, 0, sizeof(*out));
	while (hl < sizeof(out->headers) - 1) {
		ssize_t r = recv(fd, out->headers + hl, 1, 0);

		if (r <= 0)
			return -1;
		hl++;
		out->headers[hl] = '\0';
		if (hl >= 4 && !strcmp(out->headers + hl - 4, "\r\n\r\n"))
			break;
	}
	if (sscanf(out->headers, "HTTP/1.%*d %d", &out->status) != 1)
		return -1;
	want = http_header(out, "content-length", cl, sizeof(cl)) ? 0
		: strtoul(cl, &end, 10);
	out->body = malloc(want + 1);
	if (!out->body)
		return -1;
	while (out->body_len < want) {
		ssize_t r = recv(fd, out->body + out->body_len,
				 want - out->body_len, 0);

		if (r <= 0)
			break;
		out->body_len += (size_t)r;
	}
	out->body[out->body_len] = '\0';
	if (out->body_len != want) {
		http_response_free(out); /* a partial response owns nothing */
		return -1;
	}
	return 0;
}

int http_raw(int port, const char *raw, size_t len, struct http_response *out)
{
	int fd = http_connect(port), rc;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -1;
	rc = http_send_all(fd, raw, len) ? -1 : http_read_response(fd, out);
	close(fd);
	return rc;
}

int http_request(int port, const char *method, const char *path,
		 const char *body, struct http_response *out)
{
	size_t blen = body ? strlen(body) : 0, n;
	char *req = malloc(512 + strlen(path) + blen);
	int rc;

	if (!req)
		return -1;
	n = (size_t)sprintf(req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Connection: close\r\n", method, path);
	if (body)
		n += (size_t)sprintf(req + n, "Content-Type: application/json\r\n"
				     "Content-Length: %zu\r\n", blen);
	memcpy(req + n, "\r\n", 2);
	n += 2;
	if (body) {
		memcpy(req + n, body, blen);
		n += blen;
	}
	rc = http_raw(port, req, n, out);
	free(req);
	return rc;
}

void http_response_free(struct http_response *r)
{
	free(r->body);
	r->body = NULL;
}
