/*
 * width.h - how many terminal cells UTF-8 text takes, and how much of it
 * fits in a given number of cells, for `raceboard watch` and `list`.
 *
 * Pure and locale-free (the C locale's wcwidth() knows no UTF-8): East
 * Asian wide and fullwidth characters and emoji take two cells, combining
 * marks, variation selectors and zero-width joiners none, everything else
 * one. Invalid bytes count one cell each, like a terminal's replacement.
 */
#ifndef RACEBOARD_CLI_WIDTH_H
#define RACEBOARD_CLI_WIDTH_H

#include <stddef.h>

/* Display cells of the NUL-terminated UTF-8 text s. */
int cli_width(const char *s);

/*
 * Copies s into buf (capacity cap, always NUL-terminated) cut to at most
 * `cols` cells: when s is wider, it ends in "…" inside those cells. A
 * control character (an escape sequence, a newline) becomes a space, so
 * a title can never move the cursor. Returns the cells written.
 */
int cli_width_fit(char *buf, size_t cap, const char *s, int cols);

#endif
