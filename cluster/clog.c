/*
 * clog.c - the cluster's ordered log on NATS JetStream (see clog.h).
 *
 * One stream, one subject ("<stream>.intents"). Appends are asynchronous
 * JetStream publishes, each carrying a Nats-Msg-Id of "<node>/<token>":
 * the stream drops a repeat inside its duplicate window, and the id comes
 * back with the entry, so the node that appended an intent recognises it
 * when the entry is delivered. Following is an ordered consumer (no acks,
 * flow control, recreated by the library after a gap) started after the
 * last sequence the caller applied.
 *
 * Each follow gets a generation number; the message callback delivers
 * only for the current generation and only a sequence above the last one
 * it delivered, under one mutex, so a callback of a follow being replaced
 * can neither repeat an entry nor slip one in out of order.
 */
#include "clog.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLU_MAX_URLS 16
#define CLU_MSG_ID "Nats-Msg-Id"

/* The closure of one follow; freed with the log, since the library may
 * still call back with it shortly after the subscription is dropped. */
struct follow {
	struct clu_log *log;
	uint64_t gen;
	int done;             /* its handler will not run again */
	struct follow *next;
};

struct clu_log {
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	struct clu_log_handlers h;
	char stream[64];
	char subject[80];
	char origin[80];      /* "<node>/" */
	int64_t timeout_ms;

	pthread_mutex_t lock; /* guards gen, last, follows and their done */
	pthread_cond_t gone;  /* a follow became done, or closed was set */
	uint64_t gen;
	uint64_t last;        /* the last sequence delivered this follow */
	struct follow *follows;
	/* Written by the library's threads (the connection callbacks), read
	 * by any thread: atomic, since volatile orders nothing between
	 * threads (ThreadSanitizer reported the service thread's read in
	 * clu_log_connected() racing with on_disconnected()). */
	atomic_int connected;
	int closed;           /* the library's last callback ran (lock) */
};

const char *clu_strerror(int err)
{
	switch (err) {
	case CLU_OK: return "ok";
	case CLU_EINVAL: return "invalid cluster setting";
	case CLU_ENOMEM: return "out of memory";
	case CLU_EUNAVAILABLE: return "NATS is unreachable or has no quorum";
	case CLU_ETIMEOUT: return "NATS did not answer in time";
	case CLU_ECONFLICT: return "the stream exists with other settings";
	default: return "NATS error";
	}
}

static int status_err(natsStatus s)
{
	switch (s) {
	case NATS_OK: return CLU_OK;
	case NATS_NO_MEMORY: return CLU_ENOMEM;
	case NATS_TIMEOUT: return CLU_ETIMEOUT;
	case NATS_NO_SERVER:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NO_RESPONDERS:
	case NATS_STALE_CONNECTION:
		return CLU_EUNAVAILABLE;
	case NATS_INVALID_ARG: return CLU_EINVAL;
	default: return CLU_EIO;
	}
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct clu_log *log = closure;
	(void)nc;
	atomic_store(&log->connected, 0);
	if (log->h.link)
		log->h.link(log->h.ctx, 0);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct clu_log *log = closure;
	(void)nc;
	atomic_store(&log->connected, 1);
	if (log->h.link)
		log->h.link(log->h.ctx, 1);
}

/* The last callback of a connection: after it, none refers to the log. */
static void on_closed(natsConnection *nc, void *closure)
{
	struct clu_log *log = closure;
	(void)nc;
	pthread_mutex_lock(&log->lock);
	log->closed = 1;
	pthread_cond_broadcast(&log->gone);
	pthread_mutex_unlock(&log->lock);
}

