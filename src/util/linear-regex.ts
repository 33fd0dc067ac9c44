// Regular expressions written by users (`--where field~regex`, an item schema's `pattern`) run on
// every row of a source, in the process that stages it: the CLI, and the service for each of its
// clients. JavaScript's backtracking engine takes exponential time on patterns such as `^(a+)+$`, so
// one request could freeze the service; RE2 (re2js, pure JavaScript) matches in linear time. Its
// syntax is JavaScript's without look-around and back-references.
import { RE2JS } from 're2js';

export interface LinearRegex {
  readonly source: string;
  /** True when the pattern matches anywhere in `text` (as RegExp.test without flags). */
  test(text: string): boolean;
}

/** Compiles `pattern`; an Error saying why when RE2 cannot (bad syntax, look-around, back-references). */
export function linearRegex(pattern: string): LinearRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, '');
    throw new Error(`${why} (RE2 syntax: no look-around or back-references)`, { cause: err });
  }
  return { source: pattern, test: (text) => re.test(text) };
}
