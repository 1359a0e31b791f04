/*
 * http.h - the CLI's HTTP client: one-shot requests through libcurl
 * (http:// and https://, proxies from the environment as libcurl reads
 * them, a CA file for private certificates), plus the deadline-bounded
 * sockets that the WebSocket client's streams (conn.c) run on.
 *
 * Every request is bounded by a total timeout and a connect timeout, so a
 * hung server can never stall the caller for long. Never includes
 * libwebsockets.
 */
#ifndef RACEBOARD_CLI_HTTP_H
#define RACEBOARD_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* A parsed server URL, http[s]://host[:port][/base], and how to trust
 * it. */
struct cli_url {
	int tls;        /* https:// */
	char host[256]; /* without the brackets of an IPv6 literal */
	char port[8];
	char base[256]; /* path prefix without a trailing '/', may be "" */
	const char *cacert; /* borrowed CA file for https, NULL: the system's */
	int connect_timeout_ms; /* 0: the request's whole timeout */
};

struct cli_http_response {
	int status;       /* HTTP status code */
	char *body;       /* NUL-terminated, owned; NULL before a response */
	size_t body_len;
	char error[256];  /* on failure: one line saying what went wrong */
};

/*
 * Parses `url` into *out (cacert and the connect timeout zeroed).
 * Returns CLI_OK, or CLI_EINVAL (unsupported scheme, missing host, bad
 * port) with *out unchanged.
 */
int cli_url_parse(const char *url, struct cli_url *out);

/* Writes "scheme://host:port/base" into buf, for messages. */
void cli_url_format(const struct cli_url *u, char *buf, size_t cap);

/*
 * Opens a plain TCP connection (no TLS) to the URL's host, giving up at `deadline_ms`
 * (a cli_mono_ms() reading). Returns the connected, blocking fd, or a
 * negative cli_err (CLI_ECONNECT, CLI_ETIMEOUT).
 */
int cli_net_connect(const struct cli_url *u, int64_t deadline_ms);

/* Waits for `events` (POLLIN, POLLOUT) on fd until the deadline. Returns
 * CLI_OK, or CLI_ETIMEOUT / CLI_EIO. */
int cli_net_wait(int fd, short events, int64_t deadline_ms);

/* Sends all `n` bytes before the deadline. Returns CLI_OK or an error. */
int cli_net_send(int fd, const void *buf, size_t n, int64_t deadline_ms);

/*
 * Waits until fd is readable or the deadline passes, then reads at most
 * `cap` bytes. Returns the byte count (0 at end of stream) or a negative
 * cli_err (CLI_ETIMEOUT, CLI_EIO).
 */
long cli_net_recv(int fd, void *buf, size_t cap, int64_t deadline_ms);

/*
 * Performs one request: `method` on base + `path` (path starts with '/'),
 * with `body` as application/json when non-NULL and a Bearer `token` when
 * non-NULL. The whole exchange must finish within `timeout_ms`. On CLI_OK
 * *out holds the status and the owned body, whatever the status; on
 * failure (CLI_ERESOLVE, CLI_ECONNECT, CLI_ETLS, CLI_ETIMEOUT, CLI_EIO,
 * CLI_EPROTO, CLI_ENOMEM) out->error says why in one line and the rest of
 * *out is zeroed. Free with cli_http_response_fini(). Thread-safe.
 */
int cli_http_request(const struct cli_url *u, const char *token,
		     const char *method, const char *path, const char *body,
		     int timeout_ms, struct cli_http_response *out);

/*
 * Finds header `name` (case-insensitive) in the NUL-terminated header
 * block `head` (status line first, "\r\n" between lines). Returns a
 * pointer into head at the value (up to "\r\n"), or NULL.
 */
const char *cli_http_header(const char *head, const char *name);

/* Frees the body; safe on a zeroed or already finished response. */
void cli_http_response_fini(struct cli_http_response *r);

/*
 * Appends `s` to the fixed buffer dst (capacity cap, NUL-terminated)
 * percent-encoding every byte outside [A-Za-z0-9._~:-]. Returns CLI_OK, or
 * CLI_EINVAL when it does not fit (dst is then truncated but terminated).
 */
int cli_url_escape(char *dst, size_t cap, const char *s);

#endif
