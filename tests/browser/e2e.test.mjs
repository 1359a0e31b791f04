// End-to-end tests of the Raceboard page (web-demo/) in Debian's headless
// Chromium against the real server binary: races are created and updated
// over REST and over a WebSocket producer, and the tests assert what the
// page shows. Screenshots land in tests/artifacts/.
//
//   npm ci --prefix tests/browser && node --test tests/browser/
//   RACEBOARD_SERVER_BIN=path/to/raceboard-server to pick the binary.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	Server, launchBrowser, skewClockScript, watchedContext, watchedPage, closeWatched, artifact, waitFor, wsProduce, sleep,
} from './harness.mjs';

let server;
let browser;
let wsMissing = null;
let n = 0;
const uid = (p) => `${p}-${process.pid}-${++n}`;

before(async () => {
	server = await new Server().start();
	if (!(await server.hasWebSocket())) {
		wsMissing = 'the server has no raceboard.v1 WebSocket at /ws yet: browser tests skipped';
		console.log(`# SKIP ${wsMissing}`);
		return;
	}
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (server) {
		await server.stop();
		server.cleanup();
	}
});

/** A page on the dashboard, live, with its requests recorded after load. */
async function openPage({ skewMs = 0, viewport = { width: 1100, height: 800 }, colorScheme = 'light' } = {}) {
	const ctx = await watchedContext(browser, { viewport, colorScheme }, ...(skewMs ? [skewClockScript(skewMs)] : []));
	const { page, errors } = await watchedPage(ctx);
	await page.goto(`${server.base}/`);
	await page.waitForLoadState('load');
	await waitFor(() => page.evaluate(() => window.raceboard && window.raceboard.seq !== null),
		{ what: 'the first snapshot' });
	const requests = [];
	page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
	return { ctx, page, errors, requests };
}

const row = (page, id) => page.locator(`li.race[data-id="${id}"]`);

async function barOf(page, id) {
	return page.evaluate((id) => {
		const li = document.querySelector(`li.race[data-id="${id}"]`);
		if (!li) return null;
		const bar = li.querySelector('.bar');
		const w = bar.getBoundingClientRect().width;
		return {
			solid: bar.dataset.solid === '' ? null : Number(bar.dataset.solid),
			overlay: bar.dataset.overlay === '' || bar.dataset.overlay === undefined ? null : Number(bar.dataset.overlay),
			solidPct: (li.querySelector('.bar-solid').getBoundingClientRect().width / w) * 100,
			overlayPct: (li.querySelector('.bar-overlay').getBoundingClientRect().width / w) * 100,
			overlayOpacity: Number(getComputedStyle(li.querySelector('.bar-overlay')).opacity),
			retracting: bar.classList.contains('retracting'),
		};
	}, id);
}

const etaText = (page, id) => row(page, id).locator('.eta').textContent();

function live(t) {
	if (wsMissing) {
		t.skip(wsMissing);
		return false;
	}
	return true;
}

const refused = (e) => /\/ws' failed: .*ERR_CONNECTION_REFUSED/.test(e);
const closePage = (p, { allowRefused = false } = {}) => closeWatched(p, allowRefused ? refused : undefined);

