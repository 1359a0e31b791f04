/*
 * board.js - what the Raceboard page shows, decided without a DOM: the URL
 * (route and filter), which races match a filter, which rows are drawn
 * (sorted, grouped by source, paged), the tab title and favicon, which
 * changes raise a finish notification, how a dismissal is confirmed, and
 * the words and numbers of the detail view.
 *
 * Pure functions only, like optimistic.js: no DOM, no network, no clock
 * and no storage. "now" is always an argument (server milliseconds), so
 * every rule is unit-tested with fixed times (tests/web/board.test.mjs).
 */
import { parseTime, isFinished, formatDuration, ETA_SOURCE_NAMES } from './optimistic.js';

export const STATES = Object.freeze(['running', 'queued', 'passed', 'failed', 'canceled']);
export const PAGE_SIZE = 50;      /* rows drawn per list before "Show more" */

/* ------------------------------------------------------------------ */
/* Route: #/race/<id>?q=…&state=a,b&source=x,y&group=1                  */

export function emptyFilter() {
	return { q: '', states: [], sources: [], group: false };
}

function splitList(v) {
	return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/**
 * The route in a location hash: {raceId, filter}. raceId is null on the
 * list. Unknown parameters and states are ignored, never an error: a
 * shared link from a newer page still opens.
 */
export function parseRoute(hash) {
	const h = typeof hash === 'string' ? hash.replace(/^#/, '') : '';
	const qi = h.indexOf('?');
	const path = qi < 0 ? h : h.slice(0, qi);
	const params = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
	const filter = emptyFilter();
	filter.q = params.get('q') || '';
	filter.states = splitList(params.get('state')).filter((s) => STATES.includes(s));
	filter.sources = splitList(params.get('source'));
	filter.group = params.get('group') === '1';
	let raceId = null;
	const m = /^\/race\/(.+)$/.exec(path);
	if (m) {
		try {
			raceId = decodeURIComponent(m[1]);
		} catch {
			raceId = m[1];
		}
	}
	return { raceId, filter };
}

/** The hash for a route; '' for the plain list with no filter. */
export function formatRoute({ raceId = null, filter = emptyFilter() } = {}) {
	const params = new URLSearchParams();
	if (filter.q) params.set('q', filter.q);
	if (filter.states.length) params.set('state', filter.states.join(','));
	if (filter.sources.length) params.set('source', filter.sources.join(','));
	if (filter.group) params.set('group', '1');
	const qs = params.toString();
	const path = raceId === null ? '/' : `/race/${encodeURIComponent(raceId)}`;
	if (path === '/' && !qs) return '';
	return `#${path}${qs ? `?${qs}` : ''}`;
}

export function filterActive(f) {
	return !!(f.q || f.states.length || f.sources.length);
}

/* ------------------------------------------------------------------ */
/* Filter and rows                                                      */

/** The lower-cased text a filter query is matched against, cached per race object. */
const haystacks = new WeakMap();
function haystack(race) {
	let h = haystacks.get(race);
	if (h === undefined) {
		const parts = [race.title, race.source, race.id];
		if (race.metadata && typeof race.metadata === 'object') {
			for (const v of Object.values(race.metadata)) parts.push(v);
		}
		h = parts.filter((p) => typeof p === 'string' || typeof p === 'number').join('\n').toLowerCase();
		haystacks.set(race, h);
	}
	return h;
}

/**
 * True when a race passes the filter: every word of q appears in its title,
 * source, id or a metadata value (case-insensitive), its state is one of
 * the chosen states and its source one of the chosen sources (an empty
 * choice means any).
 */
export function matchRace(race, filter) {
	if (filter.states.length && !filter.states.includes(race.state || 'running')) return false;
	if (filter.sources.length && !filter.sources.includes(race.source)) return false;
	const q = filter.q.trim().toLowerCase();
	if (!q) return true;
	const h = haystack(race);
	return q.split(/\s+/).every((w) => h.includes(w));
}

const sortKeys = new WeakMap();
function sortKey(race) {
	let k = sortKeys.get(race);
	if (k === undefined) {
		k = {
			started: parseTime(race.started_at) || 0,
			ended: parseTime(race.completed_at) || parseTime(race.started_at) || 0,
		};
		sortKeys.set(race, k);
	}
	return k;
}

/** Active: running before queued, newest start first. */
export function compareActive(a, b) {
	const sa = a.state === 'running' ? 0 : 1, sb = b.state === 'running' ? 0 : 1;
	if (sa !== sb) return sa - sb;
	return sortKey(b).started - sortKey(a).started || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Finished: most recently ended first. */
export function compareFinished(a, b) {
	return sortKey(b).ended - sortKey(a).ended || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * One list's drawn items: race ids, with a {group: source, count,
 * collapsed} header before each source's races when grouping. At most
 * `limit` races are drawn; `more` says how many matched but are not.
 */
function listItems(races, group, collapsed, limit, kind) {
	const items = [];
	let drawn = 0;
	if (!group) {
		for (const r of races) {
			if (drawn >= limit) break;
			items.push({ id: r.id });
			drawn += 1;
		}
		return { items, more: races.length - drawn };
	}
	const bySource = new Map();
	for (const r of races) {
		const s = r.source || '';
		if (!bySource.has(s)) bySource.set(s, []);
		bySource.get(s).push(r);
	}
	const sources = [...bySource.keys()].sort();
	let hiddenByLimit = 0;
	for (const s of sources) {
		const list = bySource.get(s);
		const key = `${kind}:${s}`;
		const isCollapsed = collapsed.has(key);
		items.push({ group: s, key, count: list.length, collapsed: isCollapsed });
		if (isCollapsed) continue;
		for (const r of list) {
			if (drawn >= limit) {
				hiddenByLimit += 1;
				continue;
			}
			items.push({ id: r.id });
			drawn += 1;
		}
	}
	return { items, more: hiddenByLimit };
}

/**
 * Everything the list part of the page draws, from the feed's races:
 * {active, finished} each {items, more, total}, plus counts over all
 * races (not only the filtered ones) and the sources present. `hide` is
 * a Set of ids left out (a dismissal waiting for its Undo to expire).
 */
export function selectBoard(races, filter, {
	hide = new Set(), collapsed = new Set(), activeLimit = PAGE_SIZE, finishedLimit = PAGE_SIZE,
} = {}) {
	const active = [], finished = [];
	const counts = { running: 0, queued: 0, passed: 0, failed: 0, canceled: 0, total: 0 };
	const sources = new Set();
	for (const r of races.values()) {
		if (hide.has(r.id)) continue;
		const st = r.state || 'running';
		if (st in counts) counts[st] += 1;
		counts.total += 1;
		if (r.source) sources.add(r.source);
		if (!matchRace(r, filter)) continue;
		(isFinished(st) ? finished : active).push(r);
	}
	active.sort(compareActive);
	finished.sort(compareFinished);
	const a = listItems(active, filter.group, collapsed, activeLimit, 'active');
	const f = listItems(finished, filter.group, collapsed, finishedLimit, 'finished');
	return {
		active: { ...a, total: active.length },
		finished: { ...f, total: finished.length },
		counts,
		sources: [...sources].sort(),
	};
}

/* ------------------------------------------------------------------ */
/* Tab title, favicon, notifications                                    */

/** "(3) ✗ Raceboard": running races, and ✗ while a failure is unseen. */
export function tabTitle(running, unseenFailures, base = 'Raceboard') {
	return `${running > 0 ? `(${running}) ` : ''}${unseenFailures > 0 ? '✗ ' : ''}${base}`;
}

/**
 * The favicon's state: 'failed' when something failed (among the races on
 * the board, or unseen), else 'running' when something runs, else
 * 'passed' when all finished races passed, else 'idle'.
 */
export function faviconState(counts, unseenFailures = 0) {
	if (unseenFailures > 0 || counts.failed > 0) return 'failed';
	if (counts.running > 0 || counts.queued > 0) return 'running';
	if (counts.passed > 0 || counts.canceled > 0) return 'passed';
	return 'idle';
}

const FAVICON_COLORS = { running: '#2f6fed', passed: '#17834f', failed: '#c93434', idle: '#8a94a5' };

/** A small SVG for the favicon, as a data: URL (allowed by the page's CSP img-src). */
export function faviconHref(state) {
	const c = FAVICON_COLORS[state] || FAVICON_COLORS.idle;
	let mark;
	if (state === 'failed') {
		mark = '<path d="M11 11l10 10M21 11L11 21" stroke="#fff" stroke-width="3.2" stroke-linecap="round"/>';
	} else if (state === 'passed') {
		mark = '<path d="M9.5 16.5l4.5 4.5 8.5-9.5" stroke="#fff" stroke-width="3.2" fill="none" stroke-linecap="round" stroke-linejoin="round"/>';
	} else if (state === 'running') {
		mark = '<rect x="8" y="14" width="16" height="4" rx="2" fill="#fff" opacity=".45"/><rect x="8" y="14" width="10" height="4" rx="2" fill="#fff"/>';
	} else {
		mark = '<rect x="8" y="14" width="16" height="4" rx="2" fill="#fff" opacity=".6"/>';
	}
	const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="${c}"/>${mark}</svg>`;
	return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/**
 * The finishes among a frame's changes: races that were seen active and
 * are now passed, failed or canceled. A snapshot (reset) never counts:
 * races already finished at load are old news.
 */
export function finishesOf(changed, reset) {
	if (reset) return [];
	const out = [];
	for (const c of changed) {
		if (c.op === 'delete' || !c.race || !c.prev) continue;
		if (isFinished(c.race.state) && !isFinished(c.prev.state)) {
			out.push({ id: c.id, title: c.race.title || c.id, state: c.race.state, source: c.race.source || '' });
		}
	}
	return out;
}

const STATE_WORD = { passed: 'passed', failed: 'failed', canceled: 'was canceled' };

/** The desktop notification for a finish: {title, body, tag}. */
export function notificationFor(fin, race, now) {
	const took = race && Number.isFinite(race.duration_sec) ? ` in ${formatDuration(race.duration_sec)}` : '';
	const icon = fin.state === 'passed' ? '✓' : fin.state === 'failed' ? '✗' : '–';
	const exit = race && race.metadata && race.metadata.exit_code !== undefined ? ` (exit ${race.metadata.exit_code})` : '';
	void now;
	return {
		title: `${icon} ${fin.title}`,
		body: `${fin.source ? `${fin.source}: ` : ''}${STATE_WORD[fin.state] || fin.state}${took}${exit}`,
		tag: `raceboard-${fin.id}`,
	};
}

/* ------------------------------------------------------------------ */
/* Dismissal                                                            */

/**
 * How a dismissal goes: a running or queued race asks first ('confirm'),
 * since the DELETE removes it for every viewer while its producer may
 * still report; a finished one goes at once with a few seconds to Undo.
 */
export function dismissMode(race) {
	return race && isFinished(race.state) ? 'undo' : 'confirm';
}

export function confirmText(race) {
	const title = race.title || race.id;
	return {
		title: `Dismiss “${title}”?`,
		body: `It is still ${race.state === 'queued' ? 'queued' : 'running'}. Dismissing removes it from the board for everyone watching it, not just for you. The job itself keeps running; only its place on the board goes.`,
	};
}

/* ------------------------------------------------------------------ */
/* Times and words                                                      */

/** "just now", "12 s ago", "3 min ago", "2 h ago", "3 d ago" for a past moment. */
export function relativeTime(at, now) {
	if (!Number.isFinite(at)) return '';
	const s = Math.max(0, (now - at) / 1000);
	if (s < 5) return 'just now';
	if (s < 60) return `${Math.floor(s)} s ago`;
	if (s < 3600) return `${Math.floor(s / 60)} min ago`;
	if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

/** "ended 3 min ago" for a finished race, or ''. */
export function endedLabel(race, now) {
	if (!isFinished(race.state)) return '';
	const at = parseTime(race.completed_at);
	return Number.isFinite(at) ? `ended ${relativeTime(at, now)}` : '';
}

/** Confidence 0–1 in words. */
export function confidenceWords(c) {
	if (!Number.isFinite(c)) return 'unknown confidence';
	if (c >= 0.95) return 'certain';
	if (c >= 0.7) return 'high confidence';
	if (c >= 0.4) return 'medium confidence';
	return 'low confidence';
}

const PROVENANCE = {
	1: 'exact (the producer knows when it ends)',
	2: 'estimated by the producer',
	3: 'predicted from past runs',
	4: 'a default guess for this source',
};

/** Where the ETA comes from and how sure it is, in words. */
export function etaProvenance(race) {
	if (!Number.isFinite(race.eta_sec)) return 'No ETA reported';
	const from = PROVENANCE[race.eta_source] || `source ${ETA_SOURCE_NAMES[race.eta_source] || race.eta_source || 'unknown'}`;
	return `${from}, ${confidenceWords(race.eta_confidence)}`;
}

/**
 * The ETA revision history as chart points: {t, etaSec, finishAt} oldest
 * first, plus the bounds of both axes (eta from 0). Empty without any
 * revision.
 */
export function etaChart(race) {
	const rv = Array.isArray(race.eta_revisions) ? race.eta_revisions : [];
	const pts = [];
	for (const r of rv) {
		const t = parseTime(r.timestamp);
		if (Number.isFinite(t) && Number.isFinite(r.eta_sec)) pts.push({ t, etaSec: r.eta_sec, finishAt: t + r.eta_sec * 1000 });
	}
	pts.sort((a, b) => a.t - b.t);
	if (!pts.length) return { points: [], t0: 0, t1: 0, max: 0 };
	const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
	const max = Math.max(...pts.map((p) => p.etaSec), 1);
	return { points: pts, t0, t1, max };
}

/** An SVG polyline's points for a chart in a w×h box (with a margin). */
export function chartPolyline(chart, w, h, pad = 4) {
	if (!chart.points.length) return '';
	const span = chart.t1 - chart.t0;
	return chart.points.map((p, i) => {
		const x = span > 0 ? pad + ((p.t - chart.t0) / span) * (w - 2 * pad)
			: chart.points.length === 1 ? w / 2 : pad + (i / (chart.points.length - 1)) * (w - 2 * pad);
		const y = pad + (1 - p.etaSec / chart.max) * (h - 2 * pad);
		return `${x.toFixed(1)},${y.toFixed(1)}`;
	}).join(' ');
}

/** The metadata as sorted [key, value] pairs. */
export function metadataRows(race) {
	const m = race.metadata && typeof race.metadata === 'object' ? race.metadata : {};
	return Object.keys(m).sort().map((k) => [k, String(m[k])]);
}

/** An event's data as one line of text (strings as they are, objects as JSON). */
export function eventText(ev) {
	if (ev.data === undefined || ev.data === null) return '';
	if (typeof ev.data === 'string') return ev.data;
	try {
		return JSON.stringify(ev.data);
	} catch {
		return String(ev.data);
	}
}

/** Only http(s) links, absolute; anything else (javascript:, data:) is null. */
export function safeHref(url, base) {
	try {
		const u = new URL(url, base);
		return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
	} catch {
		return null;
	}
}
