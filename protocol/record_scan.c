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
#include "record.h"
#include "scan.h"

#include <stdlib.h>
#include <string.h>

#define DECLINED PROTO_SCAN_DECLINED
/* Always present, so, as in the json-c path, never in a race's `has`. */
#define REQUIRED (PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE | \
		  PROTO_F_STATE | PROTO_F_STARTED_AT)

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
static int each_element(struct proto_scan *c, struct proto_race *r, size_t max,
			int (*item)(struct proto_scan *, struct proto_race *,
				    size_t))
{
	size_t i = 0;
	int rc;

	if (!proto_scan_take(c, '['))
		return DECLINED;
	if (proto_scan_take(c, ']'))
		return PROTO_OK;
	do {
		if (i == max)
			return DECLINED;
		rc = item(c, r, i++);
		if (rc != PROTO_OK)
			return rc;
	} while (proto_scan_take(c, ','));
	return proto_scan_take(c, ']') ? PROTO_OK : DECLINED;
}

struct revision_ctx {
	struct proto_eta_revision *rev;
	uint32_t seen;
};

static int revision_member(struct proto_scan *c, void *arg,
			   const struct proto_slice *k)
{
	struct revision_ctx *x = arg;
	int64_t v;

	if (proto_scan_is_key(k, "eta_sec") && proto_scan_first(&x->seen, 1))
		return proto_scan_int(c, 0, PROTO_ETA_MAX_SEC,
				      &x->rev->eta_sec);
	if (proto_scan_is_key(k, "timestamp") && proto_scan_first(&x->seen, 2))
		return proto_scan_time(c, &x->rev->timestamp);
	if (proto_scan_is_key(k, "confidence") && proto_scan_first(&x->seen, 4))
		return proto_scan_unit(c, &x->rev->confidence);
	if (proto_scan_is_key(k, "source") && proto_scan_first(&x->seen, 8) &&
	    proto_scan_int(c, PROTO_ETA_EXACT, PROTO_ETA_PROGRESS, &v) ==
	    PROTO_OK) {
		x->rev->source = (int)v;
		return PROTO_OK;
	}
	return DECLINED;
}

static int revision_item(struct proto_scan *c, struct proto_race *r, size_t i)
{
	struct revision_ctx x = { &r->eta_revisions[i], 0 };
	int rc = proto_scan_members(c, &x, revision_member);

	r->n_eta_revisions = i + 1;
	return rc == PROTO_OK && x.seen != 15 ? DECLINED : rc;
}

struct event_ctx {
	struct proto_event *ev;
	uint32_t seen;
};

static int event_member(struct proto_scan *c, void *arg,
			const struct proto_slice *k)
{
	struct event_ctx *x = arg;
	const char *start = c->p;
	size_t n;

	if (proto_scan_is_key(k, "type") && proto_scan_first(&x->seen, 1)) {
		int rc = proto_scan_dup_string(c, PROTO_EVENT_TYPE_MAX,
					       &x->ev->type);

		return rc == PROTO_OK && !x->ev->type[0] ? DECLINED : rc;
	}
	if (proto_scan_is_key(k, "timestamp") && proto_scan_first(&x->seen, 2))
		return proto_scan_time(c, &x->ev->timestamp);
	if (!proto_scan_is_key(k, "data") || !proto_scan_first(&x->seen, 4) ||
	    proto_scan_canonical(c, 0) != PROTO_OK)
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

static int event_item(struct proto_scan *c, struct proto_race *r, size_t i)
{
	struct proto_event *events = room_for(r->events, i, sizeof *events);
	struct event_ctx x = { NULL, 0 };
	int rc;

	if (!events)
		return PROTO_ENOMEM;
	r->events = events;
	x.ev = &r->events[i];
	r->n_events = i + 1;    /* so a failure frees what this one holds */
	rc = proto_scan_members(c, &x, event_member);
	return rc == PROTO_OK && (x.seen & 3) != 3 ? DECLINED : rc;
}

/* One output line; the tail's byte bound is checked once it is read. */
static int output_item(struct proto_scan *c, struct proto_race *r, size_t i)
{
	char **lines = room_for(r->output, i, sizeof *lines);
	int rc;

	if (!lines)
		return PROTO_ENOMEM;
	r->output = lines;
	rc = proto_scan_dup_string(c, PROTO_OUTPUT_LINE_MAX, &r->output[i]);
	if (rc != PROTO_OK)
		return rc;
	r->n_output = i + 1;
	return strchr(r->output[i], '\n') ? DECLINED : PROTO_OK;
}

static int read_output(struct proto_scan *c, struct proto_race *r)
{
	size_t bytes = 0;
	int rc = each_element(c, r, PROTO_OUTPUT_LINES_MAX, output_item);

	for (size_t i = 0; rc == PROTO_OK && i < r->n_output; i++)
		bytes += strlen(r->output[i]);
	return rc == PROTO_OK && bytes > PROTO_OUTPUT_BYTES_MAX ? DECLINED : rc;
}

static int metadata_member(struct proto_scan *c, void *arg,
			   const struct proto_slice *k)
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
	rc = proto_scan_unescape(k, kv->key, &n);
	if (rc != PROTO_OK)
		return rc;
	return proto_scan_dup_string(c, PROTO_META_VALUE_MAX, &kv->value);
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct proto_kv *)a)->key,
		      ((const struct proto_kv *)b)->key);
}

