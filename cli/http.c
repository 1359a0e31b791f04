/*
 * http.c - the CLI's HTTP client: URL parsing, one-shot requests through
 * libcurl, and the deadline-bounded plain sockets that ws.c runs on.
 *
 * libcurl does the HTTP/1.1 and TLS work (framing, chunked bodies,
 * certificates, proxies from http_proxy/https_proxy/no_proxy); this file
 * only maps its failures to the CLI's error codes and one-line messages.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

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
	case CLI_ERESOLVE: return "cannot resolve the host name";
	case CLI_ETLS: return "TLS failed";
	case CLI_EREFUSED: return "connection refused";
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
	if (!strncasecmp(url, "https://", 8)) {
		u.tls = 1;
		p = url + 8;
	} else if (!strncasecmp(url, "http://", 7)) {
		p = url + 7;
	} else {
		return CLI_EINVAL;
	}
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
		strcpy(u.port, u.tls ? "443" : "80");
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

void cli_url_format(const struct cli_url *u, char *buf, size_t cap)
{
	int v6 = strchr(u->host, ':') != NULL;

	snprintf(buf, cap, "%s://%s%s%s:%s%s", u->tls ? "https" : "http",
		 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->base);
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

int cli_net_wait(int fd, short events, int64_t deadline_ms)
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
		rc = errno == ECONNREFUSED ? CLI_EREFUSED : CLI_ECONNECT;
		close(fd);
		return rc;
	}
	rc = cli_net_wait(fd, POLLOUT, deadline_ms);
	if (rc == CLI_OK &&
	    (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err))
		rc = err == ECONNREFUSED ? CLI_EREFUSED : CLI_ECONNECT;
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
		return CLI_ERESOLVE;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline_ms);
		if (fd >= 0 || fd == CLI_ETIMEOUT || fd == CLI_EREFUSED)
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
		int rc = cli_net_wait(fd, POLLOUT, deadline_ms);

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
		int rc = cli_net_wait(fd, POLLIN, deadline_ms);

		if (rc)
			return rc;
		r = recv(fd, buf, cap, MSG_DONTWAIT);
		if (r >= 0)
			return (long)r;
		if (errno != EINTR && errno != EAGAIN)
			return CLI_EIO;
	}
}

/* A growable byte buffer for the response body. */
struct buf {
	char *p;
	size_t len, cap;
	int too_big;
};

/* libcurl's write callback: appends, refusing bodies over the cap (the
 * short count makes libcurl stop with CURLE_WRITE_ERROR). */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n, want = b->len + len + 1;
	char *np;

	if (want > MAX_BODY_BYTES) {
		b->too_big = 1;
		return 0;
	}
	if (want > b->cap) {
		want = want < 2 * b->cap ? 2 * b->cap : want;
		np = realloc(b->p, want);
		if (!np)
			return 0;
		b->p = np;
		b->cap = want;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

/* curl_global_init() is not safe to race with other threads' first
 * requests (the reporter thread of `run` may be first), so it runs once. */
static void init_curl(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) ? CLI_ENOMEM : 0;
}

/* Maps a libcurl failure to a cli_err and a one-line reason in `msg`
 * (libcurl's own detail from `detail`, when it has one). */
static int map_error(CURLcode c, long os_errno, const struct cli_url *u,
		     const char *detail, char *msg, size_t cap)
{
	const char *why = *detail ? detail : curl_easy_strerror(c);

	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(msg, cap, "cannot resolve host name '%.200s'", u->host);
		return CLI_ERESOLVE;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(msg, cap, "cannot resolve the proxy: %s", why);
		return CLI_ERESOLVE;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED) {
			snprintf(msg, cap, "connection refused");
			return CLI_EREFUSED;
		}
		snprintf(msg, cap, "cannot connect: %s", why);
		return CLI_ECONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(msg, cap, "timed out");
		return CLI_ETIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		snprintf(msg, cap, "TLS failed: %s%s", why,
			 c == CURLE_PEER_FAILED_VERIFICATION ?
			 " (trust its CA with --cacert FILE or RACEBOARD_CACERT)" :
			 "");
		return CLI_ETLS;
	case CURLE_OUT_OF_MEMORY:
		snprintf(msg, cap, "out of memory");
		return CLI_ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		snprintf(msg, cap, "connection lost: %s", why);
		return CLI_EIO;
	default:
		snprintf(msg, cap, "%s", why);
		return CLI_EPROTO;
	}
}

/* Appends header line h to l; sets *oom when that fails. */
static struct curl_slist *add_header(struct curl_slist *l, const char *h,
				     int *oom)
{
	struct curl_slist *n = curl_slist_append(l, h);

	if (!n)
		*oom = 1;
	return n ? n : l;
}

int cli_http_request(const struct cli_url *u, const char *token,
		     const char *method, const char *path, const char *body,
		     int timeout_ms, struct cli_http_response *out)
{
	char url[1024], auth[1100], detail[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct buf b = {0};
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	int rc = CLI_ENOMEM, n, oom = 0;

	memset(out, 0, sizeof(*out));
	cli_url_format(u, url, sizeof(url));
	n = (int)strlen(url);
	if (snprintf(url + n, sizeof(url) - (size_t)n, "%s", path) >=
	    (int)(sizeof(url) - (size_t)n)) {
		snprintf(out->error, sizeof(out->error), "URL too long");
		return CLI_EINVAL;
	}
	pthread_once(&curl_once, init_curl);
	if (curl_init_rc || !(c = curl_easy_init()))
		goto fail;
	hdrs = add_header(hdrs, "Accept: application/json", &oom);
	/* No "Expect: 100-continue" wait before a large body. */
	hdrs = add_header(hdrs, "Expect:", &oom);
	if (body)
		hdrs = add_header(hdrs, "Content-Type: application/json", &oom);
	if (token && *token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = add_header(hdrs, auth, &oom);
	}
	if (oom)
		goto fail;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body || !strcmp(method, "POST") || !strcmp(method, "PATCH")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body ? strlen(body) : 0));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT,
			 "raceboard-cli/" RACEBOARD_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(
		u->connect_timeout_ms > 0 && u->connect_timeout_ms < timeout_ms ?
		u->connect_timeout_ms : timeout_ms));
	/* No signals: the reporter of `run` calls this from a thread. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (u->cacert && *u->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, u->cacert);
	cc = curl_easy_perform(c);
	if (cc == CURLE_WRITE_ERROR && b.too_big) {
		snprintf(out->error, sizeof(out->error), "reply too large");
		rc = CLI_EPROTO;
		goto fail;
	}
	if (cc) {
		long os_errno = 0;

		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		rc = map_error(cc, os_errno, u, detail, out->error,
			       sizeof(out->error));
		goto fail;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (!b.p && !(b.p = calloc(1, 1)))
		goto fail;
	out->status = (int)status;
	out->body = b.p;
	out->body_len = b.len;
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return CLI_OK;
fail:
	if (rc == CLI_ENOMEM && !out->error[0])
		snprintf(out->error, sizeof(out->error), "out of memory");
	free(b.p);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

void cli_http_response_fini(struct cli_http_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
