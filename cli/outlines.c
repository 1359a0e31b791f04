/*
 * outlines.c - a command's output as lines for the output tail (see
 * outlines.h). Pure.
 */
#include "outlines.h"

#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */
#define CUT_MARK "\xe2\x80\xa6"    /* U+2026 */

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 when
 * the byte there does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). NUL counts as invalid here. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t k;
	unsigned lo = 0x80, hi = 0xbf;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return k;
}

size_t cli_outline_clean(const char *raw, size_t len, int cut, char *out)
{
	const unsigned char *s = (const unsigned char *)raw;
	char tmp[3 * CLI_OUTLINE_RAW + 1];
	size_t i = 0, n = 0, k;

	if (len > CLI_OUTLINE_RAW) {
		len = CLI_OUTLINE_RAW;
		cut = 1;
	}
	/* Each raw byte becomes at least one byte, at most three. */
	while (i < len) {
		k = utf8_seq(s + i, len - i);
		if (k) {
			memcpy(tmp + n, s + i, k);
			n += k;
			i += k;
		} else {
			memcpy(tmp + n, REPLACEMENT, sizeof REPLACEMENT - 1);
			n += sizeof REPLACEMENT - 1;
			i++;
		}
	}
	if (!cut && n <= PROTO_OUTPUT_LINE_MAX) {
		memcpy(out, tmp, n);
		out[n] = '\0';
		return n;
	}
	/* The server's cut: the longest run of whole characters that leaves
	 * room for the mark. tmp is valid UTF-8, so backing up over
	 * continuation bytes lands on the start of a character. */
	k = PROTO_OUTPUT_LINE_MAX - (sizeof CUT_MARK - 1);
	if (k > n)
		k = n;
	while (k > 0 && k < n && ((unsigned char)tmp[k] & 0xc0) == 0x80)
		k--;
	memcpy(out, tmp, k);
	memcpy(out + k, CUT_MARK, sizeof CUT_MARK - 1);
	k += sizeof CUT_MARK - 1;
	out[k] = '\0';
	return k;
}

static void emit(struct cli_outlines *o, cli_outline_fn fn, void *ctx)
{
	char line[CLI_OUTLINE_MAX];
	size_t n = cli_outline_clean(o->raw, o->len, o->cut, line);

	o->len = 0;
	o->cut = 0;
	fn(ctx, line, n);
}

void cli_outlines_feed(struct cli_outlines *o, const char *buf, size_t n,
		       cli_outline_fn fn, void *ctx)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		size_t keep = take < CLI_OUTLINE_RAW - o->len ?
			take : CLI_OUTLINE_RAW - o->len;

		memcpy(o->raw + o->len, buf, keep);
		o->len += keep;
		if (keep < take)
			o->cut = 1;
		if (!nl)
			return;
		emit(o, fn, ctx);
		buf = nl + 1;
		n -= take + 1;
	}
}

void cli_outlines_flush(struct cli_outlines *o, cli_outline_fn fn, void *ctx)
{
	if (o->len || o->cut)
		emit(o, fn, ctx);
}
