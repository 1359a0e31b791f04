/*
 * loop.c - the service threads and the server lock (loop.h says why).
 */
#include <string.h>

#include "loop.h"
#include "server.h"

/* The lock this thread takes as a service thread (NULL: none), and how
 * deep in nested callbacks it holds it (lws calls callbacks from inside
 * calls made by callbacks, adoption for one). */
static _Thread_local struct srv_loops *mine;
static _Thread_local unsigned depth;

void srv_loops_init(struct srv_loops *ls)
{
	memset(ls, 0, sizeof(*ls));
	pthread_mutex_init(&ls->lock, NULL);
}

void srv_loops_fini(struct srv_loops *ls)
{
	pthread_mutex_destroy(&ls->lock);
}

void srv_loop_thread(struct srv_loops *ls)
{
	mine = ls;
	depth = 0;
}

void srv_lock(void)
{
	if (mine && !depth++)
		pthread_mutex_lock(&mine->lock);
}

void srv_unlock(void)
{
	if (mine && !--depth)
		pthread_mutex_unlock(&mine->lock);
}

/* A yield lets go of every level at once and takes them all back. */
static _Thread_local unsigned yielded_depth;

void srv_lock_yield(void)
{
	if (mine && depth) {
		yielded_depth = depth;
		depth = 0;
		pthread_mutex_unlock(&mine->lock);
	}
}

void srv_lock_resume(void)
{
	if (mine && yielded_depth) {
		pthread_mutex_lock(&mine->lock);
		depth = yielded_depth;
		yielded_depth = 0;
	}
}

int srv_loop_write(struct lws *wsi, unsigned char *buf, size_t len,
		   enum lws_write_protocol wp)
{
	int rc;

	srv_lock_yield();
	rc = lws_write(wsi, buf, len, wp);
	srv_lock_resume();
	return rc;
}

struct srv_loop *srv_loops_add(struct srv_loops *ls, struct lws_context *ctx)
{
	struct srv_loop *l;

	if (ls->n == SRV_LOOPS_MAX)
		return NULL;
	l = &ls->loop[ls->n++];
	l->ctx = ctx;
	l->running = 0;
	l->head = NULL;
	l->tail = &l->head;
	return l;
}

static void unlink_post(struct srv_post *p)
{
	struct srv_loop *l = p->loop;

	*p->pprev = p->next;
	if (p->next)
		p->next->pprev = p->pprev;
	else
		l->tail = p->pprev;
	p->next = NULL;
	p->pprev = NULL;
}

static void run_queue(struct srv_loop *l);

void srv_loop_run_here(struct srv_loop *l)
{
	l->thread = pthread_self();
	l->running = 1;
}

void srv_loop_adopt_by_caller(struct srv_loop *l)
{
	srv_loop_run_here(l);
	run_queue(l);
}

void srv_loop_run_queue(struct srv_loop *l)
{
	if (srv_loop_here(l))
		run_queue(l);
}

struct srv_loop *srv_loop_of_ctx(struct lws_context *ctx)
{
	struct srv_ctx *srv = ctx ? lws_context_user(ctx) : NULL;
	struct srv_loops *ls = srv ? srv->loops : NULL;

	for (unsigned i = 0; ls && i < ls->n; i++)
		if (ls->loop[i].ctx == ctx)
			return &ls->loop[i];
	return NULL;
}

struct srv_loop *srv_loop_of(struct lws *wsi)
{
	return srv_loop_of_ctx(lws_get_context(wsi));
}

int srv_loop_here(const struct srv_loop *l)
{
	return l->running && pthread_equal(l->thread, pthread_self());
}

static void do_ops(struct lws *wsi, unsigned ops)
{
	if (ops & SRV_OP_KILL) {
		lws_set_timeout(wsi, PENDING_TIMEOUT_LAGGING, LWS_TO_KILL_ASYNC);
		return;
	}
	if (ops & SRV_OP_RX_ON)
		lws_rx_flow_control(wsi, 1);
	if (ops & SRV_OP_RX_OFF)
		lws_rx_flow_control(wsi, 0);
	if (ops & SRV_OP_WRITABLE)
		lws_callback_on_writable(wsi);
}

static void enqueue(struct srv_post *p, struct srv_loop *l)
{
	int first = !l->head;

	if (p->pprev)
		return;
	p->loop = l;
	p->next = NULL;
	p->pprev = l->tail;
	*l->tail = p;
	l->tail = &p->next;
	/* One wake-up per queue: the owner runs all of it. */
	if (first)
		lws_cancel_service(l->ctx);
}

void srv_post_wsi(struct srv_post *p, struct lws *wsi, unsigned ops)
{
	struct srv_loop *l = srv_loop_of(wsi);
	unsigned rx = SRV_OP_RX_ON | SRV_OP_RX_OFF;

	if (ops & rx)
		p->ops &= ~rx; /* the later call wins */
	if (!l || srv_loop_here(l)) {
		do_ops(wsi, ops);
		return;
	}
	p->wsi = wsi;
	p->ops |= ops;
	enqueue(p, l);
}

void srv_post_sul(struct srv_post *p, struct lws_context *ctx,
		  lws_sorted_usec_list_t *sul, sul_cb_t cb, lws_usec_t us)
{
	struct srv_loop *l = srv_loop_of_ctx(ctx);

	if (!l || srv_loop_here(l)) {
		lws_sul_schedule(ctx, 0, sul, cb, us);
		return;
	}
	p->sul = sul;
	p->sul_cb = cb;
	p->sul_us = us;
	enqueue(p, l);
}

void srv_post_call(struct srv_post *p, struct srv_loop *l,
		   void (*fn)(struct srv_post *p))
{
	if (srv_loop_here(l)) {
		fn(p);
		return;
	}
	p->fn = fn;
	enqueue(p, l);
}

void srv_post_drop(struct srv_post *p)
{
	if (p->pprev)
		unlink_post(p);
	p->ops = 0;
}

/* Runs what the other threads queued for this one. A call may queue more
 * (it then runs in this same pass) or free its post. */
static void run_queue(struct srv_loop *l)
{
	while (l->head) {
		struct srv_post *p = l->head;
		unsigned ops = p->ops;

		unlink_post(p);
		p->ops = 0;
		if (p->fn)
			p->fn(p);
		else if (p->sul)
			lws_sul_schedule(l->ctx, 0, p->sul, p->sul_cb,
					 p->sul_us);
		else if (ops)
			do_ops(p->wsi, ops);
	}
}

static int loop_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct srv_loop *l;

	(void)user;
	(void)in;
	(void)len;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED &&
	    (l = srv_loop_of(wsi)) && srv_loop_here(l))
		run_queue(l);
	return 0;
}

const struct lws_protocols srv_loop_protocol = {
	.name = "raceboard-loop",
	.callback = loop_callback,
};
