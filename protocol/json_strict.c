/*
 * json_strict.c - the RFC 8259 grammar check that every JSON text from a
 * client passes before json-c parses it.
 *
 * json-c 0.16, even with JSON_TOKENER_STRICT, accepts text that is not
 * JSON: single-quoted strings, raw control characters inside strings,
 * NaN, Infinity, "1." and "-01"; and it turns a lone surrogate escape
 * into U+FFFD. What json-c then hands us cannot tell those apart from
 * real JSON, so the check runs on the bytes, in one pass, without
 * allocating. It also covers what json.c checked separately before (NUL
 * bytes, well-formed UTF-8), so edge input is still scanned only once
 * before json-c. Pure: no I/O, never includes libwebsockets or LMDB.
 */
#include "codec.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scan.h"

/* Nesting the check itself can follow: one bit per level in a uint64_t.
 * json-c's own depth limit (PROTO_JSON_MAX_DEPTH) is lower and decides. */
#define STRICT_MAX_DEPTH 64

struct cursor {
	const unsigned char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* One escape after the backslash at c->p; 0 when it is not one RFC 8259
 * allows. A \u escape of a high surrogate must be followed by one of a
 * low surrogate: a lone half names no character. In a key (`key` set),
 * \u0000 is refused too: json-c 0.16 keeps keys as C strings, so it would
 * cut "a\u0000b" to "a" and hand us a key nobody sent. */
static int escape(struct cursor *c, int key)
{
	unsigned u, lo;

	if (c->end - c->p < 2)
		return 0;
	switch (c->p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
	case 't':
		c->p += 2;
		return 1;
	case 'u':
		break;
	default:
		return 0;
	}
	if (c->end - c->p < 6 ||
	    !proto_scan_hex4((const char *)c->p + 2, &u))
		return 0;
	c->p += 6;
	if ((key && u == 0) || (u >= 0xdc00 && u <= 0xdfff))
		return 0;
	if (u < 0xd800 || u > 0xdbff)
		return 1;
	if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
	    !proto_scan_hex4((const char *)c->p + 2, &lo) || lo < 0xdc00 ||
	    lo > 0xdfff)
		return 0;
	c->p += 6;
	return 1;
}

/* One UTF-8 character of two to four bytes at c->p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static int utf8_char(struct cursor *c)
{
	unsigned ch = c->p[0], n, cp, min;

	if (ch >= 0xc2 && ch <= 0xdf)
		n = 1, cp = ch & 0x1f, min = 0x80;
	else if (ch >= 0xe0 && ch <= 0xef)
		n = 2, cp = ch & 0x0f, min = 0x800;
	else if (ch >= 0xf0 && ch <= 0xf4)
		n = 3, cp = ch & 0x07, min = 0x10000;
	else
		return 0;
	if (c->end - c->p <= (ptrdiff_t)n)
		return 0;
	for (unsigned k = 1; k <= n; k++) {
		if ((c->p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (c->p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	c->p += n + 1;
	return 1;
}

/* A string, c->p at its opening quotation mark; `key` when it is an
 * object's key. */
static int string(struct cursor *c, int key)
{
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = *c->p;

		if (ch == '"') {
			c->p++;
			return 1;
		}
		if (ch == '\\') {
			if (!escape(c, key))
				return 0;
		} else if (ch < 0x20) {
			return 0; /* control characters must be escaped */
		} else if (ch < 0x80) {
			c->p++;
		} else if (!utf8_char(c)) {
			return 0;
		}
	}
	return 0;
}

static int digits(struct cursor *c)
{
	const unsigned char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > start;
}

/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ]
 *          [ ( "e" / "E" ) [ "-" / "+" ] 1*DIGIT ] */
static int number(struct cursor *c)
{
	if (*c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!digits(c))
		return 0;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!digits(c))
			return 0;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!digits(c))
			return 0;
	}
	return 1;
}

static int literal(struct cursor *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return 0;
	c->p += n;
	return 1;
}

/* A scalar value at c->p (not an object or array). */
static int scalar(struct cursor *c)
{
	switch (*c->p) {
	case '"':
		return string(c, 0);
	case 't':
		return literal(c, "true", 4);
	case 'f':
		return literal(c, "false", 5);
	case 'n':
		return literal(c, "null", 4);
	default:
		return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) &&
		       number(c);
	}
}

int proto_codec_strict(const char *buf, size_t len, size_t *at)
{
	struct cursor c = {(const unsigned char *)buf,
			   (const unsigned char *)buf + len};
	uint64_t in_object = 0; /* bit d: level d+1 is an object */
	int depth = 0, rc = PROTO_CODEC_STRICT_SYNTAX;

	/* An explicit stack instead of recursion: the input decides the
	 * nesting, and the C stack must not. */
value:
	skip_ws(&c);
	if (c.p == c.end)
		goto out;
	if (*c.p == '{' || *c.p == '[') {
		if (depth == STRICT_MAX_DEPTH) {
			rc = PROTO_CODEC_STRICT_DEPTH;
			goto out;
		}
		if (*c.p == '{')
			in_object |= (uint64_t)1 << depth;
		else
			in_object &= ~((uint64_t)1 << depth);
		depth++;
		c.p++;
		skip_ws(&c);
		if (c.p < c.end &&
		    *c.p == ((in_object >> (depth - 1) & 1) ? '}' : ']')) {
			c.p++;
			depth--;
			goto after;
		}
		if (in_object >> (depth - 1) & 1)
			goto key;
		goto value;
	}
	if (!scalar(&c))
		goto out;
after:
	skip_ws(&c);
	if (depth == 0) {
		if (c.p == c.end)
			rc = PROTO_OK;
		goto out;
	}
	if (c.p == c.end)
		goto out;
	if (*c.p == ',') {
		c.p++;
		if (in_object >> (depth - 1) & 1)
			goto key;
		goto value;
	}
	if (*c.p != ((in_object >> (depth - 1) & 1) ? '}' : ']'))
		goto out;
	c.p++;
	depth--;
	goto after;
key:
	skip_ws(&c);
	if (c.p == c.end || *c.p != '"' || !string(&c, 1))
		goto out;
	skip_ws(&c);
	if (c.p == c.end || *c.p != ':')
		goto out;
	c.p++;
	goto value;
out:
	if (at)
		*at = (size_t)(c.p - (const unsigned char *)buf);
	return rc;
}
