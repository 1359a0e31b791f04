/*
 * frame.h - an outgoing WebSocket message shared by reference.
 *
 * A message's text is built once and handed to every session that sends
 * the same bytes: subscribers at the same cursor get the same batch, and
 * dashboards asking for the same snapshot get the same snapshot. Each
 * session holds one reference while it sends; the last one to let go
 * frees the text. Server-to-client frames are unmasked, so sending never
 * changes the text: sharing it needs no copy per session.
 *
 * A frame can be counted in an account (struct srv_frame_acct) owned by
 * whoever makes it: the hub counts every frame it hands to subscribers,
 * so the bytes they hold in total can be capped (--ws-max-queued-mb).
 *
 * Under the server lock (loop.h): the reference count is a plain integer.
 */
#ifndef RACEBOARD_SERVER_FRAME_H
#define RACEBOARD_SERVER_FRAME_H

#include <libwebsockets.h>
#include <stddef.h>

/* The most srv_frame_write() sends at once (ws.c sends larger frames in
 * pieces of this size). */
#define SRV_FRAME_PIECE (64 * 1024)

/* Bytes held by the live frames of one owner; the frames keep it. */
struct srv_frame_acct {
	size_t bytes;               /* held now */
	size_t peak;                /* most held since the owner reset it */
	size_t frames;              /* live frames */
};

struct srv_frame {
	unsigned refs;
	size_t len;                 /* text bytes */
	char *buf;                  /* owned: LWS_PRE headroom, text, NUL */
	size_t cost;                /* bytes counted in acct */
	struct srv_frame_acct *acct; /* borrowed; NULL: not counted */
};

/*
 * Makes a frame of `buf` (LWS_PRE headroom, then `len` bytes of text),
 * with one reference for the caller. On success the frame has taken
 * `buf`; on allocation failure it returns NULL and `buf` is still the
 * caller's.
 */
struct srv_frame *srv_frame_new(char *buf, size_t len);

/*
 * Counts `cost` bytes (what f->buf takes) in `acct` (borrowed: it must
 * outlive the frame) until the frame is freed. Once per frame.
 */
void srv_frame_account(struct srv_frame *f, struct srv_frame_acct *acct,
		       size_t cost);

/* Adds a reference for a new holder and returns `f`. */
struct srv_frame *srv_frame_ref(struct srv_frame *f);

/* Drops the reference in *fp and NULLs it; the last one frees the frame.
 * A NULL *fp (or fp) is a no-op. */
void srv_frame_unref(struct srv_frame **fp);

/*
 * Writes text bytes [off, off + n) of `f` (n at most SRV_FRAME_PIECE)
 * on `wsi` as one WebSocket frame or fragment of type `wp`
 * (LWS_WRITE_TEXT / CONTINUATION, with LWS_WRITE_NO_FIN when more
 * follows). Only from that wsi's writable callback. It lets go of the
 * server lock while it sends (srv_lock_yield()): hold a reference to f,
 * and expect the state behind the lock to have moved on after. lws may keep a copy of what the socket did not take (it is
 * then choked, see lws_partial_buffered()); it keeps no pointer into `f`.
 * Returns 0, or -1 when the connection must close.
 */
int srv_frame_write(struct srv_frame *f, struct lws *wsi, size_t off,
		    size_t n, enum lws_write_protocol wp);

#endif
