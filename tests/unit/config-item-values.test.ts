// The settings of the item-values rules as a user gives them: command.allowOptionValues from a flag,
// the environment or a config file (a list, `true`, or comma-separated text), per pipeline step, and
// followSymlinks for directory sources; both reach what the workers get.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBatchConfig } from '../../src/cli/batch-options';
import { stepsFromConfig } from '../../src/client/steps';
import { stageOptionsFromConfig } from '../../src/config/stage-options';

describe('allowOptionValues and followSymlinks settings', () => {
  it('reads --allow-option-values as a list of fields or true, and passes it to the command spec', async () => {
    const listed = await loadBatchConfig(
      { command: 'ssh {host} uptime', allowOptionValues: 'host, mode' },
      {},
    );
    expect(listed.config.command?.allowOptionValues).toEqual(['host', 'mode']);
    expect(stepsFromConfig(listed.config)[0]?.processor).toMatchObject({
      type: 'command',
      argv: ['ssh', '{host}', 'uptime'],
      allowOptionValues: ['host', 'mode'],
    });
    const all = await loadBatchConfig(
      { command: 'echo {x}' },
      { DURABATCH_COMMAND_ALLOW_OPTION_VALUES: 'true' },
    );
    expect(all.config.command?.allowOptionValues).toBe(true);
    // Unset: the spec carries nothing, so the rule applies in full.
    const none = await loadBatchConfig({ command: 'echo {x}' }, {});
    expect(stepsFromConfig(none.config)[0]?.processor).not.toHaveProperty('allowOptionValues');
  });

  it('takes allowOptionValues per pipeline step from a config file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'config-item-values-'));
    const file = path.join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        steps: [
          { name: 'a', processor: 'command', command: { argv: ['echo', '{f}'], allowOptionValues: ['f'] } },
          { name: 'b', processor: 'command', command: { argv: ['echo', '{f}'] } },
        ],
      }),
    );
    const { config } = await loadBatchConfig({ config: file }, {});
    const [a, b] = stepsFromConfig(config);
    expect(a?.processor).toMatchObject({ allowOptionValues: ['f'] });
    expect(b?.processor).not.toHaveProperty('allowOptionValues');
  });

  it('reads --follow-symlinks (default false) into the staging options', async () => {
    const on = await loadBatchConfig({ url: 'http://h/x', followSymlinks: true }, {});
    expect(stageOptionsFromConfig(on.config, '/home').followSymlinks).toBe(true);
    const off = await loadBatchConfig({ url: 'http://h/x' }, {});
    expect(off.config.followSymlinks).toBe(false);
    const env = await loadBatchConfig({ url: 'http://h/x' }, { DURABATCH_FOLLOW_SYMLINKS: 'true' });
    expect(env.config.followSymlinks).toBe(true);
  });
});
