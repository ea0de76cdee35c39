// nginx as the caches' upstream ("egress"), on real components: nginx, the daemon's registry processes,
// local upstream registries (one redirecting blobs to a CDN, one behind TLS) and a CDN nginx.
// Counts what each upstream served; no timing assertions.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerGet as get } from '../../helpers/router-get.js';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';
import { generateImage, type Blob } from '../../helpers/image.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { startStaticNginx, startTlsFront, type StaticNginx } from '../../helpers/static-nginx.js';
import { seedUpstream, startUpstreamRegistry, upstreamDataDir, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { registrySlug } from '../../../src/config/parse.js';

describe('egress: caches fetch their upstreams through nginx', () => {
  const viaCdn = generateImage({ seed: 'egress-cdn', layers: [4 << 20] });
  const plain = generateImage({ seed: 'egress-plain', layers: [300_000] });
  const secure = generateImage({ seed: 'egress-tls', layers: [200_000] });
  const afterCrash = generateImage({ seed: 'egress-after-crash', layers: [100_000] });

  let cdnUpstream: UpstreamRegistry;
  let plainUpstream: UpstreamRegistry;
  let tlsBackend: UpstreamRegistry;
  let cdn: StaticNginx;
  let tlsFront: StaticNginx;
  let rc: RunningRegcache;
  let caFile: string;

  const blobPath = (repo: string, b: Blob) => `/v2/${repo}/blobs/${b.digest}`;
  const storedByCache = async (name: string, digest: string) => {
    const hex = digest.slice('sha256:'.length);
    const data = path.join(rc.dir, 'data', 'caches', registrySlug(name), 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    return stat(data).then(
      (s) => s.size > 0,
      () => false,
    );
  };
  const blobGets = async (upstream: UpstreamRegistry, urlPath: string) =>
    (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path === urlPath);

  beforeAll(async () => {
    // The registry redirects blob GETs to the CDN, which serves the registry's own storage.
    const cdnPort = await findFreePort();
    cdnUpstream = await startUpstreamRegistry({ redirectTo: `http://127.0.0.1:${cdnPort}/` });
    cdn = await startStaticNginx(upstreamDataDir(cdnUpstream.dir), cdnPort);
    plainUpstream = await startUpstreamRegistry();
    tlsBackend = await startUpstreamRegistry();
    await seedUpstream(cdnUpstream, [
      { repository: 'library/cdn', tag: 'v1', image: viaCdn },
      { repository: 'library/later', tag: 'v1', image: afterCrash },
    ]);
    await seedUpstream(plainUpstream, [{ repository: 'library/plain', tag: 'v1', image: plain }]);
    await seedUpstream(tlsBackend, [{ repository: 'library/secure', tag: 'v1', image: secure }]);

    rc = await startRegcache(
      {
        registries: {
          'cdn.example': { upstream: cdnUpstream.url },
          'direct.example': { upstream: plainUpstream.url, egress: false },
          'tls.example': { upstream: 'https://127.0.0.1:1' },
        },
      },
      {
        prepare: async (dir) => {
          const ca = await makeCa(dir, 'upstream');
          caFile = ca.cert;
          const leaf = await makeLeaf(dir, ca, 'upstream-tls', ['127.0.0.1']);
          tlsFront = await startTlsFront(leaf, tlsBackend.url);
        },
      },
    );
    // The TLS front's port is known only now; point tls.example at it and trust its CA for egress.
    await rc.writeConfig({
      registries: {
        'cdn.example': { upstream: cdnUpstream.url },
        'direct.example': { upstream: plainUpstream.url, egress: false },
        'tls.example': { upstream: tlsFront.url.replace(/\/$/, '') },
      },
      egress: { caFile },
    });
    await waitFor(async () => (await get(rc.routerPort, `tls.example.${rc.domain}`, '/v2/')).status === 200, { what: 'tls.example routed' });
  }, 120_000);

  afterAll(async () => {
    await rc?.stop();
    await Promise.all([cdnUpstream, plainUpstream, tlsBackend].map((u) => u?.stop()));
    await Promise.all([cdn, tlsFront].map((n) => n?.stop()));
  });

  it('follows CDN redirects in nginx: the CDN serves a cold blob once to 8 clients, and never sees Authorization', async () => {
    const layer = viaCdn.layers[0]!;
    const url = blobPath('library/cdn', layer);
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(rc.routerPort, `cdn.example.${rc.domain}`, url)));
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body.equals(layer.data)).toBe(true);
    }
    await waitFor(async () => storedByCache('cdn.example', layer.digest), { what: 'the cache to store the blob' });
    const hex = layer.digest.slice('sha256:'.length);
    const fromCdn = (await cdn.requests()).filter((r) => r.method === 'GET' && r.uri.includes(`/${hex}/data`));
    expect(fromCdn.map((r) => r.status)).toEqual([200]);
    expect((await cdn.requests()).some((r) => r.authorization)).toBe(false);
    // The registry itself only answered with redirects, to the cache's two fetches at most.
    const redirects = await blobGets(cdnUpstream, url);
    expect(redirects.length).toBeGreaterThanOrEqual(1);
    expect(redirects.length).toBeLessThanOrEqual(2);
    expect(redirects.every((r) => r.status === 307)).toBe(true);

    // The API and /metrics count what went upstream and what the egress merged.
    await waitFor(
      async () => {
        const v = (await (await fetch(`${rc.adminUrl}/api/v1/vhosts/cdn.example`)).json()) as {
          traffic: { egress: { upstreamRequests: number; mergedFetches: number } };
        };
        return v.traffic.egress.mergedFetches >= 1 && v.traffic.egress.upstreamRequests >= 2 ? true : undefined;
      },
      { what: 'egress counters in the API' },
    );
    const metrics = await (await fetch(`${rc.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^regcache_upstream_fetches_merged_total\{vhost="cdn\.example"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^regcache_upstream_requests_total\{vhost="cdn\.example"\} [1-9]\d*$/m);
  });

  it('brings the egress nginx back after kill -9, and misses pull through it again', async () => {
    const status = async () =>
      ((await (await fetch(`${rc.adminUrl}/api/v1/status`)).json()) as { egressNginx: { running: boolean; pid: number; restarts: number } })
        .egressNginx;
    const before = await status();
    process.kill(before.pid, 'SIGKILL');
    await waitFor(
      async () => {
        const s = await status();
        return s.running && s.restarts > before.restarts && s.pid !== before.pid ? true : undefined;
      },
      // A restart that fails (its killed workers still hold the port) backs off 0.5, 1, 2, 4 s …
      { timeoutMs: 30_000, what: 'the egress nginx restarted' },
    );
    const events = ((await (await fetch(`${rc.adminUrl}/api/v1/events?limit=100`)).json()).events as Array<{ message: string }>).map(
      (e) => e.message,
    );
    expect(events.some((m) => /^egress-nginx exited \(SIGKILL\)/.test(m))).toBe(true);
    // A miss in flight, or the first one on a connection the cache pooled to the killed nginx, may fail
    // (as a 500 from the cache); the next one goes through the restarted egress.
    const layer = afterCrash.layers[0]!;
    const pulled = async () => {
      const r = await get(rc.routerPort, `cdn.example.${rc.domain}`, blobPath('library/later', layer));
      return r.status === 200 && r.body.equals(layer.data) ? true : undefined;
    };
    await waitFor(pulled, { timeoutMs: 10_000, what: 'a miss through the restarted egress nginx' });
  });

  it('egress: false sends a cache straight to its upstream, where distribution 2.8 fetches a miss twice', async () => {
    const registryConfig = await readFile(path.join(rc.dir, 'data', 'run', 'direct-example', 'config.yml'), 'utf8');
    expect(registryConfig).toContain(`remoteurl: ${plainUpstream.url}`);
    const cdnConfig = await readFile(path.join(rc.dir, 'data', 'run', 'cdn-example', 'config.yml'), 'utf8');
    expect(cdnConfig).toMatch(/remoteurl: http:\/\/127\.0\.0\.1:\d+\n/);
    expect(cdnConfig).not.toContain(cdnUpstream.url);

    const api = async (name: string) => (await (await fetch(`${rc.adminUrl}/api/v1/vhosts/${name}`)).json()) as { egress: string | null };
    expect((await api('cdn.example')).egress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await api('direct.example')).egress).toBeNull();
    type EgressStatus = { egressNginx: { running: boolean; generation: number; caches: number } };
    // The crash test before this one restarts the egress nginx; a pass may still be settling its listeners.
    const status = await waitFor(
      async () => {
        const s = (await (await fetch(`${rc.adminUrl}/api/v1/status`)).json()) as EgressStatus;
        return s.egressNginx?.running && s.egressNginx.caches === 2 ? s : undefined;
      },
      { timeoutMs: 15_000, what: 'the egress nginx serving both egress caches' },
    );
    expect(status.egressNginx).toMatchObject({ running: true, caches: 2 });
    expect(status.egressNginx.generation).toBeGreaterThan(0);

    const layer = plain.layers[0]!;
    const url = blobPath('library/plain', layer);
    const r = await get(rc.routerPort, `direct.example.${rc.domain}`, url);
    expect(r.status).toBe(200);
    await waitFor(async () => (await blobGets(plainUpstream, url)).length >= 2, { what: 'both of distribution’s fetches' });
    expect(await blobGets(plainUpstream, url)).toHaveLength(2);
  });

  it('reaches an https upstream with its certificate verified against egress.caFile', async () => {
    const layer = secure.layers[0]!;
    const url = blobPath('library/secure', layer);
    const r = await get(rc.routerPort, `tls.example.${rc.domain}`, url);
    expect(r.status).toBe(200);
    expect(r.body.equals(layer.data)).toBe(true);
    await waitFor(async () => storedByCache('tls.example', layer.digest), { what: 'the cache to store the blob' });
    expect(await blobGets(tlsBackend, url)).toHaveLength(1);
  });

  it('refuses an upstream whose certificate the bundle does not vouch for', async () => {
    // Point the bundle at a CA that did not sign the upstream.
    const otherCa = await makeCa(rc.dir, 'unrelated');
    // The bundle is part of the egress nginx's config only: wait for its next generation.
    const egressReloads = async () =>
      ((await (await fetch(`${rc.adminUrl}/api/v1/events?limit=200`)).json()).events as Array<{ message: string }>).filter((e) =>
        e.message.startsWith('egress nginx serves generation'),
      ).length;
    const servedBefore = await egressReloads();
    await rc.writeConfig({
      registries: {
        'cdn.example': { upstream: cdnUpstream.url },
        'direct.example': { upstream: plainUpstream.url, egress: false },
        'tls.example': { upstream: tlsFront.url.replace(/\/$/, '') },
      },
      egress: { caFile: otherCa.cert },
    });
    const egressLog = path.join(rc.dir, 'data', 'egress-nginx', 'logs', 'access.log');
    const before = (await readFile(egressLog, 'utf8')).length;
    await waitFor(async () => (await egressReloads()) > servedBefore, { what: 'the egress nginx to serve the config with the other bundle' });
    // Ask for digests nobody has: a verified connection would bring the upstream's 404, a refused one a
    // 502. The cache may still hold a keep-alive connection to a worker of the previous config for a
    // moment (nginx applies a new config to new connections), so ask until the new one answers.
    const egressStatuses = async (digest: string) =>
      (await readFile(egressLog, 'utf8'))
        .slice(before)
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { uri: string; status: number })
        .filter((l) => l.uri.includes(digest))
        .map((l) => l.status);
    let attempt = 0;
    await waitFor(
      async () => {
        const digest = `sha256:${String(++attempt).padStart(64, 'e')}`;
        const r = await get(rc.routerPort, `tls.example.${rc.domain}`, `/v2/library/secure/manifests/${digest}`);
        expect(r.status).not.toBe(200);
        // nginx logs a request once it has answered it: give the line a moment.
        for (let i = 0; i < 20 && (await egressStatuses(digest)).length === 0; i++) await new Promise((res) => setTimeout(res, 25));
        return (await egressStatuses(digest)).includes(502) ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'the egress nginx to refuse the upstream (502)' },
    );
  });
});
