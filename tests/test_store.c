/*
 * test_store.c - behaviour of the LMDB store (store/store.h).
 *
 * Each test runs in its own process (Criterion) with its own mkdtemp
 * directory and its own store, opened in the test body, never before a
 * fork. The tests poke at the files directly with LMDB where they need
 * a state the API cannot produce (a newer format, a corrupt record).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "record.h"
#include "store.h"

#define NOW 1700000000000LL

/* Per-test state; each test is its own process, so statics are fresh. */
static char tmp_root[64];
static char data_dir[128];
static struct store *st;

/* mtest.c style: abort with the LMDB message on an unexpected code. */
#define MDB_CHECK(expr) do { \
	int mdb_check_rc_ = (expr); \
	cr_assert_eq(mdb_check_rc_, 0, "%s: %s", #expr, \
		     mdb_strerror(mdb_check_rc_)); \
} while (0)

#define STORE_CHECK(expr) do { \
	int store_check_rc_ = (expr); \
	cr_assert_eq(store_check_rc_, STORE_OK, "%s: %s", #expr, \
		     store_strerror(store_check_rc_)); \
} while (0)

/* Removes a directory and the plain files in it (all a store makes). */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d) {
		remove(dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) <
		    (int)sizeof path)
			remove(path);
	}
	closedir(d);
	rmdir(dir);
}

