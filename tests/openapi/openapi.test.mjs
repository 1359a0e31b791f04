// openapi.test.mjs - docs/openapi.yaml against the real server: every
// documented operation is called (successes and errors), and every reply
// must have a documented status, the documented content type and a body
// that validates against the documented schema (Ajv, JSON Schema 2020-12,
// the dialect of OpenAPI 3.1). A route or field that changes without the
// description changing fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_BIN = process.env.RACEBOARD_SERVER_BIN || join(REPO, 'build-web/server/raceboard-server');
const FIXTURES = join(REPO, 'tests/data/hooks');
const GH_SECRET = 'openapi-gh-secret';
const GL_SECRET = 'openapi-gl-secret';

const spec = YAML.parse(readFileSync(join(REPO, 'docs/openapi.yaml'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi.yaml');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const servers = [];

async function startServer(extra) {
	const dir = mkdtempSync(join(tmpdir(), 'raceboard-openapi-'));
	const portFile = join(dir, 'port');
	const proc = spawn(SERVER_BIN, ['--port', '0', '--port-file', portFile, '--data-dir', join(dir, 'data'),
		'--log-level', 'warn', '--no-sync', '--max-body', '4096', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	proc.stderr.on('data', (d) => { log += d; });
	const t0 = Date.now();
	while (Date.now() - t0 < 10000) {
		if (existsSync(portFile)) {
			const port = Number(readFileSync(portFile, 'utf8').trim());
			if (port > 0) {
				const s = { proc, dir, port };
				servers.push(s);
				return s;
			}
		}
		if (proc.exitCode !== null) break;
		await sleep(25);
	}
	proc.kill('SIGKILL');
	throw new Error(`server did not start:\n${log}`);
}

function request(port, method, path, { body, headers = {} } = {}) {
	return new Promise((resolveP, reject) => {
		const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		const h = { ...headers };
		if (data) {
			h['content-length'] = data.length;
			if (!('content-type' in h)) h['content-type'] = 'application/json';
		}
		const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolveP({ status: res.statusCode, headers: res.headers,
				text: Buffer.concat(chunks).toString('utf8') }));
		});
		req.on('error', reject);
		if (data) req.write(data);
		req.end();
	});
}

// The documented operation for a concrete path: the spec's templates with
// {id} matched against one path segment.
function operation(method, path) {
	const bare = path.split('?')[0];
	for (const [tmpl, item] of Object.entries(spec.paths)) {
		const re = new RegExp('^' + tmpl.replace(/\{[^}]+\}/g, '[^/]+') + '$');
		if (re.test(bare) && item[method.toLowerCase()]) return { tmpl, op: item[method.toLowerCase()] };
	}
	return null;
}

function knownPath(path) {
	const bare = path.split('?')[0];
	return Object.keys(spec.paths).some((tmpl) => new RegExp('^' + tmpl.replace(/\{[^}]+\}/g, '[^/]+') + '$').test(bare));
}

