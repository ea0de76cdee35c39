import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../helpers/config.js';
import { parsePlatform } from '../../../src/config/platform.js';
import { createRouterClient } from '../../../src/warm/router-client.js';
import { pendingImage, warmImage } from '../../../src/warm/warm-image.js';
import { resolveWarmTarget, type WarmTarget } from '../../../src/warm/warm-target.js';
import { fakeRouterClient, sha256Of as digest, smallImage } from '../../helpers/fake-router-client.js';

const config = configFrom(`
domain: registry.example.com
registries:
  docker.io: { upstream: "https://registry-1.docker.io" }
`);
const target = resolveWarmTarget('org/app:1', config) as WarmTarget;

describe('warmImage', () => {
  it('fetches the tag, the manifest again by digest, then every blob once', async () => {
    const img = smallImage('a', 2);
    const content = new Map<string, { body: Buffer; type?: string }>([
      [img.digest, { body: img.manifest, type: 'application/vnd.docker.distribution.manifest.v2+json' }],
      ...img.blobs.map((b) => [digest(b), { body: b }] as const),
    ]);
    const { client, asked } = fakeRouterClient(content, { '1': img.digest });
    const p = pendingImage(target.image, target.cache);
    await warmImage(target, [parsePlatform('linux/amd64')!], client, p);
    expect(p).toMatchObject({
      state: 'done',
      digest: img.digest,
      manifests: 2,
      blobs: { done: 3, total: 3 },
      bytes: img.blobs.reduce((n, b) => n + b.length, 0),
      error: null,
    });
    expect(asked.slice(0, 2)).toEqual(['manifest 1', `manifest ${img.digest}`]);
    expect(asked.filter((a) => a.startsWith('blob')).sort()).toEqual(img.blobs.map((b) => `blob ${digest(b)}`).sort());
  });

  it('a periodic run that finds the same digest fetches nothing more', async () => {
    const img = smallImage('b', 1);
    const { client, asked } = fakeRouterClient(new Map([[img.digest, { body: img.manifest }]]), { '1': img.digest });
    const p = pendingImage(target.image, target.cache);
    await warmImage(target, [parsePlatform('linux/amd64')!], client, p, { unchangedIf: img.digest });
    expect(p).toMatchObject({ state: 'done', unchanged: true, blobs: { done: 0, total: 0 } });
    expect(asked).toEqual(['manifest 1']);
  });

  it('a failing blob fails the image with its reason and stops the queue', async () => {
    const img = smallImage('c', 12);
    const content = new Map([[img.digest, { body: img.manifest }], ...img.blobs.map((b) => [digest(b), { body: b }] as const)]);
    const bad = digest(img.blobs[0]!);
    const { client, asked } = fakeRouterClient(content, { '1': img.digest }, bad);
    const p = pendingImage(target.image, target.cache);
    await warmImage(target, [parsePlatform('linux/amd64')!], client, p);
    expect(p.state).toBe('failed');
    expect(p.error).toBe(`blob ${bad}: HTTP 500`);
    // 4 workers: the queue is dropped once one fails, so most of the 13 blobs are never asked for.
    expect(asked.filter((a) => a.startsWith('blob')).length).toBeLessThan(13);
  });
});

describe('router client', () => {
  it('sends the vhost as Host, checks digests and turns registry errors into reasons', async () => {
    const good = Buffer.from('layer bytes');
    const seen: Array<{ host?: string; url?: string; accept?: string }> = [];
    const server = createServer((req, res) => {
      seen.push({ host: req.headers.host, url: req.url, accept: req.headers.accept });
      if (req.url === `/v2/org/app/blobs/${digest(good)}`) return res.end(good);
      if (req.url === `/v2/org/app/blobs/${digest('other')}`) return res.end(good);
      res.statusCode = 403;
      res.end('{"errors":[{"code":"DENIED","message":"no"}]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = createRouterClient(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    try {
      let bytes = 0;
      expect(await client.blob('docker.io.registry.example.com', 'org/app', digest(good), (n) => (bytes += n))).toBe(good.length);
      expect(bytes).toBe(good.length);
      expect(seen[0]!.host).toBe('docker.io.registry.example.com');
      await expect(client.blob('h', 'org/app', digest('other'), () => {})).rejects.toThrow(
        `blob ${digest('other')}: content has digest ${digest(good)}`,
      );
      await expect(client.manifest('h', 'org/app', 'v1')).rejects.toThrow('manifest org/app:v1: HTTP 403: DENIED (no)');
      expect(seen[2]!.accept).toContain('application/vnd.oci.image.index.v1+json');
    } finally {
      client.close();
      server.close();
    }
  });
});
