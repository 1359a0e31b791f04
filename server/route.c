/*
 * route.c - which service thread serves a new connection (route.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "h1_gate.h"
#include "log.h"
#include "loop.h"
#include "route.h"
#include "server.h"

#define WS_LINE "GET /ws"          /* then ' ' or '?' */
#define WS_LINE_LEN 7
#define PEEK 256                    /* enough for the request target */
#define PRODUCER "role=producer"
#define ROUTE_WAIT_MS 1000          /* then it goes to the main thread */
#define ROUTE_WAITING_MAX 1024      /* more go to the main thread at once */
#define SWEEP_US (250 * LWS_US_PER_MS)
#define EVENTS 64

/* A connection on its way to a context. */
struct conn {
	struct srv_post post;
	struct srv_router *r;
	struct lws_vhost *vh;       /* where it goes */
	struct srv_guard_hold *hold; /* counted in the guard's caps */
	int fd;
	lws_usec_t since;           /* when it began to wait */
	struct conn *next, **pprev; /* in r->waiting */
};

struct srv_router {
	struct srv_ctx *srv;
	struct srv_loop *http_loop, *ws_loop;
	struct lws_vhost *http_vh, *ws_vh;
	int ep;                     /* the epoll set of waiting connections */
	int ep_owned;               /* lws closes ep (adopted) */
	struct conn *waiting;
	unsigned n_waiting;
	lws_sorted_usec_list_t sweep;
	int sweep_armed;
};

/* 1 when the query q[0..n) has the parameter PRODUCER. */
static int names_producer(const char *q, size_t n)
{
	size_t k = sizeof(PRODUCER) - 1;

	for (size_t i = 0; i + k <= n; i++)
		if ((i == 0 || q[i - 1] == '&') && !memcmp(q + i, PRODUCER, k) &&
		    (i + k == n || q[i + k] == '&'))
			return 1;
	return 0;
}

enum srv_route_kind srv_route_classify(const char *b, size_t n, int eof)
{
	size_t k = n < WS_LINE_LEN ? n : WS_LINE_LEN;
	const char *q, *end;

	if (memcmp(b, WS_LINE, k))
		return SRV_ROUTE_HTTP;
	if (n <= WS_LINE_LEN)
		return eof ? SRV_ROUTE_HTTP : SRV_ROUTE_WAIT;
	if (b[WS_LINE_LEN] == ' ')
		return SRV_ROUTE_WS;
	if (b[WS_LINE_LEN] != '?')
		return SRV_ROUTE_HTTP;
	/* A producer that says so stays with the HTTP producers. */
	q = b + WS_LINE_LEN + 1;
	end = memchr(q, ' ', n - WS_LINE_LEN - 1);
	if (!end)
		return eof || n >= PEEK ? SRV_ROUTE_WS : SRV_ROUTE_WAIT;
	return names_producer(q, (size_t)(end - q)) ? SRV_ROUTE_HTTP
						     : SRV_ROUTE_WS;
}

/* Adopts fd into vh as an HTTP connection (lws upgrades it if asked), on
 * the thread that services vh. On failure lws has closed fd already. */
static void adopt(struct lws_vhost *vh, int fd)
{
	lws_sock_file_fd_type d;
	struct lws *wsi;

	d.sockfd = fd;
	wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP,
					 d, NULL, NULL);
	if (!wsi)
		srv_log_info("%s: adopt failed\n", __func__);
	else if (srv_h1_gate_watch(fd, wsi))
		srv_log_warn("%s: out of memory: pipelined requests on "
			     "this connection are not ordered\n", __func__);
}

/* Adopts c where it was sent, and frees it. */
static void adopt_conn(struct conn *c)
{
	srv_guard_unhold(c->r->srv->guard, c->hold);
	adopt(c->vh, c->fd);
	free(c);
}

static void adopt_there(struct srv_post *p)
{
	adopt_conn(lws_container_of(p, struct conn, post));
}

/* Hands c to the thread of `l`, to be adopted into vh (c is taken). */
static void send_to(struct conn *c, struct srv_loop *l, struct lws_vhost *vh)
{
	c->vh = vh;
	srv_post_call(&c->post, l, adopt_there);
}

static void sweep_cb(lws_sorted_usec_list_t *sul);

static void decide(struct srv_router *r, struct conn *c, int expired);

/* Fan-out thread: c waits in the epoll set for its first bytes. */
static void start_wait(struct srv_post *p)
{
	struct conn *c = lws_container_of(p, struct conn, post);
	struct srv_router *r = c->r;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c,
	};

	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
		send_to(c, r->http_loop, r->http_vh);
		return;
	}
	c->since = lws_now_usecs();
	c->next = r->waiting;
	c->pprev = &r->waiting;
	if (r->waiting)
		r->waiting->pprev = &c->next;
	r->waiting = c;
	r->n_waiting++;
	if (!r->sweep_armed) {
		r->sweep_armed = 1;
		lws_sul_schedule(r->ws_loop->ctx, 0, &r->sweep, sweep_cb,
				 SWEEP_US);
	}
}

