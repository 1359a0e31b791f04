// End-to-end test of the output tail in the detail view (issue 14), in
// Debian's headless Chromium against the real server binary: the lines
// in monospace with ANSI codes stripped, HTML shown as text (never
// parsed), live appends through WebSocket deltas, following the bottom
// unless the reader scrolled up, and the count of lines not kept.
// Screenshots land in tests/artifacts/ (output-light.png, output-dark.png
// at 375 px, output-scrolled-up.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, watchedContext, watchedPage, closeWatched, artifact, waitFor } from './harness.mjs';

let server;
let browser;

before(async () => {
	server = await new Server().start();
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (server) {
		await server.stop();
		server.cleanup();
	}
});

const ESC = '\u001b';

async function openDetail(id, colorScheme, viewport = { width: 1100, height: 900 }) {
	const p = await watchedPage(await watchedContext(browser, { viewport, colorScheme }));
	await p.page.goto(`${server.base}/#/race/${encodeURIComponent(id)}`);
	await p.page.locator('#detail').waitFor({ state: 'visible' });
	await waitFor(async () => (await p.page.locator('#detail-output').textContent()).length > 0, { what: 'the output tail' });
	return p;
}

const closePage = (p) => closeWatched(p);

const scrollState = (page) => page.locator('#detail-output').evaluate((e) => ({
	top: e.scrollTop, client: e.clientHeight, height: e.scrollHeight,
}));
const atBottom = (s) => s.height - (s.top + s.client) <= 4;

test('the detail view shows the tail as text, live, following the bottom unless scrolled up', async () => {
	const id = `tail-${process.pid}`;
	const lines = [
		`${ESC}[1m${ESC}[32m==>${ESC}[0m ${ESC}[1mmake -j8 all${ESC}[0m`,
		'<img src=x onerror="window.__pwned=1"> & <b>not bold</b> <script>window.__pwned=2</script>',
		`${ESC}[33mwarning:${ESC}[0m unused variable 'x' [-Wunused]`,
		' 10%\r 55%\r100% downloaded',
	];
	for (let i = 0; i < 56; i++) lines.push(`[${String(i + 1).padStart(2)}/56] cc -O2 -c src/module_${i}.c -o build/module_${i}.o`);
	await server.create({ id, source: 'cmd', title: 'make -j8 all', progress: 40, output: lines });

	const p = await openDetail(id, 'light');
	const out = p.page.locator('#detail-output');
	const text = await out.textContent();
	assert.ok(text.startsWith('==> make -j8 all\n'), `ANSI stripped: ${JSON.stringify(text.slice(0, 40))}`);
	assert.ok(!text.includes(ESC), 'no escape characters left');
	assert.ok(text.includes('<img src=x onerror="window.__pwned=1"> & <b>not bold</b> <script>'), 'HTML shown as text');
	assert.ok(text.includes("warning: unused variable 'x'"));
	assert.ok(text.includes('\n100% downloaded\n'), 'a carriage return shows the last redraw');
	assert.equal(await out.evaluate((e) => e.children.length), 0, 'nothing was parsed into elements');
	assert.equal(await p.page.evaluate(() => window.__pwned), undefined, 'no script ran');
	assert.equal(await out.evaluate((e) => getComputedStyle(e).fontFamily.includes('monospace')), true, 'monospace');
	assert.ok(await out.evaluate((e) => e.scrollHeight > e.clientHeight), 'the tail scrolls');
	await waitFor(async () => atBottom(await scrollState(p.page)), { what: 'scrolled to the newest line' });
	await p.page.screenshot({ path: artifact('output-light.png'), fullPage: true });

	/* Live: new lines arrive as deltas and the view follows them. */
	await server.patch(id, { output: ['[57/57] ld -o build/app', `${ESC}[32mok${ESC}[0m build/app`] });
	await waitFor(async () => (await out.textContent()).endsWith('\nok build/app'), { what: 'the appended lines' });
	await waitFor(async () => atBottom(await scrollState(p.page)), { what: 'following the bottom' });
	assert.equal(await p.page.locator('#detail-output-jump').isHidden(), true);

	/* The reader scrolls up: new lines do not pull the view down. */
	await out.evaluate((e) => { e.scrollTop = 0; });
	await waitFor(() => p.page.locator('#detail-output-jump').isVisible(), { what: 'the jump button' });
	await p.page.locator('.output-wrap').screenshot({ path: artifact('output-scrolled-up.png') });
	await server.patch(id, { output: ['test 1 passed', 'test 2 passed'] });
	await waitFor(async () => (await out.textContent()).endsWith('test 2 passed'), { what: 'more lines' });
	assert.equal((await scrollState(p.page)).top, 0, 'stays where the reader is');
	await p.page.locator('#detail-output-jump').click();
	await waitFor(async () => atBottom(await scrollState(p.page)), { what: 'back at the bottom' });
	assert.equal(await p.page.locator('#detail-output-jump').isHidden(), true);

	/* Past the 200-line bound the oldest lines go and are counted. */
	const more = Array.from({ length: 180 }, (_, i) => `extra ${i}`);
	await server.patch(id, { output: more });
	await waitFor(async () => (await p.page.locator('#detail-output-dropped').textContent()) === '44 earlier lines not kept',
		{ what: 'the dropped count' });
	const shown = (await out.textContent()).split('\n');
	assert.equal(shown.length, 200);
	assert.equal(shown[199], 'extra 179');
	const server200 = (await server.rest('GET', `/race/${id}`)).body.output;
	assert.deepEqual(shown, server200.map((l) => l.replace(/\u001b\[[0-9;]*m/g, '').replace(/^.*\r/, '')), 'the page holds what the server holds');
	await closePage(p);

	/* Dark theme at phone width: long lines wrap, nothing scrolls sideways. */
	await server.patch(id, { output: [`${'x'.repeat(300)} ${'/very/long/path'.repeat(20)}`] });
	const q = await openDetail(id, 'dark', { width: 375, height: 800 });
	await waitFor(async () => atBottom(await scrollState(q.page)), { what: 'dark: at the bottom' });
	const w = await q.page.evaluate(() => ({
		doc: document.documentElement.scrollWidth,
		out: document.getElementById('detail-output').scrollWidth,
		outClient: document.getElementById('detail-output').clientWidth,
	}));
	assert.ok(w.doc <= 375 && w.out <= w.outClient, `no horizontal scroll: ${JSON.stringify(w)}`);
	await q.page.screenshot({ path: artifact('output-dark.png') });
	await closePage(q);
});