/* The token of an origin id of ours, or 0 with *ours = 0. */
static uint64_t own_token(const struct clu_log *log, const char *origin,
			  int *ours)
{
	size_t n = strlen(log->origin);

	*ours = origin && strncmp(origin, log->origin, n) == 0;
	return *ours ? strtoull(origin + n, NULL, 10) : 0;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
		   void *closure)
{
	struct clu_log *log = closure;
	const char *origin = NULL;
	uint64_t token;
	int ours;

	(void)js;
	natsMsgHeader_Get(msg, CLU_MSG_ID, &origin);
	token = own_token(log, origin, &ours);
	if (ours && log->h.appended) {
		if (pa)
			log->h.appended(log->h.ctx, token, CLU_OK, pa->Sequence);
		else
			log->h.appended(log->h.ctx, token,
					pae ? status_err(pae->Err) : CLU_EIO, 0);
	}
	natsMsg_Destroy(msg);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		   void *closure)
{
	struct follow *f = closure;
	struct clu_log *log = f->log;
	jsMsgMetaData *meta = NULL;
	struct clu_entry e = {0};

	(void)nc;
	(void)sub;
	if (natsMsg_GetMetaData(&meta, msg) != NATS_OK)
		goto done; /* a control message, not an entry */
	e.seq = meta->Sequence.Stream;
	if (natsMsgHeader_Get(msg, CLU_MSG_ID, &e.origin) != NATS_OK)
		e.origin = "";
	e.data = natsMsg_GetData(msg);
	e.len = (size_t)natsMsg_GetDataLength(msg);

	pthread_mutex_lock(&log->lock);
	if (f->gen == log->gen && e.seq > log->last) {
		log->last = e.seq;
		if (log->h.entry)
			log->h.entry(log->h.ctx, &e);
	}
	pthread_mutex_unlock(&log->lock);
done:
	jsMsgMetaData_Destroy(meta);
	natsMsg_Destroy(msg);
}

/* The library is done calling on_msg with this follow. */
static void on_complete(void *closure)
{
	struct follow *f = closure;

	pthread_mutex_lock(&f->log->lock);
	f->done = 1;
	pthread_cond_broadcast(&f->log->gone);
	pthread_mutex_unlock(&f->log->lock);
}

/* Splits "a,b,c" into at most CLU_MAX_URLS pieces of buf, in place. */
static int split_urls(char *buf, const char **urls)
{
	int n = 0;

	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (n == CLU_MAX_URLS)
			return -1;
		urls[n++] = tok;
	}
	return n;
}

static int connect_nats(struct clu_log *log, const struct clu_log_cfg *cfg,
			char *why, size_t whylen)
{
	natsOptions *opts = NULL;
	const char *urls[CLU_MAX_URLS];
	char *buf = strdup(cfg->urls);
	int n, err = CLU_ENOMEM;
	natsStatus s;

	if (!buf || natsOptions_Create(&opts) != NATS_OK)
		goto out;
	n = split_urls(buf, urls);
	if (n <= 0) {
		snprintf(why, whylen, "no NATS URL in \"%s\"", cfg->urls);
		err = CLU_EINVAL;
		goto out;
	}
	s = natsOptions_SetServers(opts, urls, n);
	if (s == NATS_OK) s = natsOptions_SetName(opts, cfg->node);
	if (s == NATS_OK) s = natsOptions_SetTimeout(opts, cfg->timeout_ms);
	if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
	/* An append is sent at once, not when the library's flusher thread
	 * next runs: a write waits for its own entry to come back, so the
	 * flusher's delay is on every write's latency (docs/CLUSTER.md). */
	if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, log);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, log);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(opts, on_closed, log);
	if (s == NATS_OK)
		s = natsConnection_Connect(&log->nc, opts);
	err = status_err(s);
	if (err)
		snprintf(why, whylen, "cannot connect to NATS at %s: %s",
			 cfg->urls, natsStatus_GetText(s));
	else
		atomic_store(&log->connected, 1);
out:
	natsOptions_Destroy(opts);
	free(buf);
	return err;
}

/*
 * Whether a JetStream API error is one a cluster outgrows by itself: a
 * fresh cluster has no meta leader yet ("JetStream system temporarily
 * unavailable"), or not all its peers have joined, so a stream cannot be
 * placed or looked up for a few seconds.
 */
