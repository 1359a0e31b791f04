/*
 * store_load.c - loading every race at start-up, decoded in parallel.
 *
 * Decoding the records is nearly all of a cold start: each one becomes a
 * json-c tree first (a hash table per object, an allocation per value),
 * about 9 µs a record here, so 100,000 races cost about a second on one
 * core. Records decode independently, so the values of one read
 * transaction are decoded by a few threads, in chunks taken from a shared
 * counter (a slow thread does not hold up the rest), and are then handed
 * to the callback in key order on the calling thread.
 *
 * The worker threads read only the map's pages, which the open read
 * transaction keeps stable, and call only proto_record_decode(), which
 * shares no state between calls. They never touch the store handle,
 * LMDB's API or the callback: the thread rule of store_priv.h holds for
 * everything else.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "store_priv.h"

/* Below this many records the threads cost more than they save. */
#define LOAD_PARALLEL_MIN 2048
#define LOAD_THREADS_MAX 8
#define LOAD_CHUNK 256

struct load_slot {
	MDB_val key, val;
	struct proto_race *race;
	int rc;
};

struct load_job {
	struct load_slot *slots;
	size_t n;
	atomic_size_t next;        /* first slot not yet taken */
};

static void *decode_chunks(void *arg)
{
	struct load_job *job = arg;
	size_t i;

	while ((i = atomic_fetch_add(&job->next, LOAD_CHUNK)) < job->n) {
		size_t end = i + LOAD_CHUNK < job->n ? i + LOAD_CHUNK : job->n;

		for (; i < end; i++)
			job->slots[i].rc = store__decode_record(
				&job->slots[i].key, &job->slots[i].val,
				&job->slots[i].race);
	}
	return NULL;
}

/* Decodes every slot: on the calling thread plus up to one more thread
 * per online core. A thread that cannot be started leaves its share to
 * the others. */
static void decode_all(struct load_job *job)
{
	pthread_t tid[LOAD_THREADS_MAX];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = 1, started = 0;

	if (job->n >= LOAD_PARALLEL_MIN && cores > 1)
		want = cores < LOAD_THREADS_MAX ? (size_t)cores
						: LOAD_THREADS_MAX;
	while (started + 1 < want &&
	       pthread_create(&tid[started], NULL, decode_chunks, job) == 0)
		started++;
	decode_chunks(job);
	for (size_t t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
}

/* Reads every key and value of the races table into slots (the values
 * stay valid while txn is open). */
static int collect(struct store *st, MDB_txn *txn, struct load_slot **out,
		   size_t *n_out)
{
	struct load_slot *slots;
	MDB_cursor *cur;
	MDB_stat ms;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = mdb_stat(txn, st->races, &ms);
	if (rc != 0)
		return store__err(rc);
	slots = calloc(ms.ms_entries ? ms.ms_entries : 1, sizeof(*slots));
	if (!slots)
		return STORE_ENOMEM;
	rc = mdb_cursor_open(txn, st->races, &cur);
	if (rc != 0) {
		free(slots);
		return store__err(rc);
	}
	/* Nothing writes during the load, so the count cannot grow; the
	 * bound only keeps a surprise from writing past the array. */
	while (n < ms.ms_entries &&
	       (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		slots[n].key = k;
		slots[n++].val = v;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		free(slots);
		return store__err(rc);
	}
	*out = slots;
	*n_out = n;
	return STORE_OK;
}

int store_load_races(struct store *st,
		     int (*cb)(void *ctx, struct proto_race *race), void *ctx)
{
	struct load_job job = {0};
	MDB_txn *txn;
	size_t i = 0;
	int rc;

	if (!st || !cb)
		return STORE_EINVAL;
	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return store__err(rc);
	rc = collect(st, txn, &job.slots, &job.n);
	if (rc == STORE_OK) {
		atomic_init(&job.next, 0);
		decode_all(&job);
	}
	/* Every race is owned now: the map's pages are no longer needed. */
	mdb_txn_abort(txn);
	for (; rc == STORE_OK && i < job.n; i++) {
		rc = job.slots[i].rc;
		if (rc == STORE_OK)
			rc = cb(ctx, job.slots[i].race);
	}
	/* A failure stops the walk; the races not handed over are freed. */
	for (; i < job.n; i++)
		proto_race_free(job.slots[i].race);
	free(job.slots);
	return rc;
}
