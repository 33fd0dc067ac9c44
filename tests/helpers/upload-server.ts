// A real local upload endpoint for raw and multipart uploads: it parses what arrives (multipart via
// the platform's own FormData parser) and records each upload's bytes hash and fields.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upload {
  idempotencyKey: string;
  mode: 'raw' | 'multipart';
  sha256: string;
  size: number;
  fileName?: string;
  fields: Record<string, string>;
}

export interface UploadServer {
  url: string;
  uploads: Upload[];
  close(): Promise<void>;
}

export async function startUploadServer(): Promise<UploadServer> {
  const uploads: Upload[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const type = req.headers['content-type'] ?? '';
        const key = String(req.headers['idempotency-key'] ?? '');
        if (type.startsWith('multipart/form-data')) {
          const form = await new Response(body, { headers: { 'content-type': type } }).formData();
          const fields: Record<string, string> = {};
          let file: File | undefined;
          for (const [k, v] of form.entries()) {
            if (typeof v === 'string') fields[k] = v;
            else file = v;
          }
          if (!file) {
            res.writeHead(400).end('no file part');
            return;
          }
          const bytes = Buffer.from(await file.arrayBuffer());
          uploads.push({
            idempotencyKey: key,
            mode: 'multipart',
            sha256: sha(bytes),
            size: bytes.length,
            fileName: file.name,
            fields,
          });
        } else {
          uploads.push({
            idempotencyKey: key,
            mode: 'raw',
            sha256: sha(body),
            size: body.length,
            fields: {},
          });
        }
        res
          .writeHead(201, { 'content-type': 'application/json' })
          .end(JSON.stringify({ id: `up_${uploads.length}` }));
      })().catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
