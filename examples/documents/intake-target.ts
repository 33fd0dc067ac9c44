// A local document intake service for the documents example: takes one multipart/form-data upload
// per document (its metadata as form fields, the file as the `document` part), checks the file is
// readable for its type (a PDF needs its header and its %%EOF trailer, JSON must parse), answers
// some requests 503, applies each Idempotency-Key once, and records what it stored.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, mulberry32, send } from '../target-api/http-util';

export interface StoredDocument {
  idempotencyKey: string;
  fileName: string;
  fields: Record<string, string>;
  size: number;
  sha256: string;
  effects: number;
}

export interface IntakeTarget {
  url: string;
  stored(): StoredDocument[];
  stats(): { requests: number; byStatus: Record<string, number> };
  /** Requests received for one document (its Idempotency-Key ends in `:<docKey>`), 503s included. */
  requestsFor(docKey: string): number;
  close(): Promise<void>;
}

const MAX_UPLOAD = 10 * 1024 * 1024;

function readBuffer(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_UPLOAD) chunks.push(c);
    });
    req.on('end', () =>
      size > MAX_UPLOAD ? reject(new HttpError(413, 'upload too large')) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

interface Part {
  name: string;
  fileName?: string;
  data: Buffer;
}

/** A small multipart/form-data reader: enough for one upload of a few parts. */
function parseMultipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!contentType.startsWith('multipart/form-data') || !boundary)
    throw new HttpError(415, 'expected multipart/form-data with a boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break; // closing delimiter
    const next = body.indexOf(delimiter, start);
    if (next === -1) throw new HttpError(400, 'multipart body has no closing boundary');
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF--boundary
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString('utf8');
    const name = /name="([^"]*)"/.exec(head)?.[1] ?? '';
    const fileName = /filename="([^"]*)"/.exec(head)?.[1];
    parts.push({ name, fileName, data: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}

/** Why a file cannot be stored as its type, or undefined when it can. */
function unreadable(fileName: string, data: Buffer): string | undefined {
  if (data.length === 0) return 'the file is empty';
  const ext = fileName.split('.').pop()?.toLowerCase();
  if (ext === 'pdf') {
    if (!data.subarray(0, 5).equals(Buffer.from('%PDF-'))) return 'not a PDF (no %PDF- header)';
    if (!data.subarray(-32).toString('latin1').includes('%%EOF'))
      return 'the PDF is truncated (no %%EOF trailer): send the complete file';
  }
  if (ext === 'json') {
    try {
      JSON.parse(data.toString('utf8'));
    } catch (err) {
      return `not valid JSON (${(err as Error).message})`;
    }
  }
  return undefined;
}

export async function startIntakeTarget(
  opts: { faultRate?: number; seed?: number } = {},
): Promise<IntakeTarget> {
  const random = mulberry32(opts.seed ?? 11);
  const faultRate = opts.faultRate ?? 0.1;
  const byKey = new Map<string, { record?: StoredDocument; answer?: unknown; requests?: number }>();
  const byStatus: Record<string, number> = {};
  let requests = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const body = await readBuffer(req);
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/documents')
      throw new HttpError(404, 'POST /documents');
    const key = String(req.headers['idempotency-key'] ?? '');
    if (!key) throw new HttpError(400, 'Idempotency-Key header is required');
    const entry = byKey.get(key) ?? {};
    byKey.set(key, entry);
    entry.requests = (entry.requests ?? 0) + 1;
    if (random() < faultRate) throw new HttpError(503, 'intake queue busy, try again');
    if (entry.answer === undefined) {
      const parts = parseMultipart(body, req.headers['content-type'] ?? '');
      const file = parts.find((p) => p.name === 'document' && p.fileName !== undefined);
      if (!file) throw new HttpError(422, 'no "document" file part');
      const fields = Object.fromEntries(
        parts.filter((p) => p !== file).map((p) => [p.name, p.data.toString('utf8')]),
      );
      for (const required of ['patient_id', 'doc_type'])
        if (!fields[required]) throw new HttpError(422, `form field ${required} is missing`);
      const why = unreadable(file.fileName!, file.data);
      if (why) throw new HttpError(422, `${file.fileName}: ${why}`);
      const sha256 = createHash('sha256').update(file.data).digest('hex');
      entry.record = {
        idempotencyKey: key,
        fileName: file.fileName!,
        fields,
        size: file.data.length,
        sha256,
        effects: 1,
      };
      entry.answer = { stored: true, documentId: `doc-${byKey.size}`, sha256 };
    }
    send(res, 201, entry.answer);
    return 201;
  }

  const server = createServer((req, res) => {
    requests += 1;
    handle(req, res)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        send(res, status, { error: err instanceof Error ? err.message : String(err) });
        return status;
      })
      .then(
        (status) => (byStatus[status] = (byStatus[status] ?? 0) + 1),
        () => undefined,
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stored: () => [...byKey.values()].flatMap((e) => (e.record ? [{ ...e.record }] : [])),
    stats: () => ({ requests, byStatus: { ...byStatus } }),
    requestsFor: (docKey) =>
      [...byKey.entries()].reduce((n, [k, e]) => (k.endsWith(`:${docKey}`) ? n + (e.requests ?? 0) : n), 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
