/*
 * optimistic.js - the optimistic-progress rules of the Raceboard page.
 *
 * Pure functions only: no DOM, no network and no clock. Every function that
 * depends on "now" takes it as an argument, in milliseconds on the SERVER's
 * clock (see serverNow()), so the rules can be unit-tested with fixed times
 * and a client whose clock is minutes off still judges freshness correctly.
 *
 * Three kinds of state live here:
 *   - the feed state  {seq, races: Map<id, race>}, built from snapshot,
 *     delta and batch frames exactly as protocol/PROTOCOL.md describes;
 *   - a per-race track {solid, samples, finishAt, revisedAt, ...} that the
 *     page keeps beside each race (the never-regressing rail, the recent
 *     progress updates used to estimate a rate, the last expected finish);
 *   - the clock estimate {samples} from the frames' server_time.
 * None of them is mutated: each function returns a new value.
 */
import { appendOutput } from './output.js';

export const DEFAULTS = Object.freeze({
	overlayCap: 20,          /* points the overlay may run ahead of the rail */
	overlayMinProgress: 5,   /* no overlay below this reported progress */
	maxPredicted: 99,        /* a running race is never predicted at 100 */
	defaultHintSec: 10,      /* update_interval_hint when a race has none */
	staleFactor: 3,          /* stale after this many hints without news */
	revisionThresholdSec: 3, /* finish moved later by more than this: pill */
	pillMs: 10000,           /* how long the "Revised ETA" pill stays */
	rateSamples: 6,          /* progress updates kept per race for the rate */
	maxEvents: 200,          /* events kept per race, as the server does */
	clockSamples: 16,        /* recent server_time samples kept */
});

export const FINISHED_STATES = Object.freeze(['passed', 'failed', 'canceled']);
export const ETA_SOURCE_NAMES = Object.freeze({
	1: 'exact', 2: 'adapter', 3: 'history', 4: 'default',
});

/* ------------------------------------------------------------------ */
/* Time                                                                 */

/** Milliseconds since the epoch of an RFC 3339 timestamp, or NaN. */
export function parseTime(s) {
	if (typeof s !== 'string' || s === '') return NaN;
	return Date.parse(s);
}

function timeOr(s, fallback) {
	const t = parseTime(s);
	return Number.isFinite(t) ? t : fallback;
}

/* ------------------------------------------------------------------ */
/* Clock offset                                                         */

export function createClock() {
	return { samples: [] };
}

/**
 * Records one frame: serverTime is its server_time (string or ms), recvAt the
 * client's clock when it arrived (ms). A sample's offset is
 * server − client; network and processing delay only ever make it smaller
 * than the true offset, so the best samples are the largest ones.
 */
export function addClockSample(clock, serverTime, recvAt, opts = DEFAULTS) {
	const s = typeof serverTime === 'number' ? serverTime : parseTime(serverTime);
	if (!Number.isFinite(s) || !Number.isFinite(recvAt)) return clock;
	const max = opts.clockSamples ?? DEFAULTS.clockSamples;
	const samples = clock.samples.concat([s - recvAt]);
	return { samples: samples.slice(Math.max(0, samples.length - max)) };
}

/**
 * The estimated offset (server − client, ms), or 0 with no samples. It is
 * the median of the least-delayed third of the recent samples: robust to a
 * frame that sat in a queue (too small) and to a single odd one.
 */
export function clockOffset(clock) {
	const n = clock.samples.length;
	if (n === 0) return 0;
	const sorted = clock.samples.slice().sort((a, b) => b - a);
	const best = sorted.slice(0, Math.max(1, Math.ceil(n / 3)));
	const mid = best.length >> 1;
	return best.length % 2 ? best[mid] : (best[mid - 1] + best[mid]) / 2;
}

/** The server's "now" for a client clock reading. */
export function serverNow(clock, clientNow) {
	return clientNow + clockOffset(clock);
}

/* ------------------------------------------------------------------ */
/* Feed state: snapshot, delta and batch frames                          */

export function createFeed() {
	return { seq: null, races: new Map() };
}

