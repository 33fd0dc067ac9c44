// Redirects the http processor follows by hand, against a real local server: a 303 continues as a
// GET without the body (as fetch does), and a Location carrying credentials is not followed even on
// the same origin.
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../../activities/processors/http';
import type { HttpProcessorSpec } from '../../workflows/types';
import { processorContext } from '../helpers/processor-context';
import { rejection } from '../helpers/rejection';
import { startScriptedTarget, type ScriptedTarget } from '../helpers/scripted-target';

let target: ScriptedTarget;

beforeAll(async () => {
  target = await startScriptedTarget((req, res) => {
    if (req.path === '/see-other') res.writeHead(303, { location: '/result' }).end();
    else if (req.path === '/login') {
      res.writeHead(302, { location: `http://someone:pw@${new URL(target.url).host}/inside` }).end();
    } else res.writeHead(200, { 'content-type': 'application/json' }).end(`{"path":"${req.path}"}`);
  });
});
afterAll(() => target.close());

const spec = (path: string): HttpProcessorSpec => ({
  type: 'http',
  url: `${target.url}${path}`,
  method: 'POST',
  headers: { 'X-Api-Key': 'k1' },
  timeoutMs: 5_000,
});

describe('http redirects', () => {
  it('continues a 303 as a GET without the body, with the same headers', async () => {
    target.requests.length = 0;
    const out = await runHttp(spec('/see-other'), processorContext({ key: 'R1' }));
    expect(out).toMatchObject({ httpStatus: 200, body: { path: '/result' } });
    expect(target.requests.map((r) => [r.method, r.path, r.body, r.headers['x-api-key']])).toEqual([
      ['POST', '/see-other', '{"id":"R1"}', 'k1'],
      ['GET', '/result', '', 'k1'],
    ]);
    expect(target.requests[1]!.headers['content-type']).toBeUndefined();
    expect(target.requests[1]!.headers['idempotency-key']).toBe('b:R1');
  });

  it('does not follow a Location with credentials, even on the same origin', async () => {
    target.requests.length = 0;
    const err = await rejection(runHttp(spec('/login'), processorContext({ key: 'R2' })), ApplicationFailure);
    expect([err.type, err.nonRetryable]).toEqual(['PermanentTargetError', true]);
    expect(err.message).toContain('a redirect from http://127.0.0.1:');
    expect(err.message).toContain('to an address with credentials: not followed');
    expect(target.requests.map((r) => r.path)).toEqual(['/login']);
  });
});
