// Proves the shared fixtures work: a real distribution registry, seeded with
// generated images, that a real client (skopeo) accepts.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/binaries.js';
import { generateImage, generateIndex, MediaTypes, sha256Digest } from '../helpers/image.js';
import { basicAuthHeader, getBlob, getManifest, pushImage } from '../helpers/push.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const run = promisify(execFile);
const TIMEOUT = 60_000;

async function skopeo(args: string[]): Promise<string> {
  const bin = requireBinary(['skopeo']);
  try {
    // --insecure-policy: don't depend on the host's /etc/containers/policy.json.
    const { stdout } = await run(bin, ['--insecure-policy', ...args], { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

describe('upstream registry fixture', () => {
  const image = generateImage({ seed: 'fixtures-two-layer', layers: [4096, 300_000] });
  const amd64 = generateImage({ seed: 'fixtures-multi', mediaType: 'oci', platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = generateImage({
    seed: 'fixtures-multi',
    mediaType: 'oci',
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  });
  const index = generateIndex([amd64, arm64]);
  let upstream: UpstreamRegistry;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'regcache-fixtures-test-'));
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/two-layer', tag: 'v1', image },
      { repository: 'multi/arch', tag: 'latest', image: index },
    ]);
  }, TIMEOUT);

  afterAll(async () => {
    await upstream?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('generates deterministic, self-consistent images', () => {
    const again = generateImage({ seed: 'fixtures-two-layer', layers: [4096, 300_000] });
    expect(again.manifestDigest).toBe(image.manifestDigest);
    expect(generateImage({ seed: 'other', layers: [4096, 300_000] }).manifestDigest).not.toBe(image.manifestDigest);
    expect(amd64.layers[0].digest).not.toBe(arm64.layers[0].digest);

    const config = JSON.parse(image.config.data.toString());
    expect(config).toMatchObject({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers' } });
    image.layers.forEach((layer, i) => {
      expect(layer.digest).toBe(sha256Digest(layer.data));
      const tar = gunzipSync(layer.data);
      expect(config.rootfs.diff_ids[i]).toBe(sha256Digest(tar));
      expect(tar.length % 512).toBe(0);
    });
    // ~incompressible payload: the gzip is not much smaller than the file.
    expect(image.layers[1].size).toBeGreaterThan(300_000);
    expect(image.manifestMediaType).toBe(MediaTypes.dockerManifest);
    expect(index.manifestMediaType).toBe(MediaTypes.ociIndex);
  });

  it('serves manifests and blobs byte-identical to what was pushed', async () => {
    const byTag = await getManifest(upstream.url, 'library/two-layer', 'v1');
    expect(byTag.status).toBe(200);
    expect(byTag.digest).toBe(image.manifestDigest);
    expect(byTag.mediaType).toBe(MediaTypes.dockerManifest);
    expect(byTag.body.equals(image.manifest)).toBe(true);

    for (const blob of [image.config, ...image.layers]) {
      const res = await getBlob(upstream.url, 'library/two-layer', blob.digest);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
      expect(res.body.equals(blob.data)).toBe(true);
    }

    const idx = await getManifest(upstream.url, 'multi/arch', 'latest');
    expect(idx.status).toBe(200);
    expect(idx.digest).toBe(index.manifestDigest);
    expect(idx.mediaType).toBe(MediaTypes.ociIndex);
    expect(idx.body.equals(index.manifest)).toBe(true);
    const child = await getManifest(upstream.url, 'multi/arch', arm64.manifestDigest);
    expect(child.status).toBe(200);
    expect(child.body.equals(arm64.manifest)).toBe(true);

    // A Host override (virtual-host routing through nginx) is passed verbatim.
    const vhost = await getManifest(upstream.url, 'library/two-layer', 'v1', undefined, {
      method: 'HEAD',
      headers: { host: 'upstream.example.test' },
    });
    expect(vhost.status).toBe(200);
    expect(vhost.digest).toBe(image.manifestDigest);
    await upstream.settledRequests();
    expect(upstream.output().some((l) => l.includes('"http.request.host":"upstream.example.test"'))).toBe(true);
  });

  it('records every request with its status', async () => {
    await upstream.settledRequests();
    upstream.clearRequests();
    const missing = `sha256:${'0'.repeat(64)}`;
    await getManifest(upstream.url, 'library/two-layer', 'v1');
    await getManifest(upstream.url, 'library/two-layer', 'v1', undefined, { method: 'HEAD' });
    await getBlob(upstream.url, 'library/two-layer', image.layers[1].digest);
    await getManifest(upstream.url, 'library/two-layer', 'nope');
    await getBlob(upstream.url, 'library/two-layer', missing, { method: 'HEAD' });
    await getManifest(upstream.url, 'Invalid_Upper', 'x'); // router-level 404, absent from the JSON log

    expect(await upstream.settledRequests()).toEqual([
      { method: 'GET', path: '/v2/library/two-layer/manifests/v1', uri: '/v2/library/two-layer/manifests/v1', status: 200 },
      { method: 'HEAD', path: '/v2/library/two-layer/manifests/v1', uri: '/v2/library/two-layer/manifests/v1', status: 200 },
      {
        method: 'GET',
        path: `/v2/library/two-layer/blobs/${image.layers[1].digest}`,
        uri: `/v2/library/two-layer/blobs/${image.layers[1].digest}`,
        status: 200,
      },
      { method: 'GET', path: '/v2/library/two-layer/manifests/nope', uri: '/v2/library/two-layer/manifests/nope', status: 404 },
      { method: 'HEAD', path: `/v2/library/two-layer/blobs/${missing}`, uri: `/v2/library/two-layer/blobs/${missing}`, status: 404 },
      { method: 'GET', path: '/v2/Invalid_Upper/manifests/x', uri: '/v2/Invalid_Upper/manifests/x', status: 404 },
    ]);
  });

  it('produces images skopeo accepts (inspect + copy)', { timeout: TIMEOUT }, async () => {
    const ref = `docker://${upstream.host}/library/two-layer:v1`;
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', ref]));
    expect(info.Digest).toBe(image.manifestDigest);
    expect(info.Layers).toEqual(image.layers.map((l) => l.digest));

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${upstream.host}/multi/arch:latest`]);
    expect(Buffer.from(raw).equals(index.manifest)).toBe(true);

    const dest = join(scratch, 'two-layer');
    await skopeo(['copy', '--src-tls-verify=false', ref, `dir:${dest}`]);
    expect((await readFile(join(dest, 'manifest.json'))).equals(image.manifest)).toBe(true);

    // The layers must be real tars: extract the big one with the system tar.
    const out = join(scratch, 'rootfs');
    const layerFile = join(dest, image.layers[1].digest.slice('sha256:'.length));
    await mkdir(out);
    await run(requireBinary(['tar']), ['-xzf', layerFile, '-C', out]);
    expect(await readdir(join(out, 'data'))).toEqual(['fixtures-two-layer-1.bin']);
    expect((await stat(join(out, 'data', 'fixtures-two-layer-1.bin'))).size).toBe(300_000);

    const ociDest = join(scratch, 'multi-oci');
    await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${upstream.host}/multi/arch:latest`, `oci:${ociDest}:latest`]);
    const ociIndex = JSON.parse(await readFile(join(ociDest, 'index.json'), 'utf8'));
    expect(ociIndex.manifests[0].digest).toBe(index.manifestDigest);
  });
});

describe('htpasswd-protected upstream fixture', () => {
  const creds = { username: 'puller', password: 's3cret!' };
  let upstream: UpstreamRegistry;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry({ htpasswd: creds });
  }, TIMEOUT);
  afterAll(async () => upstream?.stop());

  it('challenges anonymous clients and accepts authenticated pushes', { timeout: TIMEOUT }, async () => {
    const image = generateImage({ seed: 'fixtures-auth', mediaType: 'oci' });

    const anon = await fetch(`${upstream.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    await expect(pushImage(upstream.url, 'private/app', '1.0', image)).rejects.toThrow(/401/);

    await seedUpstream(upstream, [{ repository: 'private/app', tag: '1.0', image }]);
    const auth = { authorization: basicAuthHeader(creds) };
    expect((await getManifest(upstream.url, 'private/app', '1.0')).status).toBe(401);
    const res = await getManifest(upstream.url, 'private/app', '1.0', undefined, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.digest).toBe(image.manifestDigest);

    const info = JSON.parse(
      await skopeo(['inspect', '--tls-verify=false', '--creds', `${creds.username}:${creds.password}`, `docker://${upstream.host}/private/app:1.0`]),
    );
    expect(info.Digest).toBe(image.manifestDigest);

    // 401 challenges are only in the access log, not in the JSON log.
    const requests = await upstream.settledRequests();
    expect(requests.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(3);
  });
});
