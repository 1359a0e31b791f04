/*
 * store.c - opening and closing the store, its health and statistics,
 * and the helpers the other store files share.
 *
 * The store is one LMDB environment in a data directory that one server
 * process owns (a flock on <dir>/server.lock keeps a second server out;
 * LMDB alone would let it in). Writes are in store_commit.c, reads in
 * store_read.c. Never includes libwebsockets; never logs: every failure
 * is a STORE_E* code.
 *
 * Thread: all calls come from one thread, the server's service thread,
 * except store_commit_once(), which may run on a writer thread (see
 * store.h). The environment is opened with MDB_NOTLS, so reader slots
 * belong to transactions, not threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_priv.h"

#define STORE_MAP_DEFAULT ((size_t)32 << 20)      /* 32 MiB */
#define STORE_MAP_MAX_DEFAULT ((size_t)1 << 30)   /* 1 GiB */

/* Only the service thread reads, one short transaction at a time; a few
 * spare slots cover tools such as mdb_stat run by an operator. */
#define STORE_MAX_READERS 16

/* store_writable reports 0 when fewer pages than this are left, counting
 * both unused map (up to the limit) and free pages: a small write needs a
 * copy of each page on its path plus free-list bookkeeping. */
#define STORE_WRITABLE_MIN_PAGES 8

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "success";
	case STORE_EINVAL:
		return "invalid argument";
	case STORE_ENOMEM:
		return "out of memory";
	case STORE_EIO:
		return "storage I/O error";
	case STORE_EFULL:
		return "store full (map at its maximum size, or disk full)";
	case STORE_ENOTFOUND:
		return "not found";
	case STORE_ECORRUPT:
		return "stored data is corrupt";
	case STORE_EVERSION:
		return "store written by a newer, incompatible version";
	case STORE_ELOCKED:
		return "data directory in use by another process";
	case STORE_EGROW:
		return "the batch does not fit the map: grow it and retry";
	default:
		return "unknown store error";
	}
}

int store__err(int rc)
{
	switch (rc) {
	case 0:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_ENOTFOUND;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		return STORE_EFULL;
	case ENOMEM:
		return STORE_ENOMEM;
	case MDB_BAD_VALSIZE:
		/* A key longer than LMDB's limit (511 bytes) or empty. */
		return STORE_EINVAL;
	case MDB_VERSION_MISMATCH:
		return STORE_EVERSION;
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return STORE_ECORRUPT;
	default:
		return STORE_EIO;
	}
}

int store__txn_begin(struct store *st, unsigned int flags, MDB_txn **txn)
{
	MDB_envinfo info;
	int rc;

	*txn = NULL;
	rc = mdb_txn_begin(st->env, NULL, flags, txn);
	if (rc != MDB_MAP_RESIZED)
		return rc;
	/* Another process grew the map past ours. We hold the directory
	 * lock, so this only happens with an operator's tool; adopting the
	 * size is what lmdb.h prescribes, with no transaction open in the
	 * process. The writer thread never comes here (store_commit_once);
	 * a read on the service thread while it commits still could, which
	 * only such a tool can cause. */
	*txn = NULL;
	rc = mdb_env_set_mapsize(st->env, 0);
	if (rc != 0)
		return rc;
	if (mdb_env_info(st->env, &info) == 0)
		st->map_size = info.me_mapsize;
	rc = mdb_txn_begin(st->env, NULL, flags, txn);
	if (rc != 0)
		*txn = NULL;
	return rc;
}

