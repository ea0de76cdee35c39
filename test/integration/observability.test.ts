// Pulls through real nginx + real registry caches (the daemon in-process) from a seeded local upstream,
// then checks that the API, /metrics, the status page and `regcache status` show exactly what was pulled.
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { blobDataPath } from '../../src/observe/storage/filesystem-storage.js';
import type { ObservedVhost } from '../../src/status/status-service.js';
import { createSystemClock } from '../../src/util/clock.js';
import { findFreePort, waitFor } from '../helpers/binaries.js';
import { launchChromium } from '../helpers/browser.js';
import { generateImage } from '../helpers/image.js';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.js';
import { getBlob, getManifest } from '../helpers/push.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../helpers/upstream-registry.js';

const DOMAIN = 'registry.test';
const image = generateImage({ seed: 'observability-pull', layers: [50_000, 700_000] });
const blobs = [image.config, ...image.layers];
const blobBytes = blobs.reduce((a, b) => a + b.size, 0);
const manifestBytes = image.manifest.length;

describe('observability on the real stack', () => {
  let upstream: UpstreamRegistry;
  let dir: string;
  let configPath: string;
  let daemon: Daemon;
  let routerUrl: string;
  let config: string;

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${daemon.adminUrl}${path}`);
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  };
  const vhost = (name: string) => api<ObservedVhost>(`/api/v1/vhosts/${name}`);
  const host = (name: string) => ({ headers: { host: `${name}.${DOMAIN}` } });

  /** One `docker pull`'s worth of requests: manifest by tag, then config and layers by digest. */
  const pull = async (name: string) => {
    const m = await getManifest(routerUrl, 'library/app', 'v1', undefined, host(name));
    expect(m.status).toBe(200);
    expect(m.body.length).toBe(manifestBytes);
    for (const b of blobs) {
      const res = await getBlob(routerUrl, 'library/app', b.digest, host(name));
      expect(res.status).toBe(200);
      expect(res.body.equals(b.data)).toBe(true);
    }
  };

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    await seedUpstream(upstream, [{ repository: 'library/app', tag: 'v1', image }]);
    dir = await mkdtemp(join(tmpdir(), 'regcache-observability-'));
    const [port, adminPort] = [await findFreePort(), await findFreePort()];
    routerUrl = `http://127.0.0.1:${port}`;
    configPath = join(dir, 'registries.yaml');
    config = [
      `domain: ${DOMAIN}`,
      `listen: "127.0.0.1:${port}"`,
      `admin: { listen: "127.0.0.1:${adminPort}" }`,
      'runtime: process',
      'dataDir: ./data',
      'registries:',
      '  docker.io:',
      `    upstream: ${upstream.url}`,
      '  ghcr.io:',
      `    upstream: ${upstream.url}`,
      '',
    ].join('\n');
    await writeFile(configPath, config);
    daemon = await startDaemon({
      configPath,
      env: {},
      clock: createSystemClock(),
      logger: createLogger({ level: 'warn' }),
      observe: { diskSampleMs: 300, registryVarsPollMs: 1000 },
    });
  });

  afterAll(async () => {
    await daemon?.stop();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('counts one miss, then hits, with exactly the requests and bytes pulled', async () => {
    const before = await vhost('docker.io');
    expect(before.traffic.requests.total).toBe(0);
    expect(before.cache.manifests).toEqual({ hits: 0, misses: 0, hitRatio: null });

    upstream.clearRequests();
    await pull('docker.io');
    // nginx logs a request when it finalizes it, which can be a moment after the client has every byte.
    const first = await waitFor(
      async () => {
        const v = await vhost('docker.io');
        return v.traffic.requests.total >= 1 + blobs.length ? v : undefined;
      },
      { what: 'the first pull in the access log' },
    );
    const missFetches = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
    // Every miss reached the upstream once: distribution 2.8's two fetches per miss meet in nginx's egress.
    expect(missFetches.map((r) => r.path.split('/blobs/')[1]).sort()).toEqual(blobs.map((b) => b.digest).sort());
    expect(first.traffic.requests).toMatchObject({ total: 1 + blobs.length, '2xx': 1 + blobs.length, '4xx': 0, '5xx': 0 });
    expect(first.traffic.requestsByKind).toMatchObject({ manifest: 1, blob: blobs.length });
    expect(first.traffic.bytesServed).toBe(manifestBytes + blobBytes);
    expect(first.cache.manifests).toEqual({ hits: 0, misses: 1, hitRatio: 0 });
    expect(first.cache.blobs).toEqual({ hits: 0, misses: blobs.length, unknown: 0, hitRatio: 0 });
    expect(first.cache.registryStats).toBe(true);
    expect(first.traffic.bytesFromUpstream).toBe(manifestBytes + blobBytes);
    expect(first.traffic.lastPullAt).not.toBeNull();

    // The registry stores a missed blob in the background; the next pull must find it stored.
    const storage = join(dir, 'data', 'caches', 'docker-io');
    await waitFor(
      async () =>
        (
          await Promise.all(
            blobs.map((b) =>
              stat(blobDataPath(storage, b.digest)!).then(
                () => true,
                () => false,
              ),
            ),
          )
        ).every(Boolean),
      {
        what: 'blobs stored by the cache',
      },
    );
    upstream.clearRequests();

    await pull('docker.io');
    const second = await waitFor(
      async () => {
        const v = await vhost('docker.io');
        return v.traffic.requests.total >= 2 * (1 + blobs.length) ? v : undefined;
      },
      { what: 'the second pull in the access log' },
    );
    expect(second.traffic.requests).toMatchObject({ total: 2 * (1 + blobs.length), '2xx': 2 * (1 + blobs.length) });
    expect(second.traffic.bytesServed).toBe(2 * (manifestBytes + blobBytes));
    expect(second.cache.manifests).toEqual({ hits: 1, misses: 1, hitRatio: 0.5 });
    expect(second.cache.blobs).toEqual({ hits: blobs.length, misses: blobs.length, unknown: 0, hitRatio: 0.5 });
    expect(second.traffic.bytesFromUpstream).toBe(manifestBytes + blobBytes);
    // Cross-check with the upstream's own log: the second pull fetched no content, only the tag lookup.
    const upstreamGets = (await upstream.settledRequests()).filter((r) => r.method === 'GET' && /\/(blobs|manifests)\/sha256:/.test(r.path));
    expect(upstreamGets).toEqual([]);

    // The other vhost saw nothing.
    const other = await vhost('ghcr.io');
    expect(other.traffic.requests.total).toBe(0);
    expect(other.traffic.lastPullAt).toBeNull();

    const withDisk = await waitFor(
      async () => {
        const v = await vhost('docker.io');
        return v.cache.diskBytes !== null && v.cache.diskBytes >= blobBytes ? v : undefined;
      },
      { what: 'disk usage measured' },
    );
    expect(withDisk.cache.diskMeasuredAt).not.toBeNull();
  });

  it('serves /metrics in Prometheus text format with the same numbers', async () => {
    const res = await fetch(`${daemon.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(await res.text());
    const v = await vhost('docker.io');
    expect(families.get('regcache_requests_total')?.type).toBe('counter');
    expect(sampleValue(families, 'regcache_requests_total', { vhost: 'docker.io', code: '2xx' })).toBe(v.traffic.requests['2xx']);
    expect(sampleValue(families, 'regcache_response_bytes_total', { vhost: 'docker.io' })).toBe(v.traffic.bytesServed);
    expect(sampleValue(families, 'regcache_upstream_bytes_total', { vhost: 'docker.io' })).toBe(manifestBytes + blobBytes);
    expect(sampleValue(families, 'regcache_cache_hits_total', { vhost: 'docker.io', kind: 'manifest' })).toBe(1);
    expect(sampleValue(families, 'regcache_cache_misses_total', { vhost: 'docker.io', kind: 'manifest' })).toBe(1);
    expect(sampleValue(families, 'regcache_cache_hits_total', { vhost: 'docker.io', kind: 'blob' })).toBe(blobs.length);
    expect(sampleValue(families, 'regcache_cache_misses_total', { vhost: 'docker.io', kind: 'blob' })).toBe(blobs.length);
    expect(sampleValue(families, 'regcache_vhost_up', { vhost: 'docker.io' })).toBe(1);
    expect(sampleValue(families, 'regcache_vhost_up', { vhost: 'ghcr.io' })).toBe(1);
    expect(sampleValue(families, 'regcache_cache_disk_bytes', { vhost: 'docker.io' })).toBeGreaterThanOrEqual(blobBytes);
    const status = await api<{ generation: number }>('/api/v1/status');
    expect(sampleValue(families, 'regcache_config_generation')).toBe(status.generation);
    expect(sampleValue(families, 'regcache_config_reloads_total', { result: 'applied' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'regcache_reconcile_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(families.get('regcache_reconcile_duration_seconds')?.type).toBe('histogram');
    expect(families.has('process_cpu_user_seconds_total')).toBe(true);
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
    // Bounded labels: nothing names a repository or a digest.
    for (const f of families.values())
      for (const s of f.samples) for (const value of Object.values(s.labels)) expect(value).not.toMatch(/library\/app|sha256:/);
  });

  it('prints the status table', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c) => (out += c));
    const code = await runCli(['status', '--admin', daemon.adminUrl], { env: {}, stdout, stderr: process.stderr });
    expect(code).toBe(0);
    expect(out).toMatch(/serving\s+generation \d+/);
    const row = out.split('\n').find((l) => l.startsWith('docker.io'))!;
    const n = 2 * (1 + blobs.length);
    expect(row).toMatch(new RegExp(`^docker\\.io\\s+up\\s+${n}\\s+${n}/0/0\\s`));
    expect(row).toContain('50.0% (1/2)');
    expect(row).toContain(`50.0% (${blobs.length}/${2 * blobs.length})`);
    expect(out.split('\n').some((l) => l.startsWith('ghcr.io'))).toBe(true);
  });

  it('records a rejected config in events and shows every vhost and the banner on the page in Chromium', async () => {
    await writeFile(configPath, config.replace(`upstream: ${upstream.url}\n  ghcr.io`, `upstream: "not a url"\n  ghcr.io`));
    const res = await fetch(`${daemon.adminUrl}/api/v1/reload`, { method: 'POST' });
    expect(res.status).toBe(422);
    const { events } = await api<{ events: Array<{ kind: string; vhost: string | null; message: string }> }>('/api/v1/events');
    expect(events[0]).toMatchObject({ kind: 'config', vhost: null });
    expect(events.some((e) => e.kind === 'runtime' && e.vhost === 'docker.io')).toBe(true);
    expect(events.some((e) => e.kind === 'reload')).toBe(true);

    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.setViewportSize({ width: 1360, height: 1000 });
      const response = await page.goto(`${daemon.adminUrl}/`);
      expect(response?.status()).toBe(200);
      for (const name of ['docker.io', 'ghcr.io']) {
        const card = page.locator(`article[data-vhost="${name}"]`);
        await expect.poll(() => card.count()).toBe(1);
        expect(await card.locator('h3').innerText()).toBe(name);
        expect(await card.innerText()).toContain(`${name}.${DOMAIN}`);
      }
      const banner = page.locator('#config-error');
      expect(await banner.isVisible()).toBe(true);
      expect(await banner.innerText()).toContain('registries.docker.io.upstream');
      expect(await page.locator('article[data-vhost="docker.io"] .ratio b').first().innerText()).toBe('50.0%');
      // Client snippets are the generators' documents (src/clients), for the applied config.
      expect(await page.locator('#snippet-k3s').innerText()).toContain(`docker.io.${DOMAIN}`);
      expect(await page.locator('#snippet-k3d').innerText()).toMatch(/^k3d cluster create /);
      expect(await page.locator('#snippet-containerd').innerText()).toContain('capabilities = ["pull", "resolve"]');
      // The page refreshes itself in place.
      const stamp = await page.locator('#updated-at').innerText();
      await page.waitForFunction((s) => document.getElementById('updated-at')?.textContent !== s, stamp, { timeout: 15_000 });
      await mkdir('test/artifacts', { recursive: true });
      await page.screenshot({ path: 'test/artifacts/status-page.png', fullPage: true });
    } finally {
      await browser.close();
    }
    await writeFile(configPath, config);
  });

  it('keeps counting across a logrotate-style rotation of the real nginx access log', async () => {
    const before = await vhost('docker.io');
    const log = join(dir, 'data', 'nginx', 'logs', 'access.log');
    await rename(log, `${log}.1`);
    await pull('docker.io'); // nginx still writes to the renamed file
    // nginx's reopen signal, to the master this test's daemon started (its pid file).
    process.kill(Number((await readFile(join(dir, 'data', 'nginx', 'nginx.pid'), 'utf8')).trim()), 'SIGUSR1');
    await waitFor(async () => (await stat(log)).isFile(), { what: 'nginx to reopen its access log' });
    await pull('docker.io'); // now into the new file
    const after = await vhost('docker.io');
    expect(after.traffic.requests.total - before.traffic.requests.total).toBe(2 * (1 + blobs.length));
    expect(after.traffic.bytesServed - before.traffic.bytesServed).toBe(2 * (manifestBytes + blobBytes));
    expect(after.cache.blobs.hits - before.cache.blobs.hits).toBe(2 * blobs.length);
    expect(after.cache.blobs.misses).toBe(before.cache.blobs.misses);
    const { observer } = await api<{ observer: { accessLog: { rotations: number; unparsedLines: number } } }>('/api/v1/status');
    expect(observer.accessLog.rotations).toBe(1);
    expect(observer.accessLog.unparsedLines).toBe(0);
  });
});
