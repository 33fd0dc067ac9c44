// Bodies and program output in trace/debug lines: bounded, so one item cannot write megabytes per
// attempt, with secret-named JSON fields masked, and a line that shows part of a text says so.
import { maskSecrets } from './secrets';

/** Characters of a body kept in a trace line. */
export const LOG_BODY_CHARS = 4_096;
/** Bodies longer than this are not parsed to mask JSON fields (they are cut anyway). */
const MAX_PARSE_CHARS = 1_000_000;

/**
 * `{ [name]: text }` for a log line, masked and cut at `max` characters. A cut text ends with
 * `… [truncated: first N of M characters]` and adds `[name]Truncated: true` and `[name]Chars: M`.
 */
export function loggedText(name: string, text: string, max = LOG_BODY_CHARS): Record<string, unknown> {
  const shown = maskJsonText(text);
  if (shown.length <= max) return { [name]: shown };
  return {
    [name]: `${shown.slice(0, max)}… [truncated: first ${max} of ${shown.length} characters]`,
    [`${name}Truncated`]: true,
    [`${name}Chars`]: shown.length,
  };
}

/** A JSON text with the values of secret-named fields (`password`, `token`, …) masked; other text as is. */
function maskJsonText(text: string): string {
  const trimmed = text.trimStart();
  if (text.length > MAX_PARSE_CHARS || !(trimmed.startsWith('{') || trimmed.startsWith('['))) return text;
  try {
    return JSON.stringify(maskSecrets(JSON.parse(text)));
  } catch {
    return text;
  }
}
