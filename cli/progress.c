/*
 * progress.c - progress detection in command output (see progress.h).
 *
 * Heuristics, in order of trust: the last percentage on a line; else the
 * last bracketed counter "[n/m]"; else the last bare counter "n/m". Each
 * number must stand alone (delimited by spaces or brackets), so paths,
 * dates, IP prefixes and "to-chk=5/20" are not mistaken for progress.
 */
#include "progress.h"

#include <stdlib.h>
#include <string.h>

enum { ESC_NONE, ESC_START, ESC_CSI, ESC_OSC, ESC_OSC_END };

void cli_progress_init(struct cli_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->best = -1;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* May a number start right after c? */
static int left_delim(char c)
{
	return !c || c == ' ' || c == '\t' || c == '[' || c == '(' ||
	       c == '|' || c == ':';
}

/* May a counter end right before c? */
static int right_delim(char c)
{
	return !c || c == ' ' || c == '\t' || c == ']' || c == ')' ||
	       c == ':' || c == ',' || c == '|';
}

/*
 * Walks back from end (exclusive) over a number "123" or "12.5"; returns
 * its start or NULL when there is none or it is not delimited on the left.
 */
static const char *number_before(const char *line, const char *end)
{
	const char *s = end;
	int dot = 0;

	while (s > line && (is_digit(s[-1]) || (s[-1] == '.' && !dot))) {
		if (s[-1] == '.')
			dot = 1;
		s--;
	}
	if (s == end || !is_digit(*s) || end[-1] == '.')
		return NULL;
	return s == line || left_delim(s[-1]) ? s : NULL;
}

static int percent(const char *line)
{
	int found = -1;

	for (const char *q = strchr(line, '%'); q; q = strchr(q + 1, '%')) {
		const char *s = number_before(line, q);
		double v;

		if (!s)
			continue;
		v = strtod(s, NULL);
		if (v >= 0 && v <= 100)
			found = (int)v;
	}
	return found;
}

/* The last "n/m" counter; prefers bracketed ones when `bracketed`. */
static int counter(const char *line, int bracketed)
{
	int found = -1;

	for (const char *q = strchr(line, '/'); q; q = strchr(q + 1, '/')) {
		const char *s = number_before(line, q), *b, *e;
		double n, m;
		char *end;

		if (!s || !is_digit(q[1]))
			continue;
		m = strtod(q + 1, &end);
		e = end;
		if (!right_delim(*e))
			continue;
		n = strtod(s, NULL);
		if (m <= 0 || n > m)
			continue;
		for (b = s; b > line && b[-1] == ' '; b--)
			;
		if (bracketed && (b == line || b[-1] != '['))
			continue;
		found = (int)(n * 100 / m);
	}
	return found;
}

/* curl's default meter: a header "% Total    % Received % Xferd", then
 * rows whose first column is the percentage. */
static int curl_row(const char *line)
{
	const char *s = line + strspn(line, " ");
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != ' ' || v < 0 || v > 100)
		return -1;
	return (int)v;
}

int cli_progress_parse_line(const char *line, int newline, int *curl_meter)
{
	int v;

	if (strstr(line, "% Total") && strstr(line, "% Received")) {
		*curl_meter = 1;
		return -1;
	}
	if (*curl_meter) {
		v = curl_row(line);
		if (newline && v >= 0)
			*curl_meter = 0;
		if (v >= 0)
			return v;
	}
	v = percent(line);
	if (v < 0)
		v = counter(line, 1);
	if (v < 0)
		v = counter(line, 0);
	return v;
}

static int end_line(struct cli_progress *p, int newline)
{
	int v;

	p->line[p->len] = '\0';
	v = p->len ? cli_progress_parse_line(p->line, newline, &p->curl_meter)
		   : -1;
	p->len = 0;
	if (v > p->best) {
		p->best = v;
		return 1;
	}
	return 0;
}

int cli_progress_feed(struct cli_progress *p, const char *buf, size_t n)
{
	int changed = 0;

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];

		switch (p->esc) {
		case ESC_START: /* ESC [ is CSI, ESC ] is OSC, else 1 byte */
			p->esc = c == '[' ? ESC_CSI : c == ']' ? ESC_OSC
							 : ESC_NONE;
			continue;
		case ESC_CSI:
			if (c >= 0x40 && c <= 0x7e)
				p->esc = ESC_NONE;
			continue;
		case ESC_OSC:
			if (c == '\a')
				p->esc = ESC_NONE;
			else if (c == 0x1b)
				p->esc = ESC_OSC_END;
			continue;
		case ESC_OSC_END:
			p->esc = ESC_NONE;
			continue;
		default:
			break;
		}
		if (c == 0x1b) {
			p->esc = ESC_START;
		} else if (c == '\n' || c == '\r') {
			changed |= end_line(p, c == '\n');
		} else if (c == '\b') {
			if (p->len)
				p->len--;
		} else if (c) {
			if (p->len == sizeof(p->line) - 1) {
				/* Keep the tail: progress sits at line ends. */
				memmove(p->line, p->line + p->len / 2,
					p->len - p->len / 2);
				p->len -= p->len / 2;
			}
			p->line[p->len++] = c;
		}
	}
	return changed;
}
