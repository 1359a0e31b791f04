/*
 * frame.c - shared outgoing messages (see frame.h). Service thread only.
 */
#include "frame.h"
#include "loop.h"

#include <stdlib.h>
#include <string.h>

struct srv_frame *srv_frame_new(char *buf, size_t len)
{
	struct srv_frame *f = malloc(sizeof(*f));

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	f->buf = buf;
	f->cost = 0;
	f->acct = NULL;
	return f;
}

void srv_frame_account(struct srv_frame *f, struct srv_frame_acct *acct,
		       size_t cost)
{
	f->acct = acct;
	f->cost = cost;
	acct->bytes += cost;
	acct->frames++;
	if (acct->bytes > acct->peak)
		acct->peak = acct->bytes;
}

struct srv_frame *srv_frame_ref(struct srv_frame *f)
{
	f->refs++;
	return f;
}

void srv_frame_unref(struct srv_frame **fp)
{
	struct srv_frame *f = fp ? *fp : NULL;

	if (!f)
		return;
	*fp = NULL;
	if (--f->refs)
		return;
	if (f->acct) {
		f->acct->bytes -= f->cost;
		f->acct->frames--;
	}
	free(f->buf);
	free(f);
}

/*
 * lws_write() puts the frame header (2-10 bytes for a server) in the
 * LWS_PRE bytes just before the payload, and the text is shared with
 * sessions on the other service thread, which may be sending it at this
 * moment. So the piece is copied to this thread's own buffer first, and
 * sent from there without the server lock: the send is where the time
 * goes (loopback TCP charges the sender for the receiver's work), and
 * the other thread answers producers meanwhile (loop.h). The copy too is
 * made without the lock (up to 64 KiB, the main thread's requests wait
 * for less): the text of a frame never changes once it is made, and the
 * caller's reference keeps it alive. By the time lws_write() returns,
 * lws has handed the bytes to send() and copied any unsent remainder
 * into its own buflist; it keeps no pointer into the caller's buffer
 * (lws v4.1.6, rops_write_role_protocol_ws() and lws_issue_raw()).
 */
int srv_frame_write(struct srv_frame *f, struct lws *wsi, size_t off,
		    size_t n, enum lws_write_protocol wp)
{
	static _Thread_local unsigned char piece[LWS_PRE + SRV_FRAME_PIECE];
	int rc;

	if (n > SRV_FRAME_PIECE)
		return -1;
	srv_lock_yield();
	memcpy(piece + LWS_PRE, f->buf + LWS_PRE + off, n);
	rc = lws_write(wsi, piece + LWS_PRE, n, wp);
	srv_lock_resume();
	return rc < (int)n ? -1 : 0;
}
