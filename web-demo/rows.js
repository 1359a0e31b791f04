/*
 * rows.js - one race as a row of the list (and one source's group header):
 * building the DOM once, then updating only what changed. The static parts
 * follow the race object (a new object means a new report); the moving
 * parts (elapsed, countdown, overlay, "ended 3 min ago") follow the clock
 * and are redrawn every tick, for the rows on screen only. Never builds
 * HTML from strings: every text goes in through textContent.
 */
import * as O from './optimistic.js';
import * as B from './board.js';

export const STATE_LABEL = {
	queued: 'Queued', running: 'Running', passed: 'Passed', failed: 'Failed', canceled: 'Canceled',
};
export const FRESH_LABEL = {
	fresh: 'Fresh: reported within its update interval',
	predicting: 'Predicting: between updates, values are extrapolated',
	stale: 'Stale: no update for a while',
	queued: 'Queued', final: 'Finished',
};

export function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
}

export function setText(node, text) {
	if (node.textContent !== text) node.textContent = text;
}

export function setData(node, key, value) {
	const v = String(value);
	if (node.dataset[key] !== v) node.dataset[key] = v;
}

export const fmtPct = (p) => `${Math.round(p)}%`;

/* One formatter each, made once: toLocaleString() builds a new one per
 * call, which at a hundred rows a tick was most of the page's time. */
const DATE_TIME = new Intl.DateTimeFormat([], { dateStyle: 'medium', timeStyle: 'medium', hour12: false });
const TIME = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** "6 Dec 2026, 18:10:15" in the reader's locale; '' for a missing time. */
export function absTime(ms) {
	return Number.isFinite(ms) ? DATE_TIME.format(ms) : '';
}

/** "18:10:15"; '?' for a missing time. */
export function clockTime(ms) {
	return Number.isFinite(ms) ? TIME.format(ms) : '?';
}

let uid = 0;

/**
 * A new row for race `id`. on.open(id) opens its detail view (click on the
 * row or its title, Enter); on.dismiss(id) starts a dismissal (the button
 * or Delete; Backspace alone never does).
 */
export function createRow(id, on) {
	const n = ++uid;
	const li = el('li', 'race');
	li.dataset.id = id;
	li.tabIndex = 0;

	const head = el('div', 'race-head');
	const dot = el('span', 'fresh-dot');
	dot.setAttribute('role', 'img');
	const titleWrap = el('h3', 'race-title');
	titleWrap.id = `race-title-${n}`;
	const titleLink = el('a', 'race-open');
	titleLink.href = `#/race/${encodeURIComponent(id)}`;
	titleWrap.append(titleLink);
	const badge = el('span', 'state-badge');
	head.append(dot, titleWrap, badge);

	const meta = el('p', 'race-meta');
	const source = el('span', 'source');
	const elapsed = el('span', 'elapsed');
	const pct = el('span', 'pct');
	const ended = el('span', 'ended');
	ended.hidden = true;
	const last = el('span', 'last-event');
	meta.append(source, elapsed, pct, ended, last);

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

	dismiss.addEventListener('click', (ev) => {
		ev.stopPropagation();
		on.dismiss(id);
	});
	titleLink.addEventListener('click', (ev) => {
		if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return; /* new tab: let it */
		ev.preventDefault();
		on.open(id);
	});
	li.addEventListener('click', (ev) => {
		/* A click anywhere on the row opens it, except on its own controls. */
		if (ev.target.closest('a, button, .eta-wrap')) return;
		if (window.getSelection && String(window.getSelection()) !== '') return;
		on.open(id);
	});
	eta.addEventListener('keydown', (ev) => {
		if (ev.key === 'Escape') {
			etaWrap.classList.add('tip-hidden');
			ev.stopPropagation();
		}
	});
	eta.addEventListener('blur', () => etaWrap.classList.remove('tip-hidden'));
	etaWrap.addEventListener('mouseleave', () => etaWrap.classList.remove('tip-hidden'));
	li.addEventListener('keydown', (ev) => {
		if (ev.target !== li || ev.altKey || ev.ctrlKey || ev.metaKey) return;
		if (ev.key === 'Delete') {
			ev.preventDefault();
			on.dismiss(id);
		} else if (ev.key === 'Enter') {
			ev.preventDefault();
			on.open(id);
		} else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
			ev.preventDefault();
			const all = [...document.querySelectorAll('.race, .group-toggle')];
			const i = all.indexOf(li) + (ev.key === 'ArrowDown' ? 1 : -1);
			if (all[i]) all[i].focus();
		}
	});

	return {
		li, view: null, raceRef: null, tipKey: '', endedKey: '',
		parts: { dot, titleWrap, titleLink, badge, source, elapsed, pct, ended, last, bar, overlay, solid, pill, eta, etaWrap, tip, dismiss },
	};
}

