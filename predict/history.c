/*
 * history.c - the bounded per-key run history and its byte encoding.
 *
 * The encoding is what server/ stores in LMDB under the key; this file
 * never touches LMDB itself. Layout (little-endian), version 3:
 *
 *   u8  version (3 with a policy record; else 2, or 1 when n_shape is
 *       0, byte for byte what those versions wrote, so an older server
 *       still reads a history that has no record)
 *   u8  n_passed (<= PRED_HIST_PASSED_MAX)
 *   u8  n_other  (<= PRED_HIST_OTHER_MAX)
 *   u8  n_shape  (<= PRED_SHAPE_RUNS; 0 in version 1)
 *   n_passed x run, then n_other x (run with its outcome), oldest first;
 *   a run is 13 bytes: i64 end_ms, u32 duration_ms, u8 outcome;
 *   then n_shape x shape, oldest first: PRED_SHAPE_MARKS x u16;
 *   version 3 only: the policy record, u32 pol_n then
 *   PRED_HIST_POLICIES x u64 pol_loss_ms (written when pol_n > 0, so a
 *   history without one keeps the version 1 or 2 bytes).
 *
 * Durations are kept to the millisecond and capped at 2^32-1 ms (~49.7
 * days); longer runs are stored as that cap.
 */
#include "predict.h"
#include "internal.h"

#include <math.h>
#include <string.h>

#define RUN_BYTES 13
#define HEADER_BYTES 4
#define SHAPE_BYTES (2 * PRED_SHAPE_MARKS)
#define RECORD_BYTES (4 + 8 * PRED_HIST_POLICIES)

const int pred_shape_marks[PRED_SHAPE_MARKS] = {
	1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100
};

void pred_history_init(struct pred_history *h)
{
	memset(h, 0, sizeof *h);
}

static void push(struct pred_run *ring, size_t max, size_t *n,
		 struct pred_run r, uint8_t *outcomes, uint8_t outcome)
{
	if (*n == max) {
		memmove(ring, ring + 1, (max - 1) * sizeof *ring);
		if (outcomes)
			memmove(outcomes, outcomes + 1, max - 1);
		(*n)--;
	}
	ring[*n] = r;
	if (outcomes)
		outcomes[*n] = outcome;
	(*n)++;
}

/* Rounds to the millisecond the encoding keeps, so decode(encode(h)) == h. */
static double quantize(double sec)
{
	double ms = floor(sec * 1000.0 + 0.5);
	if (ms > 4294967295.0)
		ms = 4294967295.0;
	return ms / 1000.0;
}

static int has_shape(const uint16_t *shape)
{
	for (size_t i = 0; shape && i < PRED_SHAPE_MARKS; i++)
		if (shape[i])
			return 1;
	return 0;
}

int pred_history_add(struct pred_history *h, enum pred_outcome outcome,
		     double duration_sec, int64_t end_ms)
{
	return pred_history_add_shaped(h, outcome, duration_sec, end_ms, NULL);
}

int pred_history_add_shaped(struct pred_history *h, enum pred_outcome outcome,
			    double duration_sec, int64_t end_ms,
			    const uint16_t *shape)
{
	if (!h || !isfinite(duration_sec) || duration_sec < 0)
		return PRED_EINVAL;
	struct pred_run r = { end_ms, quantize(duration_sec) };
	switch (outcome) {
	case PRED_PASSED:
		push(h->passed, PRED_HIST_PASSED_MAX, &h->n_passed, r, NULL, 0);
		if (has_shape(shape)) {
			if (h->n_shape == PRED_SHAPE_RUNS) {
				memmove(h->shape[0], h->shape[1],
					(PRED_SHAPE_RUNS - 1) *
					sizeof h->shape[0]);
				h->n_shape--;
			}
			memcpy(h->shape[h->n_shape++], shape,
			       sizeof h->shape[0]);
		}
		return PRED_OK;
	case PRED_FAILED:
	case PRED_CANCELED:
		push(h->other, PRED_HIST_OTHER_MAX, &h->n_other, r,
		     h->other_outcome, (uint8_t)outcome);
		return PRED_OK;
	}
	return PRED_EINVAL;
}

int pred_history_add_scored(struct pred_history *h, enum pred_outcome outcome,
			    double duration_sec, int64_t end_ms,
			    const uint16_t *shape)
{
	double base[PRED_POLICIES];
	uint64_t loss[PRED_POLICIES];
	int scored = 0;

	/* Scored before the run joins: each policy's online error. The
	 * integer ms make the sums of a source the same in any order. */
	if (h && outcome == PRED_PASSED && isfinite(duration_sec) &&
	    duration_sec > 0 && pred__policy_bases(h, base) == PRED_OK) {
		for (int p = 0; p < PRED_POLICIES; p++) {
			double e = fabs(base[p] - duration_sec) * 1000.0;
			loss[p] = e < 1e15 ? (uint64_t)llround(e)
					   : (uint64_t)1e15;
		}
		scored = 1;
	}
	int rc = pred_history_add_shaped(h, outcome, duration_sec, end_ms,
					 shape);
	if (rc == PRED_OK && scored) {
		for (int p = 0; p < PRED_POLICIES; p++)
			h->pol_loss_ms[p] += loss[p];
		h->pol_n++;
	}
	return rc;
}

