// Only verified bytes in regcache's caches, purge, and one bounded copy on disk — on real nginx, real
// registry processes and a fake upstream that answers digests with the wrong bytes until "fixed".
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerGet as get } from '../../helpers/router-get.js';
import { cacheFilesWithKey, nginxCacheFile } from '../../../src/integrity/nginx-cache-file.js';
import { walkDiskUsage } from '../../../src/observe/storage/filesystem-storage.js';
import { waitFor } from '../../helpers/binaries.js';
import { generateImage, sha256Digest } from '../../helpers/image.js';
import { startPoisoningUpstream, type PoisoningUpstream } from '../../helpers/poisoning-upstream.js';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';

const TOKEN = 'integrity-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

function blob(size: number) {
  const data = randomBytes(size);
  return { data, digest: sha256Digest(data), size };
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

describe('integrity: only verified bytes, purge, one bounded copy', () => {
  let upstream: PoisoningUpstream;
  let rc: RunningRegcache;
  const host = (name: string) => `${name}.registry.test`;
  const dataDir = () => path.join(rc.dir, 'data');
  const storageFile = (slug: string, digest: string) => {
    const hex = digest.slice('sha256:'.length);
    return path.join(dataDir(), 'caches', slug, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  };
  const egressFile = (vhost: string, digest: string) => nginxCacheFile(path.join(dataDir(), 'egress-nginx', 'cache', 'blobs'), `${vhost}|${digest}`);
  /** The router's entries of a manifest by digest, whatever Accept variant they were stored for. */
  const routerManifestFiles = (vhost: string, slug: string, digest: string) =>
    cacheFilesWithKey(path.join(dataDir(), 'nginx', 'cache', slug), (key) => key.startsWith(`${vhost}|manifests|${digest}`));
  const vhost = async (name: string) => (await adminJson(rc, `/api/v1/vhosts/${name}`, { headers: auth })).body;
  const mismatches = async (name: string) => (await vhost(name)).integrity.digestMismatches as number;
  const mismatchEvents = async (digest: string) =>
    (
      (await adminJson(rc, '/api/v1/events?limit=200', { headers: auth })).body.events as Array<{ kind: string; level: string; message: string }>
    ).filter((e) => e.kind === 'integrity' && e.level === 'error' && e.message.includes(digest)).length;
  /** distribution's fetch into its storage may reach the egress after the client's: wait until no fetch of `digest` is left. */
  const settled = async (name: string, digest: string) => {
    for (;;) {
      const count = await mismatches(name);
      await new Promise((r) => setTimeout(r, 1500));
      if ((await mismatches(name)) === count && !(await exists(egressFile(name, digest)))) return;
    }
  };

  beforeAll(async () => {
    upstream = await startPoisoningUpstream();
    rc = await startRegcache(
      {
        cache: { maxSize: '1g' },
        registries: {
          poison: { upstream: upstream.url },
          bounded: { upstream: upstream.url, cache: { maxSize: '2m' } },
        },
      },
      { env: { REGCACHE_ADMIN_TOKEN: TOKEN } },
    );
  });

  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  it('never stores or serves a blob whose bytes do not match its digest; counts it; refetches once fixed', async () => {
    const b = blob(3 << 20);
    const url = `/v2/library/app/blobs/${b.digest}`;
    upstream.content.set(b.digest, { data: b.data, mediaType: 'application/octet-stream' });
    const wrong = Buffer.from(b.data.map((x) => x ^ 0xff));
    upstream.poisoned.set(b.digest, wrong);

    // The first answer streams what the upstream sent (the client checks the digest and refuses it).
    const first = await get(rc.routerPort, host('poison'), url);
    expect(first.status).toBe(200);
    expect(first.body.equals(wrong)).toBe(true);
    await waitFor(async () => (await mismatches('poison')) >= 1, { what: 'the mismatch to be counted', timeoutMs: 20_000 });
    const v = await vhost('poison');
    expect(v.lastError).toContain('digest mismatch');
    expect(v.lastError).toContain(b.digest);
    const events = (await adminJson(rc, '/api/v1/events?limit=50', { headers: auth })).body.events as Array<{
      kind: string;
      vhost: string;
      message: string;
    }>;
    expect(events.some((e) => e.kind === 'integrity' && e.vhost === 'poison' && e.message.includes(b.digest))).toBe(true);
    const metrics = parsePrometheusText(await (await fetch(`${rc.adminUrl}/metrics`, { headers: auth })).text());
    expect(sampleValue(metrics, 'regcache_digest_mismatches_total', { vhost: 'poison' })).toBeGreaterThanOrEqual(1);

    // Nothing of it is kept: not in the registry's storage, not in the egress cache, not in the router.
    // (distribution's storing fetch may wait in the egress lock, find the entry dropped and download
    // the wrong bytes once more: that is checked and dropped the same way.)
    await settled('poison', b.digest);
    expect(await exists(storageFile('poison', b.digest))).toBe(false);
    expect(await exists(egressFile('poison', b.digest))).toBe(false);

    // Still broken upstream: the next request goes upstream again instead of being served from a cache.
    const before = upstream.gets(url);
    const second = await get(rc.routerPort, host('poison'), url);
    expect(second.headers['x-cache-status']).toBe('MISS');
    expect(upstream.gets(url)).toBeGreaterThan(before);
    await waitFor(async () => (await mismatches('poison')) >= 2, { what: 'the second mismatch', timeoutMs: 20_000 });
    await settled('poison', b.digest);

    // Fixed upstream: the next request gets the right bytes and the registry stores them.
    upstream.poisoned.delete(b.digest);
    const fixed = await get(rc.routerPort, host('poison'), url);
    expect(fixed.body.equals(b.data)).toBe(true);
    await waitFor(async () => exists(storageFile('poison', b.digest)), { what: 'the registry to store the verified blob', timeoutMs: 20_000 });
    const gets = upstream.gets(url);
    const hit = await get(rc.routerPort, host('poison'), url);
    expect(hit.headers['x-cache-status']).toBe('HIT');
    expect(hit.headers['docker-content-digest']).toBe(b.digest);
    expect(hit.body.equals(b.data)).toBe(true);
    expect(upstream.gets(url)).toBe(gets);
    // lastError clears once the digest is stored verified.
    await waitFor(async () => (await vhost('poison')).lastError === null, { what: 'lastError to clear', timeoutMs: 20_000 });
  });

  it('drops a manifest by digest with the wrong bytes from the router cache', async () => {
    const image = generateImage({ seed: 'integrity-manifest', layers: [1000] });
    const other = generateImage({ seed: 'integrity-other', layers: [1000] });
    const url = `/v2/library/app/manifests/${image.manifestDigest}`;
    upstream.content.set(image.manifestDigest, { data: image.manifest, mediaType: image.manifestMediaType });
    upstream.poisoned.set(image.manifestDigest, other.manifest);
    const count = await mismatches('poison');

    const first = await get(rc.routerPort, host('poison'), url);
    expect(first.status).toBe(200);
    expect(first.body.equals(other.manifest)).toBe(true);
    await waitFor(async () => (await mismatchEvents(image.manifestDigest)) === 1, { what: 'the manifest mismatch', timeoutMs: 20_000 });
    expect(await mismatches('poison')).toBeGreaterThan(count);
    expect(await routerManifestFiles('poison', 'poison', image.manifestDigest)).toEqual([]);

    upstream.poisoned.delete(image.manifestDigest);
    const fixed = await get(rc.routerPort, host('poison'), url);
    expect(fixed.headers['x-cache-status']).not.toBe('HIT');
    expect(fixed.body.equals(image.manifest)).toBe(true);
    const hit = await get(rc.routerPort, host('poison'), url);
    expect(hit.headers['x-cache-status']).toBe('HIT');
    expect(hit.body.equals(image.manifest)).toBe(true);
    expect(await mismatchEvents(image.manifestDigest)).toBe(1);
  });

  it('purges a digest from every layer (API and CLI, admin token required); the next pull refetches', async () => {
    const image = generateImage({ seed: 'integrity-purge', layers: [200_000] });
    const layer = image.layers[0]!;
    upstream.content.set(layer.digest, { data: layer.data, mediaType: layer.mediaType });
    upstream.content.set(image.manifestDigest, { data: image.manifest, mediaType: image.manifestMediaType });
    const blobUrl = `/v2/library/purge/blobs/${layer.digest}`;
    const manifestUrl = `/v2/library/purge/manifests/${image.manifestDigest}`;
    await get(rc.routerPort, host('poison'), blobUrl);
    await get(rc.routerPort, host('poison'), manifestUrl);
    await waitFor(async () => exists(storageFile('poison', layer.digest)), { what: 'the blob to be stored' });
    await waitFor(async () => (await routerManifestFiles('poison', 'poison', image.manifestDigest)).length > 0, {
      what: 'the manifest in the router cache',
    });

    const route = `/api/v1/vhosts/poison/cache/${image.manifestDigest}`;
    expect((await adminJson(rc, route, { method: 'DELETE' })).status).toBe(401);
    expect((await adminJson(rc, '/api/v1/vhosts/poison/cache/sha256:nothex', { method: 'DELETE', headers: auth })).status).toBe(400);
    expect((await adminJson(rc, `/api/v1/vhosts/nope/cache/${layer.digest}`, { method: 'DELETE', headers: auth })).status).toBe(404);

    const purged = await adminJson(rc, route, { method: 'DELETE', headers: auth });
    expect(purged.status).toBe(200);
    expect(purged.body).toMatchObject({
      vhost: 'poison',
      digest: image.manifestDigest,
      removed: { router: 1, storage: true },
      storageReachable: true,
    });
    expect(await routerManifestFiles('poison', 'poison', image.manifestDigest)).toEqual([]);
    const manifestGets = upstream.gets(manifestUrl);
    const again = await get(rc.routerPort, host('poison'), manifestUrl);
    expect(again.body.equals(image.manifest)).toBe(true);
    expect(upstream.gets(manifestUrl)).toBe(manifestGets + 1);

    // The CLI, against the same running daemon (token from the environment, as the daemon has it).
    const cli = path.join(process.cwd(), 'dist', 'cli', 'main.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'purge', '--config', rc.configFile, 'poison', layer.digest], {
      env: { ...process.env, REGCACHE_ADMIN_TOKEN: TOKEN },
    });
    expect(stdout).toContain(`purged ${layer.digest} from poison`);
    expect(stdout).toContain('registry storage 1');
    expect(await exists(storageFile('poison', layer.digest))).toBe(false);
    const blobGets = upstream.gets(blobUrl);
    const refetched = await get(rc.routerPort, host('poison'), blobUrl);
    expect(refetched.status).toBe(200);
    expect(refetched.headers['x-cache-status']).toBe('MISS');
    expect(refetched.body.equals(layer.data)).toBe(true);
    expect(upstream.gets(blobUrl)).toBe(blobGets + 1);
    await waitFor(async () => exists(storageFile('poison', layer.digest)), { what: 'the blob to be stored again' });
  });

  it('keeps one copy of a pulled blob under dataDir once the pull settles', async () => {
    const b = blob(16 << 20);
    upstream.content.set(b.digest, { data: b.data, mediaType: 'application/octet-stream' });
    // Earlier pulls have settled: no staging copy left in the egress cache.
    const egressDir = path.join(dataDir(), 'egress-nginx', 'cache', 'blobs');
    await waitFor(async () => ((await walkDiskUsage(egressDir, 10_000))?.files ?? 0) === 0, {
      what: 'earlier egress entries to go',
      timeoutMs: 20_000,
    });
    const before = (await walkDiskUsage(dataDir(), 1_000_000))!.bytes;
    const reply = await get(rc.routerPort, host('poison'), `/v2/library/big/blobs/${b.digest}`);
    expect(reply.body.equals(b.data)).toBe(true);
    await waitFor(async () => exists(storageFile('poison', b.digest)), { what: 'the blob to be stored' });
    // The egress entry (the fetch's staging copy) goes once the registry committed the blob.
    await waitFor(async () => !(await exists(egressFile('poison', b.digest))), { what: 'the egress entry to go', timeoutMs: 20_000 });
    const after = (await walkDiskUsage(dataDir(), 1_000_000))!.bytes;
    expect((await stat(storageFile('poison', b.digest))).size).toBe(b.size);
    expect(after - before).toBeLessThanOrEqual(1.1 * b.size);
  });

  it('bounds all disk of a registry by cache.maxSize, evicting the least recently used blobs', async () => {
    const [b1, b2, b3] = [blob(900 << 10), blob(900 << 10), blob(900 << 10)];
    for (const b of [b1, b2, b3]) upstream.content.set(b!.digest, { data: b!.data, mediaType: 'application/octet-stream' });
    const pull = async (b: typeof b1) => {
      const r = await get(rc.routerPort, host('bounded'), `/v2/library/lru/blobs/${b!.digest}`);
      expect(r.body.equals(b!.data)).toBe(true);
      await waitFor(async () => exists(storageFile('bounded', b!.digest)), { what: 'the blob to be stored' });
    };
    await pull(b1);
    await pull(b2);
    // b1 is read again (a hit from storage): b2 is now the least recently used.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get(rc.routerPort, host('bounded'), `/v2/library/lru/blobs/${b1!.digest}`)).headers['x-cache-status']).toBe('HIT');
    await new Promise((r) => setTimeout(r, 1100));
    await pull(b3);
    await waitFor(async () => !(await exists(storageFile('bounded', b2!.digest))), { what: 'b2 to be evicted', timeoutMs: 20_000 });
    expect(await exists(storageFile('bounded', b1!.digest))).toBe(true);
    expect(await exists(storageFile('bounded', b3!.digest))).toBe(true);
    const storage = (await walkDiskUsage(path.join(dataDir(), 'caches', 'bounded'), 100_000))!.bytes;
    const zone = (await walkDiskUsage(path.join(dataDir(), 'nginx', 'cache', 'bounded'), 100_000))?.bytes ?? 0;
    expect(storage + zone).toBeLessThanOrEqual(2 << 20);
    const events = (await adminJson(rc, '/api/v1/events?limit=50', { headers: auth })).body.events as Array<{
      kind: string;
      vhost: string;
      message: string;
    }>;
    expect(events.some((e) => e.kind === 'integrity' && e.vhost === 'bounded' && e.message.includes('evicted'))).toBe(true);

    // An evicted blob is fetched again on its next pull (once its staging copy in the egress is gone too).
    await waitFor(async () => !(await exists(egressFile('bounded', b2!.digest))), { what: 'the egress entry to go', timeoutMs: 20_000 });
    const url = `/v2/library/lru/blobs/${b2!.digest}`;
    const gets = upstream.gets(url);
    const again = await get(rc.routerPort, host('bounded'), url);
    expect(again.status).toBe(200);
    expect(again.body.equals(b2!.data)).toBe(true);
    expect(upstream.gets(url)).toBe(gets + 1);
  });
});
