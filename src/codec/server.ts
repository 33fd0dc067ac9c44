// The Temporal codec endpoint (POST /encode, POST /decode with {"payloads": [...]} in Temporal's
// JSON form), so the Web UI and `temporal --codec-endpoint` show plaintext to those who hold the key.
// CORS for the UI's origin; an Authorization value the caller must send, required on any address
// other than loopback; and a Host check, so a web page cannot reach a loopback server through a
// name of its own that resolves to 127.0.0.1 (DNS rebinding).
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { InputError } from '../errors';

export interface CodecServerOptions {
  codec: PayloadCodec;
  host?: string;
  port?: number;
  /** Browser origins allowed to call (the Web UI's), e.g. http://localhost:8080. */
  corsOrigins?: string[];
  /** When set, requests must carry `Authorization: <this value>`. Required off loopback. */
  authorization?: string;
  /**
   * Listen on a non-loopback address without authorization: only where nothing but this machine can
   * reach the port (a container's port published on 127.0.0.1).
   */
  allowUnauthenticated?: boolean;
  /**
   * Host names (without port) that requests may be addressed to, besides loopback names and the
   * address listened on: the name the Web UI's users reach the server by.
   */
  allowedHosts?: string[];
  log?: (msg: string) => void;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

/** Whether `host` (a name or an address) is this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK_NAMES.includes(h) || (isIP(h) === 4 && h.startsWith('127.')) || h.endsWith('.localhost');
}

/** The host name of a Host header, lower case, without port or IPv6 brackets. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  return h.replace(/:\d+$/, '');
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface CodecServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 64 << 20;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startCodecServer(opts: CodecServerOptions): Promise<CodecServer> {
  const host = opts.host ?? '127.0.0.1';
  // Whoever reaches the port can decrypt every batch: off loopback, only with authorization.
  if (!isLoopback(host) && !opts.authorization && !opts.allowUnauthenticated) {
    throw new InputError(
      `the codec server decrypts every payload for whoever can reach it, and --host ${host} is not a loopback address, with no authorization`,
      'set --authorization (or DURABATCH_CODEC_AUTHORIZATION) to the value callers must send in the Authorization header; ' +
        'or listen on 127.0.0.1; or, only in a container whose port is published on 127.0.0.1, pass --allow-unauthenticated',
    );
  }
  const origins = new Set(opts.corsOrigins ?? []);
  const bare = (h: string) =>
    h
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, '');
  // Loopback names, the names given, and the address listened on unless it is a wildcard.
  const hosts = new Set(
    [
      ...LOOPBACK_NAMES,
      ...(opts.allowedHosts ?? []),
      ...(['0.0.0.0', '::'].includes(host) ? [] : [host]),
    ].map(bare),
  );
  const hostAllowed = (header: string | undefined) => {
    if (!header) return false;
    const name = hostName(header);
    return hosts.has(name) || (isIP(name) === 4 && name.startsWith('127.'));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS rebinding: a page on another site whose name now resolves to this address.
    if (!hostAllowed(req.headers.host)) {
      res
        .writeHead(403, { 'Content-Type': 'text/plain' })
        .end(
          `Host "${String(req.headers.host ?? '')}" is not one this codec server answers to; start it with --allowed-host <name>\n`,
        );
      return;
    }
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(origin && origins.has(origin) ? 204 : 403).end();
      return;
    }
    const route = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    if (req.method !== 'POST' || (route !== '/encode' && route !== '/decode')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('POST /encode or /decode\n');
      return;
    }
    if (opts.authorization && !sameSecret(req.headers.authorization, opts.authorization)) {
      res.writeHead(401, { 'Content-Type': 'text/plain' }).end('missing or wrong Authorization\n');
      return;
    }
    let body: { payloads?: JsonPayload[] };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
      if (!Array.isArray(body.payloads)) throw new Error('expected {"payloads": [...]}');
    } catch (err) {
      res
        .writeHead((err as { status?: number }).status ?? 400, { 'Content-Type': 'text/plain' })
        .end(`${(err as Error).message}\n`);
      return;
    }
    try {
      const payloads = body.payloads.map(fromJson);
      const out = route === '/encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ payloads: out.map(toJson) }));
    } catch (err) {
      opts.log?.(`codec ${route} failed: ${(err as Error).message}`);
      res.writeHead(422, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8888, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
