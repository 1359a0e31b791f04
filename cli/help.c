/*
 * help.c - the help texts of raceboard and its subcommands, written to
 * read like a man page: synopsis, description, options, exit status,
 * environment and examples.
 */
#include <stdio.h>
#include <string.h>

#include "opts.h"

static const char overview[] =
"NAME\n"
"    raceboard - report long-running work to a Raceboard server\n"
"\n"
"SYNOPSIS\n"
"    raceboard [--server URL] [--token TOKEN] COMMAND [OPTIONS] [ARGS]\n"
"    raceboard run [OPTIONS] -- COMMAND [ARGS...]\n"
"    raceboard --version | --help | COMMAND --help\n"
"\n"
"DESCRIPTION\n"
"    A race is a task with a progress bar and an ETA that a Raceboard\n"
"    server shows live. `raceboard run` wraps any command as a race;\n"
"    the other commands script races from the shell.\n"
"\n"
"COMMANDS\n"
"    run       run a command, reporting its progress, state and exit code\n"
"    create    create a race and print its id\n"
"    update    change fields of a race\n"
"    event     append an event to a race\n"
"    finish    mark a race passed, failed or canceled\n"
"    get       print one race as JSON\n"
"    list      print all races as JSON\n"
"    delete    dismiss a race\n"
"    watch     live terminal view of the races\n"
"    hook      report Claude Code prompts (hook claude-code)\n"
"\n"
"GLOBAL OPTIONS (accepted before or after the command)\n"
"    --server URL     server base URL, http[s]://HOST[:PORT][/PREFIX]\n"
"                     (default http://127.0.0.1:7777, or $RACEBOARD_SERVER)\n"
"    --cacert FILE    CA certificate(s) trusted for https:// (default\n"
"                     $RACEBOARD_CACERT, else the system's; before the\n"
"                     command for run and watch)\n"
"    --token TOKEN    sent as \"Authorization: Bearer TOKEN\"\n"
"                     (default $RACEBOARD_TOKEN)\n"
"    --timeout SEC    give up on a request after SEC seconds (default 10)\n"
"    -h, --help       show help; `raceboard COMMAND --help` for a command\n"
"    --version        print the version\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 the server refused the request (its message is printed);\n"
"    2 bad command line; 3 the server could not be reached.\n"
"    `run` exits with the wrapped command's status instead.\n"
"\n"
"EXAMPLES\n"
"    raceboard run -- make -j8\n"
"    id=$(raceboard create --source deploy --title 'deploy prod' --eta 300)\n"
"    raceboard update \"$id\" --progress 40 -m stage=migrate\n"
"    raceboard finish \"$id\" --state failed\n";

/* Shared by create, update and finish. */
#define FIELD_OPTIONS \
"    --source NAME          where the race comes from (cmd, gitlab, ...)\n" \
"    --title TEXT           what a person sees\n" \
"    --state STATE          queued, running, passed, failed or canceled\n" \
"    --progress N           percent done, an integer 0-100\n" \
"    --eta SEC              seconds remaining, as of now\n" \
"    --eta-source N         1 exact, 2 adapter, 3 history, 4 default\n" \
"    --eta-confidence X     0.0 to 1.0\n" \
"    --interval SEC         update_interval_hint: how often you report\n" \
"    --deeplink URL         link to the job's own page\n" \
"    --started-at TIME      RFC 3339 start time (default: now)\n" \
"    -m, --meta KEY=VALUE   set a metadata key (repeatable); KEY alone\n" \
"                           removes the key on update\n" \
"    --json BODY            raw JSON request body; with other flags it must\n" \
"                           be an object, which the flags extend\n"

static const char create_help[] =
"NAME\n"
"    raceboard create - create a race and print its id\n"
"\n"
"SYNOPSIS\n"
"    raceboard create --source NAME --title TEXT [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    POST /race. Prints the id of the race on stdout (a server UUID unless\n"
"    --id is given). With the --id of an existing race the fields are\n"
"    applied to it as an update and its history is kept.\n"
"\n"
"OPTIONS\n"
"    --id ID                race id, up to 128 of [A-Za-z0-9._:-]\n"
FIELD_OPTIONS
"\n"
"EXAMPLE\n"
"    id=$(raceboard create --source ci --title 'nightly' --eta 900 \\\n"
"         -m branch=main)\n";

static const char update_help[] =
"NAME\n"
"    raceboard update - change fields of a race\n"
"\n"
"SYNOPSIS\n"
"    raceboard update ID [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    PATCH /race/ID. Only the given fields change; metadata merges key by\n"
"    key. Prints nothing unless --print.\n"
"\n"
"OPTIONS\n"
FIELD_OPTIONS
"    -p, --print            print the updated race as JSON\n"
"\n"
"EXAMPLE\n"
"    raceboard update build-42 --progress 60 --eta 45\n";

