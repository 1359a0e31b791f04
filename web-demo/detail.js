/*
 * detail.js - the detail view of one race (#/race/<id>): every field in
 * words, the ETA revisions as a chart and a table, metadata, the events
 * timeline and the deeplink. Like a row it redraws its static parts when
 * the race object changes and its moving parts every tick. Text goes in
 * through textContent only; the chart is SVG built with the DOM. The
 * output tail is shown with ANSI codes stripped (output.js).
 */
import * as O from './optimistic.js';
import * as B from './board.js';
import { displayTail, atBottom } from './output.js';
import { el, setText, setData, STATE_LABEL, FRESH_LABEL, absTime, clockTime, fmtPct, revisionsTable, drawBar, etaTextOf } from './rows.js';

const SVG = 'http://www.w3.org/2000/svg';
const CHART_W = 720, CHART_H = 120;

function svg(tag, attrs) {
	const e = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
	return e;
}

const $ = (id) => document.getElementById(id);

export function createDetail() {
	const d = {
		root: $('detail'), body: $('detail-body'), missing: $('detail-missing'),
		title: $('detail-title'), state: $('detail-state'), source: $('detail-source'), id: $('detail-id'),
		linkWrap: $('detail-link-wrap'), link: $('detail-link'),
		bar: $('detail-bar'), pct: $('detail-pct'), facts: $('detail-facts'),
		chart: $('detail-chart'), revisions: $('detail-revisions'), meta: $('detail-meta'),
		events: $('detail-events'), close: $('detail-close'), dismiss: $('detail-dismiss'),
		output: $('detail-output'), outputJump: $('detail-output-jump'), outputDropped: $('detail-output-dropped'),
	};
	d.solid = d.bar.querySelector('.bar-solid');
	d.overlay = d.bar.querySelector('.bar-overlay');
	const v = {
		els: d, raceId: null, raceRef: null, view: null, facts: new Map(), metaKey: '', eventsKey: '', chartKey: '',
		outputRef: undefined, outputStick: true,
	};
	/* Follow new lines only while the reader is at the bottom: scrolling
	 * up to read stops it, scrolling back down (or the button) resumes. */
	d.output.addEventListener('scroll', () => {
		v.outputStick = atBottom(d.output.scrollTop, d.output.clientHeight, d.output.scrollHeight);
		d.outputJump.hidden = v.outputStick;
	}, { passive: true });
	d.outputJump.addEventListener('click', () => {
		v.outputStick = true;
		d.output.scrollTop = d.output.scrollHeight;
		d.outputJump.hidden = true;
	});
	return v;
}

/** Shows the view for `raceId` (or hides it with null). */
const UNDRAWN = Object.freeze({});

export function openDetail(v, raceId) {
	v.raceId = raceId;
	v.raceRef = UNDRAWN; /* not undefined: that is "the race is gone", which is drawn too */
	v.view = null;
	v.outputRef = undefined;
	v.outputStick = true;
	v.els.outputJump.hidden = true;
	v.els.root.hidden = raceId === null;
	v.els.root.dataset.id = raceId === null ? '' : raceId;
}

function fact(v, key, label) {
	let f = v.facts.get(key);
	if (!f) {
		const dt = el('dt', '', label);
		const dd = el('dd');
		dd.dataset.fact = key;
		v.els.facts.append(dt, dd);
		f = { dt, dd };
		v.facts.set(key, f);
	}
	return f;
}

function setFact(v, key, label, text, title) {
	const f = fact(v, key, label);
	const show = text !== '' && text !== null && text !== undefined;
	f.dt.hidden = !show;
	f.dd.hidden = !show;
	setText(f.dd, show ? String(text) : '');
	if (title !== undefined && f.dd.title !== title) f.dd.title = title;
}

function whenText(ms, now) {
	return Number.isFinite(ms) ? `${absTime(ms)} (${B.relativeTime(ms, now)})` : '';
}

