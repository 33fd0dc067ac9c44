// The comparison that decides whether `run` may resume (or start) its recorded batch on the server
// answering, the records that carry the identity, and the wording of the refusals.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBatchLocation, recordBatchLocation } from '../../src/home/batch-location';
import { readRunRecord, writeRunRecord, type RunRecord } from '../../src/home/run-record';
import { compareServers, type ServerIdentity } from '../../src/server/server-identity';
import { batchOnOtherServer, resumeOnWrongServer } from '../../src/home/wrong-server';

const A: ServerIdentity = {
  address: '127.0.0.1:7233',
  namespace: 'default',
  clusterId: 'cluster-a',
  namespaceId: 'ns-a',
};
const B: ServerIdentity = { ...A, clusterId: 'cluster-b', namespaceId: 'ns-b' };

describe('compareServers', () => {
  it('is the same server when cluster and namespace ids match, whatever the address', () => {
    expect(compareServers(A, { ...A, address: '127.0.0.1:50123', embedded: true })).toBe('same');
  });

  it('differs on another cluster, another namespace id, or (without namespace ids) another namespace', () => {
    expect(compareServers(A, B)).toBe('different');
    expect(compareServers(A, { ...A, namespaceId: 'ns-recreated' })).toBe('different');
    expect(compareServers(A, { ...A, clusterId: 'cluster-b', namespaceId: undefined })).toBe('different');
    const noNsIds = { ...A, namespaceId: undefined };
    expect(compareServers(noNsIds, { ...noNsIds, namespace: 'batches' })).toBe('different');
    expect(compareServers(noNsIds, noNsIds)).toBe('same');
  });

  it('is unknown, never different, when nothing can be compared', () => {
    expect(compareServers(undefined, A)).toBe('unknown');
    expect(compareServers(A, undefined)).toBe('unknown');
    const onlyCluster = { ...A, namespaceId: undefined };
    const onlyNamespace = { ...A, clusterId: undefined };
    expect(compareServers(onlyCluster, onlyNamespace)).toBe('unknown');
  });
});

describe('records', () => {
  const record: RunRecord = {
    batchId: 'leads-20260101-000000-ab12',
    taskQueue: 'durabatch',
    outputDir: '/out/leads',
    source: '/in/leads.csv',
    startedAt: '2026-01-01T00:00:00.000Z',
    server: { ...A, embedded: true },
  };

  it('a run record keeps the server identity through a write and a read', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'identity-'));
    await writeRunRecord(home, 'k1', record);
    expect(await readRunRecord(home, 'k1')).toEqual(record);
    expect(await readRunRecord(home, 'k2')).toBeUndefined();
  });

  it('a run record of an older version (no server) reads without one, so no check is made', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'identity-'));
    const { server: _, ...old } = record;
    await writeRunRecord(home, 'old', old);
    const read = await readRunRecord(home, 'old');
    expect(read).toEqual(old);
    expect(compareServers(read?.server, B)).toBe('unknown');
  });

  it('a batch location is stored per batch id under batches/', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'identity-'));
    const location = { batchId: 'b.1', server: A, startedAt: '2026-01-01T00:00:00.000Z' };
    await recordBatchLocation(home, location);
    expect(JSON.parse(await readFile(path.join(home, 'batches', 'b.1.json'), 'utf8'))).toEqual(location);
    expect(await readBatchLocation(home, 'b.1')).toEqual(location);
    expect(await readBatchLocation(home, 'b.2')).toBeUndefined();
  });
});

describe('messages', () => {
  const record: RunRecord & { server: ServerIdentity } = {
    batchId: 'b1',
    taskQueue: 'durabatch',
    outputDir: '/out/b1',
    source: '/in/b1.csv',
    startedAt: '2026-01-01T00:00:00.000Z',
    server: { ...A, address: 'temporal.internal:7233', namespace: 'batches' },
  };
  const answering = { ...B, address: '127.0.0.1:7233' };

  it('run: names both servers, how to reach the right one, and --new', () => {
    expect(resumeOnWrongServer(record, answering).message).toBe(
      'batch b1 (started 2026-01-01T00:00:00.000Z by this same command) is on Temporal server ' +
        'temporal.internal:7233 (cluster cluster-a, namespace batches), but the server answering at ' +
        '127.0.0.1:7233 is a different one (cluster cluster-b, namespace default); nothing was started there\n' +
        '  fix: reach that server: set TEMPORAL_ADDRESS=temporal.internal:7233 TEMPORAL_NAMESPACE=batches and run this command again\n' +
        '  fix: or pass --new to start a separate batch on purpose (items batch b1 already processed are processed again)',
    );
  });

  it("run: the home's embedded server is reached by stopping the other server or `durabatch server`", () => {
    const embedded = { ...record, server: { ...A, embedded: true } };
    expect(resumeOnWrongServer(embedded, answering).message).toContain(
      "\n  fix: it is this DURABATCH_HOME's embedded server (database DURABATCH_HOME/temporal.db): " +
        'stop the server answering at 127.0.0.1:7233 (then this command starts the embedded one), or start it ' +
        'with `durabatch server` in another terminal',
    );
  });

  it('the embedded server answering with another database points at the database file', () => {
    const embedded = { ...record, server: { ...A, embedded: true } };
    expect(resumeOnWrongServer(embedded, { ...answering, embedded: true }).message).toContain(
      "\n  fix: this DURABATCH_HOME's embedded server answers, but on another database than the batch's " +
        '(DURABATCH_HOME/temporal.db deleted or replaced?): restore that file, then run this command again\n' +
        '  fix: or pass --new',
    );
  });

  it('a batch command names the server this machine started the batch on', () => {
    const location = { batchId: 'b1', server: { ...A, embedded: true }, startedAt: record.startedAt };
    expect(batchOnOtherServer(location, answering).message).toBe(
      'batch b1 is not on the Temporal server answering at 127.0.0.1:7233 (cluster cluster-b, namespace default): ' +
        'this machine started it 2026-01-01T00:00:00.000Z on Temporal server 127.0.0.1:7233 (cluster cluster-a, namespace default)\n' +
        "  fix: it is this DURABATCH_HOME's embedded server (database DURABATCH_HOME/temporal.db): start it, if it is not running, " +
        'with `durabatch server` in another terminal (it takes a free port when its usual one is busy); ' +
        'then run this command again, without TEMPORAL_ADDRESS',
    );
  });
});
