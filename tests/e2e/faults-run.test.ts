// `durabatch run` killed as a whole — the command, its in-process worker and the embedded Temporal
// server it started, all with SIGKILL — then the same command run again: it must resume the same
// batch, and items finished before the crash must not reach the target again.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { startDevServer, type DevServer } from '../../src/server/dev-server';
import { freePort } from '../../src/server/ports';
import { findTemporalCli } from '../../src/server/provision';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';
import { runCli } from '../helpers/cli';
import { waitFor } from '../helpers/engine';
import { alive, descendants, killTree } from '../helpers/faults';
import { patientRows, writeCsv } from '../helpers/files';

const BIN = path.resolve('bin/durabatch.js');
const ITEMS = 400;

describe('durability: the whole `durabatch run` process tree killed', () => {
  let dir: string;
  let target: TargetApi;
  let verifyServer: DevServer | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'faults-run-'));
    target = await startTargetApi({ failureRate: 0.05, rateLimitRate: 0, latencyMs: [60, 160] });
  });
  afterAll(async () => {
    await verifyServer?.stop();
    await target?.close();
  });

  it('resumes the same batch when the same command runs again; finished items are not sent again', async () => {
    const home = path.join(dir, 'home');
    const { path: cli } = await findTemporalCli({ home: inject('toolsHome') });
    // A user's shell: no TEMPORAL_ADDRESS, so `run` starts (and owns) the embedded server.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CI: 'true',
      DURABATCH_HOME: home,
      TEMPORAL_CLI_PATH: cli,
    };
    delete env.TEMPORAL_ADDRESS;
    const csv = await writeCsv(dir, 'patients.csv', patientRows(ITEMS));
    const out = path.join(dir, 'out');
    const args = [BIN, 'run', csv, '--url', `${target.url}/patients`, '--id-column', 'id'];
    args.push('--concurrency', '8', '--max-attempts', '20', '--output-dir', out, '--json');

    const logFile = path.join(dir, 'first-run.log');
    const fd = openSync(logFile, 'a');
    const first = spawn(process.execPath, args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    await waitFor(
      'a third of the items to take effect',
      () => target.stats().effects >= ITEMS / 3,
      180_000,
      100,
    );

    const tree = await descendants(first.pid!);
    const killedAt = Date.now();
    const killed = await killTree(first.pid!);
    expect(killed.length).toBeGreaterThanOrEqual(2); // node and the temporal server at least
    const serverPid = tree.find((p) => p !== first.pid);
    expect(serverPid).toBeDefined();
    for (const pid of killed) expect(await alive(pid)).toBe(false);
    const firstLog = await readFile(logFile, 'utf8');
    const batchId = /batch (\S+): \d+ items/.exec(firstLog)?.[1];
    expect(batchId, firstLog).toBeDefined();
    const effectsAtKill = target.stats().effects;
    expect(effectsAtKill).toBeLessThan(ITEMS);

    const second = await runCli(args.slice(1), { env, timeoutMs: 600_000 });
    expect(second.stderr).toContain(`resuming batch ${batchId}`);
    expect(second.code, second.stderr).toBe(0);
    const final = JSON.parse(second.stdout) as BatchProgress;
    expect(final).toMatchObject({ batchId, status: 'completed', total: ITEMS, succeeded: ITEMS, failed: 0 });

    // The pick-up after the crash is in the batch's audit log.
    const audit = (await readFile(path.join(out, 'audit', 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; batchId: string });
    expect(audit.filter((a) => a.action === 'resume-run')).toEqual([
      expect.objectContaining({ action: 'resume-run', batchId }),
    ]);

    // Exactly once in effect, and nothing finished before the crash was sent again afterwards.
    expect(target.stats().effects).toBe(ITEMS);
    const items = (await readFile(path.join(out, 'results', 'items.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ItemOutcome);
    const doneBefore = items
      .filter((i) => Date.parse(i.endedAt) < killedAt - 500)
      .map((i) => `${batchId}:${i.key}`);
    expect(doneBefore.length).toBeGreaterThan(ITEMS / 4);
    const byKey = new Map(target.received().map((r) => [r.idempotencyKey, r]));
    const resent = doneBefore.filter((k) => Date.parse(byKey.get(k)!.lastAt) >= killedAt);
    expect(resent).toEqual([]);

    // `durabatch verify` on the same database, against the target's ledger.
    verifyServer = await startDevServer({
      home: inject('toolsHome'),
      dbFile: path.join(home, 'temporal.db'),
      port: await freePort(),
      headless: true,
    });
    const ledger = path.join(dir, 'ledger.json');
    await writeFile(ledger, JSON.stringify({ records: target.received() }));
    const verifyEnv = { DURABATCH_HOME: home, TEMPORAL_ADDRESS: verifyServer.address };
    const verified = await runCli(['verify', batchId!, '--effects', ledger], { env: verifyEnv });
    await mkdir('test-artifacts/faults', { recursive: true });
    await writeFile('test-artifacts/faults/run-tree-verify.txt', verified.stdout);
    expect(verified.stdout).toContain(`verify ${batchId} (COMPLETED, ${ITEMS} items): OK`);
    expect(verified.stdout).toContain(`ok   no effect duplicated: ${ITEMS} effects, none twice`);
    expect(verified.code).toBe(0);

    // The checker is not blind: a ledger in which one item took effect twice fails it.
    const doubled = target.received().map((r, i) => (i === 0 ? { ...r, effects: 2 } : r));
    await writeFile(ledger, JSON.stringify(doubled));
    const failing = await runCli(['verify', batchId!, '--effects', ledger, '--json'], { env: verifyEnv });
    expect(failing.code).toBe(1);
    const report = JSON.parse(failing.stdout) as { ok: boolean; effects: { duplicated: string[] } };
    expect(report.ok).toBe(false);
    expect(report.effects.duplicated).toEqual([
      `${doubled[0]!.idempotencyKey.slice(batchId!.length + 1)} ×2`,
    ]);
  }, 900_000);
});
