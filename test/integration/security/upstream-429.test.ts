// What a client sees when the upstream rate-limits (429 + Retry-After), through nginx and distribution 2.8.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

describe('upstream 429', () => {
  let limited: Server;
  let rc: RunningRegcache;
  const seen: string[] = [];
  const image = generateImage({ seed: 'ratelimited', layers: [100] });

  beforeAll(async () => {
    // A registry front that answers the /v2/ ping and rate-limits everything else, as Docker Hub does.
    limited = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/v2/' || req.url === '/v2') {
        res.end('{}');
        return;
      }
      res.statusCode = 429;
      res.setHeader('Retry-After', '17');
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }] }));
    });
    await new Promise<void>((r) => limited.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(limited.address() as { port: number }).port}`;
    rc = await startRegcache({ registries: { 'docker.io': { upstream: url } } });
  });
  afterAll(async () => {
    await rc?.stop();
    limited?.close();
  });

  const host = () => ({ headers: { host: `docker.io.${rc.domain}` } });

  // Pinned behaviour of the cache (documented in the README): if a future image passes 429 through,
  // these fail and the README and router should then forward it with Retry-After.
  it('manifests: distribution 2.8 answers an upstream 429 with 404 MANIFEST_UNKNOWN (clients fall back upstream)', async () => {
    const res = await getManifest(rc.routerUrl, 'library/app', 'v1', undefined, host());
    expect(seen.some((s) => s.includes('/manifests/v1'))).toBe(true);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
    expect(res.headers.get('retry-after')).toBeNull();
  });

  it('blobs: distribution 2.8 turns an upstream 429 into 500 UNKNOWN; the router answers it as 502 UNAVAILABLE with Retry-After', async () => {
    const res = await getBlob(rc.routerUrl, 'library/app', image.layers[0]!.digest, host());
    expect(seen.some((s) => s.includes('/blobs/'))).toBe(true);
    expect(res.status).toBe(502);
    const error = JSON.parse(res.body.toString()).errors[0];
    expect(error.code).toBe('UNAVAILABLE');
    // The upstream's own Retry-After does not survive distribution; the router asks for a short pause.
    expect(res.headers.get('retry-after')).toBe('5');
    // The cache's own body (detail.StatusCode, the URL it fetched) stays inside: it can name internal ports.
    expect(error.detail).toBeUndefined();
  });
});