function deref(obj) {
	while (obj && obj.$ref) {
		const parts = obj.$ref.replace(/^#\//, '').split('/');
		obj = parts.reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
	}
	return obj;
}

const exercised = new Set();

// Calls the server and checks the reply against the description.
async function call(port, method, path, opts) {
	const res = await request(port, method, path, opts);
	const found = operation(method, path);
	if (!found && knownPath(path)) {
		// A method the description does not list on a path it does: the
		// server must refuse it with 405 and an Error body.
		assert.equal(res.status, 405, `${method} ${path}: undocumented method answered ${res.status}`);
		const validate = ajv.getSchema('openapi.yaml#/components/schemas/Error');
		assert.ok(validate(JSON.parse(res.text)), `${method} ${path} 405: ${ajv.errorsText(validate.errors)}`);
		return res;
	}
	assert.ok(found, `${method} ${path}: not in docs/openapi.yaml`);
	const key = `${method.toUpperCase()} ${found.tmpl}`;
	exercised.add(key);
	const response = deref(found.op.responses[String(res.status)]);
	assert.ok(response, `${key}: status ${res.status} is not documented (body ${res.text})`);
	const ctype = (res.headers['content-type'] || '').split(';')[0].trim();
	const media = response.content && response.content[ctype];
	assert.ok(media, `${key} ${res.status}: content type '${ctype}' is not documented`);
	if (ctype === 'application/json') {
		const body = JSON.parse(res.text);
		const validate = ajv.compile({ $ref: 'openapi.yaml#' + pointerTo(media.schema, response, found, res.status, ctype) });
		assert.ok(validate(body), `${key} ${res.status}: ${ajv.errorsText(validate.errors)}\n${res.text}`);
		res.body = body;
	}
	return res;
}

// The JSON pointer of a response's schema inside the spec (so the
// schema's own '#/components/...' references resolve against the spec).
function pointerTo(schema, response, found, status, ctype) {
	const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
	const ref = found.op.responses[String(status)].$ref;
	const base = ref ? ref.replace(/^#/, '') :
		`/paths/${esc(found.tmpl)}/${Object.keys(spec.paths[found.tmpl]).find((m) => spec.paths[found.tmpl][m] === found.op)}/responses/${status}`;
	return `${base}/content/${esc(ctype)}/schema`;
}

function sign(body) {
	return 'sha256=' + createHmac('sha256', GH_SECRET).update(body).digest('hex');
}

function github(port, event, file, delivery, { secret = true } = {}) {
	const body = readFileSync(join(FIXTURES, 'github', file), 'utf8');
	const headers = { 'x-github-event': event, 'x-github-delivery': delivery };
	if (secret) headers['x-hub-signature-256'] = sign(body);
	return call(port, 'POST', '/hooks/github', { body, headers });
}

function gitlab(port, event, file, token) {
	const body = readFileSync(join(FIXTURES, 'gitlab', file), 'utf8');
	return call(port, 'POST', '/hooks/gitlab', { body, headers: { 'x-gitlab-event': event, 'x-gitlab-token': token } });
}

let srv;
before(async () => {
	srv = await startServer(['--github-secret', GH_SECRET, '--gitlab-secret', GL_SECRET]);
});

after(async () => {
	for (const s of servers) {
		s.proc.kill('SIGTERM');
		await new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)));
		rmSync(s.dir, { recursive: true, force: true });
	}
});

