// Which sheets of the source workbook the results workbook copies. The batch read one sheet (at
// staging, with its limits); the others were never looked at, so they are judged here by what the
// zip's central directory says before exceljs inflates anything: a sheet too large, or inflating
// far beyond its compressed size (a deflate bomb), is left out and named in the report, and so is
// a sheet exceljs cannot read (rows without `r`). The source sheet is never left out.
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';
import { entryStream, readEntryText, readZipEntries, type ZipEntry } from './zip-entries';

/** A sheet of the source workbook the results workbook does not hold, and why. */
export interface SkippedSheet {
  name: string;
  reason: string;
}

/** Bounds on copying the sheets the batch never read. */
export interface SheetCopyLimits {
  /** A sheet's XML larger than this, inflated, is not copied. */
  maxSheetBytes: number;
  /** All copied sheets' XML together, inflated: sheets past it are not copied. */
  maxTotalBytes: number;
  /** A sheet inflating to more than this many times its compressed size is not copied... */
  maxRatio: number;
  /** ...once it is larger than this (small sheets of repeated cells compress well, harmlessly). */
  ratioFloorBytes: number;
}

export const SHEET_COPY_LIMITS: SheetCopyLimits = {
  maxSheetBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
  maxRatio: 100,
  ratioFloorBytes: 1024 * 1024,
};

/** A sheet the copy could not write: the workbook is made again without it. */
export class SheetCopyError extends Error {
  override readonly name = 'SheetCopyError';
  constructor(
    readonly sheet: string,
    readonly reason: string,
  ) {
    super(`sheet "${sheet}" cannot be copied: ${reason}`);
  }
}

export interface SheetEntry {
  name: string;
  /** The sheet's part in the zip (`xl/worksheets/sheet2.xml`). */
  part: string;
  entry: ZipEntry;
}

/** Workbook XML parts are small; anything larger is not a workbook this copy takes apart. */
const MAX_WORKBOOK_XML = 8 * 1024 * 1024;

const attributes = (tag: string): Map<string, string> =>
  new Map([...tag.matchAll(/([\w:]+)\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** The workbook's sheets, in workbook order, with their parts in the zip. */
export async function sheetEntries(file: string): Promise<{ sheets: SheetEntry[]; entries: ZipEntry[] }> {
  const entries = await readZipEntries(file);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const workbook = byName.get('xl/workbook.xml');
  const rels = byName.get('xl/_rels/workbook.xml.rels');
  if (!workbook || !rels) return { sheets: [], entries };
  const targets = new Map<string, string>();
  for (const m of (await readEntryText(file, rels, MAX_WORKBOOK_XML)).matchAll(/<Relationship\b[^>]*>/g)) {
    const a = attributes(m[0]);
    const id = a.get('Id');
    const target = a.get('Target');
    if (id && target) targets.set(id, target.startsWith('/') ? target.slice(1) : `xl/${target}`);
  }
  const sheets: SheetEntry[] = [];
  for (const m of (await readEntryText(file, workbook, MAX_WORKBOOK_XML)).matchAll(/<sheet\b[^>]*>/g)) {
    const a = attributes(m[0]);
    const name = a.get('name');
    const part = targets.get(a.get('r:id') ?? '');
    const entry = part === undefined ? undefined : byName.get(part);
    if (name !== undefined && part !== undefined && entry)
      sheets.push({ name: unescapeXml(name), part, entry });
  }
  return { sheets, entries };
}

const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;

/**
 * The sheets other than the source sheet (`sheet`, else the first) that are over the limits, with
 * the measure that put each over.
 */
export function oversizedSheets(
  sheets: SheetEntry[],
  sheet: string | undefined,
  limits: SheetCopyLimits = SHEET_COPY_LIMITS,
): SkippedSheet[] {
  const source = sheet === undefined ? sheets[0]?.name : sheet;
  const skipped: SkippedSheet[] = [];
  let total = 0;
  for (const s of sheets) {
    if (s.name === source) continue;
    const { uncompressedSize: size, compressedSize } = s.entry;
    const ratio = size / Math.max(compressedSize, 1);
    const why =
      size > limits.maxSheetBytes
        ? `its XML is ${mb(size)}, over the ${mb(limits.maxSheetBytes)} a copied sheet may have`
        : size > limits.ratioFloorBytes && ratio > limits.maxRatio
          ? `its XML inflates ${Math.round(ratio)} times (${mb(compressedSize)} to ${mb(size)}), more than ${limits.maxRatio} times: a zip bomb`
          : total + size > limits.maxTotalBytes
            ? `the sheets copied before it already hold ${mb(total)} of XML, and ${mb(limits.maxTotalBytes)} is the limit`
            : undefined;
    if (why) skipped.push({ name: s.name, reason: why });
    else total += size;
  }
  return skipped;
}

/**
 * Writes `out`: the workbook `file` without the parts of `drop` (sheets), every other entry inflated
 * and held to its declared size, so exceljs never sees the dropped sheets, nor more bytes than the
 * sizes judged above. A sheet that inflates past its declared size fails as a SheetCopyError (it is
 * left out on the next try); any other entry doing so fails the workbook.
 */
export async function workbookWithout(
  file: string,
  drop: Set<string>,
  sheets: SheetEntry[],
  entries: ZipEntry[],
  out: string,
): Promise<void> {
  const zip = new yazl.ZipFile();
  const output = createWriteStream(out);
  const written = finished(zip.outputStream.pipe(output));
  written.catch(() => undefined);
  // An entry stream that fails (it inflated past its declared size) fails the whole copy.
  let fail: (err: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  const dropRels = new Set([...drop].map((p) => p.replace(/([^/]+)$/, '_rels/$1.rels')));
  for (const e of entries) {
    if (e.name.endsWith('/') || drop.has(e.name) || dropRels.has(e.name)) continue;
    const stream = await entryStream(file, e);
    const sheet = sheets.find((s) => s.part === e.name);
    stream.on('error', (err) => fail(sheet ? new SheetCopyError(sheet.name, err.message) : err));
    // Fast compression: this copy lives only while the results workbook is written.
    zip.addReadStream(stream, e.name, { compressionLevel: 1 });
  }
  zip.end();
  try {
    await Promise.race([written, failed]);
  } catch (err) {
    output.destroy();
    throw err;
  }
}
