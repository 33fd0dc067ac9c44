// docker-compose.yml and the Dockerfile, checked offline: the real Docker Compose v2 binary
// (`config` needs no daemon) validates the file and resolves it to JSON, whose topology is asserted;
// hadolint lints the Dockerfile; the image's file set is shown to run the CLI.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { presetsOf } from '../../src/api/presets';
import { loadConfig } from '../../src/config/load';
import { ALLOW_NONE, allowListOf } from '../../src/worker/allow-settings';
import { installTools, parseAssignments, toolPaths, versions, type Tools } from './tools';

const run = promisify(execFile);
const ROOT = path.resolve('.');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
async function exec(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, {
      cwd: opts.cwd ?? ROOT,
      env: opts.env,
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string | null>;
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  ports?: { target: number; published: string; host_ip?: string }[];
  configs?: { source: string; target: string }[];
  secrets?: { source: string; target: string }[];
}
interface Project {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  configs?: Record<string, { file?: string; content?: string; environment?: string }>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

let tools: Tools;
// A clean environment: no TEMPORAL_* or DURABATCH_* of the machine running the test leaks into the
// file's ${...} substitutions.
const cleanEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir() };

async function composeConfig(file: string, envFile: string, extra: string[] = []): Promise<Result> {
  return exec(
    tools.compose,
    [
      '-f',
      file,
      '--env-file',
      envFile,
      '--profile',
      'cli',
      '--profile',
      'codec',
      '--profile',
      'api',
      'config',
      ...extra,
    ],
    { env: cleanEnv },
  );
}

const seconds = (d: string) => {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m) throw new Error(`unexpected duration ${d}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
};

describe('docker-compose.yml', () => {
  let project: Project;
  let envExample: Record<string, string>;

  beforeAll(async () => {
    tools = toolPaths(await installTools('pip'));
    const text = await readFile(path.join(ROOT, '.env.example'), 'utf8');
    envExample = parseAssignments(text);
    const r = await composeConfig('docker-compose.yml', '.env.example', ['--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    project = JSON.parse(r.stdout) as Project;
  });

  it('is valid for Compose v2 (config -q), with .env.example and with no .env at all', async () => {
    expect(await composeConfig('docker-compose.yml', '.env.example', ['-q'])).toMatchObject({
      code: 0,
      stderr: '',
    });
    const empty = path.join(await mkdtemp(path.join(os.tmpdir(), 'compose-env-')), '.env');
    await writeFile(empty, '');
    expect(await composeConfig('docker-compose.yml', empty, ['-q'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('the validator rejects a broken file (so a pass means something)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'compose-bad-'));
    const text = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    // A dependency on a service that does not exist, and a misspelt key.
    const broken = text.replace('condition: service_healthy', 'condition: service_happy');
    expect(broken).not.toBe(text);
    await writeFile(path.join(dir, 'docker-compose.yml'), broken);
    const r = await composeConfig(path.join(dir, 'docker-compose.yml'), path.join(ROOT, '.env.example'), [
      '-q',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/service_happy|condition/);
    await rm(dir, { recursive: true, force: true });
  });

  it('has the whole topology: database, schema, server, namespace init, UI, workers, CLI, codec, API', () => {
    expect(Object.keys(project.services).sort()).toEqual(
      [
        'api',
        'cli',
        'codec-server',
        'postgresql',
        'temporal',
        'temporal-init',
        'temporal-schema',
        'temporal-ui',
        'worker',
      ].sort(),
    );
    expect(project.services.cli?.profiles).toEqual(['cli']);
    expect(project.services['codec-server']?.profiles).toEqual(['codec']);
    expect(project.services.api?.profiles).toEqual(['api']);
  });

  it('starts in order: healthy database → schema done → healthy server → namespace ready → workers', () => {
    const s = project.services;
    const dep = (name: string) =>
      Object.fromEntries(Object.entries(s[name]?.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
    expect(dep('temporal-schema')).toEqual({ postgresql: 'service_healthy' });
    expect(dep('temporal')).toEqual({ 'temporal-schema': 'service_completed_successfully' });
    expect(dep('temporal-init')).toEqual({ temporal: 'service_healthy' });
    expect(dep('temporal-ui')).toEqual({ temporal: 'service_healthy' });
    expect(dep('worker')).toEqual({ 'temporal-init': 'service_completed_successfully' });
    expect(dep('cli')).toEqual({ 'temporal-init': 'service_completed_successfully' });
    expect(dep('api')).toEqual({ 'temporal-init': 'service_completed_successfully' });
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker', 'api'])
      expect(s[name]?.healthcheck?.test.length, `${name} has a healthcheck`).toBeGreaterThan(1);
  });

  it('pins the server and UI versions the native cluster test builds', () => {
    const v = versions();
    const bare = (x: string) => x.replace(/^v/, '');
    expect(project.services.temporal?.image).toBe(`temporalio/server:${bare(v.TEMPORAL_SERVER_VERSION)}`);
    expect(project.services['temporal-schema']?.image).toBe(
      `temporalio/admin-tools:${bare(v.TEMPORAL_SERVER_VERSION)}`,
    );
    expect(project.services['temporal-init']?.image).toBe(
      `temporalio/admin-tools:${bare(v.TEMPORAL_SERVER_VERSION)}`,
    );
    expect(project.services['temporal-ui']?.image).toBe(
      `temporalio/ui:${bare(v.TEMPORAL_UI_SERVER_VERSION)}`,
    );
    expect(envExample.TEMPORAL_VERSION).toBe(bare(v.TEMPORAL_SERVER_VERSION));
  });

  it('runs at least two workers built from this repo, sharing one volume with the CLI at the same path', () => {
    const { worker, cli, api } = project.services;
    expect(worker?.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(worker?.build).toBeDefined();
    expect(worker?.command).toEqual(['worker']);
    expect(api?.image).toBe(worker?.image);
    for (const svc of [worker, cli, api, project.services['codec-server']]) {
      const data = svc?.volumes?.find((v) => v.target === '/data');
      expect(data).toMatchObject({ type: 'volume', source: 'durabatch-data' });
      expect(svc?.environment?.DURABATCH_HOME).toMatch(/^\/data\//);
      expect(svc?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(svc?.environment?.TEMPORAL_NAMESPACE).toBe(envExample.TEMPORAL_NAMESPACE);
    }
    expect(Object.keys(project.volumes)).toContain('durabatch-data');
  });

  it('gives a stopping worker longer than its drain grace before SIGKILL', () => {
    const worker = project.services.worker;
    const grace = Number(worker?.environment?.DURABATCH_STOP_GRACE_SECONDS);
    expect(grace).toBeGreaterThan(0);
    expect(seconds(worker?.stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(grace + 10);
    expect(worker?.environment?.DURABATCH_METRICS_ADDRESS).toMatch(/:9464$/);
  });

  it('publishes nothing but the Web UI and the API, and those on 127.0.0.1 only', async () => {
    const published = Object.entries(project.services).flatMap(([name, svc]) =>
      (svc.ports ?? []).map((p) => ({ name, target: p.target, published: p.published, host_ip: p.host_ip })),
    );
    expect(published.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'api', target: 8080, published: envExample.DURABATCH_API_PORT, host_ip: '127.0.0.1' },
      { name: 'temporal-ui', target: 8080, published: envExample.TEMPORAL_UI_PORT, host_ip: '127.0.0.1' },
    ]);
    // Both on the host: they cannot share a port.
    expect(envExample.DURABATCH_API_PORT).not.toBe(envExample.TEMPORAL_UI_PORT);
    // The same with a .env that sets every port variable the file ever read.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'compose-ports-'));
    const env = path.join(dir, '.env');
    await writeFile(
      env,
      'TEMPORAL_PORT=7233\nTEMPORAL_UI_PORT=9090\nDURABATCH_CODEC_PORT=8888\nDURABATCH_API_PORT=9091\n',
    );
    const r = await composeConfig('docker-compose.yml', env, ['--format', 'json']);
    expect(r.code).toBe(0);
    const ports = Object.values((JSON.parse(r.stdout) as Project).services).flatMap((svc) => svc.ports ?? []);
    expect(ports.sort((a, b) => a.published.localeCompare(b.published))).toEqual([
      expect.objectContaining({ target: 8080, published: '9090', host_ip: '127.0.0.1' }),
      expect.objectContaining({ target: 8080, published: '9091', host_ip: '127.0.0.1' }),
    ]);
    await rm(dir, { recursive: true, force: true });
  });

  it("turns the workers' allow-list on: with no .env setting, a worker allows nothing", async () => {
    const environment = project.services.worker?.environment ?? {};
    for (const name of [
      'DURABATCH_ALLOW_COMMANDS',
      'DURABATCH_ALLOW_MODULES',
      'DURABATCH_ALLOW_ORIGINS',
      'DURABATCH_ALLOW_PATHS',
      'DURABATCH_ALLOW_ENV',
    ])
      expect(environment, name).toHaveProperty(name);
    // What `durabatch worker` reads from exactly that environment.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(environment)) env[k] = v ?? undefined;
    const { config } = await loadConfig({ env });
    expect(allowListOf(config.allow)).toEqual(ALLOW_NONE);
    // A value in .env reaches the workers' list.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'compose-allow-'));
    await writeFile(path.join(dir, '.env'), 'DURABATCH_ALLOW_ORIGINS=https://api.example.com\n');
    const r = await composeConfig('docker-compose.yml', path.join(dir, '.env'), ['--format', 'json']);
    const worker = (JSON.parse(r.stdout) as Project).services.worker;
    expect(worker?.environment?.DURABATCH_ALLOW_ORIGINS).toBe('https://api.example.com');
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the API as `serve` on all interfaces with tokens from a secret file, presets from a config file', async () => {
    const api = project.services.api;
    expect(api?.command).toEqual([
      'serve',
      '--host',
      '0.0.0.0',
      '--port',
      '8080',
      '--config',
      '/run/configs/durabatch-service.json',
      '--token-file',
      '/run/secrets/durabatch-api-tokens',
    ]);
    expect(api?.secrets).toEqual([
      { source: 'durabatch-api-tokens', target: '/run/secrets/durabatch-api-tokens' },
    ]);
    expect(api?.configs).toEqual([
      { source: 'durabatch-service', target: '/run/configs/durabatch-service.json' },
    ]);
    // From files beside the compose file, never a literal in it or in the environment.
    expect(project.secrets?.['durabatch-api-tokens']?.file).toBe(path.join(ROOT, 'api-tokens'));
    expect(project.configs?.['durabatch-service']?.file).toBe(path.join(ROOT, 'config', 'service.json'));
    expect(Object.keys(api?.environment ?? {}).filter((k) => /TOKEN/.test(k))).toEqual([]);
    // What `serve` reads from that config file: the template's presets load.
    const { config } = await loadConfig({ file: path.join(ROOT, 'config', 'service.json'), env: {} });
    expect(Object.keys(config.api.presets)).toEqual(['ingest-documents']);
    // ... and pass the checks serve makes before it listens.
    expect([...presetsOf(config.api).values()].map((p) => [p.name, p.origins])).toEqual([
      ['ingest-documents', ['https://docs.example.com']],
    ]);
    expect(config.api.sourceRoots).toEqual(['/data/input']);
  });

  it('the namespace init script creates every search attribute durabatch uses', async () => {
    const script = await readFile(path.join(ROOT, 'scripts/cluster/compose/init-namespace.sh'), 'utf8');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(script).toContain(`${name}:${type}`);
    const r = await exec('sh', ['-n', 'scripts/cluster/compose/init-namespace.sh']);
    expect(r.code).toBe(0);
    expect((await exec('sh', ['-n', 'scripts/cluster/compose/setup-schema.sh'])).code).toBe(0);
  });
});

describe('Dockerfile', () => {
  beforeAll(async () => {
    tools = toolPaths(await installTools('pip'));
  });

  it('passes hadolint', async () => {
    const r = await exec(tools.hadolint, ['--no-color', 'Dockerfile']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('hadolint fails a Dockerfile with a known mistake (so a pass means something)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dockerfile-bad-'));
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM node:latest\nRUN cd /app && npm install\n');
    const r = await exec(tools.hadolint, ['--no-color', path.join(dir, 'Dockerfile')]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/DL3007|DL3003/);
    await rm(dir, { recursive: true, force: true });
  });

  it('copies everything the CLI needs: the image file set runs the CLI and the commands compose runs', async () => {
    const text = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    const copied = [...text.matchAll(/^COPY (\S+(?: \S+)*) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'image-files-'));
    for (const entry of copied) await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
    // node_modules: the image installs production dependencies; the checkout's are a superset.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const help = await exec(process.execPath, ['bin/durabatch.js', '--help'], { cwd: dir, env: cleanEnv });
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/worker/);
    // The commands the compose services run exist, with the flags they pass.
    const worker = await exec(process.execPath, ['bin/durabatch.js', 'worker', '--help'], {
      cwd: dir,
      env: cleanEnv,
    });
    expect(worker.code).toBe(0);
    const codec = await exec(process.execPath, ['bin/durabatch.js', 'codec-server', '--help'], {
      cwd: dir,
      env: cleanEnv,
    });
    expect(codec.code).toBe(0);
    for (const flag of ['--host', '--port', '--cors-origin']) expect(codec.stdout).toContain(flag);
    const serve = await exec(process.execPath, ['bin/durabatch.js', 'serve', '--help'], {
      cwd: dir,
      env: cleanEnv,
    });
    expect(serve.code).toBe(0);
    for (const flag of ['--host', '--port', '--config', '--token-file']) expect(serve.stdout).toContain(flag);
    await rm(dir, { recursive: true, force: true });
  });
});
