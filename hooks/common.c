/*
 * common.c - what the GitHub and GitLab mappings share: lenient field
 * readers (a payload carries far more than we read, and providers add
 * fields over time, so only the fields a mapping needs are checked), the
 * builder of the race update, and the ordering rule for deliveries that
 * arrive late or twice. Pure: no I/O, no clock; never includes lws.
 */
#include "hooks_priv.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"

json_object *hook_get(json_object *o, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, o);
	while (o && (key = va_arg(ap, const char *))) {
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, key, &o))
			o = NULL;
	}
	va_end(ap);
	return o;
}

const char *hook_str(json_object *o, const char *key)
{
	json_object *v = hook_get(o, key, NULL);
	const char *s;

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return s && *s ? s : NULL;
}

int64_t hook_id(json_object *o, const char *key)
{
	json_object *v = hook_get(o, key, NULL);
	double d;

	if (!v)
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		return i >= 0 ? i : -1;
	}
	if (json_object_is_type(v, json_type_double)) {
		/* GitHub's schema calls run_id a "number"; take it when it
		 * is integral and exact. */
		d = json_object_get_double(v);
		if (d >= 0 && d < 9007199254740992.0 && d == floor(d))
			return (int64_t)d;
	}
	return -1;
}

/*
 * GitLab writes "2016-08-12 15:23:28 UTC" or "2016-08-12 15:23:28 +0200";
 * rewritten as RFC 3339 ("2016-08-12T15:23:28Z", "...+02:00") for the one
 * parser we trust.
 */
static int gitlab_time(const char *s, int64_t *ms)
{
	char buf[64];
	size_t n = strlen(s);
	const char *zone;

	if (n < 20 || n > 40 || s[10] != ' ')
		return -1;
	zone = strchr(s + 11, ' ');
	if (!zone)
		return -1;
	n = (size_t)(zone - s);
	memcpy(buf, s, n);
	buf[10] = 'T';
	zone++;
	if (!strcmp(zone, "UTC") || !strcmp(zone, "Z")) {
		buf[n++] = 'Z';
	} else if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5) {
		memcpy(buf + n, zone, 3);
		buf[n + 3] = ':';
		memcpy(buf + n + 4, zone + 3, 2);
		n += 6;
	} else {
		return -1;
	}
	buf[n] = '\0';
	return proto_time_parse(buf, ms) ? -1 : 0;
}

int64_t hook_time(json_object *o, const char *key)
{
	const char *s = hook_str(o, key);
	int64_t ms;

	if (!s)
		return -1;
	if (!proto_time_parse(s, &ms) || !gitlab_time(s, &ms))
		return ms >= 0 ? ms : -1;
	return -1;
}

int hook_fail(struct proto_json_error *err, const char *code,
	      const char *field, const char *message)
{
	if (err) {
		err->code = code;
		snprintf(err->field, sizeof err->field, "%s", field);
		snprintf(err->message, sizeof err->message, "%s", message);
	}
	return PROTO_EINVAL;
}

json_object *hook_parse(const char *body, size_t len,
			struct proto_json_error *err)
{
	json_object *o = proto_json_parse(body, len, err);

	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		hook_fail(err, "invalid_type", "",
			  "the payload must be a JSON object");
		return NULL;
	}
	return o;
}

/* The length of s cut to at most max bytes at the start of a UTF-8
 * sequence, so that what is kept stays well-formed (a payload's strings
 * are: the strict check saw them). */
