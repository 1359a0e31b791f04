/*
 * store_read.c - reading races and the delta log back.
 *
 * Every read is one short read-only transaction, ended before returning.
 * LMDB values point into the map and die with the transaction (R6), so
 * records are decoded into owned races while it is open, and deltas are
 * handed to the callback only for the duration of the call.
 *
 * Callbacks run inside the read transaction: they must not call back
 * into the store (a commit could resize the map under the open reader).
 * Never includes libwebsockets; never logs. Thread: the service thread.
 */
#include <string.h>

#include "json.h"
#include "record.h"
#include "store_priv.h"

int store__decode_record(const MDB_val *k, const MDB_val *v,
			 struct proto_race **out)
{
	struct proto_race *r = NULL;
	int rc;

	*out = NULL;
	rc = proto_record_decode(v->mv_data, v->mv_size, &r);
	if (rc == PROTO_ENOMEM)
		return STORE_ENOMEM;
	if (rc != PROTO_OK || !r)
		return STORE_ECORRUPT;
	if (!r->id || strlen(r->id) != k->mv_size ||
	    memcmp(r->id, k->mv_data, k->mv_size) != 0) {
		proto_race_free(r);
		return STORE_ECORRUPT;
	}
	*out = r;
	return STORE_OK;
}

/*
 * Walks every key of `dbi` in order inside one read transaction, calling
 * visit(ctx, key, value) until it returns non-zero, which is returned.
 * The values die with the transaction (R6): visit must copy or decode.
 */
static int walk(struct store *st, MDB_dbi dbi,
		int (*visit)(void *ctx, const MDB_val *k, const MDB_val *v),
		void *ctx)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret = STORE_OK;

	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return store__err(rc);
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store__err(rc);
	}
	/* MDB_NEXT on a fresh cursor starts at the first key. */
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		ret = visit(ctx, &k, &v);
		if (ret != 0)
			break;
	}
	if (ret == STORE_OK && rc != MDB_NOTFOUND)
		ret = store__err(rc);
	/* A read cursor is not freed with its transaction: close it first. */
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int store_get_race(struct store *st, const char *id, struct proto_race **out)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (out)
		*out = NULL;
	if (!st || !id || !id[0] || !out)
		return STORE_EINVAL;
	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return store__err(rc);
	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	rc = mdb_get(txn, st->races, &k, &v);
	if (rc == 0)
		rc = store__decode_record(&k, &v, out);
	else
		rc = store__err(rc);
	mdb_txn_abort(txn);
	return rc;
}

int store_deltas_since(struct store *st, uint64_t since, uint64_t *first,
		       int (*cb)(void *ctx, uint64_t seq, const char *data,
				 size_t len),
		       void *ctx)
{
	unsigned char key[8];
	uint64_t lowest = 0;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret = STORE_OK, stopped = 0;

	if (!st || !cb)
		return STORE_EINVAL;
	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return store__err(rc);
	rc = mdb_cursor_open(txn, st->deltas, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store__err(rc);
	}

	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size != 8) {
		ret = STORE_ECORRUPT;
		goto out;
	}
	if (rc == 0)
		lowest = store__be64_get(k.mv_data);
	else if (rc != MDB_NOTFOUND)
		goto out;
	if (rc == MDB_NOTFOUND || since == UINT64_MAX) {
		rc = MDB_NOTFOUND; /* nothing can follow `since` */
		goto out;
	}

	store__be64_put(key, since + 1);
	k.mv_data = key;
	k.mv_size = sizeof key;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			ret = STORE_ECORRUPT;
			goto out;
		}
		ret = cb(ctx, store__be64_get(k.mv_data), v.mv_data,
			 v.mv_size);
		if (ret != 0) {
			stopped = 1;
			goto out;
		}
	}
out:
	if (ret == STORE_OK && rc != 0 && rc != MDB_NOTFOUND)
		ret = store__err(rc);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	/* *first is set only when the walk was not cut short by an error. */
	if (first && (ret == STORE_OK || stopped))
		*first = lowest;
	return ret;
}

struct history_visit {
	int (*cb)(void *ctx, const char *key, const void *data, size_t len);
	void *ctx;
};

static int visit_history(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct history_visit *hv = arg;
	char key[2048];

	if (k->mv_size >= sizeof(key))
		return 0; /* longer than any key the server writes */
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	return hv->cb(hv->ctx, key, v->mv_data, v->mv_size);
}

int store_load_history(struct store *st,
		       int (*cb)(void *ctx, const char *key, const void *data,
				 size_t len),
		       void *ctx)
{
	struct history_visit hv = {cb, ctx};

	if (!st || !cb)
		return STORE_EINVAL;
	return walk(st, st->history, visit_history, &hv);
}
