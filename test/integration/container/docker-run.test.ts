// The image from the repository's Dockerfile, run much as the README says (`docker run` with the config
// mounted, here a directory laid out like a Kubernetes ConfigMap, and a named volume), with host
// networking: a real client pulls through it, SIGHUP applies an updated config, it stops cleanly on
// `docker stop`, and `docker restart` keeps what it cached.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { fetchBlob, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { getManifest } from '../../helpers/push.js';
import { detachedRunArgs, docker } from '../../helpers/docker-cli.js';
import { ensureRegcacheImage, imageSize, REPO_ROOT } from './images.js';
import { containerState, createContainerFixture, processUids, REGISTRY, REPOSITORY, type ContainerFixture } from './fixture.js';

const TOKEN = 'container-test-token-0123456789';
// The goal. Measured on the stand-in bases the tests build (a minbase Debian rootfs plus the
// machine's node binary), which are close to, but not, the official node:20-bookworm-slim and
// debian:bookworm-slim: the official bases may give a somewhat different size.
const SIZE_GOAL_BYTES = 250e6;

describe('docker run regcache', () => {
  let fx: ContainerFixture;
  let image: string;
  let name: string;
  let volume: string;
  // A second registry whose upstream sends slowly: a download under way when `docker stop` comes.
  let slow: FaultUpstream;
  const SLOW = 'slow.test';

  beforeAll(async () => {
    image = await ensureRegcacheImage();
    fx = await createContainerFixture('docker-run', { network: 'host', adminToken: TOKEN });
    slow = await startFaultUpstream();
    const initial = parse(await readFile(join(fx.configDir, 'registries.yaml'), 'utf8'));
    initial.registries[SLOW] = { upstream: slow.url };
    await writeFile(join(fx.configDir, 'registries.yaml'), stringify(initial));
    // The config directory laid out as Kubernetes mounts a ConfigMap: registries.yaml is a link through
    // ..data, and an update swaps ..data for a new directory in one rename (see the SIGHUP test).
    await mkdir(join(fx.configDir, '..v1'));
    await rename(join(fx.configDir, 'registries.yaml'), join(fx.configDir, '..v1', 'registries.yaml'));
    await symlink('..v1', join(fx.configDir, '..data'));
    await symlink('..data/registries.yaml', join(fx.configDir, 'registries.yaml'));
    name = `regcache-it-${fx.id}`;
    volume = `regcache-it-${fx.id}-data`;
    await docker(
      detachedRunArgs({
        name,
        network: 'host',
        env: { REGCACHE_ADMIN_TOKEN: TOKEN, REGCACHE_ADMIN_URL: `http://127.0.0.1:${fx.adminPort}` },
        volumes: [`${fx.configDir}:/etc/regcache:ro`, `${volume}:/var/lib/regcache`],
        image,
      }),
    );
  }, 900_000);

  afterAll(async () => {
    if (name) await docker(['rm', '-f', name]).catch(() => undefined);
    if (volume) await docker(['volume', 'rm', '-f', volume]).catch(() => undefined);
    await fx?.cleanup();
    await slow?.stop();
  });

  const logs = async () => {
    const out = await docker(['logs', name]).catch((err: Error) => err.message);
    return out;
  };

  it('stays within the size goal, ≤ 250 MB (measured on the stand-in bases; written to test/artifacts)', async () => {
    const size = await imageSize(image);
    const line = `regcache image ${image}: ${(size / 1e6).toFixed(1)} MB (goal ≤ ${SIZE_GOAL_BYTES / 1e6} MB; stand-in bases)`;
    console.log(line);
    await writeFile(join(REPO_ROOT, 'test', 'artifacts', 'container-image-size.txt'), `${line}\n`);
    expect(size).toBeGreaterThan(0);
    expect(size, line).toBeLessThanOrEqual(SIZE_GOAL_BYTES);
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

  it('applies an updated config on SIGHUP (docker kill -s HUP): the added registry is served, and it keeps running', async () => {
    const api = async (p: string, method = 'GET') =>
      (await fetch(`http://127.0.0.1:${fx.adminPort}${p}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })).json();
    // A pass now: the 30 s resync, which would also pick the update up, is then far off.
    await api('/api/v1/reload', 'POST');
    // The update as Kubernetes makes it: a new directory, then ..data swapped to it. The daemon's file
    // watcher follows registries.yaml, whose old target is left as it was, so only the signal applies it.
    const config = parse(await readFile(join(fx.configDir, 'registries.yaml'), 'utf8'));
    const added = 'beta.test';
    config.registries[added] = { upstream: config.registries[REGISTRY].upstream };
    await mkdir(join(fx.configDir, '..v2'));
    await writeFile(join(fx.configDir, '..v2', 'registries.yaml'), stringify(config));
    await symlink('..v2', join(fx.configDir, '..data_tmp'));
    await rename(join(fx.configDir, '..data_tmp'), join(fx.configDir, '..data'));
    await docker(['kill', '--signal', 'HUP', name]);

    const vhost = await waitFor(async () => ((await api('/api/v1/vhosts')).vhosts as Array<{ name: string }>).find((v) => v.name === added), {
      timeoutMs: 30_000,
      what: `vhost ${added} in /api/v1/vhosts`,
    });
    expect(vhost.name).toBe(added);
    // The pass that started its cache ran for the signal.
    const events = ((await api('/api/v1/events?limit=200')).events as Array<{ message: string }>).map((e) => e.message);
    expect(events, 'an applied pass for SIGHUP').toEqual(expect.arrayContaining([expect.stringMatching(/^applied \([^)]*SIGHUP[^)]*\): \+1 /)]));
    expect(await logs()).toContain('SIGHUP reload done');
    // And the router serves it: the upstream's manifest through the new vhost.
    const manifest = await getManifest(`http://127.0.0.1:${fx.routerPort}`, REPOSITORY, 'v1', undefined, {
      headers: { host: `${added}.regcache.test` },
    });
    expect(manifest.digest).toBe(fx.image.manifestDigest);
    expect((await containerState(name)).running).toBe(true);
    expect((await fetch(`http://127.0.0.1:${fx.adminPort}/readyz`)).status).toBe(200);
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

  it('drains on docker stop: a blob download under way completes with the right bytes, and the daemon exits 0 within 10 s', async () => {
    await fx.waitReady();
    // 2.4 s from the upstream: within the router's 4 s drain from the first bytes on.
    slow.mode = 'slow';
    slow.slowStepMs = 150;
    const blob = slow.addBlob(2 * 1024 * 1024 + 5);
    let stopping: Promise<unknown> | null = null;
    let stoppedAt = 0;
    const got = await fetchBlob(`http://127.0.0.1:${fx.routerPort}`, `${SLOW}.regcache.test`, 'library/app', blob.digest, () => {
      stoppedAt = Date.now();
      stopping = docker(['stop', '--time', '10', name]);
    });
    expect(stopping, 'docker stop began during the download').not.toBeNull();
    await stopping;
    const stopSeconds = (Date.now() - stoppedAt) / 1000;
    console.log(`docker stop with a download under way: ${stopSeconds.toFixed(1)} s; download ${got.seconds.toFixed(1)} s`);
    expect({ status: got.status, bytes: got.body.length, error: got.error }).toEqual({ status: 200, bytes: blob.data.length, error: null });
    expect(`sha256:${createHash('sha256').update(got.body).digest('hex')}`).toBe(blob.digest);
    const state = await containerState(name);
    expect(state.running).toBe(false);
    // 137 would mean Docker had to SIGKILL it after the 10 s; 1, the daemon's own 9 s forced exit.
    expect(state.exitCode, await logs()).toBe(0);
    expect(stopSeconds).toBeLessThan(10);
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
