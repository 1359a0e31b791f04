/*
 * report.c - the reporter thread of `raceboard run` (see report.h).
 *
 * Threads: the main thread calls cli_report_progress/finish, which only
 * touch the fields under `lock` and write one byte to the wake pipe. The
 * reporter thread owns everything else: the WebSocket, the pacing clock
 * and the warning flag. Every network call is bounded by api.timeout_ms.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "race.h"
#include "ws.h"

#define FINAL_ATTEMPTS 2
/* The output lines one write carries at most: the server keeps 200, and
 * a write must stay under the 64 KiB message and body limits once the
 * lines are escaped as JSON (an escape sequence's ESC is 6 bytes). */
#define OUT_LINES PROTO_OUTPUT_LINES_MAX
#define OUT_WIRE_MAX (40 * 1024)

/* A pending output line and what it costs as a JSON string. */
struct out_line {
	char *text;
	size_t wire;
};

struct cli_report {
	struct cli_report_cfg cfg;
	char id[160];
	pthread_t thread;
	int wake[2];               /* main -> reporter: "something changed" */

	pthread_mutex_t lock;      /* guards the block below */
	pthread_cond_t done_cond;
	int progress;              /* best progress seen, -1 none */
	int64_t progress_ms;       /* when it last rose (monotonic) */
	int first_progress;        /* first progress seen, and when */
	int64_t first_ms;
	int final;                 /* finish posted */
	char final_state[16];
	int final_progress;
	json_object *final_meta;   /* owned */
	int done;                  /* reporter thread finished */
	int answered;              /* the server has answered once */
	int warned;                /* the one warning was printed */
	int delivered;             /* the final state reached the server */
	/* Output lines not yet delivered, a ring of the newest ones: out_n
	 * lines from out_head, numbered from out_first. */
	struct out_line out[OUT_LINES];
	size_t out_head, out_n, out_wire;
	uint64_t out_first;
	/* end of the block guarded by lock */

	/* Reporter thread only. */
	int64_t start_ms;
	struct cli_ws *ws;
	int ws_unsupported;
	int64_t req;
	int created;
	int sent_progress;
	int64_t sent_eta;
	int64_t last_send_ms;
	int64_t next_try_ms;
	int disabled;              /* the server refused us: stop trying */
	int reached;               /* the server answered at least once */
	int debug;                 /* $RACEBOARD_DEBUG: trace on stderr */
};

/* A copy of the guarded state, taken under the lock. */
struct snap {
	int progress, first_progress, final, final_progress;
	int64_t progress_ms, first_ms;
	char final_state[16];
	json_object *final_meta; /* borrowed: only final sets it, once */
	json_object *lines;      /* owned: the pending output lines, or NULL */
	uint64_t lines_end;      /* the number after the last of them */
};

/* Prints the one warning of the run. Either thread (under the lock). */
static void warn_once(struct cli_report *r, const char *err)
{
	pthread_mutex_lock(&r->lock);
	if (!r->warned)
		fprintf(stderr, "raceboard: warning: race '%s' not reported: "
			"%s\n", r->id, err);
	r->warned = 1;
	pthread_mutex_unlock(&r->lock);
}

/* Traces transport decisions when $RACEBOARD_DEBUG is set (tests use it
 * to tell WebSocket from REST). Reporter thread. */
