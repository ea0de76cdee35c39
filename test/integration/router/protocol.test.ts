// Protocol details: for the same request the router answers what the upstream registry answers (status,
// media type, digest, length, ETag), whatever nginx holds in its cache; and what nginx answers itself is a
// registry JSON error, never HTML.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImage, MediaTypes } from '../../helpers/image.js';
import { rawRequest, type RawResponse } from '../../helpers/push.js';
import { rawExchange } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/binaries.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const HOST = 'ghcr.io.registry.test';
const REPO = 'org/proto';

describe('router protocol answers equal the upstream', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  // An OCI manifest: distribution answers 404 to a by-digest GET whose Accept rules OCI out.
  const image = generateImage({ seed: 'protocol', layers: [300_000, 5000], mediaType: 'oci' });
  const [bigLayer, smallLayer] = image.layers as [(typeof image.layers)[0], (typeof image.layers)[0]];

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: REPO, tag: 'v1', image }]);
    rc = await startRegcache({ registries: { 'ghcr.io': { upstream: upstream.url } } });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  const both = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const direct = await rawRequest(`${upstream.url}${path}`, method, headers);
    const routed = await rawRequest(`${rc.routerUrl}${path}`, method, { ...headers, host: HOST });
    return { direct, routed };
  };
  const essentials = (r: RawResponse) => ({
    status: r.status,
    mediaType: r.headers.get('content-type')?.split(';')[0] ?? null,
    digest: r.headers.get('docker-content-digest'),
    length: r.headers.get('content-length'),
    body: r.body.toString('base64'),
  });
  // An error's body is registry JSON either way, but the router writes its own (it decides between
  // "unknown" and "upstream unreachable"): compare the fields clients act on, and the error code.
  const errorCode = (r: RawResponse) =>
    r.status >= 400 ? (JSON.parse(r.body.toString()) as { errors: Array<{ code: string }> }).errors[0]!.code : null;
  const comparable = (r: RawResponse) => (r.status === 200 ? essentials(r) : { ...essentials(r), length: null, body: '', code: errorCode(r) });
  const expectSame = (pair: { direct: RawResponse; routed: RawResponse }) => {
    expect(comparable(pair.routed)).toEqual(comparable(pair.direct));
  };

  it('a manifest by digest answers per Accept, the same before and after it is cached', async () => {
    const path = `/v2/${REPO}/manifests/${image.manifestDigest}`;
    const dockerOnly = { accept: MediaTypes.dockerManifest };
    const oci = { accept: `${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest}` };

    const before = await both('GET', path, dockerOnly);
    expect(before.direct.status).toBe(404);
    expectSame(before);

    const fetched = await both('GET', path, oci);
    expect(fetched.direct.status).toBe(200);
    expectSame(fetched);
    const hit = await both('GET', path, oci);
    expect(hit.routed.headers.get('x-cache-status')).toBe('HIT');
    expectSame(hit);

    // Cached now under the OCI negotiation: the non-matching Accept still gets the upstream's 404.
    const after = await both('GET', path, dockerOnly);
    expect(after.routed.status).toBe(404);
    expectSame(after);
    const head = await both('HEAD', path, oci);
    expectSame(head);
  });

  it('a manifest by digest the upstream does not have is 404 MANIFEST_UNKNOWN (GET and HEAD), as upstream, not an outage', async () => {
    // distribution answers its client 500 for it, the upstream's 404 nested inside; the router must
    // not pass that on as a failed fetch (502), which clients retry and count as an outage.
    const missing = `sha256:${'5e'.repeat(32)}`;
    const path = `/v2/${REPO}/manifests/${missing}`;
    for (const method of ['GET', 'HEAD', 'GET']) {
      const pair = await both(method, path, { accept: MediaTypes.ociManifest });
      expect(pair.direct.status).toBe(404);
      expect(pair.routed.status).toBe(404);
      // A HEAD has no body to compare.
      if (method === 'GET') {
        expectSame(pair);
        expect(errorCode(pair.routed)).toBe('MANIFEST_UNKNOWN');
      }
    }
  });

  it('HEAD on an uncached blob costs a HEAD upstream, not a download; headers equal the upstream', async () => {
    await upstream.settledRequests();
    upstream.clearRequests();
    const path = `/v2/${REPO}/blobs/${bigLayer.digest}`;
    const routed = await rawRequest(`${rc.routerUrl}${path}`, 'HEAD', { host: HOST });
    const seen = (await upstream.settledRequests()).filter((r) => r.path === path);
    expect(seen.map((r) => r.method)).toEqual(['HEAD']);
    const direct = await rawRequest(`${upstream.url}${path}`, 'HEAD', {});
    expect(essentials(routed)).toEqual(essentials(direct));
    expect(routed.headers.get('content-length')).toBe(String(bigLayer.size));
    expect(routed.headers.get('etag')).toBe(direct.headers.get('etag'));
  });

  it('blob GET (miss, then hit) and HEAD of a cached blob: same status, type, digest, length, quoted ETag', async () => {
    const path = `/v2/${REPO}/blobs/${smallLayer.digest}`;
    for (const expected of ['MISS', 'HIT']) {
      // A hit is served from the cache's verified storage, which the registry fills just after the miss.
      if (expected === 'HIT')
        await waitFor(async () => (await both('GET', path)).routed.headers.get('x-cache-status') === 'HIT', { what: 'the blob in storage' });
      const pair = await both('GET', path);
      expect(pair.routed.headers.get('x-cache-status')).toBe(expected);
      expectSame(pair);
      expect(pair.direct.headers.get('etag')).toBe(`"${smallLayer.digest}"`);
      expect(pair.routed.headers.get('etag')).toBe(pair.direct.headers.get('etag'));
    }
    await upstream.settledRequests();
    upstream.clearRequests();
    const head = await both('HEAD', path);
    expect(head.routed.headers.get('x-cache-status')).toBe('HIT');
    expectSame(head);
    expect(head.routed.headers.get('etag')).toBe(`"${smallLayer.digest}"`);
  });

  it('a range past the end: 416 like the upstream, as a registry JSON error', async () => {
    const path = `/v2/${REPO}/blobs/${smallLayer.digest}`;
    await waitFor(async () => (await both('GET', path)).routed.headers.get('x-cache-status') === 'HIT', { what: 'the blob in storage' });
    const range = `bytes=${smallLayer.size + 10}-${smallLayer.size + 20}`;
    // distribution's 416 announces the blob's length but sends a short text: read it off the socket.
    const direct = await rawExchange(upstream.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nRange: ${range}\r\nConnection: close\r\n\r\n`, {
      timeoutMs: 3000,
    });
    expect(direct.statuses[0]).toBe(416);
    const routed = await rawRequest(`${rc.routerUrl}${path}`, 'GET', { host: HOST, range });
    expect(routed.status).toBe(416);
    expect(routed.headers.get('content-type')).toBe('application/json');
    expect(routed.headers.get('content-range')).toBe(direct.headers['content-range']);
    expect(JSON.parse(routed.body.toString()).errors[0].code).toBe('RANGE_INVALID');
    const ok = await both('GET', path, { range: 'bytes=10-99' });
    expect(ok.routed.status).toBe(206);
    expect(ok.routed.body.equals(ok.direct.body)).toBe(true);
  });

  it('nginx-generated errors (TRACE, CONNECT, bad request, long URI) are registry JSON, never HTML', async () => {
    const cases: Array<{ request: string; status: number }> = [
      { request: `TRACE /v2/ HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, status: 405 },
      { request: `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, status: 400 },
      { request: `GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`, status: 400 },
      { request: `GET /v2/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, status: 414 },
      { request: `GET /v2/ HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'b'.repeat(70_000)}\r\nConnection: close\r\n\r\n`, status: 400 },
    ];
    for (const c of cases) {
      const res = await rawExchange(rc.routerPort, c.request);
      expect({ request: c.request.slice(0, 30), status: res.statuses[0] }).toEqual({ request: c.request.slice(0, 30), status: c.status });
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.body).not.toMatch(/<html/i);
      expect(JSON.parse(res.body).errors[0].code).toMatch(/^[A-Z_]+$/);
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    }
  });

  it('counts TLS handshakes on the plain port apart from requests for unknown hosts', async () => {
    const counters = async () =>
      (await adminJson<{ observer: { accessLog: { unroutedRequests: number; tlsOnPlainRequests: number } } }>(rc, '/api/v1/status')).body.observer
        .accessLog;
    // nginx logs a request after closing its connection: wait until earlier tests' lines are in.
    let start = await counters();
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const again = await counters();
      if (JSON.stringify(again) === JSON.stringify(start)) break;
      start = again;
    }
    // The first bytes of a TLS ClientHello, as podman, skopeo and dockerd send before trying http.
    const hello = Buffer.from('16030100a5010000a10303' + '00'.repeat(32) + '000004c02bc02f0100', 'hex');
    await rawExchange(rc.routerPort, hello, { timeoutMs: 3000 });
    await rawExchange(rc.routerPort, hello, { timeoutMs: 3000 });
    await rawRequest(`${rc.routerUrl}/v2/some/repo/manifests/latest`, 'GET', { host: 'unknown.example' });
    await expect
      .poll(
        async () => {
          const now = await counters();
          return { tls: now.tlsOnPlainRequests - start.tlsOnPlainRequests, unrouted: now.unroutedRequests - start.unroutedRequests };
        },
        { timeout: 10_000 },
      )
      .toEqual({ tls: 2, unrouted: 1 });
  });
});
