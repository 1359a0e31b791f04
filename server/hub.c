/*
 * hub.c - the one publish path and per-subscriber frame composition.
 *
 * The ring holds the last cfg->ws_backlog changes, indexed by seq (seqs
 * are published in order; in cluster mode they may skip numbers, the
 * log entries that changed nothing, whose slots stay empty). Publishing is O(1) plus one wake-up per
 * subscriber that is not already waiting for a writable callback, so a
 * burst of N changes costs each subscriber one frame, not N.
 *
 * Frames for unfiltered subscribers are kept in a small cache keyed by
 * the cursor they start at: the deltas in the ring never change while
 * the ring holds them, so a frame composed for one subscriber is exactly
 * what another one at the same cursor needs (give or take deltas
 * published since, which its next frame carries). Many subscribers
 * woken by the same publishes then cost one composition and one buffer.
 *
 * Unfiltered snapshots are shared the same way, and not only at one seq:
 * a snapshot at seq S followed by the ring's deltas from S + 1 is exactly
 * what a subscriber needs at any later seq, as long as the ring still
 * holds S + 1. So every dashboard that subscribes, or falls behind and
 * needs a reset, gets the same buffer while it is fresh (SNAP_SHARE_MS)
 * or still being sent to someone (sharing it then costs no memory, a new
 * one would), however fast the writes come. Every frame made here is
 * counted (frame.h), so the WebSocket side can cap what subscribers hold
 * in total.
 */
#include "hub.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta.h"
#include "json.h"
#include "loop.h"
#include "rfc3339.h"
#include "util.h"

/* A frame grows past this only to fit a single delta. */
#define FRAME_SOFT_MAX (256 * 1024)

/* Composed frames kept for other subscribers at the same cursor, and how
 * long one may be handed out (it carries the "server_time" of its
 * composition). Bounded memory: FRAME_CACHE * FRAME_SOFT_MAX. */
#define FRAME_CACHE 8
#define FRAME_REUSE_MS 50

/* How long an unfiltered snapshot nobody else is sending may be handed
 * out again (while the ring continues it). The bound keeps its read-time
 * fields (progress_prediction, "server_time") from getting old. One that
 * is older is handed out only while other sessions still send it (its
 * memory is spent anyway), and the caller follows it with a fresh
 * "server_time". */
#define SNAP_SHARE_MS 1000

/* What writing one frame to a subscriber costs before any was measured
 * (about a send() through loopback TCP on the machines measured). */
#define WRITE_NS_GUESS 10000

/* While subscribers wait, they get at least this many times the time
 * the rest of a pass takes (see share()). */
#define WRITE_SHARE 2

/* A subscriber queued this long, or this far behind (a fraction of the
 * ring), is woken in the next pass, with every other one queued (see
 * share()). */
#define SWEEP_MS 50
#define LAG_FRACTION 8
#define LAG_SCAN_EVERY 256       /* publishes between two lag scans */
#define LAG_SCAN_MS 20           /* or this long */

/* A round (the queue a publish leaves) this short goes in one pass: a
 * round over so few costs less than the passes slicing it would add to
 * its last delta. */
#define WAKE_ALL_BELOW 128

struct hub_msg {
	uint64_t seq;
	int op;                     /* enum proto_delta_op */
	char *id;
	char *source, *prev_source;
	enum proto_state state, prev_state;
	char *data;                 /* the delta as published */
	size_t len;
	char *full;                 /* "create" form, or NULL */
	size_t full_len;
};

/* A frame of the deltas [from, end) for unfiltered subscribers. */
struct shared_frame {
	struct srv_frame *frame;    /* one reference, or NULL */
	uint64_t from, end;
	size_t n;                   /* deltas inside */
	int64_t at;                 /* ms, when composed */
};

/* The last unfiltered snapshot of one kind (plain or reset). */
struct shared_snapshot {
	struct srv_frame *frame;    /* one reference, or NULL */
	uint64_t seq;
	int64_t at;
};

