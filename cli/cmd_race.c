/*
 * cmd_race.c - the scripting subcommands: create, update, event, finish,
 * get, list and delete, each one REST call (README.md "REST API").
 *
 * Flags map one to one to race fields; --json passes a raw body that the
 * flags then extend. The server does the validating: a value it refuses
 * comes back as its own message, printed on stderr, exit status 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "table.h"

/* Which options a subcommand accepts. */
enum {
	ACCEPT_FIELDS = 1, /* race fields, -m, --json */
	ACCEPT_EVENT = 2,  /* --type, --data, --timestamp, --json */
	ACCEPT_FILTER = 4, /* --state, --source as list filters */
	ACCEPT_PRINT = 8,
};

struct subcmd {
	const char *name;
	const char *method;
	int needs_id;
	int accept;
};

static const struct subcmd subcmds[] = {
	{"create", "POST", 0, ACCEPT_FIELDS},
	{"update", "PATCH", 1, ACCEPT_FIELDS | ACCEPT_PRINT},
	{"finish", "PATCH", 1, ACCEPT_FIELDS | ACCEPT_PRINT},
	{"event", "POST", 1, ACCEPT_EVENT | ACCEPT_PRINT},
	{"get", "GET", 1, 0},
	{"list", "GET", 0, ACCEPT_FILTER},
	{"delete", "DELETE", 1, ACCEPT_PRINT},
};

static const struct option long_opts[] = {
	{"server", required_argument, NULL, CLI_OPT_SERVER},
	{"token", required_argument, NULL, CLI_OPT_TOKEN},
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
	{"cacert", required_argument, NULL, CLI_OPT_CACERT},
	{"help", no_argument, NULL, 'h'},
	{"id", required_argument, NULL, CLI_OPT_ID},
	{"source", required_argument, NULL, CLI_OPT_SOURCE},
	{"title", required_argument, NULL, CLI_OPT_TITLE},
	{"state", required_argument, NULL, CLI_OPT_STATE},
	{"progress", required_argument, NULL, CLI_OPT_PROGRESS},
	{"eta", required_argument, NULL, CLI_OPT_ETA},
	{"eta-source", required_argument, NULL, CLI_OPT_ETA_SOURCE},
	{"eta-confidence", required_argument, NULL, CLI_OPT_ETA_CONFIDENCE},
	{"interval", required_argument, NULL, CLI_OPT_INTERVAL},
	{"deeplink", required_argument, NULL, CLI_OPT_DEEPLINK},
	{"started-at", required_argument, NULL, CLI_OPT_STARTED_AT},
	{"meta", required_argument, NULL, 'm'},
	{"json", required_argument, NULL, CLI_OPT_JSON},
	{"print", no_argument, NULL, 'p'},
	{"type", required_argument, NULL, CLI_OPT_TYPE},
	{"data", required_argument, NULL, CLI_OPT_DATA},
	{"timestamp", required_argument, NULL, CLI_OPT_TIMESTAMP},
	{0},
};

/* list's own: --json asks for JSON (a flag here, not a body). */
static const struct option list_opts[] = {
	{"server", required_argument, NULL, CLI_OPT_SERVER},
	{"token", required_argument, NULL, CLI_OPT_TOKEN},
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
	{"cacert", required_argument, NULL, CLI_OPT_CACERT},
	{"help", no_argument, NULL, 'h'},
	{"source", required_argument, NULL, CLI_OPT_SOURCE},
	{"state", required_argument, NULL, CLI_OPT_STATE},
	{"json", no_argument, NULL, CLI_OPT_JSON},
	{0},
};

/* What the command line asked for, before it becomes a request. */
struct args {
	const struct subcmd *sc;
	json_object *fields;     /* owned; flags given as race fields */
	json_object *meta;       /* owned; -m pairs, NULL when none */
	const char *raw_json;    /* --json, borrowed */
	const char *id;          /* positional ID or --id */
	const char *filter_state, *filter_source;
	const char *event_type, *event_data, *event_ts;
	int print;
	int json_out;            /* list --json */
};

static int set_int(struct args *a, const char *key, const char *opt,
		   const char *val)
{
	int64_t v;

	if (cli_parse_int(val, &v))
		return cli_usage_error(a->sc->name, "%s wants an integer, got '%s'",
				       opt, val);
	json_object_object_add(a->fields, key, json_object_new_int64(v));
	return 0;
}

static int set_str(struct args *a, const char *key, const char *val)
{
	json_object_object_add(a->fields, key, json_object_new_string(val));
	return 0;
}

