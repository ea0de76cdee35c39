import { describe, expect, it } from 'vitest';
import { formatImageReference, parseImageReference } from '../../../src/config/image-reference.js';
import { parseConfig } from '../../../src/config/parse.js';
import { hostPlatform, parsePlatform, platformMatches } from '../../../src/config/platform.js';
import { createLogger } from '../../../src/log.js';
import { readManifest, selectPlatforms } from '../../../src/warm/manifest.js';
import type { WarmJobs, WarmRequest } from '../../../src/warm/warm-jobs.js';
import { createWarmSchedule, planWarm } from '../../../src/warm/warm-schedule.js';
import { resolveWarmTarget } from '../../../src/warm/warm-target.js';
import { configFrom } from '../../helpers/config.js';
import { createFakeClock } from '../../helpers/fake-clock.js';

const HEX = 'a'.repeat(64);

describe('image references', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.19', 'docker.io/library/alpine:3.19'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['docker.io/library/alpine:3.19', 'docker.io/library/alpine:3.19'],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest'],
    ['ghcr.io/org/app:1.2', 'ghcr.io/org/app:1.2'],
    ['localhost:5000/a/b/c', 'localhost:5000/a/b/c:latest'],
    [`registry.k8s.io/pause@sha256:${HEX}`, `registry.k8s.io/pause@sha256:${HEX}`],
    [`quay.io/x/y:1@sha256:${HEX}`, `quay.io/x/y:1@sha256:${HEX}`],
  ])('%s → %s', (text, canonical) => {
    const ref = parseImageReference(text);
    expect('error' in ref ? ref.error : formatImageReference(ref)).toBe(canonical);
  });

  it.each(['', 'Alpine', 'alpine:', 'a/b@sha256:short', 'ghcr.io/Org/app', 'a b', 'alpine:bad tag', 'x/../y'])('refuses %j', (text) => {
    expect('error' in parseImageReference(text)).toBe(true);
  });
});

describe('platforms', () => {
  it('parses os/arch[/variant] and maps the host', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('amd64')).toBeNull();
    expect(parsePlatform('linux/amd64/x/y')).toBeNull();
    expect(hostPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(hostPlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
  });

  it('a wanted platform without variant takes any; arm64 without variant is v8', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, undefined)).toBe(false);
  });
});