struct srv_hub {
	struct srv_write *wp;
	struct lws_context *ctx;    /* set: wake-ups are paced, by a timer
				     * on this context (the last attached) */
	struct lws_context *attached[SRV_LOOPS_MAX]; /* srv_hub_attach() */
	unsigned n_attached;
	lws_sorted_usec_list_t pump_sul;
	struct srv_post pump_post;  /* the timer, from another thread */
	int pump_scheduled;
	int64_t write_ns;           /* a woken subscriber's write, averaged */
	int64_t pump_cpu;           /* this thread's CPU ns at the last pump */
	int pump_left;              /* it left some queued (for this pass) */
	int64_t pass_write_ns;      /* writes noted since the last pump */
	unsigned wq_len;            /* subscribers in the wake queue */
	unsigned round_len;         /* wq_len as the last publish left it */
	uint64_t lag;               /* deltas the furthest behind of those
				     * with some pending, at the last scan */
	unsigned lag_age;           /* publishes since that scan */
	int64_t lag_at;             /* us, when it was */
	struct srv_sub *idle;       /* subscribers with nothing requested */
	struct srv_sub *wq_head, *wq_tail;  /* the wake queue, oldest first */
	const struct srv_cfg *cfg;
	struct hub_msg *ring;
	size_t cap;                 /* a power of two */
	uint64_t lo, hi;            /* seqs in the ring: lo..hi (lo > hi: none) */
	struct srv_sub *subs;
	struct srv_hub_stats stats;
	struct shared_frame shared[FRAME_CACHE];
	struct shared_snapshot snap[2];  /* [reset] */
	struct srv_frame_acct acct;      /* every frame made here */
};

static void msg_clear(struct hub_msg *m)
{
	free(m->id);
	free(m->source);
	free(m->prev_source);
	free(m->data);
	free(m->full);
	memset(m, 0, sizeof(*m));
}

struct srv_hub *srv_hub_new(const struct srv_cfg *cfg, struct srv_write *wp)
{
	struct srv_hub *hub = calloc(1, sizeof(*hub));

	if (!hub)
		return NULL;
	hub->cap = 16;
	while (hub->cap < cfg->ws_backlog)
		hub->cap <<= 1;
	hub->ring = calloc(hub->cap, sizeof(*hub->ring));
	if (!hub->ring) {
		free(hub);
		return NULL;
	}
	hub->wp = wp;
	hub->cfg = cfg;
	hub->write_ns = WRITE_NS_GUESS;
	hub->hi = srv_write_seq(wp);
	hub->lo = hub->hi + 1;
	return hub;
}

void srv_hub_free(struct srv_hub *hub)
{
	if (!hub)
		return;
	/* The context (and its timer list) is gone by now: ws.c detached. */
	for (size_t i = 0; i < hub->cap; i++)
		msg_clear(&hub->ring[i]);
	for (size_t i = 0; i < FRAME_CACHE; i++)
		srv_frame_unref(&hub->shared[i].frame);
	srv_frame_unref(&hub->snap[0].frame);
	srv_frame_unref(&hub->snap[1].frame);
	free(hub->ring);
	free(hub);
}

static struct hub_msg *slot(const struct srv_hub *hub, uint64_t seq)
{
	return &hub->ring[seq & (hub->cap - 1)];
}

/*
 * What `sub` receives for `m`: the delta itself, its "create" form (the
 * race just entered the subscriber's filter), or nothing.
 */
static const char *view(const struct srv_sub *sub, const struct hub_msg *m,
			size_t *len)
{
	int now, before;

	if (!m->data)
		return NULL; /* a seq that changed nothing (cluster mode) */
	if (proto_filter_is_empty(&sub->filter)) {
		*len = m->len;
		return m->data;
	}
	now = proto_filter_match(&sub->filter, m->id, m->source, m->state);
	before = proto_filter_match(&sub->filter, m->id, m->prev_source,
				    m->prev_state);
	if (m->op == PROTO_DELTA_UPDATE && now && !before && m->full) {
		*len = m->full_len;
		return m->full;
	}
	if (now || (before && m->op != PROTO_DELTA_CREATE)) {
		*len = m->len;
		return m->data;
	}
	return NULL;
}