describe('the live list', () => {
	test('shows races from the snapshot and new ones live, with title, source, elapsed', async (t) => {
		if (!live(t)) return;
		const a = uid('snap');
		await server.create({ id: a, source: 'gitlab', title: 'Pipeline before load', progress: 30, eta_sec: 300 });
		const p = await openPage();
		await row(p.page, a).waitFor();
		assert.equal(await row(p.page, a).locator('.race-title').textContent(), 'Pipeline before load');
		assert.equal(await row(p.page, a).locator('.source').textContent(), 'gitlab');
		assert.match(await row(p.page, a).locator('.elapsed').textContent(), /^\d+s$/);

		const b = uid('live');
		await server.create({ id: b, source: 'cmd', title: 'make after load', progress: 10, eta_sec: 90 });
		await row(p.page, b).waitFor({ timeout: 5000 });
		assert.equal(await row(p.page, b).getAttribute('data-state'), 'running');
		// An event shows as the latest step.
		await server.rest('POST', `/race/${b}/event`, { type: 'stage', data: { name: 'link' } });
		await waitFor(async () => (await row(p.page, b).locator('.last-event').textContent()) === 'stage: link',
			{ what: 'the event' });
		assert.deepEqual(p.requests, [], 'no HTTP request after load');
		await closePage(p);
	});

	test('state changes move races between Active and Finished with distinct styles', async (t) => {
		if (!live(t)) return;
		const ids = { passed: uid('pass'), failed: uid('fail'), canceled: uid('cancel'), queued: uid('queue') };
		for (const [state, id] of Object.entries(ids)) {
			await server.create({ id, source: 'cmd', title: `race ${state}`, progress: 50, eta_sec: 60 });
		}
		const p = await openPage();
		await server.patch(ids.queued, { state: 'queued' });
		for (const state of ['passed', 'failed', 'canceled']) await server.patch(ids[state], { state });
		for (const state of ['passed', 'failed', 'canceled']) {
			await p.page.locator(`#finished-list li.race[data-id="${ids[state]}"][data-state="${state}"]`).waitFor();
		}
		await p.page.locator(`#active-list li.race[data-id="${ids.queued}"][data-state="queued"]`).waitFor();
		const colors = await p.page.evaluate((ids) => Object.fromEntries(Object.entries(ids).map(([s, id]) => [s,
			getComputedStyle(document.querySelector(`li.race[data-id="${id}"] .bar-solid`)).backgroundColor])), ids);
		assert.equal(new Set(Object.values(colors)).size, 4, `four distinct rail colors: ${JSON.stringify(colors)}`);
		assert.equal(await row(p.page, ids.failed).locator('.state-badge').textContent(), 'Failed');
		assert.match(await etaText(p.page, ids.passed), /^Took /);
		assert.equal(await barOf(p.page, ids.passed).then((b) => b.solid), 100);
		// A restart brings it back to Active with its rail reset.
		await server.patch(ids.failed, { state: 'running', progress: 5 });
		await p.page.locator(`#active-list li.race[data-id="${ids.failed}"][data-state="running"]`).waitFor();
		await waitFor(async () => (await barOf(p.page, ids.failed)).solid === 5, { what: 'rail reset to 5' });
		await closePage(p);
	});
});

