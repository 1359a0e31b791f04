/*
 * table.c - a chained hash table of races keyed by id (FNV-1a).
 *
 * It grows by doubling when the load factor passes 1, so lookups stay
 * O(1) at the 100k races the server is sized for.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 64

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

int srv_table_init(struct srv_table *t)
{
	t->count = 0;
	t->nbuckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -1;
}

void srv_table_fini(struct srv_table *t)
{
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct srv_table_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			proto_race_free(e->race);
			free(e->track);
			free(e);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = t->nbuckets = 0;
}

struct srv_table_entry *srv_table_get(const struct srv_table *t,
				      const char *id)
{
	uint64_t h = hash_id(id);
	struct srv_table_entry *e = t->buckets[h & (t->nbuckets - 1)];

	for (; e; e = e->next)
		if (e->hash == h && !strcmp(e->race->id, id))
			return e;
	return NULL;
}

/* Doubles the bucket array; on allocation failure keeps the old one, which
 * is still correct, only slower. */
static void grow(struct srv_table *t)
{
	size_t n = t->nbuckets * 2;
	struct srv_table_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct srv_table_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

struct srv_table_entry *srv_table_insert(struct srv_table *t,
					 struct proto_race *race)
{
	struct srv_table_entry *e = calloc(1, sizeof(*e));
	size_t slot;

	if (!e)
		return NULL;
	if (t->count >= t->nbuckets)
		grow(t);
	e->hash = hash_id(race->id);
	e->race = race;
	slot = e->hash & (t->nbuckets - 1);
	e->next = t->buckets[slot];
	t->buckets[slot] = e;
	t->count++;
	return e;
}

void srv_table_remove(struct srv_table *t, const char *id)
{
	uint64_t h = hash_id(id);
	struct srv_table_entry **pp = &t->buckets[h & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		struct srv_table_entry *e = *pp;

		if (e->hash == h && !strcmp(e->race->id, id)) {
			*pp = e->next;
			proto_race_free(e->race);
			free(e->track);
			free(e);
			t->count--;
			return;
		}
	}
}

int srv_table_replace(struct srv_table *t, struct proto_race *race)
{
	struct srv_table_entry *e = srv_table_get(t, race->id);

	if (!e)
		return srv_table_insert(t, race) ? 0 : -1;
	proto_race_free(e->race);
	e->race = race;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct proto_race *x = *(const struct proto_race *const *)a;
	const struct proto_race *y = *(const struct proto_race *const *)b;

	if (x->started_at != y->started_at)
		return x->started_at < y->started_at ? 1 : -1;
	return strcmp(x->id, y->id);
}

struct proto_race **srv_table_newest_first(
	const struct srv_table *t,
	int (*keep)(const void *ctx, const struct proto_race *race),
	const void *ctx, size_t *n)
{
	struct proto_race **all = malloc((t->count + 1) * sizeof(*all));

	*n = 0;
	if (!all)
		return NULL;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct srv_table_entry *e = t->buckets[i]; e; e = e->next)
			if (!keep || keep(ctx, e->race))
				all[(*n)++] = e->race;
	qsort(all, *n, sizeof(*all), newest_first);
	return all;
}
