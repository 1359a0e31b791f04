// Unit tests of web-demo/optimistic.js, the page's optimistic-progress rules.
// Run: node --test tests/web/
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as O from '../../web-demo/optimistic.js';

const T0 = Date.parse('2026-11-28T23:00:00.000Z');
const iso = (ms) => new Date(ms).toISOString();
const at = (sec) => T0 + sec * 1000;

function race(over = {}) {
	return {
		id: 'build-42', source: 'cmd', title: 'make all', state: 'running',
		started_at: iso(at(-60)), progress: 40, eta_sec: 150, eta_source: 2,
		eta_confidence: 0.5, update_interval_hint: 5,
		last_progress_update: iso(at(0)), last_eta_update: iso(at(0)),
		...over,
	};
}

describe('trust window', () => {
	test('no prediction inside update_interval_hint, prediction after it', () => {
		const r = race({ progress_prediction: { rate_per_sec: 1 } });
		assert.equal(O.pastTrustWindow(r, at(4.9)), false);
		assert.equal(O.pastTrustWindow(r, at(5)), false, 'exactly the hint is still trusted');
		assert.equal(O.pastTrustWindow(r, at(5.1)), true);
		const tr = O.observeRace(undefined, r);
		assert.equal(O.predictedProgress(r, tr, at(4)), null);
		assert.ok(O.predictedProgress(r, tr, at(6)) > 40);
	});
	test('never for an exact ETA (eta_source 1)', () => {
		const r = race({ eta_source: 1, progress_prediction: { rate_per_sec: 1 } });
		const tr = O.observeRace(undefined, r);
		assert.equal(O.pastTrustWindow(r, at(600)), false);
		assert.equal(O.predictedProgress(r, tr, at(600)), null);
		assert.equal(O.freshness(r, at(600)), 'fresh');
		assert.equal(O.etaLabel(r, at(600)).text, 'Finishing soon');
		assert.equal(O.etaLabel(r, at(30)).text, 'ETA 2m', 'exact ETAs never get ≈');
	});
	test('a server progress estimate (eta_source 5) is approximate, like 3 and 4', () => {
		for (const src of [3, 4, 5]) {
			const r = race({ eta_source: src });
			assert.equal(O.etaLabel(r, at(0)).approx, true, `source ${src}`);
		}
		assert.equal(O.etaLabel(race({ eta_source: 2 }), at(0)).approx, false);
	});
	test('only while running', () => {
		for (const state of ['queued', 'passed', 'failed', 'canceled']) {
			const r = race({ state, progress_prediction: { rate_per_sec: 1 } });
			assert.equal(O.predictedProgress(r, O.observeRace(undefined, r), at(60)), null, state);
		}
	});
	test('default hint of 10 s when the race has none', () => {
		const r = race({ update_interval_hint: undefined });
		assert.equal(O.pastTrustWindow(r, at(9)), false);
		assert.equal(O.pastTrustWindow(r, at(11)), true);
	});
	test('no last_progress_update: no prediction', () => {
		const r = race({ last_progress_update: undefined, progress_prediction: { rate_per_sec: 1 } });
		assert.equal(O.predictedProgress(r, O.observeRace(undefined, r), at(60)), null);
	});
});

