// Issue 15: `upstream:` as a list of mirrors. The egress nginx sends fetches to the first healthy
// mirror and fails over on no connection, 5xx and 429, skipping a failed mirror for
// egress.mirrorBackoff. Real nginx, registry caches and two real upstream registries; the first
// mirror is a small proxy in front of one of them that can be closed or answer 429/503 on blobs.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../helpers/binaries.js';
import { generateImage, type TestImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

type Mode = 'pass' | 'blobs429' | 'blobs503' | 'hang' | 'redirect';

/**
 * Mirror 1: proxies to a real registry, or answers blob GETs with `mode`'s status, or (redirect) sends
 * them to its own `/__cdn` path with a relative Location, as a registry in front of a CDN may. Closed until started.
 */
function faultyMirror(port: number, target: UpstreamRegistry) {
  let mode: Mode = 'pass';
  const seen: Array<{ path: string; status: number }> = [];
  const server = http.createServer((req, res) => {
    const asked = req.url!;
    const blob = req.method === 'GET' && /^\/v2\/.*\/blobs\/sha256:/.test(req.url ?? '');
    if (blob && mode === 'redirect') {
      seen.push({ path: req.url!, status: 307 });
      res.writeHead(307, { location: `/__cdn${req.url}` });
      res.end();
      return;
    }
    if (blob && mode === 'hang') {
      // Accepts and never answers.
      seen.push({ path: req.url!, status: 0 });
      return;
    }
    if (req.url?.startsWith('/__cdn/')) req.url = req.url.slice('/__cdn'.length);
    if (blob && mode !== 'pass') {
      const status = mode === 'blobs429' ? 429 : 503;
      seen.push({ path: req.url!, status });
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      seen.push({ path: asked, status: r.statusCode ?? 0 });
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return {
    seen,
    setMode: (m: Mode) => (mode = m),
    start: () => new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve())),
    stop: () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
    closeIdle: () => server.closeAllConnections(),
  };
}

describe('upstream mirror lists', () => {
  let first: UpstreamRegistry | undefined;
  let second: UpstreamRegistry | undefined;
  let proxy: ReturnType<typeof faultyMirror> | undefined;
  let rc: RunningRegcache | undefined;
  afterAll(async () => {
    await rc?.stop();
    proxy?.closeIdle();
    await proxy?.stop();
    await first?.stop();
    await second?.stop();
  });

  it('fails over from a closed, 429 and 503 first mirror to the second, counts it per mirror, and uses the first again after its backoff', async () => {
    const images = ['down', 'rate', 'busy', 'back', 'gone', 'hop', 'hang'].map((seed) =>
      generateImage({ seed: `mirrors-${seed}`, layers: [40_000, 25_000] }),
    );
    // The fifth (tag v4) is never pulled while a mirror is up.
    const [down, rate, busy, back, , hop, hang] = images as [TestImage, TestImage, TestImage, TestImage, TestImage, TestImage, TestImage];
    [first, second] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    const seed = images.map((image, i) => ({ repository: 'library/app', tag: `v${i}`, image }));
    await Promise.all([seedUpstream(first, seed), seedUpstream(second, seed)]);
    const port = await findFreePort();
    proxy = faultyMirror(port, first);
    const mirror1 = `http://127.0.0.1:${port}`;
    const mirror2 = second.url;
    // Mirror 1 is closed: nothing listens on its port.
    rc = await startRegcache({
      cache: { tagTTL: 0, stallTimeout: '3s' },
      egress: { mirrorBackoff: '3s' },
      registries: { 'docker.io': { upstream: [mirror1, second.url] } },
    });
    const opts = { headers: { host: 'docker.io.registry.test' } };
    const pull = async (image: TestImage, tag: string) => {
      const m = await getManifest(rc!.routerUrl, 'library/app', tag, undefined, opts);
      expect(m.status, `manifest ${tag}`).toBe(200);
      expect(m.body.equals(image.manifest), `manifest ${tag} bytes`).toBe(true);
      for (const b of [image.config, ...image.layers]) {
        const r = await getBlob(rc!.routerUrl, 'library/app', b.digest, opts);
        expect(r.status, `blob ${b.digest}`).toBe(200);
        expect(r.body.equals(b.data), `blob ${b.digest} bytes`).toBe(true);
      }
    };
    const mirrors = async () => (await adminJson(rc!, '/api/v1/vhosts/docker.io')).body.mirrors as Array<Record<string, any>>;
    const waitUp = () =>
      waitFor(async () => ((await mirrors())[0]!.state === 'up' ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 250,
        what: 'mirror 1 back from its backoff',
      });

    // 1. First mirror down: pulls succeed from the second. The cache's /v2/ ping at start already failed
    // over, before the observer follows the egress log (it does not replay history); once that backoff
    // is over (nginx counts it in whole seconds) the first mirror is tried again, and fails again, counted.
    await sleep(4500);
    await pull(down, 'v0');
    let [m1, m2] = await mirrors();
    expect(m1).toMatchObject({ address: mirror1, failures: expect.any(Number), lastError: expect.stringMatching(/^HTTP 502/) });
    expect(m1!.failures).toBeGreaterThanOrEqual(1);
    expect(m1!.codes['200'] ?? 0).toBe(0);
    expect(m2).toMatchObject({ address: second.url, state: 'up', failures: 0 });
    expect(m2!.codes['200']).toBeGreaterThanOrEqual(3);
    const vhost = (await adminJson(rc, '/api/v1/vhosts/docker.io')).body;
    expect(vhost).toMatchObject({ upstreamReachable: true, status: 'up' });

    // 2. First mirror answers 429 on blobs (manifests pass): blobs come from the second, the 429 counted.
    proxy.setMode('blobs429');
    await proxy.start();
    await waitUp();
    await second.settledRequests();
    second.clearRequests();
    await pull(rate, 'v1');
    expect(proxy.seen.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(1);
    const secondBlobs = (await second.settledRequests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/') && r.status === 200);
    expect(secondBlobs.length).toBeGreaterThanOrEqual(1);
    [m1, m2] = await mirrors();
    expect(m1!.codes['429']).toBeGreaterThanOrEqual(1);
    expect(m1!.lastError).toMatch(/429/);
    const metrics = await (await fetch(`${rc.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`regcache_mirror_requests_total\\{vhost="docker.io",mirror="${mirror1}",code="429"\\} [1-9]`));
    expect(metrics).toMatch(new RegExp(`regcache_mirror_up\\{vhost="docker.io",mirror="${second.url}"\\} 1`));

    // 3. ... and 503 on blobs: the same.
    proxy.setMode('blobs503');
    await waitUp();
    await pull(busy, 'v2');
    expect(proxy.seen.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(1);
    [m1] = await mirrors();
    expect(m1!.codes['503']).toBeGreaterThanOrEqual(1);

    // 3b. ... and silent on blobs: after cache.stallTimeout the fetch goes to the second.
    proxy.setMode('hang');
    await waitUp();
    await pull(hang, 'v6');
    expect(proxy.seen.filter((r) => r.status === 0).length).toBeGreaterThanOrEqual(1);
    [m1] = await mirrors();
    expect(m1!.codes['504']).toBeGreaterThanOrEqual(1);
    proxy.closeIdle();

    // 4. First mirror healthy again: after its backoff it serves again, blobs included.
    proxy.setMode('pass');
    await waitUp();
    const before = (await mirrors())[0]!.codes['200'] ?? 0;
    const passedBefore = proxy.seen.filter((r) => r.status === 200 && r.path.includes('/blobs/')).length;
    await pull(back, 'v3');
    [m1] = await mirrors();
    expect(m1!.codes['200'] - before).toBeGreaterThanOrEqual(3);
    expect(proxy.seen.filter((r) => r.status === 200 && r.path.includes('/blobs/')).length - passedBefore).toBeGreaterThanOrEqual(3);
    expect(m1!.state).toBe('up');

    // 4b. The first mirror redirects blobs with a relative Location: made absolute by its hop and followed
    // (to that mirror, under the same lock), bytes intact.
    proxy.setMode('redirect');
    const redirectsBefore = proxy.seen.filter((r) => r.status === 307).length;
    await pull(hop, 'v5');
    expect(proxy.seen.filter((r) => r.status === 307).length - redirectsBefore).toBeGreaterThanOrEqual(3);
    expect(proxy.seen.filter((r) => r.path.startsWith('/__cdn/')).length).toBeGreaterThanOrEqual(3);
    // The redirect went to the mirror that sent it (its address after " : "), not back through the group.
    const egressLog = (await readFile(path.join(rc.dir, 'data/egress-nginx/logs/access.log'), 'utf8')).split('\n');
    const followed = egressLog.filter((l) => hop.layers.some((b) => l.includes(b.digest)) && l.includes('"method":"GET"') && l.includes('307 : 200'));
    expect(followed.length).toBeGreaterThanOrEqual(1);
    for (const l of followed) expect(JSON.parse(l).upstream_addr).toMatch(new RegExp(` : 127\\.0\\.0\\.1:${port}$`));
    proxy.setMode('pass');

    // 5. Every mirror down: only now is the upstream unreachable, and what is not cached gets 503.
    proxy.closeIdle();
    await proxy.stop();
    await second.stop();
    second = undefined;
    const tag = await waitFor(
      async () => {
        const r = await getManifest(rc!.routerUrl, 'library/app', 'v4', undefined, opts);
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'an uncached tag to be answered 503 once both mirrors are down' },
    );
    expect(JSON.parse(tag.body.toString()).errors[0].code).toBe('UNAVAILABLE');
    expect((await adminJson(rc, '/api/v1/vhosts/docker.io')).body).toMatchObject({
      upstreamReachable: false,
      lastError: expect.stringMatching(/upstream mirrors not reachable: all 2 mirrors unreachable/),
    });
    // What was pulled through either mirror still pulls.
    await pull(back, 'v3');
    await pull(down, 'v0');

    // The status page lists the mirrors.
    const page = await (await fetch(`${rc.adminUrl}/`)).text();
    expect(page).toContain(mirror1);
    expect(page).toContain(mirror2);
  }, 180_000);
});
