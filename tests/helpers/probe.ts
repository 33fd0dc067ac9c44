// A probe command for cancellation tests: it logs when it starts and ends (with its pid), and ends
// early, logging it, on SIGTERM, so a test can prove when a cancelled item's work really stopped and
// how many items ever ran at once.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A probe command: logs `start|end <key> <epoch ms> <pid>`; ends early (logging it) on SIGTERM. */
export const PROBE = `#!/bin/sh
log="$1"; key="$2"; seconds="$3"
now() { date +%s%3N; }
echo "start $key $(now) $$" >> "$log"
trap 'echo "end $key $(now) $$" >> "$log"; exit 143' TERM
sleep "$seconds" & wait $!
echo "end $key $(now) $$" >> "$log"
`;

export interface ProbeRun {
  key: string;
  pid: number;
  start: number;
  end?: number;
}

export async function probeRuns(log: string): Promise<Map<string, ProbeRun>> {
  const runs = new Map<string, ProbeRun>();
  const text = await readFile(log, 'utf8').catch(() => '');
  for (const line of text.split('\n').filter(Boolean)) {
    const [what, key, at, pid] = line.split(' ');
    if (what === 'start') runs.set(key!, { key: key!, pid: Number(pid), start: Number(at) });
    else if (runs.get(key!)) runs.get(key!)!.end = Number(at);
  }
  return runs;
}

/** The most runs that were ever alive at the same moment. */
export function maxOverlap(runs: ProbeRun[]): number {
  const edges = runs.flatMap((r) => [
    { at: r.start, d: 1 },
    { at: r.end ?? Infinity, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d); // an end and a start at the same ms do not overlap
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Writes the probe script into `dir`; run it as `<probe> <log> <key> <seconds>`. */
export async function writeProbe(dir: string): Promise<string> {
  const probe = path.join(dir, 'probe.sh');
  await writeFile(probe, PROBE);
  await chmod(probe, 0o755);
  return probe;
}
