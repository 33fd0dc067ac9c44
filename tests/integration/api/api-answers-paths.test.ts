// Answers past the error handler never map the service's disks either: a plan names no staging or
// upload folder and not what the preset runs; an events stream's `error` event names a file that
// failed to read by its place under a placeholder.
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemJournalFile } from '../../../src/output-dir/item-journal';
import { controlRows, finalProgress } from '../../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { readEvents } from '../../helpers/sse';

describe('service: answers name no server paths', () => {
  let h: EngineHarness;
  let api: ApiService;
  let roots: string;

  beforeAll(async () => {
    h = await engineHarness('api-answer-paths');
    roots = path.join(h.ctx.dir, 'sources');
    await mkdir(roots, { recursive: true });
    await writeFile(path.join(roots, 'rows.csv'), 'id\nr1\nr2\n');
    api = await startApiService(
      h.ctx,
      {
        api: {
          sourceRoots: [roots],
          presets: {
            tool: { processor: 'command', command: { argv: [process.execPath, '-e', 'process.exit(0)'] } },
          },
        },
      },
      { submitter: ['read', 'submit'] },
    );
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  const hidden = (text: string) => {
    const { uploadsDir, outputRoot } = api.ctx.settings;
    for (const p of [api.ctx.home, uploadsDir, outputRoot, process.execPath]) expect(text).not.toContain(p);
  };

  it('plans name the preset, not its program, and no staging or upload folder', async () => {
    const json = await api.call('POST', '/v1/batches/plan', {
      token: api.tokens.submitter,
      json: { preset: 'tool', source: { path: 'rows.csv' }, settings: { idColumn: 'id' } },
    });
    expect(json.status, json.text).toBe(200);
    expect(json.body).toMatchObject({ total: 2, processor: 'preset "tool" (command)' });
    expect((json.body.staged as { dir: string }).dir).toMatch(/^<home>\/staged\//);
    hidden(json.text);

    const form = new FormData();
    form.append('settings', JSON.stringify({ preset: 'tool' }));
    form.append('files', new Blob(['a']), 'inbox/a.txt');
    const upload = await api.call('POST', '/v1/batches/plan', { token: api.tokens.submitter, body: form });
    expect(upload.status, upload.text).toBe(200);
    expect(upload.body).toMatchObject({ total: 1, source: 'files', processor: 'preset "tool" (command)' });
    hidden(upload.text);
  });

  it('an events stream that fails names the file under its placeholder', async () => {
    const target = await h.target();
    const { batchId, csv } = await h.source('journal', controlRows(2));
    const outputDir = path.join(api.ctx.settings.outputRoot, batchId);
    const b = await h.ctx.batches.start(
      csv,
      h.ctx.config({ batchId, idColumn: 'id', http: { url: controlUrl(target) }, outputDir }),
    );
    expect(await finalProgress(b.handle)).toMatchObject({ status: 'completed', succeeded: 2 });
    // A journal that cannot be opened (a link to itself): the read error names its path.
    const journal = itemJournalFile(outputDir);
    await rm(journal);
    await symlink(journal, journal);
    const read = await readEvents(`${api.url}/v1/batches/${batchId}/events`, {
      token: api.tokens.submitter,
      timeoutMs: 20_000,
    });
    expect(read.status).toBe(200);
    const error = read.events.find((e) => e.event === 'error');
    expect(error?.data).toEqual({
      detail: `ELOOP: too many symbolic links encountered, open '<output>/${batchId}/logs/items.jsonl'`,
    });
  });
});
