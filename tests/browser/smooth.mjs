// smooth.mjs - is the page smooth with a big, busy board? A fresh server
// gets N races (a quarter running, the rest finished, over 8 sources);
// the page loads them, then a producer PATCHes running races at a steady
// rate while the page records, with the Performance API, every animation
// frame that took over 50 ms (long-animation-frame entries; longtask
// where that type is missing).
//
// The machine running the tests is shared (2 cores, other builds): a busy
// neighbour can stretch a frame past 50 ms however little the page does.
// So a run measures up to `attempts` windows of steady state and passes
// with the first clean one. Only when every window was also a bad one for
// this test process (its own event loop stalled over 50 ms: the machine,
// not the page) does it fall back to what contention cannot inflate: the
// CPU time Chromium's renderer used (CDP SystemInfo.getProcessInfo), which
// must stay under half a core. A page that does too much per frame
// (say, redraws 2,000 rows) fails both ways: long frames in every window
// and a renderer busy all the time. Each window reports its numbers.
//
//   node tests/browser/smooth.mjs [--web-root DIR] [--races N] [--rate N]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Server, launchBrowser, waitFor, sleep, artifact } from './harness.mjs';

const SOURCES = ['gitlab', 'github', 'cmd', 'claude-code', 'jenkins', 'buildkite', 'cron', 'deploy'];

/* Installed before the page's own scripts: records long frames and counts frames. */
const recorderScript = `(() => {
	window.__long = [];
	window.__frames = 0;
	const type = PerformanceObserver.supportedEntryTypes.includes('long-animation-frame') ? 'long-animation-frame' : 'longtask';
	window.__longType = type;
	new PerformanceObserver((list) => {
		for (const e of list.getEntries()) {
			window.__long.push({ start: e.startTime, duration: e.duration, blocking: e.blockingDuration ?? null,
				scripts: (e.scripts || []).slice(0, 3).map((s) => ({ fn: s.sourceFunctionName, src: (s.sourceURL || '').split('/').pop(), ms: Math.round(s.duration) })) });
		}
	}).observe({ type, buffered: true });
	const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
	requestAnimationFrame(tick);
})();`;

async function pool(items, width, fn) {
	let i = 0;
	await Promise.all(Array.from({ length: width }, async () => {
		while (i < items.length) {
			const k = i++;
			await fn(items[k], k);
		}
	}));
}

/** Sends `rate` PATCHes a second to the running races until stopped. */
function startUpdates(server, ids, rate) {
	const st = { sent: 0, failed: 0, stop: false };
	const perTick = Math.max(1, Math.round(rate / 20));
	st.done = (async () => {
		let k = 0;
		const t0 = Date.now();
		for (let tick = 0; !st.stop; tick++) {
			const batch = [];
			for (let j = 0; j < perTick; j++) {
				const id = ids[k++ % ids.length];
				const progress = 5 + (Math.floor(k / ids.length) * 7 + j) % 90;
				batch.push(server.rest('PATCH', `/race/${id}`, { progress, eta_sec: 30 + (k % 600) })
					.then((r) => { if (r.status === 200) st.sent += 1; else st.failed += 1; }, () => { st.failed += 1; }));
			}
			await Promise.all(batch);
			/* Paced on the clock, so a slow answer is caught up, not lost. */
			const due = t0 + (tick + 1) * 50 - Date.now();
			if (due > 0) await sleep(due);
		}
	})();
	return st;
}

/**
 * Runs the measurement; returns {clean, windows, updatesSent, updatesSeen,
 * type}. The server is its own, fresh, and gone afterwards.
 */
export const MAX_RENDERER_CPU = 0.5;    /* cores, for the loaded-machine fallback */
const MIN_FPS = 30;                     /* a clean window also draws */

async function rendererCpu(cdp) {
	const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
	return processInfo.filter((p) => p.type === 'renderer').reduce((s, p) => s + p.cpuTime, 0);
}

