/*
 * hook.c - `raceboard hook claude-code`: one Claude Code hook event (JSON
 * on stdin) becomes a change to the race of the prompt being worked on.
 *
 *   UserPromptSubmit  creates the prompt's race (title: the prompt's first
 *                     line, shortened); an earlier prompt's race that is
 *                     still open (the user interrupted it) is canceled
 *   PreToolUse        appends a "stage" event naming the tool, and sets
 *                     metadata.stage to it
 *   Stop              the race passed
 *   SessionEnd        cancels the race if it is still open
 *
 * The hook runs inside the agent's turn, so it must never cost the agent
 * anything: it always exits 0, prints nothing on stdout (Claude Code adds
 * a UserPromptSubmit hook's stdout to the model's context), and gives up
 * on the server after a short budget (--budget, 150 ms by default, with a
 * shorter connect timeout). Only the title leaves the machine unless
 * --send-prompt asks for the whole prompt.
 *
 * Which race a session is on lives in a small state file per session,
 * $XDG_STATE_HOME/raceboard/claude-code/<session> (default
 * ~/.local/state/...): "<race id> open|done". --install and --uninstall
 * are in hook_install.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "hook.h"

#define MAX_EVENT_BYTES (1024 * 1024)
#define TITLE_MAX 80
#define PROMPT_MAX 4000

struct hook {
	struct cli_api api;
	int64_t deadline; /* cli_mono_ms() reading: give up after it */
	int send_prompt;
	int debug;
	char state_path[1024];
	char race_id[129];
	int open; /* the race in the state file is not finished */
};

static void debug(const struct hook *h, const char *what, const char *err)
{
	if (h->debug)
		fprintf(stderr, "raceboard hook: %s%s%s\n", what, err ? ": " : "",
			err ? err : "");
}

/* Reads stdin until EOF, MAX_EVENT_BYTES or the deadline. Returns the
 * owned text, or NULL. */
static char *read_event(int64_t deadline)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap);

	while (buf) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int64_t left = deadline - cli_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (len + 4096 + 1 > cap) {
			char *nb = cap >= MAX_EVENT_BYTES ? NULL :
				   realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

size_t cli_hook_title(const char *prompt, char *out, size_t cap)
{
	const char *p = prompt;
	size_t n = 0, keep;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	n = strcspn(p, "\r\n");
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	keep = n;
	if (keep > TITLE_MAX || keep >= cap) {
		keep = TITLE_MAX < cap - 4 ? TITLE_MAX : cap - 4;
		/* Cut at a character boundary, then at a word if one is near. */
		while (keep && ((unsigned char)p[keep] & 0xc0) == 0x80)
			keep--;
		for (size_t k = keep; k > keep * 2 / 3; k--)
			if (p[k] == ' ') {
				keep = k;
				break;
			}
		while (keep && p[keep - 1] == ' ')
			keep--;
	}
	memcpy(out, p, keep);
	if (keep < n) {
		memcpy(out + keep, "\u2026", 3); /* … */
		keep += 3;
	}
	out[keep] = '\0';
	return keep;
}

/* Keeps [A-Za-z0-9._:-] of s (at most cap-1 bytes) in out. */
static void id_chars(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 1 < cap; s++)
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("._:-", *s))
			out[n++] = *s;
	out[n] = '\0';
}

/* The state file of session `sid` (already reduced to id characters). */
static int state_path(struct hook *h, const char *sid)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[900];
	int n;

	if (xdg && *xdg == '/')
		n = snprintf(dir, sizeof(dir), "%s/raceboard/claude-code", xdg);
	else if (home && *home)
		n = snprintf(dir, sizeof(dir),
			     "%s/.local/state/raceboard/claude-code", home);
	else
		return CLI_EINVAL;
	if (n < 0 || (size_t)n >= sizeof(dir))
		return CLI_EINVAL;
	n = snprintf(h->state_path, sizeof(h->state_path), "%s/%s", dir, sid);
	return n < 0 || (size_t)n >= sizeof(h->state_path) ? CLI_EINVAL : 0;
}

/* Creates the state file's directories (0700). */
static void make_dirs(const char *path)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
}

static void state_load(struct hook *h)
{
	FILE *f = fopen(h->state_path, "r");
	char state[8] = "";

	h->race_id[0] = '\0';
	h->open = 0;
	if (!f)
		return;
	if (fscanf(f, "%128s %7s", h->race_id, state) == 2)
		h->open = !strcmp(state, "open");
	else
		h->race_id[0] = '\0';
	fclose(f);
}