describe('the dual-rail bar', () => {
	test('solid width follows progress, never regresses while running', async (t) => {
		if (!live(t)) return;
		const id = uid('rail');
		await server.create({ id, source: 'cmd', title: 'rail', progress: 40, eta_sec: 600, update_interval_hint: 60 });
		const p = await openPage();
		await row(p.page, id).waitFor();
		await waitFor(async () => Math.abs((await barOf(p.page, id)).solidPct - 40) < 1, { what: 'solid at 40%' });
		await server.patch(id, { progress: 60 });
		await waitFor(async () => Math.abs((await barOf(p.page, id)).solidPct - 60) < 1, { what: 'solid at 60%' });
		await server.patch(id, { progress: 30 });
		await sleep(800);
		const b = await barOf(p.page, id);
		assert.equal(b.solid, 60, 'a lower report does not move the rail back');
		assert.ok(Math.abs(b.solidPct - 60) < 1, `solid width ${b.solidPct}`);
		assert.equal(b.overlay, null, 'no overlay inside the trust window');
		await closePage(p);
	});

	test('overlay appears after the trust window, capped at +20, and retracts on a real update', async (t) => {
		if (!live(t)) return;
		const id = uid('overlay');
		await server.create({ id, source: 'cmd', title: 'overlay', progress: 20, eta_sec: 600, update_interval_hint: 2 });
		const p = await openPage();
		await row(p.page, id).waitFor();
		await sleep(300);
		await server.patch(id, { progress: 40 }); // 20 points in ~0.3 s: a fast observed rate
		const t0 = Date.now();
		let b = await waitFor(async () => { const x = await barOf(p.page, id); return x.solid === 40 && x; }, { what: 'solid 40' });
		if (Date.now() - t0 < 1500) assert.equal(b.overlay, null, 'no overlay right after an update');
		b = await waitFor(async () => { const x = await barOf(p.page, id); return x.overlay !== null && x; },
			{ what: 'the overlay', timeout: 6000 });
		assert.ok(Date.now() - t0 > 1500, 'not before update_interval_hint (2 s) has passed');
		await waitFor(async () => { const x = await barOf(p.page, id); return x.overlay === 60 && Math.abs(x.overlayPct - 60) < 1.5 && x.overlayOpacity > 0.9; },
			{ what: 'overlay drawn at the cap, 60%', timeout: 10000 });
		b = await barOf(p.page, id);
		assert.equal(b.overlay, 60, 'capped 20 points above the rail');
		await p.page.screenshot({ path: artifact('overlay-predicting.png') });

		const tPatch = Date.now();
		await server.patch(id, { progress: 45 });
		await waitFor(async () => (await barOf(p.page, id)).solid === 45, { what: 'solid 45' });
		b = await barOf(p.page, id);
		assert.equal(b.overlay, null, 'prediction stops on a real update');
		assert.equal(b.retracting, true, 'the overlay retracts with its slow transition');
		if (Date.now() - tPatch < 400) { // on a loaded machine the 800 ms transition may be over already
			assert.ok(b.overlayPct > 45.5, `mid-retraction the overlay is still wider than the rail (${b.overlayPct})`);
		}
		await waitFor(async () => { const x = await barOf(p.page, id); return Math.abs(x.overlayPct - 45) < 1 && x; },
			{ what: 'overlay retracted into the rail', timeout: 1800 });
		await closePage(p);
	});

	test('no overlay below 5% and none for an exact ETA', async (t) => {
		if (!live(t)) return;
		const low = uid('low'), exact = uid('exact');
		await server.create({ id: low, source: 'cmd', title: 'low', progress: 2, eta_sec: 50, update_interval_hint: 1 });
		await server.create({ id: exact, source: 'google-calendar', title: 'Standup', progress: 30, eta_sec: 120, update_interval_hint: 1 });
		const p = await openPage();
		await row(p.page, exact).waitFor();
		await sleep(2500);
		assert.equal((await barOf(p.page, low)).overlay, null);
		assert.match(await etaText(p.page, low), /^ETA ≈/, 'the low race is predicting');
		assert.equal((await barOf(p.page, exact)).overlay, null);
		assert.match(await etaText(p.page, exact), /^ETA \d/, 'an exact ETA never gets ≈');
		assert.equal(await row(p.page, exact).locator('.fresh-dot').getAttribute('data-fresh'), 'fresh');
		await closePage(p);
	});
});

