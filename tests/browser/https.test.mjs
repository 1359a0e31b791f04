// HTTPS through a reverse proxy, end to end: Debian's nginx runs the
// shipped docs/deploy/nginx.conf (listen address, upstream port and
// certificate substituted) with a self-signed certificate made here, in
// front of the real server, on free loopback ports. Checks that the page
// loads under the /raceboard/ prefix and goes live over wss: in Chromium,
// that the CLI creates, runs and finishes races over https: with
// --cacert, and that a signed GitHub webhook posted through the proxy is
// accepted.
//
//   RACEBOARD_SERVER_BIN, RACEBOARD_CLI_BIN pick the binaries;
//   RACEBOARD_NGINX (default /usr/sbin/nginx).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { REPO, Server, launchBrowser, artifact, waitFor, sleep } from './harness.mjs';

const NGINX = process.env.RACEBOARD_NGINX || '/usr/sbin/nginx';
const CLI = process.env.RACEBOARD_CLI_BIN || join(REPO, 'build-web/cli/raceboard');
const SECRET = 'e2e-webhook-secret';

let server;
let nginx;
let browser;
let dir;
let base; // https://127.0.0.1:PORT/raceboard
let skip = null;

function freePort() {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

function canConnect(port) {
	return new Promise((resolve) => {
		const c = connect(port, '127.0.0.1');
		c.on('connect', () => { c.destroy(); resolve(true); });
		c.on('error', () => resolve(false));
	});
}

/** The shipped site file, pointed at this test's ports and certificate. */
function siteConf(listenPort, upstreamPort) {
	const conf = readFileSync(join(REPO, 'docs/deploy/nginx.conf'), 'utf8');
	const out = conf
		.replace('server 127.0.0.1:7777;', `server 127.0.0.1:${upstreamPort};`)
		.replace('listen 443 ssl http2;', `listen 127.0.0.1:${listenPort} ssl http2;`)
		.replace(/^\s*listen \[::\]:443 ssl http2;\n/m, '')
		.replace('/etc/ssl/certs/raceboard.pem', join(dir, 'cert.pem'))
		.replace('/etc/ssl/private/raceboard.key', join(dir, 'key.pem'))
		.replace('shared:raceboard:1m', 'shared:raceboard-e2e:1m');
	for (const must of [String(listenPort), String(upstreamPort), 'cert.pem', 'key.pem']) {
		assert.ok(out.includes(must), `nginx.conf no longer has the line the test replaces for ${must}`);
	}
	return out;
}

before(async () => {
	if (!existsSync(NGINX)) {
		skip = `no nginx at ${NGINX} (RACEBOARD_WITH_DEPLOY=1 tools/install-deps.sh installs it)`;
		console.log(`# SKIP ${skip}`);
		return;
	}
	dir = mkdtempSync(join(tmpdir(), 'raceboard-https-'));
	chmodSync(dir, 0o755); // nginx's workers run as nobody
	execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
		'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
		'-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });

	process.env.RACEBOARD_GITHUB__SECRET = SECRET;
	server = await new Server().start();
	delete process.env.RACEBOARD_GITHUB__SECRET;

	const port = await freePort();
	writeFileSync(join(dir, 'site.conf'), siteConf(port, server.port));
	writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
	access_log ${dir}/access.log;
	client_body_temp_path ${dir}/body;
	proxy_temp_path ${dir}/proxy;
	fastcgi_temp_path ${dir}/fastcgi;
	uwsgi_temp_path ${dir}/uwsgi;
	scgi_temp_path ${dir}/scgi;
	include ${dir}/site.conf;
}
`);
	let log = '';
	nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'),
		'-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
	nginx.stdout.on('data', (d) => { log += d; });
	nginx.stderr.on('data', (d) => { log += d; });
	let exited = false;
	nginx.on('exit', () => { exited = true; });
	await waitFor(async () => exited || canConnect(port), { timeout: 10000, what: 'nginx listening' });
	assert.ok(!exited, `nginx exited:\n${log}`);
	base = `https://127.0.0.1:${port}/raceboard`;
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (nginx) {
		nginx.kill('SIGTERM');
		await new Promise((r) => { if (nginx.exitCode !== null) r(); else nginx.on('exit', r); });
	}
	if (server) {
		await server.stop();
		server.cleanup();
	}
	if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(args) {
	return execFileSync(CLI, ['--server', base, '--cacert', join(dir, 'cert.pem'), ...args],
		{ encoding: 'utf8', timeout: 30000, env: { ...process.env, RACEBOARD_DEBUG: '1' } });
}

test('the page loads under the prefix and goes live over wss:', async (t) => {
	if (skip) return t.skip(skip);
	const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 700 } });
	const page = await ctx.newPage();
	const sockets = [];
	const errors = [];
	page.on('websocket', (ws) => sockets.push(ws.url()));
	page.on('pageerror', (e) => errors.push(e.message));
	await page.goto(`${base}/`);
	await waitFor(() => page.evaluate(() => window.raceboard && window.raceboard.seq !== null),
		{ timeout: 15000, what: 'the first snapshot over wss:' });
	assert.deepEqual(sockets, [`wss://127.0.0.1:${new URL(base).port}/raceboard/ws`]);

	// A race the CLI makes over https: shows up live, then finishes.
	const id = `https-${process.pid}`;
	assert.equal(cli(['create', '--id', id, '--source', 'cmd', '--title', 'over https',
		'--progress', '30']).trim(), id);
	await page.locator(`li.race[data-id="${id}"]`).waitFor({ timeout: 10000 });
	cli(['finish', id, '--state', 'passed']);
	await waitFor(() => page.evaluate((id) => /pass/i.test(
		document.querySelector(`li.race[data-id="${id}"] .state-badge`)?.textContent || ''), id),
	{ timeout: 10000, what: 'the finish to arrive live' });
	await page.screenshot({ path: artifact('https-live.png') });
	assert.deepEqual(errors, []);
	await ctx.close();
});

