// Unit tests of web-demo/output.js (the output tail as the page shows it)
// and of the output rule in optimistic.js applyChanges (node --test tests/web/).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../web-demo/output.js';
import * as O from '../../web-demo/optimistic.js';

const ESC = '\u001b';

describe('stripAnsi', () => {
	test('removes SGR colours, bold and resets, keeping the text', () => {
		assert.equal(T.stripAnsi(`${ESC}[1;31merror${ESC}[0m: x`), 'error: x');
		assert.equal(T.stripAnsi(`${ESC}[38;5;208morange${ESC}[39m ${ESC}[48;2;1;2;3mtrue${ESC}[m`), 'orange true');
	});
	test('removes cursor moves, erases, OSC titles and hyperlinks, and C1 CSI', () => {
		assert.equal(T.stripAnsi(`${ESC}[2K${ESC}[1G[3/10] cc foo.c${ESC}[K`), '[3/10] cc foo.c');
		assert.equal(T.stripAnsi(`${ESC}]0;make all\u0007built`), 'built');
		assert.equal(T.stripAnsi(`${ESC}]8;;https://x.example/${ESC}\\link${ESC}]8;;${ESC}\\`), 'link');
		assert.equal(T.stripAnsi(`${ESC}[?25l${ESC}(Bdone${ESC}[?25h`), 'done');
		assert.equal(T.stripAnsi('\u009b31mred\u009b0m'), 'red');
	});
	test('leaves text without escapes alone, HTML included', () => {
		const s = '<img src=x onerror=alert(1)> & "quotes" [3/10] 50%';
		assert.equal(T.stripAnsi(s), s);
	});
});

describe('displayLine', () => {
	test('a carriage return shows what a terminal shows: the last redraw', () => {
		assert.equal(T.displayLine('10%\r20%\r30% done'), '30% done');
		assert.equal(T.displayLine('windows line\r'), 'windows line');
		assert.equal(T.displayLine(`${ESC}[32m 5%${ESC}[0m\r${ESC}[32m95%${ESC}[0m\r\r`), '95%');
	});
	test('other control characters go, tabs stay, HTML stays text', () => {
		assert.equal(T.displayLine('a\u0007b\u0000c\u007fd\te'), 'abcd\te');
		assert.equal(T.displayLine('<script>alert(1)</script>'), '<script>alert(1)</script>');
		assert.equal(T.displayLine('é € 😀'), 'é € 😀');
	});
	test('displayTail maps every line, and is empty without output', () => {
		assert.deepEqual(T.displayTail({ output: [`${ESC}[1mA${ESC}[0m`, 'b\r'] }), ['A', 'b']);
		assert.deepEqual(T.displayTail({}), []);
		assert.deepEqual(T.displayTail(undefined), []);
	});
});

describe('appendOutput and applyChanges', () => {
	test('appends the delta lines and drops as many as output_dropped grew', () => {
		assert.deepEqual(T.appendOutput(['a', 'b'], 0, ['c'], undefined), ['a', 'b', 'c']);
		assert.deepEqual(T.appendOutput(['a', 'b', 'c'], 5, ['d', 'e'], 7), ['c', 'd', 'e']);
		/* The write overflowed by itself: every old line is gone. */
		assert.deepEqual(T.appendOutput(['a', 'b'], 0, ['x', 'y'], 10), ['x', 'y']);
		assert.deepEqual(T.appendOutput(undefined, undefined, ['x'], undefined), ['x']);
	});
	test('applyChanges appends output instead of replacing it, and keeps the count', () => {
		const r = { id: 'r', output: ['1', '2', '3'], output_dropped: 4 };
		const n = O.applyChanges(r, { output: ['4', '5'], output_dropped: 6 });
		assert.deepEqual(n.output, ['3', '4', '5']);
		assert.equal(n.output_dropped, 6);
		assert.deepEqual(r.output, ['1', '2', '3'], 'the old race is not changed');
		const m = O.applyChanges(n, { output: ['6'], progress: 40 });
		assert.deepEqual(m.output, ['3', '4', '5', '6']);
		assert.equal(m.output_dropped, 6);
		assert.equal(m.progress, 40);
		const same = O.applyChanges(m, { progress: 41 });
		assert.equal(same.output, m.output, 'untouched output keeps its identity (the view redraws on change only)');
	});
	test('the client matches a server model over random writes', () => {
		/* A model of the server rule (200 lines; the byte cap is not hit
		 * by these short lines), checked against appendOutput. */
		let seed = 7;
		const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
		let server = [], dropped = 0, client = [], cdropped = 0, k = 0;
		for (let step = 0; step < 300; step++) {
			const add = Array.from({ length: rnd(4) ? rnd(12) : 250 + rnd(100) }, () => `l${k++}`);
			if (!add.length) continue;
			const all = server.concat(add);
			const keep = all.slice(Math.max(0, all.length - 200));
			const newDropped = dropped + all.length - keep.length;
			const appended = add.slice(Math.max(0, add.length - keep.length));
			client = T.appendOutput(client, cdropped, appended, newDropped !== dropped ? newDropped : undefined);
			if (newDropped !== dropped) cdropped = newDropped;
			server = keep;
			dropped = newDropped;
			assert.deepEqual(client, server, `step ${step}`);
		}
	});
});

describe('atBottom', () => {
	test('within a few pixels of the end counts as the bottom', () => {
		assert.equal(T.atBottom(600, 400, 1000), true);
		assert.equal(T.atBottom(597, 400, 1000), true);
		assert.equal(T.atBottom(500, 400, 1000), false);
		assert.equal(T.atBottom(0, 400, 300), true, 'nothing to scroll');
	});
});
