// A tiny real HTTP endpoint that records every request's headers (what the target really received),
// answering 503 to the first `failFirst` requests of each Idempotency-Key and 201 after that. It never
// echoes a header back, so anything secret found elsewhere did not come from its answers.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  idempotencyKey: string;
  status: number;
}

export interface HeaderRecorder {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startHeaderRecorder(opts: { failFirst?: number } = {}): Promise<HeaderRecorder> {
  const requests: RecordedRequest[] = [];
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      const status = n <= (opts.failFirst ?? 0) ? 503 : 201;
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        idempotencyKey: key,
        status,
      });
      const body = status === 201 ? { id: `rec_${requests.length}` } : { error: 'try again' };
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