static void setup(void)
{
	strcpy(tmp_root, "/tmp/rb-store-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_root));
	snprintf(data_dir, sizeof data_dir, "%s/data", tmp_root);
	st = NULL;
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	rm_dir(data_dir);
	rm_dir(tmp_root);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static int open_sized(size_t map_size, size_t map_size_max)
{
	struct store_opts o = {
		.dir = data_dir,
		.map_size = map_size,
		.map_size_max = map_size_max,
		.no_sync = 1,
	};

	return store_open(&o, &st);
}

static void open_default(void)
{
	STORE_CHECK(open_sized(0, 0));
}

static void reopen(void)
{
	store_close(st);
	st = NULL;
	open_default();
}

static struct proto_race *make_race(const char *id, const char *title)
{
	struct proto_race_update u = {
		.set = PROTO_F_SOURCE | PROTO_F_TITLE,
		.source = (char *)"cmd",
		.title = (char *)title,
	};
	struct proto_race *r;
	int err = 0;

	r = proto_race_create(&u, id, NOW, &err);
	cr_assert_not_null(r, "proto_race_create(%s): %d", id, err);
	return r;
}

/* The race as the API shows it, as a malloc'd string. */
static char *race_json(const struct proto_race *r)
{
	json_object *o = proto_json_race(r);
	char *s;

	cr_assert_not_null(o);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	cr_assert_not_null(s);
	return s;
}

static void assert_same_race(const struct proto_race *a,
			     const struct proto_race *b)
{
	char *ja = race_json(a), *jb = race_json(b);

	cr_assert_str_eq(ja, jb);
	free(ja);
	free(jb);
}

/* Commits one race (created from id and title) at `seq`. */
static int put_race(const char *id, const char *title, uint64_t seq)
{
	struct proto_race *r = make_race(id, title);
	struct store_op op = { .kind = STORE_OP_PUT_RACE, .race = r };
	int rc = store_commit(st, &op, 1, seq);

	proto_race_free(r);
	return rc;
}

static int put_delta(uint64_t seq, const char *text)
{
	struct store_op op = {
		.kind = STORE_OP_PUT_DELTA,
		.seq = seq,
		.data = text,
		.len = strlen(text),
	};

	return store_commit(st, &op, 1, seq);
}

static void assert_absent(const char *id)
{
	struct proto_race *r = (struct proto_race *)&r;

	cr_assert_eq(store_get_race(st, id, &r), STORE_ENOTFOUND, "%s", id);
	cr_assert_null(r);
}

static void assert_present(const char *id)
{
	struct proto_race *r = NULL;

	STORE_CHECK(store_get_race(st, id, &r));
	cr_assert_str_eq(r->id, id);
	proto_race_free(r);
}

/* Collects what store_load_races hands out. */
struct race_list {
	struct proto_race *r[64];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect_race(void *ctx, struct proto_race *race)
{
	struct race_list *l = ctx;

	cr_assert_lt(l->n, 64);
	l->r[l->n++] = race;
	return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

static void race_list_fini(struct race_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		proto_race_free(l->r[i]);
	l->n = 0;
}

/* Collects what store_deltas_since hands out. */
struct delta_list {
	uint64_t seq[64];
	char text[64][32];
	size_t n;
	size_t stop_after;
};

static int collect_delta(void *ctx, uint64_t seq, const char *data,
			 size_t len)
{
	struct delta_list *l = ctx;

	cr_assert_lt(l->n, 64);
	cr_assert_lt(len, sizeof l->text[0]);
	l->seq[l->n] = seq;
	memcpy(l->text[l->n], data, len);
	l->text[l->n][len] = '\0';
	l->n++;
	return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

/* Opens the environment behind the store's back (store closed). */
static MDB_env *raw_env_open(void)
{
	MDB_env *env;

	MDB_CHECK(mdb_env_create(&env));
	MDB_CHECK(mdb_env_set_maxdbs(env, 3));
	MDB_CHECK(mdb_env_open(env, data_dir, 0, 0600));
	return env;
}

static void raw_put(const char *db, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	MDB_env *env = raw_env_open();
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };

	MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
	MDB_CHECK(mdb_dbi_open(txn, db, 0, &dbi));
	MDB_CHECK(mdb_put(txn, dbi, &k, &v, 0));
	MDB_CHECK(mdb_txn_commit(txn));
	mdb_env_close(env);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	return sb.st_mode & 07777;
}

Test(store, open_creates_private_dir_and_files)
{
	open_default();
	cr_assert_eq(mode_of(tmp_root, "data"), 0700);
	cr_assert_eq(mode_of(data_dir, "data.mdb"), 0600);
	cr_assert_eq(mode_of(data_dir, "lock.mdb"), 0600);
	cr_assert_eq(mode_of(data_dir, "server.lock"), 0600);
	cr_assert_eq(store_seq(st), 0);
}

Test(store, open_rejects_bad_arguments)
{
	struct store_opts none = { .dir = NULL };
	struct store_opts empty = { .dir = "" };
	struct store *s = (struct store *)&s;

	cr_assert_eq(store_open(NULL, &s), STORE_EINVAL);
	cr_assert_null(s);
	cr_assert_eq(store_open(&none, &s), STORE_EINVAL);
	cr_assert_eq(store_open(&empty, &s), STORE_EINVAL);
	cr_assert_null(s);
}

Test(store, open_on_a_regular_file_is_eio)
{
	struct store_opts o = { .dir = data_dir };
	struct store *s = (struct store *)&s;
	int fd = open(data_dir, O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(store_open(&o, &s), STORE_EIO);
	cr_assert_null(s);
}

Test(store, close_null_is_a_noop)
{
	store_close(NULL);
}

Test(store, strerror_covers_every_code)
{
	static const int codes[] = {
		STORE_OK, STORE_EINVAL, STORE_ENOMEM, STORE_EIO, STORE_EFULL,
		STORE_ENOTFOUND, STORE_ECORRUPT, STORE_EVERSION,
		STORE_ELOCKED,
	};
	const char *unknown = store_strerror(-1000);

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *s = store_strerror(codes[i]);

		cr_assert_not_null(s);
		cr_assert_str_neq(s, unknown, "code %d", codes[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(s, store_strerror(codes[j]));
	}
}

Test(store, reopen_keeps_races_and_seq)
{
	struct proto_race *before = make_race("r1", "build"), *after = NULL;
	struct store_op op = { .kind = STORE_OP_PUT_RACE, .race = before };

	open_default();
	STORE_CHECK(store_commit(st, &op, 1, 5));
	reopen();
	cr_assert_eq(store_seq(st), 5);
	STORE_CHECK(store_get_race(st, "r1", &after));
	assert_same_race(before, after);
	proto_race_free(before);
	proto_race_free(after);
}

Test(store, commit_applies_ops_in_order)
{
	struct proto_race *a = make_race("a", "A"), *b = make_race("b", "B");
	struct store_op ops[] = {
		{ .kind = STORE_OP_PUT_RACE, .race = a },
		{ .kind = STORE_OP_PUT_RACE, .race = b },
		{ .kind = STORE_OP_DEL_RACE, .id = "a" },
		{ .kind = STORE_OP_DEL_RACE, .id = "never-existed" },
	};

	open_default();
	STORE_CHECK(store_commit(st, ops, 4, 1));
	assert_absent("a");
	assert_present("b");
	cr_assert_eq(store_seq(st), 1);
	proto_race_free(a);
	proto_race_free(b);
}

Test(store, commit_with_an_invalid_op_writes_nothing)
{
	struct proto_race *a = make_race("a", "A");
	struct store_op ops[] = {
		{ .kind = STORE_OP_PUT_RACE, .race = a },
		{ .kind = STORE_OP_PUT_DELTA, .seq = 3, .data = "{}", .len = 2 },
		{ .kind = STORE_OP_DEL_RACE, .id = NULL },
	};
	struct delta_list dl = { .n = 0 };

	open_default();
	cr_assert_eq(store_commit(st, ops, 3, 3), STORE_EINVAL);
	assert_absent("a");
	cr_assert_eq(store_seq(st), 0);
	STORE_CHECK(store_deltas_since(st, 0, NULL, collect_delta, &dl));
	cr_assert_eq(dl.n, 0);
	cr_assert_eq(store_commit(st, NULL, 1, 3), STORE_EINVAL);
	cr_assert_eq(store_commit(NULL, ops, 1, 3), STORE_EINVAL);
	proto_race_free(a);
}

Test(store, commit_with_a_lower_seq_writes_nothing)
{
	struct proto_race *a = make_race("a", "A");
	struct store_op op = { .kind = STORE_OP_PUT_RACE, .race = a };

	open_default();
	STORE_CHECK(put_race("b", "B", 10));
	cr_assert_eq(store_commit(st, &op, 1, 9), STORE_EINVAL);
	assert_absent("a");
	cr_assert_eq(store_seq(st), 10);
	/* The same seq again is fine: a batch may add no delta. */
	STORE_CHECK(store_commit(st, &op, 1, 10));
	assert_present("a");
	proto_race_free(a);
}

Test(store, seq_survives_reopen_and_never_goes_backwards)
{
	open_default();
	STORE_CHECK(store_commit(st, NULL, 0, 41));
	STORE_CHECK(store_commit(st, NULL, 0, 42));
	reopen();
	cr_assert_eq(store_seq(st), 42);
	cr_assert_eq(store_commit(st, NULL, 0, 7), STORE_EINVAL);
	cr_assert_eq(store_seq(st), 42);
	reopen();
	cr_assert_eq(store_seq(st), 42);
}

Test(store, deltas_since_returns_later_deltas_in_order)
{
	struct delta_list dl = { .n = 0 };
	uint64_t first = 99;
	char text[16];

	open_default();
	STORE_CHECK(store_deltas_since(st, 0, &first, collect_delta, &dl));
	cr_assert_eq(first, 0);
	cr_assert_eq(dl.n, 0);

	/* Seqs that straddle a byte boundary prove the keys sort
	 * numerically, not as little-endian bytes would. */
	for (uint64_t s = 250; s <= 260; s++) {
		snprintf(text, sizeof text, "d%llu", (unsigned long long)s);
		STORE_CHECK(put_delta(s, text));
	}
	STORE_CHECK(store_deltas_since(st, 254, &first, collect_delta, &dl));
	cr_assert_eq(first, 250);
	cr_assert_eq(dl.n, 6);
	for (size_t i = 0; i < dl.n; i++) {
		snprintf(text, sizeof text, "d%zu", 255 + i);
		cr_assert_eq(dl.seq[i], 255 + i);
		cr_assert_str_eq(dl.text[i], text);
	}

	dl.n = 0;
	STORE_CHECK(store_deltas_since(st, 260, &first, collect_delta, &dl));
	cr_assert_eq(dl.n, 0);
	STORE_CHECK(store_deltas_since(st, UINT64_MAX, NULL, collect_delta,
				       &dl));
	cr_assert_eq(dl.n, 0);
	STORE_CHECK(store_deltas_since(st, 0, NULL, collect_delta, &dl));
	cr_assert_eq(dl.n, 11);
}

Test(store, deltas_since_stops_when_the_callback_says_so)
{
	struct delta_list dl = { .n = 0, .stop_after = 2 };

	open_default();
	for (uint64_t s = 1; s <= 5; s++)
		STORE_CHECK(put_delta(s, "x"));
	cr_assert_eq(store_deltas_since(st, 0, NULL, collect_delta, &dl), 7);
	cr_assert_eq(dl.n, 2);
}

Test(store, trim_drops_old_deltas)
{
	struct store_op trim = { .kind = STORE_OP_TRIM_DELTAS, .seq = 4 };
	struct delta_list dl = { .n = 0 };
	uint64_t first = 0;

	open_default();
	for (uint64_t s = 1; s <= 6; s++)
		STORE_CHECK(put_delta(s, "x"));
	STORE_CHECK(store_commit(st, &trim, 1, 6));
	STORE_CHECK(store_deltas_since(st, 0, &first, collect_delta, &dl));
	cr_assert_eq(first, 4);
	cr_assert_eq(dl.n, 3);
	cr_assert_eq(dl.seq[0], 4);
	cr_assert_eq(dl.seq[2], 6);

	trim.seq = 100;
	STORE_CHECK(store_commit(st, &trim, 1, 6));
	dl.n = 0;
	STORE_CHECK(store_deltas_since(st, 0, &first, collect_delta, &dl));
	cr_assert_eq(first, 0);
	cr_assert_eq(dl.n, 0);
}

Test(store, load_races_returns_all_races_in_id_order)
{
	static const char *ids[] = { "c", "a", "b:2", "b:10" };
	static const char *sorted[] = { "a", "b:10", "b:2", "c" };
	struct proto_race *r[4];
	struct store_op ops[4];
	struct race_list rl = { .n = 0 };

	open_default();
	for (size_t i = 0; i < 4; i++) {
		r[i] = make_race(ids[i], ids[i]);
		ops[i] = (struct store_op){ .kind = STORE_OP_PUT_RACE,
					    .race = r[i] };
	}
	STORE_CHECK(store_commit(st, ops, 4, 1));
	reopen();
	STORE_CHECK(store_load_races(st, collect_race, &rl));
	cr_assert_eq(rl.n, 4);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_str_eq(rl.r[i]->id, sorted[i]);
		for (size_t j = 0; j < 4; j++) {
			if (strcmp(ids[j], sorted[i]) == 0)
				assert_same_race(rl.r[i], r[j]);
		}
	}
	race_list_fini(&rl);

	rl.stop_after = 2;
	cr_assert_eq(store_load_races(st, collect_race, &rl), 42);
	cr_assert_eq(rl.n, 2);
	race_list_fini(&rl);
	for (size_t i = 0; i < 4; i++)
		proto_race_free(r[i]);
}

Test(store, get_race_of_unknown_id_is_enotfound)
{
	struct proto_race *r = NULL;

	open_default();
	assert_absent("nope");
	cr_assert_eq(store_get_race(st, "", &r), STORE_EINVAL);
	cr_assert_eq(store_get_race(st, NULL, &r), STORE_EINVAL);
}

/*
 * Forks before anything is opened in this process; the child waits
 * until the parent holds the store, then tries to open it, and exits
 * with 0 when store_open returned `expect`.
 */
static pid_t spawn_opener(int expect, int *go_fd)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct store_opts o = { .dir = data_dir, .no_sync = 1 };
		struct store *s = NULL;
		char c;
		int rc;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		rc = store_open(&o, &s);
		store_close(s);
		_exit(rc == expect ? 0 : 1);
	}
	close(p[0]);
	*go_fd = p[1];
	return pid;
}

static void release_and_reap(pid_t pid, int go_fd)
{
	int status;

	cr_assert_eq(write(go_fd, "g", 1), 1);
	close(go_fd);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0);
}

Test(store, second_process_gets_elocked)
{
	int go1, go2;
	pid_t locked = spawn_opener(STORE_ELOCKED, &go1);
	pid_t later = spawn_opener(STORE_OK, &go2);

	open_default();
	release_and_reap(locked, go1);
	store_close(st);
	st = NULL;
	/* The lock dies with the store: the next process gets in. */
	release_and_reap(later, go2);
}

Test(store, second_open_in_the_same_process_gets_elocked)
{
	struct store_opts o = { .dir = data_dir };
	struct store *s = (struct store *)&s;

	open_default();
	cr_assert_eq(store_open(&o, &s), STORE_ELOCKED);
	cr_assert_null(s);
}

/* A title long enough that a few hundred races fill a small map. */
static void long_title(char *buf, size_t len, size_t i)
{
	memset(buf, 'a' + (int)(i % 26), len - 1);
	buf[len - 1] = '\0';
}

Test(store, map_grows_when_full)
{
	struct store_stats s;
	struct race_list rl = { .n = 0 };
	char id[32], title[1000];
	size_t n = 0;

	STORE_CHECK(open_sized(256 << 10, 64 << 20));
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.map_size, 256 << 10);
	/* Batches of 50 races of ~1 KB: about 2 MB in all. */
	for (int batch = 0; batch < 40; batch++) {
		struct proto_race *r[50];
		struct store_op ops[50];

		for (size_t i = 0; i < 50; i++, n++) {
			snprintf(id, sizeof id, "race-%05zu", n);
			long_title(title, sizeof title, n);
			r[i] = make_race(id, title);
			ops[i] = (struct store_op){ .kind = STORE_OP_PUT_RACE,
						    .race = r[i] };
		}
		STORE_CHECK(store_commit(st, ops, 50, (uint64_t)batch + 1));
		for (size_t i = 0; i < 50; i++)
			proto_race_free(r[i]);
	}
	STORE_CHECK(store_stats(st, &s));
	cr_assert_gt(s.map_size, 256 << 10);
	cr_assert_leq(s.map_size, 64 << 20);
	cr_assert_eq(s.races, n);
	cr_assert_gt(s.map_used, 2 << 20);
	cr_assert_eq(store_writable(st), 1);

	/* The grown map survives a reopen with the small setting. */
	reopen();
	cr_assert_eq(store_seq(st), 40);
	rl.stop_after = 50;
	cr_assert_eq(store_load_races(st, collect_race, &rl), 42);
	race_list_fini(&rl);
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.races, n);
}

