// A metadata file that is one JSON object keyed by file name — {"scan-001.pdf": {"title": …}, …} —
// the shape many export tools write, next to the array of rows the other readers take. Each entry
// becomes a record with the name under the key column. Read whole: a metadata file describes a
// folder, not millions of rows; MAX_METADATA_BYTES keeps a wrong file from exhausting memory.
import { open, readFile, stat } from 'node:fs/promises';
import { InputError } from '../../errors';
import { MAX_ROW_DEPTH, nestingDepth, rowTooDeep, type SourceRecord } from '../types';

const MAX_METADATA_BYTES = 64 * 1024 * 1024;

/** True when the JSON file's first value is an object (after a BOM and white space). */
export async function isKeyedJsonObject(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4096), 0, 4096, 0);
    const head = buffer
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .trimStart();
    return head.startsWith('{');
  } finally {
    await fh.close();
  }
}

export async function* readKeyedJsonObject(file: string, keyColumn: string): AsyncGenerator<SourceRecord> {
  // Its size is checked before it is read: reading first would hold the whole file in memory.
  const st = await stat(file);
  if (!st.isFile()) {
    throw new InputError(
      `metadata ${file} is not a regular file (a FIFO, device or directory)`,
      'give a file',
    );
  }
  const size = st.size;
  if (size > MAX_METADATA_BYTES) {
    throw new InputError(
      `metadata ${file} is ${Math.round(size / 1e6)} MB: a JSON object is read whole, at most ${MAX_METADATA_BYTES / 1024 / 1024} MB`,
      'write it as a JSON array of rows or as JSON lines, which are streamed',
    );
  }
  const text = (await readFile(file))
    .subarray(0, MAX_METADATA_BYTES)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`metadata ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InputError(`metadata ${file}: expected an object keyed by file name or an array of rows`);
  }
  // Each entry's line, for messages: found by scanning forward for its quoted name.
  let from = 0;
  let line = 1;
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    const at = text.indexOf(JSON.stringify(name), from);
    if (at >= 0) {
      for (let i = from; i < at; i++) if (text.charCodeAt(i) === 10) line += 1;
      from = at;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, data: { [keyColumn]: name }, error: `entry "${name}" is not an object of fields` };
      continue;
    }
    if (nestingDepth(value) > MAX_ROW_DEPTH) {
      yield { line, data: { [keyColumn]: name }, error: `entry "${name}" (line ${line}): ${rowTooDeep()}` };
      continue;
    }
    yield { line, data: { ...(value as Record<string, unknown>), [keyColumn]: name } };
  }
}