/*
 * Fan-out thread: sends c where its first bytes say, or (`expired`, or
 * the peer closed) to the main thread; leaves it waiting while they do
 * not tell yet.
 */
static void decide(struct srv_router *r, struct conn *c, int expired)
{
	char b[PEEK];
	ssize_t n = recv(c->fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	int eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
	enum srv_route_kind k = srv_route_classify(b, n > 0 ? (size_t)n : 0,
						   eof || expired);

	if (k == SRV_ROUTE_WAIT)
		return;
	(void)epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	r->n_waiting--;
	if (k == SRV_ROUTE_WS) {
		r->srv->metrics.fanout_connections_total++;
		c->vh = r->ws_vh;
		adopt_conn(c);
	} else {
		send_to(c, r->http_loop, r->http_vh);
	}
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_router *r = lws_container_of(sul, struct srv_router,
						 sweep);
	lws_usec_t now = lws_now_usecs();
	struct conn *c, *next;

	srv_lock();
	r->sweep_armed = 0;
	c = r->waiting;
	for (; c; c = next) {
		next = c->next;
		if (now - c->since >= ROUTE_WAIT_MS * LWS_US_PER_MS)
			decide(r, c, 1);
	}
	if (r->waiting) {
		r->sweep_armed = 1;
		lws_sul_schedule(r->ws_loop->ctx, 0, &r->sweep, sweep_cb,
				 SWEEP_US);
	}
	srv_unlock();
}

/* Fan-out thread: some waiting connections have bytes (or closed). */
static void ready(struct srv_router *r)
{
	struct epoll_event ev[EVENTS];
	int n = epoll_wait(r->ep, ev, EVENTS, 0);

	for (int i = 0; i < n; i++)
		decide(r, ev[i].data.ptr, 0);
}

void srv_route(struct srv_ctx *srv, struct lws_vhost *here, int fd)
{
	struct srv_router *r = srv->router;
	struct conn *c;
	char b[PEEK];
	ssize_t n;

	if (!r || !(c = calloc(1, sizeof(*c)))) {
		adopt(here, fd);
		return;
	}
	c->r = r;
	c->fd = fd;
	/* Until lws tracks it, the caps count it here. */
	c->hold = srv_guard_hold(srv->guard, fd);
	n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	switch (srv_route_classify(b, n > 0 ? (size_t)n : 0, n == 0)) {
	case SRV_ROUTE_WS:
		r->srv->metrics.fanout_connections_total++;
		send_to(c, r->ws_loop, r->ws_vh);
		return;
	case SRV_ROUTE_WAIT:
		if (r->n_waiting < ROUTE_WAITING_MAX) {
			srv_post_call(&c->post, r->ws_loop, start_wait);
			return;
		}
		/* fallthrough */
	default:
		send_to(c, r->http_loop, r->http_vh);
	}
}

static int route_callback(struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len)
{
	struct srv_ctx *srv = lws_context_user(lws_get_context(wsi));
	struct srv_router *r = srv ? srv->router : NULL;

	(void)user;
	(void)in;
	(void)len;
	if (!r)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		ready(r);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		lws_sul_cancel(&r->sweep);
		r->sweep_armed = 0;
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols srv_route_protocol = {
	.name = "raceboard-route",
	.callback = route_callback,
};

struct srv_router *srv_router_new(struct srv_ctx *srv,
				  struct srv_loop *http_loop,
				  struct lws_vhost *http_vh,
				  struct srv_loop *ws_loop,
				  struct lws_vhost *ws_vh)
{
	struct srv_router *r = calloc(1, sizeof(*r));
	lws_sock_file_fd_type d;

	if (!r)
		return NULL;
	r->srv = srv;
	r->http_loop = http_loop;
	r->http_vh = http_vh;
	r->ws_loop = ws_loop;
	r->ws_vh = ws_vh;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0) {
		free(r);
		return NULL;
	}
	d.filefd = r->ep;
	if (!lws_adopt_descriptor_vhost(ws_vh, LWS_ADOPT_RAW_FILE_DESC, d,
					srv_route_protocol.name, NULL)) {
		close(r->ep);
		free(r);
		return NULL;
	}
	r->ep_owned = 1;
	return r;
}

void srv_router_free(struct srv_router *r)
{
	if (!r)
		return;
	while (r->waiting) {
		struct conn *c = r->waiting;

		r->waiting = c->next;
		srv_guard_unhold(r->srv->guard, c->hold);
		close(c->fd);
		free(c);
	}
	if (!r->ep_owned)
		close(r->ep);
	free(r);
}
