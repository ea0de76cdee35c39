// Warm: images fetched through the router ahead of the first pull fill every cache layer, so a real client
// pulls them with the upstream gone; only the requested platforms of an index are fetched; the config's warm
// list re-resolves moved tags periodically.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary, waitFor } from '../../helpers/binaries.js';
import { runCli } from '../../helpers/cli.js';
import { generateImage, generateIndex, type TestImage } from '../../helpers/image.js';
import { getBlob, getManifest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

const exec = promisify(execFile);

async function waitForJob(rc: RunningRegcache, id: string): Promise<any> {
  let job: any;
  await waitFor(
    async () => {
      job = (await adminJson(rc, `/api/v1/warm/${id}`)).body;
      return job.state === 'done' || job.state === 'failed';
    },
    { timeoutMs: 60_000, what: `warm job ${id}` },
  );
  return job;
}

describe('warm: the CLI fills the caches, then the upstream goes away', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  let scratch: string;
  const image = generateImage({ seed: 'warm-cli', layers: [300_000, 200_000, 100_000] });

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    // 127.0.0.1 as an alias: skopeo cannot set Host, so it reaches the docker.io vhost by address.
    rc = await startRegcache({ registries: { 'docker.io': { upstream: upstream.url, aliases: ['127.0.0.1'] } } });
    scratch = await mkdtemp(path.join(tmpdir(), 'regcache-warm-'));
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('regcache warm prints progress per image and a summary, and exits 0', async () => {
    // A docker.io short name: app → docker.io/library/app.
    const res = await runCli(['warm', '--config', rc.configFile, 'app:v1']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('warming 1 image(s) through http://127.0.0.1:');
    expect(res.stdout).toContain('docker.io/library/app:v1 (docker.io): blobs 4/4 0.6 MiB done\n');
    expect(res.stdout).toMatch(/warmed 1 of 1 image\(s\): 4 blobs, 0\.6 MiB in [\d.]+ s/);
    const fetched = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
    expect(new Set(fetched.map((r) => r.path.split('/').pop()))).toEqual(new Set([image.config.digest, ...image.layers.map((l) => l.digest)]));
  });

  it('names the failing image and the reason, and exits 1', async () => {
    const res = await runCli(['warm', '--config', rc.configFile, 'docker.io/library/app:v1', 'library/missing:v9', 'quay.io/org/x:1']);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/warmed 1 of 3 image\(s\)/);
    expect(res.stderr).toContain('failed: docker.io/library/missing:v9: manifest library/missing:v9: HTTP 404: MANIFEST_UNKNOWN');
    expect(res.stderr).toContain('failed: quay.io/org/x:1: no cache mirrors quay.io');
  });

  it('skopeo copies the warmed image with the upstream stopped', async () => {
    await upstream.kill();
    const skopeo = requireBinary(['skopeo']);
    const dest = path.join(scratch, 'copy');
    const ref = `docker://127.0.0.1:${rc.routerPort}/library/app:v1`;
    try {
      await exec(skopeo, ['--insecure-policy', 'copy', '--src-tls-verify=false', ref, `dir:${dest}`], { timeout: 120_000 });
    } catch (err) {
      throw new Error(`skopeo copy: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
    expect((await readFile(path.join(dest, 'manifest.json'))).equals(image.manifest)).toBe(true);
    for (const layer of image.layers) expect((await readFile(path.join(dest, layer.digest.slice(7)))).equals(layer.data)).toBe(true);
  });
});

describe('warm: API jobs, platforms, the config list', () => {
  let upstream: UpstreamRegistry;
  let rc: RunningRegcache;
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ];
  const images = platforms.map((platform, i) => generateImage({ seed: `warm-multi-${i}`, layers: [50_000, 60_000], platform, mediaType: 'oci' }));
  const index = generateIndex(images, { mediaType: 'oci' });
  const first = generateImage({ seed: 'moving-1', layers: [40_000] });
  const moved = generateImage({ seed: 'moving-2', layers: [41_000] });
  const blobsOf = (img: TestImage) => [img.config.digest, ...img.layers.map((l) => l.digest)];

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'org/multi', tag: '1.0', image: index },
      { repository: 'library/moving', tag: 'latest', image: first },
    ]);
    rc = await startRegcache({
      registries: { hub: { upstream: upstream.url, mirrorOf: 'docker.io' } },
      // A moved tag is seen once the router's tag microcache (tagTTL) let go of the old digest.
      cache: { tagTTL: 5 },
      warm: { platforms: ['linux/amd64'], images: [{ image: 'moving', every: '10s' }] },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await upstream?.stop();
  });

  it('POST /api/v1/warm fills only the requested platforms of an index (the upstream log says which blobs)', async () => {
    await upstream.settledRequests();
    upstream.clearRequests();
    const started = await adminJson(rc, '/api/v1/warm', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ images: ['docker.io/org/multi:1.0'], platforms: ['linux/arm64', 'linux/arm/v7'] }),
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      origin: 'api',
      platforms: ['linux/arm64', 'linux/arm/v7'],
      images: [{ image: 'docker.io/org/multi:1.0', cache: 'hub' }],
    });
    const job = await waitForJob(rc, started.body.id);
    expect(job.state).toBe('done');
    expect(job.images[0]).toMatchObject({
      state: 'done',
      digest: index.manifestDigest,
      platforms: ['linux/arm64', 'linux/arm/v7'],
      manifests: 4,
      blobs: { done: 6, total: 6 },
    });
    const fetched = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.startsWith('/v2/org/multi/'));
    const blobs = new Set(fetched.filter((r) => r.path.includes('/blobs/')).map((r) => r.path.split('/').pop()));
    expect(blobs).toEqual(new Set([...blobsOf(images[1]!), ...blobsOf(images[2]!)]));
    const manifests = fetched.filter((r) => r.path.includes('/manifests/sha256:')).map((r) => r.path.split('/').pop());
    expect(new Set(manifests)).toEqual(new Set([images[1]!.manifestDigest, images[2]!.manifestDigest]));

    // A client pulling the warmed platform is served from nginx's cache, without the upstream.
    // (Blob hits come from the cache's verified storage, which the registry fills just after the warm's fetch.)
    const fetchLayer = () => getBlob(rc.routerUrl, 'org/multi', images[1]!.layers[0]!.digest, { headers: { host: `hub.${rc.domain}` } });
    await waitFor(async () => (await fetchLayer()).headers.get('x-cache-status') === 'HIT', { what: 'the warmed layer in storage' });
    upstream.clearRequests();
    const layer = await fetchLayer();
    expect(layer.status).toBe(200);
    expect(layer.headers.get('x-cache-status')).toBe('HIT');
    expect((await upstream.settledRequests()).filter((r) => r.path.includes('/blobs/'))).toEqual([]);
  });

  it('a job that fails names each image and why; the list and the status page show jobs', async () => {
    const started = await adminJson(rc, '/api/v1/warm', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ images: ['org/multi:1.0', 'ghcr.io/x/y:1'], platforms: ['windows/amd64'] }),
    });
    const job = await waitForJob(rc, started.body.id);
    expect(job.state).toBe('failed');
    expect(job.images[0].error).toMatch(/none of the platforms windows\/amd64 in the index \(it has linux\/amd64, linux\/arm64, linux\/arm\/v7\)/);
    expect(job.images[1].error).toContain('no cache mirrors ghcr.io');
    const list = await adminJson(rc, '/api/v1/warm');
    expect(list.body.jobs[0].id).toBe(job.id);
    const page = await (await fetch(`${rc.adminUrl}/`)).text();
    expect(page).toContain(job.id);
    expect(page).toContain('no cache mirrors ghcr.io');
  });

  it('bad requests are 400 naming the field, and change nothing', async () => {
    const before = (await adminJson(rc, '/api/v1/warm')).body.jobs.length;
    const post = (body: unknown) =>
      adminJson(rc, '/api/v1/warm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await post({ images: [] })).toMatchObject({ status: 400, body: { error: 'images: must list at least one image' } });
    expect(await post({ images: ['alpine'], platforms: ['amd64'] })).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^platforms: "amd64" must be os\/arch/) },
    });
    expect(await post({ images: ['alpine'], extra: 1 })).toMatchObject({ status: 400, body: { error: 'extra: unknown key' } });
    expect((await adminJson(rc, '/api/v1/warm/nope')).status).toBe(404);
    const malformed = await fetch(`${rc.adminUrl}/api/v1/warm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"images": [',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: 'body is not valid JSON' });
    expect((await adminJson(rc, '/api/v1/warm')).body.jobs.length).toBe(before);
  });

  it('the config warm list re-resolves a moved tag, so the next pull of it is a hit', async () => {
    // The start-up run warmed moving:latest at its first digest.
    await waitFor(
      async () =>
        (await adminJson(rc, '/api/v1/warm')).body.jobs.some(
          (j: any) => j.origin === 'config' && j.images[0].digest === first.manifestDigest && j.state === 'done',
        ),
      {
        timeoutMs: 30_000,
        what: 'the start-up warm of moving:latest',
      },
    );
    await seedUpstream(upstream, [{ repository: 'library/moving', tag: 'latest', image: moved }]);
    await waitFor(
      async () =>
        (await adminJson(rc, '/api/v1/warm')).body.jobs.some(
          (j: any) => j.origin === 'config' && j.images[0].digest === moved.manifestDigest && j.state === 'done',
        ),
      {
        timeoutMs: 40_000,
        what: 'a periodic warm of the moved tag',
      },
    );
    const host = { host: `hub.${rc.domain}` };
    // Blob hits come from the cache's verified storage, which the registry fills just after the warm's fetch.
    const fetchLayer = () => getBlob(rc.routerUrl, 'library/moving', moved.layers[0]!.digest, { headers: host });
    await waitFor(async () => (await fetchLayer()).headers.get('x-cache-status') === 'HIT', { what: 'the warmed layer in storage' });
    await upstream.settledRequests();
    upstream.clearRequests();
    const manifest = await getManifest(rc.routerUrl, 'library/moving', moved.manifestDigest, undefined, { headers: host });
    expect(manifest.status).toBe(200);
    const layer = await fetchLayer();
    expect(layer.headers.get('x-cache-status')).toBe('HIT');
    expect((await upstream.settledRequests()).filter((r) => r.path.includes('/blobs/') || r.path.includes('/manifests/sha256:'))).toEqual([]);
  });
});
