/*
 * update_scan.c - the direct decoder for what producers write most: a
 * create or patch body (REST) and a WebSocket "patch" or "create"
 * message, in one pass over the text, without a json-c tree and without
 * the separate RFC 8259 pre-check.
 *
 * It takes only a plain subset of JSON (the keys it knows, each once;
 * strings in well-formed UTF-8; integers in canonical form) and declines
 * (PROTO_JSON_DECLINED) anything else, including every input the
 * reference would refuse: the caller then runs the json-c path
 * (proto_json_decode_update_json(), proto_client_msg_decode_json()),
 * which stays the reference and reports the error. What the scanner
 * accepts is valid RFC 8259 text, so skipping proto_codec_strict() for
 * it changes nothing; where it answers PROTO_OK, the update (and the
 * message's type, req and id) equal what the reference decodes.
 * tests/test_proto_update_scan.c and fuzz/fuzz_update_scan.c check that.
 * Never does I/O; never includes libwebsockets or LMDB.
 */
#include "client_msg.h"
#include "codec.h"
#include "scan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DECLINED PROTO_JSON_DECLINED

/* The body keys the scanner reads; a repeated one declines (json-c keeps
 * the last), an unknown one declines (its value would need the full
 * grammar check). */
enum key {
	K_ID, K_SOURCE, K_TITLE, K_STATE, K_STARTED_AT, K_PROGRESS,
	K_HINT, K_ETA_SEC, K_ETA_SOURCE, K_ETA_CONFIDENCE, K_DEEPLINK,
	K_METADATA, K_OUTPUT, K_UNKNOWN,
};

static const char *const key_names[] = {
	[K_ID] = "id", [K_SOURCE] = "source", [K_TITLE] = "title",
	[K_STATE] = "state", [K_STARTED_AT] = "started_at",
	[K_PROGRESS] = "progress", [K_HINT] = "update_interval_hint",
	[K_ETA_SEC] = "eta_sec", [K_ETA_SOURCE] = "eta_source",
	[K_ETA_CONFIDENCE] = "eta_confidence", [K_DEEPLINK] = "deeplink",
	[K_METADATA] = "metadata", [K_OUTPUT] = "output",
};

static enum key key_of(const struct proto_slice *k)
{
	for (int i = 0; i < K_UNKNOWN; i++)
		if (proto_scan_is_key(k, key_names[i]))
			return (enum key)i;
	return K_UNKNOWN;
}

/* A string whose raw bytes are well-formed UTF-8 (the escapes are
 * ASCII, so this is the input's own check) of at most `max` raw bytes. */
static int utf8_string(struct proto_scan *c, size_t max,
		       struct proto_slice *sl)
{
	if (proto_scan_string(c, sl) != PROTO_OK || sl->n > max)
		return DECLINED;
	for (size_t i = 0; i < sl->n; i++)
		if ((unsigned char)sl->s[i] >= 0x80)
			return proto_codec_utf8_valid(sl->s + i, sl->n - i) ?
				PROTO_OK : DECLINED;
	return PROTO_OK;
}

/* A string of at most `max` decoded bytes without NUL, as a new C
 * string in *out. Decoding never grows a string, so a raw text of up to
 * 6 * max bytes may still fit; longer declines. */
static int dup_string(struct proto_scan *c, size_t max, char **out)
{
	struct proto_slice sl;

	if (utf8_string(c, max > SIZE_MAX / 6 ? SIZE_MAX : 6 * max, &sl))
		return DECLINED;
	return proto_scan_dup_slice(&sl, max, out);
}

/* A string decoded into buf (room for `cap` bytes with the NUL). */
static int short_string(struct proto_scan *c, char *buf, size_t cap)
{
	struct proto_slice sl;
	size_t n;

	if (utf8_string(c, cap - 1, &sl))
		return DECLINED;
	return proto_scan_unescape(&sl, buf, &n);
}

/* Makes room in *arrp (of *cap elements of `size` bytes) for element i
 * and a zeroed one after it, as the reference's arrays have (calloc of
 * n + 1); doubles, so a long list costs few reallocs. */
static int room(void *arrp, size_t *cap, size_t i, size_t size)
{
	void **arr = arrp;
	size_t want = *cap;
	void *p;

	while (want < i + 2)
		want = want ? 2 * want : 4;
	if (want != *cap) {
		p = realloc(*arr, want * size);
		if (!p)
			return PROTO_ENOMEM;
		*arr = p;
		*cap = want;
	}
	memset((char *)*arr + i * size, 0, 2 * size);
	return PROTO_OK;
}

