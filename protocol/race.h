/*
 * race.h - the race model and its update rules.
 *
 * A race is a long-running task (CI pipeline, build, command, agent task)
 * plus what a UI needs to show its progress optimistically: when progress
 * and ETA last changed, the previous ETA and the last few ETA revisions.
 *
 * This layer is pure: no I/O, no clock, no randomness, no hidden state.
 * Time comes in as milliseconds since the Unix epoch ("ms"), ids come in
 * as arguments. It never includes libwebsockets or LMDB.
 *
 * Adding a field to the race: protocol/FIELDS.md lists every place.
 */
#ifndef RACEBOARD_PROTOCOL_RACE_H
#define RACEBOARD_PROTOCOL_RACE_H

#include <stddef.h>
#include <stdint.h>

/* Limits from the REST contract; server/ may lower some via config. */
#define PROTO_ID_MAX 128            /* bytes of [A-Za-z0-9._:-] */
#define PROTO_SOURCE_MAX 128        /* bytes */
#define PROTO_TITLE_MAX 1024        /* bytes */
#define PROTO_DEEPLINK_MAX 2048     /* bytes */
#define PROTO_META_KEYS_MAX 64
#define PROTO_META_KEY_MAX 256      /* bytes */
#define PROTO_META_VALUE_MAX 4096   /* bytes */
#define PROTO_EVENTS_MAX 200        /* kept per race; older ones are dropped */
#define PROTO_EVENT_TYPE_MAX 128    /* bytes */
#define PROTO_EVENT_DATA_MAX 16384  /* bytes of encoded JSON */
#define PROTO_ETA_REVISIONS_MAX 5
/* The output tail (issue 14): the last lines a producer appended, kept
 * while both hold: at most PROTO_OUTPUT_LINES_MAX lines and at most
 * PROTO_OUTPUT_BYTES_MAX bytes (the lines' UTF-8 bytes, without line
 * ends). A longer line is cut at a character boundary to fit in
 * PROTO_OUTPUT_LINE_MAX bytes, "…" included. One write carries at most
 * PROTO_OUTPUT_WRITE_MAX lines. */
#define PROTO_OUTPUT_LINES_MAX 200
#define PROTO_OUTPUT_BYTES_MAX 65536
#define PROTO_OUTPUT_LINE_MAX 1024
#define PROTO_OUTPUT_WRITE_MAX 1000
#define PROTO_HINT_MAX_SEC 86400
#define PROTO_ETA_MAX_SEC (10LL * 365 * 86400)

/* Error codes of this layer: 0 on success, negative on failure. */
enum proto_err {
	PROTO_OK = 0,
	PROTO_EINVAL = -1,  /* malformed or out-of-range input */
	PROTO_ENOMEM = -2,  /* allocation failed; nothing was changed */
	PROTO_ELIMIT = -3,  /* a size limit would be exceeded */
};

/* Returns a static, human-readable description of a proto_err code. */
const char *proto_strerror(int err);

enum proto_state {
	PROTO_STATE_QUEUED,
	PROTO_STATE_RUNNING,
	PROTO_STATE_PASSED,
	PROTO_STATE_FAILED,
	PROTO_STATE_CANCELED,
};

/* eta_source values, integers on the wire (CONTRACT-NOTES). */
enum proto_eta_source {
	PROTO_ETA_EXACT = 1,    /* e.g. a calendar event: the end is known */
	PROTO_ETA_ADAPTER = 2,  /* a producer's own estimate */
	PROTO_ETA_HISTORY = 3,  /* the server's prediction from finished races */
	PROTO_ETA_DEFAULT = 4,  /* a per-source typical duration */
	/* The server's live estimate from the race's own progress (issue
	 * 17); only the server sets it: a producer's update may carry 1..4. */
	PROTO_ETA_PROGRESS = 5,
};

/*
 * Top-level race fields as bits. The same bits say which fields an update
 * carries (struct proto_race_update.set), which optional fields a race has
 * (struct proto_race.has) and which fields an update changed (the mask
 * proto_race_apply() reports, which becomes a delta's "changes").
 */