describe('ETA', () => {
	test('fresh, then ≈ once predicting, then stale; Finishing soon when it runs out', async (t) => {
		if (!live(t)) return;
		const id = uid('eta'), soon = uid('soon');
		await server.create({ id, source: 'cmd', title: 'eta', progress: 10, eta_sec: 160, update_interval_hint: 2 });
		await server.create({ id: soon, source: 'cmd', title: 'soon', progress: 90, eta_sec: 1, update_interval_hint: 30 });
		const p = await openPage();
		await row(p.page, id).waitFor();
		await server.patch(id, { progress: 12, eta_sec: 150 });
		const t0 = Date.now();
		const fresh = await waitFor(async () => { const x = await etaText(p.page, id); return /^ETA 2m (30s|29s|28s|27s)$/.test(x) && x; },
			{ what: 'the fresh ETA' });
		if (Date.now() - t0 < 1500) {
			assert.doesNotMatch(fresh, /≈/);
			assert.equal(await row(p.page, id).locator('.fresh-dot').getAttribute('data-fresh'), 'fresh');
		}
		await waitFor(async () => /^ETA ≈2m \d+s$/.test(await etaText(p.page, id)), { what: '≈' });
		assert.ok(Date.now() - t0 > 1900, 'not before update_interval_hint');
		if (Date.now() - t0 < 5000) {
			assert.equal(await row(p.page, id).locator('.fresh-dot').getAttribute('data-fresh'), 'predicting');
		}
		await waitFor(async () => (await row(p.page, id).locator('.fresh-dot').getAttribute('data-fresh')) === 'stale',
			{ what: 'stale', timeout: 9000 });
		assert.match(await etaText(p.page, id), /^ETA ≈/);
		await waitFor(async () => (await etaText(p.page, soon)) === 'Finishing soon', { what: 'Finishing soon' });
		await closePage(p);
	});

	test('an ETA that slips shows the Revised ETA pill, and the tooltip lists revisions', async (t) => {
		if (!live(t)) return;
		const id = uid('slip');
		const created = await server.create({ id, source: 'claude-code', title: 'Refactor', progress: 20, eta_sec: 60, update_interval_hint: 30 });
		const p = await openPage();
		await row(p.page, id).waitFor();
		assert.equal(await row(p.page, id).locator('.pill').isVisible(), false);
		// A counted-down ETA that lands the finish about 1 s earlier: no pill.
		const spent = (Date.now() - Date.parse(created.last_eta_update)) / 1000;
		await server.patch(id, { eta_sec: Math.max(1, Math.round(60 - spent) - 1) });
		await sleep(500);
		assert.equal(await row(p.page, id).locator('.pill').isVisible(), false, 'no pill for a small change');
		await server.patch(id, { eta_sec: 120 });
		await row(p.page, id).locator('.pill').waitFor({ state: 'visible', timeout: 3000 });
		assert.equal(await row(p.page, id).locator('.pill').textContent(), 'Revised ETA');
		// Focus the ETA with the keyboard: the tooltip shows the revisions.
		await row(p.page, id).locator('.eta').focus();
		const tip = row(p.page, id).locator('.eta-tip');
		await tip.waitFor({ state: 'visible' });
		const cells = await tip.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
		assert.equal(cells.length, 3);
		assert.equal(cells[0][1], '2m', 'newest first');
		assert.equal(cells[0][2], 'adapter');
		assert.equal(cells[0][3], '50%');
		assert.match(cells[0][0], /^\d\d:\d\d:\d\d$/);
		await p.page.screenshot({ path: artifact('revised-tooltip.png') });
		await p.page.keyboard.press('Escape');
		await tip.waitFor({ state: 'hidden' });
		await closePage(p);
	});
});

describe('clock skew', () => {
	for (const minutes of [+7, -5]) {
		test(`a client clock ${minutes > 0 ? 'ahead' : 'behind'} by ${Math.abs(minutes)} min still judges trust windows on the server's clock`, async (t) => {
			if (!live(t)) return;
			const skew = minutes * 60000;
			const id = uid('skew');
			const p = await openPage({ skewMs: skew });
			const off = await p.page.evaluate(() => window.raceboard.clockOffsetMs);
			assert.ok(Math.abs(off + skew) < 1000, `estimated offset ${off} ms for a skew of ${skew} ms`);
			const t0 = Date.now();
			await server.create({ id, source: 'cmd', title: 'skewed', progress: 30, eta_sec: 120, update_interval_hint: 4 });
			await row(p.page, id).waitFor();
			const text = await etaText(p.page, id);
			const fr = await row(p.page, id).locator('.fresh-dot').getAttribute('data-fresh');
			if (Date.now() - t0 < 3500) {
				assert.match(text, /^ETA (2m|1m 5\ds)$/, 'fresh: no ≈, no Finishing soon');
				assert.equal(fr, 'fresh', 'inside the 4 s window');
			}
			await waitFor(async () => /^ETA ≈1m 5\ds$/.test(await etaText(p.page, id)), { what: '≈ after the window', timeout: 8000 });
			assert.ok(Date.now() - t0 > 3900, 'the window lasted update_interval_hint on the server clock');
			await closePage(p);
		});
	}
});

