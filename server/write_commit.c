/*
 * write_commit.c - the commit stage of the write path: makes a sealed
 * batch durable. Today that is one LMDB transaction (one fsync) per
 * batch, run on a writer thread so that the service thread goes on
 * reading and applying the next batch meanwhile; without the thread
 * (not attached, or it could not start) it runs on the service thread.
 *
 * Threads: writer_main() runs on the writer thread and touches nothing
 * but the posted batch's ops (buffers the batch owns), its rc and
 * commit_sec, and the fields of wp->commit under wp->commit.lock; it
 * wakes the service thread with lws_cancel_service(). Everything else
 * here runs on the service thread.
 */
#include <time.h>

#include "write_priv.h"
#include "log.h"

/* Map growths one batch may ask for before it fails with STORE_EFULL;
 * each doubles the map, so this only bounds a misbehaving store. */
#define BATCH_MAX_GROWTHS 16

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int srv_write__commit_init(struct srv_write *wp)
{
	struct srv_write_commit *c = &wp->commit;

	if (pthread_mutex_init(&c->lock, NULL))
		return -1;
	if (pthread_cond_init(&c->cond, NULL)) {
		pthread_mutex_destroy(&c->lock);
		return -1;
	}
	c->inited = 1;
	return 0;
}

void srv_write__commit_fini(struct srv_write *wp)
{
	struct srv_write_commit *c = &wp->commit;

	if (!c->inited)
		return;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	c->inited = 0;
}

/* Writer thread: commits each posted batch and wakes the service thread.
 * It touches nothing but the batch's ops, its rc/commit_sec and the
 * fields under wp->commit.lock. */
static void *writer_main(void *arg)
{
	struct srv_write *wp = arg;
	struct srv_write_commit *c = &wp->commit;
	struct srv_batch *b;
	struct timespec t0;
	int rc;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->job && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->job)
			break;
		b = c->job;
		c->job = NULL;
		pthread_mutex_unlock(&c->lock);

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = store_commit_once(wp->store, b->ops, b->n_ops, b->seq);

		pthread_mutex_lock(&c->lock);
		b->rc = rc;
		b->commit_sec += seconds_since(&t0);
		c->done = 1;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		lws_cancel_service(wp->ctx);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void srv_write__commit_start(struct srv_write *wp)
{
	struct srv_write_commit *c = &wp->commit;

	if (c->running || !wp->ctx)
		return;
	if (pthread_create(&c->thread, NULL, writer_main, wp)) {
		srv_log_warn("no writer thread: commits run on the service "
			     "thread\n");
		return;
	}
	c->running = 1;
}

void srv_write__commit_stop(struct srv_write *wp)
{
	struct srv_write_commit *c = &wp->commit;

	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->running = 0;
	c->stop = 0;
}

void srv_write__commit_post(struct srv_write *wp)
{
	struct srv_write_commit *c = &wp->commit;

	pthread_mutex_lock(&c->lock);
	c->job = wp->inflight;
	c->done = 0;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void srv_write__commit_here(struct srv_write *wp)
{
	struct srv_batch *b = wp->inflight;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	b->rc = store_commit(wp->store, b->ops, b->n_ops, b->seq);
	b->commit_sec = seconds_since(&t0);
}

int srv_write__commit_reap(struct srv_write *wp, int block)
{
	struct srv_write_commit *c = &wp->commit;
	struct srv_batch *b = wp->inflight;
	int done, rc;

	if (!b || !c->running)
		return 0;
	pthread_mutex_lock(&c->lock);
	while (block && !c->done)
		pthread_cond_wait(&c->cond, &c->lock);
	done = c->done;
	c->done = 0;
	pthread_mutex_unlock(&c->lock);
	if (!done)
		return 0;
	if (b->rc == STORE_EGROW) {
		/* The writer is idle and this thread holds no transaction:
		 * the one moment the map may be resized. */
		rc = store_grow(wp->store, b->ops, b->n_ops);
		if (rc == STORE_OK && ++b->growths <= BATCH_MAX_GROWTHS) {
			srv_write__commit_post(wp);
			return 0;
		}
		b->rc = rc == STORE_OK ? STORE_EFULL : rc;
	}
	return 1;
}