/* Puts `sub` on the idle list or takes it off, as its state says. */
static void update_idle(struct srv_hub *hub, struct srv_sub *sub)
{
	int idle = sub->linked && !sub->armed && !sub->queued;

	if (idle == sub->idle)
		return;
	if (idle) {
		sub->idle_prev = NULL;
		sub->idle_next = hub->idle;
		if (hub->idle)
			hub->idle->idle_prev = sub;
		hub->idle = sub;
	} else {
		if (sub->idle_prev)
			sub->idle_prev->idle_next = sub->idle_next;
		else
			hub->idle = sub->idle_next;
		if (sub->idle_next)
			sub->idle_next->idle_prev = sub->idle_prev;
		sub->idle_next = sub->idle_prev = NULL;
	}
	sub->idle = idle;
}

void srv_hub_set_armed(struct srv_hub *hub, struct srv_sub *sub, int armed)
{
	sub->armed = armed;
	update_idle(hub, sub);
}

static void wake(struct srv_hub *hub, struct srv_sub *sub)
{
	if (sub->armed)
		return;
	srv_hub_set_armed(hub, sub, 1);
	hub->stats.wakes++;
	if (sub->wsi) /* NULL: a subscriber without a connection (tests) */
		srv_post_wsi(&sub->post, sub->wsi, SRV_OP_WRITABLE);
}

static void wq_remove(struct srv_hub *hub, struct srv_sub *sub)
{
	if (!sub->queued)
		return;
	if (sub->wq_prev)
		sub->wq_prev->wq_next = sub->wq_next;
	else
		hub->wq_head = sub->wq_next;
	if (sub->wq_next)
		sub->wq_next->wq_prev = sub->wq_prev;
	else
		hub->wq_tail = sub->wq_prev;
	sub->wq_next = sub->wq_prev = NULL;
	sub->queued = 0;
	hub->wq_len--;
	update_idle(hub, sub);
}

static void pump_cb(lws_sorted_usec_list_t *sul);

static void schedule_pump(struct srv_hub *hub)
{
	if (hub->ctx && !hub->pump_scheduled && hub->wq_head) {
		hub->pump_scheduled = 1;
		/* 1 us: lws runs it at the start of the next service pass,
		 * before that pass's poll(). */
		srv_post_sul(&hub->pump_post, hub->ctx, &hub->pump_sul,
			     pump_cb, 1);
	}
}

/* This thread's CPU time in ns: what a pass cost, preemptions left out. */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * How many queued subscribers this pass wakes: as many as fit in a time
 * budget at the measured cost of a write. The budget is the slice
 * (cfg->ws_slice_us), or WRITE_SHARE times the CPU time the last pass
 * spent on everything else (poll(), producers, commits), whichever is
 * more: while subscribers wait, they get at least WRITE_SHARE /
 * (WRITE_SHARE + 1) of the thread however busy the producers are, and a
 * stop-and-wait producer is read, committed and answered between small
 * slices, so the deltas it sends meanwhile share the next frames. Every
 * one when the slice is 0, once the oldest has waited SWEEP_MS, or while
 * a subscriber with deltas pending is 1/LAG_FRACTION of the ring behind
 * (armed ones too: a socket the client drains slowly): a load the writes cannot keep up
 * with gets one pass (the fewest poll()s per frame), and the producers
 * are read once per round over the subscribers again, which is what
 * holds them back before subscribers fall out of the ring.
 */
static unsigned share(const struct srv_hub *hub, int64_t now,
		      int64_t cpu)
{
	int64_t budget = (int64_t)hub->cfg->ws_slice_us * 1000, other, n;

	if (!budget || hub->round_len < WAKE_ALL_BELOW ||
	    now - hub->wq_head->queued_at >= SWEEP_MS * 1000 ||
	    hub->lag >= hub->cap / LAG_FRACTION)
		return UINT_MAX;
	if (hub->pump_left) {
		other = cpu - hub->pump_cpu - hub->pass_write_ns;
		if (other * WRITE_SHARE > budget)
			budget = other * WRITE_SHARE;
	}
	n = budget / (hub->write_ns > 100 ? hub->write_ns : 100);
	return n < 1 ? 1 : n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

/*
 * Wakes the queued subscribers, oldest first, up to this pass's share;
 * the rest wait for the next pass, so whatever else became ready (a
 * producer's request, a commit's completion) is serviced in between. One
 * already armed leaves the queue without counting: its writable callback
 * takes what is pending.
 */
static void pump(struct srv_hub *hub)
{
	int64_t now = lws_now_usecs(), cpu = thread_cpu_ns();
	unsigned n = 0, max = hub->wq_head ? share(hub, now, cpu) : 0;

	while (hub->wq_head && n < max) {
		struct srv_sub *sub = hub->wq_head;

		wq_remove(hub, sub);
		if (!sub->armed) {
			wake(hub, sub);
			n++;
		}
	}
	if (n)
		hub->stats.pump_passes++;
	hub->pump_cpu = cpu;
	hub->pump_left = hub->wq_head != NULL;
	hub->pass_write_ns = 0;
	schedule_pump(hub);
}

static void pump_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_hub *hub = lws_container_of(sul, struct srv_hub, pump_sul);

	srv_lock();
	hub->pump_scheduled = 0;
	pump(hub);
	srv_unlock();
}