describe('producers, dismissal and reconnection', () => {
	test('races written over a WebSocket producer show up', async (t) => {
		if (!live(t)) return;
		const id = uid('wsprod');
		const p = await openPage();
		const replies = await wsProduce(browser, server.port, [
			{ type: 'create', req: 1, race: { id, source: 'cmd', title: 'from a WS producer', progress: 5, eta_sec: 100 } },
			{ type: 'patch', req: 2, id, changes: { progress: 70 } },
			{ type: 'event', req: 3, id, event: { type: 'log', data: 'linking' } },
		]);
		assert.deepEqual(replies.map((r) => [r.type, r.req]), [['ack', 1], ['ack', 2], ['ack', 3]]);
		await row(p.page, id).waitFor();
		await waitFor(async () => (await barOf(p.page, id)).solid === 70, { what: 'progress 70 from WS' });
		await waitFor(async () => (await row(p.page, id).locator('.last-event').textContent()) === 'log: linking', { what: 'event' });
		await closePage(p);
	});

	test('dismiss (click and keyboard) sends one DELETE and the race leaves', async (t) => {
		if (!live(t)) return;
		const a = uid('dismiss'), b = uid('dismiss-kb');
		await server.create({ id: a, source: 'cmd', title: 'dismiss me', progress: 50 });
		await server.create({ id: b, source: 'cmd', title: 'dismiss me by keyboard', progress: 50 });
		const p = await openPage();
		// A running race: the dismissal is confirmed first (see daily.test.mjs).
		await row(p.page, a).locator('.dismiss').click();
		await p.page.locator('#confirm-ok').click();
		await row(p.page, a).waitFor({ state: 'detached', timeout: 4000 });
		assert.equal((await server.rest('GET', `/race/${a}`)).status, 404);
		// Keyboard: focus the row, press Delete, confirm.
		await row(p.page, b).focus();
		await p.page.keyboard.press('Delete');
		await p.page.locator('#confirm-ok').click();
		await row(p.page, b).waitFor({ state: 'detached', timeout: 4000 });
		assert.equal((await server.rest('GET', `/race/${b}`)).status, 404);
		assert.deepEqual(p.requests, [`DELETE /race/${a}`, `DELETE /race/${b}`], 'the only requests after load');
		await closePage(p);
	});

	test('keyboard: Tab reaches rows, ETAs and dismiss buttons with a visible focus ring', async (t) => {
		if (!live(t)) return;
		const id = uid('kbd');
		await server.create({ id, source: 'cmd', title: 'keyboard', progress: 50, eta_sec: 300 });
		const p = await openPage();
		await row(p.page, id).waitFor();
		const seen = new Set();
		let ringed = 0;
		for (let i = 0; i < 60; i++) {
			await p.page.keyboard.press('Tab');
			const info = await p.page.evaluate(() => {
				const a = document.activeElement;
				const cs = getComputedStyle(a);
				return { cls: a.className, ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1 };
			});
			seen.add(info.cls.split(' ')[0]);
			if (info.ring) ringed += 1;
		}
		for (const cls of ['race', 'eta', 'dismiss']) assert.ok(seen.has(cls), `Tab reaches .${cls}: ${[...seen]}`);
		assert.ok(ringed > 0, 'focus is visible');
		assert.equal(await p.page.locator('#conn').getAttribute('aria-live'), 'polite');
		await closePage(p);
	});

	test('reconnects after a server restart, resumes with since, without duplicates', async (t) => {
		if (!live(t)) return;
		const keep = uid('keep'), gone = uid('gone');
		await server.create({ id: keep, source: 'cmd', title: 'survives restart', progress: 10, eta_sec: 100 });
		await server.create({ id: gone, source: 'cmd', title: 'deleted while away', progress: 10 });
		const p = await openPage();
		await row(p.page, gone).waitFor();
		const wsUrls = [];
		p.page.on('websocket', (ws) => { wsUrls.push(ws.url()); ws.on('framesent', (f) => wsUrls.push(String(f.payload))); });

		await server.stop();
		await waitFor(async () => (await p.page.locator('#conn').getAttribute('data-status')) === 'offline', { what: 'offline' });
		assert.match(await p.page.locator('#conn-text').textContent(), /Offline/);
		await p.page.screenshot({ path: artifact('offline.png') });

		await server.start(); // same port, same data
		const added = uid('added');
		await server.create({ id: added, source: 'cmd', title: 'added while away', progress: 1 });
		await server.patch(keep, { progress: 77 });
		await server.rest('DELETE', `/race/${gone}`);

		await waitFor(async () => (await p.page.locator('#conn').getAttribute('data-status')) === 'live', { what: 'live again', timeout: 20000 });
		await row(p.page, added).waitFor({ timeout: 5000 });
		await row(p.page, gone).waitFor({ state: 'detached', timeout: 5000 });
		await waitFor(async () => (await barOf(p.page, keep)).solid === 77, { what: 'update made while away' });
		assert.ok(wsUrls.some((s) => /"since":\d+/.test(s)), `resubscribed with since: ${wsUrls}`);

		// Exactly the server's state: same ids, each once, same seq.
		const health = (await server.rest('GET', '/health')).body;
		const races = (await server.rest('GET', '/races')).body.map((r) => r.id).sort();
		await waitFor(async () => (await p.page.evaluate(() => window.raceboard.seq)) === health.seq, { what: 'seq caught up' });
		const shown = await p.page.evaluate(() => [...document.querySelectorAll('li.race')].map((li) => li.dataset.id).sort());
		assert.deepEqual(shown, races);
		assert.equal(await p.page.locator('#conn-text').textContent(), 'Live');
		await closePage(p, { allowRefused: true });
	});
});