test('races: every operation, its successes and its errors', async () => {
	const p = srv.port;
	let r = await call(p, 'POST', '/race', { body: { id: 'build-42', source: 'cmd', title: 'make all', eta_sec: 120,
		metadata: { branch: 'main' } } });
	assert.equal(r.status, 201);
	r = await call(p, 'POST', '/race', { body: { id: 'build-42', source: 'cmd', title: 'make all', progress: 10 } });
	assert.equal(r.status, 200);
	r = await call(p, 'POST', '/race', { body: { source: 'cmd', title: 'no id', state: 'queued' } });
	assert.equal(r.status, 201);
	assert.equal((await call(p, 'POST', '/race', { body: { source: 'cmd' } })).status, 400);
	assert.equal((await call(p, 'POST', '/race', { body: '{"source":' })).status, 400);
	assert.equal((await call(p, 'POST', '/race', { body: { source: 'cmd', title: 't', progress: 101 } })).status, 400);
	assert.equal((await call(p, 'POST', '/race', { body: 'a=b',
		headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
	assert.equal((await call(p, 'POST', '/race', { body: { source: 'cmd', title: 'x'.repeat(5000) } })).status, 413);
	assert.equal((await call(p, 'GET', '/race')).status, 405);

	r = await call(p, 'PATCH', '/race/build-42', { body: { progress: 40, eta_sec: 75, metadata: { branch: null } } });
	assert.equal(r.status, 200);
	assert.equal((await call(p, 'PATCH', '/race/nope', { body: { progress: 1 } })).status, 404);
	assert.equal((await call(p, 'PATCH', '/race/build-42', { body: { state: 'sideways' } })).status, 400);
	r = await call(p, 'POST', '/race/build-42/event', { body: { type: 'stage', data: { name: 'link' } } });
	assert.equal(r.status, 200);
	assert.equal((await call(p, 'POST', '/race/nope/event', { body: { type: 'x' } })).status, 404);
	assert.equal((await call(p, 'POST', '/race/build-42/event', { body: { data: 1 } })).status, 400);
	assert.equal((await call(p, 'GET', '/race/build-42/event')).status, 405);
	r = await call(p, 'GET', '/race/build-42');
	assert.equal(r.status, 200);
	assert.ok(r.body.progress_prediction);
	assert.equal((await call(p, 'GET', '/race/nope')).status, 404);
	assert.equal((await call(p, 'GET', '/race/bad%20id')).status, 400);
	await call(p, 'PATCH', '/race/build-42', { body: { state: 'passed', progress: 100 } });

	assert.equal((await call(p, 'GET', '/races')).status, 200);
	assert.equal((await call(p, 'GET', '/races?state=passed&source=cmd')).status, 200);
	assert.equal((await call(p, 'GET', '/races?limit=1')).status, 200);
	assert.equal((await call(p, 'GET', '/races?state=sideways')).status, 400);
	assert.equal((await call(p, 'GET', '/races?limit=0')).status, 400);
	// The output tail: appended in a create and a patch, in GET /race and
	// in the list only with ?output=1; bad lines are 400 naming output.
	r = await call(p, 'POST', '/race', { body: { id: 'tail-1', source: 'cmd', title: 'log',
		output: ['\u001b[32mok\u001b[0m', 'é'.repeat(600)] } });
	assert.equal(r.status, 201);
	r = await call(p, 'PATCH', '/race/tail-1', { body: { output: ['<b>x</b>', ''] } });
	assert.equal(r.status, 200);
	assert.deepEqual(r.body.output.slice(2), ['<b>x</b>', '']);
	assert.ok(r.body.output[1].endsWith('…'));
	r = await call(p, 'GET', '/races?output=1');
	assert.equal(r.body.find((x) => x.id === 'tail-1').output.length, 4);
	r = await call(p, 'GET', '/races?output=0');
	assert.equal(r.body.find((x) => x.id === 'tail-1').output, undefined);
	assert.equal((await call(p, 'GET', '/races?output=2')).status, 400);
	r = await call(p, 'PATCH', '/race/tail-1', { body: { output: ['a\nb'] } });
	assert.equal(r.status, 400);
	assert.equal(r.body.field, 'output');
	assert.equal((await call(p, 'POST', '/races', { body: {} })).status, 405);

	r = await call(p, 'DELETE', '/race/build-42');
	assert.equal(r.status, 200);
	assert.equal((await call(p, 'DELETE', '/race/build-42')).status, 404);
});

test('server: health and metrics', async () => {
	const p = srv.port;
	assert.equal((await call(p, 'GET', '/health')).status, 200);
	assert.equal((await call(p, 'POST', '/health', { body: {} })).status, 405);
	const m = await call(p, 'GET', '/metrics');
	assert.equal(m.status, 200);
	assert.match(m.text, /raceboard_http_requests_total/);
	assert.equal((await call(p, 'POST', '/metrics', { body: {} })).status, 405);
});

test('webhooks: GitHub and GitLab deliveries, refusals and statuses', async () => {
	const p = srv.port;
	assert.equal((await github(p, 'workflow_job', 'job_queued.json', 'oa-1')).status, 201);
	assert.equal((await github(p, 'workflow_job', 'job_in_progress.json', 'oa-2')).status, 200);
	let r = await github(p, 'workflow_job', 'job_in_progress.json', 'oa-2');
	assert.equal(r.body.status, 'duplicate');
	assert.equal((await github(p, 'workflow_job', 'job_completed_success.json', 'oa-3')).status, 200);
	r = await github(p, 'workflow_job', 'job_queued.json', 'oa-4');
	assert.equal(r.body.status, 'stale');
	r = await github(p, 'ping', 'ping.json', 'oa-5');
	assert.equal(r.body.status, 'pong');
	assert.equal((await github(p, 'push', 'push.json', 'oa-6')).status, 202);
	assert.equal((await github(p, 'workflow_job', 'job_queued.json', 'oa-7', { secret: false })).status, 401);
	const bad = '{"action":"queued"}';
	assert.equal((await call(p, 'POST', '/hooks/github', { body: bad,
		headers: { 'x-github-event': 'workflow_job', 'x-hub-signature-256': sign(bad) } })).status, 400);
	assert.equal((await call(p, 'GET', '/hooks/github')).status, 405);

	assert.equal((await gitlab(p, 'Job Hook', 'job_running.json', GL_SECRET)).status, 201);
	assert.equal((await gitlab(p, 'Job Hook', 'job_success.json', GL_SECRET)).status, 200);
	assert.equal((await gitlab(p, 'Job Hook', 'job_success.json', 'wrong')).status, 401);
	assert.equal((await gitlab(p, 'Push Hook', 'push.json', GL_SECRET)).status, 202);

	// Without secrets the routes do not exist.
	const bare = await startServer([]);
	assert.equal((await github(bare.port, 'workflow_job', 'job_queued.json', 'oa-8')).status, 404);
	assert.equal((await gitlab(bare.port, 'Job Hook', 'job_running.json', GL_SECRET)).status, 404);
});

test('every documented operation was exercised', () => {
	for (const [tmpl, item] of Object.entries(spec.paths))
		for (const m of Object.keys(item).filter((k) => ['get', 'post', 'patch', 'delete', 'put', 'head'].includes(k)))
			assert.ok(exercised.has(`${m.toUpperCase()} ${tmpl}`), `${m.toUpperCase()} ${tmpl} is documented but not tested`);
});
