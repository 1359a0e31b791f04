/*
 * hooks_http.c - POST /hooks/github and POST /hooks/gitlab.
 *
 * A delivery is checked in this order, and a refused one changes
 * nothing: the route exists only with its secret configured (404); the
 * method is POST (405); the sender proves the secret (401): GitHub signs
 * the raw body (X-Hub-Signature-256, HMAC-SHA256, compared with
 * CRYPTO_memcmp), GitLab sends the secret itself (X-Gitlab-Token,
 * compared as SHA-256 digests so the time taken tells nothing about it);
 * a delivery id seen before is answered 200 "duplicate"; then hooks/
 * maps the payload (400 when it lacks what the mapping needs, 202 for
 * events not mapped, 200 for a ping) and hook_change_fit() drops a
 * delivery that would move its race back (200 "stale"). What is left
 * goes through the write path like any REST write, so it is durable
 * before it is answered and published.
 *
 * Service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "hooks.h"
#include "hdr.h"
#include "hooks_http.h"
#include "routes.h"
#include "server.h"
#include "util.h"

struct delivery {
	char id[SRV_HOOKS_HEADER_MAX];
	int gitlab;
};

/* The last SRV_HOOKS_DELIVERIES deliveries, oldest overwritten first.
 * Looked up by a linear scan: deliveries come at CI pace, and 4096
 * short compares take microseconds. */
struct srv_hooks {
	struct delivery seen[SRV_HOOKS_DELIVERIES];
	size_t next, n;
};

struct srv_hooks *srv_hooks_new(void)
{
	return calloc(1, sizeof(struct srv_hooks));
}

void srv_hooks_free(struct srv_hooks *h)
{
	free(h);
}

int srv_hooks_is_path(const char *path)
{
	return !strncmp(path, "/hooks", 6) && (path[6] == '\0' ||
					       path[6] == '/');
}

static int seen(const struct srv_hooks *h, int gitlab, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->seen[i].gitlab == gitlab && !strcmp(h->seen[i].id, id))
			return 1;
	return 0;
}

void srv_hooks_answered(struct srv_ctx *srv, struct srv_hook_headers *hd,
			int status)
{
	struct srv_hooks *h = srv->hooks;

	if (!h || !hd || !hd->remember || status < 200 || status > 299 ||
	    seen(h, hd->gitlab, hd->delivery))
		return;
	hd->remember = 0;
	snprintf(h->seen[h->next].id, sizeof(h->seen[0].id), "%s",
		 hd->delivery);
	h->seen[h->next].gitlab = hd->gitlab;
	h->next = (h->next + 1) % SRV_HOOKS_DELIVERIES;
	if (h->n < SRV_HOOKS_DELIVERIES)
		h->n++;
}

/* Copies one custom header ("x-github-event:"); *has is 1 when present,
 * and the value is "" when too long (so it matches nothing). */
static void copy_header(struct lws *wsi, const char *name, char *dst,
			int *has)
{
	const char *v = srv_hdr_custom(wsi, name, dst, SRV_HOOKS_HEADER_MAX);

	*has = v != NULL;
	if (v != dst)
		dst[0] = '\0';
}

struct srv_hook_headers *srv_hooks_capture(struct lws *wsi, const char *path)
{
	struct srv_hook_headers *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->gitlab = !strncmp(path, "/hooks/gitlab", 13);
	if (h->gitlab) {
		copy_header(wsi, "x-gitlab-event:", h->event, &h->has_event);
		copy_header(wsi, "x-gitlab-event-uuid:", h->delivery,
			    &h->has_delivery);
		copy_header(wsi, "x-gitlab-token:", h->token, &h->has_token);
	} else {
		copy_header(wsi, "x-github-event:", h->event, &h->has_event);
		copy_header(wsi, "x-github-delivery:", h->delivery,
			    &h->has_delivery);
		copy_header(wsi, "x-hub-signature-256:", h->signature,
			    &h->has_signature);
	}
	return h;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 when `sig` is "sha256=<64 hex>" and equals HMAC-SHA256(secret, body). */
static int github_signed(const char *secret, const char *sig,
			 const char *body, size_t len)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[SHA256_DIGEST_LENGTH];
	unsigned int want_len = 0;

	if (strncmp(sig, "sha256=", 7) || strlen(sig) != 7 + 2 * sizeof(got))
		return 0;
	for (size_t i = 0; i < sizeof(got); i++) {
		int hi = hexval(sig[7 + 2 * i]), lo = hexval(sig[8 + 2 * i]);

		if (hi < 0 || lo < 0)
			return 0;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
		  (const unsigned char *)(body ? body : ""), len, want,
		  &want_len) || want_len != sizeof(got))
		return 0;
	return CRYPTO_memcmp(want, got, sizeof(got)) == 0;
}

/* 1 when the token equals the secret. Both are hashed first, so the
 * compare runs over equal lengths whatever was sent. */
static int gitlab_token_ok(const char *secret, const char *token)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	if (!SHA256((const unsigned char *)secret, strlen(secret), a) ||
	    !SHA256((const unsigned char *)token, strlen(token), b))
		return 0;
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* {"status": status, "message": msg[, "id": id][, "delivery": d]} */
static void reply_status(struct srv_requester *rq, int code,
			 const char *status, const char *msg, const char *id,
			 const char *delivery)
{
	json_object *o = json_object_new_object();
	struct srv_result res = {.status = code};

	if (o) {
		json_object_object_add(o, "status",
				       json_object_new_string(status));
		json_object_object_add(o, "message",
				       json_object_new_string(msg));
		if (id)
			json_object_object_add(o, "id",
					       json_object_new_string(id));
		if (delivery && *delivery)
			json_object_object_add(o, "delivery",
					       json_object_new_string(delivery));
		res.buf = srv_json_encode(o, LWS_PRE, &res.len);
		json_object_put(o);
	}
	if (!res.buf) {
		srv_reply_error(rq, 503, "out_of_memory", NULL,
				"the server is out of memory");
		return;
	}
	rq->complete(rq, &res);
	free(res.buf);
}

