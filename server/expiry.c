/*
 * expiry.c - binary min-heap of (due time, race id).
 */
#include "expiry.h"

#include <stdlib.h>
#include <string.h>

static void swap(struct srv_expiry_item *a, struct srv_expiry_item *b)
{
	struct srv_expiry_item t = *a;

	*a = *b;
	*b = t;
}

void srv_expiry_push(struct srv_expiry *x, const char *id,
		     int64_t completed_at, int64_t ttl_sec)
{
	size_t i;
	char *copy;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		void *p = realloc(x->items, cap * sizeof(*x->items));

		if (!p)
			return;
		x->items = p;
		x->cap = cap;
	}
	copy = strdup(id);
	if (!copy)
		return;
	i = x->n++;
	x->items[i].due = completed_at + ttl_sec * 1000;
	x->items[i].completed_at = completed_at;
	x->items[i].id = copy;
	while (i > 0 && x->items[(i - 1) / 2].due > x->items[i].due) {
		swap(&x->items[(i - 1) / 2], &x->items[i]);
		i = (i - 1) / 2;
	}
}

char *srv_expiry_pop_due(struct srv_expiry *x, int64_t now,
			 int64_t *completed_at)
{
	char *id;
	size_t i = 0;

	if (x->n == 0 || x->items[0].due > now)
		return NULL;
	id = x->items[0].id;
	*completed_at = x->items[0].completed_at;
	x->items[0] = x->items[--x->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < x->n && x->items[l].due < x->items[m].due)
			m = l;
		if (r < x->n && x->items[r].due < x->items[m].due)
			m = r;
		if (m == i)
			break;
		swap(&x->items[i], &x->items[m]);
		i = m;
	}
	return id;
}

void srv_expiry_fini(struct srv_expiry *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->items[i].id);
	free(x->items);
	memset(x, 0, sizeof(*x));
}
