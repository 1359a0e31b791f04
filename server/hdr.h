/*
 * hdr.h - reading a request header out of lws into a bounded buffer, the
 * one way every part of the HTTP edge does it. Service thread only.
 */
#ifndef RACEBOARD_SERVER_HDR_H
#define RACEBOARD_SERVER_HDR_H

#include <libwebsockets.h>
#include <stddef.h>

/* What srv_hdr() returns for a header too long for its buffer: a value
 * no valid header has, so any comparison with it fails. */
extern const char srv_hdr_too_long[];

/* Copies header `tok` into buf (cap bytes) and returns buf; NULL when
 * the request has no such header, srv_hdr_too_long when it does not fit. */
const char *srv_hdr(struct lws *wsi, enum lws_token_indexes tok, char *buf,
		    size_t cap);

/* The same for a header lws has no token for; `name` is lower case with
 * its colon ("x-github-event:"). */
const char *srv_hdr_custom(struct lws *wsi, const char *name, char *buf,
			   size_t cap);

/* The request's method ("GET", "PATCH", ...) from the request line lws
 * keeps in its header table, or NULL when it holds none: no request yet,
 * or its transaction is over (lws_http_transaction_completed() drops or
 * resets the table). */
const char *srv_hdr_method(struct lws *wsi);

#endif
