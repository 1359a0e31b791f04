/*
 * app.js - the Raceboard page: one WebSocket to /ws (raceboard.v1), the
 * race list (filtered, grouped, paged), the detail view of one race, and
 * a requestAnimationFrame loop that redraws countdowns and overlays a few
 * times a second. The rules live in pure modules (optimistic.js: progress
 * and ETA; board.js: what is drawn, the URL, titles and words); rows.js,
 * detail.js and alerts.js draw. After load the only HTTP request the page
 * makes is the DELETE of a dismissed race: everything else is pushed.
 */
import * as O from './optimistic.js';
import * as B from './board.js';
import { el, setText, createRow, createGroupRow, updateGroupRow, updateRowData, updateRowTime } from './rows.js';
import { createDetail, openDetail, updateDetailData, updateDetailTime } from './detail.js';
import { createAlerts } from './alerts.js';

const TICK_MS = 200;             /* redraw of countdowns and overlays */
const SYNC_MS = 120;             /* at most this often: re-sort and re-place rows */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const UNDO_MS = 5000;            /* a finished race's dismissal waits this long for Undo */
const ANNOUNCE_STATES = new Set(['passed', 'failed', 'canceled']);
const KEY_COLLAPSED = 'raceboard.collapsed';

const $ = (id) => document.getElementById(id);
const els = {
	conn: $('conn'), connText: $('conn-text'), summary: $('summary'), main: document.querySelector('main'),
	active: $('active-list'), finished: $('finished-list'), finishedGroup: $('finished-group'),
	activeCount: $('active-count'), finishedCount: $('finished-count'),
	activeMore: $('active-more'), finishedMore: $('finished-more'),
	empty: $('empty'), emptyText: $('empty-text'), onboarding: $('onboarding'), announcer: $('announcer'),
	filter: $('filter'), stateChips: $('state-chips'), sourceChips: $('source-chips'), groupToggle: $('group-toggle'),
	filterNote: $('filter-note'), confirm: $('confirm'), confirmTitle: $('confirm-title'), confirmBody: $('confirm-body'),
	toast: $('toast'), toastText: $('toast-text'), toastUndo: $('toast-undo'),
};

/* ------------------------------------------------------------------ */
/* State                                                                */

let feed = O.createFeed();
let clock = O.createClock();
const tracks = new Map();   /* id -> track (optimistic.js) */
const rows = new Map();     /* id -> row (rows.js), only for races drawn */
const groupRows = new Map();/* key -> group header row */
let structureDirty = true;
let urgent = false;         /* a user action: redraw at the next frame */
let lastTick = 0;
let lastSync = 0;
let framesSeen = 0;
let filter = B.emptyFilter();
let limits = { active: B.PAGE_SIZE, finished: B.PAGE_SIZE };
let collapsed = loadCollapsed();
let board = null;           /* the last selectBoard() result */
let sourcesKey = '';
let openedFromList = false; /* the detail view was pushed by a click: Back returns */
const undo = { ids: new Set(), timer: 0, focusAfter: null };
const detail = createDetail();

const conn = {
	ws: null, attempt: 0, timer: 0, watchdog: 0, heartbeatSec: 15,
	status: 'connecting', retryAt: 0, helloSeen: false, gapSeq: null,
};

const now = () => O.serverNow(clock, Date.now());

const alerts = createAlerts({
	favicon: $('favicon'), notifyBtn: $('notify-toggle'), soundBtn: $('sound-toggle'),
	announce, openRace: (id) => openRace(id),
});

/* A read-only window on the page's state, for tests and curious people. */
Object.defineProperty(window, 'raceboard', {
	value: Object.freeze({
		get seq() { return feed.seq; },
		get clockOffsetMs() { return O.clockOffset(clock); },
		get serverNow() { return now(); },
		get status() { return conn.status; },
		get frames() { return framesSeen; },
		get raceIds() { return [...feed.races.keys()]; },
		get drawnRows() { return rows.size; },
		get filter() { return { ...filter }; },
		get detailId() { return detail.raceId; },
		get unseenFailures() { return alerts.state.unseenFailures; },
		get notified() { return alerts.state.notified; },
		get beeps() { return alerts.state.beeps; },
		get pendingDismissals() { return [...undo.ids]; },
	}),
});

