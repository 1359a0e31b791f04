/*
 * board.c - the race model of `raceboard watch` (see board.h).
 *
 * Frames follow protocol/PROTOCOL.md: a snapshot replaces every race; a
 * delta creates, updates (changed top-level fields, null removes) or
 * deletes one; a batch carries deltas in order. Events are not shown, so
 * event deltas only count as a change.
 */
#include "board.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rfc3339.h"

int cli_board_init(struct cli_board *b)
{
	memset(b, 0, sizeof(*b));
	b->races = json_object_new_object();
	return b->races ? CLI_OK : CLI_ENOMEM;
}

void cli_board_fini(struct cli_board *b)
{
	json_object_put(b->races);
	b->races = NULL;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int has_num(json_object *o, const char *key, double *out)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	      json_object_is_type(v, json_type_double)))
		return 0;
	*out = json_object_get_double(v);
	return 1;
}

static int64_t time_of(json_object *o, const char *key)
{
	const char *s = str_of(o, key);
	int64_t ms;

	return s && !proto_time_parse(s, &ms) ? ms : INT64_MIN;
}

static int in_list(const char *const *list, const char *v)
{
	if (!list)
		return 1;
	for (; *list; list++)
		if (v && !strcmp(*list, v))
			return 1;
	return 0;
}

static int matches(const struct cli_board *b, json_object *race)
{
	return in_list(b->states, str_of(race, "state")) &&
	       in_list(b->sources, str_of(race, "source")) &&
	       in_list(b->ids, str_of(race, "id"));
}

static void put_race(struct cli_board *b, json_object *race)
{
	const char *id = str_of(race, "id");

	if (id)
		json_object_object_add(b->races, id, json_object_get(race));
}

static int apply_update(struct cli_board *b, const char *id,
			json_object *changes)
{
	json_object *race;

	if (!json_object_object_get_ex(b->races, id, &race) ||
	    !json_object_is_type(changes, json_type_object))
		return 0;
	json_object_object_foreach(changes, k, v) {
		/* Events and the output tail are not shown; a delta's
		 * "output" holds only appended lines, so it is no value to
		 * store either. */
		if (!strcmp(k, "event") || !strcmp(k, "output") ||
		    !strcmp(k, "output_dropped"))
			continue;
		if (!v)
			json_object_object_del(race, k);
		else
			json_object_object_add(race, k, json_object_get(v));
	}
	if (!matches(b, race))
		json_object_object_del(b->races, id);
	return 1;
}

static int apply_delta(struct cli_board *b, json_object *d)
{
	const char *op = str_of(d, "op"), *id = str_of(d, "id");
	json_object *v;
	double seq;

	if (has_num(d, "seq", &seq))
		b->seq = (int64_t)seq;
	if (!op || !id)
		return 0;
	if (!strcmp(op, "create") &&
	    json_object_object_get_ex(d, "race", &v)) {
		put_race(b, v);
		return 1;
	}
	if (!strcmp(op, "update") &&
	    json_object_object_get_ex(d, "changes", &v))
		return apply_update(b, id, v);
	if (!strcmp(op, "delete")) {
		json_object_object_del(b->races, id);
		return 1;
	}
	return 0;
}

int cli_board_apply(struct cli_board *b, json_object *frame,
		    int64_t local_ms)
{
	const char *type = str_of(frame, "type");
	int64_t st = time_of(frame, "server_time");
	json_object *v;
	double seq;
	int changed = 0;

	if (!type)
		return -1;
	if (st != INT64_MIN) {
		/* server_time was stamped before we got the frame, so each
		 * sample underestimates the offset by the latency: keep the
		 * largest one. */
		if (!b->have_offset || st - local_ms > b->offset_ms)
			b->offset_ms = st - local_ms;
		b->have_offset = 1;
	}
	if (!strcmp(type, "snapshot")) {
		json_object *fresh = json_object_new_object(), *races;

		if (!fresh)
			return -1;
		json_object_put(b->races);
		b->races = fresh;
		if (json_object_object_get_ex(frame, "races", &races) &&
		    json_object_is_type(races, json_type_array))
			for (size_t i = 0; i < json_object_array_length(races); i++)
				put_race(b, json_object_array_get_idx(races, i));
		if (has_num(frame, "seq", &seq))
			b->seq = (int64_t)seq;
		return 1;
	}
	if (!strcmp(type, "delta"))
		return apply_delta(b, frame);
	if (!strcmp(type, "batch") &&
	    json_object_object_get_ex(frame, "deltas", &v) &&
	    json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			changed |= apply_delta(b, json_object_array_get_idx(v, i));
		return changed;
	}
	return 0;
}