static void debug(const struct cli_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void debug(const struct cli_report *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->debug)
		return;
	va_start(ap, fmt);
	fputs("raceboard: debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Remaining seconds from the progress rate, or -1 when unknown. */
static int64_t derive_eta(const struct cli_report *r, const struct snap *s,
			  int64_t now)
{
	int p0 = s->first_progress;
	int64_t t0 = s->first_ms, dt, rem;

	if (r->cfg.fixed_eta || s->progress <= 0 || s->progress >= 100)
		return -1;
	if (s->progress <= p0 || s->progress_ms - t0 < 1000) {
		p0 = 0;
		t0 = r->start_ms;
	}
	dt = s->progress_ms - t0;
	if (dt < 1000 || s->progress <= p0)
		return -1;
	rem = (100 - s->progress) * dt / (s->progress - p0) -
	      (now - s->progress_ms);
	return rem < 0 ? 0 : (rem + 500) / 1000;
}

/* Adds the latest progress and ETA, and once finished the final state
 * and progress, to a request body. */
static void add_latest(json_object *b, const struct snap *s, int64_t eta)
{
	if (s->progress >= 0)
		json_object_object_add(b, "progress",
				       json_object_new_int(s->progress));
	if (eta >= 0)
		json_object_object_add(b, "eta_sec", json_object_new_int64(eta));
	if (s->lines)
		json_object_object_add(b, "output", json_object_get(s->lines));
	if (!s->final)
		return;
	json_object_object_add(b, "state",
			       json_object_new_string(s->final_state));
	if (s->final_progress >= 0)
		json_object_object_add(b, "progress",
				       json_object_new_int(s->final_progress));
}

/* The body of a full create: the start body plus the latest state, the
 * final metadata merged into the start metadata. */
static json_object *full_body(struct cli_report *r, const struct snap *s,
			      int64_t eta)
{
	json_object *b = NULL, *m;

	if (json_object_deep_copy(r->cfg.create_body, &b, NULL))
		return NULL;
	add_latest(b, s, eta);
	if (s->final && s->final_meta &&
	    json_object_object_get_ex(b, "metadata", &m)) {
		json_object_object_foreach(s->final_meta, k, v)
			json_object_object_add(m, k, json_object_get(v));
	}
	return b;
}

/* Only what changed since the race was created (the server merges the
 * final metadata key by key). */
static json_object *changes_body(const struct snap *s, int64_t eta)
{
	json_object *b = json_object_new_object();

	if (!b)
		return NULL;
	add_latest(b, s, eta);
	if (s->final && s->final_meta)
		json_object_object_add(b, "metadata",
				       json_object_get(s->final_meta));
	return b;
}

/* A string member of o, or `dflt` when it is absent. */
static const char *str_member(json_object *o, const char *key,
			      const char *dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ?
	       json_object_get_string(v) : dflt;
}

/* Bytes a line takes as a JSON string, quotes and comma included. */
static size_t wire_len(const char *s)
{
	size_t n = 3;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		n += c == '"' || c == '\\' || c == '/' || c == '\b' ||
		     c == '\f' || c == '\n' || c == '\r' || c == '\t' ? 2 :
		     c < 0x20 ? 6 : 1;
	}
	return n;
}

/* Drops the oldest pending line. Under the lock. */
static void out_drop_oldest(struct cli_report *r)
{
	struct out_line *l = &r->out[r->out_head];

	r->out_wire -= l->wire;
	free(l->text);
	l->text = NULL;
	r->out_head = (r->out_head + 1) % OUT_LINES;
	r->out_n--;
	r->out_first++;
}

/* Forgets the lines numbered below `end`: the server has them. */
static void out_delivered(struct cli_report *r, uint64_t end)
{
	pthread_mutex_lock(&r->lock);
	while (r->out_n && r->out_first < end)
		out_drop_oldest(r);
	pthread_mutex_unlock(&r->lock);
}

/* Sends one write over the WebSocket and waits for its ack or error. */
static int ws_request(struct cli_report *r, int create, json_object *body,
		      char *err, size_t cap)
{
	json_object *f = json_object_new_object(), *reply, *req;
	int64_t deadline = cli_mono_ms() + r->cfg.api.timeout_ms, id = ++r->req;
	const char *text, *msg;
	char url[600];
	size_t len;
	int rc;

	json_object_object_add(f, "type",
			       json_object_new_string(create ? "create" : "patch"));
	json_object_object_add(f, "req", json_object_new_int64(id));
	if (!create)
		json_object_object_add(f, "id", json_object_new_string(r->id));
	json_object_object_add(f, create ? "race" : "changes",
			       json_object_get(body));
	text = json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN);
	rc = cli_ws_send_text(r->ws, text, strlen(text), r->cfg.api.timeout_ms);
	json_object_put(f);
	while (!rc) {
		int left = (int)(deadline - cli_mono_ms());

		rc = cli_ws_recv(r->ws, left < 0 ? 0 : left, &msg, &len);
		if (rc)
			break;
		reply = json_tokener_parse(msg);
		if (!reply || !json_object_object_get_ex(reply, "req", &req) ||
		    json_object_get_int64(req) != id) {
			json_object_put(reply); /* hello, heartbeat, ... */
			continue;
		}
		if (!strcmp(str_member(reply, "type", ""), "ack")) {
			json_object_put(reply);
			return CLI_OK;
		}
		snprintf(err, cap, "%s (field: %s, %s)",
			 str_member(reply, "message", "refused"),
			 str_member(reply, "field", "-"),
			 str_member(reply, "code", "error"));
		json_object_put(reply);
		return CLI_ESERVER;
	}
	cli_url_format(&r->cfg.api.url, url, sizeof(url));
	snprintf(err, cap, "WebSocket to %s/ws: %s", url, cli_strerror(rc));
	cli_ws_close(r->ws);
	r->ws = NULL;
	return rc;
}