void store__be64_put(unsigned char out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t store__be64_get(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

/* Returns "<dir>/<name>" (owned) or NULL when out of memory. */
static char *path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = malloc(dl + 1 + nl + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

/* Creates the data directory 0700, or accepts an existing directory as
 * it is: its mode is the operator's choice once it exists. */
static int make_dir(const char *dir)
{
	struct stat sb;

	if (mkdir(dir, 0700) == 0)
		return STORE_OK;
	if (errno != EEXIST)
		return STORE_EIO;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return STORE_EIO;
	return STORE_OK;
}

/*
 * Takes the exclusive lock on <dir>/server.lock. LMDB itself supports
 * several processes, but two servers on one directory would each hand
 * out sequence numbers, so the second one must fail at start-up. The
 * lock is tied to the open file and dies with the process, so a crash
 * never leaves a stale lock behind.
 */
static int take_lock(struct store *st, const char *dir)
{
	char *path = path_join(dir, "server.lock");
	int rc = STORE_OK;

	if (!path)
		return STORE_ENOMEM;
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			   0600);
	if (st->lock_fd < 0)
		rc = STORE_EIO;
	else if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
		rc = errno == EWOULDBLOCK ? STORE_ELOCKED : STORE_EIO;
	free(path);
	return rc;
}

/*
 * Creates and opens the environment in the order R16 gives. The map
 * starts at the larger of the configured size and data.mdb's size: LMDB
 * itself only raises a smaller setting to the pages in use, and a map
 * smaller than the file would make the first commit fail for no reason.
 */
static int open_env(struct store *st, const struct store_opts *opts)
{
	size_t max = opts->map_size_max ? opts->map_size_max
					: STORE_MAP_MAX_DEFAULT;
	size_t size = opts->map_size ? opts->map_size : STORE_MAP_DEFAULT;
	unsigned int flags = MDB_NOTLS | (opts->no_sync ? MDB_NOSYNC : 0);
	MDB_envinfo info;
	struct stat sb;
	int dead, rc;

	if (size > max)
		size = max;
	if (stat(st->data_path, &sb) == 0) {
		if ((uint64_t)sb.st_size > size)
			size = (size_t)sb.st_size;
	} else if (errno != ENOENT) {
		return STORE_EIO;
	}

	rc = mdb_env_create(&st->env);
	if (rc != 0) {
		st->env = NULL;
		return store__err(rc);
	}
	/* From here on store_close() owns st->env, even if open fails. */
	if ((rc = mdb_env_set_maxdbs(st->env, 4)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, STORE_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, size)) != 0 ||
	    (rc = mdb_env_open(st->env, opts->dir, flags, 0600)) != 0 ||
	    (rc = mdb_reader_check(st->env, &dead)) != 0 ||
	    (rc = mdb_env_info(st->env, &info)) != 0)
		return store__err(rc);

	/* The map may start above the limit (a file grown by a removes-only
	 * batch, or a lowered limit): then only free pages take new data. */
	st->map_size = info.me_mapsize;
	st->map_size_max = max;
	return STORE_OK;
}

/*
 * Opens the three databases once, in one write transaction, and checks
 * or writes the format version; reads the last sequence number. The dbi
 * handles stay valid for the life of the environment.
 */
static int open_dbis(struct store *st)
{
	unsigned char fmt[4] = { 0, 0, 0, STORE_FORMAT };
	MDB_val k, v;
	MDB_txn *txn;
	int rc;

	rc = store__txn_begin(st, 0, &txn);
	if (rc != 0)
		return store__err(rc);
	if ((rc = mdb_dbi_open(txn, "races", MDB_CREATE, &st->races)) != 0 ||
	    (rc = mdb_dbi_open(txn, "deltas", MDB_CREATE, &st->deltas)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "history", MDB_CREATE, &st->history)) != 0) {
		rc = store__err(rc);
		goto abort;
	}

	k.mv_data = STORE_META_FORMAT;
	k.mv_size = strlen(STORE_META_FORMAT);
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		/* A fresh store: stamp it with our format. */
		v.mv_data = fmt;
		v.mv_size = sizeof fmt;
		rc = mdb_put(txn, st->meta, &k, &v, 0);
		if (rc != 0) {
			rc = store__err(rc);
			goto abort;
		}
	} else if (rc != 0) {
		rc = store__err(rc);
		goto abort;
	} else {
		const unsigned char *b = v.mv_data;
		uint32_t ver;

		if (v.mv_size != 4) {
			rc = STORE_ECORRUPT;
			goto abort;
		}
		ver = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		      (uint32_t)b[2] << 8 | b[3];
		if (ver > STORE_FORMAT) {
			rc = STORE_EVERSION;
			goto abort;
		}
		if (ver == 0) {
			rc = STORE_ECORRUPT;
			goto abort;
		}
	}

	k.mv_data = STORE_META_SEQ;
	k.mv_size = strlen(STORE_META_SEQ);
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		st->seq = store__be64_get(v.mv_data);
	} else if (rc == 0) {
		rc = STORE_ECORRUPT;
		goto abort;
	} else if (rc != MDB_NOTFOUND) {
		rc = store__err(rc);
		goto abort;
	}

	/* mdb_txn_commit frees the transaction even when it fails. */
	return store__err(mdb_txn_commit(txn));
abort:
	mdb_txn_abort(txn);
	return rc;
}

