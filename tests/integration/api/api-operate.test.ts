// Operating batches through the service, on the shared dev server: pause stops new starts and resume
// finishes the batch, limits change (and bad ones are refused naming the field), one item and the
// whole batch are cancelled, ended batches answer 409, and every refusal (no token, wrong scope,
// unknown batch) leaves the batches as they were. Audit entries the service causes name its token.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, liveProgress, waitFor } from '../../helpers/engine';
import { readJsonLines } from '../../helpers/files';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

interface AuditLine {
  action: string;
  by?: string;
  args?: Record<string, unknown>;
}

/** Operator actions in a batch's audit log (every line but the start). */
const auditOps = async (outputDir: string) =>
  (await readJsonLines<AuditLine>(path.join(outputDir, 'audit', 'audit.jsonl'))).filter(
    (l) => l.action !== 'start',
  );

describe('service: operating batches', () => {
  let h: EngineHarness;
  let api: ApiService;
  let op: string;
  beforeAll(async () => {
    h = await engineHarness('api-operate');
    api = await startApiService(
      h.ctx,
      {},
      { reader: ['read'], operator: ['operate'], submitter: ['submit'] },
    );
    op = api.tokens.operator!;
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('pause stops new starts, resume of a running batch is 409, resume completes it; audit names the token', async () => {
    const b = await h.start(
      'pause',
      controlRows(20, () => ({ delayMs: 200 })),
      { concurrency: 2 },
    );
    await waitFor('4 items done', async () => (await liveProgress(b.handle)).succeeded >= 4);
    const early = await api.call('POST', `/v1/batches/${b.batchId}/resume`, { token: op });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ status: 409, batchStatus: 'running' });
    expect(early.body.fix).toEqual(expect.stringContaining('/pause'));

    const paused = await api.call('POST', `/v1/batches/${b.batchId}/pause`, {
      token: op,
      json: { reason: 'api test' },
    });
    expect(paused.status).toBe(202);
    // Answered once the pause is acknowledged: no item starts from here on.
    expect(paused.body).toEqual({
      batchId: b.batchId,
      action: 'pause',
      status: 'requested',
      acknowledged: true,
    });
    const requestsAtAck = b.target.stats().requests;
    // Items started before the acknowledgement may still be on their way to the target (at most
    // `concurrency`, 2); nothing else may arrive.
    const runningAtAck = (await liveProgress(b.handle)).running;
    const drained = await waitFor('in-flight items to drain', async () => {
      const p = await liveProgress(b.handle);
      return p.status === 'paused' && p.running === 0 ? p : undefined;
    });
    const requestsAtDrain = b.target.stats().requests;
    expect(requestsAtDrain).toBeLessThanOrEqual(requestsAtAck + Math.min(runningAtAck, 2));
    await sleep(1_500);
    const later = await liveProgress(b.handle);
    expect(later).toMatchObject({ status: 'paused', statusReason: 'api test', succeeded: drained.succeeded });
    expect(later.succeeded).toBeLessThan(20);
    expect(b.target.stats().requests).toBe(requestsAtDrain);

    const resumed = await api.call('POST', `/v1/batches/${b.batchId}/resume`, { token: op });
    expect(resumed.status).toBe(202);
    expect(resumed.body).toEqual({ batchId: b.batchId, action: 'resume', status: 'requested' });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: { status: 'completed', succeeded: 20 } });
    expect(b.target.stats().requests).toBe(20);

    const ops = await waitFor('pause and resume audited', async () => {
      const lines = await auditOps(b.outputDir);
      return lines.length >= 2 ? lines : undefined;
    });
    expect(ops.map((l) => [l.action, l.args])).toEqual([
      ['pause', { reason: 'api test' }],
      ['resume', undefined],
    ]);
    for (const l of ops) expect(l.by).toMatch(/^durabatch-api token:operator /);

    // Ended: nothing to pause, resume or cancel.
    for (const action of ['pause', 'resume', 'cancel']) {
      const res = await api.call('POST', `/v1/batches/${b.batchId}/${action}`, { token: op });
      expect(res.status, action).toBe(409);
      expect(res.body).toMatchObject({ batchStatus: 'completed' });
      expect(res.body.detail).toEqual(expect.stringContaining('has ended (completed)'));
    }
  });

  it('PATCH changes limits and refuses bad ones naming the field; cancel ends the batch cancelled', async () => {
    const b = await h.start(
      'limits',
      controlRows(30, () => ({ delayMs: 1_000 })),
      { concurrency: 2 },
    );
    await waitFor('2 items running', async () => (await liveProgress(b.handle)).running === 2);
    const set = await api.call('PATCH', `/v1/batches/${b.batchId}`, {
      token: op,
      json: { concurrency: 5, rate: 50 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ concurrency: 5, rate: 50, budget: null });
    expect(await liveProgress(b.handle)).toMatchObject({ concurrency: 5, rate: 50 });
    const unpaced = await api.call('PATCH', `/v1/batches/${b.batchId}`, { token: op, json: { rate: null } });
    expect(unpaced.body).toEqual({ concurrency: 5, rate: null, budget: null });

    const bad: [unknown, string][] = [
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 1001 }, 'concurrency'],
      [{ concurrency: 2.5 }, 'concurrency'],
      [{ rate: -1 }, 'rate'],
      [{ rate: 10_001 }, 'rate'],
      [{ budget: -3 }, 'budget'],
      [{ colour: 'red' }, 'colour'],
      [{}, 'at least one of'],
    ];
    for (const [json, field] of bad) {
      const res = await api.call('PATCH', `/v1/batches/${b.batchId}`, { token: op, json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail, JSON.stringify(json)).toEqual(expect.stringContaining(field));
    }
    expect(await liveProgress(b.handle)).toMatchObject({ status: 'running', concurrency: 5, rate: null });

    const cancelled = await api.call('POST', `/v1/batches/${b.batchId}/cancel`, { token: op });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toEqual({ batchId: b.batchId, action: 'cancel', status: 'requested' });
    expect((await batchEnd(b.handle)).kind).toBe('cancelled');
    const status = await api.call('GET', `/v1/batches/${b.batchId}`, { token: api.tokens.reader });
    expect(status.body).toMatchObject({ status: 'cancelled', total: 30 });
    expect(status.body.succeeded as number).toBeLessThan(30);

    const again = await api.call('POST', `/v1/batches/${b.batchId}/cancel`, { token: op });
    expect(again.status).toBe(409);
    expect(again.body.batchStatus).toBe('cancelled');
    const late = await api.call('PATCH', `/v1/batches/${b.batchId}`, { token: op, json: { concurrency: 3 } });
    expect(late.status).toBe(409);
    const ops = await auditOps(b.outputDir);
    expect(ops.map((l) => l.action)).toEqual(['set', 'set', 'cancel']);
    for (const l of ops) expect(l.by).toMatch(/^durabatch-api token:operator /);
  });

  it('cancels one running and one pending item; unknown keys are 404, finished items 409', async () => {
    const b = await h.start(
      'items',
      controlRows(8, (i) => ({ delayMs: i === 0 ? 30_000 : 800 })),
      { concurrency: 2 },
    );
    await waitFor('K0001 and K0002 running', async () => (await liveProgress(b.handle)).running === 2);
    const running = await api.call('POST', `/v1/batches/${b.batchId}/items/K0001/cancel`, { token: op });
    expect(running.status).toBe(200);
    expect(running.body).toEqual({ key: 'K0001', outcome: 'cancelling' });
    const pending = await api.call('POST', `/v1/batches/${b.batchId}/items/K0008/cancel`, { token: op });
    expect(pending.status).toBe(200);
    expect(pending.body).toEqual({ key: 'K0008', outcome: 'skipped' });
    const unknown = await api.call('POST', `/v1/batches/${b.batchId}/items/NOPE/cancel`, { token: op });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toEqual(expect.stringContaining('no item with key "NOPE"'));
    await waitFor('K0002 done', async () => (await liveProgress(b.handle)).succeeded >= 1);
    const finished = await api.call('POST', `/v1/batches/${b.batchId}/items/K0002/cancel`, { token: op });
    expect(finished.status).toBe(409);
    expect(finished.body.detail).toEqual(expect.stringContaining('already finished'));

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 8, succeeded: 6, cancelled: 1, skipped: 1, failed: 0 },
    });
    const ops = await auditOps(b.outputDir);
    expect(ops.map((l) => l.args)).toEqual([
      { item: 'K0001', result: 'cancelling' },
      { item: 'K0008', result: 'skipped' },
    ]);
    for (const l of ops) expect(l.by).toMatch(/^durabatch-api token:operator /);
  });

  it('refuses without a token (401), without operate (403) and for unknown batches (404), changing nothing', async () => {
    const b = await h.start(
      'refusals',
      controlRows(4, () => ({ delayMs: 1_500 })),
      { concurrency: 1 },
    );
    // Batches on the test's queue started after this one (the batch's own item children come and
    // go as it runs; batches of earlier tests may still be reaching visibility, so they are left out).
    const since = new Date().toISOString();
    const countOnQueue = async () =>
      (
        await h.ctx.client.workflow.count(
          `TaskQueue = "${h.ctx.taskQueue}" AND WorkflowType = "batchWorkflow" AND StartTime > "${since}"`,
        )
      ).count;
    const before = await countOnQueue();
    const calls: [string, string, unknown?][] = [
      ['POST', `/v1/batches/${b.batchId}/pause`],
      ['POST', `/v1/batches/${b.batchId}/resume`],
      ['POST', `/v1/batches/${b.batchId}/cancel`],
      ['PATCH', `/v1/batches/${b.batchId}`, { concurrency: 3 }],
      ['POST', `/v1/batches/${b.batchId}/items/K0003/cancel`],
    ];
    for (const [method, url, json] of calls) {
      const none = await api.call(method, url, { json });
      expect(none.status, `${method} ${url}`).toBe(401);
      for (const token of [api.tokens.reader, api.tokens.submitter]) {
        const res = await api.call(method, url, { token, json });
        expect(res.status, `${method} ${url}`).toBe(403);
        expect(res.body).toMatchObject({ scope: 'operate' });
      }
      const missing = await api.call(method, url.replace(b.batchId, 'no-such-batch'), { token: op, json });
      expect(missing.status, `${method} ${url}`).toBe(404);
      expect(missing.body.detail).toEqual(expect.stringContaining('no-such-batch'));
    }
    // Nothing reached the batch: no signal, update or cancel request in its history, no new workflow.
    const history = await b.handle.fetchHistory();
    const operatorEvents = (history.events ?? []).filter(
      (e) =>
        e.workflowExecutionSignaledEventAttributes ||
        e.workflowExecutionUpdateAcceptedEventAttributes ||
        e.workflowExecutionCancelRequestedEventAttributes,
    );
    expect(operatorEvents).toEqual([]);
    expect(await countOnQueue()).toBe(before);
    expect((await liveProgress(b.handle)).concurrency).toBe(1);
    expect(await auditOps(b.outputDir)).toEqual([]);
    await api.call('POST', `/v1/batches/${b.batchId}/cancel`, { token: op });
    expect((await batchEnd(b.handle)).kind).toBe('cancelled');
  });
});
