/*
 * scan.c - a one-pass JSON scanner for text of a known shape, for the
 * direct decoders (record_scan.c). It reads values in place and declines
 * (PROTO_SCAN_DECLINED) whatever is not plainly valid, so its caller can
 * fall back to the json-c decoder, which stays the reference. Strings,
 * numbers and literals are read as json-c reads them; "canonical" values
 * are also in the form json-c prints them. Never does I/O.
 */
#include "scan.h"

#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"

#define DECLINED PROTO_SCAN_DECLINED
#define DATA_DEPTH_MAX 16      /* well inside the json-c decoder's limit */
#define DATA_KEYS_MAX 32       /* per object, for the duplicate check */
#define TEXT_MAX 64            /* timestamps and numbers */

void proto_scan_ws(struct proto_scan *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Skips whitespace, then takes `ch`. */
int proto_scan_take(struct proto_scan *c, char ch)
{
	proto_scan_ws(c);
	if (c->p == c->end || *c->p != ch)
		return 0;
	c->p++;
	return 1;
}

int proto_scan_word(struct proto_scan *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Finds the end of a string whose opening quote is next. Raw control
 * characters and escapes other than json-c's two-character ones and
 * \uXXXX decline. */
int proto_scan_string(struct proto_scan *c, struct proto_slice *out)
{
	if (!proto_scan_take(c, '"'))
		return DECLINED;
	out->s = c->p;
	out->escaped = 0;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch < 0x20)
			return DECLINED;
		if (ch != '\\')
			continue;
		/* *c->p may be a raw NUL, which strchr() would find. */
		if (c->p == c->end || !*c->p ||
		    !strchr("\"\\/bfnrtu", *c->p))
			return DECLINED;
		out->escaped = 1;
		c->p++;
	}
	if (c->p == c->end)
		return DECLINED;
	out->n = (size_t)(c->p++ - out->s);
	return PROTO_OK;
}

int proto_scan_hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char h = s[i];

		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			v |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			v |= (unsigned)(h - 'A' + 10);
		else
			return 0;
	}
	*out = v;
	return 1;
}

size_t proto_scan_put_utf8(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes a string's escapes into d (room for sl->n bytes: decoding never
 * grows it). A NUL or a lone surrogate declines: the json-c decoder
 * refuses the first and replaces the second. So does a pair whose code
 * point's low 16 bits fall in D800-DFFF (U+1D800-U+1DFFF and the like):
 * json-c 0.16 takes those for lone surrogates and writes U+FFFD (the
 * reference now rewrites them first, in json.c), and the reference
 * decides (fuzz_record found it). */
int proto_scan_unescape(const struct proto_slice *sl, char *d, size_t *len)
{
	const char *s = sl->s, *end = sl->s + sl->n;
	size_t n = 0;

	while (s < end) {
		unsigned cp, lo;

		if (*s != '\\') {
			d[n++] = *s++;
			continue;
		}
		s++;
		switch (*s++) {
		case 'b': d[n++] = '\b'; continue;
		case 'f': d[n++] = '\f'; continue;
		case 'n': d[n++] = '\n'; continue;
		case 'r': d[n++] = '\r'; continue;
		case 't': d[n++] = '\t'; continue;
		case 'u': break;
		default: d[n++] = s[-1]; continue;  /* " \ / */
		}
		if (end - s < 4 || !proto_scan_hex4(s, &cp) || cp == 0)
			return DECLINED;
		s += 4;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return DECLINED;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
			    !proto_scan_hex4(s + 2, &lo) || lo < 0xdc00 ||
			    lo > 0xdfff)
				return DECLINED;
			s += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			if ((cp & 0xf800) == 0xd800)
				return DECLINED;
		}
		n += proto_scan_put_utf8(d + n, cp);
	}
	d[n] = '\0';
	*len = n;
	return PROTO_OK;
}

