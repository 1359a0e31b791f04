/*
 * guard.c - admission and access checks in front of every protocol:
 * connection caps (at accept), Host and rate (each HTTP request, static
 * files included), Host and Origin (each WebSocket upgrade), the bearer
 * token, and per-address subscription slots.
 *
 * Per-connection state (struct conn) hangs off the wsi's opaque user
 * data from SERVER_NEW_CLIENT_INSTANTIATED to WSI_DESTROY, because an
 * HTTP session's pss only lives for one transaction. Service thread only.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "access.h"
#include "hdr.h"
#include "routes.h"
#include "server.h"
#include "util.h"

#define PEER_BUCKETS 1024

/* One client address: how many connections and subscriptions it holds. */
struct peer {
	struct peer *next;
	unsigned char addr[16];     /* IPv6, or IPv4-mapped */
	unsigned conns;
	unsigned subs;
};

/* One TCP connection. */
struct conn {
	struct peer *peer;          /* NULL: address unknown, no per-IP caps */
	int64_t window_ms;          /* start of the rate window (monotonic) */
	uint32_t in_window;         /* requests or messages in it so far */
	int authed;                 /* the upgrade carried the token */
	int has_sub;                /* holds a subscription slot */
	int64_t accepted_ms;        /* monotonic; 0 once a request's headers
	                             * are in (see slow_headers()) */
	int64_t file_started_us;    /* a static file's request, for the */
	size_t file_bytes;          /* access log at its completion */
};

struct srv_guard {
	const struct srv_cfg *cfg;
	struct srv_metrics *m;
	int check_host;             /* loopback bind, or --allow-host given */
	unsigned connections;
	struct peer *peers[PEER_BUCKETS];
	char web_root[PATH_MAX];    /* realpath; "": no confinement check */
};

/* ---- pure checks ---- */

static int is_loopback_name(const char *h, size_t n)
{
	char buf[SRV_CFG_NAME_MAX];
	struct in_addr a4;
	struct in6_addr a6;

	if (n && h[n - 1] == '.') /* "localhost." is the same name */
		n--;
	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)h[i]);
	buf[n] = '\0';
	/* RFC 6761: localhost and every name under it are loopback, and
	 * browsers resolve them so without asking DNS. */
	if (!strcmp(buf, "localhost") ||
	    (n > 10 && !strcmp(buf + n - 10, ".localhost")))
		return 1;
	if (buf[0] == '[' && buf[n - 1] == ']') {
		buf[n - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, &a6) == 1 &&
		       IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return inet_pton(AF_INET, buf, &a4) == 1 &&
	       (ntohl(a4.s_addr) >> 24) == 127;
}