/*
 * The writer thread's path: pre-encoded records (PUT_RECORD), one
 * attempt that never remaps (STORE_EGROW, nothing written), the growth
 * done by the caller, then the same batch again.
 */
Test(store, commit_once_asks_for_growth_and_writes_nothing_until_then)
{
	struct store_stats s;
	struct proto_race *r[50], *back = NULL;
	struct store_op ops[50];
	char id[50][32], title[1000], *want, *got;
	uint64_t seq = 0;
	int rc = STORE_OK, grown = 0;

	STORE_CHECK(open_sized(256 << 10, 64 << 20));
	while (!grown) {
		for (size_t i = 0; i < 50; i++) {
			snprintf(id[i], sizeof id[i], "race-%05zu",
				 (size_t)seq * 50 + i);
			long_title(title, sizeof title, i);
			r[i] = make_race(id[i], title);
			ops[i] = (struct store_op){ .kind = STORE_OP_PUT_RECORD,
						    .id = id[i] };
			cr_assert_eq(proto_record_encode(r[i],
				     (char **)&ops[i].data, &ops[i].len),
				     PROTO_OK);
		}
		rc = store_commit_once(st, ops, 50, seq + 1);
		if (rc == STORE_EGROW) {
			cr_assert_eq(store_seq(st), seq, "nothing written");
			assert_absent(id[0]);
			STORE_CHECK(store_grow(st, ops, 50));
			grown = 1;
			rc = store_commit_once(st, ops, 50, seq + 1);
		}
		STORE_CHECK(rc);
		seq++;
		cr_assert_eq(store_seq(st), seq);
		STORE_CHECK(store_get_race(st, id[49], &back));
		want = race_json(r[49]);
		got = race_json(back);
		cr_assert_str_eq(got, want);
		free(want);
		free(got);
		proto_race_free(back);
		for (size_t i = 0; i < 50; i++) {
			free((char *)ops[i].data);
			proto_race_free(r[i]);
		}
		cr_assert_lt(seq, 100, "a 256 KiB map never filled up");
	}
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.map_size, 512 << 10, "one doubling");
	cr_assert_eq(s.races, seq * 50);
}

