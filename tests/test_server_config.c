/*
 * test_server_config.c - flags and environment variables of the server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *env_port;

static char *fake_env(const char *name)
{
	if (!strcmp(name, "RACEBOARD_SERVER__HTTP_PORT"))
		return (char *)env_port;
	if (!strcmp(name, "RACEBOARD_PERSISTENCE__PATH"))
		return "/env/data";
	return NULL;
}

static char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static int parse(struct srv_cfg *cfg, char **argv, int argc,
		 char *(*env)(const char *))
{
	FILE *out = fopen("/dev/null", "w");
	int rc;

	srv_cfg_defaults(cfg);
	rc = srv_cfg_parse(cfg, argc, argv, env, out, out);
	fclose(out);
	return rc;
}

Test(config, defaults_bind_loopback_port_7777_and_local_data)
{
	struct srv_cfg cfg;
	char *argv[] = {"raceboard-server", NULL};

	cr_assert_eq(parse(&cfg, argv, 1, no_env), SRV_CFG_OK);
	cr_assert_str_eq(cfg.bind, "127.0.0.1");
	cr_assert_eq(cfg.port, 7777);
	cr_assert_str_eq(cfg.data_dir, "./raceboard-data");
	cr_assert_eq(cfg.max_body, 65536);
	cr_assert_eq(cfg.finished_ttl_sec, 86400);
}

Test(config, environment_applies_and_flags_override_it)
{
	struct srv_cfg cfg;
	char *argv[] = {"raceboard-server", "--port", "9000", NULL};

	env_port = "8123";
	cr_assert_eq(parse(&cfg, argv, 1, fake_env), SRV_CFG_OK);
	cr_assert_eq(cfg.port, 8123);
	cr_assert_str_eq(cfg.data_dir, "/env/data");
	cr_assert_eq(parse(&cfg, argv, 3, fake_env), SRV_CFG_OK);
	cr_assert_eq(cfg.port, 9000);
}

Test(config, invalid_values_are_errors)
{
	struct srv_cfg cfg;
	char *bad_port[] = {"s", "--port", "70000", NULL};
	char *bad_level[] = {"s", "--log-level", "loud", NULL};
	char *unknown[] = {"s", "--frobnicate", NULL};
	char *missing[] = {"s", "--port", NULL};

	cr_assert_eq(parse(&cfg, bad_port, 3, no_env), SRV_CFG_ERROR);
	cr_assert_eq(parse(&cfg, bad_level, 3, no_env), SRV_CFG_ERROR);
	cr_assert_eq(parse(&cfg, unknown, 2, no_env), SRV_CFG_ERROR);
	cr_assert_eq(parse(&cfg, missing, 2, no_env), SRV_CFG_ERROR);
	env_port = "http";
	cr_assert_eq(parse(&cfg, (char *[]){"s", NULL}, 1, fake_env),
		     SRV_CFG_ERROR);
}

Test(config, help_and_version_ask_to_exit)
{
	struct srv_cfg cfg;

	cr_assert_eq(parse(&cfg, (char *[]){"s", "--help", NULL}, 2, no_env),
		     SRV_CFG_EXIT_OK);
	cr_assert_eq(parse(&cfg, (char *[]){"s", "-V", NULL}, 2, no_env),
		     SRV_CFG_EXIT_OK);
}

static char *hook_env(const char *name)
{
	if (!strcmp(name, "RACEBOARD_GITHUB__SECRET"))
		return "from-env";
	if (!strcmp(name, "RACEBOARD_GITLAB__SECRET"))
		return "gl-env";
	return NULL;
}

/* Webhook secrets: environment, then flags; off by default; a secret is
 * never echoed in an error. */
Test(config, webhook_secrets_from_environment_and_flags)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--github-secret", "from-flag",
			"--hook-max-body", "2000000", NULL};
	char *bad[] = {"s", "--gitlab-secret", "line\nbreak", NULL};
	char *big[] = {"s", "--hook-max-body", "30000000", NULL};
	char err[512] = "";
	FILE *out;

	cr_assert_eq(parse(&cfg, argv, 1, no_env), SRV_CFG_OK);
	cr_expect_str_eq(cfg.github_secret, "");
	cr_expect_str_eq(cfg.gitlab_secret, "");
	cr_expect_eq(cfg.hook_max_body, 1024 * 1024);
	cr_assert_eq(parse(&cfg, argv, 1, hook_env), SRV_CFG_OK);
	cr_expect_str_eq(cfg.github_secret, "from-env");
	cr_expect_str_eq(cfg.gitlab_secret, "gl-env");
	cr_assert_eq(parse(&cfg, argv, 5, hook_env), SRV_CFG_OK);
	cr_expect_str_eq(cfg.github_secret, "from-flag");
	cr_expect_eq(cfg.hook_max_body, 2000000);
	cr_expect_eq(parse(&cfg, big, 3, no_env), SRV_CFG_ERROR);

	out = fmemopen(err, sizeof(err) - 1, "w");
	srv_cfg_defaults(&cfg);
	cr_expect_eq(srv_cfg_parse(&cfg, 3, bad, no_env, out, out),
		     SRV_CFG_ERROR);
	fclose(out);
	cr_expect(strstr(err, "gitlab-secret"), "%s", err);
	cr_expect(!strstr(err, "break"), "the secret was echoed: %s", err);
}