test('the CLI runs a command over https: (its WebSocket over wss: through the proxy)', async (t) => {
	if (skip) return t.skip(skip);
	const id = `https-run-${process.pid}`;
	const r = spawnSync(CLI, ['--server', base, '--cacert', join(dir, 'cert.pem'), 'run', '--id', id,
		'--', 'sh', '-c', 'echo 40%; echo 80%'], { encoding: 'utf8', env: { ...process.env, RACEBOARD_DEBUG: '1' },
		timeout: 30000 });
	assert.equal(r.status, 0, r.stderr);
	assert.equal(r.stdout, '40%\n80%\n');
	assert.match(r.stderr, /WebSocket connected/);
	assert.doesNotMatch(r.stderr, /using REST/);
	const race = JSON.parse(cli(['get', id]));
	assert.equal(race.state, 'passed');
	assert.equal(race.progress, 100);
	// Without the CA the certificate is refused, in one line.
	let err = '';
	try {
		execFileSync(CLI, ['--server', base, 'get', id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (e) {
		err = e.stderr;
		assert.equal(e.status, 3);
	}
	assert.match(err, /TLS failed: .*--cacert/);
	assert.equal(err.trim().split('\n').length, 1);
});

test('`raceboard watch` follows a race over wss: and exits with its outcome', async (t) => {
	if (skip) return t.skip(skip);
	const id = `https-watch-${process.pid}`;
	cli(['create', '--id', id, '--source', 'cmd', '--title', 'watched over https', '--progress', '10']);
	const watch = spawn(CLI, ['--server', base, '--cacert', join(dir, 'cert.pem'), 'watch', id, '--exit-status'],
		{ stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	let err = '';
	watch.stdout.on('data', (d) => { out += d; });
	watch.stderr.on('data', (d) => { err += d; });
	const exited = new Promise((r) => watch.on('exit', (code) => r(code)));
	try {
		await waitFor(() => out.includes('watched over https'), { timeout: 10000, what: 'watch to print the race' });
		cli(['finish', id, '--state', 'failed']);
		assert.equal(await exited, 1, `exit status for a failed race; stderr: ${err}`);
	} finally {
		watch.kill('SIGKILL');
	}
	assert.match(out, /failed/);
	assert.doesNotMatch(err, /TLS failed|no WebSocket/);
});

function post(url, body, headers) {
	return new Promise((resolve, reject) => {
		const req = request(url, {
			method: 'POST', ca: readFileSync(join(dir, 'cert.pem')),
			headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers },
		}, (res) => {
			let data = '';
			res.on('data', (d) => { data += d; });
			res.on('end', () => resolve({ status: res.statusCode, body: data }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

test('a signed GitHub webhook through the proxy is accepted', async (t) => {
	if (skip) return t.skip(skip);
	const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
	const sig = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
	const ok = await post(`${base}/hooks/github`, body, {
		'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': `e2e-${process.pid}`, 'X-Hub-Signature-256': sig,
	});
	assert.equal(ok.status, 200, ok.body);
	const bad = await post(`${base}/hooks/github`, body, {
		'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': `e2e-bad-${process.pid}`,
		'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}`,
	});
	assert.equal(bad.status, 401, bad.body);
});

test('another https origin is still refused through the proxy', async (t) => {
	if (skip) return t.skip(skip);
	const r = await post(`${base}/race`, '{"source":"x","title":"y"}', { Origin: 'https://evil.example' });
	assert.equal(r.status, 403, r.body);
});
