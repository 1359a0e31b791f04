/*
 * json_writer.h - the direct JSON writer the encoders share (encode_race.c,
 * encode_delta.c): a cursor into a proto_buf and the primitives that
 * append JSON text to it, escaped byte for byte as json-c prints it (see
 * encode_race.c for what that means). Internal to protocol/: nothing
 * outside it includes this. The primitives are static inline so that
 * each encoder gets them inlined, as when they shared one file.
 */
#ifndef RACEBOARD_PROTOCOL_JSON_WRITER_H
#define RACEBOARD_PROTOCOL_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "encode.h"
#include "rfc3339.h"

/*
 * The writer: a cursor into b's allocation. `p` runs ahead of b->len and
 * is committed only when the whole value was written, so a failure
 * anywhere leaves the caller's text as it was.
 */
struct writer {
	struct proto_buf *b;
	char *p;     /* next byte to write */
	char *end;   /* end of the text capacity */
	size_t start; /* b->len when the writer began */
	int slash;   /* escape '/' as "\/" (records); 0 for NOSLASHESCAPE */
	int err;     /* first failure (sticky); later writes are no-ops */
};

static const char hex[] = "0123456789abcdef";

/*
 * What a byte becomes inside a JSON string: 0 passes through, 'u' is a
 * \u00xx escape, '/' depends on the writer's flag, anything else is the
 * letter of a two-byte escape.
 */
static const unsigned char esc[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
	[0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u',
	[0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
	[0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
	[0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\', ['/'] = '/',
};

/* Points the cursor at text byte `used` of b's current allocation. The
 * end stops at b->max too, so that writes within the allocation still
 * meet the limit (in grow(), which reports it). */
static inline void writer_at(struct writer *w, size_t used)
{
	struct proto_buf *b = w->b;
	size_t cap = b->max && b->max < b->cap ? b->max : b->cap;

	if (cap < used)
		cap = used; /* already past max: nothing more fits */
	w->p = b->data + b->headroom + used;
	w->end = b->data + b->headroom + cap;
}

static inline void writer_begin(struct writer *w, struct proto_buf *b,
				int slash)
{
	w->b = b;
	w->start = b->len;
	w->slash = slash;
	w->err = PROTO_OK;
	w->p = w->end = NULL;
	if (b->data)
		writer_at(w, b->len);
}

/* Makes room for `n` more bytes at w->p; 0 when there is room. */
static inline int grow(struct writer *w, size_t n)
{
	struct proto_buf *b = w->b;
	size_t used, saved = b->len;
	int rc;

	if (w->err)
		return -1;
	used = w->p ? (size_t)(w->p - (b->data + b->headroom)) : b->len;
	/* Reserve relative to everything written so far, then put len
	 * back: nothing is committed until writer_end(). */
	b->len = used;
	rc = proto_buf_reserve(b, n);
	b->len = saved;
	if (rc != PROTO_OK) {
		w->err = rc;
		return -1;
	}
	writer_at(w, used);
	return 0;
}

static inline int room(struct writer *w, size_t n)
{
	if (w->p && (size_t)(w->end - w->p) >= n && !w->err)
		return 0;
	return grow(w, n);
}

static inline int writer_end(struct writer *w)
{
	struct proto_buf *b = w->b;

	if (!w->err && room(w, 0) == 0) {
		b->len = (size_t)(w->p - (b->data + b->headroom));
		b->data[b->headroom + b->len] = '\0';
		return PROTO_OK;
	}
	/* The text before w->start was never touched; restore its NUL. */
	b->len = w->start;
	if (b->data)
		b->data[b->headroom + b->len] = '\0';
	return w->err;
}

static inline void put(struct writer *w, const char *s, size_t n)
{
	if (room(w, n))
		return;
	memcpy(w->p, s, n);
	w->p += n;
}

static inline void put_c(struct writer *w, char c)
{
	if (room(w, 1))
		return;
	*w->p++ = c;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* A JSON string of `n` bytes of `s`, escaped as json_escape_str() does. */
static inline void put_str_n(struct writer *w, const char *s, size_t n)
{
	size_t run = 0;

	put_c(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i], e = esc[c];

		if (!e || (c == '/' && !w->slash))
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		if (e == 'u') {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4],
				     hex[c & 0xf]};

			put(w, u, sizeof u);
		} else {
			char two[2] = {'\\', (char)e};

			put(w, two, 2);
		}
	}
	put(w, s + run, n - run);
	put_c(w, '"');
}

static inline void put_str(struct writer *w, const char *s)
{
	put_str_n(w, s, strlen(s));
}

/* `,"key":` (no comma for the first member). Table keys need no escaping,
 * but metadata keys and extras do, so every key goes through put_str. */
static inline void put_key(struct writer *w, const char *key, int *first)
{
	if (!*first)
		put_c(w, ',');
	*first = 0;
	put_str(w, key);
	put_c(w, ':');
}

static inline void put_u64(struct writer *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, d + i, sizeof d - i);
}

static inline void put_i64(struct writer *w, int64_t v)
{
	if (v < 0) {
		put_c(w, '-');
		/* Negate in unsigned arithmetic: -INT64_MIN overflows. */
		put_u64(w, 0 - (uint64_t)v);
	} else {
		put_u64(w, (uint64_t)v);
	}
}

static inline void put_double(struct writer *w, double d)
{
	char buf[PROTO_CODEC_DOUBLE_BUFSZ];

	put(w, buf, proto_codec_format_double(d, buf));
}

/* An RFC 3339 string: digits and "-:.TZ" only, so nothing to escape. */
static inline void put_time(struct writer *w, int64_t ms)
{
	char buf[PROTO_TIME_BUFSZ + 2];

	buf[0] = '"';
	proto_time_format(ms, buf + 1);
	put(w, buf, strlen(buf));
	put_c(w, '"');
}

static inline void put_extra(struct writer *w,
			     const struct proto_json_extra *x, int *first)
{
	if (!x)
		return;
	put_key(w, x->key, first);
	put(w, x->json, x->len);
}

/* Reserves the estimate up front; a failure here is not final (the
 * estimate may be larger than what is needed, or than b->max), so it is
 * ignored and the writes report what really does not fit. */
static inline void presize(struct writer *w, size_t n)
{
	struct proto_buf *b = w->b;

	if (b->max && n > b->max - b->len)
		return;
	if (proto_buf_reserve(b, n) == PROTO_OK)
		writer_at(w, b->len);
}

/*
 * What encode_race.c lends encode_delta.c: the value of one set field
 * (for PROTO_F_EVENTS, `all_events` picks the whole list over the last
 * event), the race object's members without the braces, and about how
 * many bytes the race takes.
 */
void proto_writer_field(struct writer *w, const struct proto_race *r,
			uint32_t field, int all_events);
void proto_writer_race_members(struct writer *w, const struct proto_race *r,
			       int *first);
size_t proto_writer_race_estimate(const struct proto_race *r);

#endif