export async function runSmoothness(browser, {
	races = 2000, rate = 200, windowMs = 3000, warmMs = 3000, attempts = 4, webRoot, log = console.log,
} = {}) {
	const server = await new Server(webRoot ? { webRoot } : {}).start();
	const out = { clean: false, contended: false, windows: [], updatesSent: 0, updatesSeen: 0, type: '' };
	const cdp = await browser.newBrowserCDPSession();
	let ctx = null;
	let updater = null;
	try {
		const running = [];
		const specs = [];
		for (let i = 0; i < races; i++) {
			const id = `smooth-${i}`;
			const source = SOURCES[i % SOURCES.length];
			const spec = { id, source, title: `${source} job ${i} · branch-${i % 37}`, progress: (i * 13) % 100, eta_sec: 60 + (i % 300), update_interval_hint: 5 };
			if (i % 4 === 0) running.push(id);
			else spec.state = ['passed', 'passed', 'failed', 'canceled'][i % 4];
			specs.push(spec);
		}
		await pool(specs, 8, (s) => server.create(s));

		ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
		await ctx.addInitScript(recorderScript);
		const page = await ctx.newPage();
		await page.goto(`${server.base}/`);
		await waitFor(() => page.evaluate((n) => window.raceboard && window.raceboard.raceIds.length === n, races),
			{ what: `${races} races on the page`, timeout: 30000 });
		out.type = await page.evaluate(() => window.__longType);

		updater = startUpdates(server, running, rate);
		await sleep(warmMs);
		const lag = monitorEventLoopDelay({ resolution: 10 });
		for (let a = 0; a < attempts && !out.clean; a++) {
			const before = await page.evaluate(() => ({ t: performance.now(), seq: window.raceboard.seq, frames: window.__frames }));
			const sent0 = updater.sent;
			const cpu0 = await rendererCpu(cdp);
			lag.reset();
			lag.enable();
			await sleep(windowMs);
			lag.disable();
			const cpu1 = await rendererCpu(cdp);
			const after = await page.evaluate((t0) => ({
				t: performance.now(), seq: window.raceboard.seq, frames: window.__frames,
				long: window.__long.filter((e) => e.start >= t0), drawn: window.raceboard.drawnRows,
			}), before.t);
			const secs = (after.t - before.t) / 1000;
			const w = {
				long: after.long.length,
				worstMs: Math.round(Math.max(0, ...after.long.map((e) => e.duration))),
				fps: Math.round((after.frames - before.frames) / secs),
				updatesPerSec: Math.round((updater.sent - sent0) / secs),
				seenPerSec: Math.round((after.seq - before.seq) / secs),
				rowsDrawn: after.drawn,
				testLagMaxMs: Math.round(lag.max / 1e6),
				rendererCpu: Math.round(((cpu1 - cpu0) / secs) * 100) / 100,
				examples: after.long.slice(0, 3),
			};
			out.windows.push(w);
			out.updatesSent += updater.sent - sent0;
			out.updatesSeen += after.seq - before.seq;
			log(`# smoothness window ${a + 1}: ${JSON.stringify(w)}`);
			/* No long frame is not enough: a page stuck in one endless task
			 * ends no frame at all. It must draw and keep up too. */
			w.keptUp = w.seenPerSec >= 0.8 * w.updatesPerSec;
			out.clean = w.long === 0 && w.fps >= MIN_FPS && w.keptUp;
		}
		/* Every window failed, and the machine stalled this process too. */
		out.contended = !out.clean && out.windows.every((w) => w.testLagMaxMs > 50);
		const fair = out.windows.filter((w) => w.keptUp && w.fps >= 10);
		out.bestCpu = fair.length ? Math.min(...fair.map((w) => w.rendererCpu)) : null;
		out.pass = out.clean || (out.contended && out.bestCpu !== null && out.bestCpu < MAX_RENDERER_CPU);
		await page.screenshot({ path: artifact('smooth-2000.png'), timeout: 10000 }).catch(() => { /* a page too busy to draw: the windows say so */ });
	} finally {
		if (updater) {
			updater.stop = true;
			await updater.done;
		}
		if (ctx) await ctx.close();
		await cdp.detach();
		await server.stop();
		server.cleanup();
	}
	return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const arg = (name, def) => {
		const i = process.argv.indexOf(name);
		return i > 0 ? process.argv[i + 1] : def;
	};
	const browser = await launchBrowser();
	try {
		const r = await runSmoothness(browser, {
			races: Number(arg('--races', 2000)), rate: Number(arg('--rate', 200)), webRoot: arg('--web-root'),
			attempts: Number(arg('--attempts', 3)),
		});
		console.log(JSON.stringify({ pass: r.pass, clean: r.clean, contended: r.contended, bestCpu: r.bestCpu, type: r.type, sent: r.updatesSent, seen: r.updatesSeen }));
		process.exitCode = r.pass ? 0 : 1;
	} finally {
		await browser.close();
	}
}
