/*
 * rfc3339.h - RFC 3339 timestamps <-> milliseconds since the Unix epoch.
 *
 * Pure: never reads the clock or the time zone; server/ passes "now" in.
 */
#ifndef RACEBOARD_PROTOCOL_RFC3339_H
#define RACEBOARD_PROTOCOL_RFC3339_H

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
