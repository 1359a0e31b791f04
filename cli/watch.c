/*
 * watch.c - `raceboard watch`: a live terminal view of the races over the
 * server's WebSocket (raceboard.v1 subscribe, snapshot + deltas).
 *
 * On a terminal it redraws in place on the alternate screen, every line
 * fitted to the width (redrawn on SIGWINCH) under a header; otherwise
 * (or with --plain) it prints one line whenever a race changes. With an
 * ID it follows that race and exits when it finishes (--exit-status: 1
 * unless it passed). The race model and the dual-rail rules live in
 * board.c, display widths in width.c; this file is the connection loop
 * and the drawing. Ctrl-C restores the terminal and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "cli.h"
#include "cmds.h"
#include "width.h"
#include "ws.h"

#define MAX_FILTER 16
#define MAX_SHOWN 200
#define BAR_CELLS 24     /* at 80 columns and wider; less below */
#define BAR_MIN 6        /* narrower than this, no bar at all */
#define EXIT_RACE_FAILED 1 /* --exit-status: the race did not pass */
#define REDRAW_MS 1000   /* countdowns move even when nothing arrives */
#define RECV_SLICE_MS 250

/* Signal flags: the only file-scope mutable state (STYLE.md R8). */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t resized;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

struct watch {
	struct cli_api api;
	struct cli_board board;
	const char *states[MAX_FILTER + 1], *sources[MAX_FILTER + 1],
		*ids[MAX_FILTER + 1];
	int nstates, nsources, nids;
	int tty;               /* redraw in place */
	const char *follow;    /* watch ID: the race followed, or NULL */
	int exit_status;       /* --exit-status */
	int snapshot_seen;     /* a snapshot arrived since connecting */
	int done;              /* the followed race finished (or went) */
	int result;            /* exit code once done */
	struct cli_ws *ws;
	char status[400];      /* "live", "connecting: ...", no escapes */
	int status_ok;         /* green when live, yellow otherwise */
	json_object *printed;  /* plain mode: id -> last line printed */
	json_object *shown[MAX_SHOWN]; /* borrowed from board, per draw */
};

static const struct option long_opts[] = {
	{"server", required_argument, NULL, CLI_OPT_SERVER},
	{"token", required_argument, NULL, CLI_OPT_TOKEN},
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
	{"help", no_argument, NULL, 'h'},
	{"state", required_argument, NULL, CLI_OPT_STATE},
	{"source", required_argument, NULL, CLI_OPT_SOURCE},
	{"id", required_argument, NULL, CLI_OPT_ID},
	{"plain", no_argument, NULL, CLI_OPT_PLAIN},
	{"exit-status", no_argument, NULL, CLI_OPT_EXIT_STATUS},
	{0},
};

static int add_filter(const char **list, int *n, const char *v)
{
	if (*n >= MAX_FILTER)
		return cli_usage_error("watch", "at most %d values per filter",
				       MAX_FILTER);
	list[(*n)++] = v;
	list[*n] = NULL;
	return 0;
}

static int parse_opts(int argc, char **argv, struct cli_global *g,
		      struct watch *w)
{
	int opt, rc, plain = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		rc = cli_global_option(g, "watch", opt, optarg);
		if (rc < 0)
			return CLI_EXIT_USAGE;
		if (rc)
			continue;
		switch (opt) {
		case 'h': return -1;
		case CLI_OPT_PLAIN: plain = 1; break;
		case CLI_OPT_EXIT_STATUS: w->exit_status = 1; break;
		case CLI_OPT_STATE:
			rc = add_filter(w->states, &w->nstates, optarg);
			break;
		case CLI_OPT_SOURCE:
			rc = add_filter(w->sources, &w->nsources, optarg);
			break;
		case CLI_OPT_ID:
			rc = add_filter(w->ids, &w->nids, optarg);
			break;
		default:
			return cli_usage_error("watch", "%s option '%s'",
				opt == ':' ? "missing value for" : "unknown",
				argv[optind - 1]);
		}
		if (rc)
			return rc;
	}
	if (optind < argc) {
		w->follow = argv[optind++];
		rc = add_filter(w->ids, &w->nids, w->follow);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return cli_usage_error("watch", "unexpected argument '%s'",
				       argv[optind]);
	if (w->exit_status && !w->follow)
		return cli_usage_error("watch", "--exit-status needs a race ID");
	w->tty = !plain && isatty(STDOUT_FILENO);
	return 0;
}

static json_object *string_array(const char *const *list)
{
	json_object *a = json_object_new_array();

	for (; *list; list++)
		json_object_array_add(a, json_object_new_string(*list));
	return a;
}