function cloneRace(r) {
	const c = { ...r };
	if (Array.isArray(r.events)) c.events = r.events.slice();
	return c;
}

/**
 * Applies one update's changes to a race (returns a new race): each field
 * replaced by its full new value, null removing it, `event` appended to
 * `events` keeping the last maxEvents, and `output` (the lines one write
 * appended) appended to the output tail after dropping as many old lines
 * as `output_dropped` grew by (protocol/PROTOCOL.md, "The output tail").
 */
export function applyChanges(race, changes, opts = DEFAULTS) {
	const next = cloneRace(race);
	for (const [k, v] of Object.entries(changes || {})) {
		if (k === 'output') {
			if (!Array.isArray(v)) continue;
			next.output = appendOutput(race.output, race.output_dropped, v, changes.output_dropped);
		} else if (k === 'event') {
			if (v === null || typeof v !== 'object') continue;
			const events = Array.isArray(next.events) ? next.events : [];
			events.push(v);
			const max = opts.maxEvents ?? DEFAULTS.maxEvents;
			next.events = events.length > max ? events.slice(events.length - max) : events;
		} else if (v === null) {
			delete next[k];
		} else {
			next[k] = v;
		}
	}
	return next;
}

/**
 * Applies one frame to the feed. Returns {feed, changed, reset, gap} where
 * changed lists {op, id, race, prev} for every race that was created,
 * updated or deleted (race undefined after delete), reset says the whole
 * map was replaced, and gap that the frame proves a change was missed (the
 * caller should resubscribe with since). Deltas at or below the feed's seq
 * are ignored, so a replay after resuming never applies twice. `matches`,
 * when given, drops races that leave a filtered subscription.
 */
export function applyFrame(feed, frame, opts = {}) {
	const out = { feed, changed: [], reset: false, gap: false };
	if (!frame || typeof frame !== 'object') return out;
	switch (frame.type) {
	case 'snapshot': {
		const prevRaces = feed.races;
		const races = new Map();
		for (const r of Array.isArray(frame.races) ? frame.races : []) {
			if (r && typeof r.id === 'string') races.set(r.id, cloneRace(r));
		}
		for (const [id, prev] of prevRaces) {
			if (!races.has(id)) out.changed.push({ op: 'delete', id, race: undefined, prev });
		}
		for (const [id, race] of races) {
			out.changed.push({ op: prevRaces.has(id) ? 'update' : 'create', id, race, prev: prevRaces.get(id) });
		}
		out.feed = { seq: Number.isFinite(frame.seq) ? frame.seq : feed.seq, races };
		out.reset = true;
		return out;
	}
	case 'delta':
	case 'batch': {
		/* One copy of the map per frame, however many deltas it carries:
		 * with thousands of races a copy per delta costs more than the
		 * deltas themselves. The copy is private to this call until it
		 * is returned, so the feed the caller holds never changes. */
		const deltas = frame.type === 'delta' ? [frame] : Array.isArray(frame.deltas) ? frame.deltas : [];
		const work = { races: null, seq: feed.seq };
		for (const d of deltas) applyDelta(out, work, feed, d, opts);
		if (work.races !== null || work.seq !== feed.seq) {
			out.feed = { seq: work.seq, races: work.races || feed.races };
		}
		return out;
	}
	case 'heartbeat':
		if (Number.isFinite(frame.seq) && feed.seq !== null && frame.seq > feed.seq && !opts.filtered) {
			out.gap = true;
		}
		return out;
	default:
		return out;
	}
}

