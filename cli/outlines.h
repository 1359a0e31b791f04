/*
 * outlines.h - a command's output cut into lines for the race's output
 * tail (`raceboard run`, issue 14). Pure: no I/O, no threads.
 *
 * Bytes go in as the command wrote them; complete lines come out, without
 * their '\n', each made safe for a JSON string and the server's rules:
 * invalid UTF-8 and NUL bytes become U+FFFD, anything else (escape
 * sequences, '\r', tabs) is kept, and a line longer than
 * PROTO_OUTPUT_LINE_MAX bytes is cut at a character boundary with "…",
 * the way the server would cut it. Memory is bounded: a line is held up
 * to the cap, the rest of an endless line is counted, not kept.
 */
#ifndef RACEBOARD_CLI_OUTLINES_H
#define RACEBOARD_CLI_OUTLINES_H

#include <stddef.h>

#include "race.h"

/* Raw bytes kept of one line before it is made safe: room for the cap
 * plus a character that straddles it. */
#define CLI_OUTLINE_RAW (PROTO_OUTPUT_LINE_MAX + 4)
/* The largest line out, NUL included. */
#define CLI_OUTLINE_MAX (PROTO_OUTPUT_LINE_MAX + 1)

struct cli_outlines {
	char raw[CLI_OUTLINE_RAW];
	size_t len;
	int cut;     /* bytes of this line were not kept */
};

/* Called once per complete line (NUL-terminated, at most
 * PROTO_OUTPUT_LINE_MAX bytes, borrowed for the call). */
typedef void (*cli_outline_fn)(void *ctx, const char *line, size_t len);

/* Feeds n bytes; calls fn for every line they complete. */
void cli_outlines_feed(struct cli_outlines *o, const char *buf, size_t n,
		       cli_outline_fn fn, void *ctx);

/* Emits the unfinished last line, if any (at the end of the output). */
void cli_outlines_flush(struct cli_outlines *o, cli_outline_fn fn, void *ctx);

/*
 * Makes `len` raw bytes a safe line in out (CLI_OUTLINE_MAX bytes): valid
 * UTF-8 (U+FFFD for what is not, and for NUL), cut with "…" when it would
 * exceed PROTO_OUTPUT_LINE_MAX bytes or when `cut` says bytes were lost
 * already. Returns its length.
 */
size_t cli_outline_clean(const char *raw, size_t len, int cut, char *out);

#endif
