// A start request's files on the shared storage. Every request gets its own incoming folder under
// `<uploadsDir>/.incoming/`; multipart files are streamed into it (never held whole in memory),
// under names checked to stay inside it, with the count and total bytes bounded as they arrive
// (413 at once). A request that starts a batch claims its folder by renaming it to
// `<uploadsDir>/<batchId>` (atomic, so two replicas racing for one Idempotency-Key cannot both
// win); any other request's folder is removed.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { ApiProblem } from './problem';

/** Longest relative path of an uploaded file, in characters; and of one of its segments. */
const MAX_NAME = 1_024;
const MAX_SEGMENT = 255;
const MAX_DEPTH = 32;
/** Metadata file formats, by the extension of the part's file name. */
const METADATA_FORMATS = ['csv', 'json', 'jsonl', 'xlsx'] as const;

export interface RequestFolder {
  /** The folder itself (incoming, or the batch's after claimFolder). */
  dir: string;
  /** The uploaded files, `<dir>/files`. */
  filesDir: string;
}

export async function newRequestFolder(uploadsDir: string): Promise<RequestFolder> {
  const dir = path.join(uploadsDir, '.incoming', randomUUID());
  await mkdir(dir, { recursive: true });
  return { dir, filesDir: path.join(dir, 'files') };
}

/** An incoming folder untouched this long belongs to a request whose service died mid-upload. */
export const ABANDONED_UPLOAD_MS = 24 * 3600_000;

/**
 * Removes incoming folders nobody has written to for `olderThanMs` (a service killed mid-upload
 * leaves its request's folder behind; the request itself was never answered 202). A folder still
 * receiving files is fresh: its files folder's time moves with every file. Returns how many went.
 */
