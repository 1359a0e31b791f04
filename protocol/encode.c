/*
 * encode.c - direct JSON writers: races, records and deltas straight into
 * a proto_buf, byte for byte what json-c prints for the trees that
 * json_encode.c, record.c and delta.c build.
 *
 * What "what json-c prints" means, as json-c 0.16 does it (and as
 * tests/test_proto_encode.c checks over all 256 byte values and random
 * races):
 *  - PLAIN: no spaces; members joined by ',', arrays by ','; objects
 *    keep insertion order, which here is the field table's order.
 *  - Strings and keys: '"' and '\\' and the controls \b \f \n \r \t get
 *    their short escapes, every other byte below 0x20 is \u00xx (lower
 *    case hex), '/' is "\/" unless NOSLASHESCAPE, and everything else
 *    (DEL, bytes >= 0x80: UTF-8) passes through unchanged.
 *  - Integers: %PRId64 / %PRIu64. Doubles: the text they were created
 *    with (json_object_new_double_s), which proto_codec_format_double()
 *    gives for both paths.
 *  - An event's "data" is stored as the text json-c printed (PLAIN) when
 *    it was decoded; re-parsing and re-printing that text with the same
 *    flags gives it back unchanged, so a record copies it verbatim, while
 *    the NOSLASHESCAPE form differs only in "\/" becoming "/".
 * Never does I/O, never reads the clock, never includes the WebSocket
 * library or LMDB.
 */
#include "encode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rfc3339.h"

/* A delta names an appended event "event" (see delta.c). */
#define EVENT_KEY "event"

/*
 * The writer: a cursor into b's allocation. `p` runs ahead of b->len and
 * is committed only when the whole value was written, so a failure
 * anywhere leaves the caller's text as it was.
 */
struct writer {
	struct proto_buf *b;
	char *p;     /* next byte to write */
	char *end;   /* end of the text capacity */
	size_t start; /* b->len when the writer began */
	int slash;   /* escape '/' as "\/" (records); 0 for NOSLASHESCAPE */
	int err;     /* first failure (sticky); later writes are no-ops */
};

static const char hex[] = "0123456789abcdef";

/*
 * What a byte becomes inside a JSON string: 0 passes through, 'u' is a
 * \u00xx escape, '/' depends on the writer's flag, anything else is the
 * letter of a two-byte escape.
 */
