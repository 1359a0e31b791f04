/*
 * h1_gate.c - one pipelined HTTP/1.1 request at a time for lws 4.1.6
 * (why: h1_gate.h and docs/HARDENING.md).
 *
 * Each watched connection is in one of four modes:
 *   HEAD  reading a request's header block: lws gets what has arrived up
 *         to the empty line that ends it, plus as much of the body as
 *         came with it, never a byte of the next request;
 *   BODY  the rest of the body, up to Content-Length;
 *   HOLD  the request is all in lws's hands: reads find nothing
 *         (EAGAIN) until its transaction is over, which lws shows by
 *         dropping the request's header table (lws_http_transaction_
 *         completed); then HEAD again;
 *   OFF   not watched, or upgraded: recv() as usual.
 * HEAD peeks (MSG_PEEK) and then takes only its share, so the next
 * request stays in the kernel and lws sees it as fresh input once it is
 * ready for it, the one case 4.1.6 gets right.
 *
 * Service threads only: other threads' recv() calls pass straight
 * through. The fd table is indexed by descriptor and sized once, before
 * the service threads start, to the descriptor limit: it never moves, so
 * the two service threads (loop.h) read their own connections' entries
 * without a lock, even while lws reads outside the server lock. Every
 * connection a service thread reads with recv() was accepted by
 * listen.c, which watches it first, so a reused descriptor never
 * inherits a stale watch.
 */
/* glibc's fortified recv() is an inline wrapper that would clash with
 * the definition below. */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <libwebsockets.h>

#include "h1_gate.h"
#include "hdr.h"

enum field { F_NAME, F_OTHER, F_LENGTH };
enum mode { GATE_OFF, GATE_HEAD, GATE_BODY, GATE_HOLD };

struct gate {
	struct lws *wsi;
	uint64_t body_left;
	struct srv_h1_scan scan;
	unsigned char mode;
};

static struct gate *gates;
static size_t gates_n;
static _Thread_local int on_service_thread;

/* The name just ended with ':' decides what its value means to us. */
static void end_name(struct srv_h1_scan *s)
{
	static const struct {
		const char *name;
		int unframed;
	} fields[] = {
		{"content-length", 0},
		{"transfer-encoding", 1}, /* chunked: lws 4.1.6 cannot read it */
		{"upgrade", 1},           /* WebSocket, h2c: lws's from here */
	};

	s->field = F_OTHER;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strlen(fields[i].name) != s->name_len ||
		    memcmp(fields[i].name, s->name, s->name_len))
			continue;
		if (fields[i].unframed || s->has_length)
			s->unframed = 1; /* a second length: not ours to judge */
		else
			s->field = F_LENGTH;
		return;
	}
}

/* One byte of Content-Length's value: optional spaces, digits, spaces. */
static void length_byte(struct srv_h1_scan *s, char c)
{
	if (c == ' ' || c == '\t') {
		if (s->in_digits == 1)
			s->in_digits = 2;
		return;
	}
	if (c < '0' || c > '9' || s->in_digits == 2 ||
	    s->length > (UINT64_MAX - 9) / 10) {
		s->unframed = 1;
		s->field = F_OTHER;
		return;
	}
	s->length = s->length * 10 + (uint64_t)(c - '0');
	s->in_digits = 1;
	s->has_length = 1;
}

size_t srv_h1_scan_feed(struct srv_h1_scan *s, const char *p, size_t n,
			int *done)
{
	*done = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\n') {
			if (!s->line && s->started) {
				*done = 1;
				return i + 1;
			}
			if (s->field == F_LENGTH && !s->in_digits)
				s->unframed = 1; /* "Content-Length:" empty */
			s->line = 0;
			s->name_len = 0;
			s->field = F_NAME;
			s->in_digits = 0;
			continue;
		}
		if (c == '\r')
			continue;
		s->started = 1;
		s->line++;
		if (s->field == F_LENGTH) {
			length_byte(s, c);
		} else if (s->field == F_NAME) {
			if (c == ':')
				end_name(s);
			else if (s->name_len < sizeof(s->name))
				s->name[s->name_len++] =
					(char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			else
				s->field = F_OTHER; /* longer than any we read */
		}
	}
	return n;
}

void srv_h1_gate_init(void)
{
	on_service_thread = 1;
}

int srv_h1_gate_setup(size_t max_fds)
{
	if (gates)
		return 0;
	gates = calloc(max_fds, sizeof(*gates));
	if (!gates)
		return -1;
	gates_n = max_fds;
	return 0;
}

int srv_h1_gate_watch(int fd, struct lws *wsi)
{
	if (fd < 0 || (size_t)fd >= gates_n)
		return -1;
	memset(&gates[fd], 0, sizeof(gates[fd]));
	gates[fd].wsi = wsi;
	gates[fd].mode = wsi ? GATE_HEAD : GATE_OFF;
	return 0;
}

/*
 * HEAD: peek at what has arrived, and take the header block's share of it
 * and the body that came along, nothing past that request's end.
 */
static ssize_t read_head(int fd, struct gate *g, void *buf, size_t len)
{
	ssize_t n = recvfrom(fd, buf, len, MSG_PEEK, NULL, NULL), got;
	size_t take;
	int done;

	if (n <= 0)
		return n; /* end of stream or an error: lws hears it as is */
	take = srv_h1_scan_feed(&g->scan, buf, (size_t)n, &done);
	if (done && g->scan.unframed) {
		g->mode = GATE_OFF;
		take = (size_t)n;
	} else if (done) {
		uint64_t with = (size_t)n - take;

		if (with > g->scan.length)
			with = g->scan.length;
		take += (size_t)with;
		g->body_left = g->scan.length - with;
		g->mode = g->body_left ? GATE_BODY : GATE_HOLD;
	}
	got = recvfrom(fd, buf, take, 0, NULL, NULL);
	if (got >= 0 && (size_t)got != take)
		g->mode = GATE_OFF; /* cannot happen on TCP; never misframe */
	return got;
}

/*
 * lws calls recv(fd, buf, len, 0) for every HTTP read. Returns as recv(2)
 * does; a held connection reads as "nothing yet" (-1, EAGAIN), which lws
 * takes as "try again when it polls readable".
 */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct gate *g = NULL;
	ssize_t n;

	if (on_service_thread && !flags && fd >= 0 && (size_t)fd < gates_n)
		g = &gates[fd];
	if (!g || g->mode == GATE_OFF)
		return recvfrom(fd, buf, len, flags, NULL, NULL);

	switch (g->mode) {
	case GATE_HOLD:
		/* Its transaction is over once lws has let go of its
		 * request line. */
		if (srv_hdr_method(g->wsi)) {
			errno = EAGAIN;
			return -1;
		}
		memset(&g->scan, 0, sizeof(g->scan));
		g->mode = GATE_HEAD;
		/* fallthrough */
	case GATE_HEAD:
		return read_head(fd, g, buf, len);
	default: /* GATE_BODY */
		if (len > g->body_left)
			len = (size_t)g->body_left;
		n = recvfrom(fd, buf, len, 0, NULL, NULL);
		if (n > 0 && !(g->body_left -= (uint64_t)n))
			g->mode = GATE_HOLD;
		return n;
	}
}