describe('manifests', () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const index = Buffer.from(
    JSON.stringify({
      manifests: [
        { digest: d('1'), platform: { os: 'linux', architecture: 'amd64' } },
        { digest: d('2'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { digest: d('3'), platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    }),
  );

  it('reads an index and picks only the wanted platforms, naming the missing ones', () => {
    const m = readManifest(index, 'application/vnd.oci.image.index.v1+json');
    expect(m).toMatchObject({ kind: 'index' });
    if ('error' in m || m.kind !== 'index') return;
    const { chosen, missing } = selectPlatforms(m.entries, [parsePlatform('linux/arm64')!, parsePlatform('linux/s390x')!]);
    expect(chosen.map((c) => c.digest)).toEqual([d('2')]);
    expect(missing).toEqual([{ os: 'linux', architecture: 's390x' }]);
  });

  it('reads an image manifest: config first, then layers', () => {
    const body = Buffer.from(JSON.stringify({ config: { digest: d('c'), size: 10 }, layers: [{ digest: d('e'), size: 20 }] }));
    expect(readManifest(body, 'application/vnd.docker.distribution.manifest.v2+json')).toEqual({
      kind: 'image',
      blobs: [
        { digest: d('c'), size: 10 },
        { digest: d('e'), size: 20 },
      ],
    });
    expect(readManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws')).toEqual({
      error: 'unsupported manifest type application/vnd.docker.distribution.manifest.v1+prettyjws',
    });
    expect(readManifest(Buffer.from('not json'), null)).toEqual({ error: 'manifest is not JSON' });
  });
});

describe('warm targets and the warm: section', () => {
  const config = configFrom(`
domain: registry.example.com
warm:
  platforms: [linux/amd64, linux/arm64]
  every: 1h
  images:
    - alpine:3.19
    - { image: registry.k8s.io/pause:3.9, platforms: [linux/arm64], every: 10m }
registries:
  hub-b: { upstream: "https://registry-1.docker.io", mirrorOf: docker.io, mirrorOrder: 2 }
  hub-a: { upstream: "https://registry-1.docker.io", mirrorOf: docker.io, mirrorOrder: 1 }
  k8s: { upstream: "https://registry.k8s.io", mirrorOf: registry.k8s.io }
`);

  it('maps references by mirrorOf to the first cache in mirror order', () => {
    expect(resolveWarmTarget('alpine:3.19', config)).toMatchObject({
      image: 'docker.io/library/alpine:3.19',
      cache: 'hub-a',
      host: 'hub-a.registry.example.com',
    });
    expect(resolveWarmTarget('registry.k8s.io/pause:3.9', config)).toMatchObject({ cache: 'k8s' });
    expect(resolveWarmTarget('ghcr.io/a/b', config)).toEqual({
      image: 'ghcr.io/a/b:latest',
      error: "no cache mirrors ghcr.io (registries' mirrorOf: docker.io, registry.k8s.io)",
    });
  });

  it('reads the warm list with defaults', () => {
    expect(config.warm).toEqual({
      platforms: ['linux/amd64', 'linux/arm64'],
      entries: [
        { image: 'alpine:3.19', platforms: null, everySeconds: 3600, pin: false },
        { image: 'registry.k8s.io/pause:3.9', platforms: ['linux/arm64'], everySeconds: 600, pin: false },
      ],
    });
  });

  it('names bad entries by path', () => {
    const result = parseConfig(
      `
domain: registry.example.com
warm:
  platforms: [amd64]
  images: [Alpine, quay.io/x/y, { image: alpine, every: 1s }]
registries:
  docker.io: { upstream: "https://registry-1.docker.io" }
`,
      { source: '/etc/regcache/registries.yaml', env: {} },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path).sort()).toEqual(['warm.images.0', 'warm.images.2.every', 'warm.platforms.0']);
    const second = parseConfig(
      `
domain: registry.example.com
warm: { images: [quay.io/x/y] }
registries:
  docker.io: { upstream: "https://registry-1.docker.io" }
`,
      { source: '/etc/regcache/registries.yaml', env: {} },
    );
    expect(second.ok ? [] : second.problems).toEqual([{ path: 'warm.images.0', message: expect.stringContaining('no cache mirrors quay.io') }]);
  });
});

describe('warm schedule', () => {
  const entry = (image: string, everySeconds: number | null) => ({ image, platforms: null, everySeconds, pin: false });

  it('plans new entries now, interval entries every interval, one-off entries once', () => {
    const a = entry('a', 60);
    const b = entry('b', null);
    expect(planWarm([a, b], new Map(), 1000)).toEqual({ due: [a, b], nextAtMs: 61_000 });
    const ran = new Map([
      [JSON.stringify(['a', null, 60]), 1000],
      [JSON.stringify(['b', null, null]), 1000],
    ]);
    expect(planWarm([a, b], ran, 30_000)).toEqual({ due: [], nextAtMs: 61_000 });
    expect(planWarm([a, b], ran, 61_000)).toEqual({ due: [a], nextAtMs: 121_000 });
  });

  it('runs on the daemon clock: at start, then every interval, and forgets removed entries', async () => {
    const clock = createFakeClock(0);
    const started: Array<{ request: WarmRequest; at: number }> = [];
    const jobs = {
      start: (request: WarmRequest) => {
        started.push({ request, at: clock.now() });
        return { job: {} as never };
      },
    } as unknown as WarmJobs;
    const schedule = createWarmSchedule({ jobs, clock, logger: createLogger({ level: 'silent' }) });
    schedule.update({ platforms: ['linux/arm64'], entries: [entry('a', 60), entry('b', null)] });
    expect(started).toEqual([]); // not started yet
    schedule.start();
    expect(started.map((s) => [s.request.images[0], s.request.platforms, s.at])).toEqual([
      ['a', ['linux/arm64'], 0],
      ['b', ['linux/arm64'], 0],
    ]);
    await clock.advance(59_000);
    expect(started).toHaveLength(2);
    await clock.advance(1_000);
    expect(started.map((s) => s.at)).toEqual([0, 0, 60_000]);
    await clock.advance(60_000);
    expect(started.map((s) => s.at)).toEqual([0, 0, 60_000, 120_000]);
    schedule.update({ platforms: null, entries: [entry('b', null)] });
    await clock.advance(600_000);
    expect(started).toHaveLength(4);
    schedule.stop();
    expect(clock.pending()).toBe(0);
  });
});
