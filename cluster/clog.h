/*
 * clog.h - the cluster's ordered log: one NATS JetStream stream that every
 * node appends write intents to and every node follows in stream order.
 *
 * This is the only header that knows NATS exists; nats.h itself is
 * included by clog.c alone (the layering check enforces it), just as
 * libwebsockets stays in server/ and LMDB in store/. The log carries
 * opaque bytes: what an intent means is protocol/'s business, and what
 * happens when one is applied is the write path's.
 *
 * Threads. clu_log_open(), clu_log_follow() and clu_log_close() run on
 * the caller's thread and may block for up to the configured timeout.
 * clu_log_append() never blocks on the network: it queues the intent and
 * returns. Every callback runs on a thread of the NATS library, never on
 * the caller's; a caller that owns an event loop (lws) hands what it gets
 * to its own thread through an inbox. Entries arrive one at a time, in
 * stream order, with no gap and no repeat while a follow lasts.
 *
 * Sequence numbers are the stream's: they increase, they are the same on
 * every node, and they need not be dense (a purge or a rejected publish
 * leaves holes).
 */
#ifndef RACEBOARD_CLUSTER_CLOG_H
#define RACEBOARD_CLUSTER_CLOG_H

#include <stddef.h>
#include <stdint.h>

enum clu_err {
	CLU_OK = 0,
	CLU_EINVAL = -1,      /* bad configuration or argument */
	CLU_ENOMEM = -2,
	CLU_EUNAVAILABLE = -3, /* NATS unreachable, or the stream has no
	                        * quorum: retry later */
	CLU_ETIMEOUT = -4,    /* no answer within the configured bound */
	CLU_ECONFLICT = -5,   /* the stream exists with other settings */
	CLU_EIO = -6,         /* any other failure NATS reported */
};

/* What a node needs to join the log. Strings are borrowed for the call. */
struct clu_log_cfg {
	const char *urls;     /* "nats://127.0.0.1:4222,nats://..." */
	const char *stream;   /* the stream's name, e.g. "RACEBOARD" */
	const char *node;     /* this node's name: connection name, and the
	                       * prefix of the ids of the intents it appends */
	int replicas;         /* 1..5 */
	int64_t timeout_ms;   /* bound on connecting, API calls and acks */
};

/*
 * One entry of the log as it is delivered. `origin` is the id the
 * appending node gave the intent ("<node>/<n>"), or "" for an entry with
 * none; data, len and origin are borrowed for the callback only.
 */
struct clu_entry {
	uint64_t seq;
	const char *origin;
	const void *data;
	size_t len;
};

struct clu_log_handlers {
	/* An entry, in stream order. */
	void (*entry)(void *ctx, const struct clu_entry *e);
	/* The outcome of clu_log_append(): seq on success, else err < 0
	 * (the intent may or may not be in the log: CLU_ETIMEOUT means the
	 * ack was lost, not that the write was). Never called for an append
	 * that returned an error itself. */
	void (*appended)(void *ctx, uint64_t token, int err, uint64_t seq);
	/* The connection to NATS went down (connected = 0) or came back. */
	void (*link)(void *ctx, int connected);
	void *ctx;
};

struct clu_log;

/*
 * Connects to NATS, then finds the stream or creates it with cfg's
 * settings. A stream that exists with another subject or replica count
 * is not changed: the call fails with CLU_ECONFLICT. Returns the log,
 * or NULL with *err set and a sentence for people in why[0..whylen).
 * CLU_EUNAVAILABLE and CLU_ETIMEOUT are worth another try: NATS is not
 * reachable yet, or its JetStream cluster cannot serve the stream yet
 * (no meta leader, peers missing); any other error will not go away.
 * Nothing is delivered until clu_log_follow(). `h` is copied.
 */
struct clu_log *clu_log_open(const struct clu_log_cfg *cfg,
			     const struct clu_log_handlers *h, int *err,
			     char *why, size_t whylen);

/*
 * Delivers the entries after `after` (0: all of them), in order, to
 * h->entry; stops any previous follow first, so a caller that suspects
 * it was fed a truncated prefix (a consumer placed on a replica that is
 * behind) calls it again with what it applied. Returns CLU_OK or an
 * error, in which case nothing is delivered.
 */
int clu_log_follow(struct clu_log *log, uint64_t after);

/*
 * Appends `data` as an intent. `token` comes back in h->appended and is
 * also the intent's number in its origin id ("<node>/<token>"), so a
 * retried append with the same token inside the stream's duplicate
 * window is stored once. Returns CLU_OK once queued (the outcome comes
 * later), or an error with nothing queued and no callback to come.
 */
int clu_log_append(struct clu_log *log, const void *data, size_t len,
		   uint64_t token);

/*
 * The stream's first and last sequence as its leader reports them (an
 * API round trip: not for an event loop's thread). Returns CLU_OK with
 * both set, or an error with both unchanged.
 */
int clu_log_bounds(struct clu_log *log, uint64_t *first, uint64_t *last);

/* 1 while connected to NATS. Any thread. */
int clu_log_connected(const struct clu_log *log);

/* The origin id prefix of this node's intents: "<node>/". */
const char *clu_log_origin_prefix(const struct clu_log *log);

/*
 * Stops following, waits for callbacks in progress, closes the
 * connection and frees the log; NULL is a no-op. No callback runs after
 * it returns.
 */
void clu_log_close(struct clu_log *log);

const char *clu_strerror(int err);

#endif