/* Wakes `sub` now, or (paced) queues it for a later pass. */
static void wake_soon(struct srv_hub *hub, struct srv_sub *sub)
{
	if (sub->armed || sub->queued)
		return;
	if (!hub->ctx) {
		wake(hub, sub);
		return;
	}
	sub->queued = 1;
	update_idle(hub, sub);
	sub->queued_at = lws_now_usecs();
	hub->wq_len++;
	sub->wq_next = NULL;
	sub->wq_prev = hub->wq_tail;
	if (hub->wq_tail)
		hub->wq_tail->wq_next = sub;
	else
		hub->wq_head = sub;
	hub->wq_tail = sub;
	schedule_pump(hub);
}

void srv_hub_attach(struct srv_hub *hub, struct lws_context *ctx, int timer)
{
	if (hub->n_attached < SRV_LOOPS_MAX)
		hub->attached[hub->n_attached++] = ctx;
	/* Nothing is queued yet (contexts attach before they serve
	 * anyone), so no timer is pending on the one replaced. */
	if (timer || !hub->ctx)
		hub->ctx = ctx;
}

struct lws_context *srv_hub_timer_ctx(const struct srv_hub *hub)
{
	return hub->ctx;
}

void srv_hub_detach(struct srv_hub *hub, struct lws_context *ctx)
{
	unsigned i = 0;

	while (i < hub->n_attached && hub->attached[i] != ctx)
		i++;
	if (i == hub->n_attached)
		return;
	memmove(&hub->attached[i], &hub->attached[i + 1],
		(hub->n_attached - i - 1) * sizeof(hub->attached[0]));
	hub->n_attached--;
	if (ctx != hub->ctx)
		return;
	/* Called on the thread that services ctx (or destroys it). */
	lws_sul_cancel(&hub->pump_sul);
	srv_post_drop(&hub->pump_post);
	hub->pump_scheduled = 0;
	hub->ctx = hub->n_attached ? hub->attached[hub->n_attached - 1]
				   : NULL;
	if (hub->ctx) {
		schedule_pump(hub);
		return;
	}
	/* The last context is going away: no wake-ups through it any more. */
	while (hub->wq_head)
		wq_remove(hub, hub->wq_head);
}

void srv_hub_note_write(struct srv_hub *hub, int64_t ns)
{
	if (ns > 0) {
		hub->write_ns += (ns - hub->write_ns) / 8;
		hub->pass_write_ns += ns;
	}
}

void srv_hub_wake_later(struct srv_hub *hub, struct srv_sub *sub)
{
	if (sub->linked && srv_hub_pending(hub, sub))
		wake_soon(hub, sub);
}

