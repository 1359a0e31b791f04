/*
 * encode_race.c - direct JSON writers for a race and its stored record,
 * straight into a proto_buf, byte for byte what json-c prints for the
 * trees that json_encode.c and record.c build (deltas: encode_delta.c;
 * doubles: encode_double.c).
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

#include <string.h>

#include "codec.h"
#include "json.h"
#include "json_writer.h"
#include "record.h"

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

/* The newest `n` lines of the output tail, as an array. */
static void put_output(struct writer *w, const struct proto_race *r, size_t n)
{
	size_t from = r->n_output - n;

	put_c(w, '[');
	for (size_t i = from; i < r->n_output; i++) {
		if (i > from)
			put_c(w, ',');
		put_str(w, r->output[i]);
	}
	put_c(w, ']');
}

/*
 * The value of a set field, as json_encode.c field_value() builds it.
 * For PROTO_F_EVENTS, `all_events` picks the race's whole list (the race
 * object) over the last event (a delta's "event"); for PROTO_F_OUTPUT,
 * the whole tail over the lines just appended (a delta's "output").
 */
void proto_writer_field(struct writer *w, const struct proto_race *r,
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
	case PROTO_F_OUTPUT:
		put_output(w, r, all_events ? r->n_output :
			   proto_codec_output_appended(r));
		break;
	case PROTO_F_OUTPUT_DROPPED:
		put_u64(w, r->output_dropped);
		break;
	default:
		break;
	}
}

/* The race object's members, without the braces. */
void proto_writer_race_members(struct writer *w, const struct proto_race *r,
			     int *first)
{
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;

		if (!proto_codec_field_is_set(r, f))
			continue;
		put_key(w, proto_codec_fields[i].name, first);
		proto_writer_field(w, r, f, 1);
	}
}

/*
 * About how many bytes the race takes, so that one allocation usually
 * does: the variable-length strings plus a generous allowance for keys,
 * numbers and timestamps. Escapes may still make it grow.
 */
size_t proto_writer_race_estimate(const struct proto_race *r)
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
	for (size_t i = 0; i < r->n_output; i++)
		n += 4 + strlen(r->output[i]);
	return n;
}

int proto_race_write_ex(struct proto_buf *b, const struct proto_race *r,
			const struct proto_json_extra *extra)
{
	struct writer w;
	int first = 1;

	writer_begin(&w, b, 0);
	presize(&w, proto_writer_race_estimate(r) + (extra ? extra->len + 64 : 0));
	put_c(&w, '{');
	proto_writer_race_members(&w, r, &first);
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
	presize(&w, proto_writer_race_estimate(r));
	put_c(&w, '{');
	proto_writer_race_members(&w, r, &first);
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