/*
 * Another process (an operator's LMDB tool) grows the map and fills it
 * past this process's size. The writer thread's attempt may not adopt
 * the new size (that remaps, which LMDB allows only with no transaction
 * open anywhere in the process): it asks for growth, and store_grow(),
 * on the reading thread, adopts the size instead of doubling its own.
 */
Test(store, a_map_grown_by_another_process_is_adopted_by_store_grow)
{
	static char big[1 << 20];
	struct store_stats s;
	struct proto_race *r = make_race("after", "T");
	struct store_op op = { .kind = STORE_OP_PUT_RACE, .race = r };
	pid_t pid;
	int status;

	STORE_CHECK(open_sized(256 << 10, 64 << 20));
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k = { 7, "scratch" }, v = { sizeof big, big };

		_exit(mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
		      mdb_env_set_mapsize(env, 8 << 20) ||
		      mdb_env_open(env, data_dir, 0, 0600) ||
		      mdb_txn_begin(env, NULL, 0, &txn) ||
		      mdb_dbi_open(txn, "meta", 0, &dbi) ||
		      mdb_put(txn, dbi, &k, &v, 0) || mdb_txn_commit(txn));
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the other process could not grow the map");
	cr_assert_eq(store_commit_once(st, &op, 1, 1), STORE_EGROW);
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.map_size, 256 << 10, "nothing remapped yet");
	STORE_CHECK(store_grow(st, &op, 1));
	STORE_CHECK(store_stats(st, &s));
	cr_assert_geq(s.map_size, (size_t)8 << 20, "adopted, not doubled");
	STORE_CHECK(store_commit_once(st, &op, 1, 1));
	assert_present("after");
	proto_race_free(r);
}