/* Opens the WebSocket when it is wanted and not open. Returns CLI_OK
 * (r->ws may still be NULL: REST then), or a network error. */
static int ws_ensure(struct cli_report *r, char *err, size_t cap)
{
	char why[200];
	int rc;

	if (!r->cfg.use_ws || r->ws_unsupported || r->ws)
		return CLI_OK;
	/* A producer only: served beside the HTTP producers, not on the
	 * server's fan-out thread (docs/PROTOCOL.md). */
	rc = cli_ws_connect(&r->cfg.api.url, "/ws?role=producer",
			    "raceboard.v1",
			    r->cfg.api.token, r->cfg.api.timeout_ms, &r->ws,
			    why, sizeof(why));
	if (rc == CLI_ESERVER) {
		r->ws_unsupported = 1; /* no WebSocket there: use REST */
		debug(r, "no WebSocket at /ws: using REST");
		return CLI_OK;
	}
	if (!rc)
		debug(r, "WebSocket connected");
	if (rc) {
		char url[600];

		cli_url_format(&r->cfg.api.url, url, sizeof(url));
		snprintf(err, cap, "cannot reach %s: %s%s%s", url,
			 cli_strerror(rc), rc == CLI_ETLS ? ": " : "",
			 rc == CLI_ETLS ? why : "");
	}
	return rc;
}

/*
 * Sends the latest state: a full create when the race is not known to
 * exist or the WebSocket was just (re)opened, else a patch of the changes.
 * Updates the pacing clock and the warning state.
 */
static int send_state(struct cli_report *r, const struct snap *s)
{
	int64_t now = cli_mono_ms(), eta = s->final ? -1 : derive_eta(r, s, now);
	int had_ws = r->ws != NULL, full, rc;
	char err[1024] = "";
	char path[300];
	json_object *body;

	rc = ws_ensure(r, err, sizeof(err));
	full = !r->created || (r->ws && !had_ws);
	body = full ? full_body(r, s, eta) : changes_body(s, eta);
	if (!rc && !body)
		rc = CLI_ENOMEM;
	if (!rc && r->ws) {
		rc = ws_request(r, full, body, err, sizeof(err));
	} else if (!rc) {
		const char *text = json_object_to_json_string_ext(body,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (full)
			strcpy(path, "/race");
		else
			cli_api_race_path(path, sizeof(path), r->id, "");
		rc = cli_api_call(&r->cfg.api, full ? "POST" : "PATCH", path,
				  text, NULL, NULL, err, sizeof(err));
	}
	json_object_put(body);
	debug(r, "%s over %s: %s", full ? "create" : "patch",
	      r->cfg.use_ws && !r->ws_unsupported ? "websocket" : "rest",
	      rc ? cli_strerror(rc) : "ok");
	r->last_send_ms = now;
	if (rc == CLI_OK || rc == CLI_ESERVER) {
		pthread_mutex_lock(&r->lock);
		r->answered = 1;
		pthread_mutex_unlock(&r->lock);
	}
	if (rc == CLI_OK) {
		r->reached = 1;
		r->created = 1;
		if (s->lines)
			out_delivered(r, s->lines_end);
		r->sent_progress = s->progress;
		if (eta >= 0)
			r->sent_eta = eta;
		return rc;
	}
	if (rc == CLI_ESERVER) {
		r->reached = 1;
		r->disabled = 1;
	}
	r->next_try_ms = now + r->cfg.interval_ms;
	warn_once(r, err[0] ? err : cli_strerror(rc));
	return rc;
}

static void take_snap(struct cli_report *r, struct snap *s)
{
	json_object_put(s->lines);
	s->lines = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->out_n) {
		s->lines = json_object_new_array_ext((int)r->out_n);
		for (size_t i = 0; s->lines && i < r->out_n; i++)
			json_object_array_add(s->lines, json_object_new_string(
				r->out[(r->out_head + i) % OUT_LINES].text));
		s->lines_end = r->out_first + r->out_n;
	}
	s->progress = r->progress;
	s->progress_ms = r->progress_ms;
	s->first_progress = r->first_progress;
	s->first_ms = r->first_ms;
	s->final = r->final;
	s->final_progress = r->final_progress;
	memcpy(s->final_state, r->final_state, sizeof(s->final_state));
	s->final_meta = r->final_meta;
	pthread_mutex_unlock(&r->lock);
}

