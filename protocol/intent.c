/*
 * intent.c - the binary codec of write intents (intent.h). A reader
 * walks the bytes with a cursor that fails once and stays failed, so the
 * decoder checks for errors only at the end of each part. Pure: libc
 * only.
 */
#include "intent.h"

#include <stdlib.h>
#include <string.h>

/* 2: the update carries its output lines (issue 14). Version 1 was never
 * released (cluster mode had not shipped), so it is simply refused. */
#define INTENT_VERSION 2
#define NO_STRING UINT32_MAX
#define METADATA_MAX 4096 /* far above what the decoders accept */

static int put_u64(struct proto_buf *b, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	return proto_buf_append(b, le, sizeof(le));
}

static int put_u32(struct proto_buf *b, uint32_t v)
{
	unsigned char le[4];

	for (int i = 0; i < 4; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	return proto_buf_append(b, le, sizeof(le));
}

static int put_str(struct proto_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int rc;

	if (!s)
		return put_u32(b, NO_STRING);
	if (n >= NO_STRING)
		return PROTO_ELIMIT;
	rc = put_u32(b, (uint32_t)n);
	return rc ? rc : proto_buf_append(b, s, n);
}

static int put_f64(struct proto_buf *b, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	return put_u64(b, bits);
}

static int put_update(struct proto_buf *b, const struct proto_race_update *u)
{
	int rc = put_u32(b, u->set);

	rc = rc ? rc : put_str(b, u->id);
	rc = rc ? rc : put_str(b, u->source);
	rc = rc ? rc : put_str(b, u->title);
	rc = rc ? rc : put_u32(b, (uint32_t)u->state);
	rc = rc ? rc : put_u64(b, (uint64_t)u->started_at);
	rc = rc ? rc : put_u64(b, (uint64_t)u->eta_sec);
	rc = rc ? rc : put_u32(b, (uint32_t)u->progress);
	rc = rc ? rc : put_str(b, u->deeplink);
	rc = rc ? rc : put_u32(b, (uint32_t)u->eta_source);
	rc = rc ? rc : put_f64(b, u->eta_confidence);
	rc = rc ? rc : put_u32(b, (uint32_t)u->update_interval_hint);
	rc = rc ? rc : put_u64(b, (uint64_t)u->completed_at);
	if (!rc && u->n_metadata > METADATA_MAX)
		rc = PROTO_ELIMIT;
	rc = rc ? rc : put_u32(b, (uint32_t)u->n_metadata);
	for (size_t i = 0; !rc && i < u->n_metadata; i++) {
		rc = put_str(b, u->metadata[i].key);
		rc = rc ? rc : put_str(b, u->metadata[i].value);
	}
	if (!rc && u->n_output > PROTO_OUTPUT_WRITE_MAX)
		rc = PROTO_ELIMIT;
	rc = rc ? rc : put_u32(b, (uint32_t)u->n_output);
	for (size_t i = 0; !rc && i < u->n_output; i++)
		rc = put_str(b, u->output[i]);
	return rc;
}

int proto_intent_encode(const struct proto_intent *in, struct proto_buf *b)
{
	unsigned char head[2] = {INTENT_VERSION, (unsigned char)in->op};
	int rc = proto_buf_append(b, head, sizeof(head));

	rc = rc ? rc : put_u64(b, (uint64_t)in->now);
	rc = rc ? rc : put_str(b, in->id);
	if (rc)
		return rc;
	switch (in->op) {
	case PROTO_INTENT_CREATE:
	case PROTO_INTENT_PATCH:
		return put_update(b, &in->u);
	case PROTO_INTENT_CREATE_EVENT:
		rc = put_update(b, &in->u);
		if (rc)
			return rc;
		/* fallthrough */
	case PROTO_INTENT_EVENT:
		rc = put_str(b, in->ev.type);
		rc = rc ? rc : put_str(b, in->ev.data_json);
		return rc ? rc : put_u64(b, (uint64_t)in->ev.timestamp);
	case PROTO_INTENT_DELETE:
		return PROTO_OK;
	case PROTO_INTENT_EXPIRE:
		return put_u64(b, (uint64_t)in->completed_at);
	}
	return PROTO_EINVAL;
}

/* A read cursor: `err` is set by the first failure and sticks. */
struct rd {
	const unsigned char *p, *end;
	int err;
};

static uint64_t get_u64(struct rd *r)
{
	uint64_t v = 0;

	if (r->err || r->end - r->p < 8) {
		r->err = r->err ? r->err : PROTO_EINVAL;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

static uint32_t get_u32(struct rd *r)
{
	uint32_t v = 0;

	if (r->err || r->end - r->p < 4) {
		r->err = r->err ? r->err : PROTO_EINVAL;
		return 0;
	}
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)r->p[i] << (8 * i);
	r->p += 4;
	return v;
}

/* A new NUL-terminated copy, or NULL for an absent string (or an error,
 * in r->err). Strings may not hold NUL bytes. */
static char *get_str(struct rd *r)
{
	uint32_t n = get_u32(r);
	char *s;

	if (r->err || n == NO_STRING)
		return NULL;
	if ((size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) {
		r->err = PROTO_EINVAL;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		r->err = PROTO_ENOMEM;
		return NULL;
	}
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	return s;
}

static double get_f64(struct rd *r)
{
	uint64_t bits = get_u64(r);
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static void get_metadata(struct rd *r, struct proto_race_update *u,
			 uint32_t n);

static void get_update(struct rd *r, struct proto_race_update *u)
{
	uint32_t n;

	u->set = get_u32(r);
	u->id = get_str(r);
	u->source = get_str(r);
	u->title = get_str(r);
	u->state = (enum proto_state)get_u32(r);
	u->started_at = (int64_t)get_u64(r);
	u->eta_sec = (int64_t)get_u64(r);
	u->progress = (int)get_u32(r);
	u->deeplink = get_str(r);
	u->eta_source = (int)get_u32(r);
	u->eta_confidence = get_f64(r);
	u->update_interval_hint = (int)get_u32(r);
	u->completed_at = (int64_t)get_u64(r);
	n = get_u32(r);
	if (r->err)
		return;
	if (n > METADATA_MAX) {
		r->err = PROTO_EINVAL;
		return;
	}
	if (n) {
		get_metadata(r, u, n);
		if (r->err)
			return;
	}
	n = get_u32(r);
	if (r->err)
		return;
	if (n > PROTO_OUTPUT_WRITE_MAX) {
		r->err = PROTO_EINVAL;
		return;
	}
	if (!n)
		return;
	u->output = calloc(n, sizeof(*u->output));
	if (!u->output) {
		r->err = PROTO_ENOMEM;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		u->output[i] = get_str(r);
		u->n_output = i + 1;
		if (!r->err && !u->output[i])
			r->err = PROTO_EINVAL;
	}
}

static void get_metadata(struct rd *r, struct proto_race_update *u,
			 uint32_t n)
{
	u->metadata = calloc(n, sizeof(*u->metadata));
	if (!u->metadata) {
		r->err = PROTO_ENOMEM;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		u->metadata[i].key = get_str(r);
		u->metadata[i].value = get_str(r);
		u->n_metadata = i + 1;
		if (!r->err && !u->metadata[i].key)
			r->err = PROTO_EINVAL;
	}
}

int proto_intent_decode(const void *buf, size_t len,
			struct proto_intent *out)
{
	struct rd r = {buf, (const unsigned char *)buf + len, 0};

	memset(out, 0, sizeof(*out));
	if (len < 2 || r.p[0] != INTENT_VERSION)
		return PROTO_EINVAL;
	out->op = (enum proto_intent_op)r.p[1];
	r.p += 2;
	out->now = (int64_t)get_u64(&r);
	out->id = get_str(&r);
	switch (out->op) {
	case PROTO_INTENT_CREATE:
	case PROTO_INTENT_PATCH:
		get_update(&r, &out->u);
		break;
	case PROTO_INTENT_CREATE_EVENT:
		get_update(&r, &out->u);
		/* fallthrough */
	case PROTO_INTENT_EVENT:
		out->ev.type = get_str(&r);
		out->ev.data_json = get_str(&r);
		out->ev.timestamp = (int64_t)get_u64(&r);
		if (!r.err && !out->ev.type)
			r.err = PROTO_EINVAL;
		break;
	case PROTO_INTENT_DELETE:
		break;
	case PROTO_INTENT_EXPIRE:
		out->completed_at = (int64_t)get_u64(&r);
		break;
	default:
		r.err = PROTO_EINVAL;
	}
	if (!r.err && out->op != PROTO_INTENT_CREATE && !out->id)
		r.err = PROTO_EINVAL;
	if (!r.err && r.p != r.end)
		r.err = PROTO_EINVAL; /* trailing bytes */
	if (r.err) {
		proto_intent_fini(out);
		return r.err;
	}
	return PROTO_OK;
}

void proto_intent_fini(struct proto_intent *in)
{
	if (!in)
		return;
	free(in->id);
	proto_race_update_fini(&in->u);
	proto_event_fini(&in->ev);
	memset(in, 0, sizeof(*in));
}
