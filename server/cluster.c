/*
 * cluster.c - the sequencer of cluster mode (cluster.h): intents out to
 * the log, entries back in log order, answers in request order.
 *
 * Answers. Every intent this node appends is kept in a FIFO, in the
 * order it was submitted, which is also the order its entries can reach
 * the stream (one connection publishes them in order). The head of the
 * FIFO is settled first: by its entry (applied with its requester), or
 * by the failure of its append (refused with 503), so that a WebSocket
 * producer's acks keep its request order. When the entry of a later
 * intent arrives while an earlier one is still waiting, the earlier one
 * never reached the stream (it would be ahead in the order) and is
 * refused.
 *
 * Stale replica (nats-server 2.9.10): a consumer placed on a replica
 * that is behind can deliver a truncated prefix while the leader reports
 * it current. The monitor thread compares what was delivered with the
 * stream's last sequence from the leader; when the node stays behind
 * with nothing arriving, it follows again from what it has.
 *
 * Gap: when the stream no longer holds entries this node has not
 * applied (purged, or dropped by limits), the node cannot catch up. It
 * notices at start (the stream's first sequence is past what it applied
 * plus one), when an entry arrives past the one it expected, or when
 * the monitor sees the stream's first sequence pass what it has. It
 * then applies nothing more, so its LMDB stays a prefix of the log and
 * the next start finds the same gap; its /health, reads and writes say
 * so (docs/CLUSTER.md) until it is rebuilt.
 *
 * Rewind: when this node's LMDB commit fails, the write path drops what
 * it applied after the store's last seq (rewind()); the inbox is
 * emptied and the monitor follows again from that seq, so the node
 * applies those entries again rather than later ones on top of a state
 * that lacks them. While a rewind waits for its follow, entries of the
 * old follow are dropped. Repeated rewinds to the same seq (a store
 * that stays full) back off from MONITOR_PERIOD_MS to REWIND_MAX_MS.
 */
#include "cluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clog.h"
#include "intent.h"
#include "log.h"

#define MONITOR_PERIOD_MS 500
#define NOMEM_RETRY_MS 10    /* an item the NATS thread cannot allocate */
#define STALE_CHECKS 3       /* behind, and nothing new, this many periods */
#define REWIND_MAX_MS 30000  /* longest pause between rewinds to one seq */

/* What a NATS thread hands the service thread. */
struct item {
	struct item *next;
	int is_ack;
	uint64_t seq;            /* entry: its stream seq */
	uint64_t token;          /* entry of ours, or ack: the intent's token */
	int ours;                /* entry: appended by this node (any run) */
	int err;                 /* ack: CLU_E* */
	size_t len;
	char data[];             /* entry: the intent's bytes */
};

/* An intent of ours waiting for its entry. */
struct pending {
	uint64_t token;
	struct srv_requester *rq; /* NULL: internal, or forgotten */
	int err;                  /* != 0: its append failed */
};

struct srv_cluster {
	struct srv_write *wp;
	struct clu_log *log;
	struct lws_context *ctx;
	char node[64];
	uint64_t max_lag;

	/* lock guards the inbox, delivered, stream_last, stop and
	 * stopped: the NATS threads, the monitor and the service thread
	 * meet here. */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* the monitor's sleep */
	struct item *in_head, **in_tail;
	uint64_t delivered;       /* the highest seq put in the inbox */
	uint64_t stream_last;
	int stop;
	pthread_t monitor;
	int monitor_running;
	int stopped;              /* the log is closed */
	int refollows;            /* stale-replica heals, for the log */
	uint64_t gap_from;        /* != 0: entries gap_from..gap_to are */
	uint64_t gap_to;          /* gone from the stream, unapplied here */
	int rewind_due;           /* the monitor must follow again from
	                           * delivered (a failed commit) */
	int rewinding;            /* until the entry after delivered comes,
	                           * entries are the old follow's: dropped */
	uint64_t rewinds;         /* how many; drain() stops at a change */

