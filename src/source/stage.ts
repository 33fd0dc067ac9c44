// Staging: a source is parsed once, normalised to JSON lines under DURABATCH_HOME with an index of
// byte offsets, and identified by the sha256 of its content. Workers then read any page by seeking,
// without re-parsing the original, and a source edited mid-batch is detected by its fingerprint.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { StagedSourceRef } from '../../workflows/types';
import { InputError } from '../errors';
import { readCsvRecords, type CsvOptions } from './csv';

/** Items per index entry: a page read seeks to the nearest entry and skips at most this many lines. */
export const INDEX_STRIDE = 100;

export interface StageOptions extends CsvOptions {
  home: string;
}

export interface StagedManifest {
  version: 1;
  originalPath: string;
  fingerprint: string;
  total: number;
  columns: string[];
  size: number;
  mtimeMs: number;
  idColumn?: string;
}

export async function fingerprintFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Stages a CSV source (or reuses an identical earlier staging) and returns its reference. */
export async function stageSource(sourcePath: string, opts: StageOptions): Promise<StagedSourceRef> {
  const abs = path.resolve(sourcePath);
  const st = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read source ${abs}: ${err.code ?? err.message}`, 'check the path and its permissions');
  });
  if (!st.isFile()) throw new InputError(`source ${abs} is not a file`, 'give a CSV file');
  const contentHash = await fingerprintFile(abs);
  // Options change the items (keys), so they are part of the staging identity.
  const fingerprint = createHash('sha256')
    .update(`${contentHash}\0${opts.idColumn ?? ''}\0${opts.delimiter ?? ','}`)
    .digest('hex');
  const dir = path.join(opts.home, 'staged', fingerprint.slice(0, 24));
  const existing = await readManifest(dir).catch(() => undefined);
  if (existing?.fingerprint === fingerprint) {
    return { dir, fingerprint, originalPath: abs, total: existing.total };
  }

  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const out = createWriteStream(path.join(tmp, 'items.jsonl'));
  const offsets: number[] = [];
  const seenKeys = new Map<string, number>();
  const duplicates: string[] = [];
  let bytes = 0;
  let total = 0;
  let columns: string[] = [];
  try {
    for await (const rec of readCsvRecords(abs, opts)) {
      columns = rec.columns;
      const key = rec.key;
      const firstLine = seenKeys.get(key);
      if (firstLine !== undefined) {
        if (duplicates.length < 20) duplicates.push(`key "${key}" on line ${rec.line} (first on line ${firstLine})`);
        continue;
      }
      seenKeys.set(key, rec.line);
      if (total % INDEX_STRIDE === 0) offsets.push(bytes);
      const line = JSON.stringify({ index: total, key, line: rec.line, data: rec.data }) + '\n';
      bytes += Buffer.byteLength(line);
      total += 1;
      if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.end();
    await finished(out);
  } catch (err) {
    // The staging copy is abandoned: a write still queued may fail on the destroyed stream.
    out.on('error', () => undefined);
    out.destroy();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  if (duplicates.length > 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new InputError(
      `duplicate keys in ${abs}: ${duplicates.join('; ')}`,
      opts.idColumn ? `make column "${opts.idColumn}" unique, or choose another --id-column` : 'choose a unique --id-column',
    );
  }
  if (total === 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new InputError(`source ${abs} has no items (only a header or nothing)`, 'add rows below the header');
  }
  const manifest: StagedManifest = {
    version: 1, originalPath: abs, fingerprint, total, columns, size: st.size, mtimeMs: st.mtimeMs, idColumn: opts.idColumn,
  };
  await writeFile(path.join(tmp, 'index.json'), JSON.stringify({ stride: INDEX_STRIDE, offsets }));
  await writeFile(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return { dir, fingerprint, originalPath: abs, total };
}

export async function readManifest(dir: string): Promise<StagedManifest> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as StagedManifest;
}
