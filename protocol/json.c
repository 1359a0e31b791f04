/*
 * json.c - the bounded JSON parser and the typed value readers that every
 * decoder in protocol/ shares (numbers, strings, timestamps, errors).
 *
 * Everything that reaches a decoder passes through here, so this is where
 * "validate at the edge" (STYLE R20) is enforced: depth limit, strict
 * syntax, UTF-8, no NUL bytes, no trailing garbage, exact JSON types. It
 * must never do I/O, read the clock, or include libwebsockets or LMDB.
 * Like json-c itself it assumes the process keeps the "C" LC_NUMERIC
 * locale (server/ never calls setlocale), since doubles go through printf.
 */
#include "codec.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"
#include "scan.h"

/* Longer than any RFC 3339 date-time a producer plausibly sends (the
 * fraction may have many digits), short enough to bound the work. */
#define PROTO_TIME_TEXT_MAX 64

void proto_codec_error(struct proto_json_error *err, const char *code,
		       const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

static int only_whitespace(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	}
	return 1;
}

/* json-c's own UTF-8 check lets overlong forms through, and those would
 * be stored and sent back out. */
int proto_codec_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], n, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* The code point of the escaped surrogate pair "\uHHHH\uLLLL" at p
 * (12 bytes available), or 0 when there is none. */
static unsigned escaped_pair(const char *p)
{
	unsigned hi, lo;

	if (!proto_scan_hex4(p + 2, &hi) || hi < 0xd800 || hi > 0xdbff ||
	    p[6] != '\\' || p[7] != 'u' || !proto_scan_hex4(p + 8, &lo) ||
	    lo < 0xdc00 || lo > 0xdfff)
		return 0;
	return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
}

/*
 * json-c 0.16 decodes an escaped surrogate pair whose code point's low 16
 * bits fall in D800-DFFF (U+1D800-U+1DFFF, U+2D800-U+2DFFF in CJK
 * Extension F, ...) as U+FFFD: the text a producer sent would be stored
 * changed. Python's json.dumps writes every such character that way. So
 * those pairs are written as the UTF-8 they stand for before json-c reads
 * the text, which is the same JSON. Returns the rewritten copy (caller
 * frees; *out_len its length), or NULL when there is nothing to rewrite;
 * *oom is set when a copy was needed and could not be made.
 */
static char *utf8_for_misread_pairs(const char *buf, size_t len,
				    size_t *out_len, int *oom)
{
	char *out = NULL;
	size_t i = 0, n = 0;

	*oom = 0;
	while (i < len) {
		const char *bs = memchr(buf + i, '\\', len - i);
		size_t at = bs ? (size_t)(bs - buf) : len, step;
		unsigned cp;

		if (out)
			memcpy(out + n, buf + i, at - i);
		n += at - i;
		i = at;
		if (!bs)
			break;
		cp = len - at >= 12 && buf[at + 1] == 'u' ?
		     escaped_pair(buf + at) : 0;
		if (cp && (cp & 0xf800) == 0xd800) {
			if (!out) {
				out = malloc(len); /* 12 escape bytes become 4 */
				if (!out) {
					*oom = 1;
					return NULL;
				}
				memcpy(out, buf, n);
			}
			n += proto_scan_put_utf8(out + n, cp);
			i += 12;
			continue;
		}
		/* Any other escape (a backslash's own too) is copied as sent. */
		step = len - i < 2 ? len - i : 2;
		if (out)
			memcpy(out + n, buf + i, step);
		n += step;
		i += step;
	}
	*out_len = n;
	return out;
}

/* json-c's half of parsing: the tree of a text already checked to be
 * free of NUL bytes and well-formed UTF-8. */
static json_object *tokenize(const char *buf, size_t len, int depth,
			     struct proto_json_error *err)
{
	json_tokener *tok = NULL;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	char *fixed;
	size_t end, fixed_len = 0;
	int oom;

