/*
 * width.c - terminal cells of UTF-8 text (see width.h). Never does I/O.
 */
#include "width.h"

#include <stdint.h>
#include <string.h>

/* Decodes one code point at s; *len gets its byte length (1 for an
 * invalid or truncated sequence, whose code point is then -1). */
static int32_t decode(const unsigned char *s, int *len)
{
	int32_t c;
	int n;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		*len = 1;
		return -1;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = 1;
			return -1;
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*len = n;
	return c;
}

static int in(int32_t c, int32_t lo, int32_t hi)
{
	return c >= lo && c <= hi;
}

/* Cells of one code point: 0, 1 or 2. */
static int cp_width(int32_t c)
{
	if (c < 0)
		return 1;
	if (in(c, 0x0300, 0x036f) || in(c, 0x1ab0, 0x1aff) ||
	    in(c, 0x1dc0, 0x1dff) || in(c, 0x20d0, 0x20ff) ||
	    in(c, 0xfe00, 0xfe0f) || in(c, 0xfe20, 0xfe2f) ||
	    c == 0x200b || c == 0x200c || c == 0x200d || c == 0x2060 ||
	    in(c, 0xe0100, 0xe01ef))
		return 0;
	if (in(c, 0x1100, 0x115f) || in(c, 0x2e80, 0x303e) ||
	    in(c, 0x3041, 0x33ff) || in(c, 0x3400, 0x4dbf) ||
	    in(c, 0x4e00, 0x9fff) || in(c, 0xa000, 0xa4cf) ||
	    in(c, 0xac00, 0xd7a3) || in(c, 0xf900, 0xfaff) ||
	    in(c, 0xfe30, 0xfe4f) || in(c, 0xff00, 0xff60) ||
	    in(c, 0xffe0, 0xffe6) || in(c, 0x1f300, 0x1f64f) ||
	    in(c, 0x1f900, 0x1f9ff) || in(c, 0x1fa70, 0x1faff) ||
	    in(c, 0x1f680, 0x1f6ff) || in(c, 0x20000, 0x2fffd) ||
	    in(c, 0x30000, 0x3fffd) || in(c, 0x2600, 0x2601) ||
	    in(c, 0x2614, 0x2615) || in(c, 0x26a1, 0x26a1) ||
	    in(c, 0x2705, 0x2705) || in(c, 0x274c, 0x274c) ||
	    in(c, 0x2b50, 0x2b50))
		return 2;
	return 1;
}

int cli_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int w = 0, len;

	while (*p) {
		w += cp_width(decode(p, &len));
		p += len;
	}
	return w;
}

int cli_width_fit(char *buf, size_t cap, const char *s, int cols)
{
	static const char ellipsis[] = "\u2026";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	int w = 0, total = cli_width(s), room, len;

	if (!cap)
		return 0;
	buf[0] = '\0';
	if (cols <= 0)
		return 0;
	/* Leave a cell for the "…" when the whole text does not fit. */
	room = total > cols ? cols - 1 : cols;
	while (*p) {
		int32_t c = decode(p, &len);
		int cw = cp_width(c);

		if (w + cw > room || n + (size_t)len + sizeof(ellipsis) > cap)
			break;
		if (c >= 0 && (c < 0x20 || c == 0x7f || in(c, 0x80, 0x9f))) {
			buf[n++] = ' ';
		} else if (c < 0) {
			buf[n++] = '?';
		} else {
			memcpy(buf + n, p, (size_t)len);
			n += (size_t)len;
		}
		w += cw;
		p += len;
	}
	if (*p && n + sizeof(ellipsis) <= cap) {
		memcpy(buf + n, ellipsis, sizeof(ellipsis) - 1);
		n += sizeof(ellipsis) - 1;
		w += 1;
	}
	buf[n] = '\0';
	return w;
}