/* Applies one field option. Returns 0 or an exit status. */
static int field_option(struct args *a, int opt, const char *val)
{
	double d;

	switch (opt) {
	case CLI_OPT_ID: a->id = val; return set_str(a, "id", val);
	case CLI_OPT_SOURCE: return set_str(a, "source", val);
	case CLI_OPT_TITLE: return set_str(a, "title", val);
	case CLI_OPT_STATE: return set_str(a, "state", val);
	case CLI_OPT_DEEPLINK: return set_str(a, "deeplink", val);
	case CLI_OPT_STARTED_AT: return set_str(a, "started_at", val);
	case CLI_OPT_PROGRESS: return set_int(a, "progress", "--progress", val);
	case CLI_OPT_ETA: return set_int(a, "eta_sec", "--eta", val);
	case CLI_OPT_ETA_SOURCE:
		return set_int(a, "eta_source", "--eta-source", val);
	case CLI_OPT_INTERVAL:
		return set_int(a, "update_interval_hint", "--interval", val);
	case CLI_OPT_ETA_CONFIDENCE:
		if (cli_parse_double(val, &d))
			return cli_usage_error(a->sc->name,
				"--eta-confidence wants a number, got '%s'", val);
		json_object_object_add(a->fields, "eta_confidence",
				       json_object_new_double(d));
		return 0;
	case 'm':
		if (!a->meta)
			a->meta = json_object_new_object();
		if (!a->meta || cli_meta_add(a->meta, val))
			return cli_usage_error(a->sc->name,
				"-m wants KEY=VALUE, got '%s'", val);
		return 0;
	default:
		return -1;
	}
}

/* Applies one option. Returns 0 or an exit status. */
static int apply_option(struct args *a, struct cli_global *g, int opt,
			const char *val)
{
	int acc = a->sc->accept, rc = cli_global_option(g, a->sc->name, opt,
							 val);

	if (rc)
		return rc < 0 ? CLI_EXIT_USAGE : 0;
	if (opt == 'p' && (acc & ACCEPT_PRINT)) {
		a->print = 1;
		return 0;
	}
	if (opt == CLI_OPT_JSON && (acc & (ACCEPT_FIELDS | ACCEPT_EVENT))) {
		a->raw_json = val;
		return 0;
	}
	if (acc & ACCEPT_FILTER) {
		if (opt == CLI_OPT_STATE) {
			a->filter_state = val;
			return 0;
		}
		if (opt == CLI_OPT_SOURCE) {
			a->filter_source = val;
			return 0;
		}
	}
	if (acc & ACCEPT_EVENT) {
		const char **slot = opt == CLI_OPT_TYPE ? &a->event_type :
				    opt == CLI_OPT_DATA ? &a->event_data :
				    opt == CLI_OPT_TIMESTAMP ? &a->event_ts : NULL;

		if (slot) {
			*slot = val;
			return 0;
		}
	}
	if ((acc & ACCEPT_FIELDS) && (opt != CLI_OPT_ID ||
				      !strcmp(a->sc->name, "create"))) {
		rc = field_option(a, opt, val);
		if (rc >= 0)
			return rc;
	}
	return cli_usage_error(a->sc->name, "this option does not apply here");
}

/* Merges the flag fields into `base` (owned by the caller): flags win,
 * -m pairs merge into any metadata object --json already had. */
static void merge_fields(struct args *a, json_object *base)
{
	json_object *m;

	json_object_object_foreach(a->fields, k, v)
		json_object_object_add(base, k, json_object_get(v));
	if (!a->meta)
		return;
	if (!json_object_object_get_ex(base, "metadata", &m) ||
	    !json_object_is_type(m, json_type_object)) {
		json_object_object_add(base, "metadata",
				       json_object_get(a->meta));
		return;
	}
	json_object_object_foreach(a->meta, mk, mv)
		json_object_object_add(m, mk, json_object_get(mv));
}

/*
 * Builds the request body text into *out (owned). With only --json it is
 * sent verbatim; otherwise --json must be an object the flags extend.
 * Returns 0 or an exit status.
 */