static char *queued_env(const char *name)
{
	return !strcmp(name, "RACEBOARD_SERVER__WS_MAX_QUEUED_MB") ? "64"
								    : NULL;
}

Test(config, the_subscriber_memory_cap_has_a_default_env_and_flag)
{
	struct srv_cfg cfg;
	char *flag[] = {"s", "--ws-max-queued-mb", "32", NULL};
	char *zero[] = {"s", "--ws-max-queued-mb", "0", NULL};

	cr_assert_eq(parse(&cfg, (char *[]){"s", NULL}, 1, no_env),
		     SRV_CFG_OK);
	cr_assert_eq(cfg.ws_max_queued, (size_t)128 << 20);
	cr_assert_eq(parse(&cfg, (char *[]){"s", NULL}, 1, queued_env),
		     SRV_CFG_OK);
	cr_assert_eq(cfg.ws_max_queued, (size_t)64 << 20);
	cr_assert_eq(parse(&cfg, flag, 3, queued_env), SRV_CFG_OK);
	cr_assert_eq(cfg.ws_max_queued, (size_t)32 << 20);
	cr_assert_eq(parse(&cfg, zero, 3, no_env), SRV_CFG_ERROR);
}

Test(config, the_subscriber_write_slice_has_a_default_and_a_flag)
{
	struct srv_cfg cfg;
	char *flag[] = {"s", "--ws-slice-us", "1000", NULL};
	char *zero[] = {"s", "--ws-slice-us", "0", NULL};
	char *big[] = {"s", "--ws-slice-us", "1000001", NULL};

	cr_assert_eq(parse(&cfg, (char *[]){"s", NULL}, 1, no_env),
		     SRV_CFG_OK);
	cr_assert_eq(cfg.ws_slice_us, SRV_CFG_WS_SLICE_US);
	cr_assert_eq(parse(&cfg, flag, 3, no_env), SRV_CFG_OK);
	cr_assert_eq(cfg.ws_slice_us, 1000u);
	cr_assert_eq(parse(&cfg, zero, 3, no_env), SRV_CFG_OK);
	cr_assert_eq(cfg.ws_slice_us, 0u);
	cr_assert_eq(parse(&cfg, big, 3, no_env), SRV_CFG_ERROR);
}

Test(config, access_log_on_off)
{
	struct srv_cfg cfg;
	char *off[] = {"s", "--access-log", "off", NULL};
	char *bad[] = {"s", "--access-log", "maybe", NULL};

	cr_assert_eq(parse(&cfg, off, 1, no_env), SRV_CFG_OK);
	cr_expect_eq(cfg.access_log, 1);
	cr_assert_eq(parse(&cfg, off, 3, no_env), SRV_CFG_OK);
	cr_expect_eq(cfg.access_log, 0);
	cr_expect_eq(parse(&cfg, bad, 3, no_env), SRV_CFG_ERROR);
}

Test(config, trusted_proxies_are_addresses)
{
	struct srv_cfg cfg;
	char *two[] = {"s", "--trusted-proxy", "10.1.2.3", "--trusted-proxy",
		       "::1", NULL};
	char *name[] = {"s", "--trusted-proxy", "proxy.example", NULL};
	char *cidr[] = {"s", "--trusted-proxy", "10.0.0.0/8", NULL};
	static const unsigned char ten[16] = {[10] = 0xff, [11] = 0xff,
					      [12] = 10, 1, 2, 3};
	static const unsigned char lo6[16] = {[15] = 1};

	cr_assert_eq(parse(&cfg, two, 1, no_env), SRV_CFG_OK);
	cr_expect_eq(cfg.n_trusted_proxies, 0, "default: loopback, no list");
	cr_assert_eq(parse(&cfg, two, 5, no_env), SRV_CFG_OK);
	cr_assert_eq(cfg.n_trusted_proxies, 2);
	cr_expect_arr_eq(cfg.trusted_proxies[0], ten, 16);
	cr_expect_arr_eq(cfg.trusted_proxies[1], lo6, 16);
	cr_expect_eq(parse(&cfg, name, 3, no_env), SRV_CFG_ERROR);
	cr_expect_eq(parse(&cfg, cidr, 3, no_env), SRV_CFG_ERROR);
}
