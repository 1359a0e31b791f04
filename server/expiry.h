/*
 * expiry.h - when finished races leave the list: a min-heap by due time.
 *
 * Entries are hints, checked when they come due (the race may have been
 * restarted, re-finished or dismissed since), so updates never search the
 * heap and expiry costs O(expired * log n). Service thread only.
 */
#ifndef RACEBOARD_SERVER_EXPIRY_H
#define RACEBOARD_SERVER_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

struct srv_expiry_item {
	int64_t due;           /* ms */
	int64_t completed_at;  /* the finish this entry is about */
	char *id;              /* owned */
};

struct srv_expiry {
	struct srv_expiry_item *items;
	size_t n, cap;
};

/* Records that race `id`, finished at completed_at, is due at
 * completed_at + ttl_sec. On allocation failure the hint is lost: the
 * race then stays listed until dismissed or the server restarts. */
void srv_expiry_push(struct srv_expiry *x, const char *id,
		     int64_t completed_at, int64_t ttl_sec);

/* Pops the earliest entry due at or before `now`: returns its id (caller
 * frees) and sets *completed_at, or returns NULL when nothing is due. */
char *srv_expiry_pop_due(struct srv_expiry *x, int64_t now,
			 int64_t *completed_at);

/* Frees every entry. */
void srv_expiry_fini(struct srv_expiry *x);

#endif
