/*
 * record_scan.c - the direct decoder for stored records: one pass over
 * the text, straight into a race, without a json-c tree.
 *
 * Loading the races is most of a cold start, and json-c spends most of it
 * allocating: a hash table per object (grown once for a race's ~15 keys),
 * an object per value. Records are written by proto_record_write(), so
 * they have one known shape. This scanner decodes exactly that shape and
 * declines anything else (an unknown or repeated key, a "\u" escape,
 * a number in an unusual form, a value out of range, ...). A declined
 * record goes through the json-c decoder (record.c), which stays the
 * reference: the scanner must return what it would return, or decline.
 * tests/test_proto_encode.c and fuzz/fuzz_record.c check that.
 *
 * Event "data" is kept as the record's own text when that text is what
 * json-c would print back (compact, no duplicate keys, canonical
 * integers, the escapes json-c writes), so it is byte-identical to the
 * json-c path's re-encoding. Never does I/O; never includes
 * libwebsockets or LMDB.
 */
#include "codec.h"
#include "rfc3339.h"

#include <stdlib.h>
#include <string.h>

#define DECLINED PROTO_RECORD_DECLINED
#define DATA_DEPTH_MAX 16      /* well inside the json-c decoder's limit */
#define DATA_KEYS_MAX 32       /* per object, for the duplicate check */
#define TEXT_MAX 64            /* timestamps and numbers */

/* Always present, so, as in the json-c path, never in a race's `has`. */
#define REQUIRED (PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE | \
		  PROTO_F_STATE | PROTO_F_STARTED_AT)

struct scan {
	const char *p, *end;
};

/* A string as it appears in the text, between the quotes. */
struct slice {
	const char *s;
	size_t n;
	int escaped;
};

static void skip_ws(struct scan *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Skips whitespace, then takes `ch`. */
static int take(struct scan *c, char ch)
{
	skip_ws(c);
	if (c->p == c->end || *c->p != ch)
		return 0;
	c->p++;
	return 1;
}

static int take_word(struct scan *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Finds the end of a string whose opening quote is next. Raw control
 * characters and escapes other than json-c's two-character ones and
 * \uXXXX decline. */
static int scan_string(struct scan *c, struct slice *out)
{
	if (!take(c, '"'))
		return DECLINED;
	out->s = c->p;
	out->escaped = 0;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch < 0x20)
			return DECLINED;
		if (ch != '\\')
			continue;
		if (c->p == c->end || !strchr("\"\\/bfnrtu", *c->p))
			return DECLINED;
		out->escaped = 1;
		c->p++;
	}
	if (c->p == c->end)
		return DECLINED;
	out->n = (size_t)(c->p++ - out->s);
	return PROTO_OK;
}

static int hex4(const char *s, unsigned *out)
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

static size_t put_utf8(char *d, unsigned cp)
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
 * refuses the first and replaces the second. */
static int unescape(const struct slice *sl, char *d, size_t *len)
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
		if (end - s < 4 || !hex4(s, &cp) || cp == 0)
			return DECLINED;
		s += 4;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return DECLINED;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
			    !hex4(s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
				return DECLINED;
			s += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		n += put_utf8(d + n, cp);
	}
	d[n] = '\0';
	*len = n;
	return PROTO_OK;
}