describe('predicted progress', () => {
	test('uses progress_prediction.rate_per_sec when present', () => {
		const r = race({ progress_prediction: { rate_per_sec: 0.5, current: 41 } });
		const tr = O.observeRace(undefined, r);
		assert.equal(O.predictedProgress(r, tr, at(10)), 45);
		assert.deepEqual(O.predictionRate(r, tr, at(10)), { rate: 0.5, from: 'server' });
	});
	test('else a rate estimated from the recorded updates', () => {
		let tr;
		let r = race({ progress: 10, last_progress_update: iso(at(-20)), eta_sec: undefined });
		tr = O.observeRace(tr, r);
		r = race({ progress: 20, last_progress_update: iso(at(-10)), eta_sec: undefined });
		tr = O.observeRace(tr, r);
		r = race({ progress: 30, last_progress_update: iso(at(0)), eta_sec: undefined });
		tr = O.observeRace(tr, r);
		assert.equal(tr.samples.length, 3);
		assert.equal(O.estimateRate(tr.samples), 1);
		assert.deepEqual(O.predictionRate(r, tr, at(8)), { rate: 1, from: 'observed' });
		assert.equal(O.predictedProgress(r, tr, at(8)), 38);
	});
	test('the same update seen twice records one sample', () => {
		const r = race();
		const tr = O.observeRace(O.observeRace(undefined, r), r);
		assert.equal(tr.samples.length, 1);
	});
	test('samples are bounded', () => {
		let tr;
		for (let i = 0; i < 20; i++) {
			tr = O.observeRace(tr, race({ progress: i * 2, last_progress_update: iso(at(i)) }));
		}
		assert.equal(tr.samples.length, O.DEFAULTS.rateSamples);
		assert.equal(O.estimateRate(tr.samples), 2);
	});
	test('falls back to the rate the ETA implies', () => {
		const r = race({ progress: 50, eta_sec: 100 });
		const tr = O.observeRace(undefined, r);
		assert.deepEqual(O.predictionRate(r, tr, at(10)), { rate: 0.5, from: 'eta' });
		assert.equal(O.predictedProgress(r, tr, at(10)), 55);
	});
	test('no rate at all: no overlay', () => {
		const r = race({ eta_sec: undefined, last_eta_update: undefined });
		assert.equal(O.predictedProgress(r, O.observeRace(undefined, r), at(30)), null);
	});
	test('a rate of zero or less is no rate', () => {
		assert.equal(O.estimateRate([{ t: at(0), p: 30 }, { t: at(10), p: 30 }]), null);
		const r = race({ progress_prediction: { rate_per_sec: 0 }, eta_sec: undefined });
		assert.equal(O.predictionRate(r, O.observeRace(undefined, r), at(10)), null);
	});
});

describe('overlay cap and visibility', () => {
	test('capped at +20 points above the solid rail by default', () => {
		const r = race({ progress: 40, progress_prediction: { rate_per_sec: 2 } });
		const tr = O.observeRace(undefined, r);
		assert.equal(O.predictedProgress(r, tr, at(8)), 56);
		assert.equal(O.predictedProgress(r, tr, at(60)), 60);
		assert.equal(O.predictedProgress(r, tr, at(60), { overlayCap: 5 }), 45);
	});
	test('never 100 while running', () => {
		const r = race({ progress: 95, progress_prediction: { rate_per_sec: 2 } });
		assert.equal(O.predictedProgress(r, O.observeRace(undefined, r), at(60)), 99);
	});
	test('hidden below 5% reported progress', () => {
		const r = race({ progress: 4, progress_prediction: { rate_per_sec: 2 } });
		assert.equal(O.predictedProgress(r, O.observeRace(undefined, r), at(30)), null);
		const r5 = race({ progress: 5, progress_prediction: { rate_per_sec: 2 } });
		assert.ok(O.predictedProgress(r5, O.observeRace(undefined, r5), at(30)) > 5);
	});
	test('raceView gives the overlay target: prediction or the rail', () => {
		const r = race({ progress_prediction: { rate_per_sec: 1 } });
		const tr = O.observeRace(undefined, r);
		assert.equal(O.raceView(r, tr, at(2)).overlayTarget, 40);
		assert.equal(O.raceView(r, tr, at(10)).overlayTarget, 50);
		assert.equal(O.raceView(r, tr, at(10)).overlay, 50);
		assert.equal(O.raceView(r, tr, at(2)).overlay, null);
	});
});

