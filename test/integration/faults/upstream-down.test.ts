// Issue 11: while an upstream is unreachable, what its cache does not hold is an outage, not a
// missing tag: 503 UNAVAILABLE (clients retry or fall back) instead of 404 MANIFEST_UNKNOWN or a
// 500 with a nested 502. What is cached keeps pulling. Real nginx, registry and upstream registry.
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

describe('upstream down while running', () => {
  let upstream: UpstreamRegistry | undefined;
  let rc: RunningRegcache | undefined;
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  it('uncached tags and blobs get 503 UNAVAILABLE, cached ones still pull, and pulls work again once it is back', async () => {
    const cached = generateImage({ seed: 'down-cached', layers: [30_000] });
    const fresh = generateImage({ seed: 'down-fresh', layers: [40_000] });
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/app', tag: 'v1', image: cached },
      { repository: 'library/app', tag: 'v2', image: fresh },
    ]);
    // The periodic upstream probe stays at its 30 s default: failures in the egress log make the daemon probe at once.
    rc = await startRegcache({ cache: { tagTTL: 0 }, registries: { 'docker.io': { upstream: upstream.url } } });
    const opts = { headers: { host: 'docker.io.registry.test' } };
    const pull = async (image: typeof cached, tag: string) => {
      const m = await getManifest(rc!.routerUrl, 'library/app', tag, undefined, opts);
      const blobs = await Promise.all([image.config, ...image.layers].map((b) => getBlob(rc!.routerUrl, 'library/app', b.digest, opts)));
      return m.status === 200 && blobs.every((b, i) => b.status === 200 && b.body.equals([image.config, ...image.layers][i]!.data));
    };
    expect(await pull(cached, 'v1')).toBe(true);

    const port = upstream.port;
    await upstream.stop();
    upstream = undefined;
    // The first requests fail in the egress (connection refused); that makes the daemon probe the upstream
    // now instead of at its next 30 s probe, and the pass that follows tells the router.
    const tag = await waitFor(
      async () => {
        const r = await getManifest(rc!.routerUrl, 'library/app', 'v2', undefined, opts);
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'an uncached tag to be answered 503 (well before the 30 s probe)' },
    );
    expect((await adminJson(rc, '/api/v1/vhosts/docker.io')).body).toMatchObject({ upstreamReachable: false, status: 'degraded' });
    expect(JSON.parse(tag.body.toString()).errors[0]).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/unreachable/) });
    const blob = await getBlob(rc.routerUrl, 'library/app', fresh.layers[0]!.digest, opts);
    expect(blob.status).toBe(503);
    expect(JSON.parse(blob.body.toString()).errors[0].code).toBe('UNAVAILABLE');
    // A digest the upstream never had is no different while it is down: nobody can tell.
    const unknown = await getBlob(rc.routerUrl, 'library/app', `sha256:${'0'.repeat(64)}`, opts);
    expect(unknown.status).toBe(503);
    expect(await pull(cached, 'v1')).toBe(true);

    upstream = await startUpstreamRegistry({ port });
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v2', image: fresh }]);
    await waitFor(async () => (await pull(fresh, 'v2').catch(() => false)) || undefined, {
      timeoutMs: 30_000,
      what: 'the new image once the upstream is back',
    });
    // And a missing tag is a plain 404 again once the periodic probe (30 s) has seen the upstream back.
    await waitFor(async () => ((await getManifest(rc!.routerUrl, 'library/app', 'nope', undefined, opts)).status === 404 ? true : undefined), {
      timeoutMs: 45_000,
      intervalMs: 500,
      what: 'a missing tag to be 404 again',
    });
    const missing = await getManifest(rc.routerUrl, 'library/app', 'nope', undefined, opts);
    expect(JSON.parse(missing.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
  }, 120_000);
});
