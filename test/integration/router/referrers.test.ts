// OCI referrers API through regcache: distribution 2.8 has none, so the router asks the upstream through the
// cache's egress nginx. A small fake upstream serves referrers (as registries with OCI 1.1 do); a real
// distribution 2.8 upstream does not, and there the answer must be the 404 that makes clients use the tag scheme.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../helpers/binaries.js';
import { MediaTypes, sha256Digest } from '../../helpers/image.js';
import { rawRequest, type RawResponse } from '../../helpers/push.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const SUBJECT = sha256Digest(Buffer.from('the signed image manifest'));
const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SBOM_TYPE = 'application/spdx+json';

function descriptor(artifactType: string, seed: string) {
  const body = Buffer.from(seed);
  return {
    mediaType: MediaTypes.ociManifest,
    digest: sha256Digest(body),
    size: body.length,
    artifactType,
    annotations: { 'org.example.seed': seed },
  };
}
const REFERRERS = [descriptor(SIGNATURE_TYPE, 'signature'), descriptor(SBOM_TYPE, 'sbom')];
const PRIVATE_TOKEN = 'token-for-org-private';

interface FakeUpstream {
  url: string;
  requests: Array<{ method: string; url: string; authorization: string | undefined }>;
  stop(): Promise<void>;
}

