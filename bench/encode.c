/*
 * encode.c - raceboard-bench-encode: the json-c encoders against the
 * direct writers (protocol/encode.h), in process, no server.
 *
 * For a typical race (5 ETA revisions, 5 metadata keys, 10 events with
 * data) and a minimal one it times, per encode, what server/ does for a
 * reply and a delta (build the json-c tree, print it with PLAIN |
 * NOSLASHESCAPE, copy it behind a 16-byte headroom, free it all) against
 * the direct writer into a fresh buffer that is handed off and freed, and
 * the store's record encoding both ways. It first checks that both give
 * the same bytes. Allocations are counted by wrapping malloc (not in
 * sanitizer builds, which own malloc). Then it times the decoding of
 * what producers send (a PATCH body, a create body, an event, a WebSocket
 * patch), the RFC 8259 check included. See docs/PERFORMANCE.md.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_msg.h"
#include "codec.h"
#include "delta.h"
#include "encode.h"
#include "json.h"
#include "race.h"
#include "record.h"

#define HEADROOM 16 /* stands in for LWS_PRE */
#define T0 1735787045000LL
#define API_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#else
#define COUNTING 1
/* glibc lets a program replace malloc (manual: "Replacing malloc"); these
 * count calls and forward to glibc's own allocator. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static unsigned long n_allocs;

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
	n_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	n_allocs++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	n_allocs++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-encode: %s\n", what);
	exit(1);
}

static struct proto_race *make_race(const char *create)
{
	struct proto_race_update u;
	struct proto_race *r;

	if (proto_json_decode_update(create, strlen(create), PROTO_JSON_CREATE,
				     &u, NULL) != PROTO_OK)
		die("bad create body");
	r = proto_race_create(&u, "gh-raceboard-1234", T0, NULL);
	proto_race_update_fini(&u);
	if (!r)
		die("create failed");
	return r;
}

static uint32_t patch(struct proto_race *r, const char *body, int64_t now)
{
	struct proto_race_update u;
	uint32_t changed = 0;

	if (proto_json_decode_update(body, strlen(body), PROTO_JSON_PATCH, &u,
				     NULL) != PROTO_OK ||
	    proto_race_apply(r, &u, now, &changed) != PROTO_OK)
		die("bad patch");
	proto_race_update_fini(&u);
	return changed;
}

/* 5 revisions, 5 metadata keys, 10 events: a busy CI race. */
static struct proto_race *typical_race(uint32_t *changed)
{
	struct proto_race *r = make_race(
		"{\"source\":\"github\",\"title\":\"Build #1234 of "
		"raceboard/main: compile, test, package\",\"deeplink\":"
		"\"https://github.com/example/raceboard/actions/runs/1234\","
		"\"metadata\":{\"branch\":\"main\",\"commit\":\"4e80058a1b\","
		"\"runner\":\"ubuntu-22.04\",\"author\":\"dev@example.com\","
		"\"workflow\":\"ci.yml\"}}");
	char body[256];

	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof body,
			 "{\"progress\":%d,\"eta_sec\":%d,\"eta_source\":2,"
			 "\"eta_confidence\":0.%d5}", 10 * (i + 1), 600 - 60 * i,
			 i + 3);
		*changed = patch(r, body, T0 + 30000 * (i + 1));
	}
	for (int i = 0; i < 10; i++) {
		struct proto_event ev;

		snprintf(body, sizeof body,
			 "{\"type\":\"step\",\"data\":{\"name\":\"step-%d\","
			 "\"status\":\"ok\",\"duration_ms\":%d,\"log\":"
			 "\"/tmp/build/step-%d.log\"}}", i, 1000 + i, i);
		if (proto_json_decode_event(body, strlen(body), T0 + i, &ev,
					    NULL) != PROTO_OK ||
		    proto_race_add_event(r, &ev, NULL) != PROTO_OK)
			die("bad event");
	}
	return r;
}

enum which { RACE, RECORD, DELTA_UPDATE, DELTA_CREATE };

/* One encode the way server/ does it today (srv_json_encode) or the way
 * store/ did it; returns the output (owned) and its length. */
