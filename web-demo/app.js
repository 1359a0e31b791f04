/*
 * app.js - the Raceboard page: one WebSocket to /ws (raceboard.v1), the race
 * list, and a requestAnimationFrame loop that redraws overlays and
 * countdowns a few times a second. The rules (what to predict, when, how
 * the ETA reads) live in optimistic.js; this file only wires them to the
 * DOM and the socket. After load the only HTTP request it makes is the
 * DELETE of a dismissed race.
 */
import * as O from './optimistic.js';

const TICK_MS = 200;             /* redraw of countdowns and overlays */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const ANNOUNCE_STATES = new Set(['passed', 'failed', 'canceled']);
const STATE_LABEL = {
	queued: 'Queued', running: 'Running', passed: 'Passed', failed: 'Failed', canceled: 'Canceled',
};
const FRESH_LABEL = {
	fresh: 'Fresh: reported within its update interval',
	predicting: 'Predicting: between updates, values are extrapolated',
	stale: 'Stale: no update for a while',
	queued: 'Queued', final: 'Finished',
};

const $ = (id) => document.getElementById(id);
const els = {
	conn: $('conn'), connText: $('conn-text'), summary: $('summary'),
	active: $('active-list'), finished: $('finished-list'), finishedGroup: $('finished-group'),
	activeCount: $('active-count'), finishedCount: $('finished-count'),
	empty: $('empty'), announcer: $('announcer'),
};

/* ------------------------------------------------------------------ */
/* State                                                                */

let feed = O.createFeed();
let clock = O.createClock();
const tracks = new Map();   /* id -> track (optimistic.js) */
const rows = new Map();     /* id -> row record {li, parts, view, key} */
let structureDirty = true;
let lastTick = 0;
let framesSeen = 0;

const conn = {
	ws: null, attempt: 0, timer: 0, watchdog: 0, heartbeatSec: 15,
	status: 'connecting', retryAt: 0, helloSeen: false, gapSeq: null,
};

const now = () => O.serverNow(clock, Date.now());

/* A read-only window on the page's state, for tests and curious people. */
Object.defineProperty(window, 'raceboard', {
	value: Object.freeze({
		get seq() { return feed.seq; },
		get clockOffsetMs() { return O.clockOffset(clock); },
		get serverNow() { return now(); },
		get status() { return conn.status; },
		get frames() { return framesSeen; },
		get raceIds() { return [...feed.races.keys()]; },
	}),
});

/* ------------------------------------------------------------------ */
/* Connection                                                           */

function wsUrl() {
	const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
	return `${proto}//${location.host}/ws`;
}

function setStatus(status, text) {
	conn.status = status;
	if (els.conn.dataset.status !== status) els.conn.dataset.status = status;
	if (document.body.dataset.conn !== status) document.body.dataset.conn = status;
	if (els.connText.textContent !== text) els.connText.textContent = text;
	els.conn.title = feed.seq === null ? '' : `Last change seen: #${feed.seq}`;
}

function connect() {
	clearTimeout(conn.timer);
	conn.helloSeen = false;
	setStatus(conn.attempt ? 'reconnecting' : 'connecting', conn.attempt ? 'Reconnecting…' : 'Connecting…');
	let ws;
	try {
		ws = new WebSocket(wsUrl(), 'raceboard.v1');
	} catch (e) {
		scheduleReconnect();
		return;
	}
	conn.ws = ws;
	ws.addEventListener('message', (ev) => { if (conn.ws === ws) onMessage(ev.data); });
	ws.addEventListener('close', () => {
		if (conn.ws !== ws) return;
		conn.ws = null;
		clearTimeout(conn.watchdog);
		scheduleReconnect();
	});
	ws.addEventListener('error', () => { /* close follows */ });
}

function scheduleReconnect() {
	const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** conn.attempt);
	const delay = Math.round(exp * (0.5 + Math.random() * 0.5)); /* jitter */
	conn.attempt += 1;
	conn.retryAt = Date.now() + delay;
	setStatus('offline', retryText());
	clearTimeout(conn.timer);
	conn.timer = setTimeout(connect, delay);
}

