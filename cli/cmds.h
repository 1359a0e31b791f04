/*
 * cmds.h - the raceboard subcommands. Each takes the arguments after the
 * subcommand name (argv[0] is the name) and returns the process exit
 * status.
 */
#ifndef RACEBOARD_CLI_CMDS_H
#define RACEBOARD_CLI_CMDS_H

#include "opts.h"

/* create, update, event, finish, get, list, delete (cmd_race.c). */
int cli_cmd_race(int argc, char **argv, struct cli_global *g);

/* run [options] -- COMMAND [ARGS...] (run.c). */
int cli_cmd_run(int argc, char **argv, struct cli_global *g);

/* watch [options] (watch.c). */
int cli_cmd_watch(int argc, char **argv, struct cli_global *g);

/* hook claude-code [--install|--uninstall] [options] (hook.c): always
 * exits 0 when handling an event. */
int cli_cmd_hook(int argc, char **argv, struct cli_global *g);

#endif
