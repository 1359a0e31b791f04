/*
 * store.h - durable storage of races and the delta log, on LMDB.
 *
 * One store per process, opened at start-up on the service thread. Every
 * function that begins a transaction ends it before returning; nothing
 * returned points into LMDB memory (records are decoded into owned
 * structs, deltas are copied). Never includes libwebsockets; never logs:
 * failures come back as STORE_E* codes.
 */
#ifndef RACEBOARD_STORE_STORE_H
#define RACEBOARD_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "race.h"

enum store_err {
	STORE_OK = 0,
	STORE_EINVAL = -1,    /* bad argument */
	STORE_ENOMEM = -2,    /* allocation failed */
	STORE_EIO = -3,       /* LMDB or file system error */
	STORE_EFULL = -4,     /* map at its maximum size, or disk full */
	STORE_ENOTFOUND = -5, /* no such key */
	STORE_ECORRUPT = -6,  /* a record failed to decode */
	STORE_EVERSION = -7,  /* written by a newer, incompatible version */
	STORE_ELOCKED = -8,   /* the data directory is used by another process */
	STORE_EGROW = -9,     /* store_commit_once: grow the map, then retry */
};

/* Static description of a STORE_E* code. */
const char *store_strerror(int err);

struct store;

struct store_opts {
	const char *dir;         /* created 0700 if missing */
	size_t map_size;         /* initial map size, bytes (0: 32 MiB) */
	size_t map_size_max;     /* growth limit, bytes (0: 1 GiB) */
	int no_sync;             /* 1: skip fsync at commit (survives kill -9,
	                          * not power loss); for benchmarks and tests */
};

/*
 * Opens (creating if needed) the store in opts->dir. Returns STORE_OK and
 * *out (owned; close with store_close), or an error with *out NULL:
 * STORE_ELOCKED, STORE_EVERSION, STORE_EIO, STORE_ENOMEM (also
 * STORE_EINVAL for a NULL or empty dir, STORE_ECORRUPT for unreadable
 * meta data).
 */
int store_open(const struct store_opts *opts, struct store **out);

/* Closes the store. NULL is a no-op. No transaction may be open. */
void store_close(struct store *st);

enum store_op_kind {
	STORE_OP_PUT_RACE,     /* race: write its record under its id */
	STORE_OP_DEL_RACE,     /* id: remove the record (absent is fine) */
	STORE_OP_PUT_DELTA,    /* seq, data, len: append to the delta log */
	STORE_OP_TRIM_DELTAS,  /* seq: drop every logged delta with seq < it */
	STORE_OP_PUT_HISTORY,  /* id (a prediction key), data, len: the
	                        * key's encoded duration history */
	STORE_OP_PUT_RECORD,   /* id, data, len: a race record already
	                        * encoded with proto_record_encode(), so the
	                        * caller need not share the race itself */
};

/* One write in a batch. Every pointer is borrowed for the call only. */
struct store_op {
	enum store_op_kind kind;
	const char *id;
	const struct proto_race *race;
	uint64_t seq;
	const char *data;
	size_t len;
};

/*
 * Writes all ops and the new last sequence number `seq` in one
 * transaction (group commit): either all of it is durable when this
 * returns STORE_OK, or none of it is written. When the map is full it is
 * grown (doubling, up to map_size_max) and the transaction retried after
 * each growth. A batch that only deletes or trims may grow the map a
 * small reserve past map_size_max (1/16 of it, at least 128 KiB), so a
 * store at its limit can still shed data. `seq` lower than store_seq()
 * is STORE_EINVAL, as is a malformed op (nothing is written).
 * Errors: STORE_EFULL (map at its limit or disk full), STORE_EIO,
 * STORE_ENOMEM, STORE_EINVAL.
 */
int store_commit(struct store *st, const struct store_op *ops, size_t n,
		 uint64_t seq);