function retryText() {
	const s = Math.max(1, Math.ceil((conn.retryAt - Date.now()) / 1000));
	return `Offline · retrying in ${s}s`;
}

function armWatchdog() {
	clearTimeout(conn.watchdog);
	/* Heartbeats come every heartbeat_sec when idle: silence for over two
	 * of them means the connection is dead even if TCP has not noticed. */
	conn.watchdog = setTimeout(() => {
		if (conn.ws) conn.ws.close();
	}, (conn.heartbeatSec * 2 + 5) * 1000);
}

function send(obj) {
	if (conn.ws && conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(obj));
}

function onMessage(data) {
	let frame;
	try {
		frame = JSON.parse(data);
	} catch {
		return;
	}
	if (!frame || typeof frame !== 'object') return;
	framesSeen += 1;
	if (frame.server_time) clock = O.addClockSample(clock, frame.server_time, Date.now());
	armWatchdog();

	if (frame.type === 'hello') {
		if (Number.isFinite(frame.heartbeat_sec) && frame.heartbeat_sec > 0) conn.heartbeatSec = frame.heartbeat_sec;
		conn.helloSeen = true;
		conn.attempt = 0;
		send(O.subscribeFrame(feed, frame));
		setStatus('live', 'Live');
		armWatchdog();
		return;
	}
	if (frame.type === 'error') {
		console.warn('raceboard: server error frame', frame);
		return;
	}
	const live = frame.type === 'delta' || frame.type === 'batch';
	const res = O.applyFrame(feed, frame);
	feed = res.feed;
	for (const c of res.changed) onRaceChanged(c, live && !res.reset);
	if (res.changed.length) structureDirty = true;
	if (res.gap) {
		if (frame.type === 'heartbeat' && conn.gapSeq === frame.seq) {
			/* A resume from our seq brought nothing: the server's seq moved
			 * without a change for us. Take it, rather than ask forever. */
			feed = { ...feed, seq: frame.seq };
		} else {
			/* Something was missed: resubscribe from what we have. */
			conn.gapSeq = frame.type === 'heartbeat' ? frame.seq : null;
			send(O.subscribeFrame(feed, null));
		}
	}
	if (conn.status === 'live') setStatus('live', 'Live');
}

function onRaceChanged(c, live) {
	if (c.op === 'delete') {
		tracks.delete(c.id);
		return;
	}
	const prevTrack = tracks.get(c.id);
	tracks.set(c.id, O.observeRace(prevTrack, c.race));
	if (live && c.prev && c.prev.state !== c.race.state && ANNOUNCE_STATES.has(c.race.state)) {
		announce(`${c.race.title} ${c.race.state}`);
	}
}

function announce(text) {
	els.announcer.textContent = '';
	/* A new text node each time so repeated messages are read again. */
	setTimeout(() => { els.announcer.textContent = text; }, 50);
}

/* ------------------------------------------------------------------ */
/* Rows                                                                 */

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
}

let uid = 0;

