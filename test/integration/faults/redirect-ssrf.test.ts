// Issue 17.4: an upstream that redirects a blob GET to an internal address must not make regcache
// fetch it. The egress nginx follows redirects only to public hosts, to hosts of the upstream's own
// class (here: a loopback registry with a loopback CDN), or to egress.redirectAllow; never to
// regcache's own listeners (the admin API) and never to link-local (cloud metadata) addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAccessLog } from '../../helpers/access-log.js';
import { waitFor } from '../../helpers/binaries.js';
import { fetchBlob, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

const HOST = 'docker.io.registry.test';

describe('redirects from an upstream', () => {
  let upstream: FaultUpstream;
  let cdn: FaultUpstream;
  let rc: RunningRegcache;
  beforeAll(async () => {
    upstream = await startFaultUpstream();
    cdn = await startFaultUpstream();
    rc = await startRegcache({ registries: { 'docker.io': { upstream: upstream.url }, 'quay.io': { upstream: upstream.url, egress: false } } });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
    await cdn?.stop();
  });

  const egressLines = async (digest: string) =>
    (await readAccessLog(rc.dir, 'egress-nginx')).filter((l) => l.uri.includes(digest) && l.method === 'GET');

  it('a 307 to the admin API on 127.0.0.1 gets the client an error, never the admin API content', async () => {
    const blob = upstream.addBlob(40_000);
    upstream.mode = 'redirect';
    upstream.redirectTo = `http://127.0.0.1:${rc.adminPort}/api/v1/status`;
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/app', blob.digest);
    expect(r.status).toBeGreaterThanOrEqual(500);
    const text = r.body.toString();
    expect(text).not.toMatch(/generation|vhosts|egressNginx/);
    expect(JSON.parse(text).errors[0].code).toBe('UNAVAILABLE');
    // Refused by the egress itself: it asked the upstream and never the admin port.
    const lines = await waitFor(
      async () => {
        const l = await egressLines(blob.digest);
        return l.length > 0 ? l : undefined;
      },
      { what: 'the egress access log line' },
    );
    for (const l of lines) {
      expect(l.upstream_addr).not.toContain(`:${rc.adminPort}`);
      expect(l.status).toBe(502);
    }
  });

  it('a 307 to a link-local (cloud metadata) address is refused', async () => {
    const blob = upstream.addBlob(30_000);
    upstream.mode = 'redirect';
    upstream.redirectTo = 'http://169.254.169.254/latest/meta-data/';
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/meta', blob.digest);
    expect(r.status).toBeGreaterThanOrEqual(500);
    // The egress logs the fetch once it ends: the upstream's 307, then the refusal, no connection to 169.254.
    const lines = await waitFor(
      async () => {
        const l = await egressLines(blob.digest);
        return l.length > 0 ? l : undefined;
      },
      { what: 'the egress access log line' },
    );
    for (const l of lines) {
      expect(l.upstream_addr).not.toContain('169.254');
      expect(l.upstream_status).toContain('307');
      expect(l.status).toBe(502);
    }
  });

  it('a cache with egress: false (whose redirects nothing checks) is named in a config warning', async () => {
    const { body } = await adminJson(rc, '/api/v1/events?limit=200');
    const warnings = (body.events as Array<{ kind: string; level: string; message: string }>).filter(
      (e) => e.kind === 'config' && e.level === 'warn',
    );
    expect(warnings.map((e) => e.message)).toEqual([
      expect.stringMatching(/^registries\.quay\.io\.egress: quay\.io fetches from its upstream directly: distribution follows any redirect/),
    ]);
  });

  it('a 307 to a malformed location (userinfo trick) is refused', async () => {
    const blob = upstream.addBlob(20_000);
    upstream.mode = 'redirect';
    upstream.redirectTo = `http://cdn.example@127.0.0.1:${rc.adminPort}/api/v1/status`;
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/trick', blob.digest);
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.body.toString()).not.toMatch(/generation|vhosts/);
  });

  it("a 307 to a CDN of the upstream's own class (loopback) is followed: the blob arrives intact", async () => {
    const blob = upstream.addBlob(50_000);
    const served = cdn.addBlobData(blob);
    upstream.mode = 'redirect';
    upstream.redirectTo = `${cdn.url}/v2/library/cdn/blobs/${served.digest}`;
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/cdn', blob.digest);
    expect(r.status).toBe(200);
    expect(r.body.equals(blob.data)).toBe(true);
    expect(cdn.blobGets(blob.digest)).toBeGreaterThanOrEqual(1);
  });
});