int64_t cli_board_server_now(const struct cli_board *b, int64_t local_ms)
{
	return local_ms + (b->have_offset ? b->offset_ms : 0);
}

/* The observed rate in points per second, or 0 when unknown. */
static double rate_of(json_object *race, double progress, int64_t lpu)
{
	json_object *pp;
	double rate, eta, elapsed;
	int64_t leu = time_of(race, "last_eta_update"),
		start = time_of(race, "started_at");

	if (json_object_object_get_ex(race, "progress_prediction", &pp) &&
	    has_num(pp, "rate_per_sec", &rate) && rate > 0)
		return rate;
	if (has_num(race, "eta_sec", &eta) && leu != INT64_MIN) {
		/* Seconds left as of the last progress report. */
		double left = eta - (double)(lpu - leu) / 1000.0;

		if (left >= 1)
			return (100 - progress) / left;
	}
	if (start != INT64_MIN && lpu > start) {
		elapsed = (double)(lpu - start) / 1000.0;
		return progress / elapsed;
	}
	return 0;
}

void cli_board_rail(json_object *race, int64_t now_ms, struct cli_rail *out)
{
	const char *state = str_of(race, "state");
	int64_t lpu = time_of(race, "last_progress_update"),
		leu = time_of(race, "last_eta_update");
	double progress = -1, hint = 10, eta, src = 0;
	int running = state && !strcmp(state, "running");

	out->solid = has_num(race, "progress", &progress) ? (int)progress : -1;
	out->predicted = -1;
	out->eta_left = -1;
	out->eta_approx = 0;
	out->finishing = 0;
	has_num(race, "update_interval_hint", &hint);
	has_num(race, "eta_source", &src);
	if (running && src != 1 && lpu != INT64_MIN &&
	    progress >= CLI_BOARD_OVERLAY_MIN && progress < 100 &&
	    (double)(now_ms - lpu) > hint * 1000) {
		double rate = rate_of(race, progress, lpu);
		double p = progress + rate * (double)(now_ms - lpu) / 1000.0;

		if (p > progress + CLI_BOARD_OVERLAY_CAP)
			p = progress + CLI_BOARD_OVERLAY_CAP;
		if (p > 99)
			p = 99;
		if ((int)p > out->solid)
			out->predicted = (int)p;
	}
	if (!running || !has_num(race, "eta_sec", &eta) || leu == INT64_MIN)
		return;
	out->eta_left = (int64_t)ceil(eta - (double)(now_ms - leu) / 1000.0);
	if (out->eta_left <= 0) {
		out->eta_left = 0;
		out->finishing = 1;
	}
	out->eta_approx = src != 1 && (out->predicted >= 0 ||
		(double)(now_ms - leu) > hint * 1000);
}

void cli_board_duration(int64_t sec, char *buf, size_t cap)
{
	if (sec < 0)
		sec = 0;
	if (sec < 60)
		snprintf(buf, cap, "%llds", (long long)sec);
	else if (sec < 3600)
		snprintf(buf, cap, "%lldm %02llds", (long long)(sec / 60),
			 (long long)(sec % 60));
	else
		snprintf(buf, cap, "%lldh %02lldm", (long long)(sec / 3600),
			 (long long)(sec % 3600 / 60));
}

static int newest_first(const void *a, const void *b)
{
	json_object *ra = *(json_object *const *)a, *rb = *(json_object *const *)b;
	const char *sa = str_of(ra, "started_at"), *sb = str_of(rb, "started_at");
	int c = strcmp(sb ? sb : "", sa ? sa : "");

	return c ? c : strcmp(str_of(ra, "id") ? str_of(ra, "id") : "",
			      str_of(rb, "id") ? str_of(rb, "id") : "");
}

size_t cli_board_sorted(const struct cli_board *b, json_object **out,
			size_t cap)
{
	size_t n = 0;

	json_object_object_foreach(b->races, k, v) {
		(void)k;
		if (n < cap)
			out[n] = v;
		n++;
	}
	qsort(out, n < cap ? n : cap, sizeof(*out), newest_first);
	return n;
}