describe('looks', () => {
	async function populate(tag) {
		const ids = [];
		const mk = async (race, patch) => {
			const id = uid(tag);
			ids.push(id);
			await server.create({ id, ...race });
			if (patch) await server.patch(id, patch);
		};
		await mk({ source: 'gitlab', title: 'Pipeline #4812 · main', progress: 20, eta_sec: 200, update_interval_hint: 1 }, { progress: 35 });
		await mk({ source: 'github', title: 'Build & test · ubuntu-latest', progress: 62, eta_sec: 45, update_interval_hint: 30 });
		await mk({ source: 'claude-code', title: 'Refactor store layer', progress: 40, eta_sec: 60 }, { eta_sec: 140 });
		await mk({ source: 'google-calendar', title: 'Team standup', progress: 45, eta_sec: 420 });
		await mk({ source: 'cmd', title: 'Deploy staging', state: 'queued' });
		await mk({ source: 'cmd', title: 'npm ci', progress: 100 }, { state: 'passed' });
		await mk({ source: 'github', title: 'Lint · macos-14', progress: 70 }, { state: 'failed' });
		return ids;
	}

	test('light and dark, desktop and 375 px phone width: no horizontal scroll, screenshots saved', async (t) => {
		if (!live(t)) return;
		// Start from a clean list so the screenshots show a realistic board.
		for (const r of (await server.rest('GET', '/races')).body) await server.rest('DELETE', `/race/${r.id}`);
		await populate('look');
		for (const [scheme, width, name] of [['light', 1100, 'desktop-light'], ['dark', 1100, 'desktop-dark'],
			['light', 375, 'phone-light'], ['dark', 375, 'phone-dark']]) {
			const p = await openPage({ colorScheme: scheme, viewport: { width, height: 860 } });
			await p.page.locator('li.race').nth(6).waitFor();
			await sleep(2600); // let the overlay and ≈ appear
			const sw = await p.page.evaluate(() => document.documentElement.scrollWidth);
			assert.ok(sw <= width, `${name}: no horizontal scroll (${sw} > ${width})`);
			const barW = await p.page.locator('li.race .bar').first().evaluate((b) => b.getBoundingClientRect().width);
			assert.ok(barW > (width < 500 ? 250 : 300), `${name}: the bar is wide enough (${barW})`);
			const bg = await p.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
			if (scheme === 'dark') assert.match(bg, /rgb\((\d|1\d|2\d),/, `dark background: ${bg}`);
			else assert.match(bg, /rgb\(2[0-5]\d,/, `light background: ${bg}`);
			await p.page.screenshot({ path: artifact(`${name}.png`), fullPage: true });
			await closePage(p);
		}
	});
});