static const char finish_help[] =
"NAME\n"
"    raceboard finish - mark a race finished\n"
"\n"
"SYNOPSIS\n"
"    raceboard finish ID [--state passed|failed|canceled] [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    PATCH /race/ID with the final state (default passed). A passed race\n"
"    also gets progress 100 unless --progress says otherwise. The server\n"
"    records completed_at and duration_sec.\n"
"\n"
"OPTIONS\n"
FIELD_OPTIONS
"    -p, --print            print the finished race as JSON\n";

static const char event_help[] =
"NAME\n"
"    raceboard event - append an event to a race\n"
"\n"
"SYNOPSIS\n"
"    raceboard event ID TYPE [--data DATA] [--timestamp TIME]\n"
"    raceboard event ID --json '{\"type\":\"stage\",\"data\":{...}}'\n"
"\n"
"DESCRIPTION\n"
"    POST /race/ID/event. The server keeps the last 200 events.\n"
"\n"
"OPTIONS\n"
"    --type TYPE            event type (or the argument after ID)\n"
"    --data DATA            JSON value; text that is not JSON is sent as a\n"
"                           string\n"
"    --timestamp TIME       RFC 3339 time of the event (default: now)\n"
"    --json BODY            raw JSON body\n"
"    -p, --print            print the race as JSON\n"
"\n"
"EXAMPLE\n"
"    raceboard event build-42 stage --data '{\"name\":\"link\"}'\n";

static const char get_help[] =
"NAME\n"
"    raceboard get - print one race\n"
"\n"
"SYNOPSIS\n"
"    raceboard get ID\n"
"\n"
"DESCRIPTION\n"
"    GET /race/ID, printed as JSON: indented on a terminal, one line when\n"
"    piped (for jq and friends).\n";

static const char list_help[] =
"NAME\n"
"    raceboard list - print all races\n"
"\n"
"SYNOPSIS\n"
"    raceboard list [--state STATE] [--source NAME] [--json]\n"
"\n"
"DESCRIPTION\n"
"    GET /races, newest first. On a terminal: a table (state, progress,\n"
"    ETA or how long it took, source, id, title) that fits the width.\n"
"    With --json, or when stdout is not a terminal: the JSON array, as\n"
"    the server sent it, for scripts and jq.\n"
"\n"
"OPTIONS\n"
"    --state STATE          only races in this state\n"
"    --source NAME          only races from this source\n"
"    --json                 print JSON even on a terminal\n";

static const char delete_help[] =
"NAME\n"
"    raceboard delete - dismiss a race\n"
"\n"
"SYNOPSIS\n"
"    raceboard delete ID [--print]\n"
"\n"
"DESCRIPTION\n"
"    DELETE /race/ID: the race leaves every view at once.\n";

static const char run_help[] =
"NAME\n"
"    raceboard run - run a command as a race\n"
"\n"
"SYNOPSIS\n"
"    raceboard run [OPTIONS] -- COMMAND [ARGS...]\n"
"\n"
"DESCRIPTION\n"
"    Creates a race, runs COMMAND with its output passed through unchanged\n"
"    and reports progress found in that output, then the final state:\n"
"    passed on exit status 0, failed otherwise, canceled when raceboard\n"
"    gets SIGINT, SIGTERM or SIGHUP (forwarded to the command first).\n"
"    raceboard exits with the command's status (128+N when signal N\n"
"    killed it).\n"
"\n"
"    When stdout is a terminal the command runs on a pseudo-terminal, so\n"
"    colors and progress bars still work; otherwise it writes to pipes and\n"
"    its output reaches yours byte for byte.\n"
"\n"
"    Progress is read without configuration from percentages (\"45%\",\n"
"    \"[ 45%]\", \"12.5%\") and counters (\"[12/345]\", \"12/345\"), as\n"
"    printed by ninja, meson, cmake, make, cargo, pytest, apt, pip,\n"
"    rsync, curl and wget. It never goes backwards, and is reported at\n"
"    most once per --interval. Without --eta the server predicts an ETA\n"
"    and raceboard refines it from the rate of progress.\n"
"\n"
"    The last lines of the output (stdout and stderr, up to 200) go to\n"
"    the race's output tail with those updates, and the final lines with\n"
"    the final state; escape codes are kept, invalid UTF-8 becomes U+FFFD\n"
"    and lines over 1024 bytes are cut.\n"
"\n"
"    The server never gets in the way: when it is down, slow or refuses\n"
"    the race, raceboard prints one warning on stderr and the command\n"
"    runs exactly as it would alone.\n"
"\n"
"OPTIONS\n"
"    --id ID                race id (default: generated)\n"
"    --source NAME          default cmd\n"
"    --title TEXT           default: the command line\n"
"    --eta SEC              expected duration in seconds\n"
"    --interval SEC         report at most every SEC seconds (default 5);\n"
"                           sent as update_interval_hint\n"
"    --deeplink URL         link to the job's own page\n"
"    -m, --meta KEY=VALUE   extra metadata (repeatable); command, cwd, host\n"
"                           and user are always set, then exit_code and\n"
"                           duration_sec at the end\n"
"    --http                 report over REST instead of a WebSocket\n"
"\n"
"EXAMPLES\n"
"    raceboard run -- ninja -C build\n"
"    raceboard run --title 'nightly backup' --eta 600 -- rsync -a --info=progress2 src/ dst/\n";

