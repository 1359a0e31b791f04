/*
 * rfc3339.c - RFC 3339 timestamps <-> milliseconds since the Unix epoch.
 *
 * Calendar arithmetic is done here with the proleptic Gregorian
 * days-from-civil algorithm (H. Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms") rather than gmtime/timegm, so the result never depends on
 * the process time zone, the C library or the clock. This file must never
 * read the clock, the environment or the locale.
 */
#include "rfc3339.h"

#include <stdio.h>

#include "race.h"

#define MS_PER_SEC 1000LL
#define MS_PER_DAY 86400000LL

/* Floor division: C division truncates toward zero, but a timestamp before
 * 1970 still belongs to the day that starts before it. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of a civil date (month 1..12). Valid for any year
 * this layer accepts; years are shifted to start in March so that the leap
 * day is the last day of the shifted year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Writes `v` (0 <= v < 10^n) as exactly n decimal digits. */
static void put_digits(char *out, int64_t v, int n)
{
	while (n--) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

char *proto_time_format(int64_t ms, char buf[PROTO_TIME_BUFSZ])
{
	int64_t days = floor_div(ms, MS_PER_DAY);
	/* Not ms - days * MS_PER_DAY: that product overflows near INT64_MIN. */
	int64_t in_day = ms % MS_PER_DAY;
	int64_t y;
	int m, d;

	if (in_day < 0)
		in_day += MS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	if (y >= 0 && y <= 9999) {
		/* The common case, by hand: snprintf was a tenth of the
		 * server's CPU per write (every delta, reply and record
		 * carries several timestamps). Same bytes as below. */
		put_digits(buf, y, 4);
		buf[4] = '-';
		put_digits(buf + 5, m, 2);
		buf[7] = '-';
		put_digits(buf + 8, d, 2);
		buf[10] = 'T';
		put_digits(buf + 11, in_day / 3600000, 2);
		buf[13] = ':';
		put_digits(buf + 14, in_day / 60000 % 60, 2);
		buf[16] = ':';
		put_digits(buf + 17, in_day / 1000 % 60, 2);
		buf[19] = '.';
		put_digits(buf + 20, in_day % 1000, 3);
		buf[23] = 'Z';
		buf[24] = '\0';
		return buf;
	}
	/* Years beyond 9999 or before 0 do not fit RFC 3339 but still print
	 * unambiguously; PROTO_TIME_BUFSZ holds the widest int64 case. */
	snprintf(buf, PROTO_TIME_BUFSZ, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (long long)y, m, d, (int)(in_day / 3600000),
		 (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
		 (int)(in_day % 1000));
	return buf;
}

/* Reads exactly `n` decimal digits at *p and advances it; -1 if any of
 * them is not a digit. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	return v;
}

/* Parses the zone suffix ("Z", "z", "+hh:mm", "-hh:mm") that must end the
 * string; sets *offset_ms to the zone's offset east of UTC. */
static int parse_zone(const char *p, int64_t *offset_ms)
{
	int sign, hh, mm;

	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*offset_ms = 0;
		return PROTO_OK;
	}
	if (*p != '+' && *p != '-')
		return PROTO_EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	hh = digits(&p, 2);
	if (hh < 0 || hh > 23 || *p++ != ':')
		return PROTO_EINVAL;
	mm = digits(&p, 2);
	if (mm < 0 || mm > 59 || *p != '\0')
		return PROTO_EINVAL;
	*offset_ms = sign * ((int64_t)hh * 3600000 + (int64_t)mm * 60000);
	return PROTO_OK;
}

int proto_time_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, frac_ms = 0;
	int64_t offset, days;

	if (!s)
		return PROTO_EINVAL;
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 1 || d > days_in_month(y, mo))
		return PROTO_EINVAL;
	if (*p != 'T' && *p != 't')
		return PROTO_EINVAL;
	p++;
	/* Second 60 (a leap second) has no Unix-time representation, so it
	 * is rejected rather than silently moved to the next minute. */
	if ((h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' ||
	    (mi = digits(&p, 2)) < 0 || mi > 59 || *p++ != ':' ||
	    (sec = digits(&p, 2)) < 0 || sec > 59)
		return PROTO_EINVAL;
	if (*p == '.') {
		int n = 0;

		/* Any number of digits; below a millisecond they truncate. */
		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		}
		if (n == 0)
			return PROTO_EINVAL;
		for (; n < 3; n++)
			frac_ms *= 10;
	}
	if (parse_zone(p, &offset) != PROTO_OK)
		return PROTO_EINVAL;
	days = days_from_civil(y, mo, d);
	*ms = days * MS_PER_DAY + ((int64_t)h * 3600 + mi * 60 + sec) *
		MS_PER_SEC + frac_ms - offset;
	return PROTO_OK;
}
