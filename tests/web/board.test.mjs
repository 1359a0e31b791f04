// Unit tests of web-demo/board.js: the page's list, URL, title, favicon,
// notification and dismissal rules, with fixed times (node --test tests/web/).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as B from '../../web-demo/board.js';
import * as O from '../../web-demo/optimistic.js';

const T0 = Date.parse('2026-12-06T12:00:00.000Z');
const iso = (ms) => new Date(ms).toISOString();

function race(id, over = {}) {
	return { id, source: 'cmd', title: `race ${id}`, state: 'running', started_at: iso(T0), ...over };
}

function mapOf(...races) {
	return new Map(races.map((r) => [r.id, r]));
}

describe('route', () => {
	test('the plain list is the empty hash, and parses back to no race and no filter', () => {
		assert.equal(B.formatRoute({}), '');
		assert.deepEqual(B.parseRoute(''), { raceId: null, filter: B.emptyFilter() });
		assert.deepEqual(B.parseRoute('#/'), { raceId: null, filter: B.emptyFilter() });
	});

	test('a race and a filter round-trip, ids with reserved characters included', () => {
		const r = { raceId: 'ci:main/42 ü', filter: { q: 'deploy prod', states: ['failed', 'running'], sources: ['gitlab'], group: true } };
		const h = B.formatRoute(r);
		assert.match(h, /^#\/race\/ci%3Amain%2F42%20%C3%BC\?/);
		assert.deepEqual(B.parseRoute(h), r);
	});

	test('unknown states and parameters are ignored, a bad escape is kept as it is', () => {
		const r = B.parseRoute('#/?state=failed,bogus&zzz=1&source=,a,');
		assert.deepEqual(r.filter.states, ['failed']);
		assert.deepEqual(r.filter.sources, ['a']);
		assert.equal(B.parseRoute('#/race/%E0%A4%A').raceId, '%E0%A4%A');
	});
});

describe('filter', () => {
	const r = race('build-7', { title: 'Deploy Staging', source: 'gitlab', metadata: { branch: 'feature/login', host: 'ci-3' } });

	test('every word must appear in the title, source, id or a metadata value, any case', () => {
		const f = (q) => B.matchRace(r, { ...B.emptyFilter(), q });
		assert.ok(f('deploy'));
		assert.ok(f('STAGING gitlab'));
		assert.ok(f('login'));
		assert.ok(f('build-7'));
		assert.ok(f('  '));
		assert.ok(!f('deploy prod'));
		assert.ok(!f('branch'), 'metadata keys are not matched, only values');
	});

	test('state and source chips: an empty choice means any', () => {
		assert.ok(B.matchRace(r, { ...B.emptyFilter(), states: ['running', 'failed'] }));
		assert.ok(!B.matchRace(r, { ...B.emptyFilter(), states: ['failed'] }));
		assert.ok(B.matchRace(r, { ...B.emptyFilter(), sources: ['gitlab'] }));
		assert.ok(!B.matchRace(r, { ...B.emptyFilter(), sources: ['cmd'] }));
		assert.ok(B.matchRace({ ...r, state: undefined }, { ...B.emptyFilter(), states: ['running'] }), 'no state is running');
	});
});

describe('selectBoard', () => {
	const races = mapOf(
		race('a', { started_at: iso(T0 + 1000) }),
		race('b', { started_at: iso(T0 + 3000), source: 'gitlab' }),
		race('q', { state: 'queued', started_at: iso(T0 + 9000) }),
		race('p', { state: 'passed', completed_at: iso(T0 + 5000) }),
		race('f', { state: 'failed', completed_at: iso(T0 + 7000), source: 'gitlab' }),
	);

	test('running before queued, newest first; finished by when they ended', () => {
		const b = B.selectBoard(races, B.emptyFilter());
		assert.deepEqual(b.active.items.map((i) => i.id), ['b', 'a', 'q']);
		assert.deepEqual(b.finished.items.map((i) => i.id), ['f', 'p']);
		assert.deepEqual(b.counts, { running: 2, queued: 1, passed: 1, failed: 1, canceled: 0, total: 5 });
		assert.deepEqual(b.sources, ['cmd', 'gitlab']);
	});

	test('counts cover every race, the lists only the filtered ones; hidden ids are left out of both', () => {
		const b = B.selectBoard(races, { ...B.emptyFilter(), sources: ['gitlab'] }, { hide: new Set(['f']) });
		assert.deepEqual(b.active.items.map((i) => i.id), ['b']);
		assert.deepEqual(b.finished.items, []);
		assert.equal(b.counts.total, 4);
		assert.equal(b.counts.failed, 0);
	});

	test('paging: at most the limit is drawn, the rest counted in more', () => {
		const many = new Map();
		for (let i = 0; i < 130; i++) many.set(`r${i}`, race(`r${i}`, { state: 'passed', completed_at: iso(T0 + i * 1000) }));
		const b = B.selectBoard(many, B.emptyFilter(), { finishedLimit: 50 });
		assert.equal(b.finished.items.length, 50);
		assert.equal(b.finished.more, 80);
		assert.equal(b.finished.total, 130);
		assert.equal(b.finished.items[0].id, 'r129', 'the most recent first');
	});

	test('grouping: a header per source, sorted; a folded group keeps its header and count', () => {
		const f = { ...B.emptyFilter(), group: true };
		let b = B.selectBoard(races, f);
		assert.deepEqual(b.active.items.map((i) => i.group ?? i.id), ['cmd', 'a', 'q', 'gitlab', 'b']);
		assert.deepEqual(b.active.items[0], { group: 'cmd', key: 'active:cmd', count: 2, collapsed: false });
		b = B.selectBoard(races, f, { collapsed: new Set(['active:cmd']) });
		assert.deepEqual(b.active.items.map((i) => i.group ?? i.id), ['cmd', 'gitlab', 'b']);
		assert.equal(b.active.items[0].collapsed, true);
		assert.deepEqual(b.finished.items.map((i) => i.group ?? i.id), ['cmd', 'p', 'gitlab', 'f'], 'finished folds apart');
	});
});

describe('title, favicon, notifications', () => {
	test('the tab title counts running races and flags an unseen failure', () => {
		assert.equal(B.tabTitle(3, 1), '(3) ✗ Raceboard');
		assert.equal(B.tabTitle(3, 0), '(3) Raceboard');
		assert.equal(B.tabTitle(0, 2), '✗ Raceboard');
		assert.equal(B.tabTitle(0, 0), 'Raceboard');
	});

	test('favicon: failed over running over passed over idle', () => {
		const c = (o) => ({ running: 0, queued: 0, passed: 0, failed: 0, canceled: 0, total: 0, ...o });
		assert.equal(B.faviconState(c({ running: 2, failed: 1 })), 'failed');
		assert.equal(B.faviconState(c({ running: 2 }), 1), 'failed', 'an unseen failure already dismissed');
		assert.equal(B.faviconState(c({ running: 2, passed: 3 })), 'running');
		assert.equal(B.faviconState(c({ passed: 3 })), 'passed');
		assert.equal(B.faviconState(c({})), 'idle');
		for (const s of ['running', 'passed', 'failed', 'idle']) {
			const href = B.faviconHref(s);
			assert.match(href, /^data:image\/svg\+xml,/);
			assert.match(decodeURIComponent(href), /^data:image\/svg\+xml,<svg /);
		}
		assert.notEqual(B.faviconHref('failed'), B.faviconHref('passed'));
	});

	test('a finish is a transition seen live, never a snapshot and never a restart', () => {
		const run = race('x');
		const failed = { ...run, state: 'failed', duration_sec: 75, metadata: { exit_code: '2' } };
		const changed = [
			{ op: 'update', id: 'x', race: failed, prev: run },
			{ op: 'update', id: 'y', race: race('y'), prev: { ...race('y'), state: 'failed' } },
			{ op: 'create', id: 'z', race: { ...race('z'), state: 'passed' }, prev: undefined },
			{ op: 'update', id: 'w', race: { ...race('w'), state: 'passed', title: 'again' }, prev: { ...race('w'), state: 'passed' } },
			{ op: 'delete', id: 'v', race: undefined, prev: run },
		];
		assert.deepEqual(B.finishesOf(changed, false), [{ id: 'x', title: 'race x', state: 'failed', source: 'cmd' }]);
		assert.deepEqual(B.finishesOf(changed, true), []);
		const n = B.notificationFor(B.finishesOf(changed, false)[0], failed);
		assert.deepEqual(n, { title: '✗ race x', body: 'cmd: failed in 1m 15s (exit 2)', tag: 'raceboard-x' });
	});
});

describe('dismissal', () => {
	test('running and queued races ask first and say it is for everyone; finished ones get Undo', () => {
		assert.equal(B.dismissMode(race('a')), 'confirm');
		assert.equal(B.dismissMode(race('a', { state: 'queued' })), 'confirm');
		for (const s of O.FINISHED_STATES) assert.equal(B.dismissMode(race('a', { state: s })), 'undo');
		const t = B.confirmText(race('a', { title: 'Deploy' }));
		assert.equal(t.title, 'Dismiss “Deploy”?');
		assert.match(t.body, /still running/);
		assert.match(t.body, /everyone/);
	});
});

describe('times and words', () => {
	test('relative time, coarse and never in the future', () => {
		const cases = [[0, 'just now'], [-3000, 'just now'], [12_000, '12 s ago'], [180_000, '3 min ago'],
			[3 * 3600_000 + 5, '3 h ago'], [2 * 86400_000, '2 d ago']];
		for (const [ago, want] of cases) assert.equal(B.relativeTime(T0 - ago, T0), want, `${ago} ms`);
		assert.equal(B.relativeTime(NaN, T0), '');
	});

	test('ended label only for finished races with a completion time', () => {
		assert.equal(B.endedLabel(race('a', { state: 'passed', completed_at: iso(T0 - 180_000) }), T0), 'ended 3 min ago');
		assert.equal(B.endedLabel(race('a', { completed_at: iso(T0) }), T0), '');
		assert.equal(B.endedLabel(race('a', { state: 'failed' }), T0), '');
	});

	test('ETA provenance and confidence in words', () => {
		assert.equal(B.etaProvenance(race('a', { eta_sec: 5, eta_source: 1, eta_confidence: 1 })), 'exact (the producer knows when it ends), certain');
		assert.equal(B.etaProvenance(race('a', { eta_sec: 5, eta_source: 3, eta_confidence: 0.3 })), 'predicted from past runs, low confidence');
		assert.equal(B.etaProvenance(race('a', { eta_sec: 5, eta_source: 2, eta_confidence: 0.5 })), 'estimated by the producer, medium confidence');
		assert.equal(B.etaProvenance(race('a', { eta_sec: 5, eta_source: 9 })), 'source 9, unknown confidence');
		assert.equal(B.etaProvenance(race('a')), 'No ETA reported');
	});

	test('ETA chart: points oldest first, scaled into the box with the largest ETA at the top', () => {
		const r = race('a', { eta_revisions: [
			{ eta_sec: 120, timestamp: iso(T0 + 10_000), source: 2 },
			{ eta_sec: 60, timestamp: iso(T0), source: 2 },
		] });
		const c = B.etaChart(r);
		assert.deepEqual(c.points.map((p) => p.etaSec), [60, 120]);
		assert.equal(c.max, 120);
		assert.equal(B.chartPolyline(c, 100, 50, 0), '0.0,25.0 100.0,0.0');
		assert.equal(B.chartPolyline(B.etaChart(race('b')), 100, 50), '');
		const one = B.etaChart(race('c', { eta_revisions: [{ eta_sec: 30, timestamp: iso(T0) }] }));
		assert.equal(B.chartPolyline(one, 100, 50, 0), '50.0,0.0');
	});

	test('metadata sorted, event data as text, only http(s) links', () => {
		assert.deepEqual(B.metadataRows(race('a', { metadata: { z: '1', a: '2' } })), [['a', '2'], ['z', '1']]);
		assert.deepEqual(B.metadataRows(race('a')), []);
		assert.equal(B.eventText({ type: 'log', data: '<b>x</b>' }), '<b>x</b>');
		assert.equal(B.eventText({ type: 'stage', data: { name: 'link' } }), '{"name":"link"}');
		assert.equal(B.eventText({ type: 'x' }), '');
		assert.equal(B.safeHref('https://ci.example/p/1', 'http://h/'), 'https://ci.example/p/1');
		assert.equal(B.safeHref('javascript:alert(1)', 'http://h/'), null);
		assert.equal(B.safeHref('data:text/html,x', 'http://h/'), null);
	});
});

describe('applyFrame batches', () => {
	test('a batch copies the race map once and leaves the caller\'s feed as it was', () => {
		let feed = O.createFeed();
		feed = O.applyFrame(feed, { type: 'snapshot', seq: 1, races: [race('a'), race('b')] }).feed;
		const before = feed.races;
		const res = O.applyFrame(feed, { type: 'batch', deltas: [
			{ type: 'delta', seq: 2, op: 'update', id: 'a', changes: { progress: 10 } },
			{ type: 'delta', seq: 3, op: 'update', id: 'a', changes: { progress: 20 } },
			{ type: 'delta', seq: 4, op: 'delete', id: 'b' },
			{ type: 'delta', seq: 5, op: 'create', id: 'c', race: race('c') },
		] });
		assert.equal(res.feed.seq, 5);
		assert.deepEqual([...res.feed.races.keys()].sort(), ['a', 'c']);
		assert.equal(res.feed.races.get('a').progress, 20);
		assert.deepEqual(res.changed.map((c) => [c.op, c.id]), [['update', 'a'], ['update', 'a'], ['delete', 'b'], ['create', 'c']]);
		assert.equal(res.changed[1].prev.progress, 10, 'the second update sees the first');
		assert.deepEqual([...before.keys()], ['a', 'b'], 'the old map is untouched');
		assert.equal(before.get('a').progress, undefined);
	});
});
