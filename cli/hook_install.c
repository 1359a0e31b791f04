/*
 * hook_install.c - `raceboard hook claude-code --install|--uninstall`:
 * merges our hook entries into Claude Code's settings file, or takes them
 * out, leaving everything else in it as it was.
 *
 * The file's shape (Claude Code's hooks settings):
 *   {"hooks": {"PreToolUse": [{"matcher": "*", "hooks":
 *       [{"type": "command", "command": "...", "timeout": 5}]}], ...}}
 * An entry is ours when its command runs `raceboard hook claude-code`.
 * The old file is copied to <file>.raceboard-backup before a change, and
 * the new one replaces it by rename, so a crash leaves one or the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hook.h"

/* The events we listen to; PreToolUse is the only one with a matcher. */
static const char *const events[] = {"UserPromptSubmit", "PreToolUse",
				     "Stop", "SessionEnd"};

/* Claude Code cancels a hook after this many seconds; ours gives up on
 * the server far sooner (--budget). */
#define HOOK_TIMEOUT_SEC 5

#define FORMAT (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
		JSON_C_TO_STRING_NOSLASHESCAPE)

static int settings_path(const struct cli_hook_install *o, char *out,
			 size_t cap)
{
	const char *dir = getenv("CLAUDE_CONFIG_DIR"), *home = getenv("HOME");
	int n;

	if (o->settings)
		n = snprintf(out, cap, "%s", o->settings);
	else if (dir && *dir)
		n = snprintf(out, cap, "%s/settings.json", dir);
	else if (home && *home)
		n = snprintf(out, cap, "%s/.claude/settings.json", home);
	else
		return CLI_EINVAL;
	return n < 0 || (size_t)n >= cap ? CLI_EINVAL : CLI_OK;
}

/* Appends s to the command, single-quoted when the shell could split or
 * expand it. */
static void add_word(char *cmd, size_t cap, const char *s)
{
	size_t n = strlen(cmd);
	int plain = *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				 "opqrstuvwxyz0123456789/._-:=@%+,") ==
		    strlen(s);

	if (n && n + 1 < cap)
		cmd[n++] = ' ';
	if (plain) {
		snprintf(cmd + n, cap - n, "%s", s);
		return;
	}
	if (n + 1 < cap)
		cmd[n++] = '\'';
	for (; *s && n + 5 < cap; s++) {
		if (*s == '\'') {
			memcpy(cmd + n, "'\\''", 4);
			n += 4;
		} else {
			cmd[n++] = *s;
		}
	}
	if (n + 1 < cap)
		cmd[n++] = '\'';
	cmd[n < cap ? n : cap - 1] = '\0';
}

/* The command line our entries run: this very binary. */
static int our_command(const struct cli_hook_install *o, char *cmd,
		       size_t cap)
{
	char self[PATH_MAX], num[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return CLI_EINVAL;
	self[n] = '\0';
	cmd[0] = '\0';
	add_word(cmd, cap, self);
	add_word(cmd, cap, "hook");
	add_word(cmd, cap, "claude-code");
	if (o->server) {
		add_word(cmd, cap, "--server");
		add_word(cmd, cap, o->server);
	}
	if (o->cacert) {
		add_word(cmd, cap, "--cacert");
		add_word(cmd, cap, o->cacert);
	}
	if (o->send_prompt)
		add_word(cmd, cap, "--send-prompt");
	if (o->budget_ms) {
		snprintf(num, sizeof(num), "%d", o->budget_ms);
		add_word(cmd, cap, "--budget");
		add_word(cmd, cap, num);
	}
	return strlen(cmd) + 8 < cap ? CLI_OK : CLI_EINVAL;
}

static int is_ours(json_object *hook)
{
	json_object *c;
	const char *s;

	if (!json_object_object_get_ex(hook, "command", &c) ||
	    !json_object_is_type(c, json_type_string))
		return 0;
	s = json_object_get_string(c);
	return strstr(s, "raceboard") && strstr(s, " hook claude-code");
}

/* Reads the settings file: *out is the owned object ({} when there is no
 * file) and *text the owned old bytes (NULL when none). Returns 0, or 1
 * after a message. */
static int load(const char *path, json_object **out, char **text)
{
	FILE *f = fopen(path, "r");
	long len;

	*out = NULL;
	*text = NULL;
	if (!f && errno == ENOENT) {
		*out = json_object_new_object();
		return 0;
	}
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) || !(*text = malloc((size_t)len + 1)) ||
	    fread(*text, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "raceboard hook: cannot read %s: %s\n", path,
			strerror(errno));
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	(*text)[len] = '\0';
	*out = len ? json_tokener_parse(*text) : json_object_new_object();
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		fprintf(stderr, "raceboard hook: %s is not a JSON object; "
			"left as it is\n", path);
		json_object_put(*out);
		*out = NULL;
		return 1;
	}
	return 0;
}

/* Writes text (plus "\n" when `nl`) to path through a temporary file and
 * a rename, with the given mode. */
