/*
 * progress.h - finds progress in a command's output without configuration:
 * percentages ("45%", "12.5%", "[ 45%]") and counters ("[12/345]",
 * "12/345"), as printed by ninja, meson, cmake, make, cargo, pytest, apt,
 * pip, rsync, curl and wget.
 *
 * Pure: no I/O and no clock. The caller feeds raw output bytes (ANSI
 * escapes and '\r' redraws included) and reads the best progress so far,
 * which never goes backwards.
 */
#ifndef RACEBOARD_CLI_PROGRESS_H
#define RACEBOARD_CLI_PROGRESS_H

#include <stddef.h>

#define CLI_PROGRESS_LINE_MAX 1024

struct cli_progress {
	char line[CLI_PROGRESS_LINE_MAX]; /* current line, escapes removed */
	size_t len;
	int esc;        /* escape-sequence parser state */
	int curl_meter; /* curl's table meter header was seen */
	int best;       /* highest progress seen, -1 before any */
};

/* Resets *p to "nothing seen". */
void cli_progress_init(struct cli_progress *p);

/*
 * Feeds `n` output bytes. Lines end at '\n' or '\r' (progress bars redraw
 * with '\r'). Returns 1 when p->best increased, else 0.
 */
int cli_progress_feed(struct cli_progress *p, const char *buf, size_t n);

/*
 * Reads the progress (0-100) one line shows, or -1 for none. `curl_meter`
 * (in/out) tracks curl's meter, whose rows carry a bare percentage in the
 * first column; `newline` says whether the line ended with '\n'.
 */
int cli_progress_parse_line(const char *line, int newline, int *curl_meter);

#endif