describe('never-regress and restart', () => {
	test('a lower report while running does not move the rail back', () => {
		let tr = O.observeRace(undefined, race({ progress: 60 }));
		tr = O.observeRace(tr, race({ progress: 45, last_progress_update: iso(at(5)) }));
		assert.equal(tr.solid, 60);
		tr = O.observeRace(tr, race({ progress: 70, last_progress_update: iso(at(10)) }));
		assert.equal(tr.solid, 70);
	});
	test('a restart (finished, then running again) resets the rail', () => {
		let tr = O.observeRace(undefined, race({ progress: 80 }));
		tr = O.observeRace(tr, race({ state: 'failed', progress: 80 }));
		assert.equal(tr.solid, 80);
		tr = O.observeRace(tr, race({ state: 'running', progress: 3 }));
		assert.equal(tr.solid, 3);
		assert.equal(tr.restarted, true);
		assert.equal(tr.samples.length, 1);
	});
	test('a new started_at is a restart', () => {
		let tr = O.observeRace(undefined, race({ progress: 80 }));
		tr = O.observeRace(tr, race({ progress: 10, started_at: iso(at(1)) }));
		assert.equal(tr.solid, 10);
	});
	test('passed shows a full rail; queued follows the report', () => {
		assert.equal(O.observeRace(undefined, race({ state: 'passed', progress: undefined })).solid, 100);
		assert.equal(O.observeRace(undefined, race({ state: 'passed', progress: 50 })).solid, 100);
		let tr = O.observeRace(undefined, race({ state: 'queued', progress: 30 }));
		tr = O.observeRace(tr, race({ state: 'queued', progress: 10 }));
		assert.equal(tr.solid, 10);
	});
	test('progress outside 0..100 is clamped', () => {
		assert.equal(O.observeRace(undefined, race({ progress: 140 })).solid, 100);
	});
});

describe('retraction', () => {
	test('a real update below the prediction retracts the overlay to the new rail', () => {
		const r1 = race({ progress: 40, progress_prediction: { rate_per_sec: 2 } });
		let tr = O.observeRace(undefined, r1);
		const before = O.raceView(r1, tr, at(9)); // 40 + 18 = 58
		assert.equal(before.overlayTarget, 58);
		const r2 = race({ progress: 50, last_progress_update: iso(at(9)), progress_prediction: { rate_per_sec: 2 } });
		tr = O.observeRace(tr, r2);
		const after = O.raceView(r2, tr, at(9));
		assert.equal(after.solid, 50);
		assert.equal(after.overlay, null, 'inside the trust window again');
		assert.deepEqual(O.retraction(before, after), { from: 58, to: 50, retracting: true });
	});
	test('an update above the prediction is no retraction', () => {
		const a = { overlayTarget: 55 }, b = { overlayTarget: 70 };
		assert.equal(O.retraction(a, b).retracting, false);
		assert.equal(O.retraction(undefined, b).retracting, false);
	});
});

describe('ETA', () => {
	test('format: fresh, ≈ when predicting or stale, Finishing soon', () => {
		const r = race({ eta_sec: 150 });
		assert.equal(O.etaLabel(r, at(0)).text, 'ETA 2m 30s');
		assert.equal(O.etaLabel(r, at(5)).text, 'ETA 2m 25s');
		assert.equal(O.etaLabel(r, at(6)).text, 'ETA ≈2m 24s', 'past the hint: predicting');
		assert.equal(O.etaLabel(r, at(20)).text, 'ETA ≈2m 10s', 'stale');
		assert.equal(O.etaLabel(r, at(150)).text, 'Finishing soon');
		assert.equal(O.etaLabel(r, at(400)).text, 'Finishing soon');
	});
	test('counts down from last_eta_update + eta_sec, not from the progress update', () => {
		const r = race({ eta_sec: 100, last_eta_update: iso(at(-40)), last_progress_update: iso(at(0)) });
		assert.equal(O.remainingSec(r, at(0)), 60);
		assert.equal(O.etaLabel(r, at(0)).text, 'ETA 1m');
	});
	test('ETA from history or default is shown as approximate', () => {
		assert.equal(O.etaLabel(race({ eta_source: 3 }), at(0)).text, 'ETA ≈2m 30s');
		assert.equal(O.etaLabel(race({ eta_source: 4 }), at(0)).approx, true);
	});
	test('no ETA, or a finished race: no label', () => {
		assert.equal(O.etaLabel(race({ eta_sec: undefined }), at(0)), null);
		assert.equal(O.etaLabel(race({ state: 'passed' }), at(0)), null);
	});
	test('formatDuration', () => {
		assert.equal(O.formatDuration(0), '0s');
		assert.equal(O.formatDuration(0.2), '1s');
		assert.equal(O.formatDuration(45), '45s');
		assert.equal(O.formatDuration(60), '1m');
		assert.equal(O.formatDuration(150), '2m 30s');
		assert.equal(O.formatDuration(3600), '1h');
		assert.equal(O.formatDuration(3900), '1h 5m');
		assert.equal(O.formatDuration(-5), '0s');
	});
});

