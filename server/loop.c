/*
 * loop.c - the service threads and the server lock (loop.h says why).
 *
 * lws waits for its sockets with poll() (lib/plat/unix/unix-service.c in
 * 4.1.6), so this file defines poll() for the process, as h1_gate.c does
 * recv(): on a service thread, lws's wait lets go of the server lock and
 * takes it back after. Only lws's: a poll() called from elsewhere (the
 * NATS client waits for its socket in one, holding its own mutexes)
 * keeps the lock, or the two lock orders would cross; so does lws's
 * question whether one socket would block (one descriptor, no timeout:
 * lws_send_pipe_choked()), asked from inside callbacks that rely on it.
 */
#define _GNU_SOURCE /* ppoll(), dl_iterate_phdr() */
#undef _FORTIFY_SOURCE /* glibc's fortified poll() would clash below */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>

#include "loop.h"
#include "server.h"

/* The lock this thread holds as a service thread (NULL: none), and
 * whether it let go of it for a moment (srv_lock_yield()). */
static _Thread_local struct srv_loops *held;
static _Thread_local int yielded;

/* Where libwebsockets' code is mapped: its poll() calls are the waits. */
static uintptr_t lws_lo, lws_hi;

static int find_lws(struct dl_phdr_info *info, size_t size, void *base)
{
	(void)size;
	if ((void *)info->dlpi_addr != base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			lws_lo = info->dlpi_addr + ph->p_vaddr;
			lws_hi = lws_lo + ph->p_memsz;
		}
	}
	return 1;
}

void srv_loops_init(struct srv_loops *ls)
{
	void *sym = dlsym(RTLD_DEFAULT, "lws_service");
	Dl_info di;

	memset(ls, 0, sizeof(*ls));
	pthread_mutex_init(&ls->lock, NULL);
	if (!lws_hi && sym && dladdr(sym, &di))
		dl_iterate_phdr(find_lws, di.dli_fbase);
	if (!lws_hi)
		lwsl_warn("libwebsockets not found in memory: the service "
			  "threads will not overlap\n");
}

void srv_loops_fini(struct srv_loops *ls)
{
	pthread_mutex_destroy(&ls->lock);
}

struct srv_loop *srv_loops_add(struct srv_loops *ls, struct lws_context *ctx,
			       pthread_t thread)
{
	struct srv_loop *l;

	if (ls->n == SRV_LOOPS_MAX)
		return NULL;
	l = &ls->loop[ls->n++];
	l->ctx = ctx;
	l->thread = thread;
	l->head = NULL;
	l->tail = &l->head;
	l->all = ls;
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

void srv_loop_adopt_by_caller(struct srv_loop *l)
{
	l->thread = pthread_self();
	run_queue(l);
}

void srv_loop_run_queue(struct srv_loop *l)
{
	if (srv_loop_here(l))
		run_queue(l);
}

void srv_lock_enter(struct srv_loops *ls)
{
	pthread_mutex_lock(&ls->lock);
	held = ls;
}

void srv_lock_leave(struct srv_loops *ls)
{
	held = NULL;
	pthread_mutex_unlock(&ls->lock);
}

void srv_lock_yield(void)
{
	if (held && !yielded) {
		yielded = 1;
		pthread_mutex_unlock(&held->lock);
	}
}

void srv_lock_resume(void)
{
	if (yielded) {
		pthread_mutex_lock(&held->lock);
		yielded = 0;
	}
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct srv_loops *ls = held;
	uintptr_t from = (uintptr_t)__builtin_return_address(0);
	struct timespec ts, *tp = NULL;
	int rc, e;

	if (timeout >= 0) {
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
		tp = &ts;
	}
	if (!ls || yielded || (n <= 1 && !timeout) || from < lws_lo ||
	    from >= lws_hi)
		return ppoll(fds, n, tp, NULL);
	pthread_mutex_unlock(&ls->lock);
	rc = ppoll(fds, n, tp, NULL);
	e = errno;
	pthread_mutex_lock(&ls->lock);
	errno = e;
	return rc;
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
	return pthread_equal(l->thread, pthread_self());
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