/* Writes "<id> open|done" through a temporary file and a rename, so a
 * hook running at the same time never reads half a line. */
static void state_save(struct hook *h)
{
	char tmp[1100];
	FILE *f;

	make_dirs(h->state_path);
	snprintf(tmp, sizeof(tmp), "%s.%ld", h->state_path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s %s\n", h->race_id, h->open ? "open" : "done");
	if (fclose(f) || rename(tmp, h->state_path))
		unlink(tmp);
}

/* One request within what is left of the budget. Failures are only
 * traced: the agent must not notice them. */
static int call(struct hook *h, const char *method, const char *path,
		json_object *body)
{
	int64_t left = h->deadline - cli_mono_ms();
	char err[512];
	int rc;

	if (left < 5) {
		debug(h, "out of time", path);
		return CLI_ETIMEOUT;
	}
	h->api.timeout_ms = (int)left;
	rc = cli_api_call(&h->api, method, path,
			  body ? json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN) : NULL,
			  NULL, NULL, err, sizeof(err));
	if (rc)
		debug(h, path, err);
	return rc;
}

/* PATCHes the state file's race to `state` when it is open. */
static void finish_open(struct hook *h, const char *state, const char *why)
{
	json_object *b, *m;
	char path[256];
	int rc;

	if (!h->race_id[0] || !h->open ||
	    cli_api_race_path(path, sizeof(path), h->race_id, ""))
		return;
	b = json_object_new_object();
	json_object_object_add(b, "state", json_object_new_string(state));
	if (!strcmp(state, "passed"))
		json_object_object_add(b, "progress", json_object_new_int(100));
	if (why) {
		m = json_object_new_object();
		json_object_object_add(m, "end_reason",
				       json_object_new_string(why));
		json_object_object_add(b, "metadata", m);
	}
	/* A race the server refuses (404: dismissed on the board) is done
	 * too; one it never heard about stays open for the next event. */
	rc = call(h, "PATCH", path, b);
	if (!rc || rc == CLI_ESERVER) {
		h->open = 0;
		state_save(h);
	}
	json_object_put(b);
}

static void on_prompt(struct hook *h, json_object *ev, const char *sid)
{
	const char *prompt = str_of(ev, "prompt"), *cwd = str_of(ev, "cwd");
	json_object *b = json_object_new_object(), *m = json_object_new_object();
	char title[TITLE_MAX + 8], short_sid[16];

	finish_open(h, "canceled", "interrupted");
	cli_hook_title(prompt ? prompt : "", title, sizeof(title));
	id_chars(sid, short_sid, 9);
	snprintf(h->race_id, sizeof(h->race_id), "cc-%s-%lld", short_sid,
		 (long long)cli_now_ms());
	json_object_object_add(b, "id", json_object_new_string(h->race_id));
	json_object_object_add(b, "source", json_object_new_string("claude-code"));
	json_object_object_add(b, "title", json_object_new_string(
		title[0] ? title : "(empty prompt)"));
	json_object_object_add(b, "state", json_object_new_string("running"));
	json_object_object_add(m, "session", json_object_new_string(sid));
	if (cwd) {
		const char *base = strrchr(cwd, '/');

		json_object_object_add(m, "project", json_object_new_string(
			base && base[1] ? base + 1 : cwd));
	}
	if (h->send_prompt && prompt) {
		char cut[PROMPT_MAX + 1];

		snprintf(cut, sizeof(cut), "%s", prompt);
		json_object_object_add(m, "prompt", json_object_new_string(cut));
	}
	json_object_object_add(b, "metadata", m);
	h->open = 1;
	state_save(h); /* first: a tool use may race this request */
	call(h, "POST", "/race", b);
	json_object_put(b);
}

static void on_tool(struct hook *h, json_object *ev)
{
	const char *tool = str_of(ev, "tool_name");
	json_object *b, *d;
	char path[256], name[129];

	if (!h->race_id[0] || !h->open || !tool ||
	    cli_api_race_path(path, sizeof(path), h->race_id, "/event"))
		return;
	snprintf(name, sizeof(name), "%s", tool);
	b = json_object_new_object();
	d = json_object_new_object();
	json_object_object_add(b, "type", json_object_new_string("stage"));
	json_object_object_add(d, "name", json_object_new_string(name));
	json_object_object_add(b, "data", d);
	if (!call(h, "POST", path, b)) {
		json_object_put(b);
		b = json_object_new_object();
		d = json_object_new_object();
		json_object_object_add(d, "stage", json_object_new_string(name));
		json_object_object_add(b, "metadata", d);
		path[strlen(path) - strlen("/event")] = '\0';
		call(h, "PATCH", path, b);
	}
	json_object_put(b);
}