static char *encode_json_c(enum which w, const struct proto_race *r,
			   uint32_t changed, size_t *len)
{
	json_object *o;
	const char *s;
	char *buf;

	if (w == RECORD) {
		if (proto_record_encode_json(r, &buf, len) != PROTO_OK)
			die("record_encode_json");
		return buf;
	}
	o = w == RACE ? proto_json_race(r) :
		proto_delta_new(42, T0, w == DELTA_UPDATE ? PROTO_DELTA_UPDATE :
				PROTO_DELTA_CREATE, NULL, r, changed);
	s = o ? json_object_to_json_string_length(o, API_FLAGS, len) : NULL;
	buf = s ? malloc(HEADROOM + *len + 1) : NULL;
	if (!buf)
		die("json-c encode");
	memcpy(buf + HEADROOM, s, *len + 1);
	json_object_put(o);
	return buf;
}

/* The direct writer into a fresh buffer, handed off like a frame. */
static char *encode_direct(enum which w, const struct proto_race *r,
			   uint32_t changed, size_t *len)
{
	struct proto_buf b;
	char *buf;
	int rc;

	if (w == RECORD) {
		if (proto_record_encode(r, &buf, len) != PROTO_OK)
			die("record_encode");
		return buf;
	}
	proto_buf_init(&b, HEADROOM);
	rc = w == RACE ? proto_race_write(&b, r) :
		proto_delta_write(&b, 42, T0, w == DELTA_UPDATE ?
				  PROTO_DELTA_UPDATE : PROTO_DELTA_CREATE,
				  NULL, r, changed);
	buf = rc == PROTO_OK ? proto_buf_steal(&b, len) : NULL;
	if (!buf)
		die("direct encode");
	return buf;
}

/* Best of `rounds` rounds of `iters` encodes: ns per encode, and the
 * allocations of one encode. */
static void run(enum which w, int direct, const struct proto_race *r,
		uint32_t changed, int iters, double *ns, double *allocs)
{
	size_t len;

	*ns = 1e18;
	for (int round = 0; round < 7; round++) {
		double t = now_ns();

		for (int i = 0; i < iters; i++)
			free(direct ? encode_direct(w, r, changed, &len) :
			     encode_json_c(w, r, changed, &len));
		t = (now_ns() - t) / iters;
		if (t < *ns)
			*ns = t;
	}
#if COUNTING
	n_allocs = 0;
	free(direct ? encode_direct(w, r, changed, &len) :
	     encode_json_c(w, r, changed, &len));
	*allocs = (double)n_allocs;
#else
	*allocs = -1;
#endif
}

static void compare(const char *name, enum which w,
		    const struct proto_race *r, uint32_t changed, int iters)
{
	size_t n1, n2;
	char *a = encode_json_c(w, r, changed, &n1);
	char *b = encode_direct(w, r, changed, &n2);
	size_t off = w == RECORD ? 0 : HEADROOM;
	double jns, jal, dns, dal;

	if (n1 != n2 || memcmp(a + off, b + off, n1) != 0)
		die("the two encoders disagree");
	free(a);
	free(b);
	run(w, 0, r, changed, iters, &jns, &jal);
	run(w, 1, r, changed, iters, &dns, &dal);
	printf("%-22s %6zu B  json-c %8.0f ns %4.0f allocs   direct %7.0f ns "
	       "%2.0f allocs   %5.1fx\n", name, n1, jns, jal, dns, dal,
	       jns / dns);
}

enum decode_kind { D_PATCH, D_CREATE, D_EVENT, D_WS, D_STRICT };

/* 1: decode with the json-c reference decoders instead of what the
 * server calls (the direct scanner, json-c for what it declines). */
static int decode_ref;

static void decode_once(enum decode_kind k, const char *body, size_t len)
{
	struct proto_race_update u;
	struct proto_event ev;
	struct proto_client_msg m;
	int rc = PROTO_OK;

	switch (k) {
	case D_PATCH:
	case D_CREATE:
		rc = (decode_ref ? proto_json_decode_update_json :
				   proto_json_decode_update)(
			body, len, k == D_PATCH ? PROTO_JSON_PATCH :
			PROTO_JSON_CREATE, &u, NULL);
		proto_race_update_fini(&u);
		break;
	case D_EVENT:
		rc = proto_json_decode_event(body, len, T0, &ev, NULL);
		proto_event_fini(&ev);
		break;
	case D_WS:
		rc = (decode_ref ? proto_client_msg_decode_json :
				   proto_client_msg_decode)(body, len, T0, &m,
							    NULL);
		proto_client_msg_fini(&m);
		break;
	case D_STRICT:
#ifdef PROTO_CODEC_STRICT_SYNTAX
		rc = proto_codec_strict(body, len, NULL);
#endif
		break;
	}
	if (rc != PROTO_OK)
		die("decode failed");
}