	fixed = utf8_for_misread_pairs(buf, len, &fixed_len, &oom);
	tok = oom ? NULL : json_tokener_new_ex(depth);
	if (!tok) {
		free(fixed);
		proto_codec_error(err, "out_of_memory", "", "Out of memory.");
		return NULL;
	}
	if (fixed) {
		buf = fixed;
		len = fixed_len;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A bare number or literal at the very end is only complete once
	 * json-c sees a terminator; feed it the NUL it would see in a C
	 * string. Anything else still incomplete is truncated input. */
	if (!obj && jerr == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (!obj || jerr != json_tokener_success ||
	    !only_whitespace(buf + end, len - end)) {
		json_object_put(obj);
		obj = NULL;
		if (jerr == json_tokener_error_depth)
			proto_codec_error(err, "invalid_json", "",
					  "The body nests deeper than %d levels.",
					  depth);
		else
			proto_codec_error(err, "invalid_json", "",
					  "The body is not valid JSON: %s.",
					  json_tokener_error_desc(jerr));
	}
	json_tokener_free(tok);
	free(fixed);
	return obj;
}

/* Stored records and deltas were written by json-c or by our own
 * writers, and some were stored before client input was checked as
 * strictly as proto_json_parse() checks it now: they keep json-c's
 * grammar, so that an old record still decodes. */
json_object *proto_codec_parse(const char *buf, size_t len, int depth,
			       struct proto_json_error *err)
{
	if (!buf || len == 0) {
		proto_codec_error(err, "invalid_json", "", "The body is empty.");
		return NULL;
	}
	/* json-c takes an int length; bodies this large never get here
	 * because server/ caps them, but do not let the cast wrap. */
	if (len > INT_MAX || memchr(buf, '\0', len) ||
	    !proto_codec_utf8_valid(buf, len)) {
		proto_codec_error(err, "invalid_json", "",
				  "The body is not valid JSON text.");
		return NULL;
	}
	return tokenize(buf, len, depth, err);
}

json_object *proto_json_parse(const char *buf, size_t len,
			      struct proto_json_error *err)
{
	size_t at = 0;
	int rc;

	if (!buf || len == 0) {
		proto_codec_error(err, "invalid_json", "", "The body is empty.");
		return NULL;
	}
	if (len > INT_MAX) {
		proto_codec_error(err, "invalid_json", "",
				  "The body is not valid JSON text.");
		return NULL;
	}
	/* The RFC 8259 check covers NUL bytes and UTF-8 as well. */
	rc = proto_codec_strict(buf, len, &at);
	if (rc == PROTO_CODEC_STRICT_DEPTH) {
		proto_codec_error(err, "invalid_json", "",
				  "The body nests deeper than %d levels.",
				  PROTO_JSON_MAX_DEPTH);
		return NULL;
	}
	if (rc != PROTO_OK) {
		proto_codec_error(err, "invalid_json", "",
				  "The body is not valid JSON (RFC 8259): "
				  "error at byte %zu.", at);
		return NULL;
	}
	return tokenize(buf, len, PROTO_JSON_MAX_DEPTH, err);
}

static int range_error(const char *field, int64_t min, int64_t max,
		       struct proto_json_error *err)
{
	proto_codec_error(err, "out_of_range", field,
			  "%s must be between %lld and %lld.", field,
			  (long long)min, (long long)max);
	return PROTO_EINVAL;
}

int proto_codec_int(json_object *v, const char *field, int64_t min,
		    int64_t max, int64_t *out, struct proto_json_error *err)
{
	int64_t x;

	if (json_object_is_type(v, json_type_int)) {
		/* json-c saturates integers beyond int64 (and keeps large
		 * positive ones as uint64, which get_int64 clamps), so an
		 * overflowing value still lands outside the range, except
		 * when the range ends at INT64_MAX: ask the uint64 then. */
		x = json_object_get_int64(v);
		if (x == INT64_MAX &&
		    json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			return range_error(field, min, max, err);
	} else if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (!isfinite(d))
			return range_error(field, min, max, err);
		/* 50.0 and 5e1 are the integer 50; 50.5 is not an integer,
		 * and rounding it would store what nobody sent. */
		if (d != floor(d)) {
			proto_codec_error(err, "invalid_type", field,
					  "%s must be an integer.", field);
			return PROTO_EINVAL;
		}
		/* Compare as doubles before converting: converting an
		 * out-of-range double to an integer is undefined. */
		if (d < (double)min || d > (double)max)
			return range_error(field, min, max, err);
		x = (int64_t)d;
	} else {
		proto_codec_error(err, "invalid_type", field,
				  "%s must be a number.", field);
		return PROTO_EINVAL;
	}
	if (x < min || x > max)
		return range_error(field, min, max, err);
	*out = x;
	return PROTO_OK;
}

int proto_codec_double(json_object *v, const char *field, double min,
		       double max, double *out, struct proto_json_error *err)
{
	double d;

	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double)) {
		proto_codec_error(err, "invalid_type", field,
				  "%s must be a number.", field);
		return PROTO_EINVAL;
	}
	d = json_object_get_double(v);
	/* Written so that NaN fails as well. */
	if (!(d >= min && d <= max)) {
		proto_codec_error(err, "out_of_range", field,
				  "%s must be between %g and %g.", field, min,
				  max);
		return PROTO_EINVAL;
	}
	*out = d;
	return PROTO_OK;
}

int proto_codec_string(json_object *v, const char *field, size_t max,
		       const char **out, struct proto_json_error *err)
{
	const char *s;
	size_t n;

	if (!json_object_is_type(v, json_type_string)) {
		proto_codec_error(err, "invalid_type", field,
				  "%s must be a string.", field);
		return PROTO_EINVAL;
	}
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	/* "\u0000" decodes to a real NUL: C strings would silently cut the
	 * value there, so refuse it instead. */
	if (memchr(s, '\0', n)) {
		proto_codec_error(err, "invalid_value", field,
				  "%s must not contain NUL characters.", field);
		return PROTO_EINVAL;
	}
	if (n > max) {
		proto_codec_error(err, "too_long", field,
				  "%s must be at most %zu bytes long.", field,
				  max);
		return PROTO_EINVAL;
	}
	*out = s;
	return PROTO_OK;
}

int proto_codec_time(json_object *v, const char *field, int64_t *out,
		     struct proto_json_error *err)
{
	const char *s;

	if (proto_codec_string(v, field, PROTO_TIME_TEXT_MAX, &s, err) !=
	    PROTO_OK) {
		/* Over-long text is simply not a timestamp. */
		if (err && strcmp(err->code, "too_long") == 0)
			proto_codec_error(err, "invalid_value", field,
					  "%s must be an RFC 3339 date-time.",
					  field);
		return PROTO_EINVAL;
	}
	if (proto_time_parse(s, out) != PROTO_OK) {
		proto_codec_error(err, "invalid_value", field,
				  "%s must be an RFC 3339 date-time.", field);
		return PROTO_EINVAL;
	}
	return PROTO_OK;
}

json_object *proto_codec_new_double(double d)
{
	char buf[PROTO_CODEC_DOUBLE_BUFSZ];

	/* The shortest round-trip text (encode.c), kept as the value's own
	 * text so json-c prints exactly what the direct writers do. */
	proto_codec_format_double(d, buf);
	return json_object_new_double_s(d, buf);
}

json_object *proto_codec_new_time(int64_t ms)
{
	char buf[PROTO_TIME_BUFSZ];

	return json_object_new_string(proto_time_format(ms, buf));
}
