// audit/audit.jsonl: who did what to a batch, and when. Appended by the client for every operator
// action (start, pause, resume, set, cancel, retry-failed).
import { appendFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface AuditEntry {
  action: string;
  batchId: string;
  args?: Record<string, unknown>;
  result?: string;
}

export function auditFile(outputDir: string): string {
  return path.join(outputDir, 'audit', 'audit.jsonl');
}

export async function appendAudit(outputDir: string, entry: AuditEntry): Promise<void> {
  const line = {
    at: new Date().toISOString(),
    user: process.env.DURABATCH_USER ?? os.userInfo().username,
    host: os.hostname(),
    ...entry,
  };
  await mkdir(path.dirname(auditFile(outputDir)), { recursive: true });
  await appendFile(auditFile(outputDir), JSON.stringify(line) + '\n');
}
