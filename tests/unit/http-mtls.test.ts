// Mutual TLS to the target: a local HTTPS target that requires a client certificate signed by its CA
// accepts the http processor with the certificate, and refuses it without one or with a stranger's.
import { mkdtemp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../../activities/processors/http';
import { resolveBatchConfig } from '../../src/cli/batch-options';
import { stepsFromConfig } from '../../src/client/steps';
import type { HttpProcessorSpec } from '../../workflows/types';
import { makeCertificates, type ClusterTls } from '../../scripts/cluster/native-cluster';
import { processorContext } from '../helpers/processor-context';
import { rejection } from '../helpers/rejection';

let certs: ClusterTls;
let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  certs = await makeCertificates(await mkdtemp(path.join(os.tmpdir(), 'mtls-')));
  server = createServer(
    {
      cert: readFileSync(certs.serverCertFile),
      key: readFileSync(certs.serverKeyFile),
      ca: readFileSync(certs.caFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      seen.push(String((req.socket as TLSSocket).getPeerCertificate().subject.CN));
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function call(tls: HttpProcessorSpec['tls'], key = 'K1', env: NodeJS.ProcessEnv = {}) {
  // A distinct connection limit per call: each gets its own agent (and TLS session).
  const spec: HttpProcessorSpec = {
    type: 'http',
    url: `${base}/items`,
    method: 'POST',
    headers: {},
    timeoutMs: 5_000,
    connections: 1 + seen.length + Math.floor(Math.random() * 1000),
    tls,
  };
  return runHttp(spec, processorContext({ key, env }));
}

describe('mutual TLS to the target', () => {
  it('is accepted with the client certificate and the CA', async () => {
    const out = await call({ cert: certs.certFile, key: certs.keyFile, ca: certs.caFile });
    expect(out.httpStatus).toBe(201);
    expect(seen).toEqual(['durabatch-client']);
  });

  it('is refused without a client certificate, and with one from another CA', async () => {
    const before = seen.length;
    const none = await rejection(call({ ca: certs.caFile }), ApplicationFailure);
    expect(none.type).toBe('TransientTargetError');
    const stranger = await rejection(
      call({ cert: certs.strangerCertFile, key: certs.strangerKeyFile, ca: certs.caFile }),
      ApplicationFailure,
    );
    expect(stranger.type).toBe('TransientTargetError');
    expect(seen.length).toBe(before); // no request reached the target
  });

  it('a certificate file the worker cannot read fails without retry, naming it', async () => {
    const err = await rejection(
      call({ cert: '/nowhere/client.pem', key: certs.keyFile, ca: certs.caFile }),
      ApplicationFailure,
    );
    expect(err.type).toBe('InputError');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('cannot read http.clientCert /nowhere/client.pem on this worker');
  });

  it('settings: flags make absolute paths; a certificate without its key, or a literal passphrase, is refused', async () => {
    const config = await resolveBatchConfig({
      url: `${base}/items`,
      clientCert: 'certs/client.pem',
      clientKey: 'certs/client.key',
      clientKeyPassphrase: '${env:CLIENT_KEY_PASS}',
      targetCa: 'certs/ca.pem',
    });
    expect(stepsFromConfig(config)[0]!.processor).toMatchObject({
      tls: {
        cert: path.resolve('certs/client.pem'),
        key: path.resolve('certs/client.key'),
        ca: path.resolve('certs/ca.pem'),
        passphrase: '${env:CLIENT_KEY_PASS}',
      },
    });
    const alone = await resolveBatchConfig({ url: `${base}/items`, clientCert: 'c.pem' });
    expect(() => stepsFromConfig(alone)).toThrow(/clientCert is set without clientKey.*--client-key FILE/s);
    await expect(
      resolveBatchConfig({
        url: `${base}/items`,
        clientCert: 'c',
        clientKey: 'k',
        clientKeyPassphrase: 'hunter2',
      }),
    ).rejects.toThrow(/--client-key-passphrase.*must be \$\{env:NAME\}/s);
  });
});
