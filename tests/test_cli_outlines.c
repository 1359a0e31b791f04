/*
 * test_cli_outlines.c - cli/outlines.c: a command's output cut into the
 * lines `raceboard run` sends to the output tail. Pure; no server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outlines.h"

struct got {
	char lines[16][CLI_OUTLINE_MAX];
	size_t n;
};

static void collect(void *ctx, const char *line, size_t len)
{
	struct got *g = ctx;

	cr_assert_eq(strlen(line), len);
	cr_assert_leq(len, PROTO_OUTPUT_LINE_MAX);
	cr_assert_lt(g->n, 16);
	memcpy(g->lines[g->n++], line, len + 1);
}

/* 1 when s is well-formed UTF-8 without NUL. */
static int utf8_ok(const unsigned char *p)
{
	while (*p) {
		int k = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
			(*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (k < 0 || (k == 1 && *p < 0xc2))
			return 0;
		p++;
		for (int i = 0; i < k; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
		}
	}
	return 1;
}

Test(outlines, lines_split_across_reads_and_keep_escapes_and_returns)
{
	struct cli_outlines o = {0};
	struct got g = {0};
	static const char a[] = "one\ntw", b[] = "o\r\n\x1b[31mred\x1b[0m\t\nlast";

	cli_outlines_feed(&o, a, sizeof a - 1, collect, &g);
	cr_assert_eq(g.n, 1);
	cli_outlines_feed(&o, b, sizeof b - 1, collect, &g);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.lines[0], "one");
	cr_assert_str_eq(g.lines[1], "two\r");
	cr_assert_str_eq(g.lines[2], "\x1b[31mred\x1b[0m\t");
	/* The unfinished last line comes out at the end. */
	cli_outlines_flush(&o, collect, &g);
	cr_assert_eq(g.n, 4);
	cr_assert_str_eq(g.lines[3], "last");
	cli_outlines_flush(&o, collect, &g);
	cr_assert_eq(g.n, 4, "nothing twice");
	/* An empty line is a line. */
	cli_outlines_feed(&o, "\n", 1, collect, &g);
	cr_assert_str_eq(g.lines[4], "");
}

Test(outlines, invalid_utf8_and_nul_become_replacement_characters)
{
	static const char raw[] = "a\xff" "b\xc3" "c\0d\xed\xa0\x80" "e\xc3\xa9";
	char out[CLI_OUTLINE_MAX];
	size_t n = cli_outline_clean(raw, sizeof raw - 1, 0, out);

	cr_assert_str_eq(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"
			 "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e\xc3\xa9");
	cr_assert_eq(n, strlen(out));
	cr_assert(utf8_ok((const unsigned char *)out));
}

Test(outlines, long_lines_are_cut_like_the_server_cuts_them)
{
	struct cli_outlines o = {0};
	struct got g = {0};
	char *big = malloc(100000);

	cr_assert_not_null(big);
	/* 3-byte characters run past the cap; the feed keeps a bounded
	 * prefix and the line ends in the mark. */
	for (size_t i = 0; i + 3 <= 99999; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	big[99999] = '\n';
	cli_outlines_feed(&o, big, 100000, collect, &g);
	cr_assert_eq(g.n, 1);
	cr_assert(utf8_ok((const unsigned char *)g.lines[0]));
	cr_assert_leq(strlen(g.lines[0]), PROTO_OUTPUT_LINE_MAX);
	cr_assert_str_eq(g.lines[0] + strlen(g.lines[0]) - 3, "\xe2\x80\xa6");
	cr_assert_eq((strlen(g.lines[0]) - 3) % 3, 0);
	cr_assert_gt(strlen(g.lines[0]), PROTO_OUTPUT_LINE_MAX - 6);
	/* Exactly the cap is kept whole; one byte more is cut. */
	memset(big, 'x', PROTO_OUTPUT_LINE_MAX + 1);
	big[PROTO_OUTPUT_LINE_MAX] = '\n';
	cli_outlines_feed(&o, big, PROTO_OUTPUT_LINE_MAX + 1, collect, &g);
	cr_assert_eq(strlen(g.lines[1]), PROTO_OUTPUT_LINE_MAX);
	cr_assert_eq(g.lines[1][PROTO_OUTPUT_LINE_MAX - 1], 'x');
	big[PROTO_OUTPUT_LINE_MAX] = 'y';
	big[PROTO_OUTPUT_LINE_MAX + 1] = '\n';
	cli_outlines_feed(&o, big, PROTO_OUTPUT_LINE_MAX + 2, collect, &g);
	cr_assert_eq(strlen(g.lines[2]), PROTO_OUTPUT_LINE_MAX);
	cr_assert_str_eq(g.lines[2] + PROTO_OUTPUT_LINE_MAX - 3, "\xe2\x80\xa6");
	free(big);
}
