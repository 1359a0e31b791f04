/*
 * loop.h - the service threads, the server lock, and lws calls handed to
 * the thread that owns their connection.
 *
 * lws 4.1 as Debian builds it has LWS_MAX_SMP 1: a context has exactly
 * one service thread. So the server runs one context per service thread
 * (struct srv_loop): the main thread's takes the HTTP connections and the
 * write path's and the cluster's wake-ups; the fan-out thread's takes
 * the WebSocket connections (route.c places each one that listen.c
 * accepts, by its request line). Sending deltas to a thousand subscribers then no longer
 * holds up a producer's request, its commit and its answer: issue 15,
 * docs/PERFORMANCE.md.
 *
 * Both threads use the same table, write path, hub, metrics and guard,
 * under one lock, taken by every lws callback and timer of ours (main.c
 * wraps the protocols' callbacks) and let go of while a frame's bytes
 * are copied and sent and while a reply is sent (srv_frame_write(),
 * srv_loop_write(): srv_lock_yield()). lws itself runs outside it:
 * each context's state belongs to its own thread, so the threads overlap
 * in lws's parsing, polling and system calls, where the time goes, and
 * the modules behind the lock keep their one-thread code.
 *
 * What a thread must not do is call lws on a connection or timer of the
 * other context: lws has no locks of its own. srv_post_wsi() and
 * srv_post_sul() make the call at once on the owning thread, and from
 * any other thread queue it (struct srv_post, embedded in the object the
 * call is for: no allocation, one entry per object) and wake the owner
 * with lws_cancel_service(); the owner runs its queue from
 * srv_loop_protocol's LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 */
#ifndef RACEBOARD_SERVER_LOOP_H
#define RACEBOARD_SERVER_LOOP_H

#include <libwebsockets.h>
#include <pthread.h>

#define SRV_LOOPS_MAX 2

/* What srv_post_wsi() can do to a connection, as a bit set. */
enum {
	SRV_OP_WRITABLE = 1,   /* lws_callback_on_writable() */
	SRV_OP_RX_ON = 2,      /* lws_rx_flow_control(wsi, 1) */
	SRV_OP_RX_OFF = 4,     /* lws_rx_flow_control(wsi, 0) */
	SRV_OP_KILL = 8,       /* close it from its own thread, soon */
};

/* A deferred call, embedded in what it is for. Zero it before first use. */
struct srv_post {
	struct srv_post *next, **pprev; /* pprev NULL: not queued */
	struct srv_loop *loop;          /* where it is queued */
	struct lws *wsi;
	unsigned ops;
	lws_sorted_usec_list_t *sul;    /* srv_post_sul() */
	sul_cb_t sul_cb;
	lws_usec_t sul_us;
	void (*fn)(struct srv_post *p); /* srv_post_call() */
};

struct srv_loop {
	struct lws_context *ctx;
	pthread_t thread;               /* the thread that services ctx, */
	int running;                    /* once it runs (under the lock) */
	struct srv_post *head, **tail;  /* queued calls, under the lock */
};

struct srv_loops {
	pthread_mutex_t lock;
	struct srv_loop loop[SRV_LOOPS_MAX];
	unsigned n;
};

/* Sets up the lock and no loops. */
void srv_loops_init(struct srv_loops *ls);

/* Frees the lock; every loop must be done with it. */
void srv_loops_fini(struct srv_loops *ls);

/*
 * Adds a context (before anything else may touch it) and returns its
 * loop, or NULL when SRV_LOOPS_MAX are there. Calls for it are queued
 * until the thread that services it calls srv_loop_run_here().
 */
struct srv_loop *srv_loops_add(struct srv_loops *ls, struct lws_context *ctx);

/* The calling thread services `l` from now on (under the lock). */
void srv_loop_run_here(struct srv_loop *l);

/* Hands `l` to the calling thread: its own thread has stopped, and this
 * one now destroys its context. Runs the calls still queued for it. */
void srv_loop_adopt_by_caller(struct srv_loop *l);

/* Runs the calls queued for `l`, when the calling thread services it
 * (main() after the loop ends: nothing queued is left behind). */
void srv_loop_run_queue(struct srv_loop *l);

/* Makes the calling thread a service thread of `ls` (before it serves
 * anything): srv_lock() then takes ls's lock. */
void srv_loop_thread(struct srv_loops *ls);

/* Takes and gives back the server lock; nested calls count. No-ops on a
 * thread that is not a service thread. */
void srv_lock(void);
void srv_unlock(void);

/* Around a system call that touches nothing behind the lock (a send of
 * bytes the caller copied): the other service thread may run meanwhile,
 * so whatever the caller read under the lock may have changed after. A
 * no-op when the lock is not held. */
void srv_lock_yield(void);
void srv_lock_resume(void);

/*
 * lws_write(wsi, buf, len, wp) without the server lock: the send is
 * where a reply's time goes (loopback TCP charges the sender for the
 * receiver's work), and the other service thread runs meanwhile. Only on
 * the thread that owns wsi, from its writable callback, with buf
 * something no other thread writes to or frees until it returns (a
 * copy, or what only this session changes, like an HTTP reply). Returns
 * what lws_write() does.
 */
int srv_loop_write(struct lws *wsi, unsigned char *buf, size_t len,
		   enum lws_write_protocol wp);

/* The loop whose thread services `ctx`, or the context of `wsi` (NULL:
 * none). */
struct srv_loop *srv_loop_of_ctx(struct lws_context *ctx);
struct srv_loop *srv_loop_of(struct lws *wsi);

/* 1 when the calling thread services `l`. */
int srv_loop_here(const struct srv_loop *l);

/*
 * Does `ops` (SRV_OP_*) to `wsi` now when the calling thread owns it,
 * else queues them in `p` for its owner (merged with what is queued
 * there already; RX_ON and RX_OFF: the later wins). Under the lock.
 */
void srv_post_wsi(struct srv_post *p, struct lws *wsi, unsigned ops);

/* lws_sul_schedule(ctx, 0, sul, cb, us), on the thread that owns ctx. */
void srv_post_sul(struct srv_post *p, struct lws_context *ctx,
		  lws_sorted_usec_list_t *sul, sul_cb_t cb, lws_usec_t us);

/* Calls fn(p) on the thread that services `l` (now, if it is this one). */
void srv_post_call(struct srv_post *p, struct srv_loop *l,
		   void (*fn)(struct srv_post *p));

/* Takes back whatever `p` still has queued (its object is going). */
void srv_post_drop(struct srv_post *p);

/* Every context's list of protocols carries it: it runs the queued calls
 * on LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
extern const struct lws_protocols srv_loop_protocol;

#endif
