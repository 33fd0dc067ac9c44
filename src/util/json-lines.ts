// JSON-lines files (staged sources, result pages, reports): streamed record by record, or read whole.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

/** Each record of a JSON-lines file with its line's text, streamed; blank lines are skipped. */
export async function* jsonLinesWithText<T>(file: string): AsyncGenerator<{ record: T; line: string }> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) yield { record: JSON.parse(line) as T, line };
}

/** Each record of a JSON-lines file, streamed; blank lines are skipped. */
export async function* jsonLines<T>(file: string): AsyncGenerator<T> {
  for await (const { record } of jsonLinesWithText<T>(file)) yield record;
}

/** Every record of a JSON-lines file. */
export async function readJsonLines<T>(file: string): Promise<T[]> {
  return parseJsonLines<T>(await readFile(file, 'utf8'));
}

/** Every record of a JSON-lines file, or undefined when the file does not exist. */
export async function readJsonLinesIfExists<T>(file: string): Promise<T[] | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : parseJsonLines<T>(text);
}

function parseJsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