static int build_body(struct args *a, char **out)
{
	json_object *body;
	int flags_given = json_object_object_length(a->fields) || a->meta ||
			  a->event_type || a->event_data || a->event_ts;

	*out = NULL;
	if (a->raw_json && !flags_given) {
		*out = strdup(a->raw_json);
		return *out ? 0 : CLI_EXIT_SERVER;
	}
	body = a->raw_json ? json_tokener_parse(a->raw_json)
			   : json_object_new_object();
	if (!body || !json_object_is_type(body, json_type_object)) {
		json_object_put(body);
		return cli_usage_error(a->sc->name,
			"--json must be a JSON object when other flags are given");
	}
	if (!strcmp(a->sc->name, "finish")) {
		json_object *st;

		if (!json_object_object_get_ex(a->fields, "state", &st))
			json_object_object_add(a->fields, "state",
					       json_object_new_string("passed"));
		json_object_object_get_ex(a->fields, "state", &st);
		if (!strcmp(json_object_get_string(st), "passed") &&
		    !json_object_object_get_ex(a->fields, "progress", NULL))
			json_object_object_add(a->fields, "progress",
					       json_object_new_int(100));
	}
	merge_fields(a, body);
	if (a->event_type)
		json_object_object_add(body, "type",
				       json_object_new_string(a->event_type));
	if (a->event_ts)
		json_object_object_add(body, "timestamp",
				       json_object_new_string(a->event_ts));
	if (a->event_data) {
		json_object *d = json_tokener_parse(a->event_data);

		json_object_object_add(body, "data", d ? d :
				       json_object_new_string(a->event_data));
	}
	*out = strdup(json_object_to_json_string_ext(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return *out ? 0 : CLI_EXIT_SERVER;
}

static int build_path(struct args *a, char *path, size_t cap)
{
	const char *name = a->sc->name;

	if (!strcmp(name, "create"))
		return snprintf(path, cap, "/race") < 0;
	if (!strcmp(name, "list")) {
		strcpy(path, "/races");
		if (a->filter_state) {
			strcat(path, "?state=");
			if (cli_url_escape(path, cap, a->filter_state))
				return -1;
		}
		if (a->filter_source) {
			strcat(path, a->filter_state ? "&source=" : "?source=");
			if (cli_url_escape(path, cap, a->filter_source))
				return -1;
		}
		return 0;
	}
	return cli_api_race_path(path, cap, a->id,
				 !strcmp(name, "event") ? "/event" : "");
}

/* Sends the request and prints what the subcommand promises. */
static int perform(struct args *a, struct cli_global *g)
{
	const char *name = a->sc->name;
	struct cli_api api;
	json_object *reply = NULL, *v;
	char path[2048], err[1024], *body = NULL;
	int rc;

	if (cli_global_api(g, name, &api))
		return CLI_EXIT_USAGE;
	if (build_path(a, path, sizeof(path)))
		return cli_usage_error(name, "argument too long");
	if (a->sc->accept & (ACCEPT_FIELDS | ACCEPT_EVENT)) {
		rc = build_body(a, &body);
		if (rc)
			return rc;
	}
	rc = cli_api_call(&api, a->sc->method, path, body, NULL, &reply,
			  err, sizeof(err));
	free(body);
	if (rc) {
		fprintf(stderr, "raceboard %s: %s\n", name, err);
		return rc == CLI_ESERVER ? CLI_EXIT_SERVER : CLI_EXIT_NETWORK;
	}
	if (!strcmp(name, "create")) {
		if (reply && json_object_object_get_ex(reply, "id", &v))
			puts(json_object_get_string(v));
	} else if (reply && !strcmp(name, "list") && !a->json_out &&
		   isatty(STDOUT_FILENO)) {
		struct winsize ws;
		int cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col ?
			   80 : ws.ws_col;

		cli_table_print(stdout, reply, cols, cli_now_ms());
	} else if (reply && (a->print || !strcmp(name, "get") ||
			     !strcmp(name, "list"))) {
		cli_print_json(reply);
	}
	json_object_put(reply);
	return fflush(stdout) ? CLI_EXIT_SERVER : CLI_EXIT_OK;
}

int cli_cmd_race(int argc, char **argv, struct cli_global *g)
{
	struct args a = {0};
	int opt, rc = 0;

	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		if (!strcmp(argv[0], subcmds[i].name))
			a.sc = &subcmds[i];
	if (!a.sc)
		return cli_usage_error(argv[0], "unknown subcommand");
	a.fields = json_object_new_object();
	if (!a.fields)
		return CLI_EXIT_SERVER;
	optind = 1;
	opterr = 0;
	while (!rc && (opt = getopt_long(argc, argv, ":m:ph",
					 a.sc->accept & ACCEPT_FILTER ?
					 list_opts : long_opts, NULL)) != -1) {
		if (opt == 'h') {
			cli_help_print(a.sc->name);
			goto done;
		}
		if (opt == '?' || opt == ':') {
			rc = cli_usage_error(a.sc->name, "%s option '%s'",
					     opt == ':' ? "missing value for"
							: "unknown",
					     argv[optind - 1]);
			break;
		}
		if (opt == CLI_OPT_JSON && (a.sc->accept & ACCEPT_FILTER))
			a.json_out = 1;
		else
			rc = apply_option(&a, g, opt, optarg);
	}
	if (rc)
		goto done;
	if (a.sc->needs_id && optind < argc)
		a.id = argv[optind++];
	if (!strcmp(a.sc->name, "event") && optind < argc && !a.event_type)
		a.event_type = argv[optind++];
	if (a.sc->needs_id && !a.id)
		rc = cli_usage_error(a.sc->name, "which race? (missing ID)");
	else if (optind < argc)
		rc = cli_usage_error(a.sc->name, "unexpected argument '%s'",
				     argv[optind]);
	else
		rc = perform(&a, g);
done:
	json_object_put(a.fields);
	json_object_put(a.meta);
	return rc;
}
