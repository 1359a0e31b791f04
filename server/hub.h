/*
 * hub.h - fan-out of committed changes to WebSocket subscribers.
 *
 * Every committed change is encoded once (by write.c) and kept in a
 * bounded ring of recent deltas shared by all subscribers; a subscriber
 * is just a cursor into that ring plus its filter. When its socket is
 * writable it gets one frame holding everything pending for it: the lone
 * delta, or a "batch" that concatenates the pre-encoded deltas (never
 * re-encoded per client). Unfiltered subscribers at the same cursor get
 * the same frame, composed once and shared by reference (frame.h); so do
 * dashboards asking for an unfiltered snapshot within a second of each
 * other, even while writes go on. A subscriber that falls behind the
 * ring's oldest entry converges through a reset snapshot instead of
 * growing a queue. What the frames made here hold in total is counted
 * (srv_hub_queued_bytes()), so ws.c can cap it.
 *
 * Wake-ups wait for the next service pass (once attached to the lws
 * context): a publish only queues the subscribers it concerns, and a
 * zero-delay timer wakes them at the start of the next pass, oldest
 * first, as many as fit in a time slice (--ws-slice-us, at the measured
 * cost of a write; more while producers keep the passes busy; all of
 * them once the oldest waited 50 ms, while one is 1/8 of the ring
 * behind, or when a round has fewer than 128); the rest in the
 * following passes.
 * lws writes to every socket woken before a pass's poll() in that pass,
 * in connection order, so the slice is what lets a producer's request,
 * its commit and its answer through between writes, and the deltas
 * published meanwhile share the later frames. (A fixed 64 per pass with
 * a 25 ms bound was tried and bought nothing: docs/PERFORMANCE.md,
 * issue 15.) On the fan-out thread the producers are no longer behind
 * the writes, but waking every queued subscriber in each pass there
 * (--ws-slice-us 0) bought nothing either (round 6): the slice still
 * lets deltas gather into fewer, larger frames.
 *
 * Under the server lock (loop.h): publishes come from the main thread,
 * the timer and most subscribers live on the fan-out thread, and every
 * lws call for a subscriber goes through srv_post_wsi().
 */
#ifndef RACEBOARD_SERVER_HUB_H
#define RACEBOARD_SERVER_HUB_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#include "client_msg.h"
#include "config.h"
#include "loop.h"
#include "write.h"
#include "frame.h"

struct srv_hub;

/* A subscriber: embedded in a WebSocket session, linked by the hub. */
struct srv_sub {
	struct srv_sub *next;
	struct lws *wsi;
	struct proto_filter filter;  /* owned; empty = every race */
	uint64_t cursor;             /* next seq this subscriber needs */
	int armed;                   /* a writable callback is requested
				      * (set with srv_hub_set_armed()) */
	int behind;                  /* fell out of the ring: owes a reset */
	int linked;
	/* The hub's wake queue (see srv_hub_attach()). */
	struct srv_sub *wq_next, *wq_prev;
	int queued;
	int64_t queued_at;           /* us (lws_now_usecs()), when queued */
	struct srv_post post;        /* lws calls for wsi from another thread */
	/* The hub's list of idle subscribers: linked, neither armed nor
	 * queued; the ones a publish has to look at. */
	struct srv_sub *idle_next, *idle_prev;
	int idle;
};

/* Counters for /health and the benchmarks. */
struct srv_hub_stats {
	uint64_t published;          /* changes put into the ring */
	uint64_t frames;             /* delta frames handed to subscribers */
	uint64_t frames_composed;    /* of those, composed (others shared) */
	uint64_t deltas_sent;        /* deltas inside those frames */
	uint64_t snapshots;          /* snapshot frames handed out */
	uint64_t snapshots_encoded;  /* of those, encoded (others shared) */
	uint64_t resets;             /* subscribers that fell behind */
	uint64_t wakes;              /* writable callbacks the hub asked for */
	uint64_t pump_passes;        /* service passes that woke queued ones */
	unsigned subscribers;
	size_t queued_bytes;         /* srv_hub_queued_bytes() */
	size_t queued_frames;        /* frames alive that hold them */
};

/* Creates the hub over the write path (borrowed). NULL on allocation failure. */
struct srv_hub *srv_hub_new(const struct srv_cfg *cfg, struct srv_write *wp);

/* Frees the hub and its ring; subscribers must be unlinked first. */
void srv_hub_free(struct srv_hub *hub);

/*
 * Defers wake-ups through `ctx` (borrowed): from now on publish queues
 * subscribers and a zero-delay timer on ctx wakes them at the start of
 * the next service pass of ctx's thread. Without it (tests without a
 * context) every publish wakes every subscriber it concerns at once.
 * Each context's WebSocket protocol attaches its own. The timer runs on
 * the last one attached with `timer` set (the fan-out thread's, loop.h),
 * else on the first one attached. (lws 4.1 runs PROTOCOL_INIT when a
 * context is first serviced, so the order in which the two threads
 * attach is a race: "the last one attached" put the timer on the main
 * thread in about one start in three. docs/PERFORMANCE.md, round 6.)
 */
