// audit/audit.jsonl: who did what to a batch, and when. The CLI appends what happens outside the
// batch workflow (start, retry-failed); the workflow records every operator message it receives
// (pause, resume, set, cancel), whichever client sent it, and its own pauses (budget, worker, source).
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface AuditEntry {
  action: string;
  batchId: string;
  args?: Record<string, unknown>;
  result?: string;
  /** Who acted, when not this process's user (the service: `token:<name>`). */
  user?: string;
  /** Through what it acted (`durabatch-api`). */
  via?: string;
}

/**
 * The identity this process's Temporal client sends with every request: Temporal records it on the
 * history event of each signal, update and cancel request, where the batch's audit reads it.
 */
export function clientIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const user = env.DURABATCH_USER ?? os.userInfo().username;
  return `durabatch-cli ${user}@${os.hostname()} pid ${process.pid}`;
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

/** Appends lines as given (the batch workflow's entries carry their own time and sender). */
export async function appendAuditLines(outputDir: string, lines: Record<string, unknown>[]): Promise<void> {
  if (lines.length === 0) return;
  await mkdir(path.dirname(auditFile(outputDir)), { recursive: true });
  await appendFile(auditFile(outputDir), lines.map((l) => JSON.stringify(l) + '\n').join(''));
}

/** The audit log's records; a torn last line (a killed writer) is skipped. */
export async function readAuditLines(outputDir: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(auditFile(outputDir), 'utf8').catch(() => '');
  const lines: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a record: ignore
    }
  }
  return lines;
}