static char *dup_or_null(const char *s, size_t n)
{
	char *d;

	if (!s)
		return NULL;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/*
 * How far behind the furthest of the subscribers with deltas pending is
 * (hub->lag, for share()): a walk over every subscriber, so it is redone
 * only every LAG_SCAN_EVERY publishes or LAG_SCAN_MS, fine for a bound
 * at 1/LAG_FRACTION of the ring.
 */
static void scan_lag(struct srv_hub *hub)
{
	int64_t now = lws_now_usecs();

	if (++hub->lag_age < LAG_SCAN_EVERY &&
	    now - hub->lag_at < LAG_SCAN_MS * 1000)
		return;
	hub->lag_age = 0;
	hub->lag_at = now;
	hub->lag = 0;
	for (struct srv_sub *s = hub->subs; s; s = s->next)
		if ((s->armed || s->queued) && s->cursor <= hub->hi &&
		    hub->hi - s->cursor > hub->lag)
			hub->lag = hub->hi - s->cursor;
}

void srv_hub_publish(void *arg, const struct srv_change *ch)
{
	struct srv_hub *hub = arg;
	struct hub_msg *m = slot(hub, ch->seq);
	size_t ignored;

	/* Seqs skipped (cluster mode) must not show what their slots held
	 * a lap ago. */
	for (uint64_t s = hub->hi + 1, k = 0; s < ch->seq && k < hub->cap;
	     s++, k++)
		msg_clear(slot(hub, s));
	msg_clear(m);
	m->seq = ch->seq;
	m->op = ch->op;
	m->id = strdup(ch->id);
	m->source = strdup(ch->source);
	m->prev_source = strdup(ch->prev_source);
	m->state = ch->state;
	m->prev_state = ch->prev_state;
	m->data = dup_or_null(ch->delta, ch->delta_len);
	m->len = ch->delta_len;
	m->full = dup_or_null(ch->full, ch->full_len);
	m->full_len = ch->full_len;
	if (!m->id || !m->source || !m->prev_source || !m->data ||
	    (ch->full && !m->full)) {
		/* Out of memory: leave a gap; subscribers that reach it get
		 * a reset snapshot, which is always correct. */
		msg_clear(m);
		hub->lo = ch->seq + 1;
	}
	hub->hi = ch->seq;
	if (hub->hi - hub->lo + 1 > hub->cap)
		hub->lo = hub->hi - hub->cap + 1; /* the oldest was overwritten */
	hub->stats.published++;
	/* A snapshot the ring no longer continues is never handed out
	 * again: let it go as soon as the sessions sending it are done. */
	for (size_t i = 0; i < 2; i++)
		if (hub->snap[i].frame && hub->snap[i].seq + 1 < hub->lo)
			srv_frame_unref(&hub->snap[i].frame);
	/* Only the idle need a look: the others take what is pending when
	 * their turn comes. (Visiting every subscriber for every change,
	 * a cache miss each, was the main thread's largest cost with 1000
	 * subscribers: docs/PERFORMANCE.md, round 5.) */
	for (struct srv_sub *s = hub->idle, *next; s; s = next) {
		next = s->idle_next;
		if (!m->data || view(s, m, &ignored))
			wake_soon(hub, s);
	}
	scan_lag(hub);
	hub->round_len = hub->wq_len;
}

void srv_hub_link(struct srv_hub *hub, struct srv_sub *sub)
{
	if (!sub->linked) {
		sub->next = hub->subs;
		hub->subs = sub;
		sub->linked = 1;
		hub->stats.subscribers++;
		update_idle(hub, sub);
	}
	if (srv_hub_pending(hub, sub))
		wake(hub, sub);
}

void srv_hub_unlink(struct srv_hub *hub, struct srv_sub *sub)
{
	if (sub->linked) {
		for (struct srv_sub **pp = &hub->subs; *pp;
		     pp = &(*pp)->next)
			if (*pp == sub) {
				*pp = sub->next;
				break;
			}
		sub->linked = 0;
		hub->stats.subscribers--;
	}
	update_idle(hub, sub);
	wq_remove(hub, sub);
}

uint64_t srv_hub_seq(const struct srv_hub *hub)
{
	return hub->hi;
}

int srv_hub_covers(const struct srv_hub *hub, uint64_t since)
{
	return since <= hub->hi && since + 1 >= hub->lo;
}

int srv_hub_pending(const struct srv_hub *hub, const struct srv_sub *sub)
{
	return sub->behind || sub->cursor <= hub->hi;
}

/* A new frame with room for `room` text bytes (plus LWS_PRE and a NUL),
 * nothing written yet (len 0), counted in the hub's account. */
static struct srv_frame *frame_alloc(struct srv_hub *hub, size_t room)
{
	char *buf = malloc(LWS_PRE + room + 1);
	struct srv_frame *f = buf ? srv_frame_new(buf, 0) : NULL;

	if (!f)
		free(buf);
	else
		srv_frame_account(f, &hub->acct, LWS_PRE + room + 1);
	return f;
}

/*
 * Composes the frame of what `sub` gets from its cursor on, up to the
 * newest delta or FRAME_SOFT_MAX: the lone delta, or a batch. Sets *end
 * to the first seq left out and *n to the deltas inside; returns NULL
 * with *n 0 when none passes the filter, or NULL on allocation failure.
 */
static struct srv_frame *compose(struct srv_hub *hub,
				 const struct srv_sub *sub, int64_t now,
				 uint64_t *end, size_t *n)
{
	static const char head[] = "{\"type\":\"batch\",\"server_time\":\"";
	static const char mid[] = "\",\"deltas\":[";
	char ts[PROTO_TIME_BUFSZ], *p;
	size_t bytes = 0, one_len = 0, l;
	const char *one = NULL, *v;
	struct srv_frame *f;
	uint64_t seq;

	*n = 0;
	/* First pass: how many deltas fit in this frame. */
	for (seq = sub->cursor; seq <= hub->hi; seq++) {
		v = view(sub, slot(hub, seq), &l);
		if (!v)
			continue;
		if (*n && bytes + l > FRAME_SOFT_MAX)
			break;
		if (!*n) {
			one = v;
			one_len = l;
		}
		(*n)++;
		bytes += l + 1;
	}
	*end = seq;
	if (*n == 0)
		return NULL;
	f = frame_alloc(hub, sizeof(head) + sizeof(ts) + sizeof(mid) + bytes +
			     4);
	if (!f)
		return NULL;
	p = f->buf + LWS_PRE;
	if (*n == 1) {
		memcpy(p, one, one_len);
		p += one_len;
	} else {
		proto_time_format(now, ts);
		p += sprintf(p, "%s%s%s", head, ts, mid);
		for (seq = sub->cursor; seq < *end; seq++) {
			v = view(sub, slot(hub, seq), &l);
			if (!v)
				continue;
			if (p[-1] == '}')
				*p++ = ',';
			memcpy(p, v, l);
			p += l;
		}
		*p++ = ']';
		*p++ = '}';
	}
	*p = '\0';
	f->len = (size_t)(p - (f->buf + LWS_PRE));
	return f;
}

static int fresh(int64_t at, int64_t now, int64_t ms)
{
	return now - at >= 0 && now - at < ms;
}

/* The cached frame that starts at `cursor` and reaches furthest, or NULL. */
static struct shared_frame *shared_find(struct srv_hub *hub, uint64_t cursor,
					int64_t now)
{
	struct shared_frame *best = NULL;

	for (size_t i = 0; i < FRAME_CACHE; i++) {
		struct shared_frame *e = &hub->shared[i];

		if (e->frame && e->from == cursor &&
		    fresh(e->at, now, FRAME_REUSE_MS) &&
		    (!best || e->end > best->end))
			best = e;
	}
	return best;
}

/* Keeps a reference to `f` for [from, end), in place of an empty, stale
 * or else the oldest entry. */
static void shared_keep(struct srv_hub *hub, struct srv_frame *f,
			uint64_t from, uint64_t end, size_t n, int64_t now)
{
	struct shared_frame *e = &hub->shared[0];

	for (size_t i = 0; i < FRAME_CACHE; i++) {
		struct shared_frame *c = &hub->shared[i];

		if (!c->frame || !fresh(c->at, now, FRAME_REUSE_MS)) {
			e = c;
			break;
		}
		if (c->at < e->at)
			e = c;
	}
	srv_frame_unref(&e->frame);
	e->frame = srv_frame_ref(f);
	e->from = from;
	e->end = end;
	e->n = n;
	e->at = now;
}

struct srv_frame *srv_hub_next_frame(struct srv_hub *hub, struct srv_sub *sub,
				     int64_t now)
{
	int unfiltered = proto_filter_is_empty(&sub->filter);
	struct shared_frame *e;
	struct srv_frame *f;
	uint64_t end;
	size_t n;

	if (sub->cursor < hub->lo && sub->cursor <= hub->hi) {
		sub->behind = 1;
		hub->stats.resets++;
		return NULL;
	}
	if (sub->cursor > hub->hi)
		return NULL;
	if (unfiltered && (e = shared_find(hub, sub->cursor, now))) {
		sub->cursor = e->end;
		if (e->end > hub->hi)
			wq_remove(hub, sub);
		hub->stats.frames++;
		hub->stats.deltas_sent += e->n;
		return srv_frame_ref(e->frame);
	}
	f = compose(hub, sub, now, &end, &n);
	if (!f) {
		if (n == 0)
			sub->cursor = end; /* nothing passed the filter */
		return NULL;
	}
	if (unfiltered)
		shared_keep(hub, f, sub->cursor, end, n, now);
	sub->cursor = end;
	if (end > hub->hi)
		wq_remove(hub, sub); /* caught up: its turn is spent */
	hub->stats.frames++;
	hub->stats.frames_composed++;
	hub->stats.deltas_sent += n;
	return f;
}

/* A replay of the delta log, built in one buffer. */
struct replay {
	struct proto_buf b;         /* LWS_PRE headroom, then the frame */
	uint64_t next;              /* the seq the log must hold next */
	uint64_t last;              /* the hub's seq: where the replay ends */
	int gap;
	int any;                    /* a delta was appended */
	int skips_ok;               /* the log holds `since`: a skipped seq
				     * is one that changed nothing */
};

static int stop_at_once(void *ctx, uint64_t seq, const char *data,
			size_t len)
{
	(void)ctx, (void)seq, (void)data, (void)len;
	return 1;
}

/* Appends one logged delta; stops at a gap (the log was trimmed) or past
 * the hub's seq. */
static int replay_one(void *ctx, uint64_t seq, const char *data, size_t len)
{
	struct replay *r = ctx;

	/* The writer thread may have committed deltas the hub has not
	 * published yet; they reach this subscriber live, after the replay. */
	if (seq > r->last)
		return 1;
	/* The log is trimmed from its start only: once it holds `since`
	 * or a delta after it was replayed, a skipped seq is one that
	 * changed nothing (cluster mode), not a trimmed one. */
	if (seq != r->next && !((r->any || r->skips_ok) && seq > r->next)) {
		r->gap = 1;
		return 1;
	}
	if ((r->any && proto_buf_append(&r->b, ",", 1)) ||
	    proto_buf_append(&r->b, data, len))
		return 1;
	r->any = 1;
	r->next = seq + 1;
	return 0;
}

/* Appends every committed race that passes `filter`, newest first
 * ("{...},{...}"), each written straight into b. */
static int passes(const void *filter, const struct proto_race *race)
{
	return proto_filter_match(filter, race->id, race->source, race->state);
}

static int encode_races(struct srv_hub *hub, const struct proto_filter *filter,
			int64_t now, struct proto_buf *b)
{
	size_t n, first = b->len;
	struct proto_race **all = srv_table_newest_first(
		srv_write_table(hub->wp),
		proto_filter_is_empty(filter) ? NULL : passes, filter, &n);
	int rc = 0;

	if (!all)
		return -1;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = (b->len > first && proto_buf_append(b, ",", 1)) ||
		     srv_write_race_json(hub->wp, all[i], now, b);
	}
	free(all);
	return rc ? -1 : 0;
}

