/*
 * api.c - REST calls for the CLI on top of http.c (libcurl); decodes replies and
 * formats the server's documented error object for humans.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void cli_api_format_error(const char *body, int status, char *out,
			  size_t cap)
{
	json_object *o = body ? json_tokener_parse(body) : NULL;
	const char *msg = o ? str_field(o, "message") : NULL;
	const char *field = o ? str_field(o, "field") : NULL;
	const char *code = o ? str_field(o, "error") : NULL;

	if (!msg)
		snprintf(out, cap, "the server answered HTTP %d", status);
	else if (field)
		snprintf(out, cap, "%s (field: %s, HTTP %d %s)", msg, field,
			 status, code ? code : "error");
	else
		snprintf(out, cap, "%s (HTTP %d %s)", msg, status,
			 code ? code : "error");
	json_object_put(o);
}

int cli_api_race_path(char *buf, size_t cap, const char *id,
		      const char *suffix)
{
	if (cap < 7)
		return CLI_EINVAL;
	strcpy(buf, "/race/");
	if (cli_url_escape(buf, cap, id) || strlen(buf) + strlen(suffix) >= cap)
		return CLI_EINVAL;
	strcat(buf, suffix);
	return CLI_OK;
}

int cli_api_call(const struct cli_api *api, const char *method,
		 const char *path, const char *body, int *status,
		 json_object **reply, char *err, size_t errcap)
{
	struct cli_http_response res;
	int rc;

	if (reply)
		*reply = NULL;
	if (status)
		*status = 0;
	rc = cli_http_request(&api->url, api->token, method, path, body,
			      api->timeout_ms, &res);
	if (rc) {
		char url[600];

		cli_url_format(&api->url, url, sizeof(url));
		snprintf(err, errcap, "cannot reach %s: %s", url, res.error);
		return rc;
	}
	if (status)
		*status = res.status;
	if (res.status < 200 || res.status > 299) {
		cli_api_format_error(res.body, res.status, err, errcap);
		cli_http_response_fini(&res);
		return CLI_ESERVER;
	}
	if (reply && res.body_len)
		*reply = json_tokener_parse(res.body);
	cli_http_response_fini(&res);
	return CLI_OK;
}