static const unsigned char esc[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
	[0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u',
	[0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
	[0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
	[0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\', ['/'] = '/',
};

/* Points the cursor at text byte `used` of b's current allocation. The
 * end stops at b->max too, so that writes within the allocation still
 * meet the limit (in grow(), which reports it). */
static void writer_at(struct writer *w, size_t used)
{
	struct proto_buf *b = w->b;
	size_t cap = b->max && b->max < b->cap ? b->max : b->cap;

	if (cap < used)
		cap = used; /* already past max: nothing more fits */
	w->p = b->data + b->headroom + used;
	w->end = b->data + b->headroom + cap;
}

static void writer_begin(struct writer *w, struct proto_buf *b, int slash)
{
	w->b = b;
	w->start = b->len;
	w->slash = slash;
	w->err = PROTO_OK;
	w->p = w->end = NULL;
	if (b->data)
		writer_at(w, b->len);
}

/* Makes room for `n` more bytes at w->p; 0 when there is room. */
static int grow(struct writer *w, size_t n)
{
	struct proto_buf *b = w->b;
	size_t used, saved = b->len;
	int rc;

	if (w->err)
		return -1;
	used = w->p ? (size_t)(w->p - (b->data + b->headroom)) : b->len;
	/* Reserve relative to everything written so far, then put len
	 * back: nothing is committed until writer_end(). */
	b->len = used;
	rc = proto_buf_reserve(b, n);
	b->len = saved;
	if (rc != PROTO_OK) {
		w->err = rc;
		return -1;
	}
	writer_at(w, used);
	return 0;
}

static inline int room(struct writer *w, size_t n)
{
	if (w->p && (size_t)(w->end - w->p) >= n && !w->err)
		return 0;
	return grow(w, n);
}

static int writer_end(struct writer *w)
{
	struct proto_buf *b = w->b;

	if (!w->err && room(w, 0) == 0) {
		b->len = (size_t)(w->p - (b->data + b->headroom));
		b->data[b->headroom + b->len] = '\0';
		return PROTO_OK;
	}
	/* The text before w->start was never touched; restore its NUL. */
	b->len = w->start;
	if (b->data)
		b->data[b->headroom + b->len] = '\0';
	return w->err;
}

static void put(struct writer *w, const char *s, size_t n)
{
	if (room(w, n))
		return;
	memcpy(w->p, s, n);
	w->p += n;
}

static void put_c(struct writer *w, char c)
{
	if (room(w, 1))
		return;
	*w->p++ = c;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* A JSON string of `n` bytes of `s`, escaped as json_escape_str() does. */
static void put_str_n(struct writer *w, const char *s, size_t n)
{
	size_t run = 0;

	put_c(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i], e = esc[c];

		if (!e || (c == '/' && !w->slash))
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		if (e == 'u') {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4],
				     hex[c & 0xf]};

			put(w, u, sizeof u);
		} else {
			char two[2] = {'\\', (char)e};

			put(w, two, 2);
		}
	}
	put(w, s + run, n - run);
	put_c(w, '"');
}

static void put_str(struct writer *w, const char *s)
{
	put_str_n(w, s, strlen(s));
}

/* `,"key":` (no comma for the first member). Table keys need no escaping,
 * but metadata keys and extras do, so every key goes through put_str. */
static void put_key(struct writer *w, const char *key, int *first)
{
	if (!*first)
		put_c(w, ',');
	*first = 0;
	put_str(w, key);
	put_c(w, ':');
}

static void put_u64(struct writer *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, d + i, sizeof d - i);
}

static void put_i64(struct writer *w, int64_t v)
{
	if (v < 0) {
		put_c(w, '-');
		/* Negate in unsigned arithmetic: -INT64_MIN overflows. */
		put_u64(w, 0 - (uint64_t)v);
	} else {
		put_u64(w, (uint64_t)v);
	}
}

static void put_double(struct writer *w, double d)
{
	char buf[PROTO_CODEC_DOUBLE_BUFSZ];

	put(w, buf, proto_codec_format_double(d, buf));
}

/* An RFC 3339 string: digits and "-:.TZ" only, so nothing to escape. */
static void put_time(struct writer *w, int64_t ms)
{
	char buf[PROTO_TIME_BUFSZ + 2];

	buf[0] = '"';
	proto_time_format(ms, buf + 1);
	put(w, buf, strlen(buf));
	put_c(w, '"');
}

/*
 * An event's data text. A record copies it: it is what json-c printed
 * with the record's own flags. The API form is printed with
 * NOSLASHESCAPE, and json-c escapes nothing else differently, so "\/"
 * becomes "/". In json-c output a backslash only ever starts an escape
 * inside a string, so pairing it with the next byte is exact ("\\/" is an
 * escaped backslash followed by a plain '/').
 */
static void put_data(struct writer *w, const char *json)
{
	size_t n = strlen(json), run = 0;
	const char *q = json, *end = json + n;

	if (w->slash) {
		put(w, json, n);
		return;
	}
	while (q < end && (q = memchr(q, '\\', (size_t)(end - q)))) {
		if (q[1] == '/') {
			put(w, json + run, (size_t)(q - json) - run);
			run = (size_t)(q - json) + 1; /* keep the '/' only */
		}
		q += 2; /* the escaped byte is never a backslash to look at */
	}
	put(w, json + run, n - run);
}

static void put_event(struct writer *w, const struct proto_event *ev)
{
	PUT_LIT(w, "{\"type\":");
	put_str(w, ev->type);
	if (ev->data_json) {
		PUT_LIT(w, ",\"data\":");
		put_data(w, ev->data_json);
	}
	PUT_LIT(w, ",\"timestamp\":");
	put_time(w, ev->timestamp);
	put_c(w, '}');
}

static void put_revision(struct writer *w, const struct proto_eta_revision *v)
{
	PUT_LIT(w, "{\"eta_sec\":");
	put_i64(w, v->eta_sec);
	PUT_LIT(w, ",\"timestamp\":");
	put_time(w, v->timestamp);
	PUT_LIT(w, ",\"source\":");
	put_i64(w, v->source);
	PUT_LIT(w, ",\"confidence\":");
	put_double(w, v->confidence);
	put_c(w, '}');
}

static void put_metadata(struct writer *w, const struct proto_race *r)
{
	int first = 1;

	put_c(w, '{');
	for (size_t i = 0; i < r->n_metadata; i++) {
		put_key(w, r->metadata[i].key, &first);
		put_str(w, r->metadata[i].value);
	}
	put_c(w, '}');
}

/*
 * The value of a set field, as json_encode.c field_value() builds it.
 * For PROTO_F_EVENTS, `all_events` picks the race's whole list (the race
 * object) over the last event (a delta's "event").
 */
static void put_field(struct writer *w, const struct proto_race *r,
		      uint32_t field, int all_events)
{
	switch (field) {
	case PROTO_F_ID:
		put_str(w, r->id);
		break;
	case PROTO_F_SOURCE:
		put_str(w, r->source);
		break;
	case PROTO_F_TITLE:
		put_str(w, r->title);
		break;
	case PROTO_F_STATE:
		put_str(w, proto_state_name(r->state));
		break;
	case PROTO_F_DEEPLINK:
		put_str(w, r->deeplink);
		break;
	case PROTO_F_STARTED_AT:
		put_time(w, r->started_at);
		break;
	case PROTO_F_COMPLETED_AT:
		put_time(w, r->completed_at);
		break;
	case PROTO_F_LAST_PROGRESS_UPDATE:
		put_time(w, r->last_progress_update);
		break;
	case PROTO_F_LAST_ETA_UPDATE:
		put_time(w, r->last_eta_update);
		break;
	case PROTO_F_DURATION_SEC:
		put_i64(w, r->duration_sec);
		break;
	case PROTO_F_ETA_SEC:
		put_i64(w, r->eta_sec);
		break;
	case PROTO_F_PREVIOUS_ETA_SEC:
		put_i64(w, r->previous_eta_sec);
		break;
	case PROTO_F_PROGRESS:
		put_i64(w, r->progress);
		break;
	case PROTO_F_ETA_SOURCE:
		put_i64(w, r->eta_source);
		break;
	case PROTO_F_UPDATE_INTERVAL_HINT:
		put_i64(w, r->update_interval_hint);
		break;
	case PROTO_F_ETA_CONFIDENCE:
		put_double(w, r->eta_confidence);
		break;
	case PROTO_F_METADATA:
		put_metadata(w, r);
		break;
	case PROTO_F_ETA_REVISIONS:
		put_c(w, '[');
		for (size_t i = 0; i < r->n_eta_revisions; i++) {
			if (i)
				put_c(w, ',');
			put_revision(w, &r->eta_revisions[i]);
		}
		put_c(w, ']');
		break;
	case PROTO_F_EVENTS:
		if (!all_events) {
			put_event(w, &r->events[r->n_events - 1]);
			break;
		}
		put_c(w, '[');
		for (size_t i = 0; i < r->n_events; i++) {
			if (i)
				put_c(w, ',');
			put_event(w, &r->events[i]);
		}
		put_c(w, ']');
		break;
	case PROTO_F_EVENTS_DROPPED:
		put_u64(w, r->events_dropped);
		break;
	default:
		break;
	}
}

static void put_extra(struct writer *w, const struct proto_json_extra *x,
		      int *first)
{
	if (!x)
		return;
	put_key(w, x->key, first);
	put(w, x->json, x->len);
}

/* The race object's members, without the braces. */
static void put_race_members(struct writer *w, const struct proto_race *r,
			     int *first)
{
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;

		if (!proto_codec_field_is_set(r, f))
			continue;
		put_key(w, proto_codec_fields[i].name, first);
		put_field(w, r, f, 1);
	}
}

