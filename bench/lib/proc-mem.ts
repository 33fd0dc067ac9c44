// Memory of another process, read from /proc/<pid>/status (Linux only): VmRSS (resident now) and
// VmHWM (the kernel's record of its peak resident size). Used by bench/scale.ts.
import { readFileSync } from 'node:fs';

export interface ProcMem {
  rssBytes: number;
  peakRssBytes: number;
}

/** undefined when the process is gone (or /proc is not there). */
export function procMem(pid: number): ProcMem | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssBytes: kb('VmRSS') * 1024, peakRssBytes: kb('VmHWM') * 1024 };
}