/* Sends subscribe, resuming after the last seq we applied. */
static int subscribe(struct watch *w)
{
	json_object *m = json_object_new_object(), *f = json_object_new_object();
	const char *text;
	int rc;

	json_object_object_add(m, "type", json_object_new_string("subscribe"));
	if (w->board.seq > 0)
		json_object_object_add(m, "since",
				       json_object_new_int64(w->board.seq));
	if (w->nstates)
		json_object_object_add(f, "states", string_array(w->states));
	if (w->nsources)
		json_object_object_add(f, "sources", string_array(w->sources));
	if (w->nids)
		json_object_object_add(f, "ids", string_array(w->ids));
	json_object_object_add(m, "filter", f);
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
	rc = cli_ws_send_text(w->ws, text, strlen(text), w->api.timeout_ms);
	json_object_put(m);
	return rc;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && v ?
	       json_object_get_string(v) : NULL;
}

static const char *state_color(const char *state)
{
	if (!state)
		return "";
	if (!strcmp(state, "running"))
		return "\033[36m";
	if (!strcmp(state, "passed"))
		return "\033[32m";
	if (!strcmp(state, "failed"))
		return "\033[31m";
	if (!strcmp(state, "canceled"))
		return "\033[33m";
	return "\033[2m";
}

/* Appends text to buf, as much as fits. */
static void cat(char *buf, size_t cap, const char *text)
{
	strncat(buf, text, cap - strlen(buf) - 1);
}

/* Bar cells for a terminal `cols` wide: the full bar from 80 columns,
 * one cell less per column below, none when it would be too thin. */
static int bar_cells(int cols)
{
	int n = cols >= 80 ? BAR_CELLS : BAR_CELLS - (80 - cols);

	return n >= BAR_MIN ? n : 0;
}

/* The bar: solid cells, overlay cells, then the empty track. */
static void draw_bar(char *buf, size_t cap, const struct cli_rail *r,
		     int color, int cells)
{
	int solid = r->solid > 0 ? r->solid * cells / 100 : 0;
	int over = r->predicted > 0 ? r->predicted * cells / 100 - solid : 0;

	if (over < 0)
		over = 0;
	if (r->predicted > r->solid && over == 0 && solid < cells)
		over = 1; /* a visible sliver for any prediction */
	for (int i = 0; i < cells; i++) {
		const char *cell = i < solid ? "\u2588" :
				   i < solid + over ? "\u2592" : "\u2591";

		if (color && i == solid && over)
			strncat(buf, "\033[2m", cap - strlen(buf) - 1);
		strncat(buf, cell, cap - strlen(buf) - 1);
	}
	if (color && over)
		strncat(buf, "\033[22m", cap - strlen(buf) - 1);
}

/* One race as a line of at most `cols` - 1 cells (plus escapes): the
 * last column stays empty, so no terminal ever wraps the line. */
static void race_line(struct watch *w, json_object *race, int64_t now,
		      int cols, char *buf, size_t cap)
{
	const char *state = str_of(race, "state"), *title = str_of(race, "title"),
		   *id = str_of(race, "id");
	struct cli_rail r;
	char pct[16] = "  - ", eta[48] = "", d[24], cut[1024];
	int color = w->tty, bar = bar_cells(cols), room, used;
	json_object *v;

	cli_board_rail(race, now, &r);
	if (r.solid >= 0)
		snprintf(pct, sizeof(pct), "%3d%%", r.solid);
	if (r.finishing) {
		snprintf(eta, sizeof(eta), "Finishing soon");
	} else if (r.eta_left >= 0) {
		cli_board_duration(r.eta_left, d, sizeof(d));
		snprintf(eta, sizeof(eta), "ETA %s%s",
			 r.eta_approx ? "\u2248" : "", d);
	} else if (json_object_object_get_ex(race, "duration_sec", &v)) {
		cli_board_duration(json_object_get_int64(v), d, sizeof(d));
		snprintf(eta, sizeof(eta), "took %s", d);
	}
	snprintf(buf, cap, "%s%-8s%s ", color ? state_color(state) : "",
		 state ? state : "?", color ? "\033[0m" : "");
	if (bar) {
		draw_bar(buf, cap, &r, color, bar);
		cat(buf, cap, " ");
	}
	cat(buf, cap, pct);
	cat(buf, cap, "  ");
	used = cli_width_fit(cut, sizeof(cut), eta, 16);
	cat(buf, cap, cut);
	for (; used < 16; used++)
		cat(buf, cap, " ");
	cat(buf, cap, " ");
	/* state 9 + bar and its space + pct 4 + 2 + eta 16 + 1 */
	room = cols - 1 - (9 + (bar ? bar + 1 : 0) + 4 + 2 + 16 + 1);
	used = cli_width_fit(cut, sizeof(cut), title ? title : "",
			     room > 0 ? room : 0);
	cat(buf, cap, cut);
	/* The id, dimmed, when at least a few cells of it fit. */
	if (id && room - used >= 2 + 6) {
		cli_width_fit(cut, sizeof(cut), id, room - used - 2 < 40 ?
			      room - used - 2 : 40);
		cat(buf, cap, color ? "  \033[2m" : "  ");
		cat(buf, cap, cut);
		if (color)
			cat(buf, cap, "\033[0m");
	}
}

