/*
 * alerts.js - how the page tells you a race finished without you looking
 * at it: the tab title ("(3) ✗ Raceboard"), the favicon, an optional
 * desktop notification and an optional short sound. Notifications and
 * sound are off by default; their toggles are remembered in localStorage.
 * Permission for notifications is asked only from the toggle's click (a
 * user gesture), never on load.
 */
import * as B from './board.js';

const KEY_NOTIFY = 'raceboard.notify';
const KEY_SOUND = 'raceboard.sound';

function load(key) {
	try {
		return localStorage.getItem(key) === '1';
	} catch {
		return false;
	}
}

function store(key, on) {
	try {
		localStorage.setItem(key, on ? '1' : '0');
	} catch { /* private mode: the setting lasts this visit */ }
}

/**
 * The alerts of the page. announce(text) speaks to screen readers;
 * openRace(id) shows a race (a notification's click).
 */
export function createAlerts({ favicon, notifyBtn, soundBtn, announce, openRace }) {
	const a = {
		notify: load(KEY_NOTIFY), sound: load(KEY_SOUND), unseenFailures: 0,
		title: '', icon: '', notified: 0, beeps: 0, audio: null, counts: null,
	};
	const supported = typeof Notification === 'function';
	/* A remembered "on" means nothing if the browser no longer allows it. */
	if (a.notify && (!supported || Notification.permission !== 'granted')) a.notify = false;

	function paint() {
		notifyBtn.setAttribute('aria-pressed', String(a.notify));
		soundBtn.setAttribute('aria-pressed', String(a.sound));
		notifyBtn.title = !supported ? 'This browser has no desktop notifications'
			: a.notify ? 'Desktop notifications on: click to turn off'
				: 'Desktop notification when a race finishes (off)';
		soundBtn.title = a.sound ? 'Sound on: click to turn off' : 'A short sound when a race finishes (off)';
	}

	notifyBtn.addEventListener('click', async () => {
		if (a.notify) {
			a.notify = false;
		} else if (!supported) {
			announce('This browser cannot show desktop notifications');
		} else if (Notification.permission === 'denied') {
			announce('Notifications are blocked for this page in the browser settings');
		} else {
			const p = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
			a.notify = p === 'granted';
			if (!a.notify) announce('Notifications were not allowed');
		}
		store(KEY_NOTIFY, a.notify);
		paint();
	});
	soundBtn.addEventListener('click', () => {
		a.sound = !a.sound;
		store(KEY_SOUND, a.sound);
		if (a.sound) beep('passed'); /* the click is the gesture that lets audio start */
		paint();
	});

	/* Any sign of the user looking clears the ✗. */
	const seen = () => {
		if (a.unseenFailures && document.visibilityState === 'visible') {
			a.unseenFailures = 0;
			if (a.counts) update(a.counts);
		}
	};
	for (const ev of ['pointerdown', 'keydown']) window.addEventListener(ev, seen, true);
	window.addEventListener('focus', (ev) => { if (ev.target === window) seen(); });
	document.addEventListener('visibilitychange', seen);

	function beep(state) {
		try {
			const Ctx = window.AudioContext || window.webkitAudioContext;
			if (!Ctx) return;
			if (!a.audio) a.audio = new Ctx();
			const ctx = a.audio;
			const osc = ctx.createOscillator();
			const gain = ctx.createGain();
			osc.type = 'sine';
			osc.frequency.value = state === 'failed' ? 330 : 660;
			gain.gain.setValueAtTime(0.0001, ctx.currentTime);
			gain.gain.exponentialRampToValueAtTime(0.12, ctx.currentTime + 0.02);
			gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
			osc.connect(gain).connect(ctx.destination);
			osc.start();
			osc.stop(ctx.currentTime + 0.3);
			a.beeps += 1;
		} catch { /* no audio device: silence is fine */ }
	}

	/** Races that just finished (board.js finishesOf), with the feed's races. */
	function finished(list, races) {
		if (!list.length) return;
		if (list.some((f) => f.state === 'failed')) a.unseenFailures += list.filter((f) => f.state === 'failed').length;
		if (a.sound) beep(list.some((f) => f.state === 'failed') ? 'failed' : 'passed');
		if (a.notify && supported && Notification.permission === 'granted') {
			/* A burst of finishes is one notification, not a wall of them. */
			const shown = list.length > 3 ? [{ ...list[0], title: `${list.length} races finished`, id: 'many' }] : list;
			for (const f of shown) {
				const n = B.notificationFor(f, races.get(f.id));
				try {
					const note = new Notification(n.title, { body: n.body, tag: n.tag });
					note.onclick = () => {
						window.focus();
						if (f.id !== 'many') openRace(f.id);
						note.close();
					};
					a.notified += 1;
				} catch { /* some browsers only allow notifications from a service worker */ }
			}
		}
	}

	/** Title and favicon from the board's counts. */
	function update(counts) {
		a.counts = counts;
		const title = B.tabTitle(counts.running, a.unseenFailures);
		if (title !== a.title) {
			a.title = title;
			document.title = title;
		}
		const icon = B.faviconState(counts, a.unseenFailures);
		if (icon !== a.icon) {
			a.icon = icon;
			favicon.href = B.faviconHref(icon);
			favicon.dataset.state = icon;
		}
	}

	paint();
	return { state: a, finished, update };
}
