// What the Temporal Web UI shows of a batch, read through the same APIs the UI uses: static summary
// and details, Current Details (the built-in metadata query), handler descriptions, search
// attributes and activity summaries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failuresQuery } from '../../workflows/messages';
import { batchProgressKey, batchStatusKey, itemKeyKey } from '../../workflows/search-attributes';
import { batchEnd, controlRows, liveProgress, waitFor } from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

interface WorkflowMetadata {
  currentDetails?: string;
  definition?: {
    queryDefinitions?: { name: string; description?: string }[];
    signalDefinitions?: { name: string; description?: string }[];
    updateDefinitions?: { name: string; description?: string }[];
  };
}

describe('presentation in the Web UI', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('web-ui-presentation');
  });
  afterAll(() => h?.close());

  it('describes the batch and its items, and keeps Current Details and search attributes current', async () => {
    // K0001 is slow, so the batch is caught mid-way with 9 of 10 done.
    const rows = controlRows(10, (i) => ({ delayMs: i === 0 ? 8_000 : 0, failAttempts: i === 1 ? 1 : 0 }));
    const b = await h.start('present', rows, { concurrency: 3 });
    await waitFor('nine items done', async () => (await liveProgress(b.handle)).succeeded === 9);

    const meta = await b.handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toContain('**running** · 90% of 10 items');
    expect(meta.currentDetails).toContain(
      'succeeded **9** · failed **0** · skipped **0** · cancelled **0** · running **1** · pending **0**',
    );
    const described = (defs: { name: string; description?: string }[] | undefined) =>
      Object.fromEntries((defs ?? []).map((d) => [d.name, d.description ?? '']));
    const queries = described(meta.definition?.queryDefinitions);
    const signals = described(meta.definition?.signalDefinitions);
    const updates = described(meta.definition?.updateDefinitions);
    expect(queries.progress).toContain('counts');
    expect(queries.failures).toContain('most recent item failures');
    expect(signals.pause).toContain('{"reason": "why"}');
    expect(signals.resume).toContain('after a pause');
    expect(updates.setLimits).toContain('{"concurrency": 1..1000');
    expect(updates.cancelItem).toContain('{"key": "<item key>"}');

    const parent = await b.handle.describe();
    expect(await parent.staticSummary()).toMatch(
      new RegExp(`^durabatch: 10 items from ${b.batchId}\\.csv → http`),
    );
    expect(await parent.staticDetails()).toContain('concurrency');

    const child = await h.ctx.client.workflow.getHandle(`${b.batchId}/K0002`).describe();
    expect(await child.staticSummary()).toBe(`item K0002 of batch ${b.batchId}`);
    expect(child.typedSearchAttributes.get(itemKeyKey)).toBe('K0002');
    // The retried item's activity carries a summary (shown on the event and in the timeline).
    const events = (await h.ctx.client.workflow.getHandle(`${b.batchId}/K0002`).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes);
    expect(scheduled?.userMetadata?.summary?.data).toBeDefined();
    expect(Buffer.from(scheduled!.userMetadata!.summary!.data!).toString()).toContain(': http');
    // Retries of an activity are not separate events: the started event records the last attempt.
    expect(
      events.find((e) => e.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes?.attempt,
    ).toBe(2);

    expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned', progress: { status: 'completed' } });
    const done = await b.handle
      .query<WorkflowMetadata>('__temporal_workflow_metadata')
      .catch(() => undefined);
    if (done) expect(done.currentDetails).toContain('**completed** · 100% of 10 items');
    const final = await b.handle.describe();
    expect(final.typedSearchAttributes.get(batchStatusKey)).toBe('completed');
    expect(final.typedSearchAttributes.get(batchProgressKey)).toBe(100);
  });

  it('bounds search-attribute updates: a 60-item batch upserts at most once per 5% and per status', async () => {
    const b = await h.start(
      'upserts',
      controlRows(60, () => ({})),
      { concurrency: 10 },
    );
    expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned' });
    const events = (await b.handle.fetchHistory()).events ?? [];
    const upserts = events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length;
    // running at 0%, then at most one per 5 points (20), then completed.
    expect(upserts).toBeGreaterThanOrEqual(2);
    expect(upserts).toBeLessThanOrEqual(22);
  });

  it('an item workflow terminated by mistake is recorded failed at once; the batch ends', async () => {
    const rows = controlRows(5, (i) => ({ delayMs: i === 1 ? 30_000 : 100 }));
    const b = await h.start('terminated-item', rows, { concurrency: 2 });
    await waitFor('K0002 the only one left', async () => {
      const p = await liveProgress(b.handle);
      return p.succeeded === 4 && p.running === 1;
    });
    // Terminate (not cancel): the child never reports; the parent awaiting its result sees it close
    // and frees the slot itself, without the operator and without the 30 s closed-children check.
    await h.ctx.client.workflow.getHandle(`${b.batchId}/K0002`).terminate('by mistake');
    expect(await batchEnd(b.handle)).toMatchObject({
      kind: 'returned',
      progress: { status: 'partial_failure', succeeded: 4, failed: 1, running: 0, pending: 0 },
    });
    const failures = await b.handle.query(failuresQuery);
    expect(failures).toMatchObject([{ key: 'K0002', errorType: 'ItemWorkflowClosed' }]);
    expect(failures[0]!.errorMessage).toContain(`item workflow ${b.batchId}/K0002 closed without an outcome`);
  });

  it('replays every history above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(replayed).toBe(listed);
  });
});