function createRow(id) {
	const n = ++uid;
	const li = el('li', 'race');
	li.dataset.id = id;
	li.tabIndex = 0;

	const head = el('div', 'race-head');
	const dot = el('span', 'fresh-dot');
	dot.setAttribute('role', 'img');
	const titleWrap = el('h3', 'race-title');
	titleWrap.id = `race-title-${n}`;
	const badge = el('span', 'state-badge');
	head.append(dot, titleWrap, badge);

	const meta = el('p', 'race-meta');
	const source = el('span', 'source');
	const elapsed = el('span', 'elapsed');
	const pct = el('span', 'pct');
	const last = el('span', 'last-event');
	meta.append(source, elapsed, pct, last);

	const bar = el('div', 'bar');
	bar.setAttribute('role', 'progressbar');
	bar.setAttribute('aria-valuemin', '0');
	bar.setAttribute('aria-valuemax', '100');
	bar.setAttribute('aria-labelledby', titleWrap.id);
	const overlay = el('div', 'bar-overlay');
	const solid = el('div', 'bar-solid');
	bar.append(overlay, solid);

	const side = el('div', 'race-side');
	const pill = el('span', 'pill', 'Revised ETA');
	pill.hidden = true;
	const etaWrap = el('div', 'eta-wrap');
	const eta = el('span', 'eta');
	eta.tabIndex = 0;
	const tip = el('div', 'eta-tip');
	tip.setAttribute('role', 'tooltip');
	tip.id = `eta-tip-${n}`;
	eta.setAttribute('aria-describedby', tip.id);
	etaWrap.append(eta, tip);
	const dismiss = el('button', 'dismiss');
	dismiss.type = 'button';
	dismiss.append(el('span', 'dismiss-icon'));
	side.append(pill, etaWrap, dismiss);

	li.append(head, meta, bar, side);
	li.setAttribute('aria-labelledby', titleWrap.id);

	dismiss.addEventListener('click', () => dismissRace(id));
	eta.addEventListener('keydown', (ev) => {
		if (ev.key === 'Escape') etaWrap.classList.add('tip-hidden');
	});
	eta.addEventListener('blur', () => etaWrap.classList.remove('tip-hidden'));
	etaWrap.addEventListener('mouseleave', () => etaWrap.classList.remove('tip-hidden'));
	li.addEventListener('keydown', (ev) => {
		if (ev.target !== li) return;
		if (ev.key === 'Delete' || ev.key === 'Backspace') {
			ev.preventDefault();
			dismissRace(id);
		} else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
			ev.preventDefault();
			const all = [...document.querySelectorAll('.race')];
			const i = all.indexOf(li) + (ev.key === 'ArrowDown' ? 1 : -1);
			if (all[i]) all[i].focus();
		}
	});

	return {
		li, view: null, raceRef: null, tipKey: '',
		parts: { dot, titleWrap, badge, source, elapsed, pct, last, bar, overlay, solid, pill, eta, etaWrap, tip, dismiss },
	};
}

function setText(node, text) {
	if (node.textContent !== text) node.textContent = text;
}

function setData(node, key, value) {
	const v = String(value);
	if (node.dataset[key] !== v) node.dataset[key] = v;
}

function fmtPct(p) {
	return `${Math.round(p)}%`;
}

function safeLink(url) {
	try {
		const u = new URL(url, location.href);
		return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
	} catch {
		return null;
	}
}