static void put_run(uint8_t *p, const struct pred_run *r, uint8_t outcome)
{
	uint64_t t = (uint64_t)r->end_ms;
	uint32_t d = (uint32_t)floor(r->duration_sec * 1000.0 + 0.5);
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(t >> (8 * i));
	for (int i = 0; i < 4; i++)
		p[8 + i] = (uint8_t)(d >> (8 * i));
	p[12] = outcome;
}

static void get_run(const uint8_t *p, struct pred_run *r, uint8_t *outcome)
{
	uint64_t t = 0;
	uint32_t d = 0;
	for (int i = 0; i < 8; i++)
		t |= (uint64_t)p[i] << (8 * i);
	for (int i = 0; i < 4; i++)
		d |= (uint32_t)p[8 + i] << (8 * i);
	r->end_ms = (int64_t)t;
	r->duration_sec = d / 1000.0;
	*outcome = p[12];
}

int pred_history_encode(const struct pred_history *h, uint8_t *dst,
			size_t cap, size_t *len)
{
	size_t need = HEADER_BYTES + RUN_BYTES * (h->n_passed + h->n_other) +
		SHAPE_BYTES * h->n_shape + (h->pol_n ? RECORD_BYTES : 0);
	if (!dst || cap < need)
		return PRED_ELIMIT;
	dst[0] = h->pol_n ? PRED_HIST_VERSION : h->n_shape ? 2 : 1;
	dst[1] = (uint8_t)h->n_passed;
	dst[2] = (uint8_t)h->n_other;
	dst[3] = (uint8_t)h->n_shape;
	uint8_t *p = dst + HEADER_BYTES;
	for (size_t i = 0; i < h->n_passed; i++, p += RUN_BYTES)
		put_run(p, &h->passed[i], PRED_PASSED);
	for (size_t i = 0; i < h->n_other; i++, p += RUN_BYTES)
		put_run(p, &h->other[i], h->other_outcome[i]);
	for (size_t i = 0; i < h->n_shape; i++)
		for (size_t k = 0; k < PRED_SHAPE_MARKS; k++) {
			*p++ = (uint8_t)(h->shape[i][k] & 0xff);
			*p++ = (uint8_t)(h->shape[i][k] >> 8);
		}
	if (h->pol_n) {
		uint32_t n = h->pol_n > UINT32_MAX ? UINT32_MAX
						   : (uint32_t)h->pol_n;
		for (int i = 0; i < 4; i++)
			*p++ = (uint8_t)(n >> (8 * i));
		for (int q = 0; q < PRED_HIST_POLICIES; q++)
			for (int i = 0; i < 8; i++)
				*p++ = (uint8_t)(h->pol_loss_ms[q] >> (8 * i));
	}
	*len = need;
	return PRED_OK;
}

int pred_history_decode(const uint8_t *src, size_t len,
			struct pred_history *h)
{
	if (!src || len < 1)
		return PRED_EINVAL;
	if (src[0] != 1 && src[0] != 2 && src[0] != PRED_HIST_VERSION)
		return PRED_EVERSION;
	if (len < HEADER_BYTES)
		return PRED_EINVAL;
	size_t np = src[1], no = src[2], ns = src[3];
	size_t rec = src[0] == PRED_HIST_VERSION ? RECORD_BYTES : 0;
	if (np > PRED_HIST_PASSED_MAX || no > PRED_HIST_OTHER_MAX ||
	    ns > PRED_SHAPE_RUNS || (src[0] == 1 && ns) ||
	    len != HEADER_BYTES + RUN_BYTES * (np + no) + SHAPE_BYTES * ns +
		   rec)
		return PRED_EINVAL;

	/* Decode into a copy so a bad entry leaves *h untouched. */
	struct pred_history tmp;
	pred_history_init(&tmp);
	const uint8_t *p = src + HEADER_BYTES;
	for (size_t i = 0; i < np; i++, p += RUN_BYTES) {
		uint8_t oc;
		get_run(p, &tmp.passed[i], &oc);
		if (oc != PRED_PASSED)
			return PRED_EINVAL;
	}
	for (size_t i = 0; i < no; i++, p += RUN_BYTES) {
		uint8_t oc;
		get_run(p, &tmp.other[i], &oc);
		if (oc != PRED_FAILED && oc != PRED_CANCELED)
			return PRED_EINVAL;
		tmp.other_outcome[i] = oc;
	}
	for (size_t i = 0; i < ns; i++)
		for (size_t k = 0; k < PRED_SHAPE_MARKS; k++, p += 2)
			tmp.shape[i][k] = (uint16_t)(p[0] | p[1] << 8);
	if (rec) {
		for (int i = 0; i < 4; i++)
			tmp.pol_n |= (uint64_t)*p++ << (8 * i);
		for (int q = 0; q < PRED_HIST_POLICIES; q++)
			for (int i = 0; i < 8; i++)
				tmp.pol_loss_ms[q] |= (uint64_t)*p++ << (8 * i);
		if (!tmp.pol_n)
			return PRED_EINVAL; /* version 3 is written with one */
	}
	tmp.n_passed = np;
	tmp.n_other = no;
	tmp.n_shape = ns;
	*h = tmp;
	return PRED_OK;
}

const char *pred_strerror(int err)
{
	switch (err) {
	case PRED_OK: return "success";
	case PRED_EINVAL: return "invalid argument";
	case PRED_ENOMEM: return "out of memory";
	case PRED_ELIMIT: return "size limit exceeded";
	case PRED_EVERSION: return "unknown history encoding version";
	case PRED_ENODATA: return "not enough data";
	}
	return "unknown error";
}