static size_t cut_len(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

static char *dup_cut(const char *s, size_t max)
{
	size_t n = cut_len(s, max);
	char *d;

	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

void hook_build_start(struct hook_builder *b, struct hook_change *c,
		      const char *source, enum proto_state state,
		      const char *id_fmt, ...)
{
	char id[PROTO_ID_MAX + 1];
	va_list ap;

	memset(c, 0, sizeof(*c));
	b->c = c;
	b->failed = 0;
	c->outcome = HOOK_RACE;
	va_start(ap, id_fmt);
	vsnprintf(id, sizeof(id), id_fmt, ap);
	va_end(ap);
	c->update.id = strdup(id);
	c->update.source = strdup(source);
	c->update.state = state;
	c->update.set = PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_STATE;
	if (!c->update.id || !c->update.source)
		b->failed = 1;
}

void hook_build_title(struct hook_builder *b, const char *a, const char *b2)
{
	static const char sep[] = " \xc2\xb7 "; /* " · " */
	size_t la = a ? strlen(a) : 0, lb = b2 ? strlen(b2) : 0;
	char *t = malloc(la + lb + sizeof(sep));

	if (!t) {
		b->failed = 1;
		return;
	}
	if (a && b2)
		snprintf(t, la + lb + sizeof(sep), "%s%s%s", a, sep, b2);
	else
		snprintf(t, la + lb + sizeof(sep), "%s",
			 a ? a : b2 ? b2 : "untitled");
	b->c->update.title = dup_cut(t, PROTO_TITLE_MAX);
	free(t);
	if (!b->c->update.title)
		b->failed = 1;
	b->c->update.set |= PROTO_F_TITLE;
}

void hook_build_deeplink(struct hook_builder *b, const char *url)
{
	/* A link longer than the limit is useless cut short: left out. */
	if (!url || strlen(url) > PROTO_DEEPLINK_MAX)
		return;
	b->c->update.deeplink = strdup(url);
	if (!b->c->update.deeplink)
		b->failed = 1;
	b->c->update.set |= PROTO_F_DEEPLINK;
}

void hook_build_meta(struct hook_builder *b, const char *key,
		     const char *value)
{
	struct proto_race_update *u = &b->c->update;
	struct proto_kv *kv;

	if (!value || !*value)
		return;
	if (!u->metadata) {
		u->metadata = calloc(HOOK_META_MAX, sizeof(*u->metadata));
		if (!u->metadata) {
			b->failed = 1;
			return;
		}
	}
	if (u->n_metadata == HOOK_META_MAX)
		return; /* a mapping never adds this many: a programming slip */
	kv = &u->metadata[u->n_metadata];
	kv->key = strdup(key);
	kv->value = dup_cut(value, PROTO_META_VALUE_MAX);
	u->n_metadata++;
	u->set |= PROTO_F_METADATA;
	if (!kv->key || !kv->value)
		b->failed = 1;
}

void hook_build_meta_int(struct hook_builder *b, const char *key, int64_t v)
{
	char buf[24];

	if (v < 0)
		return;
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	hook_build_meta(b, key, buf);
}

void hook_build_sha(struct hook_builder *b, const char *sha)
{
	char s[8];
	size_t n;

	if (!sha)
		return;
	/* A sha is hex, but a payload's bytes are only known to be UTF-8:
	 * a cut inside a character would be stored, and the record would
	 * not decode when the server starts again (fuzz_hooks found it). */
	n = cut_len(sha, sizeof(s) - 1);
	memcpy(s, sha, n);
	s[n] = '\0';
	hook_build_meta(b, "sha", s);
}

void hook_build_started(struct hook_builder *b, int64_t ms)
{
	if (ms < 0)
		return;
	b->c->update.started_at = ms;
	b->c->update.set |= PROTO_F_STARTED_AT;
}

void hook_build_completed(struct hook_builder *b, int64_t ms)
{
	if (ms < 0 || !proto_state_is_terminal(b->c->update.state))
		return;
	b->c->update.completed_at = ms;
	b->c->update.set |= PROTO_F_COMPLETED_AT;
}

void hook_build_progress(struct hook_builder *b, int progress)
{
	b->c->update.progress = progress < 0 ? 0 : progress > 100 ? 100 :
				progress;
	b->c->update.set |= PROTO_F_PROGRESS;
}

void hook_build_event(struct hook_builder *b, const char *type,
		      const char *name, int64_t number, int64_t ms)
{
	struct proto_event *ev = &b->c->event;
	json_object *data;
	char *cut;

	if (!name || ms < 0)
		return;
	data = json_object_new_object();
	cut = dup_cut(name, 1024);
	if (!data || !cut) {
		json_object_put(data);
		free(cut);
		b->failed = 1;
		return;
	}
	json_object_object_add(data, "name", json_object_new_string(cut));
	free(cut);
	if (number >= 0)
		json_object_object_add(data, "number",
				       json_object_new_int64(number));
	ev->type = strdup(type);
	ev->data_json = strdup(json_object_to_json_string_ext(
		data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	ev->timestamp = ms;
	json_object_put(data);
	b->c->has_event = 1;
	if (!ev->type || !ev->data_json)
		b->failed = 1;
}

int hook_build_end(struct hook_builder *b, struct proto_json_error *err)
{
	if (!b->failed)
		return PROTO_OK;
	hook_change_fini(b->c);
	if (err) {
		err->code = "out_of_memory";
		err->field[0] = '\0';
		snprintf(err->message, sizeof err->message,
			 "out of memory while reading the payload");
	}
	return PROTO_ENOMEM;
}

void hook_change_fini(struct hook_change *c)
{
	if (!c)
		return;
	proto_race_update_fini(&c->update);
	proto_event_fini(&c->event);
	memset(c, 0, sizeof(*c));
}

enum hook_rank hook_rank_of(enum proto_state s)
{
	if (proto_state_is_terminal(s))
		return HOOK_RANK_FINISHED;
	return s == PROTO_STATE_QUEUED ? HOOK_RANK_QUEUED : HOOK_RANK_RUNNING;
}

static int same_event(const struct proto_event *a, const struct proto_event *b)
{
	return !strcmp(a->type, b->type) &&
	       (a->data_json && b->data_json ?
		!strcmp(a->data_json, b->data_json) :
		a->data_json == b->data_json);
}

int hook_change_fit(struct hook_change *c, const struct proto_race *current)
{
	struct proto_race_update *u = &c->update;

	if (c->outcome != HOOK_RACE || !current)
		return 0;
	if (hook_rank_of(u->state) < hook_rank_of(current->state))
		return 1;
	if (hook_rank_of(u->state) == HOOK_RANK_RUNNING &&
	    hook_rank_of(current->state) == HOOK_RANK_RUNNING &&
	    (u->set & PROTO_F_PROGRESS) &&
	    (current->has & PROTO_F_PROGRESS) &&
	    u->progress < current->progress)
		u->set &= ~(uint32_t)PROTO_F_PROGRESS;
	if (c->has_event && current->n_events &&
	    same_event(&c->event, &current->events[current->n_events - 1])) {
		proto_event_fini(&c->event);
		c->has_event = 0;
	}
	return 0;
}
