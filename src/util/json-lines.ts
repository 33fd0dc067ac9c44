// JSON-lines files (staged sources, result pages, reports): streamed record by record, or read whole.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

/** Each record of a JSON-lines file, streamed; blank lines are skipped. */
export async function* jsonLines<T>(file: string): AsyncGenerator<T> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) yield JSON.parse(line) as T;
}

/** Every record of a JSON-lines file, or undefined when the file does not exist. */
export async function readJsonLinesIfExists<T>(file: string): Promise<T[] | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text
    ?.split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