/* The metadata object: string values, or null to remove a key. */
static int metadata(struct proto_scan *c, struct proto_race_update *u)
{
	char key[PROTO_META_KEY_MAX + 1];
	struct proto_slice sl;
	size_t n = 0, kn, cap = 0;
	int rc;

	if (!proto_scan_take(c, '{'))
		return DECLINED;
	if (room(&u->metadata, &cap, 0, sizeof *u->metadata))
		return PROTO_ENOMEM;
	u->set |= PROTO_F_METADATA;
	if (proto_scan_take(c, '}'))
		return PROTO_OK;
	do {
		struct proto_kv *kv;

		if (n == PROTO_META_KEYS_MAX ||
		    utf8_string(c, PROTO_META_KEY_MAX, &sl) ||
		    proto_scan_unescape(&sl, key, &kn) ||
		    !proto_scan_take(c, ':'))
			return DECLINED;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(u->metadata[i].key, key))
				return DECLINED;
		if (room(&u->metadata, &cap, n, sizeof *u->metadata))
			return PROTO_ENOMEM;
		kv = &u->metadata[n];
		proto_scan_ws(c);
		if (!proto_scan_word(c, "null", 4)) {
			rc = dup_string(c, PROTO_META_VALUE_MAX, &kv->value);
			if (rc)
				return rc;
		}
		kv->key = strdup(key);
		u->n_metadata = ++n;
		if (!kv->key)
			return PROTO_ENOMEM;
	} while (proto_scan_take(c, ','));
	return proto_scan_take(c, '}') ? PROTO_OK : DECLINED;
}

/* Output lines: an array of strings without line ends. */
static int output(struct proto_scan *c, struct proto_race_update *u)
{
	size_t n = 0, cap = 0;
	int rc;

	if (!proto_scan_take(c, '['))
		return DECLINED;
	if (room(&u->output, &cap, 0, sizeof *u->output))
		return PROTO_ENOMEM;
	u->set |= PROTO_F_OUTPUT;
	if (proto_scan_take(c, ']'))
		return PROTO_OK;
	do {
		if (n == PROTO_OUTPUT_WRITE_MAX)
			return DECLINED;
		if (room(&u->output, &cap, n, sizeof *u->output))
			return PROTO_ENOMEM;
		rc = dup_string(c, SIZE_MAX, &u->output[n]);
		if (rc)
			return rc;
		u->n_output = ++n;
		if (strchr(u->output[n - 1], '\n'))
			return DECLINED;
	} while (proto_scan_take(c, ','));
	return proto_scan_take(c, ']') ? PROTO_OK : DECLINED;
}

/* The id of a create body: "" means "the server picks". */
static int body_id(struct proto_scan *c, struct proto_race_update *u)
{
	int rc = dup_string(c, PROTO_ID_MAX, &u->id);

	if (rc)
		return rc;
	if (!u->id[0]) {
		free(u->id);
		u->id = NULL;
		return PROTO_OK;
	}
	if (!proto_id_valid(u->id) || !proto_id_creatable(u->id))
		return DECLINED;
	u->set |= PROTO_F_ID;
	return PROTO_OK;
}

/* An integer field in min..max; the scanner takes canonical integers
 * only (50.0 or 5e1 go to json-c). */
static int int_field(struct proto_scan *c, int64_t min, int64_t max,
		     int64_t *out)
{
	return proto_scan_int(c, min, max, out) ? DECLINED : PROTO_OK;
}

struct body_ctx {
	struct proto_race_update *u;
	uint32_t seen;
};

static int body_value(struct proto_scan *c, struct proto_race_update *u,
		      enum key k)
{
	char text[32];
	int64_t x;
	int rc;

