// A real local HTTP endpoint whose answers a test scripts per request (redirects, endless or
// compressed bodies, bodies cut short, stalls), recording what each request carried. Several of them
// on different ports are different origins.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** 1 for the first request to this path, 2 for the second… */
  nth: number;
}

export type Answer = (req: ScriptedRequest, res: ServerResponse, raw: IncomingMessage) => void;

export interface ScriptedTarget {
  url: string;
  origin: string;
  requests: ScriptedRequest[];
  close(): Promise<void>;
}

export async function startScriptedTarget(answer: Answer): Promise<ScriptedTarget> {
  const requests: ScriptedRequest[] = [];
  const perPath = new Map<string, number>();
  const server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const path = raw.url ?? '';
      const nth = (perPath.get(path) ?? 0) + 1;
      perPath.set(path, nth);
      const req: ScriptedRequest = {
        method: raw.method ?? '',
        path,
        headers: { ...raw.headers },
        body: Buffer.concat(chunks).toString('utf8'),
        nth,
      };
      requests.push(req);
      answer(req, res, raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    origin,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes `chunk` again and again, honouring backpressure, until the client goes away or `maxMs`
 * passes; resolves with the bytes written. An endless body, bounded in time for the test's sake.
 */
export function writeEndlessly(res: ServerResponse, chunk: Buffer, maxMs: number): Promise<number> {
  return new Promise((resolve) => {
    let written = 0;
    const until = Date.now() + maxMs;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(written);
    };
    res.on('close', finish);
    const pump = () => {
      while (!done && !res.destroyed) {
        if (Date.now() > until) {
          res.destroy();
          return finish();
        }
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}
