/*
 * util.h - small server-side helpers: the clock, ids, JSON error bodies,
 * the reason phrase lws leaves out of some status lines.
 *
 * These are the impure bits (clock, randomness) that protocol/ must not
 * have. Service thread only.
 */
#ifndef RACEBOARD_SERVER_UTIL_H
#define RACEBOARD_SERVER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Wall-clock time in milliseconds since the Unix epoch. */
int64_t srv_now_ms(void);

/* Writes a random (version 4) UUID, 36 chars plus NUL, into out. */
void srv_uuid4(char out[37]);

/*
 * Serializes `o` (borrowed) compactly into a new buffer that starts with
 * `headroom` reserved bytes (LWS_PRE, so lws can write it in place): the
 * text is at buf + headroom, NUL-terminated, *len bytes long. Returns the
 * buffer (caller frees), or NULL on allocation failure.
 */
char *srv_json_encode(json_object *o, size_t headroom, size_t *len);

/*
 * A JSON error body {"error":code,"message":msg[,"field":field]}, laid out
 * as srv_json_encode() does. `field` may be NULL or "".
 */
char *srv_error_json(const char *code, const char *field, const char *message,
		     size_t headroom, size_t *len);

/*
 * lws 4.1.6 ends the status line with an empty reason phrase for the codes
 * its tables lack ("HTTP/1.1 201 \r\n"). Puts the phrase into the HTTP/1
 * status line at `start` of the headers built up to *p (room up to end);
 * HTTP/2 has no phrase and is left alone. Returns 0, or -1 out of room.
 */
int srv_http_reason(unsigned char *start, unsigned char **p,
		    const unsigned char *end, int status);

#endif
