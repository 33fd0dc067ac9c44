// Live processes by command line, read from /proc (Linux): lets a test prove that a program it had
// durabatch start is really running, and later that nothing of it is left.
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessInfo {
  pid: number;
  argv: string[];
}

/** Every live process (zombies have an empty cmdline and are left out) whose argv matches `argv` exactly. */
export async function findProcesses(argv: string[]): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const raw = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (raw === '') continue;
    const args = raw.replace(/\0$/, '').split('\0');
    if (args.length === argv.length && args.every((a, i) => a === argv[i])) {
      found.push({ pid: Number(entry), argv: args });
    }
  }
  return found;
}

/** A sleep duration no other process on the machine uses: `37.<6 random digits>`. */
export function uniqueSleepSeconds(): string {
  return `37.${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
}
