/*
 * key.c - history keys: a race's source plus its title normalized so that
 * runs of the same task share a key while distinct tasks stay apart.
 *
 * Pure string work on caller buffers; never allocates, never does I/O.
 * The rules are listed in predict.h (pred_key) and docs/PREDICTION.md.
 */
#include "predict.h"

#include <string.h>

/* A bounded writer over dst; sets `over` instead of overflowing. */
struct out {
	char *dst;
	size_t cap;
	size_t len;
	int over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->over || o->len + n + 1 > o->cap) {
		o->over = 1;
		return;
	}
	memcpy(o->dst + o->len, s, n);
	o->len += n;
	o->dst[o->len] = '\0';
}

static void putc1(struct out *o, char c)
{
	put(o, &c, 1);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (unsigned char)c >= 0x80;
}

/* Word characters: a placeholder only starts and ends at non-word ones. */
static int is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Number of digits at s, at most max. */
static size_t digits(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && is_digit(s[n]))
		n++;
	return n;
}

/* 1 when s (lowercased) ends the token at n: next char is not a word char. */
static int ends_word(const char *s, size_t n)
{
	return !is_word(s[n]);
}

/* "8-4-4-4-12" hex digits; returns its length or 0. */
static size_t match_uuid(const char *s)
{
	static const size_t groups[] = { 8, 4, 4, 4, 12 };
	size_t i = 0;
	for (size_t g = 0; g < 5; g++) {
		for (size_t k = 0; k < groups[g]; k++, i++)
			if (!is_hex(s[i]))
				return 0;
		if (g < 4) {
			if (s[i] != '-')
				return 0;
			i++;
		}
	}
	return ends_word(s, i) ? i : 0;
}

/* HH:MM[:SS][.frac][z|+hh:mm|-hh:mm]; returns its length or 0. */
static size_t match_time(const char *s)
{
	size_t i = digits(s, 2);
	if (i == 0 || s[i] != ':' || digits(s + i + 1, 2) != 2)
		return 0;
	i += 3;
	if (s[i] == ':' && digits(s + i + 1, 2) == 2)
		i += 3;
	if (s[i] == '.' && is_digit(s[i + 1]))
		i += 1 + digits(s + i + 1, 9);
	if (s[i] == 'z') {
		i++;
	} else if ((s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) == 2 &&
		   s[i + 3] == ':' && digits(s + i + 4, 2) == 2) {
		i += 6;
	}
	return ends_word(s, i) ? i : 0;
}

/*
 * YYYY-MM-DD or YYYY/MM/DD (also YYYYMMDD is left to the number rule),
 * optionally followed by 't' or '_' and a time; returns its length or 0.
 */
static size_t match_date(const char *s)
{
	if (digits(s, 4) != 4)
		return 0;
	char sep = s[4];
	if ((sep != '-' && sep != '/') || digits(s + 5, 2) != 2 ||
	    s[7] != sep || digits(s + 8, 2) != 2)
		return 0;
	size_t i = 10;
	if (s[i] == 't' || s[i] == '_') {
		size_t t = match_time(s + i + 1);
		if (t)
			return i + 1 + t;
	}
	return ends_word(s, i) ? i : 0;
}

/* A hex run of >= 7 with at least one digit and one letter, or 0. */
static size_t match_hex(const char *s)
{
	size_t i = 0;
	int dig = 0, let = 0;
	while (is_hex(s[i])) {
		if (is_digit(s[i]))
			dig = 1;
		else
			let = 1;
		i++;
	}
	return (i >= 7 && dig && let && ends_word(s, i)) ? i : 0;
}

/*
 * A whole number; *version is set when it starts a dotted version
 * (1.10, 2.0.1), which is kept verbatim. Returns the length or 0.
 */
static size_t match_number(const char *s, int *version)
{
	size_t i = digits(s, (size_t)-1);
	*version = 0;
	if (i == 0)
		return 0;
	while (s[i] == '.' && is_digit(s[i + 1])) {
		*version = 1;
		i += 1 + digits(s + i + 1, (size_t)-1);
	}
	return ends_word(s, i) ? i : 0;
}

/*
 * Normalizes src (any case, any spacing) into o. First lowercases and
 * collapses whitespace into a bounded scratch copy, so the matchers can
 * look ahead without bounds checks (the copy is NUL-terminated).
 */
