// Test inputs written as real files.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import yauzl from 'yauzl';

/** Writes a CSV with a header; returns its path. */
export async function writeCsv(
  dir: string,
  name: string,
  rows: Record<string, string | number>[],
): Promise<string> {
  const file = path.join(dir, name);
  const columns = Object.keys(rows[0] ?? {});
  await writeFile(file, stringify([columns, ...rows.map((r) => columns.map((c) => String(r[c] ?? '')))]));
  return file;
}

/** `n` rows with keys `K0001`…: the usual test source. */
export function patientRows(n: number): { id: string; name: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `K${String(i + 1).padStart(4, '0')}`,
    name: `Name ${i + 1}`,
  }));
}

export { readJsonLines } from '../../src/util/json-lines';

/** The entry names of a zip archive, in order. */
export function zipEntries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
