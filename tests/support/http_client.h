/*
 * http_client.h - a small blocking HTTP/1.1 client for tests: one request
 * per call over a fresh connection (or a kept-alive one), exact bytes.
 */
#ifndef RACEBOARD_TESTS_HTTP_CLIENT_H
#define RACEBOARD_TESTS_HTTP_CLIENT_H

#include <stddef.h>

struct http_response {
	int status;        /* 0 when no response was read */
	char headers[4096];
	char *body;        /* NUL-terminated, owned */
	size_t body_len;
};

/* Sends `method path` with an optional JSON body (NULL for none) and
 * reads the whole response. Returns 0 when a response was read; on
 * failure *out owns nothing. */
int http_request(int port, const char *method, const char *path,
		 const char *body, struct http_response *out);

/* Sends raw request bytes and reads one response (for malformed input). */
int http_raw(int port, const char *raw, size_t len, struct http_response *out);

/* Opens a connection to 127.0.0.1:port; returns the fd or -1. */
int http_connect(int port);

/* Writes all n bytes to fd. Returns 0, or -1 when the peer is gone. */
int http_send_all(int fd, const char *p, size_t n);

/* Reads one response from fd (Content-Length framing). Returns 0, or -1
 * with *out owning nothing. */
int http_read_response(int fd, struct http_response *out);

/* Case-insensitive header lookup; copies the value into buf. */
int http_header(const struct http_response *r, const char *name, char *buf,
		size_t cap);

void http_response_free(struct http_response *r);

#endif
