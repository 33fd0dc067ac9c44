// Batches started by an earlier release are resumed by today's workflows after an upgrade, so the
// workflows must replay the histories those releases wrote. tests/histories/<revision>/ holds them,
// recorded with scripts/record-histories.ts (per item with retries, a budget pause with set and
// resume, an item cancelled, pages, local pages, continue-as-new); each is replayed here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve('tests/histories');
const History = proto.temporal.api.history.v1.History;

const recordings = readdirSync(ROOT).flatMap((revision) =>
  readdirSync(path.join(ROOT, revision))
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({
      revision,
      scenario: file.replace(/\.json$/, ''),
      file: path.join(ROOT, revision, file),
    })),
);

describe('histories recorded by earlier releases replay on today’s workflows', () => {
  it('has recordings to replay', () => {
    expect(recordings.length).toBeGreaterThanOrEqual(6);
  });

  it.each(recordings)('$revision $scenario', async ({ file }) => {
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as { workflowId: string; history: string }[];
    const histories = recorded.map(({ workflowId, history }) => ({
      workflowId,
      history: History.decode(Buffer.from(history, 'base64')),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      histories,
    )) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(recorded.length);
    // A parent and at least one child: the recording is a whole batch.
    expect(recorded.length).toBeGreaterThanOrEqual(2);
  });
});
