/*
 * frame.c - shared outgoing messages (see frame.h). Service thread only.
 */
#include "frame.h"

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
 * LWS_PRE bytes just before the payload. For the first piece those are
 * the frame's own headroom; for a later piece they are text that other
 * sessions may still have to send. So they are saved and put back. That
 * is sound because, by the time lws_write() returns, lws has handed the
 * header and payload to send() and copied any unsent remainder into its
 * own buflist; it keeps no pointer into the caller's buffer, and on the
 * server side it never masks (writes) the payload (lws v4.1.6,
 * rops_write_role_protocol_ws() and lws_issue_raw()). One service thread
 * means no other session can look at the frame in between.
 */
int srv_frame_write(struct srv_frame *f, struct lws *wsi, size_t off,
		    size_t n, enum lws_write_protocol wp)
{
	unsigned char *p = (unsigned char *)f->buf + LWS_PRE + off;
	unsigned char saved[LWS_PRE];
	int rc;

	if (off)
		memcpy(saved, p - LWS_PRE, LWS_PRE);
	rc = lws_write(wsi, p, n, wp);
	if (off)
		memcpy(p - LWS_PRE, saved, LWS_PRE);
	return rc < (int)n ? -1 : 0;
}
