/*
 * encode_delta.c - the direct JSON writer for delta frames, byte for byte
 * what json-c prints for the tree delta.c builds (the rules are in
 * encode_race.c). Never does I/O, never reads the clock, never includes
 * the WebSocket library or LMDB.
 */
#include "encode.h"

#include <string.h>

#include "codec.h"
#include "json_writer.h"

/* A delta names an appended event "event" (see delta.c). */
#define EVENT_KEY "event"

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
	for (size_t i = r->n_output - (changed & PROTO_F_OUTPUT ?
			proto_codec_output_appended(r) : 0);
	     i < r->n_output; i++)
		n += 4 + strlen(r->output[i]);
	return n;
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
			proto_writer_field(w, r, f, 0);
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
	presize(&w, op == PROTO_DELTA_CREATE ? proto_writer_race_estimate(race) + 160 :
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
		proto_writer_race_members(&w, race, &first);
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

