/*
 * cluster.h - cluster mode (issue 16, docs/CLUSTER.md): the sequencer in
 * front of the write path. Every write becomes an intent appended to the
 * shared log (cluster/clog.h, NATS JetStream); every node, this one
 * included, applies the log's entries in log order through the write
 * path (srv_write_apply), with the entry's stream sequence as seq and the
 * intent's time as "now". The node a write came to answers it when it
 * applies its own entry, so the answer is the race as applied.
 *
 * Threads. srv_cluster_open() blocks (it connects and checks the stream).
 * The log's callbacks run on NATS threads and only fill an inbox under a
 * mutex and wake the service thread with lws_cancel_service(); a monitor
 * thread asks the stream's leader for its last sequence (for /health and
 * the stale-replica check). Everything else runs on the service thread.
 * Single-node mode never creates one of these.
 */
#ifndef RACEBOARD_SERVER_CLUSTER_H
#define RACEBOARD_SERVER_CLUSTER_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "write.h"

struct srv_cluster;

/*
 * Joins the log named by cfg (--nats, --node, --nats-stream,
 * --nats-replicas), creating the stream when missing, and installs the
 * sequencer on wp (borrowed; it must outlive the cluster). `node` is
 * this node's name. While NATS is unreachable or its JetStream cannot
 * serve the stream yet, it tries again for up to
 * --nats-start-timeout seconds (logging why). Returns NULL with a
 * sentence in why[] when that time ran out, on any other failure, or at
 * once when the stream exists with other settings (*conflict is then 1).
 * Nothing is applied before srv_cluster_start().
 */
struct srv_cluster *srv_cluster_open(const struct srv_cfg *cfg,
				     const char *node, struct srv_write *wp,
				     int *conflict, char *why, size_t whylen);

/*
 * Starts following the log after what wp has applied, and the monitor
 * thread. ctx is the lws context to wake. Returns 0, or -1 with why[].
 * When the stream no longer holds what this node has not applied (its
 * first sequence is past the node's seq + 1), or later loses entries
 * before this node got them, the node has a gap: it logs it, applies
 * nothing more, refuses writes (503 cluster_gap) and reports it through
 * srv_cluster_get_status() and srv_cluster_stale(). It still starts.
 */
int srv_cluster_start(struct srv_cluster *c, struct lws_context *ctx,
		      char *why, size_t whylen);

/*
 * Stops following and closes the log (no callback runs after it), then
 * refuses with 503 every write still waiting for its entry. Call before
 * srv_write_flush() and lws_context_destroy(). Safe to call twice.
 */
void srv_cluster_stop(struct srv_cluster *c);

/* Stops it if needed, removes the sequencer and frees; NULL is a no-op. */
void srv_cluster_free(struct srv_cluster *c);

/*
 * The callback of a protocol main() adds with .user = the cluster: on
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED it applies what the log delivered.
 */
int srv_cluster_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len);

/* What GET /health reports. */
struct srv_cluster_status {
	const char *node;         /* borrowed from the cluster */
	uint64_t applied_seq;     /* the last entry this node applied */
	uint64_t stream_last_seq; /* the stream's, as its leader last said */
	uint64_t lag;             /* stream_last_seq - applied_seq, or 0 */
	int connected;            /* to NATS */
	int healthy;              /* connected, no gap, lag within
	                           * --cluster-max-lag */
	const char *reason;       /* NULL while healthy, else "gap",
	                           * "disconnected" or "lag" (static) */
	uint64_t missing_from;    /* != 0: entries missing_from..missing_to */
	uint64_t missing_to;      /* are gone from the stream, unapplied */
};
void srv_cluster_get_status(struct srv_cluster *c,
			    struct srv_cluster_status *st);

/*
 * Why this node's reads are stale, as reads and frames say it: NULL while
 * it is healthy (or c is NULL: single node), else "gap=A-B" (entries A
 * to B are gone from the stream, unapplied here: see srv_cluster_start),
 * "disconnected" (no NATS) or "lag=N" (N entries behind the stream),
 * written into buf.
 */
const char *srv_cluster_stale(struct srv_cluster *c, char *buf, size_t cap);

#endif