describe('revision detection', () => {
	test('expected finish moved later by more than 3 s shows the pill', () => {
		let tr = O.observeRace(undefined, race({ eta_sec: 100 }));
		// 10 s later the ETA says 95 s: finish moved 5 s later.
		const r2 = race({ eta_sec: 95, last_eta_update: iso(at(10)) });
		tr = O.observeRace(tr, r2);
		assert.equal(tr.revisedAt, at(10));
		assert.equal(tr.revisedBySec, 5);
		assert.equal(O.revisionPill(tr, at(11)), true);
		assert.equal(O.revisionPill(tr, at(10 + 10.5)), false, 'short-lived');
	});
	test('a shift of 3 s or less, or an earlier finish, is no revision', () => {
		let tr = O.observeRace(undefined, race({ eta_sec: 100 }));
		tr = O.observeRace(tr, race({ eta_sec: 93, last_eta_update: iso(at(10)) })); // +3 s
		assert.equal(tr.revisedAt, null);
		tr = O.observeRace(tr, race({ eta_sec: 50, last_eta_update: iso(at(20)) })); // earlier
		assert.equal(tr.revisedAt, null);
		assert.equal(O.revisionPill(tr, at(21)), false);
	});
	test('a counting-down ETA is no revision even though eta_sec changes', () => {
		let tr = O.observeRace(undefined, race({ eta_sec: 100 }));
		for (let i = 1; i <= 5; i++) {
			tr = O.observeRace(tr, race({ eta_sec: 100 - 10 * i, last_eta_update: iso(at(10 * i)) }));
		}
		assert.equal(tr.revisedAt, null);
	});
	test('on first sight, a recent slip is read off eta_revisions', () => {
		const r = race({
			eta_sec: 120, last_eta_update: iso(at(0)),
			eta_revisions: [
				{ eta_sec: 60, timestamp: iso(at(-30)), source: 2, confidence: 0.5 },
				{ eta_sec: 120, timestamp: iso(at(0)), source: 2, confidence: 0.5 },
			],
		});
		const tr = O.observeRace(undefined, r);
		assert.equal(tr.revisedBySec, 90);
		assert.equal(O.revisionPill(tr, at(2)), true);
		assert.equal(O.revisionPill(tr, at(60)), false);
	});
	test('no pill once finished', () => {
		let tr = O.observeRace(undefined, race({ eta_sec: 100 }));
		tr = O.observeRace(tr, race({ eta_sec: 200, last_eta_update: iso(at(1)) }));
		assert.equal(O.revisionPill(tr, at(2)), true);
		tr = O.observeRace(tr, race({ state: 'passed', eta_sec: 200, last_eta_update: iso(at(1)) }));
		assert.equal(O.revisionPill(tr, at(2)), false);
	});
	test('revisionRows: newest first with source names', () => {
		const rows = O.revisionRows(race({
			eta_revisions: [
				{ eta_sec: 60, timestamp: iso(at(-30)), source: 2, confidence: 0.5 },
				{ eta_sec: 120, timestamp: iso(at(0)), source: 1, confidence: 1 },
			],
		}));
		assert.deepEqual(rows.map((x) => [x.etaSec, x.source, x.confidence]), [[120, 'exact', 1], [60, 'adapter', 0.5]]);
	});
});

