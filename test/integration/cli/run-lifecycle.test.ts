import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { runCli, spawnCli } from '../../helpers/cli.js';
import { generateImage } from '../../helpers/image.js';
import { fetchBlob, startFaultUpstream } from '../../helpers/fault-upstream.js';
import { getManifest } from '../../helpers/push.js';
import { pidsMatching } from '../../helpers/processes.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('regcache run as a process', () => {
  let dir: string;
  let upstream: UpstreamRegistry;
  const image = generateImage({ seed: 'lifecycle' });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-run-'));
    await chmod(dir, 0o755);
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: '1', image }]);
  });
  afterAll(async () => {
    for (const pid of pidsMatching(dir)) process.kill(pid, 'SIGKILL');
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 1 with the problems when the file is invalid at start', async () => {
    const file = path.join(dir, 'invalid.yaml');
    await writeFile(file, 'domain: x..y\nregistries: {}\n');
    const r = await runCli(['run', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('domain: ');
    expect(r.stderr).toContain('registries: must list at least one registry');
  });

  it('serves, restarts a killed cache, and on SIGTERM stops everything and exits 0 within 10 s', async () => {
    const routerPort = await findFreePort();
    const adminPort = await findFreePort();
    const file = path.join(dir, 'registries.yaml');
    await writeFile(
      file,
      stringify({
        domain: 'registry.test',
        listen: `127.0.0.1:${routerPort}`,
        admin: { listen: `127.0.0.1:${adminPort}` },
        runtime: 'process',
        dataDir: './data',
        registries: { 'docker.io': { upstream: upstream.url } },
      }),
    );
    const { child, output } = spawnCli(['run', '--config', file]);
    const admin = `http://127.0.0.1:${adminPort}`;
    await waitFor(async () => (await fetch(`${admin}/readyz`).catch(() => null))?.status === 200 || undefined, {
      timeoutMs: 20_000,
      what: `readyz; output so far: ${output()}`,
    });
    const pull = async () =>
      (await getManifest(`http://127.0.0.1:${routerPort}`, 'library/app', '1', undefined, { headers: { host: 'docker.io.registry.test' } })).digest;
    expect(await pull()).toBe(image.manifestDigest);

    // kill -9 the cache: the supervisor restarts it and counts the restart.
    const [registryPid] = pidsMatching(path.join(dir, 'data', 'run', 'docker-io', 'config.yml'));
    expect(registryPid).toBeGreaterThan(0);
    process.kill(registryPid!, 'SIGKILL');
    const vhost = await waitFor(
      async () => {
        const v = await (await fetch(`${admin}/api/v1/vhosts/docker.io`)).json();
        return v.backend.restarts === 1 && v.backend.state === 'running' ? v : undefined;
      },
      { timeoutMs: 15_000, what: 'restart to be counted' },
    );
    expect(vhost.backend.restarts).toBe(1);
    await waitFor(async () => (await pull().catch(() => null)) === image.manifestDigest || undefined, {
      timeoutMs: 10_000,
      what: 'pulls to work again',
    });

    // kill -9 nginx's master: it comes back and routes again.
    const [nginxPid] = pidsMatching(`${path.join(dir, 'data', 'nginx')}/ -e`);
    expect(nginxPid).toBeGreaterThan(0);
    process.kill(nginxPid!, 'SIGKILL');
    await waitFor(async () => (await pull().catch(() => null)) === image.manifestDigest || undefined, {
      timeoutMs: 15_000,
      what: 'nginx to come back',
    });
    // The crash is recorded once the supervisor sees the exit (orphaned workers may answer a moment longer).
    await waitFor(
      async () => {
        const events = (await (await fetch(`${admin}/api/v1/events`)).json()).events as Array<{ message: string }>;
        return events.some((e) => /^nginx exited \(SIGKILL\)/.test(e.message)) || undefined;
      },
      { timeoutMs: 10_000, what: 'the nginx crash event' },
    );
    await waitFor(async () => (await pull().catch(() => null)) === image.manifestDigest || undefined, {
      timeoutMs: 15_000,
      what: 'nginx to serve after its restart',
    });

    const started = Date.now();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    // Signals repeated while it stops (Ctrl-C reaches npx and the daemon, and npx forwards it) must not
    // cut the stop short: without handlers Node would exit at once and leave nginx and the caches.
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(pidsMatching(path.join(dir, 'data'))).toEqual([]);
    expect(output()).toContain('already shutting down');
  });

  it('drains on SIGTERM: a blob download under way completes with the right bytes, and the exit is 0 within 10 s', async () => {
    // 2.4 s in all, from an upstream that keeps sending: under the router's drain (4 s) from the first
    // bytes on, far over what nginx's fast shutdown (SIGTERM) would let through.
    const slow = await startFaultUpstream();
    try {
      slow.mode = 'slow';
      slow.slowStepMs = 150;
      const blob = slow.addBlob(2 * 1024 * 1024 + 5);
      const routerPort = await findFreePort();
      const adminPort = await findFreePort();
      const file = path.join(dir, 'drain.yaml');
      await writeFile(
        file,
        stringify({
          domain: 'registry.test',
          listen: `127.0.0.1:${routerPort}`,
          admin: { listen: `127.0.0.1:${adminPort}` },
          runtime: 'process',
          dataDir: './drain-data',
          registries: { 'docker.io': { upstream: slow.url } },
        }),
      );
      const { child, output } = spawnCli(['run', '--config', file]);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 200 || undefined, {
        timeoutMs: 20_000,
        what: `readyz; output so far: ${output()}`,
      });
      let stopped = 0;
      const exit = once(child, 'exit') as Promise<[number | null]>;
      const download = fetchBlob(`http://127.0.0.1:${routerPort}`, 'docker.io.registry.test', 'library/app', blob.digest, () => {
        stopped = Date.now();
        child.kill('SIGTERM');
      });
      const got = await download;
      const [code] = await exit;
      expect(stopped, 'the download started').toBeGreaterThan(0);
      expect({ status: got.status, bytes: got.body.length, error: got.error }).toEqual({ status: 200, bytes: blob.data.length, error: null });
      expect(`sha256:${createHash('sha256').update(got.body).digest('hex')}`).toBe(blob.digest);
      // It took a while after the stop: in flight when the stop began.
      expect(Date.now() - stopped).toBeGreaterThan(1000);
      console.log(`drain: download done ${got.seconds}s, exit ${(Date.now() - stopped) / 1000}s after SIGTERM`);
      expect(code, output()).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(10_000);
      expect(pidsMatching(path.join(dir, 'drain-data'))).toEqual([]);
    } finally {
      await slow.stop();
    }
  }, 60_000);
});