/* The sender proves the secret; 1 when it did, else answered 401. */
static int authentic(const struct srv_cfg *cfg,
		     const struct srv_http_request *req,
		     struct srv_requester *rq)
{
	const struct srv_hook_headers *h = req->hook;

	if (h->gitlab) {
		if (!h->has_token) {
			srv_reply_error(rq, 401, "unauthorized",
					"X-Gitlab-Token", "the X-Gitlab-Token "
					"header is missing");
			return 0;
		}
		if (!gitlab_token_ok(cfg->gitlab_secret, h->token)) {
			srv_reply_error(rq, 401, "unauthorized",
					"X-Gitlab-Token", "X-Gitlab-Token does "
					"not match the server's GitLab secret");
			return 0;
		}
		return 1;
	}
	if (!h->has_signature) {
		srv_reply_error(rq, 401, "unauthorized", "X-Hub-Signature-256",
				"the X-Hub-Signature-256 header is missing; "
				"set a secret on the webhook");
		return 0;
	}
	if (!github_signed(cfg->github_secret, h->signature, req->body,
			   req->body_len)) {
		srv_reply_error(rq, 401, "unauthorized", "X-Hub-Signature-256",
				"X-Hub-Signature-256 does not match the body "
				"signed with the server's GitHub secret");
		return 0;
	}
	return 1;
}

/* Writes a mapped change: the update, then its event, in one loop turn,
 * so in one commit: both are stored or neither. rq gets the update's
 * answer (201 for a new race, 200 otherwise), which comes once that
 * commit is done; its body is the race before the event. */
static void write_change(struct srv_ctx *srv, struct hook_change *c,
			 struct srv_requester *rq)
{
	const struct proto_race *cur = srv_write_get(srv->wp, c->update.id);

	if (!cur && srv_write_table(srv->wp)->count >=
		    srv->cfg->max_races) {
		srv_reply_error(rq, 409, "race_limit", NULL,
				"the server holds its maximum number of races; "
				"dismiss finished ones or raise --max-races");
		return;
	}
	if (c->has_event) {
		/* One log entry in cluster mode (docs/CLUSTER.md). */
		srv_write_create_event(srv->wp, rq, &c->update, &c->event);
		c->has_event = 0; /* taken */
	} else {
		srv_write_create(srv->wp, rq, &c->update);
	}
}

void srv_hooks_handle(struct srv_ctx *srv, const struct srv_http_request *req,
		      struct srv_requester *rq)
{
	struct srv_hook_headers *h = req->hook;
	const char *p = req->path, *secret;
	struct hook_change c;
	struct proto_json_error err = {0};
	int gitlab, rc;

	if (!strcmp(p, "/hooks/github") || !strcmp(p, "/hooks/github/"))
		gitlab = 0;
	else if (!strcmp(p, "/hooks/gitlab") || !strcmp(p, "/hooks/gitlab/"))
		gitlab = 1;
	else
		gitlab = -1;
	secret = gitlab < 0 ? "" : gitlab ? srv->cfg->gitlab_secret :
					     srv->cfg->github_secret;
	if (!secret[0] || !h) {
		srv_reply_error(rq, 404, "not_found", NULL, "no such path");
		return;
	}
	if (req->method != SRV_HTTP_POST) {
		srv_reply_error(rq, 405, "method_not_allowed", NULL,
				"webhooks are delivered with POST");
		return;
	}
	if (!authentic(srv->cfg, req, rq))
		return;
	if (h->delivery[0] && srv->hooks &&
	    seen(srv->hooks, h->gitlab, h->delivery)) {
		reply_status(rq, 200, "duplicate", "this delivery was applied "
			     "before", NULL, h->delivery);
		return;
	}
	rc = gitlab ? hook_gitlab_map(h->has_event ? h->event : NULL,
				      req->body, req->body_len, &c, &err)
		    : hook_github_map(h->has_event ? h->event : NULL,
				      req->body, req->body_len, &c, &err);
	if (rc == PROTO_ENOMEM) {
		srv_reply_error(rq, 503, "out_of_memory", NULL,
				"the server is out of memory");
		return;
	}
	if (rc) {
		srv_reply_error(rq, 400, err.code ? err.code : "invalid_json",
				err.field, err.message);
		return;
	}
	h->remember = h->delivery[0] != '\0';
	switch (c.outcome) {
	case HOOK_PING:
		reply_status(rq, 200, "pong", "the webhook reaches Raceboard",
			     NULL, h->delivery);
		break;
	case HOOK_IGNORED:
		reply_status(rq, 202, "ignored", c.why, NULL, h->delivery);
		break;
	case HOOK_RACE:
		if (hook_change_fit(&c, srv_write_get(srv->wp, c.update.id)))
			reply_status(rq, 200, "stale", "the race is further "
				     "along than this delivery says; nothing "
				     "changed", c.update.id, h->delivery);
		else
			write_change(srv, &c, rq);
		break;
	}
	hook_change_fini(&c);
}