enum proto_field {
	PROTO_F_SOURCE = 1u << 0,
	PROTO_F_TITLE = 1u << 1,
	PROTO_F_STATE = 1u << 2,
	PROTO_F_STARTED_AT = 1u << 3,
	PROTO_F_ETA_SEC = 1u << 4,
	PROTO_F_PROGRESS = 1u << 5,
	PROTO_F_DEEPLINK = 1u << 6,
	PROTO_F_METADATA = 1u << 7,
	PROTO_F_ETA_SOURCE = 1u << 8,
	PROTO_F_ETA_CONFIDENCE = 1u << 9,
	PROTO_F_UPDATE_INTERVAL_HINT = 1u << 10,
	PROTO_F_COMPLETED_AT = 1u << 11,
	PROTO_F_DURATION_SEC = 1u << 12,
	PROTO_F_LAST_PROGRESS_UPDATE = 1u << 13,
	PROTO_F_LAST_ETA_UPDATE = 1u << 14,
	PROTO_F_PREVIOUS_ETA_SEC = 1u << 15,
	PROTO_F_ETA_REVISIONS = 1u << 16,
	PROTO_F_EVENTS = 1u << 17,        /* changed: one event appended */
	PROTO_F_EVENTS_DROPPED = 1u << 18,
	PROTO_F_ID = 1u << 19,            /* update only: an id was given */
	PROTO_F_OUTPUT = 1u << 20,        /* changed: lines appended */
	PROTO_F_OUTPUT_DROPPED = 1u << 21,
};

/* One metadata entry. In a race both strings are owned and non-NULL. */
struct proto_kv {
	char *key;
	char *value; /* in an update, NULL means "remove this key" */
};

struct proto_event {
	char *type;       /* owned */
	char *data_json;  /* owned; the event's "data" re-encoded as JSON text, or NULL */
	int64_t timestamp;
};

struct proto_eta_revision {
	int64_t eta_sec;
	int64_t timestamp;
	int source;         /* enum proto_eta_source */
	double confidence;  /* 0..1 */
};

/*
 * A race. Strings are owned. Optional scalar fields are meaningful only
 * when their PROTO_F_* bit is set in `has`; source, title, state and
 * started_at are always present, as is update_interval_hint once a race
 * has been created.
 */
struct proto_race {
	char *id;
	char *source;
	char *title;
	enum proto_state state;
	int64_t started_at;
	uint32_t has;

	int64_t eta_sec;
	int progress;                 /* 0..100 */
	char *deeplink;
	int eta_source;
	double eta_confidence;
	int update_interval_hint;     /* seconds */
	int hint_explicit;            /* 1 when a producer set the hint */
	int64_t completed_at;
	int64_t duration_sec;
	int64_t last_progress_update;
	int64_t last_eta_update;
	int64_t previous_eta_sec;

	struct proto_eta_revision eta_revisions[PROTO_ETA_REVISIONS_MAX];
	size_t n_eta_revisions;       /* oldest first */

	struct proto_kv *metadata;    /* sorted by key, unique keys */
	size_t n_metadata;

	struct proto_event *events;   /* oldest first */
	size_t n_events;
	uint64_t events_dropped;      /* how many old events were discarded */

	char **output;                /* the output tail, oldest line first */
	size_t n_output;
	uint64_t output_dropped;      /* lines appended but no longer kept */
	/* How many of the newest lines the last proto_race_apply() that
	 * changed the output appended: what its delta carries. Not part of
	 * the race's value (never encoded, stored or compared). */
	size_t output_appended;
};

/*
 * A decoded create or patch request. `set` holds a PROTO_F_* bit for every
 * field the request gave a non-null value for; fields without a bit are
 * "unchanged". Server-owned fields never appear here: a decoder ignores
 * them. Strings are owned by the update and freed by
 * proto_race_update_fini().
 */
struct proto_race_update {
	uint32_t set;
	char *id;
	char *source;
	char *title;
	enum proto_state state;
	int64_t started_at;
	int64_t eta_sec;
	int progress;
	char *deeplink;
	int eta_source;
	double eta_confidence;
	int update_interval_hint;
	struct proto_kv *metadata;  /* patch entries; value NULL removes */
	size_t n_metadata;
	/* With PROTO_F_COMPLETED_AT: when a race that this update finishes
	 * really finished (a CI webhook knows; the arrival time would be
	 * late). Only server-side producers set it: the JSON decoders ignore
	 * the server-owned completed_at, so a REST client cannot. */
	int64_t completed_at;
	/* With PROTO_F_OUTPUT: lines to append to the output tail, oldest
	 * first, without line ends (no '\n'). Over-long lines are cut by
	 * proto_race_apply(), not refused. */
	char **output;
	size_t n_output;
};

