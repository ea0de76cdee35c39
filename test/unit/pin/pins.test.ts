import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';
import { parsePlatform } from '../../../src/config/platform.js';
import { createStorageBound, pickEvictions, pinnedBytes, type StoredBlob } from '../../../src/integrity/storage-bound.js';
import { createLogger } from '../../../src/log.js';
import { createPinKeeper, registryPaths } from '../../../src/pin/pin-keeper.js';
import { pinnedEntries } from '../../../src/pin/pin-model.js';
import { createPins } from '../../../src/pin/pins.js';
import { pendingImage, warmImage, type ImageContent } from '../../../src/warm/warm-image.js';
import { createWarmJobs, type WarmJob, type WarmJobs, type WarmRequest } from '../../../src/warm/warm-jobs.js';
import { resolveWarmTarget, type WarmTarget } from '../../../src/warm/warm-target.js';
import { configFrom } from '../../helpers/config.js';
import { createFakeClock } from '../../helpers/fake-clock.js';
import { fakeRouterClient, smallImage } from '../../helpers/fake-router-client.js';
import { exists, writeStoredBlob } from '../../helpers/stored-blobs.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const logger = createLogger({ level: 'silent' });
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;

let dir: string;
/** Pins a test made: their pending writes of the pins file finish before the directory goes. */
const made: Array<{ flush(): Promise<void> }> = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'regcache-pin-'));
});
afterEach(async () => {
  await Promise.all(made.splice(0).map((p) => p.flush()));
  await rm(dir, { recursive: true, force: true });
});

describe('pickEvictions with pins', () => {
  const blob = (c: string, bytes: number, lastUseMs: number): StoredBlob => ({ digest: d(c), dir: `/x/${c}`, bytes, lastUseMs });

  it('skips pinned blobs and evicts the next least recently used instead', () => {
    const blobs = [blob('a', 100, 1), blob('b', 100, 2), blob('c', 100, 3), blob('e', 100, 4)];
    expect(pickEvictions(blobs, 400, 250, 10, 0).map((b) => b.digest)).toEqual([d('a'), d('b')]);
    expect(pickEvictions(blobs, 400, 250, 10, 0, new Set([d('a')])).map((b) => b.digest)).toEqual([d('b'), d('c')]);
  });

  it('never picks a pinned blob, even when what is left stays over the target', () => {
    const blobs = [blob('a', 500, 1), blob('b', 100, 2), blob('c', 500, 3)];
    const pinned = new Set([d('a'), d('c')]);
    expect(pickEvictions(blobs, 1100, 300, 10, 0, pinned).map((b) => b.digest)).toEqual([d('b')]);
    expect(pinnedBytes(blobs, pinned)).toBe(1000);
  });
});

describe('storage bound with pins', () => {
  const clock = createFakeClock(Date.UTC(2026, 0, 1));
  const blob = (root: string, c: string, bytes: number, lastUse: Date) => writeStoredBlob(root, d(c), bytes, lastUse);

  it('keeps the pinned oldest blob and says when pinned content alone is over maxSize', async () => {
    const root = path.join(dir, 'storage');
    const old = await blob(root, 'a', 400 << 10, new Date(2025, 0, 1));
    const mid = await blob(root, 'c', 400 << 10, new Date(2025, 5, 1));
    const recent = await blob(root, 'e', 400 << 10, new Date(2025, 11, 1));
    let pinned = new Set([d('a')]);
    let max = 1 << 20;
    const over: Array<[boolean, number]> = [];
    const bound = createStorageBound({
      registries: () => [{ name: 'docker.io', maxSizeBytes: max }],
      storageRoot: async () => root,
      routerZone: () => path.join(dir, 'zone'),
      clock,
      logger,
      pinned: () => pinned,
      onPinnedOverBound: (_n, o, bytes) => over.push([o, bytes]),
    });
    await bound.enforce();
    expect(await exists(old)).toBe(true);
    expect(await exists(mid)).toBe(false);
    expect(await exists(recent)).toBe(true);
    expect(over).toEqual([]);
    // Both remaining blobs pinned, maxSize below them: nothing is evicted, and it is reported once.
    pinned = new Set([d('a'), d('e')]);
    max = 500 << 10;
    await bound.enforce();
    await bound.enforce();
    expect(await exists(old)).toBe(true);
    expect(await exists(recent)).toBe(true);
    expect(over).toHaveLength(1);
    expect(over[0]![0]).toBe(true);
    expect(over[0]![1]).toBeGreaterThanOrEqual(800 << 10);
    expect(bound.pinnedOver().has('docker.io')).toBe(true);
    max = 4 << 20;
    await bound.enforce();
    expect(over.map((o) => o[0])).toEqual([true, false]);
    expect(bound.pinnedOver().size).toBe(0);
  });
});

