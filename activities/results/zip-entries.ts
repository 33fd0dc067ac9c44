// What a zip file (an XLSX workbook) holds, read from its central directory without inflating
// anything, and its entries read back with a bound. The results workbook uses it to judge the
// source workbook's other sheets before exceljs inflates them: exceljs reads every entry of the
// archive, so a bomb in a sheet the batch never read would cost the disk and hours of CPU.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { createInflateRaw, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated (nothing else occurs in XLSX files). */
  method: number;
  compressedSize: number;
  /** As the central directory says; a reader of the entry holds it to that (entryStream). */
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** A zip this tool will not take apart (zip64, encrypted, damaged): the copy falls back to no other sheets. */
export class ZipLayoutError extends Error {
  override readonly name = 'ZipLayoutError';
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_MIN = 22;
/** The end record sits within the last 22 bytes plus a comment of at most 64 KiB. */
const EOCD_SEARCH = EOCD_MIN + 0xffff;
/** Central directories larger than this are not a workbook's. */
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;
const ZIP64_MARK = 0xffffffff;

/** Every entry of `file`, from its central directory. */
export async function readZipEntries(file: string): Promise<ZipEntry[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const tailLength = Math.min(size, EOCD_SEARCH);
    const tail = Buffer.alloc(tailLength);
    await fh.read(tail, 0, tailLength, size - tailLength);
    let at = -1;
    for (let i = tailLength - EOCD_MIN; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new ZipLayoutError(`${file} has no zip end record`);
    const count = tail.readUInt16LE(at + 10);
    const dirSize = tail.readUInt32LE(at + 12);
    const dirOffset = tail.readUInt32LE(at + 16);
    if (dirSize === ZIP64_MARK || dirOffset === ZIP64_MARK || count === 0xffff)
      throw new ZipLayoutError(`${file} is a zip64 archive`);
    if (dirSize > MAX_DIRECTORY_BYTES || dirOffset + dirSize > size)
      throw new ZipLayoutError(`${file} has a central directory of ${dirSize} bytes at ${dirOffset}`);
    const dir = Buffer.alloc(dirSize);
    await fh.read(dir, 0, dirSize, dirOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL_SIGNATURE)
        throw new ZipLayoutError(`${file}: central directory entry ${n} is damaged`);
      const flags = dir.readUInt16LE(p + 8);
      const nameLength = dir.readUInt16LE(p + 28);
      const extraLength = dir.readUInt16LE(p + 30);
      const commentLength = dir.readUInt16LE(p + 32);
      const entry: ZipEntry = {
        name: dir.toString('utf8', p + 46, p + 46 + nameLength),
        method: dir.readUInt16LE(p + 10),
        compressedSize: dir.readUInt32LE(p + 20),
        uncompressedSize: dir.readUInt32LE(p + 24),
        localHeaderOffset: dir.readUInt32LE(p + 42),
      };
      if (flags & 1) throw new ZipLayoutError(`${file}: ${entry.name} is encrypted`);
      if ([entry.compressedSize, entry.uncompressedSize, entry.localHeaderOffset].includes(ZIP64_MARK))
        throw new ZipLayoutError(`${file}: ${entry.name} is a zip64 entry`);
      if (entry.method !== 0 && entry.method !== 8)
        throw new ZipLayoutError(`${file}: ${entry.name} uses compression method ${entry.method}`);
      entries.push(entry);
      p += 46 + nameLength + extraLength + commentLength;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** Where an entry's compressed bytes start: after its local header (whose lengths may differ). */
async function dataOffset(file: string, entry: ZipEntry): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const header = Buffer.alloc(30);
    await fh.read(header, 0, 30, entry.localHeaderOffset);
    if (header.readUInt32LE(0) !== LOCAL_SIGNATURE)
      throw new ZipLayoutError(`${file}: no local header for ${entry.name}`);
    return entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  } finally {
    await fh.close();
  }
}

/** An entry's text, refused past `maxBytes` inflated (workbook.xml and its relationships). */
export async function readEntryText(file: string, entry: ZipEntry, maxBytes: number): Promise<string> {
  if (entry.uncompressedSize > maxBytes || entry.compressedSize > maxBytes)
    throw new ZipLayoutError(`${file}: ${entry.name} is larger than ${maxBytes} bytes`);
  const start = await dataOffset(file, entry);
  const fh = await open(file, 'r');
  try {
    const raw = Buffer.alloc(entry.compressedSize);
    await fh.read(raw, 0, raw.length, start);
    const data = entry.method === 0 ? raw : inflateRawSync(raw, { maxOutputLength: maxBytes });
    return data.toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * An entry's content as a stream, failing once it inflates past the size the central directory
 * declared: a header that lies about a bomb's size gets no further than its claim.
 */
export async function entryStream(file: string, entry: ZipEntry): Promise<Readable> {
  const start = await dataOffset(file, entry);
  const raw = createReadStream(file, { start, end: start + entry.compressedSize - 1 });
  let seen = 0;
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > entry.uncompressedSize)
        done(new ZipLayoutError(`${entry.name} inflates past its declared ${entry.uncompressedSize} bytes`));
      else done(null, chunk);
    },
  });
  const fail = (err: Error) => bounded.destroy(err);
  raw.on('error', fail);
  if (entry.method === 0) return raw.pipe(bounded);
  const inflate = createInflateRaw();
  inflate.on('error', fail);
  return raw.pipe(inflate).pipe(bounded);
}
