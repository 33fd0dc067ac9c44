// Bounded excerpts of text from outside (targets' answers, stderr, error messages) for outcomes and
// reports. Pure and deterministic: used by workflow code (failure messages in outcomes) and by the
// processors alike.

/** A run of whitespace that is kept as one space in a one-line excerpt. */
const WHITESPACE = /\s+/g;

/**
 * Characters a terminal or a spreadsheet reader may act on rather than show: C0 and C1 controls (ESC
 * starts sequences that move the cursor, erase lines or write the clipboard) and the bidi overrides
 * that make text read in another order than it is stored.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A control character shown as what it is, `\u001b` for ESC: visible, searchable, and the same
 * escape JSON uses, so a message copied into JSON means the same text.
 */
export function escapeControl(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * The text on one line and inert: line breaks, tabs and runs of spaces become one space; every other
 * control character (and bidi override) becomes its visible escape (`\u001b`).
 */
export function oneLine(text: string): string {
  return text.replace(WHITESPACE, ' ').trim().replace(CONTROL, escapeControl);
}

/**
 * At most `max` characters (plus `…` when cut). A cut ends at the last word boundary when there is one
 * in the second half of the limit; a single token longer than that (a URL, base64) is cut where the
 * limit falls, never inside a surrogate pair.
 */
export function excerpt(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  // The cut lands inside a word unless the next character starts a new one.
  const inWord = !/\s/.test(text[max] ?? ' ');
  const boundary = cut.search(/\s+\S*$/);
  if (boundary >= max / 2) cut = inWord ? cut.slice(0, boundary) : cut.trimEnd();
  else if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}

/** An error message for outcomes and reports: one line, cut at a word. */
export function messageExcerpt(text: string, max: number): string {
  return excerpt(oneLine(text), max);
}
