/*
 * store_priv.h - what the store's source files share: the handle's
 * layout and a few helpers. Not part of the API: only the store's own .c
 * files include it. Never includes libwebsockets; never logs.
 *
 * Thread: every function runs on the thread that owns the store (the
 * server's service thread), except store_commit_once() on the core's
 * writer thread (store.h) and the record decoding of store_load.c, which
 * touches no store state.
 */
#ifndef RACEBOARD_STORE_STORE_PRIV_H
#define RACEBOARD_STORE_STORE_PRIV_H

#include <lmdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The store format written to meta "format". Bump on incompatible
 * layout changes; store_open refuses a newer one with STORE_EVERSION. */
#define STORE_FORMAT 1

struct store {
	MDB_env *env;
	MDB_dbi races;       /* id -> record bytes (proto_record_encode) */
	MDB_dbi deltas;      /* 8-byte big-endian seq -> delta bytes */
	MDB_dbi meta;        /* "format" (u32 BE), "seq" (u64 BE) */
	MDB_dbi history;     /* prediction key -> encoded duration history */
	int lock_fd;         /* holds flock(LOCK_EX) on <dir>/server.lock */
	char *data_path;     /* <dir>/data.mdb, for store_stats (owned) */
	uint64_t seq;        /* last committed seq; mirrors meta "seq" */
	size_t map_size;     /* current map size, bytes */
	size_t map_size_max; /* growth limit for batches that add data */
	_Atomic int last_commit; /* STORE_OK, STORE_EFULL or STORE_EIO: the
	                          * last commit's outcome (writer thread
	                          * writes, /health reads) */
};

/* Records a commit's outcome for store_state(); a short write that
 * filled the disk (LMDB says EIO) becomes STORE_EFULL. Returns the code
 * the caller should report. */
int store__commit_outcome(struct store *st, int rc);

/* Meta keys. */
#define STORE_META_FORMAT "format"
#define STORE_META_SEQ "seq"

/* Maps an LMDB or errno code to a STORE_E* code (0 stays 0). */
int store__err(int rc);

/*
 * Begins a transaction (flags 0 or MDB_RDONLY). When another process has
 * grown the map (MDB_MAP_RESIZED), adopts the new size and retries once.
 * Returns the raw LMDB code; on failure *txn is NULL.
 */
int store__txn_begin(struct store *st, unsigned int flags, MDB_txn **txn);

/*
 * Decodes one stored record into an owned race and checks that it is
 * stored under its own id. Returns STORE_OK, STORE_ECORRUPT or
 * STORE_ENOMEM; *out is NULL on failure. Pure: safe on any thread.
 */
int store__decode_record(const MDB_val *k, const MDB_val *v,
			 struct proto_race **out);

/* Big-endian 64-bit keys, so LMDB's byte order is numeric order. */
void store__be64_put(unsigned char out[8], uint64_t v);
uint64_t store__be64_get(const void *p);

#endif