int proto_scan_dup_slice(const struct proto_slice *sl, size_t max,
			 char **out)
{
	size_t n = sl->n;
	int rc = PROTO_OK;

	*out = malloc(sl->n + 1);
	if (!*out)
		return PROTO_ENOMEM;
	if (sl->escaped) {
		rc = proto_scan_unescape(sl, *out, &n);
	} else {
		memcpy(*out, sl->s, n);
		(*out)[n] = '\0';
	}
	if (rc == PROTO_OK && n > max)
		rc = DECLINED;
	if (rc != PROTO_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* A string of at most `max` bytes, decoded into a new C string. */
int proto_scan_dup_string(struct proto_scan *c, size_t max, char **out)
{
	struct proto_slice sl;

	*out = NULL;
	if (proto_scan_string(c, &sl) != PROTO_OK)
		return DECLINED;
	return proto_scan_dup_slice(&sl, max, out);
}

/* A string of at most TEXT_MAX - 1 bytes, decoded into buf. */
static int short_string(struct proto_scan *c, char buf[TEXT_MAX])
{
	struct proto_slice sl;
	size_t n;

	if (proto_scan_string(c, &sl) != PROTO_OK || sl.n >= TEXT_MAX)
		return DECLINED;
	return proto_scan_unescape(&sl, buf, &n);
}

int proto_scan_time(struct proto_scan *c, int64_t *out)
{
	char buf[TEXT_MAX];

	if (short_string(c, buf) != PROTO_OK ||
	    proto_time_parse(buf, out) != PROTO_OK)
		return DECLINED;
	return PROTO_OK;
}

/* Takes a number in JSON's grammar; *is_int when it has neither a
 * fraction nor an exponent. */
static int scan_number(struct proto_scan *c, struct proto_slice *out,
		       int *is_int)
{
	const char *p;

	proto_scan_ws(c);
	p = c->p;
	out->s = p;
	*is_int = 1;
	if (p < c->end && *p == '-')
		p++;
	if (p == c->end || *p < '0' || *p > '9')
		return DECLINED;
	if (*p++ != '0')
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	if (p < c->end && *p == '.') {
		*is_int = 0;
		if (++p == c->end || *p < '0' || *p > '9')
			return DECLINED;
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < c->end && (*p == 'e' || *p == 'E')) {
		*is_int = 0;
		if (++p < c->end && (*p == '+' || *p == '-'))
			p++;
		if (p == c->end || *p < '0' || *p > '9')
			return DECLINED;
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	}
	out->n = (size_t)(p - out->s);
	c->p = p;
	return PROTO_OK;
}

/* An integer in the form json-c prints integers: no fraction, no
 * exponent, no "-0", at most `digits` digits, within int64. */
static int canonical_int(const struct proto_slice *sl, size_t digits,
			 int64_t *out)
{
	const char *s = sl->s;
	size_t n = sl->n;
	int neg = *s == '-';
	uint64_t v = 0;

	if (neg)
		s++, n--;
	if (n > digits || (neg && n == 1 && *s == '0'))
		return DECLINED;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');   /* 19 digits fit */
	if (v > (uint64_t)INT64_MAX + neg)
		return DECLINED;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return PROTO_OK;
}

int proto_scan_int(struct proto_scan *c, int64_t min, int64_t max, int64_t *out)
{
	struct proto_slice sl;
	int is_int;

	if (scan_number(c, &sl, &is_int) != PROTO_OK || !is_int ||
	    canonical_int(&sl, 19, out) != PROTO_OK || *out < min || *out > max)
		return DECLINED;
	return PROTO_OK;
}

/* A number in 0..1, read as json-c reads it: integers exactly, the rest
 * with strtod. */
int proto_scan_unit(struct proto_scan *c, double *out)
{
	char buf[TEXT_MAX];
	struct proto_slice sl;
	int64_t i;
	int is_int;

	if (scan_number(c, &sl, &is_int) != PROTO_OK)
		return DECLINED;
	if (is_int) {
		if (canonical_int(&sl, 19, &i) != PROTO_OK)
			return DECLINED;
		*out = (double)i;
	} else {
		if (sl.n >= sizeof buf)
			return DECLINED;
		memcpy(buf, sl.s, sl.n);
		buf[sl.n] = '\0';
		*out = strtod(buf, NULL);
	}
	return *out >= 0.0 && *out <= 1.0 ? PROTO_OK : DECLINED;
}

/* A string in the form json-c prints it (JSON_C_TO_STRING_PLAIN): '/'
 * written "\/", and no "\u" (json-c spells control characters its own way
 * and writes everything else raw). */
static int canonical_string(struct proto_scan *c, struct proto_slice *out)
{
	if (c->p == c->end || *c->p != '"' ||
	    proto_scan_string(c, out) != PROTO_OK)
		return DECLINED;
	for (size_t k = 0; k < out->n; k++)
		if (out->s[k] == '/' ||
		    (out->s[k] == '\\' && out->s[++k] == 'u'))
			return DECLINED;
	return PROTO_OK;
}

/* Skips one value that must already be in the form json-c prints with
 * JSON_C_TO_STRING_PLAIN (compact, canonical integers, no repeated keys),
 * so the text can stand for its re-encoding. */
int proto_scan_canonical(struct proto_scan *c, int depth)
{
	struct proto_slice keys[DATA_KEYS_MAX], sl;
	size_t n_keys = 0;
	char close;
	int is_int;
	int64_t i;

	if (c->p == c->end)
		return DECLINED;
	switch (*c->p) {
	case '"':
		return canonical_string(c, &sl);
	case 't':
		return proto_scan_word(c, "true", 4) ? PROTO_OK : DECLINED;
	case 'f':
		return proto_scan_word(c, "false", 5) ? PROTO_OK : DECLINED;
	case 'n':
		return proto_scan_word(c, "null", 4) ? PROTO_OK : DECLINED;
	case '{':
	case '[':
		break;
	default:
		if ((*c->p != '-' && (*c->p < '0' || *c->p > '9')) ||
		    scan_number(c, &sl, &is_int) != PROTO_OK)
			return DECLINED;
		/* json-c keeps a double's own text, not an integer's;
		 * beyond int64 it has rules of its own. */
		return !is_int || canonical_int(&sl, 18, &i) == PROTO_OK ?
			PROTO_OK : DECLINED;
	}
	if (depth >= DATA_DEPTH_MAX)
		return DECLINED;
	close = *c->p++ == '{' ? '}' : ']';
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return PROTO_OK;
	}
	for (;;) {
		if (close == '}') {
			/* Canonical text is unique, so equal keys are equal
			 * slices; json-c would keep only the last one. */
			if (n_keys == DATA_KEYS_MAX ||
			    canonical_string(c, &sl) != PROTO_OK)
				return DECLINED;
			for (size_t k = 0; k < n_keys; k++)
				if (keys[k].n == sl.n &&
				    memcmp(keys[k].s, sl.s, sl.n) == 0)
					return DECLINED;
			keys[n_keys++] = sl;
			if (c->p == c->end || *c->p++ != ':')
				return DECLINED;
		}
		if (proto_scan_canonical(c, depth + 1) != PROTO_OK ||
		    c->p == c->end)
			return DECLINED;
		if (*c->p == close) {
			c->p++;
			return PROTO_OK;
		}
		if (*c->p++ != ',')
			return DECLINED;
	}
}

/* Reads the keys of an object, calling member(c, ctx, key) for each;
 * `member` reads the value. */
int proto_scan_members(struct proto_scan *c, void *ctx,
		       int (*member)(struct proto_scan *, void *,
				     const struct proto_slice *))
{
	struct proto_slice key;
	int rc;

	if (!proto_scan_take(c, '{'))
		return DECLINED;
	if (proto_scan_take(c, '}'))
		return PROTO_OK;
	do {
		if (proto_scan_string(c, &key) != PROTO_OK ||
		    !proto_scan_take(c, ':'))
			return DECLINED;
		proto_scan_ws(c);
		rc = member(c, ctx, &key);
		if (rc != PROTO_OK)
			return rc;
	} while (proto_scan_take(c, ','));
	return proto_scan_take(c, '}') ? PROTO_OK : DECLINED;
}

/* Names the scanner knows are written without escapes. */
int proto_scan_is_key(const struct proto_slice *k, const char *name)
{
	return !k->escaped && strlen(name) == k->n &&
		memcmp(k->s, name, k->n) == 0;
}

/* Takes one bit of *seen for a key: a repeated key declines, because
 * json-c keeps the last of them. */
int proto_scan_first(uint32_t *seen, uint32_t bit)
{
	if (*seen & bit)
		return 0;
	*seen |= bit;
	return 1;
}
