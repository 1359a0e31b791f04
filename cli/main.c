/*
 * main.c - the raceboard command: reads the global options, then hands
 * the rest of the command line to a subcommand. Only wiring lives here.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i]; returns the value
 * or NULL when argv[*i] is not that option. */
static const char *take(int argc, char **argv, int *i, const char *name,
			int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct cli_global g;
	int i;

	cli_global_init(&g);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		int missing = 0, rc = 0;

		if (!strcmp(argv[i], "--version")) {
			printf("raceboard %s\n", RACEBOARD_VERSION);
			return CLI_EXIT_OK;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cli_help_print("raceboard");
			return CLI_EXIT_OK;
		}
		if ((v = take(argc, argv, &i, "--server", &missing)))
			rc = cli_global_option(&g, "", CLI_OPT_SERVER, v);
		else if ((v = take(argc, argv, &i, "--token", &missing)))
			rc = cli_global_option(&g, "", CLI_OPT_TOKEN, v);
		else if ((v = take(argc, argv, &i, "--timeout", &missing)))
			rc = cli_global_option(&g, "", CLI_OPT_TIMEOUT, v);
		else if ((v = take(argc, argv, &i, "--cacert", &missing)))
			rc = cli_global_option(&g, "", CLI_OPT_CACERT, v);
		if (rc < 0)
			return CLI_EXIT_USAGE;
		if (!rc) {
			fprintf(stderr, "raceboard: %s option '%s'\n"
				"Try 'raceboard --help'.\n",
				missing ? "missing value for" : "unknown",
				argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "raceboard: which command?\n"
			"Try 'raceboard --help'.\n");
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help"))
		return i + 1 < argc && !cli_help_print(argv[i + 1]) ? 0 :
		       cli_help_print("raceboard");
	if (!strcmp(argv[i], "run"))
		return cli_cmd_run(argc - i, argv + i, &g);
	if (!strcmp(argv[i], "hook"))
		return cli_cmd_hook(argc - i, argv + i, &g);
	if (!strcmp(argv[i], "watch"))
		return cli_cmd_watch(argc - i, argv + i, &g);
	return cli_cmd_race(argc - i, argv + i, &g);
}