/** A registry that knows only /v2/ and the referrers of one subject (with the artifactType filter). */
async function startReferrersUpstream(): Promise<FakeUpstream> {
  const requests: FakeUpstream['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    const url = new URL(req.url ?? '/', 'http://upstream');
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    if (url.pathname === '/v2/') {
      res.setHeader('Content-Type', 'application/json');
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    // A private repository: its listing only for the holder of the upstream token.
    if (m && m[1] === 'org/private' && req.headers.authorization !== `Bearer ${PRIVATE_TOKEN}`) {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', 'Bearer realm="http://127.0.0.1/token",service="fake",scope="repository:org/private:pull"');
      res.setHeader('Content-Type', 'application/json');
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (m && (m[1] === 'org/app' || m[1] === 'org/private')) {
      const filter = url.searchParams.get('artifactType');
      const manifests = m[2] === SUBJECT ? REFERRERS.filter((d) => filter === null || d.artifactType === filter) : [];
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
      res.setHeader('Content-Type', MediaTypes.ociIndex);
      if (filter !== null) res.setHeader('OCI-Filters-Applied', 'artifactType');
      res.setHeader('Content-Length', body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.statusCode = 404;
    res.setHeader('Content-Type', 'application/json');
    res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
  });
  const port = await findFreePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('OCI referrers API through regcache', () => {
  let fake: FakeUpstream;
  let plain: UpstreamRegistry;
  let rc: RunningRegcache;

  beforeAll(async () => {
    [fake, plain] = await Promise.all([startReferrersUpstream(), startUpstreamRegistry()]);
    rc = await startRegcache({
      registries: {
        // A cache whose name is not the registry host its images are named by.
        sigstore: { upstream: fake.url, mirrorOf: 'ghcr.io' },
        'quay.io': { upstream: plain.url },
      },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all([fake?.stop(), plain?.stop()]);
  });

  const routed = (host: string, path: string, headers: Record<string, string> = {}) =>
    rawRequest(`${rc.routerUrl}${path}`, 'GET', { host, ...headers });
  const essentials = (r: RawResponse) => ({
    status: r.status,
    mediaType: r.headers.get('content-type'),
    length: r.headers.get('content-length'),
    filters: r.headers.get('oci-filters-applied'),
    body: r.body.toString(),
  });

  it('lists the referrers exactly as the upstream does, with and without the artifactType filter', async () => {
    for (const query of ['', `?artifactType=${encodeURIComponent(SIGNATURE_TYPE)}`, `?artifactType=${encodeURIComponent(SBOM_TYPE)}`]) {
      const path = `/v2/org/app/referrers/${SUBJECT}${query}`;
      const direct = await rawRequest(`${fake.url}${path}`, 'GET', {});
      const through = await routed('sigstore.registry.test', path);
      expect(essentials(through)).toEqual(essentials(direct));
      expect(through.status).toBe(200);
    }
    const all = JSON.parse((await routed('sigstore.registry.test', `/v2/org/app/referrers/${SUBJECT}`)).body.toString());
    expect(all.manifests.map((d: { artifactType: string }) => d.artifactType)).toEqual([SIGNATURE_TYPE, SBOM_TYPE]);
  });

  it('routes by ?ns=<mirrorOf> too, and keeps a listing for the tag TTL like a tag', async () => {
    const path = `/v2/org/app/referrers/${SUBJECT}?artifactType=${encodeURIComponent(SBOM_TYPE)}`;
    const nsPath = `${path}&ns=ghcr.io`;
    const upstreamCount = (url: string) => fake.requests.filter((r) => r.url === url).length;
    const [pathBefore, nsBefore] = [upstreamCount(path), upstreamCount(nsPath)];
    const first = await rawRequest(`${rc.routerUrl}${nsPath}`, 'GET', { host: '127.0.0.1' });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    const second = await rawRequest(`${rc.routerUrl}${nsPath}`, 'GET', { host: '127.0.0.1' });
    expect(second.headers.get('x-cache-status')).toBe('HIT');
    // Stored by the first test's request of the same URI.
    const again = await routed('sigstore.registry.test', path);
    expect(again.headers.get('x-cache-status')).toBe('HIT');
    expect(essentials(again).body).toBe(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [REFERRERS[1]] }));
    expect(essentials(second).body).toBe(essentials(again).body);
    // Exactly one upstream request: the first ns one; both hits stayed in the router.
    expect([upstreamCount(path) - pathBefore, upstreamCount(nsPath) - nsBefore]).toEqual([0, 1]);
  });

  it('passes a bearer token from the upstream token service, never a Basic login meant for the cache', async () => {
    const subject = sha256Digest(Buffer.from('auth probe'));
    await routed('sigstore.registry.test', `/v2/org/app/referrers/${subject}`, { authorization: 'Basic dXNlcjpzZWNyZXQ=' });
    await routed('sigstore.registry.test', `/v2/org/app/referrers/${subject}?x=1`, { authorization: 'Bearer upstream-token' });
    const seen = fake.requests.filter((r) => r.url.includes(subject)).map((r) => r.authorization ?? null);
    expect(seen).toEqual([null, 'Bearer upstream-token']);
  });

  it("a listing fetched with a client's bearer token is neither stored nor served to anyone else", async () => {
    const path = `/v2/org/private/referrers/${SUBJECT}`;
    const upstreamCount = () => fake.requests.filter((r) => r.url === path).length;
    const bearer = { authorization: `Bearer ${PRIVATE_TOKEN}` };
    const direct = await rawRequest(`${fake.url}${path}`, 'GET', bearer);
    expect(direct.status).toBe(200);
    const withToken = await routed('sigstore.registry.test', path, bearer);
    expect(essentials(withToken)).toEqual(essentials(direct));
    expect(withToken.headers.get('x-cache-status')).toBe('BYPASS');
    const anonymous = await routed('sigstore.registry.test', path);
    expect(anonymous.status).toBe(401); // the upstream's answer, not the private listing
    expect(anonymous.body.toString()).not.toContain('org.example.seed');
    const again = await routed('sigstore.registry.test', path, bearer);
    expect(again.status).toBe(200);
    expect(upstreamCount()).toBe(4); // direct, token, anonymous, token again: none answered from the cache
  });

  it('an upstream without the referrers API (distribution 2.8): 404 like the upstream, as registry JSON', async () => {
    const path = `/v2/org/app/referrers/${SUBJECT}`;
    const direct = await rawRequest(`${plain.url}${path}`, 'GET', {});
    const through = await routed('quay.io.registry.test', path);
    expect(direct.status).toBe(404);
    expect(through.status).toBe(404);
    expect(through.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(through.body.toString()).errors[0].code).toBe('NAME_UNKNOWN');
  });
});