function applyDelta(out, work, feed, d, opts) {
	if (!d || d.type !== 'delta' || typeof d.id !== 'string') return;
	if (Number.isFinite(d.seq) && work.seq !== null && d.seq <= work.seq) return;
	const cur = work.races || feed.races;
	const prev = cur.get(d.id);
	let race;
	if (d.op === 'create' && d.race && typeof d.race === 'object') {
		race = cloneRace({ ...d.race, id: d.id });
	} else if (d.op === 'update') {
		if (!prev) {
			out.gap = true; /* an update for a race we never saw */
		} else {
			race = applyChanges(prev, d.changes, opts);
		}
	} else if (d.op === 'delete') {
		race = undefined;
	} else {
		return;
	}
	if (race && opts.matches && !opts.matches(race)) race = undefined;
	if (race || prev) {
		if (work.races === null) work.races = new Map(feed.races);
		if (race) {
			work.races.set(d.id, race);
			out.changed.push({ op: prev ? 'update' : 'create', id: d.id, race, prev });
		} else {
			work.races.delete(d.id);
			out.changed.push({ op: 'delete', id: d.id, race: undefined, prev });
		}
	}
	if (Number.isFinite(d.seq)) work.seq = d.seq;
}

/** The subscribe frame for a (re)connection after a hello. */
export function subscribeFrame(feed, hello, filter) {
	const f = { type: 'subscribe' };
	/* Resume only when the server has not gone back in time. */
	if (feed.seq !== null && !(hello && Number.isFinite(hello.seq) && hello.seq < feed.seq)) {
		f.since = feed.seq;
	}
	if (filter) f.filter = filter;
	return f;
}

/* ------------------------------------------------------------------ */
/* Per-race track: never-regressing rail, rate samples, revisions        */

export function isFinished(state) {
	return FINISHED_STATES.includes(state);
}

/** Expected finish (server ms) of a race, or null without an ETA. */
export function expectedFinish(race) {
	if (!Number.isFinite(race.eta_sec)) return null;
	const at = parseTime(race.last_eta_update);
	if (!Number.isFinite(at)) return null;
	return at + race.eta_sec * 1000;
}

/**
 * The track after seeing a race (created, updated or in a snapshot). prev
 * is the race's previous track or undefined on first sight.
 */
export function observeRace(prev, race, opts = DEFAULTS) {
	const o = { ...DEFAULTS, ...opts };
	const reported = Number.isFinite(race.progress) ? race.progress : 0;
	const restarted = !!prev && (
		(prev.started_at !== undefined && race.started_at !== prev.started_at) ||
		(isFinished(prev.state) && !isFinished(race.state)));
	const base = !prev || restarted ? null : prev;

	let solid;
	if (race.state === 'running') {
		solid = base ? Math.max(base.solid, reported) : reported;
	} else if (race.state === 'passed') {
		solid = 100; /* done is done, whatever the last report said */
	} else if (isFinished(race.state)) {
		solid = base ? Math.max(base.solid, reported) : reported;
	} else {
		solid = reported; /* queued */
	}
	solid = Math.min(100, Math.max(0, solid));

	/* Rate samples: one per distinct last_progress_update. */
	let samples = base ? base.samples : [];
	const lpu = parseTime(race.last_progress_update);
	if (Number.isFinite(race.progress) && Number.isFinite(lpu)) {
		const last = samples[samples.length - 1];
		if (!last || lpu > last.t) {
			samples = samples.concat([{ t: lpu, p: race.progress }]);
			if (samples.length > o.rateSamples) samples = samples.slice(samples.length - o.rateSamples);
		} else if (lpu === last.t && race.progress !== last.p) {
			samples = samples.slice(0, -1).concat([{ t: lpu, p: race.progress }]);
		}
	}

	/* Revision: the expected finish moved later by more than the threshold. */
	const finishAt = expectedFinish(race);
	let revisedAt = base ? base.revisedAt : null;
	let revisedBySec = base ? base.revisedBySec : 0;
	if (base && base.finishAt !== null && finishAt !== null && finishAt !== base.finishAt) {
		const shift = (finishAt - base.finishAt) / 1000;
		if (shift > o.revisionThresholdSec) {
			revisedAt = timeOr(race.last_eta_update, null);
			revisedBySec = shift;
		}
	} else if (!base && finishAt !== null) {
		/* First sight (page load, reset): read the shift off eta_revisions. */
		const rv = Array.isArray(race.eta_revisions) ? race.eta_revisions : [];
		if (rv.length >= 2) {
			const a = rv[rv.length - 2], b = rv[rv.length - 1];
			const fa = timeOr(a.timestamp, NaN) + a.eta_sec * 1000;
			const fb = timeOr(b.timestamp, NaN) + b.eta_sec * 1000;
			if (fb - fa > o.revisionThresholdSec * 1000) {
				revisedAt = timeOr(b.timestamp, null);
				revisedBySec = (fb - fa) / 1000;
			}
		}
	}

	return {
		solid, samples, finishAt, revisedAt, revisedBySec,
		state: race.state, started_at: race.started_at,
		restarted,
	};
}