/*
 * One attempt at what store_commit() does, without growing the map: when
 * the batch does not fit (or another process grew the map, which this
 * thread may not adopt), nothing is written and STORE_EGROW is returned;
 * the caller then calls store_grow() and tries again. The other errors
 * are store_commit()'s.
 *
 * Thread: unlike every other store call, this one may run on a thread of
 * its own (a writer thread) while another thread reads, because it only
 * opens a write transaction (LMDB lets readers go on meanwhile) and never
 * remaps. Calls to it must not overlap each other, store_grow() or
 * store_commit() (LMDB has one writer at a time), and store_seq() may
 * only be read after it returned
 * (the caller hands the result over under a lock).
 */
int store_commit_once(struct store *st, const struct store_op *ops, size_t n,
		      uint64_t seq);

/*
 * Grows the map one step for the batch `ops` (doubling, up to
 * map_size_max; a batch that only removes data may use the reserve
 * store_commit() describes), or adopts the size another process grew it
 * to, if it did. Returns STORE_OK, or STORE_EFULL when the
 * map is at its limit (nothing changed), or STORE_EIO. Must run with no
 * transaction of this process open: on the thread that reads, between
 * two reads, never during a store_commit_once() on another thread.
 */
int store_grow(struct store *st, const struct store_op *ops, size_t n);

/* The last sequence number committed (0 for a new store). */
uint64_t store_seq(const struct store *st);

/*
 * Calls cb(ctx, race) for every stored race, in id order. The race is
 * taken by the callback (it must free or keep it). A non-zero return from
 * cb stops the walk and is returned. Returns STORE_OK, STORE_ECORRUPT for
 * a record that does not decode, STORE_EIO or STORE_ENOMEM.
 */
int store_load_races(struct store *st,
		     int (*cb)(void *ctx, struct proto_race *race), void *ctx);

/* Reads one race into *out (owned). STORE_ENOTFOUND when absent. */
int store_get_race(struct store *st, const char *id, struct proto_race **out);

/*
 * Calls cb(ctx, seq, data, len) for every logged delta with seq > since,
 * in seq order; `data` is valid only during the call (copy it). A
 * non-zero return from cb stops the walk and is returned. *first (may be
 * NULL) gets the lowest seq still logged, 0 when the log is empty, so a
 * caller can tell whether `since` is still covered.
 */
int store_deltas_since(struct store *st, uint64_t since, uint64_t *first,
		       int (*cb)(void *ctx, uint64_t seq, const char *data,
				 size_t len),
		       void *ctx);

/*
 * Calls cb(ctx, key, data, len) for every stored duration history (the
 * prediction model's, see predict/), in key order; both pointers are
 * valid only during the call. A non-zero return from cb stops the walk
 * and is returned. Returns STORE_OK, STORE_EIO or STORE_EINVAL.
 */
int store_load_history(struct store *st,
		       int (*cb)(void *ctx, const char *key, const void *data,
				 size_t len),
		       void *ctx);

struct store_stats {
	uint64_t races;          /* records stored */
	uint64_t deltas;         /* deltas logged */
	size_t map_size;         /* current map size, bytes */
	size_t map_size_max;
	size_t map_used;         /* bytes in use (pages * page size) */
	uint64_t file_size;      /* data.mdb on disk, bytes */
};

/* Fills *out. Returns STORE_OK or STORE_EIO. */
int store_stats(struct store *st, struct store_stats *out);

/*
 * 1 when the map has room to grow or free pages left for a write; 0
 * otherwise. Read transactions only, so it never waits for a commit in
 * progress. Cheap: for GET /health and /metrics.
 */
int store_writable(struct store *st);

enum store_state {
	STORE_STATE_OK,          /* writes are accepted */
	STORE_STATE_FULL,        /* no room: map at its limit or disk full */
	STORE_STATE_UNAVAILABLE, /* the last commit failed otherwise */
};

/*
 * What the store can do now: FULL when store_writable() says no room or
 * the last commit failed for want of space (ENOSPC, MDB_MAP_FULL, or a
 * short write with the file system full), UNAVAILABLE when it failed for
 * another reason, else OK; a later successful commit clears both. Any
 * thread; read transactions only.
 */
enum store_state store_state(struct store *st);

/* "ok", "full" or "unavailable". */
const char *store_state_name(enum store_state s);

#endif
