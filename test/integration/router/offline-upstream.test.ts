import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

// distribution 2.8 will not start as a proxy when its upstream is unreachable; regcache starts the
// cache offline over the same storage so what was cached keeps pulling, and switches back later.
describe('upstream unreachable when the daemon starts', () => {
  let upstream: UpstreamRegistry | undefined;
  let rc: RunningRegcache | undefined;
  const image = generateImage({ seed: 'offline', layers: [50_000] });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  it('serves cached images offline, then goes back to pulling through when the upstream returns', async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    const config = { registries: { 'docker.io': { upstream: upstream.url } } };
    rc = await startRegcache(config);
    const host = { headers: { host: 'docker.io.registry.test' } };
    const pullAll = async () => {
      const m = await getManifest(rc!.routerUrl, 'library/app', 'v1', undefined, host);
      const blobs = await Promise.all([image.config, ...image.layers].map((b) => getBlob(rc!.routerUrl, 'library/app', b.digest, host)));
      return (
        m.status === 200 &&
        m.digest === image.manifestDigest &&
        blobs.every((b, i) => b.status === 200 && b.body.equals([image.config, ...image.layers][i]!.data))
      );
    };
    expect(await pullAll()).toBe(true);
    // The registry stores what it pulled in the background; once it has, nginx serves the blobs from it.
    await waitFor(
      async () =>
        (await Promise.all([image.config, ...image.layers].map((b) => getBlob(rc!.routerUrl, 'library/app', b.digest, host)))).every(
          (b) => b.headers.get('x-cache-status') === 'HIT',
        ),
      { what: 'the blobs stored by the cache' },
    );

    // Upstream gone; the daemon restarts on the same dataDir.
    const { dir, routerPort, adminPort } = rc;
    await rc.stop({ keepDir: true });
    const upstreamPort = upstream.port;
    await upstream.stop();
    upstream = undefined;
    rc = await startRegcache(config, { dir, ports: { router: routerPort, admin: adminPort }, upstreamProbeMs: 500 });
    // startRegcache rewrote the file with the same content; the cache came up offline.
    const v = (await adminJson(rc, '/api/v1/vhosts/docker.io')).body;
    expect(v.upstreamReachable).toBe(false);
    expect(v.status).toBe('degraded');
    expect(v.backend.state).toBe('running');
    expect(await pullAll()).toBe(true);
    const events = (await adminJson(rc, '/api/v1/events')).body.events;
    expect(JSON.stringify(events)).toContain('cache started');

    // Upstream back on its address: the cache is replaced by a pull-through cache again.
    upstream = await startUpstreamRegistry({ port: upstreamPort });
    await waitFor(async () => ((await adminJson(rc!, '/api/v1/vhosts/docker.io')).body.upstreamReachable === true ? true : undefined), {
      timeoutMs: 10_000,
      what: 'upstream to be seen again',
    });
    await waitFor(
      async () => {
        const ev = (await adminJson(rc!, '/api/v1/events')).body.events as Array<{ message: string; vhost: string }>;
        return ev.some((e) => e.vhost === 'docker.io' && e.message.startsWith('cache replaced')) ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'the offline cache to be replaced' },
    );
    await waitFor(async () => (await pullAll().catch(() => false)) || undefined, { timeoutMs: 10_000, what: 'pulls after switching back' });
    // A new image only the new upstream has proves the cache pulls through again.
    const fresh = generateImage({ seed: 'fresh' });
    await seedUpstream(upstream, [{ repository: 'library/fresh', tag: '1', image: fresh }]);
    // The replaced cache may still be starting (the event comes before it answers): ask until it does.
    await waitFor(
      async () => ((await getManifest(rc!.routerUrl, 'library/fresh', '1', undefined, host)).digest === fresh.manifestDigest ? true : undefined),
      {
        timeoutMs: 15_000,
        what: 'a tag only the returned upstream has',
      },
    );
  });
});
