#!/usr/bin/env node
// demo-producer.mjs - feeds a Raceboard server realistic races over REST so
// the page at / comes alive within seconds: a steady pipeline, a bursty
// build, a job that stalls, an agent task whose ETA keeps slipping, an
// exact calendar ETA (eta_source 1), and a queue that starts and finishes
// races. Node 18+ and no dependencies.
//
//   node tools/demo-producer.mjs [--url http://127.0.0.1:7777] [--duration SEC] [--quiet]
//
// Stops on Ctrl-C or after --duration seconds.

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(`--${name}`);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const BASE = (opt('url', process.env.RACEBOARD_URL || 'http://127.0.0.1:7777')).replace(/\/$/, '');
const DURATION = Number(opt('duration', '0'));
const QUIET = args.includes('--quiet');
const TICK_MS = 500;

const log = (...a) => { if (!QUIET) console.log(new Date().toISOString().slice(11, 19), ...a); };
const rand = (a, b) => a + Math.random() * (b - a);
const randInt = (a, b) => Math.floor(rand(a, b + 1));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(method, path, body) {
	const res = await fetch(BASE + path, {
		method,
		headers: body ? { 'Content-Type': 'application/json' } : {},
		body: body ? JSON.stringify(body) : undefined,
	});
	const text = await res.text();
	if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: ${res.status} ${text}`);
	return text ? JSON.parse(text) : null;
}

let serial = Math.floor(Date.now() / 1000) % 100000;
const nextId = (prefix) => `${prefix}-${++serial}`;
const finished = []; // ids, oldest first, to tidy up
const active = new Set(); // ids still running, canceled when the demo stops

async function start(race) {
	await call('POST', '/race', race);
	active.add(race.id);
}

async function finish(id, state, title) {
	active.delete(id);
	await call('PATCH', `/race/${id}`, { state, ...(state === 'passed' ? { progress: 100 } : {}) });
	log(`${state.padEnd(8)} ${title}`);
	finished.push(id);
	while (finished.length > 6) await call('DELETE', `/race/${finished.shift()}`);
}

// Each kind is an async function that runs one race to its end.

// Steady: reports every 4-6 s at a constant pace; the overlay fills the gaps.
async function steady(stop) {
	const id = nextId('pipeline');
	const branch = pick(['main', 'release-2.4', 'feat/ws-resume']);
	const title = `Pipeline #${serial} · ${branch}`;
	const total = randInt(70, 110);
	await start({
		id, source: 'gitlab', title, eta_sec: total, progress: 0, update_interval_hint: 3,
		metadata: { branch }, deeplink: `https://gitlab.example.com/acme/app/-/pipelines/${serial}`,
	});
	log(`create   ${title}`);
	const t0 = Date.now();
	const stages = ['build', 'test', 'lint', 'package', 'deploy'];
	let stage = -1;
	while (!stop.now) {
		await sleep(rand(4000, 6000));
		const el = (Date.now() - t0) / 1000;
		const p = Math.min(100, Math.round((el / total) * 100));
		const s = Math.min(stages.length - 1, Math.floor((p / 100) * stages.length));
		if (s !== stage) {
			stage = s;
			await call('POST', `/race/${id}/event`, { type: 'stage', data: { name: stages[s] } });
		}
		if (p >= 100) return finish(id, Math.random() < 0.85 ? 'passed' : 'failed', title);
		await call('PATCH', `/race/${id}`, { progress: p, eta_sec: Math.max(0, Math.round(total - el)) });
	}
}

// Bursty: silent for 9-14 s, then a jump of 12-25 points.
async function bursty(stop) {
	const id = nextId('gh');
	const title = `Build & test · ${pick(['ubuntu-latest', 'macos-14', 'windows-2022'])}`;
	await start({ id, source: 'github', title, eta_sec: 90, progress: 0, update_interval_hint: 5 });
	log(`create   ${title}`);
	let p = 0;
	while (!stop.now) {
		await sleep(rand(9000, 14000));
		p = Math.min(100, p + randInt(12, 25));
		if (p >= 100) return finish(id, 'passed', title);
		await call('PATCH', `/race/${id}`, { progress: p, eta_sec: Math.round((100 - p) * 0.9) });
	}
}

