/*
 * buf.c - the growable output buffer of the direct JSON writers.
 *
 * Growth doubles the capacity, so appending n bytes one piece at a time
 * costs O(n) copies and O(log n) reallocations; the writers reserve an
 * estimate up front so that a typical race costs one allocation. Never
 * does I/O, never includes the WebSocket library or LMDB.
 */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"

/* Below this a buffer is not worth growing in small steps. */
#define MIN_CAP 256

void proto_buf_init(struct proto_buf *b, size_t headroom)
{
	memset(b, 0, sizeof *b);
	b->headroom = headroom;
}

void proto_buf_fini(struct proto_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void proto_buf_reset(struct proto_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[b->headroom] = '\0';
}

int proto_buf_reserve(struct proto_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	/* Every sum below is checked: a size that wraps would allocate a
	 * small block and then write past it. */
	if (n > SIZE_MAX - b->len)
		return PROTO_ENOMEM;
	need = b->len + n;
	if (b->max && need > b->max)
		return PROTO_ELIMIT;
	if (b->data && need <= b->cap)
		return PROTO_OK;
	cap = b->cap < MIN_CAP ? MIN_CAP : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > SIZE_MAX - b->headroom - 1)
		return PROTO_ENOMEM;
	p = realloc(b->data, b->headroom + cap + 1);
	if (!p)
		return PROTO_ENOMEM;
	if (!b->data)
		p[b->headroom] = '\0';
	b->data = p;
	b->cap = cap;
	return PROTO_OK;
}

int proto_buf_append(struct proto_buf *b, const void *s, size_t n)
{
	int rc = proto_buf_reserve(b, n);

	if (rc != PROTO_OK)
		return rc;
	memcpy(b->data + b->headroom + b->len, s, n);
	b->len += n;
	b->data[b->headroom + b->len] = '\0';
	return PROTO_OK;
}

char *proto_buf_steal(struct proto_buf *b, size_t *len)
{
	char *p;

	*len = 0;
	if (!b->data && proto_buf_reserve(b, 0) != PROTO_OK)
		return NULL;
	p = b->data;
	*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

char *proto_buf_finish(struct proto_buf *b, int rc, size_t *len)
{
	char *text = rc == PROTO_OK ? proto_buf_steal(b, len) : NULL;

	proto_buf_fini(b);
	return text;
}
