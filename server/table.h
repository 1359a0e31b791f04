/*
 * table.h - the in-memory index of live races, keyed by id.
 *
 * The table owns its races. It is the server's working copy of what LMDB
 * holds: loaded at start-up, changed only by the write path (write.c).
 * Service thread only; no locking.
 */
#ifndef RACEBOARD_SERVER_TABLE_H
#define RACEBOARD_SERVER_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "predict.h"
#include "race.h"

struct srv_table_entry {
	struct srv_table_entry *next;  /* hash chain */
	uint64_t hash;
	struct proto_race *race;       /* owned */
	uint64_t batch_gen;            /* last write batch that touched it */
	struct pred_track *track;      /* owned; progress reports, or NULL */
};

struct srv_table {
	struct srv_table_entry **buckets;
	size_t nbuckets;               /* power of two */
	size_t count;
};

/* Initializes an empty table. Returns 0, or -1 on allocation failure. */
int srv_table_init(struct srv_table *t);

/* Frees every entry and race. */
void srv_table_fini(struct srv_table *t);

/* The entry for `id`, or NULL (borrowed). */
struct srv_table_entry *srv_table_get(const struct srv_table *t,
				      const char *id);

/*
 * Inserts `race` (taken on success) under its id, which must not be in
 * the table yet. Returns the new entry, or NULL on allocation failure
 * (the race is then still the caller's).
 */
struct srv_table_entry *srv_table_insert(struct srv_table *t,
					 struct proto_race *race);

/* Removes and frees the entry for `id`, its race and its tracker; absent
 * is a no-op. */
void srv_table_remove(struct srv_table *t, const char *id);

/*
 * Replaces the race of an existing entry (taken), freeing the old one,
 * or inserts it. Returns 0, or -1 on allocation failure (race still the
 * caller's).
 */
int srv_table_replace(struct srv_table *t, struct proto_race *race);

/*
 * The races for which keep(ctx, race) is non-zero (every race when keep
 * is NULL), newest started_at first (ties by id), as a new array of
 * borrowed pointers (the caller frees the array, not the races) with its
 * length in *n. NULL on allocation failure. O(n + k log k) for k kept:
 * what listings and snapshots show.
 */
struct proto_race **srv_table_newest_first(
	const struct srv_table *t,
	int (*keep)(const void *ctx, const struct proto_race *race),
	const void *ctx, size_t *n);

#endif
