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

const char *srv_hdr_method(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes tok;
		const char *name;
	} methods[] = {
		{WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
		{WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_PUT_URI, "PUT"},
		{WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_HEAD_URI, "HEAD"},
		{WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
		{WSI_TOKEN_CONNECT, "CONNECT"},
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
			return methods[i].name;
	return NULL;
}
