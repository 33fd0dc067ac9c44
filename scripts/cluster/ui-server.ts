// The Temporal UI server, pointed at the cluster's frontend.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/server/ports';
import type { ClusterTls } from './certificates';
import { startProcess, tail, type Proc } from './processes';

export interface UiServerInput {
  /** The UI server binary. */
  uiServer: string;
  /** The cluster's directory: the UI's config goes in ui-config/, its log in ui-server.log. */
  dir: string;
  /** The frontend's address. */
  address: string;
  /** The codec server the UI's pages call to decode payloads, if any. */
  codecEndpoint?: string;
  tls?: ClusterTls;
  /** The cluster's processes to stop: the UI server is added as soon as it is started. */
  procs: Proc[];
  log: (msg: string) => void;
}

/** Phase 4: starts the UI server on a free port; resolves to its URL once it answers. */
export async function startUiServer(input: UiServerInput): Promise<string> {
  const { uiServer, dir, address, codecEndpoint, tls, procs, log } = input;
  const uiPort = await freePort();
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const uiConfig = {
    temporalGrpcAddress: address,
    host: '127.0.0.1',
    port: uiPort,
    enableUi: true,
    defaultNamespace: 'default',
    cors: { allowOrigins: [uiUrl], cookieInsecure: true },
    refreshInterval: '1m',
    ...(codecEndpoint
      ? { codec: { endpoint: codecEndpoint, passAccessToken: false, includeCredentials: false } }
      : {}),
    ...(tls
      ? {
          tls: {
            caFile: tls.caFile,
            certFile: tls.certFile,
            keyFile: tls.keyFile,
            serverName: tls.serverName,
            enableHostVerification: true,
          },
        }
      : {}),
  };
  await mkdir(path.join(dir, 'ui-config'), { recursive: true });
  await writeFile(path.join(dir, 'ui-config', 'production.yaml'), JSON.stringify(uiConfig, null, 2));
  const uiLog = path.join(dir, 'ui-server.log');
  const ui = startProcess(
    uiServer,
    ['--root', dir, '--config', 'ui-config', '--env', 'production', 'start'],
    uiLog,
    { cwd: dir },
  );
  procs.push(ui);
  for (let i = 0; ; i++) {
    const ok = await fetch(`${uiUrl}/api/v1/settings`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 120 || ui.child.exitCode !== null)
      throw new Error(`the UI server did not start:\n${await tail(uiLog)}`);
    await sleep(500);
  }
  log(`UI server on ${uiUrl}`);
  return uiUrl;
}
