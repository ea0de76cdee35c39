import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheLayers } from '../../../src/integrity/cache-layers.js';
import { createIntegrityService } from '../../../src/integrity/integrity-service.js';
import { cacheBodyOffset, cachedBodySha256, nginxCacheFile, sha256OfFile } from '../../../src/integrity/nginx-cache-file.js';
import { pickEvictions, type StoredBlob } from '../../../src/integrity/storage-bound.js';
import { createLogger } from '../../../src/log.js';
import { parseEgressLogLine } from '../../../src/observe/access-log/egress-counters.js';
import { createEventLog } from '../../../src/state/event-log.js';
import { blobDataPath } from '../../../src/observe/storage/filesystem-storage.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const exists = (f: string) =>
  stat(f).then(
    () => true,
    () => false,
  );

/** What nginx writes: a binary header, the KEY line, the upstream's status line and headers, the body. */
function cacheEntry(key: string, body: Buffer): Buffer {
  const header = Buffer.alloc(337, 1);
  return Buffer.concat([header, Buffer.from(`\nKEY: ${key}\nHTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

describe('nginx cache files', () => {
  it('finds an entry by the md5 of its key, levels=1:2', () => {
    // md5("abc") = 900150983cd24fb0d6963f7d28e17f72: the last digit, then the two before it (as nginx's
    // docs show for …65029c: c/29/…).
    expect(nginxCacheFile('/z', 'abc')).toBe('/z/2/f7/900150983cd24fb0d6963f7d28e17f72');
  });

  it('finds the body after the KEY line and the headers, and hashes only the body', async () => {
    const body = Buffer.from('hello\r\n\r\nworld');
    const entry = cacheEntry('k', body);
    expect(cacheBodyOffset(entry)).toBe(entry.length - body.length);
    expect(cacheBodyOffset(Buffer.from('no key here'))).toBeNull();
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-unit-'));
    try {
      await writeFile(path.join(dir, 'e'), entry);
      expect(`sha256:${await cachedBodySha256(path.join(dir, 'e'))}`).toBe(sha(body));
      expect(await cachedBodySha256(path.join(dir, 'missing'))).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('abandons a long hash once it is no longer needed (the registry committed meanwhile)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'regcache-unit-'));
    try {
      const big = Buffer.alloc(40 << 20, 7);
      await writeFile(path.join(dir, 'big'), big);
      let asked = 0;
      expect(await sha256OfFile(path.join(dir, 'big'), 0, async () => (++asked, true))).toBe('stopped');
      expect(asked).toBe(1);
      expect(`sha256:${await sha256OfFile(path.join(dir, 'big'), 0, async () => false)}`).toBe(sha(big));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('LRU eviction', () => {
  const b = (digest: string, bytes: number, lastUseMs: number): StoredBlob => ({ digest, dir: `/${digest}`, bytes, lastUseMs });

  it('evicts least recently used first, until at or below the target', () => {
    const blobs = [b('new', 10, 300), b('old', 10, 100), b('mid', 10, 200)];
    expect(pickEvictions(blobs, 30, 20, 1000, 0).map((x) => x.digest)).toEqual(['old']);
    expect(pickEvictions(blobs, 30, 5, 1000, 0).map((x) => x.digest)).toEqual(['old', 'mid', 'new']);
    expect(pickEvictions(blobs, 20, 20, 1000, 0)).toEqual([]);
  });

  it('keeps blobs read within the protection window', () => {
    const blobs = [b('old', 10, 100), b('recent', 10, 950)];
    expect(pickEvictions(blobs, 20, 0, 1000, 100).map((x) => x.digest)).toEqual(['old']);
  });
});

describe('egress log entries', () => {
  it('carry method, status and the blob digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const line = JSON.stringify({
      vhost: 'docker.io',
      method: 'GET',
      uri: `/v2/library/x/blobs/${digest}`,
      status: 200,
      upstream_status: '200',
      upstream_bytes: '10',
      cache: 'MISS',
    });
    expect(parseEgressLogLine(line)).toMatchObject({ vhost: 'docker.io', method: 'GET', status: 200, digest, cache: 'MISS' });
    expect(
      parseEgressLogLine(
        JSON.stringify({ vhost: 'docker.io', method: 'GET', uri: '/v2/library/x/manifests/latest', status: 200, upstream_status: '200' }),
      )?.digest,
    ).toBeNull();
  });
});

describe('integrity service', () => {
  let dir: string;
  const clock = createFakeClock(1_000_000);
  const vhost = 'docker.io';
  const good = Buffer.from('the right bytes');
  const digest = sha(good);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const setup = () => {
    const layers = cacheLayers({ routerCacheDir: path.join(dir, 'router'), egressCacheDir: path.join(dir, 'egress') });
    const events = createEventLog(clock);
    const storage = path.join(dir, 'storage');
    const service = createIntegrityService({
      layers,
      storageRoot: async () => storage,
      events,
      clock,
      logger: createLogger({ level: 'silent' }),
      settleMs: 5000,
      giveUpMs: 60_000,
    });
    /** An egress entry as nginx stores it; a credentialed upstream's key carries the Authorization too. */
    const putEgress = async (body: Buffer, authorization?: string) => {
      const key = authorization ? `${vhost}|${digest}|${authorization}` : `${vhost}|${digest}`;
      const file = nginxCacheFile(path.join(dir, 'egress', 'blobs'), key);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, cacheEntry(key, body));
      return file;
    };
    const commit = async () => {
      const file = blobDataPath(storage, digest)!;
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, good);
    };
    const fetched = () =>
      service.egressEntry({
        vhost,
        method: 'GET',
        status: 200,
        digest,
        upstreamStatuses: 1,
        upstreamBytes: 1,
        cache: 'MISS',
        upstreamFailed: false,
        attempts: [],
        timeMs: null,
      });
    return { layers, events, service, putEgress, commit, fetched };
  };

  it('drops an egress entry whose body does not match its digest, and reports it', async () => {
    const { events, service, putEgress, fetched } = setup();
    const file = await putEgress(Buffer.from('wrong bytes!!!!'));
    fetched();
    await service.check();
    expect(await exists(file)).toBe(false);
    expect(service.mismatches(vhost)).toBe(1);
    expect(service.lastError(vhost)).toContain(digest);
    expect(events.list(1)[0]).toMatchObject({ kind: 'integrity', level: 'error', vhost });
  });

  it("finds a credentialed upstream's entries, keyed by Authorization, to verify and to purge", async () => {
    const { service, putEgress, fetched } = setup();
    const poisoned = await putEgress(Buffer.from('wrong bytes!!!!'), 'Bearer token-a');
    fetched();
    await service.check();
    expect(await exists(poisoned)).toBe(false);
    expect(service.mismatches(vhost)).toBe(1);
    const kept = [await putEgress(good, 'Bearer token-a'), await putEgress(good, 'Bearer token-b')];
    expect((await service.purge(vhost, digest)).removed.egress).toBe(2);
    for (const file of kept) expect(await exists(file)).toBe(false);
  });

  it('keeps a verified egress entry until the registry committed the blob and lock waiters had time, then drops it', async () => {
    const { service, putEgress, commit, fetched } = setup();
    const file = await putEgress(good);
    fetched();
    await service.check();
    expect(await exists(file)).toBe(true);
    await commit();
    await service.check();
    expect(await exists(file)).toBe(true);
    await clock.advance(5000);
    await service.check();
    expect(await exists(file)).toBe(false);
    expect(service.mismatches(vhost)).toBe(0);
  });

  it('drops a verified egress entry the registry never committed after giveUpMs', async () => {
    const { service, putEgress, fetched } = setup();
    const file = await putEgress(good);
    fetched();
    await service.check();
    await clock.advance(60_000);
    await service.check();
    expect(await exists(file)).toBe(false);
  });

  it('drops a router manifest entry whose body does not match', async () => {
    const { layers, service } = setup();
    const variant = '|application/vnd.oci.image.manifest.v1+json';
    const file = layers.routerManifestFile(vhost, digest, variant);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, cacheEntry(`${vhost}|manifests|${digest}${variant}`, Buffer.from('{"not":"it"}')));
    service.routerEntry({
      endMs: 0,
      startMs: 0,
      vhost,
      method: 'GET',
      kind: 'manifest',
      digest,
      status: 200,
      bytes: 12,
      upstreamStatus: 200,
      cacheStatus: 'MISS',
      digestVariant: variant,
      requestLine: true,
      refused: null,
      cutOff: false,
      forwarded: null,
    });
    await service.check();
    expect(await exists(file)).toBe(false);
    expect(service.mismatches(vhost)).toBe(1);
  });

  it('purges every layer', async () => {
    const { layers, service, putEgress, commit } = setup();
    await putEgress(good);
    await commit();
    // Two Accept variants of one manifest digest, and an entry of another key that must stay.
    const files = ['|a', '|b'].map((v) => layers.routerManifestFile(vhost, digest, v));
    const other = layers.routerManifestFile(vhost, `sha256:${'0'.repeat(64)}`, '|a');
    for (const [file, key] of [
      ...files.map((f, i) => [f, `${vhost}|manifests|${digest}${['|a', '|b'][i]}`]),
      [other, `${vhost}|manifests|sha256:${'0'.repeat(64)}|a`],
    ]) {
      await mkdir(path.dirname(file!), { recursive: true });
      await writeFile(file!, cacheEntry(key!, good));
    }
    const result = await service.purge(vhost, digest);
    expect(result).toEqual({ vhost, digest, removed: { router: 2, egress: 1, storage: true }, storageReachable: true });
    expect(await exists(other)).toBe(true);
    expect(await exists(blobDataPath(path.join(dir, 'storage'), digest)!)).toBe(false);
  });
});