void srv_hub_attach(struct srv_hub *hub, struct lws_context *ctx, int timer);

/* The context whose thread runs the wake-up timer, or NULL. */
struct lws_context *srv_hub_timer_ctx(const struct srv_hub *hub);

/* Undoes srv_hub_attach(ctx); when ctx ran the timer, the one attached
 * before it takes over, and the last one cancels the timer and empties
 * the queue without waking anyone. Call it while ctx is being destroyed
 * (ws.c does at PROTOCOL_DESTROY, after every session closed). */
void srv_hub_detach(struct srv_hub *hub, struct lws_context *ctx);

/* Tells the hub how long one woken subscriber's writable callback took
 * (ns), so that a pass wakes as many as its slice has room for. */
void srv_hub_note_write(struct srv_hub *hub, int64_t ns);

/* Records whether a writable callback is requested for `sub` (the
 * session's writable callback clears it, and sets it when it asks for
 * another), so that the hub knows which subscribers are idle. */
void srv_hub_set_armed(struct srv_hub *hub, struct srv_sub *sub, int armed);

/* Queues `sub` (linked) for a wake-up in a later pass: for a subscriber
 * that was just written to and has more deltas pending. */
void srv_hub_wake_later(struct srv_hub *hub, struct srv_sub *sub);

/* The write path's publish hook (srv_publish_fn): ring insert, wake-ups. */
void srv_hub_publish(void *hub, const struct srv_change *change);

/* Links `sub` so it receives changes from sub->cursor on, and asks for a
 * writable callback when something is already pending. */
void srv_hub_link(struct srv_hub *hub, struct srv_sub *sub);

/* Unlinks `sub` (if linked); its filter stays the caller's. */
void srv_hub_unlink(struct srv_hub *hub, struct srv_sub *sub);

/* The newest published seq (the committed state's seq). */
uint64_t srv_hub_seq(const struct srv_hub *hub);

/* 1 when the in-memory ring still holds every change after `since`. */
int srv_hub_covers(const struct srv_hub *hub, uint64_t since);

/*
 * The next frame for `sub`, advancing its cursor: a reference the caller
 * owns (drop it with srv_frame_unref()). An unfiltered subscriber may get
 * a frame another one got from the same cursor shortly before (its
 * "server_time" is then that of the first). NULL when nothing is pending
 * or on allocation failure. Sets sub->behind (and returns NULL) when the
 * subscriber fell out of the ring.
 */
struct srv_frame *srv_hub_next_frame(struct srv_hub *hub, struct srv_sub *sub,
				     int64_t now);

/* 1 when `sub` has deltas waiting (or owes a reset). */
int srv_hub_pending(const struct srv_hub *hub, const struct srv_sub *sub);

/*
 * A snapshot frame of every committed race that passes `filter`, with
 * "reset": true when `reset`; its seq in *seq and the time it was made
 * (its "server_time") in *at. The seq is srv_hub_seq(), or for an
 * unfiltered one possibly an older seq whose following deltas the ring
 * still holds: the subscriber's cursor is then *seq + 1. An unfiltered
 * snapshot is shared with every one asked for while the ring continues
 * it, within 1 s or for as long as a session still holds it. The caller
 * must make sure no write is pending (srv_write_busy() == 0). Same
 * reference contract as srv_hub_next_frame().
 */
struct srv_frame *srv_hub_snapshot(struct srv_hub *hub,
				   const struct proto_filter *filter,
				   int reset, int64_t now, uint64_t *seq,
				   int64_t *at);

/*
 * A batch frame replaying every logged delta after `since` from LMDB (for
 * a client resuming beyond the in-memory ring, e.g. after a restart), up
 * to srv_hub_seq(); NULL when the log no longer covers `since` or there
 * is nothing to replay. Same reference contract as srv_hub_next_frame().
 */
struct srv_frame *srv_hub_replay(struct srv_hub *hub, uint64_t since,
				 int64_t now);

/* Drops the shared frames and snapshots too old to be handed out again,
 * so their memory goes once the sessions sending them are done. Call it
 * now and then (the WebSocket tick does, once a second). */
void srv_hub_expire(struct srv_hub *hub, int64_t now);

/* Bytes held now by the frames the hub made (snapshots, batches,
 * replays) that a session or the hub's own caches still reference. */
size_t srv_hub_queued_bytes(const struct srv_hub *hub);

/* The most srv_hub_queued_bytes() was since the last call (which resets
 * it): to tell when much memory was freed, and is worth handing back. */
size_t srv_hub_queued_peak(struct srv_hub *hub);

/* Fills *out. */
void srv_hub_stats(const struct srv_hub *hub, struct srv_hub_stats *out);

#endif