int store_open(const struct store_opts *opts, struct store **out)
{
	struct store *st = NULL;
	int rc;

	if (!out)
		return STORE_EINVAL;
	*out = NULL;
	if (!opts || !opts->dir || !opts->dir[0])
		return STORE_EINVAL;

	st = calloc(1, sizeof *st);
	if (!st)
		return STORE_ENOMEM;
	st->lock_fd = -1;

	rc = make_dir(opts->dir);
	if (rc != STORE_OK)
		goto fail;
	rc = take_lock(st, opts->dir);
	if (rc != STORE_OK)
		goto fail;
	st->data_path = path_join(opts->dir, "data.mdb");
	if (!st->data_path) {
		rc = STORE_ENOMEM;
		goto fail;
	}
	rc = open_env(st, opts);
	if (rc != STORE_OK)
		goto fail;
	rc = open_dbis(st);
	if (rc != STORE_OK)
		goto fail;

	*out = st;
	return STORE_OK;
fail:
	/* store_close frees a half-built store: every member is NULL-safe. */
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	/* Release the directory only after LMDB has let go of its files. */
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->data_path);
	free(st);
}

uint64_t store_seq(const struct store *st)
{
	return st ? st->seq : 0;
}

int store_stats(struct store *st, struct store_stats *out)
{
	struct store_stats s = { 0 };
	MDB_stat es, rs, ds;
	MDB_envinfo info;
	MDB_txn *txn;
	struct stat sb;
	int rc;

	if (!st || !out)
		return STORE_EINVAL;
	if (mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &es) != 0)
		return STORE_EIO;
	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return STORE_EIO;
	rc = mdb_stat(txn, st->races, &rs);
	if (rc == 0)
		rc = mdb_stat(txn, st->deltas, &ds);
	mdb_txn_abort(txn);
	if (rc != 0)
		return STORE_EIO;
	if (stat(st->data_path, &sb) != 0)
		return STORE_EIO;

	s.races = rs.ms_entries;
	s.deltas = ds.ms_entries;
	s.map_size = info.me_mapsize;
	s.map_size_max = st->map_size_max;
	s.map_used = (info.me_last_pgno + 1) * es.ms_psize;
	s.file_size = (uint64_t)sb.st_size;
	*out = s;
	return STORE_OK;
}

/*
 * Counts the pages on LMDB's free list (what mdb_stat -f prints). Each
 * value of the free DB (dbi 0) is an ID list whose first word is its
 * length; LMDB opens a cursor on it only in a read-only transaction.
 * With one process and no other reader, all of them can be reused by
 * the next write.
 */
static int count_free_pages(struct store *st, size_t *pages)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	size_t n = 0, len;
	int rc;

	rc = store__txn_begin(st, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, 0, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (v.mv_size < sizeof len)
			continue;
		/* memcpy: LMDB only aligns node data to 2 bytes. */
		memcpy(&len, v.mv_data, sizeof len);
		n += len;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		return rc;
	*pages = n;
	return 0;
}

int store_writable(struct store *st)
{
	MDB_envinfo info;
	MDB_stat es;
	size_t used, room, free_pages = 0;

	if (!st)
		return 0;
	/* Only read transactions: a write transaction here would wait for a
	 * commit (and its fsync) on the core's writer thread, and stall the
	 * service thread that asked (/health, /metrics). A failing commit
	 * shows in the replies and in /metrics' commit counters instead. */
	if (count_free_pages(st, &free_pages) != 0 ||
	    mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &es) != 0)
		return 0;

	used = (info.me_last_pgno + 1) * es.ms_psize;
	room = st->map_size_max > used ? st->map_size_max - used : 0;
	room += free_pages * es.ms_psize;
	return room >= (size_t)STORE_WRITABLE_MIN_PAGES * es.ms_psize;
}

/* A commit that LMDB failed with EIO after a short write: the file system
 * it writes to has (nearly) no space left. */
static int disk_full(const struct store *st)
{
	struct statvfs vf;

	return st->data_path && statvfs(st->data_path, &vf) == 0 &&
	       (unsigned long long)vf.f_bavail * vf.f_frsize <
		       (unsigned long long)STORE_WRITABLE_MIN_PAGES * 4096 * 16;
}

int store__commit_outcome(struct store *st, int rc)
{
	if (rc == STORE_EIO && disk_full(st))
		rc = STORE_EFULL;
	if (rc == STORE_OK || rc == STORE_EFULL || rc == STORE_EIO)
		atomic_store(&st->last_commit, rc);
	return rc;
}

enum store_state store_state(struct store *st)
{
	int last;

	if (!st)
		return STORE_STATE_UNAVAILABLE;
	last = atomic_load(&st->last_commit);
	if (last == STORE_EFULL || !store_writable(st))
		return STORE_STATE_FULL;
	return last == STORE_EIO ? STORE_STATE_UNAVAILABLE : STORE_STATE_OK;
}

const char *store_state_name(enum store_state s)
{
	switch (s) {
	case STORE_STATE_OK:
		return "ok";
	case STORE_STATE_FULL:
		return "full";
	default:
		return "unavailable";
	}
}
