// harness.mjs - what the browser tests need around the page: the real
// server binary (started, stopped, restarted on the same port and data),
// REST calls, a WebSocket probe, and Debian's Chromium through
// playwright-core. Never downloads a browser.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const WEB_ROOT = join(REPO, 'web-demo');
export const ARTIFACTS = join(REPO, 'tests/artifacts');
export const SERVER_BIN = process.env.RACEBOARD_SERVER_BIN || join(REPO, 'build-web/server/raceboard-server');
export const CHROMIUM = process.env.RACEBOARD_CHROMIUM || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Server {
	constructor({ webRoot = WEB_ROOT } = {}) {
		this.webRoot = webRoot;
		this.dir = mkdtempSync(join(tmpdir(), 'raceboard-e2e-'));
		this.dataDir = join(this.dir, 'data');
		this.port = 0;
		this.proc = null;
		this.log = '';
	}

	async start() {
		if (!existsSync(SERVER_BIN)) {
			throw new Error(`no server binary at ${SERVER_BIN}: build it (make test-web does) or set RACEBOARD_SERVER_BIN`);
		}
		const portFile = join(this.dir, `port-${Date.now()}`);
		const args = ['--port', String(this.port), '--port-file', portFile, '--data-dir', this.dataDir,
			'--web-root', this.webRoot, '--log-level', 'warn', '--no-sync', '--heartbeat', '5'];
		for (let attempt = 0; ; attempt++) {
			const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
			proc.stdout.on('data', (d) => { this.log += d; });
			proc.stderr.on('data', (d) => { this.log += d; });
			let exited = false;
			proc.on('exit', () => { exited = true; });
			const t0 = Date.now();
			while (!exited && Date.now() - t0 < 10000) {
				if (existsSync(portFile)) {
					const p = Number(readFileSync(portFile, 'utf8').trim());
					if (p > 0) {
						this.port = p;
						this.proc = proc;
						return this;
					}
				}
				await sleep(25);
			}
			proc.kill('SIGKILL');
			/* Restarting on the same port can race the old socket's release. */
			if (attempt >= 20) throw new Error(`server did not start:\n${this.log}`);
			await sleep(250);
		}
	}

	async stop() {
		const proc = this.proc;
		if (!proc) return;
		this.proc = null;
		const done = new Promise((r) => proc.once('exit', r));
		proc.kill('SIGTERM');
		const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
		await done;
		clearTimeout(t);
	}

	cleanup() {
		rmSync(this.dir, { recursive: true, force: true });
	}

	get base() {
		return `http://127.0.0.1:${this.port}`;
	}

	async rest(method, path, body) {
		const res = await fetch(this.base + path, {
			method,
			headers: body ? { 'Content-Type': 'application/json' } : {},
			body: body ? JSON.stringify(body) : undefined,
		});
		const text = await res.text();
		return { status: res.status, body: text ? JSON.parse(text) : null };
	}

	async create(race) {
		const r = await this.rest('POST', '/race', race);
		if (r.status !== 201 && r.status !== 200) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
		return r.body;
	}

	async patch(id, changes) {
		const r = await this.rest('PATCH', `/race/${id}`, changes);
		if (r.status !== 200) throw new Error(`patch: ${r.status} ${JSON.stringify(r.body)}`);
		return r.body;
	}

	/** True when the server answers a raceboard.v1 WebSocket upgrade at /ws. */
	hasWebSocket() {
		return new Promise((resolvePromise) => {
			const req = http.request({
				host: '127.0.0.1', port: this.port, path: '/ws',
				headers: {
					Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
					'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
					'Sec-WebSocket-Protocol': 'raceboard.v1',
				},
			});
			req.on('upgrade', (res, socket) => { socket.destroy(); resolvePromise(true); });
			req.on('response', (res) => { res.resume(); resolvePromise(false); });
			req.on('error', () => resolvePromise(false));
			req.setTimeout(3000, () => { req.destroy(); resolvePromise(false); });
			req.end();
		});
	}
}

export async function launchBrowser() {
	if (!existsSync(CHROMIUM)) {
		throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (make test-web does)`);
	}
	return chromium.launch({
		executablePath: CHROMIUM,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
}

/** Shifts the page's clock (Date and Date.now) by skewMs. */
export function skewClockScript(skewMs) {
	return `(() => {
		const SKEW = ${Number(skewMs)};
		const RealDate = Date;
		class SkewedDate extends RealDate {
			constructor(...a) { if (a.length === 0) super(RealDate.now() + SKEW); else super(...a); }
			static now() { return RealDate.now() + SKEW; }
		}
		globalThis.Date = SkewedDate;
	})();`;
}

/** Collects CSP violations and page errors, to assert there were none. */
export const watchScript = `(() => {
	window.__violations = [];
	document.addEventListener('securitypolicyviolation', (e) => {
		window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
	});
})();`;

/** A browser context whose pages report CSP violations (watchScript), with more init scripts if given. */
export async function watchedContext(browser, options = {}, ...initScripts) {
	const ctx = await browser.newContext(options);
	for (const script of [watchScript, ...initScripts]) await ctx.addInitScript(script);
	return ctx;
}

/** A new page in ctx whose uncaught errors, console errors and dialogs are collected. */
export async function watchedPage(ctx) {
	const page = await ctx.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
	return { ctx, page, errors };
}

/** Asserts a watched page saw no CSP violation and no error (but those `ignore` accepts), then closes its context. */
export async function closeWatched({ ctx, page, errors }, ignore = () => false) {
	assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no Content-Security-Policy violations');
	assert.deepEqual(errors.filter((e) => !ignore(e)), [], 'no page errors');
	await ctx.close();
}

export function artifact(name) {
	mkdirSync(ARTIFACTS, { recursive: true });
	return join(ARTIFACTS, name);
}

/** Polls fn until it returns a truthy value; throws with the last value. */
export async function waitFor(fn, { timeout = 8000, interval = 50, what = 'condition' } = {}) {
	const t0 = Date.now();
	let last;
	for (;;) {
		try {
			last = await fn();
			if (last) return last;
		} catch (e) {
			last = e;
		}
		if (Date.now() - t0 > timeout) {
			throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
		}
		await sleep(interval);
	}
}

/**
 * A producer over the browser's WebSocket API, in a tab of its own on the
 * server's origin (the server refuses upgrades from foreign origins): sends
 * the messages pipelined and returns the server's replies.
 */
export async function wsProduce(browser, port, messages) {
	const ctx = await browser.newContext();
	const page = await ctx.newPage();
	try {
		await page.goto(`http://127.0.0.1:${port}/no-such-page-producer-tab`);
		return await page.evaluate(async ({ port, messages }) => {
			const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, 'raceboard.v1');
			const replies = [];
			await new Promise((resolveP, reject) => {
				ws.onerror = () => reject(new Error('ws error'));
				ws.onmessage = (ev) => {
					const f = JSON.parse(ev.data);
					if (f.type === 'hello') {
						for (const m of messages) ws.send(JSON.stringify(m));
					} else if (f.type === 'ack' || f.type === 'error') {
						replies.push(f);
						if (replies.length === messages.length) resolveP();
					}
				};
				setTimeout(() => reject(new Error(`only ${replies.length} replies`)), 5000);
			});
			ws.close();
			return replies;
		}, { port, messages });
	} finally {
		await ctx.close();
	}
}
