/*
 * test_server_pipeline.c - HTTP/1.1 pipelining against the real server
 * (issue 12, item 2): several requests in one TCP send, or split across
 * sends anywhere, on one kept-alive connection. Every request is
 * answered, in order, and writes apply in order, whatever the mix of
 * reads and writes; the server stays responsive and still stops on
 * SIGTERM.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"

static struct server_proc srv;

static void start(void)
{
	cr_assert_eq(server_start(&srv, NULL), 0, "server did not start");
}

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(pipeline, .init = start, .fini = stop, .timeout = 60);

/* The request bytes of one step of a mix; the race is "p". */
static size_t request(char *out, size_t cap, char kind, int i)
{
	char body[128];
	const char *line = NULL;
	int n;

	switch (kind) {
	case 'G': line = "GET /health"; break;
	case 'R': line = "GET /race/p"; break;
	case 'D': line = "DELETE /race/p"; break;
	case 'C':
		snprintf(body, sizeof(body), "{\"id\":\"p\",\"source\":\"cmd\","
			 "\"title\":\"pipelined\",\"progress\":%d}", i);
		line = "POST /race";
		break;
	case 'P':
		snprintf(body, sizeof(body), "{\"progress\":%d}", i);
		line = "PATCH /race/p";
		break;
	case 'E':
		snprintf(body, sizeof(body), "{\"type\":\"log\","
			 "\"data\":\"event %d\"}", i);
		line = "POST /race/p/event";
		break;
	default:
		cr_assert_fail("unknown step %c", kind);
	}
	if (kind == 'G' || kind == 'R' || kind == 'D')
		n = snprintf(out, cap, "%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			     line);
	else
		n = snprintf(out, cap, "%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s", line,
			     strlen(body), body);
	cr_assert(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* Writes all of it, or fails the test. */
static void send_all(int fd, const char *p, size_t n)
{
	cr_assert_eq(http_send_all(fd, p, n), 0, "send failed");
}

/*
 * Sends the mix (one letter per request, see request()) on one
 * connection: all in one send() when piece is 0, else in sends of `piece`
 * bytes 2 ms apart, so splits land inside request lines, headers and
 * bodies. Reads one response per request into statuses[] (0: none).
 * Returns the connection, open.
 */
static int run_mix(const char *mix, size_t piece, int *statuses,
		   json_object **last_body)
{
	size_t len = 0, cap = 512 * strlen(mix);
	char *all = malloc(cap);
	int fd = http_connect(srv.port);

	cr_assert(all && fd >= 0);
	for (int i = 0; mix[i]; i++)
		len += request(all + len, cap - len, mix[i], (i + 1) * 10);
	if (!piece) {
		send_all(fd, all, len);
	} else {
		for (size_t at = 0; at < len; at += piece) {
			send_all(fd, all + at, len - at < piece ? len - at
								 : piece);
			nanosleep(&(struct timespec){0, 2000000}, NULL);
		}
	}
	free(all);
	for (int i = 0; mix[i]; i++) {
		struct http_response r;

		statuses[i] = 0;
		if (http_read_response(fd, &r))
			break;
		statuses[i] = r.status;
		if (last_body && !mix[i + 1]) {
			*last_body = json_tokener_parse(r.body);
			cr_assert(*last_body, "not JSON: %s", r.body);
		}
		http_response_free(&r);
	}
	return fd;
}

static void expect_mix(const char *mix, size_t piece, const int *want)
{
	int got[16];
	int fd;

	cr_assert_lt(strlen(mix), sizeof(got) / sizeof(got[0]));
	fd = run_mix(mix, piece, got, NULL);
	for (size_t i = 0; mix[i]; i++)
		cr_expect_eq(got[i], want[i], "%s (pieces of %zu): reply %zu is "
			     "%d, not %d", mix, piece, i + 1, got[i], want[i]);
	close(fd);
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_int64(v);
}

static void create_race(void)
{
	expect_mix("C", 0, (int[]){201});
}

Test(pipeline, three_gets_in_one_send_get_three_answers)
{
	expect_mix("GGG", 0, (int[]){200, 200, 200});
}

Test(pipeline, every_mix_of_reads_and_writes_is_answered_in_order)
{
	static const struct {
		const char *mix;
		int want[6];
	} cases[] = {
		{"GR", {200, 200}},   {"GP", {200, 200}},
		{"PG", {200, 200}},   {"PP", {200, 200}},
		{"EE", {200, 200}},   {"PE", {200, 200}},
		{"RPR", {200, 200, 200}},
		{"PEGPR", {200, 200, 200, 200, 200}},
	};

	create_race();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_mix(cases[i].mix, 0, cases[i].want);
}

/* The order of the replies is the order of the requests: a read after a
 * create and before a delete sees the race, the read after does not. */
Test(pipeline, a_create_read_delete_read_sequence_keeps_its_order)
{
	expect_mix("RCRDR", 0, (int[]){404, 201, 200, 200, 404});
}

Test(pipeline, writes_apply_in_request_order)
{
	json_object *race = NULL;
	int got[6];
	int fd;

	create_race();
	fd = run_mix("PPPPPR", 0, got, &race);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(got[i], 200, "reply %d: %d", i + 1, got[i]);
	/* request() gives step i the progress (i + 1) * 10. */
	cr_assert_eq(num(race, "progress"), 50);
	json_object_put(race);
	close(fd);
}

Test(pipeline, requests_split_anywhere_across_sends_are_answered)
{
	static const size_t pieces[] = {1, 7, 50, 101};

	create_race();
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		expect_mix("PGEPR", pieces[i], (int[]){200, 200, 200, 200, 200});
}

Test(pipeline, events_pipelined_are_all_kept_in_order)
{
	json_object *race = NULL, *events, *ev;
	int got[5];
	int fd;

	create_race();
	fd = run_mix("EEEER", 0, got, &race);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(got[i], 200, "event %d: %d", i + 1, got[i]);
	cr_assert(json_object_object_get_ex(race, "events", &events));
	cr_assert_geq(json_object_array_length(events), 4);
	for (size_t i = 0; i < 4; i++) {
		char want[32];
		json_object *msg;
		size_t at = json_object_array_length(events) - 4 + i;

		ev = json_object_array_get_idx(events, at);
		cr_assert(json_object_object_get_ex(ev, "data", &msg));
		snprintf(want, sizeof(want), "event %zu", (i + 1) * 10);
		cr_assert_str_eq(json_object_get_string(msg), want);
	}
	json_object_put(race);
	close(fd);
}

/* The connection stays usable after a pipelined burst: a later request
 * on it is answered, and so are other clients meanwhile. */
Test(pipeline, the_connection_and_the_server_stay_responsive)
{
	struct http_response r;
	int got[4], fd;
	char req[512];
	size_t n;

	create_race();
	fd = run_mix("PPEG", 0, got, NULL);
	cr_assert_eq(got[3], 200);
	cr_assert_eq(http_request(srv.port, "GET", "/health", NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	http_response_free(&r);
	n = request(req, sizeof(req), 'R', 0);
	send_all(fd, req, n);
	cr_assert_eq(http_read_response(fd, &r), 0);
	cr_assert_eq(r.status, 200);
	http_response_free(&r);
	close(fd);
}

/* The defect this replaces left the process spinning, deaf to SIGTERM. */
Test(pipeline, sigterm_still_stops_the_server_after_pipelined_writes)
{
	int got[5];

	create_race();
	close(run_mix("PPEPE", 0, got, NULL));
	cr_assert_eq(got[4], 200);
	cr_assert_eq(server_stop(&srv), 0, "no clean exit on SIGTERM");
}
