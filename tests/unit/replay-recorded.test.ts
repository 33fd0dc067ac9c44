// Batches started by an earlier release are resumed by today's workflows after an upgrade, so the
// workflows must replay the histories those releases wrote. tests/histories/<revision>/ holds them
// (per item with retries, a budget pause with set and resume, items cancelled in both modes, pages,
// local pages, continue-as-new); every one of every revision is replayed here, on the bundle
// tests/bundle-setup.ts builds (no server needed).
// To add a recording (a release that changes what workflows record, or a new scenario):
//   npx tsx scripts/record-histories.ts --engine <rev>
// writes tests/histories/<rev>/; commit that folder, this test finds it. A scenario is a call of
// `record` in that script; a release recorded before it was added simply lacks that file.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve('tests/histories');
const History = proto.temporal.api.history.v1.History;

const recordings = readdirSync(ROOT).flatMap((revision) =>
  readdirSync(path.join(ROOT, revision))
    .filter((f) => f.endsWith('.json'))
    .map((file) => {
      const recorded = JSON.parse(readFileSync(path.join(ROOT, revision, file), 'utf8')) as {
        workflowId: string;
        history: string;
      }[];
      return { revision, scenario: file.replace(/\.json$/, ''), recorded };
    }),
);

describe('histories recorded by earlier releases replay on today’s workflows', () => {
  // What replaying each recording's histories gave: a failure text per history that did not replay.
  const outcomes = new Map<(typeof recordings)[number], { replayed: number; failures: string[] }>();

  beforeAll(async () => {
    // One replay worker for all of them, one history at a time and in order (as the SDK replays):
    // a worker per recording costs a quarter of a second each for nothing.
    const owners = recordings.flatMap((r) => r.recorded.map(() => r));
    const histories = recordings.flatMap((r) =>
      r.recorded.map(({ workflowId, history }) => ({
        workflowId,
        history: History.decode(Buffer.from(history, 'base64')),
      })),
    );
    for (const r of recordings) outcomes.set(r, { replayed: 0, failures: [] });
    let i = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      histories,
    )) {
      const outcome = outcomes.get(owners[i++]!)!;
      outcome.replayed++;
      if (result.error) outcome.failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
  });

  it('has recordings to replay', () => {
    expect(recordings.length).toBeGreaterThanOrEqual(6);
  });

  it.each(recordings)('$revision $scenario', (recording) => {
    const { replayed, failures } = outcomes.get(recording)!;
    expect(failures).toEqual([]);
    expect(replayed).toBe(recording.recorded.length);
    // A parent and at least one child: the recording is a whole batch.
    expect(recording.recorded.length).toBeGreaterThanOrEqual(2);
  });
});