/* Handles the event in `text`. */
static void handle(struct hook *h, const char *text)
{
	json_object *ev = json_tokener_parse(text);
	const char *name = ev ? str_of(ev, "hook_event_name") : NULL;
	const char *sid = ev ? str_of(ev, "session_id") : NULL;
	char sid_chars[100];

	if (!name || !sid) {
		debug(h, "not a Claude Code hook event", NULL);
		json_object_put(ev);
		return;
	}
	id_chars(sid, sid_chars, sizeof(sid_chars));
	if (!sid_chars[0] || state_path(h, sid_chars)) {
		json_object_put(ev);
		return;
	}
	state_load(h);
	if (!strcmp(name, "UserPromptSubmit")) {
		on_prompt(h, ev, sid_chars);
	} else if (!strcmp(name, "PreToolUse")) {
		on_tool(h, ev);
	} else if (!strcmp(name, "Stop")) {
		finish_open(h, "passed", NULL);
	} else if (!strcmp(name, "SessionEnd")) {
		const char *why = str_of(ev, "reason");

		finish_open(h, "canceled", why ? why : "session ended");
		unlink(h->state_path);
	} else {
		debug(h, "event ignored", name);
	}
	json_object_put(ev);
}

static const struct option long_opts[] = {
	{"server", required_argument, NULL, CLI_OPT_SERVER},
	{"token", required_argument, NULL, CLI_OPT_TOKEN},
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
	{"cacert", required_argument, NULL, CLI_OPT_CACERT},
	{"help", no_argument, NULL, 'h'},
	{"budget", required_argument, NULL, 'b'},
	{"send-prompt", no_argument, NULL, 'p'},
	{"install", no_argument, NULL, 'i'},
	{"uninstall", no_argument, NULL, 'u'},
	{"settings", required_argument, NULL, 's'},
	{NULL, 0, NULL, 0},
};

int cli_cmd_hook(int argc, char **argv, struct cli_global *g)
{
	struct hook h = {0};
	struct cli_hook_install inst = {0};
	int64_t start = cli_mono_ms(), budget = 150;
	int opt, mode = 0;
	char *text;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		int rc = cli_global_option(g, "hook", opt, optarg);

		if (rc < 0)
			return CLI_EXIT_USAGE;
		if (rc)
			continue;
		switch (opt) {
		case 'h':
			cli_help_print("hook");
			return CLI_EXIT_OK;
		case 'b':
			if (cli_parse_int(optarg, &budget) || budget < 10 ||
			    budget > 60000)
				return cli_usage_error("hook", "--budget wants "
						       "milliseconds, 10-60000");
			inst.budget_ms = (int)budget;
			break;
		case 'p':
			h.send_prompt = inst.send_prompt = 1;
			break;
		case 'i':
		case 'u':
			mode = opt;
			break;
		case 's':
			inst.settings = optarg;
			break;
		default:
			return cli_usage_error("hook", "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc || strcmp(argv[optind], "claude-code") ||
	    optind + 1 != argc)
		return cli_usage_error("hook", "want: hook claude-code "
				       "[--install|--uninstall] [OPTIONS]");
	if (mode) {
		inst.server = g->server_given ? g->server : NULL;
		inst.cacert = g->cacert_given ? g->cacert : NULL;
		return mode == 'i' ? cli_hook_install(&inst) :
		       cli_hook_uninstall(&inst);
	}
	/* From here on the agent's turn waits: every failure is quiet. */
	h.deadline = start + budget;
	h.debug = getenv("RACEBOARD_DEBUG") != NULL;
	if (cli_global_api(g, "hook", &h.api))
		return CLI_EXIT_OK;
	h.api.url.connect_timeout_ms = (int)(budget * 2 / 3);
	text = read_event(h.deadline);
	if (text)
		handle(&h, text);
	else
		debug(&h, "no event on stdin", NULL);
	free(text);
	return CLI_EXIT_OK;
}
