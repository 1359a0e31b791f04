/*
 * output.js - the output tail of a race as the page shows it (pure: no
 * DOM). A line keeps what the producer sent on the wire; for the screen
 * ANSI escape sequences (colours, cursor moves) are removed, a carriage
 * return shows what a terminal would (the text after the last one), and
 * other control characters but tab become nothing. The result is plain
 * text for textContent: it is never parsed as HTML.
 */

/* CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), every other
 * ESC sequence (intermediate bytes, then one final byte: charset
 * designations, ESC 7, ESC c, ...), and the C1 CSI introducer. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[ -/]*[0-~]|\u009b[0-?]*[ -/]*[@-~]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Removes ANSI escape sequences (SGR colours and the rest). */
export function stripAnsi(s) {
	return String(s).replace(ANSI, '');
}

/** One stored line as the page shows it. */
export function displayLine(s) {
	let t = stripAnsi(s);
	/* "text\r" (CRLF output) ends with a return that redraws nothing. */
	t = t.replace(/\r+$/, '');
	const cr = t.lastIndexOf('\r');
	if (cr >= 0) t = t.slice(cr + 1);
	return t.replace(CONTROL, '');
}

/** The tail of a race as display lines ([] when it has none). */
export function displayTail(race) {
	const out = race && Array.isArray(race.output) ? race.output : [];
	return out.map(displayLine);
}

/**
 * Applies a delta's output to a race's stored tail: `lines` are the lines
 * the write appended, `droppedNow` the delta's output_dropped (undefined
 * when it did not change). The oldest lines that left the server's tail
 * go first: min(droppedNow - droppedBefore, lines held).
 */
export function appendOutput(tail, droppedBefore, lines, droppedNow) {
	const have = Array.isArray(tail) ? tail : [];
	const gone = droppedNow === undefined || droppedNow === null
		? 0 : Math.max(0, droppedNow - (droppedBefore || 0));
	const keep = have.slice(Math.min(gone, have.length));
	return keep.concat(Array.isArray(lines) ? lines : []);
}

/** 1 when a scroll box is at (or within `slack` px of) its bottom. */
export function atBottom(scrollTop, clientHeight, scrollHeight, slack = 4) {
	return scrollHeight - (scrollTop + clientHeight) <= slack;
}