/* Answers pings and notices drops while idle. */
static void service_ws(struct cli_report *r)
{
	const char *msg;
	size_t len;
	int rc;

	while (r->ws && !(rc = cli_ws_recv(r->ws, 0, &msg, &len)))
		;
	if (r->ws && rc != CLI_ETIMEOUT) {
		debug(r, "WebSocket lost: %s", cli_strerror(rc));
		cli_ws_close(r->ws);
		r->ws = NULL;
	}
}

/* When news of progress may go out: at once for the first progress of
 * the race (the leading edge, so even a short job shows it on the board),
 * then no sooner than one interval after the last send. */
static int64_t progress_due(const struct cli_report *r)
{
	return r->sent_progress < 0 ? 0 : r->last_send_ms + r->cfg.interval_ms;
}

/* Milliseconds until the next send is due, or -1 for "only on wake". */
static int next_timeout(struct cli_report *r, const struct snap *s)
{
	int64_t due, now = cli_mono_ms();

	if (r->disabled)
		return -1;
	if (!r->created)
		due = r->next_try_ms;
	else if (s->progress > r->sent_progress)
		due = progress_due(r);
	else if (s->lines)
		due = r->last_send_ms + r->cfg.interval_ms;
	else
		return -1; /* after a drop, reconnect when there is news */
	if (s->lines && r->created &&
	    r->last_send_ms + r->cfg.interval_ms < due)
		due = r->last_send_ms + r->cfg.interval_ms;
	return due <= now ? 0 : (int)(due - now);
}

static void finish_thread(struct cli_report *r, int delivered)
{
	pthread_mutex_lock(&r->lock);
	r->done = 1;
	r->delivered = delivered;
	pthread_cond_broadcast(&r->done_cond);
	pthread_mutex_unlock(&r->lock);
}

static void *reporter_main(void *arg)
{
	struct cli_report *r = arg;
	struct snap s = {0};
	int final_tries = 0;

	for (;;) {
		struct pollfd p[2] = {{r->wake[0], POLLIN, 0}, {-1, POLLIN, 0}};
		int64_t now = cli_mono_ms();
		char drain[64];
		int timeout;

		take_snap(r, &s);
		if (s.final) {
			int rc = r->disabled ? CLI_ESERVER : send_state(r, &s);

			if (rc == CLI_OK || r->disabled || !r->reached ||
			    ++final_tries >= FINAL_ATTEMPTS) {
				json_object_put(s.lines);
				finish_thread(r, rc == CLI_OK);
				return NULL;
			}
			poll(NULL, 0, 300);
			continue;
		}
		if (!r->disabled && (!r->created ? now >= r->next_try_ms :
		    (s.progress > r->sent_progress && now >= progress_due(r)) ||
		    (s.lines && now >= r->last_send_ms + r->cfg.interval_ms)))
			send_state(r, &s);
		timeout = next_timeout(r, &s);
		if (r->ws)
			p[1].fd = cli_ws_fd(r->ws);
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			poll(NULL, 0, 100);
		if (p[1].revents)
			service_ws(r);
		if (p[0].revents)
			while (read(r->wake[0], drain, sizeof(drain)) > 0)
				;
	}
}

static void wake(struct cli_report *r)
{
	char c = 1;

	if (write(r->wake[1], &c, 1) < 0) {
		/* Full pipe: the reporter is already due to wake. */
	}
}