/* A string of at most `max` bytes, decoded into a new C string. */
static int dup_string(struct scan *c, size_t max, char **out)
{
	struct slice sl;
	size_t n;
	int rc;

	*out = NULL;
	if (scan_string(c, &sl) != PROTO_OK)
		return DECLINED;
	*out = malloc(sl.n + 1);
	if (!*out)
		return PROTO_ENOMEM;
	rc = unescape(&sl, *out, &n);
	if (rc == PROTO_OK && n > max)
		rc = DECLINED;
	if (rc != PROTO_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* A string of at most TEXT_MAX - 1 bytes, decoded into buf. */
static int short_string(struct scan *c, char buf[TEXT_MAX])
{
	struct slice sl;
	size_t n;

	if (scan_string(c, &sl) != PROTO_OK || sl.n >= TEXT_MAX)
		return DECLINED;
	return unescape(&sl, buf, &n);
}

static int read_time(struct scan *c, int64_t *out)
{
	char buf[TEXT_MAX];

	if (short_string(c, buf) != PROTO_OK ||
	    proto_time_parse(buf, out) != PROTO_OK)
		return DECLINED;
	return PROTO_OK;
}

/* Takes a number in JSON's grammar; *is_int when it has neither a
 * fraction nor an exponent. */
static int scan_number(struct scan *c, struct slice *out, int *is_int)
{
	const char *p;

	skip_ws(c);
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
static int canonical_int(const struct slice *sl, size_t digits, int64_t *out)
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

static int read_int(struct scan *c, int64_t min, int64_t max, int64_t *out)
{
	struct slice sl;
	int is_int;

	if (scan_number(c, &sl, &is_int) != PROTO_OK || !is_int ||
	    canonical_int(&sl, 19, out) != PROTO_OK || *out < min || *out > max)
		return DECLINED;
	return PROTO_OK;
}

/* A number in 0..1, read as json-c reads it: integers exactly, the rest
 * with strtod. */
static int read_unit(struct scan *c, double *out)
{
	char buf[TEXT_MAX];
	struct slice sl;
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
static int canonical_string(struct scan *c, struct slice *out)
{
	if (c->p == c->end || *c->p != '"' || scan_string(c, out) != PROTO_OK)
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
static int skip_canonical(struct scan *c, int depth)
{
	struct slice keys[DATA_KEYS_MAX], sl;
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
		return take_word(c, "true", 4) ? PROTO_OK : DECLINED;
	case 'f':
		return take_word(c, "false", 5) ? PROTO_OK : DECLINED;
	case 'n':
		return take_word(c, "null", 4) ? PROTO_OK : DECLINED;
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
		if (skip_canonical(c, depth + 1) != PROTO_OK ||
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

/* Returns `arr` with room for element i (zeroed), growing it from 4 by
 * doubling, so a race holds about what it needs (the json-c path sizes it
 * exactly); NULL when out of memory, `arr` untouched. */
static void *room_for(void *arr, size_t i, size_t size)
{
	if (!arr || (i >= 4 && !(i & (i - 1)))) {
		void *p = realloc(arr, (i ? 2 * i : 4) * size);

		if (!p)
			return NULL;
		arr = p;
	}
	memset((char *)arr + i * size, 0, size);
	return arr;
}

/* Calls item(c, race, i) for each element of an array of at most `max`
 * (each item records the array's new length itself). */
static int each_element(struct scan *c, struct proto_race *r, size_t max,
			int (*item)(struct scan *, struct proto_race *, size_t))
{
	size_t i = 0;
	int rc;

	if (!take(c, '['))
		return DECLINED;
	if (take(c, ']'))
		return PROTO_OK;
	do {
		if (i == max)
			return DECLINED;
		rc = item(c, r, i++);
		if (rc != PROTO_OK)
			return rc;
	} while (take(c, ','));
	return take(c, ']') ? PROTO_OK : DECLINED;
}

/* Reads the keys of an object, calling member(c, ctx, key) for each;
 * `member` reads the value. */
static int each_member(struct scan *c, void *ctx,
		       int (*member)(struct scan *, void *,
				     const struct slice *))
{
	struct slice key;
	int rc;

	if (!take(c, '{'))
		return DECLINED;
	if (take(c, '}'))
		return PROTO_OK;
	do {
		if (scan_string(c, &key) != PROTO_OK || !take(c, ':'))
			return DECLINED;
		skip_ws(c);
		rc = member(c, ctx, &key);
		if (rc != PROTO_OK)
			return rc;
	} while (take(c, ','));
	return take(c, '}') ? PROTO_OK : DECLINED;
}

/* Names the scanner knows are written without escapes. */
static int is_key(const struct slice *k, const char *name)
{
	return !k->escaped && strlen(name) == k->n &&
		memcmp(k->s, name, k->n) == 0;
}

/* Takes one bit of *seen for a key: a repeated key declines, because
 * json-c keeps the last of them. */
static int first_time(uint32_t *seen, uint32_t bit)
{
	if (*seen & bit)
		return 0;
	*seen |= bit;
	return 1;
}

struct revision_ctx {
	struct proto_eta_revision *rev;
	uint32_t seen;
};

static int revision_member(struct scan *c, void *arg, const struct slice *k)
{
	struct revision_ctx *x = arg;
	int64_t v;

	if (is_key(k, "eta_sec") && first_time(&x->seen, 1))
		return read_int(c, 0, PROTO_ETA_MAX_SEC, &x->rev->eta_sec);
	if (is_key(k, "timestamp") && first_time(&x->seen, 2))
		return read_time(c, &x->rev->timestamp);
	if (is_key(k, "confidence") && first_time(&x->seen, 4))
		return read_unit(c, &x->rev->confidence);
	if (is_key(k, "source") && first_time(&x->seen, 8) &&
	    read_int(c, PROTO_ETA_EXACT, PROTO_ETA_DEFAULT, &v) == PROTO_OK) {
		x->rev->source = (int)v;
		return PROTO_OK;
	}
	return DECLINED;
}

static int revision_item(struct scan *c, struct proto_race *r, size_t i)
{
	struct revision_ctx x = { &r->eta_revisions[i], 0 };
	int rc = each_member(c, &x, revision_member);

	r->n_eta_revisions = i + 1;
	return rc == PROTO_OK && x.seen != 15 ? DECLINED : rc;
}

struct event_ctx {
	struct proto_event *ev;
	uint32_t seen;
};

static int event_member(struct scan *c, void *arg, const struct slice *k)
{
	struct event_ctx *x = arg;
	const char *start = c->p;
	size_t n;

	if (is_key(k, "type") && first_time(&x->seen, 1)) {
		int rc = dup_string(c, PROTO_EVENT_TYPE_MAX, &x->ev->type);

		return rc == PROTO_OK && !x->ev->type[0] ? DECLINED : rc;
	}
	if (is_key(k, "timestamp") && first_time(&x->seen, 2))
		return read_time(c, &x->ev->timestamp);
	if (!is_key(k, "data") || !first_time(&x->seen, 4) ||
	    skip_canonical(c, 0) != PROTO_OK)
		return DECLINED;
	n = (size_t)(c->p - start);
	if (n == 4 && memcmp(start, "null", 4) == 0)
		return PROTO_OK;     /* as absent, like the json-c path */
	if (n > PROTO_EVENT_DATA_MAX)
		return DECLINED;
	x->ev->data_json = malloc(n + 1);
	if (!x->ev->data_json)
		return PROTO_ENOMEM;
	memcpy(x->ev->data_json, start, n);
	x->ev->data_json[n] = '\0';
	return PROTO_OK;
}

static int event_item(struct scan *c, struct proto_race *r, size_t i)
{
	struct proto_event *events = room_for(r->events, i, sizeof *events);
	struct event_ctx x = { NULL, 0 };
	int rc;

	if (!events)
		return PROTO_ENOMEM;
	r->events = events;
	x.ev = &r->events[i];
	r->n_events = i + 1;    /* so a failure frees what this one holds */
	rc = each_member(c, &x, event_member);
	return rc == PROTO_OK && (x.seen & 3) != 3 ? DECLINED : rc;
}

static int metadata_member(struct scan *c, void *arg, const struct slice *k)
{
	struct proto_race *r = arg;
	struct proto_kv *kv;
	size_t n;
	int rc;

	if (r->n_metadata == PROTO_META_KEYS_MAX || k->n > PROTO_META_KEY_MAX)
		return DECLINED;
	kv = room_for(r->metadata, r->n_metadata, sizeof *kv);
	if (!kv)
		return PROTO_ENOMEM;
	r->metadata = kv;
	kv = &r->metadata[r->n_metadata++];
	kv->key = malloc(k->n + 1);
	if (!kv->key)
		return PROTO_ENOMEM;
	rc = unescape(k, kv->key, &n);
	if (rc != PROTO_OK)
		return rc;
	return dup_string(c, PROTO_META_VALUE_MAX, &kv->value);
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct proto_kv *)a)->key,
		      ((const struct proto_kv *)b)->key);
}

static int read_metadata(struct scan *c, struct proto_race *r)
{
	int rc = each_member(c, r, metadata_member);
	if (rc != PROTO_OK)
		return rc;
	if (r->n_metadata > 1)
		qsort(r->metadata, r->n_metadata, sizeof *r->metadata, kv_cmp);
	for (size_t i = 1; i < r->n_metadata; i++)
		if (strcmp(r->metadata[i - 1].key, r->metadata[i].key) == 0)
			return DECLINED;
	return PROTO_OK;
}

static int read_required_string(struct scan *c, struct proto_race *r,
				uint32_t field)
{
	char *s;
	int rc = dup_string(c, PROTO_TITLE_MAX, &s);

	if (rc != PROTO_OK)
		return rc;
	switch (field) {
	case PROTO_F_ID:
		r->id = s;
		return proto_id_valid(s) ? PROTO_OK : DECLINED;
	case PROTO_F_SOURCE:
		r->source = s;
		return s[0] && strlen(s) <= PROTO_SOURCE_MAX ? PROTO_OK
							     : DECLINED;
	case PROTO_F_TITLE:
		r->title = s;
		return PROTO_OK;
	default:
		rc = proto_state_parse(s, &r->state) == PROTO_OK ? PROTO_OK
								 : DECLINED;
		free(s);
		return rc;
	}
}

/* Reads the value of one of the race's own fields. */
static int read_field(struct scan *c, struct proto_race *r, uint32_t field)
{
	int64_t v;
	int rc;

	switch (field) {
	case PROTO_F_ID:
	case PROTO_F_SOURCE:
	case PROTO_F_TITLE:
	case PROTO_F_STATE:
		return read_required_string(c, r, field);
	case PROTO_F_STARTED_AT:
		return read_time(c, &r->started_at);
	case PROTO_F_COMPLETED_AT:
		return read_time(c, &r->completed_at);
	case PROTO_F_LAST_PROGRESS_UPDATE:
		return read_time(c, &r->last_progress_update);
	case PROTO_F_LAST_ETA_UPDATE:
		return read_time(c, &r->last_eta_update);
	case PROTO_F_DURATION_SEC:
		return read_int(c, 0, INT64_MAX, &r->duration_sec);
	case PROTO_F_ETA_SEC:
		return read_int(c, 0, PROTO_ETA_MAX_SEC, &r->eta_sec);
	case PROTO_F_PREVIOUS_ETA_SEC:
		return read_int(c, 0, PROTO_ETA_MAX_SEC, &r->previous_eta_sec);
	case PROTO_F_ETA_CONFIDENCE:
		return read_unit(c, &r->eta_confidence);
	case PROTO_F_DEEPLINK:
		return dup_string(c, PROTO_DEEPLINK_MAX, &r->deeplink);
	case PROTO_F_METADATA:
		return read_metadata(c, r);
	case PROTO_F_ETA_REVISIONS:
		return each_element(c, r, PROTO_ETA_REVISIONS_MAX,
				    revision_item);
	case PROTO_F_EVENTS:
		return each_element(c, r, PROTO_EVENTS_MAX, event_item);
	case PROTO_F_EVENTS_DROPPED:
		rc = read_int(c, 0, INT64_MAX, &v);
		r->events_dropped = (uint64_t)v;
		return rc;
	}
	rc = read_int(c, field == PROTO_F_PROGRESS ? 0 :
			 field == PROTO_F_ETA_SOURCE ? PROTO_ETA_EXACT : 1,
		      field == PROTO_F_PROGRESS ? 100 :
			 field == PROTO_F_ETA_SOURCE ? PROTO_ETA_DEFAULT :
			 PROTO_HINT_MAX_SEC, &v);
	if (rc != PROTO_OK)
		return rc;
	if (field == PROTO_F_PROGRESS)
		r->progress = (int)v;
	else if (field == PROTO_F_ETA_SOURCE)
		r->eta_source = (int)v;
	else
		r->update_interval_hint = (int)v;
	return PROTO_OK;
}

struct race_ctx {
	struct proto_race *r;
	uint32_t seen;          /* PROTO_F_* bits of the keys, nulls too */
	int v, hint_explicit;   /* "v" and "hint_explicit" seen */
};

static int race_member(struct scan *c, void *arg, const struct slice *k)
{
	struct race_ctx *x = arg;
	int64_t version;

	if (is_key(k, "v") && !x->v++)
		return read_int(c, 1, PROTO_RECORD_VERSION, &version);
	if (is_key(k, "hint_explicit") && !x->hint_explicit++) {
		if (take_word(c, "true", 4))
			x->r->hint_explicit = 1;
		else if (!take_word(c, "false", 5) &&
			 !take_word(c, "null", 4))
			return DECLINED;
		return PROTO_OK;
	}
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t field = proto_codec_fields[i].field;
		int rc;

		if (!is_key(k, proto_codec_fields[i].name))
			continue;
		if (!first_time(&x->seen, field))
			return DECLINED;
		/* null is an absent optional field, as in the json-c path;
		 * a required one is left missing, which declines below. */
		if (take_word(c, "null", 4))
			return PROTO_OK;
		rc = read_field(c, x->r, field);
		if (rc == PROTO_OK && !(field & REQUIRED))
			x->r->has |= field;
		return rc;
	}
	return DECLINED;
}

int proto_record_decode_direct(const char *buf, size_t len,
			       struct proto_race **out)
{
	struct scan c = { buf, buf + len };
	struct race_ctx x = { 0 };
	int rc;

	*out = NULL;
	if (!buf || !len || memchr(buf, '\0', len) ||
	    !proto_codec_utf8_valid(buf, len))
		return DECLINED;
	x.r = calloc(1, sizeof *x.r);
	if (!x.r)
		return PROTO_ENOMEM;
	rc = each_member(&c, &x, race_member);
	skip_ws(&c);
	if (rc == PROTO_OK && (c.p != c.end ||
			       (x.seen & REQUIRED) != REQUIRED))
		rc = DECLINED;
	if (rc != PROTO_OK) {
		proto_race_free(x.r);
		return rc;
	}
	/* The same normalisations as the json-c path (record.c). */
	if (!x.r->events_dropped)
		x.r->has &= ~PROTO_F_EVENTS_DROPPED;
	if (!x.r->n_eta_revisions)
		x.r->has &= ~PROTO_F_ETA_REVISIONS;
	if (!x.r->n_events)
		x.r->has &= ~PROTO_F_EVENTS;
	if (!x.r->n_metadata)
		x.r->has &= ~PROTO_F_METADATA;
	if (!(x.r->has & PROTO_F_UPDATE_INTERVAL_HINT)) {
		x.r->update_interval_hint =
			proto_source_default_hint(x.r->source);
		x.r->has |= PROTO_F_UPDATE_INTERVAL_HINT;
	}
	*out = x.r;
	return PROTO_OK;
}