export async function sweepAbandonedUploads(
  uploadsDir: string,
  olderThanMs = ABANDONED_UPLOAD_MS,
  now = Date.now(),
): Promise<number> {
  const incoming = path.join(uploadsDir, '.incoming');
  const names = await readdir(incoming).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const dir = path.join(incoming, name);
    const times = await Promise.all(
      [dir, path.join(dir, 'files')].map((p) =>
        stat(p).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    );
    if (now - Math.max(...times) < olderThanMs) continue;
    await rm(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

export async function removeFolder(folder: RequestFolder): Promise<void> {
  await rm(folder.dir, { recursive: true, force: true });
}

/**
 * Moves the request's folder to `<uploadsDir>/<batchId>`. False when that folder exists already:
 * another request for the same batch holds it.
 */
export async function claimFolder(
  folder: RequestFolder,
  uploadsDir: string,
  batchId: string,
): Promise<boolean> {
  const dir = path.join(uploadsDir, batchId);
  try {
    await rename(folder.dir, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
    throw err;
  }
  folder.dir = dir;
  folder.filesDir = path.join(dir, 'files');
  return true;
}

/**
 * An uploaded file's relative path, as its part's file name gives it: `/`-separated, relative,
 * without `.`/`..` segments, dot-files, backslashes, drive letters or control characters, and
 * bounded in length and depth. A 400 naming the part otherwise.
 */
export function safeUploadName(name: string): string {
  const refuse = (why: string) =>
    new ApiProblem(
      400,
      'Bad Request',
      `files: the file name ${JSON.stringify(name.slice(0, 200))} is not allowed: ${why}`,
      'name each file part by its path relative to the folder, e.g. folder/a.png',
    );
  if (name === '') throw refuse('it is empty');
  if (name.length > MAX_NAME) throw refuse(`longer than ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw refuse('it contains control characters');
  if (name.includes('\\')) throw refuse('it contains a backslash (use / between folders)');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw refuse('it is an absolute path');
  const segments = name.split('/');
  if (segments.length > MAX_DEPTH) throw refuse(`more than ${MAX_DEPTH} folders deep`);
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw refuse('it has an empty, "." or ".." segment');
    if (s.startsWith('.')) throw refuse('hidden (dot) files and folders are not items');
    if (Buffer.byteLength(s) > MAX_SEGMENT) throw refuse(`a segment is longer than ${MAX_SEGMENT} bytes`);
  }
  return segments.join('/');
}

/** Counts the upload's bytes as they pass, and refuses the request as soon as they exceed the limit. */
function byteLimit(received: { bytes: number }, max: number, hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      received.bytes += chunk.length;
      if (received.bytes > max) {
        done(
          new ApiProblem(
            413,
            'Content Too Large',
            `files: the upload is larger than ${max} bytes`,
            'send fewer or smaller files per batch (config api.maxUploadBytes)',
            { limit: max },
          ),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

export interface ReceivedUpload {
  /** The `settings` part's text, when sent. */
  settings?: string;
  files: number;
  bytes: number;
  /** The metadata file's name in the folder (`metadata.<ext>`), when sent. */
  metadata?: string;
  /** sha256 over every part (names and contents, in order): the request's identity for Idempotency-Key. */
  digest: string;
}

/**
 * Streams a multipart request into `folder`: `files` parts to `files/<name>`, a `metadata` part to
 * `metadata.<ext>`, the `settings` part as text. Limits: `maxFiles` files and `maxBytes` bytes in
 * all (413 at once); duplicate names, unknown parts and bad names are 400.
 */
export async function receiveMultipart(
  req: FastifyRequest,
  folder: RequestFolder,
  limits: { maxFiles: number; maxBytes: number },
  /** Checks the settings part as soon as it arrives: a bad request sent first is refused before its files. */
  checkSettings: (text: string) => void = () => undefined,
): Promise<ReceivedUpload> {
  const digest = createHash('sha256');
  const received = { bytes: 0 };
  const names = new Set<string>();
  const lower = new Set<string>();
  let files = 0;
  let settings: string | undefined;
  let metadata: string | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        if (part.fieldname !== 'settings' && part.fieldname !== 'metadata')
          throw new ApiProblem(
            400,
            'Bad Request',
            `part "${part.fieldname.slice(0, 100)}": unknown field`,
            'send parts named settings, metadata and files',
          );
        const text = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        if (part.valueTruncated)
          throw new ApiProblem(
            413,
            'Content Too Large',
            `part "${part.fieldname}" is too large`,
            'config api.maxBodyBytes',
          );
        if (part.fieldname === 'settings') {
          if (settings !== undefined)
            throw new ApiProblem(400, 'Bad Request', 'settings: sent twice', 'send one settings part');
          settings = text;
          checkSettings(text);
        } else {
          if (metadata !== undefined)
            throw new ApiProblem(400, 'Bad Request', 'metadata: sent twice', 'send one metadata part');
          metadata = /^\s*[[{]/.test(text) ? 'metadata.json' : 'metadata.csv';
          await writeFile(path.join(folder.dir, metadata), text, { flag: 'wx' });
        }
        digest.update(`field\0${part.fieldname}\0${text}\0`);
        continue;
      }
      let dest: string;
      if (part.fieldname === 'files') {
        const rel = safeUploadName(part.filename);
        // Two names one case apart would be one file on a case-insensitive disk.
        if (names.has(rel) || lower.has(rel.toLowerCase()))
          throw new ApiProblem(
            400,
            'Bad Request',
            `files: "${rel.slice(0, 200)}" is sent twice`,
            'send each file once',
          );
        names.add(rel);
        lower.add(rel.toLowerCase());
        files += 1;
        if (files > limits.maxFiles) throw tooManyFiles(limits.maxFiles);
        dest = path.join(folder.filesDir, ...rel.split('/'));
        await mkdir(path.dirname(dest), { recursive: true }).catch(() => {
          throw new ApiProblem(
            400,
            'Bad Request',
            `files: "${rel.slice(0, 200)}" lies under another file's name`,
            'send files and folders with distinct names',
          );
        });
        digest.update(`file\0${rel}\0`);
      } else if (part.fieldname === 'metadata') {
        if (metadata !== undefined)
          throw new ApiProblem(400, 'Bad Request', 'metadata: sent twice', 'send one metadata part');
        const ext = path.extname(part.filename).slice(1).toLowerCase();
        if (!(METADATA_FORMATS as readonly string[]).includes(ext))
          throw new ApiProblem(
            400,
            'Bad Request',
            `metadata: "${part.filename.slice(0, 200)}" is not a ${METADATA_FORMATS.join('/')} file`,
            'name the metadata part with its extension, e.g. metadata.csv',
          );
        metadata = `metadata.${ext}`;
        dest = path.join(folder.dir, metadata);
        digest.update(`metadata\0${ext}\0`);
      } else {
        throw new ApiProblem(
          400,
          'Bad Request',
          `part "${part.fieldname.slice(0, 100)}": unknown file part`,
          'send files as parts named "files" (the file name is the relative path) and one "metadata" part',
        );
      }
      // `wx`: a fresh file, never an existing one or a link.
      await pipeline(
        part.file,
        byteLimit(received, limits.maxBytes, digest),
        createWriteStream(dest, { flags: 'wx' }),
      );
      digest.update('\0');
    }
  } catch (err) {
    const e = err as { code?: string; statusCode?: number };
    if (e.code === 'FST_FILES_LIMIT' || e.code === 'FST_PARTS_LIMIT') throw tooManyFiles(limits.maxFiles);
    if (e.code === 'FST_REQ_FILE_TOO_LARGE')
      throw new ApiProblem(
        413,
        'Content Too Large',
        `files: the upload is larger than ${limits.maxBytes} bytes`,
        'send fewer or smaller files per batch (config api.maxUploadBytes)',
        { limit: limits.maxBytes },
      );
    throw err;
  }
  return { settings, files, bytes: received.bytes, metadata, digest: digest.digest('hex') };
}

const tooManyFiles = (max: number) =>
  new ApiProblem(
    413,
    'Content Too Large',
    `files: more than ${max} files in one upload`,
    'send at most that many files per batch (config api.maxFiles)',
    { limit: max },
  );

/** Names in a request folder of the files the service writes itself. */
export const ITEMS_FILE = 'items.jsonl';
export const KEYS_FILE = 'keys.txt';

/** Writes inline items as the batch's JSONL source (`ITEMS_FILE`). */
export async function writeInlineItems(
  folder: RequestFolder,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  await writeFile(path.join(folder.dir, ITEMS_FILE), items.map((i) => JSON.stringify(i)).join('\n') + '\n', {
    flag: 'wx',
  });
}

/** Writes a key selection as a file the service made itself (`KEYS_FILE`): a client never names one. */
export async function writeKeys(folder: RequestFolder, keys: readonly string[]): Promise<void> {
  await writeFile(path.join(folder.dir, KEYS_FILE), keys.join('\n') + '\n', { flag: 'wx' });
}