function eventSummary(race) {
	const evs = race.events;
	if (!Array.isArray(evs) || evs.length === 0) return '';
	const e = evs[evs.length - 1];
	let d = '';
	if (typeof e.data === 'string') d = e.data;
	else if (e.data && typeof e.data === 'object') {
		d = typeof e.data.name === 'string' ? e.data.name
			: typeof e.data.message === 'string' ? e.data.message : '';
	}
	const s = d ? `${e.type}: ${d}` : String(e.type || '');
	return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/* Static parts: only when the race object changed. */
function updateRowData(row, race) {
	if (row.raceRef === race) return;
	row.raceRef = race;
	const p = row.parts;
	setData(row.li, 'state', race.state || 'running');

	const link = race.deeplink ? safeLink(race.deeplink) : null;
	const title = race.title || race.id;
	const cur = p.titleWrap.firstChild;
	if (link) {
		if (!cur || cur.tagName !== 'A') {
			p.titleWrap.replaceChildren(el('a', 'race-link'));
		}
		const a = p.titleWrap.firstChild;
		a.href = link;
		a.target = '_blank';
		a.rel = 'noopener noreferrer';
		setText(a, title);
	} else if (!cur || cur.nodeType !== Node.TEXT_NODE || cur.textContent !== title) {
		p.titleWrap.replaceChildren(document.createTextNode(title));
	}
	row.li.title = race.id;
	setText(p.badge, STATE_LABEL[race.state] || race.state || '');
	setText(p.source, race.source || '');
	setText(p.last, eventSummary(race));
	p.last.hidden = p.last.textContent === '';
	p.dismiss.setAttribute('aria-label', `Dismiss ${title}`);
	p.dismiss.title = 'Dismiss';

	/* Tooltip: the recent ETA revisions. */
	const revs = O.revisionRows(race);
	const key = JSON.stringify(revs);
	if (key !== row.tipKey) {
		row.tipKey = key;
		const head = el('p', 'tip-title', 'ETA revisions');
		if (revs.length === 0) {
			p.tip.replaceChildren(head, el('p', 'tip-empty', 'No ETA reported yet'));
		} else {
			const table = el('table', 'tip-table');
			const thead = el('thead');
			const hr = el('tr');
			for (const h of ['Time', 'ETA', 'Source', 'Conf.']) hr.append(el('th', '', h));
			thead.append(hr);
			const tbody = el('tbody');
			for (const r of revs) {
				const tr = el('tr');
				tr.append(
					el('td', 'tip-time', Number.isFinite(r.at) ? new Date(r.at).toLocaleTimeString([], { hour12: false }) : '?'),
					el('td', 'tip-eta', O.formatDuration(r.etaSec)),
					el('td', 'tip-src', r.source),
					el('td', 'tip-conf', r.confidence === null ? '–' : `${Math.round(r.confidence * 100)}%`));
				tbody.append(tr);
			}
			table.append(thead, tbody);
			p.tip.replaceChildren(head, table);
		}
	}
}

/* Moving parts: every tick. */
function updateRowTime(row, race, track, t) {
	const p = row.parts;
	const view = O.raceView(race, track, t);
	const prev = row.view;
	row.view = view;

	setData(p.dot, 'fresh', view.freshness);
	if (p.dot.getAttribute('aria-label') !== FRESH_LABEL[view.freshness]) {
		p.dot.setAttribute('aria-label', FRESH_LABEL[view.freshness]);
		p.dot.title = FRESH_LABEL[view.freshness];
	}
	setText(p.elapsed, view.elapsed === null ? '' : O.formatDuration(Math.floor(view.elapsed)));

	const solid = view.solid;
	const hasProgress = Number.isFinite(race.progress) || race.state === 'passed';
	setText(p.pct, hasProgress ? fmtPct(solid) : '');
	p.pct.hidden = !hasProgress;

	/* Bar: solid rail and overlay; the overlay retracts with a slower ease. */
	const ret = O.retraction(prev, view);
	if (ret.retracting) p.bar.classList.add('retracting');
	else if (prev && view.overlay !== null && view.overlayTarget > prev.overlayTarget) p.bar.classList.remove('retracting');
	const solidW = `${solid.toFixed(2)}%`;
	const overW = `${view.overlayTarget.toFixed(2)}%`;
	if (p.solid.style.width !== solidW) p.solid.style.width = solidW;
	if (p.overlay.style.width !== overW) p.overlay.style.width = overW;
	p.bar.classList.toggle('predicting', view.overlay !== null);
	setData(p.bar, 'solid', Math.round(solid * 100) / 100);
	setData(p.bar, 'overlay', view.overlay === null ? '' : Math.round(view.overlay * 100) / 100);
	p.bar.setAttribute('aria-valuenow', String(Math.round(solid)));
	const vt = view.overlay === null ? `${fmtPct(solid)} reported`
		: `${fmtPct(solid)} reported, about ${fmtPct(view.overlay)} predicted`;
	if (p.bar.getAttribute('aria-valuetext') !== vt) p.bar.setAttribute('aria-valuetext', vt);

	/* ETA, or what a finished race took. */
	let etaText = '';
	if (view.eta) etaText = view.eta.text;
	else if (O.isFinished(race.state)) etaText = view.elapsed === null ? '' : `Took ${O.formatDuration(Math.floor(view.elapsed))}`;
	else etaText = 'No ETA';
	setText(p.eta, etaText);
	setData(p.eta, 'approx', view.eta ? view.eta.approx : false);
	setData(p.eta, 'kind', view.eta ? (view.eta.remaining <= 0 ? 'soon' : 'eta') : 'none');

	if (p.pill.hidden === view.revised) p.pill.hidden = !view.revised;
}

function sortActive(a, b) {
	const sa = a.state === 'running' ? 0 : 1, sb = b.state === 'running' ? 0 : 1;
	if (sa !== sb) return sa - sb;
	return (O.parseTime(b.started_at) || 0) - (O.parseTime(a.started_at) || 0) || a.id.localeCompare(b.id);
}

function sortFinished(a, b) {
	const ta = O.parseTime(a.completed_at) || O.parseTime(a.started_at) || 0;
	const tb = O.parseTime(b.completed_at) || O.parseTime(b.started_at) || 0;
	return tb - ta || a.id.localeCompare(b.id);
}

function placeRows(list, races) {
	let node = list.firstElementChild;
	for (const race of races) {
		const li = rows.get(race.id).li;
		if (node === li) {
			node = node.nextElementSibling;
		} else {
			const hadFocus = li.contains(document.activeElement) ? document.activeElement : null;
			list.insertBefore(li, node);
			if (hadFocus) hadFocus.focus();
		}
	}
}

function syncStructure() {
	/* Remove rows of races that are gone, keeping focus on the list. */
	for (const [id, row] of rows) {
		if (!feed.races.has(id)) {
			const focused = row.li.contains(document.activeElement);
			const next = row.li.nextElementSibling || row.li.previousElementSibling;
			row.li.remove();
			rows.delete(id);
			if (focused) (next || els.active).focus();
		}
	}
	const active = [], finished = [];
	for (const race of feed.races.values()) {
		if (!rows.has(race.id)) rows.set(race.id, createRow(race.id));
		updateRowData(rows.get(race.id), race);
		(O.isFinished(race.state) ? finished : active).push(race);
	}
	active.sort(sortActive);
	finished.sort(sortFinished);
	placeRows(els.active, active);
	placeRows(els.finished, finished);

	const running = active.filter((r) => r.state === 'running').length;
	const queued = active.length - running;
	const failed = finished.filter((r) => r.state === 'failed').length;
	const parts = [`${running} running`];
	if (queued) parts.push(`${queued} queued`);
	parts.push(`${finished.length} finished`);
	if (failed) parts.push(`${failed} failed`);
	setText(els.summary, feed.seq === null ? '\u00a0' : parts.join(' · '));
	setText(els.activeCount, active.length ? String(active.length) : '');
	setText(els.finishedCount, finished.length ? String(finished.length) : '');
	els.empty.hidden = active.length > 0 || feed.seq === null;
	els.finishedGroup.hidden = finished.length === 0;
}

/* ------------------------------------------------------------------ */
/* Dismiss: the one HTTP request after load                             */

async function dismissRace(id) {
	const row = rows.get(id);
	if (!row || row.li.classList.contains('leaving')) return;
	row.li.classList.add('leaving');
	row.parts.dismiss.disabled = true;
	let ok = false;
	try {
		const res = await fetch(`/race/${encodeURIComponent(id)}`, { method: 'DELETE' });
		ok = res.ok || res.status === 404;
	} catch {
		ok = false;
	}
	if (!ok) {
		row.li.classList.remove('leaving');
		row.parts.dismiss.disabled = false;
		announce(`Could not dismiss ${feed.races.get(id)?.title || id}`);
	}
	/* On success the delete delta removes the row. */
}

/* ------------------------------------------------------------------ */
/* Render loop                                                          */

function frame(ts) {
	requestAnimationFrame(frame);
	if (!structureDirty && ts - lastTick < TICK_MS) return;
	lastTick = ts;
	if (structureDirty) {
		structureDirty = false;
		syncStructure();
	}
	const t = now();
	for (const [id, row] of rows) {
		const race = feed.races.get(id);
		if (race) updateRowTime(row, race, tracks.get(id), t);
	}
	if (conn.status === 'offline') setStatus('offline', retryText());
}

function init() {
	const code = document.querySelector('.empty-code code');
	if (code) code.textContent = code.textContent.replace('localhost:7777', location.host || 'localhost:7777');
	connect();
	requestAnimationFrame(frame);
	/* A hidden tab gets no animation frames; catch up when it shows again. */
	document.addEventListener('visibilitychange', () => { structureDirty = true; });
}

init();