/** A source's header in a grouped list: a button that folds the group. */
export function createGroupRow(key, onToggle) {
	const li = el('li', 'group-row');
	li.dataset.key = key;
	const btn = el('button', 'group-toggle');
	btn.type = 'button';
	const name = el('span', 'group-name');
	const count = el('span', 'count');
	btn.append(el('span', 'chevron'), name, count);
	li.append(btn);
	btn.addEventListener('click', () => onToggle(key));
	btn.addEventListener('keydown', (ev) => {
		if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
			ev.preventDefault();
			const all = [...document.querySelectorAll('.race, .group-toggle')];
			const i = all.indexOf(btn) + (ev.key === 'ArrowDown' ? 1 : -1);
			if (all[i]) all[i].focus();
		}
	});
	return { li, btn, name, count };
}

export function updateGroupRow(g, item) {
	setText(g.name, item.group || '(no source)');
	setText(g.count, String(item.count));
	g.btn.setAttribute('aria-expanded', String(!item.collapsed));
	g.btn.setAttribute('aria-label', `${item.group || 'no source'}: ${item.count} race${item.count === 1 ? '' : 's'}, ${item.collapsed ? 'folded' : 'shown'}`);
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

/** Static parts: only when the race object changed. */
export function updateRowData(row, race) {
	if (row.raceRef === race) return;
	row.raceRef = race;
	const p = row.parts;
	setData(row.li, 'state', race.state || 'running');
	const title = race.title || race.id;
	setText(p.titleLink, title);
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
		p.tip.replaceChildren(el('p', 'tip-title', 'ETA revisions'), revisionsTable(revs, false));
	}
}

/** The ETA revisions as a table (or a line saying there are none). */
export function revisionsTable(revs, withFinish) {
	if (revs.length === 0) return el('p', 'tip-empty', 'No ETA reported yet');
	const table = el('table', 'tip-table');
	const thead = el('thead');
	const hr = el('tr');
	const heads = withFinish ? ['Time', 'ETA', 'Finish at', 'Source', 'Conf.'] : ['Time', 'ETA', 'Source', 'Conf.'];
	for (const h of heads) hr.append(el('th', '', h));
	thead.append(hr);
	const tbody = el('tbody');
	const hms = clockTime;
	for (const r of revs) {
		const tr = el('tr');
		tr.append(el('td', 'tip-time', hms(r.at)), el('td', 'tip-eta', O.formatDuration(r.etaSec)));
		if (withFinish) tr.append(el('td', 'tip-finish', hms(r.finishAt)));
		tr.append(el('td', 'tip-src', r.source),
			el('td', 'tip-conf', r.confidence === null ? '–' : `${Math.round(r.confidence * 100)}%`));
		tbody.append(tr);
	}
	table.append(thead, tbody);
	return table;
}

/** The dual-rail bar of a view (shared by rows and the detail view). */
export function drawBar(bar, solidEl, overlayEl, prev, view) {
	const solid = view.solid;
	const ret = O.retraction(prev, view);
	if (ret.retracting) bar.classList.add('retracting');
	else if (prev && view.overlay !== null && view.overlayTarget > prev.overlayTarget) bar.classList.remove('retracting');
	const solidW = `${solid.toFixed(2)}%`;
	const overW = `${view.overlayTarget.toFixed(2)}%`;
	if (solidEl.style.width !== solidW) solidEl.style.width = solidW;
	if (overlayEl.style.width !== overW) overlayEl.style.width = overW;
	bar.classList.toggle('predicting', view.overlay !== null);
	setData(bar, 'solid', Math.round(solid * 100) / 100);
	setData(bar, 'overlay', view.overlay === null ? '' : Math.round(view.overlay * 100) / 100);
	const now = String(Math.round(solid));
	if (bar.getAttribute('aria-valuenow') !== now) bar.setAttribute('aria-valuenow', now);
	const vt = view.overlay === null ? `${fmtPct(solid)} reported`
		: `${fmtPct(solid)} reported, about ${fmtPct(view.overlay)} predicted`;
	if (bar.getAttribute('aria-valuetext') !== vt) bar.setAttribute('aria-valuetext', vt);
}

/** The ETA text of a view: the countdown, or what a finished race took. */
export function etaTextOf(race, view) {
	if (view.eta) return view.eta.text;
	if (O.isFinished(race.state)) return view.elapsed === null ? '' : `Took ${O.formatDuration(Math.floor(view.elapsed))}`;
	return 'No ETA';
}

/** Moving parts: every tick. */
export function updateRowTime(row, race, track, t) {
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

	const hasProgress = Number.isFinite(race.progress) || race.state === 'passed';
	setText(p.pct, hasProgress ? fmtPct(view.solid) : '');
	p.pct.hidden = !hasProgress;

	const ended = B.endedLabel(race, t);
	if (ended !== row.endedKey) {
		row.endedKey = ended;
		p.ended.textContent = ended;
		p.ended.hidden = ended === '';
		p.ended.title = ended ? `Ended ${absTime(O.parseTime(race.completed_at))}` : '';
	}

	drawBar(p.bar, p.solid, p.overlay, prev, view);
	setText(p.eta, etaTextOf(race, view));
	setData(p.eta, 'approx', view.eta ? view.eta.approx : false);
	setData(p.eta, 'kind', view.eta ? (view.eta.remaining <= 0 ? 'soon' : 'eta') : 'none');

	if (p.pill.hidden === view.revised) p.pill.hidden = !view.revised;
}