const config = configFrom(`
domain: registry.example.com
warm:
  platforms: [linux/amd64]
  images:
    - { image: "org/app:1", pin: true }
    - org/other:2
registries:
  docker.io: { upstream: "https://registry-1.docker.io" }
`);

describe('pin in the config', () => {
  it('reads pin: true of warm entries and names a bad value by path', () => {
    expect(config.warm.entries.map((e) => e.pin)).toEqual([true, false]);
    const bad = parseConfig(
      'domain: registry.example.com\nwarm: { images: [{ image: alpine, pin: "yes" }] }\nregistries:\n  docker.io: { upstream: "https://registry-1.docker.io" }\n',
      { source: '/etc/regcache/registries.yaml', env: {} },
    );
    expect(bad.ok ? [] : bad.problems).toEqual([{ path: 'warm.images.0.pin', message: 'must be true or false' }]);
  });
});

describe('pin resolution', () => {
  it('a warm resolves an index to the index, the chosen platform manifests and their blobs, known before any blob is fetched', async () => {
    const amd = smallImage('amd', 2, OCI_MANIFEST);
    const arm = smallImage('arm', 2, OCI_MANIFEST);
    const index = Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const content = new Map<string, { body: Buffer; type?: string }>([
      [sha(index), { body: index, type: 'application/vnd.oci.image.index.v1+json' }],
      ...[amd, arm].map((i) => [i.digest, { body: i.manifest, type: 'application/vnd.oci.image.manifest.v1+json' }] as const),
      ...[...amd.blobs, ...arm.blobs].map((b) => [sha(b), { body: b }] as const),
    ]);
    const { client, asked } = fakeRouterClient(content, { '1': sha(index) });
    const target = resolveWarmTarget('org/app:1', config) as WarmTarget;
    let plannedAt = -1;
    const resolved = await warmImage(target, [parsePlatform('linux/arm64')!], client, pendingImage(target.image, target.cache), {
      onPlanned: () => (plannedAt = asked.length),
    });
    expect(resolved).toEqual({
      repository: 'org/app',
      digest: sha(index),
      manifests: [
        { digest: sha(index), size: index.length },
        { digest: arm.digest, size: arm.manifest.length },
      ],
      blobs: arm.blobs.map((b) => ({ digest: sha(b), size: b.length })),
    });
    expect(asked.slice(0, plannedAt).every((a) => a.startsWith('manifest'))).toBe(true);
    expect(asked.slice(plannedAt).every((a) => a.startsWith('blob'))).toBe(true);
  });

  const content = (digest: string, blobs: string[]): ImageContent => ({
    repository: 'org/app',
    digest: d(digest),
    manifests: [{ digest: d(digest), size: 10 }],
    blobs: blobs.map((b) => ({ digest: d(b), size: 100 })),
  });

  function pinsWith(file: string) {
    const started: WarmRequest[] = [];
    const pins = createPins({
      file,
      warm: {
        start: (request: WarmRequest) => {
          started.push(request);
          return { job: { id: `w${started.length}` } as WarmJob };
        },
      },
      config: () => config,
      clock: createFakeClock(Date.UTC(2026, 0, 1)),
      logger,
    });
    made.push(pins);
    return { pins, started };
  }

  it('an API pin warms the image, pins the planned set at once and the complete one after; a moved tag releases the old set only once the new one is complete', async () => {
    const { pins, started } = pinsWith(path.join(dir, 'pins.json'));
    const added = pins.add({ image: 'alpine:3.19' });
    if ('problems' in added) throw new Error(JSON.stringify(added.problems));
    expect(started).toEqual([{ images: ['docker.io/library/alpine:3.19'], platforms: ['linux/amd64'], pin: true }]);
    expect(added.pin).toMatchObject({ image: 'docker.io/library/alpine:3.19', cache: 'docker.io', source: 'api', state: 'resolving', digests: 0 });
    const args: [string, string, string[]] = ['docker.io/library/alpine:3.19', 'docker.io', ['linux/amd64']];
    pins.sink.planned(...args, content('1', ['a', 'b']));
    expect(pins.pinned('docker.io')).toEqual(new Set([d('1'), d('a'), d('b')]));
    pins.sink.resolved(...args, content('1', ['a', 'b']));
    expect(pins.list()[0]).toMatchObject({ state: 'pinned', digest: d('1'), digests: 3, bytes: 210 });
    expect(pins.sink.currentDigest(...args)).toBe(d('1'));
    expect(pins.sink.currentDigest(args[0], args[1], ['linux/arm64'])).toBeNull();

    // The tag moved: while the new set is fetched both are pinned; then only the new one.
    pins.sink.planned(...args, content('2', ['b', 'c']));
    expect(pins.pinned('docker.io')).toEqual(new Set([d('1'), d('a'), d('b'), d('2'), d('c')]));
    pins.sink.resolved(...args, content('2', ['b', 'c']));
    expect(pins.pinned('docker.io')).toEqual(new Set([d('2'), d('b'), d('c')]));
    // A failed refresh keeps the set and says why.
    pins.sink.planned(...args, content('3', ['e']));
    pins.sink.failed(args[0], args[1], 'manifest: HTTP 503');
    expect(pins.pinned('docker.io')).toEqual(new Set([d('2'), d('b'), d('c')]));
    expect(pins.list()[0]).toMatchObject({ state: 'pinned', error: 'manifest: HTTP 503' });
    expect(pins.totals()).toEqual({ caches: { 'docker.io': 210 }, bytes: 210 });
    expect(pinnedEntries(pins.all(), 'docker.io')).toContainEqual({ digest: d('2'), repository: 'org/app', kind: 'manifest' });
    expect(pinnedEntries(pins.all(), 'docker.io')).toContainEqual({ digest: d('c'), repository: 'org/app', kind: 'blob' });
  });

  it('API pins persist in the pins file; config pins follow the config and cannot be deleted through the API', async () => {
    const file = path.join(dir, 'pins.json');
    const first = pinsWith(file);
    const added = first.pins.add({ image: 'alpine:3.19', platforms: ['linux/arm64'] });
    if ('problems' in added) throw new Error('not added');
    first.pins.sink.resolved('docker.io/library/alpine:3.19', 'docker.io', ['linux/arm64'], content('1', ['a']));
    first.pins.update(config);
    expect(first.pins.list().map((p) => [p.source, p.image])).toEqual([
      ['api', 'docker.io/library/alpine:3.19'],
      ['config', 'docker.io/org/app:1'],
    ]);
    const configPin = first.pins.list()[1]!;
    expect(first.pins.remove(configPin.id)).toBe('config');
    await first.pins.flush();
    expect(JSON.parse(await readFile(file, 'utf8')).pins).toHaveLength(2);

    const second = pinsWith(file);
    await second.pins.load();
    expect(second.pins.get(added.pin.id)).toMatchObject({ state: 'pinned', digests: 2, platforms: ['linux/arm64'] });
    expect(second.pins.pinned('docker.io')).toEqual(new Set([d('1'), d('a')]));
    // At start API pins are re-resolved (a job that fetches nothing if the tag did not move).
    second.pins.refreshApiPins();
    expect(second.started).toEqual([{ images: ['docker.io/library/alpine:3.19'], platforms: ['linux/arm64'], pin: true }]);
    // The config no longer pins org/app: that pin is released.
    second.pins.update(configFrom('domain: registry.example.com\nregistries:\n  docker.io: { upstream: "https://registry-1.docker.io" }\n'));
    expect(second.pins.list().map((p) => p.source)).toEqual(['api']);
    expect(second.pins.remove(added.pin.id)).toBe('removed');
    expect(second.pins.remove(added.pin.id)).toBe('unknown');
    expect(second.pins.pinned('docker.io').size).toBe(0);
    await second.pins.flush();
    expect(JSON.parse(await readFile(file, 'utf8')).pins).toEqual([]);
  });

  it('a config pin follows its tag through the warm jobs: a moved tag is a new set, an unmoved one fetches nothing', async () => {
    const v1 = smallImage('v1', 2, OCI_MANIFEST);
    const v2 = smallImage('v2', 1, OCI_MANIFEST);
    const content = new Map(
      [v1, v2].flatMap((i) => [
        [i.digest, { body: i.manifest, type: 'application/vnd.oci.image.manifest.v1+json' }] as const,
        ...i.blobs.map((b) => [sha(b), { body: b }] as const),
      ]),
    );
    const tags: Record<string, string> = { '1': v1.digest };
    const { client, asked } = fakeRouterClient(content, tags);
    const clock = createFakeClock(Date.UTC(2026, 0, 1));
    let jobs: WarmJobs | null = null;
    const pins = createPins({ file: path.join(dir, 'pins.json'), warm: { start: (r, o) => jobs!.start(r, o) }, config: () => config, clock, logger });
    made.push(pins);
    jobs = createWarmJobs({ client, config: () => config, clock, logger, pins: pins.sink });
    pins.update(config);
    const run = async () => {
      const started = jobs!.start({ images: ['org/app:1'], pin: true }, 'config');
      if ('problems' in started) throw new Error('not started');
      return (await jobs!.finished(started.job.id))!;
    };
    expect((await run()).state).toBe('done');
    const id = pins.list()[0]!.id;
    expect(pins.get(id)).toMatchObject({ source: 'config', state: 'pinned', digest: v1.digest, digests: 4 });
    expect(pins.pinned('docker.io')).toEqual(new Set([v1.digest, ...v1.blobs.map(sha)]));

    asked.length = 0;
    expect((await run()).images[0]).toMatchObject({ state: 'done', unchanged: true });
    expect(asked).toEqual(['manifest 1']);

    tags['1'] = v2.digest;
    expect((await run()).images[0]).toMatchObject({ state: 'done', unchanged: false, digest: v2.digest });
    expect(pins.get(id)).toMatchObject({ state: 'pinned', digest: v2.digest, digests: 3 });
    expect(pins.pinned('docker.io')).toEqual(new Set([v2.digest, ...v2.blobs.map(sha)]));
    // A warm of the same image without pin: true does not touch the pin.
    tags['1'] = v1.digest;
    const plain = jobs.start({ images: ['org/app:1'] }, 'api');
    if ('problems' in plain) throw new Error('not started');
    await jobs.finished(plain.job.id);
    expect(pins.get(id)).toMatchObject({ digest: v2.digest });
    await jobs.stop();
    await pins.flush();
  });

  it('refuses a bad request naming the field, and pins nothing', () => {
    const { pins, started } = pinsWith(path.join(dir, 'pins.json'));
    expect(pins.add({})).toEqual({ problems: [{ path: 'image', message: 'must be an image reference' }] });
    expect(pins.add({ image: 'quay.io/x/y:1' })).toEqual({
      problems: [{ path: 'image', message: expect.stringContaining('no cache mirrors quay.io') }],
    });
    expect(pins.add({ image: 'alpine', platforms: ['amd64'] })).toEqual({
      problems: [{ path: 'platforms', message: expect.stringContaining('"amd64" must be os/arch') }],
    });
    expect(pins.list()).toEqual([]);
    expect(started).toEqual([]);
  });
});