static int transient_jerr(jsErrCode jerr)
{
	switch ((int)jerr) {
	case JSClusterIncompleteErr:
	case JSClusterNoPeersErr:
	case JSClusterNotAvailErr:
	case JSClusterNotLeaderErr:
	case JSInsufficientResourcesErr:
	case JSRaftGeneralErr:
	case JSStreamAssignmentErr:
		return 1;
	default:
		return 0;
	}
}

/* Finds the stream or creates it; refuses one with other settings. */
static int ensure_stream(struct clu_log *log, const struct clu_log_cfg *cfg,
			 char *why, size_t whylen)
{
	jsStreamInfo *si = NULL;
	jsStreamConfig sc;
	jsErrCode jerr = 0;
	const char *subjects[1] = {log->subject};
	natsStatus s;
	int err = CLU_OK;

	s = js_GetStreamInfo(&si, log->js, log->stream, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNotFoundErr) {
		jsStreamConfig_Init(&sc);
		sc.Name = log->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = cfg->replicas;
		jerr = 0;
		s = js_AddStream(&si, log->js, &sc, NULL, &jerr);
	}
	if (s != NATS_OK) {
		snprintf(why, whylen, "stream %s: %s (%d)", log->stream,
			 nats_GetLastError(NULL), (int)jerr);
		err = jerr ? CLU_EIO : status_err(s);
		if (transient_jerr(jerr))
			err = CLU_EUNAVAILABLE;
		if (jerr == JSStreamNameExistErr)
			err = CLU_ECONFLICT; /* created meanwhile, differently */
		goto out;
	}
	if (si->Config->Replicas != cfg->replicas ||
	    si->Config->SubjectsLen != 1 ||
	    strcmp(si->Config->Subjects[0], log->subject) != 0) {
		snprintf(why, whylen, "stream %s exists with %d replica(s) and "
			 "subject %s; this node wants %d and %s", log->stream,
			 (int)si->Config->Replicas,
			 si->Config->SubjectsLen ? si->Config->Subjects[0] : "-",
			 cfg->replicas, log->subject);
		err = CLU_ECONFLICT;
	}
out:
	jsStreamInfo_Destroy(si);
	return err;
}

struct clu_log *clu_log_open(const struct clu_log_cfg *cfg,
			     const struct clu_log_handlers *h, int *err,
			     char *why, size_t whylen)
{
	struct clu_log *log;
	jsOptions jo;
	int rc;

	why[0] = '\0';
	if (!cfg->urls || !cfg->stream || !cfg->node || cfg->replicas < 1 ||
	    cfg->replicas > 5 || cfg->timeout_ms <= 0 ||
	    strlen(cfg->stream) >= 64 || strlen(cfg->node) >= 64 ||
	    strpbrk(cfg->stream, ". *>") || !cfg->stream[0]) {
		snprintf(why, whylen, "invalid cluster settings");
		*err = CLU_EINVAL;
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (!log) {
		*err = CLU_ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->gone, NULL);
	log->h = *h;
	log->timeout_ms = cfg->timeout_ms;
	snprintf(log->stream, sizeof(log->stream), "%s", cfg->stream);
	snprintf(log->subject, sizeof(log->subject), "%s.intents", cfg->stream);
	snprintf(log->origin, sizeof(log->origin), "%s/", cfg->node);

	rc = connect_nats(log, cfg, why, whylen);
	if (rc)
		goto fail;
	jsOptions_Init(&jo);
	jo.Wait = cfg->timeout_ms;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = log;
	jo.PublishAsync.MaxPending = 65536;
	rc = status_err(natsConnection_JetStream(&log->js, log->nc, &jo));
	if (rc) {
		snprintf(why, whylen, "JetStream: %s", nats_GetLastError(NULL));
		goto fail;
	}
	rc = ensure_stream(log, cfg, why, whylen);
	if (rc)
		goto fail;
	*err = CLU_OK;
	return log;
fail:
	clu_log_close(log);
	*err = rc;
	return NULL;
}

int clu_log_follow(struct clu_log *log, uint64_t after)
{
	struct follow *f = calloc(1, sizeof(*f));
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	if (!f)
		return CLU_ENOMEM;
	pthread_mutex_lock(&log->lock);
	f->log = log;
	f->gen = ++log->gen; /* the old follow's callbacks now deliver none */
	log->last = after;
	f->next = log->follows;
	log->follows = f;
	pthread_mutex_unlock(&log->lock);

	if (log->sub) {
		natsSubscription_Unsubscribe(log->sub);
		natsSubscription_Destroy(log->sub);
		log->sub = NULL;
	}
	jsSubOptions_Init(&so);
	so.Stream = log->stream;
	so.Ordered = true;
	if (after) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = after + 1;
	} else {
		so.Config.DeliverPolicy = js_DeliverAll;
	}
	s = js_Subscribe(&sub, log->js, log->subject, on_msg, f, NULL, &so,
			 &jerr);
	if (s == NATS_OK)
		s = natsSubscription_SetOnCompleteCB(sub, on_complete, f);
	if (s != NATS_OK) {
		/* No completion callback is set: this follow is done now. */
		if (sub) {
			natsSubscription_Unsubscribe(sub);
			natsSubscription_Destroy(sub);
		}
		on_complete(f);
		return status_err(s) ? status_err(s) : CLU_EIO;
	}
	log->sub = sub;
	return CLU_OK;
}

