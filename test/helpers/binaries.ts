// Locating external programs and small async utilities shared by the fixtures.
// Missing components must make tests FAIL (never skip), so lookups throw.
import { createServer } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findBinary as findProgram } from '../../src/util/find-binary.js';

/** Debian package that provides each binary, for actionable error messages. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  'docker-registry': 'docker-registry',
  registry: 'docker-registry',
  htpasswd: 'apache2-utils',
  skopeo: 'skopeo',
  nginx: 'nginx',
  ctr: 'containerd',
  containerd: 'containerd',
  setpriv: 'util-linux',
  unshare: 'util-linux',
  mount: 'mount',
  dockerd: 'docker.io',
  docker: 'docker.io',
  tar: 'tar',
  mmdebstrap: 'mmdebstrap',
  'docker-compose': 'docker-compose',
};

/**
 * Resolves a name the way the daemon does (src/util/find-binary.ts: PATH, then the sbin
 * directories); a name containing '/' is taken as a path.
 */
export function findBinary(name: string): string | undefined {
  const found = name.includes('/') ? findProgram([], isAbsolute(name) ? name : resolve(name)) : findProgram([name], undefined);
  return found ?? undefined;
}

/**
 * Absolute path of the first of `names` found (see findBinary). When `envVar` is set
 * in the environment its value (a path or a name on PATH) wins. Throws when
 * nothing is found.
 */
export function requireBinary(names: string[], envVar?: string): string {
  if (names.length === 0) throw new Error('requireBinary: no candidate names given');
  const override = envVar ? process.env[envVar] : undefined;
  if (override) {
    const found = findBinary(override);
    if (!found) throw new Error(`${envVar}=${override} is not an executable file`);
    return found;
  }
  for (const name of names) {
    const found = findBinary(name);
    if (found) return found;
  }
  const pkg = names.map((n) => DEBIAN_PACKAGE[n]).find(Boolean);
  const hint = pkg ? ` (install Debian package ${pkg})` : '';
  const alt = names.length > 1 ? ` (tried ${names.join(', ')})` : '';
  const env = envVar ? `; or set ${envVar}` : '';
  throw new Error(`${names[0]} not found on PATH or in the sbin directories${alt}${hint}${env}`);
}

/** A currently free TCP port on `host`. Racy by nature: callers that bind later should retry on EADDRINUSE. */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Describes the awaited condition in the timeout error. */
  what?: string;
}

/**
 * Polls `fn` until it returns a value other than undefined/false. Errors
 * thrown by `fn` count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, opts: WaitForOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${cause}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}
