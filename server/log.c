/*
 * log.c - the server's log lines (log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/*
 * What reaches stderr at each --log-level. The server's own lines use
 * LLL_ERR, LLL_WARN and LLL_USER (its notices: start, stop, the access
 * log), which lws itself does not use; lws's own notices and its info
 * and debug chatter (header tables, mounts, every write) are library
 * noise an operator does not need, so they show only at debug.
 */
static const int levels[] = {
	LLL_ERR,
	LLL_ERR | LLL_WARN,
	LLL_ERR | LLL_WARN | LLL_USER,
	LLL_ERR | LLL_WARN | LLL_USER,
	LLL_ERR | LLL_WARN | LLL_USER | LLL_NOTICE | LLL_INFO | LLL_DEBUG,
};

/* We add the level so log lines are greppable (lws's own lines below
 * warn say "lws"). One fprintf() per line: stdio locks the stream for
 * the call, so lines from different threads do not mix. */
static void emit(int level, const char *line)
{
	const char *tag = level & LLL_ERR ? "error" :
			  level & LLL_WARN ? "warn" :
			  level & LLL_USER ? "notice" :
			  level & LLL_NOTICE ? "lws notice" :
			  level & LLL_INFO ? "lws info" : "lws debug";

	fprintf(stderr, "raceboard-server %s: %s", tag, line);
}

void srv_log_setup(int level)
{
	int last = (int)(sizeof(levels) / sizeof(levels[0])) - 1;

	lws_set_log_level(levels[level < 0 ? 0 : level > last ? last : level],
			  emit);
}

void srv_log(int level, const char *fmt, ...)
{
	static const char cut[] = "...\n";
	char line[SRV_LOG_LINE_MAX];
	va_list ap;
	int n;

	if (!lwsl_visible(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - sizeof(cut), cut, sizeof(cut));
	emit(level, line);
}
