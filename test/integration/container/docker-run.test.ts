// The image from the repository's Dockerfile, run the way the README says (`docker run` with a mounted
// registries.yaml and a named volume), with host networking: a real client pulls through it, it stops
// cleanly on `docker stop`, and `docker restart` keeps what it cached.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { detachedRunArgs, docker } from '../../helpers/docker-cli.js';
import { ensureRegcacheImage, imageSize } from './images.js';
import { containerState, createContainerFixture, processUids, REGISTRY, type ContainerFixture } from './fixture.js';

const TOKEN = 'container-test-token-0123456789';

describe('docker run regcache', () => {
  let fx: ContainerFixture;
  let image: string;
  let name: string;
  let volume: string;

  beforeAll(async () => {
    image = await ensureRegcacheImage();
    fx = await createContainerFixture('docker-run', { network: 'host', adminToken: TOKEN });
    name = `regcache-it-${fx.id}`;
    volume = `regcache-it-${fx.id}-data`;
    await docker(
      detachedRunArgs({
        name,
        network: 'host',
        env: { REGCACHE_ADMIN_TOKEN: TOKEN, REGCACHE_ADMIN_URL: `http://127.0.0.1:${fx.adminPort}` },
        volumes: [`${fx.configDir}/registries.yaml:/etc/regcache/registries.yaml:ro`, `${volume}:/var/lib/regcache`],
        image,
      }),
    );
  }, 900_000);

  afterAll(async () => {
    if (name) await docker(['rm', '-f', name]).catch(() => undefined);
    if (volume) await docker(['volume', 'rm', '-f', volume]).catch(() => undefined);
    await fx?.cleanup();
  });

  const logs = async () => {
    const out = await docker(['logs', name]).catch((err: Error) => err.message);
    return out;
  };

  it('reports its size (the goal, ≤ 250 MB, is checked by hand: docs/container.md)', async () => {
    const size = await imageSize(image);
    console.log(`regcache image: ${(size / 1e6).toFixed(1)} MB`);
    expect(size).toBeGreaterThan(0);
  });

  it('serves pulls through the cache: a real client gets the upstream image', async () => {
    await fx.waitReady().catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await logs()}`);
    });
    const digest = await fx.pull();
    expect(digest).toBe(fx.image.manifestDigest);
    // The upstream served each blob once, to the cache.
    const blobs = await fx.upstreamBlobGets();
    expect(blobs.sort()).toEqual([fx.image.config, ...fx.image.layers].map((b) => `/v2/team/app/blobs/${b.digest}`).sort());
  });

  it('runs as the unprivileged regcache user, daemon, nginx and caches alike, under tini', async () => {
    expect((await containerState(name)).user).toBe('regcache');
    const procs = await processUids(name);
    expect(procs.map((p) => p.command)).toEqual(expect.arrayContaining(['tini', 'node', 'nginx', 'docker-registry']));
    expect(
      procs.filter((p) => p.uid !== '10001'),
      JSON.stringify(procs),
    ).toEqual([]);
  });

  it('logs JSON lines to stdout', async () => {
    const lines = (await logs()).split('\n').filter(Boolean);
    const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toContain('regcache is running');
  });

  it('reads overrides from the environment (REGCACHE_ADMIN_TOKEN guards the admin API)', async () => {
    const status = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${fx.adminPort}/api/v1/status`, { headers }).then(async (r) => (await r.arrayBuffer(), r.status));
    expect(await status({})).toBe(401);
    expect(await status({ authorization: `Bearer ${TOKEN}` })).toBe(200);
  });

  it('reports healthy through its HEALTHCHECK on /readyz', async () => {
    await waitFor(async () => (await containerState(name)).health === 'healthy', {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: 'health status healthy',
    });
  });

  it('re-reads its config on SIGHUP (docker kill -s HUP) and keeps running', async () => {
    await docker(['kill', '--signal', 'HUP', name]);
    await waitFor(async () => (await logs()).includes('SIGHUP reload done'), { timeoutMs: 30_000, what: 'the SIGHUP reload in the log' });
    expect((await containerState(name)).running).toBe(true);
    const ready = await fetch(`http://127.0.0.1:${fx.adminPort}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('refuses to start with one clear line when dataDir is not writable (a read-only config mount, no dataDir)', async () => {
    const dir = join(fx.dir, 'no-data-dir');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'registries.yaml'), `domain: regcache.test\nregistries:\n  ${REGISTRY}:\n    upstream: http://127.0.0.1:9\n`);
    const failure = await docker(['run', '--rm', '--network', 'none', '-v', `${dir}:/etc/regcache:ro`, image]).then(
      () => null,
      (err: Error) => err.message,
    );
    expect(failure).toContain('regcache: dataDir /etc/regcache/data is not writable');
    expect(failure).not.toContain('    at ');
  });

  it('stops cleanly on docker stop: SIGTERM reaches the daemon, which stops its children and exits 0', async () => {
    await docker(['stop', '--time', '10', name]);
    const state = await containerState(name);
    expect(state.running).toBe(false);
    // 137 would mean Docker had to SIGKILL it after the 10 s.
    expect(state.exitCode, await logs()).toBe(0);
    expect(await logs()).toContain('shutting down');
  });

  it('keeps its cache across a restart: the second pull makes no upstream blob GET', async () => {
    await docker(['restart', name]);
    await fx.waitReady();
    await fx.forgetUpstreamRequests();
    expect(await fx.pull()).toBe(fx.image.manifestDigest);
    expect(await fx.upstreamBlobGets()).toEqual([]);
  });
});