	/* Service thread only. */
	uint64_t applied;         /* the last entry applied (or skipped) */
	uint64_t next_token;
	struct pending *fifo;     /* a ring of cap slots */
	size_t head, n, cap;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * An item for the service thread. Out of memory, it waits and tries
 * again rather than drop it: a dropped entry would be a hole in this
 * node's state that nothing notices, and a dropped failure would leave
 * a requester unanswered. Blocking a NATS thread only delays what comes
 * after, in order.
 */
static struct item *item_new(size_t len)
{
	struct item *it;
	struct timespec ts = {0, NOMEM_RETRY_MS * 1000000L};
	int warned = 0;

	while (!(it = calloc(1, sizeof(*it) + len))) {
		if (!warned++)
			srv_log_err("cluster: out of memory for the log's "
				    "entries; waiting\n");
		nanosleep(&ts, NULL);
	}
	return it;
}

static void free_items(struct item *it)
{
	while (it) {
		struct item *next = it->next;

		free(it);
		it = next;
	}
}

/*
 * Records that entries from..to are gone from the stream; the first gap
 * found is the one kept. Caller holds c->lock. Returns 1 if it is new.
 */
static int set_gap(struct srv_cluster *c, uint64_t from, uint64_t to)
{
	if (c->gap_from)
		return 0;
	c->gap_from = from;
	c->gap_to = to;
	return 1;
}

static void log_gap(uint64_t from, uint64_t to, const char *how)
{
	/* Two lines: lws cuts a log line at 256 bytes. */
	srv_log_err("cluster: entries %llu to %llu are no longer in the stream "
		    "(%s: purged or over its limits) and were never applied "
		    "here\n", (unsigned long long)from, (unsigned long long)to,
		    how);
	srv_log_err("cluster: this node stays at %llu: stale reads, writes and "
		    "/health 503 until its data directory is rebuilt "
		    "(docs/CLUSTER.md)\n", (unsigned long long)(from - 1));
}

/* Hands an item to the service thread (any thread but it). An entry
 * past the one expected is a gap: it is dropped, and so is every entry
 * after a gap. */
static void post(struct srv_cluster *c, struct item *it)
{
	uint64_t expect;
	int gap = 0;

	pthread_mutex_lock(&c->lock);
	expect = c->delivered + 1;
	if (!it->is_ack && c->rewinding && it->seq != expect) {
		pthread_mutex_unlock(&c->lock);
		free(it);
		return;
	}
	if (!it->is_ack)
		c->rewinding = 0;
	if (!it->is_ack && (c->gap_from || it->seq > expect)) {
		uint64_t seq = it->seq;

		gap = set_gap(c, expect, seq - 1);
		pthread_mutex_unlock(&c->lock);
		free(it);
		if (gap) {
			char how[64];

			snprintf(how, sizeof(how), "the next one delivered "
				 "is %llu", (unsigned long long)seq);
			log_gap(expect, seq - 1, how);
		}
		if (c->ctx)
			lws_cancel_service(c->ctx);
		return;
	}
	*c->in_tail = it;
	c->in_tail = &it->next;
	if (!it->is_ack && it->seq > c->delivered)
		c->delivered = it->seq;
	pthread_mutex_unlock(&c->lock);
	if (c->ctx)
		lws_cancel_service(c->ctx);
}

/* NATS thread: an entry, in stream order. */
static void on_entry(void *ctx, const struct clu_entry *e)
{
	struct srv_cluster *c = ctx;
	const char *prefix = clu_log_origin_prefix(c->log);
	size_t np = strlen(prefix);
	struct item *it = item_new(e->len);

	it->seq = e->seq;
	it->ours = !strncmp(e->origin, prefix, np);
	it->token = it->ours ? strtoull(e->origin + np, NULL, 10) : 0;
	it->len = e->len;
	memcpy(it->data, e->data, e->len);
	post(c, it);
}

/* NATS thread: the outcome of an append. */
static void on_appended(void *ctx, uint64_t token, int err, uint64_t seq)
{
	struct srv_cluster *c = ctx;
	struct item *it;

	(void)seq;
	if (!err)
		return; /* the entry itself settles it */
	it = item_new(0);
	it->is_ack = 1;
	it->token = token;
	it->err = err;
	post(c, it);
}

static void on_link(void *ctx, int connected)
{
	struct srv_cluster *c = ctx;

	srv_log_notice("cluster: NATS %s\n", connected ? "reconnected" :
		       "disconnected; writes get 503 until it is back");
	if (c->ctx)
		lws_cancel_service(c->ctx);
}

/* Refusals of a node with a gap, beside the CLU_E* codes (which are
 * negative). */
enum {
	REFUSE_GAP = 1,      /* not sent: the node has a gap */
	REFUSE_GAP_SENT = 2, /* sent before the gap was found */
};

/* The 503 for an intent whose append failed with err. */
static void refuse(struct srv_cluster *c, struct srv_requester *rq, int err)
{
	if (err == REFUSE_GAP)
		srv_write_refuse(c->wp, rq, 503, "cluster_gap",
			"this node missed entries the stream no longer holds "
			"and applies nothing until it is rebuilt; the write "
			"was not applied; use another node");
	else if (err == REFUSE_GAP_SENT)
		srv_write_refuse(c->wp, rq, 503, "cluster_gap",
			"this node missed entries the stream no longer holds "
			"and applies nothing until it is rebuilt; the write "
			"may still apply on the other nodes");
	else if (err == CLU_ETIMEOUT)
		srv_write_refuse(c->wp, rq, 503, "cluster_timeout",
			"NATS did not acknowledge the write in time; it may "
			"still be applied");
	else if (err == CLU_EUNAVAILABLE)
		srv_write_refuse(c->wp, rq, 503, "cluster_unavailable",
			"NATS is unreachable or has no quorum; the write was "
			"not applied");
	else if (err == CLU_ENOMEM)
		srv_write_refuse(c->wp, rq, 503, "out_of_memory",
			"the server is out of memory");
	else
		srv_write_refuse(c->wp, rq, 503, "cluster_error",
			"the cluster's log refused the write; it was not "
			"applied");
}

static struct pending *at(struct srv_cluster *c, size_t i)
{
	return &c->fifo[(c->head + i) % c->cap];
}

/* Removes the head of the FIFO and returns its requester (whose count
 * of intents held here drops). */
static struct srv_requester *pop(struct srv_cluster *c)
{
	struct srv_requester *rq = at(c, 0)->rq;

