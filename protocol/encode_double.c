/*
 * encode_double.c - the text of a JSON double: the shortest decimal that
 * parses back to the same bits, which both json-c trees
 * (proto_codec_new_double) and the direct writers print. Pure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* The significant digits of a %g text: first to last non-zero digit. */
static int significant_digits(const char *s)
{
	int n = 0, run = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s != '0' || n)
			run++;
		if (*s != '0')
			n = run;
	}
	return n;
}

/* Prints d with %.{prec}g into buf; 1 when the text reads back as d. */
static int reads_back(char *buf, int prec, double d)
{
	snprintf(buf, PROTO_CODEC_DOUBLE_BUFSZ, "%.*g", prec, d);
	return strtod(buf, NULL) == d;
}

/*
 * Short decimals (most confidences: 0.5, 0.85) without printf, which
 * costs ~300 ns a call. For the smallest k where d == m / 10^k with an
 * integer m < 10^15, the decimal m * 10^-k is d's shortest text: both
 * operands are exact, so the division rounds as strtod does, and with at
 * most 15 digits it is also what %g rounds d to. Writes what %g would for
 * it and returns its length, or 0 where %g would choose an exponent (or d
 * is out of this range): the caller prints those.
 */
static size_t format_short_decimal(double d, char *buf)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
	};
	double a = d < 0 ? -d : d;
	char digits[24];
	size_t n = 0, len = 0;
	uint64_t m;
	int k, exp10;

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (k = 0;; k++) {
		double scaled = a * pow10[k];

		/* Past 15 digits a shorter text may read back that %g's
		 * correctly rounded one does not: leave those to %g. */
		if (k == 17 || scaled >= 1e15)
			return 0;
		m = (uint64_t)(scaled + 0.5);
		if ((double)m / pow10[k] == a)
			break;
	}
	for (uint64_t v = m; v; v /= 10)
		digits[n++] = (char)('0' + v % 10);   /* reversed */
	/* %g writes fixed notation when -4 <= exponent < significant
	 * digits; an integer like 100 has 1 digit and gets "1e+02". */
	exp10 = (int)n - 1 - k;
	if (k == 0 && m % 10 == 0)
		return 0;
	if (d < 0)
		buf[len++] = '-';
	if (exp10 < 0) {
		memcpy(buf + len, "0.", 2);
		len += 2;
		for (int z = -1; z > exp10; z--)
			buf[len++] = '0';
	}
	for (size_t i = n; i-- > 0;) {
		buf[len++] = digits[i];
		if (i == (size_t)k && k && exp10 >= 0)
			buf[len++] = '.';
	}
	buf[len] = '\0';
	return len;
}

size_t proto_codec_format_double(double d, char buf[PROTO_CODEC_DOUBLE_BUFSZ])
{
	char t[PROTO_CODEC_DOUBLE_BUFSZ];
	size_t n;
	int prec;

	/* json-c prints doubles with %.17g, so 0.85 would come out as
	 * 0.84999999999999998. The shortest form that parses back to the
	 * same bits is both exact and what a person expects to read: the
	 * smallest precision whose %g text reads back as d. A double carries
	 * over 15 significant digits, so when some precision p < 15 reads
	 * back, %.15g is that same text padded with zeros: one try at 15
	 * gives p by counting, instead of trying 1, 2, 3... (about 20x
	 * faster for a computed value like 0.7234567891234567). */
	if (format_short_decimal(d, buf)) {
		/* the common case, done */
	} else if (fpclassify(d) == FP_SUBNORMAL) {
		/* Fewer bits than 15 digits need: no shortcut (t ends as
		 * the text of the precision found). */
		for (prec = 1; !reads_back(t, prec, d) && prec < 17; prec++)
			;
		memcpy(buf, t, strlen(t) + 1);
	} else if (reads_back(t, 15, d)) {
		prec = significant_digits(t);
		if (prec < 15)  /* the same digits, in %.{p}g's layout */
			reads_back(buf, prec ? prec : 1, d);
		else
			memcpy(buf, t, strlen(t) + 1);
	} else if (reads_back(t, 16, d)) {
		memcpy(buf, t, strlen(t) + 1);
	} else {
		reads_back(buf, 17, d);
	}
	n = strlen(buf);
	/* Keep it a double on the wire: "1" would read back as an integer. */
	if (!strpbrk(buf, ".eEn")) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}