describe('pin keeper', () => {
  it("keeps hard links of pinned files and puts back what the registry's expiry deleted; releases unpinned ones", async () => {
    const root = path.join(dir, 'storage');
    const keepDir = path.join(dir, 'keep');
    const entries = [
      { digest: d('a'), repository: 'library/app', kind: 'manifest' as const },
      { digest: d('b'), repository: 'library/app', kind: 'blob' as const },
    ];
    for (const e of entries) {
      const p = registryPaths(root, e)!;
      await mkdir(path.dirname(p.data), { recursive: true });
      await writeFile(p.data, `bytes of ${e.digest}`);
      await mkdir(path.dirname(p.link), { recursive: true });
      await writeFile(p.link, e.digest);
    }
    expect(registryPaths(root, entries[0]!)!.link).toBe(
      path.join(root, 'docker/registry/v2/repositories/library/app/_manifests/revisions/sha256', d('a').slice(7), 'link'),
    );
    let pinned = entries;
    const keeper = createPinKeeper({
      caches: () => ['docker.io'],
      entries: () => pinned,
      storageRoot: async () => root,
      keepDir,
      clock: createFakeClock(0),
      logger,
    });
    expect(await keeper.keep()).toEqual({ kept: 2, restored: 0, released: 0 });
    // What distribution's OnBlobExpire / OnManifestExpire do: the repository link, and for blobs the data.
    for (const e of entries) {
      const p = registryPaths(root, e)!;
      await unlink(p.link);
      if (e.kind === 'blob') await rm(path.dirname(p.data), { recursive: true });
    }
    expect(await keeper.keep()).toEqual({ kept: 2, restored: 3, released: 0 });
    for (const e of entries) {
      const p = registryPaths(root, e)!;
      expect(await readFile(p.data, 'utf8')).toBe(`bytes of ${e.digest}`);
      expect(await readFile(p.link, 'utf8')).toBe(e.digest);
    }
    pinned = [entries[0]!];
    expect(await keeper.keep()).toEqual({ kept: 1, restored: 0, released: 1 });
    expect(await readdir(path.join(keepDir, 'docker-io'))).toEqual([d('a').slice(7)]);
    // A purge drops the kept copy first: the deleted file is not put back.
    const purged = registryPaths(root, entries[0]!)!;
    await keeper.forget('docker.io', entries[0]!.digest);
    await rm(path.dirname(purged.data), { recursive: true });
    expect(await keeper.keep()).toEqual({ kept: 0, restored: 0, released: 0 });
    expect(await readdir(path.join(keepDir, 'docker-io'))).toEqual([]);
  });
});