static void normalize(const char *src, struct out *o)
{
	char buf[PRED_KEY_MAX + 64];
	size_t n = 0;
	int pending_space = 0;

	for (const char *p = src; *p && n + 2 < sizeof buf; p++) {
		char c = lower(*p);
		if (is_space(c) || ((unsigned char)c < 0x20) || c == 0x7f) {
			pending_space = n > 0;
			continue;
		}
		if (pending_space)
			buf[n++] = ' ';
		pending_space = 0;
		buf[n++] = c;
	}
	buf[n] = '\0';

	size_t i = 0;
	while (i < n) {
		const char *s = buf + i;
		size_t m;
		int version;

		if (i > 0 && is_word(buf[i - 1])) {
			/* Inside a word (x86_64, i686, v1): copy the rest of it. */
			size_t k = 0;
			/* A version glued to a word (go1.22, v2.0.1) stays whole. */
			while (is_word(s[k]) ||
			       (s[k] == '.' && k > 0 && is_digit(s[k - 1]) &&
				is_digit(s[k + 1])))
				k++;
			if (k == 0)
				k = 1;
			put(o, s, k);
			i += k;
			continue;
		}
		if ((m = match_uuid(s))) {
			put(o, "<uuid>", 6);
		} else if ((m = match_date(s))) {
			put(o, "<date>", 6);
		} else if ((m = match_time(s))) {
			put(o, "<time>", 6);
		} else if ((m = match_hex(s))) {
			put(o, "<hex>", 5);
		} else if ((m = match_number(s, &version))) {
			if (version)
				put(o, s, m);
			else
				put(o, "<n>", 3);
		} else {
			putc1(o, *s);
			m = 1;
		}
		i += m;
	}
}

/* Lowercases and collapses whitespace only (identity values). */
static void fold(const char *src, struct out *o)
{
	int pending_space = 0, any = 0;
	for (const char *p = src; *p; p++) {
		char c = lower(*p);
		if (is_space(c) || (unsigned char)c < 0x20 || c == 0x7f) {
			pending_space = any;
			continue;
		}
		if (pending_space)
			putc1(o, ' ');
		pending_space = 0;
		any = 1;
		putc1(o, c);
	}
}

static const char *meta_get(const struct pred_kv *meta, size_t n,
			    const char *key, size_t keylen)
{
	for (size_t i = 0; i < n; i++)
		if (meta[i].key && strlen(meta[i].key) == keylen &&
		    memcmp(meta[i].key, key, keylen) == 0)
			return meta[i].value;
	return NULL;
}

#define IDENT_MAX 16

struct span {
	const char *s;
	size_t n;
};

static int span_cmp(struct span a, struct span b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = memcmp(a.s, b.s, n);
	return c ? c : (a.n > b.n) - (a.n < b.n);
}

/* Parses "a, b,c" into sorted, unique, trimmed spans; returns the count. */
static size_t parse_identity(const char *list, struct span out[IDENT_MAX])
{
	size_t n = 0;
	const char *p = list;
	while (*p && n < IDENT_MAX) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *a = p, *b = p + len;
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if (b > a) {
			struct span sp = { a, (size_t)(b - a) };
			size_t k = n;
			/* Insertion sort keeps the list ordered; skip duplicates. */
			int dup = 0;
			for (size_t j = 0; j < n; j++)
				if (span_cmp(out[j], sp) == 0)
					dup = 1;
			if (!dup) {
				while (k > 0 && span_cmp(out[k - 1], sp) > 0) {
					out[k] = out[k - 1];
					k--;
				}
				out[k] = sp;
				n++;
			}
		}
		if (!e)
			break;
		p = e + 1;
	}
	return n;
}

int pred_key(const char *source, const char *title,
	     const struct pred_kv *meta, size_t n_meta, char *dst, size_t cap)
{
	if (!source || !title || !dst || cap == 0 || (n_meta && !meta))
		return PRED_EINVAL;
	struct out o = { dst, cap, 0, 0 };
	dst[0] = '\0';

	fold(source, &o);
	putc1(&o, PRED_KEY_SEP);
	normalize(title, &o);

	const char *ident = meta_get(meta, n_meta, PRED_IDENTITY_META,
				     strlen(PRED_IDENTITY_META));
	if (ident) {
		struct span names[IDENT_MAX];
		size_t n = parse_identity(ident, names);
		for (size_t i = 0; i < n; i++) {
			const char *v = meta_get(meta, n_meta, names[i].s,
						 names[i].n);
			if (!v)
				continue;
			putc1(&o, PRED_KEY_SEP);
			put(&o, names[i].s, names[i].n);
			putc1(&o, '=');
			fold(v, &o);
		}
	}
	if (o.over) {
		dst[0] = '\0';
		return PRED_ELIMIT;
	}
	return PRED_OK;
}

size_t pred_tokens(const char *title, char out[][PRED_TOKEN_MAX],
		   size_t max_tokens)
{
	size_t n = 0;
	const char *p = title;
	while (*p && n < max_tokens) {
		if (*p == '<') {
			/* Skip a placeholder: it says nothing about identity. */
			const char *e = strchr(p, '>');
			p = e ? e + 1 : p + 1;
			continue;
		}
		if (*p == PRED_KEY_SEP)
			break;  /* the title part ends here */
		if (!(is_alnum(*p) && (unsigned char)*p < 0x80)) {
			p++;
			continue;
		}
		size_t k = 0;
		char tok[PRED_TOKEN_MAX];
		while (is_alnum(*p) && (unsigned char)*p < 0x80) {
			if (k + 1 < PRED_TOKEN_MAX)
				tok[k++] = *p;
			p++;
		}
		tok[k] = '\0';
		int dup = 0;
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(out[j], tok) == 0;
		if (!dup)
			memcpy(out[n++], tok, k + 1);
	}
	return n;
}