Test(store, map_at_its_limit_gives_efull_and_keeps_data)
{
	struct store_stats s;
	char id[32], title[1000];
	uint64_t seq = 0;
	size_t n = 0;
	int rc;

	STORE_CHECK(open_sized(256 << 10, 256 << 10));
	for (;;) {
		snprintf(id, sizeof id, "race-%05zu", n);
		long_title(title, sizeof title, n);
		rc = put_race(id, title, seq + 1);
		if (rc != STORE_OK)
			break;
		n++;
		seq++;
		cr_assert_lt(n, 1000, "a 256 KiB map cannot hold 1 MB");
	}
	cr_assert_eq(rc, STORE_EFULL);
	cr_assert_gt(n, 10);
	/* Nothing of the failed batch, everything before it. */
	cr_assert_eq(store_seq(st), seq);
	assert_absent(id);
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.races, n);
	cr_assert_eq(s.map_size, 256 << 10);
	assert_present("race-00000");
	snprintf(id, sizeof id, "race-%05zu", n - 1);
	assert_present(id);
	/* Failing again changes nothing either. */
	snprintf(id, sizeof id, "race-%05zu", n);
	cr_assert_eq(put_race(id, title, seq + 1), STORE_EFULL);
	cr_assert_eq(store_seq(st), seq);

	/* A larger limit lets writes resume, with all the data there. */
	store_close(st);
	st = NULL;
	STORE_CHECK(open_sized(256 << 10, 4 << 20));
	cr_assert_eq(store_seq(st), seq);
	STORE_CHECK(put_race(id, title, seq + 1));
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.races, n + 1);
	cr_assert_gt(s.map_size, 256 << 10);
}

