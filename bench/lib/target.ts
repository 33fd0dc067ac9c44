// Starts bench/lib/target-process.ts (the HTTP target in its own process) and talks to it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { TargetApiStats } from '../../examples/target-api/server';

export interface TargetProcess {
  url: string;
  pid: number;
  stats: () => Promise<{ stats: TargetApiStats; cpuMs: number }>;
  stop: () => Promise<void>;
}

export async function startTargetProcess(latencyMs: number): Promise<TargetProcess> {
  const script = path.join(import.meta.dirname, 'target-process.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(latencyMs)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const [first] = (await Promise.race([
    once(child, 'message'),
    exited.then(() => {
      throw new Error('the target process exited before listening');
    }),
  ])) as [{ url: string }];
  return {
    url: first.url,
    pid: child.pid ?? -1,
    stats: async () => {
      const answer = once(child, 'message');
      child.send('stats');
      const [msg] = (await answer) as [{ stats: TargetApiStats; cpuMs: number }];
      return msg;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.send('stop');
      await exited;
    },
  };
}
