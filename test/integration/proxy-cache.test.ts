// nginx's cache in front of the registry caches, on real components: nginx, the daemon's registry
// processes and a seeded local upstream. Counts what the upstream served; no timing assertions.
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerGet as get } from '../helpers/router-get.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { createSystemClock } from '../../src/util/clock.js';
import { findFreePort, waitFor } from '../helpers/binaries.js';
import { generateImage, generateIndex, MediaTypes } from '../helpers/image.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const DOCKER_TYPES = `${MediaTypes.dockerManifest}, ${MediaTypes.dockerManifestList}`;
const NO_LIST_TYPES = `${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest}`;

describe('nginx proxy cache in front of the registry caches', () => {
  const small = generateImage({ seed: 'proxy-cache-small', layers: [50_000] });
  const big = generateImage({ seed: 'proxy-cache-big', layers: [8 << 20] });
  const amd64 = generateImage({ seed: 'proxy-cache-multi', platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = generateImage({ seed: 'proxy-cache-multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const list = generateIndex([amd64, arm64], { mediaType: 'docker' });

  let upstream: UpstreamRegistry;
  let daemon: Daemon;
  let dir: string;
  let port: number;
  const host = 'up.example.regcache.test';
  const flakyHost = 'flaky.example.regcache.test';

  const accessLog = async () =>
    (await readFile(path.join(dir, 'data', 'nginx', 'logs', 'access.log'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { uri: string; cache: string; upstream_status: string; status: number });
  const egressLog = async () =>
    (await readFile(path.join(dir, 'data', 'egress-nginx', 'logs', 'access.log'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { vhost: string; method: string; uri: string; cache: string; status: number });
  /** The registry cache has the blob in its storage (it writes data, then links it). */
  const storedByCache = async (slug: string, digest: string) => {
    const hex = digest.slice('sha256:'.length);
    const data = path.join(dir, 'data', 'caches', slug, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    return stat(data).then(
      (s) => s.size > 0,
      () => false,
    );
  };
  const upstreamGets = async (urlPath: string) => (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path === urlPath).length;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [
      { repository: 'library/small', tag: 'v1', image: small },
      { repository: 'library/big', tag: 'v1', image: big },
      { repository: 'library/multi', tag: 'latest', image: list },
    ]);
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-proxy-cache-'));
    // Reachable by nginx's unprivileged workers, as a data directory normally is.
    await chmod(dir, 0o755);
    port = await findFreePort();
    const configPath = path.join(dir, 'registries.yaml');
    await writeFile(
      configPath,
      `domain: regcache.test
listen: "127.0.0.1:${port}"
admin: { listen: "127.0.0.1:${await findFreePort()}" }
runtime: process
dataDir: ./data
cache: { maxSize: 1g, tagTTL: 600 }
registries:
  up.example:
    upstream: ${upstream.url}
  flaky.example:
    upstream: ${upstream.url}
    cache: { tagTTL: 1 }
`,
    );
    daemon = await startDaemon({ configPath, env: {}, clock: createSystemClock(), logger: createLogger({ level: 'warn' }) });
    await upstream.settledRequests();
    upstream.clearRequests();
  });

  afterAll(async () => {
    await daemon?.stop();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs nginx workers as nobody, who own the cache they write', async () => {
    const conf = await readFile(path.join(dir, 'data', 'nginx', 'nginx.conf'), 'utf8');
    if (process.geteuid?.() !== 0) return expect(conf).not.toMatch(/^user /m);
    expect(conf).toMatch(/^user nobody \S+;$/m);
    await get(port, host, `/v2/library/big/manifests/${big.manifestDigest}`);
    const zone = path.join(dir, 'data', 'nginx', 'cache', 'up-example');
    const level1 = await readdir(zone);
    expect(level1.length).toBeGreaterThan(0);
    expect((await stat(path.join(zone, level1[0]!))).uid).toBe((await stat(zone)).uid);
    expect((await stat(zone)).uid).not.toBe(0);
  });

  it('serves a digest from nginx after the first pull, for any repository, with its headers', async () => {
    const layer = small.layers[0]!;
    const url = `/v2/library/small/blobs/${layer.digest}`;
    const first = await get(port, host, url);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache-status']).toBe('MISS');
    expect(first.body.equals(layer.data)).toBe(true);
    // distribution 2.8 fetches a missing blob twice (once to stream it, once to store it); both meet in
    // nginx's egress lock, so the upstream serves it once.
    await waitFor(async () => storedByCache('up-example', layer.digest), { what: 'the registry to store the blob' });
    expect(await upstreamGets(url)).toBe(1);
    const viaEgress = (await egressLog()).filter((l) => l.uri === url);
    expect(
      viaEgress
        .filter((l) => l.method === 'GET')
        .map((l) => l.cache)
        .sort(),
    ).toEqual(['HIT', 'MISS']);
    // Its HEAD (a Stat) passes through uncached: a cached HEAD would download the whole blob.
    expect(viaEgress.filter((l) => l.method === 'HEAD').map((l) => l.cache)).toEqual(['BYPASS']);
    upstream.clearRequests();

    for (const repo of ['library/small', 'someone/else']) {
      const again = await get(port, host, `/v2/${repo}/blobs/${layer.digest}`);
      expect(again.status).toBe(200);
      expect(again.headers['x-cache-status']).toBe('HIT');
      expect(again.headers['docker-content-digest']).toBe(layer.digest);
      expect(again.headers['content-type']).toBe('application/octet-stream');
      expect(again.headers['content-length']).toBe(String(layer.size));
      expect(again.headers['docker-distribution-api-version']).toBe('registry/2.0');
      expect(again.body.equals(layer.data)).toBe(true);
    }
    expect(await upstream.settledRequests()).toEqual([]);
    // nginx answered from the registry cache's verified blob file, without asking the cache at all.
    const served = (await accessLog()).filter((l) => l.uri.endsWith(layer.digest));
    expect(served.slice(-2).map((l) => [l.status, l.upstream_status])).toEqual([
      [200, ''],
      [200, ''],
    ]);
    // One copy: nginx keeps no blob of its own.
    const zone = path.join(dir, 'data', 'nginx', 'cache', 'up-example');
    const cachedFiles = await readdir(zone, { recursive: true, withFileTypes: true }).then(
      (es) => es.filter((e) => e.isFile()).length,
      () => 0,
    );
    expect(cachedFiles).toBeLessThanOrEqual(1); // the manifest fetched by the first test
  });

  it('caches manifests by digest with their media type', async () => {
    const url = `/v2/library/small/manifests/${small.manifestDigest}`;
    const accept = { accept: `${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest}` };
    const first = await get(port, host, url, { headers: accept });
    const second = await get(port, host, url, { headers: accept });
    expect([first.headers['x-cache-status'], second.headers['x-cache-status']]).toEqual(['MISS', 'HIT']);
    for (const r of [first, second]) {
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(MediaTypes.dockerManifest);
      expect(r.headers['docker-content-digest']).toBe(small.manifestDigest);
      expect(r.body.equals(small.manifest)).toBe(true);
    }
  });

  it('downloads a blob from the upstream once when 16 clients miss it at the same time', async () => {
    const layer = big.layers[0]!;
    const url = `/v2/library/big/blobs/${layer.digest}`;
    upstream.clearRequests();
    const replies = await Promise.all(Array.from({ length: 16 }, () => get(port, host, url)));
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body.equals(layer.data)).toBe(true);
    }
    // Every miss streams from the registry cache (nginx stores no blob), and all of the cache's fetches
    // (one per client, plus the one into its storage) meet in the egress lock: the upstream serves it once.
    await waitFor(async () => storedByCache('up-example', layer.digest), { what: 'the registry to store the blob' });
    expect(await upstreamGets(url)).toBe(1);
  });

  it('answers Range requests with 206 and the right bytes, cached or not', async () => {
    const cachedLayer = big.layers[0]!;
    const hit = await get(port, host, `/v2/library/big/blobs/${cachedLayer.digest}`, { headers: { range: 'bytes=1000-1999' } });
    expect(hit.status).toBe(206);
    expect(hit.headers['content-range']).toBe(`bytes 1000-1999/${cachedLayer.size}`);
    expect(hit.body.equals(cachedLayer.data.subarray(1000, 2000))).toBe(true);

    const coldLayer = big.config;
    const cold = await get(port, flakyHost, `/v2/library/big/blobs/${coldLayer.digest}`, { headers: { range: 'bytes=10-' } });
    expect(cold.headers['x-cache-status']).toBe('MISS');
    expect(cold.status).toBe(206);
    expect(cold.body.equals(coldLayer.data.subarray(10))).toBe(true);
  });

  it('answers HEAD on digests and tags from the same entries as GET', async () => {
    const layer = small.layers[0]!;
    const headBlob = await get(port, host, `/v2/library/small/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(headBlob.status).toBe(200);
    expect(headBlob.headers['x-cache-status']).toBe('HIT');
    expect(headBlob.headers['content-length']).toBe(String(layer.size));
    expect(headBlob.headers['docker-content-digest']).toBe(layer.digest);
    expect(headBlob.body.length).toBe(0);

    const tagUrl = '/v2/library/small/manifests/v1';
    const accept = { accept: DOCKER_TYPES };
    const headTag = await get(port, host, tagUrl, { method: 'HEAD', headers: accept });
    expect(headTag.status).toBe(200);
    expect(headTag.headers['x-cache-status']).toBe('MISS');
    expect(headTag.headers['docker-content-digest']).toBe(small.manifestDigest);
    expect(headTag.headers['content-length']).toBe(String(small.manifest.length));
    expect(headTag.body.length).toBe(0);
    const getTag = await get(port, host, tagUrl, { headers: accept });
    expect(getTag.headers['x-cache-status']).toBe('HIT');
    expect(getTag.body.equals(small.manifest)).toBe(true);
    const headAgain = await get(port, host, tagUrl, { method: 'HEAD', headers: accept });
    expect(headAgain.headers['x-cache-status']).toBe('HIT');
    expect(headAgain.headers['docker-content-digest']).toBe(small.manifestDigest);
  });

  it('keys tag manifests by Accept: the list for list-aware clients, the platform manifest for others', async () => {
    const tagUrl = '/v2/library/multi/manifests/latest';
    upstream.clearRequests();
    for (const round of ['MISS', 'HIT']) {
      const listReply = await get(port, host, tagUrl, { headers: { accept: DOCKER_TYPES } });
      expect(listReply.headers['x-cache-status']).toBe(round);
      expect(listReply.headers['content-type']).toBe(MediaTypes.dockerManifestList);
      expect(listReply.headers['docker-content-digest']).toBe(list.manifestDigest);

      const single = await get(port, host, tagUrl, { headers: { accept: NO_LIST_TYPES } });
      expect(single.headers['x-cache-status']).toBe(round);
      expect(single.headers['content-type']).toBe(MediaTypes.dockerManifest);
      expect(single.headers['docker-content-digest']).toBe(amd64.manifestDigest);
    }
    // Two cache entries, filled once each: the upstream saw two tag lookups, not four.
    const tagLookups = (await upstream.settledRequests()).filter((r) => r.path === tagUrl);
    expect(tagLookups.length).toBeGreaterThan(0);
    expect(tagLookups.length).toBeLessThanOrEqual(4);
    upstream.clearRequests();
    await get(port, host, tagUrl, { headers: { accept: DOCKER_TYPES } });
    expect((await upstream.settledRequests()).filter((r) => r.path === tagUrl)).toEqual([]);
  });

  it('keys tags by the whole Accept header, also when Docker sends one line per media type', async () => {
    // nginx 1.22 keeps only the first Accept line in $http_accept; the njs module (Debian
    // libnginx-mod-http-js, installed by .ci/setup) joins them. Without it these requests would skip the cache.
    const conf = await readFile(path.join(dir, 'data', 'nginx', 'nginx.conf'), 'utf8');
    expect(conf, 'nginx < 1.23 needs the njs module (apt-get install libnginx-mod-http-js)').toMatch(
      /js_set \$regcache_accept|proxy_cache_key "\$regcache_vhost\|tag\|\$request_uri\|\$http_accept";/,
    );
    const tagUrl = '/v2/library/multi/manifests/latest';
    const lines = { docker: [MediaTypes.dockerManifestList, MediaTypes.dockerManifest], noList: [MediaTypes.ociManifest, MediaTypes.dockerManifest] };
    for (const round of ['MISS', 'HIT']) {
      const docker = await get(port, host, tagUrl, { headers: { accept: lines.docker } });
      expect(docker.headers['x-cache-status']).toBe(round);
      expect(docker.headers['docker-content-digest']).toBe(list.manifestDigest);
      // Same second line, different first line: a different answer, so a different entry.
      const noList = await get(port, host, tagUrl, { headers: { accept: lines.noList } });
      expect(noList.headers['x-cache-status']).toBe(round);
      expect(noList.headers['docker-content-digest']).toBe(amd64.manifestDigest);
    }
    // The key is the whole header as one line would carry it: these two lines meet the entry that
    // the one-line "manifest, list" request of the test above filled.
    const joined = await get(port, host, tagUrl, { headers: { accept: [MediaTypes.dockerManifest, MediaTypes.dockerManifestList] } });
    expect(joined.headers['x-cache-status']).toBe('HIT');
    expect(joined.headers['docker-content-digest']).toBe(list.manifestDigest);
  });

  it('does not cache errors: a missing digest is asked for again', async () => {
    const missing = `/v2/library/small/blobs/sha256:${'0'.repeat(64)}`;
    upstream.clearRequests();
    for (let i = 0; i < 2; i++) {
      const r = await get(port, host, missing);
      expect(r.status).toBe(404);
      expect(r.headers['x-cache-status']).toBe('MISS');
    }
  });

  it('serves known tags stale while the registry cache answers 429, and unknown ones not at all', async () => {
    const tagUrl = '/v2/library/small/manifests/v1';
    const accept = { accept: DOCKER_TYPES };
    const warm = await get(port, flakyHost, tagUrl, { headers: accept });
    expect(warm.status).toBe(200);

    const vhost = (await (await fetch(`${daemon.adminUrl}/api/v1/vhosts/flaky.example`)).json()) as { backend: { address: string } };
    // The cache listens on a unix socket; a registry restarting there would replace any socket it finds,
    // so its config is spoiled first: the supervisor's restarts then fail and the impostor stays.
    expect(vhost.backend.address).toMatch(/^unix:\//);
    const socket = vhost.backend.address.slice('unix:'.length);
    await writeFile(path.join(dir, 'data', 'run', 'flaky-example', 'config.yml'), 'version: [\n');
    const pid = Number((await readFile(path.join(dir, 'data', 'run', 'flaky-example', 'registry.pid'), 'utf8')).trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      { what: 'the flaky registry to exit' },
    );
    // Take its socket: the "cache" now rate-limits everyone.
    const limiter: Server = createServer((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}');
    });
    await rm(socket, { force: true });
    await new Promise<void>((resolve, reject) => limiter.once('error', reject).listen(socket, () => resolve()));
    // Connecting needs write on the socket: nginx's workers are in its group (the directory is setgid).
    await chmod(socket, 0o770);
    try {
      const stale = await waitFor(
        async () => {
          const r = await get(port, flakyHost, tagUrl, { headers: accept });
          return r.headers['x-cache-status'] === 'STALE' ? r : false;
        },
        { what: 'the tag to be served stale', timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(stale.status).toBe(200);
      expect(stale.headers['docker-content-digest']).toBe(small.manifestDigest);
      expect(stale.body.equals(small.manifest)).toBe(true);

      const unknown = await get(port, flakyHost, '/v2/library/big/manifests/v1', { headers: accept });
      expect(unknown.status).toBe(429);
      expect(unknown.headers['retry-after']).toBe('30');
    } finally {
      await new Promise<void>((resolve) => limiter.close(() => resolve()));
    }
  });
});