Test(store, writable_is_0_when_the_map_cannot_grow)
{
	char id[32], title[1000];
	uint64_t seq = 0;

	STORE_CHECK(open_sized(256 << 10, 256 << 10));
	cr_assert_eq(store_writable(st), 1);
	for (size_t n = 0;; n++) {
		snprintf(id, sizeof id, "race-%05zu", n);
		long_title(title, sizeof title, n);
		if (put_race(id, title, seq + 1) != STORE_OK)
			break;
		seq++;
	}
	/* The next 1 KB write failed; a health check must not claim room
	 * it cannot prove, whatever the free list holds. */
	if (store_writable(st) == 1) {
		snprintf(id, sizeof id, "small");
		cr_assert_eq(put_race(id, "t", seq + 1), STORE_OK,
			     "writable said 1 but a small write failed");
	}
	cr_assert_eq(store_writable(NULL), 0);
}

Test(store, deleting_races_at_the_limit_lets_writes_resume)
{
	char id[32], title[1000];
	struct store_op del[8];
	char ids[8][32];
	uint64_t seq = 0;
	size_t n = 0;

	STORE_CHECK(open_sized(256 << 10, 256 << 10));
	for (;; n++) {
		snprintf(id, sizeof id, "race-%05zu", n);
		long_title(title, sizeof title, n);
		if (put_race(id, title, seq + 1) != STORE_OK)
			break;
		seq++;
	}
	for (size_t i = 0; i < 8; i++) {
		snprintf(ids[i], sizeof ids[i], "race-%05zu", i);
		del[i] = (struct store_op){ .kind = STORE_OP_DEL_RACE,
					    .id = ids[i] };
	}
	STORE_CHECK(store_commit(st, del, 8, seq));
	snprintf(id, sizeof id, "race-%05zu", n);
	STORE_CHECK(put_race(id, title, seq + 1));
	assert_present(id);
	assert_absent("race-00000");
}

