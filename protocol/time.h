/*
 * time.h - RFC 3339 timestamps <-> milliseconds since the Unix epoch.
 *
 * Pure: never reads the clock or the time zone; server/ passes "now" in.
 */
#ifndef RACEBOARD_PROTOCOL_TIME_H
#define RACEBOARD_PROTOCOL_TIME_H

/*
 * This header's name shadows the C library's <time.h> for every target
 * that has protocol/ on its include path (protocol_dep adds it with -I),
 * so <pthread.h>, the WebSocket library header or a plain <time.h> would
 * otherwise get this file instead of the real one. Forward to the next
 * <time.h> on the search path to keep them working. #include_next is a
 * GCC/Clang extension; system_header silences -Wpedantic about it (and
 * about nothing else here: the declarations below are plain C17).
 */
#pragma GCC system_header
#include_next <time.h>

#include <stdint.h>

#define PROTO_TIME_BUFSZ 32

/* Writes `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into buf and returns buf. */
char *proto_time_format(int64_t ms, char buf[PROTO_TIME_BUFSZ]);

/*
 * Parses an RFC 3339 date-time ("2025-01-02T03:04:05Z", fractional
 * seconds of any length, "Z" or a "+hh:mm"/"-hh:mm" offset, 't'/'z'
 * accepted) into UTC milliseconds. Returns PROTO_OK, or PROTO_EINVAL with
 * *ms unchanged.
 */
int proto_time_parse(const char *s, int64_t *ms);

#endif
