/*
 * h1_gate.h - hands libwebsockets one pipelined HTTP/1.1 request at a time.
 *
 * lws 4.1.6 mishandles bytes that arrive after a request it has not
 * finished (docs/HARDENING.md, "HTTP/1.1 pipelining"): it re-runs the
 * finished request, or spins for ever on a request with a body whose
 * headers it had buffered. Upstream fixed part of it in 2026; Debian 12
 * ships 4.1.6. lws reads HTTP connections with recv(2) only, so this
 * module defines recv() for the process: on a connection it watches, lws
 * is given the bytes of one request (headers, then exactly Content-Length
 * body bytes), and nothing more until that request's transaction is over;
 * what follows waits in the kernel's socket buffer, where it belongs. An
 * upgrade (WebSocket, h2c) ends the watch. Everything else calls recv()
 * through unchanged.
 *
 * The scanner below is the pure part: it finds where a request's header
 * block ends and reads the three fields that frame what follows.
 */
#ifndef RACEBOARD_SERVER_H1_GATE_H
#define RACEBOARD_SERVER_H1_GATE_H

#include <stddef.h>
#include <stdint.h>

struct lws;

/* What the scanner knows of one request's header block so far. */
struct srv_h1_scan {
	uint64_t length;      /* Content-Length, when has_length */
	unsigned line;        /* bytes of the current line seen */
	unsigned name_len;    /* bytes in name[] */
	char name[20];        /* the line's start, lower-cased, while short */
	unsigned char field;  /* the header whose value is being read */
	unsigned char started;    /* the request line has begun */
	unsigned char has_length;
	unsigned char in_digits;  /* inside Content-Length's digits */
	unsigned char unframed;   /* a body or upgrade this gate cannot
				   * frame: Transfer-Encoding, Upgrade, a
				   * Content-Length it cannot read */
};

/*
 * Feeds n bytes of a request to the scanner. Returns how many belong to
 * the header block: n when it has not ended yet, else the count through
 * the empty line that ends it, and then *done is 1. Empty lines before
 * the request line are skipped, as RFC 9112 2.2 allows.
 */
size_t srv_h1_scan_feed(struct srv_h1_scan *s, const char *p, size_t n,
			int *done);

/* Sizes the table for descriptors below max_fds (once, before any
 * service thread runs). Returns 0, or -1 when out of memory. */
int srv_h1_gate_setup(size_t max_fds);

/* Marks the calling thread as one that runs an lws service loop: only
 * service threads' recv() calls are gated. Call once per thread, before
 * serving. */
void srv_h1_gate_init(void);

/* Watches the connection on fd, just adopted into lws as wsi; a NULL
 * wsi ends any watch on fd (under the server lock). Returns 0, or -1
 * when fd is beyond the table (the connection then goes unwatched, as
 * lws alone serves it). */
int srv_h1_gate_watch(int fd, struct lws *wsi);

#endif
