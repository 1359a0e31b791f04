/*
 * hook.h - `raceboard hook claude-code` (hook.c) and its --install and
 * --uninstall of the hook entries in Claude Code's settings file
 * (hook_install.c).
 */
#ifndef RACEBOARD_CLI_HOOK_H
#define RACEBOARD_CLI_HOOK_H

#include <stddef.h>

/*
 * Writes the title for a prompt into out (capacity cap, at least 8): its
 * first non-blank line, trimmed, cut at about 80 bytes on a character
 * (and, when one is near, a word) boundary with "…" appended. Returns the
 * length written.
 */
size_t cli_hook_title(const char *prompt, char *out, size_t cap);

/* What --install writes, and where. Strings are borrowed. */
struct cli_hook_install {
	const char *settings; /* NULL: $CLAUDE_CONFIG_DIR or ~/.claude, then
			       * settings.json */
	const char *server;   /* --server given at install, else NULL */
	const char *cacert;   /* --cacert given at install, else NULL */
	int send_prompt;      /* --send-prompt given at install */
	int budget_ms;        /* --budget given at install, else 0 */
};

/*
 * Adds a `raceboard hook claude-code` command to the settings file's
 * UserPromptSubmit, PreToolUse, Stop and SessionEnd hooks, keeping every
 * other setting and hook. An entry of ours already there is updated in
 * place, so running it twice changes nothing the second time. Before a
 * change the old file is copied to settings.json.raceboard-backup. The
 * file is replaced atomically (temporary file, rename). Returns the exit
 * status (0, or 1 with a message on stderr when the file is not a JSON
 * object or cannot be written, which then stays as it was).
 */
int cli_hook_install(const struct cli_hook_install *o);

/* Removes every `raceboard hook claude-code` entry (and the groups and
 * events it leaves empty), with the same backup and atomic write. Returns
 * the exit status. */
int cli_hook_uninstall(const struct cli_hook_install *o);

#endif