/** Progress points per second from recorded updates, or null. */
export function estimateRate(samples) {
	if (!samples || samples.length < 2) return null;
	const a = samples[0], b = samples[samples.length - 1];
	const dt = (b.t - a.t) / 1000;
	if (dt <= 0) return null;
	const rate = (b.p - a.p) / dt;
	return rate > 0 ? rate : null;
}

/**
 * The rate the overlay advances at: the server's prediction when present,
 * else the page's estimate from recent updates, else what the ETA implies.
 * Returns {rate, from} or null.
 */
export function predictionRate(race, track, now) {
	const pp = race.progress_prediction;
	if (pp && Number.isFinite(pp.rate_per_sec) && pp.rate_per_sec > 0) {
		return { rate: pp.rate_per_sec, from: 'server' };
	}
	const est = estimateRate(track && track.samples);
	if (est !== null) return { rate: est, from: 'observed' };
	const finish = track ? track.finishAt : expectedFinish(race);
	const lpu = parseTime(race.last_progress_update);
	if (finish !== null && Number.isFinite(lpu) && Number.isFinite(race.progress)) {
		const secs = (finish - lpu) / 1000;
		if (secs > 0 && race.progress < 100) return { rate: (100 - race.progress) / secs, from: 'eta' };
	}
	return null;
}

function hintMs(race, o) {
	const h = Number.isFinite(race.update_interval_hint) && race.update_interval_hint > 0
		? race.update_interval_hint : o.defaultHintSec;
	return h * 1000;
}

/** True once now − last_progress_update exceeds update_interval_hint. */
export function pastTrustWindow(race, now, opts = DEFAULTS) {
	const o = { ...DEFAULTS, ...opts };
	if (race.state !== 'running' || race.eta_source === 1) return false;
	const lpu = parseTime(race.last_progress_update);
	if (!Number.isFinite(lpu)) return false;
	return now - lpu > hintMs(race, o);
}

/**
 * The overlay's progress now, or null when no overlay shows: not running,
 * exact ETA, inside the trust window, below overlayMinProgress, or no rate.
 */
export function predictedProgress(race, track, now, opts = DEFAULTS) {
	const o = { ...DEFAULTS, ...opts };
	if (!pastTrustWindow(race, now, o)) return null;
	const solid = track ? track.solid : (race.progress ?? 0);
	const reported = Number.isFinite(race.progress) ? race.progress : 0;
	if (reported < o.overlayMinProgress) return null;
	const r = predictionRate(race, track, now);
	if (!r) return null;
	const lpu = parseTime(race.last_progress_update);
	const raw = solid + r.rate * (now - lpu) / 1000;
	const p = Math.min(raw, solid + o.overlayCap, o.maxPredicted);
	return p > solid ? p : null;
}

/** fresh / predicting / stale for a running race, 'final' when finished, 'queued'. */
export function freshness(race, now, opts = DEFAULTS) {
	const o = { ...DEFAULTS, ...opts };
	if (isFinished(race.state)) return 'final';
	if (race.state === 'queued') return 'queued';
	if (race.eta_source === 1) return 'fresh';
	const heard = Math.max(
		timeOr(race.last_progress_update, -Infinity),
		timeOr(race.last_eta_update, -Infinity),
		timeOr(race.started_at, -Infinity));
	if (!Number.isFinite(heard)) return 'fresh';
	const age = now - heard, h = hintMs(race, o);
	if (age <= h) return 'fresh';
	if (age <= h * o.staleFactor) return 'predicting';
	return 'stale';
}

