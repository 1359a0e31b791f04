/*
 * table.h - `raceboard list` on a terminal: the races as a table that
 * fits the width (like `gh run list`), instead of JSON.
 */
#ifndef RACEBOARD_CLI_TABLE_H
#define RACEBOARD_CLI_TABLE_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Prints the array of races `races` (borrowed) to out as a header line
 * and one line per race, every line at most cols - 1 cells: state,
 * progress, ETA (or how long it took), source, id and title, the title
 * taking what is left and ending in "…" when cut. now_ms is the clock
 * the ETA counts down on. Returns 0, or -1 when `races` is not an array.
 */
int cli_table_print(FILE *out, json_object *races, int cols, int64_t now_ms);

#endif