static int write_atomic(const char *path, const char *text, int nl,
			mode_t mode)
{
	char tmp[PATH_MAX + 32];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len &&
	     (!nl || write(fd, "\n", 1) == 1) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

/* Creates the parent directories of path (0700), like mkdir -p. */
static void make_parents(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
}

/* Saves `settings` over path when it differs from `before` (the file as
 * loaded, in our format; old is its bytes, NULL for no file), after
 * backing up old. Prints what happened. Returns the exit status. */
static int save(const char *path, json_object *settings, const char *old,
		const char *before, const char *done)
{
	const char *text = json_object_to_json_string_ext(settings, FORMAT);
	char backup[PATH_MAX + 32];
	struct stat st;
	mode_t mode = 0600;

	if (old && !strcmp(before, text)) {
		printf("%s: %s already\n", path, done);
		return 0;
	}
	if (!stat(path, &st))
		mode = st.st_mode & 07777;
	make_parents(path);
	snprintf(backup, sizeof(backup), "%s.raceboard-backup", path);
	if (old && write_atomic(backup, old, 0, mode)) {
		fprintf(stderr, "raceboard hook: cannot write the backup %s: "
			"%s; %s left as it is\n", backup, strerror(errno), path);
		return 1;
	}
	if (write_atomic(path, text, 1, mode)) {
		fprintf(stderr, "raceboard hook: cannot write %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	printf("%s: %s%s%s\n", path, done, old ? "; the old file is " : "",
	       old ? backup : "");
	return 0;
}

/* The member `key` of o as an array or object, created when absent.
 * NULL when it exists with another type. */
static json_object *member(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v))
		return json_object_is_type(v, t) ? v : NULL;
	v = t == json_type_array ? json_object_new_array() :
	    json_object_new_object();
	json_object_object_add(o, key, v);
	return v;
}

/*
 * Walks the groups of one event: with `cmd`, the first entry of ours gets
 * that command and the rest go; without, every entry of ours goes. Groups
 * left without hooks go too. Returns whether an entry of ours was kept.
 */
static int sweep(json_object *groups, const char *cmd)
{
	int kept = 0;

	for (size_t g = json_object_array_length(groups); g-- > 0;) {
		json_object *grp = json_object_array_get_idx(groups, g), *hooks;

		if (!json_object_object_get_ex(grp, "hooks", &hooks) ||
		    !json_object_is_type(hooks, json_type_array))
			continue;
		for (size_t i = json_object_array_length(hooks); i-- > 0;) {
			json_object *hk = json_object_array_get_idx(hooks, i);

			if (!is_ours(hk))
				continue;
			if (cmd && !kept) {
				json_object_object_add(hk, "command",
					json_object_new_string(cmd));
				kept = 1;
			} else {
				json_object_array_del_idx(hooks, i, 1);
			}
		}
		if (!json_object_array_length(hooks))
			json_object_array_del_idx(groups, g, 1);
	}
	return kept;
}

static int run(const struct cli_hook_install *o, int install)
{
	char path[PATH_MAX], cmd[PATH_MAX * 2 + 256], *old = NULL;
	char *before = NULL;
	json_object *settings = NULL, *hooks;
	int status = 1;

	if (settings_path(o, path, sizeof(path))) {
		fprintf(stderr, "raceboard hook: where is the settings file? "
			"(no HOME; give --settings FILE)\n");
		return 1;
	}
	if (install && our_command(o, cmd, sizeof(cmd))) {
		fprintf(stderr, "raceboard hook: cannot find this program's "
			"path\n");
		return 1;
	}
	if (load(path, &settings, &old))
		goto out;
	before = strdup(json_object_to_json_string_ext(settings, FORMAT));
	if (!before)
		goto out;
	if (!old && !install) {
		printf("%s: no such file; nothing to remove\n", path);
		status = 0;
		goto out;
	}
	hooks = member(settings, "hooks", json_type_object);
	if (!hooks) {
		fprintf(stderr, "raceboard hook: \"hooks\" in %s is not an "
			"object; left as it is\n", path);
		goto out;
	}
	for (size_t e = 0; e < sizeof(events) / sizeof(events[0]); e++) {
		json_object *groups = member(hooks, events[e], json_type_array);

		if (!groups) {
			fprintf(stderr, "raceboard hook: \"hooks.%s\" in %s is "
				"not an array; left as it is\n", events[e], path);
			goto out;
		}
		if (!sweep(groups, install ? cmd : NULL) && install) {
			json_object *grp = json_object_new_object();
			json_object *list = json_object_new_array();
			json_object *hk = json_object_new_object();

			if (!strcmp(events[e], "PreToolUse"))
				json_object_object_add(grp, "matcher",
					json_object_new_string("*"));
			json_object_object_add(hk, "type",
					       json_object_new_string("command"));
			json_object_object_add(hk, "command",
					       json_object_new_string(cmd));
			json_object_object_add(hk, "timeout",
				json_object_new_int(HOOK_TIMEOUT_SEC));
			json_object_array_add(list, hk);
			json_object_object_add(grp, "hooks", list);
			json_object_array_add(groups, grp);
		}
		if (!json_object_array_length(groups))
			json_object_object_del(hooks, events[e]);
	}
	if (!json_object_object_length(hooks))
		json_object_object_del(settings, "hooks");
	status = save(path, settings, old, before, install ?
		      "Raceboard hooks installed" : "Raceboard hooks removed");
out:
	json_object_put(settings);
	free(before);
	free(old);
	return status;
}

int cli_hook_install(const struct cli_hook_install *o)
{
	return run(o, 1);
}

int cli_hook_uninstall(const struct cli_hook_install *o)
{
	return run(o, 0);
}
