// A batch lives on one Temporal server. When another server answers on the address (someone else's
// dev server on 7233, say), `run` must refuse to resume rather than start the batch again there, and
// the batch commands must name the server that holds the batch instead of only "not found".
// Server A is the shared test server; server B is a second dev server on its own database.
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import type { BatchLocation } from '../../src/home/batch-location';
import type { RunRecord } from '../../src/home/run-record';
import { compareServers, serverIdentity } from '../../src/server/server-identity';
import { startDevServer, type DevServer } from '../../src/server/dev-server';
import { freePort } from '../../src/server/ports';
import { runCli } from '../helpers/cli';
import { quietTarget } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';

const ITEMS = 5;

describe('resume identity: a batch is looked for only on the server that holds it', () => {
  const stamp = Date.now().toString(36);
  const addressA = inject('temporalAddress');
  let dir: string;
  let home: string;
  let target: TargetApi;
  let serverB: DevServer;
  let clientA: Client;
  let clientB: Client;
  let clusterA: string;
  let clusterB: string;
  let args: string[];
  let record: RunRecord;

  const durabatch = (cmd: string[], address: string) =>
    runCli(cmd, { env: { DURABATCH_HOME: home, TEMPORAL_ADDRESS: address }, cwd: dir, timeoutMs: 120_000 });
  const connect = async (address: string) =>
    new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
  const clusterOf = async (c: Client) => (await c.connection.workflowService.getClusterInfo({})).clusterId;
  const runRecords = async () => readdir(path.join(home, 'runs'));
  const readRecord = async () =>
    JSON.parse(await readFile(path.join(home, 'runs', (await runRecords())[0]!), 'utf8')) as RunRecord;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'identity-'));
    home = path.join(dir, 'home');
    target = await quietTarget();
    serverB = await startDevServer({
      home: inject('toolsHome'),
      dbFile: path.join(dir, 'b.db'),
      port: await freePort(),
      headless: true,
    });
    [clientA, clientB] = await Promise.all([connect(addressA), connect(serverB.address)]);
    [clusterA, clusterB] = await Promise.all([clusterOf(clientA), clusterOf(clientB)]);
    expect(clusterA).not.toBe(clusterB);

    // A real run on server A that ends at once leaves its run record, as a crashed one would.
    const csv = await writeCsv(dir, `identity-${stamp}.csv`, patientRows(ITEMS));
    args = ['run', csv, '--url', `${target.url}/patients`, '--id-column', 'id'];
    args.push('--task-queue', `identity-${stamp}`, '--output-dir', path.join(dir, 'out'));
    const first = await durabatch(args, addressA);
    expect(first.code, first.stderr).toBe(0);
    expect(await runRecords()).toHaveLength(1);
    record = await readRecord();
    expect(record.server).toMatchObject({ address: addressA, namespace: 'default', clusterId: clusterA });
    expect(target.stats().effects).toBe(ITEMS);
  });
  afterAll(async () => {
    await clientA?.connection.close();
    await clientB?.connection.close();
    await serverB?.stop();
    await target?.close();
  });

  it('the dev server keeps its identity across restarts on the same database file, on another port', async () => {
    const dbFile = path.join(dir, 'c.db');
    const identities = [];
    for (let i = 0; i < 2; i++) {
      const server = await startDevServer({
        home: inject('toolsHome'),
        dbFile,
        port: await freePort(),
        headless: true,
      });
      const client = await connect(server.address);
      identities.push(await serverIdentity(client, 'default', home));
      await client.connection.close();
      await server.stop();
    }
    const [before, after] = identities;
    expect(before?.clusterId).toMatch(/^[0-9a-f-]{36}$/);
    expect(before?.namespaceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(after?.address).not.toBe(before?.address);
    expect(compareServers(before, after)).toBe('same');
    expect(compareServers(before, await serverIdentity(clientA, 'default', home))).toBe('different');
  });

  it('run refuses to resume on another server and starts nothing there', async () => {
    // A finished batch's command shows its recorded end wherever it is run: nothing is sent.
    const shown = await durabatch(args, serverB.address);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stderr).toContain(
      `batch ${record.batchId}, started ${record.startedAt} by this same command, has already ended`,
    );
    expect((await clientB.workflow.count()).count).toBe(0);
    // A batch whose run died before it ended (its record not marked finished) is resumed only on
    // the server that holds it.
    const { finishedAt: _f, status: _s, final: _p, ...unfinished } = record;
    record = unfinished;
    await writeFile(path.join(home, 'runs', (await runRecords())[0]!), JSON.stringify(record));
    const res = await durabatch(args, serverB.address);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`^Temporal server ${serverB.address}\\b`));
    expect(res.stderr.split('\n').slice(1).join('\n')).toBe(
      `durabatch: batch ${record.batchId} (started ${record.startedAt} by this same command) is on Temporal server ` +
        `${addressA} (cluster ${clusterA}, namespace default), but the server answering at ${serverB.address} ` +
        `is a different one (cluster ${clusterB}, namespace default); nothing was started there\n` +
        `  fix: reach that server: set TEMPORAL_ADDRESS=${addressA} and run this command again\n` +
        `  fix: or pass --new to start a separate batch on purpose (items batch ${record.batchId} already processed are processed again)\n`,
    );
    expect((await clientB.workflow.count()).count).toBe(0);
    expect(await readRecord()).toEqual(record);
    expect(target.stats().effects).toBe(ITEMS);
  });

  it('status and cancel on another server name the server that holds the batch', async () => {
    const location = JSON.parse(
      await readFile(path.join(home, 'batches', `${record.batchId}.json`), 'utf8'),
    ) as BatchLocation;
    expect(location.server).toMatchObject({ address: addressA, clusterId: clusterA, embedded: false });
    for (const cmd of ['status', 'cancel', 'pause']) {
      const res = await durabatch([cmd, record.batchId], serverB.address);
      expect(res.code, cmd).toBe(2);
      expect(res.stderr, cmd).toBe(
        `durabatch: batch ${record.batchId} is not on the Temporal server answering at ${serverB.address} ` +
          `(cluster ${clusterB}, namespace default): this machine started it ${location.startedAt} ` +
          `on Temporal server ${addressA} (cluster ${clusterA}, namespace default)\n` +
          `  fix: reach that server: set TEMPORAL_ADDRESS=${addressA} and run this command again\n`,
      );
    }
    // The fix works: the holding server answers; an id this machine never started stays "no batch".
    const onA = await durabatch(['status', record.batchId, '--json'], addressA);
    expect(onA.code, onA.stderr).toBe(0);
    expect(JSON.parse(onA.stdout)).toMatchObject({
      batchId: record.batchId,
      status: 'completed',
      total: ITEMS,
    });
    const unknown = await durabatch(['status', `never-${stamp}`], serverB.address);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      `durabatch: no batch with id "never-${stamp}"\n  fix: see \`durabatch list\`\n`,
    );
  });

  it('--new starts a separate batch on the answering server on purpose', async () => {
    const res = await durabatch([...args, '--new'], serverB.address);
    expect(res.code, res.stderr).toBe(0);
    const started = (await readRecord()).batchId;
    expect(started).not.toBe(record.batchId);
    expect(res.stderr).toContain(`batch ${started}: ${ITEMS} items`);
    expect((await clientB.workflow.count(`WorkflowId = "${started}"`)).count).toBe(1);
    expect(target.stats().effects).toBe(2 * ITEMS);
  });

  it('a run record of an older version (no server identity) keeps the old behaviour', async () => {
    // Older versions wrote neither the server nor the batch's end.
    const { server: _, finishedAt: _f, status: _s, final: _p, ...old } = record;
    await writeFile(path.join(home, 'runs', (await runRecords())[0]!), JSON.stringify(old));
    const res = await durabatch(args, serverB.address);
    expect(res.code, res.stderr).toBe(0);
    // The recorded id was absent there, so it was started under that id (and the record now says where).
    expect(res.stderr).toContain(`batch ${record.batchId}: ${ITEMS} items`);
    await expect(clientB.workflow.getHandle(record.batchId).describe()).resolves.toBeDefined();
    expect((await readRecord()).server).toMatchObject({ address: serverB.address, clusterId: clusterB });
  });
});
