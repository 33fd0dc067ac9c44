// The batch console: static HTML, CSS and ES modules from src/api/console, served without a token
// (the page asks for one and sends it on every API call). The files are read once at start-up into
// a fixed table, so a request can only ever name one of them; the Content-Security-Policy allows
// nothing but this origin (no inline script, no CDN), so item text that slipped into markup still
// could not run.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { packageRoot } from '../../util/package-root';
import { typed } from '../app';
import { ApiProblem } from '../problem';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface ConsoleFile {
  body: Buffer;
  type: string;
}

/** Every file of the console directory by name. */
function loadConsoleFiles(): Map<string, ConsoleFile> {
  const dir = path.join(packageRoot(), 'src', 'api', 'console');
  const files = new Map<string, ConsoleFile>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) files.set(name, { body: readFileSync(path.join(dir, name)), type });
  }
  return files;
}

const FileParam = z.object({
  file: z
    .string()
    .regex(/^[a-z][a-z0-9-]*\.(js|css)$/, 'a console file name')
    .describe('A file of the console.'),
});

function send(reply: FastifyReply, file: ConsoleFile): FastifyReply {
  return reply
    .header('content-type', file.type)
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache')
    .send(file.body);
}

export function registerConsoleRoutes(app: FastifyInstance): void {
  const files = loadConsoleFiles();
  const index = files.get('index.html');
  if (!index) throw new Error('the console is missing: src/api/console/index.html not found');
  typed(app).get('/', { config: { scope: 'public' }, schema: { hide: true } }, (_req, reply) =>
    send(reply, index),
  );
  typed(app).get(
    '/console/:file',
    { config: { scope: 'public' }, schema: { hide: true, params: FileParam } },
    (req, reply) => {
      const file = files.get(req.params.file);
      if (!file)
        throw new ApiProblem(
          404,
          'Not Found',
          `no console file "${req.params.file}"`,
          'open / for the console',
        );
      return send(reply, file);
    },
  );
}
