// Certificates for the cluster's mutual TLS, made with openssl.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './processes';

export interface ClusterTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
  /** A second CA and a client certificate it signed: one the server must refuse. */
  strangerCertFile: string;
  strangerKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

/** A CA, a server certificate (localhost, 127.0.0.1) and client certificates; also used by tests. */
export async function makeCertificates(dir: string): Promise<ClusterTls> {
  await mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  const ca = async (name: string) =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
    ]);
  const leaf = async (name: string, caName: string, cn: string, ext: string) => {
    await writeFile(f(`${name}.ext`), ext);
    await openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${caName}.pem`),
      '-CAkey',
      f(`${caName}.key`),
      '-CAcreateserial',
      '-days',
      '3',
      '-out',
      f(`${name}.pem`),
      '-extfile',
      f(`${name}.ext`),
    ]);
  };
  await ca('ca');
  await ca('stranger-ca');
  // The server's certificate also serves as the system worker's client certificate.
  await leaf(
    'server',
    'ca',
    'localhost',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await leaf('client', 'ca', 'durabatch-client', 'extendedKeyUsage=clientAuth\n');
  await leaf('stranger', 'stranger-ca', 'durabatch-client', 'extendedKeyUsage=clientAuth\n');
  return {
    caFile: f('ca.pem'),
    certFile: f('client.pem'),
    keyFile: f('client.key'),
    serverName: 'localhost',
    strangerCertFile: f('stranger.pem'),
    strangerKeyFile: f('stranger.key'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
  };
}
