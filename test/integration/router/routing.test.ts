import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImage, type TestImage } from '../../helpers/image.js';
import { getBlob, getManifest, rawRequest } from '../../helpers/push.js';
import { adminJson, startRegcache, type RunningRegcache } from '../../helpers/regcache.js';
import { seedUpstream, startUpstreamRegistry, type UpstreamRegistry } from '../../helpers/upstream-registry.js';

// Two local upstreams play docker.io and ghcr.io; regcache runs real nginx and real registry processes.
describe('router on the process runtime', () => {
  let hub: UpstreamRegistry;
  let ghcr: UpstreamRegistry;
  let rc: RunningRegcache;
  const alpine = generateImage({ seed: 'alpine', layers: [2048, 300_000] });
  const tool = generateImage({ seed: 'tool', layers: [4096] });

  beforeAll(async () => {
    [hub, ghcr] = await Promise.all([startUpstreamRegistry(), startUpstreamRegistry()]);
    await seedUpstream(hub, [{ repository: 'library/alpine', tag: '3.19', image: alpine }]);
    await seedUpstream(ghcr, [{ repository: 'org/tool', tag: 'v1', image: tool }]);
    rc = await startRegcache({
      registries: {
        'docker.io': { upstream: hub.url, aliases: ['hub.mirror.test'] },
        'ghcr.io': { upstream: ghcr.url },
      },
    });
  });
  afterAll(async () => {
    await rc?.stop();
    await Promise.all([hub?.stop(), ghcr?.stop()]);
  });

  const viaHost = (host: string) => ({ headers: { host } });

  async function expectPull(host: string, repository: string, tag: string, image: TestImage, query = '') {
    const m = await getManifest(rc.routerUrl, repository, tag + query, undefined, viaHost(host));
    expect(m.status).toBe(200);
    expect(m.digest).toBe(image.manifestDigest);
    expect(m.body.equals(image.manifest)).toBe(true);
    expect(m.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    for (const blob of [image.config, ...image.layers]) {
      const b = await getBlob(rc.routerUrl, repository, blob.digest + query, viaHost(host));
      expect(b.status).toBe(200);
      expect(b.body.equals(blob.data)).toBe(true);
    }
  }

  it('pulls each registry through its vhost, with digests equal to the upstream', async () => {
    await expectPull('docker.io.registry.test', 'library/alpine', '3.19', alpine);
    await expectPull('ghcr.io.registry.test:5000', 'org/tool', 'v1', tool);
  });

  it('matches hosts case-insensitively and serves aliases', async () => {
    await expectPull('DOCKER.IO.Registry.Test', 'library/alpine', '3.19', alpine);
    await expectPull('hub.mirror.test', 'library/alpine', '3.19', alpine);
  });

  it("routes by containerd's ns parameter when the host is not a vhost", async () => {
    await expectPull('127.0.0.1', 'org/tool', 'v1', tool, '?ns=ghcr.io');
  });

  it('answers 404 NAME_UNKNOWN for an unknown host and ns, so clients fall back upstream', async () => {
    for (const path of ['/v2/library/alpine/manifests/3.19', '/v2/library/alpine/manifests/3.19?ns=quay.io']) {
      const res = await rawRequest(rc.routerUrl + path, 'GET', { host: 'quay.io.registry.test' });
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('NAME_UNKNOWN');
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    }
  });

  it('answers the bare /v2/ ping on the shared endpoint', async () => {
    const res = await rawRequest(`${rc.routerUrl}/v2/`, 'GET', { host: '127.0.0.1' });
    expect(res.status).toBe(200);
  });

  it('is read-only: 405 UNSUPPORTED with Allow for writes, never for HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await rawRequest(`${rc.routerUrl}/v2/library/alpine/blobs/uploads/`, method, { host: 'docker.io.registry.test' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('UNSUPPORTED');
    }
    const head = await getManifest(rc.routerUrl, 'library/alpine', '3.19', undefined, { method: 'HEAD', ...viaHost('docker.io.registry.test') });
    expect(head.status).toBe(200);
    expect(head.digest).toBe(alpine.manifestDigest);
    expect(Number(head.headers.get('content-length'))).toBe(alpine.manifest.length);
  });

  it('reports every vhost in the admin API, without credentials', async () => {
    expect((await fetch(`${rc.adminUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${rc.adminUrl}/readyz`)).status).toBe(200);
    const { body } = await adminJson(rc, '/api/v1/vhosts');
    expect(body.vhosts.map((v: { name: string }) => v.name)).toEqual(['docker.io', 'ghcr.io']);
    const hubView = body.vhosts[0];
    expect(hubView).toMatchObject({
      name: 'docker.io',
      hosts: ['docker.io.registry.test', 'hub.mirror.test'],
      upstream: hub.url,
      routed: true,
      upstreamReachable: true,
      backend: { state: 'running', restarts: 0 },
    });
    // The cache listens on a unix socket under dataDir that only nginx's workers (and the daemon) can reach.
    expect(hubView.backend.address).toBe(`unix:${rc.dir}/data/sockets/docker-io.sock`);
    expect(['up', 'starting']).toContain(hubView.status);
    const one = await adminJson(rc, '/api/v1/vhosts/ghcr.io');
    expect(one.body.name).toBe('ghcr.io');
    const missing = await adminJson(rc, '/api/v1/vhosts/quay.io');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain('quay.io');
    const status = await adminJson(rc, '/api/v1/status');
    expect(status.body).toMatchObject({ generation: 1, ready: true, lastError: null, nginx: { running: true } });
  });
});
