// Which Temporal server holds each batch this machine's CLI started (DURABATCH_HOME/batches/<id>.json).
// Temporal knows a batch only on its own server: when `status <id>` asks another one, "not found"
// alone sends the user hunting; this record lets the error name the server that has it.
import path from 'node:path';
import { readJsonFile, writeJsonAtomic } from './json-file';
import type { ServerIdentity } from '../server/server-identity';

export interface BatchLocation {
  batchId: string;
  server: ServerIdentity;
  startedAt: string;
}

// Batch ids are already file-name safe (see Config.batchId); encoding keeps any other id inside batches/.
const locationPath = (home: string, batchId: string) =>
  path.join(home, 'batches', `${encodeURIComponent(batchId)}.json`);

export async function recordBatchLocation(home: string, location: BatchLocation): Promise<void> {
  await writeJsonAtomic(locationPath(home, location.batchId), location);
}

export function readBatchLocation(home: string, batchId: string): Promise<BatchLocation | undefined> {
  return readJsonFile<BatchLocation>(locationPath(home, batchId));
}