/* Best of 7 rounds of `iters` decodes of `body`. */
static void time_decode(const char *name, enum decode_kind k,
			const char *body, int iters)
{
	size_t len = strlen(body);
	double best = 1e18;

	for (int round = 0; round < 7; round++) {
		double t = now_ns();

		for (int i = 0; i < iters; i++)
			decode_once(k, body, len);
		t = (now_ns() - t) / iters;
		best = t < best ? t : best;
	}
	printf("decode %-22s %5zu B %8.0f ns%s\n", name, len, best,
	       decode_ref ? "  (json-c)" : "");
}

static void decodes(int iters)
{
	static const char patch_body[] =
		"{\"progress\":40,\"eta_sec\":75,\"eta_source\":2,"
		"\"eta_confidence\":0.65}";
	static const char create_body[] =
		"{\"id\":\"gh-raceboard-1234\",\"source\":\"github\",\"title\":"
		"\"Build #1234 of raceboard/main: compile, test, package\","
		"\"deeplink\":\"https://github.com/example/raceboard/actions/"
		"runs/1234\",\"eta_sec\":600,\"metadata\":{\"branch\":\"main\","
		"\"commit\":\"4e80058a1b\",\"runner\":\"ubuntu-22.04\","
		"\"author\":\"dev@example.com\",\"workflow\":\"ci.yml\"}}";
	static const char event_body[] =
		"{\"type\":\"step\",\"data\":{\"name\":\"step-3\",\"status\":"
		"\"ok\",\"duration_ms\":1003,\"log\":\"/tmp/build/step-3.log\"}}";
	static const char ws_patch[] =
		"{\"type\":\"patch\",\"req\":12,\"id\":\"gh-raceboard-1234\","
		"\"changes\":{\"progress\":40,\"eta_sec\":75}}";

	/* The server's decoders, then the json-c reference alone. */
	for (decode_ref = 0; decode_ref < 2; decode_ref++) {
		time_decode("patch body", D_PATCH, patch_body, iters);
		time_decode("create body", D_CREATE, create_body, iters);
		time_decode("ws patch message", D_WS, ws_patch, iters);
	}
	decode_ref = 0;
	time_decode("event body", D_EVENT, event_body, iters);
#ifdef PROTO_CODEC_STRICT_SYNTAX
	time_decode("create: RFC 8259 check", D_STRICT, create_body, iters);
	time_decode("patch: RFC 8259 check", D_STRICT, patch_body, iters);
#endif
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20000;
	uint32_t changed = 0;
	struct proto_race *typ = typical_race(&changed);
	struct proto_race *min = make_race(
		"{\"source\":\"cmd\",\"title\":\"x\"}");

	if (iters <= 0)
		die("usage: raceboard-bench-encode [iterations]");
	printf("# %d encodes per round, best of 7 rounds%s\n", iters,
	       COUNTING ? "" : " (allocations not counted: sanitizer build)");
	compare("race typical", RACE, typ, changed, iters);
	compare("race minimal", RACE, min, 0, iters);
	compare("record typical", RECORD, typ, changed, iters);
	compare("record minimal", RECORD, min, 0, iters);
	compare("delta update typical", DELTA_UPDATE, typ, changed, iters);
	compare("delta create typical", DELTA_CREATE, typ, changed, iters);
	compare("delta create minimal", DELTA_CREATE, min, 0, iters);
	/* What one confidence value costs (shared by both paths). */
	for (int k = 0; k < 2; k++) {
		static const double ds[] = {0.85, 1.0 / 3};
		char buf[PROTO_CODEC_DOUBLE_BUFSZ];
		double best = 1e18;

		for (int round = 0; round < 7; round++) {
			double t = now_ns();

			for (int i = 0; i < iters; i++)
				proto_codec_format_double(ds[k], buf);
			t = (now_ns() - t) / iters;
			best = t < best ? t : best;
		}
		printf("double %-15s (shared)      %8.0f ns\n",
		       k ? "0.3333333333..." : "0.85", best);
	}
	decodes(iters);
	proto_race_free(typ);
	proto_race_free(min);
	return 0;
}