/*
 * About how many bytes the race takes, so that one allocation usually
 * does: the variable-length strings plus a generous allowance for keys,
 * numbers and timestamps. Escapes may still make it grow.
 */
static size_t race_estimate(const struct proto_race *r)
{
	size_t n = 640 + strlen(r->id) + strlen(r->source) + strlen(r->title);

	if (r->has & PROTO_F_DEEPLINK && r->deeplink)
		n += strlen(r->deeplink);
	n += r->n_eta_revisions * 112;
	for (size_t i = 0; i < r->n_metadata; i++)
		n += 8 + strlen(r->metadata[i].key) +
			strlen(r->metadata[i].value);
	for (size_t i = 0; i < r->n_events; i++)
		n += 56 + strlen(r->events[i].type) +
			(r->events[i].data_json ?
			 strlen(r->events[i].data_json) + 8 : 0);
	return n;
}

/* The same for an update's "changes": only what `changed` names. */
static size_t changes_estimate(const struct proto_race *r, uint32_t changed)
{
	size_t n = 384 + strlen(r->id);

	if (changed & PROTO_F_SOURCE)
		n += strlen(r->source);
	if (changed & PROTO_F_TITLE)
		n += strlen(r->title);
	if (changed & PROTO_F_DEEPLINK && r->has & PROTO_F_DEEPLINK &&
	    r->deeplink)
		n += strlen(r->deeplink);
	if (changed & PROTO_F_ETA_REVISIONS)
		n += r->n_eta_revisions * 112;
	for (size_t i = 0; changed & PROTO_F_METADATA && i < r->n_metadata;
	     i++)
		n += 8 + strlen(r->metadata[i].key) +
			strlen(r->metadata[i].value);
	if (changed & PROTO_F_EVENTS && r->n_events) {
		const struct proto_event *ev = &r->events[r->n_events - 1];

		n += 56 + strlen(ev->type) +
			(ev->data_json ? strlen(ev->data_json) : 0);
	}
	return n;
}

