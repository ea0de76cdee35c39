// Real X.509 material made with the openssl CLI: a CA, and leaf certificates it signs.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { requireBinary } from './binaries.js';

const run = promisify(execFile);

export interface CertFiles {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run(requireBinary(['openssl']), args, { cwd });
}

/** A self-signed CA in dir/<name>-ca.{pem,key}. */
export async function makeCa(dir: string, name = 'test'): Promise<CertFiles> {
  const files = { cert: path.join(dir, `${name}-ca.pem`), key: path.join(dir, `${name}-ca.key`) };
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name} CA`,
      '-keyout',
      files.key,
      '-out',
      files.cert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return files;
}

/** A leaf certificate signed by `ca` for DNS names and IPs (server) or a client name. */
export async function makeLeaf(dir: string, ca: CertFiles, name: string, sans: string[], usage: 'server' | 'client' = 'server'): Promise<CertFiles> {
  const files = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${sans[0] ?? name}`, '-keyout', files.key, '-out', csr], dir);
  const alt = sans.map((s) => (/^[\d.]+$/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
  await writeFile(ext, `${alt ? `subjectAltName=${alt}\n` : ''}extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}\n`);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', files.cert],
    dir,
  );
  return files;
}