int clu_log_append(struct clu_log *log, const void *data, size_t len,
		   uint64_t token)
{
	natsMsg *msg = NULL;
	jsPubOptions po;
	char id[128];
	natsStatus s;

	if (len > (size_t)INT32_MAX)
		return CLU_EINVAL;
	snprintf(id, sizeof(id), "%s%llu", log->origin,
		 (unsigned long long)token);
	s = natsMsg_Create(&msg, log->subject, NULL, data, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(msg, CLU_MSG_ID, id);
	if (s == NATS_OK)
		s = jsPubOptions_Init(&po);
	if (s == NATS_OK) {
		po.MaxWait = log->timeout_ms; /* an ack lost is an error, late */
		s = js_PublishMsgAsync(log->js, &msg, &po);
	}
	natsMsg_Destroy(msg); /* NULL once the library took it */
	return status_err(s);
}

int clu_log_bounds(struct clu_log *log, uint64_t *first, uint64_t *last)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetStreamInfo(&si, log->js, log->stream, NULL, &jerr);
	if (s != NATS_OK)
		return status_err(s) ? status_err(s) : CLU_EIO;
	*first = si->State.FirstSeq;
	*last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return CLU_OK;
}

int clu_log_connected(const struct clu_log *log)
{
	return atomic_load(&log->connected);
}

const char *clu_log_origin_prefix(const struct clu_log *log)
{
	return log->origin;
}

void clu_log_close(struct clu_log *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->lock);
	log->gen++; /* no entry is delivered from here on */
	pthread_mutex_unlock(&log->lock);
	if (log->sub) {
		natsSubscription_Unsubscribe(log->sub);
		natsSubscription_Destroy(log->sub);
	}
	/* A handler may still be running: free its closure after it. */
	pthread_mutex_lock(&log->lock);
	for (struct follow *f = log->follows; f; f = f->next)
		while (!f->done)
			pthread_cond_wait(&log->gone, &log->lock);
	pthread_mutex_unlock(&log->lock);
	while (log->follows) {
		struct follow *f = log->follows;
		log->follows = f->next;
		free(f);
	}
	if (log->js)
		jsCtx_Destroy(log->js);
	if (log->nc) {
		/* The disconnect and close callbacks come on the library's
		 * own thread after Close returns: wait for the last one. */
		natsConnection_Close(log->nc);
		pthread_mutex_lock(&log->lock);
		while (!log->closed)
			pthread_cond_wait(&log->gone, &log->lock);
		pthread_mutex_unlock(&log->lock);
		natsConnection_Destroy(log->nc);
	}
	pthread_cond_destroy(&log->gone);
	pthread_mutex_destroy(&log->lock);
	free(log);
}