	c->head = (c->head + 1) % c->cap;
	c->n--;
	if (rq)
		rq->queued--;
	return rq;
}

/* Refuses the failed intents at the head of the FIFO, in order. */
static void settle_head(struct srv_cluster *c)
{
	while (c->n && at(c, 0)->err) {
		int err = at(c, 0)->err;
		struct srv_requester *rq = pop(c);

		if (rq)
			refuse(c, rq, err);
	}
}

/* Adds an intent at the end of the FIFO; -1 when out of memory. */
static int push(struct srv_cluster *c, uint64_t token,
		struct srv_requester *rq, int err)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct pending *p = malloc(cap * sizeof(*p));

		if (!p)
			return -1;
		for (size_t i = 0; i < c->n; i++)
			p[i] = *at(c, i);
		free(c->fifo);
		c->fifo = p;
		c->cap = cap;
		c->head = 0;
	}
	*at(c, c->n) = (struct pending){token, rq, err};
	c->n++;
	if (rq)
		rq->queued++;
	return 0;
}

/* Whether a gap was found (any thread). */
static int gapped(struct srv_cluster *c)
{
	int g;

	pthread_mutex_lock(&c->lock);
	g = c->gap_from != 0;
	pthread_mutex_unlock(&c->lock);
	return g;
}