/*
 * Wraps a finished build in a frame counted in the hub's account; NULL
 * (and `b` freed) on failure. The build grew by doubling, so up to half
 * of it is slack: a frame that many sessions may hold for a long time
 * gives that back first (realloc shrinks in place, or mremap()s).
 */
static struct srv_frame *frame_of(struct srv_hub *hub, struct proto_buf *b,
				  int rc)
{
	size_t len, cap = b->headroom + b->cap + 1;
	char *buf = proto_buf_finish(b, rc, &len), *fit;
	struct srv_frame *f;

	if (cap < LWS_PRE + len + 1)
		cap = LWS_PRE + len + 1;
	if (buf && cap - (LWS_PRE + len + 1) > cap / 8 &&
	    (fit = realloc(buf, LWS_PRE + len + 1))) {
		buf = fit;
		cap = LWS_PRE + len + 1;
	}
	f = buf ? srv_frame_new(buf, len) : NULL;
	if (!f)
		free(buf);
	else
		srv_frame_account(f, &hub->acct, cap);
	return f;
}

struct srv_frame *srv_hub_snapshot(struct srv_hub *hub,
				   const struct proto_filter *filter,
				   int reset, int64_t now, uint64_t *seq,
				   int64_t *at)
{
	struct shared_snapshot *kept = &hub->snap[reset ? 1 : 0];
	int shared = proto_filter_is_empty(filter), n, rc;
	char ts[PROTO_TIME_BUFSZ], head[160];
	struct srv_frame *f;
	struct proto_buf b;

	if (shared && kept->frame && kept->seq + 1 >= hub->lo &&
	    (fresh(kept->at, now, SNAP_SHARE_MS) || kept->frame->refs > 1)) {
		hub->stats.snapshots++;
		*seq = kept->seq;
		*at = kept->at;
		return srv_frame_ref(kept->frame);
	}
	n = snprintf(head, sizeof(head),
		     "{\"type\":\"snapshot\",\"seq\":%llu%s,\"server_time\":\"%s\","
		     "\"races\":[", (unsigned long long)hub->hi,
		     reset ? ",\"reset\":true" : "", proto_time_format(now, ts));
	proto_buf_init(&b, LWS_PRE);
	rc = proto_buf_append(&b, head, (size_t)n);
	if (!rc)
		rc = encode_races(hub, filter, now, &b);
	if (!rc)
		rc = proto_buf_append(&b, "]}", 2);
	f = frame_of(hub, &b, rc);
	if (!f)
		return NULL;
	*seq = hub->hi;
	*at = now;
	hub->stats.snapshots++;
	hub->stats.snapshots_encoded++;
	if (shared) {
		/* Many dashboards connecting at once cost one encode and
		 * share one buffer. */
		srv_frame_unref(&kept->frame);
		kept->frame = srv_frame_ref(f);
		kept->seq = hub->hi;
		kept->at = now;
	}
	return f;
}

