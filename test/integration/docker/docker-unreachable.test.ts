// Docker going away and coming back: nginx keeps serving what is up, vhosts say why, regcache catches up.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { createDockerTestEnv, inspectContainer, type DockerTestEnv } from '../../helpers/docker-daemon.js';
import { generateImage } from '../../helpers/image.js';
import { getManifest } from '../../helpers/push.js';
import { docker, ensureRegistryImage } from '../../helpers/registry-image.js';
import { startSocketProxy, type SocketProxy } from '../../helpers/socket-proxy.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { registrySlug } from '../../../src/config/parse.js';

interface Vhost {
  name: string;
  status: string;
  backend: { restarts: number };
  lastError: string | null;
}

const id = randomBytes(3).toString('hex');
const ONE = `one-${id}.unr`;
const TWO = `two-${id}.unr`;

describe('docker runtime when Docker is unreachable', () => {
  const image = generateImage({ seed: `docker-unreachable-${id}`, layers: [1024] });
  let upstream: UpstreamRegistry;
  let env: DockerTestEnv;
  let proxy: SocketProxy;
  let sockDir: string;

  const vhosts = async () => (await env.api<{ vhosts: Vhost[] }>('/api/v1/vhosts')).body.vhosts;
  const vhost = async (name: string) => (await vhosts()).find((v) => v.name === name);
  const pullStatus = async (name: string) =>
    (await getManifest(`http://127.0.0.1:${env.nginxPort}`, 'library/app', 'v1', undefined, { headers: { host: `${name}.${env.domain}` } })).status;

  beforeAll(async () => {
    await ensureRegistryImage();
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    sockDir = await mkdtemp(join(tmpdir(), 'regcache-sock-'));
    proxy = await startSocketProxy(join(sockDir, 'docker.sock'));
    env = await createDockerTestEnv({ domain: 'registry.test', socket: proxy.path });
    await env.writeConfig({ [ONE]: { upstream: upstream.url } });
    await env.start();
    await waitFor(async () => (await vhost(ONE))?.status === 'up', { timeoutMs: 30_000, what: `${ONE} up` });
  });

  afterAll(async () => {
    await proxy?.restore().catch(() => undefined);
    await env?.cleanup();
    await proxy?.close();
    if (sockDir) await rm(sockDir, { recursive: true, force: true });
    await upstream?.stop();
  });

  it('keeps serving, shows the reason, and catches up when Docker returns', async () => {
    await proxy.cut();
    // The running cache keeps serving through nginx.
    expect(await pullStatus(ONE)).toBe(200);
    await waitFor(async () => /Docker unreachable/.test((await vhost(ONE))?.lastError ?? ''), { timeoutMs: 15_000, what: 'lastError names Docker' });

    // A new registry cannot be started now: the pass fails, the last good config keeps serving.
    await env.writeConfig({ [ONE]: { upstream: upstream.url }, [TWO]: { upstream: upstream.url } });
    const r = await env.api<{ outcome: string; message: string }>('/api/v1/reload', { method: 'POST' });
    expect(r.body.outcome).toBe('failed');
    expect(r.body.message).toMatch(/ENOENT|ECONNREFUSED|connect/);
    expect(await inspectContainer(`regcache-${registrySlug(TWO)}`)).toBeNull();
    expect(await pullStatus(ONE)).toBe(200);
    const status = (await env.api<{ lastReload: unknown; nginx: { lastReload: { result: string } } }>('/api/v1/status')).body;
    expect(status.nginx.lastReload.result).toBe('failed');

    // Docker back: regcache reconnects with backoff and applies what it could not.
    await proxy.restore();
    await waitFor(async () => (await inspectContainer(`regcache-${registrySlug(TWO)}`))?.running === true, {
      timeoutMs: 60_000,
      what: `${TWO} created after Docker returned`,
    });
    await waitFor(async () => (await pullStatus(TWO)) === 200, { timeoutMs: 30_000, what: `${TWO} serving` });
    await waitFor(async () => (await vhost(ONE))?.lastError === null, { timeoutMs: 15_000, what: `${ONE} lastError cleared` });
    const events = (await env.api<{ events: Array<{ message: string }> }>('/api/v1/events')).body.events;
    expect(events.some((e) => /Docker unreachable/.test(e.message))).toBe(true);
    expect(events.some((e) => /Docker reachable again/.test(e.message))).toBe(true);
    // Nothing duplicated on the way.
    expect(
      (await docker(['ps', '-a', '--filter', `label=io.regcache.instance=${env.instance}`, '--format', '{{.Names}}']))
        .split('\n')
        .filter(Boolean)
        .sort(),
    ).toEqual([`regcache-${registrySlug(ONE)}`, `regcache-${registrySlug(TWO)}`].sort());
  });
});