/* The sequencer's submit (service thread). */
static void submit(void *ctx, struct srv_requester *rq,
		   const struct proto_intent *in)
{
	struct srv_cluster *c = ctx;
	struct proto_buf b;
	uint64_t token = c->next_token++;
	size_t len = 0;
	char *data;
	int err = CLU_OK;

	if (c->stopped || !clu_log_connected(c->log)) {
		err = CLU_EUNAVAILABLE;
	} else if (gapped(c)) {
		err = REFUSE_GAP;
	} else {
		proto_buf_init(&b, 0);
		data = proto_buf_finish(&b, proto_intent_encode(in, &b), &len);
		err = data ? clu_log_append(c->log, data, len, token)
			   : CLU_ENOMEM;
		free(data);
	}
	if (push(c, token, rq, err)) {
		refuse(c, rq, CLU_ENOMEM);
		return;
	}
	settle_head(c);
}

static void forget(void *ctx, struct srv_requester *rq)
{
	struct srv_cluster *c = ctx;

	for (size_t i = 0; i < c->n; i++)
		if (at(c, i)->rq == rq) {
			at(c, i)->rq = NULL;
			rq->queued--;
		}
}

/*
 * The requester of entry `token` of ours, settling the FIFO up to it:
 * intents ahead of it never reached the stream. NULL when it is not
 * waiting (an earlier run's, or one refused already).
 */
static struct srv_requester *claim(struct srv_cluster *c, uint64_t token)
{
	size_t k = 0;

	while (k < c->n && at(c, k)->token != token)
		k++;
	if (k == c->n)
		return NULL;
	while (k--) {
		struct srv_requester *rq = pop(c);

		if (rq)
			refuse(c, rq, CLU_EUNAVAILABLE);
	}
	return pop(c);
}

static void apply_entry(struct srv_cluster *c, struct item *it)
{
	struct srv_requester *rq = it->ours ? claim(c, it->token) : NULL;
	struct proto_intent in;

	if (it->seq <= c->applied) {
		if (rq) /* cannot happen: an entry is new once */
			srv_write_refuse(c->wp, rq, 500, "internal",
					 "the entry was applied already");
		return;
	}
	c->applied = it->seq;
	if (proto_intent_decode(it->data, it->len, &in) != PROTO_OK) {
		srv_log_err("cluster: entry %llu is not an intent; skipped\n",
			    (unsigned long long)it->seq);
		if (rq)
			srv_write_refuse(c->wp, rq, 500, "internal",
					 "the write could not be decoded");
		return;
	}
	if (srv_write_apply(c->wp, rq, &in, it->seq) && rq)
		srv_write_refuse(c->wp, rq, 500, "internal",
				 "the entry was applied already");
	proto_intent_fini(&in);
}

/* Applies what the inbox holds, in order (service thread). */
static void drain(struct srv_cluster *c)
{
	struct item *list;
	uint64_t rewinds;
	int done;

	pthread_mutex_lock(&c->lock);
	list = c->in_head;
	c->in_head = NULL;
	c->in_tail = &c->in_head;
	rewinds = c->rewinds;
	pthread_mutex_unlock(&c->lock);
	for (struct item *it = list; it; it = it->next) {
		/* A commit failed meanwhile (rewind()): these entries come
		 * again, after the ones it dropped. */
		if (!it->is_ack && c->rewinds != rewinds)
			continue;
		if (!it->is_ack) {
			apply_entry(c, it);
		} else {
			for (size_t i = 0; i < c->n; i++)
				if (at(c, i)->token == it->token) {
					at(c, i)->err = it->err;
					break;
				}
		}
		settle_head(c);
	}
	free_items(list);
	/* Past a gap no entry comes: what waits for one never gets it
	 * (once the entries before the gap are applied). */
	pthread_mutex_lock(&c->lock);
	done = c->gap_from && !c->in_head;
	pthread_mutex_unlock(&c->lock);
	if (done)
		while (c->n) {
			struct srv_requester *rq = pop(c);

			if (rq)
				refuse(c, rq, REFUSE_GAP_SENT);
		}
}

