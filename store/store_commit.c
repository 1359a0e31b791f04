/*
 * store_commit.c - the store's only write path: one batch of ops plus the
 * new sequence number in one LMDB transaction (group commit), growing the
 * map when it fills up.
 *
 * Never includes libwebsockets; never logs. Thread: store_commit() and
 * store_grow() run on the thread that reads the store, so no transaction
 * of this process is open while the map is resized; store_commit_once()
 * never resizes, so it may run on a writer thread (see store.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "record.h"
#include "store_priv.h"

/* Growth steps one commit may take before it gives up with STORE_EFULL.
 * Doubling, this covers any sane ratio of map_size_max to map_size; the
 * bound only guarantees the loop ends. */
#define STORE_MAX_GROWTHS 16

/* A batch that only removes data may grow the map this far past
 * map_size_max (1/16 of it, at least 128 KiB). Deleting needs pages too
 * (copy-on-write), so without this reserve a store at its limit could
 * never shed data again; with it, deletes and trims at the limit free
 * pages that later puts reuse. */
#define STORE_DELETE_RESERVE(max) \
	((max) / 16 > ((size_t)128 << 10) ? (max) / 16 : ((size_t)128 << 10))

/* A race record encoded before the transaction begins. */
struct encoded {
	char *buf; /* owned; NULL for ops that are not PUT_RACE */
	size_t len;
};

/* Rejects a malformed op before anything is encoded or written. */
static int check_op(const struct store_op *op)
{
	switch (op->kind) {
	case STORE_OP_PUT_RACE:
		return op->race && op->race->id && op->race->id[0]
			       ? STORE_OK : STORE_EINVAL;
	case STORE_OP_DEL_RACE:
		return op->id && op->id[0] ? STORE_OK : STORE_EINVAL;
	case STORE_OP_PUT_DELTA:
		return op->data || op->len == 0 ? STORE_OK : STORE_EINVAL;
	case STORE_OP_TRIM_DELTAS:
		return STORE_OK;
	case STORE_OP_PUT_HISTORY:
	case STORE_OP_PUT_RECORD:
		return op->id && op->id[0] && op->data && op->len
			       ? STORE_OK : STORE_EINVAL;
	}
	return STORE_EINVAL;
}

static void encoded_free(struct encoded *enc, size_t n)
{
	if (!enc)
		return;
	for (size_t i = 0; i < n; i++)
		free(enc[i].buf);
	free(enc);
}

/*
 * Encodes every PUT_RACE record up front, so the write transaction (and
 * the writer lock it holds) lasts only as long as the LMDB calls, and so
 * an encoding failure never needs a rollback. *out is NULL for n == 0.
 */
static int encode_all(const struct store_op *ops, size_t n,
		      struct encoded **out)
{
	struct encoded *enc;
	int rc;

	*out = NULL;
	if (n == 0)
		return STORE_OK;
	enc = calloc(n, sizeof *enc);
	if (!enc)
		return STORE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind != STORE_OP_PUT_RACE)
			continue;
		rc = proto_record_encode(ops[i].race, &enc[i].buf,
					 &enc[i].len);
		if (rc != 0) {
			enc[i].buf = NULL;
			encoded_free(enc, n);
			return rc == PROTO_ENOMEM ? STORE_ENOMEM : STORE_EINVAL;
		}
	}
	*out = enc;
	return STORE_OK;
}

/* Deletes every delta whose seq is below `seq`. Keys are big-endian, so
 * the log's first entry is always its lowest seq. */
static int trim_deltas(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		/* A key of the wrong size is not ours to judge here: stop. */
		if (k.mv_size != 8 || store__be64_get(k.mv_data) >= seq)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Applies one op inside the write transaction. Returns an LMDB code. */
static int apply_op(struct store *st, MDB_txn *txn, const struct store_op *op,
		    const struct encoded *enc)
{
	unsigned char key[8];
	MDB_val k, v;
	int rc;

	switch (op->kind) {
	case STORE_OP_PUT_RACE:
		k.mv_data = op->race->id;
		k.mv_size = strlen(op->race->id);
		v.mv_data = enc->buf;
		v.mv_size = enc->len;
		return mdb_put(txn, st->races, &k, &v, 0);
	case STORE_OP_DEL_RACE:
		k.mv_data = (void *)op->id;
		k.mv_size = strlen(op->id);
		rc = mdb_del(txn, st->races, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	case STORE_OP_PUT_DELTA:
		store__be64_put(key, op->seq);
		k.mv_data = key;
		k.mv_size = sizeof key;
		v.mv_data = (void *)op->data;
		v.mv_size = op->len;
		return mdb_put(txn, st->deltas, &k, &v, 0);
	case STORE_OP_TRIM_DELTAS:
		return trim_deltas(txn, st->deltas, op->seq);
	case STORE_OP_PUT_HISTORY:
	case STORE_OP_PUT_RECORD:
		k.mv_data = (void *)op->id;
		k.mv_size = strlen(op->id);
		v.mv_data = (void *)op->data;
		v.mv_size = op->len;
		return mdb_put(txn, op->kind == STORE_OP_PUT_RECORD ? st->races
				    : st->history, &k, &v, 0);
	}
	return EINVAL; /* unreachable: check_op ran first */
}

/*
 * One attempt at the whole batch. Returns the raw LMDB or errno code; on
 * any failure the transaction is aborted (or was freed by a failed
 * commit), so nothing of the batch is written.
 */
static int write_batch(struct store *st, const struct store_op *ops,
		       size_t n, uint64_t seq, const struct encoded *enc,
		       int may_remap)
{
	unsigned char sk[8];
	MDB_val k, v;
	MDB_txn *txn;
	int rc;

	/* Adopting a map another process grew remaps, which LMDB allows
	 * only with no transaction open in the process: not on the writer
	 * thread, whose caller adopts it later (store_grow). */
	rc = may_remap ? store__txn_begin(st, 0, &txn)
		       : mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rc = apply_op(st, txn, &ops[i], &enc[i]);
		if (rc != 0)
			goto abort;
	}
	store__be64_put(sk, seq);
	k.mv_data = STORE_META_SEQ;
	k.mv_size = strlen(STORE_META_SEQ);
	v.mv_data = sk;
	v.mv_size = sizeof sk;
	rc = mdb_put(txn, st->meta, &k, &v, 0);
	if (rc != 0)
		goto abort;
	/* mdb_txn_commit frees the transaction whether or not it succeeds. */
	return mdb_txn_commit(txn);
abort:
	mdb_txn_abort(txn);
	return rc;
}

/* 1 when the batch only removes data (see STORE_DELETE_RESERVE). */
static int removes_only(const struct store_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind == STORE_OP_PUT_RACE ||
		    ops[i].kind == STORE_OP_PUT_RECORD ||
		    ops[i].kind == STORE_OP_PUT_DELTA ||
		    ops[i].kind == STORE_OP_PUT_HISTORY)
			return 0;
	}
	return 1;
}