struct srv_frame *srv_hub_replay(struct srv_hub *hub, uint64_t since,
				 int64_t now)
{
	char ts[PROTO_TIME_BUFSZ], head[96];
	struct replay r = {.next = since + 1, .last = hub->hi};
	uint64_t first = 0;
	int rc, n;

	if (since >= hub->hi)
		return NULL;
	/* The lowest seq logged (a walk from UINT64_MAX visits nothing). */
	if (store_deltas_since(srv_write_store(hub->wp), UINT64_MAX, &first,
			       stop_at_once, NULL) >= 0)
		r.skips_ok = first && first <= since;
	n = snprintf(head, sizeof(head),
		     "{\"type\":\"batch\",\"server_time\":\"%s\",\"deltas\":[",
		     proto_time_format(now, ts));
	proto_buf_init(&r.b, LWS_PRE);
	rc = proto_buf_append(&r.b, head, (size_t)n);
	if (!rc)
		rc = store_deltas_since(srv_write_store(hub->wp), since, NULL,
					replay_one, &r) < 0 || r.gap ||
		     r.next != hub->hi + 1 ? -1 : 0;
	if (!rc)
		rc = proto_buf_append(&r.b, "]}", 2);
	return frame_of(hub, &r.b, rc);
}

void srv_hub_expire(struct srv_hub *hub, int64_t now)
{
	for (size_t i = 0; i < FRAME_CACHE; i++)
		if (!fresh(hub->shared[i].at, now, FRAME_REUSE_MS))
			srv_frame_unref(&hub->shared[i].frame);
	for (size_t i = 0; i < 2; i++)
		if (hub->snap[i].frame && hub->snap[i].frame->refs == 1 &&
		    !fresh(hub->snap[i].at, now, SNAP_SHARE_MS))
			srv_frame_unref(&hub->snap[i].frame);
}

size_t srv_hub_queued_bytes(const struct srv_hub *hub)
{
	return hub->acct.bytes;
}

size_t srv_hub_queued_peak(struct srv_hub *hub)
{
	size_t peak = hub->acct.peak;

	hub->acct.peak = hub->acct.bytes;
	return peak;
}

void srv_hub_stats(const struct srv_hub *hub, struct srv_hub_stats *out)
{
	*out = hub->stats;
	out->queued_bytes = hub->acct.bytes;
	out->queued_frames = hub->acct.frames;
}
