// Issue 17.4 by name: a redirect to a public-looking name that resolves to an internal address must not
// make the egress nginx connect there. nginx's resolver is regcache's DNS filter, which refuses such
// answers unless the name is an upstream's own, is in egress.redirectAllow, or resolves to the class
// of an upstream given by address. Real nginx and distribution, a fake upstream, a fake DNS server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAccessLog } from '../../helpers/access-log.js';
import { waitFor } from '../../helpers/binaries.js';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns.js';
import { fetchBlob, startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

const HOST = 'docker.io.registry.test';
const DNS = '127.0.0.153';

describe('redirects to names that resolve to internal addresses', () => {
  let dns: FakeDns;
  let upstream: FaultUpstream;
  let cdn: FaultUpstream;
  let rc: RunningRegcache;

  beforeAll(async () => {
    dns = await startFakeDns(DNS, { 'metadata.rebind.test': '169.254.169.254', 'cdn.rebind.test': '127.0.0.1' });
    upstream = await startFaultUpstream();
    cdn = await startFaultUpstream();
    rc = await startRegcache({ egress: { resolver: [DNS] }, registries: { 'docker.io': { upstream: upstream.url } } });
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all([upstream?.stop(), cdn?.stop(), dns?.stop()]);
  });

  const egressLines = async (digest: string) =>
    (await readAccessLog(rc.dir, 'egress-nginx')).filter((l) => l.uri.includes(digest) && l.method === 'GET');

  it('a 307 to a name that resolves to a link-local (cloud metadata) address is refused before any connection', async () => {
    const blob = upstream.addBlob(30_000);
    upstream.mode = 'redirect';
    upstream.redirectTo = `http://metadata.rebind.test/latest/meta-data/`;
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/rebind', blob.digest);
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(dns.asked).toContain('metadata.rebind.test');
    // distribution fetches a blob twice; the second fetch may be answered from the first one's failure
    // marker without asking any upstream (upstream_status ""). Every fetch that did ask got the 307.
    const lines = await waitFor(
      async () => {
        const l = await egressLines(blob.digest);
        return l.some((x) => x.upstream_status !== '') ? l : undefined;
      },
      { what: 'the egress access log line of the fetch that asked the upstream' },
    );
    for (const l of lines) expect(l.upstream_addr).not.toContain('169.254');
    for (const l of lines.filter((x) => x.upstream_status !== '')) expect(l.upstream_status).toContain('307');
    const refused = await waitFor(
      async () => {
        const list = (await adminJson(rc, '/api/v1/events?limit=200')).body.events as Array<{ message: string }>;
        return list.some((e) => /egress DNS answer refused: metadata\.rebind\.test resolves to 169\.254\.169\.254/.test(e.message)) || undefined;
      },
      { what: 'the refusal event' },
    );
    expect(refused).toBe(true);
  });

  it("a name that resolves to the upstream's own class (loopback) is followed: the blob arrives from the CDN intact", async () => {
    const blob = upstream.addBlob(20_000);
    const served = cdn.addBlobData(blob);
    upstream.mode = 'redirect';
    upstream.redirectTo = `http://cdn.rebind.test:${new URL(cdn.url).port}/v2/library/cdn/blobs/${served.digest}`;
    const r = await fetchBlob(rc.routerUrl, HOST, 'library/cdn', blob.digest);
    expect(r.status).toBe(200);
    expect(r.body.equals(blob.data)).toBe(true);
    expect(cdn.blobGets(blob.digest)).toBeGreaterThanOrEqual(1);
    expect(dns.asked).toContain('cdn.rebind.test');
  });
});
