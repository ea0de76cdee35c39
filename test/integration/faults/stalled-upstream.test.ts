// Bounded waits (issue 11): an upstream that stops sending half-way through a blob, or accepts and
// never answers, is abandoned after cache.stallTimeout without progress. Every client waiting on that
// digest gets an error within that bound (a registry JSON error, or a cut body for the one client that
// already had headers), nothing partial is stored, and once the upstream is healthy the same digest
// pulls at once. Real nginx (router and egress) and distribution; the upstream is a small fake.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/binaries.js';
import { fetchBlob, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

const STALL_SECONDS = 3;
const CLIENTS = 4;
// Blob misses are not merged in the router (nothing stored there): each client's fetch waits on the
// egress lock. When the holder stalls out, its failure is marked and every waiter is answered at once
// (nginx/egress.js) instead of trying the upstream in turn. Bound: one stall for distribution's
// unauthenticated ping of the upstream, one for the blob, nginx's 500 ms lock poll per waiter, and a
// loaded machine. (Waiters in turn took (clients + 1) stalls; without any bound: 900 s read timeouts.)
const BOUND_SECONDS = 2 * STALL_SECONDS + CLIENTS * 0.5 + 4;
const HOST = 'docker.io.registry.test';

describe('stalled and hanging upstreams', () => {
  let upstream: FaultUpstream;
  let rc: RunningRegcache;
  beforeAll(async () => {
    upstream = await startFaultUpstream();
    rc = await startRegcache(
      { cache: { stallTimeout: `${STALL_SECONDS}s` }, registries: { 'docker.io': { upstream: upstream.url } } },
      { diskSpace: { checkMs: 1000, cleanupMs: 2000 } },
    );
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  // Cut 200s the clients of the stall tests saw: each must be counted (how many depends on timing).
  let cutSeen = 0;

  for (const mode of ['stall', 'hang'] as const) {
    it(`${mode}: concurrent clients all get an error within the bound, then the healthy upstream serves at once`, async () => {
      const blob = upstream.addBlob(3 * 1024 * 1024 + 17);
      upstream.mode = mode;
      const results = await Promise.all(Array.from({ length: CLIENTS }, () => fetchBlob(rc.routerUrl, HOST, 'library/app', blob.digest)));
      const seen = JSON.stringify(results.map((r) => ({ status: r.status, seconds: r.seconds, bytes: r.body.length, cut: r.cut })));
      for (const r of results) {
        // Never a whole 200: an error status, or the headers of a 200 whose body is cut off.
        expect(r.status === 200 ? r.cut : r.status >= 500, seen).toBe(true);
        expect(r.seconds, seen).toBeLessThan(BOUND_SECONDS);
      }
      if (process.env.REGCACHE_FAULTS_VERBOSE) console.log(mode, seen);
      cutSeen += results.filter((r) => r.status === 200 && r.cut).length;
      // distribution answers a blob miss with its headers before it reads the upstream, so a client sees
      // either a registry JSON error or a cut 200 (which the client rejects and the API counts as failed).
      const errors = results.filter((r) => r.status !== 200);
      for (const r of errors) {
        const body = JSON.parse(r.body.toString()) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors[0]!.code).toBe('UNAVAILABLE');
        expect([502, 503, 504]).toContain(r.status);
      }

      upstream.mode = 'healthy';
      // Attempts already on a stalled connection run out their stallTimeout, and a failure is remembered
      // for 2 s (so every waiter gets it at once); after that, the next request fetches afresh.
      await new Promise((r) => setTimeout(r, STALL_SECONDS * 1000 + 2500));
      const fresh = await fetchBlob(rc.routerUrl, HOST, 'library/app', blob.digest);
      expect(fresh.status).toBe(200);
      expect(sha(fresh.body)).toBe(blob.digest);
      // And from the router's cache afterwards: nothing partial was stored anywhere on the way.
      const again = await fetchBlob(rc.routerUrl, HOST, 'library/app', blob.digest);
      expect(again.status).toBe(200);
      expect(again.body.equals(blob.data)).toBe(true);
    }, 90_000);
  }

  it('a healthy upstream that is slow but keeps sending is not cut, and concurrent clients cause one upstream download', async () => {
    const blob = upstream.addBlob(1024 * 1024);
    upstream.mode = 'slow';
    // 16 s in all, longer than any stall bound (3 s + the router's 10 s margin): the clients waiting on the
    // egress lock get no bytes until the one download completes, and must not be cut meanwhile.
    upstream.slowStepMs = 1000;
    const before = upstream.blobGets(blob.digest);
    const results = await Promise.all([0, 1, 2].map(() => fetchBlob(rc.routerUrl, HOST, 'library/slow', blob.digest)));
    for (const r of results) expect(r.body.equals(blob.data)).toBe(true);
    expect(upstream.blobGets(blob.digest) - before).toBe(1);
  }, 60_000);

  it('the cut-off 200s count as failed requests in the API and metrics', async () => {
    // One more for certain: a client that hangs up once the first bytes of a slow blob arrived.
    const blob = upstream.addBlob(1024 * 1024);
    upstream.mode = 'slow';
    upstream.slowStepMs = 400;
    const http = await import('node:http');
    const hungUp = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${rc.routerUrl}/v2/library/app/blobs/${blob.digest}`, { headers: { host: HOST }, agent: false }, (res) => {
        res.once('data', () => (req.destroy(), resolve(res.statusCode ?? 0)));
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
    });
    expect(hungUp).toBe(200);
    upstream.mode = 'healthy';
    const v = await waitFor(
      async () => {
        const body = (await adminJson(rc, '/api/v1/vhosts/docker.io')).body;
        return body.traffic.cutOff >= cutSeen + 1 ? body : undefined;
      },
      { timeoutMs: 10_000, what: 'cut-off responses to be counted' },
    );
    expect(v.traffic.requests['5xx']).toBeGreaterThanOrEqual(v.traffic.cutOff);
    const metrics = await (await fetch(`${rc.adminUrl}/metrics`)).text();
    expect(Number(/^regcache_responses_cut_off_total\{vhost="docker.io"\} (\d+)/m.exec(metrics)?.[1])).toBe(v.traffic.cutOff);
  });

  it('abandoned partial uploads do not stay in the cache storage', async () => {
    // The stalled fetches above left distribution's uploads behind; the daemon removes idle ones.
    const { readdir } = await import('node:fs/promises');
    const path = await import('node:path');
    const root = path.join(rc.dir, 'data', 'caches', 'docker-io', 'docker', 'registry', 'v2', 'repositories', 'library');
    const uploads = async () =>
      (await Promise.all(['app', 'slow'].map((r) => readdir(path.join(root, r, '_uploads')).catch(() => [])))).flat().length;
    await waitFor(async () => ((await uploads()) === 0 ? true : undefined), { timeoutMs: 30_000, what: 'partial uploads to be removed' });
    const events = (await adminJson(rc, '/api/v1/events?limit=200')).body.events as Array<{ message: string }>;
    expect(events.some((e) => /removed \d+ abandoned partial upload/.test(e.message))).toBe(true);
  }, 40_000);
});
