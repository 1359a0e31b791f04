/*
 * conn.c - plain or TLS client streams for the WebSocket client (see
 * conn.h).
 *
 * The socket is non-blocking throughout; TLS calls that want the socket
 * readable or writable wait for it with poll() until the deadline, as the
 * plain path does. SSL_write() writes with write(), so a peer that went
 * away raises SIGPIPE: the two callers (run, watch) ignore it.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli.h"

struct cli_conn {
	int fd;
	SSL_CTX *ctx; /* NULL for plain TCP */
	SSL *ssl;
};

/* Waits for what the last TLS call asked for. */
static int wait_tls(struct cli_conn *c, int ret, int64_t deadline_ms)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return cli_net_wait(c->fd, POLLIN, deadline_ms);
	case SSL_ERROR_WANT_WRITE:
		return cli_net_wait(c->fd, POLLOUT, deadline_ms);
	default:
		return CLI_EIO;
	}
}

static int is_ip_literal(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

/* Whether verify result v means the issuer is not trusted here, which a
 * CA file fixes (a name mismatch or an expired certificate it does not). */
static int untrusted_issuer(long v)
{
	return v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	       v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	       v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	       v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
	       v == X509_V_ERR_CERT_UNTRUSTED;
}

/* Says in `why` what the handshake refused, from the verify result or
 * the error queue. */
static void tls_why(SSL *ssl, const char *host, char *why, size_t cap)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();

	if (untrusted_issuer(v))
		snprintf(why, cap, "%s (trust its CA with --cacert FILE or "
			 "RACEBOARD_CACERT)", X509_verify_cert_error_string(v));
	else if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
		 v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(why, cap, "%s (the certificate is not for %s)",
			 X509_verify_cert_error_string(v), host);
	else if (v != X509_V_OK)
		snprintf(why, cap, "%s", X509_verify_cert_error_string(v));
	else if (e)
		ERR_error_string_n(e, why, cap);
	else
		snprintf(why, cap, "the handshake failed");
	ERR_clear_error();
}

/* Sets up trust and the name to check, then shakes hands. */
static int start_tls(struct cli_conn *c, const struct cli_url *u,
		     int64_t deadline_ms, char *why, size_t cap)
{
	int ok, ret;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		return CLI_ENOMEM;
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	ok = u->cacert && *u->cacert ?
	     SSL_CTX_load_verify_locations(c->ctx, u->cacert, NULL) :
	     SSL_CTX_set_default_verify_paths(c->ctx);
	if (!ok) {
		snprintf(why, cap, "cannot read the CA file %s",
			 u->cacert ? u->cacert : "(system)");
		ERR_clear_error();
		return CLI_ETLS;
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return CLI_ENOMEM;
	if (is_ip_literal(u->host)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						   u->host);
	} else {
		ok = SSL_set1_host(c->ssl, u->host) &&
		     SSL_set_tlsext_host_name(c->ssl, u->host);
	}
	if (!ok)
		return CLI_ENOMEM;
	while ((ret = SSL_connect(c->ssl)) != 1) {
		int err = SSL_get_error(c->ssl, ret), rc;

		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			tls_why(c->ssl, u->host, why, cap);
			return CLI_ETLS;
		}
		rc = wait_tls(c, ret, deadline_ms);
		if (rc)
			return rc;
	}
	return CLI_OK;
}

int cli_conn_open(const struct cli_url *u, int64_t deadline_ms,
		  struct cli_conn **out, char *why, size_t cap)
{
	struct cli_conn *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (cap)
		why[0] = '\0';
	if (!c)
		return CLI_ENOMEM;
	c->fd = cli_net_connect(u, deadline_ms);
	if (c->fd < 0) {
		rc = c->fd;
		free(c);
		return rc;
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	rc = u->tls ? start_tls(c, u, deadline_ms, why, cap) : CLI_OK;
	if (rc) {
		cli_conn_close(c);
		return rc;
	}
	*out = c;
	return CLI_OK;
}

int cli_conn_send(struct cli_conn *c, const void *buf, size_t n,
		  int64_t deadline_ms)
{
	int ret;

	if (!c->ssl)
		return cli_net_send(c->fd, buf, n, deadline_ms);
	if (!n)
		return CLI_OK;
	/* A write that must wait is retried with the same arguments. */
	while ((ret = SSL_write(c->ssl, buf, (int)n)) <= 0) {
		int rc = wait_tls(c, ret, deadline_ms);

		if (rc)
			return rc;
	}
	return CLI_OK;
}

long cli_conn_recv(struct cli_conn *c, void *buf, size_t cap,
		   int64_t deadline_ms)
{
	int ret;

	if (!c->ssl)
		return cli_net_recv(c->fd, buf, cap, deadline_ms);
	while ((ret = SSL_read(c->ssl, buf, (int)cap)) <= 0) {
		int rc;

		if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN)
			return 0;
		rc = wait_tls(c, ret, deadline_ms);
		if (rc)
			return rc;
	}
	return ret;
}

int cli_conn_fd(const struct cli_conn *c)
{
	return c->fd;
}

void cli_conn_close(struct cli_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl); /* one close_notify, not waited for */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
