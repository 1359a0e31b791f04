/*
 * table.c - the races as a terminal table (see table.h). Formatting
 * only: the request is cmd_race.c's.
 */
#include "table.h"

#include <string.h>

#include "board.h"
#include "rfc3339.h"
#include "width.h"

#define W_STATE 8
#define W_PCT 4
#define W_TIME 14
#define W_SOURCE 12
#define W_ID 20
#define W_TITLE_MIN 10

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ?
	       json_object_get_string(v) : NULL;
}

static int64_t int_of(json_object *o, const char *key, int64_t dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ?
	       json_object_get_int64(v) : dflt;
}

/* Prints text cut to `cols` cells and padded to them, then a space. */
static void cell(FILE *out, const char *text, int cols)
{
	char buf[1024];
	int w = cli_width_fit(buf, sizeof(buf), text ? text : "", cols);

	fputs(buf, out);
	for (; w < cols + 1; w++)
		fputc(' ', out);
}

/* "ETA 2m 30s", "took 4m", "" */
static void time_text(json_object *race, int64_t now_ms, char *buf,
		      size_t cap)
{
	const char *at = str_of(race, "last_eta_update");
	int64_t eta = int_of(race, "eta_sec", -1), dur = int_of(race,
		"duration_sec", -1), t;
	char d[32];

	buf[0] = '\0';
	if (dur >= 0) {
		cli_board_duration(dur, d, sizeof(d));
		snprintf(buf, cap, "took %s", d);
	} else if (eta >= 0 && at && !proto_time_parse(at, &t)) {
		int64_t left = (t + eta * 1000 - now_ms) / 1000;

		if (left <= 0) {
			snprintf(buf, cap, "finishing");
		} else {
			cli_board_duration(left, d, sizeof(d));
			snprintf(buf, cap, "ETA %s", d);
		}
	}
}

int cli_table_print(FILE *out, json_object *races, int cols, int64_t now_ms)
{
	/* Narrow terminals lose the id column first, then the source. */
	int show_id = cols - 1 >= W_STATE + W_PCT + W_TIME + W_SOURCE + W_ID +
		      5 + W_TITLE_MIN;
	int show_src = cols - 1 >= W_STATE + W_PCT + W_TIME + W_SOURCE + 4 +
		       W_TITLE_MIN;
	int title = cols - 1 - (W_STATE + 1 + W_PCT + 1 + W_TIME + 1 +
		    (show_src ? W_SOURCE + 1 : 0) + (show_id ? W_ID + 1 : 0));
	char buf[1024];

	if (!json_object_is_type(races, json_type_array))
		return -1;
	if (title < 1)
		title = 1;
	cell(out, "STATE", W_STATE);
	cell(out, "PCT", W_PCT);
	cell(out, "TIME", W_TIME);
	if (show_src)
		cell(out, "SOURCE", W_SOURCE);
	if (show_id)
		cell(out, "ID", W_ID);
	cli_width_fit(buf, sizeof(buf), "TITLE", title);
	fprintf(out, "%s\n", buf);
	for (size_t i = 0; i < json_object_array_length(races); i++) {
		json_object *r = json_object_array_get_idx(races, i);
		int64_t p = int_of(r, "progress", -1);
		char pct[16] = "-", t[64];

		if (p >= 0)
			snprintf(pct, sizeof(pct), "%3d%%", (int)p);
		time_text(r, now_ms, t, sizeof(t));
		cell(out, str_of(r, "state"), W_STATE);
		cell(out, pct, W_PCT);
		cell(out, t, W_TIME);
		if (show_src)
			cell(out, str_of(r, "source"), W_SOURCE);
		if (show_id)
			cell(out, str_of(r, "id"), W_ID);
		cli_width_fit(buf, sizeof(buf), str_of(r, "title") ?
			      str_of(r, "title") : "", title);
		fprintf(out, "%s\n", buf);
	}
	if (json_object_array_length(races) == 0)
		fputs("(no races)\n", out);
	return 0;
}