/* Reserves the estimate up front; a failure here is not final (the
 * estimate may be larger than what is needed, or than b->max), so it is
 * ignored and the writes report what really does not fit. */
static void presize(struct writer *w, size_t n)
{
	struct proto_buf *b = w->b;

	if (b->max && n > b->max - b->len)
		return;
	if (proto_buf_reserve(b, n) == PROTO_OK)
		writer_at(w, b->len);
}

int proto_race_write_ex(struct proto_buf *b, const struct proto_race *r,
			const struct proto_json_extra *extra)
{
	struct writer w;
	int first = 1;

	writer_begin(&w, b, 0);
	presize(&w, race_estimate(r) + (extra ? extra->len + 64 : 0));
	put_c(&w, '{');
	put_race_members(&w, r, &first);
	put_extra(&w, extra, &first);
	put_c(&w, '}');
	return writer_end(&w);
}

int proto_race_write(struct proto_buf *b, const struct proto_race *r)
{
	return proto_race_write_ex(b, r, NULL);
}

int proto_record_write(struct proto_buf *b, const struct proto_race *r)
{
	struct writer w;
	int first = 1;

	/* record.c prints with PLAIN only: '/' is escaped in records. */
	writer_begin(&w, b, 1);
	presize(&w, race_estimate(r));
	put_c(&w, '{');
	put_race_members(&w, r, &first);
	/* The members record.c adds after the API object, in its order. */
	put_key(&w, "v", &first);
	put_i64(&w, PROTO_RECORD_VERSION);
	if (r->hint_explicit) {
		put_key(&w, "hint_explicit", &first);
		PUT_LIT(&w, "true");
	}
	put_c(&w, '}');
	return writer_end(&w);
}

/* {field: value-or-null} for every bit of `changed`, as delta.c
 * changes_object() builds it. */
static void put_changes(struct writer *w, const struct proto_race *r,
			uint32_t changed, const struct proto_json_extra *x)
{
	int first = 1;

	put_c(w, '{');
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;

		if (!(changed & f) || f == PROTO_F_ID)
			continue;
		put_key(w, f == PROTO_F_EVENTS ? EVENT_KEY :
			proto_codec_fields[i].name, &first);
		if (proto_codec_field_is_set(r, f))
			put_field(w, r, f, 0);
		else
			PUT_LIT(w, "null");
	}
	put_extra(w, x, &first);
	put_c(w, '}');
}

int proto_delta_write_ex(struct proto_buf *b, uint64_t seq,
			 int64_t server_time, enum proto_delta_op op,
			 const char *id, const struct proto_race *race,
			 uint32_t changed, const struct proto_json_extra *extra)
{
	static const char *const op_names[] = {
		[PROTO_DELTA_CREATE] = "create",
		[PROTO_DELTA_UPDATE] = "update",
		[PROTO_DELTA_DELETE] = "delete",
	};
	struct writer w;

	/* The argument checks of proto_delta_new(), plus the extra's. */
	if ((unsigned)op > PROTO_DELTA_DELETE || (!id && !race) ||
	    (op != PROTO_DELTA_DELETE && !race) ||
	    (extra && op != PROTO_DELTA_UPDATE))
		return PROTO_EINVAL;
	if (!id)
		id = race->id;
	writer_begin(&w, b, 0);
	presize(&w, op == PROTO_DELTA_CREATE ? race_estimate(race) + 160 :
		op == PROTO_DELTA_UPDATE ? changes_estimate(race, changed) +
		(extra ? extra->len + 64 : 0) : 256 + strlen(id));
	PUT_LIT(&w, "{\"type\":\"delta\",\"seq\":");
	put_u64(&w, seq);
	PUT_LIT(&w, ",\"server_time\":");
	put_time(&w, server_time);
	PUT_LIT(&w, ",\"op\":");
	put_str(&w, op_names[op]);
	PUT_LIT(&w, ",\"id\":");
	put_str(&w, id);
	if (op == PROTO_DELTA_CREATE) {
		int first = 1;

		PUT_LIT(&w, ",\"race\":{");
		put_race_members(&w, race, &first);
		put_c(&w, '}');
	} else if (op == PROTO_DELTA_UPDATE) {
		PUT_LIT(&w, ",\"changes\":");
		put_changes(&w, race, changed, extra);
	}
	put_c(&w, '}');
	return writer_end(&w);
}