/*
 * The sequencer's rewind (service thread): the write path dropped what
 * it applied after seq. Entries waiting in the inbox are dropped too;
 * the monitor follows again from seq.
 */
static void rewind_to(void *ctx, uint64_t seq)
{
	struct srv_cluster *c = ctx;
	struct item *keep = NULL, **kt = &keep, *drop = NULL, *next;

	if (seq >= c->applied)
		return;
	srv_log_warn("cluster: a commit failed: applying the entries after "
		     "%llu again (%llu were applied)\n",
		     (unsigned long long)seq, (unsigned long long)c->applied);
	c->applied = seq;
	pthread_mutex_lock(&c->lock);
	/* Acks stay: they settle intents, whose entries are not lost. */
	for (struct item *it = c->in_head; it; it = next) {
		next = it->next;
		it->next = NULL;
		if (it->is_ack) {
			*kt = it;
			kt = &it->next;
		} else {
			it->next = drop;
			drop = it;
		}
	}
	c->in_head = keep;
	c->in_tail = kt;
	c->delivered = seq;
	c->rewinding = 1;
	c->rewind_due = 1;
	c->rewinds++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	free_items(drop);
}

int srv_cluster_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);
	struct srv_cluster *c = p ? p->user : NULL;

	(void)user, (void)in, (void)len;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && c && !c->stopped)
		drain(c);
	return 0;
}

/*
 * The monitor thread: every period, asks the leader for the stream's
 * last sequence; follows again when the node is behind it and nothing
 * has arrived for STALE_CHECKS periods (a consumer on a stale replica).
 */