	switch (k) {
	case K_ID:
		return body_id(c, u);
	case K_SOURCE:
		rc = dup_string(c, PROTO_SOURCE_MAX, &u->source);
		if (rc == PROTO_OK && !u->source[0])
			rc = DECLINED;
		u->set |= rc ? 0 : PROTO_F_SOURCE;
		return rc;
	case K_TITLE:
		rc = dup_string(c, PROTO_TITLE_MAX, &u->title);
		u->set |= rc ? 0 : PROTO_F_TITLE;
		return rc;
	case K_DEEPLINK:
		rc = dup_string(c, PROTO_DEEPLINK_MAX, &u->deeplink);
		u->set |= rc ? 0 : PROTO_F_DEEPLINK;
		return rc;
	case K_STATE:
		if (short_string(c, text, sizeof text) ||
		    proto_state_parse(text, &u->state))
			return DECLINED;
		u->set |= PROTO_F_STATE;
		return PROTO_OK;
	case K_STARTED_AT:
		if (proto_scan_time(c, &u->started_at))
			return DECLINED;
		u->set |= PROTO_F_STARTED_AT;
		return PROTO_OK;
	case K_PROGRESS:
		if (int_field(c, 0, 100, &x))
			return DECLINED;
		u->progress = (int)x;
		u->set |= PROTO_F_PROGRESS;
		return PROTO_OK;
	case K_HINT:
		if (int_field(c, 1, PROTO_HINT_MAX_SEC, &x))
			return DECLINED;
		u->update_interval_hint = (int)x;
		u->set |= PROTO_F_UPDATE_INTERVAL_HINT;
		return PROTO_OK;
	case K_ETA_SEC:
		if (int_field(c, 0, PROTO_ETA_MAX_SEC, &u->eta_sec))
			return DECLINED;
		u->set |= PROTO_F_ETA_SEC;
		return PROTO_OK;
	case K_ETA_SOURCE:
		if (int_field(c, PROTO_ETA_EXACT, PROTO_ETA_DEFAULT, &x))
			return DECLINED;
		u->eta_source = (int)x;
		u->set |= PROTO_F_ETA_SOURCE;
		return PROTO_OK;
	case K_ETA_CONFIDENCE:
		if (proto_scan_unit(c, &u->eta_confidence))
			return DECLINED;
		u->set |= PROTO_F_ETA_CONFIDENCE;
		return PROTO_OK;
	case K_METADATA:
		return metadata(c, u);
	case K_OUTPUT:
		return output(c, u);
	case K_UNKNOWN:
		break;
	}
	return DECLINED;
}

static int body_member(struct proto_scan *c, void *arg,
		       const struct proto_slice *key)
{
	struct body_ctx *x = arg;
	enum key k = key_of(key);

	if (k == K_UNKNOWN || !proto_scan_first(&x->seen, 1u << k))
		return DECLINED;
	/* null means "unchanged", as if the key were absent. */
	if (proto_scan_word(c, "null", 4))
		return PROTO_OK;
	return body_value(c, x->u, k);
}

/* Reads a body object into *u (zeroed by the caller); on failure *u
 * may own what was read so far. */
static int body(struct proto_scan *c, enum proto_json_mode mode,
		struct proto_race_update *u)
{
	struct body_ctx x = { .u = u };
	int rc = proto_scan_members(c, &x, body_member);

	if (rc)
		return rc;
	/* Required on create: the reference refuses without them. */
	if (mode == PROTO_JSON_CREATE &&
	    (!(u->set & PROTO_F_SOURCE) || !(u->set & PROTO_F_TITLE)))
		return DECLINED;
	return PROTO_OK;
}

/* 1 when only whitespace is left. */
static int at_end(struct proto_scan *c)
{
	proto_scan_ws(c);
	return c->p == c->end;
}

int proto_json_decode_update_direct(const char *buf, size_t len,
				    enum proto_json_mode mode,
				    struct proto_race_update *out)
{
	struct proto_scan c = { buf, buf + len };
	int rc;

	memset(out, 0, sizeof *out);
	if (!buf || len == 0 || len > INT_MAX)
		return DECLINED;
	rc = body(&c, mode, out);
	if (rc == PROTO_OK && !at_end(&c))
		rc = DECLINED;
	if (rc == PROTO_OK)
		return PROTO_OK;
	proto_race_update_fini(out);
	return DECLINED;
}

int proto_json_decode_update(const char *buf, size_t len,
			     enum proto_json_mode mode,
			     struct proto_race_update *out,
			     struct proto_json_error *err)
{
	/* Out of memory in the scanner is left to the reference too, so
	 * that every failure is reported the one way. */
	if (proto_json_decode_update_direct(buf, len, mode, out) == PROTO_OK)
		return PROTO_OK;
	return proto_json_decode_update_json(buf, len, mode, out, err);
}

/* --- WebSocket client messages ------------------------------------- */

enum msg_key { M_TYPE, M_REQ, M_ID, M_CHANGES, M_RACE, M_UNKNOWN };

