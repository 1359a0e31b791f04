/*
 * util.c - the clock, random ids and JSON error bodies.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t srv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_uuid4(char out[37])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

char *srv_json_encode(json_object *o, size_t headroom, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *buf = s ? malloc(headroom + n + 1) : NULL;

	if (!buf)
		return NULL;
	memcpy(buf + headroom, s, n + 1);
	*len = n;
	return buf;
}

char *srv_error_json(const char *code, const char *field, const char *message,
		     size_t headroom, size_t *len)
{
	json_object *o = json_object_new_object();
	char *out;

	if (!o)
		return NULL;
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (field && *field)
		json_object_object_add(o, "field",
				       json_object_new_string(field));
	out = srv_json_encode(o, headroom, len);
	json_object_put(o);
	return out;
}

/* The phrases lws 4.1.6's status tables lack (lib/roles/http/header.c). */
static const char *missing_reason(int status)
{
	switch (status) {
	case 201: return "Created";
	case 204: return "No Content";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 507: return "Insufficient Storage";
	default: return NULL;
	}
}

int srv_http_reason(unsigned char *start, unsigned char **p,
		    const unsigned char *end, int status)
{
	const char *reason = missing_reason(status);
	unsigned char *eol = start;
	size_t n;

	if (!reason || *p - start < 14 || memcmp(start, "HTTP/1.", 7))
		return 0; /* a known phrase, or HTTP/2 (no phrase there) */
	while (eol + 1 < *p && (eol[0] != '\r' || eol[1] != '\n'))
		eol++;
	if (eol + 1 >= *p || eol[-1] != ' ')
		return 0; /* not the line lws writes without a phrase */
	n = strlen(reason);
	if ((size_t)(end - *p) < n)
		return -1;
	memmove(eol + n, eol, (size_t)(*p - eol));
	memcpy(eol, reason, n);
	*p += n;
	return 0;
}