static void *monitor_main(void *arg)
{
	struct srv_cluster *c = arg;
	uint64_t seen = 0, rewound = 0;
	int64_t rewind_at = 0, rewind_pause = MONITOR_PERIOD_MS;
	int behind = 0, ahead = 0;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec ts;
		uint64_t first, last, delivered;
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += MONITOR_PERIOD_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		if (c->stop)
			break;
		if (c->rewind_due && !c->gap_from &&
		    mono_ms() - rewind_at >= rewind_pause) {
			uint64_t to = c->delivered;

			/* The same seq again: the store still fails. */
			rewind_pause = to == rewound && rewind_at
				? (rewind_pause * 2 > REWIND_MAX_MS
				   ? REWIND_MAX_MS : rewind_pause * 2)
				: MONITOR_PERIOD_MS;
			rewound = to;
			rewind_at = mono_ms();
			c->rewind_due = 0;
			pthread_mutex_unlock(&c->lock);
			if (clu_log_follow(c->log, to) != CLU_OK) {
				srv_log_warn("cluster: following again after "
					     "a failed commit failed; will "
					     "retry\n");
				pthread_mutex_lock(&c->lock);
				c->rewind_due = 1;
				continue;
			}
			pthread_mutex_lock(&c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		/* Lock scope: none held across NATS calls. */
		rc = clu_log_connected(c->log)
			? clu_log_bounds(c->log, &first, &last) : CLU_EUNAVAILABLE;
		pthread_mutex_lock(&c->lock);
		if (rc != CLU_OK)
			continue;
		c->stream_last = last;
		delivered = c->delivered;
		/* The stream starts past what this node has, twice with
		 * nothing arriving meanwhile (an entry still on its way is
		 * not missing): a gap. */
		ahead = first > delivered + 1 && delivered == seen ? ahead + 1
								   : 0;
		if (ahead >= 2 && set_gap(c, delivered + 1, first - 1)) {
			pthread_mutex_unlock(&c->lock);
			log_gap(delivered + 1, first - 1, "found by the monitor");
			if (c->ctx)
				lws_cancel_service(c->ctx);
			pthread_mutex_lock(&c->lock);
		}
		behind = last > delivered && delivered == seen ? behind + 1 : 0;
		seen = delivered;
		if (behind < STALE_CHECKS || c->gap_from || c->rewind_due)
			continue;
		behind = 0;
		c->refollows++;
		pthread_mutex_unlock(&c->lock);
		srv_log_warn("cluster: behind the stream (%llu of %llu) with "
			     "nothing arriving; following again\n",
			     (unsigned long long)delivered,
			     (unsigned long long)last);
		if (clu_log_follow(c->log, delivered) != CLU_OK)
			srv_log_warn("cluster: following again failed; will "
				     "retry\n");
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * clu_log_open(), tried again while the failure is one that goes away by
 * itself (NATS not listening yet, a JetStream cluster without a meta
 * leader or with peers missing) for up to cfg->nats_start_timeout_sec,
 * so NATS and the servers can be started together. A stream with other
 * settings, or any other error, ends the wait at once. Every attempt's
 * cause is logged when it changes, and every 5 s while it lasts.
 */
static struct clu_log *open_log(const struct srv_cfg *cfg,
				const struct clu_log_cfg *lc,
				const struct clu_log_handlers *h, int *err,
				char *why, size_t whylen)
{
	int64_t t0 = mono_ms(), said = 0;
	int64_t end = t0 + (int64_t)cfg->nats_start_timeout_sec * 1000;
	int64_t pause = 100;
	char last[512] = "";

	for (;;) {
		struct clu_log *log = clu_log_open(lc, h, err, why, whylen);
		struct timespec ts;
		int64_t now = mono_ms();

		if (log) {
			if (last[0])
				srv_log_warn("cluster: NATS answered after "
					     "%lld ms\n",
					     (long long)(now - t0));
			return log;
		}
		if ((*err != CLU_EUNAVAILABLE && *err != CLU_ETIMEOUT) ||
		    now >= end) {
			if (last[0] && now >= end)
				srv_log_err("cluster: gave up after %lld ms "
					    "(--nats-start-timeout %d)\n",
					    (long long)(now - t0),
					    cfg->nats_start_timeout_sec);
			return NULL;
		}
		if (strcmp(last, why) || now - said >= 5000) {
			srv_log_warn("cluster: waiting for NATS (%lld of %d "
				     "s): %s\n", (long long)(now - t0) / 1000,
				     cfg->nats_start_timeout_sec, why);
			snprintf(last, sizeof(last), "%s", why);
			said = now;
		}
		if (pause > end - now)
			pause = end - now;
		ts.tv_sec = pause / 1000;
		ts.tv_nsec = (long)(pause % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		pause = pause * 2 > 1000 ? 1000 : pause * 2;
	}
}

struct srv_cluster *srv_cluster_open(const struct srv_cfg *cfg,
				     const char *node, struct srv_write *wp,
				     int *conflict, char *why, size_t whylen)
{
	struct srv_cluster *c = calloc(1, sizeof(*c));
	struct clu_log_cfg lc = {
		.urls = cfg->nats, .stream = cfg->nats_stream, .node = node,
		.replicas = cfg->nats_replicas,
		.timeout_ms = cfg->nats_timeout_ms,
	};
	struct clu_log_handlers h = {on_entry, on_appended, on_link, c};
	struct srv_sequencer sq = {.submit = submit, .forget = forget,
				   .rewind = rewind_to, .ctx = c};
	struct timespec now;
	int err = 0;

	*conflict = 0;
	if (!c) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->in_tail = &c->in_head;
	c->wp = wp;
	c->max_lag = cfg->cluster_max_lag;
	snprintf(c->node, sizeof(c->node), "%s", node);
	/* Intent ids must not repeat across runs inside the stream's
	 * duplicate window: start from the clock, in microseconds. */
	clock_gettime(CLOCK_REALTIME, &now);
	c->next_token = (uint64_t)now.tv_sec * 1000000u +
			(uint64_t)now.tv_nsec / 1000u;
	c->log = open_log(cfg, &lc, &h, &err, why, whylen);
	if (!c->log) {
		*conflict = err == CLU_ECONFLICT;
		c->stopped = 1;
		srv_cluster_free(c);
		return NULL;
	}
	srv_write_set_sequencer(wp, &sq);
	return c;
}

int srv_cluster_start(struct srv_cluster *c, struct lws_context *ctx,
		      char *why, size_t whylen)
{
	uint64_t first = 0, last = 0;
	int rc, gap = 0;

	c->ctx = ctx;
	c->applied = srv_write_seq(c->wp);
	/* What this node missed may be gone already (a failure here is
	 * not fatal: the first entry delivered tells as well). */
	rc = clu_log_bounds(c->log, &first, &last);
	pthread_mutex_lock(&c->lock);
	c->delivered = c->applied;
	if (rc == CLU_OK) {
		c->stream_last = last;
		if (first > c->applied + 1)
			gap = set_gap(c, c->applied + 1, first - 1);
	}
	pthread_mutex_unlock(&c->lock);
	if (gap) {
		char how[64];

		snprintf(how, sizeof(how), "the stream starts at %llu",
			 (unsigned long long)first);
		log_gap(c->applied + 1, first - 1, how);
	}
	rc = gap ? CLU_OK : clu_log_follow(c->log, c->applied);
	if (rc) {
		snprintf(why, whylen, "cannot follow the stream: %s",
			 clu_strerror(rc));
		return -1;
	}
	if (pthread_create(&c->monitor, NULL, monitor_main, c)) {
		snprintf(why, whylen, "cannot start the monitor thread");
		return -1;
	}
	c->monitor_running = 1;
	return 0;
}

void srv_cluster_stop(struct srv_cluster *c)
{
	if (!c || c->stopped)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->monitor_running)
		pthread_join(c->monitor, NULL);
	c->monitor_running = 0;
	clu_log_close(c->log);
	c->log = NULL;
	c->stopped = 1;
	free_items(c->in_head);
	c->in_head = NULL;
	c->in_tail = &c->in_head;
	while (c->n) {
		struct srv_requester *rq = pop(c);

		if (rq)
			srv_write_refuse(c->wp, rq, 503, "shutting_down",
					 "the server is shutting down; the "
					 "write may or may not be applied");
	}
}

void srv_cluster_free(struct srv_cluster *c)
{
	if (!c)
		return;
	srv_cluster_stop(c);
	clu_log_close(c->log);
	if (c->wp)
		srv_write_set_sequencer(c->wp, NULL);
	free(c->fifo);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *srv_cluster_stale(struct srv_cluster *c, char *buf, size_t cap)
{
	struct srv_cluster_status st;

	if (!c)
		return NULL;
	srv_cluster_get_status(c, &st);
	if (st.healthy)
		return NULL;
	if (st.missing_from)
		snprintf(buf, cap, "gap=%llu-%llu",
			 (unsigned long long)st.missing_from,
			 (unsigned long long)st.missing_to);
	else if (st.connected)
		snprintf(buf, cap, "lag=%llu", (unsigned long long)st.lag);
	else
		snprintf(buf, cap, "disconnected");
	return buf;
}

void srv_cluster_get_status(struct srv_cluster *c,
			    struct srv_cluster_status *st)
{
	st->node = c->node;
	st->applied_seq = c->applied;
	pthread_mutex_lock(&c->lock);
	st->stream_last_seq = c->stream_last;
	st->missing_from = c->gap_from;
	st->missing_to = c->gap_to;
	pthread_mutex_unlock(&c->lock);
	st->lag = st->stream_last_seq > st->applied_seq
		? st->stream_last_seq - st->applied_seq : 0;
	st->connected = !c->stopped && clu_log_connected(c->log);
	if (st->missing_from)
		st->reason = "gap";
	else if (!st->connected)
		st->reason = "disconnected";
	else if (st->lag > c->max_lag)
		st->reason = "lag";
	else
		st->reason = NULL;
	st->healthy = !st->reason;
}