static const char *const msg_key_names[] = {
	[M_TYPE] = "type", [M_REQ] = "req", [M_ID] = "id",
	[M_CHANGES] = "changes", [M_RACE] = "race",
};

struct msg_ctx {
	struct proto_client_msg *m;
	uint32_t seen;
	int is_patch, is_create;
};

/* "req" as the reference re-encodes it: an int64 in decimal, or a
 * string of printable ASCII that json-c prints unescaped ('/' is
 * escaped by JSON_C_TO_STRING_PLAIN, so it declines). */
static int msg_req(struct proto_scan *c, char req[PROTO_REQ_MAX + 1])
{
	struct proto_slice sl;
	int64_t x;

	proto_scan_ws(c);
	if (c->p < c->end && *c->p != '"') {
		const char *start = c->p;

		/* A canonical integer's text is what json-c prints for it
		 * (PRId64): no '+', no leading zero, no "-0". */
		if (proto_scan_int(c, INT64_MIN, INT64_MAX, &x))
			return DECLINED;
		memcpy(req, start, (size_t)(c->p - start));
		req[c->p - start] = '\0';
		return PROTO_OK;
	}
	if (proto_scan_string(c, &sl) || sl.escaped ||
	    sl.n + 2 > PROTO_REQ_MAX)
		return DECLINED;
	for (size_t i = 0; i < sl.n; i++)
		if (sl.s[i] < 0x20 || sl.s[i] > 0x7e || sl.s[i] == '/')
			return DECLINED;
	req[0] = '"';
	memcpy(req + 1, sl.s, sl.n);
	req[sl.n + 1] = '"';
	req[sl.n + 2] = '\0';
	return PROTO_OK;
}

static int msg_member(struct proto_scan *c, void *arg,
		      const struct proto_slice *key)
{
	struct msg_ctx *x = arg;
	struct proto_slice sl;
	int k;

	for (k = 0; k < M_UNKNOWN; k++)
		if (proto_scan_is_key(key, msg_key_names[k]))
			break;
	if (k == M_UNKNOWN || !proto_scan_first(&x->seen, 1u << k))
		return DECLINED;
	switch (k) {
	case M_TYPE:
		if (proto_scan_string(c, &sl) || sl.escaped)
			return DECLINED;
		x->is_patch = sl.n == 5 && !memcmp(sl.s, "patch", 5);
		x->is_create = sl.n == 6 && !memcmp(sl.s, "create", 6);
		return x->is_patch || x->is_create ? PROTO_OK : DECLINED;
	case M_REQ:
		return msg_req(c, x->m->req);
	case M_ID:
		/* Ids are [A-Za-z0-9._:-]: an escape in one declines. */
		if (proto_scan_string(c, &sl) || sl.escaped ||
		    sl.n > PROTO_ID_MAX)
			return DECLINED;
		memcpy(x->m->id, sl.s, sl.n);
		x->m->id[sl.n] = '\0';
		return proto_id_valid(x->m->id) ? PROTO_OK : DECLINED;
	case M_CHANGES:
		return body(c, PROTO_JSON_PATCH, &x->m->update);
	case M_RACE:
		return body(c, PROTO_JSON_CREATE, &x->m->update);
	}
	return DECLINED;
}

int proto_client_msg_decode_direct(const char *buf, size_t len,
				   struct proto_client_msg *out)
{
	struct proto_scan c = { buf, buf + len };
	struct msg_ctx x = { .m = out };
	uint32_t want;
	int rc;

	memset(out, 0, sizeof *out);
	if (!buf || len == 0 || len > INT_MAX)
		return DECLINED;
	rc = proto_scan_members(&c, &x, msg_member);
	if (rc == PROTO_OK && !at_end(&c))
		rc = DECLINED;
	/* Exactly the keys the reference reads for this type (plus an
	 * optional req): anything else it would ignore or refuse. */
	want = x.is_patch ? 1u << M_TYPE | 1u << M_ID | 1u << M_CHANGES :
			    1u << M_TYPE | 1u << M_RACE;
	if (rc == PROTO_OK && (x.seen & ~(1u << M_REQ)) != want)
		rc = DECLINED;
	if (rc == PROTO_OK) {
		out->type = x.is_patch ? PROTO_MSG_PATCH : PROTO_MSG_CREATE;
		return PROTO_OK;
	}
	proto_client_msg_fini(out);
	memset(out, 0, sizeof *out);
	return DECLINED;
}
