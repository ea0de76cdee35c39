// A start that fails late (the admin port is taken) must not leave nginx, caches or the egress nginx behind.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { startRegcache } from '../../helpers/regcache.js';
import { startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('a start that fails after the first pass', () => {
  let upstream: UpstreamRegistry | undefined;
  let dir: string | undefined;
  const blocker = createServer();
  afterAll(async () => {
    await upstream?.stop();
    await new Promise((r) => blocker.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('admin port taken: fails naming admin.listen and stops everything it started', async () => {
    upstream = await startUpstreamRegistry();
    const adminPort = await findFreePort();
    await new Promise<void>((resolve) => blocker.listen(adminPort, '127.0.0.1', resolve));
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-admin-taken-'));
    const started = startRegcache(
      { registries: { 'docker.io': { upstream: upstream.url } } },
      { dir, ports: { router: await findFreePort(), admin: adminPort } },
    );
    await expect(started).rejects.toThrow(/admin\.listen 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    const ours = async () => (await promisify(execFile)('ps', ['-eo', 'pid,args'])).stdout.split('\n').filter((l) => l.includes(dir!));
    await waitFor(async () => ((await ours()).length === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'no process of the failed start left',
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await ours()).join('\n')}`);
    });
  });
});