static int term_size(int *rows, int *cols)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col) {
		*rows = 24;
		*cols = 100;
		return -1;
	}
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

/* Redraws the whole screen in place (one write, so no flicker). */
static void redraw(struct watch *w)
{
	json_object **list = w->shown;
	int64_t now = cli_board_server_now(&w->board, cli_now_ms());
	size_t n = cli_board_sorted(&w->board, list, MAX_SHOWN);
	int rows, cols;
	char line[2048], head[512], clock[16];
	time_t t = time(NULL);
	struct tm tm;

	term_size(&rows, &cols);
	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	/* The header: always on the first line, cut to the width. */
	snprintf(line, sizeof(line), "%s:%s  %s  %zu race%s  %s",
		 w->api.url.host, w->api.url.port, w->status, n,
		 n == 1 ? "" : "s", clock);
	cli_width_fit(head, sizeof(head), line, cols - 1 - 17);
	printf("\033[H\033[1mraceboard watch\033[0m  %s%s\033[0m\033[K\n\033[K\n",
	       w->status_ok ? "" : "\033[33m", head);
	for (size_t i = 0; i < n && i < MAX_SHOWN && (int)i < rows - 4; i++) {
		race_line(w, list[i], now, cols, line, sizeof(line));
		printf("%s\033[K\n", line);
	}
	if (!n)
		printf("\033[2m%s\033[0m\033[K\n", w->follow ?
		       "(waiting for the race)" : "(no races)");
	printf("\033[K\n\033[2m%s\033[0m\033[J", w->follow ?
	       "Ctrl-C quits; ends when the race finishes" : "Ctrl-C quits");
	fflush(stdout);
}

/* Plain mode: prints the races whose line changed since last time. */
static void print_changes(struct watch *w)
{
	json_object **list = w->shown;
	int64_t now = cli_board_server_now(&w->board, cli_now_ms());
	size_t n = cli_board_sorted(&w->board, list, MAX_SHOWN);
	char line[2048];
	json_object *seen = json_object_new_object(), *old;

	for (size_t i = n < MAX_SHOWN ? n : MAX_SHOWN; i-- > 0;) {
		const char *id = str_of(list[i], "id");

		if (!id)
			continue;
		race_line(w, list[i], now, 200, line, sizeof(line));
		json_object_object_add(seen, id, json_object_new_string(line));
		if (!json_object_object_get_ex(w->printed, id, &old) ||
		    strcmp(json_object_get_string(old), line))
			printf("%s\n", line);
	}
	json_object_object_foreach(w->printed, id, v) {
		(void)v;
		if (!json_object_object_get_ex(seen, id, NULL))
			printf("%-8s %s\n", "gone", id);
	}
	json_object_put(w->printed);
	w->printed = seen;
	fflush(stdout);
}

/* Following one race: done once it is finished, or gone (never there,
 * or dismissed). */
static void check_followed(struct watch *w)
{
	json_object *race;
	const char *state;

	if (!json_object_object_get_ex(w->board.races, w->follow, &race)) {
		w->done = 1;
		w->result = EXIT_RACE_FAILED;
		return;
	}
	state = str_of(race, "state");
	if (state && (!strcmp(state, "passed") || !strcmp(state, "failed") ||
		      !strcmp(state, "canceled"))) {
		w->done = 1;
		w->result = w->exit_status && strcmp(state, "passed") ?
			    EXIT_RACE_FAILED : CLI_EXIT_OK;
	}
}

/* The followed race's last line, printed after the screen is restored. */
static void print_outcome(struct watch *w)
{
	json_object *race;
	char line[2048];
	int rows, cols;

	if (!json_object_object_get_ex(w->board.races, w->follow, &race)) {
		fprintf(stderr, "raceboard watch: no race '%s' on the server "
			"(never created, expired or dismissed)\n", w->follow);
		return;
	}
	if (!w->tty)
		return; /* its last change was the last line printed */
	term_size(&rows, &cols);
	race_line(w, race, cli_board_server_now(&w->board, cli_now_ms()),
		  cols, line, sizeof(line));
	printf("%s\n", line);
}

