// The http processor's certificate files (client certificate, its key, the target's CA) are read by
// the workers at the path the CLI resolved. A missing or unreadable one used to be found only by the
// first item, after the batch had started; `plan`, `start`, `run` and `retry-failed` now check each
// file here first (on the machine running the CLI, which is what they can check: workers must see the
// same path, on shared storage or the same layout) and refuse the batch naming the setting and path.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { StepSpec } from '../../workflows/types';
import { InputError } from '../errors';

const FILES = [
  { field: 'cert', setting: 'http.clientCert', flag: '--client-cert', what: 'client certificate' },
  { field: 'key', setting: 'http.clientKey', flag: '--client-key', what: 'client key' },
  { field: 'ca', setting: 'http.ca', flag: '--target-ca', what: "target's CA certificate" },
] as const;

/** Why this file cannot be read, or undefined when it can. */
async function unreadable(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return st.isDirectory() ? 'it is a directory' : 'it is not a regular file';
    await access(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return 'no such file';
    if (e.code === 'EACCES') return 'permission denied';
    return e.message;
  }
}

/** Refuses (InputError, exit 2) when any certificate file of any http step cannot be read here. */
export async function checkTlsFiles(steps: StepSpec[]): Promise<void> {
  const problems: string[] = [];
  for (const step of steps) {
    if (step.processor.type !== 'http' || !step.processor.tls) continue;
    const tls = step.processor.tls;
    const where = steps.length > 1 ? `step "${step.name}" ` : '';
    for (const f of FILES) {
      const file = tls[f.field];
      if (file === undefined) continue;
      const why = await unreadable(file);
      if (why)
        problems.push(
          `${where}${f.setting} (${f.flag}): cannot read the ${f.what} ${file} on this machine (where the CLI runs): ${why}`,
        );
    }
  }
  if (problems.length === 0) return;
  throw new InputError(
    problems.length === 1 ? problems[0]! : `certificate files cannot be read:\n  ${problems.join('\n  ')}`,
    'correct the path or the file permissions; workers read the same path, so keep the file on storage every worker sees',
  );
}
