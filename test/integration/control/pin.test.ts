// Pinning: a pinned image survives the storage bound's LRU pass that evicts unpinned content under a small
// maxSize, and distribution 2.8's proxy expiry (the registry deletes it; regcache puts it back); with the
// upstream gone it still pulls. API pins round-trip and survive a daemon restart.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRuntimePaths } from '../../../src/apply/runtime/process/process-runtime.js';
import { requireBinary, waitFor } from '../../helpers/binaries.js';
import { generateImage, type TestImage } from '../../helpers/image.js';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.js';
import { adminJson, startRegcache, type RegcacheConfigInput, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';
import { exists } from '../../helpers/stored-blobs.js';

const exec = promisify(execFile);
const TOKEN = 'pin-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const blobsOf = (img: TestImage) => [img.config.digest, ...img.layers.map((l) => l.digest)];

function storageOf(rc: RunningRegcache) {
  return processRuntimePaths(path.join(rc.dir, 'data'), 'docker-io').storage;
}
function dataFile(rc: RunningRegcache, digest: string) {
  const hex = digest.slice('sha256:'.length);
  return path.join(storageOf(rc), 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** skopeo copies the image through the router (127.0.0.1 is an alias of the docker.io cache) and checks its bytes. */
async function pullWithSkopeo(rc: RunningRegcache, repository: string, img: TestImage, scratch: string) {
  const dest = await mkdtemp(path.join(scratch, 'copy-'));
  try {
    await exec(
      requireBinary(['skopeo']),
      ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://127.0.0.1:${rc.routerPort}/${repository}`, `dir:${dest}`],
      { timeout: 120_000 },
    );
  } catch (err) {
    throw new Error(`skopeo copy: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  expect((await readFile(path.join(dest, 'manifest.json'))).equals(img.manifest)).toBe(true);
  for (const layer of img.layers) expect((await readFile(path.join(dest, layer.digest.slice(7)))).equals(layer.data)).toBe(true);
}

async function waitForJob(rc: RunningRegcache, id: string): Promise<any> {
  let job: any;
  await waitFor(
    async () => {
      job = (await adminJson(rc, `/api/v1/warm/${id}`, { headers: auth })).body;
      return job.state === 'done' || job.state === 'failed';
    },
    { timeoutMs: 60_000, what: `warm job ${id}` },
  );
  return job;
}

describe('pin: the maxSize LRU skips pinned images; API pins persist', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let scratch: string;
  let pinId: string;
  // 3 × 250 KiB pinned, 2 × 300 KiB not: together over a 1 MiB bound, the pinned image alone under it.
  const keep = generateImage({ seed: 'pin-keep', layers: [250_000, 250_000, 250_000] });
  const drop = generateImage({ seed: 'pin-drop', layers: [300_000, 300_000] });
  // Pinned later beside keep: together over the bound.
  const more = generateImage({ seed: 'pin-more', layers: [200_000, 200_000] });
  const config: RegcacheConfigInput = {
    registries: { 'docker.io': { upstream: '', aliases: ['127.0.0.1'], cache: { maxSize: '1m' } } },
    warm: { platforms: ['linux/amd64'] },
  };

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/keep', tag: '1', image: keep },
      { repository: 'library/drop', tag: '1', image: drop },
      { repository: 'library/more', tag: '1', image: more },
    ]);
    config.registries['docker.io']!.upstream = upstream.url;
    rc = await startRegcache(config, { env: { REGCACHE_ADMIN_TOKEN: TOKEN } });
    scratch = await mkdtemp(path.join(tmpdir(), 'regcache-pin-'));
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('POST /api/v1/pins needs the admin token, warms the image and records its digests', async () => {
    const post = (body: unknown, headers: Record<string, string> = auth) =>
      adminJson(rc, '/api/v1/pins', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post({ image: 'keep:1' }, {})).status).toBe(401);
    expect(await post({ image: 'quay.io/x/y:1' })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('image: no cache mirrors quay.io') },
    });
    expect(await post({ image: 'keep:1', every: '1h' })).toMatchObject({ status: 400, body: { error: 'every: unknown key' } });
    const res = await fetch(`${rc.adminUrl}/api/v1/pins`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ image: 'keep:1' }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as any;
    pinId = body.pin.id;
    expect(res.headers.get('location')).toBe(`/api/v1/pins/${pinId}`);
    expect(body).toMatchObject({ pin: { image: 'docker.io/library/keep:1', cache: 'docker.io', source: 'api' }, job: { pin: true } });
    expect((await waitForJob(rc, body.job.id)).state).toBe('done');
    const pin = (await adminJson(rc, `/api/v1/pins/${pinId}`, { headers: auth })).body;
    const declared = keep.manifest.length + keep.config.data.length + keep.layers.reduce((n, l) => n + l.data.length, 0);
    expect(pin).toMatchObject({ state: 'pinned', digest: keep.manifestDigest, digests: 5, bytes: declared });
    expect(new Set(pin.content.blobs.map((b: { digest: string }) => b.digest))).toEqual(new Set(blobsOf(keep)));
    const list = (await adminJson(rc, '/api/v1/pins', { headers: auth })).body;
    expect(list.totals).toEqual({ caches: { 'docker.io': declared }, bytes: declared });
    const metrics = parsePrometheusText(await (await fetch(`${rc.adminUrl}/metrics`, { headers: auth })).text());
    expect(sampleValue(metrics, 'regcache_pinned_bytes', { vhost: 'docker.io' })).toBe(declared);
    const page = await (await fetch(`${rc.adminUrl}/`)).text();
    expect(page).toContain('Pinned images');
    expect(page).toContain('docker.io/library/keep:1');
  });

  it('a storage-bound pass evicts the unpinned image and keeps the pinned one, which pulls with the upstream stopped', async () => {
    for (const d of [keep.manifestDigest, ...blobsOf(keep)]) await waitFor(() => exists(dataFile(rc, d)), { what: `pinned ${d} stored` });
    // The unpinned image is pulled after the pinned one, so without the pin the pinned blobs would go first.
    const started = await adminJson(rc, '/api/v1/warm', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ images: ['drop:1'] }),
    });
    expect((await waitForJob(rc, started.body.id)).state).toBe('done');
    // The bound's log names what it evicted (files it found on disk), so this cannot pass before they were stored.
    const evicted = () =>
      new Set(
        rc.logs
          .map((l) => JSON.parse(l) as { msg?: string; digests?: string[] })
          .filter((l) => l.msg === 'cache over maxSize: evicted least recently used blobs')
          .flatMap((l) => l.digests ?? []),
      );
    await waitFor(async () => drop.layers.every((l) => evicted().has(l.digest)), { what: 'the unpinned layers to be evicted', timeoutMs: 90_000 });
    for (const l of drop.layers) expect(await exists(dataFile(rc, l.digest))).toBe(false);
    for (const d of [keep.manifestDigest, ...blobsOf(keep)]) expect(evicted().has(d)).toBe(false);
    for (const d of [keep.manifestDigest, ...blobsOf(keep)]) expect(await exists(dataFile(rc, d))).toBe(true);
    const events = (await adminJson(rc, '/api/v1/events?limit=100', { headers: auth })).body.events as Array<{ vhost: string; message: string }>;
    expect(events.some((e) => e.vhost === 'docker.io' && e.message.includes('evicted'))).toBe(true);

    // Pinning another image too puts the pinned bytes over maxSize: both are kept, and that is reported.
    const second = await adminJson(rc, '/api/v1/pins', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ image: 'more:1' }),
    });
    expect(second.status).toBe(202);
    expect((await waitForJob(rc, second.body.job.id)).state).toBe('done');
    await waitFor(async () => 'docker.io' in (await adminJson(rc, '/api/v1/pins', { headers: auth })).body.overMaxSize, {
      what: 'pinned bytes over maxSize to be reported',
      timeoutMs: 60_000,
    });
    const warned = (await adminJson(rc, '/api/v1/events?limit=100', { headers: auth })).body.events as Array<{
      kind: string;
      level: string;
      message: string;
    }>;
    expect(warned.some((e) => e.kind === 'pin' && e.level === 'warn' && e.message.includes('more than cache.maxSize'))).toBe(true);
    expect(await (await fetch(`${rc.adminUrl}/`)).text()).toContain('more than cache.maxSize');
    for (const d of [keep.manifestDigest, ...blobsOf(keep), more.manifestDigest, ...blobsOf(more)])
      expect(await exists(dataFile(rc, d)), d).toBe(true);
    expect((await adminJson(rc, `/api/v1/pins/${second.body.pin.id}`, { method: 'DELETE', headers: auth })).status).toBe(200);

    await upstream.kill();
    await pullWithSkopeo(rc, 'library/keep:1', keep, scratch);
  });

  it('API pins survive a restart; DELETE unpins', async () => {
    const before = (await adminJson(rc, `/api/v1/pins/${pinId}`, { headers: auth })).body;
    const { dir, routerPort, adminPort } = rc;
    await rc.stop({ keepDir: true });
    rc = await startRegcache(config, { dir, ports: { router: routerPort, admin: adminPort }, env: { REGCACHE_ADMIN_TOKEN: TOKEN } });
    const after = (await adminJson(rc, `/api/v1/pins/${pinId}`, { headers: auth })).body;
    expect(after).toMatchObject({ image: before.image, source: 'api', state: 'pinned', digest: before.digest, digests: 5, bytes: before.bytes });
    expect(after.content).toEqual(before.content);

    const del = await adminJson(rc, `/api/v1/pins/${pinId}`, { method: 'DELETE', headers: auth });
    expect(del).toEqual({ status: 200, body: { removed: pinId } });
    expect((await adminJson(rc, `/api/v1/pins/${pinId}`, { headers: auth })).status).toBe(404);
    expect((await adminJson(rc, `/api/v1/pins/${pinId}`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await adminJson(rc, '/api/v1/pins', { headers: auth })).body).toMatchObject({ pins: [], totals: { caches: {}, bytes: 0 } });
    const file = JSON.parse(await readFile(path.join(dir, 'data', 'pins', 'pins.json'), 'utf8'));
    expect(file.pins).toEqual([]);
  });
});

describe("pin: distribution's 7-day proxy expiry deletes cached content; pinned content is put back", () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let scratch: string;
  const keep = generateImage({ seed: 'expiry-keep', layers: [60_000, 70_000] });
  const drop = generateImage({ seed: 'expiry-drop', layers: [80_000] });
  let config: RegcacheConfigInput;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/keep', tag: '1', image: keep },
      { repository: 'library/drop', tag: '1', image: drop },
    ]);
    config = {
      registries: { 'docker.io': { upstream: upstream.url, aliases: ['127.0.0.1'] } },
      warm: { platforms: ['linux/amd64'], images: [{ image: 'keep:1', pin: true }, 'drop:1'] },
    };
    rc = await startRegcache(config, { pins: { keepMs: 500 } });
    scratch = await mkdtemp(path.join(tmpdir(), 'regcache-pin-'));
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the config pin resolves; the registry schedules everything it fetched for expiry', async () => {
    await waitFor(async () => (await adminJson(rc, '/api/v1/pins')).body.pins[0]?.state === 'pinned', { what: 'the config pin', timeoutMs: 60_000 });
    const pins = (await adminJson(rc, '/api/v1/pins')).body.pins;
    expect(pins).toMatchObject([{ image: 'docker.io/library/keep:1', source: 'config', digests: 4 }]);
    expect((await adminJson(rc, `/api/v1/pins/${pins[0].id}`, { method: 'DELETE' })).status).toBe(409);
    // distribution writes its scheduler state every 5 s: every fetched blob and manifest has an entry.
    const stateFile = path.join(storageOf(rc), 'scheduler-state.json');
    const wanted = [...blobsOf(keep), ...blobsOf(drop), keep.manifestDigest, drop.manifestDigest];
    await waitFor(
      async () => {
        const text = await readFile(stateFile, 'utf8').catch(() => '');
        return wanted.every((d) => text.includes(d));
      },
      { what: 'scheduler-state.json to list every fetched digest', timeoutMs: 60_000 },
    );
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as Record<string, { ExpiryData: string }>;
    // 7 days: repositoryTTL in registry/proxy/proxymanifeststore.go (release/2.8).
    for (const entry of Object.values(state)) expect(Date.parse(entry.ExpiryData) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
  });

  it('expiry (moved into the past, the registry restarted) deletes the unpinned blobs; the pinned ones come back and pull without the upstream', async () => {
    for (const d of [...blobsOf(keep), ...blobsOf(drop)]) expect(await exists(dataFile(rc, d))).toBe(true);
    const { dir, routerPort, adminPort } = rc;
    await rc.stop({ keepDir: true });
    const storage = processRuntimePaths(path.join(dir, 'data'), 'docker-io').storage;
    const stateFile = path.join(storage, 'scheduler-state.json');
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as Record<string, { ExpiryData: string }>;
    for (const entry of Object.values(state)) entry.ExpiryData = new Date(Date.now() - 60_000).toISOString();
    await writeFile(stateFile, JSON.stringify(state));
    // Without drop:1 in the warm list, so nothing fetches it again; keep:1 resolves to the digest it holds (no fetch).
    config = { ...config, warm: { platforms: ['linux/amd64'], images: [{ image: 'keep:1', pin: true }] } };
    rc = await startRegcache(config, { dir, ports: { router: routerPort, admin: adminPort }, pins: { keepMs: 500 } });

    // The registry read its state at start and expired everything: the unpinned blobs are gone.
    await waitFor(async () => !(await exists(dataFile(rc, drop.layers[0]!.digest))), { what: 'the unpinned layer to expire', timeoutMs: 30_000 });
    await waitFor(
      async () => {
        const events = (await adminJson(rc, '/api/v1/events?limit=100')).body.events as Array<{ kind: string; message: string }>;
        return events.some((e) => e.kind === 'pin' && e.message.includes('proxy expiry deleted'));
      },
      { what: 'the keeper to put pinned files back', timeoutMs: 30_000 },
    );
    await waitFor(async () => (await Promise.all(blobsOf(keep).map((d) => exists(dataFile(rc, d))))).every(Boolean), {
      what: 'every pinned blob back',
    });
    const layerLink = path.join(
      storageOf(rc),
      'docker/registry/v2/repositories/library/keep/_layers/sha256',
      keep.layers[0]!.digest.slice(7),
      'link',
    );
    await waitFor(() => exists(layerLink), { what: 'the repository link back' });
    expect(await exists(dataFile(rc, drop.layers[0]!.digest))).toBe(false);

    await upstream.kill();
    await pullWithSkopeo(rc, 'library/keep:1', keep, scratch);
  });
});
