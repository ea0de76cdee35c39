import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, requireBinary, waitFor } from '../../helpers/binaries.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

/**
 * A failing step of an apply leaves the previous generation serving as a whole (issue 17.2): the same
 * pull gives the same bytes before and after, lastError names the step, nothing rejected stays on disk.
 */
describe('all-or-nothing apply on real nginx and registry', () => {
  let hub: UpstreamRegistry;
  let other: UpstreamRegistry;
  let rc: RunningRegcache;
  // The same name and tag with other content on each upstream: serving the wrong one is visible.
  const good = generateImage({ seed: 'rollback-hub' });
  const wrong = generateImage({ seed: 'rollback-other' });
  const host = 'docker.io.registry.test';

  const pullBytes = async (base = rc.routerUrl) => {
    const m = await getManifest(base, 'library/app', 'v1', undefined, { headers: { host } });
    if (m.status !== 200) throw new Error(`manifest HTTP ${m.status}`);
    const blobs = [];
    for (const layer of [good, wrong].find((i) => i.manifestDigest === m.digest)?.layers ?? []) {
      const b = await getBlob(base, 'library/app', layer.digest, { headers: { host } });
      if (b.status !== 200) throw new Error(`blob HTTP ${b.status}`);
      blobs.push(b.body);
    }
    return Buffer.concat([m.body, ...blobs]);
  };
  let before: Buffer;
  const expectSameBytes = async () => expect((await pullBytes()).equals(before)).toBe(true);
  const config = (upstream: string, extra: Record<string, unknown> = {}, top: Partial<RegcacheConfigInput> = {}): RegcacheConfigInput => ({
    ...top,
    registries: { 'docker.io': { upstream, ...extra } },
  });
  const reload = () => adminJson(rc, '/api/v1/reload', { method: 'POST' });
  const dataDir = () => path.join(rc.dir, 'data');
  const pidOf = async (file: string) => Number((await readFile(file, 'utf8')).trim());
  const cachePid = () => pidOf(path.join(dataDir(), 'run', 'docker-io', 'registry.pid'));
  const routerPid = () => pidOf(path.join(dataDir(), 'nginx', 'nginx.pid'));
  const egressPid = () => pidOf(path.join(dataDir(), 'egress-nginx', 'nginx.pid'));
  const egressConf = () => readFile(path.join(dataDir(), 'egress-nginx', 'nginx.conf'), 'utf8');
  const routerConf = () => readFile(path.join(dataDir(), 'nginx', 'nginx.conf'), 'utf8');
  const cacheSpec = async () =>
    JSON.parse(await readFile(path.join(dataDir(), 'run', 'docker-io', 'registry.json'), 'utf8')).spec as { upstream: string; specHash: string };
  const cacheUpstream = async () => (await cacheSpec()).upstream;
  const readyz = async () => {
    const res = await fetch(`${rc.adminUrl}/readyz`);
    const body = (await res.json()) as { lastError: string | null };
    // Ready on the last good generation, and saying what failed.
    expect(body.lastError).toMatch(/nginx|apply failed/);
    return res.status;
  };
  /** Back to the good config (and wait until it applied), after a step that was made to fail. */
  const restoreGood = async () => {
    await rc.writeConfig(config(hub.url));
    await waitFor(async () => ((await reload()).status === 200 ? true : undefined), { what: 'the good config to apply again', timeoutMs: 30_000 });
    await expectSameBytes();
  };

  beforeAll(async () => {
    [hub, other] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(hub, [{ repository: 'library/app', tag: 'v1', image: good }]);
    await seedUpstream(other, [{ repository: 'library/app', tag: 'v1', image: wrong }]);
    // A cache whose config carries this user name refuses to start (the real registry otherwise).
    const registry = requireBinary(['registry', 'docker-registry'], 'REGCACHE_REGISTRY_BIN');
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-rollback-'));
    const wrapper = path.join(dir, 'registry-wrapper.sh');
    await writeFile(
      wrapper,
      `#!/bin/sh\nif grep -q 'username: refuse-to-start' "$2"; then echo 'refusing to start (test fault)' >&2; exit 1; fi\nexec ${registry} "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    rc = await startRegcache(config(hub.url), { dir, resyncMs: 1500, env: { REGCACHE_REGISTRY_BIN: wrapper } });
    await waitFor(async () => (await pullBytes()).length > 0, { what: 'first pull', timeoutMs: 20_000 });
    before = await pullBytes();
    expect(before.subarray(0, good.manifest.length).equals(good.manifest)).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await rc?.stop();
    await Promise.all([hub?.stop(), other?.stop()]);
  });

  it('router nginx -t fails (a key that does not match its certificate): nothing changes', async () => {
    const ca = await makeCa(rc.dir, 'mismatch');
    const leaf = await makeLeaf(rc.dir, ca, 'leaf', ['docker.io.registry.test']);
    const cache = await cachePid();
    const egress = await egressConf();
    await rc.writeConfig(config(other.url, {}, { tls: { listen: `127.0.0.1:${await findFreePort()}`, cert: ca.cert, key: leaf.key } }));
    const r = await reload();
    expect(r.body.outcome).toBe('rejected');
    expect(r.body.message).toMatch(/nginx rejected the generated config/);
    expect(await cachePid()).toBe(cache);
    expect(await egressConf()).toBe(egress);
    await expectSameBytes();
    expect(await readyz()).toBe(200);
    await restoreGood();
  }, 60_000);

  it('router listen on a busy port with a new upstream (the issue): nothing changes, the resync retries, a restart loads the last good file', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const cache = await cachePid();
      const egress = await egressConf();
      await rc.writeConfig(config(other.url, {}, { listen: `127.0.0.1:${port}` }));
      const r = await reload();
      expect(r.body.outcome).toBe('failed');
      expect(r.body.message).toContain('router listen');
      expect(r.body.message).toContain('EADDRINUSE');
      const s = (await adminJson(rc, '/api/v1/status')).body;
      expect(s.lastError.message).toContain(`127.0.0.1:${port}`);
      expect(await cachePid()).toBe(cache);
      expect(await egressConf()).toBe(egress);
      expect(await routerConf()).not.toContain(`:${port}`);
      await expectSameBytes();
      expect(await readyz()).toBe(200);

      // The periodic resync tries again (and fails again while the port is taken).
      const failures = async () =>
        ((await adminJson(rc, '/api/v1/events?limit=200')).body.events as Array<{ message: string }>).filter((e) =>
          e.message.includes('apply failed at router listen'),
        ).length;
      const seen = await failures();
      await waitFor(async () => (await failures()) > seen, { what: 'the resync to retry', timeoutMs: 10_000 });

      // kill -9 of nginx: the supervisor starts it on the last good file, not the rejected one.
      const router = await routerPid();
      process.kill(router, 'SIGKILL');
      await waitFor(async () => (await routerPid().catch(() => router)) !== router && (await pullBytes().catch(() => null)) !== null, {
        what: 'nginx back on the last good config',
        timeoutMs: 20_000,
      });
      await expectSameBytes();
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
    await restoreGood();
  }, 90_000);

  it('router reload that never takes (nginx master stopped): the cache and the egress go back to the last good spec', async () => {
    const egress = await egressConf();
    const router = await routerPid();
    process.kill(router, 'SIGSTOP');
    try {
      // A new upstream, and an alias so the router's config changes too.
      await rc.writeConfig(config(other.url, { aliases: ['hub.mirror.test'] }));
      const r = await reload();
      expect(r.body.outcome).toBe('failed');
      expect(r.body.message).toContain('router reload');
      // The file a restarted nginx would load is the last good one.
      expect(await routerConf()).not.toContain('hub.mirror.test');
      expect(await egressConf()).toBe(egress);
      expect(egress).toContain(hub.host);
      expect(egress).not.toContain(other.host);
      await waitFor(async () => (await cacheUpstream()) === hub.url, { what: 'the cache back on its last good spec' });
      // The old workers still serve while the master is stopped.
      await expectSameBytes();
      await rc.writeConfig(config(hub.url));
    } finally {
      process.kill(router, 'SIGCONT');
    }
    await restoreGood();
    expect(await routerPid()).toBe(router);
  }, 90_000);

  it('egress reload that never takes: nothing else changed', async () => {
    const egress = await egressConf();
    const cache = await cachePid();
    const master = await egressPid();
    process.kill(master, 'SIGSTOP');
    try {
      await rc.writeConfig(config(other.url));
      const r = await reload();
      expect(r.body.outcome).toBe('failed');
      expect(r.body.message).toContain('egress reload');
      expect(await egressConf()).toBe(egress);
      expect(await cachePid()).toBe(cache);
      await expectSameBytes();
      await rc.writeConfig(config(hub.url));
    } finally {
      process.kill(master, 'SIGCONT');
    }
    await restoreGood();
  }, 90_000);

  it('a replaced cache that does not start: the last good cache and egress are back', async () => {
    const egress = await egressConf();
    const good = (await cacheSpec()).specHash;
    await rc.writeConfig(config(hub.url, { username: 'refuse-to-start', password: 'x' }));
    const r = await reload();
    expect(r.body.outcome).toBe('failed');
    expect(r.body.message).toContain('cache start');
    expect(await egressConf()).toBe(egress);
    const cacheConfig = await readFile(path.join(dataDir(), 'run', 'docker-io', 'config.yml'), 'utf8');
    expect(cacheConfig).not.toContain('refuse-to-start');
    // The record is rewritten by every start, the refused one's too (same upstream, other credentials):
    // only the last good spec running again brings its hash back.
    await waitFor(async () => ((await cacheSpec().catch(() => null))?.specHash === good ? true : undefined), {
      what: 'the cache back on its last good spec',
    });
    await waitFor(async () => (await pullBytes().catch(() => null))?.equals(before), { what: 'the last good cache to serve', timeoutMs: 20_000 });
    expect(await readyz()).toBe(200);
    // The refused cache's own exits trigger passes too: they must not try the same file again (each
    // try stops the good cache for seconds). One try takes ~4 s here; watch for longer than that.
    const servingPid = await cachePid();
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(await cachePid()).toBe(servingPid);
    expect((await pullBytes()).equals(before)).toBe(true);
    await restoreGood();
  }, 90_000);
});