// Stalling: goes well, then goes silent for 35-50 s (overlay hits its cap,
// the dot goes stale), then resumes.
async function stalling(stop) {
	const id = nextId('cmd');
	const title = pick(['npm ci', 'cargo build --release', 'make -j8 all']);
	await start({ id, source: 'cmd', title, eta_sec: 60, progress: 0, update_interval_hint: 2 });
	log(`create   ${title}`);
	let p = 0, stalled = false;
	while (!stop.now) {
		await sleep(rand(2500, 3500));
		p = Math.min(100, p + randInt(3, 6));
		if (!stalled && p >= 35) {
			stalled = true;
			log(`stall    ${title}`);
			await sleep(rand(35000, 50000));
			if (stop.now) return;
		}
		if (p >= 100) return finish(id, 'passed', title);
		await call('PATCH', `/race/${id}`, { progress: p, eta_sec: Math.round((100 - p) * 0.6) });
	}
}

// Slipping: an agent task whose ETA keeps being revised later.
async function slipping(stop) {
	const id = nextId('agent');
	const title = pick(['Refactor store layer', 'Fix flaky resume test', 'Write protocol docs']);
	let eta = 45;
	await start({ id, source: 'claude-code', title, eta_sec: eta, progress: 5, update_interval_hint: 6 });
	log(`create   ${title}`);
	let p = 5, slips = 0;
	while (!stop.now) {
		await sleep(rand(6000, 9000));
		p = Math.min(100, p + randInt(4, 9));
		if (p >= 100) return finish(id, Math.random() < 0.7 ? 'passed' : 'canceled', title);
		if (slips < 4 && Math.random() < 0.6) {
			slips += 1;
			eta = Math.round(eta + rand(15, 40));
			log(`slip     ${title} → ${eta}s`);
		} else {
			eta = Math.max(5, eta - 7);
		}
		await call('PATCH', `/race/${id}`, { progress: p, eta_sec: eta, eta_confidence: Math.round(Math.max(0.2, 0.7 - slips * 0.1) * 10) / 10 });
	}
}

// Exact: a calendar event; its end is known, so the ETA is exact (source 1).
async function calendar(stop) {
	const id = nextId('cal');
	const title = pick(['Team standup', 'Design review', 'Release sync']);
	const length = randInt(120, 180);
	const t0 = Date.now();
	await start({
		id, source: 'google-calendar', title, eta_sec: length, eta_source: 1, eta_confidence: 1, progress: 0,
	});
	log(`create   ${title} (exact)`);
	while (!stop.now) {
		await sleep(15000);
		const el = (Date.now() - t0) / 1000;
		if (el >= length) return finish(id, 'passed', title);
		await call('PATCH', `/race/${id}`, { progress: Math.round((el / length) * 100) });
	}
}

// Queued: waits, then runs as a short job.
async function queued(stop) {
	const id = nextId('deploy');
	const title = `Deploy ${pick(['staging', 'canary', 'docs site'])}`;
	await start({ id, source: 'cmd', title, state: 'queued', update_interval_hint: 3 });
	log(`queue    ${title}`);
	await sleep(rand(12000, 20000));
	if (stop.now) return;
	await call('PATCH', `/race/${id}`, { state: 'running', progress: 0, eta_sec: 30 });
	let p = 0;
	while (!stop.now) {
		await sleep(rand(3000, 4500));
		p = Math.min(100, p + randInt(10, 20));
		if (p >= 100) return finish(id, Math.random() < 0.8 ? 'passed' : 'failed', title);
		await call('PATCH', `/race/${id}`, { progress: p, eta_sec: Math.round((100 - p) * 0.3) });
	}
}

async function lane(kind, stop, delayMs) {
	await sleep(delayMs);
	while (!stop.now) {
		try {
			await kind(stop);
		} catch (e) {
			log(`error    ${kind.name}: ${e.message}`);
			await sleep(2000);
		}
		await sleep(rand(1500, 4000));
	}
}

async function main() {
	for (let i = 0; ; i++) {
		try {
			await call('GET', '/health');
			break;
		} catch (e) {
			if (i === 20) {
				console.error(`demo-producer: no Raceboard server at ${BASE} (${e.message})`);
				process.exit(1);
			}
			await sleep(250);
		}
	}
	log(`feeding ${BASE} (Ctrl-C to stop)`);
	const stop = { now: false };
	const end = async () => {
		if (stop.now) return;
		stop.now = true;
		// Leave no race running forever on the board.
		await Promise.allSettled([...active].map((id) => call('PATCH', `/race/${id}`, { state: 'canceled' })));
		process.exit(0);
	};
	process.on('SIGINT', end);
	process.on('SIGTERM', end);
	if (DURATION > 0) setTimeout(end, DURATION * 1000);
	await Promise.all([
		lane(steady, stop, 0),
		lane(bursty, stop, 300),
		lane(stalling, stop, 600),
		lane(slipping, stop, 900),
		lane(calendar, stop, 1200),
		lane(queued, stop, 1500),
	]);
}

main();
