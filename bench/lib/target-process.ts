// The benchmark's HTTP target in a process of its own, so its CPU is never counted as a
// contender's: examples/target-api with faults off and a fixed latency. Talks over the IPC channel:
// sends { url } once listening; answers 'stats' with the target's stats and its own CPU time.
//   (started by bench/lib/target.ts as: node --import tsx bench/lib/target-process.ts <latencyMs>)
import { startTargetApi } from '../../examples/target-api/server';

const latency = Number(process.argv[2] ?? 0);
const target = await startTargetApi({ latencyMs: [latency, latency], failureRate: 0, rateLimitRate: 0 });
process.on('message', (msg) => {
  if (msg === 'stats') {
    const cpu = process.cpuUsage();
    process.send?.({ stats: target.stats(), cpuMs: (cpu.user + cpu.system) / 1000 });
  } else if (msg === 'stop') {
    void target.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ url: target.url });
