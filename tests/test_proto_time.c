/*
 * test_proto_time.c - RFC 3339 <-> epoch milliseconds (protocol/time.c).
 *
 * Tables of known instants and of strings that must be rejected. No test
 * reads the clock or depends on the process time zone.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"
#include "rfc3339.h"

struct instant {
	int64_t ms;
	const char *text;
};

/* Reference values computed independently (date -u -d @N). */
static const struct instant instants[] = {
	{0, "1970-01-01T00:00:00.000Z"},
	{1, "1970-01-01T00:00:00.001Z"},
	{86399999, "1970-01-01T23:59:59.999Z"},
	{951782400000, "2000-02-29T00:00:00.000Z"},
	{951868800000, "2000-03-01T00:00:00.000Z"},
	{1735787045123, "2025-01-02T03:04:05.123Z"},
	{1709164800000, "2024-02-29T00:00:00.000Z"},
	{4102444800000, "2100-01-01T00:00:00.000Z"},
	{253402300799999, "9999-12-31T23:59:59.999Z"},
	{-1, "1969-12-31T23:59:59.999Z"},
	{-86400000, "1969-12-31T00:00:00.000Z"},
	{-62135596800000, "0001-01-01T00:00:00.000Z"},
};

#define N_INSTANTS (sizeof instants / sizeof instants[0])

Test(time, format_known_instants)
{
	char buf[PROTO_TIME_BUFSZ];

	for (size_t i = 0; i < N_INSTANTS; i++)
		cr_expect_str_eq(proto_time_format(instants[i].ms, buf),
				 instants[i].text, "ms=%lld",
				 (long long)instants[i].ms);
}

Test(time, parse_known_instants)
{
	for (size_t i = 0; i < N_INSTANTS; i++) {
		int64_t ms = 42;

		cr_expect_eq(proto_time_parse(instants[i].text, &ms), PROTO_OK,
			     "%s", instants[i].text);
		cr_expect_eq(ms, instants[i].ms, "%s", instants[i].text);
	}
}

struct variant {
	const char *text;
	int64_t ms;
};

Test(time, parse_accepts_rfc3339_variants)
{
	static const struct variant ok[] = {
		{"2025-01-02T03:04:05Z", 1735787045000},
		{"2025-01-02t03:04:05z", 1735787045000},
		{"2025-01-02T03:04:05.1Z", 1735787045100},
		{"2025-01-02T03:04:05.12Z", 1735787045120},
		{"2025-01-02T03:04:05.123456789Z", 1735787045123},
		{"2025-01-02T04:04:05+01:00", 1735787045000},
		{"2025-01-01T22:34:05-04:30", 1735787045000},
		{"2025-01-02T03:04:05.5+00:00", 1735787045500},
		{"1970-01-01T00:00:00-00:01", 60000},
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t ms = 0;

		cr_expect_eq(proto_time_parse(ok[i].text, &ms), PROTO_OK, "%s",
			     ok[i].text);
		cr_expect_eq(ms, ok[i].ms, "%s", ok[i].text);
	}
}

Test(time, parse_rejects_invalid_and_leaves_output)
{
	static const char *const bad[] = {
		"",
		"2025-01-02",
		"2025-01-02T03:04:05",       /* no zone */
		"2025-13-01T00:00:00Z",      /* month 13 */
		"2025-00-01T00:00:00Z",
		"2025-02-30T00:00:00Z",      /* Feb 30 */
		"2023-02-29T00:00:00Z",      /* not a leap year */
		"1900-02-29T00:00:00Z",      /* century, not leap */
		"2025-04-31T00:00:00Z",
		"2025-01-00T00:00:00Z",
		"2025-01-02T24:00:00Z",      /* hour 24 */
		"2025-01-02T23:60:00Z",
		"2025-01-02T23:59:60Z",      /* leap second: no Unix time */
		"2025-01-02 03:04:05Z",      /* space separator */
		"2025-01-02T03:04:05.Z",     /* empty fraction */
		"2025-01-02T03:04:05+0100",  /* offset without colon */
		"2025-01-02T03:04:05+24:00",
		"2025-01-02T03:04:05+01:60",
		"2025-01-02T03:04:05Zjunk",
		"2025-01-02T03:04:05Z ",
		"25-01-02T03:04:05Z",
		"2025-1-02T03:04:05Z",
		"+2025-01-02T03:04:05Z",
		"2025-01-02T3:04:05Z",
		"abcd-ef-ghTij:kl:mnZ",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 777;

		cr_expect_eq(proto_time_parse(bad[i], &ms), PROTO_EINVAL, "%s",
			     bad[i]);
		cr_expect_eq(ms, 777, "output changed for %s", bad[i]);
	}
	cr_expect_eq(proto_time_parse(NULL, NULL), PROTO_EINVAL);
}

Test(time, every_truncated_prefix_is_rejected)
{
	const char *full = "2025-01-02T03:04:05.678+01:00";
	char buf[64];

	for (size_t n = 0; n < strlen(full); n++) {
		int64_t ms = 5;

		memcpy(buf, full, n);
		buf[n] = '\0';
		cr_expect_eq(proto_time_parse(buf, &ms), PROTO_EINVAL, "%s",
			     buf);
		cr_expect_eq(ms, 5);
	}
}

/* A seeded walk over many instants, both sides of 1970: whatever is
 * formatted parses back to the same millisecond. */
Test(time, format_parse_round_trip)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	char buf[PROTO_TIME_BUFSZ];

	for (int i = 0; i < 20000; i++) {
		int64_t ms, back = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Years 0000..9999. */
		ms = (int64_t)(x % 315537897600000u) - 62167219200000;
		proto_time_format(ms, buf);
		cr_assert_eq(strlen(buf), 24, "%s", buf);
		cr_assert_eq(proto_time_parse(buf, &back), PROTO_OK, "%s", buf);
		cr_assert_eq(back, ms, "%s", buf);
	}
}

Test(time, extreme_values_do_not_overflow_the_buffer)
{
	char buf[PROTO_TIME_BUFSZ];

	/* Far outside RFC 3339; only the absence of a crash (or an
	 * overflow ASan would report) and a terminated string matter. */
	cr_expect_lt(strlen(proto_time_format(INT64_MAX, buf)),
		     PROTO_TIME_BUFSZ);
	cr_expect_lt(strlen(proto_time_format(INT64_MIN, buf)),
		     PROTO_TIME_BUFSZ);
}
