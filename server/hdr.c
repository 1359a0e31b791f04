/*
 * hdr.c - request headers out of lws (hdr.h).
 */
#include <string.h>

#include "hdr.h"

const char srv_hdr_too_long[] = "\x01";

const char *srv_hdr(struct lws *wsi, enum lws_token_indexes tok, char *buf,
		    size_t cap)
{
	int n = lws_hdr_total_length(wsi, tok);

	if (n <= 0)
		return NULL;
	if ((size_t)n >= cap || lws_hdr_copy(wsi, buf, (int)cap, tok) < 0)
		return srv_hdr_too_long;
	return buf;
}

const char *srv_hdr_custom(struct lws *wsi, const char *name, char *buf,
			   size_t cap)
{
	int nl = (int)strlen(name), n = lws_hdr_custom_length(wsi, name, nl);

	if (n < 0)
		return NULL;
	if ((size_t)n >= cap ||
	    lws_hdr_custom_copy(wsi, buf, (int)cap, name, nl) < 0)
		return srv_hdr_too_long;
	return buf;
}