static int read_metadata(struct proto_scan *c, struct proto_race *r)
{
	int rc = proto_scan_members(c, r, metadata_member);
	if (rc != PROTO_OK)
		return rc;
	if (r->n_metadata > 1)
		qsort(r->metadata, r->n_metadata, sizeof *r->metadata, kv_cmp);
	for (size_t i = 1; i < r->n_metadata; i++)
		if (strcmp(r->metadata[i - 1].key, r->metadata[i].key) == 0)
			return DECLINED;
	return PROTO_OK;
}

static int read_required_string(struct proto_scan *c, struct proto_race *r,
				uint32_t field)
{
	char *s;
	int rc = proto_scan_dup_string(c, PROTO_TITLE_MAX, &s);

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
static int read_field(struct proto_scan *c, struct proto_race *r,
		      uint32_t field)
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
		return proto_scan_time(c, &r->started_at);
	case PROTO_F_COMPLETED_AT:
		return proto_scan_time(c, &r->completed_at);
	case PROTO_F_LAST_PROGRESS_UPDATE:
		return proto_scan_time(c, &r->last_progress_update);
	case PROTO_F_LAST_ETA_UPDATE:
		return proto_scan_time(c, &r->last_eta_update);
	case PROTO_F_DURATION_SEC:
		return proto_scan_int(c, 0, INT64_MAX, &r->duration_sec);
	case PROTO_F_ETA_SEC:
		return proto_scan_int(c, 0, PROTO_ETA_MAX_SEC, &r->eta_sec);
	case PROTO_F_PREVIOUS_ETA_SEC:
		return proto_scan_int(c, 0, PROTO_ETA_MAX_SEC,
				      &r->previous_eta_sec);
	case PROTO_F_ETA_CONFIDENCE:
		return proto_scan_unit(c, &r->eta_confidence);
	case PROTO_F_DEEPLINK:
		return proto_scan_dup_string(c, PROTO_DEEPLINK_MAX,
					     &r->deeplink);
	case PROTO_F_METADATA:
		return read_metadata(c, r);
	case PROTO_F_ETA_REVISIONS:
		return each_element(c, r, PROTO_ETA_REVISIONS_MAX,
				    revision_item);
	case PROTO_F_EVENTS:
		return each_element(c, r, PROTO_EVENTS_MAX, event_item);
	case PROTO_F_EVENTS_DROPPED:
		rc = proto_scan_int(c, 0, INT64_MAX, &v);
		r->events_dropped = (uint64_t)v;
		return rc;
	case PROTO_F_OUTPUT:
		return read_output(c, r);
	case PROTO_F_OUTPUT_DROPPED:
		rc = proto_scan_int(c, 0, INT64_MAX, &v);
		r->output_dropped = (uint64_t)v;
		return rc;
	}
	rc = proto_scan_int(c, field == PROTO_F_PROGRESS ? 0 :
			 field == PROTO_F_ETA_SOURCE ? PROTO_ETA_EXACT : 1,
		      field == PROTO_F_PROGRESS ? 100 :
			 field == PROTO_F_ETA_SOURCE ? PROTO_ETA_PROGRESS :
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

static int race_member(struct proto_scan *c, void *arg,
		       const struct proto_slice *k)
{
	struct race_ctx *x = arg;
	int64_t version;

	if (proto_scan_is_key(k, "v") && !x->v++)
		return proto_scan_int(c, 1, PROTO_RECORD_VERSION, &version);
	if (proto_scan_is_key(k, "hint_explicit") && !x->hint_explicit++) {
		if (proto_scan_word(c, "true", 4))
			x->r->hint_explicit = 1;
		else if (!proto_scan_word(c, "false", 5) &&
			 !proto_scan_word(c, "null", 4))
			return DECLINED;
		return PROTO_OK;
	}
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t field = proto_codec_fields[i].field;
		int rc;

		if (!proto_scan_is_key(k, proto_codec_fields[i].name))
			continue;
		if (!proto_scan_first(&x->seen, field))
			return DECLINED;
		/* null is an absent optional field, as in the json-c path;
		 * a required one declines (the json-c path refuses it). */
		if (proto_scan_word(c, "null", 4))
			return field & REQUIRED ? DECLINED : PROTO_OK;
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
	struct proto_scan c = { buf, buf + len };
	struct race_ctx x = { 0 };
	int rc;

	*out = NULL;
	if (!buf || !len || memchr(buf, '\0', len) ||
	    !proto_codec_utf8_valid(buf, len))
		return DECLINED;
	x.r = calloc(1, sizeof *x.r);
	if (!x.r)
		return PROTO_ENOMEM;
	rc = proto_scan_members(&c, &x, race_member);
	proto_scan_ws(&c);
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
	if (!x.r->output_dropped)
		x.r->has &= ~PROTO_F_OUTPUT_DROPPED;
	if (!x.r->n_output)
		x.r->has &= ~PROTO_F_OUTPUT;
	if (!(x.r->has & PROTO_F_UPDATE_INTERVAL_HINT)) {
		x.r->update_interval_hint =
			proto_source_default_hint(x.r->source);
		x.r->has |= PROTO_F_UPDATE_INTERVAL_HINT;
	}
	*out = x.r;
	return PROTO_OK;
}
