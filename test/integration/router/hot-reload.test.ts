import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { generateImage } from '../../helpers/image.js';
import { startLoadLoop } from '../../helpers/load-loop.js';
import { getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, waitSettled, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

/** Pulls a manifest through a vhost in a loop from 3 clients, counting failures, until stopped. */
function startLoad(rc: RunningRegcache, host: string, repository: string, tag: string, digest: string) {
  return startLoadLoop(async () => {
    const m = await getManifest(rc.routerUrl, repository, tag, undefined, { headers: { host } });
    if (m.status !== 200 || m.digest !== digest) throw new Error(`HTTP ${m.status} ${m.body.toString().slice(0, 120)}`);
  });
}

describe('hot reload while requests run', () => {
  let hub: UpstreamRegistry;
  let quay: UpstreamRegistry;
  let rc: RunningRegcache;
  const stable = generateImage({ seed: 'stable' });
  const added = generateImage({ seed: 'added' });

  beforeAll(async () => {
    [hub, quay] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(hub, [{ repository: 'library/stable', tag: 'v1', image: stable }]);
    await seedUpstream(quay, [{ repository: 'team/added', tag: 'v1', image: added }]);
    rc = await startRegcache({ registries: { 'docker.io': { upstream: hub.url } } });
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all([hub?.stop(), quay?.stop()]);
  });

  const addedRoutes = async () =>
    (await getManifest(rc.routerUrl, 'team/added', 'v1', undefined, { headers: { host: 'quay.io.registry.test' } })).status === 200;

  it('adds, rejects, fixes and removes registries with zero failed requests on the stable vhost', async () => {
    const load = startLoad(rc, 'docker.io.registry.test', 'library/stable', 'v1', stable.manifestDigest);
    const both = { registries: { 'docker.io': { upstream: hub.url }, 'quay.io': { upstream: quay.url } } };

    // Add: the new vhost routes within 5 s.
    let t0 = Date.now();
    await rc.writeConfig(both);
    await waitFor(async () => (await addedRoutes()) || undefined, { timeoutMs: 5000, what: 'quay.io vhost to route' });
    const addMs = Date.now() - t0;

    // Break: the old config keeps serving and the error is visible.
    await waitSettled(rc);
    const generationBefore = (await adminJson(rc, '/api/v1/status')).body.generation;
    await rc.writeConfig('domain: registry.test\nregistries:\n  quay.io:\n    upstream: "not a url"\n');
    const rejected = await waitFor(
      async () => {
        const s = (await adminJson(rc, '/api/v1/status')).body;
        return s.lastError ? s : undefined;
      },
      { timeoutMs: 5000, what: 'lastError to show the rejected file' },
    );
    expect(rejected.lastError.problems).toEqual([expect.objectContaining({ path: 'registries.quay.io.upstream' })]);
    expect(rejected.generation).toBe(generationBefore);
    expect(await addedRoutes()).toBe(true);

    // Fix: the next good file applies and clears the error.
    await rc.writeConfig({
      registries: { 'docker.io': { upstream: hub.url }, 'quay.io': { upstream: quay.url }, 'ghcr.io': { upstream: quay.url } },
    });
    await waitFor(async () => ((await adminJson(rc, '/api/v1/status')).body.lastError === null ? true : undefined), {
      timeoutMs: 5000,
      what: 'lastError to clear',
    });

    // Remove: the vhost stops routing (404 NAME_UNKNOWN), its cache stops.
    t0 = Date.now();
    await rc.writeConfig({ registries: { 'docker.io': { upstream: hub.url } } });
    await waitFor(async () => (!(await addedRoutes()) ? true : undefined), { timeoutMs: 5000, what: 'quay.io vhost to stop routing' });
    const removeMs = Date.now() - t0;
    // The pass finishes by stopping the removed caches; then the API lists only what remains.
    await waitFor(
      async () => {
        const names = (await adminJson(rc, '/api/v1/vhosts')).body.vhosts.map((v: { name: string }) => v.name);
        return names.join() === 'docker.io' ? true : undefined;
      },
      { timeoutMs: 5000, what: 'the API to list only docker.io' },
    );

    const { ok, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(addMs).toBeLessThan(5000);
    expect(removeMs).toBeLessThan(5000);
  });

  it('restarts only the registry whose upstream changed', async () => {
    await rc.writeConfig({ registries: { 'docker.io': { upstream: hub.url }, 'quay.io': { upstream: quay.url } } });
    await waitFor(async () => (await addedRoutes()) || undefined, { timeoutMs: 5000, what: 'quay.io to route' });
    const before = (await adminJson(rc, '/api/v1/vhosts')).body.vhosts;
    await rc.writeConfig({ registries: { 'docker.io': { upstream: hub.url }, 'quay.io': { upstream: hub.url } } });
    await waitFor(
      async () => {
        const vs = (await adminJson(rc, '/api/v1/vhosts')).body.vhosts;
        return vs.find((v: { name: string; upstream: string }) => v.name === 'quay.io' && v.upstream === hub.url) ? true : undefined;
      },
      { timeoutMs: 5000, what: 'quay.io upstream change to apply' },
    );
    const events = (await adminJson(rc, '/api/v1/events?limit=50')).body.events as Array<{ vhost: string | null; message: string }>;
    const replaced = events.filter((e) => e.message.startsWith('cache replaced')).map((e) => e.vhost);
    expect(replaced).toContain('quay.io');
    expect(replaced).not.toContain('docker.io');
    const after = (await adminJson(rc, '/api/v1/vhosts')).body.vhosts;
    expect(after.find((v: { name: string }) => v.name === 'docker.io').backend).toEqual(
      before.find((v: { name: string }) => v.name === 'docker.io').backend,
    );
    // The same digest now comes from the hub upstream through the quay.io vhost.
    const m = await getManifest(rc.routerUrl, 'library/stable', 'v1', undefined, { headers: { host: 'quay.io.registry.test' } });
    expect(m.digest).toBe(stable.manifestDigest);
  });

  it('takes in-place saves (truncate, then write) without ever reading half a file', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { stringify } = await import('yaml');
    const before = (await adminJson(rc, '/api/v1/events?limit=1000')).body.events.length;
    for (let i = 0; i < 10; i++) {
      const aliases = [`inplace-${i}.mirror.test`];
      await writeFile(rc.configFile, stringify(rc.configFor({ registries: { 'docker.io': { upstream: hub.url, aliases } } })));
      await waitFor(
        async () =>
          (await getManifest(rc.routerUrl, 'library/stable', 'v1', undefined, { headers: { host: aliases[0]! } })).status === 200 ? true : undefined,
        { timeoutMs: 5000, what: `alias ${aliases[0]} to route` },
      );
    }
    const events = (await adminJson(rc, '/api/v1/events?limit=1000')).body.events as Array<{ kind: string; message: string }>;
    expect(events.length).toBeGreaterThan(before);
    expect(events.filter((e) => e.kind === 'config' && e.message.startsWith('config rejected')).length).toBe(
      // the one deliberate rejection from the first test is all there is
      1,
    );
  });

  it('does not reload nginx when the file changes but the rendering does not', async () => {
    // Passes run one at a time: this one waits for any still running from the test before.
    await adminJson(rc, '/api/v1/reload', { method: 'POST' });
    const { generation } = (await adminJson(rc, '/api/v1/status')).body;
    const text = (await import('node:fs/promises')).readFile(rc.configFile, 'utf8');
    await rc.writeConfig(`# a comment changes the bytes, not the meaning\n${await text}`);
    const result = await adminJson(rc, '/api/v1/reload', { method: 'POST' });
    expect(result.status).toBe(200);
    expect(result.body.outcome).toBe('unchanged');
    expect((await adminJson(rc, '/api/v1/status')).body.generation).toBe(generation);
  });
});