function loadCollapsed() {
	try {
		return new Set(JSON.parse(localStorage.getItem(KEY_COLLAPSED) || '[]'));
	} catch {
		return new Set();
	}
}

/* ------------------------------------------------------------------ */
/* Connection                                                           */

/* Relative to the page, so a reverse proxy's path prefix (and https:,
 * as wss:) carries over: https://host/raceboard/ -> wss://host/raceboard/ws. */
function wsUrl() {
	const u = new URL('ws', location.href);
	u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
	u.search = '';
	u.hash = '';
	return u.href;
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
	if (res.changed.length || res.reset) structureDirty = true;
	if (live) alerts.finished(B.finishesOf(res.changed, res.reset), feed.races);
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
/* Drawing the lists                                                    */

/* Only rows on screen follow the clock: with a hundred rows drawn, ticking
 * all of them cost more than everything else on the page. A row scrolling
 * into view is brought up to date at once. */
const onScreen = new Set();
const viewport = new IntersectionObserver((entries) => {
	const t = now();
	for (const e of entries) {
		const id = e.target.dataset.id;
		if (!e.isIntersecting) {
			onScreen.delete(id);
			continue;
		}
		onScreen.add(id);
		const row = rows.get(id), race = feed.races.get(id);
		if (row && race) updateRowTime(row, race, tracks.get(id), t);
	}
}, { rootMargin: '200px 0px' });

function rowFor(id) {
	let row = rows.get(id);
	if (!row) {
		row = createRow(id, { open: (rid) => openRace(rid), dismiss: (rid) => requestDismiss(rid) });
		rows.set(id, row);
		viewport.observe(row.li);
	}
	return row;
}

function groupFor(item) {
	let g = groupRows.get(item.key);
	if (!g) {
		g = createGroupRow(item.key, toggleGroup);
		groupRows.set(item.key, g);
	}
	updateGroupRow(g, item);
	return g;
}

/** Puts exactly `nodes` in `list`, in order, moving as little as it can. */
function placeNodes(list, nodes) {
	const want = new Set(nodes);
	for (let c = list.firstElementChild; c;) {
		const next = c.nextElementSibling;
		if (!want.has(c)) c.remove();
		c = next;
	}
	let node = list.firstElementChild;
	for (const li of nodes) {
		if (node === li) {
			node = node.nextElementSibling;
		} else {
			const hadFocus = li.contains(document.activeElement) ? document.activeElement : null;
			list.insertBefore(li, node);
			if (hadFocus) hadFocus.focus();
		}
	}
}

function drawList(list, part) {
	const nodes = [];
	for (const item of part.items) {
		if (item.group !== undefined) {
			nodes.push(groupFor(item).li);
		} else {
			const row = rowFor(item.id);
			updateRowData(row, feed.races.get(item.id));
			nodes.push(row.li);
		}
	}
	return nodes;
}

function syncStructure() {
	board = B.selectBoard(feed.races, filter, {
		hide: undo.ids, collapsed, activeLimit: limits.active, finishedLimit: limits.finished,
	});
	const activeNodes = drawList(els.active, board.active);
	const finishedNodes = drawList(els.finished, board.finished);

	/* Rows no longer drawn go, keeping the keyboard's place in the list. */
	const drawn = new Set([...activeNodes, ...finishedNodes]);
	let focusNext = null;
	for (const [id, row] of rows) {
		if (drawn.has(row.li)) continue;
		if (row.li.contains(document.activeElement)) {
			focusNext = row.li.nextElementSibling || row.li.previousElementSibling || els.active;
		}
		viewport.unobserve(row.li);
		onScreen.delete(id);
		row.li.remove();
		rows.delete(id);
	}
	for (const [key, g] of groupRows) if (!drawn.has(g.li)) groupRows.delete(key);
	placeNodes(els.active, activeNodes);
	placeNodes(els.finished, finishedNodes);
	if (focusNext && focusNext.isConnected) focusNext.focus();

	const c = board.counts;
	const parts = [`${c.running} running`];
	if (c.queued) parts.push(`${c.queued} queued`);
	parts.push(`${c.passed + c.failed + c.canceled} finished`);
	if (c.failed) parts.push(`${c.failed} failed`);
	setText(els.summary, feed.seq === null ? '\u00a0' : parts.join(' · '));
	setText(els.activeCount, board.active.total ? String(board.active.total) : '');
	setText(els.finishedCount, board.finished.total ? String(board.finished.total) : '');
	drawMore(els.activeMore, board.active);
	drawMore(els.finishedMore, board.finished);

	const known = feed.seq !== null;
	const filtering = B.filterActive(filter);
	els.onboarding.hidden = !(known && c.total === 0 && !filtering);
	els.empty.hidden = !(known && c.total > 0 && board.active.total === 0) && !(known && filtering && c.total === 0);
	setText(els.emptyText, filtering ? 'No active race matches the filter.' : 'Nothing is running right now.');
	els.finishedGroup.hidden = board.finished.total === 0;
	const shown = board.active.total + board.finished.total;
	els.filterNote.hidden = !filtering;
	if (filtering) drawFilterNote(shown, c.total);
	drawSourceChips(board.sources);
	alerts.update(c);
}

function drawMore(btn, part) {
	btn.hidden = part.more <= 0;
	if (part.more > 0) setText(btn, `Show ${Math.min(part.more, B.PAGE_SIZE * 2)} more of ${part.more} not shown`);
}

function drawFilterNote(shown, total) {
	const text = `Showing ${shown} of ${total} race${total === 1 ? '' : 's'}`;
	if (els.filterNote.firstChild?.textContent !== text) {
		const clear = el('button', 'link-btn', 'Clear filter');
		clear.type = 'button';
		clear.addEventListener('click', () => {
			setFilter(B.emptyFilter());
			els.filter.focus();
		});
		els.filterNote.replaceChildren(el('span', '', text), clear);
	}
}

/* ------------------------------------------------------------------ */
/* Filter, chips, grouping: all of it lives in the URL                  */

function chip(label, pressed, onClick) {
	const b = el('button', 'chip', label);
	b.type = 'button';
	b.setAttribute('aria-pressed', String(pressed));
	b.addEventListener('click', onClick);
	return b;
}

function toggleIn(list, v) {
	return list.includes(v) ? list.filter((x) => x !== v) : list.concat([v]);
}

function drawStateChips() {
	const out = B.STATES.map((s) => {
		const b = chip(s, filter.states.includes(s), () => setFilter({ ...filter, states: toggleIn(filter.states, s) }));
		b.dataset.state = s;
		return b;
	});
	els.stateChips.replaceChildren(...out);
}

function drawSourceChips(sources) {
	const all = [...new Set([...sources, ...filter.sources])].sort();
	const key = `${all.join('\n')}|${filter.sources.join('\n')}`;
	if (key === sourcesKey) return;
	sourcesKey = key;
	const hadFocus = els.sourceChips.contains(document.activeElement) ? document.activeElement.textContent : null;
	els.sourceChips.replaceChildren(...all.map((s) => {
		const b = chip(s, filter.sources.includes(s), () => setFilter({ ...filter, sources: toggleIn(filter.sources, s) }));
		b.dataset.source = s;
		return b;
	}));
	els.sourceChips.hidden = all.length < 2 && filter.sources.length === 0;
	if (hadFocus !== null) [...els.sourceChips.children].find((b) => b.textContent === hadFocus)?.focus();
}

function setFilter(f, { fromUrl = false } = {}) {
	filter = { ...f };
	if (els.filter.value !== filter.q) els.filter.value = filter.q;
	els.groupToggle.setAttribute('aria-pressed', String(filter.group));
	drawStateChips();
	sourcesKey = '';
	limits = { active: B.PAGE_SIZE, finished: B.PAGE_SIZE };
	if (!fromUrl) {
		/* The filter is part of the address (shareable, survives reload),
		 * but typing is not a trail of history entries. */
		const hash = B.formatRoute({ raceId: detail.raceId, filter });
		history.replaceState(history.state, '', hash || `${location.pathname}${location.search}`);
	}
	structureDirty = true;
	urgent = true;
}

function toggleGroup(key) {
	if (collapsed.has(key)) collapsed.delete(key);
	else collapsed.add(key);
	try {
		localStorage.setItem(KEY_COLLAPSED, JSON.stringify([...collapsed]));
	} catch { /* private mode */ }
	structureDirty = true;
	urgent = true;
}

/* ------------------------------------------------------------------ */
/* Route: the detail view                                               */

function openRace(id) {
	openedFromList = true;
	location.hash = B.formatRoute({ raceId: id, filter });
}

function closeDetail() {
	if (detail.raceId === null) return;
	if (openedFromList) {
		history.back();
	} else {
		const hash = B.formatRoute({ raceId: null, filter });
		history.pushState(null, '', hash || `${location.pathname}${location.search}`);
		applyRoute();
	}
}

function applyRoute() {
	const r = B.parseRoute(location.hash);
	/* A detail link without filter parameters keeps the current filter. */
	if (r.raceId === null || B.filterActive(r.filter) || r.filter.group) {
		if (B.formatRoute({ filter: r.filter }) !== B.formatRoute({ filter })) setFilter(r.filter, { fromUrl: true });
	}
	if (r.raceId === detail.raceId) return;
	const returnTo = detail.raceId === null ? null : rows.get(detail.raceId)?.li;
	openDetail(detail, r.raceId);
	els.main.inert = r.raceId !== null;
	document.body.classList.toggle('detail-open', r.raceId !== null);
	if (r.raceId !== null) {
		drawDetail(true);
		detail.els.close.focus();
	} else {
		openedFromList = false;
		if (returnTo && returnTo.isConnected) returnTo.focus();
	}
}

function drawDetail(all) {
	if (detail.raceId === null) return;
	const race = undo.ids.has(detail.raceId) ? undefined : feed.races.get(detail.raceId);
	updateDetailData(detail, race);
	if (all || race) updateDetailTime(detail, race, tracks.get(detail.raceId), now());
}

/* ------------------------------------------------------------------ */
/* Dismissal: confirm while running, Undo once finished                 */

function requestDismiss(id) {
	const race = feed.races.get(id);
	if (!race) return;
	if (B.dismissMode(race) === 'confirm') {
		const t = B.confirmText(race);
		setText(els.confirmTitle, t.title);
		setText(els.confirmBody, t.body);
		els.confirm.returnValue = '';
		els.confirm.dataset.id = id;
		els.confirm.showModal();
		return;
	}
	/* Finished: hide it now, send the DELETE when the Undo time is up. */
	const row = rows.get(id);
	undo.focusAfter = row ? (row.li.nextElementSibling || row.li.previousElementSibling) : null;
	undo.ids.add(id);
	clearTimeout(undo.timer);
	undo.timer = setTimeout(commitDismissals, UNDO_MS);
	const n = undo.ids.size;
	setText(els.toastText, n === 1 ? `Dismissed “${race.title || id}” for everyone.` : `Dismissed ${n} races for everyone.`);
	els.toast.hidden = false;
	if (detail.raceId === id) closeDetail();
	structureDirty = true;
	urgent = true;
}

function undoDismissals() {
	clearTimeout(undo.timer);
	const ids = [...undo.ids];
	undo.ids.clear();
	els.toast.hidden = true;
	structureDirty = true;
	urgent = true;
	announce(`Restored ${ids.length === 1 ? feed.races.get(ids[0])?.title || ids[0] : `${ids.length} races`}`);
	requestAnimationFrame(() => rows.get(ids[0])?.li.focus());
}

function commitDismissals({ keepalive = false } = {}) {
	clearTimeout(undo.timer);
	const ids = [...undo.ids];
	els.toast.hidden = true;
	for (const id of ids) sendDelete(id, keepalive);
}

async function sendDelete(id, keepalive = false) {
	const row = rows.get(id);
	if (row) {
		row.li.classList.add('leaving');
		row.parts.dismiss.disabled = true;
	}
	let ok = false;
	try {
		const res = await fetch(`race/${encodeURIComponent(id)}`, { method: 'DELETE', keepalive });
		ok = res.ok || res.status === 404;
	} catch {
		ok = false;
	}
	undo.ids.delete(id);
	if (!ok) {
		const r = rows.get(id);
		if (r) {
			r.li.classList.remove('leaving');
			r.parts.dismiss.disabled = false;
		}
		structureDirty = true;
		announce(`Could not dismiss ${feed.races.get(id)?.title || id}`);
	}
	/* On success the delete delta removes the row. */
}

els.confirm.addEventListener('close', () => {
	const id = els.confirm.dataset.id;
	if (els.confirm.returnValue === 'ok' && id) {
		if (detail.raceId === id) closeDetail();
		sendDelete(id);
	}
	const row = rows.get(id);
	if (els.confirm.returnValue !== 'ok' && row) row.li.focus();
});
els.toastUndo.addEventListener('click', undoDismissals);
/* Leaving with a dismissal still waiting for Undo: it was meant, send it. */
window.addEventListener('pagehide', () => { if (undo.ids.size) commitDismissals({ keepalive: true }); });

/* ------------------------------------------------------------------ */
/* Keyboard                                                             */

function typing(t) {
	return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

document.addEventListener('keydown', (ev) => {
	if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
	if (els.confirm.open) return; /* the dialog handles its own keys */
	if (ev.key === '/' && !typing(ev.target) && detail.raceId === null) {
		ev.preventDefault();
		els.filter.focus();
		els.filter.select();
	} else if (ev.key === 'Escape') {
		if (detail.raceId !== null) {
			ev.preventDefault();
			closeDetail();
		} else if (ev.target === els.filter) {
			if (els.filter.value) setFilter({ ...filter, q: '' });
			else els.filter.blur();
		}
	} else if (ev.key === 'ArrowDown' && ev.target === els.filter) {
		ev.preventDefault();
		document.querySelector('.race, .group-toggle')?.focus();
	}
});

/* ------------------------------------------------------------------ */
/* Render loop                                                          */

function frame(ts) {
	requestAnimationFrame(frame);
	if (structureDirty && (urgent || ts - lastSync >= SYNC_MS)) {
		structureDirty = false;
		urgent = false;
		lastSync = ts;
		syncStructure();
		drawDetail(false);
	}
	if (ts - lastTick < TICK_MS) return;
	lastTick = ts;
	const t = now();
	for (const id of onScreen) {
		const row = rows.get(id), race = feed.races.get(id);
		if (row && race) updateRowTime(row, race, tracks.get(id), t);
	}
	if (detail.raceId !== null) drawDetail(true);
	if (conn.status === 'offline') setStatus('offline', retryText());
}

function init() {
	const host = location.host || 'localhost:7777';
	const curl = $('onboarding-curl');
	curl.textContent = curl.textContent.replace('localhost:7777', host);
	if (host !== '127.0.0.1:7777' && host !== 'localhost:7777') {
		const base = new URL('.', location.href).href.replace(/\/$/, '');
		$('onboarding-run').textContent = `RACEBOARD_SERVER=${base} raceboard run -- make all`;
	}
	els.filter.addEventListener('input', () => setFilter({ ...filter, q: els.filter.value }));
	els.groupToggle.addEventListener('click', () => setFilter({ ...filter, group: !filter.group }));
	els.activeMore.addEventListener('click', () => { limits.active += B.PAGE_SIZE * 2; structureDirty = true; urgent = true; });
	els.finishedMore.addEventListener('click', () => { limits.finished += B.PAGE_SIZE * 2; structureDirty = true; urgent = true; });
	detail.els.close.addEventListener('click', closeDetail);
	detail.els.dismiss.addEventListener('click', () => requestDismiss(detail.raceId));
	window.addEventListener('hashchange', applyRoute);
	setFilter(B.parseRoute(location.hash).filter, { fromUrl: true });
	applyRoute();
	connect();
	requestAnimationFrame(frame);
	/* A hidden tab gets no animation frames; catch up when it shows again. */
	document.addEventListener('visibilitychange', () => { structureDirty = true; });
}

init();
