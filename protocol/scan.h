/*
 * scan.h - the one-pass JSON scanner the direct decoders share (scan.c).
 * Internal to protocol/: only its .c files include it.
 *
 * Every reader skips leading whitespace, consumes one value and returns
 * PROTO_OK, PROTO_ENOMEM, or PROTO_SCAN_DECLINED for text it does not
 * take (malformed, out of range, or in a form json-c would read or print
 * differently): the caller then leaves the whole input to json-c.
 */
#ifndef RACEBOARD_PROTOCOL_SCAN_H
#define RACEBOARD_PROTOCOL_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "record.h"

#define PROTO_SCAN_DECLINED PROTO_RECORD_DECLINED

/* The text still to read. */
struct proto_scan {
	const char *p, *end;
};

/* A string as it appears in the text, between the quotes. */
struct proto_slice {
	const char *s;
	size_t n;
	int escaped;
};

void proto_scan_ws(struct proto_scan *c);
/* 1 when the next byte after whitespace is `ch` (then consumed). */
int proto_scan_take(struct proto_scan *c, char ch);
/* 1 when the text continues with the n bytes of `w` (then consumed). */
int proto_scan_word(struct proto_scan *c, const char *w, size_t n);

/* Takes a string (after whitespace) without decoding it: *out is the
 * text between the quotes. Raw control characters and escapes other than
 * json-c's two-character ones and \uXXXX decline; the \u digits are
 * checked by proto_scan_unescape(), the UTF-8 by no one (the caller). */
int proto_scan_string(struct proto_scan *c, struct proto_slice *out);
/* The string `sl` decoded into a new C string in *out, when it decodes
 * to at most `max` bytes; else PROTO_SCAN_DECLINED (or PROTO_ENOMEM),
 * *out NULL. */
int proto_scan_dup_slice(const struct proto_slice *sl, size_t max,
			 char **out);
/* Reads four hex digits at s into *out; 0 when one is not a hex digit. */
int proto_scan_hex4(const char *s, unsigned *out);
/* Writes code point cp (a scalar value) as UTF-8 at d; returns 1 to 4. */
size_t proto_scan_put_utf8(char *d, unsigned cp);
/* Decodes a string's escapes into d, which has room for sl->n bytes
 * (decoding never grows it), NUL-terminated; *len without the NUL. */
int proto_scan_unescape(const struct proto_slice *sl, char *d, size_t *len);
/* A string of at most `max` decoded bytes, as a new C string in *out. */
int proto_scan_dup_string(struct proto_scan *c, size_t max, char **out);
/* An RFC 3339 timestamp string, as milliseconds. */
int proto_scan_time(struct proto_scan *c, int64_t *out);
/* An integer in min..max, written as json-c writes integers. */
int proto_scan_int(struct proto_scan *c, int64_t min, int64_t max,
		   int64_t *out);
/* A number in 0..1, read as json-c reads it. */
int proto_scan_unit(struct proto_scan *c, double *out);
/* Skips one value (no leading whitespace) that is already in the form
 * json-c prints with JSON_C_TO_STRING_PLAIN, so its text can stand for
 * its re-encoding; `depth` is the nesting so far. */
int proto_scan_canonical(struct proto_scan *c, int depth);

/* Reads an object, calling member(c, ctx, key) with the value next. */
int proto_scan_members(struct proto_scan *c, void *ctx,
		       int (*member)(struct proto_scan *, void *,
				     const struct proto_slice *));
/* 1 when the key, written without escapes, is `name`. */
int proto_scan_is_key(const struct proto_slice *k, const char *name);
/* Sets `bit` in *seen; 0 when it was set already (a repeated key, which
 * json-c resolves by keeping the last: declined instead). */
int proto_scan_first(uint32_t *seen, uint32_t bit);

#endif