static const char watch_help[] =
"NAME\n"
"    raceboard watch - live terminal view of the races\n"
"\n"
"SYNOPSIS\n"
"    raceboard watch [--state STATE] [--source NAME] [--id ID] [--plain]\n"
"    raceboard watch ID [--exit-status] [--plain]\n"
"\n"
"DESCRIPTION\n"
"    Subscribes over the server's WebSocket and redraws the races in place:\n"
"    a solid bar for the reported progress and a lighter overlay for the\n"
"    predicted progress once an update is overdue (after now minus\n"
"    last_progress_update exceeds update_interval_hint, at most 20 points\n"
"    ahead, never for exact ETAs). \"ETA 2m 30s\" is fresh; \"ETA ~2m 30s\"\n"
"    (shown with the almost-equal sign) is counted down since the last\n"
"    report. Every line fits the terminal (titles end in an ellipsis, wide\n"
"    characters count two columns), a resize redraws at once, and the\n"
"    header stays on the first line. Ctrl-C exits. When stdout is not a\n"
"    terminal, or with --plain, it prints one line per change instead.\n"
"\n"
"    With an ID it follows that one race and exits when the race finishes,\n"
"    printing its last line; like `gh run watch`, a script can wait on it.\n"
"    A race that is not on the server (or is dismissed) ends it with an\n"
"    error and status 1.\n"
"\n"
"OPTIONS\n"
"    --state STATE          only races in this state (repeatable)\n"
"    --source NAME          only races from this source (repeatable)\n"
"    --id ID                only this race (repeatable)\n"
"    --exit-status          with ID: exit 1 unless the race passed\n"
"    --plain                print lines, never redraw\n";

static const char hook_help[] =
"NAME\n"
"    raceboard hook claude-code - Claude Code prompts as races\n"
"\n"
"SYNOPSIS\n"
"    raceboard hook claude-code [--send-prompt] [--budget MS] < EVENT\n"
"    raceboard [--server URL] hook claude-code --install [--settings FILE]\n"
"    raceboard hook claude-code --uninstall [--settings FILE]\n"
"\n"
"DESCRIPTION\n"
"    Run by Claude Code as a hook: reads one hook event (JSON) on stdin.\n"
"    UserPromptSubmit creates a race (source claude-code, title: the\n"
"    prompt's first line, shortened); PreToolUse appends a \"stage\" event\n"
"    naming the tool and sets metadata.stage; Stop marks the race passed;\n"
"    SessionEnd cancels it if still open, as does the next prompt when\n"
"    the user interrupted the last one.\n"
"\n"
"    It never gets in the agent's way: exit status 0 and nothing on\n"
"    stdout whatever happens, and the server is given up on after the\n"
"    budget. Nothing of the prompt but the title is sent unless\n"
"    --send-prompt. RACEBOARD_DEBUG=1 traces failures on stderr.\n"
"\n"
"    --install adds the hook to Claude Code's settings file\n"
"    ($CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json),\n"
"    keeping everything else there; running it again changes nothing.\n"
"    --server, --cacert, --send-prompt and --budget given with it are\n"
"    written into the hook's command. --uninstall removes the hook. Both\n"
"    keep the previous file as settings.json.raceboard-backup.\n"
"\n"
"OPTIONS\n"
"    --send-prompt          also send the whole prompt (metadata.prompt)\n"
"    --budget MS            give up on the server after MS milliseconds\n"
"                           (default 150)\n"
"    --install, --uninstall add or remove the hook entries\n"
"    --settings FILE        the settings file to change\n"
"\n"
"STATE\n"
"    $XDG_STATE_HOME/raceboard/claude-code/SESSION (default\n"
"    ~/.local/state/...) names the race of each session's current prompt.\n";

static const struct {
	const char *name;
	const char *text;
} helps[] = {
	{"raceboard", overview}, {"create", create_help},
	{"update", update_help}, {"finish", finish_help},
	{"event", event_help},   {"get", get_help},
	{"list", list_help},     {"delete", delete_help},
	{"run", run_help},       {"watch", watch_help},
	{"hook", hook_help},
};

int cli_help_print(const char *cmd)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		if (!strcmp(helps[i].name, cmd)) {
			fputs(helps[i].text, stdout);
			return 0;
		}
	}
	return -1;
}
