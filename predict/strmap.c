/*
 * strmap.c - a small open-addressing (linear probing) hash map from
 * owned strings to 32-bit values, used by model.c for keys, tokens and
 * sources. Pure: no I/O. Lookups are O(1) expected; the table doubles
 * at half load.
 */
#include "internal.h"
#include "predict.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Returns the slot for s: its own when present, else the empty one. */
static struct strmap_slot *find(const struct strmap *m, const char *s,
				       uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);
	for (;;) {
		struct strmap_slot *sl = &m->slots[i];
		if (!sl->s || (sl->hash == h && strcmp(sl->s, s) == 0))
			return sl;
		i = (i + 1) & (m->cap - 1);
	}
}

int pred__strmap_get(const struct strmap *m, const char *s, uint32_t *val)
{
	if (m->cap == 0)
		return 0;
	struct strmap_slot *sl = find(m, s, hash_str(s));
	if (!sl->s)
		return 0;
	*val = sl->val;
	return 1;
}

/* Makes room for one more insert; PRED_ENOMEM leaves the map as it was. */
static int reserve(struct strmap *m)
{
	if ((m->n + 1) * 2 <= m->cap)
		return PRED_OK;
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct strmap_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return PRED_ENOMEM;
	struct strmap grown = { slots, cap, m->n };
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].s)
			*find(&grown, m->slots[i].s, m->slots[i].hash) =
				m->slots[i];
	free(m->slots);
	*m = grown;
	return PRED_OK;
}

/* Inserts s (copied) -> val; the caller checked it is absent. */
int pred__strmap_put(struct strmap *m, const char *s, uint32_t val,
		      char **stored)
{
	if (reserve(m) != PRED_OK)
		return PRED_ENOMEM;
	char *copy = strdup(s);
	if (!copy)
		return PRED_ENOMEM;
	uint64_t h = hash_str(s);
	struct strmap_slot *sl = find(m, s, h);
	sl->s = copy;
	sl->hash = h;
	sl->val = val;
	m->n++;
	if (stored)
		*stored = copy;
	return PRED_OK;
}

/* Removes s, re-seating the probe chain after it (linear probing). */
void pred__strmap_del(struct strmap *m, const char *s)
{
	struct strmap_slot *sl = find(m, s, hash_str(s));
	if (!sl->s)
		return;
	free(sl->s);
	sl->s = NULL;
	m->n--;
	size_t i = (size_t)(sl - m->slots);
	for (;;) {
		i = (i + 1) & (m->cap - 1);
		if (!m->slots[i].s)
			return;
		struct strmap_slot moved = m->slots[i];
		m->slots[i].s = NULL;
		*find(m, moved.s, moved.hash) = moved;
	}
}

void pred__strmap_fini(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].s);
	free(m->slots);
	memset(m, 0, sizeof *m);
}
