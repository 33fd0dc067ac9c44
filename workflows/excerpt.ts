// Bounded excerpts of text from outside (targets' answers, stderr, error messages) for outcomes and
// reports. Pure and deterministic: used by workflow code (failure messages in outcomes) and by the
// processors alike.

/** A run of whitespace that is kept as one space in a one-line excerpt. */
const WHITESPACE = /\s+/g;

/** The text on one line: line breaks, tabs and runs of spaces become one space. */
export function oneLine(text: string): string {
  return text.replace(WHITESPACE, ' ').trim();
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