/* Frees what an update owns and zeroes it. NULL is a no-op. */
void proto_race_update_fini(struct proto_race_update *u);

/* Frees a race and everything it owns. NULL is a no-op. */
void proto_race_free(struct proto_race *r);

/* Deep copy. Returns NULL on allocation failure. */
struct proto_race *proto_race_dup(const struct proto_race *r);

/*
 * Creates a race from a create request at time `now`.
 * `id` (borrowed, copied) is the race's id: the request's own when it gave
 * one, otherwise one the caller generated. Defaults: state running,
 * started_at now, update_interval_hint from the source table. The update
 * rules then apply as for any change (a given progress sets
 * last_progress_update, a given ETA records its first revision...).
 * The request must carry source and title.
 * Returns the new race (owned by the caller), or NULL with *err set to
 * PROTO_EINVAL (missing source/title, metadata over the limits) or
 * PROTO_ENOMEM.
 */
struct proto_race *proto_race_create(const struct proto_race_update *u,
				     const char *id, int64_t now, int *err);

/*
 * Applies an update to a race at time `now`, following the update rules
 * (see PROTOCOL.md and the tests in tests/test_proto_race.c).
 * Output lines are appended to the tail, cut to PROTO_OUTPUT_LINE_MAX
 * bytes, and the oldest lines (the update's own too, when it alone is
 * over a bound) dropped until the tail is within its bounds; every line
 * dropped is counted in output_dropped.
 * On success returns PROTO_OK and sets *changed (may be NULL) to the
 * PROTO_F_* bits of the fields whose value changed, server-derived ones
 * included; 0 means the update was a no-op. On failure (PROTO_EINVAL,
 * PROTO_ELIMIT when metadata would exceed its limits, PROTO_ENOMEM) the
 * race is left exactly as it was. The update is borrowed.
 */
int proto_race_apply(struct proto_race *r, const struct proto_race_update *u,
		     int64_t now, uint32_t *changed);

/*
 * Appends an event, dropping the oldest one beyond PROTO_EVENTS_MAX (and
 * counting it in events_dropped). The event's strings are taken: on
 * success the race owns them and *ev is zeroed; on failure (PROTO_ENOMEM,
 * or PROTO_EINVAL for an event without a type) the race is unchanged and
 * *ev still owns them.
 * *changed (may be NULL) gets PROTO_F_EVENTS, plus PROTO_F_EVENTS_DROPPED
 * when an old event was dropped.
 */
int proto_race_add_event(struct proto_race *r, struct proto_event *ev,
			 uint32_t *changed);

/* Frees an event's strings and zeroes it. NULL is a no-op. */
void proto_event_fini(struct proto_event *ev);

/* 1 for passed, failed and canceled. */
int proto_state_is_terminal(enum proto_state s);

/* "queued", "running", ...; never NULL for a valid state. */
const char *proto_state_name(enum proto_state s);

/* Parses a state name; returns PROTO_OK or PROTO_EINVAL. */
int proto_state_parse(const char *name, enum proto_state *out);

/*
 * The default update_interval_hint, in seconds, for a source: gitlab and
 * github 10, cmd 5, claude-code 15, google-calendar 60, anything else 10.
 */
int proto_source_default_hint(const char *source);

/* 1 when `id` is 1..PROTO_ID_MAX bytes of [A-Za-z0-9._:-]: the rule
 * for every id the server meets, stored ones included. */
int proto_id_valid(const char *id);

/*
 * 1 when a new race may take `id`: proto_id_valid() and neither "." nor
 * "..", the dot-segments a URL path resolves away (RFC 3986 5.2.4), so a
 * race under them could never be reached at /race/{id}. Every other id
 * of the charset travels through a path unchanged. Stored races keep the
 * older, wider rule so that a data directory with such a race still opens.
 */
int proto_id_creatable(const char *id);

/* Returns the metadata value for `key`, or NULL (borrowed). */
const char *proto_race_meta_get(const struct proto_race *r, const char *key);

#endif