int srv_guard_bind_is_loopback(const char *bind)
{
	char b[SRV_CFG_NAME_MAX + 2];
	struct in6_addr a6;

	if (!bind || !*bind)
		return 0;
	if (inet_pton(AF_INET6, bind, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	snprintf(b, sizeof(b), "%s", bind);
	return is_loopback_name(b, strlen(b));
}

/* The length of the name part of a Host value ("[::1]:80" -> 5), or -1
 * when the value is malformed (a port that is not a number, say). */
static long host_name_len(const char *host)
{
	const char *colon, *p;
	size_t n = strlen(host);

	if (host[0] == '[') {
		p = strchr(host, ']');
		if (!p)
			return -1;
		colon = p[1] ? p + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = strchr(host, ':');
		if (colon && strchr(colon + 1, ':'))
			return -1; /* bare IPv6 is not a valid Host */
	}
	if (!colon)
		return (long)n;
	for (p = colon + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	return colon - host;
}

int srv_guard_host_ok(const struct srv_cfg *cfg, const char *host)
{
	long n;

	if (!srv_guard_bind_is_loopback(cfg->bind) && !cfg->n_allow_hosts)
		return 1;
	if (!host || !*host)
		return 1; /* HTTP/1.0 tools; browsers always send Host */
	n = host_name_len(host);
	if (n <= 0)
		return 0;
	if (is_loopback_name(host, (size_t)n))
		return 1;
	for (unsigned i = 0; i < cfg->n_allow_hosts; i++)
		if (strlen(cfg->allow_hosts[i]) == (size_t)n &&
		    !strncasecmp(cfg->allow_hosts[i], host, (size_t)n))
			return 1;
	return 0;
}

int srv_guard_origin_listed(const struct srv_cfg *cfg, const char *origin)
{
	for (unsigned i = 0; origin && i < cfg->n_allow_origins; i++)
		if (!strcasecmp(cfg->allow_origins[i], origin))
			return 1;
	return 0;
}

int srv_guard_origin_ok(const struct srv_cfg *cfg, const char *origin,
			const char *host)
{
	if (!origin)
		return 1; /* not a browser: curl, producers, the CLI */
	if (host && *host && !strncasecmp(origin, "http://", 7) &&
	    !strcasecmp(origin + 7, host))
		return 1; /* our own page */
	return srv_guard_origin_listed(cfg, origin);
}

int srv_guard_token_ok(const struct srv_cfg *cfg, const char *given,
		       size_t len)
{
	size_t n = strlen(cfg->token);
	unsigned diff;

	if (n == 0)
		return 0;
	/* Every byte of `given` is compared, whatever matched before, so
	 * the time tells nothing about how much of a guess was right. */
	diff = len != n;
	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)given[i] ^
			(unsigned char)cfg->token[i % n];
	return diff == 0;
}

int srv_guard_bearer_ok(const struct srv_cfg *cfg, const char *authorization)
{
	const char *t;

	if (!cfg->token[0])
		return 1;
	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return 0;
	for (t = authorization + 7; *t == ' '; t++)
		;
	return srv_guard_token_ok(cfg, t, strlen(t));
}

/* ---- connections ---- */

struct srv_guard *srv_guard_new(const struct srv_cfg *cfg,
				struct srv_metrics *metrics)
{
	struct srv_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->cfg = cfg;
	g->m = metrics;
	g->check_host = srv_guard_bind_is_loopback(cfg->bind) ||
			cfg->n_allow_hosts;
	return g;
}

void srv_guard_free(struct srv_guard *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < PEER_BUCKETS; i++)
		while (g->peers[i]) {
			struct peer *p = g->peers[i];

			g->peers[i] = p->next;
			free(p);
		}
	free(g);
}

/* The peer address of socket `fd` as 16 bytes; -1 if unknown. */
static int peer_addr(int fd, unsigned char out[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return -1;
	if (ss.ss_family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static size_t bucket_of(const unsigned char a[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return h % PEER_BUCKETS;
}

/* Finds the peer entry for `a`; creates it when `create`. */
static struct peer *peer_get(struct srv_guard *g, const unsigned char a[16],
			     int create)
{
	size_t b = bucket_of(a);
	struct peer *p;

	for (p = g->peers[b]; p; p = p->next)
		if (!memcmp(p->addr, a, 16))
			return p;
	if (!create || !(p = calloc(1, sizeof(*p))))
		return NULL;
	memcpy(p->addr, a, 16);
	p->next = g->peers[b];
	g->peers[b] = p;
	return p;
}

static void peer_put(struct srv_guard *g, struct peer *p)
{
	struct peer **pp;

	if (p->conns || p->subs)
		return;
	for (pp = &g->peers[bucket_of(p->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
}

/*
 * Answers a connection refused at accept with a 503 and a JSON body, as far
 * as the socket takes it at once (it never waits: the point of refusing is
 * to spend nothing on it). What the client has sent already is read first:
 * closing over unread bytes sends a reset, which can destroy the answer
 * before the client reads it. The caller closes fd.
 */
static void refuse(int fd, const char *message)
{
	char head[256], junk[4096];
	size_t blen = 0;
	char *body = srv_error_json("too_many_connections", NULL, message, 0,
				    &blen);
	int n;

	for (int i = 0; i < 4 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0;
	     i++)
		;
	if (!body)
		return;
	n = snprintf(head, sizeof(head), "HTTP/1.1 503 Service Unavailable\r\n"
		     "content-type: application/json\r\n"
		     "content-length: %zu\r\ncache-control: no-store\r\n"
		     "connection: close\r\n\r\n", blen);
	if (n > 0 && n < (int)sizeof(head) &&
	    send(fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
		(void)send(fd, body, blen, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(body);
	shutdown(fd, SHUT_WR);
}

/* FILTER_NETWORK_CONNECTION: non-zero refuses (the socket is closed). */
static int admit(struct srv_guard *g, int fd)
{
	unsigned char a[16];
	struct peer *p;

	if (g->connections >= g->cfg->max_connections) {
		srv_metrics_reject(g->m, SRV_REJ_CONNECTIONS);
		refuse(fd, "the server is at its connection limit "
		       "(--max-connections); try again later");
		return 1;
	}
	if (g->cfg->max_conns_per_ip && !peer_addr(fd, a) &&
	    (p = peer_get(g, a, 0)) && p->conns >= g->cfg->max_conns_per_ip) {
		srv_metrics_reject(g->m, SRV_REJ_CONNS_PER_IP);
		refuse(fd, "too many connections from this address "
		       "(--max-conns-per-ip); try again later");
		return 1;
	}
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * 1 when a connection that is going away never completed its first
 * request's headers and has lived --http-timeout: lws closed it for slow
 * headers (PENDING_TIMEOUT_HOLDING_AH, which it arms at accept with
 * timeout_secs_ah_idle), and tells nobody why. Its timer starts before
 * SERVER_NEW_CLIENT_INSTANTIATED stamps accepted_ms, so the age can fall
 * short of the timeout by a moment: hence the slack. A kept-alive
 * connection's later requests are not judged: its idle closes are normal.
 */
static int slow_headers(const struct srv_guard *g, const struct conn *c)
{
	return c->accepted_ms &&
	       mono_ms() - c->accepted_ms >=
		       g->cfg->http_timeout_sec * 1000LL - 250;
}

static void track(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = calloc(1, sizeof(*c));
	unsigned char a[16];

	if (!c)
		return;
	c->accepted_ms = mono_ms();
	if (!peer_addr((int)lws_get_socket_fd(wsi), a))
		c->peer = peer_get(g, a, 1);
	if (c->peer)
		c->peer->conns++;
	g->connections++;
	g->m->connections++;
	g->m->connections_total++;
	lws_set_opaque_user_data(wsi, c);
}

static void untrack(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	if (!c)
		return;
	if (slow_headers(g, c))
		srv_metrics_reject(g->m, SRV_REJ_SLOW_REQUEST);
	lws_set_opaque_user_data(wsi, NULL);
	srv_guard_sub_release(g, wsi);
	if (c->peer) {
		c->peer->conns--;
		peer_put(g, c->peer);
	}
	g->connections--;
	g->m->connections--;
	free(c);
}

struct srv_guard_hold *srv_guard_hold(struct srv_guard *g, int fd)
{
	unsigned char a[16];
	struct peer *p = NULL;

	if (!g)
		return NULL;
	if (!peer_addr(fd, a) && (p = peer_get(g, a, 1)))
		p->conns++;
	g->connections++;
	return (struct srv_guard_hold *)p;
}

void srv_guard_unhold(struct srv_guard *g, struct srv_guard_hold *h)
{
	struct peer *p = (struct peer *)h;

	if (!g)
		return;
	if (p) {
		p->conns--;
		peer_put(g, p);
	}
	g->connections--;
}

void srv_guard_peer_name(struct lws *wsi, char *buf, size_t cap)
{
	struct conn *c = lws_get_opaque_user_data(lws_get_network_wsi(wsi));
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	const unsigned char *a = c && c->peer ? c->peer->addr : NULL;

	snprintf(buf, cap, "-");
	if (!a)
		return;
	if (!memcmp(a, v4mapped, sizeof(v4mapped)))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)cap);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)cap);
}

int srv_guard_rate_ok(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);
	int64_t now;

	if (!c || !g->cfg->rate_limit)
		return 1;
	now = mono_ms();
	/* A window is the second from its first request, not a clock
	 * second: a burst across a clock second's edge would otherwise get
	 * twice the limit. */
	if (c->in_window == 0 || now - c->window_ms >= 1000) {
		c->window_ms = now;
		c->in_window = 0;
	}
	if (c->in_window >= g->cfg->rate_limit) {
		srv_metrics_reject(g->m, SRV_REJ_RATE);
		return 0;
	}
	c->in_window++;
	return 1;
}

int srv_guard_sub_acquire(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	if (!c || c->has_sub || !c->peer)
		return 0;
	if (g->cfg->max_subs_per_ip &&
	    c->peer->subs >= g->cfg->max_subs_per_ip) {
		srv_metrics_reject(g->m, SRV_REJ_SUBS_PER_IP);
		return -1;
	}
	c->peer->subs++;
	c->has_sub = 1;
	return 0;
}

void srv_guard_sub_release(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	if (!c || !c->has_sub)
		return;
	c->has_sub = 0;
	c->peer->subs--;
	peer_put(g, c->peer);
}

int srv_guard_conn_authed(struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	return c && c->authed;
}

/* ---- requests ---- */

int srv_guard_reply_now(struct lws *wsi, int status, const char *code,
			const char *message)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
		*end = buf + sizeof(buf) - 1;
	size_t blen = 0;
	char *body = srv_error_json(code, NULL, message, LWS_PRE, &blen);
	int rc = -1;

	if (!body)
		return -1;
	if (!lws_add_http_common_headers(wsi, (unsigned)status,
					 "application/json", blen, &p, end) &&
	    !srv_http_reason(start, &p, end, status) &&
	    !lws_add_http_header_by_name(wsi, (const unsigned char *)
					 "cache-control:",
					 (const unsigned char *)"no-store", 8,
					 &p, end) &&
	    !lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					  (const unsigned char *)"close", 5,
					  &p, end) &&
	    !lws_finalize_write_http_header(wsi, start, &p, end) &&
	    lws_write(wsi, (unsigned char *)body + LWS_PRE, blen,
		      LWS_WRITE_HTTP_FINAL) == (int)blen)
		rc = (int)blen;
	free(body);
	return rc;
}

static int host_allowed(struct srv_guard *g, struct lws *wsi)
{
	char host[SRV_CFG_NAME_MAX];

	return !g->check_host ||
	       srv_guard_host_ok(g->cfg, srv_hdr(wsi, WSI_TOKEN_HOST, host,
						sizeof(host)));
}

static const char misdirected[] =
	"this server answers only to loopback names (localhost, 127.0.0.1, "
	"[::1]) and --allow-host names";

int srv_guard_set_web_root(struct srv_guard *g, const char *real_root)
{
	size_t n = strlen(real_root);

	if (n >= sizeof(g->web_root))
		return -1;
	memcpy(g->web_root, real_root, n + 1);
	return 0;
}

enum web_file { FILE_OUTSIDE, FILE_MISSING, FILE_THERE };

/*
 * Where `uri` leads below the web root: FILE_OUTSIDE when the real path
 * of an existing file leaves it (lws already decodes and folds "..", but
 * follows symlinks), FILE_MISSING when nothing is there (lws answers 404
 * itself), else FILE_THERE with its size in *bytes (a directory serves
 * its index.html). REST paths are not files: FILE_THERE, with no
 * realpath (and its readlink per path component) on every API request.
 */
static enum web_file web_file(const struct srv_guard *g, const char *uri,
			      size_t *bytes)
{
	char path[PATH_MAX], real[PATH_MAX + 16];
	size_t n = strlen(g->web_root);
	struct stat st;

	*bytes = 0;
	if (!n || !uri || srv_is_api_path(uri))
		return FILE_THERE;
	if ((size_t)snprintf(path, sizeof(path), "%s%s", g->web_root, uri) >=
	    sizeof(path))
		return FILE_OUTSIDE;
	if (!realpath(path, real))
		return FILE_MISSING;
	if (strncmp(real, g->web_root, n) || (real[n] != '\0' && real[n] != '/'))
		return FILE_OUTSIDE;
	if (!stat(real, &st) && S_ISDIR(st.st_mode)) {
		strcat(real, "/index.html");
		if (stat(real, &st))
			return FILE_MISSING;
	}
	*bytes = (size_t)st.st_size;
	return FILE_THERE;
}

/* 1 when the peer address `a` may vouch for an origin (guard.h). */
static int proxy_trusted(const struct srv_cfg *cfg, const unsigned char a[16])
{
	static const unsigned char v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					     0xff, 0xff};
	static const unsigned char v6[16] = {[15] = 1};

	if (!cfg->n_trusted_proxies)
		return (!memcmp(a, v4, 12) && a[12] == 127) ||
		       !memcmp(a, v6, 16);
	for (unsigned i = 0; i < cfg->n_trusted_proxies; i++)
		if (!memcmp(a, cfg->trusted_proxies[i], 16))
			return 1;
	return 0;
}

int srv_guard_origin_forwarded(const struct srv_cfg *cfg, struct lws *wsi,
			       const char *origin)
{
	char proto[8], host[SRV_CFG_NAME_MAX];
	unsigned char a[16];
	const char *p, *h;
	size_t pl;
	int fd = lws_get_socket_fd(wsi);

	if (!origin || fd < 0 || peer_addr(fd, a) || !proxy_trusted(cfg, a))
		return 0;
	p = srv_hdr_custom(wsi, "x-forwarded-proto:", proto, sizeof(proto));
	h = srv_hdr_custom(wsi, "x-forwarded-host:", host, sizeof(host));
	if (!p || !h || !h[0] ||
	    (strcasecmp(p, "https") && strcasecmp(p, "http")))
		return 0;
	pl = strlen(p);
	return !strncasecmp(origin, p, pl) && !strncmp(origin + pl, "://", 3) &&
	       !strcasecmp(origin + pl + 3, h);
}

/* The request's headers are all in: the connection is no longer a
 * candidate for a slow-header close. */
static void headers_in(struct lws *wsi)
{
	/* Over HTTP/2 the request is a stream; the connection is its
	 * network wsi. */
	struct conn *c = lws_get_opaque_user_data(lws_get_network_wsi(wsi));

	if (c)
		c->accepted_ms = 0;
}

/* Answers a request the guard turns away, counted and logged; -1 (the
 * connection closes). */
static int turn_away(struct srv_guard *g, struct lws *wsi, const char *uri,
		  int status, const char *code, const char *message)
{
	int64_t started = srv_access_now_us();
	int sent;

	srv_metrics_http(g->m, SRV_ROUTE_OTHER, status);
	sent = srv_guard_reply_now(wsi, status, code, message);
	if (g->cfg->access_log)
		srv_access_log(wsi, srv_hdr_method(wsi), uri, status,
			       sent > 0 ? (size_t)sent : 0, started);
	return -1;
}

int srv_guard_http_request(struct srv_guard *g, struct lws *wsi,
			   const char *uri)
{
	struct conn *c = lws_get_opaque_user_data(lws_get_network_wsi(wsi));
	const char *method;
	size_t bytes;

	headers_in(wsi);
	if (!host_allowed(g, wsi)) {
		srv_metrics_reject(g->m, SRV_REJ_HOST);
		return turn_away(g, wsi, uri, 421, "misdirected_request",
			      misdirected);
	}
	if (!srv_guard_rate_ok(g, wsi))
		return turn_away(g, wsi, uri, 429, "rate_limited",
			      "too many requests on this connection; slow "
			      "down");
	switch (web_file(g, uri, &bytes)) {
	case FILE_OUTSIDE:
		return turn_away(g, wsi, uri, 404, "not_found", "no such path");
	case FILE_MISSING:
		/* lws answers it, with no callback to log it by. */
		if (g->cfg->access_log)
			srv_access_log(wsi, srv_hdr_method(wsi), uri, 404, 0,
				       srv_access_now_us());
		break;
	case FILE_THERE:
		method = srv_hdr_method(wsi);
		/* lws answers a HEAD at once, with no FILE_COMPLETION. */
		if (method && !strcmp(method, "HEAD") && !srv_is_api_path(uri)) {
			if (g->cfg->access_log)
				srv_access_log(wsi, method, uri, 200, 0,
					       srv_access_now_us());
		} else if (c) {
			c->file_started_us = srv_access_now_us();
			c->file_bytes = bytes;
		}
		break;
	}
	return 0;
}

/* lws has sent a static file: its access-log line. */
static void file_sent(struct srv_guard *g, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(lws_get_network_wsi(wsi));
	char *uri = NULL;
	int len = 0;

	if (!g->cfg->access_log || !c ||
	    lws_http_get_uri_and_method(wsi, &uri, &len) < 0)
		return;
	srv_access_log(wsi, srv_hdr_method(wsi), uri, 200, c->file_bytes,
		       c->file_started_us);
}

int srv_guard_ws_upgrade(struct srv_guard *g, struct lws *wsi)
{
	char host[SRV_CFG_NAME_MAX], origin[SRV_CFG_NAME_MAX],
		auth[SRV_CFG_NAME_MAX + 16];
	const char *h = srv_hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host));
	const char *o = srv_hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	struct conn *c = lws_get_opaque_user_data(wsi);

	headers_in(wsi);
	if (g->check_host && !srv_guard_host_ok(g->cfg, h)) {
		srv_metrics_reject(g->m, SRV_REJ_HOST);
		srv_guard_reply_now(wsi, 421, "misdirected_request",
				    misdirected);
		return -1;
	}
	if (!srv_guard_origin_ok(g->cfg, o, h) &&
	    !srv_guard_origin_forwarded(g->cfg, wsi, o)) {
		srv_metrics_reject(g->m, SRV_REJ_ORIGIN);
		srv_guard_reply_now(wsi, 403, "origin_not_allowed",
				    "WebSocket connections are accepted from "
				    "this server's own page and --allow-origin "
				    "origins only");
		return -1;
	}
	if (c && g->cfg->token[0])
		c->authed = srv_guard_bearer_ok(g->cfg, srv_hdr(
			wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, sizeof(auth)));
	return 0;
}

int srv_guard_callback(struct lws *wsi, int reason, void *user, void *in,
		       size_t len)
{
	struct srv_ctx *srv = lws_context_user(lws_get_context(wsi));
	struct srv_guard *g = srv ? srv->guard : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return g ? admit(g, (int)(intptr_t)in) : 0;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		if (g)
			track(g, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (g)
			untrack(g, wsi);
		return 0;
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
		return g && srv_guard_http_request(g, wsi, in) ? -1 : 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		if (g)
			file_sent(g, wsi);
		return lws_callback_http_dummy(wsi,
					       (enum lws_callback_reasons)reason,
					       user, in, len);
	default:
		return lws_callback_http_dummy(wsi,
					       (enum lws_callback_reasons)reason,
					       user, in, len);
	}
}
