/*
 * test_cli_net.c - what the CLI says when it cannot reach the server:
 * one line naming the URL and the cause (refused, unresolvable name, an
 * untrusted TLS certificate), exit status 3; and that --cacert and
 * RACEBOARD_CACERT make a private CA trusted. The TLS peer is
 * `openssl s_server` with a certificate made here; the name that does not
 * resolve is looked up in a network namespace of our own, so no query
 * leaves the machine.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_cli_util.h"

/* A loopback port that nothing listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(s, (struct sockaddr *)&a, &al);
	close(s);
	return ntohs(a.sin_port);
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(cli_net, refused_is_one_line, .timeout = 60)
{
	struct cli_result r;
	char url[64], want[128];
	int port = closed_port();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/board", port);
	{
		const char *argv[] = {"raceboard", "--server", url, "get", "x",
				      NULL};

		cr_assert_eq(tcli_run(argv, 0, NULL, &r), 0);
	}
	snprintf(want, sizeof(want),
		 "cannot reach http://127.0.0.1:%d/board: connection refused",
		 port);
	cr_assert_eq(r.status, 3, "%s", r.err);
	cr_assert(strstr(r.err, want), "%s", r.err);
	cr_assert_eq(lines(r.err), 1, "%s", r.err);
	tcli_result_free(&r);
}

Test(cli_net, unresolvable_name_is_one_line, .timeout = 60)
{
	struct cli_result r;
	char script[512];

	/* A fresh network namespace has no route to any DNS server, so the
	 * lookup fails at once and nothing is sent. */
	cr_assert_eq(tcli_sh("unshare -n true", &r), 0);
	if (r.status) {
		tcli_result_free(&r);
		cr_skip_test("unshare -n is not permitted here");
	}
	tcli_result_free(&r);
	snprintf(script, sizeof(script),
		 "exec unshare -n '%s' --server https://raceboard.invalid:8443 "
		 "--timeout 5 get x", tcli_bin());
	cr_assert_eq(tcli_sh(script, &r), 0);
	cr_assert_eq(r.status, 3, "%s", r.err);
	cr_assert(strstr(r.err, "cannot reach https://raceboard.invalid:8443: "
			 "cannot resolve host name 'raceboard.invalid'"),
		  "%s", r.err);
	cr_assert_eq(lines(r.err), 1, "%s", r.err);
	tcli_result_free(&r);
}

/* Starts `openssl s_server` on a loopback port with a self-signed
 * certificate for 127.0.0.1 ($port, $d/cert.pem); a test's lines follow. */
static const char tls_server[] =
	"set -u\n"
	"d=$(mktemp -d)\n"
	"trap 'kill $srv 2>/dev/null; rm -rf \"$d\"' EXIT\n"
	"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
	" -addext subjectAltName=IP:127.0.0.1 -keyout \"$d/key.pem\""
	" -out \"$d/cert.pem\" 2>/dev/null || exit 90\n"
	"openssl s_server -accept 127.0.0.1:0 -cert \"$d/cert.pem\""
	" -key \"$d/key.pem\" -www >\"$d/log\" 2>&1 </dev/null &\n"
	"srv=$!\n"
	"for i in $(seq 100); do\n"
	"  port=$(sed -n 's/^ACCEPT 127.0.0.1:\\([0-9]*\\).*/\\1/p' \"$d/log\")\n"
	"  [ -n \"$port\" ] && break; sleep 0.05\n"
	"done\n"
	"[ -n \"$port\" ] || exit 91\n";

/* Runs tls_server then `lines` in one shell. */
static int tls_sh(const char *lines, struct cli_result *r)
{
	char script[4096];

	setenv("CLI", tcli_bin(), 1);
	snprintf(script, sizeof(script), "%s%s", tls_server, lines);
	return tcli_sh(script, r);
}

/* `get` without and with the CA: both exit statuses, then stderr of the
 * first. */
static const char tls_get[] =
	"\"$CLI\" --server https://127.0.0.1:$port get x 2>\"$d/err\" >/dev/null\n"
	"echo \"untrusted $?\"\n"
	"RACEBOARD_CACERT=\"$d/cert.pem\" \"$CLI\" --server "
	"https://127.0.0.1:$port get x 2>\"$d/err2\" >/dev/null\n"
	"echo \"env-ca $?\"\n"
	"\"$CLI\" --cacert \"$d/cert.pem\" --server https://127.0.0.1:$port "
	"get x 2>>\"$d/err2\" >/dev/null\n"
	"echo \"flag-ca $?\"\n"
	"cat \"$d/err\" \"$d/err2\"\n";

Test(cli_net, tls_needs_the_ca_and_says_so, .timeout = 60)
{
	struct cli_result r;

	cr_assert_eq(tls_sh(tls_get, &r), 0);
	cr_assert_eq(r.status, 0, "status %d: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "untrusted 3\n"), "%s", r.out);
	cr_assert(strstr(r.out, "cannot reach https://127.0.0.1:"), "%s",
		  r.out);
	cr_assert(strstr(r.out, ": TLS failed: "), "%s", r.out);
	cr_assert(strstr(r.out, "--cacert FILE or RACEBOARD_CACERT"), "%s",
		  r.out);
	/* With the CA the connection is made: s_server -www answers 200 with
	 * a page that is not JSON, which `get` prints as nothing. */
	cr_assert(strstr(r.out, "env-ca 0\n"), "%s", r.out);
	cr_assert(strstr(r.out, "flag-ca 0\n"), "%s", r.out);
	tcli_result_free(&r);
}

/* `watch` (WebSocket over TLS) for 2 s without, then with the CA: what
 * each printed on stderr, between markers. */
static const char tls_watch[] =
	"echo untrusted:\n"
	"timeout 2 \"$CLI\" --server https://127.0.0.1:$port watch 2>&1 >/dev/null\n"
	"echo trusted:\n"
	"timeout 2 \"$CLI\" --cacert \"$d/cert.pem\" --server "
	"https://127.0.0.1:$port watch 2>&1 >/dev/null\n"
	"echo end\n";

Test(cli_net, watch_speaks_tls_and_checks_the_certificate, .timeout = 60)
{
	struct cli_result r;
	const char *trusted;

	cr_assert_eq(tls_sh(tls_watch, &r), 0);
	cr_assert_eq(r.status, 0, "status %d: %s%s", r.status, r.out, r.err);
	trusted = strstr(r.out, "\ntrusted:\n");
	cr_assert(trusted && strstr(r.out, "\nend\n"), "%s", r.out);
	/* Untrusted: the certificate check refuses, and says how to fix it. */
	cr_assert(strstr(r.out, "raceboard watch: connecting: TLS failed: "
				"self-signed certificate (trust its CA with "
				"--cacert FILE") < trusted, "%s", r.out);
	/* Trusted: TLS is made and the upgrade asked for; s_server -www
	 * answers 200, not 101, so there is no WebSocket there. */
	cr_assert(strstr(trusted, "raceboard watch: connecting: no WebSocket "
				  "at /ws"), "%s", r.out);
	cr_assert_null(strstr(trusted, "TLS failed"), "%s", r.out);
	tcli_result_free(&r);
}
