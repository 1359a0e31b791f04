/*
 * watch.c - placeholder until `raceboard watch` lands: prints its help.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

int cli_cmd_watch(int argc, char **argv, struct cli_global *g)
{
	(void)g;
	if (argc > 1 && !strcmp(argv[1], "--help")) {
		cli_help_print("watch");
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "raceboard watch: not implemented yet\n");
	return CLI_EXIT_USAGE;
}
