/*
 * write_fixture.h - a write path over a real LMDB store in a temporary
 * directory, for the unit tests of the write path and the hub. No lws
 * context is attached, so nothing commits until srv_write_flush(): a
 * test decides when a batch ends.
 */
#ifndef RACEBOARD_TESTS_WRITE_FIXTURE_H
#define RACEBOARD_TESTS_WRITE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "write.h"

#define WF_MAX 64

/* One answer a requester got, in the order it got it. */
struct wf_answer {
	int order;             /* global order of every callback */
	int resumed;           /* a srv_write_wait() resume, not a result */
	int status;
	uint64_t seq;
	char code[32], field[32], message[SRV_ERROR_MESSAGE_MAX];
	char body[512];        /* the reply JSON, truncated */
	int busy;              /* srv_write_busy() when called back */
};

struct wf_requester {
	struct srv_requester rq;
	struct wf_fixture *fx;
	struct wf_answer a[WF_MAX];
	int n;
};

/* One published change. */
struct wf_change {
	uint64_t seq;
	int op;
	char id[PROTO_ID_MAX + 1];
	int state, prev_state;
};

struct wf_fixture {
	char dir[64];
	struct srv_cfg cfg;
	struct store_opts opts;
	struct store *st;
	struct srv_write *wp;
	struct wf_change ch[WF_MAX];
	int n_ch;
	uint64_t last_seq;     /* of the last change published */
	int order;
	void *publish_to;      /* also publish here (a hub), if set */
};

/* Opens the fixture (map sizes 0: the store's defaults); asserts. */
void wf_open(struct wf_fixture *fx, size_t map_size, size_t map_size_max);

/* Closes the write path and store, keeping the directory. */
void wf_close(struct wf_fixture *fx);

/* Reopens after wf_close(), loading what the store holds. */
void wf_reopen(struct wf_fixture *fx);

/* wf_close() and removes the directory. */
void wf_destroy(struct wf_fixture *fx);

void wf_requester_init(struct wf_requester *r, struct wf_fixture *fx);

/* Queue a create / patch from a JSON body (asserts it decodes). */
void wf_create(struct wf_fixture *fx, struct wf_requester *r,
	       const char *json);
void wf_patch(struct wf_fixture *fx, struct wf_requester *r, const char *id,
	      const char *json);

#endif