Test(store, newer_format_is_eversion)
{
	static const unsigned char v2[4] = { 0, 0, 0, 2 };
	struct store *s = (struct store *)&s;
	struct store_opts o = { .dir = data_dir };

	open_default();
	store_close(st);
	st = NULL;
	raw_put("meta", "format", 6, v2, sizeof v2);
	cr_assert_eq(store_open(&o, &s), STORE_EVERSION);
	cr_assert_null(s);
}

Test(store, corrupt_record_is_ecorrupt)
{
	struct race_list rl = { .n = 0 };
	struct proto_race *r = NULL;

	open_default();
	STORE_CHECK(put_race("a", "A", 1));
	store_close(st);
	st = NULL;
	raw_put("races", "b", 1, "{not json", 9);
	open_default();
	cr_assert_eq(store_load_races(st, collect_race, &rl), STORE_ECORRUPT);
	/* "a" sorts first and was handed out before "b" failed. */
	cr_assert_eq(rl.n, 1);
	race_list_fini(&rl);
	cr_assert_eq(store_get_race(st, "b", &r), STORE_ECORRUPT);
	cr_assert_null(r);
	assert_present("a");
}

/* Counts races in order; stops with 43 at `stop_at` (0: never). */
struct race_count {
	size_t n, stop_at;
	char last[32];
};