describe('freshness', () => {
	test('fresh, predicting, stale by multiples of the hint', () => {
		const r = race();
		assert.equal(O.freshness(r, at(0)), 'fresh');
		assert.equal(O.freshness(r, at(5)), 'fresh');
		assert.equal(O.freshness(r, at(6)), 'predicting');
		assert.equal(O.freshness(r, at(15)), 'predicting');
		assert.equal(O.freshness(r, at(16)), 'stale');
	});
	test('the latest of progress and ETA updates counts', () => {
		const r = race({ last_progress_update: iso(at(-100)), last_eta_update: iso(at(0)) });
		assert.equal(O.freshness(r, at(2)), 'fresh');
	});
	test('finished and queued races', () => {
		assert.equal(O.freshness(race({ state: 'failed' }), at(999)), 'final');
		assert.equal(O.freshness(race({ state: 'queued' }), at(999)), 'queued');
	});
});

describe('elapsed', () => {
	test('to now while running, duration once finished', () => {
		assert.equal(O.elapsedSec(race(), at(0)), 60);
		assert.equal(O.elapsedSec(race({ state: 'passed', duration_sec: 42 }), at(999)), 42);
		assert.equal(O.elapsedSec(race({ state: 'passed', completed_at: iso(at(10)) }), at(999)), 70);
	});
});

describe('clock offset', () => {
	test('no samples: offset 0', () => {
		assert.equal(O.clockOffset(O.createClock()), 0);
		assert.equal(O.serverNow(O.createClock(), 1234), 1234);
	});
	test('takes the least-delayed samples, ignoring queued frames', () => {
		let c = O.createClock();
		const skew = -180000; // client 3 minutes ahead: server − client = −180 s
		const delays = [20, 5, 300, 8, 2500, 6, 40, 7, 9];
		delays.forEach((d, i) => {
			const server = at(i);
			c = O.addClockSample(c, iso(server), server - skew + d);
		});
		const off = O.clockOffset(c);
		assert.ok(Math.abs(off - skew) <= 10, `offset ${off} within 10 ms of ${skew}`);
	});
	test('keeps only recent samples, so a clock step is followed', () => {
		let c = O.createClock();
		for (let i = 0; i < 20; i++) c = O.addClockSample(c, at(i), at(i) + 5);
		for (let i = 20; i < 40; i++) c = O.addClockSample(c, at(i), at(i) - 60000 + 5);
		assert.equal(c.samples.length, O.DEFAULTS.clockSamples);
		assert.equal(O.clockOffset(c), 60000 - 5);
	});
	test('bad timestamps are ignored', () => {
		const c = O.addClockSample(O.createClock(), 'not a time', 5);
		assert.equal(c.samples.length, 0);
	});
	test('a client clock minutes off still gets correct trust windows', () => {
		for (const skewMin of [-7, +5]) {
			const skew = skewMin * 60000; // client = server + skew
			let c = O.createClock();
			for (let i = 0; i < 5; i++) c = O.addClockSample(c, iso(at(i * 0.2)), at(i * 0.2) + skew + 12);
			const r = race({ progress_prediction: { rate_per_sec: 1 } });
			const tr = O.observeRace(undefined, r);
			// 3 s after the update by the server's clock: inside the 5 s window.
			let now = O.serverNow(c, at(3) + skew);
			assert.equal(O.pastTrustWindow(r, now), false, `skew ${skewMin} min, t=3s`);
			assert.equal(O.freshness(r, now), 'fresh');
			assert.ok(Math.abs(O.remainingSec(r, now) - 147) < 0.05, 'ETA counts down on the server clock');
			// 8 s after: predicting.
			now = O.serverNow(c, at(8) + skew);
			assert.equal(O.pastTrustWindow(r, now), true, `skew ${skewMin} min, t=8s`);
			assert.ok(Math.abs(O.predictedProgress(r, tr, now) - 48) < 0.1);
			// Uncorrected, the same reading would be wrong by minutes.
			assert.notDeepEqual(
				[O.pastTrustWindow(r, at(3) + skew), O.pastTrustWindow(r, at(8) + skew)], [false, true]);
		}
	});
});