int proto_delta_write(struct proto_buf *b, uint64_t seq, int64_t server_time,
		      enum proto_delta_op op, const char *id,
		      const struct proto_race *race, uint32_t changed)
{
	return proto_delta_write_ex(b, seq, server_time, op, id, race,
				    changed, NULL);
}

/* The significant digits of a %g text: first to last non-zero digit. */
static int significant_digits(const char *s)
{
	int n = 0, run = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s != '0' || n)
			run++;
		if (*s != '0')
			n = run;
	}
	return n;
}

/* Prints d with %.{prec}g into buf; 1 when the text reads back as d. */
static int reads_back(char *buf, int prec, double d)
{
	snprintf(buf, PROTO_CODEC_DOUBLE_BUFSZ, "%.*g", prec, d);
	return strtod(buf, NULL) == d;
}

/*
 * Short decimals (most confidences: 0.5, 0.85) without printf, which
 * costs ~300 ns a call. For the smallest k where d == m / 10^k with an
 * integer m < 10^15, the decimal m * 10^-k is d's shortest text: both
 * operands are exact, so the division rounds as strtod does, and with at
 * most 15 digits it is also what %g rounds d to. Writes what %g would for
 * it and returns its length, or 0 where %g would choose an exponent (or d
 * is out of this range): the caller prints those.
 */
static size_t format_short_decimal(double d, char *buf)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
	};
	double a = d < 0 ? -d : d;
	char digits[24];
	size_t n = 0, len = 0;
	uint64_t m;
	int k, exp10;

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (k = 0;; k++) {
		double scaled = a * pow10[k];

		/* Past 15 digits a shorter text may read back that %g's
		 * correctly rounded one does not: leave those to %g. */
		if (k == 17 || scaled >= 1e15)
			return 0;
		m = (uint64_t)(scaled + 0.5);
		if ((double)m / pow10[k] == a)
			break;
	}
	for (uint64_t v = m; v; v /= 10)
		digits[n++] = (char)('0' + v % 10);   /* reversed */
	/* %g writes fixed notation when -4 <= exponent < significant
	 * digits; an integer like 100 has 1 digit and gets "1e+02". */
	exp10 = (int)n - 1 - k;
	if (k == 0 && m % 10 == 0)
		return 0;
	if (d < 0)
		buf[len++] = '-';
	if (exp10 < 0) {
		memcpy(buf + len, "0.", 2);
		len += 2;
		for (int z = -1; z > exp10; z--)
			buf[len++] = '0';
	}
	for (size_t i = n; i-- > 0;) {
		buf[len++] = digits[i];
		if (i == (size_t)k && k && exp10 >= 0)
			buf[len++] = '.';
	}
	buf[len] = '\0';
	return len;
}

size_t proto_codec_format_double(double d, char buf[PROTO_CODEC_DOUBLE_BUFSZ])
{
	char t[PROTO_CODEC_DOUBLE_BUFSZ];
	size_t n;
	int prec;

	/* json-c prints doubles with %.17g, so 0.85 would come out as
	 * 0.84999999999999998. The shortest form that parses back to the
	 * same bits is both exact and what a person expects to read: the
	 * smallest precision whose %g text reads back as d. A double carries
	 * over 15 significant digits, so when some precision p < 15 reads
	 * back, %.15g is that same text padded with zeros: one try at 15
	 * gives p by counting, instead of trying 1, 2, 3... (about 20x
	 * faster for a computed value like 0.7234567891234567). */
	if (format_short_decimal(d, buf)) {
		/* the common case, done */
	} else if (fpclassify(d) == FP_SUBNORMAL) {
		/* Fewer bits than 15 digits need: no shortcut (t ends as
		 * the text of the precision found). */
		for (prec = 1; !reads_back(t, prec, d) && prec < 17; prec++)
			;
		memcpy(buf, t, strlen(t) + 1);
	} else if (reads_back(t, 15, d)) {
		prec = significant_digits(t);
		if (prec < 15)  /* the same digits, in %.{p}g's layout */
			reads_back(buf, prec ? prec : 1, d);
		else
			memcpy(buf, t, strlen(t) + 1);
	} else if (reads_back(t, 16, d)) {
		memcpy(buf, t, strlen(t) + 1);
	} else {
		reads_back(buf, 17, d);
	}
	n = strlen(buf);
	/* Keep it a double on the wire: "1" would read back as an integer. */
	if (!strpbrk(buf, ".eEn")) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}
