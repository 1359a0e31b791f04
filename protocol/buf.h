/*
 * buf.h - a growable output buffer for the direct JSON writers (encode.h).
 *
 * The text starts `headroom` bytes into the allocation, so a caller that
 * must prepend a transport header (server/ passes LWS_PRE) can hand the
 * whole block to the transport without copying it. The text is always
 * followed by a NUL byte that `len` does not count. Pure: libc only; it
 * never includes the WebSocket library or LMDB.
 */
#ifndef RACEBOARD_PROTOCOL_BUF_H
#define RACEBOARD_PROTOCOL_BUF_H

#include <stddef.h>

/*
 * An embedded object: proto_buf_init() / proto_buf_fini(). `data` is
 * owned and NULL until the first byte is reserved. The text is
 * data[headroom .. headroom + len); data[headroom + len] is '\0' once
 * anything was reserved. `max` (0: no limit) caps `len`: growing past it
 * fails with PROTO_ELIMIT, like an allocation failure but on purpose
 * (frame caps, and the tests walk every failure point with it).
 */
struct proto_buf {
	char *data;
	size_t len;
	size_t cap;       /* text bytes that fit before a realloc (NUL excluded) */
	size_t headroom;
	size_t max;
};

/* Makes `b` an empty buffer whose text will start `headroom` bytes into
 * the allocation. Allocates nothing, so it cannot fail. */
void proto_buf_init(struct proto_buf *b, size_t headroom);

/* Frees what `b` owns and makes it empty (headroom and max are kept).
 * NULL is a no-op. */
void proto_buf_fini(struct proto_buf *b);

/* Empties the text but keeps the allocation, for reuse. */
void proto_buf_reset(struct proto_buf *b);

/*
 * Makes room for `n` more text bytes (plus the NUL). Returns PROTO_OK,
 * PROTO_ELIMIT when len + n would pass `max`, or PROTO_ENOMEM (allocation
 * failure or size overflow). On failure `b` is unchanged.
 */
int proto_buf_reserve(struct proto_buf *b, size_t n);

/* Appends `n` bytes of `s` (borrowed). Same failure contract as
 * proto_buf_reserve(): on failure the text is unchanged. */
int proto_buf_append(struct proto_buf *b, const void *s, size_t n);

/*
 * Takes the allocation out of `b`: returns it (the caller owns it and
 * frees it with free(); the text is at ret + headroom, NUL-terminated)
 * and stores the text length in *len, then leaves `b` empty with the same
 * headroom and max. A buffer that never grew is given its headroom and
 * NUL first, so the result is NULL (with *len 0 and `b` unchanged) only
 * when that allocation fails.
 */
char *proto_buf_steal(struct proto_buf *b, size_t *len);

/*
 * Ends a build: when rc is PROTO_OK, takes the text out as
 * proto_buf_steal() does; otherwise (or when stealing fails) returns
 * NULL. Either way `b` owns nothing afterwards.
 */
char *proto_buf_finish(struct proto_buf *b, int rc, size_t *len);

/* The text (borrowed; valid until the next call that grows `b`), or ""
 * when nothing was reserved yet. */
static inline const char *proto_buf_text(const struct proto_buf *b)
{
	return b->data ? b->data + b->headroom : "";
}

#endif
