/*
 * test_server_h1_scan.c - the header-block scanner of server/h1_gate.c:
 * where a request's headers end, whatever the pieces it arrives in, and
 * the framing it reads (Content-Length) or refuses to frame.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "h1_gate.h"

/* Feeds `req` in pieces of `step` bytes; returns the header block's
 * length (0 when it never ended) and leaves the scanner in *s. */
static size_t scan_in_steps(struct srv_h1_scan *s, const char *req,
			    size_t step)
{
	size_t len = strlen(req), at = 0;

	memset(s, 0, sizeof(*s));
	while (at < len) {
		size_t n = len - at < step ? len - at : step;
		int done;
		size_t used = srv_h1_scan_feed(s, req + at, n, &done);

		if (done)
			return at + used;
		cr_assert_eq(used, n);
		at += n;
	}
	return 0;
}

static const char patch[] =
	"PATCH /race/a HTTP/1.1\r\nHost: x\r\n"
	"Content-Length: 14\r\n\r\n"
	"{\"progress\":5}GET /health HTTP/1.1\r\n\r\n";

Test(h1_scan, stops_at_the_end_of_the_header_block_in_any_pieces)
{
	size_t head = strstr(patch, "\r\n\r\n") + 4 - patch;

	for (size_t step = 1; step <= sizeof(patch); step++) {
		struct srv_h1_scan s;

		cr_assert_eq(scan_in_steps(&s, patch, step), head,
			     "pieces of %zu", step);
		cr_assert(s.has_length);
		cr_assert_eq(s.length, 14);
		cr_assert_not(s.unframed);
	}
}

Test(h1_scan, a_request_without_a_body_has_no_length)
{
	struct srv_h1_scan s;
	const char get[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /";

	cr_assert_eq(scan_in_steps(&s, get, 3), sizeof(get) - 1 - 5);
	cr_assert_not(s.has_length);
	cr_assert_not(s.unframed);
}

Test(h1_scan, header_names_are_case_blind_and_values_may_have_spaces)
{
	struct srv_h1_scan s;

	cr_assert_neq(scan_in_steps(&s, "POST / HTTP/1.1\r\n"
				    "cOnTeNt-LeNgTh:\t 1234 \r\n\r\n", 5), 0);
	cr_assert_eq(s.length, 1234);
	cr_assert_not(s.unframed);
}

Test(h1_scan, bare_line_feeds_end_lines_too)
{
	struct srv_h1_scan s;
	const char req[] = "POST / HTTP/1.1\nContent-Length: 2\n\nab";

	cr_assert_eq(scan_in_steps(&s, req, 4), sizeof(req) - 1 - 2);
	cr_assert_eq(s.length, 2);
}

Test(h1_scan, empty_lines_before_the_request_line_are_skipped)
{
	struct srv_h1_scan s;
	const char req[] = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";

	cr_assert_eq(scan_in_steps(&s, req, 1), sizeof(req) - 1);
}

Test(h1_scan, a_longer_name_with_the_same_start_is_another_header)
{
	struct srv_h1_scan s;

	scan_in_steps(&s, "POST / HTTP/1.1\r\nContent-Length-X: 9\r\n"
		      "X-Content-Length: 8\r\nUpgrade-Insecure-Requests: 1"
		      "\r\n\r\n", 7);
	cr_assert_not(s.has_length);
	cr_assert_not(s.unframed);
}

/* What the gate cannot frame, it hands to lws whole, as before. */
Test(h1_scan, chunked_upgrades_and_odd_lengths_are_left_unframed)
{
	static const char *const reqs[] = {
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct srv_h1_scan s;

		cr_assert_neq(scan_in_steps(&s, reqs[i], 2), 0, "%s", reqs[i]);
		cr_assert(s.unframed, "%s", reqs[i]);
	}
}
