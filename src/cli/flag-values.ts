// Flag values that need more than the config schema's parsing: durations, headers, a schema given as
// a file. Errors name the flag and say what to write.
import path from 'node:path';
import { InputError } from '../errors';
import { readFileBounded } from '../util/bounded-read';

/** A --schema file is a JSON Schema, not data: far below this. */
export const MAX_SCHEMA_FILE_BYTES = 16 * 1024 * 1024;

/** Parses `30000`, `30s`, `2m` into milliseconds; a flag name for the error. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m)
    throw new InputError(
      `${flag} "${value}" is not a duration`,
      `use milliseconds (30000) or a suffix: 30s, 2m`,
    );
  const n = Number(m[1]);
  return Math.round(m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n);
}

/** `Name: value` flags into a header map; shared by every command taking --header. */
export function parseHeaders(headers: string[] | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const h of headers) {
    const i = h.indexOf(':');
    if (i <= 0)
      throw new InputError(
        `--header "${h}" is not "Name: value"`,
        'e.g. --header "Authorization: Bearer ${env:API_TOKEN}"',
      );
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

/** `--schema` takes JSON text or the path of a JSON file; the config schema parses the text. */
export async function schemaText(value: string | undefined): Promise<string | undefined> {
  if (value === undefined || value.trim().startsWith('{')) return value;
  const file = path.resolve(value);
  const hint = 'give a JSON file, or JSON text starting with {';
  return readFileBounded(file, MAX_SCHEMA_FILE_BYTES, { what: `--schema file ${file}`, hint }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot read --schema file ${file}: ${err.code ?? err.message}`, hint);
    },
  );
}
