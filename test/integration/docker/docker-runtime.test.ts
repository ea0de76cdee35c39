// The Docker runtime against the real engine: registry:2 containers on host networking, loopback ports,
// real nginx routing by vhost, a real upstream registry seeded with generated images.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../../src/daemon.js';
import { waitFor } from '../../helpers/binaries.js';
import { containersForVhost, createDockerTestEnv, inspectContainer, type DockerTestEnv } from '../../helpers/docker-daemon.js';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { registrySlug } from '../../../src/config/parse.js';

interface Vhost {
  name: string;
  status: string;
  backend: { address: string | null; state: string; restarts: number };
  lastError: string | null;
}

const id = randomBytes(3).toString('hex');
const ONE = `one-${id}.dkr`;
const TWO = `two-${id}.dkr`;
const SECRET = `pw-${randomBytes(8).toString('hex')}`;
// distribution 2.8's proxy sends credentials only to a bearer-token realm (Docker Hub style), never to a
// Basic-auth upstream, so the credentials here are checked where they go (container env), not by a pull.
const CREDS = { username: 'puller', password: SECRET };

describe('docker runtime', () => {
  const image = generateImage({ seed: `docker-runtime-${id}`, layers: [2048, 200_000] });
  // Over the smallest cache.maxSize (1m), for the storage bound.
  const big = generateImage({ seed: `docker-runtime-big-${id}`, layers: [3 * 1024 * 1024] });
  let upstream: UpstreamRegistry;
  let env: DockerTestEnv;
  let daemon: Daemon;
  const foreign = `regcache-foreign-${id}`;
  const foreignSameVhost = `not-ours-${id}`;

  const vhosts = async () => (await env.api<{ vhosts: Vhost[] }>('/api/v1/vhosts')).body.vhosts;
  const vhost = async (name: string) => (await vhosts()).find((v) => v.name === name);
  const waitUp = (name: string, timeoutMs = 30_000) => waitFor(async () => (await vhost(name))?.status === 'up', { timeoutMs, what: `${name} up` });
  const pull = async (name: string, repository: string, img = image) => {
    const base = `http://127.0.0.1:${env.nginxPort}`;
    const headers = { host: `${name}.${env.domain}` };
    const m = await getManifest(base, repository, 'v1', undefined, { headers });
    expect(m.status, m.body.toString()).toBe(200);
    expect(m.digest).toBe(img.manifestDigest);
    const b = await getBlob(base, repository, img.layers[img.layers.length - 1]!.digest, { headers });
    expect(b.status).toBe(200);
    expect(b.body.equals(img.layers[img.layers.length - 1]!.data)).toBe(true);
  };
  /**
   * Health probes run every few seconds; a restarted cache is serving once a pull through nginx works.
   * The blob too: the router may answer the manifest from its own cache while the registry is still starting.
   */
  const waitServing = (name: string) =>
    waitFor(
      async () => {
        const base = `http://127.0.0.1:${env.nginxPort}`;
        const headers = { host: `${name}.${env.domain}` };
        if ((await getManifest(base, 'library/app', 'v1', undefined, { headers })).status !== 200) return false;
        return (await getBlob(base, 'library/app', image.layers[image.layers.length - 1]!.digest, { headers })).status === 200;
      },
      { timeoutMs: 30_000, what: `${name} serving through nginx` },
    );
  const reload = async () => {
    const r = await env.api<{ outcome: string; message: string | null }>('/api/v1/reload', { method: 'POST' });
    expect(r.status, r.text).toBe(200);
    return r.body;
  };

  beforeAll(async () => {
    await ensureRegistryImage();
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/app', tag: 'v1', image },
      { repository: 'library/big', tag: 'v1', image: big },
    ]);
    env = await createDockerTestEnv({ domain: 'registry.test' });
    // Containers regcache must never touch: one with a regcache-like name, one claiming a vhost label.
    await docker(['create', '--name', foreign, '--label', 'purpose=foreign', 'registry:2']);
    await docker(['create', '--name', foreignSameVhost, '--label', `io.regcache.vhost=${TWO}`, 'registry:2']);
    await env.writeConfig({
      [ONE]: { upstream: upstream.url },
      [TWO]: { upstream: upstream.url, username: CREDS.username, password: CREDS.password },
    });
    daemon = await env.start();
  });

  afterAll(async () => {
    await env?.cleanup();
    await docker(['rm', '-f', '-v', foreign, foreignSameVhost]).catch(() => undefined);
    await upstream?.stop();
  });

  it('creates one labelled registry:2 container per registry', async () => {
    await waitUp(ONE);
    await waitUp(TWO);
    for (const name of [ONE, TWO]) {
      const c = await inspectContainer(`regcache-${registrySlug(name)}`);
      expect(c, name).not.toBeNull();
      expect(c!.running).toBe(true);
      expect(c!.labels).toMatchObject({ 'io.regcache.managed': 'true', 'io.regcache.vhost': name, 'io.regcache.instance': env.instance });
      expect(c!.labels['io.regcache.spec-hash']).toMatch(/^[0-9a-f]{16}$/);
      expect(c!.restartPolicy).toBe('unless-stopped');
      expect(c!.networkMode).toBe('host');
      expect(c!.mounts).toEqual([
        expect.objectContaining({ Type: 'volume', Name: `regcache-${registrySlug(name)}-data`, Destination: '/var/lib/registry' }),
      ]);
      expect(c!.env).toContain('REGISTRY_STORAGE_DELETE_ENABLED=true');
      expect(c!.env.some((e) => e.startsWith('REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:'))).toBe(true);
      const v = await vhost(name);
      expect(v!.backend.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(c!.env).toContain(`REGISTRY_HTTP_ADDR=${v!.backend.address}`);
    }
    expect((await env.api<{ runtime: string }>('/api/v1/status')).body.runtime).toBe('docker');
  });

  it('pulls through nginx by vhost', async () => {
    await pull(ONE, 'library/app');
    await pull(TWO, 'library/app');
    const upstreamSaw = await upstream.settledRequests();
    expect(upstreamSaw.some((r) => r.path === `/v2/library/app/blobs/${image.layers[1]!.digest}` && r.status === 200)).toBe(true);
  });

  it("measures each cache's disk use and blob hits through its volume", async () => {
    const numbers = async () =>
      (await env.api<{ cache: { diskBytes: number | null; blobs: { hits: number; misses: number } } }>(`/api/v1/vhosts/${ONE}`)).body.cache;
    const layer = image.layers[1]!;
    const stored = await waitFor(async () => ((await numbers()).diskBytes ?? 0) >= layer.size || undefined, {
      timeoutMs: 15_000,
      what: 'disk use of the volume to include the pulled layer',
    });
    expect(stored).toBe(true);
    const before = (await numbers()).blobs;
    await pull(ONE, 'library/app');
    const after = await waitFor(
      async () => {
        const b = (await numbers()).blobs;
        return b.hits > before.hits ? b : undefined;
      },
      { timeoutMs: 15_000, what: 'the second blob pull to count as a hit' },
    );
    expect(after.misses).toBe(before.misses);
  });

  it("purges a digest from the container's volume, and keeps the volume under cache.maxSize", async () => {
    const mountpoint = (await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', `regcache-${registrySlug(ONE)}-data`])).trim();
    const dataFile = (digest: string) => path.join(mountpoint, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
    const layer = image.layers[1]!;
    await pull(ONE, 'library/app');
    await waitFor(async () => existsSync(dataFile(layer.digest)) || undefined, { timeoutMs: 15_000, what: 'the blob stored' });
    const purged = await env.api(`/api/v1/vhosts/${ONE}/cache/${layer.digest}`, { method: 'DELETE' });
    expect(purged.status, purged.text).toBe(200);
    expect(existsSync(dataFile(layer.digest))).toBe(false);
    // The registry has no descriptor cache that still claims the file: the next pull fetches it again.
    await upstream.settledRequests();
    upstream.clearRequests();
    await pull(ONE, 'library/app');
    const refetched = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`));
    expect(refetched.length).toBeGreaterThanOrEqual(1);
    await waitFor(async () => existsSync(dataFile(layer.digest)) || undefined, { timeoutMs: 15_000, what: 'the blob stored again' });

    // cache.maxSize bounds the volume too: a 3 MiB layer under a 1m bound is evicted once stored.
    await env.writeConfig({
      [ONE]: { upstream: upstream.url, cache: { maxSize: '1m' } },
      [TWO]: { upstream: upstream.url, username: CREDS.username, password: CREDS.password },
    });
    expect((await reload()).outcome).toMatch(/applied|unchanged/);
    await waitServing(ONE);
    await pull(ONE, 'library/big', big);
    await waitFor(
      async () => {
        const events = (await env.api<{ events: Array<{ vhost: string | null; message: string }> }>('/api/v1/events?limit=200')).body.events;
        return events.some((e) => e.vhost === ONE && /over cache\.maxSize: evicted/.test(e.message)) || undefined;
      },
      { timeoutMs: 90_000, what: 'an eviction over cache.maxSize' },
    );
    expect(existsSync(dataFile(big.layers[0]!.digest))).toBe(false);
    await env.writeConfig({
      [ONE]: { upstream: upstream.url },
      [TWO]: { upstream: upstream.url, username: CREDS.username, password: CREDS.password },
    });
    await reload();
    await waitServing(ONE);
  }, 150_000);

  it('passes credentials to the container as env, and never shows them in the API or the log', async () => {
    const c = await inspectContainer(`regcache-${registrySlug(TWO)}`);
    expect(c!.env).toContain(`REGISTRY_PROXY_USERNAME=${CREDS.username}`);
    expect(c!.env).toContain(`REGISTRY_PROXY_PASSWORD=${SECRET}`);
    expect(JSON.stringify(c!.labels)).not.toContain(SECRET);
    for (const path of ['/api/v1/vhosts', `/api/v1/vhosts/${TWO}`, '/api/v1/status', '/api/v1/events']) {
      const r = await env.api(path);
      expect(r.status).toBe(200);
      expect(r.text, path).not.toContain(SECRET);
    }
    expect(env.logs.some((l) => l.includes('cache container created'))).toBe(true);
    expect(env.logs.join('\n')).not.toContain(SECRET);
  });

  it('replaces a container whose spec changed, keeping its volume', async () => {
    const before = await inspectContainer(`regcache-${registrySlug(ONE)}`);
    // Same upstream by another URL: a different spec.
    await env.writeConfig({
      [ONE]: { upstream: upstream.url.replace('127.0.0.1', 'localhost') },
      [TWO]: { upstream: upstream.url, username: CREDS.username, password: CREDS.password },
    });
    // The file watcher may have applied it first.
    expect((await reload()).outcome).toMatch(/applied|unchanged/);
    const after = await inspectContainer(`regcache-${registrySlug(ONE)}`);
    expect(after!.id).not.toBe(before!.id);
    expect(after!.labels['io.regcache.spec-hash']).not.toBe(before!.labels['io.regcache.spec-hash']);
    expect(after!.env).toContain(`REGISTRY_PROXY_REMOTEURL=${upstream.url.replace('127.0.0.1', 'localhost')}`);
    expect(await containersForVhost(ONE)).toEqual([`regcache-${registrySlug(ONE)}`]);
    // The cache survived: the blob is served from the kept volume without asking the upstream.
    await upstream.settledRequests();
    upstream.clearRequests();
    await waitUp(ONE);
    const base = `http://127.0.0.1:${env.nginxPort}`;
    const b = await getBlob(base, 'library/app', image.layers[1]!.digest, { headers: { host: `${ONE}.${env.domain}` } });
    expect(b.status).toBe(200);
    expect((await upstream.settledRequests()).filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    // The untouched cache was not recreated.
    expect((await inspectContainer(`regcache-${registrySlug(TWO)}`))!.running).toBe(true);
  });

  it('brings a killed container back and counts the restart', async () => {
    const name = `regcache-${registrySlug(ONE)}`;
    const before = (await vhost(ONE))!.backend.restarts;
    await docker(['kill', name]);
    await waitFor(async () => (await vhost(ONE))!.backend.restarts === before + 1, { timeoutMs: 30_000, what: 'restart counted' });
    await waitServing(ONE);
    await pull(ONE, 'library/app');
    const events = (await env.api<{ events: Array<{ vhost: string | null; message: string }> }>('/api/v1/events')).body.events;
    expect(events.some((e) => e.vhost === ONE && /died/.test(e.message))).toBe(true);
  });

  it('starts a container stopped behind its back (no restart policy applies to docker stop)', async () => {
    const name = `regcache-${registrySlug(ONE)}`;
    const before = await inspectContainer(name);
    const restarts = (await vhost(ONE))!.backend.restarts;
    await docker(['stop', '-t', '1', name]);
    await waitFor(async () => (await vhost(ONE))!.backend.restarts === restarts + 1, { timeoutMs: 30_000, what: 'restart counted' });
    const after = await inspectContainer(name);
    expect(after).toMatchObject({ id: before!.id, running: true });
    await waitServing(ONE);
  });

  it('recreates a container removed behind its back', async () => {
    const name = `regcache-${registrySlug(ONE)}`;
    const before = await inspectContainer(name);
    const restarts = (await vhost(ONE))!.backend.restarts;
    await docker(['rm', '-f', name]);
    const after = await waitFor(
      async () => {
        const c = await inspectContainer(name);
        return c && c.id !== before!.id && c.running ? c : undefined;
      },
      { timeoutMs: 30_000, what: 'container recreated' },
    );
    expect(after.labels['io.regcache.spec-hash']).toBe(before!.labels['io.regcache.spec-hash']);
    await waitFor(async () => (await vhost(ONE))!.backend.restarts === restarts + 1, { timeoutMs: 15_000, what: 'restart counted' });
    await waitServing(ONE);
    expect(await containersForVhost(ONE)).toEqual([name]);
  });

  it('adopts its containers after a daemon restart: no duplicate, no recreate', async () => {
    const ids = await Promise.all(
      [ONE, TWO].map(async (n) => {
        const c = (await inspectContainer(`regcache-${registrySlug(n)}`))!;
        return `${c.id} ${c.startedAt}`;
      }),
    );
    await daemon.stop();
    // Caches keep running while the daemon is away.
    expect((await inspectContainer(`regcache-${registrySlug(ONE)}`))!.running).toBe(true);
    daemon = await env.start();
    await waitUp(ONE);
    await waitUp(TWO);
    const again = await Promise.all(
      [ONE, TWO].map(async (n) => {
        const c = (await inspectContainer(`regcache-${registrySlug(n)}`))!;
        return `${c.id} ${c.startedAt}`;
      }),
    );
    expect(again).toEqual(ids);
    expect(await containersForVhost(ONE)).toEqual([`regcache-${registrySlug(ONE)}`]);
    await pull(ONE, 'library/app');
    await pull(TWO, 'library/app');
  });

  it('removes the container of a dropped registry, keeps its volume, and leaves foreign containers alone', async () => {
    await env.writeConfig({ [ONE]: { upstream: upstream.url.replace('127.0.0.1', 'localhost') } });
    // The file watcher may have applied it first.
    expect((await reload()).outcome).toMatch(/applied|unchanged/);
    expect(await inspectContainer(`regcache-${registrySlug(TWO)}`)).toBeNull();
    expect((await docker(['volume', 'ls', '-q', '--filter', `name=regcache-${registrySlug(TWO)}-data`])).trim()).toBe(
      `regcache-${registrySlug(TWO)}-data`,
    );
    expect((await vhosts()).map((v) => v.name)).toEqual([ONE]);
    // Untouched: still there, still not started.
    expect(await inspectContainer(foreign)).toMatchObject({ running: false, labels: { purpose: 'foreign' } });
    expect(await inspectContainer(foreignSameVhost)).toMatchObject({ running: false });
  });

  it('refuses to take over a foreign container that holds a cache name', async () => {
    const squatter = `regcache-${registrySlug(TWO)}`;
    await docker(['create', '--name', squatter, 'registry:2']);
    try {
      await env.writeConfig({
        [ONE]: { upstream: upstream.url.replace('127.0.0.1', 'localhost') },
        [TWO]: { upstream: upstream.url, username: CREDS.username, password: CREDS.password },
      });
      const r = await env.api<{ outcome: string; message: string }>('/api/v1/reload', { method: 'POST' });
      expect(r.body.outcome).toBe('failed');
      expect(r.body.message).toMatch(/does not manage/);
      expect(await inspectContainer(squatter)).toMatchObject({ running: false, labels: {} });
      // The rest keeps serving.
      await pull(ONE, 'library/app');
    } finally {
      await docker(['rm', '-f', '-v', squatter]);
    }
  });
});