describe('frames', () => {
	const snap = (seq, races, extra = {}) => ({ type: 'snapshot', seq, server_time: iso(T0), races, ...extra });
	const delta = (seq, op, id, body = {}) => ({ type: 'delta', seq, server_time: iso(T0), op, id, ...body });

	test('snapshot fills the map and sets seq', () => {
		const r = O.applyFrame(O.createFeed(), snap(10, [race(), race({ id: 'b' })]));
		assert.equal(r.feed.seq, 10);
		assert.deepEqual([...r.feed.races.keys()], ['build-42', 'b']);
		assert.equal(r.reset, true);
		assert.deepEqual(r.changed.map((c) => c.op), ['create', 'create']);
	});
	test('create, update, null removes, delete', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [])).feed;
		f = O.applyFrame(f, delta(2, 'create', 'x', { race: race({ id: 'x', completed_at: iso(at(1)) }) })).feed;
		const u = O.applyFrame(f, delta(3, 'update', 'x', { changes: { progress: 55, completed_at: null, metadata: { a: 'b' } } }));
		f = u.feed;
		const x = f.races.get('x');
		assert.equal(x.progress, 55);
		assert.equal('completed_at' in x, false);
		assert.deepEqual(x.metadata, { a: 'b' });
		assert.equal(u.changed[0].prev.progress, 40, 'the previous race is kept intact');
		const d = O.applyFrame(f, delta(4, 'delete', 'x'));
		assert.equal(d.feed.races.has('x'), false);
		assert.equal(d.changed[0].op, 'delete');
		assert.equal(d.feed.seq, 4);
	});
	test('events append, capped at 200', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [race({ id: 'e', events: [] })])).feed;
		for (let i = 0; i < 205; i++) {
			const ch = { event: { type: 'log', data: String(i), timestamp: iso(at(i)) } };
			if (i >= 200) ch.events_dropped = i - 199;
			f = O.applyFrame(f, delta(2 + i, 'update', 'e', { changes: ch })).feed;
		}
		const e = f.races.get('e');
		assert.equal(e.events.length, 200);
		assert.equal(e.events[0].data, '5');
		assert.equal(e.events[199].data, '204');
		assert.equal(e.events_dropped, 5);
		assert.equal('event' in e, false);
	});
	test('an event on a race without events starts the list', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [race({ id: 'e' })])).feed;
		f = O.applyFrame(f, delta(2, 'update', 'e', { changes: { event: { type: 'stage' } } })).feed;
		assert.deepEqual(f.races.get('e').events, [{ type: 'stage' }]);
	});
	test('batch applies members in order', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [])).feed;
		const b = O.applyFrame(f, { type: 'batch', server_time: iso(T0), deltas: [
			delta(2, 'create', 'a', { race: race({ id: 'a' }) }),
			delta(3, 'update', 'a', { changes: { progress: 70 } }),
			delta(4, 'create', 'b', { race: race({ id: 'b' }) }),
			delta(5, 'delete', 'b'),
		] });
		f = b.feed;
		assert.equal(f.seq, 5);
		assert.deepEqual([...f.races.keys()], ['a']);
		assert.equal(f.races.get('a').progress, 70);
		assert.deepEqual(b.changed.map((c) => c.op), ['create', 'update', 'create', 'delete']);
	});
	test('dedupe by seq: a resume replaying seen deltas changes nothing', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [])).feed;
		const frames = [
			delta(2, 'create', 'a', { race: race({ id: 'a', events: [] }) }),
			delta(3, 'update', 'a', { changes: { event: { type: 'log', data: 'x' } } }),
			delta(4, 'update', 'a', { changes: { progress: 80 } }),
		];
		for (const fr of frames) f = O.applyFrame(f, fr).feed;
		const again = O.applyFrame(f, { type: 'batch', deltas: frames });
		assert.equal(again.changed.length, 0);
		assert.equal(again.feed.races.get('a').events.length, 1);
		assert.equal(again.feed.seq, 4);
		// A replay that overlaps: 3 and 4 seen, 5 new.
		const over = O.applyFrame(f, { type: 'batch', deltas: [frames[1], frames[2],
			delta(5, 'update', 'a', { changes: { progress: 90 } })] });
		assert.equal(over.changed.length, 1);
		assert.equal(over.feed.races.get('a').progress, 90);
		assert.equal(over.feed.races.get('a').events.length, 1);
	});
	test('a reset snapshot replaces everything', () => {
		let f = O.applyFrame(O.createFeed(), snap(5, [race({ id: 'a' }), race({ id: 'b' })])).feed;
		const r = O.applyFrame(f, snap(90, [race({ id: 'b', progress: 99 }), race({ id: 'c' })], { reset: true }));
		assert.deepEqual([...r.feed.races.keys()].sort(), ['b', 'c']);
		assert.equal(r.feed.races.get('b').progress, 99);
		assert.equal(r.feed.seq, 90);
		assert.deepEqual(r.changed.map((c) => `${c.op}:${c.id}`).sort(), ['create:c', 'delete:a', 'update:b']);
	});
	test('an update for an unknown race is a gap; so is a heartbeat ahead of us', () => {
		const f = O.applyFrame(O.createFeed(), snap(5, [])).feed;
		assert.equal(O.applyFrame(f, delta(6, 'update', 'zz', { changes: { progress: 1 } })).gap, true);
		assert.equal(O.applyFrame(f, { type: 'heartbeat', seq: 5 }).gap, false);
		assert.equal(O.applyFrame(f, { type: 'heartbeat', seq: 7 }).gap, true);
	});
	test('a race leaving a filter is dropped after its last update', () => {
		let f = O.applyFrame(O.createFeed(), snap(1, [race({ id: 'a' })])).feed;
		const matches = (r) => r.state === 'running';
		const r = O.applyFrame(f, delta(2, 'update', 'a', { changes: { state: 'passed' } }), { matches, filtered: true });
		assert.equal(r.feed.races.has('a'), false);
		assert.equal(r.changed[0].op, 'delete');
	});
	test('unknown frames and junk are ignored', () => {
		const f = O.createFeed();
		for (const fr of [null, 42, { type: 'hello', seq: 3 }, { type: 'ack', req: 1 }, { type: 'delta', op: 'frob', id: 'x', seq: 1 }]) {
			const r = O.applyFrame(f, fr);
			assert.equal(r.feed, f);
			assert.equal(r.changed.length, 0);
		}
	});
	test('subscribe: fresh, resume with since, fresh again when the server went back', () => {
		assert.deepEqual(O.subscribeFrame(O.createFeed(), { seq: 3 }), { type: 'subscribe' });
		const f = { seq: 40, races: new Map() };
		assert.deepEqual(O.subscribeFrame(f, { seq: 50 }), { type: 'subscribe', since: 40 });
		assert.deepEqual(O.subscribeFrame(f, { seq: 40 }), { type: 'subscribe', since: 40 });
		assert.deepEqual(O.subscribeFrame(f, { seq: 7 }), { type: 'subscribe' });
	});
});