function drawChart(v, race) {
	const chart = B.etaChart(race);
	const key = JSON.stringify(chart.points);
	if (key === v.chartKey) return;
	v.chartKey = key;
	if (!chart.points.length) {
		v.els.chart.replaceChildren(el('p', 'tip-empty', 'No ETA reported yet'));
		v.els.revisions.replaceChildren();
		return;
	}
	const s = svg('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: 'eta-chart', role: 'img' });
	s.setAttribute('aria-label', `ETA over time: ${chart.points.map((p) => O.formatDuration(p.etaSec)).join(', ')}`);
	s.append(svg('line', { x1: 0, y1: CHART_H - 18, x2: CHART_W, y2: CHART_H - 18, class: 'axis' }));
	s.append(svg('polyline', { points: B.chartPolyline(chart, CHART_W, CHART_H, 18), class: 'eta-line' }));
	for (const pt of B.chartPolyline(chart, CHART_W, CHART_H, 18).split(' ').map((xy, i) => [xy.split(','), chart.points[i]])) {
		const c = svg('circle', { cx: pt[0][0], cy: pt[0][1], r: 3.5, class: 'eta-dot' });
		const t = svg('title');
		t.textContent = `${clockTime(pt[1].t)}: ETA ${O.formatDuration(pt[1].etaSec)}`;
		c.append(t);
		s.append(c);
	}
	const label = (x, y, text, anchor) => {
		const t = svg('text', { x, y, class: 'chart-label', 'text-anchor': anchor });
		t.textContent = text;
		s.append(t);
	};
	const hms = clockTime;
	label(4, 12, `ETA ${O.formatDuration(chart.max)}`, 'start');
	label(4, CHART_H - 4, hms(chart.t0), 'start');
	if (chart.t1 > chart.t0) label(CHART_W - 4, CHART_H - 4, hms(chart.t1), 'end');
	v.els.chart.replaceChildren(s);
	v.els.revisions.replaceChildren(...revisionsTable(O.revisionRows(race), true).childNodes);
}

function drawMeta(v, race) {
	const rows = B.metadataRows(race);
	const key = JSON.stringify(rows);
	if (key === v.metaKey) return;
	v.metaKey = key;
	if (!rows.length) {
		v.els.meta.replaceChildren(el('p', 'tip-empty', 'No metadata'));
		return;
	}
	const out = [];
	for (const [k, val] of rows) out.push(el('dt', '', k), el('dd', '', val));
	v.els.meta.replaceChildren(...out);
}

function drawEvents(v, race) {
	const evs = Array.isArray(race.events) ? race.events : [];
	const key = `${evs.length}:${race.events_dropped || 0}:${evs.length ? JSON.stringify(evs[evs.length - 1]) : ''}`;
	if (key === v.eventsKey) return;
	v.eventsKey = key;
	const items = [];
	for (let i = evs.length - 1; i >= 0; i--) {
		const e = evs[i];
		const li = el('li', 'ev');
		const t = O.parseTime(e.timestamp);
		const time = el('time', 'ev-time', Number.isFinite(t) ? clockTime(t) : '');
		if (Number.isFinite(t)) {
			time.dateTime = new Date(t).toISOString();
			time.title = absTime(t);
		}
		li.append(time, el('span', 'ev-type', String(e.type || '')));
		const text = B.eventText(e);
		if (text) li.append(el('span', 'ev-data', text));
		items.push(li);
	}
	if (!items.length) items.push(el('li', 'tip-empty', 'No events yet'));
	if (race.events_dropped > 0) items.push(el('li', 'ev-dropped', `${race.events_dropped} older event${race.events_dropped === 1 ? '' : 's'} not kept`));
	v.els.events.replaceChildren(...items);
}

/* The output tail as text (textContent: never HTML), scrolled to the
 * newest line unless the reader scrolled up. */
function drawOutput(v, race) {
	const d = v.els;
	const lines = Array.isArray(race.output) ? race.output : null;
	if (lines === v.outputRef) return;
	v.outputRef = lines;
	const dropped = race.output_dropped || 0;
	d.outputDropped.hidden = !(dropped > 0);
	setText(d.outputDropped, dropped > 0
		? `${dropped.toLocaleString('en-US')} earlier line${dropped === 1 ? '' : 's'} not kept` : '');
	const stick = v.outputStick;
	d.output.textContent = displayTail(race).join('\n');
	if (stick) d.output.scrollTop = d.output.scrollHeight;
	d.outputJump.hidden = stick;
}

/** Static parts, when the race object changed (or the race went away). */
export function updateDetailData(v, race) {
	if (v.raceRef === race) return;
	v.raceRef = race;
	const d = v.els;
	d.missing.hidden = !!race;
	d.body.hidden = !race;
	d.dismiss.hidden = !race;
	if (!race) {
		setText(d.title, v.raceId);
		setText(d.state, '');
		setText(d.missing, 'This race is not on the board: it finished long enough ago to expire, or it was dismissed. Its link works again if the id reports once more.');
		return;
	}
	setData(d.root, 'state', race.state || 'running');
	setText(d.title, race.title || race.id);
	setText(d.state, STATE_LABEL[race.state] || race.state || '');
	setText(d.source, race.source || '');
	setText(d.id, race.id);
	const href = race.deeplink ? B.safeHref(race.deeplink, location.href) : null;
	d.linkWrap.hidden = !href;
	if (href) {
		d.link.href = href;
		setText(d.link, `Open ${new URL(href).host} ↗`);
		d.link.title = href;
	}
	drawChart(v, race);
	drawMeta(v, race);
	drawOutput(v, race);
	drawEvents(v, race);
}

/** Moving parts: every tick while open. */
export function updateDetailTime(v, race, track, now) {
	if (!race) return;
	const view = O.raceView(race, track, now);
	drawBar(v.els.bar, v.els.solid, v.els.overlay, v.view, view);
	v.view = view;
	setText(v.els.pct, Number.isFinite(race.progress) || race.state === 'passed' ? fmtPct(view.solid) : 'no progress reported');

	const started = O.parseTime(race.started_at);
	const ended = O.parseTime(race.completed_at);
	setFact(v, 'state', 'State', `${STATE_LABEL[race.state] || race.state}${O.isFinished(race.state) ? '' : ` · ${FRESH_LABEL[view.freshness]}`}`);
	setFact(v, 'started', 'Started', whenText(started, now));
	setFact(v, 'ended', 'Ended', O.isFinished(race.state) ? whenText(ended, now) : '');
	setFact(v, 'duration', O.isFinished(race.state) ? 'Took' : 'Elapsed', view.elapsed === null ? '' : O.formatDuration(Math.floor(view.elapsed)));
	setFact(v, 'progress', 'Progress', Number.isFinite(race.progress)
		? `${race.progress}% reported${view.overlay !== null ? `, about ${fmtPct(view.overlay)} predicted` : ''}` : 'none reported');
	setFact(v, 'eta', 'ETA', O.isFinished(race.state) ? '' : etaTextOf(race, view));
	setFact(v, 'provenance', 'ETA from', Number.isFinite(race.eta_sec) ? B.etaProvenance(race) : '');
	setFact(v, 'hint', 'Reports', Number.isFinite(race.update_interval_hint)
		? `about every ${O.formatDuration(race.update_interval_hint)} (update_interval_hint)` : '');
	const lpu = O.parseTime(race.last_progress_update);
	setFact(v, 'heard', 'Last progress', Number.isFinite(lpu) ? whenText(lpu, now) : '');
}