/** Seconds left (may be negative) counting down from last_eta_update + eta_sec. */
export function remainingSec(race, now) {
	const f = expectedFinish(race);
	return f === null ? null : (f - now) / 1000;
}

/** "45s", "2m 30s", "2m", "1h 5m". */
export function formatDuration(sec) {
	let s = Math.max(0, Math.ceil(sec));
	const h = Math.floor(s / 3600); s -= h * 3600;
	const m = Math.floor(s / 60); s -= m * 60;
	if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
	if (m > 0) return s ? `${m}m ${s}s` : `${m}m`;
	return `${s}s`;
}

/**
 * The ETA label: {text, approx, remaining} or null when the race has no ETA
 * or is not active. approx (the ≈) when the page is predicting or the news
 * is stale, or the ETA itself is a prediction (sources 3, 4 and the
 * server's progress estimate 5, or any later server source); never for
 * an exact ETA (source 1).
 */
export function etaLabel(race, now, opts = DEFAULTS) {
	if (isFinished(race.state)) return null;
	const rem = remainingSec(race, now);
	if (rem === null) return null;
	if (rem <= 0) return { text: 'Finishing soon', approx: false, remaining: rem };
	const fr = freshness(race, now, opts);
	const approx = race.eta_source !== 1 &&
		(fr === 'predicting' || fr === 'stale' || race.eta_source >= 3);
	return { text: `ETA ${approx ? '≈' : ''}${formatDuration(rem)}`, approx, remaining: rem };
}

/** True while the "Revised ETA" pill should show. */
export function revisionPill(track, now, opts = DEFAULTS) {
	const o = { ...DEFAULTS, ...opts };
	if (!track || track.revisedAt === null || track.revisedAt === undefined) return false;
	if (isFinished(track.state)) return false;
	const age = now - track.revisedAt;
	return age >= -o.pillMs && age < o.pillMs;
}

/** Elapsed seconds: to now while active, to completion once finished. */
export function elapsedSec(race, now) {
	if (isFinished(race.state) && Number.isFinite(race.duration_sec)) return race.duration_sec;
	const start = parseTime(race.started_at);
	if (!Number.isFinite(start)) return null;
	const end = isFinished(race.state) ? timeOr(race.completed_at, now) : now;
	return Math.max(0, (end - start) / 1000);
}

/**
 * Everything a row shows at one moment. overlayTarget is where the striped
 * overlay's right edge belongs: the prediction, or the solid rail when there
 * is none (so a real update retracts the overlay into the rail).
 */
export function raceView(race, track, now, opts = DEFAULTS) {
	const t = track || observeRace(undefined, race, opts);
	const overlay = predictedProgress(race, t, now, opts);
	return {
		solid: t.solid,
		overlay,
		overlayTarget: overlay === null ? t.solid : overlay,
		freshness: freshness(race, now, opts),
		eta: etaLabel(race, now, opts),
		revised: revisionPill(t, now, opts),
		elapsed: elapsedSec(race, now),
	};
}

/**
 * How the overlay moves between two views: retracting when the new target
 * is behind the old one (a real update landed below the prediction, or the
 * prediction stopped), so the page animates it back instead of jumping.
 */
export function retraction(prevView, nextView) {
	const from = prevView ? prevView.overlayTarget : nextView.overlayTarget;
	const to = nextView.overlayTarget;
	return { from, to, retracting: to < from - 1e-9 };
}

/** The recent ETA revisions, newest first, for the tooltip. */
export function revisionRows(race) {
	const rv = Array.isArray(race.eta_revisions) ? race.eta_revisions : [];
	return rv.slice().reverse().map((r) => ({
		at: parseTime(r.timestamp),
		etaSec: r.eta_sec,
		finishAt: parseTime(r.timestamp) + r.eta_sec * 1000,
		source: ETA_SOURCE_NAMES[r.source] || String(r.source ?? '?'),
		confidence: Number.isFinite(r.confidence) ? r.confidence : null,
	}));
}
