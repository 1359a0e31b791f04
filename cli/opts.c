/*
 * opts.c - shared option handling for the raceboard subcommands.
 */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_global_init(struct cli_global *g)
{
	const char *s = getenv("RACEBOARD_SERVER");
	const char *t = getenv("RACEBOARD_TOKEN");
	const char *ca = getenv("RACEBOARD_CACERT");

	g->server = s && *s ? s : CLI_DEFAULT_SERVER;
	g->token = t && *t ? t : NULL;
	g->cacert = ca && *ca ? ca : NULL;
	g->server_given = g->cacert_given = 0;
	g->timeout_ms = 10000;
}

int cli_global_option(struct cli_global *g, const char *cmd, int opt,
		      const char *arg)
{
	double sec;

	switch (opt) {
	case CLI_OPT_SERVER:
		g->server = arg;
		g->server_given = 1;
		return 1;
	case CLI_OPT_TOKEN:
		g->token = *arg ? arg : NULL;
		return 1;
	case CLI_OPT_CACERT:
		if (*arg && access(arg, R_OK)) {
			cli_usage_error(cmd, "--cacert %s: %s", arg,
					strerror(errno));
			return CLI_EINVAL;
		}
		g->cacert = *arg ? arg : NULL;
		g->cacert_given = 1;
		return 1;
	case CLI_OPT_TIMEOUT:
		if (cli_parse_double(arg, &sec) || sec <= 0 || sec > 3600) {
			cli_usage_error(cmd, "--timeout wants seconds, got '%s'",
					arg);
			return CLI_EINVAL;
		}
		g->timeout_ms = (int)(sec * 1000);
		return 1;
	default:
		return 0;
	}
}

int cli_global_api(const struct cli_global *g, const char *cmd,
		   struct cli_api *api)
{
	memset(api, 0, sizeof(*api));
	if (cli_url_parse(g->server, &api->url)) {
		cli_usage_error(cmd, "bad server URL '%s' (want "
				"http[s]://HOST[:PORT][/PREFIX])", g->server);
		return CLI_EINVAL;
	}
	api->url.cacert = g->cacert;
	api->token = g->token;
	api->timeout_ms = g->timeout_ms;
	return CLI_OK;
}

int cli_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return CLI_EINVAL;
	*out = v;
	return CLI_OK;
}

int cli_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v))
		return CLI_EINVAL;
	*out = v;
	return CLI_OK;
}

int cli_meta_add(json_object *meta, const char *pair)
{
	const char *eq = strchr(pair, '=');
	size_t kl = eq ? (size_t)(eq - pair) : strlen(pair);
	char *key;

	if (!kl)
		return CLI_EINVAL;
	key = strndup(pair, kl);
	if (!key)
		return CLI_ENOMEM;
	json_object_object_add(meta, key,
			       eq ? json_object_new_string(eq + 1) : NULL);
	free(key);
	return CLI_OK;
}

void cli_print_json(json_object *o)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		(isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY |
		 JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);

	puts(json_object_to_json_string_ext(o, flags));
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "raceboard %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'raceboard %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}