static int count_race(void *ctx, struct proto_race *race)
{
	struct race_count *c = ctx;

	cr_assert_gt(strcmp(race->id, c->last), 0, "%s after %s", race->id,
		     c->last);
	snprintf(c->last, sizeof c->last, "%s", race->id);
	proto_race_free(race);
	return ++c->n == c->stop_at ? 43 : 0;
}

/* Enough races for the loader's decoding threads (store_load.c), then a
 * corrupt record among them: every race before it, in order, then
 * STORE_ECORRUPT; the decoded races after it are freed (ASan checks). */
Test(store, load_of_many_races_is_complete_ordered_and_stops_cleanly)
{
	enum { N = 5000 };
	struct race_count c = { 0 };
	struct store_op *ops = calloc(N, sizeof *ops);
	struct proto_race **r = calloc(N, sizeof *r);
	char id[16];

	cr_assert(ops && r);
	open_default();
	for (size_t i = 0; i < N; i++) {
		snprintf(id, sizeof id, "r-%05zu", i);
		r[i] = make_race(id, "T");
		ops[i] = (struct store_op){ .kind = STORE_OP_PUT_RACE,
					    .race = r[i] };
	}
	STORE_CHECK(store_commit(st, ops, N, 1));
	reopen();
	STORE_CHECK(store_load_races(st, count_race, &c));
	cr_assert_eq(c.n, N);
	cr_assert_str_eq(c.last, "r-04999");

	c = (struct race_count){ .stop_at = 1234 };
	cr_assert_eq(store_load_races(st, count_race, &c), 43);
	cr_assert_eq(c.n, 1234);

	store_close(st);
	st = NULL;
	raw_put("races", "r-03000x", 8, "{not json", 9);
	open_default();
	c = (struct race_count){ 0 };
	cr_assert_eq(store_load_races(st, count_race, &c), STORE_ECORRUPT);
	cr_assert_eq(c.n, 3001);   /* r-00000 .. r-03000 */
	cr_assert_str_eq(c.last, "r-03000");
	for (size_t i = 0; i < N; i++)
		proto_race_free(r[i]);
	free(r);
	free(ops);
}

Test(store, record_under_another_id_is_ecorrupt)
{
	struct proto_race *a = make_race("a", "A"), *r = NULL;
	char *buf;
	size_t len;

	cr_assert_eq(proto_record_encode(a, &buf, &len), PROTO_OK);
	open_default();
	store_close(st);
	st = NULL;
	raw_put("races", "z", 1, buf, len);
	open_default();
	cr_assert_eq(store_get_race(st, "z", &r), STORE_ECORRUPT);
	free(buf);
	proto_race_free(a);
}

Test(store, stats_count_races_and_deltas)
{
	struct proto_race *a = make_race("a", "A"), *b = make_race("b", "B");
	struct store_op ops[] = {
		{ .kind = STORE_OP_PUT_RACE, .race = a },
		{ .kind = STORE_OP_PUT_RACE, .race = b },
		{ .kind = STORE_OP_PUT_DELTA, .seq = 1, .data = "1", .len = 1 },
		{ .kind = STORE_OP_PUT_DELTA, .seq = 2, .data = "2", .len = 1 },
		{ .kind = STORE_OP_PUT_DELTA, .seq = 3, .data = "3", .len = 1 },
	};
	struct store_stats s;

	open_default();
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.races, 0);
	cr_assert_eq(s.deltas, 0);
	STORE_CHECK(store_commit(st, ops, 5, 3));
	STORE_CHECK(store_stats(st, &s));
	cr_assert_eq(s.races, 2);
	cr_assert_eq(s.deltas, 3);
	cr_assert_eq(s.map_size, 32 << 20);
	cr_assert_eq(s.map_size_max, 1 << 30);
	cr_assert_gt(s.map_used, 0);
	cr_assert_leq(s.map_used, s.map_size);
	cr_assert_gt(s.file_size, 0);
	cr_assert_eq(store_stats(st, NULL), STORE_EINVAL);
	proto_race_free(a);
	proto_race_free(b);
}
