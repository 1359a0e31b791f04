/*
 * run.c - placeholder until `raceboard run` lands: prints its help.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

int cli_cmd_run(int argc, char **argv, struct cli_global *g)
{
	(void)g;
	if (argc > 1 && !strcmp(argv[1], "--help")) {
		cli_help_print("run");
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "raceboard run: not implemented yet\n");
	return CLI_EXIT_USAGE;
}