void cli_report_output(struct cli_report *r, const char *line)
{
	char *copy;
	size_t wire;
	int first;

	if (!r || !(copy = strdup(line)))
		return;
	wire = wire_len(copy);
	pthread_mutex_lock(&r->lock);
	/* Keep the newest lines that fit in one write. */
	while (r->out_n && (r->out_n == OUT_LINES ||
			    r->out_wire + wire > OUT_WIRE_MAX))
		out_drop_oldest(r);
	r->out[(r->out_head + r->out_n) % OUT_LINES] =
		(struct out_line){copy, wire};
	r->out_n++;
	r->out_wire += wire;
	first = r->out_n == 1;
	pthread_mutex_unlock(&r->lock);
	/* The reporter sleeps until there is news; one byte per batch of
	 * lines wakes it, not one per line. */
	if (first)
		wake(r);
}

struct cli_report *cli_report_start(struct cli_report_cfg *cfg)
{
	struct cli_report *r = calloc(1, sizeof(*r));

	if (!r)
		goto fail;
	r->cfg = *cfg;
	cfg->create_body = NULL;
	snprintf(r->id, sizeof(r->id), "%s", cfg->id);
	r->cfg.id = r->id;
	r->progress = r->first_progress = r->final_progress = -1;
	r->sent_progress = -1;
	r->sent_eta = -1;
	r->start_ms = cli_mono_ms();
	r->debug = getenv("RACEBOARD_DEBUG") != NULL;
	r->wake[0] = r->wake[1] = -1;
	if (pipe(r->wake))
		goto fail;
	for (int i = 0; i < 2; i++) {
		fcntl(r->wake[i], F_SETFL, O_NONBLOCK);
		fcntl(r->wake[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->done_cond, NULL);
	if (pthread_create(&r->thread, NULL, reporter_main, r)) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->done_cond);
		goto fail;
	}
	return r;
fail:
	json_object_put(cfg->create_body);
	cfg->create_body = NULL;
	if (r) {
		json_object_put(r->cfg.create_body);
		if (r->wake[0] >= 0) {
			close(r->wake[0]);
			close(r->wake[1]);
		}
	}
	free(r);
	return NULL;
}

void cli_report_progress(struct cli_report *r, int progress)
{
	int changed = 0;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	if (progress > r->progress && !r->final) {
		int64_t now = cli_mono_ms();

		if (r->first_progress < 0) {
			r->first_progress = progress;
			r->first_ms = now;
		}
		r->progress = progress;
		r->progress_ms = now;
		changed = 1;
	}
	pthread_mutex_unlock(&r->lock);
	if (changed)
		wake(r);
}

int cli_report_finish(struct cli_report *r, const char *state, int progress,
		      json_object *metadata, int wait_ms)
{
	struct timespec until;
	int delivered, done;

	if (!r) {
		json_object_put(metadata);
		return CLI_ETIMEOUT;
	}
	pthread_mutex_lock(&r->lock);
	/* A server that never answered is unlikely to start now: keep the
	 * caller's shell waiting for at most a second. */
	if (!r->answered && wait_ms > 1000)
		wait_ms = 1000;
	r->final = 1;
	snprintf(r->final_state, sizeof(r->final_state), "%s", state);
	r->final_progress = progress;
	r->final_meta = metadata;
	pthread_mutex_unlock(&r->lock);
	wake(r);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->done)
		if (pthread_cond_timedwait(&r->done_cond, &r->lock, &until))
			break;
	delivered = r->done && r->delivered;
	done = r->done;
	pthread_mutex_unlock(&r->lock);
	if (!done)
		warn_once(r, "the server did not answer in time");
	return delivered ? CLI_OK : CLI_ETIMEOUT;
}

void cli_report_free(struct cli_report *r)
{
	int done;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	done = r->done;
	pthread_mutex_unlock(&r->lock);
	if (!done) {
		/* Stuck on a hung server: the process exits under it. */
		pthread_detach(r->thread);
		return;
	}
	pthread_join(r->thread, NULL);
	cli_ws_close(r->ws);
	json_object_put(r->final_meta);
	json_object_put(r->cfg.create_body);
	while (r->out_n)
		out_drop_oldest(r);
	close(r->wake[0]);
	close(r->wake[1]);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->done_cond);
	free(r);
}