/* Handles one frame; returns 1 when the view changed. */
static int on_frame(struct watch *w, const char *msg)
{
	json_object *f = json_tokener_parse(msg);
	int changed = f ? cli_board_apply(&w->board, f, cli_now_ms()) : -1;
	const char *type = str_of(f, "type");

	if (type && !strcmp(type, "snapshot"))
		w->snapshot_seen = 1;
	json_object_put(f);
	if (w->follow && w->snapshot_seen)
		check_followed(w);
	return changed > 0;
}

/* Connects and subscribes; on failure sets the status line. */
static void connect_ws(struct watch *w)
{
	char why[200];
	int rc = cli_ws_connect(&w->api.url, "/ws", "raceboard.v1",
				w->api.token, w->api.timeout_ms, &w->ws, why,
				sizeof(why));

	if (!rc)
		rc = subscribe(w);
	if (rc) {
		cli_ws_close(w->ws);
		w->ws = NULL;
		snprintf(w->status, sizeof(w->status), "connecting: %s%s%s",
			 rc == CLI_ESERVER ? "no WebSocket at /ws" :
			 cli_strerror(rc), rc == CLI_ETLS ? ": " : "",
			 rc == CLI_ETLS ? why : "");
		w->status_ok = 0;
		if (!w->tty)
			fprintf(stderr, "raceboard watch: %s\n", w->status);
		return;
	}
	snprintf(w->status, sizeof(w->status), "%slive", w->tty ? "\u25cf " : "");
	w->status_ok = 1;
	w->snapshot_seen = 0;
}

static void loop(struct watch *w)
{
	int64_t last_draw = 0, retry_at = 0;
	int backoff = 500;

	while (!stop_requested && !w->done) {
		int dirty = resized, rc;
		const char *msg;
		size_t len;

		resized = 0;
		if (!w->ws && cli_mono_ms() >= retry_at) {
			connect_ws(w);
			dirty = 1;
			if (!w->ws) {
				retry_at = cli_mono_ms() + backoff;
				backoff = backoff < 8000 ? backoff * 2 : backoff;
			} else {
				backoff = 500;
			}
		}
		if (w->ws) {
			rc = cli_ws_recv(w->ws, RECV_SLICE_MS, &msg, &len);
			if (!rc) {
				dirty |= on_frame(w, msg);
				/* Drain what is already here before drawing. */
				while (!w->done &&
				       !cli_ws_recv(w->ws, 0, &msg, &len))
					dirty |= on_frame(w, msg);
			} else if (rc != CLI_ETIMEOUT) {
				cli_ws_close(w->ws);
				w->ws = NULL;
				snprintf(w->status, sizeof(w->status),
					 "reconnecting");
				w->status_ok = 0;
				dirty = 1;
			}
		} else {
			poll(NULL, 0, RECV_SLICE_MS);
		}
		if (w->tty && (dirty || cli_mono_ms() - last_draw >= REDRAW_MS)) {
			redraw(w);
			last_draw = cli_mono_ms();
		} else if (!w->tty && dirty && w->ws) {
			print_changes(w);
		}
	}
}

int cli_cmd_watch(int argc, char **argv, struct cli_global *g)
{
	struct watch w = {0};
	struct sigaction stop = {.sa_handler = on_stop},
			 winch = {.sa_handler = on_winch};
	int rc = parse_opts(argc, argv, g, &w);

	if (rc)
		return rc < 0 ? (cli_help_print("watch"), CLI_EXIT_OK) : rc;
	g->timeout_ms = g->timeout_ms < 5000 ? g->timeout_ms : 5000;
	if (cli_global_api(g, "watch", &w.api) || cli_board_init(&w.board))
		return CLI_EXIT_USAGE;
	w.board.states = w.nstates ? w.states : NULL;
	w.board.sources = w.nsources ? w.sources : NULL;
	w.board.ids = w.nids ? w.ids : NULL;
	w.printed = json_object_new_object();
	/* No SA_RESTART: Ctrl-C must cut the wait short. */
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &stop, NULL);
	sigaction(SIGWINCH, &winch, NULL);
	signal(SIGPIPE, SIG_IGN);
	snprintf(w.status, sizeof(w.status), "connecting");
	if (w.tty)
		fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	loop(&w);
	if (w.tty)
		fputs("\033[?25h\033[?1049l", stdout);
	if (w.done)
		print_outcome(&w);
	fflush(stdout);
	cli_ws_close(w.ws);
	cli_board_fini(&w.board);
	json_object_put(w.printed);
	return w.done ? w.result : CLI_EXIT_OK;
}