/*
 * Doubles the map, capped at `limit`. Must run with no transaction open
 * in the process (lmdb.h, mdb_env_set_mapsize): the caller has just
 * aborted its only one. Returns STORE_EFULL when already at the limit.
 */
static int grow_map(struct store *st, size_t limit)
{
	MDB_envinfo info;
	size_t next;
	int rc;

	if (st->map_size >= limit)
		return STORE_EFULL;
	next = st->map_size > limit / 2 ? limit : st->map_size * 2;
	rc = mdb_env_set_mapsize(st->env, next);
	if (rc != 0)
		return store__err(rc);
	/* LMDB may round the size; keep what it actually uses. */
	st->map_size = mdb_env_info(st->env, &info) == 0 ? info.me_mapsize
							 : next;
	return STORE_OK;
}

/* What store_commit() and store_commit_once() check first. */
static int check_batch(const struct store *st, const struct store_op *ops,
		       size_t n, uint64_t seq)
{
	if (!st || (n > 0 && !ops))
		return STORE_EINVAL;
	/* Sequence numbers never go backwards: a subscriber resuming from
	 * `since` would otherwise miss or replay deltas. */
	if (seq < st->seq)
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (check_op(&ops[i]) != STORE_OK)
			return STORE_EINVAL;
	}
	return STORE_OK;
}

/* The map size a batch may grow to. */
static size_t grow_limit(const struct store *st, const struct store_op *ops,
			 size_t n)
{
	size_t limit = st->map_size_max;

	if (removes_only(ops, n) &&
	    limit + STORE_DELETE_RESERVE(limit) > limit)
		limit += STORE_DELETE_RESERVE(limit);
	return limit;
}

/* Checks a batch and encodes what it writes: what both commit paths do
 * before touching LMDB. */
static int prepare(struct store *st, const struct store_op *ops, size_t n,
		   uint64_t seq, struct encoded **enc)
{
	int rc = check_batch(st, ops, n, seq);

	return rc != STORE_OK ? rc : encode_all(ops, n, enc);
}

int store_commit(struct store *st, const struct store_op *ops, size_t n,
		 uint64_t seq)
{
	struct encoded *enc = NULL;
	size_t limit;
	int rc;

	rc = prepare(st, ops, n, seq, &enc);
	if (rc != STORE_OK)
		return rc;
	limit = grow_limit(st, ops, n);

	for (int growths = 0;; growths++) {
		rc = write_batch(st, ops, n, seq, enc, 1);
		if (rc != MDB_MAP_FULL)
			break;
		if (growths == STORE_MAX_GROWTHS)
			break; /* maps to STORE_EFULL below */
		rc = grow_map(st, limit);
		if (rc != STORE_OK)
			goto out;
	}
	rc = store__commit_outcome(st, store__err(rc));
	if (rc == STORE_OK)
		st->seq = seq;
out:
	encoded_free(enc, n);
	return rc;
}

int store_commit_once(struct store *st, const struct store_op *ops, size_t n,
		      uint64_t seq)
{
	struct encoded *enc = NULL;
	int rc;

	rc = prepare(st, ops, n, seq, &enc);
	if (rc != STORE_OK)
		return rc;
	rc = write_batch(st, ops, n, seq, enc, 0);
	encoded_free(enc, n);
	if (rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED)
		return STORE_EGROW;
	rc = store__commit_outcome(st, store__err(rc));
	if (rc == STORE_OK)
		st->seq = seq;
	return rc;
}

int store_grow(struct store *st, const struct store_op *ops, size_t n)
{
	size_t before;
	MDB_txn *txn;
	int rc;

	if (!st || (n > 0 && !ops))
		return STORE_EINVAL;
	/* The batch may have failed on a map another process grew: adopt
	 * that first (store__txn_begin does), and grow only if it did not. */
	before = st->map_size;
	if (store__txn_begin(st, MDB_RDONLY, &txn) == 0)
		mdb_txn_abort(txn);
	if (st->map_size > before)
		return STORE_OK;
	/* At the limit: the batch fails with STORE_EFULL, and store_state()
	 * must say full until a commit succeeds again. */
	rc = grow_map(st, grow_limit(st, ops, n));
	return rc == STORE_EFULL ? store__commit_outcome(st, rc) : rc;
}
